package assemblyline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"

	"github.com/alharvest/alharvest/internal/failure"
)

// isEnvelope reports whether body is Assemblyline's JSON envelope: an object
// whose api_error_message is a string and whose api_status_code is a number.
// Every answer of the Assemblyline API carries both (assemblyline-api.md §2);
// a proxy's or an ingress's error page, an empty body or a truncated one does
// not.
func isEnvelope(body []byte) bool {
	var env struct {
		Message *json.RawMessage `json:"api_error_message"`
		Code    *json.RawMessage `json:"api_status_code"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Message == nil || env.Code == nil {
		return false
	}
	msg, code := bytes.TrimSpace(*env.Message), bytes.TrimSpace(*env.Code)
	return len(msg) > 0 && msg[0] == '"' && len(code) > 0 && (code[0] == '-' || code[0] >= '0' && code[0] <= '9')
}

// foreignAnswer reports whether an error status without Assemblyline's
// envelope means "Assemblyline did not answer". Only the server can say a
// submission or file is missing or forbidden: an HTML or empty 404 comes
// from a wrong AL_URL path prefix or an ingress mid-deploy, a 403 page from a
// WAF, a 5xx page from a proxy whose upstream is away. None of them is the
// message's own failure, so they are Unavailable, never NotFound or
// Forbidden, and no good work is dead-lettered for them. A 401 (credentials),
// 408 (timeout), 429 (rate limit) or redirect keeps its own meaning whoever
// sent it.
func foreignAnswer(status int) bool {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return false
	case status >= 400:
		return true
	default:
		return false
	}
}

// foreignError describes an answer that did not come from the Assemblyline
// API, naming the host that sent it so the operator can tell a proxy from the
// server: "HTTP 404 from al.example:443 is not an Assemblyline API answer
// (text/html); check AL_URL or the proxy".
func (c *Client) foreignError(op string, status int, contentType string, head []byte) *APIError {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt == "" {
		mt = "no content type"
	}
	if len(bytes.TrimSpace(head)) == 0 {
		mt += ", empty body"
	}
	msg := fmt.Sprintf("HTTP %d %s from %s is not an Assemblyline API answer (%s); check AL_URL or the proxy; it starts: %s",
		status, http.StatusText(status), c.host(), mt, c.excerpt(head))
	return &APIError{Op: op, Status: status, Message: msg, Kind: failure.Unavailable, Foreign: true}
}

// host is the base URL's host[:port], for messages.
func (c *Client) host() string {
	u, err := url.Parse(c.base)
	if err != nil || u.Host == "" {
		return "the server"
	}
	return u.Host
}

// isHTML reports whether a Content-Type names an HTML page, which the
// Assemblyline API never sends.
func isHTML(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}
