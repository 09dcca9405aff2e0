package alsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/cart"
)

// download fetches a file and returns the response with the whole body.
func (c *client) download(sha, query string) (*http.Response, []byte, error) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+"/api/v4/file/download/"+sha+"/"+query, nil)
	req.Header.Set("X-User", c.user)
	req.Header.Set("X-Apikey", c.key)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestDownloadIsValidCart(t *testing.T) {
	for _, noCompression := range []bool{false, true} {
		t.Run("no-compression="+strconv.FormatBool(noCompression), func(t *testing.T) {
			s, c := testServer(t, Config{Submissions: 60, CartNoCompression: noCompression})
			want := s.Expected(7000)
			if len(want) < 5 {
				t.Fatalf("only %d expected files", len(want))
			}
			for _, sha := range want {
				for _, q := range []string{"", "?encoding=cart"} {
					resp, body, err := c.download(sha, q)
					if err != nil {
						t.Fatal(err)
					}
					if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" {
						t.Fatalf("%s: HTTP %d %s", sha, resp.StatusCode, resp.Header.Get("Content-Type"))
					}
					if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
						t.Fatalf("%s: Content-Length %s for %d bytes", sha, cl, len(body))
					}
					if cd := resp.Header.Get("Content-Disposition"); cd != "attachment; filename=file.bin; filename*=UTF-8''"+sha+".cart" {
						t.Fatalf("Content-Disposition %q", cd)
					}
					if !bytes.HasPrefix(body, []byte("CART")) {
						t.Fatalf("%s: body does not start with CART", sha)
					}
					info, err := cart.Verify(bytes.NewReader(body), sha)
					if err != nil {
						t.Fatalf("%s: %v", sha, err)
					}
					if info.SHA256 != sha || info.Size != int64(len(body)) {
						t.Fatalf("%s: verify info %+v", sha, info)
					}
				}
			}
		})
	}
}

func TestDownloadEncodingsAndNames(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 30, DisableRawDownloads: false})
	sha := s.Expected(7000)[0]
	resp, body, err := c.download(sha, "?encoding=raw")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("raw: %v %v", err, resp)
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != sha || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("raw body hashes to %x", sum)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "attachment; filename=file.bin; filename*=UTF-8''"+sha {
		t.Fatalf("raw Content-Disposition %q", cd)
	}
	resp, body, _ = c.download(sha, "?name=dir/r%C3%A9sum%C3%A9+1.exe")
	if cd := resp.Header.Get("Content-Disposition"); cd != "attachment; filename=file.bin; filename*=UTF-8''r%C3%A9sum%C3%A9%201.exe.cart" {
		t.Fatalf("named Content-Disposition %q", cd)
	}
	if _, err := cart.Verify(bytes.NewReader(body), sha); err != nil {
		t.Fatalf("named download: %v", err)
	}
	for _, tc := range []struct{ query, msg string }{
		{"?encoding=zip", "PROTECTED file download has been disabled by administrators."},
		{"?encoding=foo", "FOO is not in the valid encoding types: {'cart', 'raw', 'zip'}"},
	} {
		r := c.get("/api/v4/file/download/" + sha + "/" + tc.query)
		if r.http != 403 || r.env.Error != tc.msg || string(r.env.Response) != "{}" {
			t.Errorf("%s: %d %q %s", tc.query, r.http, r.env.Error, r.env.Response)
		}
	}
	// Uppercase is not the same file.
	r := c.get("/api/v4/file/download/" + strings.ToUpper(sha) + "/")
	if r.http != 404 || r.env.Error != "The file was not found in the system." {
		t.Errorf("uppercase: %d %q", r.http, r.env.Error)
	}
}

func TestDownloadDisabledRaw(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 30, DisableRawDownloads: true})
	r := c.get("/api/v4/file/download/" + s.Expected(7000)[0] + "/?encoding=raw")
	if r.http != 403 || r.env.Error != "RAW file download has been disabled by administrators." {
		t.Fatalf("%d %q", r.http, r.env.Error)
	}
}

func TestDownloadOfUnseenHash(t *testing.T) {
	// A client that learned a sha256 from an earlier alsim process (same
	// seed) can download it although this process never hashed it.
	s1, _ := testServer(t, Config{Submissions: 40, Seed: 9})
	sha := s1.Expected(7000)[3]
	_, c2 := testServer(t, Config{Submissions: 40, Seed: 9})
	resp, body, err := c2.download(sha, "")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("download from a fresh server: %v %v", err, resp.Status)
	}
	if _, err := cart.Verify(bytes.NewReader(body), sha); err != nil {
		t.Fatal(err)
	}
}

func TestBigFileIsSpooled(t *testing.T) {
	const size = 12 << 20
	s, c := testServer(t, Config{Submissions: 30, BigFileSize: size, CartNoCompression: true, TempDir: t.TempDir()})
	big := s.Corpus().BigFile()
	if big < 0 || s.Corpus().FileSize(big) != size {
		t.Fatalf("big file %d", big)
	}
	sha := s.Corpus().FileSHA256(big)
	if !contains(s.Expected(7000), sha) {
		t.Fatal("big file is not expected")
	}
	for range 2 { // the second time from the spool cache
		resp, body, err := c.download(sha, "")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", err, resp)
		}
		if resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) || len(body) < size {
			t.Fatalf("Content-Length %s, body %d", resp.Header.Get("Content-Length"), len(body))
		}
		if _, err := cart.Verify(bytes.NewReader(body), sha); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.carts.spooled) != 1 {
		t.Fatalf("spooled %d files", len(s.carts.spooled))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
