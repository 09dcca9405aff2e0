package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/pkg/messages"
)

// deadLetters starts a server with alharvest's layout and three dead
// letters: a scorer SID, a downloader message 10 kB long, and a payload that
// is not UTF-8. It returns the server's URL and JetStream.
func deadLetters(t *testing.T) (string, jetstream.JetStream, [][]byte) {
	t.Helper()
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL)
	natstest.Provision(t, js)
	payloads := [][]byte{
		[]byte(`{"sid":"4RlWbxGm2xYA1"}`),
		[]byte(`{"sha256":"` + strings.Repeat("0123456789", 1000) + `"}`),
		{0xff, 0x00, 0xc3, 0x28, 0x1b, '['},
	}
	for i, p := range payloads {
		stage, subject := messages.StageScorer, messages.SubjectSIDs
		if i > 0 {
			stage, subject = messages.StageDownloader, messages.SubjectFiles
		}
		m := nats.NewMsg(messages.DLQSubject(stage))
		m.Data = p
		m.Header.Set(messages.HeaderStage, stage)
		m.Header.Set(messages.HeaderOriginalSubject, subject)
		m.Header.Set(messages.HeaderReason, "gave up")
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	return srv.URL, js, payloads
}

func left(t *testing.T, js jetstream.JetStream) []uint64 {
	t.Helper()
	ls, err := dlq.List(context.Background(), js, dlq.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, l := range ls {
		out = append(out, l.Seq)
	}
	return out
}

// TestDLQListJSON: `dlq list --json` is JSON lines, one valid object per
// letter, each with its whole payload.
func TestDLQListJSON(t *testing.T) {
	url, _, payloads := deadLetters(t)
	var out, errb bytes.Buffer
	if code := command(context.Background(), []string{"dlq", "list", "--json", "--nats-url", url}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(payloads) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(payloads), out.String())
	}
	for i, line := range lines {
		if !json.Valid([]byte(line)) {
			t.Fatalf("line %d is not JSON: %s", i+1, line)
		}
		var l dlq.Letter
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(l.Data, payloads[i]) || l.Seq != uint64(i+1) {
			t.Errorf("line %d: seq %d, %d payload bytes; want seq %d, %d bytes", i+1, l.Seq, len(l.Data), i+1, len(payloads[i]))
		}
	}
	if !strings.Contains(lines[2], `"payload_encoding":"base64"`) || !strings.Contains(lines[1], `"payload_encoding":"text"`) {
		t.Errorf("encodings not as documented:\n%s", out.String())
	}
}

// TestDLQSelection: naming a letter or a stage that does not exist is an
// error, and nothing is done; delete and purge remove letters, purge only
// with --yes.
func TestDLQSelection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
		left   []uint64
	}{
		{"replay a missing letter", []string{"dlq", "replay", "--seq", "99"}, 1, "", "alharvest dlq replay: no dead letter with sequence 99", []uint64{1, 2, 3}},
		{"replay one present, one missing", []string{"dlq", "replay", "--seq", "1,99"}, 1, "", "no dead letter with sequence 99", []uint64{1, 2, 3}},
		{"replay of the wrong stage", []string{"dlq", "replay", "--seq", "1", "--stage", "downloader"}, 1, "", "no dead letter with sequence 1 of stage downloader", []uint64{1, 2, 3}},
		{"list a missing letter", []string{"dlq", "list", "--seq", "99"}, 1, "", "no dead letter with sequence 99", []uint64{1, 2, 3}},
		{"delete a missing letter", []string{"dlq", "delete", "--seq", "99"}, 1, "", "no dead letter with sequence 99", []uint64{1, 2, 3}},
		{"delete without --seq", []string{"dlq", "delete"}, 2, "", "say which letters: --seq", []uint64{1, 2, 3}},
		{"delete a bad sequence", []string{"dlq", "delete", "--seq", "two"}, 2, "", `--seq "two": not a sequence number`, []uint64{1, 2, 3}},
		{"delete", []string{"dlq", "delete", "--seq", "1,3"}, 0, "deleted 2 of 2 dead letters", "", []uint64{2}},
		{"purge without --yes", []string{"dlq", "purge"}, 2, "", "add --yes", []uint64{1, 2, 3}},
		{"purge one stage", []string{"dlq", "purge", "--yes", "--stage", "downloader"}, 0, "purged 2 dead letters of stage downloader", "", []uint64{1}},
		{"purge", []string{"dlq", "purge", "--yes"}, 0, "purged 3 dead letters", "", nil},
		{"replay", []string{"dlq", "replay", "--seq", "1"}, 0, "replayed 1 of 1 dead letters", "", []uint64{2, 3}},
		{"replay a misspelt stage", []string{"dlq", "replay", "--stage", "downloder"}, 2, "", `--stage "downloder": no such stage`, []uint64{1, 2, 3}},
		{"list a misspelt stage", []string{"dlq", "list", "--stage", "scorr"}, 2, "", `--stage "scorr": no such stage`, []uint64{1, 2, 3}},
		{"purge a misspelt stage", []string{"dlq", "purge", "--yes", "--stage", "scorr"}, 2, "", `--stage "scorr": no such stage`, []uint64{1, 2, 3}},
		{"replay a stage with no letters", []string{"dlq", "replay", "--stage", "feed"}, 0, "replayed 0 of 0 dead letters", "", []uint64{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, js, _ := deadLetters(t)
			var out, errb bytes.Buffer
			code := command(context.Background(), append(tc.args, "--nats-url", url), &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tc.stdout) || (tc.stdout == "" && out.Len() > 0) {
				t.Errorf("stdout %q, want %q", out.String(), tc.stdout)
			}
			if !strings.Contains(errb.String(), tc.stderr) || (tc.stderr == "" && errb.Len() > 0) {
				t.Errorf("stderr %q, want %q", errb.String(), tc.stderr)
			}
			if got := left(t, js); !slices.Equal(got, tc.left) {
				t.Errorf("letters left %v, want %v", got, tc.left)
			}
		})
	}
}

// TestStatusWatchOffATerminal: --watch into a file or a pipe prints one
// snapshot after another, without the codes that clear a screen.
func TestStatusWatchOffATerminal(t *testing.T) {
	url, _, _ := deadLetters(t)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	if code := command(ctx, []string{"status", "--watch", "200ms", "--nats-url", url}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if strings.ContainsRune(out.String(), '\033') {
		t.Errorf("escape codes in a non-terminal output:\n%q", out.String())
	}
	if n := strings.Count(out.String(), "alharvest status ("); n < 2 {
		t.Errorf("%d snapshots in 1.5 s at 200 ms, want several:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "\n\nalharvest status (") {
		t.Errorf("snapshots are not a blank line apart:\n%s", out.String())
	}
}
