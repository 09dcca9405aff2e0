package alsim

import (
	"strings"
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
//
// This file holds a compiled query and how it matches a document;
// query_lex.go, query_parse.go and query_date.go turn the text into one.

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

type matchNone struct{}

func (matchNone) match(*Corpus, int, bool) bool { return false }

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
