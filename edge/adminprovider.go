package edge

import (
	"encoding/json"
	"errors"
	"sort"
	"syscall"

	"github.com/portico-gw/portico/edge/admin"
	"github.com/portico-gw/portico/edge/config"
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
		res.Invalid, res.Unavailable = reloadFailureKind(err)
	}
	return res
}

// reloadFailureKind sorts a failed reload for its answer: invalid when the
// route file's content is at fault (its problems, or a change only a
// restart can apply: 400 invalid_config); unavailable when the process is
// draining (503); neither when the gateway could not do it for another
// reason, such as a route file it cannot read (500 reload_failed).
func reloadFailureKind(err error) (invalid, unavailable bool) {
	if errors.Is(err, ErrDraining) {
		return false, true
	}
	// A file that could not be opened or read carries the I/O error; its
	// content was never seen.
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return false, false
	}
	var errs *config.Errors
	if errors.As(err, &errs) || errors.Is(err, errNeedsRestart) {
		return true, false
	}
	return false, false
}
