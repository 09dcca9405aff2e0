package alsim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// A subset of the Lucene classic query syntax that Elasticsearch's
// query_string accepts, with its clause semantics: the default operator is
// OR (AL sets none), AND marks both neighbours required, NOT/-/! prohibit,
// + requires, and a purely negative group matches everything else.
//
// Supported: *:*, field:value, field:"phrase", field:* (exists),
// _exists_:field, wildcards * and ? in keyword values, field:>=N and the
// other comparison operators, [a TO b] / {a TO b} ranges (mixed brackets,
// * for open ends, quoted bounds), date math (now-1d/d, 2025-01-01||+1M),
// field:(a OR b) groups, boosts (ignored). Anything else is a parse error.

// query is a compiled query.
type query interface {
	match(c *Corpus, i int, done bool) bool
}

type occur uint8

const (
	should occur = iota
	must
	mustNot
)

type clause struct {
	occur occur
	q     query
}

type boolQuery struct{ clauses []clause }

func (b *boolQuery) match(c *Corpus, i int, done bool) bool {
	hasMust, hasShould, anyShould := false, false, false
	for _, cl := range b.clauses {
		switch cl.occur {
		case must:
			hasMust = true
			if !cl.q.match(c, i, done) {
				return false
			}
		case mustNot:
			if cl.q.match(c, i, done) {
				return false
			}
		case should:
			hasShould = true
			if !anyShould && cl.q.match(c, i, done) {
				anyShould = true
			}
		}
	}
	// Elasticsearch turns a purely negative boolean into "everything but".
	return hasMust || !hasShould || anyShould
}

type matchAll struct{}

func (matchAll) match(*Corpus, int, bool) bool { return true }

type existsQuery struct{ f *field }

func (q existsQuery) match(c *Corpus, i int, done bool) bool {
	return len(q.f.values(c, i, done)) > 0
}

// valueQuery matches when any value of the field satisfies pred.
type valueQuery struct {
	f    *field
	pred func(v fval) bool
}

func (q valueQuery) match(c *Corpus, i int, done bool) bool {
	if q.f.multi == nil {
		v, ok := q.f.get(c, i, done)
		return ok && q.pred(v)
	}
	for _, v := range q.f.multi(c, i, done) {
		if q.pred(v) {
			return true
		}
	}
	return false
}

// parseQuery compiles q. nowMS anchors date math.
func parseQuery(q string, nowMS int64) (query, error) {
	p := &qparser{src: q, now: nowMS}
	res, err := p.parseQuery("")
	if err == nil && p.peek().kind != tEOF {
		err = p.errorf("unexpected %q", p.peek().text)
	}
	if err != nil {
		return nil, esErrorf("Failed to parse query [%s]: %s", q, err)
	}
	return res, nil
}

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
	switch {
	case two == "&&":
		p.pos += 2
		return token{kind: tAnd, text: "&&", pos: start}
	case two == "||":
		p.pos += 2
		return token{kind: tOr, text: "||", pos: start}
	case c == '!':
		p.pos++
		return token{kind: tNot, text: "!", pos: start}
	case c == '+':
		p.pos++
		return token{kind: tPlus, text: "+", pos: start}
	case c == '-':
		p.pos++
		return token{kind: tMinus, text: "-", pos: start}
	case c == '(':
		p.pos++
		return token{kind: tLParen, text: "(", pos: start}
	case c == ')':
		p.pos++
		return token{kind: tRParen, text: ")", pos: start}
	case c == ':':
		p.pos++
		return token{kind: tColon, text: ":", pos: start}
	case c == '^':
		p.pos++
		n := p.pos
		for p.pos < len(s) && (s[p.pos] >= '0' && s[p.pos] <= '9' || s[p.pos] == '.') {
			p.pos++
		}
		return token{kind: tCaret, text: s[n:p.pos], pos: start}
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
	if !wild {
		switch text {
		case "AND":
			return token{kind: tAnd, text: text, pos: start}
		case "OR":
			return token{kind: tOr, text: text, pos: start}
		case "NOT":
			return token{kind: tNot, text: text, pos: start}
		}
	}
	// A ~ fuzziness suffix is accepted and ignored.
	if p.pos < len(s) && s[p.pos] == '~' {
		p.pos++
		for p.pos < len(s) && (s[p.pos] >= '0' && s[p.pos] <= '9' || s[p.pos] == '.') {
			p.pos++
		}
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

// parseQuery parses clauses until ')' or the end; defField is the field of
// an enclosing field:( ... ) group.
func (p *qparser) parseQuery(defField string) (query, error) {
	var clauses []clause
	for {
		t := p.peek()
		if t.pos < 0 {
			return nil, p.errorf("%s", t.text)
		}
		if t.kind == tEOF || t.kind == tRParen {
			break
		}
		conj := tkind(0)
		if t.kind == tAnd || t.kind == tOr {
			if len(clauses) == 0 {
				return nil, p.errorf("query cannot start with %s", t.text)
			}
			conj = p.next().kind
			t = p.peek()
		}
		mods := tkind(0)
		switch t.kind {
		case tNot, tMinus, tPlus:
			mods = p.next().kind
		}
		q, err := p.parseClause(defField)
		if err != nil {
			return nil, err
		}
		// QueryParserBase.addClause with the OR default operator.
		if len(clauses) > 0 && conj == tAnd && clauses[len(clauses)-1].occur != mustNot {
			clauses[len(clauses)-1].occur = must
		}
		prohibited := mods == tNot || mods == tMinus
		required := mods == tPlus || (conj == tAnd && !prohibited)
		oc := should
		switch {
		case prohibited:
			oc = mustNot
		case required:
			oc = must
		}
		clauses = append(clauses, clause{oc, q})
	}
	if len(clauses) == 0 {
		return nil, p.errorf("empty query")
	}
	if len(clauses) == 1 && clauses[0].occur == should {
		return clauses[0].q, nil
	}
	return &boolQuery{clauses}, nil
}

func (p *qparser) parseClause(defField string) (query, error) {
	t := p.next()
	fieldName := defField
	switch t.kind {
	case tLParen:
		q, err := p.parseQuery(defField)
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRParen {
			return nil, p.errorf("missing )")
		}
		p.skipBoost()
		return q, nil
	case tTerm:
		if p.peek().kind == tColon {
			p.next()
			fieldName = t.text
			t = p.next()
			if t.kind == tLParen {
				q, err := p.parseQuery(fieldName)
				if err != nil {
					return nil, err
				}
				if p.next().kind != tRParen {
					return nil, p.errorf("missing )")
				}
				p.skipBoost()
				return q, nil
			}
		}
	}
	if t.pos < 0 {
		return nil, p.errorf("%s", t.text)
	}
	if fieldName == "" {
		fieldName = "__text__"
	}
	var q query
	var err error
	switch t.kind {
	case tTerm, tQuoted:
		q, err = p.termQuery(fieldName, t)
	case tRange:
		q, err = p.rangeQuery(fieldName, t.lo, t.hi, t.loQ, t.hiQ, t.incLo, t.incHi)
	case tCmp:
		v := p.next()
		if v.kind != tTerm && v.kind != tQuoted {
			return nil, p.errorf("expected a value after %s", t.text)
		}
		switch t.text {
		case ">":
			q, err = p.rangeQuery(fieldName, v.text, "*", v.kind == tQuoted, false, false, true)
		case ">=":
			q, err = p.rangeQuery(fieldName, v.text, "*", v.kind == tQuoted, false, true, true)
		case "<":
			q, err = p.rangeQuery(fieldName, "*", v.text, false, v.kind == tQuoted, true, false)
		case "<=":
			q, err = p.rangeQuery(fieldName, "*", v.text, false, v.kind == tQuoted, true, true)
		}
	default:
		return nil, p.errorf("unexpected %q", t.text)
	}
	if err != nil {
		return nil, err
	}
	p.skipBoost()
	return q, nil
}

func (p *qparser) skipBoost() {
	if p.peek().kind == tCaret {
		p.next()
	}
}

func unsupportedField(name string) error {
	return fmt.Errorf("field [%s] is not supported by alsim", name)
}

func (p *qparser) termQuery(fieldName string, t token) (query, error) {
	if fieldName == "*" && t.kind == tTerm && t.text == "*" {
		return matchAll{}, nil
	}
	if fieldName == "_exists_" {
		f, ok := lookupField(t.text)
		if !ok {
			return nil, unsupportedField(t.text)
		}
		return existsQuery{f}, nil
	}
	f, ok := lookupField(fieldName)
	if !ok {
		return nil, unsupportedField(fieldName)
	}
	if t.kind == tTerm && t.text == "*" {
		return existsQuery{f}, nil
	}
	v := t.text
	switch f.typ {
	case ftKeyword:
		if t.kind == tTerm && t.wild {
			return valueQuery{f, func(x fval) bool { return glob(v, x.s) }}, nil
		}
		return valueQuery{f, func(x fval) bool { return x.s == v }}, nil
	case ftText:
		want := tokens(v)
		if len(want) == 0 {
			return matchNone{}, nil
		}
		wild := t.kind == tTerm && t.wild
		return valueQuery{f, func(x fval) bool { return containsTokens(tokens(x.s), want, wild) }}, nil
	case ftBool:
		switch v {
		case "true":
			return valueQuery{f, func(x fval) bool { return x.n == 1 }}, nil
		case "false":
			return valueQuery{f, func(x fval) bool { return x.n == 0 }}, nil
		}
		return nil, esErrorf("Can't parse boolean value [%s], expected [true] or [false]", v)
	case ftInt:
		if t.wild {
			return nil, esErrorf("Can only use wildcard queries on keyword and text fields - not on [%s] which is of type [integer]", f.path)
		}
		n, err := parseIntValue(v)
		if err != nil {
			return nil, err
		}
		return valueQuery{f, func(x fval) bool { return float64(x.n) == n }}, nil
	case ftDate:
		lo, err := parseDate(v, false, p.now)
		if err != nil {
			return nil, err
		}
		hi, err := parseDate(v, true, p.now)
		if err != nil {
			return nil, err
		}
		return valueQuery{f, func(x fval) bool { ms := floorDiv(x.n, 1000); return ms >= lo && ms <= hi }}, nil
	}
	return nil, unsupportedField(fieldName)
}

// esErrorf builds an error carrying an Elasticsearch message verbatim,
// capital letter included, since clients see it after "SearchException: ".
func esErrorf(format string, args ...any) error {
	return esMessage(fmt.Sprintf(format, args...))
}

type esMessage string

func (m esMessage) Error() string { return string(m) }

type matchNone struct{}

func (matchNone) match(*Corpus, int, bool) bool { return false }

func parseIntValue(v string) (float64, error) {
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, esErrorf("For input string: %q", v)
	}
	if n != math.Trunc(n) {
		return 0, esErrorf("Value [%s] has a decimal part", v)
	}
	return n, nil
}

func (p *qparser) rangeQuery(fieldName, lo, hi string, loQ, hiQ, incLo, incHi bool) (query, error) {
	f, ok := lookupField(fieldName)
	if !ok {
		return nil, unsupportedField(fieldName)
	}
	openLo, openHi := lo == "*" && !loQ, hi == "*" && !hiQ
	switch f.typ {
	case ftInt:
		l, h := math.Inf(-1), math.Inf(1)
		var err error
		if !openLo {
			if l, err = strconv.ParseFloat(lo, 64); err != nil {
				return nil, esErrorf("For input string: %q", lo)
			}
		}
		if !openHi {
			if h, err = strconv.ParseFloat(hi, 64); err != nil {
				return nil, esErrorf("For input string: %q", hi)
			}
		}
		return valueQuery{f, func(x fval) bool {
			v := float64(x.n)
			return (v > l || incLo && v == l) && (v < h || incHi && v == h)
		}}, nil
	case ftDate:
		l, h := int64(math.MinInt64), int64(math.MaxInt64)
		var err error
		// Elasticsearch rounds missing components / date math up for gt
		// and lte, down for gte and lt.
		if !openLo {
			if l, err = parseDate(lo, !incLo, p.now); err != nil {
				return nil, err
			}
		}
		if !openHi {
			if h, err = parseDate(hi, incHi, p.now); err != nil {
				return nil, err
			}
		}
		return valueQuery{f, func(x fval) bool {
			ms := floorDiv(x.n, 1000)
			return (ms > l || incLo && ms == l) && (ms < h || incHi && ms == h)
		}}, nil
	case ftKeyword, ftText:
		return valueQuery{f, func(x fval) bool {
			return (openLo || x.s > lo || incLo && x.s == lo) && (openHi || x.s < hi || incHi && x.s == hi)
		}}, nil
	}
	return nil, esErrorf("Field [%s] of type [boolean] does not support range queries", f.path)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

func containsTokens(have, want []string, wild bool) bool {
	if len(want) == 1 {
		for _, h := range have {
			if h == want[0] || wild && glob(want[0], h) {
				return true
			}
		}
		return false
	}
	for i := 0; i+len(want) <= len(have); i++ {
		ok := true
		for j := range want {
			if have[i+j] != want[j] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// parseDate parses an Elasticsearch date (strict_date_optional_time or
// epoch_millis, with date math) to epoch milliseconds. roundUp picks the
// last millisecond of the value's precision instead of the first.
func parseDate(s string, roundUp bool, nowMS int64) (int64, error) {
	bad := fmt.Errorf("failed to parse date field [%s] with format [strict_date_optional_time||epoch_millis]", s)
	var base time.Time
	var unit string // precision of the anchor, for rounding
	dm := ""
	switch {
	case strings.HasPrefix(s, "now"):
		base = time.UnixMilli(nowMS).UTC()
		unit = "ms"
		dm = s[3:]
	default:
		anchor := s
		if i := strings.Index(s, "||"); i >= 0 {
			anchor, dm = s[:i], s[i+2:]
		}
		var err error
		base, unit, err = parseISO(anchor)
		if err != nil {
			return 0, bad
		}
	}
	t := base
	rounded := false
	for dm != "" {
		op := dm[0]
		dm = dm[1:]
		if op == '/' {
			if len(dm) != 1 {
				return 0, bad
			}
			t = roundTime(t, dm, roundUp)
			rounded = true
			dm = ""
			break
		}
		if op != '+' && op != '-' {
			return 0, bad
		}
		n := 0
		digits := 0
		for len(dm) > 0 && dm[0] >= '0' && dm[0] <= '9' {
			n = n*10 + int(dm[0]-'0')
			dm = dm[1:]
			digits++
		}
		if len(dm) == 0 {
			return 0, bad
		}
		if digits == 0 {
			n = 1
		}
		u := dm[:1]
		dm = dm[1:]
		if op == '-' {
			n = -n
		}
		switch u {
		case "y":
			t = t.AddDate(n, 0, 0)
		case "M":
			t = t.AddDate(0, n, 0)
		case "w":
			t = t.AddDate(0, 0, 7*n)
		case "d":
			t = t.AddDate(0, 0, n)
		case "h", "H":
			t = t.Add(time.Duration(n) * time.Hour)
		case "m":
			t = t.Add(time.Duration(n) * time.Minute)
		case "s":
			t = t.Add(time.Duration(n) * time.Second)
		default:
			return 0, bad
		}
	}
	if !rounded && roundUp && unit != "ms" {
		t = roundTime(t, unit, true)
	}
	return t.UnixMilli(), nil
}

// roundTime floors t to the unit, or moves it to the unit's last
// millisecond when up.
func roundTime(t time.Time, unit string, up bool) time.Time {
	var lo, next time.Time
	switch unit {
	case "y":
		lo = time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		next = lo.AddDate(1, 0, 0)
	case "M":
		lo = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		next = lo.AddDate(0, 1, 0)
	case "w":
		wd := (int(t.Weekday()) + 6) % 7 // Monday first
		lo = time.Date(t.Year(), t.Month(), t.Day()-wd, 0, 0, 0, 0, time.UTC)
		next = lo.AddDate(0, 0, 7)
	case "d":
		lo = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		next = lo.AddDate(0, 0, 1)
	case "h", "H":
		lo = t.Truncate(time.Hour)
		next = lo.Add(time.Hour)
	case "m":
		lo = t.Truncate(time.Minute)
		next = lo.Add(time.Minute)
	case "s":
		lo = t.Truncate(time.Second)
		next = lo.Add(time.Second)
	default:
		return t
	}
	if up {
		return next.Add(-time.Millisecond)
	}
	return lo
}

var errBadISO = errors.New("bad date")

// parseISO parses strict_date_optional_time (or epoch millis) and reports
// the precision the value was given in.
func parseISO(s string) (time.Time, string, error) {
	if s == "" {
		return time.Time{}, "", errBadISO
	}
	allDigits := true
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && !(i == 0 && s[i] == '-') {
			allDigits = false
		}
	}
	if allDigits && len(s) > 4 {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, "", errBadISO
		}
		return time.UnixMilli(ms).UTC(), "ms", nil
	}
	// Split off a zone suffix.
	body, zone := s, ""
	if strings.HasSuffix(body, "Z") {
		body, zone = body[:len(body)-1], "Z"
	} else if i := strings.LastIndexAny(body, "+-"); i > 10 {
		body, zone = body[:i], body[i:]
	}
	layouts := []struct{ layout, unit string }{
		{"2006", "y"},
		{"2006-01", "M"},
		{"2006-01-02", "d"},
		{"2006-01-02T15", "h"},
		{"2006-01-02T15:04", "m"},
		{"2006-01-02T15:04:05", "s"},
	}
	var t time.Time
	unit := ""
	frac := ""
	if i := strings.IndexByte(body, '.'); i >= 0 {
		body, frac = body[:i], body[i+1:]
	}
	for _, l := range layouts {
		if len(body) == len(l.layout) {
			var err error
			t, err = time.ParseInLocation(l.layout, body, time.UTC)
			if err != nil {
				return time.Time{}, "", errBadISO
			}
			unit = l.unit
			break
		}
	}
	if unit == "" {
		return time.Time{}, "", errBadISO
	}
	if frac != "" {
		if unit != "s" || len(frac) > 9 {
			return time.Time{}, "", errBadISO
		}
		for _, ch := range frac {
			if ch < '0' || ch > '9' {
				return time.Time{}, "", errBadISO
			}
		}
		ns, _ := strconv.Atoi((frac + "000000000")[:9])
		t = t.Add(time.Duration(ns))
		unit = "ms"
	}
	if zone != "" && zone != "Z" {
		zt, err := time.Parse("-07:00", zone)
		if err != nil {
			if zt, err = time.Parse("-0700", zone); err != nil {
				return time.Time{}, "", errBadISO
			}
		}
		_, off := zt.Zone()
		t = t.Add(-time.Duration(off) * time.Second)
	}
	return t, unit, nil
}
