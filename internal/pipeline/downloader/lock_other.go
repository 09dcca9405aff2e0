//go:build !unix

package downloader

import "os"

// Without advisory locks, temporaries are never considered abandoned while
// the process runs; CleanTemp is then only safe with a single downloader.
func lockFile(*os.File) error { return nil }

func tryLockFile(*os.File) bool { return true }
