// Package logging sets up log/slog the way operators expect: JSON lines in
// containers, readable text on a terminal, and secrets scrubbed from every
// record as a last line of defence.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/alharvest/alharvest/internal/secret"
	"golang.org/x/term"
)

// Config is what New builds a logger from (LOG_LEVEL, LOG_FORMAT and the
// process around them).
type Config struct {
	// Level is debug, info, warn or error.
	Level string
	// Format is json, text or auto (text when Output is a terminal).
	Format string
	// Output defaults to os.Stderr.
	Output io.Writer
	// Secrets are replaced by secret.Mask wherever they appear in a
	// record: in the message, in string attributes and in error texts.
	Secrets []string
	// Binary is added to every record as "bin".
	Binary string
}

// New returns a logger for cfg.
func New(cfg Config) *slog.Logger {
	out := cfg.Output
	if out == nil {
		out = os.Stderr
	}
	var level slog.Level
	switch strings.ToLower(cfg.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: level}
	format := strings.ToLower(cfg.Format)
	if format == "" || format == "auto" {
		format = "json"
		if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(out, ho)
	} else {
		h = slog.NewJSONHandler(out, ho)
	}
	secrets := make([]string, 0, len(cfg.Secrets))
	for _, s := range cfg.Secrets {
		// Very short "secrets" would scrub ordinary words; real keys and
		// passwords are long.
		if len(s) >= 4 {
			secrets = append(secrets, s)
		}
	}
	if len(secrets) > 0 {
		h = &scrubber{next: h, secrets: secrets}
	}
	l := slog.New(h)
	if cfg.Binary != "" {
		l = l.With("bin", cfg.Binary)
	}
	return l
}

type scrubber struct {
	next    slog.Handler
	secrets []string
}

func (s *scrubber) Enabled(ctx context.Context, l slog.Level) bool { return s.next.Enabled(ctx, l) }

func (s *scrubber) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, secret.Scrub(r.Message, s.secrets...), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(s.attr(a))
		return true
	})
	return s.next.Handle(ctx, nr)
}

func (s *scrubber) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = s.attr(a)
	}
	return &scrubber{next: s.next.WithAttrs(clean), secrets: s.secrets}
}

func (s *scrubber) WithGroup(name string) slog.Handler {
	return &scrubber{next: s.next.WithGroup(name), secrets: s.secrets}
}

func (s *scrubber) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, secret.Scrub(v.String(), s.secrets...))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, ga := range g {
			out[i] = s.attr(ga)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, secret.Scrub(x.Error(), s.secrets...))
		case fmt.Stringer:
			return slog.String(a.Key, secret.Scrub(x.String(), s.secrets...))
		default:
			return slog.String(a.Key, secret.Scrub(fmt.Sprint(x), s.secrets...))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
