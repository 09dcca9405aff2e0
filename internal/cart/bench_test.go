package cart

import (
	"bytes"
	"io"
	"testing"
)

// benchContents are 64 MiB each: random bytes (stored deflate blocks, so
// RC4 and hashing dominate) and text (inflate dominates).
var benchContents = []struct {
	name string
	gen  func() []byte
}{
	{"random-64MiB", func() []byte { return randomBytes(64<<20, 10) }},
	{"text-64MiB", func() []byte { return textBytes(64 << 20) }},
}

// BenchmarkVerify reports MB/s of decoded content.
func BenchmarkVerify(b *testing.B) {
	for _, c := range benchContents {
		b.Run(c.name, func(b *testing.B) {
			content := c.gen()
			data := pack(b, content, nil)
			want := sha256Hex(content)
			b.SetBytes(int64(len(content)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Verify(bytes.NewReader(data), want); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data))/float64(len(content)), "ratio")
		})
	}
}

// BenchmarkUnpack reports MB/s of decoded content written to io.Discard.
func BenchmarkUnpack(b *testing.B) {
	for _, c := range benchContents {
		b.Run(c.name, func(b *testing.B) {
			content := c.gen()
			data := pack(b, content, nil)
			b.SetBytes(int64(len(content)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := unpack(io.Discard, bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPack reports MB/s of content packed.
func BenchmarkPack(b *testing.B) {
	for _, c := range benchContents {
		for _, stored := range []bool{false, true} {
			name := c.name
			if stored {
				name += "-nocompression"
			}
			b.Run(name, func(b *testing.B) {
				content := c.gen()
				b.SetBytes(int64(len(content)))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := Pack(io.Discard, bytes.NewReader(content), &PackOptions{NoCompression: stored}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
