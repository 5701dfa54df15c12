# Portico: the Makefile is the only entry point; CI calls `make test`.
GO       ?= go
PKGS     := ./...
VERSION  ?= $(shell git describe --tags --dirty 2>/dev/null || echo 0.1.0-dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN      := bin
FUZZTIME ?= 20000x

.PHONY: all build demo test test-tools test-unit test-race test-integration bench bench-peers soak fuzz lint check-imports clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/portico ./cmd/portico
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/portico-bench ./cmd/portico-bench

# DEMO_FLAGS moves the demo's ports: -listen, -tls-listen, -admin.
demo: build
	$(BIN)/portico demo $(DEMO_FLAGS)

# test: everything CI runs: vet + formatting, unit tests, race tests of the
# concurrent packages, and integration tests against the real binary.
test: test-tools lint check-imports test-unit test-race test-integration

# test-tools: the test tools that are not Go modules (openssl for the
# s_client interoperability tests of tls/, curl for the HTTP/2 client
# interoperability test); installed when missing.
test-tools:
	@for tool in openssl curl; do \
	  command -v $$tool >/dev/null 2>&1 && continue; echo "installing $$tool (apt-get; needs root)"; \
	  out=$$( (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$tool) 2>&1 ) || \
	    { echo "$$out" | tail -5; echo "$$tool is missing and could not be installed: install it, then run make test again"; exit 1; }; \
	done

test-unit:
	$(GO) test -count=1 -timeout 10m $(PKGS)

test-race:
	$(GO) test -count=1 -race -timeout 10m ./limiter/... ./balancer/... ./policy/... ./edge/... ./bench/...

test-integration: build
	PORTICO_BIN=$(CURDIR)/$(BIN)/portico $(GO) test -count=1 -timeout 10m -tags integration ./test/...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=1s ./parser/ ./edge/... ./limiter/ ./balancer/ ./policy/

# bench-peers: Portico, nginx and HAProxy side by side (install the peers with
# apt-get install nginx haproxy); results land in bench/results/<date>/.
bench-peers: build
	$(BIN)/portico-bench compare -scenarios bench/scenarios/default.yaml \
	  -portico-bin $(BIN)/portico -portico-features h1,tls,h2,jwt,rate_limit

# soak: a minute of mixed traffic, abuse and reloads, then leak checks
# (connections, fds, goroutines, RSS); needs curl, openssl and python3.
soak: build
	bench/scripts/soak.sh 60

# fuzz: a short run of every fuzz target (go test runs one target at a time).
# FUZZTIME counts executions (Nx) rather than seconds: Go 1.26's coordinator
# can end a timed run with a spurious "context deadline exceeded".
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags integration $(PKGS)

# check-imports: the leaves of DESIGN.md import nothing of the project.
check-imports:
	@mod=$$($(GO) list -m); fail=0; \
	for leaf in parser tls policy limiter balancer edge/config; do \
	  [ -d $$leaf ] || continue; \
	  bad=$$($(GO) list -f '{{join .Imports "\n"}}' ./$$leaf/... | grep "^$$mod/" | grep -v "^$$mod/$$leaf" || true); \
	  if [ -n "$$bad" ]; then echo "$$leaf must be a leaf but imports: $$bad"; fail=1; fi; \
	done; \
	bad=$$($(GO) list -f '{{.ImportPath}}: {{join .Imports " "}}' ./... | grep -v -e "^$$mod/edge" -e "^$$mod/bench" | grep -E 'panjf2000/gnet|x/net/http2' || true); \
	if [ -n "$$bad" ]; then echo "only edge (and the bench origin) may import gnet and x/net/http2: $$bad"; fail=1; fi; \
	exit $$fail

clean:
	rm -rf $(BIN)
