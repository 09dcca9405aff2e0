// Command output-init prepares the downloader's output directory in compose
// (service output-init): see internal/ops/outputinit.
//
//	OWNER  uid:gid the stages run as (ALHARVEST_UID:ALHARVEST_GID)
//	DIR    the directory, /collected by default
package main

import (
	"os"

	"github.com/alharvest/alharvest/internal/ops/outputinit"
)

func main() { os.Exit(outputinit.Main(os.Args[1:], os.Stdout, os.Stderr)) }
