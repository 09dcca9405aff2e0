// Package assemblyline is alharvest's client for the three Assemblyline 4
// REST calls the pipeline needs: the deep-paged submission search, the full
// submission document and the cART download.
//
// The client authenticates every request with the X-USER and X-APIKEY headers
// (stateless: no session cookie, no XSRF token), retries in-process only what
// failure.Retryable allows, and reports every failure as an error tagged with a
// failure.Kind, so the worker loops decide what to do about it in one place.
//
// The API key is a secret: it appears in no error, log line, Call or
// formatted Config, even when the server echoes it back.
package assemblyline
