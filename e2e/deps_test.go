package e2e

// The tests run binaries built from ../cmd; these imports make the code of
// those binaries part of this test package's build, so `go test`'s result
// cache is invalidated whenever any of it changes.
import (
	_ "github.com/alharvest/alharvest/internal/harvest"
	_ "github.com/alharvest/alharvest/internal/service"
	_ "github.com/alharvest/alharvest/internal/sim/bench"
)
