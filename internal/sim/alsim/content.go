package alsim

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"io"
	"sync"
)

// File contents are never stored: byte i of file f is a pure function of
// (seed, f, i), a counter-mode splitmix64 stream. That makes any file
// reproducible from its index alone, lets the 1 GiB big file stream in
// constant memory, and costs well under a nanosecond per byte.

const golden = 0x9E3779B97F4A7C15

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// printable maps a random byte to printable ASCII plus newlines, for text
// file types.
var printable = func() [256]byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 =();,.'\"+-_\n\t{}[]<>/\\*&|!?:%$#@~^`"
	var t [256]byte
	for i := range t {
		t[i] = alphabet[i%len(alphabet)]
	}
	return t
}()

// contentSpec is everything needed to produce a file's bytes.
type contentSpec struct {
	key    uint64
	size   int64
	prefix string
	text   bool
}

func (c *Corpus) content(f int32) contentSpec {
	ft := &fileTypes[c.ftypes[f]]
	return contentSpec{
		key:    mix64(uint64(c.seed)*golden ^ mix64(uint64(f)+0x5eed)),
		size:   c.sizes[f],
		prefix: ft.prefix,
		text:   ft.text,
	}
}

// fill writes bytes [off, off+len(p)) of the content into p. The caller
// keeps off+len(p) <= size.
func (s contentSpec) fill(off int64, p []byte) {
	pos := off
	i := 0
	// Unaligned head.
	for i < len(p) && pos%8 != 0 {
		w := mix64(s.key + uint64(pos/8)*golden)
		p[i] = byte(w >> (8 * (pos % 8)))
		i++
		pos++
	}
	// Aligned body, eight bytes per word.
	for ; i+8 <= len(p); i += 8 {
		w := mix64(s.key + uint64(pos/8)*golden)
		p[i] = byte(w)
		p[i+1] = byte(w >> 8)
		p[i+2] = byte(w >> 16)
		p[i+3] = byte(w >> 24)
		p[i+4] = byte(w >> 32)
		p[i+5] = byte(w >> 40)
		p[i+6] = byte(w >> 48)
		p[i+7] = byte(w >> 56)
		pos += 8
	}
	// Tail.
	for ; i < len(p); i++ {
		w := mix64(s.key + uint64(pos/8)*golden)
		p[i] = byte(w >> (8 * (pos % 8)))
		pos++
	}
	if s.text {
		for j := range p {
			p[j] = printable[p[j]]
		}
	}
	if off < int64(len(s.prefix)) {
		copy(p, s.prefix[off:])
	}
}

// reader streams the content from the start.
func (s contentSpec) reader() io.Reader { return &contentReader{spec: s} }

type contentReader struct {
	spec contentSpec
	off  int64
}

func (r *contentReader) Read(p []byte) (int, error) {
	if r.off >= r.spec.size {
		return 0, io.EOF
	}
	if rem := r.spec.size - r.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	r.spec.fill(r.off, p)
	r.off += int64(len(p))
	return len(p), nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// hashTo writes the whole content to w (typically hashes) through a
// pooled buffer.
func (s contentSpec) hashTo(w io.Writer) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for off := int64(0); off < s.size; {
		n := min(int64(len(buf)), s.size-off)
		s.fill(off, buf[:n])
		w.Write(buf[:n])
		off += n
	}
}

// allDigests computes md5, sha1 and sha256 in one pass over the content.
func (s contentSpec) allDigests() (m [16]byte, s1 [20]byte, s256 [32]byte) {
	hm, h1, h256 := md5.New(), sha1.New(), sha256.New()
	s.hashTo(io.MultiWriter(hm, h1, h256))
	hm.Sum(m[:0])
	h1.Sum(s1[:0])
	h256.Sum(s256[:0])
	return m, s1, s256
}

func (s contentSpec) sha256() [32]byte {
	h := sha256.New()
	s.hashTo(h)
	var out [32]byte
	h.Sum(out[:0])
	return out
}
