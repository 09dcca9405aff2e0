//go:build unix

package downloader

import "syscall"

func umask(m int) int { return syscall.Umask(m) }
