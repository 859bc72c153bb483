# tandem: `make run` starts the server on defaults, `make test` runs every test.
GO      ?= go
TSC_DIR := .cache/tsc
TSC     := $(TSC_DIR)/node_modules/.bin/tsc

.PHONY: run build test vet typecheck-web test-deps bench fuzz load clean

run:
	$(GO) run ./cmd/tandem

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/tandem ./cmd/tandem
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
	$(GO) test -run '^$$' -fuzz FuzzInboundTake -fuzztime $(FUZZTIME) ./sfu

load: build
	bin/tandem-load -h

clean:
	rm -rf bin .cache
