package assemblyline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/alharvest/alharvest/internal/netaddr"
	"github.com/alharvest/alharvest/internal/secret"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxRetries   = 6
	DefaultRetryInitial = 200 * time.Millisecond
	DefaultRetryMax     = 5 * time.Second
	DefaultMaxJSONBytes = 256 << 20
	DefaultStallTimeout = 60 * time.Second
)

// Config describes how to reach one Assemblyline server as one user. The zero
// value of every optional field selects a sensible default.
//
// Config formats and logs with the API key redacted, whatever the verb, so a
// whole Config may be logged at start-up.
type Config struct {
	// BaseURL is scheme and host, with an optional port and path prefix, as in
	// "https://al.example.org" or "https://proxy.example.org/al".
	BaseURL string
	// User is sent as X-USER.
	User string
	// APIKey is sent as X-APIKEY and has the form "<key_name>:<password>".
	// It never appears in errors, logs or Calls.
	APIKey secret.String `json:"-"`

	// HTTPClient replaces the default client, for tests or a custom proxy.
	// The client never follows redirects (a redirect would forward X-APIKEY to
	// wherever it points), so New uses a copy with CheckRedirect replaced.
	// It cannot be combined with InsecureSkipVerify or CAFile, which configure
	// the default client's TLS.
	HTTPClient *http.Client `json:"-"`
	// InsecureSkipVerify disables verification of the server's certificate
	// (AL_VERIFY=false), for test servers with self-signed certificates.
	InsecureSkipVerify bool
	// CAFile is a PEM bundle trusted in addition to the system roots
	// (AL_CA_FILE), for servers with a private CA.
	CAFile string
	// AllowPlainHTTP permits http:// to a host that is not loopback. Without
	// it New refuses, because the API key would cross the network in clear.
	AllowPlainHTTP bool

	// Gate, when set, bounds how many calls run at once across everything
	// sharing it: Assemblyline counts concurrent calls per user (10 by
	// default) and answers 503 beyond that.
	Gate Gate `json:"-"`

	// MaxRetries is how many times one call is repeated in-process after a
	// retryable failure. Zero means DefaultMaxRetries; a negative value
	// disables in-process retries.
	MaxRetries int
	// RetryInitial and RetryMax bound the exponential pause between
	// in-process retries; zero means DefaultRetryInitial and DefaultRetryMax.
	RetryInitial, RetryMax time.Duration
	// MaxJSONBytes caps a JSON answer; a larger one fails with
	// failure.TooLarge. Zero means DefaultMaxJSONBytes. submission/full of a
	// big submission is the largest answer by far.
	MaxJSONBytes int64
	// MaxDownloadBytes caps a downloaded cART file; a larger one fails with
	// failure.TooLarge. Zero means no cap.
	MaxDownloadBytes int64
	// StallTimeout fails an attempt when the server sends nothing for this
	// long, either while the response headers are awaited or while the body
	// is read. It replaces an overall timeout, which no value could fit both
	// a 100-byte answer and a 500 MB download. Zero means DefaultStallTimeout.
	StallTimeout time.Duration

	// Observe, when set, is called once per HTTP attempt, for metrics.
	Observe func(Call) `json:"-"`
	// Logger receives a debug record per attempt and warnings about data
	// the client skipped. Nil discards.
	Logger *slog.Logger `json:"-"`
}

// Call describes one HTTP attempt, as reported to Config.Observe.
type Call struct {
	// Endpoint is a low-cardinality label: "search", "submission_full" or
	// "download".
	Endpoint string
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// Duration runs from sending the request to the end of the attempt
	// (for a download, until its consumer returned).
	Duration time.Duration
	// QuotaRejected reports a 503 for the per-user concurrent-call quota.
	QuotaRejected bool
	// Err is the attempt's outcome, nil on success.
	Err error
}

// Gate bounds concurrent Assemblyline calls. The client acquires it for each
// HTTP attempt (never across a backoff pause) and releases it as soon as the
// server has let go of its own quota slot: after a JSON answer is read, and
// for a download as soon as the headers arrive, because Assemblyline releases
// the slot before it streams the file.
type Gate interface {
	// Acquire blocks until the caller may start one Assemblyline call.
	Acquire(ctx context.Context) error
	// Release ends the call started by the matching Acquire; quotaRejected reports
	// that the server answered with the concurrent-call quota 503, so an adaptive gate can shrink.
	Release(quotaRejected bool)
}

// QuotaLearner is a Gate that wants the quota a concurrent-quota 503 names
// ("…quota of N"). The client calls LearnQuota just before the Release of
// that call.
type QuotaLearner interface {
	LearnQuota(n int)
}

// Client calls one Assemblyline server. It is safe for concurrent use.
type Client struct {
	base         string // scheme://host[:port][/prefix], without a trailing slash
	user, apiKey string
	secrets      []string // substrings scrubbed from anything the server sends back
	hc           *http.Client
	gate         Gate
	maxRetries   int
	retryInitial time.Duration
	retryMax     time.Duration
	maxJSON      int64
	maxDownload  int64
	stall        time.Duration
	observe      func(Call)
	log          *slog.Logger
}

// New checks cfg and returns a client. It makes no request.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL, cfg.AllowPlainHTTP)
	if err != nil {
		return nil, err
	}
	if err := checkHeaderValue("User", cfg.User); err != nil {
		return nil, err
	}
	apiKey := cfg.APIKey.Reveal()
	if err := checkHeaderValue("APIKey", apiKey); err != nil {
		return nil, err
	}
	// The server splits the key on its first colon into key name and password;
	// a key without one is refused as "Invalid user or APIKey", which would
	// send an operator looking at the wrong thing.
	name, password, ok := strings.Cut(apiKey, ":")
	if !ok {
		return nil, errors.New("assemblyline: APIKey has no ':'; Assemblyline expects \"<key_name>:<password>\" and splits it on the first colon")
	}
	if name == "" || password == "" {
		return nil, errors.New("assemblyline: APIKey has an empty key name or password around its first ':'; Assemblyline expects \"<key_name>:<password>\"")
	}
	if cfg.MaxJSONBytes < 0 || cfg.MaxDownloadBytes < 0 || cfg.StallTimeout < 0 || cfg.RetryInitial < 0 || cfg.RetryMax < 0 {
		return nil, errors.New("assemblyline: negative size or duration in Config")
	}

	c := &Client{
		base:         base,
		user:         cfg.User,
		apiKey:       apiKey,
		secrets:      []string{apiKey},
		gate:         cfg.Gate,
		maxRetries:   cfg.MaxRetries,
		retryInitial: cfg.RetryInitial,
		retryMax:     cfg.RetryMax,
		maxJSON:      cfg.MaxJSONBytes,
		maxDownload:  cfg.MaxDownloadBytes,
		stall:        cfg.StallTimeout,
		observe:      cfg.Observe,
		log:          cfg.Logger,
	}
	// Scrub the password alone too, in case something echoes it without the
	// name; very short passwords are left alone, they would mangle messages.
	if len(password) >= 8 {
		c.secrets = append(c.secrets, password)
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.retryInitial == 0 {
		c.retryInitial = DefaultRetryInitial
	}
	if c.retryMax == 0 {
		c.retryMax = DefaultRetryMax
	}
	if c.retryMax < c.retryInitial {
		c.retryMax = c.retryInitial
	}
	if c.maxJSON == 0 {
		c.maxJSON = DefaultMaxJSONBytes
	}
	if c.stall == 0 {
		c.stall = DefaultStallTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}

	if cfg.HTTPClient != nil {
		if cfg.InsecureSkipVerify || cfg.CAFile != "" {
			return nil, errors.New("assemblyline: InsecureSkipVerify and CAFile configure the default HTTP client; they cannot be combined with HTTPClient")
		}
		hc := *cfg.HTTPClient
		c.hc = &hc
	} else {
		tlsConf, err := tlsConfig(cfg.InsecureSkipVerify, cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsConf
		tr.MaxIdleConnsPerHost = 32 // the default 2 would reconnect for most calls of a busy stage
		c.hc = &http.Client{Transport: tr}
	}
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// parseBaseURL validates the base URL and returns it without a trailing slash.
// Errors never quote the URL: it could carry credentials someone pasted into it.
func parseBaseURL(raw string, allowPlain bool) (string, error) {
	if raw == "" {
		return "", errors.New("assemblyline: BaseURL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("assemblyline: BaseURL does not parse: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("assemblyline: BaseURL must start with https:// (or http://)")
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", errors.New("assemblyline: BaseURL has no host")
	}
	if u.User != nil {
		return "", errors.New("assemblyline: BaseURL must not contain credentials; use User and APIKey")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", errors.New("assemblyline: BaseURL must not have a query or fragment")
	}
	if u.Scheme == "http" && !allowPlain && !netaddr.IsLoopback(u.Hostname()) {
		return "", fmt.Errorf("assemblyline: refusing to send the API key in clear over http:// to %s; use https:// or set AllowPlainHTTP", u.Host)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// checkHeaderValue refuses values net/http would reject or mangle, with a
// message that does not repeat the value.
func checkHeaderValue(field, v string) error {
	if v == "" {
		return fmt.Errorf("assemblyline: %s is empty", field)
	}
	if strings.TrimSpace(v) != v {
		return fmt.Errorf("assemblyline: %s has leading or trailing white space", field)
	}
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b == 0x7f {
			return fmt.Errorf("assemblyline: %s contains a control character", field)
		}
	}
	return nil
}

func tlsConfig(insecure bool, caFile string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	if caFile == "" {
		return conf, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("assemblyline: reading CAFile: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("assemblyline: CAFile %s holds no PEM certificate", caFile)
	}
	conf.RootCAs = pool
	return conf, nil
}

// redact scrubs the API key from text that came from the server or from a
// proxy, which might echo request headers back. Text is often cut short (an
// excerpt of a body, a quoted identifier), so a tail that starts the key is
// scrubbed too; redact must run before any shortening.
func (c *Client) redact(s string) string {
	return secret.ScrubCut(s, c.secrets...)
}

// quote prepares a server-provided string for an error message.
func (c *Client) quote(s string) string { return printable(c.redact(s)) }

// excerpt prepares the start of a body for an error message.
func (c *Client) excerpt(head []byte) string { return excerpt([]byte(c.redact(string(head)))) }

// String describes the config with the API key redacted.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("assemblyline.Config{BaseURL: ")
	b.WriteString(secret.MaskURL(c.BaseURL))
	fmt.Fprintf(&b, ", User: %q, APIKey: %q", c.User, c.APIKey)
	if c.HTTPClient != nil {
		b.WriteString(", HTTPClient: custom")
	}
	fmt.Fprintf(&b, ", InsecureSkipVerify: %t, CAFile: %q, AllowPlainHTTP: %t, Gate: %t", c.InsecureSkipVerify, c.CAFile, c.AllowPlainHTTP, c.Gate != nil)
	fmt.Fprintf(&b, ", MaxRetries: %d, RetryInitial: %s, RetryMax: %s, MaxJSONBytes: %d, MaxDownloadBytes: %d, StallTimeout: %s}",
		c.MaxRetries, c.RetryInitial, c.RetryMax, c.MaxJSONBytes, c.MaxDownloadBytes, c.StallTimeout)
	return b.String()
}

// Format makes every fmt verb, %#v and %d included, print String, so no
// verb walks the fields and prints the key.
func (c Config) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// MarshalJSON encodes the settings without the key, the URL's user
// information masked.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config // without methods, so json does not recurse
	p := plain(c)
	p.BaseURL = secret.MaskURL(p.BaseURL)
	return json.Marshal(p)
}

// LogValue lets slog log a Config without its key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", secret.MaskURL(c.BaseURL)),
		slog.String("user", c.User),
		slog.Any("api_key", c.APIKey),
		slog.Bool("insecure_skip_verify", c.InsecureSkipVerify),
		slog.String("ca_file", c.CAFile),
		slog.Bool("allow_plain_http", c.AllowPlainHTTP),
		slog.Int("max_retries", c.MaxRetries),
		slog.Int64("max_json_bytes", c.MaxJSONBytes),
		slog.Int64("max_download_bytes", c.MaxDownloadBytes),
		slog.Duration("stall_timeout", c.StallTimeout),
	)
}

// String names the server and user, never the key.
func (c *Client) String() string {
	return fmt.Sprintf("assemblyline.Client{BaseURL: %s, User: %q}", c.base, c.user)
}

// Format makes every fmt verb print String, so the key in the unexported
// fields is never printed.
func (c *Client) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// LogValue lets slog log a Client without its key.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", c.base), slog.String("user", c.user))
}
