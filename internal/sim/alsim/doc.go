// Package alsim simulates the Assemblyline 4 REST API that alharvest
// depends on, so alharvest can be tried, tested and benchmarked without a
// real Assemblyline. It follows the behaviour documented in the project's
// Assemblyline API notes (assemblyline-api.md, kept with the shared project
// documentation rather than in this repository; the § numbers in this
// package refer to its sections), quirks included, over a synthetic corpus
// that is fully determined by a seed.
//
// # Corpus
//
// Submissions are kept as compact records (about 700 bytes each with their
// files and results); documents are rendered on demand and file contents
// are a pure function of (seed, file index), so 100 000 submissions build
// in well under a second. A file's sha256 is the real hash of its content,
// computed on first use and cached. Besides random submissions the corpus
// holds deliberate edge cases around Config.DesignThreshold (see
// Corpus.EdgeCases): a file at exactly T, one at T-1, one reaching T only
// by summing services, one pushed below T by a negative score, a file
// shared between submissions with different scores, an all-negative
// submission (max_score clamped to 0), a file extracted twice.
//
// Server.Expected(T) is the answer key: computed from the corpus for any
// threshold, it lists what a correct client collects; Server.Uncollectable
// lists the qualifying files that faults make impossible to download.
//
// # API
//
// Served under /api/v4/ (all require X-USER and X-APIKEY):
//
//	GET|POST /api/v4/search/submission/          Lucene subset, fl, sort, offset paging, deep paging
//	GET      /api/v4/submission/full/<sid>/
//	GET      /api/v4/submission/is_completed/<sid>/
//	GET      /api/v4/file/download/<sha256>/      encoding=cart|raw (zip: disabled)
//
// Reproduced quirks: the 415 answered with HTTP 200; 308 redirects for a
// missing trailing slash; 401 bodies carrying the login-hints dict and 403
// bodies the config dict; "Session not found" when only one auth header is
// sent; total capped at 10 000 and the 10 000 result window; deep paging
// ids "<pit>,<base64(json(sort))>" with Python's json spacing and lenient
// base64 (a "+" turned into a space gives a 500), total null, the cursor
// closed by the first short page (possibly empty); "No search context
// found" 400s for expired cursors and 500 for malformed ids; date sort
// values in milliseconds with the _shard_doc tie breaker; keys sorted and
// non-ASCII escaped as Flask's jsonify does; Python isoformat timestamps;
// empty ".e" results synthesized at request time with the underscored
// version; download errors with api_response {}; the concurrent quota slot
// released before a download streams; optional leaky quota; daily quota
// with x-remaining-quota-api.
//
// Admin endpoints (no auth): GET /_alsim/stats, POST /_alsim/stats/reset,
// GET /_alsim/expected?threshold=N[&now=true], GET
// /_alsim/uncollectable?threshold=N, GET|PUT /_alsim/faults,
// GET /_alsim/edgecases, GET /_alsim/config, GET /_alsim/outage and
// POST /_alsim/outage?mode=off|html502|html404|refuse|reset[&for=30s]
// (an Assemblyline outage as a proxy, an ingress or a dead host plays it;
// also -outage, -outage-after, -outage-for).
//
// # Files
//
// One concept per file: server.go (Server, Serve, the answer key),
// api.go (routing, auth, quotas and faults in Assemblyline's order),
// answer.go (envelopes and error bodies), quota.go, admin.go; the
// endpoints in search.go with search_request.go, search_sort.go and
// search_paging.go, submission.go with render*.go, and download.go; the
// query language in query.go (matching), query_lex.go, query_parse.go and
// query_date.go; the corpus in corpus.go (records and read-only view),
// build*.go (generation), hashes.go, content.go, edges.go and catalog.go;
// config.go, flags.go, faults.go, outage.go, fields.go, stats.go and jsonw.go; and
// main.go, the alsim command's Main (cmd/alsim only calls it).
package alsim
