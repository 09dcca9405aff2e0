// Command wgetprobe is the health probe of the NATS image deploy/images.sh
// builds from scratch, installed there as /usr/bin/wget. It understands the
// one form the compose healthchecks use, `wget -q --spider URL`, so the same
// healthcheck works with the official nats:*-alpine image (busybox wget) and
// with ours, which has no shell or busybox. Exit 0 when URL answers 2xx.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	var url string
	for _, a := range os.Args[1:] {
		switch {
		case a == "-q" || a == "--spider":
		case strings.HasPrefix(a, "-"):
			fmt.Fprintf(os.Stderr, "wget (probe): unsupported option %s; only -q --spider URL\n", a)
			os.Exit(2)
		default:
			url = a
		}
	}
	if url == "" {
		fmt.Fprintln(os.Stderr, "usage: wget -q --spider URL")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wget (probe):", err)
		os.Exit(2)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wget (probe):", err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(os.Stderr, "wget (probe): %s: %s\n", url, resp.Status)
		os.Exit(1)
	}
}
