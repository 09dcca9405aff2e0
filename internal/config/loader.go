// The loader every group declares its settings on: environment, then flags.

package config

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// loader collects the settings of one binary while the groups declare them,
// with the errors and the checks that run after parsing.
type loader struct {
	binary string
	fs     *flag.FlagSet
	lookup func(string) (string, bool)
	vars   []Var
	errs   []error
	checks []func() error
	// explicit holds the settings the environment gave.
	explicit map[string]bool
}

func newLoader(binary string, lookup func(string) (string, bool)) *loader {
	fs := flag.NewFlagSet(binary, flag.ContinueOnError)
	return &loader{binary: binary, fs: fs, lookup: lookup, explicit: map[string]bool{}}
}

func flagName(env string) string { return strings.ReplaceAll(strings.ToLower(env), "_", "-") }

// add declares a setting and returns its flag name and its value from the
// environment, or def. A variable set to the empty string counts as unset —
// compose files often pass ${VAR:-} through — except where emptyMeansOff.
func (l *loader) add(env, def, usage string, secret, emptyMeansOff bool) (string, string) {
	l.vars = append(l.vars, Var{Env: env, Flag: flagName(env), Default: def, Usage: usage, Secret: secret})
	v, ok := l.lookup(env)
	if !ok || (v == "" && !emptyMeansOff) {
		v = def
	} else {
		l.explicit[env] = true
	}
	return flagName(env), v
}

func (l *loader) str(p *string, env, def, usage string, secret bool) {
	l.strOpt(p, env, def, usage, secret, false)
}

// strOpt is str for a setting where an empty value switches something off.
func (l *loader) strOpt(p *string, env, def, usage string, secret, emptyMeansOff bool) {
	name, v := l.add(env, def, usage, secret, emptyMeansOff)
	help := usage + " [$" + env + "]"
	if secret {
		// The flag package prints a flag's default in -h; a secret from the
		// environment must not appear there.
		*p = v
		l.fs.Func(name, help, func(s string) error { *p = s; return nil })
		return
	}
	l.fs.StringVar(p, name, v, help)
}

func (l *loader) boolean(p *bool, env string, def bool, usage string) {
	name, v := l.add(env, strconv.FormatBool(def), usage, false, false)
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want true or false", env, v))
	}
	l.fs.BoolVar(p, name, b, usage+" [$"+env+"]")
}

func (l *loader) integer(p *int, env string, def int, usage string) {
	name, v := l.add(env, strconv.Itoa(def), usage, false, false)
	n, err := strconv.Atoi(v)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want an integer", env, v))
	}
	l.fs.IntVar(p, name, n, usage+" [$"+env+"]")
}

func (l *loader) int64(p *int64, env string, def int64, usage string) {
	name, v := l.add(env, strconv.FormatInt(def, 10), usage, false, false)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want an integer", env, v))
	}
	l.fs.Int64Var(p, name, n, usage+" [$"+env+"]")
}

func (l *loader) duration(p *time.Duration, env string, def time.Duration, usage string) {
	name, v := l.add(env, def.String(), usage, false, false)
	d, err := time.ParseDuration(v)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want a duration such as 30s or 5m", env, v))
	}
	l.fs.DurationVar(p, name, d, usage+" [$"+env+"]")
}

// finally registers a check that runs after flags are parsed.
func (l *loader) finally(f func() error) { l.checks = append(l.checks, f) }

func (l *loader) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage of %s (every flag can also be set with the environment variable in brackets):\n", l.binary)
	l.fs.PrintDefaults()
}
