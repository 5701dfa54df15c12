// Package admin owns Portico's admin listener (SPEC.md §5): a small plain
// HTTP server, built on net/http because it is off the data path, that
// answers operators and monitoring.
//
//	GET  /metrics    Prometheus text from the metrics writer the integrator passes
//	GET  /healthz    200 {"status":"ok"} while the process runs
//	GET  /readyz     200 {"status":"ready"} when Provider.Ready, else 503
//	GET  /config     200 {"sha256":"…","config":{…}} from Provider.ConfigJSON
//	GET  /upstreams  200 with Provider.UpstreamsJSON as is
//	POST /reload     Provider.Reload: 200 {"result":"success",…}, or 400/500
//	                 {"result":"failure","error":{…}}
//
// GET endpoints answer HEAD too. A known path with another method gets 405
// and an Allow header; any other path gets 404. Every error body uses the
// SPEC §4 envelope {"error":{"status":S,"code":"C","message":"…","request_id":"…"}},
// and every response carries X-Request-Id and Cache-Control: no-store.
//
// The package knows nothing of the gateway's types: the integrator adapts
// its state to Provider. The server uses conservative timeouts and reads at
// most a few KiB of any request body, so a misbehaving client cannot hold
// the admin port or grow memory.
package admin
