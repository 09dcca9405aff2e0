package alsim

import (
	"encoding/binary"
	"encoding/hex"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// File hashes: computed on first use (or all up front with Prehash),
// indexed for lookups by sha256, and the cART footer they go into.

// sha returns file f's sha256, computing and indexing it on first use.
func (c *Corpus) sha(f int32) *[32]byte {
	if !c.hashed[f].Load() {
		c.storeHash(f, c.content(f).sha256)
	}
	return &c.hashes[f]
}

// storeHash records and indexes file f's sha256 unless it is known
// already; hash runs under f's lock, so at most once per file.
func (c *Corpus) storeHash(f int32, hash func() [32]byte) {
	mu := &c.hashMu[int(f)%len(c.hashMu)]
	mu.Lock()
	defer mu.Unlock()
	if !c.hashed[f].Load() {
		h := hash()
		c.hashes[f] = h
		c.addIndex(h, f)
		c.hashed[f].Store(true)
	}
}

func (c *Corpus) shaHex(f int32) string { return hex.EncodeToString(c.sha(f)[:]) }

func (c *Corpus) addIndex(h [32]byte, f int32) {
	k := binary.BigEndian.Uint64(h[:8])
	c.idxMu.Lock()
	defer c.idxMu.Unlock()
	if old, ok := c.idx[k]; ok && old != f {
		c.idxMore[h] = f
		return
	}
	c.idx[k] = f
}

func (c *Corpus) lookupIndexed(h [32]byte) (int32, bool) {
	c.idxMu.RLock()
	defer c.idxMu.RUnlock()
	if f, ok := c.idx[binary.BigEndian.Uint64(h[:8])]; ok && c.hashed[f].Load() && c.hashes[f] == h {
		return f, true
	}
	f, ok := c.idxMore[h]
	return f, ok
}

// lookup finds a file by sha256. A hash nobody has seen yet (a client
// remembering files from an earlier alsim process) makes the corpus hash
// every file once, so the answer is always right.
func (c *Corpus) lookup(h [32]byte) (int32, bool) {
	if f, ok := c.lookupIndexed(h); ok {
		return f, true
	}
	c.indexAllOnce.Do(func() {
		all := make([]int32, len(c.sizes))
		for i := range all {
			all[i] = int32(i)
		}
		c.hashAll(all)
	})
	return c.lookupIndexed(h)
}

// prehashAll computes every file's sha256, and md5 and sha1 for the
// footers of their cART encodings, on all CPUs, so that serving a download
// hashes nothing.
func (c *Corpus) prehashAll() {
	c.md5s = make([][16]byte, len(c.sizes))
	c.sha1s = make([][20]byte, len(c.sizes))
	onAllCPUs(len(c.sizes), func(i int) {
		f := int32(i)
		m, s1, h := c.content(f).allDigests()
		c.md5s[f], c.sha1s[f] = m, s1
		c.storeHash(f, func() [32]byte { return h })
	})
}

// footer returns the optional footer of file f's cART encoding when the
// digests were precomputed, else nil (cart.Pack then computes them).
func (c *Corpus) footer(f int32) map[string]string {
	if c.md5s == nil {
		return nil
	}
	return map[string]string{
		"md5":    hex.EncodeToString(c.md5s[f][:]),
		"sha1":   hex.EncodeToString(c.sha1s[f][:]),
		"sha256": hex.EncodeToString(c.sha(f)[:]),
		"length": strconv.FormatInt(c.sizes[f], 10),
	}
}

// hashAll computes the given files' hashes on all CPUs.
func (c *Corpus) hashAll(files []int32) {
	onAllCPUs(len(files), func(i int) { c.sha(files[i]) })
}

// onAllCPUs calls do(i) for every i in [0, n), spread over GOMAXPROCS
// goroutines, and returns when all calls have.
func onAllCPUs(n int, do func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				do(int(i))
			}
		})
	}
	wg.Wait()
}
