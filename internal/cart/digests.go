// Hashing the decoded content, on a second goroutine for large content.

package cart

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"hash"
)

// digests hashes the decoded content. md5 and sha1 serve only to check the
// optional footer, which arrives last; they cost as much as RC4 plus
// inflate, so they are skipped when the caller names the sha256 the content
// must have (that check already pins the content down), and the hashing runs
// on a second goroutine for content larger than one block.
type digests struct {
	sha256, md5, sha1 hash.Hash
	n                 int64

	full, free chan []byte
	done       chan struct{}
	allocated  int
}

func newDigests(all bool) *digests {
	if !all {
		return &digests{sha256: sha256.New()}
	}
	return &digests{sha256: sha256.New(), md5: md5.New(), sha1: sha1.New()}
}

func (g *digests) write(b []byte) {
	g.sha256.Write(b)
	if g.md5 != nil {
		g.md5.Write(b)
		g.sha1.Write(b)
	}
}

// add hashes b. Unless b is the last block of content that fitted in one
// block, b goes to the side goroutine and the caller gets another buffer to
// fill: small contents never start the goroutine.
func (g *digests) add(b []byte, last bool) []byte {
	g.n += int64(len(b))
	if last && g.full == nil {
		g.write(b)
		return b[:cap(b)]
	}
	if g.full == nil {
		g.full = make(chan []byte, sideBuffers)
		g.free = make(chan []byte, sideBuffers+1)
		g.done = make(chan struct{})
		g.allocated = 1
		go g.run()
	}
	g.full <- b
	select {
	case nb := <-g.free:
		return nb
	default:
	}
	if g.allocated <= sideBuffers {
		g.allocated++
		return make([]byte, blockSize)
	}
	return <-g.free
}

func (g *digests) run() {
	defer close(g.done)
	for b := range g.full {
		g.write(b)
		g.free <- b[:cap(b)]
	}
}

// stop waits for the side goroutine; it must run on every path so that no
// goroutine outlives the call.
func (g *digests) stop() {
	if g.full != nil {
		close(g.full)
		<-g.done
		g.full = nil
	}
}
