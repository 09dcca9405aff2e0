package logging_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/logging"
)

func TestSecretsAreScrubbedEverywhere(t *testing.T) {
	const secret = "keyname:S3cretPassw0rd"
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log := logging.New(logging.Config{Level: "debug", Format: format, Output: &buf, Secrets: []string{secret, "S3cretPassw0rd"}})
			log.Info("message with "+secret, "attr", "value "+secret)
			log.Debug("error attr", "err", fmt.Errorf("wrapped: %w", errors.New("inner "+secret)))
			log.With("ctx", "S3cretPassw0rd").Warn("with attrs")
			log.Error("group", slog.Group("g", slog.String("k", secret)))
			log.Info("any", "v", []string{secret})
			out := buf.String()
			if strings.Contains(out, "S3cretPassw0rd") {
				t.Fatalf("secret leaked:\n%s", out)
			}
			if strings.Count(out, "[REDACTED]") < 6 {
				t.Errorf("expected redaction markers:\n%s", out)
			}
		})
	}
}

func TestLevelAndFormat(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(logging.Config{Level: "warn", Format: "json", Output: &buf, Binary: "scorer"})
	log.Info("hidden")
	log.Warn("shown", "sid", "abc")
	out := buf.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, `"msg":"shown"`) || !strings.Contains(out, `"bin":"scorer"`) {
		t.Errorf("output: %s", out)
	}
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("want one line per event: %q", out)
	}
}
