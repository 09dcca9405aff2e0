package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/exitcode"
)

// program is a small alharvest-like table; ran records what ran with which
// positional arguments.
func program(ran *[]string) *Command {
	leaf := func(name string, minArgs, maxArgs int, result error) *Command {
		return &Command{Name: name, Synopsis: name + " things", MinArgs: minArgs, MaxArgs: maxArgs,
			Args: map[bool]string{true: "ID...", false: ""}[maxArgs != 0],
			Run: func(c *Call) error {
				fs := flag.NewFlagSet(c.Path, flag.ContinueOnError)
				fs.Bool("json", false, "print JSON")
				secret := fs.String("token", "", "a secret")
				if err := c.Parse(fs); err != nil {
					return err
				}
				c.Secrets(*secret)
				*ran = append(*ran, c.Path+" "+strings.Join(c.Args, " "))
				return result
			}}
	}
	return &Command{
		Name:    "prog",
		Default: "run",
		Help:    "Does things.",
		Commands: []*Command{
			leaf("run", 0, 0, nil),
			leaf("status", 0, 0, nil),
			leaf("recollect", 1, -1, nil),
			leaf("fail", 0, 0, errors.New("it broke, token s3cret-t0ken")),
			leaf("deadletters", 0, 0, exitcode.With(exitcode.DeadLettered, nil)),
			leaf("badconfig", 0, 0, exitcode.Use(errors.New("AL_URL=\"x\": want https://"))),
			{Name: "dlq", Synopsis: "dead letters", Commands: []*Command{leaf("list", 0, 0, nil), leaf("replay", 0, 0, nil)}},
			{Name: "internal", Hidden: true, Run: func(c *Call) error { *ran = append(*ran, "internal"); return nil }},
		},
	}
}

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		ran    string // what ran, "" = nothing
		stdout string // a part of stdout, "" = empty
		stderr string // a part of stderr (one line), "" = empty
	}{
		{"no arguments: the default", nil, 0, "prog ", "", ""},
		{"flags only: the default", []string{"-json"}, 0, "prog ", "", ""},
		{"a command", []string{"status", "-json"}, 0, "prog status ", "", ""},
		{"unknown command", []string{"stauts"}, 2, "", "", `prog: unknown command "stauts"; did you mean "status"?`},
		{"unknown command, nothing close", []string{"frobnicate"}, 2, "", "", `unknown command "frobnicate" (see 'prog -h')`},
		{"stray argument to the default", []string{"-json", "extra"}, 2, "", "", `unexpected argument "extra" (see 'prog run -h')`},
		{"stray argument to a command", []string{"status", "extra"}, 2, "", "", `prog status: unexpected argument "extra"`},
		{"missing argument", []string{"recollect"}, 2, "", "", "prog recollect: missing ID..."},
		{"arguments where taken", []string{"recollect", "a", "b"}, 0, "prog recollect a b", "", ""},
		{"bad flag", []string{"status", "-nope"}, 2, "", "", "flag provided but not defined: -nope (see 'prog status -h')"},
		{"-h: the overview on stdout", []string{"-h"}, 0, "", "Commands:", ""},
		{"--help", []string{"--help"}, 0, "", "recollect ID...", ""},
		{"help", []string{"help"}, 0, "", "help [COMMAND]", ""},
		{"help COMMAND", []string{"help", "status"}, 0, "", "Usage: prog status [flags]", ""},
		{"COMMAND -h", []string{"status", "-h"}, 0, "", "-json", ""},
		{"help of a nested command", []string{"help", "dlq", "list"}, 0, "", "Usage: prog dlq list [flags]", ""},
		{"help of an unknown command", []string{"help", "nope"}, 2, "", "", `no help for "nope"`},
		{"a group without its verb", []string{"dlq"}, 2, "", "", "prog dlq: which command? (list, replay"},
		{"a group's unknown verb", []string{"dlq", "lsit"}, 2, "", "", `did you mean "list"?`},
		{"a group's overview", []string{"dlq", "-h"}, 0, "", "replay  replay things\n\n'prog help dlq COMMAND'", ""},
		{"a group in the overview", []string{"-h"}, 0, "", "dlq list|replay", ""},
		{"nested command", []string{"dlq", "replay"}, 0, "prog dlq replay ", "", ""},
		{"--version", []string{"status", "--version"}, 0, "", "prog devel", ""},
		{"a failure: 1, scrubbed", []string{"fail", "-token", "s3cret-t0ken"}, 1, "prog fail ", "", "prog fail: it broke, token [REDACTED]"},
		{"dead letters: 3, said already", []string{"deadletters"}, 3, "prog deadletters ", "", ""},
		{"bad configuration: 2", []string{"badconfig"}, 2, "prog badconfig ", "", `prog badconfig: AL_URL="x": want https://`},
		{"a hidden command runs", []string{"internal"}, 0, "internal", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), program(&ran), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout %q\nstderr %q", code, tc.code, stdout.String(), stderr.String())
			}
			if got := strings.Join(ran, ";"); got != tc.ran {
				t.Errorf("ran %q, want %q", got, tc.ran)
			}
			check := func(what, got, want string) {
				switch {
				case want == "" && got != "":
					t.Errorf("%s %q, want nothing", what, got)
				case !strings.Contains(got, want):
					t.Errorf("%s %q, want it to hold %q", what, got, want)
				}
			}
			check("stdout", stdout.String(), tc.stdout)
			check("stderr", stderr.String(), tc.stderr)
			if n := strings.Count(stderr.String(), "\n"); n > 1 {
				t.Errorf("stderr is %d lines, want one:\n%s", n, stderr.String())
			}
		})
	}
}

// TestOverviewHidesHidden: the overview lists every visible command and
// marks the default.
func TestOverviewHidesHidden(t *testing.T) {
	var ran []string
	var stdout bytes.Buffer
	Run(context.Background(), program(&ran), []string{"help"}, &stdout, &bytes.Buffer{})
	text := stdout.String()
	if strings.Contains(text, "internal") {
		t.Errorf("the overview shows a hidden command:\n%s", text)
	}
	if !strings.Contains(text, "run things (the default)") {
		t.Errorf("the overview does not mark the default:\n%s", text)
	}
}

func TestSingleCommandProgram(t *testing.T) {
	ran := 0
	prog := &Command{Name: "one", Help: "Does one thing.", Run: func(c *Call) error {
		fs := flag.NewFlagSet(c.Path, flag.ContinueOnError)
		fs.Bool("once", false, "just once")
		if err := c.Parse(fs); err != nil {
			return err
		}
		ran++
		return nil
	}}
	for _, tc := range []struct {
		args   []string
		code   int
		ran    int
		stdout string
	}{
		{nil, 0, 1, ""},
		{[]string{"-once"}, 0, 1, ""},
		{[]string{"stray"}, 2, 0, ""},
		{[]string{"-h"}, 0, 0, "Usage: one [flags]\n\nDoes one thing.\n\nFlags:\n  -once"},
		{[]string{"--version"}, 0, 0, "one "},
	} {
		ran = 0
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), prog, tc.args, &stdout, &stderr)
		if code != tc.code || ran != tc.ran || !strings.HasPrefix(stdout.String(), tc.stdout) || (tc.stdout == "" && stdout.Len() > 0) {
			t.Errorf("%q: exit %d ran %d stdout %q stderr %q; want exit %d ran %d stdout %q", tc.args, code, ran, stdout.String(), stderr.String(), tc.code, tc.ran, tc.stdout)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"status", "status", 0}, {"stauts", "status", 1}, {"stats", "status", 1}, {"dlg", "dlq", 1}, {"x", "status", 6},
	} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
