package composetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	cmd, args string
	line      int
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out  []instruction
		cur  strings.Builder
		from int
	)
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			from = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: from})
		cur.Reset()
	}
	return out
}

// execForm parses a JSON-array (exec form) argument list.
func execForm(t *testing.T, in instruction, s string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(s), &argv); err != nil || len(argv) == 0 {
		t.Errorf("Dockerfile:%d: %s %s is not exec form (the runtime image has no shell)", in.line, in.cmd, s)
		return nil
	}
	return argv
}

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	ins := parseDockerfile(t, filepath.Join(root, "Dockerfile"))

	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("no go directive in go.mod")
	}

	args := map[string]string{}
	expand := func(s string) string {
		return regexp.MustCompile(`\$\{?([A-Z_]+)\}?`).ReplaceAllStringFunc(s, func(m string) string {
			return args[strings.Trim(m, "${}")]
		})
	}
	var (
		froms                                  []string
		build, runtime                         []instruction
		user, healthcheck, entrypoint, binDest string
	)
	for _, in := range ins {
		switch in.cmd {
		case "ARG":
			if k, v, ok := strings.Cut(in.args, "="); ok && len(froms) == 0 {
				args[k] = v
			}
		case "FROM":
			froms = append(froms, expand(strings.Fields(in.args)[0]))
			continue
		}
		if len(froms) == 1 {
			build = append(build, in)
		} else if len(froms) > 1 {
			runtime = append(runtime, in)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %v", froms)
	}
	if want := "golang:" + string(goVersion[1]) + "-"; !strings.HasPrefix(froms[0], want) {
		t.Errorf("build stage FROM %s, want a pinned %s<distro> tag matching go.mod", froms[0], want)
	}
	if last := froms[len(froms)-1]; !strings.HasPrefix(last, "gcr.io/distroless/static") || !strings.HasSuffix(last, ":nonroot") {
		t.Errorf("runtime stage FROM %s, want distroless static :nonroot", last)
	}

	var buildText strings.Builder
	for _, in := range build {
		buildText.WriteString(in.cmd + " " + in.args + "\n")
	}
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", `-X github.com/alharvest/alharvest/internal/version.Version=${VERSION}`, "./cmd/...", "-o /out/"} {
		if !strings.Contains(buildText.String(), want) {
			t.Errorf("build stage lacks %q", want)
		}
	}

	for _, in := range runtime {
		switch in.cmd {
		case "USER":
			user = in.args
		case "HEALTHCHECK":
			_, cmd, ok := strings.Cut(in.args, "CMD ")
			if !ok {
				t.Errorf("Dockerfile:%d: HEALTHCHECK without CMD", in.line)
				continue
			}
			if argv := execForm(t, in, cmd); len(argv) > 0 {
				healthcheck = argv[0]
			}
		case "ENTRYPOINT":
			if argv := execForm(t, in, in.args); len(argv) > 0 {
				entrypoint = argv[0]
			}
		case "COPY":
			if strings.Contains(in.args, "/out/") {
				binDest = strings.Fields(in.args)[len(strings.Fields(in.args))-1]
			}
		}
	}
	if user != "65532:65532" && user != "nonroot" && user != "65532" {
		t.Errorf("runtime USER %q, want the non-root 65532", user)
	}
	if binDest != binDir {
		t.Errorf("binaries copied to %q, want %s (the compose files call them there)", binDest, binDir)
	}
	for what, path := range map[string]string{"HEALTHCHECK": healthcheck, "ENTRYPOINT": entrypoint} {
		name, ok := strings.CutPrefix(path, binDir)
		if !ok {
			t.Errorf("%s runs %q, want one of the image's binaries in %s", what, path, binDir)
			continue
		}
		if _, err := os.Stat(filepath.Join(root, "cmd", name, "main.go")); err != nil {
			t.Errorf("%s runs %s, which cmd/ does not build: %v", what, path, err)
		}
	}
}

// TestDockerignore checks that the build context keeps what the build needs.
func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, strings.TrimSuffix(strings.TrimPrefix(line, "/"), "/"))
		}
	}
	excluded := func(path string) bool {
		ex := false
		for _, p := range patterns {
			neg := strings.HasPrefix(p, "!")
			p = strings.TrimPrefix(p, "!")
			// A pattern excludes a path or anything under it.
			for q := path; q != "."; q = filepath.Dir(q) {
				if ok, _ := filepath.Match(p, q); ok {
					ex = !neg
					break
				}
			}
		}
		return ex
	}
	for _, need := range []string{"go.mod", "go.sum", "cmd/alharvest/main.go", "internal/config/config.go", "pkg/messages"} {
		if excluded(need) {
			t.Errorf(".dockerignore excludes %s, which the build needs", need)
		}
	}
	for _, keepOut := range []string{".git", ".env", "collected/x.cart", "secrets/al_apikey", "deploy/demo-apikey"} {
		if !excluded(keepOut) {
			t.Errorf(".dockerignore lets %s into the build context", keepOut)
		}
	}
}
