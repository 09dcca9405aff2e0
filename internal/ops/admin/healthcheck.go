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

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/exitcode"
)

// HealthcheckCommand probes this container's own /healthz (or /readyz) on
// HTTP_ADDR. It exists because the distroless image has no shell, curl or
// wget for a Docker HEALTHCHECK. Exit 0 = healthy.
var HealthcheckCommand = &cli.Command{
	Name:     "healthcheck",
	Synopsis: "probe this container's HTTP_ADDR (for Docker)",
	Help: "Asks this process's /healthz (or /readyz with --ready) on HTTP_ADDR and exits 0 when it\n" +
		"answers 2xx: a Docker HEALTHCHECK for an image without a shell or curl. With HTTP_ADDR\n" +
		"empty (the one-shot run serves no probes) there is nothing to ask: it says so and exits 0.",
	Run: runHealthcheck,
}

func runHealthcheck(c *cli.Call) error {
	ctx, stdout, stderr := c.Ctx, c.Stdout, c.Stderr
	fs := flag.NewFlagSet(c.Path, flag.ContinueOnError)
	addr := fs.String("http-addr", os.Getenv("HTTP_ADDR"), "address the process serves probes on [$HTTP_ADDR]")
	target := fs.String("url", "", "probe this URL instead (e.g. alsim's http://127.0.0.1:8980/_alsim/config)")
	ready := fs.Bool("ready", false, "probe /readyz (NATS, consumers, Assemblyline) instead of /healthz (alive)")
	timeout := fs.Duration("timeout", 4*time.Second, "give up after this long")
	if err := c.Parse(fs); err != nil {
		return err
	}
	url := *target
	if url == "" {
		if *addr == "" {
			fmt.Fprintln(stderr, "probes are off (HTTP_ADDR is empty); nothing to check")
			return nil
		}
		host, port, err := net.SplitHostPort(*addr)
		if err != nil {
			return exitcode.Use(fmt.Errorf("HTTP_ADDR=%q: %w", *addr, err))
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
		return exitcode.Use(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Docker keeps this output in the container's health log.
		return fmt.Errorf("%s %s: %s", url, resp.Status, body)
	}
	fmt.Fprintf(stdout, "%s %s\n", url, resp.Status)
	return nil
}
