// Command sbom writes a CycloneDX JSON bill of materials to stdout: of the
// Go modules linked into the named binaries, or, with no binary, of the
// module graph of the module in the current directory (`go list -m -json
// all`). deploy/release.sh runs it for every release.
//
//	go run ./cmd/sbom [-release v1.2.3] [binary...] > sbom.cdx.json
package main

import (
	"os"

	"github.com/alharvest/alharvest/internal/sbom"
)

func main() { os.Exit(sbom.Main(os.Args[1:], os.Stdout, os.Stderr)) }
