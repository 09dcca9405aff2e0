package alsim

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// How answers are written: the JSON envelope with its keys sorted as
// jsonify does, the 401/403/5xx bodies a client meets, dropped connections,
// and the simulated latency every endpoint waits through.

// recorder remembers the status and counts body bytes.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	// onStatus is told the status as it is sent, before any of the body:
	// a call is counted before its client can have read the answer.
	onStatus func(status int)
}

func (r *recorder) setStatus(code int) {
	if r.status == 0 {
		r.status = code
		if r.onStatus != nil {
			r.onStatus(code)
		}
	}
}

func (r *recorder) WriteHeader(code int) {
	r.setStatus(code)
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.setStatus(http.StatusOK)
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// envelope writes the common JSON envelope (keys sorted, as jsonify does).
func envelope(w http.ResponseWriter, httpStatus int, resp []byte, errMsg string, apiStatus int) {
	b := make([]byte, 0, len(resp)+160)
	b = append(b, `{"api_error_message":`...)
	b = appendJSONString(b, errMsg)
	b = append(b, `,"api_response":`...)
	b = append(b, resp...)
	b = append(b, `,"api_server_version":"`+ServerVersion+`","api_status_code":`...)
	b = strconv.AppendInt(b, int64(apiStatus), 10)
	b = append(b, '}', '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(httpStatus)
	w.Write(b)
}

var emptyString = []byte(`""`)

func apiError(w http.ResponseWriter, status int, msg string) {
	envelope(w, status, emptyString, msg, status)
}

// loginHints is handle_401's api_response with internal auth only.
var loginHints = []byte(`{"allow_saml_login":false,"allow_signup":false,"allow_userpass_login":true}`)

// accessDenied is handle_403's api_response: a slice of the UI config.
var accessDenied = []byte(`{"auth":{"allow_2fa":true,"allow_apikeys":true,"allow_extended_apikeys":true,"allow_security_tokens":true},"ui":{"allow_malicious_hinting":false,"allow_raw_downloads":true,"allow_replay":false,"allow_url_submissions":true,"allow_zip_downloads":true,"apps":[],"banner":null,"banner_level":"info","read_only":false,"tos":false,"tos_lockout":false,"tos_lockout_notify":false}}`)

func (s *Server) unauthorized(w http.ResponseWriter, msg string) {
	// handle_401 also clears the session and the XSRF cookie.
	w.Header().Add("Set-Cookie", "XSRF-TOKEN=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/")
	envelope(w, http.StatusUnauthorized, loginHints, msg, http.StatusUnauthorized)
}

const nginxPage = "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// serverError answers with one of the 5xx a client meets in front of or
// inside Assemblyline.
func (s *Server) serverError(w http.ResponseWriter) {
	switch s.faults.intn(4) {
	case 0:
		s.stats.fault("error_500")
		apiError(w, http.StatusInternalServerError, "Internal Server Error")
	case 1:
		s.stats.fault("error_502")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, nginxPage, 502, "Bad Gateway", 502, "Bad Gateway")
	case 2:
		s.stats.fault("error_503")
		apiError(w, http.StatusServiceUnavailable, "ConnectionError: the datastore is not responding, try again later")
	default:
		s.stats.fault("error_504")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusGatewayTimeout)
		fmt.Fprintf(w, nginxPage, 504, "Gateway Time-out", 504, "Gateway Time-out")
	}
}

// resetConn drops the connection without a response, with an RST where the
// platform allows.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	resetTCP(conn)
}

// wait holds the call for d (with jitter), giving up if the client does.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	if j := s.cfg.LatencyJitter; j > 0 {
		s.jitterMu.Lock()
		u := s.jitter.Float64()
		s.jitterMu.Unlock()
		d = time.Duration(float64(d) * (1 + j*(2*u-1)))
	}
	return sleepCtx(ctx, d)
}

// sleepCtx sleeps for d or until ctx ends; it reports whether it slept fully.
// The worker has its own: the simulator stands in for Assemblyline and
// depends on no part of the pipeline, and a package for one helper would be
// a util package.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
