// What every command shares at its end: printing its result for people
// or, with --json, for programs.

package harvest

import (
	"encoding/json"
	"io"
)

// textWriter is a result that prints itself for people.
type textWriter interface {
	WriteText(w io.Writer)
}

// writeResult prints r for people, or as JSON when asJSON.
func writeResult(w io.Writer, asJSON bool, r textWriter) {
	if asJSON {
		writeJSON(w, r)
		return
	}
	r.WriteText(w)
}

// writeJSON prints v as indented JSON, the form of every --json.
func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
