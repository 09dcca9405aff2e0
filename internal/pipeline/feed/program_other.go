//go:build !unix

package feed

import "os/exec"

// ownGroup leaves exec's default (kill the program only) where process
// groups do not exist.
func ownGroup(*exec.Cmd) {}

// signalOf names no signal where there are none.
func signalOf(*exec.ExitError) string { return "" }
