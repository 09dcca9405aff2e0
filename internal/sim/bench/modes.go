package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/pkg/messages"
)

// runSingle runs a pipeline that is one process (alharvest, or the naive
// baseline) to its end.
func runSingle(dir, name, bin string, args, env []string, res *Result) (time.Duration, error) {
	start := time.Now()
	res.started = start
	p, err := startProc(dir, name, bin, args, env)
	if err != nil {
		return 0, err
	}
	<-p.done
	wall := time.Since(start)
	res.RSS[name], res.CPU[name] = p.peakRSS(), p.cpu()
	if p.err != nil {
		return 0, fmt.Errorf("%s: %v (log %s)", name, p.err, p.logPath)
	}
	return wall, nil
}

// parseReplicas reads a mode "multi-N" (N scorers and N downloaders
// sharing the user's budget) or "multi-N-aimd" (the same, each process
// adapting alone, as before the shared budget).
func parseReplicas(mode string) (n int, aimd bool, ok bool) {
	rest, ok := strings.CutPrefix(mode, ModeMulti+"-")
	if !ok {
		return 0, false, false
	}
	rest, aimd = strings.CutSuffix(rest, "-aimd")
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || n > 64 {
		return 0, false, false
	}
	return n, aimd, true
}

// runMulti runs nats-server, the searcher and replicas scorers and as many
// downloaders (none: the searcher alone).
func runMulti(ctx context.Context, dir string, o Options, env []string, res *Result, replicas int) (time.Duration, error) {
	// -p -1: nats-server picks a free port and logs it once it listens.
	ns, err := startProc(dir, "nats-server", filepath.Join(o.Bin, "nats-server"),
		[]string{"-js", "-a", "127.0.0.1", "-p", "-1", "-sd", filepath.Join(dir, "nats")}, nil)
	if err != nil {
		return 0, err
	}
	defer ns.stop(10 * time.Second)
	addr, err := ns.waitLine(20*time.Second, "Listening for client connections on ")
	if err != nil {
		return 0, err
	}
	url := "nats://" + addr
	env = append(env, "NATS_URL="+url)
	nc, err := nats.Connect(url)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}

	start := time.Now()
	res.started = start
	nScorers, nDownloaders := replicas, replicas
	var stages []*proc
	for i := range nScorers {
		p, err := startProc(dir, fmt.Sprintf("scorer-%d", i+1), filepath.Join(o.Bin, "scorer"), nil, env)
		if err != nil {
			return 0, err
		}
		stages = append(stages, p)
	}
	for i := range nDownloaders {
		p, err := startProc(dir, fmt.Sprintf("downloader-%d", i+1), filepath.Join(o.Bin, "downloader"), nil, env)
		if err != nil {
			return 0, err
		}
		stages = append(stages, p)
	}
	searcher, err := startProc(dir, "searcher", filepath.Join(o.Bin, "searcher"), []string{"--once"}, env)
	if err != nil {
		return 0, err
	}
	defer func() {
		for _, p := range stages {
			p.stop(30 * time.Second)
		}
	}()

	quiet := 0
	var wall time.Duration
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if searcher.running() {
			continue
		}
		if searcher.err != nil {
			return 0, fmt.Errorf("searcher: %v (log %s)", searcher.err, searcher.logPath)
		}
		if o.Mode == ModeSearcher {
			wall = time.Since(start)
			break
		}
		if Drained(ctx, js) {
			if quiet == 0 {
				wall = time.Since(start)
			}
			quiet++
			if quiet >= 3 {
				break
			}
		} else {
			quiet = 0
		}
	}
	res.RSS["searcher"], res.CPU["searcher"] = searcher.peakRSS(), searcher.cpu()
	for _, p := range stages {
		p.stop(30 * time.Second)
		res.RSS[p.name], res.CPU[p.name] = p.peakRSS(), p.cpu()
	}
	ns.stop(10 * time.Second)
	res.RSS["nats-server"], res.CPU["nats-server"] = ns.peakRSS(), ns.cpu()
	return wall, nil
}

// Drained reports whether both of alharvest's work queues and its deferred
// store exist and hold no message. The store is read first and last: a
// message moves between it and a work queue both ways.
func Drained(ctx context.Context, js jetstream.JetStream) bool {
	n, err := broker.StreamCounts(ctx, js, messages.StreamDeferred, messages.StreamSIDs, messages.StreamFiles)
	if err != nil || n[messages.StreamDeferred] != 0 || n[messages.StreamSIDs] != 0 || n[messages.StreamFiles] != 0 {
		return false
	}
	n, err = broker.StreamCounts(ctx, js, messages.StreamDeferred)
	return err == nil && n[messages.StreamDeferred] == 0
}
