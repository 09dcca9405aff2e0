package cart

import (
	"compress/flate"
	"compress/zlib"
	"crypto/rc4"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/alharvest/alharvest/internal/failure"
)

// Limits on what a decoder is willing to hold in memory. The reference
// writes a few hundred bytes of metadata; anything near these sizes is
// garbage, and bounding them keeps memory independent of the input.
const (
	maxOptHeader = 1 << 20
	maxOptFooter = 1 << 20
	// maxTail is the most that may follow the zlib stream: the optional
	// footer plus the mandatory footer.
	maxTail = maxOptFooter + FooterSize

	// blockSize is the unit of reading, decrypting and hashing. It matches
	// the reference's BLOCK_SIZE; large enough to amortise per-call costs,
	// small enough to keep memory per decode in the hundreds of KiB.
	blockSize = 64 << 10
	// sideBuffers is how many decoded blocks may be queued for the hashing
	// goroutine; two would be enough for double buffering, three absorbs
	// jitter between the two sides.
	sideBuffers = 3
)

// Info describes a verified cART stream.
type Info struct {
	Size        int64  // bytes of the cART stream
	ContentSize int64  // bytes of the decoded content
	SHA256      string // lowercase hex sha256 of the decoded content
	// Header is the optional header (nil if none). JSON numbers are kept
	// as json.Number so that large integers survive exactly.
	Header map[string]any
	// Footer is the optional footer (nil if none), numbers as json.Number.
	Footer map[string]any
}

// Verify reads r to EOF in ONE streaming pass (r may be an HTTP body tee'd
// into a temp file), decodes it, checks every structural rule of the format
// and that the decoded content's sha256 equals wantSHA256 (64 hex digits; if
// wantSHA256 == "" only that comparison is skipped).
//
// The optional footer's sha256 and length are always checked against the
// content; its md5 and sha1 only when wantSHA256 is empty, because a
// matching sha256 already proves the content and the two extra digests
// would cost as much again as the rest of the decoding.
//
// Memory use is bounded (a few hundred KiB plus at most 1 MiB each for the
// optional header and footer) whatever the size of the stream.
//
// When r is seekable (a file), its optional footer's announced length is
// read first, and decoding stops as soon as the content exceeds it: a small
// cART that inflates far beyond what it announces (a decompression bomb) is
// rejected after one block instead of being inflated to the end. Use
// VerifyLimit to set such a bound for a stream.
//
// Format problems are returned as *FormatError (errors.Is ErrCorrupt,
// failure.Corrupt). Errors from r itself are returned wrapped with %w and
// are not Corrupt, so a broken connection can be told from a bad file. On a
// format error Verify stops reading: r is then not drained, and Info holds
// only what was learned so far.
func Verify(r io.Reader, wantSHA256 string) (Info, error) {
	if wantSHA256 != "" && !isHexSHA256(wantSHA256) {
		// A malformed expectation is the caller's bug, not the file's;
		// reading the stream could not make it match.
		return Info{}, failure.Errorf(failure.Invalid, "cart: wanted sha256 %q is not 64 hex digits", wantSHA256)
	}
	limit := int64(-1)
	if rs, ok := r.(io.ReadSeeker); ok {
		if n, ok := announcedLength(rs); ok {
			limit = n
		}
	}
	return decodeLimit(nil, r, strings.ToLower(wantSHA256), limit, "the optional footer length")
}

// VerifyLimit is Verify for a caller that knows how large the content may
// be (maxContent bytes, e.g. the size Assemblyline reported for the file):
// decoding stops with a Corrupt error as soon as the content exceeds it,
// without inflating further.
func VerifyLimit(r io.Reader, wantSHA256 string, maxContent int64) (Info, error) {
	if wantSHA256 != "" && !isHexSHA256(wantSHA256) {
		return Info{}, failure.Errorf(failure.Invalid, "cart: wanted sha256 %q is not 64 hex digits", wantSHA256)
	}
	return decodeLimit(nil, r, strings.ToLower(wantSHA256), max(maxContent, 0), "the announced size")
}

// VerifyFile opens path and calls Verify.
func VerifyFile(path, wantSHA256 string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("cart: %w", err)
	}
	defer f.Close()
	return Verify(f, wantSHA256)
}

func isHexSHA256(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// decoder carries the state of one decode so that the phases can be split
// into methods.
type decoder struct {
	s       *source
	key     []byte
	info    Info
	scratch *scratch
	limit   int64  // most content bytes to inflate; -1 = no bound
	limitOf string // what set the bound, for the error
}

func decode(dst io.Writer, r io.Reader, wantSHA256 string) (Info, error) {
	return decodeLimit(dst, r, wantSHA256, -1, "")
}

func decodeLimit(dst io.Writer, r io.Reader, wantSHA256 string, limit int64, limitOf string) (Info, error) {
	bufs := scratchPool.Get().(*scratch)
	defer scratchPool.Put(bufs)
	d := &decoder{s: &source{r: r, buf: bufs.src}, scratch: bufs, limit: limit, limitOf: limitOf}
	err := d.run(dst, wantSHA256)
	d.info.Size = d.s.off
	return d.info, err
}

// scratch is the memory one decode needs, reused across decodes: a
// downloader verifying thousands of small files would otherwise allocate and
// clear a few hundred KiB for each.
type scratch struct {
	src, pt, out []byte
	zr           io.ReadCloser // a zlib reader to Reset, once one exists
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{src: make([]byte, blockSize), pt: make([]byte, blockSize), out: make([]byte, blockSize)}
}}

func (d *decoder) run(dst io.Writer, wantSHA256 string) error {
	if err := d.header(); err != nil {
		return err
	}
	g := newDigests(wantSHA256 == "")
	defer g.stop()
	if err := d.data(dst, g); err != nil {
		return err
	}
	g.stop() // the digests are final only once the goroutine is done
	dataEnd := d.s.off
	d.info.ContentSize = g.n
	d.info.SHA256 = hex.EncodeToString(g.sha256.Sum(nil))

	tail, err := d.readTail(dataEnd)
	if err != nil {
		return err
	}
	optFooter, err := d.footer(tail, dataEnd)
	if err != nil {
		return err
	}
	if len(optFooter) > 0 {
		m, err := parseObject(d.decrypt(optFooter))
		if err != nil {
			return &FormatError{Reason: fmt.Sprintf("optional footer (%d bytes at offset %d) does not decrypt to a JSON object", len(optFooter), dataEnd), Cause: err}
		}
		d.info.Footer = m
		if err := checkFooter(m, g, d.info.SHA256); err != nil {
			return err
		}
	}
	if wantSHA256 != "" && d.info.SHA256 != wantSHA256 {
		return corrupt(ErrDigestMismatch, "sha256 mismatch: got %s want %s", d.info.SHA256, wantSHA256)
	}
	return nil
}

// decrypt returns b XOR a fresh keystream, as every metadata region is
// encrypted from the start of the key's stream.
func (d *decoder) decrypt(b []byte) []byte {
	c, err := rc4.NewCipher(d.key)
	if err != nil {
		panic(err) // the key is always 16 bytes
	}
	out := make([]byte, len(b))
	c.XORKeyStream(out, b)
	return out
}

// data decrypts and inflates the data section, stopping exactly at the end
// of the zlib stream.
func (d *decoder) data(dst io.Writer, g *digests) error {
	dr := &dataReader{s: d.s, pt: d.scratch.pt}
	var err error
	if dr.c, err = rc4.NewCipher(d.key); err != nil {
		panic(err)
	}
	start := d.s.off
	var zr io.ReadCloser
	if d.scratch.zr != nil {
		zr = d.scratch.zr
		err = zr.(zlib.Resetter).Reset(dr, nil)
	} else {
		zr, err = zlib.NewReader(dr)
		if err == nil {
			d.scratch.zr = zr
		}
	}
	if err != nil {
		return d.inflateError(dr, start, err)
	}
	buf := d.scratch.out
	// The digests may trade buf for another block-sized buffer; keep
	// whichever we end up holding for the next decode.
	defer func() { d.scratch.out = buf[:cap(buf)] }()
	var inflated int64
	for {
		// Fill whole blocks (zlib returns at most its window per call) to
		// hand the hashing goroutine fewer, larger pieces.
		n := 0
		var rerr error
		for n < len(buf) && rerr == nil {
			var m int
			m, rerr = zr.Read(buf[n:])
			n += m
		}
		if rerr != nil && rerr != io.EOF {
			return d.inflateError(dr, start, rerr)
		}
		last := rerr == io.EOF // zlib says EOF only after the Adler-32 matched
		if inflated += int64(n); d.limit >= 0 && inflated > d.limit {
			return corrupt(ErrDigestMismatch, "decoded content exceeds %s %d: stopped inflating after %d bytes, at offset %d", d.limitOf, d.limit, inflated, dr.offset())
		}
		if n > 0 {
			if dst != nil {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return fmt.Errorf("cart: write content: %w", werr)
				}
			}
			buf = g.add(buf[:n], last)
		}
		if last {
			break
		}
	}
	dr.finish()
	return nil
}

func (d *decoder) inflateError(dr *dataReader, start int64, err error) error {
	if d.s.ioErr != nil {
		return d.s.ioErr
	}
	at := dr.offset()
	var cie flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return corrupt(ErrTruncated, "truncated in data section (zlib stream incomplete at offset %d)", at)
	case errors.Is(err, zlib.ErrChecksum):
		return &FormatError{Reason: fmt.Sprintf("data section: zlib Adler-32 mismatch, content damaged (detected at offset %d)", at), Cause: err}
	case errors.Is(err, zlib.ErrHeader):
		return &FormatError{Reason: fmt.Sprintf("data section: bad zlib header at offset %d (wrong key or not zlib)", start), Cause: err}
	case errors.Is(err, zlib.ErrDictionary):
		return &FormatError{Reason: fmt.Sprintf("data section: zlib stream at offset %d wants a preset dictionary", start), Cause: err}
	case errors.As(err, &cie):
		return &FormatError{Reason: fmt.Sprintf("data section: corrupt deflate data near offset %d", start+2+int64(cie)), Cause: err}
	default:
		return &FormatError{Reason: fmt.Sprintf("data section: cannot inflate at offset %d", at), Cause: err}
	}
}
