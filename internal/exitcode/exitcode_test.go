package exitcode

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"
)

func TestFromFlags(t *testing.T) {
	parse := func(args ...string) error {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Bool("json", false, "")
		return fs.Parse(args)
	}
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"-h", parse("-h"), OK},
		{"-help wrapped", fmt.Errorf("config: %w", parse("-help")), OK},
		{"unknown flag", parse("-nope"), Usage},
		{"bad setting", errors.New("AL_URL is empty"), Usage},
	} {
		if got := FromFlags(tc.err); got != tc.want {
			t.Errorf("%s: FromFlags(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}
