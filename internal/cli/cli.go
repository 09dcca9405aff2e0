// Package cli is the command layer every alharvest binary shares. A program
// is a Command: either one thing to do (searcher, sbom, output-init) or a
// table of subcommands (alharvest, alsim), nested where a word groups verbs
// (alharvest dlq list). The layer
//
//   - answers --version (anywhere before "--") with one line on stdout;
//   - prints help on stdout when it is asked for (-h, --help, `help CMD`),
//     the overview short and each command's flags on its own page;
//   - refuses what it does not understand — an unknown command, a stray
//     argument, a bad flag — with one line on stderr and exit 2, before the
//     command touches anything;
//   - turns the error a command returns into the exit status
//     (internal/exitcode) and prints it once, secrets scrubbed.
//
// Adding a subcommand is one entry in its parent's Commands.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/secret"
	"github.com/alharvest/alharvest/internal/version"
)

// Command is a program or one of its subcommands.
type Command struct {
	// Name is the word that selects it (the binary's name for a program).
	Name string
	// Args names the positional arguments in the usage line, e.g.
	// "SID|SHA256..."; MinArgs and MaxArgs bound their number (MaxArgs < 0:
	// no bound). All zero: the command takes none.
	Args             string
	MinArgs, MaxArgs int
	// Synopsis is the one line the parent's overview shows.
	Synopsis string
	// Help is what the command's own help page says under its usage line.
	Help string
	// Run does the work; it parses c.Args with Call.Parse (or Call.Parsed
	// after config.Load) first. Nil for a group.
	Run func(c *Call) error
	// Commands are the subcommands, in the order the overview lists them.
	Commands []*Command
	// Default names the subcommand run when no argument or only flags are
	// given (alharvest runs "run"); empty: the overview, exit 2.
	Default string
	// Hidden keeps a subcommand out of the overview (an internal helper).
	Hidden bool
}

// Call is one invocation of a command.
type Call struct {
	Ctx context.Context
	// Path is how the user called it ("alharvest dlq list"), the prefix of
	// its messages.
	Path string
	// Args are the command's arguments; after Parse, the positional ones.
	Args           []string
	Stdout, Stderr io.Writer

	cmd     *Command
	page    string // the command whose -h the hints name, when not Path
	secrets []string
}

// helpHint is how the user gets this command's help page.
func (c *Call) helpHint() string {
	if c.page != "" {
		return c.page + " -h"
	}
	return c.Path + " -h"
}

// Secrets registers values to scrub from the error the command returns.
func (c *Call) Secrets(s ...string) { c.secrets = append(c.secrets, s...) }

// errHelpShown ends a call whose help was printed as asked: exit 0.
var errHelpShown = exitcode.With(exitcode.OK, nil)

// Flags wraps a command's flag declarations for a parser that builds its
// own FlagSet (config.Load): the flag package must print nothing itself, so
// that help goes to stdout and an error to stderr as one line.
func (c *Call) Flags(declare func(fs *flag.FlagSet)) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		quiet(fs)
		if declare != nil {
			declare(fs)
		}
	}
}

func quiet(fs *flag.FlagSet) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
}

// Parse parses c.Args with fs and checks the positional arguments; see
// Parsed.
func (c *Call) Parse(fs *flag.FlagSet) error {
	quiet(fs)
	return c.Parsed(fs, fs.Parse(c.Args))
}

// Parsed finishes a parse done elsewhere (config.Load, with Flags):
// on -h it prints the help page to stdout and returns an error that exits
// 0 silently; a flag or configuration error becomes a usage error (exit 2);
// then the positional arguments are checked against the command's bounds
// and left in c.Args. A non-nil result is what Run returns.
func (c *Call) Parsed(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		c.help(c.Stdout, fs)
		return errHelpShown
	}
	if err != nil && isFlagSyntax(err) {
		return exitcode.Use(fmt.Errorf("%w (see '%s')", err, c.helpHint()))
	}
	// The flags parsed; a stray argument is the first thing to point out
	// (a configuration error may well follow from it).
	args := fs.Args()
	cmd := c.cmd
	switch {
	case len(args) < cmd.MinArgs:
		return exitcode.Use(fmt.Errorf("missing %s (see '%s')", cmd.Args, c.helpHint()))
	case cmd.MaxArgs >= 0 && len(args) > cmd.MaxArgs:
		return exitcode.Use(fmt.Errorf("unexpected argument %q (see '%s')", args[cmd.MaxArgs], c.helpHint()))
	}
	if err != nil {
		return exitcode.Use(err)
	}
	c.Args = args
	return nil
}

// isFlagSyntax tells the flag package's own errors from a configuration
// check's, which name their variable and need no pointer to the help.
func isFlagSyntax(err error) bool {
	s := err.Error()
	for _, p := range []string{"flag provided but not defined", "flag needs an argument", "bad flag syntax", "invalid value", "invalid boolean"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// help prints a command's page: usage line, text, flags.
func (c *Call) help(w io.Writer, fs *flag.FlagSet) {
	usage := c.Path
	if c.page != "" {
		usage = c.page
	}
	if fs != nil && hasFlags(fs) {
		usage += " [flags]"
	}
	if c.cmd.Args != "" {
		usage += " " + c.cmd.Args
	}
	fmt.Fprintf(w, "Usage: %s\n", usage)
	if c.cmd.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.cmd.Help, "\n"))
	} else if c.cmd.Synopsis != "" {
		fmt.Fprintf(w, "\n%s\n", c.cmd.Synopsis)
	}
	if fs == nil || !hasFlags(fs) {
		return
	}
	// The command's own flags first, then the settings every command of
	// its binary shares, each of which an environment variable also sets.
	own := flag.NewFlagSet("", flag.ContinueOnError)
	settings := flag.NewFlagSet("", flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		to := own
		if strings.Contains(f.Usage, "[$") {
			to = settings
		}
		to.Var(f.Value, f.Name, f.Usage)
		to.Lookup(f.Name).DefValue = f.DefValue
	})
	for _, part := range []struct {
		title string
		fs    *flag.FlagSet
	}{{"Flags", own}, {"Settings (flag or environment variable)", settings}} {
		if hasFlags(part.fs) {
			fmt.Fprintf(w, "\n%s:\n", part.title)
			part.fs.SetOutput(w)
			part.fs.PrintDefaults()
		}
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// Main runs the program root with args (os.Args[1:]) until it returns or
// SIGINT/SIGTERM cancels its context, and returns the exit status.
func Main(root *Command, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, root, args, stdout, stderr)
}

// Run is Main with the context given.
func Run(ctx context.Context, root *Command, args []string, stdout, stderr io.Writer) int {
	if version.IsFlag(args) {
		fmt.Fprintln(stdout, root.Name, version.Get())
		return exitcode.OK
	}
	c := &Call{Ctx: ctx, Path: root.Name, Stdout: stdout, Stderr: stderr}
	err := dispatch(c, root, args)
	code := exitcode.Of(err)
	if msg := errorText(err); msg != "" {
		fmt.Fprintf(stderr, "%s: %s\n", c.Path, secret.Scrub(msg, c.secrets...))
	}
	return code
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// dispatch finds the command args select under cmd and runs it.
func dispatch(c *Call, cmd *Command, args []string) error {
	c.cmd = cmd
	if len(cmd.Commands) == 0 {
		c.Args = args
		return cmd.Run(c)
	}
	if len(args) > 0 && isHelp(args[0]) {
		overview(c.Stdout, c.Path, cmd)
		return errHelpShown
	}
	if len(args) > 0 && args[0] == "help" && isRoot(c.Path) {
		return helpCommand(c, cmd, args[1:])
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if cmd.Default == "" {
			if len(args) == 0 {
				return exitcode.Use(fmt.Errorf("which command? (%s; see '%s -h')", names(cmd), c.Path))
			}
			return exitcode.Use(fmt.Errorf("flag %s before a command (%s; see '%s -h')", args[0], names(cmd), c.Path))
		}
		// The default keeps its parent's name in messages; its help page
		// is under its own.
		sub := find(cmd, cmd.Default)
		c.page = c.Path + " " + sub.Name
		return runAs(c, sub, args)
	}
	sub := find(cmd, args[0])
	if sub == nil {
		hint := ""
		if s := closest(cmd, args[0]); s != "" {
			hint = fmt.Sprintf("; did you mean %q?", s)
		}
		return exitcode.Use(fmt.Errorf("unknown command %q%s (see '%s -h')", args[0], hint, c.Path))
	}
	c.Path += " " + sub.Name
	return dispatch(c, sub, args[1:])
}

// runAs runs a default subcommand under its parent's name.
func runAs(c *Call, sub *Command, args []string) error {
	c.cmd = sub
	c.Args = args
	if len(sub.Commands) > 0 {
		return dispatch(c, sub, args)
	}
	return sub.Run(c)
}

// isRoot reports whether path names a program rather than one of its
// subcommands: only a program answers `help` and lists it.
func isRoot(path string) bool { return !strings.Contains(path, " ") }

// helpCommand is `PROGRAM help [CMD [SUB]]`: the overview, or the command's
// page (it runs the command with -h, which parses nothing else).
func helpCommand(c *Call, cmd *Command, args []string) error {
	for len(args) > 0 {
		sub := find(cmd, args[0])
		if sub == nil {
			return exitcode.Use(fmt.Errorf("no help for %q: unknown command (see '%s help')", args[0], c.Path))
		}
		c.Path += " " + sub.Name
		cmd, args = sub, args[1:]
	}
	c.cmd = cmd
	if len(cmd.Commands) > 0 {
		overview(c.Stdout, c.Path, cmd)
		return errHelpShown
	}
	c.Args = []string{"-h"}
	return cmd.Run(c)
}

func find(cmd *Command, name string) *Command {
	for _, s := range cmd.Commands {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func names(cmd *Command) string {
	var out []string
	for _, s := range cmd.Commands {
		if !s.Hidden {
			out = append(out, s.Name)
		}
	}
	return strings.Join(out, ", ")
}

// overview prints a group's short page: what it is, its commands, where
// the details are.
func overview(w io.Writer, path string, cmd *Command) {
	usage := path + " COMMAND [flags]"
	if cmd.Default != "" {
		usage = path + " [COMMAND] [flags]"
	}
	fmt.Fprintf(w, "Usage: %s\n", usage)
	if cmd.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(cmd.Help, "\n"))
	}
	fmt.Fprint(w, "\nCommands:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range cmd.Commands {
		if s.Hidden {
			continue
		}
		name := s.Name
		if s.Args != "" {
			name += " " + s.Args
		}
		if len(s.Commands) > 0 {
			name += " " + strings.ReplaceAll(names(s), ", ", "|")
		}
		syn := s.Synopsis
		if s.Name == cmd.Default {
			syn += " (the default)"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, syn)
	}
	if isRoot(path) {
		fmt.Fprintf(tw, "  help [COMMAND]\tthis overview, or a command's flags\n")
	}
	tw.Flush()
	root, rest, _ := strings.Cut(path, " ")
	if rest != "" {
		rest += " "
	}
	fmt.Fprintf(w, "\n'%s help %sCOMMAND' or '%s COMMAND -h' shows a command's flags.\n", root, rest, path)
}

// closest is the subcommand within two edits of a mistyped name, if one.
func closest(cmd *Command, typed string) string {
	best, bestD := "", 3
	for _, s := range cmd.Commands {
		if s.Hidden {
			continue
		}
		if d := distance(typed, s.Name); d < bestD {
			best, bestD = s.Name, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b (with adjacent swaps
// counted as one edit, the commonest typo).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// IsTerminal reports whether w is a terminal (a live status line, screen
// redraws and colours only make sense there).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Width is w's width in columns when it is a terminal, 0 otherwise.
func Width(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return cols
}
