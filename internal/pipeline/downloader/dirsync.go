package downloader

import (
	"os"
	"sync"
)

// dirSyncer makes renames in one directory durable with as few fsyncs as
// possible: every caller waits for an fsync that started after its rename,
// and one fsync serves everyone who renamed before it began (group commit).
type dirSyncer struct {
	dir     string
	mu      sync.Mutex
	cond    *sync.Cond
	gen     uint64 // renames registered so far
	synced  uint64 // renames covered by the last successful fsync
	running bool
}

func newDirSyncer(dir string) *dirSyncer {
	s := &dirSyncer{dir: dir}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// sync returns once an fsync of the directory that began after the call
// has succeeded.
func (s *dirSyncer) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	mine := s.gen
	for s.synced < mine {
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true
		target := s.gen
		s.mu.Unlock()
		err := fsyncDir(s.dir)
		s.mu.Lock()
		s.running = false
		s.cond.Broadcast()
		if err != nil {
			return err
		}
		s.synced = max(s.synced, target)
	}
	return nil
}

func fsyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
