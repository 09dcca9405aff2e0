package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/alharvest/alharvest/internal/config"
)

const areaData = "data"

// checkDataDir proves DATA_DIR usable the way the embedded JetStream will
// use it: the directory can be created, a file in it written, synced to
// disk and removed. What the probe created is removed again, so a check
// leaves no trace.
func checkDataDir(cfg *config.Config) []Result {
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return []Result{fail(areaData, "directory", errText(err), "set DATA_DIR to a valid path")}
	}
	created, err := mkdirAll(dir)
	defer func() {
		for i := len(created) - 1; i >= 0; i-- {
			os.Remove(created[i])
		}
	}()
	if err != nil {
		return []Result{fail(areaData, "directory", errText(err),
			fmt.Sprintf("set DATA_DIR to a directory user %d may create and write (the JetStream store lives there)", os.Getuid()))}
	}
	if err := probeWrite(dir); err != nil {
		return []Result{fail(areaData, "writable", errText(err),
			fmt.Sprintf("let user %d write to %s (chown, or a volume mounted there), or set DATA_DIR elsewhere", os.Getuid(), dir))}
	}
	detail := "created, wrote, synced and removed a file in " + dir
	if len(created) > 0 {
		detail += " (created it for the probe and removed it again: the first run creates it)"
	}
	return []Result{ok(areaData, "writable", detail)}
}

// mkdirAll is os.MkdirAll that returns the directories it created,
// outermost first.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return nil, fmt.Errorf("%s is not a directory", d)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	var created []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o700); err != nil {
			return created, err
		}
		created = append(created, missing[i])
	}
	return created, nil
}

// probeWrite creates, writes, fsyncs and removes a file in dir.
func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".alharvest-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	defer os.Remove(name)
	_, err = f.Write([]byte("alharvest check\n"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Remove(name)
}
