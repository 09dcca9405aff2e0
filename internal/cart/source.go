// Reading the input: one buffered view that tracks the offset, and the
// decrypting reader zlib pulls the data section through.

package cart

import (
	"crypto/rc4"
	"fmt"
	"io"
)

// source is the single buffered view of the input. Every phase reads
// through it, so the stream offset is always known and reader errors are
// told apart from a clean EOF in one place.
type source struct {
	r     io.Reader
	buf   []byte
	r0, w int   // buf[r0:w] is read from r but not consumed
	off   int64 // stream offset of buf[r0]
	eof   bool
	ioErr error // sticky error from r (not io.EOF), already wrapped
}

// fill makes sure some unconsumed bytes are buffered; it reads only when the
// buffer is empty so that the data phase can map buffered ciphertext to its
// decrypted copy one to one. It reports false at EOF or on a reader error.
func (s *source) fill() bool {
	if s.r0 < s.w {
		return true
	}
	if s.eof || s.ioErr != nil {
		return false
	}
	s.r0, s.w = 0, 0
	for empty := 0; ; empty++ {
		n, err := s.r.Read(s.buf)
		if n < 0 || n > len(s.buf) {
			s.ioErr = fmt.Errorf("cart: read input at offset %d: invalid count %d from Read", s.off, n)
			return false
		}
		s.w = n
		switch {
		case err == io.EOF:
			s.eof = true
		case err != nil:
			s.ioErr = fmt.Errorf("cart: read input at offset %d: %w", s.off+int64(n), err)
		}
		if n > 0 {
			return true
		}
		if s.eof || s.ioErr != nil {
			return false
		}
		if empty == 100 { // like bufio: a reader stuck returning (0, nil)
			s.ioErr = fmt.Errorf("cart: read input at offset %d: %w", s.off, io.ErrNoProgress)
			return false
		}
	}
}

func (s *source) consume(n int) {
	s.r0 += n
	s.off += int64(n)
}

// readFull copies up to len(p) bytes and returns how many it got; a short
// count means EOF or a reader error (see failed).
func (s *source) readFull(p []byte) int {
	n := 0
	for n < len(p) && s.fill() {
		m := copy(p[n:], s.buf[s.r0:s.w])
		s.consume(m)
		n += m
	}
	return n
}

// truncated reports a premature end of the stream, unless the end was in
// fact a reader error, which must win: a dropped connection is not a bad
// file.
func (s *source) truncated(format string, args ...any) error {
	if s.ioErr != nil {
		return s.ioErr
	}
	return corrupt(ErrTruncated, format, args...)
}

// dataReader decrypts the data section for zlib. It implements
// io.ByteReader, which stops compress/flate from wrapping it in a bufio
// reader that would read past the end of the zlib stream; and it decrypts a
// whole buffered block at a time into its own buffer so that the raw bytes
// zlib did not consume stay intact in the source for the footer.
type dataReader struct {
	s    *source
	c    *rc4.Cipher
	pt   []byte // decrypted copy of s.buf[s.r0 : s.r0+n]
	p, n int    // pt[p:n] not yet handed to zlib
}

func (d *dataReader) refill() error {
	d.s.consume(d.n)
	d.p, d.n = 0, 0
	if !d.s.fill() {
		if d.s.ioErr != nil {
			return d.s.ioErr
		}
		return io.EOF
	}
	ct := d.s.buf[d.s.r0:d.s.w]
	d.c.XORKeyStream(d.pt[:len(ct)], ct)
	d.n = len(ct)
	return nil
}

func (d *dataReader) ReadByte() (byte, error) {
	if d.p == d.n {
		if err := d.refill(); err != nil {
			return 0, err
		}
	}
	b := d.pt[d.p]
	d.p++
	return b, nil
}

func (d *dataReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if d.p == d.n {
		if err := d.refill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, d.pt[d.p:d.n])
	d.p += n
	return n, nil
}

// offset is the stream offset of the next byte zlib would get.
func (d *dataReader) offset() int64 { return d.s.off + int64(d.p) }

// finish hands the bytes zlib did not consume back to the source.
func (d *dataReader) finish() { d.s.consume(d.p) }
