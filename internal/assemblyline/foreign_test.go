package assemblyline

import (
	"testing"

	"github.com/alharvest/alharvest/internal/failure"
)

// TestOnlyAssemblylineSaysNotFound: a 404 or 403 is the message's own
// failure only in Assemblyline's JSON envelope. The same status from an
// ingress, a proxy or a wrong AL_URL prefix (HTML, plain text, empty, or JSON
// that is not the envelope) means Assemblyline did not answer: Unavailable,
// with a message that says so and names the host, so no good work is
// dead-lettered while the server is away.
func TestOnlyAssemblylineSaysNotFound(t *testing.T) {
	const ingress404 = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	foreign := []string{"not an Assemblyline API answer", "check AL_URL or the proxy", "from 127.0.0.1:"}
	for _, ep := range []string{"search", "submission_full", "download"} {
		cases := []hostileCase{
			{name: "ingress HTML 404", reply: raw(404, "text/html", ingress404),
				wantKind: failure.Unavailable, wantMsg: append([]string{"HTTP 404 Not Found", "(text/html)", "404 Not Found nginx"}, foreign...), requests: 2},
			{name: "empty 404", reply: raw(404, "", ""),
				wantKind: failure.Unavailable, wantMsg: append([]string{"HTTP 404", "empty body"}, foreign...), requests: 2},
			{name: "plain-text 404 of a Go mux", reply: raw(404, "text/plain; charset=utf-8", "404 page not found\n"),
				wantKind: failure.Unavailable, wantMsg: append([]string{"(text/plain)", "404 page not found"}, foreign...), requests: 2},
			{name: "JSON 404 that is not the envelope", reply: raw(404, "application/json", `{"error": "no route"}`),
				wantKind: failure.Unavailable, wantMsg: foreign, requests: 2},
			{name: "WAF HTML 403", reply: raw(403, "text/html", "<html><body><h1>403 Forbidden</h1></body></html>"),
				wantKind: failure.Unavailable, wantMsg: append([]string{"HTTP 403 Forbidden"}, foreign...), requests: 2},
			{name: "HTML 410", reply: raw(410, "text/html", "<html>Gone</html>"),
				wantKind: failure.Unavailable, wantMsg: foreign, requests: 2},
			{name: "HTML 400 of a proxy", reply: raw(400, "text/html", "<html>400 Request Header Or Cookie Too Large</html>"),
				wantKind: failure.Unavailable, wantMsg: foreign, requests: 2},
			{name: "HTML 500", reply: raw(500, "text/html", "<html>Internal Server Error</html>"),
				wantKind: failure.Unavailable, wantMsg: foreign, requests: 2},
			// Assemblyline's own answers keep their meaning.
			{name: "envelope 404", reply: env(404, "", "Submission ID x does not exists."),
				wantKind: failure.NotFound, wantMsg: []string{"does not exists"}, requests: 1},
			{name: "envelope 404 with {} as api_response", reply: env(404, map[string]any{}, "The file was not found in the system."),
				wantKind: failure.NotFound, requests: 1},
			{name: "envelope 403", reply: env(403, "", "Access Denied (/api/v4/x/)"),
				wantKind: failure.Forbidden, wantMsg: []string{"Access Denied"}, requests: 1},
			// Assemblyline saying the route does not exist: the base URL
			// is wrong for every message, so the stage halts (Forbidden).
			{name: "envelope 404 Api does not exist", reply: env(404, "", "Api does not exist (/x/api/v4/submission/full/)"),
				wantKind: failure.Forbidden, wantMsg: []string{"Api does not exist", "check AL_URL"}, requests: 1},
			// Whoever sends them, these keep their meaning.
			{name: "HTML 401 of a proxy", reply: raw(401, "text/html", "<html>401 Authorization Required</html>"),
				wantKind: failure.Auth, requests: 1},
		}
		for _, tc := range cases {
			tc.endpoint = ep
			t.Run(ep+"/"+tc.name, func(t *testing.T) { runHostile(t, tc) })
		}
	}
	// A download answers raw bytes under 200; an HTML page there is an
	// ingress's page, not a corrupt file.
	t.Run("download/HTML page under 200", func(t *testing.T) {
		runHostile(t, hostileCase{endpoint: "download", reply: raw(200, "text/html; charset=utf-8", "<html><body>Welcome to nginx!</body></html>"),
			wantKind: failure.Unavailable, wantMsg: append([]string{"HTTP 200 OK", "(text/html)", "Welcome to nginx!"}, foreign...), requests: 2})
	})
}
