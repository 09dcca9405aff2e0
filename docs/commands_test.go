package docs

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// command is one simple command a page shows: its environment assignments
// and its words, with where it was found.
type command struct {
	where string // page:line
	env   []string
	words []string
}

// shellBlocks are the fence info strings whose every line is a command.
var shellBlocks = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true}

// commands returns every simple command in the pages' fenced code: each line
// of a shell block, and each "$ "-prompted line of an untyped block.
// A line is split at ;, &&, ||, | and &; "export A=1 B=2" counts as
// assignments only.
func commands(t *testing.T, ps []page) []command {
	t.Helper()
	var out []command
	bins := ours(t)
	for _, p := range ps {
		out = append(out, inlineCommands(t, p, bins)...)
		in, info := false, ""
		for i, line := range strings.Split(p.text, "\n") {
			trimmed := strings.TrimSpace(line)
			if strings.HasPrefix(trimmed, "```") {
				if in {
					in = false
				} else {
					in, info = true, strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))
				}
				continue
			}
			if !in {
				continue
			}
			switch {
			case shellBlocks[info]:
			case info == "" && strings.HasPrefix(trimmed, "$ "):
				trimmed = strings.TrimPrefix(trimmed, "$ ")
			default:
				continue
			}
			where := fmt.Sprintf("%s:%d", p.path, i+1)
			words, err := split(trimmed)
			if err != nil {
				t.Errorf("%s: %v: %s", where, err, trimmed)
				continue
			}
			out = append(out, simpleCommands(where, words)...)
		}
	}
	return out
}

// simpleCommands separates each simple command's assignments from its words.
func simpleCommands(where string, words [][]string) []command {
	var out []command
	for _, simple := range words {
		c := command{where: where}
		for len(simple) > 0 && isAssignment(simple[0]) {
			c.env = append(c.env, simple[0])
			simple = simple[1:]
		}
		if len(simple) > 0 && simple[0] == "export" {
			c.env = append(c.env, simple[1:]...)
			simple = nil
		}
		c.words = withoutRedirections(simple)
		if len(c.env) > 0 || len(c.words) > 0 {
			out = append(out, c)
		}
	}
	return out
}

var codeSpanRe = regexp.MustCompile("`([^`\n]+)`")

// inlineCommands returns the commands of ours that a page shows in code
// spans in its prose, such as `searcher --once`: a span whose first word
// (after any assignments) is one of the binaries, followed by more words.
// Words in capitals are placeholders (`alharvest recollect SID`), and "|"
// between alternatives ends a command, so only what is literal is checked.
func inlineCommands(t *testing.T, p page, bins map[string]bool) []command {
	t.Helper()
	var out []command
	prose := fenceRe.ReplaceAllStringFunc(p.text, func(b string) string {
		return strings.Repeat("\n", strings.Count(b, "\n")) // keep line numbers
	})
	for i, line := range strings.Split(prose, "\n") {
		for _, m := range codeSpanRe.FindAllStringSubmatch(line, -1) {
			words, err := split(m[1])
			if err != nil || len(words) == 0 {
				continue
			}
			first := words[0]
			for len(first) > 0 && isAssignment(first[0]) {
				first = first[1:]
			}
			if len(first) < 2 || !(bins[first[0]] || first[0] == "go" && first[1] == "run") {
				continue
			}
			out = append(out, simpleCommands(fmt.Sprintf("%s:%d", p.path, i+1), words[:1])...)
		}
	}
	return out
}

// withoutRedirections drops "> file", "2>&1", "<file" and the like.
func withoutRedirections(words []string) []string {
	var out []string
	for i := 0; i < len(words); i++ {
		w := strings.TrimLeft(words[i], "0123456789")
		if !strings.HasPrefix(w, ">") && !strings.HasPrefix(w, "<") {
			out = append(out, words[i])
			continue
		}
		if strings.TrimLeft(w, "<>") == "" {
			i++ // the target is the next word
		}
	}
	return out
}

var assignmentRe = regexp.MustCompile(`^[A-Z][A-Z0-9_]*=`)

func isAssignment(w string) bool { return assignmentRe.MatchString(w) }

// split turns a shell line into simple commands of words: quotes removed,
// $(...) kept as one word, a # outside quotes starting a comment.
func split(line string) ([][]string, error) {
	var (
		out   [][]string
		words []string
		word  strings.Builder
		inW   bool
	)
	endWord := func() {
		if inW {
			words = append(words, word.String())
			word.Reset()
			inW = false
		}
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			out = append(out, words)
		}
		words = nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote")
			}
			word.WriteString(line[i+1 : i+1+j])
			inW = true
			i += j + 1
		case c == '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' {
					j++
				}
			}
			if j >= len(line) {
				return nil, fmt.Errorf("unterminated quote")
			}
			word.WriteString(line[i+1 : j])
			inW = true
			i = j
		case c == '$' && i+1 < len(line) && line[i+1] == '(':
			depth, j := 0, i+1
			for ; j < len(line); j++ {
				if line[j] == '(' {
					depth++
				} else if line[j] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			word.WriteString(line[i : j+1])
			inW = true
			i = j
		case c == '#' && !inW:
			endCmd()
			return out, nil
		case c == ' ' || c == '\t':
			endWord()
		case c == ';' || c == '|' || c == '&':
			endCmd()
			if i+1 < len(line) && (line[i+1] == c) {
				i++
			}
		default:
			word.WriteByte(c)
			inW = true
		}
	}
	endCmd()
	return out, nil
}

// ours are the module's binaries (cmd/*).
func ours(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			m[e.Name()] = true
		}
	}
	return m
}

// invocation is a command of ours: the binary and its arguments.
type invocation struct {
	command
	bin  string
	args []string
}

// resolve finds the binary of ours a command runs, directly (bin/scorer,
// alharvest), through go run ./cmd/<name>, or inside docker compose exec.
func resolve(c command, bins map[string]bool) (invocation, bool) {
	w := c.words
	if len(w) >= 3 && w[0] == "docker" && w[1] == "compose" {
		w = append([]string{"docker-compose"}, w[2:]...)
	}
	if len(w) >= 3 && w[0] == "docker-compose" && w[1] == "exec" {
		w = w[2:]
		for len(w) > 0 && strings.HasPrefix(w[0], "-") {
			w = w[1:]
		}
		if len(w) < 2 {
			return invocation{}, false
		}
		w = w[1:] // the service
	}
	if len(w) >= 3 && w[0] == "go" && w[1] == "run" && strings.HasPrefix(w[2], "./cmd/") {
		return invocation{c, strings.TrimPrefix(w[2], "./cmd/"), w[3:]}, true
	}
	if len(w) > 0 && bins[filepath.Base(w[0])] && !strings.Contains(w[0], "$") {
		return invocation{c, filepath.Base(w[0]), w[1:]}, true
	}
	return invocation{}, false
}

// help is what `<binary> <sub...> -h` printed, parsed.
type help struct {
	text  string
	flags map[string]bool // name -> takes a value
	env   map[string]bool
}

var (
	flagLineRe = regexp.MustCompile(`(?m)^\s{1,8}(-{1,2}[a-zA-Z0-9][a-zA-Z0-9-]*)(?:[ =]([a-zA-Z][a-zA-Z0-9.]*))?`)
	helpEnvRe  = regexp.MustCompile(`\[\$([A-Z][A-Z0-9_]*)\]`)
)

// helpCache runs each `<binary> <sub...> -h` once.
type helpCache struct {
	dir string
	mu  sync.Mutex
	m   map[string]help
}

// get returns the help of bin with the subcommand path sub. The binary runs
// in an empty directory with an environment of PATH and HOME only, so that
// an argument it does not take as a subcommand cannot reach anything.
func (h *helpCache) get(t *testing.T, bin string, sub []string) help {
	t.Helper()
	key := strings.Join(append([]string{bin}, sub...), " ")
	h.mu.Lock()
	defer h.mu.Unlock()
	if r, ok := h.m[key]; ok {
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(h.dir, bin), append(slices.Clone(sub), "-h")...)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir}
	out, _ := cmd.CombinedOutput() // -h exits 0 or 2 depending on the flag package's mood
	r := help{text: string(out), flags: map[string]bool{}, env: map[string]bool{}}
	for _, m := range flagLineRe.FindAllStringSubmatch(r.text, -1) {
		r.flags[strings.TrimLeft(m[1], "-")] = m[2] != ""
	}
	for _, m := range helpEnvRe.FindAllStringSubmatch(r.text, -1) {
		r.env[m[1]] = true
	}
	h.m[key] = r
	return r
}

// usage reports whether a help output is a usage text: it starts with a
// usage line, or lists flags.
func (r help) usage() bool { return strings.HasPrefix(r.text, "Usage:") || len(r.flags) > 0 }

// defaultRe finds, in a table of commands, the one that runs when none is
// named ("run ... (the default)").
var defaultRe = regexp.MustCompile(`(?m)^\s+([a-z][a-z-]*)\s.*\(the default\)\s*$`)

var (
	wordRe        = regexp.MustCompile(`^[a-z][a-z-]*$`)
	placeholderRe = regexp.MustCompile(`^[A-Z][A-Z0-9_.|]*$`)
)

// hasWord reports whether text mentions w as a word (a subcommand listed).
func hasWord(text, w string) bool {
	return regexp.MustCompile(`(^|[^a-zA-Z0-9-])` + regexp.QuoteMeta(w) + `($|[^a-zA-Z0-9-])`).MatchString(text)
}

// check verifies one invocation against the built binary's help: the
// subcommand path exists, each flag is one it lists (with its value taken
// when the flag takes one), and each variable set for it is one it reads.
func (h *helpCache) check(t *testing.T, inv invocation) {
	t.Helper()
	top := h.get(t, inv.bin, nil)
	if !top.usage() {
		t.Errorf("%s: %s -h printed no usage:\n%s", inv.where, inv.bin, top.text)
		return
	}
	// The subcommand path: leading words the parent's help names.
	var sub []string
	cur := top
	args := inv.args
	for len(args) > 0 && wordRe.MatchString(args[0]) && hasWord(cur.text, args[0]) {
		next := h.get(t, inv.bin, append(slices.Clone(sub), args[0]))
		if !next.usage() && (strings.TrimSpace(next.text) == "" || next.text == cur.text) {
			break // not a command of its own: a positional argument
		}
		sub = append(sub, args[0])
		cur, args = next, args[1:]
	}
	// Only flags, or nothing, after a table of commands: its default command.
	defaulted := false
	if m := defaultRe.FindStringSubmatch(cur.text); m != nil && len(cur.flags) == 0 &&
		(len(args) == 0 || strings.HasPrefix(args[0], "-")) {
		sub = append(sub, m[1])
		cur, defaulted = h.get(t, inv.bin, slices.Clone(sub)), true
	}
	name := strings.Join(append([]string{inv.bin}, sub...), " ")
	if len(sub) == 0 && len(args) > 0 && !strings.HasPrefix(args[0], "-") && !placeholderRe.MatchString(args[0]) {
		if why, ok := pending[inv.bin+" "+args[0]]; ok {
			t.Logf("%s: %s %s: %s comes from another branch", inv.where, inv.bin, args[0], why)
			return
		}
		t.Errorf("%s: %s has no subcommand %q (%s -h does not list it)", inv.where, inv.bin, args[0], inv.bin)
		return
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break // the end of the flags: what follows is positional (alharvest feed's program and its arguments)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue // a positional argument (a SID, a path)
		}
		n, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takes, ok := cur.flags[n]
		switch {
		case n == "h" || n == "help":
		case n == "version" && (len(sub) == 0 || defaulted && len(sub) == 1):
			out, err := exec.Command(filepath.Join(h.dir, inv.bin), "--version").CombinedOutput()
			if err != nil {
				t.Errorf("%s: %s --version: %v\n%s", inv.where, inv.bin, err, out)
			}
		case !ok:
			t.Errorf("%s: %s has no flag -%s (%s -h does not list it)", inv.where, name, n, name)
		case takes && !hasVal:
			i++ // its value
		}
		_ = val
	}
	for _, e := range inv.env {
		v, _, _ := strings.Cut(e, "=")
		if !cur.env[v] {
			t.Errorf("%s: %s does not read %s (%s -h does not list it)", inv.where, name, v, name)
		}
	}
}

// TestCommandsInTheDocs checks every command the pages show for one of the
// module's binaries against the help of the built binary, and every
// variable set for any other command against the files that could read it.
func TestCommandsInTheDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary (about a minute)")
	}
	ps := pages(t)
	cmds := commands(t, ps)
	bins := ours(t)
	h := &helpCache{dir: buildBinaries(t), m: map[string]help{}}

	var checked int
	others := map[string][]string{} // variable -> where it is set for something else
	for _, c := range cmds {
		inv, ok := resolve(c, bins)
		if !ok {
			for _, e := range c.env {
				v, _, _ := strings.Cut(e, "=")
				others[v] = append(others[v], c.where)
			}
			continue
		}
		h.check(t, inv)
		checked++
	}
	if checked < 20 {
		t.Errorf("checked only %d commands of ours; has the extraction broken?", checked)
	}
	t.Logf("checked %d commands of ours", checked)
	if testing.Verbose() {
		for _, c := range cmds {
			if inv, ok := resolve(c, bins); ok {
				t.Logf("%s: %v %s %q", c.where, c.env, inv.bin, inv.args)
			}
		}
	}

	// A variable set for another command (go test, a script, compose) or
	// exported for the commands that follow must be read somewhere: a
	// binary's help lists it, or a file of the module other than a page
	// names it.
	known := map[string]bool{}
	for b := range bins {
		for v := range h.get(t, b, nil).env {
			known[v] = true
		}
	}
	sources := moduleText(t)
	for v, where := range others {
		if !known[v] && !strings.Contains(sources, v) {
			t.Errorf("%v: %s is set, but no binary and no file of the module reads it", where, v)
		}
	}
}

// moduleText returns the text of every file of the module but the pages.
func moduleText(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == ".git" || n == "testdata" && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".md") {
			return nil
		}
		if info, err := d.Info(); err != nil || info.Size() > 1<<20 {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b.Write(data)
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// buildBinaries builds the module's commands once per test run.
func buildBinaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "alharvest-docs-bin-")
		if buildErr != nil {
			return
		}
		args := []string{"build", "-o", buildDir + string(os.PathSeparator), "github.com/alharvest/alharvest/cmd/..."}
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// TestSplit pins the shell splitting the command checks rely on.
func TestSplit(t *testing.T) {
	for line, want := range map[string][][]string{
		`A=1 alharvest check --json   # a comment`:                  {{"A=1", "alharvest", "check", "--json"}},
		`bin/scorer & bin/downloader & bin/searcher --once`:         {{"bin/scorer"}, {"bin/downloader"}, {"bin/searcher", "--once"}},
		`eval "$(deploy/images.sh)" && docker compose up -d`:        {{"eval", "$(deploy/images.sh)"}, {"docker", "compose", "up", "-d"}},
		`go test ./e2e/ -run 'TestKill9|TestAssemblylineFaults' -v`: {{"go", "test", "./e2e/", "-run", "TestKill9|TestAssemblylineFaults", "-v"}},
		`curl -s 'http://x/?a=1' | wc -l`:                           {{"curl", "-s", "http://x/?a=1"}, {"wc", "-l"}},
		`sed "s/a/$(tail -1 f)/" x > y`:                             {{"sed", "s/a/$(tail -1 f)/", "x", ">", "y"}},
	} {
		got, err := split(line)
		if err != nil {
			t.Errorf("split(%q): %v", line, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("split(%q) = %q, want %q", line, got, want)
		}
	}
}

// TestResolve pins which commands count as ours.
func TestResolve(t *testing.T) {
	bins := map[string]bool{"alharvest": true, "scorer": true, "albench": true}
	for line, want := range map[string]string{
		"go run ./cmd/albench -workload latency":                 "albench [-workload latency]",
		"docker compose exec scorer alharvest status --watch 2s": "alharvest [status --watch 2s]",
		"docker-compose exec -T scorer alharvest dlq list":       "alharvest [dlq list]",
		"bin/scorer": "scorer []",
		"NATS_URL=nats://127.0.0.1:4222 /tmp/x/alharvest status":     "alharvest [status]",
		"docker compose up -d --scale downloader=4 --scale scorer=2": "",
		"go test ./...": "",
	} {
		cs, err := split(line)
		if err != nil || len(cs) != 1 {
			t.Fatalf("split(%q) = %v, %v", line, cs, err)
		}
		c := command{words: cs[0]}
		for len(c.words) > 0 && isAssignment(c.words[0]) {
			c.env, c.words = append(c.env, c.words[0]), c.words[1:]
		}
		inv, ok := resolve(c, bins)
		got := ""
		if ok {
			got = fmt.Sprintf("%s %v", inv.bin, inv.args)
		}
		if got != want {
			t.Errorf("resolve(%q) = %q, want %q", line, got, want)
		}
	}
}

// goTest is a `go test` command: its packages and its -run, -bench and
// -fuzz patterns.
type goTest struct {
	where    string
	pkgs     []string
	patterns map[string]string // flag -> pattern
}

// TestGoTestCommandsInTheDocs checks every `go test` a page shows: its
// packages exist, and each alternative of its -run, -bench and -fuzz
// patterns names a test, benchmark or fuzz target in them.
func TestGoTestCommandsInTheDocs(t *testing.T) {
	var gts []goTest
	for _, c := range commands(t, pages(t)) {
		if len(c.words) < 2 || c.words[0] != "go" || c.words[1] != "test" {
			continue
		}
		gt := goTest{where: c.where, patterns: map[string]string{}}
		w := c.words[2:]
		for i := 0; i < len(w); i++ {
			switch a := w[i]; {
			case a == "-args":
				i = len(w)
			case a == "-run" || a == "-bench" || a == "-fuzz":
				if i+1 < len(w) {
					gt.patterns[a] = w[i+1]
					i++
				}
			case a == "-count" || a == "-fuzztime" || a == "-benchtime" || a == "-timeout":
				i++
			case strings.HasPrefix(a, "./"):
				gt.pkgs = append(gt.pkgs, a)
			}
		}
		gts = append(gts, gt)
	}
	if len(gts) < 5 {
		t.Fatalf("found only %d go test commands; has the extraction broken?", len(gts))
	}
	funcRe := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz)\w*)\(`)
	for _, gt := range gts {
		var funcs []string
		for _, pkg := range gt.pkgs {
			dir := filepath.Join(root, strings.TrimSuffix(pkg, "/..."))
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				t.Errorf("%s: go test %s: no such package directory", gt.where, pkg)
				continue
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
			if strings.HasSuffix(pkg, "/...") {
				continue // the whole tree: patterns are not checked against it
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range funcRe.FindAllStringSubmatch(string(b), -1) {
					funcs = append(funcs, m[1])
				}
			}
		}
		for flag, pat := range gt.patterns {
			if pat == "^$" || pat == "." || len(funcs) == 0 {
				continue
			}
			prefix := map[string]string{"-run": "Test", "-bench": "Benchmark", "-fuzz": "Fuzz"}[flag]
			for _, alt := range strings.Split(strings.Split(pat, "/")[0], "|") {
				re, err := regexp.Compile(alt)
				if err != nil {
					t.Errorf("%s: %s %q: %v", gt.where, flag, pat, err)
					continue
				}
				if !slices.ContainsFunc(funcs, func(f string) bool {
					return (strings.HasPrefix(f, prefix) || flag == "-run" && strings.HasPrefix(f, "Fuzz")) && re.MatchString(f)
				}) {
					t.Errorf("%s: %s %q: no %s function in %v matches %q", gt.where, flag, pat, prefix, gt.pkgs, alt)
				}
			}
		}
	}
}

// nonEmptyLines returns the lines of s that are not blank.
func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// fencedAfter returns the first fenced block of a page that contains marker.
func fencedAfter(t *testing.T, ps []page, path, marker string) string {
	t.Helper()
	for _, p := range ps {
		if p.path != path {
			continue
		}
		for _, block := range fenceRe.FindAllString(p.text, -1) {
			if strings.Contains(block, marker) {
				return block
			}
		}
	}
	t.Fatalf("%s has no code block with %q", path, marker)
	return ""
}

// run runs a built binary with env (added to PATH and HOME) in dir.
func run(t *testing.T, dir string, env []string, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(buildBinaries(t), bin), args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return out.String(), code
}

// TestNamedTestsExist checks that every test, benchmark and fuzz target a
// page names in code (`TestKill9`, `BenchmarkPublishAck`) is defined in
// the module, so that the evidence a page cites cannot vanish unnoticed.
func TestNamedTestsExist(t *testing.T) {
	defined := map[string]bool{}
	funcRe := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz)\w*)\(`)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		for _, m := range funcRe.FindAllStringSubmatch(string(b), -1) {
			defined[m[1]] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	nameRe := regexp.MustCompile(`\b((?:Test|Benchmark|Fuzz)[A-Z][A-Za-z0-9_]*)(\*?)`)
	var named int
	for _, p := range pages(t) {
		for i, line := range strings.Split(p.text, "\n") {
			for _, span := range codeSpanRe.FindAllStringSubmatch(line, -1) {
				for _, m := range nameRe.FindAllStringSubmatch(span[1], -1) {
					named++
					if m[2] == "*" { // a family: TestHostile*
						if !slices.ContainsFunc(slices.Collect(maps.Keys(defined)), func(d string) bool { return strings.HasPrefix(d, m[1]) }) {
							t.Errorf("%s:%d names %s*, and no test file defines one", p.path, i+1, m[1])
						}
						continue
					}
					if !defined[m[1]] {
						t.Errorf("%s:%d names %s, which no test file defines", p.path, i+1, m[1])
					}
				}
			}
		}
	}
	if named < 30 {
		t.Errorf("found only %d test names in the pages; has the extraction broken?", named)
	}
}
