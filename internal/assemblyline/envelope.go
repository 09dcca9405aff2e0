// Reading an answer: the JSON envelope around every api_response, decoded
// into the caller's type, and the errors it may carry instead.

package assemblyline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/alharvest/alharvest/internal/failure"
)

// envelope is the wrapper of every JSON answer. api_response is decoded
// straight into the caller's type in the same pass as the rest: one scan to
// validate, one to decode, however large the document.
type envelope[T any] struct {
	Response *T     `json:"api_response"`
	Message  string `json:"api_error_message"`
	Version  string `json:"api_server_version"`
	Code     int    `json:"api_status_code"`
}

// errorEnvelope reads what matters of an error answer, whatever api_response
// holds there ("", {}, or a dict of login hints).
type errorEnvelope struct {
	Message string `json:"api_error_message"`
	Code    int    `json:"api_status_code"`
}

// typeErrorTolerant is implemented by answer types that accept one specific
// wrong JSON type and deal with it themselves (submission/full's results is
// an empty list, not a dict, while a submission runs).
type typeErrorTolerant interface {
	tolerates(e *json.UnmarshalTypeError) bool
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readAnswer reads the whole answer (within limit) and decodes it. An error
// status outranks anything wrong with the body: a 401 is a 401 even if its
// body was cut off.
func readAnswer[T any](x *exchange, limit int64) (*T, error) {
	c, op := x.c, x.ep.op
	br := x.body(limit, "answer")
	buf := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 4<<20 { // do not keep an outsized buffer alive
			buf.Reset()
			bodyPool.Put(buf)
		}
	}()
	buf.Reset()
	_, rerr := buf.ReadFrom(br)
	status := x.resp.StatusCode

	if status < 200 || status > 299 {
		if !isEnvelope(buf.Bytes()) && foreignAnswer(status) {
			return nil, c.foreignError(op, status, x.resp.Header.Get("Content-Type"), br.head)
		}
		var env errorEnvelope
		derr := json.Unmarshal(buf.Bytes(), &env)
		var msg string
		switch {
		case derr != nil && !isTypeError(derr):
			msg = "non-JSON answer: " + c.excerpt(br.head)
		case env.Message == "":
			msg = "answer without api_error_message: " + c.excerpt(br.head)
		default:
			msg = env.Message
		}
		if loc := x.resp.Header.Get("Location"); status >= 300 && status < 400 && loc != "" {
			msg = fmt.Sprintf("redirected to %s, which is not followed so the API key goes nowhere else; fix the base URL (%s)", c.quote(loc), msg)
		}
		code := 0
		if derr == nil {
			code = env.Code
		}
		return nil, c.apiError(op, status, code, msg)
	}
	if rerr != nil && !json.Valid(buf.Bytes()) {
		// A body cut short is an error, unless what arrived is complete
		// JSON: then only the server's Content-Length was off.
		return nil, br.err
	}

	fast := new(T)
	if fd, ok := any(fast).(fastDecoder); ok && fd.decodeFast(buf.Bytes()) {
		return fast, nil
	}
	var env envelope[T]
	derr := json.Unmarshal(buf.Bytes(), &env)
	var te *json.UnmarshalTypeError
	if derr != nil && !errors.As(derr, &te) {
		return nil, failure.Errorf(failure.Unavailable, "assemblyline %s: the answer is not the expected JSON, a proxy page or a truncated body is the likely cause (%s); it starts: %s", op, c.redact(derr.Error()), c.excerpt(br.head))
	}
	if te != nil {
		// Rare: find out whether the envelope itself is wrong, which
		// Unmarshal may not have said (it reports the first mismatch only).
		var meta struct {
			Message json.RawMessage `json:"api_error_message"`
			Code    json.RawMessage `json:"api_status_code"`
		}
		_ = json.Unmarshal(buf.Bytes(), &meta)
		if !jsonKind(meta.Message, '"') || !jsonKind(meta.Code, '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9') {
			return nil, failure.Errorf(failure.Unavailable, "assemblyline %s: the answer is not the expected JSON (api_error_message or api_status_code of the wrong type); it starts: %s", op, c.excerpt(br.head))
		}
	}
	switch {
	case env.Message != "":
		// The 415 quirk: an error under HTTP 200.
		return nil, c.apiError(op, status, env.Code, env.Message)
	case te != nil && strings.HasPrefix(te.Field, "api_response"):
		if t, ok := any(env.Response).(typeErrorTolerant); !ok || env.Response == nil || !t.tolerates(te) {
			return nil, failure.Errorf(failure.Unavailable, "assemblyline %s: api_response does not have the expected structure (%s); a proxy or an incompatible server version is the likely cause", op, c.redact(te.Error()))
		}
	case te != nil:
		return nil, failure.Errorf(failure.Unavailable, "assemblyline %s: the answer is not the expected JSON (%s); it starts: %s", op, c.redact(te.Error()), c.excerpt(br.head))
	}
	if env.Response == nil {
		if !hasKey(buf.Bytes(), "api_response") {
			return nil, failure.Errorf(failure.Unavailable, "assemblyline %s: the answer has no api_response", op)
		}
		env.Response = new(T) // "api_response": null; the type's own checks reject it
	}
	return env.Response, nil
}

// jsonKind reports whether raw is absent or starts like one of the given
// JSON value kinds.
func jsonKind(raw json.RawMessage, first ...byte) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return true
	}
	return bytes.IndexByte(first, raw[0]) >= 0
}

func isTypeError(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te)
}

// hasKey reports whether a JSON object text mentions "key" as a key; only
// used to tell a null api_response from a missing one.
func hasKey(doc []byte, key string) bool {
	return bytes.Contains(doc, []byte(`"`+key+`"`))
}

// callJSON performs a call whose answer is a JSON envelope, decodes
// api_response into a fresh T on each attempt and converts it; conversion
// errors count as the attempt's outcome.
func callJSON[T, R any](ctx context.Context, c *Client, ep endpoint, path string, body []byte, convert func(*T) (R, error)) (R, error) {
	var out R
	err := c.retry(ctx, ep, func(n int) error {
		x, err := c.send(ctx, ep, path, "", body, n)
		if err != nil {
			return err
		}
		if st := x.status(); st != http.StatusServiceUnavailable && st != http.StatusTooManyRequests {
			// Assemblyline frees the caller's quota slot before it sends
			// the answer; so do we, rather than hold it while the body
			// travels and decodes. A 503 (or a proxy's 429) must be read
			// first: only its message tells a quota rejection apart.
			x.release(false)
		}
		v, err := readAnswer[T](x, c.maxJSON)
		if err == nil {
			out, err = convert(v)
		}
		x.finish(err)
		return err
	})
	return out, err
}

// isJSON reports whether a Content-Type names JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
