// Parsing and checking the metadata around the data section: the mandatory
// and optional headers, the footers and the JSON objects they carry.

package cart

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// header reads the mandatory header, takes the RC4 key from it and decodes
// the optional header into d.info.
func (d *decoder) header() error {
	var hdr [HeaderSize]byte
	n := d.s.readFull(hdr[:])
	// Bytes that already disagree with the magic make this "not a cART",
	// which says more than "truncated" about a short non-cART input.
	if m := min(n, 4); !bytes.Equal(hdr[:m], magicHeader[:m]) {
		return corrupt(ErrNotCART, "bad header magic %q (not a cART stream)", hdr[:m])
	}
	if n == 0 {
		return d.s.truncated("empty stream: truncated in mandatory header (0 of %d bytes)", HeaderSize)
	}
	if n < HeaderSize {
		return d.s.truncated("truncated in mandatory header (%d of %d bytes)", n, HeaderSize)
	}
	if v := int16(binary.LittleEndian.Uint16(hdr[4:6])); v != Version {
		return corrupt(nil, "unsupported version %d in mandatory header (want %d)", v, Version)
	}
	if rsv := binary.LittleEndian.Uint64(hdr[6:14]); rsv != 0 {
		return corrupt(nil, "mandatory header reserved field is %#x, want 0", rsv)
	}
	key := hdr[14:30]
	if bytes.Equal(key, make([]byte, 16)) {
		return corrupt(ErrPrivateKey, "private RC4 key (all-zero key field in the mandatory header) is not supported")
	}
	d.key = bytes.Clone(key)
	hlen := binary.LittleEndian.Uint64(hdr[30:38])
	if hlen > maxOptHeader {
		return corrupt(nil, "optional header length %d exceeds the %d-byte limit", hlen, maxOptHeader)
	}
	if hlen == 0 {
		return nil
	}
	opt := make([]byte, hlen)
	if n := d.s.readFull(opt); n < len(opt) {
		return d.s.truncated("truncated in optional header (%d of %d bytes)", n, hlen)
	}
	m, err := parseObject(d.decrypt(opt))
	if err != nil {
		return &FormatError{Reason: fmt.Sprintf("optional header (%d bytes) does not decrypt to a JSON object (damaged, or not the key in the header)", hlen), Cause: err}
	}
	d.info.Header = m
	return nil
}

// readTail reads everything after the zlib stream, which must be just the
// footers and so is small; the bound keeps a stream with garbage appended
// from costing unbounded memory.
func (d *decoder) readTail(dataEnd int64) ([]byte, error) {
	var tail []byte
	for d.s.fill() {
		chunk := d.s.buf[d.s.r0:d.s.w]
		if len(tail)+len(chunk) > maxTail {
			return nil, corrupt(nil, "stray bytes: more than %d bytes follow the zlib stream that ends at offset %d (more than the footers may take)", maxTail, dataEnd)
		}
		tail = append(tail, chunk...)
		d.s.consume(len(chunk))
	}
	if d.s.ioErr != nil {
		return nil, d.s.ioErr
	}
	return tail, nil
}

// mandatoryFooter builds the footer a correct writer would put after an
// optional footer of optLen bytes, for comparisons in diagnostics.
func mandatoryFooter(pos, optLen uint64) [FooterSize]byte {
	var f [FooterSize]byte
	copy(f[0:4], magicFooter[:])
	binary.LittleEndian.PutUint64(f[12:20], pos)
	binary.LittleEndian.PutUint64(f[20:28], optLen)
	return f
}

// footer checks the mandatory footer at the end of tail against where the
// zlib stream really ended, and returns the encrypted optional footer.
func (d *decoder) footer(tail []byte, dataEnd int64) ([]byte, error) {
	t := len(tail)
	if t < FooterSize {
		return nil, corrupt(ErrTruncated, "truncated: only %d bytes follow the data section ending at offset %d, the mandatory footer alone needs %d", t, dataEnd, FooterSize)
	}
	f := tail[t-FooterSize:]
	if !bytes.Equal(f[0:4], magicFooter[:]) {
		return nil, d.diagnoseFooter(tail, dataEnd)
	}
	if rsv := binary.LittleEndian.Uint64(f[4:12]); rsv != 0 {
		return nil, corrupt(nil, "mandatory footer reserved field is %#x, want 0", rsv)
	}
	pos := binary.LittleEndian.Uint64(f[12:20])
	flen := binary.LittleEndian.Uint64(f[20:28])
	if flen > maxOptFooter {
		return nil, corrupt(nil, "optional footer length %d exceeds the %d-byte limit", flen, maxOptFooter)
	}
	between := uint64(t - FooterSize)
	switch {
	case between > flen:
		return nil, corrupt(nil, "%d stray bytes between data and footer (zlib stream ends at offset %d, optional footer length is %d)", between-flen, dataEnd, flen)
	case between < flen:
		return nil, corrupt(nil, "optional footer length %d, but only %d bytes lie between the end of the zlib stream (offset %d) and the mandatory footer", flen, between, dataEnd)
	}
	// The reference writes the real offset even with no optional footer;
	// cart-rs writes (0, 0) then.
	if pos != uint64(dataEnd) && !(pos == 0 && flen == 0) {
		return nil, corrupt(nil, "mandatory footer says the optional footer is at offset %d, but it starts at offset %d", pos, dataEnd)
	}
	return tail[:between], nil
}

// diagnoseFooter explains a tail whose last 28 bytes are not a mandatory
// footer. Truncation and appended garbage are the likely transport faults,
// and telling them apart from a damaged footer saves a lot of hex dumping.
func (d *decoder) diagnoseFooter(tail []byte, dataEnd int64) error {
	t := len(tail)
	expect := func(i int) [FooterSize]byte {
		return mandatoryFooter(uint64(dataEnd), uint64(i))
	}
	matches := func(i int, b []byte) bool {
		want := expect(i)
		if bytes.HasPrefix(want[:], b) {
			return true
		}
		rs := mandatoryFooter(0, 0) // cart-rs style, only with no optional footer
		return i == 0 && bytes.HasPrefix(rs[:], b)
	}
	// Something appended after a complete, correct footer. Checked first:
	// a whole footer is stronger evidence than the prefix sought below.
	for i := 0; i+FooterSize < t; i++ {
		if tail[i] == 'T' && matches(i, tail[i:i+FooterSize]) {
			return corrupt(nil, "%d trailing bytes after the mandatory footer (which ends at offset %d)", t-i-FooterSize, dataEnd+int64(i+FooterSize))
		}
	}
	// Cut inside the mandatory footer: a correct footer prefix runs to the end.
	for i := t - FooterSize + 1; i < t; i++ {
		if matches(i, tail[i:]) {
			return corrupt(ErrTruncated, "truncated in mandatory footer (%d of %d bytes present)", t-i, FooterSize)
		}
	}
	// Cut at or inside the optional footer: what is there decrypts to
	// (the start of) a JSON object.
	if pt := d.decrypt(tail); pt[0] == '{' && utf8.Valid(pt) {
		if _, err := parseObject(pt); err == nil {
			return corrupt(ErrTruncated, "truncated: stream ends after the optional footer, mandatory footer missing")
		}
		return corrupt(ErrTruncated, "truncated inside the optional footer (stream ends %d bytes after the zlib stream, no mandatory footer)", t)
	}
	return corrupt(nil, "bad footer magic %q at offset %d", tail[t-FooterSize:t-FooterSize+4], dataEnd+int64(t-FooterSize))
}

// parseObject accepts exactly one JSON object. It insists on valid UTF-8,
// which the reference's ASCII JSON always is, because encoding/json would
// otherwise silently replace damaged bytes and hide a corrupt region.
func parseObject(b []byte) (map[string]any, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, errors.New("no JSON value")
		}
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("JSON %s, not an object", jsonType(v))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return m, nil
}

// checkFooter compares the digests the writer recorded with the content.
// Only the keys present are checked: the reference lets the caller choose
// them (auto_digests), and cart-rs may record none.
func checkFooter(m map[string]any, g *digests, sha256Hex string) error {
	type sum struct{ key, got string }
	var sums []sum
	if g.md5 != nil {
		sums = append(sums, sum{"md5", hex.EncodeToString(g.md5.Sum(nil))}, sum{"sha1", hex.EncodeToString(g.sha1.Sum(nil))})
	}
	sums = append(sums, sum{"sha256", sha256Hex})
	for _, s := range sums {
		v, ok := m[s.key]
		if !ok {
			continue
		}
		str, ok := v.(string)
		if !ok {
			return corrupt(nil, "optional footer %s is a %s, not a string", s.key, jsonType(v))
		}
		if !strings.EqualFold(str, s.got) {
			return corrupt(ErrDigestMismatch, "optional footer %s %q does not match the content's %s", s.key, str, s.got)
		}
	}
	v, ok := m["length"]
	if !ok {
		return nil
	}
	var ls string
	switch v := v.(type) {
	case string: // what the reference writes
		ls = v
	case json.Number: // tolerated: other writers may use a number
		ls = v.String()
	default:
		return corrupt(nil, "optional footer length is a %s, not a decimal string or number", jsonType(v))
	}
	n, err := strconv.ParseInt(ls, 10, 64)
	if err != nil {
		return corrupt(nil, "optional footer length %q is not a decimal integer", ls)
	}
	if n != g.n {
		return corrupt(ErrDigestMismatch, "optional footer length %d does not match the content's %d bytes", n, g.n)
	}
	return nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
