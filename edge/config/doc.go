// Package config owns Portico's route file: its schema, loading it from
// YAML (JSON too, being YAML) with the position of every value, the
// defaults of absent fields, and validation.
//
// Load and Parse either return a complete *Config or an *Errors listing
// every problem found, sorted by position, one per line as
//
//	FILE:LINE:COL: field.path: message
//
// which is what `portico validate` prints. The decoder walks yaml.Node
// trees itself rather than decoding into structs, so that unknown fields,
// type errors and rule violations are all collected in one pass and each
// points at the offending key or value.
//
// # Defaults
//
// Absent fields take these values (a field that is present keeps its value,
// even 0, which validation may then refuse):
//
//	listeners[].protocols           [http1, h2c] plaintext, [http1, h2] with tls
//	listeners[].tls.min_version     "1.2"
//	listeners[].tls.client_auth     {mode: none}
//	listeners[].limits              max_connections 10000, max_header_bytes 64KiB,
//	                                header_timeout 10s, idle_timeout 60s,
//	                                max_body_bytes 10MiB, h2_max_concurrent_streams 256
//	access_log.path                 stdout
//	drain_timeout                   30s
//	upstreams[]                     balancer round_robin, connect_timeout 1s,
//	                                max_idle_conns 64, max_conns 0 (no limit)
//	upstreams[].targets[].weight    1
//	upstreams[].health_check        interval 5s, timeout 1s, healthy_threshold 2,
//	                                unhealthy_threshold 3 (path is required)
//	upstreams[].outlier             consecutive_failures 5, base_ejection 30s
//	auth[] (jwt)                    leeway 30s, jwks_refresh 10m,
//	                                token_from [header:Authorization],
//	                                consumer_claim sub, scope_claim scope,
//	                                algorithms: all asymmetric ones (RS*, PS*,
//	                                ES256, ES384, EdDSA) when a JWKS source is
//	                                set, plus HS256/384/512 when
//	                                hmac_secret_file is set
//	rate_limits[].burst             the rate's count (100/s => 100)
//	routes[].timeout                15s
//	routes[].max_body_bytes         0 = inherit the listener's limit
//	routes[].retries.on             [connect_failure, reset]
//	routes[].direct_response        content_type "text/plain; charset=utf-8" when
//	                                a body is set
//
// Relative file paths (certificates, keys, CA bundles, jwks_file,
// hmac_secret_file, an access log file) are resolved against the route
// file's folder; a loaded Config holds absolute paths. Referenced files are
// read during validation (certificates parsed, keys matched to their
// certificates), and an access log file must be one the gateway could open
// for appending (checked without creating it), so a Config that loads can
// be served.
//
// Every problem, an unreadable or unparsable file included, is a Problem
// printed as FILE:LINE:COL: field.path: message; one about the file as a
// whole names the field path WholeFile ("file").
//
// A Config is immutable once returned; the gateway compiles it into a
// snapshot. This package imports nothing else from the project.
package config
