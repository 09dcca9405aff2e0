// Command downloader consumes qualifying files from alharvest.files, writes
// each as a verified OUTPUT_DIR/<sha256>.cart, and announces it on
// alharvest.collected. Run as many replicas as you like; they share the
// durable consumer "downloader" (and, on one host, the output directory).
package main

import (
	"os"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/service"
)

func main() { os.Exit(service.Main(config.Downloader, os.Args[1:], os.Stdout, os.Stderr)) }
