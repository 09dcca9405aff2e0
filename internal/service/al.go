package service

import (
	"log/slog"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/quota"
	"github.com/alharvest/alharvest/internal/secret"
)

// ALClient builds an Assemblyline client from the configuration, for the
// commands that call Assemblyline without the rest of a stage (check,
// dry run). gate may be nil (no limit beyond the server's quota).
func ALClient(cfg *config.Config, gate *quota.Limiter, log *slog.Logger) (*assemblyline.Client, error) {
	c := alConfig(cfg, log)
	if gate != nil {
		c.Gate = gate
	}
	return assemblyline.New(c)
}

// alConfig is the Assemblyline client's configuration from alharvest's,
// without a gate or an observer: those differ between a stage and a
// one-off command.
func alConfig(cfg *config.Config, log *slog.Logger) assemblyline.Config {
	return assemblyline.Config{
		BaseURL:            cfg.AL.URL,
		User:               cfg.AL.User,
		APIKey:             secret.String(cfg.AL.APIKey),
		InsecureSkipVerify: !cfg.AL.VerifyTLS,
		CAFile:             cfg.AL.CAFile,
		AllowPlainHTTP:     cfg.AL.AllowHTTP,
		MaxRetries:         cfg.AL.MaxRetries,
		MaxJSONBytes:       cfg.AL.MaxJSONBytes,
		MaxDownloadBytes:   cfg.AL.MaxDownloadBytes,
		Logger:             log,
	}
}
