package monitoringtest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/alharvest/alharvest/internal/metrics"
)

const root = "../.."

// exported lists every metric name a binary's /metrics can carry,
// histogram series included, plus Prometheus's own `up`.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() { metrics.New().Registry.Describe(ch); close(ch) }()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{"up": true}
	for d := range ch {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			names[m[1]+suffix] = true
		}
	}
	if !names["alharvest_stream_oldest_message_age_seconds"] {
		t.Fatal("the registry's metric names could not be read")
	}
	return names
}

var promql = parser.NewParser(parser.Options{})

// metricNames parses expr and returns the metric names it selects.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return nil
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				t.Errorf("%s: selector without a metric name in %q", where, expr)
			}
			out = append(out, vs.Name)
		}
		return nil
	})
	if len(out) == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
	return out
}

func TestAlertRules(t *testing.T) {
	names := exported(t)
	path := filepath.Join(root, "deploy/prometheus/alerts.yml")
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Errorf("rules: %v", err)
	}
	if groups == nil {
		t.FailNow()
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: an alert needs a summary and a description saying what to do", r.Alert)
			}
			for _, n := range metricNames(t, r.Alert, r.Expr) {
				if !names[n] {
					t.Errorf("%s uses %s, which no alharvest binary exports", r.Alert, n)
				}
			}
		}
	}
	// What the operator asked to be told about.
	for _, want := range []string{"AlharvestDeadLettersGrowing", "AlharvestStageHalted", "AlharvestStageStalled", "AlharvestTargetDown",
		"AlharvestQueueAgeRising", "AlharvestQuotaRejectionsHigh", "AlharvestNoSweepCompleted"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s (have %v)", want, alerts)
		}
	}
}

type dashboard struct {
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func TestDashboard(t *testing.T) {
	names := exported(t)
	b, err := os.ReadFile(filepath.Join(root, "deploy/grafana/alharvest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	used := map[string]bool{}
	var titles []string
	for _, p := range d.Panels {
		titles = append(titles, p.Title)
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			for _, n := range metricNames(t, "panel "+p.Title, tg.Expr) {
				used[n] = true
				if !names[n] {
					t.Errorf("panel %q uses %s, which no alharvest binary exports", p.Title, n)
				}
			}
		}
	}
	for _, want := range []string{"Throughput per stage", "Queue depth", "Queue age (oldest message)", "Assemblyline quota",
		"Dead letters and retries", "Readiness", "Time to collect"} {
		if !slices.Contains(titles, want) {
			t.Errorf("no panel %q", want)
		}
	}
	for _, want := range []string{"alharvest_al_quota_rejections_total", "alharvest_al_concurrency_limit",
		"alharvest_stream_oldest_message_age_seconds", "alharvest_consumer_pending_messages", "alharvest_stage_halted",
		"alharvest_stage_stalled"} {
		if !used[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}

// TestComposeMonitoringProfile loads docker-compose.yml with the monitoring
// profile the way `docker compose` does and checks that Prometheus and
// Grafana get this directory's files, on loopback only. The compose file
// refuses to load without the Assemblyline settings, so it is read with the
// demo's (deploy/demo.env), as `docker compose --env-file deploy/demo.env`.
func TestComposeMonitoringProfile(t *testing.T) {
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	po, err := cli.NewProjectOptions([]string{filepath.Join(abs, "docker-compose.yml")},
		cli.WithName("alharvest"), cli.WithWorkingDirectory(abs), cli.WithEnv(nil),
		cli.WithEnvFiles(filepath.Join(abs, "deploy", "demo.env")), cli.WithDotEnv,
		cli.WithProfiles([]string{"monitoring"}), cli.WithInterpolation(true),
		cli.WithNormalization(true), cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := po.LoadProject(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"prometheus", "grafana"} {
		s, ok := p.Services[name]
		if !ok {
			t.Errorf("no %s service under the monitoring profile", name)
			continue
		}
		if !slices.Equal(s.Profiles, []string{"monitoring"}) {
			t.Errorf("%s profiles = %v", name, s.Profiles)
		}
		for _, v := range s.Volumes {
			if !strings.HasPrefix(v.Source, filepath.Join(abs, "deploy")) {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts a missing file: %v", name, err)
			}
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes port %s on %q: want loopback", name, port.Published, port.HostIP)
			}
		}
	}
}
