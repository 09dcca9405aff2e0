package service

import (
	"log/slog"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/quota"
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
// with a logger but without a gate or an observer: those differ between a
// stage and a one-off command.
func alConfig(cfg *config.Config, log *slog.Logger) assemblyline.Config {
	c := cfg.AL
	c.Logger = log
	return c
}
