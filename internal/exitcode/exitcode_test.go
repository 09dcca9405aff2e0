package exitcode

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"
)

func TestOf(t *testing.T) {
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
		{"nil", nil, OK},
		{"-h", parse("-h"), OK},
		{"-help wrapped", fmt.Errorf("config: %w", parse("-help")), OK},
		{"unknown flag", Use(parse("-nope")), Usage},
		{"bad setting wrapped", fmt.Errorf("run: %w", Use(errors.New("AL_URL is empty"))), Usage},
		{"dead letters, nothing to say", With(DeadLettered, nil), DeadLettered},
		{"plain failure", errors.New("connection refused"), Failed},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("%s: Of(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
	if Use(nil) != nil {
		t.Error("Use(nil) is not nil")
	}
}
