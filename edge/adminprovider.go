package edge

import (
	"encoding/json"
	"sort"

	"github.com/portico-gw/portico/edge/admin"
)

// adminProvider answers the admin listener's questions from the live server.
type adminProvider struct{ s *Server }

func (p *adminProvider) Ready() bool { return p.s.ready.Load() && !p.s.draining.Load() }

func (p *adminProvider) ConfigJSON() ([]byte, string, error) {
	snap := p.s.snap.Load()
	body, err := snap.cfg.RedactedJSON()
	return body, snap.sha256, err
}

func (p *adminProvider) UpstreamsJSON() ([]byte, error) {
	snap := p.s.snap.Load()
	names := make([]string, 0, len(snap.upstreams))
	for n := range snap.upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]any, 0, len(names))
	for _, n := range names {
		out = append(out, snap.upstreams[n].pool.Snapshot())
	}
	return json.Marshal(map[string]any{"upstreams": out})
}

func (p *adminProvider) Reload() admin.ReloadResult {
	err := p.s.Reload()
	res := admin.ReloadResult{OK: err == nil, SHA256: p.s.snap.Load().sha256, Message: "reloaded"}
	if err != nil {
		res.Message = err.Error()
		res.Invalid = true
	}
	return res
}
