package cart

import (
	"bytes"
	"compress/flate"
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
	"hash"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

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

// Sentinel errors for errors.Is. Every *FormatError matches ErrCorrupt; the
// others narrow down the class of problem when a caller wants to react
// differently (for instance count private-key files separately).
var (
	// ErrCorrupt matches every format error: the bytes are not a valid cART
	// stream, or do not decode to the expected content.
	ErrCorrupt = errors.New("cart: corrupt cART stream")
	// ErrTruncated: the stream ended before the format said it would.
	ErrTruncated = errors.New("cart: truncated cART stream")
	// ErrNotCART: the stream does not even start with the cART magic.
	ErrNotCART = errors.New("cart: not a cART stream")
	// ErrPrivateKey: the file was encrypted with a private RC4 key, which
	// the reference signals only by an all-zero key field; we have no key.
	ErrPrivateKey = errors.New("cart: private RC4 key not supported")
	// ErrDigestMismatch: the content decoded cleanly but its digests or
	// length disagree with the optional footer or with the expected sha256.
	ErrDigestMismatch = errors.New("cart: content digest mismatch")
)

// FormatError reports bytes that fail verification. It is always
// failure.Corrupt: the data, not the connection, is at fault, so the
// pipeline must not trust the file (but may fetch it again).
type FormatError struct {
	// Reason says what is wrong, in words meant for a log line.
	Reason string
	// Class is one of the sentinels above (other than ErrCorrupt), or nil
	// when no narrower class applies.
	Class error
	// Cause is the decoder error behind the problem (e.g. a
	// flate.CorruptInputError or zlib.ErrChecksum), or nil.
	Cause error
}

// Error prefixes the package name so the message stands alone in logs.
func (e *FormatError) Error() string {
	if e.Cause != nil {
		return "cart: " + e.Reason + ": " + e.Cause.Error()
	}
	return "cart: " + e.Reason
}

// Is makes every FormatError match ErrCorrupt without each site having to
// say so.
func (e *FormatError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap exposes the class sentinel and the decoder cause to errors.Is/As.
func (e *FormatError) Unwrap() []error {
	var errs []error
	if e.Class != nil {
		errs = append(errs, e.Class)
	}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	return errs
}

// FailureKind classifies format errors for failure.KindOf: a bad file is
// Corrupt, whatever the detail.
func (e *FormatError) FailureKind() failure.Kind { return failure.Corrupt }

func corrupt(class error, format string, args ...any) *FormatError {
	return &FormatError{Reason: fmt.Sprintf(format, args...), Class: class}
}

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

// digests hashes the decoded content. md5 and sha1 serve only to check the
// optional footer, which arrives last; they cost as much as RC4 plus
// inflate, so they are skipped when the caller names the sha256 the content
// must have (that check already pins the content down), and the hashing runs
// on a second goroutine for content larger than one block.
type digests struct {
	sha256, md5, sha1 hash.Hash
	n                 int64

	full, free chan []byte
	done       chan struct{}
	allocated  int
}

func newDigests(all bool) *digests {
	if !all {
		return &digests{sha256: sha256.New()}
	}
	return &digests{sha256: sha256.New(), md5: md5.New(), sha1: sha1.New()}
}

func (g *digests) write(b []byte) {
	g.sha256.Write(b)
	if g.md5 != nil {
		g.md5.Write(b)
		g.sha1.Write(b)
	}
}

// add hashes b. Unless b is the last block of content that fitted in one
// block, b goes to the side goroutine and the caller gets another buffer to
// fill: small contents never start the goroutine.
func (g *digests) add(b []byte, last bool) []byte {
	g.n += int64(len(b))
	if last && g.full == nil {
		g.write(b)
		return b[:cap(b)]
	}
	if g.full == nil {
		g.full = make(chan []byte, sideBuffers)
		g.free = make(chan []byte, sideBuffers+1)
		g.done = make(chan struct{})
		g.allocated = 1
		go g.run()
	}
	g.full <- b
	select {
	case nb := <-g.free:
		return nb
	default:
	}
	if g.allocated <= sideBuffers {
		g.allocated++
		return make([]byte, blockSize)
	}
	return <-g.free
}

func (g *digests) run() {
	defer close(g.done)
	for b := range g.full {
		g.write(b)
		g.free <- b[:cap(b)]
	}
}

// stop waits for the side goroutine; it must run on every path so that no
// goroutine outlives the call.
func (g *digests) stop() {
	if g.full != nil {
		close(g.full)
		<-g.done
		g.full = nil
	}
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
