package admin

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/natstest"
)

// TestSecretOnTheCommandLineIsWarnedAbout: the operator commands warn, like
// the services, when a secret is given as a flag, without repeating it.
func TestSecretOnTheCommandLineIsWarnedAbout(t *testing.T) {
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL)
	natstest.Provision(t, js)
	var out, errb bytes.Buffer
	code := command(context.Background(), []string{"dlq", "list", "--nats-url", srv.URL, "--nats-token", "admin-cmdline-t0ken"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "--nats-token was given on the command line") {
		t.Errorf("no warning:\n%s", errb.String())
	}
	if strings.Contains(out.String()+errb.String(), "admin-cmdline-t0ken") {
		t.Errorf("the token was printed:\n%s%s", out.String(), errb.String())
	}
}
