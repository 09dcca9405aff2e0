// Package contract embeds alharvest's machine-readable contract, the one
// copy of each file: asyncapi.json (AsyncAPI 3.0) and the JSON Schemas
// (draft 2020-12) it references, kept here beside the documentation so
// that readers and the binary (`alharvest contract`) see the same bytes.
package contract

import "embed"

// Files holds asyncapi.json and every *.schema.json, at the root.
//
//go:embed asyncapi.json *.schema.json
var Files embed.FS

// AsyncAPI is the name of the AsyncAPI document in Files.
const AsyncAPI = "asyncapi.json"

// BaseURI is the $id prefix of every schema in Files: a schema's $id is
// BaseURI followed by its file name.
const BaseURI = "https://github.com/alharvest/alharvest/docs/contract/"
