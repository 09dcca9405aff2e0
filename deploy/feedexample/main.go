// Command feedexample is the example program of the compose `feed` service,
// installed as /usr/local/bin/feed-example in the image deploy/images.sh
// builds for it (the alharvest image has no shell to run
// deploy/feed-example.sh). It does what that script does: copies each
// collected cART into an inbox directory, atomically, and logs one line per
// file.
//
//	alharvest feed --durable inbox -- feed-example /inbox
//
// The feed runs it as `feed-example INBOX <path of the .cart>` with
// ALHARVEST_SHA256, ALHARVEST_SCORE and ALHARVEST_SID in the environment.
// Exit 0 tells the feed the file is handed; anything else makes it retry,
// then dead-letter the file with the last lines of stderr as the reason.
// A file may be handed twice (after a crash): copying is idempotent.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "feed-example:", err)
		os.Exit(1)
	}
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

func run(args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: feed-example INBOX_DIR CART_PATH")
	}
	inbox, cart := args[0], args[1]
	sum := getenv("ALHARVEST_SHA256")
	if !sha256Hex.MatchString(sum) {
		// The name of the copy comes from it: never a path.
		return fmt.Errorf("ALHARVEST_SHA256 %q is not a sha256", sum)
	}
	if fi, err := os.Stat(inbox); err != nil || !fi.IsDir() {
		return fmt.Errorf("inbox %s is not a directory", inbox)
	}
	src, err := os.ReadFile(cart)
	if err != nil {
		return err
	}
	dest := filepath.Join(inbox, sum+".cart")
	if have, err := os.ReadFile(dest); err == nil && bytes.Equal(have, src) {
		fmt.Fprintf(stdout, "already in inbox: %s\n", sum)
		return nil
	}
	tmp, err := os.CreateTemp(inbox, "."+sum+".cart.tmp.*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	if _, err := tmp.Write(src); err != nil {
		tmp.Close()
		return err
	}
	// On disk before it has its final name: a crash leaves a temporary
	// file, never a truncated .cart.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o640); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "handed %s score=%s sid=%s -> %s\n", sum, getenv("ALHARVEST_SCORE"), getenv("ALHARVEST_SID"), dest)
	return nil
}
