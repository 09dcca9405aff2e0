package composerun

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alharvest/alharvest/pkg/messages"
)

var clusterPipeline = []string{"nats", "nats2", "nats3", "alsim", "searcher", "scorer", "downloader"}

// nodeService maps a NATS server name (nats1..3, as the cluster override
// names them) to its compose service.
func nodeService(server string) string {
	if server == "nats1" {
		return "nats"
	}
	return server
}

// leader is the compose service of the node leading a stream, asked of a
// node that is up.
func (p *project) leader(via, stream string) string {
	p.t.Helper()
	js := p.js(via)
	var leader string
	// Right after a node is lost the JetStream API answers only once the
	// meta group and the stream have elected leaders again.
	waitFor(p.t, "the leader of "+stream, time.Minute, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false, err.Error()
		}
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
			return false, fmt.Sprintf("no leader: %v", err)
		}
		if n := len(info.Cluster.Replicas) + 1; n != 3 {
			p.t.Errorf("stream %s has %d replicas, want 3", stream, n)
		}
		leader = info.Cluster.Leader
		return true, ""
	})
	return nodeService(leader)
}

// maxUnready bounds how long a stage may be unready while two of three
// nodes serve: the client notices a silent link after 2 pings 5 s apart
// (internal/broker), the streams elect a new leader in a few seconds.
const maxUnready = 20 * time.Second

// readiness samples every stage's /readyz once a second until stop is
// called, and returns each stage's longest unready spell and why.
func (p *project) readiness() (stop func() map[string]string) {
	type probe struct{ name, url string }
	var probes []probe
	for stage, port := range map[string]string{"searcher": "9101", "scorer": "9102", "downloader": "9103"} {
		for _, c := range p.containers(stage) {
			probes = append(probes, probe{c.Name, "http://" + c.ip() + ":" + port + "/readyz"})
		}
	}
	var (
		mu      sync.Mutex
		longest = map[string]time.Duration{}
		since   = map[string]time.Time{}
		why     = map[string]string{}
		done    = make(chan struct{})
		wg      sync.WaitGroup
	)
	client := http.Client{Timeout: 3 * time.Second}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			for _, pr := range probes {
				ready, reason := false, ""
				resp, err := client.Get(pr.url)
				if err != nil {
					reason = err.Error()
				} else {
					b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
					resp.Body.Close()
					ready, reason = resp.StatusCode == http.StatusOK, strings.TrimSpace(string(b))
				}
				now := time.Now()
				mu.Lock()
				if ready {
					delete(since, pr.name)
				} else {
					if since[pr.name].IsZero() {
						since[pr.name] = now
					}
					if d := now.Sub(since[pr.name]) + time.Second; d > longest[pr.name] {
						longest[pr.name], why[pr.name] = d, reason
					}
				}
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() map[string]string {
		close(done)
		wg.Wait()
		out := map[string]string{}
		for _, pr := range probes {
			if d := longest[pr.name]; d > 0 {
				out[pr.name] = fmt.Sprintf("unready up to %v (%s)", d, why[pr.name])
				if d > maxUnready {
					p.t.Errorf("%s: unready for %v (%s), longer than a lost link takes to notice and a leader to move (%v)", pr.name, d, why[pr.name], maxUnready)
				}
			}
		}
		return out
	}
}

func clusterOptions() options {
	return options{cluster: true,
		alsim: map[string]string{"ALSIM_DOWNLOAD_LATENCY": "400ms", "ALSIM_FULL_LATENCY": "100ms"},
		env:   map[string]string{"DOWNLOADER_CONCURRENCY": "2", "SCORER_CONCURRENCY": "2"}}
}

// clusterMidRun starts the demo on the three-node cluster, waits until a
// fifth of the expected files are collected, and returns the project, the
// expected set and the node leading the files stream: the one to hurt.
func clusterMidRun(t *testing.T) (p *project, want []string, leader string) {
	t.Helper()
	p = newProject(t, clusterOptions())
	p.compose("--profile", "demo", "up", "-d")
	p.waitHealthy(3*time.Minute, clusterPipeline...)
	want, _ = p.expected()
	waitFor(t, "the first files", time.Minute, func() (bool, string) { return p.collectedCount() >= len(want)/5, "" })
	return p, want, p.leader("nats2", messages.StreamFiles)
}

// TestClusterNodeLoss: SIGKILL of the node leading the work-queue streams
// mid-run, restarted 15 s later; the stages carry on through the other two.
func TestClusterNodeLoss(t *testing.T) {
	t.Parallel()
	p, want, victim := clusterMidRun(t)
	other := "nats2"
	if victim == other {
		other = "nats3"
	}
	t.Logf("the leader of %s is %s (%s's leader: %s)", messages.StreamFiles, victim, messages.StreamSIDs, p.leader(other, messages.StreamSIDs))
	stop := p.readiness()
	docker(t, "kill", p.one(victim).ID)
	at := p.collectedCount()
	killed := time.Now()
	t.Logf("killed %s with %d of %d files collected", victim, at, len(want))
	waitFor(t, "progress without "+victim, time.Minute, func() (bool, string) { return p.collectedCount() > at+5, "" })
	t.Logf("collected %d more files %v after the kill; new leader %s", p.collectedCount()-at, time.Since(killed).Round(100*time.Millisecond), p.leader(other, messages.StreamFiles))
	time.Sleep(time.Until(killed.Add(15 * time.Second)))
	docker(t, "start", p.one(victim).ID)
	p.waitCollected(4 * time.Minute)
	for c, r := range stop() {
		t.Logf("%s: %s", c, r)
	}
	p.waitHealthy(time.Minute, clusterPipeline...)
	p.noRestarts("searcher", "scorer", "downloader")
}

// TestClusterPartition: one node (the streams' leader) is cut off the
// network for 25 s mid-run, then reconnected.
func TestClusterPartition(t *testing.T) {
	t.Parallel()
	p, want, victim := clusterMidRun(t)
	c := p.one(victim)
	network := p.name + "_default"
	aliases := []string{victim}
	if victim == "nats" {
		aliases = append(aliases, "nats1")
	}
	stop := p.readiness()
	at := p.collectedCount()
	docker(t, "network", "disconnect", network, c.ID)
	cut := time.Now()
	t.Logf("cut %s off with %d of %d files collected", victim, at, len(want))
	time.Sleep(25 * time.Second)
	args := []string{"network", "connect"}
	for _, a := range aliases {
		args = append(args, "--alias", a)
	}
	docker(t, append(args, network, c.ID)...)
	t.Logf("reconnected %s after %v; %d more files collected meanwhile", victim, time.Since(cut).Round(100*time.Millisecond), p.collectedCount()-at)
	if p.collectedCount() == at {
		t.Errorf("nothing was collected while %s was cut off", victim)
	}
	p.waitCollected(4 * time.Minute)
	for c, r := range stop() {
		t.Logf("%s: %s", c, r)
	}
	p.waitHealthy(time.Minute, clusterPipeline...)
	p.noRestarts(clusterPipeline...)
}
