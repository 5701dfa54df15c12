// Package router owns Portico's route matcher: the compiled form of every
// route's `match` block (SPEC.md §2) and the per-request lookup that picks
// the first route, in file order, whose match holds.
//
// Compile turns the route list of one config snapshot into an immutable
// Table; Table.Lookup is then safe to call from every event loop at once,
// allocates nothing, and costs about the same for 10 routes as for 1,000.
//
// # Match rules
//
//   - Hosts: absent means any host. Names compare case-insensitively (ASCII)
//     and the port of the request host is ignored ("api.example.com:8443",
//     "[::1]:8080" -> "[::1]"). "*.example.com" matches one or more labels in
//     front of ".example.com" (a.example.com and a.b.example.com, as Envoy's
//     suffix wildcards do) and never example.com itself. A lone "*" means any
//     host. A trailing dot is not stripped ("example.com." is another name),
//     as in Envoy's default. Request hosts longer than MaxHostLen bytes can
//     match only wildcard and any-host routes: no configured exact host can
//     be that long.
//   - Path: Path is an exact match, PathPrefix a plain byte prefix (not
//     segment-aware: "/v1/orders" matches "/v1/ordersX"). Both absent means
//     any path. Lookup is given the normalised path without the query.
//   - Methods: absent means any. Matched without regard to case, and GET
//     covers HEAD (see methodBitFold for why).
//   - Headers: every listed header must be present with exactly the listed
//     value. Names are case-insensitive; which field answers when a name
//     repeats is up to the caller's Headers implementation.
//
// # Index
//
// Routes are grouped by host: an exact-host map, a wildcard-suffix map
// (keyed ".example.com") and one any-host group. Each group holds a radix
// tree over path prefixes and exact paths whose nodes list route indices in
// ascending order. Lookup visits the exact group, the wildcard groups for each
// suffix of the request host, and the any-host group; in each it walks the
// request path down the tree and checks methods and headers of the candidate
// routes in index order, stopping at the best index found so far. The answer
// is the smallest index over all groups, which is exactly the first match in
// file order.
package router
