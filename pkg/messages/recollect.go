package messages

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/nats-io/nats.go"
)

// HeaderRecollect marks a SID or files message that asks for a file to be
// collected again on purpose (`alharvest recollect`). Such a message, and
// the files messages the scorer derives from it, carry a unique
// Nats-Msg-Id, so the streams' duplicate windows do not drop them. Its value
// says who asked (free text, for logs).
const HeaderRecollect = "Alharvest-Recollect"

// MarkRecollect gives m a unique de-duplication ID derived from its usual
// one (the SID or hash) and the recollect header.
func MarkRecollect(m *nats.Msg, who string) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	key := m.Header.Get(HeaderMsgID)
	m.Header.Set(HeaderMsgID, key+"/recollect/"+hex.EncodeToString(b[:]))
	if who == "" {
		who = "recollect"
	}
	m.Header.Set(HeaderRecollect, who)
}
