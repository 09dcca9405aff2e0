package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	good := map[string]string{"ALHARVEST_SHA256": sum, "ALHARVEST_SCORE": "7500", "ALHARVEST_SID": "sid1"}

	src := filepath.Join(t.TempDir(), sum+".cart")
	content := []byte("CART\x01\x00 not really, the feed verified it")
	if err := os.WriteFile(src, content, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    func(inbox string) []string
		env     map[string]string
		wantErr string
		wantOut string
	}{
		{"copies", func(in string) []string { return []string{in, src} }, good, "", "handed " + sum + " score=7500 sid=sid1"},
		{"no arguments", func(string) []string { return nil }, good, "usage", ""},
		{"no inbox", func(in string) []string { return []string{filepath.Join(in, "missing"), src} }, good, "is not a directory", ""},
		{"no file", func(in string) []string { return []string{in, filepath.Join(in, "gone.cart")} }, good, "no such file", ""},
		{"a path for a sha256", func(in string) []string { return []string{in, src} },
			map[string]string{"ALHARVEST_SHA256": "../" + sum[3:]}, "is not a sha256", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inbox := t.TempDir()
			var out bytes.Buffer
			err := run(tt.args(inbox), env(tt.env), &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if ents, _ := os.ReadDir(inbox); len(ents) != 0 {
					t.Errorf("inbox holds %v after a failure", ents)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout %q, want %q", out.String(), tt.wantOut)
			}
			got, err := os.ReadFile(filepath.Join(inbox, sum+".cart"))
			if err != nil || !bytes.Equal(got, content) {
				t.Errorf("inbox copy = %q, %v; want the cART", got, err)
			}
			if ents, _ := os.ReadDir(inbox); len(ents) != 1 {
				t.Errorf("inbox holds %d entries, want only the copy", len(ents))
			}
			// Handed again after a crash: nothing changes, exit 0.
			out.Reset()
			if err := run(tt.args(inbox), env(tt.env), &out); err != nil || !strings.Contains(out.String(), "already in inbox") {
				t.Errorf("second run: %v, %q; want already in inbox", err, out.String())
			}
		})
	}
}
