package helm_test

import (
	"log/slog"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// Helm's loader logs at info level for every chart load (the alert
	// rules are a symbolic link to deploy/prometheus/alerts.yml); keep
	// warnings and errors.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(m.Run())
}
