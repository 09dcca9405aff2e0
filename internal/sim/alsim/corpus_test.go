package alsim

import (
	"math/big"
	"regexp"
	"runtime"
	"slices"
	"testing"
	"time"
)

var sidRE = regexp.MustCompile(`^[0-9A-Za-z]{1,22}$`)

func TestSIDs(t *testing.T) {
	tests := []struct {
		name        string
		submissions int
	}{
		{"tiny corpus still has both lengths", 20},
		{"usual mix", 5000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{Submissions: tc.submissions})
			if err != nil {
				t.Fatal(err)
			}
			lengths := map[int]int{}
			seen := map[string]bool{}
			for _, sub := range s.corpus.subs {
				if !sidRE.MatchString(sub.sid) || seen[sub.sid] {
					t.Fatalf("bad or duplicate SID %q", sub.sid)
				}
				seen[sub.sid] = true
				lengths[len(sub.sid)]++
			}
			if lengths[21] == 0 || lengths[22] == 0 {
				t.Fatalf("SID lengths %v: want both 21 and 22", lengths)
			}
			if tc.submissions >= 5000 {
				share := float64(lengths[22]) / float64(tc.submissions)
				if share < 0.84 || share > 0.90 {
					t.Errorf("22-char share %.3f, want about 0.87", share)
				}
			}
		})
	}
}

func TestBase62(t *testing.T) {
	tests := []struct {
		hi, lo uint64
		want   string
	}{
		{0, 0, "0"},
		{0, 61, "z"},
		{0, 62, "10"},
		{0, 36, "a"},
		{0, 10, "A"},
		{^uint64(0), ^uint64(0), "7n42DGM5Tflk9n8mt7Fhc7"},
	}
	for _, tc := range tests {
		if got := base62(tc.hi, tc.lo); got != tc.want {
			t.Errorf("base62(%x,%x) = %s, want %s", tc.hi, tc.lo, got, tc.want)
		}
	}
	// Round trip against math/big with the SID alphabet.
	v := new(big.Int)
	for _, ch := range base62(0x0123456789abcdef, 0xfedcba9876543210) {
		v.Mul(v, big.NewInt(62))
		v.Add(v, big.NewInt(int64(indexByte(base62Alphabet, byte(ch)))))
	}
	if v.Text(16) != "123456789abcdeffedcba9876543210" {
		t.Errorf("round trip gives %s", v.Text(16))
	}
}

func indexByte(s string, c byte) int {
	for i := range len(s) {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func TestDeterminism(t *testing.T) {
	cfg := Config{Submissions: 300, Seed: 77, Incomplete: 3, IncompleteFor: time.Hour, LateArrivals: 2, ArrivalWindow: time.Hour}
	a, _ := New(cfg)
	b, _ := New(cfg)
	if !slices.Equal(a.Expected(7000), b.Expected(7000)) || len(a.Expected(7000)) == 0 {
		t.Fatal("same seed, different Expected")
	}
	for i := range a.corpus.subs {
		if a.corpus.subs[i].sid != b.corpus.subs[i].sid {
			t.Fatal("same seed, different SIDs")
		}
	}
	fixed := time.Date(2025, 3, 4, 15, 2, 11, 0, time.UTC)
	cfg.Now = fixed
	a, _ = New(cfg)
	b, _ = New(cfg)
	for i := range 20 {
		da := a.corpus.appendFull(nil, i, fullOpts{completed: true, hideRes: -1, nowUS: 1})
		db := b.corpus.appendFull(nil, i, fullOpts{completed: true, hideRes: -1, nowUS: 1})
		if string(da) != string(db) {
			t.Fatalf("submission %d renders differently", i)
		}
	}
	cfg.Seed = 78
	c, _ := New(cfg)
	if slices.Equal(a.Expected(7000), c.Expected(7000)) {
		t.Fatal("different seeds, same Expected")
	}
}

func TestCorpusShape(t *testing.T) {
	s, _ := New(Config{Submissions: 3000, Seed: 4})
	c := s.corpus
	T := c.design
	var matching, qualRefs, sharedRefs int
	firstUse := map[int32]int{}
	varies := false
	bestScore := map[int32][2]int32{} // min, max per file
	for i, sub := range c.subs {
		if int64(sub.maxScore) >= T {
			matching++
		}
		for _, f := range sub.files {
			if mm, ok := bestScore[f.file]; ok {
				bestScore[f.file] = [2]int32{min(mm[0], f.score), max(mm[1], f.score)}
			} else {
				bestScore[f.file] = [2]int32{f.score, f.score}
			}
			if int64(f.score) >= T {
				qualRefs++
				if j, ok := firstUse[f.file]; ok && j != i {
					sharedRefs++
				}
			}
			if _, ok := firstUse[f.file]; !ok {
				firstUse[f.file] = i
			}
		}
	}
	for _, mm := range bestScore {
		if int64(mm[1]) >= T && int64(mm[0]) < T {
			varies = true
		}
	}
	frac := float64(matching) / float64(len(c.subs))
	t.Logf("matching %.3f, qualifying per match %.2f, shared qualifying references %.2f",
		frac, float64(qualRefs)/float64(matching), float64(sharedRefs)/float64(qualRefs))
	if frac < 0.25 || frac > 0.35 {
		t.Errorf("matching fraction %.3f, want about 0.3", frac)
	}
	perMatch := float64(qualRefs) / float64(matching)
	if perMatch < 2.5 || perMatch > 3.5 {
		t.Errorf("qualifying files per match %.2f, want about 3", perMatch)
	}
	shared := float64(sharedRefs) / float64(qualRefs)
	if shared < 0.35 || shared > 0.6 {
		t.Errorf("shared qualifying references %.2f, want about 0.5", shared)
	}
	if !varies {
		t.Error("no file qualifies in one submission and not in another")
	}
	var sizeMin, sizeMax int64 = 1 << 62, 0
	for _, sz := range c.sizes {
		sizeMin, sizeMax = min(sizeMin, sz), max(sizeMax, sz)
	}
	if sizeMin < 1024 || sizeMax > 256<<10 {
		t.Errorf("sizes %d..%d outside 1 KiB..256 KiB", sizeMin, sizeMax)
	}
}

// TestLargeCorpusBuildsFast builds the 100k-submission corpus the
// benchmarks use and reports the time and memory it takes.
func TestLargeCorpusBuildsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("large corpus")
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	s, err := New(Config{Submissions: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("100k submissions, %d files: built in %v, live heap %d MiB", s.corpus.NumFiles(), took, heap>>20)
	if took > 10*time.Second {
		t.Errorf("building took %v", took)
	}
	if heap > 300<<20 {
		t.Errorf("corpus holds %d MiB", heap>>20)
	}
	runtime.KeepAlive(s)
}

func BenchmarkBuild100k(b *testing.B) {
	for b.Loop() {
		if _, err := New(Config{Submissions: 100_000}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderFull(b *testing.B) {
	s, _ := New(Config{Submissions: 2000})
	for i := range s.corpus.subs {
		s.corpus.appendFull(nil, i, fullOpts{completed: true, hideRes: -1})
	}
	buf := make([]byte, 0, 64<<10)
	i := 0
	for b.Loop() {
		buf = s.corpus.appendFull(buf[:0], i%2000, fullOpts{completed: true, hideRes: -1})
		i++
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDownload(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"compressed-uncached", Config{Submissions: 2000, CartCacheBytes: -1}},
		{"stored-uncached", Config{Submissions: 2000, CartCacheBytes: -1, CartNoCompression: true}},
		{"cached", Config{Submissions: 2000, CartCacheBytes: 1 << 30}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, c := testServer(b, bc.cfg)
			shas := s.Expected(7000)
			if bc.cfg.CartCacheBytes > 0 {
				for _, sha := range shas {
					c.download(sha, "")
				}
			}
			var n int64
			i := 0
			for b.Loop() {
				_, body, err := c.download(shas[i%len(shas)], "")
				if err != nil {
					b.Fatal(err)
				}
				n += int64(len(body))
				i++
			}
			b.SetBytes(n / int64(i))
		})
	}
}

func TestResultKeysNameOneScore(t *testing.T) {
	s, _ := New(Config{Submissions: 5000, Seed: 8})
	type key struct {
		file    int32
		svc     uint8
		empty   bool
		variant uint16
	}
	scores := map[key]int32{}
	variants := 0
	for _, sub := range s.corpus.subs {
		for _, f := range sub.files {
			for _, r := range sub.res[f.resOff : int(f.resOff)+int(f.nRes)] {
				k := key{f.file, r.svc, r.empty, r.variant}
				if prev, ok := scores[k]; ok && prev != r.score {
					t.Fatalf("file %d service %s variant %d scores %d and %d", f.file, services[r.svc].name, r.variant, prev, r.score)
				}
				scores[k] = r.score
				if r.variant > 0 {
					variants++
				}
			}
		}
	}
	if variants == 0 {
		t.Fatal("no shared file ever got a second conf_key")
	}
	if confKey(1, 0) != services[1].conf || len(confKey(1, 7)) > 11 || confKey(1, 7) == confKey(1, 8) {
		t.Errorf("conf keys %q %q %q", confKey(1, 0), confKey(1, 7), confKey(1, 8))
	}
}
