// Command sbom writes a CycloneDX JSON bill of materials to stdout: of the
// Go modules linked into the named binaries, or, with no binary, of the
// module graph of the module in the current directory (`go list -m -json
// all`). deploy/release.sh runs it for every release.
//
//	go run ./cmd/sbom [-version v1.2.3] [binary...] > sbom.cdx.json
package main

import (
	"bytes"
	"debug/buildinfo"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/alharvest/alharvest/internal/sbom"
	"github.com/alharvest/alharvest/internal/version"
)

func main() {
	if version.IsFlag(os.Args[1:]) {
		fmt.Println("sbom", version.Get())
		return
	}
	version := flag.String("version", "", "release version of the main module (default: the module's own)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "Usage: sbom [-version V] [binary...]   CycloneDX JSON on stdout; SOURCE_DATE_EPOCH stamps it")
		flag.PrintDefaults()
	}
	flag.Parse()
	var mods []sbom.Module
	if flag.NArg() == 0 {
		out, err := exec.Command("go", "list", "-mod=readonly", "-m", "-json", "all").Output()
		if err != nil {
			fail(fmt.Errorf("go list -m -json all: %w", err))
		}
		if mods, err = sbom.ReadGoList(bytes.NewReader(out)); err != nil {
			fail(err)
		}
	}
	for _, bin := range flag.Args() {
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			fail(err)
		}
		mods = append(mods, sbom.FromBuildInfo(bi)...)
	}
	o := sbom.Options{Version: *version}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fail(fmt.Errorf("SOURCE_DATE_EPOCH: %w", err))
		}
		o.Time = time.Unix(sec, 0)
	}
	doc, err := sbom.CycloneDX(mods, o)
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(doc, '\n'))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sbom:", err)
	os.Exit(1)
}
