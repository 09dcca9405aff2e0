//go:build unix

package feed

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the program in a process group of its own, so that a
// timeout or a shutdown can kill it and every child it started.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// signalOf names the signal that ended the program, or "".
func signalOf(ee *exec.ExitError) string {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal().String()
	}
	return ""
}
