//go:build unix

package downloader_test

import "syscall"

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o640) }
