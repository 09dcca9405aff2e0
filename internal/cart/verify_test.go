package cart

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"crypto/md5"
	"crypto/rc4"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/testenv"
)

// ---- helpers -------------------------------------------------------------

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

// textBytes is compressible content, roughly like logs or scripts.
func textBytes(n int) []byte {
	var b bytes.Buffer
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"}
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%08d %s %s %x\n", i, words[r.IntN(len(words))], words[r.IntN(len(words))], r.Uint32()&0xfff)
	}
	return b.Bytes()[:n]
}

func pack(t testing.TB, content []byte, opts *PackOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := Pack(&buf, bytes.NewReader(content), opts)
	if err != nil {
		t.Fatalf("Pack: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("Pack returned %d, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func rc4With(key []byte, b []byte) []byte {
	c, err := rc4.NewCipher(key)
	if err != nil {
		panic(err)
	}
	out := make([]byte, len(b))
	c.XORKeyStream(out, b)
	return out
}

func zlibBytes(content []byte) []byte {
	var b bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&b, zlib.BestSpeed)
	zw.Write(content)
	zw.Close()
	return b.Bytes()
}

// refFooterJSON is the optional footer the reference writes for content.
func refFooterJSON(content []byte) []byte {
	m5, s1 := md5.Sum(content), sha1.Sum(content)
	b, _ := json.Marshal(map[string]string{
		"md5": hex.EncodeToString(m5[:]), "sha1": hex.EncodeToString(s1[:]),
		"sha256": sha256Hex(content), "length": fmt.Sprint(len(content)),
	})
	return b
}

// craft builds cART streams with every part under the test's control, to
// make files that Pack would never write.
type craft struct {
	key       []byte // RC4 key; default key if nil
	keyField  []byte // the header's key field; key if nil
	version   uint16 // 1 if 0
	reserved  uint64
	header    []byte // optional header plaintext; none if nil
	zdata     []byte // zlib stream; zlibBytes(content) if nil
	content   []byte
	stray     []byte // between the zlib stream and the optional footer
	footer    []byte // optional footer plaintext; refFooterJSON(content) if nil
	noFooter  bool
	footerPos *uint64 // override OPT_FOOTER_POS
	footerLen *uint64 // override OPT_FOOTER_LEN
	footerRsv uint64
	trailing  []byte // after the mandatory footer
	headerLen *uint64
}

func u64(v uint64) *uint64 { return &v }

func (c craft) bytes() []byte {
	key := c.key
	if key == nil {
		key = DefaultKey[:]
	}
	keyField := c.keyField
	if keyField == nil {
		keyField = key
	}
	ver := c.version
	if ver == 0 {
		ver = 1
	}
	var optHeader []byte
	if c.header != nil {
		optHeader = rc4With(key, c.header)
	}
	var out bytes.Buffer
	var hdr [HeaderSize]byte
	copy(hdr[:], "CART")
	binary.LittleEndian.PutUint16(hdr[4:], ver)
	binary.LittleEndian.PutUint64(hdr[6:], c.reserved)
	copy(hdr[14:30], keyField)
	hl := uint64(len(optHeader))
	if c.headerLen != nil {
		hl = *c.headerLen
	}
	binary.LittleEndian.PutUint64(hdr[30:], hl)
	out.Write(hdr[:])
	out.Write(optHeader)
	z := c.zdata
	if z == nil {
		z = zlibBytes(c.content)
	}
	out.Write(rc4With(key, z))
	out.Write(c.stray)
	pos := uint64(out.Len())
	var optFooter []byte
	if !c.noFooter {
		f := c.footer
		if f == nil {
			f = refFooterJSON(c.content)
		}
		optFooter = rc4With(key, f)
	}
	out.Write(optFooter)
	fl := uint64(len(optFooter))
	if c.footerPos != nil {
		pos = *c.footerPos
	}
	if c.footerLen != nil {
		fl = *c.footerLen
	}
	var ftr [FooterSize]byte
	copy(ftr[:], "TRAC")
	binary.LittleEndian.PutUint64(ftr[4:], c.footerRsv)
	binary.LittleEndian.PutUint64(ftr[12:], pos)
	binary.LittleEndian.PutUint64(ftr[20:], fl)
	out.Write(ftr[:])
	out.Write(c.trailing)
	return out.Bytes()
}

// mustVerify checks that data verifies (through several read patterns) and
// that unpack yields content.
func mustVerify(t *testing.T, data, content []byte) Info {
	t.Helper()
	want := sha256Hex(content)
	info, err := Verify(bytes.NewReader(data), want)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if info.SHA256 != want || info.ContentSize != int64(len(content)) || info.Size != int64(len(data)) {
		t.Fatalf("Verify info = %+v, want sha256 %s, content %d, size %d", info, want, len(content), len(data))
	}
	readers := map[string]io.Reader{
		"half":    iotest.HalfReader(bytes.NewReader(data)),
		"dataerr": iotest.DataErrReader(bytes.NewReader(data)),
		"stutter": &stutterReader{r: bytes.NewReader(data)},
	}
	if len(data) < 300<<10 {
		readers["onebyte"] = iotest.OneByteReader(bytes.NewReader(data))
	}
	for name, r := range readers {
		info2, err := Verify(r, "")
		if err != nil {
			t.Fatalf("Verify via %s reader: %v", name, err)
		}
		if !reflect.DeepEqual(info, info2) {
			t.Fatalf("Verify via %s reader: info %+v, want %+v", name, info2, info)
		}
	}
	var out bytes.Buffer
	uinfo, err := unpack(&out, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	if !bytes.Equal(out.Bytes(), content) {
		t.Fatalf("Unpack content differs (%d bytes, want %d)", out.Len(), len(content))
	}
	if !reflect.DeepEqual(info, uinfo) {
		t.Fatalf("Unpack info %+v, Verify info %+v", uinfo, info)
	}
	return info
}

// stutterReader returns (0, nil) between reads, which io.Reader allows.
type stutterReader struct {
	r    io.Reader
	skip bool
}

func (s *stutterReader) Read(p []byte) (int, error) {
	if s.skip = !s.skip; s.skip {
		return 0, nil
	}
	return s.r.Read(p[:min(len(p), 1000)])
}

// mustReject checks that data fails verification as Corrupt with a message
// containing every one of substrs, identically whatever the read pattern.
func mustReject(t *testing.T, data []byte, want string, substrs ...string) error {
	t.Helper()
	_, err := Verify(bytes.NewReader(data), want)
	assertCorrupt(t, err, substrs...)
	_, err2 := Verify(iotest.OneByteReader(bytes.NewReader(data)), want)
	// A seekable reader announces its length up front, so content longer
	// than announced stops the decode early with its own message; a stream
	// finds the same fault at the footer. Same verdict, same class.
	early := err != nil && strings.Contains(err.Error(), "stopped inflating")
	if early {
		if !errors.Is(err2, ErrDigestMismatch) || !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("one-byte reader gave %v, bytes.Reader gave %v: want both ErrDigestMismatch", err2, err)
		}
	} else if err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("one-byte reader gave %v, bytes.Reader gave %v", err2, err)
	}
	if want == "" && !early {
		_, err3 := unpack(io.Discard, bytes.NewReader(data))
		if err3 == nil || err3.Error() != err.Error() {
			t.Fatalf("Unpack gave %v, Verify gave %v", err3, err)
		}
	}
	return err
}

func assertCorrupt(t *testing.T, err error, substrs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want corrupt (%q)", substrs)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %q does not match ErrCorrupt", err)
	}
	if k := failure.KindOf(err); k != failure.Corrupt {
		t.Fatalf("failure.KindOf(%q) = %v, want corrupt", err, k)
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %q is not a *FormatError", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "cart: ") {
		t.Fatalf("message %q lacks the cart: prefix", msg)
	}
	for _, s := range substrs {
		if !strings.Contains(msg, s) {
			t.Fatalf("message %q does not mention %q", msg, s)
		}
	}
}

func flip(data []byte, offsets ...int) []byte {
	d := bytes.Clone(data)
	for _, o := range offsets {
		d[o] ^= 0xff
	}
	return d
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---- round trips ---------------------------------------------------------

func TestRoundTrip(t *testing.T) {
	contents := []struct {
		name    string
		content []byte
	}{
		{"empty", nil},
		{"1byte", []byte{0x4d}},
		{"1MiB-random", randomBytes(1<<20, 1)},
		{"1MiB-text", textBytes(1 << 20)},
		{"64KiB-exact", randomBytes(64<<10, 2)},
		{"64KiB+1", randomBytes(64<<10+1, 3)},
		{"zeros-3MiB", make([]byte, 3<<20)},
	}
	optsList := []struct {
		name string
		opts *PackOptions
	}{
		{"default", nil},
		{"header", &PackOptions{Header: map[string]any{"name": "sample.exe", "poc": "alharvest", "n": 12345678901234}}},
		{"nocompression", &PackOptions{NoCompression: true}},
		{"nocompression+header", &PackOptions{NoCompression: true, Header: map[string]any{"name": "é<&>.bin"}}},
		{"level9", &PackOptions{Level: 9}},
	}
	for _, c := range contents {
		for _, o := range optsList {
			t.Run(c.name+"/"+o.name, func(t *testing.T) {
				data := pack(t, c.content, o.opts)
				info := mustVerify(t, data, c.content)
				if o.opts != nil && o.opts.Header != nil {
					want, _ := json.Marshal(o.opts.Header)
					got, _ := json.Marshal(info.Header)
					if !bytes.Equal(got, want) {
						t.Errorf("header %s, want %s", got, want)
					}
				} else if info.Header != nil {
					t.Errorf("header %v, want nil", info.Header)
				}
				if info.Footer["sha256"] != info.SHA256 || info.Footer["length"] != fmt.Sprint(len(c.content)) {
					t.Errorf("footer %v", info.Footer)
				}
			})
		}
	}
}

func TestVerifyFile(t *testing.T) {
	content := textBytes(100 << 10)
	path := filepath.Join(t.TempDir(), "x.cart")
	if err := os.WriteFile(path, pack(t, content, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := VerifyFile(path, sha256Hex(content))
	if err != nil || info.ContentSize != int64(len(content)) {
		t.Fatalf("VerifyFile = %+v, %v", info, err)
	}
	_, err = VerifyFile(filepath.Join(t.TempDir(), "missing.cart"), "")
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("missing file: %v", err)
	}
}

// ---- reference vectors ---------------------------------------------------

// The files were written by testdata/gen_reference.py, which follows the
// Python reference byte for byte (C zlib level 1, 64 KiB blocks).
func TestReferenceVectors(t *testing.T) {
	tests := []struct {
		file   string
		sha256 string
		size   int64
		header string // JSON of the expected header, "" for none
		footer string // JSON of the expected footer, "" for none
	}{
		{"reference_empty.cart", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0, "", ""},
		{"reference_a.cart", "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb", 1, `{"name":"a.txt"}`,
			// The exact footer from the format notes.
			`{"length":"1","md5":"0cc175b9c0f1b6a831c399e269772661","sha1":"86f7e437faa5a7fce15d1ddcb9eaeaea377667b8","sha256":"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"}`},
		{"reference_multiblock.cart", "c2bd149744666e11731303e7021123ca01dea3499c0495aadb689aa52982d036", 210800, `{"name":"multi.bin","poc":"alharvest tests"}`, ""},
		{"cartrs_nofooter.cart", "2621eb98c42fc23c4c70e84f2f932fe6d7075e25d055a30680f2c89a8ee3dc85", 9500, `{"name":"hello.txt"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			info, err := VerifyFile(path, tt.sha256)
			if err != nil {
				t.Fatalf("VerifyFile: %v", err)
			}
			if info.SHA256 != tt.sha256 || info.ContentSize != tt.size {
				t.Fatalf("info %+v", info)
			}
			data := readTestdata(t, tt.file)
			var out bytes.Buffer
			if _, err := unpack(&out, bytes.NewReader(data)); err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			if got := sha256Hex(out.Bytes()); got != tt.sha256 {
				t.Fatalf("decoded sha256 %s, want %s", got, tt.sha256)
			}
			mustVerify(t, data, out.Bytes())
			checkJSON(t, "header", info.Header, tt.header)
			if tt.footer != "" {
				checkJSON(t, "footer", info.Footer, tt.footer)
			}
			if tt.file == "reference_multiblock.cart" && info.Footer["length"] != "210800" {
				t.Errorf("footer %v", info.Footer)
			}
		})
	}
}

func checkJSON(t *testing.T, what string, m map[string]any, want string) {
	t.Helper()
	if want == "" {
		if m != nil {
			t.Errorf("%s = %v, want none", what, m)
		}
		return
	}
	got, _ := json.Marshal(m)
	if string(got) != want {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// Pack must agree with the reference wherever zlib does not get a say: the
// headers, the encrypted optional footer and the mandatory footer layout.
func TestPackMatchesReferenceMetadata(t *testing.T) {
	ref := readTestdata(t, "reference_a.cart")
	ours := pack(t, []byte("a"), &PackOptions{Header: map[string]any{"name": "a.txt"}})
	if !bytes.Equal(ours[:HeaderSize+16], ref[:HeaderSize+16]) {
		t.Errorf("headers differ:\n ours %x\n ref  %x", ours[:HeaderSize+16], ref[:HeaderSize+16])
	}
	refFooter := ref[len(ref)-FooterSize-181 : len(ref)-FooterSize]
	ourFooter := ours[len(ours)-FooterSize-181 : len(ours)-FooterSize]
	if !bytes.Equal(refFooter, ourFooter) {
		t.Errorf("optional footers differ")
	}
	posOf := func(b []byte) uint64 { return binary.LittleEndian.Uint64(b[len(b)-16:]) }
	if posOf(ours) != uint64(len(ours)-FooterSize-181) {
		t.Errorf("OPT_FOOTER_POS %d", posOf(ours))
	}
}

// ---- rejections ----------------------------------------------------------

func TestRejectRegions(t *testing.T) {
	ref := readTestdata(t, "reference_a.cart")
	// reference_a.cart layout: header 0-38, optional header 38-54, data
	// 54-63, optional footer 63-244, mandatory footer 244-272.
	const aSHA = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
	big := pack(t, randomBytes(300<<10, 7), &PackOptions{Header: map[string]any{"name": "big"}})
	bigSHA := sha256Hex(randomBytes(300<<10, 7))
	bigFooterPos := int(binary.LittleEndian.Uint64(big[len(big)-16:]))
	text := textBytes(200 << 10)
	textCart := pack(t, text, nil)
	textFooterPos := int(binary.LittleEndian.Uint64(textCart[len(textCart)-16:]))

	tests := []struct {
		name string
		data []byte
		want string
		msg  []string
	}{
		{"header magic", flip(ref, 0), aSHA, []string{"bad header magic", "not a cART"}},
		{"header magic last byte", flip(ref, 3), aSHA, []string{"bad header magic"}},
		{"version", flip(ref, 4), aSHA, []string{"version"}},
		{"version 2", func() []byte { d := bytes.Clone(ref); d[4] = 2; return d }(), aSHA, []string{"unsupported version 2"}},
		{"reserved", flip(ref, 9), aSHA, []string{"mandatory header reserved field"}},
		{"key", flip(ref, 20), aSHA, []string{"optional header", "JSON object"}},
		{"opt header length", flip(ref, 30), aSHA, []string{"optional header"}},
		{"opt header length huge", flip(ref, 35), aSHA, []string{"optional header length", "exceeds"}},
		{"opt header first byte", flip(ref, 38), aSHA, []string{"optional header", "JSON object"}},
		{"opt header middle", flip(ref, 47), aSHA, []string{"optional header", "UTF-8"}},
		{"opt header last byte", flip(ref, 53), aSHA, []string{"optional header"}},
		{"data zlib header", flip(ref, 54), aSHA, []string{"data section", "zlib header"}},
		{"data deflate", flip(ref, 56), aSHA, []string{"data section"}},
		{"data adler32", flip(ref, 62), aSHA, []string{"data section", "Adler-32"}},
		{"big data start", flip(big, 60), bigSHA, []string{"data section"}},
		{"big data 100k", flip(big, 100000), bigSHA, []string{"data section", "Adler-32"}},
		{"big data 200k", flip(big, 200000), bigSHA, []string{"data section"}},
		{"big data last", flip(big, bigFooterPos-1), bigSHA, []string{"data section", "Adler-32"}},
		{"text data 1k", flip(textCart, 1000), "", []string{"data section"}},
		{"text data mid", flip(textCart, textFooterPos/2), "", []string{"data section"}},
		{"text data end-5", flip(textCart, textFooterPos-5), "", []string{"data section"}},
		{"opt footer first", flip(ref, 63), aSHA, []string{"optional footer", "JSON object"}},
		{"opt footer digest", flip(ref, 150), aSHA, []string{"optional footer"}},
		{"opt footer last", flip(ref, 243), aSHA, []string{"optional footer", "JSON object"}},
		{"footer magic", flip(ref, 244), aSHA, []string{"bad footer magic"}},
		{"footer magic C", flip(ref, 247), aSHA, []string{"bad footer magic"}},
		{"footer reserved", flip(ref, 250), aSHA, []string{"mandatory footer reserved field"}},
		{"footer pos", flip(ref, 256), aSHA, []string{"optional footer is at offset", "starts at offset 63"}},
		{"footer pos high", flip(ref, 263), aSHA, []string{"optional footer is at offset"}},
		{"footer len low", flip(ref, 264), aSHA, []string{"optional footer length"}},
		{"footer len high", flip(ref, 271), aSHA, []string{"optional footer length", "exceeds"}},
		{"wrong sha256", ref, sha256Hex([]byte("b")), []string{"sha256 mismatch: got " + aSHA + " want " + sha256Hex([]byte("b"))}},
		{"not a cART", []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"), "", []string{"bad header magic", "not a cART"}},
		{"not a cART text", []byte("hello, world\n"), "", []string{"not a cART"}},
		{"not a cART short", []byte("CAT"), "", []string{"not a cART"}},
		{"not a cART long", randomBytes(1<<20, 9), "", []string{"not a cART"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustReject(t, tt.data, tt.want, tt.msg...)
			t.Log(err)
		})
	}
}

// Every single byte of a cART file is covered by some check: damage
// anywhere must be caught. (XOR 0xff turns ASCII JSON into invalid UTF-8,
// so even the metadata regions, which have no checksum, are detectable.)
func TestRejectEveryFlippedByte(t *testing.T) {
	files := map[string][]byte{
		"reference_a":     readTestdata(t, "reference_a.cart"),
		"reference_empty": readTestdata(t, "reference_empty.cart"),
		"cartrs":          readTestdata(t, "cartrs_nofooter.cart"),
		"pack_text":       pack(t, textBytes(3000), &PackOptions{Header: map[string]any{"name": "t.txt"}}),
		"pack_stored":     pack(t, randomBytes(500, 4), &PackOptions{NoCompression: true}),
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			for i := range data {
				_, err := Verify(bytes.NewReader(flip(data, i)), "")
				if err == nil {
					t.Fatalf("flipping byte %d went unnoticed", i)
				}
				assertCorrupt(t, err)
			}
		})
	}
}

func TestRejectTruncated(t *testing.T) {
	files := map[string][]byte{
		"reference_a":     readTestdata(t, "reference_a.cart"),
		"reference_empty": readTestdata(t, "reference_empty.cart"),
		"cartrs":          readTestdata(t, "cartrs_nofooter.cart"),
		"pack_text":       pack(t, textBytes(5000), &PackOptions{Header: map[string]any{"name": "t.txt"}}),
		"multiblock":      readTestdata(t, "reference_multiblock.cart"),
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			footerPos := int(binary.LittleEndian.Uint64(data[len(data)-16:]))
			if footerPos == 0 {
				footerPos = len(data) - FooterSize
			}
			var lengths []int
			if len(data) < 10000 {
				for n := range len(data) {
					lengths = append(lengths, n)
				}
			} else {
				lengths = []int{0, 1, 4, 10, 37, 38, 39, 60, 1000, 65536, 65537, len(data) / 2,
					footerPos - 1, footerPos, footerPos + 1, len(data) - FooterSize - 1,
					len(data) - FooterSize, len(data) - FooterSize + 1, len(data) - 2, len(data) - 1}
			}
			for _, n := range lengths {
				_, err := Verify(bytes.NewReader(data[:n]), "")
				assertCorrupt(t, err, "truncated")
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("length %d: %v is not ErrTruncated", n, err)
				}
			}
		})
	}
	// Spot-check the wording at the lengths that matter.
	ref := readTestdata(t, "reference_a.cart")
	for _, tc := range []struct {
		n   int
		msg string
	}{
		{0, "empty stream"},
		{10, "truncated in mandatory header (10 of 38 bytes)"},
		{37, "truncated in mandatory header (37 of 38 bytes)"},
		{38, "truncated in optional header (0 of 16 bytes)"},
		{58, "truncated in data section"},
		{63, "only 0 bytes follow the data section"},
		{100, "truncated inside the optional footer"},
		{244, "mandatory footer missing"},
		{250, "truncated in mandatory footer (6 of 28 bytes present)"},
		{271, "truncated in mandatory footer (27 of 28 bytes present)"},
	} {
		mustReject(t, ref[:tc.n], "", tc.msg)
	}
	empty := readTestdata(t, "reference_empty.cart")
	mustReject(t, empty[:38], "", "truncated in data section")
	mustReject(t, empty[:73], "", "truncated: only 27 bytes")
}

func TestRejectCrafted(t *testing.T) {
	content := []byte("the content of a sample")
	good := craft{content: content, header: []byte(`{"name":"x"}`)}
	mustVerify(t, good.bytes(), content)

	wrongMD5 := refFooterJSON([]byte("other"))
	var fm map[string]string
	json.Unmarshal(refFooterJSON(content), &fm)
	withFooter := func(edit func(m map[string]any)) []byte {
		m := map[string]any{}
		for k, v := range fm {
			m[k] = v
		}
		edit(m)
		b, _ := json.Marshal(m)
		return b
	}
	sha := sha256Hex(content)
	private := craft{content: content, key: []byte("0123456789abcdef"), keyField: make([]byte, 16)}

	tests := []struct {
		name string
		c    craft
		want string
		msg  []string
	}{
		{"stray bytes", craft{content: content, stray: []byte("123456789012")}, sha, []string{"12 stray bytes between data and footer"}},
		{"stray bytes no footer", craft{content: content, stray: []byte("x"), noFooter: true}, sha, []string{"1 stray bytes between data and footer"}},
		{"second zlib stream", craft{content: content, stray: zlibBytes([]byte("more"))}, sha, []string{"stray bytes"}},
		{"trailing bytes", craft{content: content, trailing: []byte("junk")}, sha, []string{"4 trailing bytes after the mandatory footer"}},
		{"trailing bytes no footer", craft{content: content, noFooter: true, trailing: []byte("\n")}, sha, []string{"1 trailing bytes after the mandatory footer"}},
		{"trailing TRAC", craft{content: content, trailing: []byte("TRAC")}, sha, []string{"trailing bytes"}},
		{"huge trailing", craft{content: content, trailing: make([]byte, 2<<20)}, sha, []string{"stray bytes: more than 1048604 bytes"}},
		{"footer pos wrong", craft{content: content, footerPos: u64(12)}, sha, []string{"optional footer is at offset 12"}},
		{"footer pos zero with footer", craft{content: content, footerPos: u64(0)}, sha, []string{"optional footer is at offset 0"}},
		{"footer pos wrong no footer", craft{content: content, noFooter: true, footerPos: u64(1)}, sha, []string{"optional footer is at offset 1"}},
		{"footer len too short", craft{content: content, footerLen: u64(10)}, sha, []string{"stray bytes between data and footer"}},
		{"footer len too long", craft{content: content, footerLen: u64(10000)}, sha, []string{"optional footer length 10000"}},
		{"footer reserved", craft{content: content, footerRsv: 1}, sha, []string{"mandatory footer reserved field is 0x1"}},
		{"footer md5", craft{content: content, footer: withFooter(func(m map[string]any) { m["md5"] = strings.Repeat("0", 32) })}, "", []string{"optional footer md5", "does not match"}},
		{"footer sha1", craft{content: content, footer: withFooter(func(m map[string]any) { m["sha1"] = "x" })}, "", []string{"optional footer sha1"}},
		{"footer sha256", craft{content: content, footer: withFooter(func(m map[string]any) { m["sha256"] = sha256Hex(nil) })}, "", []string{"optional footer sha256"}},
		// Another content's footer (5 bytes long): a file stops inflating at
		// its length, a stream reports its md5 (mustReject checks both).
		{"footer all wrong", craft{content: content, footer: wrongMD5}, "", []string{"optional footer length 5"}},
		{"footer length", craft{content: content, footer: withFooter(func(m map[string]any) { m["length"] = "24" })}, "", []string{"optional footer length 24", "23 bytes"}},
		// A length below the content's: a file stops inflating there.
		{"footer length number", craft{content: content, footer: withFooter(func(m map[string]any) { m["length"] = 22 })}, "", []string{"optional footer length 22"}},
		{"footer length float", craft{content: content, footer: withFooter(func(m map[string]any) { m["length"] = 23.5 })}, "", []string{"optional footer length", "not a decimal integer"}},
		{"footer length bool", craft{content: content, footer: withFooter(func(m map[string]any) { m["length"] = true })}, "", []string{"optional footer length is a boolean"}},
		{"footer sha256 number", craft{content: content, footer: withFooter(func(m map[string]any) { m["sha256"] = 1 })}, "", []string{"optional footer sha256 is a number"}},
		{"footer array", craft{content: content, footer: []byte(`[1,2]`)}, "", []string{"optional footer", "JSON object"}},
		{"footer null", craft{content: content, footer: []byte(`null`)}, "", []string{"optional footer", "JSON null, not an object"}},
		{"footer trailing garbage", craft{content: content, footer: []byte(`{} {}`)}, "", []string{"optional footer", "trailing data"}},
		{"footer empty-ish", craft{content: content, footer: []byte(` `)}, "", []string{"optional footer"}},
		{"header not json", craft{content: content, header: []byte(`name=x`)}, "", []string{"optional header", "JSON object"}},
		{"header bad utf8", craft{content: content, header: []byte("{\"name\":\"\xff\"}")}, "", []string{"optional header", "UTF-8"}},
		{"header string", craft{content: content, header: []byte(`"x"`)}, "", []string{"optional header", "JSON object"}},
		{"header too long", craft{content: content, headerLen: u64(1<<20 + 1)}, "", []string{"optional header length 1048577 exceeds"}},
		{"header len past end", craft{content: content, headerLen: u64(1 << 20)}, "", []string{"truncated in optional header"}},
		{"private key", private, "", []string{"private RC4 key", "not supported"}},
		{"private key with header", craft{content: content, key: []byte("0123456789abcdef"), keyField: make([]byte, 16), header: []byte(`{}`)}, "", []string{"private RC4 key"}},
		{"other key field", craft{content: content, keyField: []byte("0123456789abcdef")}, "", []string{"data section", "zlib header"}},
		{"raw deflate", craft{content: content, zdata: func() []byte {
			var b bytes.Buffer
			w, _ := flate.NewWriter(&b, 1)
			w.Write(content)
			w.Close()
			return b.Bytes()
		}()}, "", []string{"data section"}},
		{"gzip", craft{content: content, zdata: func() []byte {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(content)
			w.Close()
			return b.Bytes()
		}()}, "", []string{"data section", "zlib header"}},
		{"preset dictionary", craft{content: content, zdata: func() []byte {
			var b bytes.Buffer
			w, _ := zlib.NewWriterLevelDict(&b, 1, []byte("dict"))
			w.Write(content)
			w.Close()
			return b.Bytes()
		}()}, "", []string{"preset dictionary"}},
		{"bad adler", craft{content: content, zdata: func() []byte {
			z := zlibBytes(content)
			z[len(z)-1]++
			return z
		}()}, "", []string{"Adler-32"}},
		{"no zlib end", craft{content: content, zdata: zlibBytes(content)[:10]}, "", []string{"data section"}},
		{"version 0", craft{content: content, version: 0xffff}, "", []string{"unsupported version -1"}},
		{"reserved", craft{content: content, reserved: 1 << 63}, "", []string{"reserved field is 0x8000000000000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustReject(t, tt.c.bytes(), tt.want, tt.msg...)
			t.Log(err)
		})
	}
	if _, err := Verify(bytes.NewReader(private.bytes()), ""); !errors.Is(err, ErrPrivateKey) {
		t.Errorf("private key: %v is not ErrPrivateKey", err)
	}
	if _, err := Verify(bytes.NewReader(good.bytes()), sha256Hex(nil)); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("wrong sha256: %v is not ErrDigestMismatch", err)
	}
	if _, err := Verify(strings.NewReader("PK\x03\x04 a zip"), ""); !errors.Is(err, ErrNotCART) {
		t.Errorf("zip: %v is not ErrNotCART", err)
	}
}

func TestAcceptVariants(t *testing.T) {
	content := []byte("variant")
	m5 := md5.Sum(content)
	tests := []struct {
		name string
		c    craft
	}{
		{"cart-rs footer 0,0", craft{content: content, noFooter: true, footerPos: u64(0)}},
		{"reference no footer", craft{content: content, noFooter: true}},
		{"length as number", craft{content: content, footer: []byte(`{"length":7}`)}},
		{"uppercase digest", craft{content: content, footer: []byte(`{"md5":"` + strings.ToUpper(hex.EncodeToString(m5[:])) + `"}`)}},
		{"footer without digests", craft{content: content, footer: []byte(`{"note":"hi"}`)}},
		{"empty objects", craft{content: content, header: []byte(`{}`), footer: []byte(` { } `)}},
		{"utf8 header", craft{content: content, header: []byte(`{"name":"échantillon.exe"}`)}},
		{"zlib level 9", craft{content: content, zdata: func() []byte {
			var b bytes.Buffer
			w, _ := zlib.NewWriterLevel(&b, 9)
			w.Write(content)
			w.Close()
			return b.Bytes()
		}()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { mustVerify(t, tt.c.bytes(), content) })
	}
}

func TestVerifyBadWant(t *testing.T) {
	data := readTestdata(t, "reference_a.cart")
	for _, want := range []string{"abc", strings.Repeat("g", 64), sha256Hex(nil) + "0"} {
		_, err := Verify(bytes.NewReader(data), want)
		if err == nil || errors.Is(err, ErrCorrupt) || failure.KindOf(err) != failure.Invalid {
			t.Errorf("want %q: %v", want, err)
		}
	}
	// Upper case is the same digest.
	if _, err := Verify(bytes.NewReader(data), strings.ToUpper("ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb")); err != nil {
		t.Errorf("upper-case want: %v", err)
	}
}

// ---- reader and writer errors --------------------------------------------

// failAfter yields the first n bytes of data, then err (with the last bytes
// if together is set, as some readers do).
type failAfter struct {
	data     []byte
	n        int
	err      error
	together bool
	chunk    int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	m := min(len(p), f.n, len(f.data), f.chunk)
	copy(p, f.data[:m])
	f.data, f.n = f.data[m:], f.n-m
	if f.together && f.n == 0 {
		return m, f.err
	}
	return m, nil
}

type connErr struct{}

func (connErr) Error() string { return "read tcp 10.0.0.1:443: connection reset by peer" }

func TestReaderErrors(t *testing.T) {
	small := readTestdata(t, "reference_a.cart")
	big := pack(t, randomBytes(1<<20, 5), nil)
	errs := []error{connErr{}, io.ErrUnexpectedEOF, iotest.ErrTimeout, errors.New("boom")}
	baseline := runtime.NumGoroutine()
	for _, data := range [][]byte{small, big} {
		points := []int{0, 1, 4, 10, 37, 38, 50, 60, 64, 100, len(data) / 2, len(data) - 100, len(data) - 28, len(data) - 1}
		if len(data) > 1000 {
			points = append(points, 65536, 65537, 3*65536+17, 500000)
		}
		for _, n := range points {
			for _, e := range errs {
				for _, together := range []bool{false, true} {
					for _, chunk := range []int{1 << 30, 1000} {
						r := &failAfter{data: data, n: n, err: e, together: together, chunk: chunk}
						_, err := Verify(r, "")
						if !errors.Is(err, e) {
							t.Fatalf("len %d n %d err %v: got %v, want it wrapped", len(data), n, e, err)
						}
						if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) || failure.KindOf(err) == failure.Corrupt {
							t.Fatalf("len %d n %d: reader error %v reported as corrupt: %v", len(data), n, e, err)
						}
						if !strings.HasPrefix(err.Error(), "cart: read input at offset ") {
							t.Fatalf("message %q", err)
						}
					}
				}
			}
		}
	}
	// Errors after a complete, valid stream still count: the reader did
	// not reach a clean EOF.
	_, err := Verify(io.MultiReader(bytes.NewReader(small), iotest.ErrReader(connErr{})), "")
	if !errors.Is(err, connErr{}) {
		t.Fatalf("error after the stream: %v", err)
	}
	// A reader that never makes progress.
	_, err = Verify(iotest.ErrReader(nil), "")
	if !errors.Is(err, io.ErrNoProgress) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("no progress: %v", err)
	}
	waitGoroutines(t, baseline)
}

func waitGoroutines(t *testing.T, baseline int) {
	t.Helper()
	if !testenv.Eventually(t, time.Second, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline }) {
		t.Fatalf("goroutines leaked: %d, baseline %d", runtime.NumGoroutine(), baseline)
	}
}

type failWriter struct {
	n   int
	err error
}

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		n := max(w.n, 0)
		w.n = 0
		return n, w.err
	}
	w.n -= len(p)
	return len(p), nil
}

func TestUnpackWriteError(t *testing.T) {
	data := pack(t, randomBytes(1<<20, 6), nil)
	diskFull := errors.New("no space left on device")
	baseline := runtime.NumGoroutine()
	for _, n := range []int{0, 1000, 300 << 10} {
		_, err := unpack(&failWriter{n: n, err: diskFull}, bytes.NewReader(data))
		if !errors.Is(err, diskFull) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("write error at %d: %v", n, err)
		}
	}
	waitGoroutines(t, baseline)
}

// ---- memory --------------------------------------------------------------

// streamAlloc packs size bytes into a pipe and verifies the other end,
// returning the bytes allocated meanwhile. Nothing holds the stream.
func streamAlloc(t *testing.T, size int64) uint64 {
	pr, pw := io.Pipe()
	src := io.LimitReader(rand.NewChaCha8([32]byte{42}), size)
	go func() {
		_, err := Pack(pw, src, &PackOptions{NoCompression: true})
		pw.CloseWithError(err)
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	info, err := Verify(pr, "")
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if info.ContentSize != size {
		t.Fatalf("content size %d, want %d", info.ContentSize, size)
	}
	return after.TotalAlloc - before.TotalAlloc
}

func TestVerifyMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 272 MiB")
	}
	small := streamAlloc(t, 16<<20)
	large := streamAlloc(t, 256<<20)
	t.Logf("allocated during Verify (including the concurrent Pack): 16 MiB stream %d KiB, 256 MiB stream %d KiB", small>>10, large>>10)
	if large > 4<<20 {
		t.Errorf("verifying a 256 MiB stream allocated %d KiB", large>>10)
	}
	if large > small+1<<20 {
		t.Errorf("allocations grow with the stream: %d KiB for 16 MiB, %d KiB for 256 MiB", small>>10, large>>10)
	}
}

func TestPackErrors(t *testing.T) {
	boom := errors.New("source gone")
	_, err := Pack(io.Discard, io.MultiReader(bytes.NewReader(randomBytes(100<<10, 8)), iotest.ErrReader(boom)), nil)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "read content") {
		t.Errorf("source error: %v", err)
	}
	diskFull := errors.New("no space left on device")
	for _, n := range []int{0, 10, 100 << 10} {
		_, err := Pack(&failWriter{n: n, err: diskFull}, bytes.NewReader(randomBytes(1<<20, 8)), nil)
		if !errors.Is(err, diskFull) || strings.Contains(err.Error(), "read content") {
			t.Errorf("write error after %d bytes: %v", n, err)
		}
	}
}

func TestPackWithGivenFooter(t *testing.T) {
	content := bytes.Repeat([]byte("precomputed "), 10000)
	m5, s1 := md5.Sum(content), sha1.Sum(content)
	good := map[string]string{
		"md5": hex.EncodeToString(m5[:]), "sha1": hex.EncodeToString(s1[:]),
		"sha256": sha256Hex(content), "length": strconv.Itoa(len(content)),
	}
	var buf bytes.Buffer
	if _, err := Pack(&buf, bytes.NewReader(content), &PackOptions{Footer: good}); err != nil {
		t.Fatal(err)
	}
	info, err := unpack(io.Discard, bytes.NewReader(buf.Bytes()))
	if err != nil || info.Footer["md5"] != good["md5"] {
		t.Fatalf("given footer not written or not valid: %v %v", info.Footer, err)
	}
	// A footer that lies is caught by a full check.
	bad := map[string]string{"md5": strings.Repeat("0", 32)}
	buf.Reset()
	if _, err := Pack(&buf, bytes.NewReader(content), &PackOptions{Footer: bad}); err != nil {
		t.Fatal(err)
	}
	mustReject(t, buf.Bytes(), "", "optional footer md5")
}
