package cart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestInflationStopsAtTheAnnouncedLength: a small cART that inflates far
// beyond what it announces (a decompression bomb: 256 MiB of zeros in about
// 250 KiB, its footer saying 1 000 bytes) is rejected after about one block
// of output, not inflated to the end. Both for a file (the optional footer
// is read first) and for a stream given a bound (VerifyLimit).
func TestInflationStopsAtTheAnnouncedLength(t *testing.T) {
	const content = 256 << 20
	var bomb bytes.Buffer
	footer := map[string]string{"length": "1000", "sha256": "00"}
	if _, err := Pack(&bomb, io.LimitReader(zeros{}, content), &PackOptions{Level: 9, Footer: footer}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bomb.cart")
	if err := os.WriteFile(path, bomb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		verify func() (Info, error)
		limit  int64
		says   string
	}{
		{"file", func() (Info, error) { return VerifyFile(path, "") }, 1000, "the optional footer length 1000"},
		{"bytes.Reader", func() (Info, error) { return Verify(bytes.NewReader(bomb.Bytes()), "") }, 1000, "the optional footer length 1000"},
		{"stream with a bound", func() (Info, error) {
			return VerifyLimit(io.MultiReader(bytes.NewReader(bomb.Bytes())), "", 5000)
		}, 5000, "the announced size 5000"},
	}
	after := regexp.MustCompile(`stopped inflating after (\d+) bytes`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.verify()
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want a format error", err)
			}
			m := after.FindStringSubmatch(err.Error())
			if m == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.says)) {
				t.Fatalf("err = %v, want it to say it stopped at %s", err, tc.says)
			}
			if n, _ := strconv.ParseInt(m[1], 10, 64); n <= tc.limit || n > tc.limit+2*blockSize {
				t.Errorf("inflated %d bytes for a %d-byte bound, want at most one block more", n, tc.limit)
			}
		})
	}
	// A stream without a bound has nothing to stop at before the footer:
	// it is inflated whole and then rejected by the footer check.
	t.Run("stream without a bound", func(t *testing.T) {
		_, err := Verify(io.MultiReader(bytes.NewReader(bomb.Bytes())), "")
		if !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(fmt.Sprintf("content's %s", "a6d72ac7"))) {
			t.Errorf("err = %v", err)
		}
	})
}

// TestAnnouncedLengthIgnoresWhatItCannotRead: files without a usable
// length announcement verify exactly as before.
func TestAnnouncedLengthIgnoresWhatItCannotRead(t *testing.T) {
	content := textBytes(200 << 10)
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"reference footer", pack(t, content, nil), true},
		{"no length in the footer", pack(t, content, &PackOptions{Footer: map[string]string{"sha256": sha256Hex(content)}}), false},
		{"not a cART", []byte("MZ this is not a cart at all, just some bytes long enough to have a footer"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(tc.data)
			r.Seek(7, io.SeekStart)
			r.Seek(0, io.SeekStart)
			n, ok := announcedLength(r)
			if ok != tc.ok || (ok && n != int64(len(content))) {
				t.Errorf("announcedLength = %d, %v; want %d, %v", n, ok, len(content), tc.ok)
			}
			if pos, _ := r.Seek(0, io.SeekCurrent); pos != 0 {
				t.Errorf("left the reader at %d", pos)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
