package downloader

import "sync"

// fileLocks serializes the handling of one hash within a process. Two
// messages for the same file are normally stopped by the files stream's
// duplicate window; a deliberate recollect bypasses it, and then the second
// must find the first's verified file instead of writing it a second time.
type fileLocks struct {
	mu   sync.Mutex
	held map[string]*fileLock
}

type fileLock struct {
	sync.Mutex
	waiters int
}

// lock takes the lock of sha and returns its release.
func (l *fileLocks) lock(sha string) func() {
	l.mu.Lock()
	if l.held == nil {
		l.held = map[string]*fileLock{}
	}
	fl := l.held[sha]
	if fl == nil {
		fl = &fileLock{}
		l.held[sha] = fl
	}
	fl.waiters++
	l.mu.Unlock()

	fl.Lock()
	return func() {
		fl.Unlock()
		l.mu.Lock()
		if fl.waiters--; fl.waiters == 0 {
			delete(l.held, sha)
		}
		l.mu.Unlock()
	}
}
