package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/netaddr"
	"github.com/alharvest/alharvest/internal/secret"
	"github.com/alharvest/alharvest/internal/service"
)

const areaAL = "assemblyline"

func checkAssemblyline(ctx context.Context, cfg *config.Config, o Options) []Result {
	var out []Result
	if cfg.AL.BaseURL == "" {
		return []Result{fail(areaAL, "configuration", "AL_URL is not set", "set AL_URL (https://your-assemblyline) or AL_HOST")}
	}
	if cfg.AL.User == "" || cfg.AL.APIKey == "" {
		return []Result{fail(areaAL, "configuration", "AL_USER or AL_APIKEY is not set",
			"set AL_USER and AL_APIKEY (<key_name>:<password>, or AL_APIKEY_FILE)")}
	}
	u, _ := url.Parse(cfg.AL.BaseURL)
	if u != nil && u.Scheme == "http" && !netaddr.IsLoopback(u.Hostname()) {
		out = append(out, warn(areaAL, "tls", "plain http: the API key crosses the network readable",
			"use https:// unless the server is on this host"))
	}
	if cfg.AL.InsecureSkipVerify {
		out = append(out, warn(areaAL, "tls", "certificate verification is off (AL_VERIFY=false)",
			"set AL_CA_FILE to your CA bundle and AL_VERIFY=true"))
	}
	c, err := service.ALClient(cfg, nil, o.Logger)
	if err != nil {
		return append(out, fail(areaAL, "configuration", errText(err), "fix the setting the message names"))
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	query := "max_score:>=" + strconv.FormatInt(cfg.Threshold, 10)
	var filters []string
	if cfg.Search.Filter != "" {
		filters = append(filters, cfg.Search.Filter)
	}
	p, err := c.Diagnose(ctx, query, filters)
	if err != nil {
		return append(out, probeFailure(cfg, err))
	}
	out = append(out, ok(areaAL, "reachable", fmt.Sprintf("%s answered in %s", secret.MaskURL(cfg.AL.BaseURL), p.Took.Round(time.Millisecond))))
	if p.TLS != "" {
		d := p.TLS
		if p.PeerSubject != "" {
			d += ", certificate " + p.PeerSubject
		}
		if !cfg.AL.InsecureSkipVerify {
			d += ", verified"
		}
		out = append(out, ok(areaAL, "tls", d))
	}
	out = append(out, ok(areaAL, "credentials", "user "+cfg.AL.User+" accepted"))
	out = append(out, ok(areaAL, "search permission", fmt.Sprintf("%d submissions match %s", p.Total, strings.Join(append([]string{query}, filters...), " AND "))))
	switch {
	case p.QuotaAPI < 0:
		out = append(out, ok(areaAL, "quota", "no daily API quota set for this user (only the concurrent-call quota applies)"))
	case p.QuotaAPI < 1000:
		out = append(out, warn(areaAL, "quota", fmt.Sprintf("%d API calls left today", p.QuotaAPI),
			"a run needs one call per submission plus one per qualifying file: wait for tomorrow or ask for a larger api_daily_quota"))
	default:
		out = append(out, ok(areaAL, "quota", fmt.Sprintf("%d API calls left today", p.QuotaAPI)))
	}
	return out
}

// probeFailure turns the probe's error into one line a person can act on.
func probeFailure(cfg *config.Config, err error) Result {
	msg := errText(err)
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn), strings.Contains(msg, "certificate"):
		return fail(areaAL, "tls", msg, "set AL_CA_FILE to the CA that signed the server's certificate, or fix AL_URL's host name")
	case errors.As(err, &dns):
		return fail(areaAL, "reachable", msg, "AL_URL's host name does not resolve: check it and this host's DNS")
	case errors.As(err, &op), strings.Contains(msg, "connection refused"):
		return fail(areaAL, "reachable", msg, "nothing answers at AL_URL: check the URL, the port and firewalls")
	}
	switch failure.KindOf(err) {
	case failure.Auth:
		return fail(areaAL, "credentials", msg, "check AL_USER and AL_APIKEY (<key_name>:<password>); the key may be revoked or expired")
	case failure.Forbidden:
		return fail(areaAL, "search permission", msg, "give "+cfg.AL.User+" the submission_view role (or an API key with read access), or fix AL_URL if it redirects")
	case failure.QuotaDaily:
		return fail(areaAL, "quota", msg, "the daily API quota is spent: wait for tomorrow or ask for a larger quota")
	case failure.QuotaConcurrent:
		return warn(areaAL, "quota", msg, "every concurrent-call slot of this user is taken right now: another client of the same user (give alharvest a user of its own), or alharvest itself running (its processes share the quota; see docs/quota.md)")
	case failure.BadRequest:
		return fail(areaAL, "search permission", msg, "the server rejects the search: check SEARCH_FILTER's Lucene syntax")
	case failure.Timeout:
		return fail(areaAL, "reachable", msg, "the server is too slow to answer: check its load and the network")
	}
	return fail(areaAL, "reachable", msg, "AL_URL does not answer like Assemblyline: check the URL (a proxy page?) and the server's health")
}
