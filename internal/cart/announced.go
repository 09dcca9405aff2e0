package cart

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"strconv"
)

// announcedLength reads the content length a seekable cART announces in its
// optional footer ("length"), without decoding the data section, and leaves
// rs where it was. ok is false when there is nothing usable to read (no
// optional footer, no length, anything malformed): the full decode then
// reports what is wrong. The announcement is only a bound for the decode; it
// is still checked against the content at the end like every footer field.
func announcedLength(rs io.ReadSeeker) (n int64, ok bool) {
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, false
	}
	defer rs.Seek(start, io.SeekStart)
	end, err := rs.Seek(0, io.SeekEnd)
	if err != nil || end-start < HeaderSize+FooterSize {
		return 0, false
	}
	var hdr [HeaderSize]byte
	if _, err := rs.Seek(start, io.SeekStart); err != nil {
		return 0, false
	}
	if _, err := io.ReadFull(rs, hdr[:]); err != nil || !bytes.Equal(hdr[:4], magicHeader[:]) {
		return 0, false
	}
	key := bytes.Clone(hdr[14:30])
	var f [FooterSize]byte
	if _, err := rs.Seek(end-FooterSize, io.SeekStart); err != nil {
		return 0, false
	}
	if _, err := io.ReadFull(rs, f[:]); err != nil || !bytes.Equal(f[:4], magicFooter[:]) {
		return 0, false
	}
	optLen := binary.LittleEndian.Uint64(f[20:28])
	if optLen == 0 || optLen > maxOptFooter || int64(optLen) > end-start-HeaderSize-FooterSize {
		return 0, false
	}
	opt := make([]byte, optLen)
	if _, err := rs.Seek(end-FooterSize-int64(optLen), io.SeekStart); err != nil {
		return 0, false
	}
	if _, err := io.ReadFull(rs, opt); err != nil {
		return 0, false
	}
	d := decoder{key: key}
	m, err := parseObject(d.decrypt(opt))
	if err != nil {
		return 0, false
	}
	var s string
	switch v := m["length"].(type) {
	case string:
		s = v
	case json.Number:
		s = v.String()
	default:
		return 0, false
	}
	n, err = strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
