# tandem: `make run` starts the server on defaults, `make test` runs every test.
GO      ?= go
TSC_DIR := .cache/tsc
TSC     := $(TSC_DIR)/node_modules/.bin/tsc
# The version `tandem -version` prints and logs at start-up.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
VERSION_FLAG := -X main.version=$(VERSION)

.PHONY: run build test vet typecheck-web test-deps bench fuzz load clusterload netbench nextbench clean

# Builds, then replaces the recipe's shell with the server (exec), so Ctrl-C
# and a SIGTERM to make reach the server itself, which shuts down gracefully
# and exits 0.
run:
	$(GO) build -ldflags='$(VERSION_FLAG)' -o bin/tandem ./cmd/tandem && exec bin/tandem

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w $(VERSION_FLAG)' -o bin/tandem ./cmd/tandem
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/tandem-load ./cmd/tandem-load

# Every test: formatting, vet, the web client's type check, then all Go
# tests (unit, integration, Pion, TURN, browser) with the race detector.
test: test-deps vet typecheck-web
	$(GO) test -race -count=1 -timeout 20m ./...

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

typecheck-web: $(TSC)
	$(TSC) -p web/jsconfig.json

$(TSC):
	npm install --silent --no-audit --no-fund --prefix $(TSC_DIR) typescript@7.0.2

test-deps:
	scripts/install-test-deps.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Fuzz each target for a while (FUZZTIME=1m by default).
FUZZTIME ?= 1m
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzHandle -fuzztime $(FUZZTIME) ./signaling
	$(GO) test -run '^$$' -fuzz FuzzModerationHandlers -fuzztime $(FUZZTIME) ./signaling
	$(GO) test -run '^$$' -fuzz FuzzInboundTake -fuzztime $(FUZZTIME) ./sfu/transport
	$(GO) test -run '^$$' -fuzz FuzzRTCPRouter -fuzztime $(FUZZTIME) ./sfu
	$(GO) test -run '^$$' -fuzz FuzzBridgeRecords -fuzztime $(FUZZTIME) ./cluster

# A short load run against a server on loopback (scripts/load.sh; LOAD_PAIRS,
# LOAD_BITRATE, LOAD_NEXT and LOAD_DURATION change it).
load: build
	scripts/load.sh

# Bridged against local forwarding: redis-server and two instances in cluster
# mode on loopback, the load with every user on one instance, with the pairs
# spread over both, and with partners on different instances
# (scripts/clusterload.sh; the LOAD_* variables and CLUSTERLOAD_ROUNDS,
# CLUSTERLOAD_PIN, CLUSTERLOAD_RUNS change it).
clusterload: build
	scripts/clusterload.sh

# Calls under impaired links in network namespaces, through tandem and peer to
# peer, as a table (internal/netbench; root; several minutes).
# NETBENCH_SECONDS (30 by default) is how long each call is measured.
netbench: test-deps
	TANDEM_NETBENCH=1 $(GO) test -count=1 -run '^TestNetbench$$' -v -timeout 45m ./internal/netbench

# Next in a browser: three Chromium instances on loopback, the press of Next to
# the new partner's first frame, beside fresh peer-to-peer calls
# (internal/nextbench; root for a private network namespace; a few minutes).
# NEXTBENCH_SWITCHES (15 by default) is how many Nexts are measured.
nextbench:
	TANDEM_NEXTBENCH=1 $(GO) test -count=1 -run '^TestNextbench$$' -v -timeout 20m ./internal/nextbench

clean:
	rm -rf bin .cache
