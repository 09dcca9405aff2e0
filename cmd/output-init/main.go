// Command output-init prepares the downloader's output directory in compose
// (service output-init): see internal/outputinit.
//
//	OWNER  uid:gid the stages run as (ALHARVEST_UID:ALHARVEST_GID)
//	DIR    the directory, /collected by default
package main

import (
	"fmt"
	"os"

	"github.com/alharvest/alharvest/internal/outputinit"
)

func main() {
	dir := os.Getenv("DIR")
	if dir == "" {
		dir = "/collected"
	}
	o, err := outputinit.ParseOwner(os.Getenv("OWNER"))
	if err == nil {
		err = outputinit.Prepare(dir, o, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "output-init:", err)
		os.Exit(1)
	}
}
