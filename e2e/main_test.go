package e2e

import (
	"flag"
	"os"
	"testing"

	"github.com/alharvest/alharvest/internal/natstest"
)

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	natstest.RemoveBinaries()
	os.Exit(code)
}
