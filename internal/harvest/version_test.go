package harvest

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/version"
)

func TestVersionCommand(t *testing.T) {
	want := version.Get()
	for _, tc := range []struct {
		args []string
		json bool
	}{
		{[]string{"version"}, false},
		{[]string{"--version"}, false},
		{[]string{"-threshold", "10", "-version"}, false},
		{[]string{"version", "--json"}, true},
	} {
		var out bytes.Buffer
		if code := Main(tc.args, &out, os.Stderr); code != 0 {
			t.Errorf("%q: exit %d", tc.args, code)
		}
		if tc.json {
			var got version.Info
			if err := json.Unmarshal(out.Bytes(), &got); err != nil || got != want {
				t.Errorf("%q: %v %+v, want %+v", tc.args, err, got, want)
			}
			continue
		}
		if got := strings.TrimSpace(out.String()); got != "alharvest "+want.String() {
			t.Errorf("%q printed %q", tc.args, got)
		}
	}
}
