package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// secretFile declares fileEnv (e.g. NATS_PASSWORD_FILE): the secret *p is
// read from that file instead, the way Docker and Kubernetes hand out
// secrets, so it is neither in the environment (readable in
// /proc/<pid>/environ and in `docker inspect`) nor on the command line
// (readable by every user in the process list). Giving both is an error;
// surrounding white space (a trailing newline) is dropped.
func (l *loader) secretFile(p *string, env, fileEnv string) {
	var path string
	l.str(&path, fileEnv, "", "read "+env+" from this file (docker secrets)", false)
	l.finally(func() error {
		if path == "" {
			return nil
		}
		if *p != "" {
			return fmt.Errorf("set %s or %s, not both", env, fileEnv)
		}
		var err error
		*p, err = readSecretFile(fileEnv, path)
		return err
	})
}

// readSecretFile reads the secret in the file at path, which fileEnv named,
// without its surrounding white space (a trailing newline). An empty file is
// an error: it is a mistake, never a wish for no secret.
func readSecretFile(fileEnv, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The path is not secret; the content never appears.
		return "", fmt.Errorf("%s: %w", fileEnv, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", fileEnv, path)
	}
	return s, nil
}

// commandLineSecrets returns a warning for every secret given as a flag:
// a process's arguments are visible to every user of the machine (ps,
// /proc/<pid>/cmdline) for as long as it runs.
func (l *loader) commandLineSecrets() []string {
	var out []string
	for _, v := range l.vars {
		if !v.Secret || l.fs.Lookup(v.Flag) == nil {
			continue
		}
		set := false
		l.fs.Visit(func(f *flag.Flag) {
			if f.Name == v.Flag {
				set = true
			}
		})
		if set {
			out = append(out, fmt.Sprintf("--%s was given on the command line, where every user of this machine can read it in the process list; use %s_FILE or the %s environment variable instead", v.Flag, v.Env, v.Env))
		}
	}
	return out
}

// Warnings are problems with the configuration that do not stop a start,
// such as a secret given on the command line; the caller logs them.
func (c *Config) Warnings() []string { return c.warnings }
