package feed

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/cli"
)

func TestCommandUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, "Usage: feed [flags] -- CMD [ARG...]"},
		{nil, 2, "missing -- CMD [ARG...]"},
		{[]string{"--from", "yesterday", "--", "true"}, 2, `--from "yesterday": want new or all`},
		{[]string{"--jobs", "0", "--", "true"}, 2, "--jobs must be at least 1"},
		{[]string{"--durable", "a.b", "--", "true"}, 2, "durable name"},
		{[]string{"--retry-min", "1m", "--retry-max", "1s", "--", "true"}, 2, "--retry-min"},
		{[]string{"--no-such-flag"}, 2, "flag provided but not defined"},
	}
	for _, tc := range tests {
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), Command, tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) {
			t.Errorf("feed %v: exit %d, stdout %q, stderr %q; want %d with %q", tc.args, code, out.String(), errOut.String(), tc.code, tc.want)
		}
		if tc.code != 0 && (out.Len() != 0 || strings.Count(errOut.String(), "\n") != 1) {
			t.Errorf("feed %v: want one line on stderr and nothing on stdout, got %q and %q", tc.args, out.String(), errOut.String())
		}
	}
}
