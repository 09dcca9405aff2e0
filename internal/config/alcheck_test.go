package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestALURLErrorsNameTheVariable: an Assemblyline URL the client could not
// use is refused at load time, naming the variable the user set (AL_URL or
// AL_HOST), never an internal field, and never quoting a password.
func TestALURLErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" = accepted
	}{
		{"https", map[string]string{"AL_URL": "https://al.example.org"}, ""},
		{"with a path and port", map[string]string{"AL_URL": "https://al.example.org:8443/al"}, ""},
		{"http to loopback", map[string]string{"AL_URL": "http://127.0.0.1:8980"}, ""},
		{"http allowed", map[string]string{"AL_URL": "http://al.example.org", "AL_ALLOW_HTTP": "true"}, ""},
		{"AL_HOST", map[string]string{"AL_HOST": "al.example.org"}, ""},
		{"no scheme", map[string]string{"AL_URL": "al.example.org"}, `AL_URL="al.example.org": want a URL that starts with https://, e.g. https://al.example.org`},
		{"host and port, no scheme", map[string]string{"AL_URL": "al.example.org:443"}, `AL_URL="al.example.org:443": want a URL that starts with https://`},
		{"another scheme", map[string]string{"AL_URL": "ftp://al.example.org"}, `AL_URL="ftp://al.example.org": want a URL that starts with https://`},
		{"no host", map[string]string{"AL_URL": "https://"}, `AL_URL="https://": no host name`},
		{"a query", map[string]string{"AL_URL": "https://al.example.org/?a=b"}, `AL_URL="https://al.example.org/?a=b": remove the query`},
		{"credentials", map[string]string{"AL_URL": "https://me:hunter2@al.example.org"}, "AL_URL must not contain credentials"},
		{"http to another host", map[string]string{"AL_URL": "http://al.example.org"}, `AL_URL="http://al.example.org": plain http:// would send the API key in clear to al.example.org: use https://, or set AL_ALLOW_HTTP=true`},
		{"a bad AL_HOST", map[string]string{"AL_HOST": "al.example.org/#x"}, `AL_HOST="https://al.example.org/#x": remove the query or fragment`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"AL_USER": "u", "AL_APIKEY": "name:pw"}
			for k, v := range tc.env {
				vars[k] = v
			}
			_, _, err := Load(Alharvest, nil, func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			case err != nil && (strings.Contains(err.Error(), "BaseURL") || strings.Contains(err.Error(), "hunter2")):
				t.Errorf("error %q names an internal field or quotes a password", err)
			}
		})
	}
}

// TestALCredentialsErrorsNameTheVariable: credentials and a CA bundle the
// client would refuse are refused at load time under the variable's name,
// without quoting a secret.
func TestALCredentialsErrorsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	keyFile := filepath.Join(dir, "key")
	for name, content := range map[string]string{notPEM: "not a certificate", keyFile: ":only-a-password-s3cret\n"} {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"a good key", map[string]string{}, ""},
		{"no key name", map[string]string{"AL_APIKEY": ":pw-s3cret"}, "AL_APIKEY must look like <key_name>:<password>, both parts not empty"},
		{"no password", map[string]string{"AL_APIKEY": "name:"}, "AL_APIKEY must look like <key_name>:<password>"},
		{"a key from a file", map[string]string{"AL_APIKEY": "", "AL_APIKEY_FILE": keyFile}, "AL_APIKEY_FILE must look like"},
		{"white space in the key", map[string]string{"AL_APIKEY": "name:pw-s3cret "}, "AL_APIKEY has leading or trailing white space"},
		{"a control character in the user", map[string]string{"AL_USER": "ad\x1bmin"}, "AL_USER holds a control character"},
		{"a CA file that is not there", map[string]string{"AL_CA_FILE": filepath.Join(dir, "missing.pem")}, "AL_CA_FILE: open "},
		{"a CA file without a certificate", map[string]string{"AL_CA_FILE": notPEM}, "AL_CA_FILE=\"" + notPEM + "\" holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"AL_URL": "https://al.example.org", "AL_USER": "u", "AL_APIKEY": "name:pw"}
			for k, v := range tc.env {
				vars[k] = v
			}
			_, _, err := Load(Alharvest, nil, func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}
