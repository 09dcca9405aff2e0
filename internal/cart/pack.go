// Package cart encodes and verifies cART ("Compressed and RC4 Transport")
// files, the format Assemblyline uses to hand out malware that antivirus on
// the way will not recognise.
//
// Layout (all integers little-endian):
//
//	38-byte mandatory header  "CART" | version=1 (int16) | reserved=0 (uint64) | RC4 key (16) | opt header length (uint64)
//	optional header           RC4(key, JSON object)
//	data                      RC4(key, zlib(content))
//	optional footer           RC4(key, JSON object)          (md5, sha1, sha256, length of the content)
//	28-byte mandatory footer  "TRAC" | reserved=0 (uint64) | opt footer position (uint64) | opt footer length (uint64)
//
// Each RC4 region starts a fresh keystream with the same key.
package cart

import (
	"bufio"
	"compress/zlib"
	"crypto/md5"
	"crypto/rc4"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"strconv"
)

// Format constants.
const (
	HeaderSize = 38 // mandatory header
	FooterSize = 28 // mandatory footer
	Version    = 1
)

var (
	magicHeader = [4]byte{'C', 'A', 'R', 'T'}
	magicFooter = [4]byte{'T', 'R', 'A', 'C'}
)

// DefaultKey is the RC4 key the reference implementation stores in every
// header: the first eight digits of pi, twice.
var DefaultKey = [16]byte{3, 1, 4, 1, 5, 9, 2, 6, 3, 1, 4, 1, 5, 9, 2, 6}

// PackOptions tunes Pack. The zero value gives what Assemblyline produces.
type PackOptions struct {
	// Header is the optional header's JSON object (e.g. {"name": "x.exe"});
	// nil or empty writes no optional header.
	Header map[string]any
	// Level is the zlib compression level; 0 means zlib.BestSpeed, the
	// reference's choice.
	Level int
	// NoCompression stores the content in uncompressed deflate blocks; still
	// valid cART, and much cheaper for a simulator serving random bytes.
	NoCompression bool
	// Footer, when not nil, is written as the optional footer instead of
	// digests computed while packing: the caller vouches that it describes
	// the content (a server that knows its files' md5, sha1, sha256 and
	// length saves hashing them again for every download).
	Footer map[string]string
}

// Pack encodes src as cART into dst and returns the number of bytes written.
// The optional footer carries md5, sha1, sha256 and length of the content,
// as the reference does.
func Pack(dst io.Writer, src io.Reader, opts *PackOptions) (int64, error) {
	if opts == nil {
		opts = &PackOptions{}
	}
	cw := &countingWriter{w: dst}
	bw := bufio.NewWriterSize(cw, 64<<10)

	var optHeader []byte
	if len(opts.Header) > 0 {
		b, err := json.Marshal(opts.Header)
		if err != nil {
			return cw.n, fmt.Errorf("cart: encode optional header: %w", err)
		}
		optHeader = crypt(b)
	}

	var hdr [HeaderSize]byte
	copy(hdr[0:4], magicHeader[:])
	binary.LittleEndian.PutUint16(hdr[4:6], Version)
	binary.LittleEndian.PutUint64(hdr[6:14], 0)
	copy(hdr[14:30], DefaultKey[:])
	binary.LittleEndian.PutUint64(hdr[30:38], uint64(len(optHeader)))
	if _, err := bw.Write(hdr[:]); err != nil {
		return cw.n, err
	}
	if _, err := bw.Write(optHeader); err != nil {
		return cw.n, err
	}

	// Data: zlib, then RC4 with a keystream restarted at the data start.
	level := zlib.BestSpeed
	if opts.NoCompression {
		level = zlib.NoCompression
	} else if opts.Level != 0 {
		level = opts.Level
	}
	enc := &rc4Writer{w: bw, c: newCipher()}
	zw, err := zlib.NewWriterLevel(enc, level)
	if err != nil {
		return cw.n, fmt.Errorf("cart: %w", err)
	}
	sr := &srcReader{r: src}
	var in io.Reader = sr
	var md, s1, s256 hash.Hash
	if opts.Footer == nil { // digests only for a footer we write ourselves
		md, s1, s256 = md5.New(), sha1.New(), sha256.New()
		in = io.TeeReader(sr, io.MultiWriter(md, s1, s256))
	}
	length, err := io.Copy(zw, in)
	if err != nil {
		if sr.err != nil {
			return cw.n, fmt.Errorf("cart: read content: %w", err)
		}
		return cw.n, fmt.Errorf("cart: write: %w", err)
	}
	if err := zw.Close(); err != nil {
		return cw.n, fmt.Errorf("cart: compress: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}

	footerPos := cw.n
	footer := opts.Footer
	if footer == nil {
		footer = map[string]string{
			"md5":    hexSum(md),
			"sha1":   hexSum(s1),
			"sha256": hexSum(s256),
			"length": strconv.FormatInt(length, 10),
		}
	}
	footerJSON, err := json.Marshal(footer)
	if err != nil {
		return cw.n, err
	}
	optFooter := crypt(footerJSON)
	if _, err := bw.Write(optFooter); err != nil {
		return cw.n, err
	}
	var ftr [FooterSize]byte
	copy(ftr[0:4], magicFooter[:])
	binary.LittleEndian.PutUint64(ftr[4:12], 0)
	binary.LittleEndian.PutUint64(ftr[12:20], uint64(footerPos))
	binary.LittleEndian.PutUint64(ftr[20:28], uint64(len(optFooter)))
	if _, err := bw.Write(ftr[:]); err != nil {
		return cw.n, err
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

func newCipher() *rc4.Cipher {
	c, err := rc4.NewCipher(DefaultKey[:])
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	return c
}

// crypt encrypts (or decrypts) b with a fresh default-key keystream.
func crypt(b []byte) []byte {
	out := make([]byte, len(b))
	newCipher().XORKeyStream(out, b)
	return out
}

// srcReader remembers whether an io.Copy failure came from the content
// source or from dst, which io.Copy alone does not tell.
type srcReader struct {
	r   io.Reader
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

type rc4Writer struct {
	w   io.Writer
	c   *rc4.Cipher
	buf []byte
}

func (r *rc4Writer) Write(p []byte) (int, error) {
	if cap(r.buf) < len(p) {
		r.buf = make([]byte, len(p))
	}
	b := r.buf[:len(p)]
	r.c.XORKeyStream(b, p)
	return r.w.Write(b)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
