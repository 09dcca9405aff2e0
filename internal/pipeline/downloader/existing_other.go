//go:build !unix

package downloader

import (
	"fmt"
	"os"
)

// openExisting opens what sits at path for verification; without
// O_NOFOLLOW it checks with Lstat first (see existing_unix.go).
func openExisting(path string) (*os.File, os.FileInfo, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, st, fmt.Errorf("%w: %s", errNotOurs, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, st, nil
}
