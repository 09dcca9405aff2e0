// Package contract serves alharvest's machine-readable contract (the
// AsyncAPI document and JSON Schemas in docs/contract): `alharvest
// contract` prints it whole, with every schema inlined so that the output
// stands alone, or the part about one subject.
package contract

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/alharvest/alharvest/internal/cli"

	spec "github.com/alharvest/alharvest/docs/contract"
	"github.com/alharvest/alharvest/internal/exitcode"
)

// Document returns the AsyncAPI document with every schema file it
// references inlined; references inside the document
// (#/components/..., #/channels/...) stay as they are.
func Document() (map[string]any, error) {
	b := bundler{files: map[string]any{}}
	doc, err := b.load(spec.AsyncAPI)
	if err != nil {
		return nil, err
	}
	out, err := b.resolve(doc, spec.AsyncAPI, false)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

// Channel returns the part of the document about subject, every reference
// resolved: its channel (address, description, stream) with its messages'
// headers and payload schemas, and the operations on it. A subject matches
// a channel's address literally or, for an address with parameters
// (alharvest.dlq.{stage}), with any one token in their place.
func Channel(subject string) (map[string]any, error) {
	b := bundler{files: map[string]any{}}
	doc, err := b.load(spec.AsyncAPI)
	if err != nil {
		return nil, err
	}
	channels, _ := doc.(map[string]any)["channels"].(map[string]any)
	for _, name := range sortedKeys(channels) {
		ch := channels[name].(map[string]any)
		addr, _ := ch["address"].(string)
		if !addressMatches(addr, subject) {
			continue
		}
		resolved, err := b.resolve(ch, spec.AsyncAPI, true)
		if err != nil {
			return nil, err
		}
		out := map[string]any{"channel": name, "subject": subject}
		for k, v := range resolved.(map[string]any) {
			out[k] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("no subject %q in the contract; known: %s", subject, strings.Join(Subjects(), ", "))
}

// Subjects lists the channels' addresses, sorted.
func Subjects() []string {
	b := bundler{files: map[string]any{}}
	doc, err := b.load(spec.AsyncAPI)
	if err != nil {
		return nil
	}
	channels, _ := doc.(map[string]any)["channels"].(map[string]any)
	var out []string
	for _, ch := range channels {
		if a, ok := ch.(map[string]any)["address"].(string); ok {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

var param = regexp.MustCompile(`\{[^}]+\}`)

// addressMatches reports whether subject is addr, or fits addr's
// parameters with one subject token each.
func addressMatches(addr, subject string) bool {
	if addr == subject {
		return true
	}
	if !strings.Contains(addr, "{") {
		return false
	}
	parts := param.Split(addr, -1)
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	re, err := regexp.Compile("^" + strings.Join(parts, `[^.*>\s]+`) + "$")
	return err == nil && re.MatchString(subject)
}

// Command is `alharvest contract [SUBJECT]`.
var Command = &cli.Command{
	Name:     "contract",
	Args:     "[SUBJECT]",
	MaxArgs:  1,
	Synopsis: "print the machine-readable contract (AsyncAPI 3.0 with JSON Schemas)",
	Help: "Prints alharvest's NATS contract: the AsyncAPI 3.0 document with its JSON Schemas\n" +
		"(draft 2020-12) inlined, or, given a subject, that subject's channel, messages,\n" +
		"headers and payload schemas. Subjects: " + strings.Join(Subjects(), ", "),
	Run: run,
}

func run(c *cli.Call) error {
	if err := c.Parse(flag.NewFlagSet(c.Path, flag.ContinueOnError)); err != nil {
		return err
	}
	var (
		v   map[string]any
		err error
	)
	if len(c.Args) == 1 {
		v, err = Channel(c.Args[0])
	} else {
		v, err = Document()
	}
	if err != nil {
		return exitcode.Use(err)
	}
	enc := json.NewEncoder(c.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// bundler inlines references between the embedded files.
type bundler struct {
	files map[string]any
	depth int
}

func (b *bundler) load(name string) (any, error) {
	if v, ok := b.files[name]; ok {
		return v, nil
	}
	data, err := spec.Files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("contract file %s: %w", name, err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("contract file %s: %w", name, err)
	}
	b.files[name] = v
	return v, nil
}

// resolve returns a copy of v, read in file, with references to other
// files replaced by what they point at; with all, references within the
// AsyncAPI document too.
func (b *bundler) resolve(v any, file string, all bool) (any, error) {
	b.depth++
	defer func() { b.depth-- }()
	if b.depth > 64 {
		return nil, errors.New("contract: references nested too deeply (a cycle?)")
	}
	switch t := v.(type) {
	case map[string]any:
		if ref, ok := t["$ref"].(string); ok {
			target, frag, _ := strings.Cut(ref, "#")
			if target != "" || file != spec.AsyncAPI || all {
				if target == "" {
					target = file
				}
				target = path.Clean(target)
				doc, err := b.load(target)
				if err != nil {
					return nil, err
				}
				node, err := pointer(doc, frag)
				if err != nil {
					return nil, fmt.Errorf("contract: %s in %s: %w", ref, file, err)
				}
				inl, err := b.resolve(node, target, all)
				if err != nil {
					return nil, err
				}
				m, isMap := inl.(map[string]any)
				if !isMap {
					return inl, nil
				}
				out := map[string]any{}
				for k, v := range m {
					if k != "$id" && k != "$schema" {
						out[k] = v
					}
				}
				for k, v := range t { // siblings of $ref say more about this use
					if k == "$ref" {
						continue
					}
					r, err := b.resolve(v, file, all)
					if err != nil {
						return nil, err
					}
					out[k] = r
				}
				return out, nil
			}
		}
		out := make(map[string]any, len(t))
		for k, v := range t {
			if k == "$defs" && file != spec.AsyncAPI {
				continue // every use is inlined
			}
			r, err := b.resolve(v, file, all)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, v := range t {
			r, err := b.resolve(v, file, all)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

// pointer follows a JSON pointer (RFC 6901) from doc.
func pointer(doc any, ptr string) (any, error) {
	if ptr == "" || ptr == "/" {
		return doc, nil
	}
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("pointer %s: %q is not in an object", ptr, tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("pointer %s: no %q", ptr, tok)
		}
	}
	return cur, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
