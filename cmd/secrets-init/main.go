// Command secrets-init creates the secrets of the compose deployment
// (service secrets-init) and hands the NATS store to the NATS user: see
// internal/ops/secretsinit.
package main

import (
	"os"

	"github.com/alharvest/alharvest/internal/ops/secretsinit"
)

func main() { os.Exit(secretsinit.Main(os.Args[1:], os.Stdout, os.Stderr)) }
