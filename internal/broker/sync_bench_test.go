package broker

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/pkg/messages"
)

// BenchmarkPublishAck measures what the embedded server's sync setting
// costs: SIDs published asynchronously in pages of 500 (as the searcher
// does) and each page waited on for its acks, with every write fsynced
// (sync always, the default) and with nats-server's own 2-minute
// background sync. The store lives under BENCH_DIR when set (to measure a
// particular disk), else in the test's temporary directory.
//
//	go test -run '^$' -bench PublishAck -benchtime 20000x ./internal/broker/
func BenchmarkPublishAck(b *testing.B) {
	for _, bc := range []struct {
		name string
		sync time.Duration
	}{{"sync=always", 0}, {"sync=2m", 2 * time.Minute}} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			if d := os.Getenv("BENCH_DIR"); d != "" {
				var err error
				if dir, err = os.MkdirTemp(d, "bench"); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { os.RemoveAll(dir) })
			}
			_, js := embeddedJS(b, EmbeddedConfig{DataDir: dir, SyncInterval: bc.sync})
			ctx := context.Background()
			if err := Provision(ctx, js, Topology{}, nil); err != nil {
				b.Fatal(err)
			}
			const page = 500
			futures := make([]jetstream.PubAckFuture, 0, page)
			b.ResetTimer()
			for i := 0; i < b.N; {
				futures = futures[:0]
				for ; len(futures) < page && i < b.N; i++ {
					m := nats.NewMsg(messages.SubjectSIDs)
					m.Header.Set(messages.HeaderMsgID, fmt.Sprintf("b%d", i))
					m.Data = fmt.Appendf(nil, `{"sid":"bench%017d","source":"searcher"}`, i)
					f, err := js.PublishMsgAsync(m)
					if err != nil {
						b.Fatal(err)
					}
					futures = append(futures, f)
				}
				for _, f := range futures {
					select {
					case <-f.Ok():
					case err := <-f.Err():
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
