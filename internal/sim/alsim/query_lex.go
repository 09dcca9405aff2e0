package alsim

import (
	"fmt"
	"strings"
)

// The query lexer: Lucene classic tokens (operators, terms with escapes
// and wildcards, quoted phrases, ranges, comparisons, boosts).

type tkind uint8

const (
	tEOF tkind = iota
	tAnd
	tOr
	tNot
	tPlus
	tMinus
	tLParen
	tRParen
	tColon
	tTerm   // text: unescaped; wild: has unescaped * or ?
	tQuoted // text: unescaped content
	tRange  // lo, hi, incLo, incHi
	tCmp    // text: one of > >= < <=
	tCaret  // boost, text is the number
)

type token struct {
	kind         tkind
	text         string
	wild         bool
	lo, hi       string
	loQ, hiQ     bool // quoted bounds
	incLo, incHi bool
	pos          int
}

type qparser struct {
	src  string
	pos  int
	now  int64
	tok  *token
	prev tkind
}

func (p *qparser) errorf(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

func (p *qparser) peek() token {
	if p.tok == nil {
		t := p.lex()
		p.tok = &t
	}
	return *p.tok
}

func (p *qparser) next() token {
	t := p.peek()
	p.tok = nil
	p.prev = t.kind
	return t
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// special characters end a term unless escaped.
func isSpecial(c byte) bool {
	return strings.IndexByte(" \t\n\r()[]{}\":^~\\/", c) >= 0
}

// operators, punctuation and keywords map the text of a token to its kind.
var (
	operators   = map[string]tkind{"&&": tAnd, "||": tOr}
	punctuation = map[byte]tkind{'!': tNot, '+': tPlus, '-': tMinus, '(': tLParen, ')': tRParen, ':': tColon}
	keywords    = map[string]tkind{"AND": tAnd, "OR": tOr, "NOT": tNot}
)

// number consumes the digits and dots of a boost or fuzziness and returns
// them.
func (p *qparser) number() string {
	n := p.pos
	for p.pos < len(p.src) && (p.src[p.pos] >= '0' && p.src[p.pos] <= '9' || p.src[p.pos] == '.') {
		p.pos++
	}
	return p.src[n:p.pos]
}

func (p *qparser) lex() token {
	s := p.src
	for p.pos < len(s) && isSpace(s[p.pos]) {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(s) {
		return token{kind: tEOF, pos: start}
	}
	c := s[p.pos]
	two := ""
	if p.pos+1 < len(s) {
		two = s[p.pos : p.pos+2]
	}
	if k, ok := operators[two]; ok {
		p.pos += 2
		return token{kind: k, text: two, pos: start}
	}
	if k, ok := punctuation[c]; ok {
		p.pos++
		return token{kind: k, text: string(c), pos: start}
	}
	switch {
	case c == '^':
		p.pos++
		return token{kind: tCaret, text: p.number(), pos: start}
	case c == '"':
		text, ok := p.lexQuoted()
		if !ok {
			return token{kind: tEOF, text: "unterminated quote", pos: -1}
		}
		return token{kind: tQuoted, text: text, pos: start}
	case c == '[' || c == '{':
		return p.lexRange()
	case (c == '>' || c == '<') && p.prev == tColon:
		p.pos++
		op := string(c)
		if p.pos < len(s) && s[p.pos] == '=' {
			p.pos++
			op += "="
		}
		return token{kind: tCmp, text: op, pos: start}
	}
	var b strings.Builder
	wild := false
	for p.pos < len(s) {
		c := s[p.pos]
		if c == '\\' && p.pos+1 < len(s) {
			b.WriteByte(s[p.pos+1])
			p.pos += 2
			continue
		}
		if isSpecial(c) || (c == '!' || c == '+' || c == '-') && b.Len() == 0 {
			break
		}
		if c == '*' || c == '?' {
			wild = true
		}
		b.WriteByte(c)
		p.pos++
	}
	if p.pos == start {
		p.pos++
		return token{kind: tEOF, text: string(c), pos: -1}
	}
	text := b.String()
	if k, ok := keywords[text]; ok && !wild {
		return token{kind: k, text: text, pos: start}
	}
	// A ~ fuzziness suffix is accepted and ignored.
	if p.pos < len(s) && s[p.pos] == '~' {
		p.pos++
		p.number()
	}
	return token{kind: tTerm, text: text, wild: wild, pos: start}
}

func (p *qparser) lexQuoted() (string, bool) {
	s := p.src
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(s) {
		c := s[p.pos]
		switch {
		case c == '\\' && p.pos+1 < len(s):
			b.WriteByte(s[p.pos+1])
			p.pos += 2
		case c == '"':
			p.pos++
			if p.pos < len(s) && s[p.pos] == '~' { // phrase slop, ignored
				p.pos++
				for p.pos < len(s) && s[p.pos] >= '0' && s[p.pos] <= '9' {
					p.pos++
				}
			}
			return b.String(), true
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", false
}

// lexRange reads [lo TO hi] with either bracket on either side.
func (p *qparser) lexRange() token {
	s := p.src
	start := p.pos
	t := token{kind: tRange, incLo: s[p.pos] == '[', pos: start}
	p.pos++
	bound := func() (string, bool, bool) {
		for p.pos < len(s) && isSpace(s[p.pos]) {
			p.pos++
		}
		if p.pos < len(s) && s[p.pos] == '"' {
			v, ok := p.lexQuoted()
			return v, true, ok
		}
		var b strings.Builder
		for p.pos < len(s) && !isSpace(s[p.pos]) && s[p.pos] != ']' && s[p.pos] != '}' {
			if s[p.pos] == '\\' && p.pos+1 < len(s) {
				p.pos++
			}
			b.WriteByte(s[p.pos])
			p.pos++
		}
		return b.String(), false, b.Len() > 0
	}
	bad := token{kind: tEOF, text: "malformed range", pos: -1}
	var ok bool
	if t.lo, t.loQ, ok = bound(); !ok {
		return bad
	}
	for p.pos < len(s) && isSpace(s[p.pos]) {
		p.pos++
	}
	if !strings.HasPrefix(s[p.pos:], "TO") {
		return bad
	}
	p.pos += 2
	if t.hi, t.hiQ, ok = bound(); !ok {
		return bad
	}
	for p.pos < len(s) && isSpace(s[p.pos]) {
		p.pos++
	}
	if p.pos >= len(s) || (s[p.pos] != ']' && s[p.pos] != '}') {
		return bad
	}
	t.incHi = s[p.pos] == ']'
	p.pos++
	return t
}
