package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/santhosh-tekuri/jsonschema/v6"

	spec "github.com/alharvest/alharvest/docs/contract"
	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// schemas compiles every embedded schema, formats asserted, keyed by file
// name without ".schema.json".
func schemas(t testing.TB) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.DefaultDraft(jsonschema.Draft2020)
	names, err := fs.Glob(spec.Files, "*.schema.json")
	if err != nil || len(names) < 5 {
		t.Fatalf("schemas: %v %v", names, err)
	}
	for _, n := range names {
		b, _ := spec.Files.ReadFile(n)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if id, _ := doc.(map[string]any)["$id"].(string); id != spec.BaseURI+n {
			t.Errorf("%s has $id %q, want %q", n, id, spec.BaseURI+n)
		}
		if s, _ := doc.(map[string]any)["$schema"].(string); s != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s is not draft 2020-12: %q", n, s)
		}
		if err := c.AddResource(spec.BaseURI+n, doc); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]*jsonschema.Schema{}
	for _, n := range names {
		s, err := c.Compile(spec.BaseURI + n)
		if err != nil {
			t.Fatalf("compile %s: %v", n, err)
		}
		out[strings.TrimSuffix(n, ".schema.json")] = s
	}
	return out
}

func validate(t testing.TB, s *jsonschema.Schema, data []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// decoders are the code's own readers of each payload.
var decoders = map[string]func([]byte) error{
	"sid":       func(b []byte) error { _, err := messages.DecodeSID(b); return err },
	"sid-text":  func(b []byte) error { _, err := messages.DecodeSID(b); return err },
	"file":      func(b []byte) error { _, err := messages.DecodeFile(b); return err },
	"collected": func(b []byte) error { _, err := messages.DecodeCollected(b); return err },
	"dlq-headers": func(b []byte) error {
		var h map[string]string
		if err := json.Unmarshal(b, &h); err != nil {
			return err
		}
		if _, err := strconv.ParseUint(h[messages.HeaderDeliveries], 10, 64); err != nil {
			return err
		}
		if _, err := strconv.ParseUint(h[messages.HeaderOriginalSequence], 10, 64); err != nil {
			return err
		}
		if _, err := time.Parse(time.RFC3339Nano, h[messages.HeaderFailedAt]); err != nil {
			return err
		}
		if c, ok := h[messages.HeaderConsumer]; ok {
			return messages.ValidateDurable(c)
		}
		return nil
	},
}

// Every sample under testdata/valid validates and decodes; every one
// under testdata/invalid is refused by its schema. A plain-text SID
// sample is validated as the JSON string of its body.
func TestSamples(t *testing.T) {
	sch := schemas(t)
	for _, kind := range []string{"valid", "invalid"} {
		dirs, err := os.ReadDir(filepath.Join("testdata", kind))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			s, ok := sch[d.Name()]
			if !ok {
				t.Errorf("testdata/%s/%s: no such schema", kind, d.Name())
				continue
			}
			files, _ := os.ReadDir(filepath.Join("testdata", kind, d.Name()))
			if len(files) == 0 {
				t.Errorf("testdata/%s/%s has no samples", kind, d.Name())
			}
			for _, f := range files {
				name := filepath.Join(kind, d.Name(), f.Name())
				t.Run(name, func(t *testing.T) {
					body, err := os.ReadFile(filepath.Join("testdata", name))
					if err != nil {
						t.Fatal(err)
					}
					inst := body
					if d.Name() == "sid-text" {
						inst, _ = json.Marshal(string(body))
					}
					verr := validate(t, s, inst)
					if kind == "invalid" {
						if verr == nil {
							t.Errorf("the schema accepts %s", body)
						}
						return
					}
					if verr != nil {
						t.Errorf("the schema refuses a valid sample: %v", verr)
					}
					if err := decoders[d.Name()](body); err != nil {
						t.Errorf("schema-valid but the code does not decode it: %v", err)
					}
				})
			}
		}
	}
}

// Every message the encoders produce validates, as does what the worker
// loop puts on a dead letter.
func TestProducedMessagesValidate(t *testing.T) {
	sch := schemas(t)
	sha := strings.Repeat("ab", 32)
	prov := messages.Provenance{Server: "https://al.example.org", Type: "executable/windows/pe32",
		Completed: time.Date(2026, 12, 7, 11, 0, 0, 123, time.UTC), Names: []string{"a.exe", "ünïcode ✓.dll"}}
	sidMsg, err := messages.NewSIDMsg("4EZNjXD44dmYMRbXYPAe6t", "test")
	if err != nil {
		t.Fatal(err)
	}
	fileMsg, err := messages.NewFileMsg(messages.File{SHA256: sha, SID: "abc", Score: 7000, Provenance: prov})
	if err != nil {
		t.Fatal(err)
	}
	collMsg, err := messages.NewCollectedMsg(messages.Collected{SHA256: sha, Path: "/data/" + sha + ".cart", Size: 10, Score: 7000, SID: "abc",
		Provenance: prov, CollectedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for schema, m := range map[string]*nats.Msg{"sid": sidMsg, "file": fileMsg, "collected": collMsg} {
		if err := validate(t, sch[schema], m.Data); err != nil {
			t.Errorf("%s message %s: %v", schema, m.Data, err)
		}
	}

	// A dead letter, written by the worker loop itself.
	js := natstest.Provisioned(t)
	ctx := context.Background()
	if _, err := js.PublishMsg(ctx, sidMsg); err != nil {
		t.Fatal(err)
	}
	cons, err := broker.Consumer(ctx, js, messages.StreamSIDs, messages.ConsumerScorer, broker.ConsumerConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(js, cons, worker.HandlerFunc(func(context.Context, *worker.Message) ([]*nats.Msg, error) {
		return nil, failure.Errorf(failure.NotFound, "submission not found")
	}), worker.Config{Stage: messages.StageScorer, Logger: testLogger()})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(runCtx) }()
	defer func() { stop(); <-done }()
	var letter *nats.Msg
	testenv.Eventually(t, 30*time.Second, "a dead letter", func() bool {
		s, err := js.Stream(ctx, messages.StreamDLQ)
		if err != nil {
			return false
		}
		m, err := s.GetMsg(ctx, 1)
		if err != nil {
			return false
		}
		letter = &nats.Msg{Header: m.Header, Data: m.Data}
		return true
	})
	h := map[string]string{}
	for k := range letter.Header {
		h[k] = letter.Header.Get(k)
	}
	b, _ := json.Marshal(h)
	if err := validate(t, sch["dlq-headers"], b); err != nil {
		t.Errorf("dead letter headers %s: %v", b, err)
	}
}

// FuzzProducedMessagesValidate feeds generated values through the
// encoders: whatever they accept to publish, the schemas accept too, and
// it decodes back to the same value.
func FuzzProducedMessagesValidate(f *testing.F) {
	f.Add("4EZNjXD44dmYMRbXYPAe6t", "src", int64(7000), int64(10), "/data/x.cart", "https://al", "pe", "a.exe", "b", int64(0))
	f.Add("a", "", int64(-1), int64(0), "x", "", "", "", "", int64(1<<40))
	f.Add("", "\u202e", int64(1<<62), int64(1), "/", "\x00", "\xff", "\u2028", "a/b", int64(-5))
	sch := schemas(f)
	f.Fuzz(func(t *testing.T, sid, source string, score, size int64, path, server, typ, name1, name2 string, unix int64) {
		sha := strings.Repeat("0f", 32)
		var names []string
		for _, n := range []string{name1, name2} {
			if n != "" {
				names = append(names, messages.CleanName(n))
			}
		}
		prov := messages.Provenance{Server: server, Type: typ, Names: names}
		if unix > -62135596800 && unix < 253402300799 { // years 1 to 9999, as RFC 3339 allows
			prov.Completed = time.Unix(unix, unix%1e9).UTC()
		}
		check := func(schema string, m *nats.Msg, err error, decode func([]byte) error) {
			if err != nil {
				return // refused by the encoder: never published
			}
			if verr := validate(t, sch[schema], m.Data); verr != nil {
				t.Fatalf("%s message the code produces is schema-invalid: %s: %v", schema, m.Data, verr)
			}
			if derr := decode(m.Data); derr != nil {
				t.Fatalf("%s message the code produces does not decode: %s: %v", schema, m.Data, derr)
			}
		}
		m, err := messages.NewSIDMsg(sid, source)
		check("sid", m, err, decoders["sid"])
		m, err = messages.NewFileMsg(messages.File{SHA256: sha, SID: sid, Score: score, Provenance: prov})
		check("file", m, err, decoders["file"])
		m, err = messages.NewCollectedMsg(messages.Collected{SHA256: sha, Path: path, Size: size, Score: score, SID: sid, Provenance: prov, CollectedAt: prov.Completed})
		check("collected", m, err, decoders["collected"])
	})
}
