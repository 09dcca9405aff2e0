package config

import (
	"fmt"
	"strings"
	"time"
)

// dataSync declares DATA_SYNC: how the one-command mode's embedded
// JetStream syncs its store. "always" (the default) fsyncs every write
// before acknowledging it, so acknowledged work survives a power loss;
// a duration (e.g. 1s) syncs in the background that often instead, which
// is much faster but may lose that much acknowledged work in a machine
// crash. c.DataSync is zero for always.
func dataSync(l *loader, c *Config) {
	var v string
	l.str(&v, "DATA_SYNC", "always", "how the embedded JetStream syncs its store: always (every write fsynced before it is acknowledged; survives power loss) or an interval such as 1s (faster; a machine crash may lose that much)", false)
	l.finally(func() error {
		if strings.EqualFold(strings.TrimSpace(v), "always") {
			c.DataSync = 0
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("DATA_SYNC=%q: want always or a positive duration such as 1s", v)
		}
		c.DataSync = d
		return nil
	})
}
