package alsim

import (
	"bytes"
	"container/list"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alharvest/alharvest/internal/cart"
)

// File download (§5). Like the real server, the whole encoded file exists
// before the first byte is sent (memory for small files, a temp file past
// SpoolThreshold), the quota slot is released before streaming, and the body
// goes out in 65 535-byte chunks with an exact Content-Length.

const chunkSize = 65535

var emptyObject = []byte("{}")

// encoded is one ready-to-send cART file.
type encoded struct {
	mem  []byte
	path string // spooled on disk when mem is nil
	size int64
	// dataStart and dataEnd bound the data section, for corruption.
	dataStart, dataEnd int64
}

type cartKey struct {
	file int32
	name string
}

// cartCache keeps recent small encodings in memory (LRU, byte budget) and
// spooled default-name encodings on disk until Close.
type cartCache struct {
	mu       sync.Mutex
	budget   int64
	used     int64
	lru      *list.List
	items    map[cartKey]*list.Element
	tmpDir   string
	spooled  map[cartKey]*encoded
	building map[cartKey]*sync.Mutex
}

type cacheEntry struct {
	key cartKey
	e   *encoded
}

func newCartCache(budget int64, tmpDir string) *cartCache {
	return &cartCache{
		budget: budget, lru: list.New(), items: map[cartKey]*list.Element{},
		tmpDir: tmpDir, spooled: map[cartKey]*encoded{}, building: map[cartKey]*sync.Mutex{},
	}
}

func (cc *cartCache) get(k cartKey) *encoded {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e, ok := cc.spooled[k]; ok {
		return e
	}
	if el, ok := cc.items[k]; ok {
		cc.lru.MoveToFront(el)
		return el.Value.(*cacheEntry).e
	}
	return nil
}

func (cc *cartCache) put(k cartKey, e *encoded) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e.mem == nil {
		cc.spooled[k] = e
		return
	}
	if e.size > cc.budget/4 {
		return
	}
	if _, ok := cc.items[k]; ok {
		return
	}
	cc.items[k] = cc.lru.PushFront(&cacheEntry{k, e})
	cc.used += e.size
	for cc.used > cc.budget {
		last := cc.lru.Back()
		ent := last.Value.(*cacheEntry)
		cc.lru.Remove(last)
		delete(cc.items, ent.key)
		cc.used -= ent.e.size
	}
}

// lockBuild serialises building one big encoding.
func (cc *cartCache) lockBuild(k cartKey) func() {
	cc.mu.Lock()
	m, ok := cc.building[k]
	if !ok {
		m = &sync.Mutex{}
		cc.building[k] = m
	}
	cc.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (cc *cartCache) close() error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	var errs []error
	for k, e := range cc.spooled {
		if err := os.Remove(e.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		delete(cc.spooled, k)
	}
	return errors.Join(errs...)
}

// regions finds the data section from the header and footer lengths.
func regions(head, tail []byte, size int64) (int64, int64) {
	optHeader := int64(binary.LittleEndian.Uint64(head[30:38]))
	optFooter := int64(binary.LittleEndian.Uint64(tail[len(tail)-8:]))
	return cart.HeaderSize + optHeader, size - cart.FooterSize - optFooter
}

// encode returns the cART encoding of file f under name, building it if
// needed. release must be called once the body has been sent.
func (s *Server) encode(f int32, name string, defaultName bool) (e *encoded, release func(), err error) {
	k := cartKey{f, name}
	noop := func() {}
	if e := s.carts.get(k); e != nil {
		return e, noop, nil
	}
	spec := s.corpus.content(f)
	opts := &cart.PackOptions{Header: map[string]any{"name": name}, NoCompression: s.cfg.CartNoCompression, Footer: s.corpus.footer(f)}
	if spec.size <= s.cfg.SpoolThreshold {
		var buf bytes.Buffer
		buf.Grow(int(spec.size + spec.size>>6 + 512))
		if _, err := cart.Pack(&buf, spec.reader(), opts); err != nil {
			return nil, nil, err
		}
		b := buf.Bytes()
		e := &encoded{mem: b, size: int64(len(b))}
		e.dataStart, e.dataEnd = regions(b[:cart.HeaderSize], b[len(b)-cart.FooterSize:], e.size)
		s.carts.put(k, e)
		return e, noop, nil
	}
	if defaultName {
		unlock := s.carts.lockBuild(k)
		defer unlock()
		if e := s.carts.get(k); e != nil {
			return e, noop, nil
		}
	}
	e, err = s.spool(spec, opts)
	if err != nil {
		return nil, nil, err
	}
	if defaultName {
		s.carts.put(k, e)
		return e, noop, nil
	}
	return e, func() { os.Remove(e.path) }, nil
}

func (s *Server) spool(spec contentSpec, opts *cart.PackOptions) (*encoded, error) {
	tf, err := os.CreateTemp(s.carts.tmpDir, "alsim-*.cart")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*encoded, error) {
		tf.Close()
		os.Remove(tf.Name())
		return nil, err
	}
	n, err := cart.Pack(tf, spec.reader(), opts)
	if err != nil {
		return fail(err)
	}
	head := make([]byte, cart.HeaderSize)
	tail := make([]byte, cart.FooterSize)
	if _, err := tf.ReadAt(head, 0); err != nil {
		return fail(err)
	}
	if _, err := tf.ReadAt(tail, n-cart.FooterSize); err != nil {
		return fail(err)
	}
	if err := tf.Close(); err != nil {
		return fail(err)
	}
	e := &encoded{path: tf.Name(), size: n}
	e.dataStart, e.dataEnd = regions(head, tail, n)
	return e, nil
}

// pyQuote is urllib.parse.quote(s, safe=”).
func pyQuote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func downloadError(w http.ResponseWriter, status int, msg string) {
	envelope(w, status, emptyObject, msg, status)
}

func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request, sl *slot, sha string) {
	c := s.corpus
	var h [32]byte
	f := int32(-1)
	if len(sha) == 64 && strings.ToLower(sha) == sha {
		if _, err := hex.Decode(h[:], []byte(sha)); err == nil {
			if ff, ok := c.lookup(h); ok {
				f = ff
			}
		}
	}
	if f < 0 {
		sl.release()
		downloadError(w, http.StatusNotFound, "The file was not found in the system.")
		return
	}
	q := r.URL.Query()
	enc := q.Get("encoding")
	if enc == "" {
		enc = "cart"
	}
	switch enc {
	case "cart":
	case "raw":
		if s.cfg.DisableRawDownloads {
			sl.release()
			downloadError(w, http.StatusForbidden, "RAW file download has been disabled by administrators.")
			return
		}
	case "zip":
		sl.release()
		downloadError(w, http.StatusForbidden, "PROTECTED file download has been disabled by administrators.")
		return
	default:
		sl.release()
		downloadError(w, http.StatusForbidden, fmt.Sprintf("%s is not in the valid encoding types: {'cart', 'raw', 'zip'}", strings.ToUpper(enc)))
		return
	}
	name := sha
	// os.path.basename on the server's POSIX paths.
	if n := path.Base(q.Get("name")); q.Get("name") != "" && n != "." && n != "/" {
		name = n
	}
	if s.faults.isMissing(f) {
		// The file document exists but the filestore has no blob.
		s.stats.fault("missing_blob")
		sl.release()
		downloadError(w, http.StatusNotFound, "The file was not found in the system.")
		return
	}

	// Time to fetch the blob from the filestore.
	size := c.sizes[f]
	d := s.cfg.DownloadLatency
	if s.cfg.DownloadRate > 0 {
		d += time.Duration(float64(size) / s.cfg.DownloadRate * float64(time.Second))
	}
	if !s.wait(r.Context(), d) {
		return
	}

	var body *encoded
	release := func() {}
	filename := name
	if enc == "cart" {
		var err error
		body, release, err = s.encode(f, name, name == sha)
		if err != nil {
			sl.release()
			apiError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		filename = name + ".cart"
	} else {
		body = &encoded{size: size, dataEnd: size}
	}
	defer release()

	// Decide the faults for this body.
	flip := int64(-1)
	if s.faults.isCorrupt(f) {
		flip = body.dataStart + (body.dataEnd-body.dataStart)/2
		s.stats.fault("always_corrupt")
	} else if fl := s.faults.get(); s.faults.roll(fl.CorruptDownload) {
		flip = s.faults.intn(max(body.dataEnd, 1))
		s.stats.fault("corrupt_download")
	}
	cut := int64(-1)
	if s.faults.roll(s.faults.get().TruncateDownload) {
		cut = s.faults.intn(body.size)
		s.stats.fault("truncate_download")
	}

	sl.release()
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Length", strconv.FormatInt(body.size, 10))
	hd.Set("Content-Disposition", "attachment; filename=file.bin; filename*=UTF-8''"+pyQuote(filename))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	n, err := s.stream(w, body, c.content(f), flip, cut)
	s.stats.downloadBytes.Add(n)
	if err != nil || cut >= 0 {
		// Either the client went away or we cut the body short on purpose:
		// close without completing the promised Content-Length.
		http.NewResponseController(w).Flush()
		if conn, _, herr := http.NewResponseController(w).Hijack(); herr == nil {
			conn.Close()
		} else {
			panic(http.ErrAbortHandler)
		}
	}
}

// stream writes body (or the raw content when body has neither memory nor
// path), flipping byte flip and stopping at cut when those are >= 0.
func (s *Server) stream(w io.Writer, body *encoded, raw contentSpec, flip, cut int64) (int64, error) {
	limit := body.size
	if cut >= 0 {
		limit = cut
	}
	var src io.ReaderAt
	switch {
	case body.mem != nil:
		src = bytes.NewReader(body.mem)
	case body.path != "":
		fh, err := os.Open(body.path)
		if err != nil {
			return 0, err
		}
		defer fh.Close()
		src = fh
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := (*bp)[:chunkSize]
	var sent int64
	for sent < limit {
		n := min(int64(len(buf)), limit-sent)
		chunk := buf[:n]
		if src != nil {
			if _, err := src.ReadAt(chunk, sent); err != nil && !errors.Is(err, io.EOF) {
				return sent, err
			}
		} else {
			raw.fill(sent, chunk)
		}
		if flip >= sent && flip < sent+n {
			chunk[flip-sent] ^= 0xff
		}
		m, err := w.Write(chunk)
		sent += int64(m)
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}
