package alsim

import (
	"fmt"
	"math"
	"strconv"
)

// The query parser: clauses and groups into a boolQuery, each term
// checked against the field's type, with Elasticsearch's error messages.

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

// parseGroup parses a parenthesised query after its "(", up to its ")" and
// any boost.
func (p *qparser) parseGroup(defField string) (query, error) {
	q, err := p.parseQuery(defField)
	if err != nil {
		return nil, err
	}
	if p.next().kind != tRParen {
		return nil, p.errorf("missing )")
	}
	p.skipBoost()
	return q, nil
}

func (p *qparser) parseClause(defField string) (query, error) {
	t := p.next()
	fieldName := defField
	switch t.kind {
	case tLParen:
		return p.parseGroup(defField)
	case tTerm:
		if p.peek().kind == tColon {
			p.next()
			fieldName = t.text
			t = p.next()
			if t.kind == tLParen {
				return p.parseGroup(fieldName)
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
