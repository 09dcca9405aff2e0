package cart

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/alharvest/alharvest/internal/failure"
)

var errTooMuch = errors.New("fuzz: content over the limit")

// capWriter stops zlib bombs from turning a fuzz input into gigabytes.
type capWriter struct {
	buf   bytes.Buffer
	limit int
}

func (w *capWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.limit {
		return 0, errTooMuch
	}
	return w.buf.Write(p)
}

func addVerifySeeds(f *testing.F) {
	for _, name := range []string{"reference_empty.cart", "reference_a.cart", "cartrs_nofooter.cart"} {
		f.Add(readTestdata(f, name))
	}
	content := []byte("fuzz me")
	seeds := [][]byte{
		pack(f, nil, nil),
		pack(f, content, &PackOptions{Header: map[string]any{"name": "f"}}),
		pack(f, textBytes(2000), &PackOptions{NoCompression: true}),
		craft{content: content, noFooter: true, footerPos: u64(0)}.bytes(),
		craft{content: content, footer: []byte(`{"length":7}`)}.bytes(),
		craft{content: content, trailing: []byte("x")}.bytes(),
		craft{content: content, stray: []byte("x")}.bytes(),
		craft{content: content, key: []byte("0123456789abcdef"), keyField: make([]byte, 16)}.bytes(),
	}
	ref := readTestdata(f, "reference_a.cart")
	seeds = append(seeds, flip(ref, 60), flip(ref, 250), ref[:100], ref[:271])
	for _, s := range seeds {
		f.Add(s)
	}
}

// FuzzVerify feeds arbitrary bytes to the decoder: it must never panic,
// every failure must be a clean Corrupt, all entry points and read patterns
// must agree, and success must mean the content really has the sha256 the
// caller asked for.
func FuzzVerify(f *testing.F) {
	addVerifySeeds(f)
	f.Fuzz(checkDecode)
}

// checkDecode holds the properties every input must satisfy.
func checkDecode(t *testing.T, data []byte) {
	w := &capWriter{limit: 64 << 20}
	info, err := unpack(w, bytes.NewReader(data))
	if errors.Is(err, errTooMuch) {
		return
	}
	_, verr := Verify(bytes.NewReader(data), "")
	if err != nil {
		if !errors.Is(err, ErrCorrupt) || failure.KindOf(err) != failure.Corrupt {
			t.Fatalf("unpack error not corrupt: %v", err)
		}
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Reason == "" {
			t.Fatalf("unpack error %v is not a *FormatError with a reason", err)
		}
		if verr == nil || verr.Error() != err.Error() {
			t.Fatalf("Verify says %v, unpack says %v", verr, err)
		}
		if len(data) < 4096 {
			_, oerr := Verify(iotest.OneByteReader(bytes.NewReader(data)), "")
			if oerr == nil || oerr.Error() != err.Error() {
				t.Fatalf("one-byte reads say %v, whole reads say %v", oerr, err)
			}
		}
		return
	}
	if verr != nil {
		t.Fatalf("unpack succeeded, Verify failed: %v", verr)
	}
	sum := sha256.Sum256(w.buf.Bytes())
	got := hex.EncodeToString(sum[:])
	if info.SHA256 != got || info.ContentSize != int64(w.buf.Len()) || info.Size != int64(len(data)) {
		t.Fatalf("info %+v for %d content bytes with sha256 %s, %d stream bytes", info, w.buf.Len(), got, len(data))
	}
	if fs, ok := info.Footer["sha256"].(string); ok && !strings.EqualFold(fs, got) {
		t.Fatalf("footer sha256 %q accepted for content %s", fs, got)
	}
	vinfo, err := Verify(bytes.NewReader(data), got)
	if err != nil {
		t.Fatalf("Verify with the content's own sha256: %v", err)
	}
	if !reflect.DeepEqual(vinfo, info) {
		t.Fatalf("Verify info %+v, unpack info %+v", vinfo, info)
	}
	other := sha256.Sum256(append(w.buf.Bytes(), 0))
	if _, err := Verify(bytes.NewReader(data), hex.EncodeToString(other[:])); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("Verify with another sha256 gave %v", err)
	}
}

// FuzzVerifyParts fuzzes the plaintext of each region and encrypts it with
// the default key before decoding, so that mutations reach the JSON, zlib
// and footer logic instead of dying as RC4 noise in the first check.
func FuzzVerifyParts(f *testing.F) {
	content := []byte("content")
	f.Add([]byte(`{"name":"a.txt"}`), zlibBytes(content), []byte{}, refFooterJSON(content), int64(0), int64(0), []byte{})
	f.Add([]byte{}, zlibBytes(nil), []byte{}, []byte{}, int64(-1), int64(-1), []byte{})
	f.Add([]byte(`{}`), zlibBytes(textBytes(3000)), []byte("x"), []byte(`{"length":3000}`), int64(0), int64(0), []byte("TRAC"))
	f.Add([]byte(`{"a":[1,2,{"b":null}]}`), zlibBytes(content), []byte{}, []byte(`{"md5":"00"}`), int64(5), int64(-2), []byte{})
	f.Fuzz(func(t *testing.T, header, zdata, stray, footer []byte, posDelta, lenDelta int64, trailing []byte) {
		c := craft{header: header, zdata: zdata, stray: stray, footer: footer, trailing: trailing}
		if len(header) == 0 {
			c.header = nil
		}
		if len(footer) == 0 {
			c.noFooter = true
		}
		data := c.bytes()
		// Nudge the footer fields: -1 means the cart-rs (0, 0) form.
		if posDelta != 0 || lenDelta != 0 {
			end := len(data) - len(trailing)
			pos := binary.LittleEndian.Uint64(data[end-16:])
			fl := binary.LittleEndian.Uint64(data[end-8:])
			if posDelta == -1 && lenDelta == -1 {
				pos, fl = 0, 0
			} else {
				pos, fl = pos+uint64(posDelta), fl+uint64(lenDelta)
			}
			binary.LittleEndian.PutUint64(data[end-16:], pos)
			binary.LittleEndian.PutUint64(data[end-8:], fl)
		}
		checkDecode(t, data)
	})
}

// FuzzRoundTrip checks that whatever Pack writes, unpack gives back.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(""), "", false)
	f.Add([]byte("a"), "a.txt", false)
	f.Add(textBytes(5000), "text", true)
	f.Add(randomBytes(3000, 1), "\xff<>&\u2028", false)
	f.Fuzz(func(t *testing.T, content []byte, name string, stored bool) {
		opts := &PackOptions{NoCompression: stored}
		if name != "" {
			opts.Header = map[string]any{"name": name}
		}
		data := pack(t, content, opts)
		sum := sha256.Sum256(content)
		var out bytes.Buffer
		info, err := unpack(&out, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("unpack: %v", err)
		}
		if !bytes.Equal(out.Bytes(), content) || info.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("round trip changed the content")
		}
		if _, err := Verify(iotest.HalfReader(bytes.NewReader(data)), info.SHA256); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if name != "" {
			want := name
			if !utf8.ValidString(name) {
				// encoding/json replaces invalid UTF-8 when writing.
				b, _ := json.Marshal(name)
				json.Unmarshal(b, &want)
			}
			if info.Header["name"] != want {
				t.Fatalf("header name %q, want %q", info.Header["name"], want)
			}
		}
	})
}
