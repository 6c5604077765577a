# Nuxari — build, lint, test and benchmark.
# Tools are pinned by version and installed with `go install` into $(GOBIN).

GO          ?= go
TOOLS       := $(CURDIR)/.tools
STATICCHECK_VERSION           := v0.8.2
BUF_VERSION                   := v1.75.0
PROTOC_GEN_GO_VERSION         := v1.36.12
PROTOC_GEN_CONNECT_GO_VERSION := v1.21.1
# Each tool lives in a directory named for its version, so a version bump
# installs the new one.
STATICCHECK := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
BUF         := $(TOOLS)/buf-$(BUF_VERSION)/buf
PROTOC_GEN_GO         := $(TOOLS)/protoc-gen-go-$(PROTOC_GEN_GO_VERSION)/protoc-gen-go
PROTOC_GEN_CONNECT_GO := $(TOOLS)/protoc-gen-connect-go-$(PROTOC_GEN_CONNECT_GO_VERSION)/protoc-gen-connect-go
FUZZTIME    ?= 5s
BENCHTIME   ?= 1x
PKGS        := ./...

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

DATA_DIR    ?= nuxari-data
ADDR        ?= 127.0.0.1:8080

.PHONY: run
run: web ## Run nuxarid on its embedded defaults (data in ./nuxari-data), the console at http://$(ADDR)/.
	$(GO) run ./cmd/nuxarid --data-dir $(DATA_DIR) --addr $(ADDR)

.PHONY: build
build: web ## Build nuxarid (with the console), nuxctl and nuxari-agent into ./bin.
	$(GO) build -o bin/ ./cmd/...

# The web console (web/): TypeScript built with Vite into
# internal/console/dist/app, which nuxarid embeds. npm installs exactly
# what web/package-lock.json pins.
NPM         ?= npm
WEB_DEPS    := web/node_modules/.package-lock.json

$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && $(NPM) ci --no-audit --no-fund
	@touch $@

.PHONY: web-deps
web-deps: $(WEB_DEPS) ## Install the console's npm packages (pinned by web/package-lock.json).

.PHONY: web
web: $(WEB_DEPS) ## Build the console (type-checked), with the evidence package verifier compiled to WebAssembly.
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags=-s -o web/public/verify.wasm ./cmd/nuxari-verify-wasm
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" web/src/wasm_exec.js
	cd web && $(NPM) run --silent build

.PHONY: web-test
web-test: web ## The console's tests: the browser verifier on the shared vectors, then the browser tests in headless Chromium against a real nuxarid.
	cd web && $(NPM) test --silent
	NUXARI_BROWSER_TESTS=1 NUXARI_CHROMIUM=$$(scripts/chromium.sh) $(GO) test -count=1 -timeout 15m ./web/e2e

.PHONY: screenshots
screenshots: web ## Run the browser tests and keep their screenshots in docs/console (the README shows them).
	NUXARI_BROWSER_TESTS=1 NUXARI_CHROMIUM=$$(scripts/chromium.sh) $(GO) test -count=1 -timeout 15m ./web/e2e -screenshots ../../docs/console

IMAGE_DIR   ?= bin/image
IMAGE_TAG   ?= dev
IMAGE_ARCH  ?= $(shell $(GO) env GOARCH)

.PHONY: image
image: ## Build the nuxarid and nuxari-agent container images into bin/image (no daemon or registry needed).
	$(GO) run ./deploy/mkimage -out $(IMAGE_DIR) -tag $(IMAGE_TAG) -arch $(IMAGE_ARCH)

$(STATICCHECK):
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
$(BUF):
	GOBIN=$(dir $@) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(PROTOC_GEN_GO):
	GOBIN=$(dir $@) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(PROTOC_GEN_CONNECT_GO):
	GOBIN=$(dir $@) $(GO) install connectrpc.com/connect/cmd/protoc-gen-connect-go@$(PROTOC_GEN_CONNECT_GO_VERSION)

.PHONY: generate
generate: $(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_CONNECT_GO) $(WEB_DEPS) ## Regenerate protos' Go and TypeScript code, docs/rbac.md and docs/events.md.
	PATH=$(dir $(PROTOC_GEN_GO)):$(dir $(PROTOC_GEN_CONNECT_GO)):$$PATH $(BUF) generate
	$(GO) test ./governance/api -run '^TestRBAC(Doc|TypeScript)$$' -count=1 -update
	$(GO) test ./internal/eventcatalog -run '^TestEventsDoc$$' -count=1 -update

.PHONY: lint
lint: $(STATICCHECK) $(BUF) ## gofmt, go vet, staticcheck, buf lint, generated code current.
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(BUF) lint
	$(MAKE) --no-print-directory generate
	@if [ -n "$$(git status --porcelain -- proto web/src/gen web/src/rbac.gen.ts docs/rbac.md docs/events.md)" ]; then \
		echo "generated code is stale: run 'make generate' and commit"; git status --short -- proto web/src/gen web/src/rbac.gen.ts docs/rbac.md docs/events.md; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	@# Layering. The verifier, the CLI and the agent never link Pebble or
	@# server code; the domain never imports Connect, generated protos or
	@# the gateway.
	@for p in ./ledger/verify ./cli ./cmd/nuxctl ./agent ./cmd/nuxari-agent; do \
		bad=$$($(GO) list -deps $$p | grep -E '^github.com/cockroachdb/pebble|^github.com/nuxari/nuxari/(server|governance|agentgw|evidence/objstore|ledger)(/|$$)' | grep -vE '^github.com/nuxari/nuxari/ledger/(verify|leaf)$$'); \
		if [ -n "$$bad" ]; then echo "$$p must not depend on Pebble or server code:"; echo "$$bad"; exit 1; fi; \
	done
	@for p in $$($(GO) list ./governance/... | grep -v '/governance/api$$'); do \
		bad=$$($(GO) list -deps $$p | grep -E '^connectrpc.com/|^github.com/nuxari/nuxari/(proto/gen|agentgw|server)(/|$$)'); \
		if [ -n "$$bad" ]; then echo "$$p (the domain) must not depend on transport code:"; echo "$$bad"; exit 1; fi; \
	done
	@# Inside the domain: the features' import graph.
	$(GO) test -count=1 -run '^TestFeatureLayering$$' ./governance
	@if [ -n "$$($(GO) mod tidy -diff)" ]; then echo "go.mod is not tidy: run 'go mod tidy'"; exit 1; fi

.PHONY: unit
# Tests that skip themselves under -race (too slow there), run again
# without it; a skip fails the target.
NORACE_TESTS := ./evidence/archive:TestVerifyMillion ./server:TestListEventsMemoryIsBounded

unit: ## Run the unit, integration and crash tests with the race detector, then the ones too slow for it without.
	GO=$(GO) scripts/test-services.sh $(GO) test -race -count=1 -timeout 15m $(PKGS)
	@for t in $(NORACE_TESTS); do pkg=$${t%%:*}; name=$${t##*:}; \
		out=$$($(GO) test -count=1 -timeout 10m -run "^$$name\$$" -v $$pkg) || { echo "$$out"; exit 1; }; \
		echo "$$out" | grep -E '^--- |verified|heap|^ok'; \
		echo "$$out" | grep -q "^--- PASS: $$name " || { echo "$$name did not run"; exit 1; }; \
	done

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each.
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh $(PKGS)

.PHONY: test
test: lint unit web-test fuzz ## Everything CI runs: lint, all tests, the console's browser tests, fuzz smoke.

.PHONY: bench
bench: ## Run the benchmarks (BENCHTIME=1x by default; see bench/RESULTS.md), then bench-rpc.
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m ./bench/ ./ledger/
	$(MAKE) --no-print-directory bench-rpc

RPC_FLAGS   ?= --duration 10s

.PHONY: bench-rpc
bench-rpc: ## Load an in-process nuxarid over RPC with bench/cmd/nuxload (flags: RPC_FLAGS); record the figures in bench/RESULTS.md.
	$(GO) run ./bench/cmd/nuxload $(RPC_FLAGS) --record bench/RESULTS.md
