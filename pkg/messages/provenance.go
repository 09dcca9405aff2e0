package messages

import (
	"time"
	"unicode/utf8"
)

// Provenance says where a collected file came from, as Assemblyline knows
// it (the file's names in the submission are not carried yet). Every field
// is optional (added in v1 without breaking older
// producers or consumers): the scorer fills it in files messages and the
// downloader carries it into collected events and metadata files.
type Provenance struct {
	// Server is the Assemblyline base URL the file was found on.
	Server string `json:"server,omitempty"`
	// Type is the file type Assemblyline identified, e.g. "executable/windows/pe32".
	Type string `json:"type,omitempty"`
	// Completed is the submission's times.completed.
	Completed time.Time `json:"completed,omitzero"`
}

// maxProvenanceText bounds provenance fields, which other systems may set.
const maxProvenanceText = 1024

func (p Provenance) validate() error {
	if len(p.Server) > maxProvenanceText || len(p.Type) > maxProvenanceText {
		return invalid("server or type longer than %d bytes", maxProvenanceText)
	}
	if !utf8.ValidString(p.Server) || !utf8.ValidString(p.Type) {
		return invalid("server or type is not UTF-8")
	}
	return nil
}
