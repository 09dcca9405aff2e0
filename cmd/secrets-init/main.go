// Command secrets-init creates the secrets of the compose deployment
// (service secrets-init) and hands the NATS store to the NATS user: see
// internal/secretsinit.
//
//	DIR         where the secrets go, /secrets by default
//	OWNER       uid:gid the stages run as (ALHARVEST_UID:ALHARVEST_GID)
//	NATS_OWNER  uid:gid the NATS server runs as
//	NATS_DATA   the NATS store directories to hand to NATS_OWNER, comma-separated
//
//	secrets-init [--rotate NAME,...]    NAME: stages, feeder, reader, webhook, route
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/alharvest/alharvest/internal/outputinit"
	"github.com/alharvest/alharvest/internal/secretsinit"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "secrets-init:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("secrets-init", flag.ContinueOnError)
	rotate := fs.String("rotate", "", "generate these secrets anew, comma-separated: "+strings.Join(secretsinit.Names(), ", "))
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := secretsinit.Config{Dir: os.Getenv("DIR")}
	if c.Dir == "" {
		c.Dir = "/secrets"
	}
	var err error
	if c.Owner, err = outputinit.ParseOwner(os.Getenv("OWNER")); err != nil {
		return err
	}
	if c.NATSOwner, err = outputinit.ParseOwner(os.Getenv("NATS_OWNER")); err != nil {
		return fmt.Errorf("NATS_OWNER: %w", err)
	}
	if *rotate != "" {
		c.Rotate = strings.Split(*rotate, ",")
	}
	if err := secretsinit.Prepare(c, os.Stdout); err != nil {
		return err
	}
	for _, d := range strings.Split(os.Getenv("NATS_DATA"), ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		if err := secretsinit.HandDataDir(d, c.NATSOwner, os.Stdout); err != nil {
			return err
		}
	}
	return nil
}
