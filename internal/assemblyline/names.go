// The files' names, read from submission/full's file_tree.

package assemblyline

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/alharvest/alharvest/pkg/messages"
)

// fileNames holds each file's names in submission/full's file_tree: each
// cleaned with messages.CleanName (the names come from whoever submitted
// the file), empty ones dropped, sorted, without duplicates, at most
// messages.MaxNames per file, the smallest kept so that the outcome does
// not depend on the order of the tree.
//
// The tree is informational: whatever in it is not what the API documents
// (a node or name list that is not an object or list, a name that is not a
// string, a key that is not a sha256) is skipped, never a reason to fail
// scoring. Both decoders read it alike: member by member, keys matched
// exactly, recursing into "children" (as deep as JSON nesting goes, which
// both bound at 10000). A file met in several nodes (extracted under
// several parents) gets the names of all of them, and a key repeated
// inside a node is read again rather than overriding the first.
//
// A submission names a handful of files, so they are kept in a slice,
// found by a linear search; an index map is built only past linearFiles
// (a hostile tree may name thousands). For BenchmarkDecodeSubmissionFull's
// document (two named files) a map from the start allocated 616 bytes
// per decode, this 376: garbage the scorer makes for every submission.
type fileNames struct {
	files []namedFile // in order of first appearance
	index map[[64]byte]int
}

type namedFile struct {
	sha   [64]byte // lowercase hex
	names []string
}

// linearFiles is how many files are searched linearly before the index.
const linearFiles = 16

// add records one raw name of the file sha.
func (n *fileNames) add(sha *[64]byte, raw string) {
	name := messages.CleanName(raw)
	if name == "" {
		return
	}
	f := n.file(sha)
	i, found := slices.BinarySearch(f.names, name)
	if found || i >= messages.MaxNames {
		return
	}
	if len(f.names) == messages.MaxNames {
		f.names = f.names[:len(f.names)-1] // the largest gives way
	}
	f.names = slices.Insert(f.names, i, name)
}

// file finds or adds the entry of sha.
func (n *fileNames) file(sha *[64]byte) *namedFile {
	if n.index == nil {
		for i := range n.files {
			if n.files[i].sha == *sha {
				return &n.files[i]
			}
		}
		if len(n.files) < linearFiles {
			n.files = append(n.files, namedFile{sha: *sha})
			return &n.files[len(n.files)-1]
		}
		n.index = make(map[[64]byte]int, 2*linearFiles)
		for i := range n.files {
			n.index[n.files[i].sha] = i
		}
	}
	if i, ok := n.index[*sha]; ok {
		return &n.files[i]
	}
	n.index[*sha] = len(n.files)
	n.files = append(n.files, namedFile{sha: *sha})
	return &n.files[len(n.files)-1]
}

// of returns the names of the file sha (lowercase hex), nil if none.
func (n *fileNames) of(sha string) []string {
	if len(sha) != 64 {
		return nil
	}
	if n.index != nil {
		if i, ok := n.index[[64]byte([]byte(sha))]; ok {
			return n.files[i].names
		}
		return nil
	}
	for i := range n.files {
		if string(n.files[i].sha[:]) == sha {
			return n.files[i].names
		}
	}
	return nil
}

// treeSHA reads the file a tree key names, lowercased as result hashes
// are; false when the key is not a sha256.
func treeSHA[K string | []byte](key K) (sha [64]byte, ok bool) {
	if len(key) != 64 {
		return sha, false
	}
	for i := range len(key) {
		c := key[i]
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return sha, false
		}
		sha[i] = c
	}
	return sha, true
}

// UnmarshalJSON is encoding/json's path: it walks the tree token by token,
// so a deep tree costs time in proportion to its size, not its depth times
// its size. It never fails; b is valid JSON, encoding/json checked it.
// A second file_tree in the same document adds to the first, as it does
// on the fast path.
func (n *fileNames) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // a number too large for a float64 is still valid JSON
	t := treeTokens{dec: dec, names: n}
	t.level()
	return nil
}

// treeTokens reads a file_tree through encoding/json's tokenizer. Each
// method consumes one value and reports false only on a tokenizer error,
// which ends the walk.
type treeTokens struct {
	dec   *json.Decoder
	names *fileNames
}

// level reads {sha256: node, ...}.
func (t *treeTokens) level() bool {
	return t.object(func(key string) bool {
		sha, ok := treeSHA(key)
		return t.object(func(member string) bool {
			switch member {
			case "name":
				if !ok {
					return t.skip()
				}
				return t.nameList(&sha)
			case "children":
				return t.level()
			default:
				return t.skip()
			}
		})
	})
}

// nameList reads ["name", ...].
func (t *treeTokens) nameList(sha *[64]byte) bool {
	tok, err := t.dec.Token()
	if err != nil {
		return false
	}
	if tok != json.Delim('[') {
		return t.skipRest(tok)
	}
	for t.dec.More() {
		tok, err := t.dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok {
			t.names.add(sha, s)
		} else if !t.skipRest(tok) {
			return false
		}
	}
	_, err = t.dec.Token() // ']'
	return err == nil
}

// object calls member for each key of an object, before its value, which
// member must consume; any other value is skipped.
func (t *treeTokens) object(member func(key string) bool) bool {
	tok, err := t.dec.Token()
	if err != nil {
		return false
	}
	if tok != json.Delim('{') {
		return t.skipRest(tok)
	}
	for t.dec.More() {
		key, err := t.dec.Token()
		if err != nil {
			return false
		}
		k, _ := key.(string) // object keys are strings
		if !member(k) {
			return false
		}
	}
	_, err = t.dec.Token() // '}'
	return err == nil
}

// skip reads one value.
func (t *treeTokens) skip() bool {
	tok, err := t.dec.Token()
	return err == nil && t.skipRest(tok)
}

// skipRest reads the rest of a value whose first token was tok.
func (t *treeTokens) skipRest(tok json.Token) bool {
	if d, ok := tok.(json.Delim); !ok || d != '{' && d != '[' {
		return true
	}
	for depth := 1; depth > 0; {
		tok, err := t.dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return true
}

// fastLevel is the fast path's reading of a tree level, the same walk as
// treeTokens.level over the raw bytes. Escaped keys anywhere send the
// document to encoding/json (jscan.object refuses them); an escaped name
// is unescaped by encoding/json itself, so both paths read it alike.
func (n *fileNames) fastLevel(s *jscan) bool {
	if !s.byte('{') {
		return s.skipValue()
	}
	return s.object(func(key []byte) bool {
		if !s.byte('{') {
			return s.skipValue()
		}
		sha, ok := treeSHA(key)
		return s.object(func(member []byte) bool {
			switch string(member) {
			case "name":
				if !ok {
					return s.skipValue()
				}
				return n.fastNameList(s, &sha)
			case "children":
				return n.fastLevel(s)
			default:
				return s.skipValue()
			}
		})
	})
}

func (n *fileNames) fastNameList(s *jscan, sha *[64]byte) bool {
	if !s.byte('[') {
		return s.skipValue()
	}
	return s.array(func() bool {
		if s.peek() != '"' {
			return s.skipValue()
		}
		start := s.i
		raw, esc, ok := s.str()
		switch {
		case !ok:
			return false
		case !esc:
			n.add(sha, string(raw))
			return true
		}
		var name string
		if json.Unmarshal(s.b[start:s.i], &name) != nil {
			return false
		}
		n.add(sha, name)
		return true
	})
}
