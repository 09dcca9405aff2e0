package feed

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCommandUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, "usage: alharvest feed [flags] -- CMD [ARG...]"},
		{nil, 2, "no program"},
		{[]string{"--from", "yesterday", "--", "true"}, 2, `--from "yesterday": want new or all`},
		{[]string{"--jobs", "0", "--", "true"}, 2, "--jobs must be at least 1"},
		{[]string{"--durable", "a.b", "--", "true"}, 2, "durable name"},
		{[]string{"--retry-min", "1m", "--retry-max", "1s", "--", "true"}, 2, "--retry-min"},
		{[]string{"--no-such-flag"}, 2, "flag provided but not defined"},
	}
	for _, tc := range tests {
		var out, errOut bytes.Buffer
		if code := Command(context.Background(), tc.args, &out, &errOut); code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("feed %v: exit %d, stderr %q; want %d with %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
}
