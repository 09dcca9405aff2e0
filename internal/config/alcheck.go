// The checks of the Assemblyline settings that the client would otherwise
// make later under its own field names: here they name the variable.

package config

import (
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"strings"
	"unicode"

	"github.com/alharvest/alharvest/internal/assemblyline"

	"github.com/alharvest/alharvest/internal/netaddr"
)

// checkALURL refuses an Assemblyline URL the client could not use, naming
// the variable the user set (env). The value is quoted only where it cannot
// hold a password.
func checkALURL(env, raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%s is not a URL: want e.g. https://al.example.org", env)
	case u.User != nil:
		return fmt.Errorf("%s must not contain credentials: set AL_USER and AL_APIKEY", env)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%s=%q: want a URL that starts with https://, e.g. https://%s", env, raw, strings.TrimPrefix(raw, "//"))
	case u.Hostname() == "":
		return fmt.Errorf("%s=%q: no host name; want e.g. https://al.example.org", env, raw)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Errorf("%s=%q: remove the query or fragment; want e.g. https://al.example.org", env, raw)
	case u.Scheme == "http" && !allowHTTP && !netaddr.IsLoopback(u.Hostname()):
		return fmt.Errorf("%s=%q: plain http:// would send the API key in clear to %s: use https://, or set AL_ALLOW_HTTP=true", env, raw, u.Host)
	}
	return nil
}

// checkALClient refuses credentials and a CA bundle the Assemblyline
// client could not use. keyFromFile says the key came from AL_APIKEY_FILE.
// No value is quoted: these are secrets or paths to them.
func checkALClient(al *assemblyline.Config, keyFromFile bool) error {
	keyVar := "AL_APIKEY"
	if keyFromFile {
		keyVar = "AL_APIKEY_FILE"
	}
	if err := headerValue("AL_USER", al.User); err != nil {
		return err
	}
	if err := headerValue(keyVar, al.APIKey.Reveal()); err != nil {
		return err
	}
	if name, pw, _ := strings.Cut(al.APIKey.Reveal(), ":"); name == "" || pw == "" {
		return fmt.Errorf("%s must look like <key_name>:<password>, both parts not empty", keyVar)
	}
	if al.CAFile != "" {
		b, err := os.ReadFile(al.CAFile)
		if err != nil {
			return fmt.Errorf("AL_CA_FILE: %w", err)
		}
		if !holdsCertificate(b) {
			return fmt.Errorf("AL_CA_FILE=%q holds no PEM certificate", al.CAFile)
		}
	}
	return nil
}

// headerValue refuses what net/http would reject in a header.
func headerValue(env, v string) error {
	switch {
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("%s has leading or trailing white space", env)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return fmt.Errorf("%s holds a control character", env)
	}
	return nil
}

func holdsCertificate(b []byte) bool {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return false
		}
		if block.Type == "CERTIFICATE" {
			return true
		}
	}
}
