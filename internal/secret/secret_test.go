package secret_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/secret"
)

const value = "keyname:S3cretPassw0rd"

// settings is how secrets travel in practice: a field of a larger struct.
type settings struct {
	User   string
	APIKey secret.String
	Inner  struct{ Token secret.String }
	Ptr    *secret.String
}

func sample() settings {
	s := settings{User: "harvest", APIKey: value}
	s.Inner.Token = "t0ken-" + value
	p := secret.String("ptr-" + value)
	s.Ptr = &p
	return s
}

// TestNoRouteLeaks prints a secret by every route alharvest's code or a
// library might take and checks that none shows its value and that each
// shows the mask.
func TestNoRouteLeaks(t *testing.T) {
	s := sample()
	slogOut := func(h func(*bytes.Buffer) slog.Handler, args ...any) string {
		var b bytes.Buffer
		slog.New(h(&b)).Info("settings", args...)
		return b.String()
	}
	jsonH := func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }
	textH := func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }
	mustJSON := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	routes := []struct{ name, out string }{
		{"%v", fmt.Sprintf("%v", s.APIKey)},
		{"%+v", fmt.Sprintf("%+v", s.APIKey)},
		{"%#v", fmt.Sprintf("%#v", s.APIKey)},
		{"%s", fmt.Sprintf("%s", s.APIKey)},
		{"%q", fmt.Sprintf("%q", s.APIKey)},
		{"%x", fmt.Sprintf("%x", s.APIKey)},
		{"%X", fmt.Sprintf("%X", s.APIKey)},
		{"%d", fmt.Sprintf("%d", s.APIKey)},
		{"%10.3s", fmt.Sprintf("%10.3s", s.APIKey)},
		{"Sprint", fmt.Sprint(s.APIKey)},
		{"Sprintln", fmt.Sprintln(s.APIKey)},
		{"String()", s.APIKey.String()},
		{"struct %v", fmt.Sprintf("%v", s)},
		{"struct %+v", fmt.Sprintf("%+v", s)},
		{"struct %#v", fmt.Sprintf("%#v", s)},
		{"struct pointer %+v", fmt.Sprintf("%+v", &s)},
		{"pointer field", fmt.Sprintf("%v", *s.Ptr)},
		{"slice", fmt.Sprintf("%v", []secret.String{s.APIKey})},
		{"map", fmt.Sprintf("%v", map[string]secret.String{"k": s.APIKey})},
		{"JSON", mustJSON(s.APIKey)},
		{"struct JSON", mustJSON(s)},
		{"slog JSON attr", slogOut(jsonH, "key", s.APIKey)},
		{"slog JSON struct", slogOut(jsonH, "cfg", s)},
		{"slog text attr", slogOut(textH, "key", s.APIKey)},
		{"slog text struct", slogOut(textH, "cfg", s)},
		{"slog group", slogOut(jsonH, slog.Group("g", slog.Any("key", s.APIKey)))},
		{"error %v", fmt.Errorf("login with %v failed", s.APIKey).Error()},
		{"error %w chain", fmt.Errorf("outer: %w", fmt.Errorf("inner %+v", s)).Error()},
		{"URL userinfo", secret.MaskURL("nats://user:" + value + "@n1:4222")},
		{"URL list", secret.MaskURL("nats://a:" + value + "@n1:4222,tls://b:" + value + "@n2:4222")},
		{"URL without scheme", secret.MaskURL("a:" + value + "@n1:4222")},
		{"foreign error scrubbed", secret.Scrub(errors.New("server said: bad key "+value).Error(), value)},
		{"cut excerpt scrubbed", secret.ScrubCut("echoed header X-APIKEY: "+value[:12], value)},
	}
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			if strings.Contains(r.out, "S3cret") || strings.Contains(r.out, fmt.Sprintf("%x", "S3cret")) {
				t.Fatalf("the secret leaks: %s", r.out)
			}
			if !strings.Contains(r.out, secret.Mask) {
				t.Errorf("no mask in %q", r.out)
			}
		})
	}
}

func TestRevealAndEmpty(t *testing.T) {
	if got := secret.String(value).Reveal(); got != value {
		t.Errorf("Reveal = %q", got)
	}
	var empty secret.String
	if got := fmt.Sprintf("%v|%s|%q", empty, empty, empty); got != `||""` {
		t.Errorf("an empty secret prints %q; want nothing, so an unset one looks unset", got)
	}
	if b, _ := json.Marshal(empty); string(b) != `""` {
		t.Errorf("an empty secret encodes as %s", b)
	}
}

func TestMaskURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://n:4222", "nats://n:4222"},
		{"nats://u:pw@n:4222", "nats://[REDACTED]@n:4222"},
		{"nats://token@n:4222,nats://m:4222", "nats://[REDACTED]@n:4222,nats://m:4222"},
		{"https://u:p@w@al.example.org/x", "https://[REDACTED]@al.example.org/x"},
		{"u:pw@n:4222", "[REDACTED]@n:4222"},
		{"", ""},
	} {
		if got := secret.MaskURL(tc.in); got != tc.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestScrub(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		cut            bool
		secrets        []string
	}{
		{"whole", "a " + value + " b", "a [REDACTED] b", false, []string{value}},
		{"each", "pw S3cretPassw0rd and key " + value, "pw [REDACTED] and key keyname:[REDACTED]", false, []string{"S3cretPassw0rd"}},
		{"empty secret ignored", "text", "text", false, []string{""}},
		{"cut tail left by Scrub", "ends with keyname:S3cr", "ends with keyname:S3cr", false, []string{value}},
		{"cut tail masked by ScrubCut", "ends with keyname:S3cr", "ends with [REDACTED]", true, []string{value}},
		{"ScrubCut leaves three bytes", "ends with key", "ends with key", true, []string{value}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := secret.Scrub
			if tc.cut {
				f = secret.ScrubCut
			}
			if got := f(tc.in, tc.secrets...); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
