package assemblyline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/cenkalti/backoff/v4"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/pkg/messages"
)

// maxErrorBody caps the error envelope of a download; they are a few hundred
// bytes, and a download never has a large JSON answer to wait for.
const maxErrorBody = 1 << 20

// Download fetches /api/v4/file/download/<sha256>/?encoding=cart and hands the body to consume
// once the status is known to be 200 (an error envelope is never passed to consume).
// If reading the body fails with a retryable error (reset, truncation, stall) and consume returns
// that error, Download retries the whole request and calls consume again with a fresh body; consume
// must start over each time (truncate its output).
//
// size is the Content-Length, or -1 when the server did not send one. Errors
// the body reader produces are tagged (failure.Unavailable, Timeout, or
// TooLarge past Config.MaxDownloadBytes); any other error consume returns,
// such as a cART verification failure, is returned exactly as it is and never
// retried in-process. If consume returns nil although a read failed, the
// read's error is returned, since what consume kept is incomplete.
//
// sha256 must be 64 lowercase hex characters; uppercase is refused rather
// than folded, as in package messages.
func (c *Client) Download(ctx context.Context, sha256 string, consume func(body io.Reader, size int64) error) error {
	if err := messages.ValidateSHA256(sha256); err != nil {
		return failure.Wrap(failure.Invalid, fmt.Errorf("assemblyline download: %w", err))
	}
	if consume == nil {
		return failure.Errorf(failure.Invalid, "assemblyline download: nil consumer")
	}
	path := "/api/v4/file/download/" + url.PathEscape(sha256) + "/"
	// Always name the encoding: the default comes from the user's settings.
	query := url.Values{"encoding": {"cart"}}.Encode()
	return c.retry(ctx, epDownload, func(n int) error {
		x, err := c.send(ctx, epDownload, path, query, nil, n)
		if err != nil {
			return err
		}
		err = c.downloadBody(x, consume)
		var pe *backoff.PermanentError
		if errors.As(err, &pe) {
			x.finish(pe.Err)
		} else {
			x.finish(err)
		}
		return err
	})
}

// downloadBody checks the answer of one attempt and runs consume on it.
func (c *Client) downloadBody(x *exchange, consume func(io.Reader, int64) error) error {
	resp := x.resp
	if resp.StatusCode != http.StatusOK {
		_, err := readAnswer[json.RawMessage](x, min(c.maxJSON, maxErrorBody))
		return err
	}
	if isJSON(resp.Header.Get("Content-Type")) {
		// A file is application/octet-stream; JSON under 200 is an error
		// envelope (the 415 quirk) and must not reach consume.
		if _, err := readAnswer[json.RawMessage](x, min(c.maxJSON, maxErrorBody)); err != nil {
			return err
		}
		return failure.Errorf(failure.Unavailable, "assemblyline download: the server answered JSON instead of a file")
	}
	if ct := resp.Header.Get("Content-Type"); isHTML(ct) {
		// A file is application/octet-stream; an HTML page under 200 is
		// an ingress's or a captive proxy's page, not a corrupt file.
		br := x.body(maxErrorBody, "answer")
		head := make([]byte, headBytes)
		n, _ := io.ReadFull(br, head)
		return c.foreignError(x.ep.op, resp.StatusCode, ct, head[:n])
	}
	// Assemblyline has released its quota slot before streaming the body.
	x.release(false)

	size := resp.ContentLength
	if c.maxDownload > 0 && size > c.maxDownload {
		return failure.Errorf(failure.TooLarge, "assemblyline download: the file is %d bytes, over the %d-byte limit", size, c.maxDownload)
	}
	br := x.body(c.maxDownload, "file")
	cerr := consume(br, size)
	switch {
	case cerr == nil:
		return br.err // nil unless consume ignored a failed read
	case br.err != nil && errors.Is(cerr, br.err):
		return cerr // the network failed; a fresh attempt may succeed
	default:
		return backoff.Permanent(cerr) // consume's own verdict, untouched
	}
}
