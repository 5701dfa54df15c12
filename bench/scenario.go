package bench

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// ScenarioFile is the scenario set that Compare runs (YAML, or JSON which
// is valid YAML).
type ScenarioFile struct {
	Rounds    int        `yaml:"rounds"`   // default 3; at least 1
	Duration  string     `yaml:"duration"` // per measured run, Go duration; default 5s
	Warmup    string     `yaml:"warmup"`   // closed-loop warm-up per system start; default 1s
	Scenarios []Scenario `yaml:"scenarios"`
}

// Scenario is one measured load shape.
type Scenario struct {
	Name  string `yaml:"name"`
	Proto string `yaml:"proto"` // h1 (default), h1tls, h2c, h2tls
	Path  string `yaml:"path"`  // default "/"; "/big" is routed to the 16 KiB origin
	Conns int    `yaml:"conns"` // default 64
	// Streams is HTTP/2's concurrent streams per connection (h2c, h2tls;
	// default 10, like h2load -m).
	Streams int `yaml:"streams"`
	// Mode "max" (closed loop, default) or "rate" (open loop).
	Mode string  `yaml:"mode"`
	Rate float64 `yaml:"rate"` // open loop: fixed rate
	// RateOfSlowestMax sets the open-loop rate to this share of the slowest
	// system's median req/s in scenario RateRef (a max-mode scenario).
	RateOfSlowestMax float64  `yaml:"rate_of_slowest_max"`
	RateRef          string   `yaml:"rate_ref"`
	NewConnPerReq    bool     `yaml:"new_conn_per_request"` // sends Connection: close
	Headers          []string `yaml:"headers"`
	// Needs lists features the scenario requires ("h2", "tls", "jwt",
	// "rate_limit"); a system or the load generator lacking one gets a
	// "needs feature X" row instead of figures.
	Needs []string `yaml:"needs"`
	Note  string   `yaml:"note"`
}

// LoadScenarios reads and checks a scenario file.
func LoadScenarios(path string) (*ScenarioFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read scenarios: %w", err)
	}
	var f ScenarioFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("cannot parse scenarios %s: %w", path, err)
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("invalid scenarios %s: %w", path, err)
	}
	return &f, nil
}

func (f *ScenarioFile) check() error {
	if f.Rounds == 0 {
		f.Rounds = 3
	}
	if f.Duration == "" {
		f.Duration = "5s"
	}
	if f.Warmup == "" {
		f.Warmup = "1s"
	}
	if _, err := time.ParseDuration(f.Duration); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	if _, err := time.ParseDuration(f.Warmup); err != nil {
		return fmt.Errorf("warmup: %w", err)
	}
	if len(f.Scenarios) == 0 {
		return fmt.Errorf("no scenarios")
	}
	seen := map[string]*Scenario{}
	for i := range f.Scenarios {
		s := &f.Scenarios[i]
		if s.Name == "" {
			return fmt.Errorf("scenarios[%d]: name missing", i)
		}
		if seen[s.Name] != nil {
			return fmt.Errorf("scenarios[%d]: duplicate name %q", i, s.Name)
		}
		seen[s.Name] = s
		if s.Proto == "" {
			s.Proto = "h1"
		}
		if s.Path == "" {
			s.Path = "/"
		}
		if s.Conns == 0 {
			s.Conns = 64
		}
		if s.Streams == 0 {
			s.Streams = 10
		}
		if s.Streams < 1 {
			return fmt.Errorf("scenario %s: streams must be >= 1", s.Name)
		}
		if s.Mode == "" {
			s.Mode = "max"
		}
		switch s.Proto {
		case "h1", "h1tls", "h2c", "h2tls":
		default:
			return fmt.Errorf("scenario %s: proto %q: want h1, h1tls, h2c or h2tls", s.Name, s.Proto)
		}
		switch s.Mode {
		case "max":
		case "rate":
			if s.Rate <= 0 && (s.RateOfSlowestMax <= 0 || s.RateRef == "") {
				return fmt.Errorf("scenario %s: rate mode needs rate, or rate_of_slowest_max with rate_ref", s.Name)
			}
			if s.RateRef != "" {
				ref := seen[s.RateRef]
				if ref == nil || ref.Mode != "max" {
					return fmt.Errorf("scenario %s: rate_ref %q must name an earlier max-mode scenario", s.Name, s.RateRef)
				}
			}
		default:
			return fmt.Errorf("scenario %s: mode %q: want max or rate", s.Name, s.Mode)
		}
		if s.Conns < 1 {
			return fmt.Errorf("scenario %s: conns must be >= 1", s.Name)
		}
	}
	return nil
}
