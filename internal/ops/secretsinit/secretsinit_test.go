package secretsinit_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/alharvest/alharvest/internal/ops/outputinit"
	"github.com/alharvest/alharvest/internal/ops/secretsinit"
)

func self() outputinit.Owner { return outputinit.Owner{UID: os.Getuid(), GID: os.Getgid()} }

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPrepareKeepsAndRotates: the first run creates every secret 0600, the
// second keeps them, a rotation changes only what it names, and no secret
// appears in what it reports.
func TestPrepareKeepsAndRotates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	var out bytes.Buffer
	if err := secretsinit.Prepare(secretsinit.Config{Dir: dir, Owner: self(), NATSOwner: self()}, &out); err != nil {
		t.Fatal(err)
	}
	files := []string{secretsinit.StagesSeedFile, secretsinit.FeederSeedFile, secretsinit.ReaderSeedFile,
		secretsinit.WebhookFile, secretsinit.RoutePassFile, secretsinit.ServerConfFile, secretsinit.ClusterConfFile}
	first := map[string]string{}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o, want 0600", f, fi.Mode().Perm())
		}
		first[f] = read(t, dir, f)
	}
	for _, f := range []string{secretsinit.StagesSeedFile, secretsinit.FeederSeedFile, secretsinit.ReaderSeedFile} {
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(first[f])))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		pub, _ := kp.PublicKey()
		if !strings.Contains(first[secretsinit.ServerConfFile], pub) {
			t.Errorf("the server configuration does not admit %s's key", f)
		}
		if strings.Contains(out.String(), strings.TrimSpace(first[f])) {
			t.Errorf("the report shows the seed of %s", f)
		}
	}
	for _, f := range []string{secretsinit.WebhookFile, secretsinit.RoutePassFile} {
		if len(strings.TrimSpace(first[f])) < 32 {
			t.Errorf("%s is %q, want a long random value", f, first[f])
		}
		if strings.Contains(out.String(), strings.TrimSpace(first[f])) {
			t.Errorf("the report shows %s", f)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o711 {
		t.Errorf("the directory has mode %o, want 0711 (no listing)", fi.Mode().Perm())
	}

	if err := secretsinit.Prepare(secretsinit.Config{Dir: dir, Owner: self(), NATSOwner: self()}, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if read(t, dir, f) != first[f] {
			t.Errorf("a second run changed %s", f)
		}
	}

	if err := secretsinit.Prepare(secretsinit.Config{Dir: dir, Owner: self(), NATSOwner: self(), Rotate: []string{"feeder", "route"}}, io.Discard); err != nil {
		t.Fatal(err)
	}
	for f, changed := range map[string]bool{secretsinit.FeederSeedFile: true, secretsinit.RoutePassFile: true,
		secretsinit.ServerConfFile: true, secretsinit.ClusterConfFile: true,
		secretsinit.StagesSeedFile: false, secretsinit.ReaderSeedFile: false, secretsinit.WebhookFile: false} {
		if got := read(t, dir, f) != first[f]; got != changed {
			t.Errorf("after rotating feeder and route, %s changed: %v, want %v", f, got, changed)
		}
	}
	if err := secretsinit.Prepare(secretsinit.Config{Dir: dir, Owner: self(), NATSOwner: self(), Rotate: []string{"everything"}}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "stages, feeder, reader, webhook, route") {
		t.Errorf("rotating an unknown secret: %v", err)
	}
}

// TestCorruptSeedIsNamed: a seed file that is not a seed stops the run
// with its path, rather than a server that admits nobody.
func TestCorruptSeedIsNamed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, secretsinit.ReaderSeedFile), []byte("not a seed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := secretsinit.Prepare(secretsinit.Config{Dir: dir, Owner: self(), NATSOwner: self()}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), secretsinit.ReaderSeedFile) || !strings.Contains(err.Error(), "rotate") {
		t.Fatalf("corrupt reader seed: %v", err)
	}
	if err := secretsinit.Prepare(secretsinit.Config{Dir: dir, Owner: self(), NATSOwner: self(), Rotate: []string{"reader"}}, io.Discard); err != nil {
		t.Fatalf("rotating the corrupt seed: %v", err)
	}
}

func TestClusterConfRejectsBadNodes(t *testing.T) {
	for _, n := range []string{"", "a b", "user@host"} {
		if _, err := secretsinit.ClusterConf([]string{n}, "0.0.0.0:6222", "pw"); err == nil {
			t.Errorf("node %q accepted", n)
		}
	}
}

// TestHandDataDir: a store with root's files (here: another owner is not
// possible without root, so the test hands a tree to its own user and
// checks every entry is visited) is handed over, and an already-handed
// store is left alone.
func TestHandDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "jetstream", "$G", "streams"), 0o750); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := secretsinit.HandDataDir(dir, self(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("a store already owned was walked: %s", out.String())
	}
	if err := secretsinit.HandDataDir(filepath.Join(dir, "missing"), self(), &out); err == nil {
		t.Error("a missing store is not an error")
	}
}
