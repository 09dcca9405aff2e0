package alsim

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// jw appends JSON the way Flask's jsonify writes it: keys in sorted order
// (the callers emit them sorted), ASCII only (non-ASCII as \u escapes,
// ensure_ascii), no HTML escaping. Hand-written because a full document is
// rendered per call and must stay cheap.
type jw struct {
	b     []byte
	comma bool
}

func (w *jw) sep() {
	if w.comma {
		w.b = append(w.b, ',')
	}
}

func (w *jw) key(k string) {
	w.sep()
	w.b = appendJSONString(w.b, k)
	w.b = append(w.b, ':')
	w.comma = false
}

func (w *jw) str(s string) {
	w.sep()
	w.b = appendJSONString(w.b, s)
	w.comma = true
}

func (w *jw) int(v int64) {
	w.sep()
	w.b = strconv.AppendInt(w.b, v, 10)
	w.comma = true
}

func (w *jw) bool(v bool) {
	w.sep()
	w.b = strconv.AppendBool(w.b, v)
	w.comma = true
}

func (w *jw) null() {
	w.sep()
	w.b = append(w.b, "null"...)
	w.comma = true
}

// float writes like Python's repr: shortest round-trip, always with a dot.
func (w *jw) float(v float64) {
	w.sep()
	start := len(w.b)
	w.b = strconv.AppendFloat(w.b, v, 'f', -1, 64)
	dot := false
	for _, c := range w.b[start:] {
		if c == '.' {
			dot = true
		}
	}
	if !dot {
		w.b = append(w.b, ".0"...)
	}
	w.comma = true
}

// time writes a timestamp as Python's isoformat plus Z: microseconds, or
// no fraction at all when they are zero.
func (w *jw) time(us int64) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = appendISO(w.b, us)
	w.b = append(w.b, '"')
	w.comma = true
}

func (w *jw) raw(s string) {
	w.sep()
	w.b = append(w.b, s...)
	w.comma = true
}

func (w *jw) obj() {
	w.sep()
	w.b = append(w.b, '{')
	w.comma = false
}

func (w *jw) end() {
	w.b = append(w.b, '}')
	w.comma = true
}

func (w *jw) arr() {
	w.sep()
	w.b = append(w.b, '[')
	w.comma = false
}

func (w *jw) endArr() {
	w.b = append(w.b, ']')
	w.comma = true
}

func (w *jw) kstr(k, v string)       { w.key(k); w.str(v) }
func (w *jw) kint(k string, v int64) { w.key(k); w.int(v) }
func (w *jw) kbool(k string, v bool) { w.key(k); w.bool(v) }
func (w *jw) knull(k string)         { w.key(k); w.null() }
func (w *jw) ktime(k string, us int64) {
	w.key(k)
	w.time(us)
}
func (w *jw) kraw(k, v string) { w.key(k); w.raw(v) }

func appendISO(b []byte, us int64) []byte {
	t := time.UnixMicro(us).UTC()
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	if frac := t.Nanosecond() / 1000; frac != 0 {
		b = append(b, '.')
		s := strconv.Itoa(frac)
		for range 6 - len(s) {
			b = append(b, '0')
		}
		b = append(b, s...)
	}
	return append(b, 'Z')
}

func isoString(us int64) string { return string(appendISO(nil, us)) }

const hexDigits = "0123456789abcdef"

// jsonSafe marks the bytes Python writes unescaped with ensure_ascii:
// printable ASCII (space to tilde) except the quote and the backslash.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString quotes s as Python's json.dumps(ensure_ascii=True) does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c < utf8.RuneSelf:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size - 1
			if r > 0xffff {
				r -= 0x10000
				b = appendU(b, 0xd800+(r>>10))
				b = appendU(b, 0xdc00+(r&0x3ff))
			} else {
				b = appendU(b, r)
			}
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
