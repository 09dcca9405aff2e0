package assemblyline

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
)

// Diagnosis is what one test call told about the server, for `alharvest check`.
type Diagnosis struct {
	// TLS is the negotiated TLS version ("TLS 1.3"), empty over plain http.
	TLS string
	// PeerSubject is the server certificate's subject, when TLS.
	PeerSubject string
	// Total is how many submissions the query matches, when the server says.
	Total int64
	// QuotaAPI and QuotaSubmission are the remaining daily quotas from the
	// x-remaining-quota-* headers; -1 when the server sent none (no daily
	// quota set for this user).
	QuotaAPI, QuotaSubmission int64
	// Took is the call's round trip.
	Took time.Duration
}

// diagnoseBody is a plain (not deep-paging) search for one row: it opens no
// server-side cursor.
type diagnoseBody struct {
	Query   string   `json:"query"`
	Filters []string `json:"filters,omitempty"`
	FL      string   `json:"fl"`
	Rows    int      `json:"rows"`
}

type diagnosePage struct {
	Items []json.RawMessage `json:"items"`
	Total *int64            `json:"total"`
}

// Diagnose makes one submission search of one row with the client's
// credentials, without retries: it proves the server is reachable, its TLS
// certificate trusted, the credentials accepted and the search permitted.
// Errors are the client's usual (*APIError with a failure.Kind, or a
// transport error).
func (c *Client) Diagnose(ctx context.Context, query string, filters []string) (Diagnosis, error) {
	var p Diagnosis
	body, err := json.Marshal(diagnoseBody{Query: query, Filters: filters, FL: "sid", Rows: 1})
	if err != nil {
		return p, failure.Errorf(failure.Invalid, "assemblyline search: encoding the request: %w", err)
	}
	start := time.Now()
	x, err := c.send(ctx, epSearch, "/api/v4/search/submission/", "", body, 0)
	if err != nil {
		return p, err
	}
	p.Took = time.Since(start)
	if cs := x.resp.TLS; cs != nil {
		p.TLS = tls.VersionName(cs.Version)
		if len(cs.PeerCertificates) > 0 {
			p.PeerSubject = cs.PeerCertificates[0].Subject.String()
		}
	}
	p.QuotaAPI = quotaHeader(x.resp.Header, "x-remaining-quota-api")
	p.QuotaSubmission = quotaHeader(x.resp.Header, "x-remaining-quota-submission")
	page, err := readAnswer[diagnosePage](x, c.maxJSON)
	if err == nil && page.Items == nil {
		err = failure.Errorf(failure.Unavailable, "assemblyline search: the answer has no items list")
	}
	x.finish(err)
	if err != nil {
		return p, err
	}
	if page.Total != nil {
		p.Total = *page.Total
	}
	return p, nil
}

func quotaHeader(h http.Header, name string) int64 {
	v := h.Get(name)
	if v == "" {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return -1
	}
	return n
}
