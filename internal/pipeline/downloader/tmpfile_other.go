//go:build !linux

package downloader

import (
	"errors"
	"os"
)

func openAnonymous(string) (*os.File, error) { return nil, errors.ErrUnsupported }

func linkAnonymous(*os.File, string) error { return errors.ErrUnsupported }

func capacity(string) (int64, bool) { return 0, false }

func available(string) (int64, bool) { return 0, false }
