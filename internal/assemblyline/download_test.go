package assemblyline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
)

// fileBody is a pretend cART file, large enough to span several reads.
var fileBody = append([]byte("CART"), bytes.Repeat([]byte("0123456789abcdef"), 16<<10)...)

func serveFile(body []byte) reply {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
	}
}

// sink is a consume function that keeps what it read and the reads' errors,
// starting over on every call as Download requires.
type sink struct {
	mu    sync.Mutex
	calls int
	got   []byte
	sizes []int64
	errs  []error
	// check, when set, runs before reading.
	check func()
}

func (s *sink) consume(r io.Reader, size int64) error {
	if s.check != nil {
		s.check()
	}
	var buf bytes.Buffer
	_, err := io.Copy(&buf, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.got = buf.Bytes()
	s.sizes = append(s.sizes, size)
	s.errs = append(s.errs, err)
	return err
}

func TestDownload(t *testing.T) {
	hs := newHarness(t, serveFile(fileBody))
	var s sink
	if err := hs.c.Download(context.Background(), testSHA256, s.consume); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.got, fileBody) || s.calls != 1 || s.sizes[0] != int64(len(fileBody)) {
		t.Errorf("consume called %d times with %d bytes, sizes %v", s.calls, len(s.got), s.sizes)
	}
	if uris, want := hs.urisCopy(), "/api/v4/file/download/"+testSHA256+"/?encoding=cart"; len(uris) != 1 || uris[0] != want {
		t.Errorf("requested %q, want %q", uris, want)
	}
	if calls := hs.callsCopy(); len(calls) != 1 || calls[0].Status != 200 || calls[0].Err != nil || calls[0].Endpoint != "download" {
		t.Errorf("calls = %+v", calls)
	}
}

func TestDownloadUnknownSize(t *testing.T) {
	hs := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(fileBody[:100])
		w.(http.Flusher).Flush() // chunked: no Content-Length
		w.Write(fileBody[100:])
	})
	var s sink
	if err := hs.c.Download(context.Background(), testSHA256, s.consume); err != nil {
		t.Fatal(err)
	}
	if s.sizes[0] != -1 || !bytes.Equal(s.got, fileBody) {
		t.Errorf("size %d, %d bytes", s.sizes[0], len(s.got))
	}
}

func TestDownloadStatusCheckedBeforeConsume(t *testing.T) {
	tests := []struct {
		name     string
		replies  []reply
		wantKind failure.Kind
		wantMsg  string
	}{
		{"404", []reply{env(404, map[string]any{}, "The file was not found in the system.")}, failure.NotFound, "The file was not found in the system."},
		{"403 raw disabled", []reply{env(403, "", "RAW file download has been disabled by administrators.")}, failure.Forbidden, "disabled by administrators"},
		{"error envelope under 200", []reply{raw(200, "application/json; charset=utf-8", `{"api_response": "", "api_error_message": "415 Unsupported Media Type", "api_status_code": 200}`)}, failure.BadRequest, "415"},
		{"JSON success instead of a file", []reply{env(200, map[string]any{"hello": 1}, "")}, failure.Unavailable, "JSON instead of a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, sequence(tt.replies...))
			var s sink
			err := hs.c.Download(context.Background(), testSHA256, s.consume)
			if k := failure.KindOf(err); k != tt.wantKind || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v (kind %v), want %v mentioning %q", err, k, tt.wantKind, tt.wantMsg)
			}
			if s.calls != 0 {
				t.Errorf("consume was called %d times for an error answer", s.calls)
			}
		})
	}
}

func TestDownloadReleasesGateAtHeaders(t *testing.T) {
	var hs *harness
	var s sink
	s.check = func() {
		if inflight, _, released, _ := hs.gate.snapshot(); inflight != 0 || released != 2 {
			t.Errorf("consume started with %d calls holding the gate, %d released", inflight, released)
		}
	}
	hs = newHarness(t, sequence(env(503, "", msgConcurrent), serveFile(fileBody)))
	if err := hs.c.Download(context.Background(), testSHA256, s.consume); err != nil {
		t.Fatal(err)
	}
	if _, acq, rel, rej := hs.gate.snapshot(); acq != 2 || rel != 2 || rej != 1 {
		t.Errorf("gate acquired %d released %d rejected %d", acq, rel, rej)
	}
	if s.calls != 1 {
		t.Errorf("consume called %d times", s.calls)
	}
}

func TestDownloadRetriesBrokenBodies(t *testing.T) {
	stallThenServe := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(fileBody)))
		w.Write(fileBody[:10])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	tests := []struct {
		name      string
		first     reply
		wantKind  failure.Kind
		wantCause error
	}{
		{"truncated body", truncatedClose(fileBody), failure.Unavailable, io.ErrUnexpectedEOF},
		{"connection reset mid-body", truncated(fileBody), failure.Unavailable, nil},
		{"stalled body", stallThenServe, failure.Timeout, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, sequence(tt.first, serveFile(fileBody)), func(c *Config) { c.StallTimeout = 100 * time.Millisecond })
			var s sink
			if err := hs.c.Download(context.Background(), testSHA256, s.consume); err != nil {
				t.Fatal(err)
			}
			if s.calls != 2 || !bytes.Equal(s.got, fileBody) {
				t.Fatalf("consume called %d times, last got %d bytes", s.calls, len(s.got))
			}
			first := s.errs[0]
			if k := failure.KindOf(first); k != tt.wantKind {
				t.Errorf("first read error %v has kind %v, want %v", first, k, tt.wantKind)
			}
			if tt.wantCause != nil && !errors.Is(first, tt.wantCause) {
				t.Errorf("first read error %v does not wrap %v", first, tt.wantCause)
			}
			calls := hs.callsCopy()
			if len(calls) != 2 || calls[0].Err == nil || calls[1].Err != nil {
				t.Errorf("calls = %+v", calls)
			}
		})
	}
}

// truncatedClose announces the whole body, sends half and ends the handler:
// the server closes the connection cleanly, leaving the body short.
func truncatedClose(body []byte) reply {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
	}
}

func TestDownloadStallForever(t *testing.T) {
	hs := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("CART"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}, func(c *Config) {
		c.StallTimeout = 50 * time.Millisecond
		c.MaxRetries = 1
	})
	start := time.Now()
	var s sink
	err := hs.c.Download(context.Background(), testSHA256, s.consume)
	if k := failure.KindOf(err); k != failure.Timeout || !strings.Contains(err.Error(), "stalled") {
		t.Errorf("err = %v (kind %v), want a stall Timeout", err, k)
	}
	if s.calls != 2 {
		t.Errorf("consume called %d times, want 2", s.calls)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestStallWaitingForHeaders(t *testing.T) {
	hs := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}, func(c *Config) {
		c.StallTimeout = 50 * time.Millisecond
		c.MaxRetries = -1
	})
	_, err := hs.c.SubmissionFull(context.Background(), testSID)
	if k := failure.KindOf(err); k != failure.Timeout || !strings.Contains(err.Error(), "no response within 50ms") {
		t.Errorf("err = %v (kind %v)", err, k)
	}
	if n := hs.requests.Load(); n != 1 {
		t.Errorf("%d requests with retries disabled", n)
	}
}

func TestDownloadConsumeErrorPassesThrough(t *testing.T) {
	corrupt := failure.Errorf(failure.Corrupt, "cart: bad magic")
	hs := newHarness(t, serveFile(fileBody))
	calls := 0
	err := hs.c.Download(context.Background(), testSHA256, func(r io.Reader, _ int64) error {
		calls++
		return corrupt
	})
	if err != corrupt {
		t.Errorf("err = %#v, want consume's error untouched", err)
	}
	// Even a consumer error of a retryable kind is consume's own verdict.
	disk := failure.Errorf(failure.Unavailable, "disk full")
	err2 := hs.c.Download(context.Background(), testSHA256, func(io.Reader, int64) error {
		calls++
		return disk
	})
	if err2 != disk || calls != 2 || hs.requests.Load() != 2 {
		t.Errorf("err = %v after %d calls, %d requests; want no retry", err2, calls, hs.requests.Load())
	}
}

func TestDownloadConsumeIgnoringReadError(t *testing.T) {
	hs := newHarness(t, truncatedClose(fileBody), func(c *Config) { c.MaxRetries = 1 })
	err := hs.c.Download(context.Background(), testSHA256, func(r io.Reader, _ int64) error {
		io.Copy(io.Discard, r) // drops the error
		return nil
	})
	if k := failure.KindOf(err); k != failure.Unavailable || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v (kind %v), want the read's error", err, k)
	}
	if n := hs.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestDownloadMaxBytes(t *testing.T) {
	tests := []struct {
		name      string
		serve     reply
		wantCalls int
	}{
		{"Content-Length over the cap", serveFile(fileBody), 0},
		{"chunked body over the cap", func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			w.Write(fileBody)
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, tt.serve, func(c *Config) { c.MaxDownloadBytes = 1000 })
			var s sink
			err := hs.c.Download(context.Background(), testSHA256, s.consume)
			if k := failure.KindOf(err); k != failure.TooLarge {
				t.Errorf("err = %v (kind %v), want TooLarge", err, k)
			}
			if s.calls != tt.wantCalls || hs.requests.Load() != 1 {
				t.Errorf("consume called %d times, %d requests", s.calls, hs.requests.Load())
			}
			if s.calls > 0 && len(s.got) != 1000 {
				t.Errorf("consume read %d bytes past a 1000-byte cap", len(s.got))
			}
		})
	}
}

func TestDownloadExactlyAtCap(t *testing.T) {
	hs := newHarness(t, serveFile(fileBody[:1000]), func(c *Config) { c.MaxDownloadBytes = 1000 })
	var s sink
	if err := hs.c.Download(context.Background(), testSHA256, s.consume); err != nil || len(s.got) != 1000 {
		t.Errorf("err = %v, %d bytes", err, len(s.got))
	}
}

func TestDownloadCanceledDuringConsume(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	hs := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("CART"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	err := hs.c.Download(ctx, testSHA256, func(r io.Reader, _ int64) error {
		cancel()
		_, err := io.Copy(io.Discard, r)
		return err
	})
	if k := failure.KindOf(err); k != failure.Canceled {
		t.Errorf("err = %v (kind %v), want Canceled", err, k)
	}
	if n := hs.requests.Load(); n != 1 {
		t.Errorf("%d requests after cancellation", n)
	}
}

func TestDownloadInvalidHash(t *testing.T) {
	hs := newHarness(t, serveFile(fileBody))
	nop := func(io.Reader, int64) error { return nil }
	for _, h := range []string{"", "abc", strings.ToUpper(testSHA256), testSHA256[:63] + "/", "../../../../api/v4/user/whoami/" + testSHA256[:33], testSHA256 + "0"} {
		if k := failure.KindOf(hs.c.Download(context.Background(), h, nop)); k != failure.Invalid {
			t.Errorf("Download(%q): kind %v, want Invalid", h, k)
		}
	}
	if k := failure.KindOf(hs.c.Download(context.Background(), testSHA256, nil)); k != failure.Invalid {
		t.Errorf("nil consume: kind %v", k)
	}
	if n := hs.requests.Load(); n != 0 {
		t.Errorf("%d requests for invalid input", n)
	}
}
