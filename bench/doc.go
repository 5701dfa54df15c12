// Package bench is Portico's benchmark harness: the code behind the
// portico-bench command.
//
// It owns four things:
//
//   - Upstream: a fast HTTP/1.1 and h2c (prior knowledge, same port)
//     origin (gnet event loop, pre-built responses, zero-allocation
//     request handling; h2 frames through edge/h2) with configurable body
//     size, status, chunked responses, latency distribution and failure
//     share, so that the origin is never the bottleneck of a proxy test.
//   - Load: an HTTP/1.1 and HTTP/2 (h2c, h2 over TLS) load generator.
//     Open-loop mode sends at a fixed
//     rate and charges every request's latency from its intended send time,
//     so a stalled server shows up in the percentiles instead of hiding
//     behind fewer samples (coordinated omission). Closed-loop mode (Max)
//     measures peak throughput.
//   - Histogram: a log-linear latency histogram with under 0.4% relative
//     error, safe for concurrent recording.
//   - Compare: runs scenarios against Portico, nginx and HAProxy pinned to
//     fixed CPUs in alternating rounds, samples the proxy's CPU time and
//     peak RSS from /proc, and writes a markdown table and SVG charts.
//
// From the project it imports only edge/h2, the sans-I/O HTTP/2 server the
// origin's h2c side runs on; it carries its own minimal HTTP/1.1 head
// parsing in http1.go.
package bench
