package admin

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/alharvest/alharvest/internal/exitcode"
)

// healthcheckCommand probes this container's own /healthz (or /readyz) on
// HTTP_ADDR. It exists because the distroless image has no shell, curl or
// wget for a Docker HEALTHCHECK. Exit 0 = healthy.
func healthcheckCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alharvest healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", os.Getenv("HTTP_ADDR"), "address the process serves probes on [$HTTP_ADDR]")
	target := fs.String("url", "", "probe this URL instead (e.g. alsim's http://127.0.0.1:8980/_alsim/config)")
	ready := fs.Bool("ready", false, "probe /readyz (NATS, consumers, Assemblyline) instead of /healthz (alive)")
	timeout := fs.Duration("timeout", 4*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitcode.OK
		}
		return exitcode.Usage
	}
	url := *target
	if url == "" {
		if *addr == "" {
			fmt.Fprintln(stderr, "probes are off (HTTP_ADDR is empty); nothing to check")
			return exitcode.OK
		}
		host, port, err := net.SplitHostPort(*addr)
		if err != nil {
			fmt.Fprintf(stderr, "healthcheck: HTTP_ADDR %q: %v\n", *addr, err)
			return exitcode.Usage
		}
		switch host {
		case "", "0.0.0.0":
			host = "127.0.0.1"
		case "::":
			host = "::1"
		}
		path := "/healthz"
		if *ready {
			path = "/readyz"
		}
		url = "http://" + net.JoinHostPort(host, port) + path
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return exitcode.Usage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return exitcode.Failed
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Docker keeps this output in the container's health log.
		fmt.Fprintf(stderr, "%s %s: %s\n", url, resp.Status, body)
		return exitcode.Failed
	}
	fmt.Fprintf(stdout, "%s %s\n", url, resp.Status)
	return exitcode.OK
}
