//go:build !unix

package broker

// lockDir is a no-op where advisory locks are not available; do not share a
// data directory between two runs there.
func lockDir(string) (func(), error) { return func() {}, nil }
