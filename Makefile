# Nuxari — build, lint, test and benchmark.
# Tools are pinned by version and installed with `go install` into $(GOBIN).

GO          ?= go
GOBIN       ?= $(shell $(GO) env GOPATH)/bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(GOBIN)/staticcheck
FUZZTIME    ?= 5s
BENCHTIME   ?= 1x
PKGS        := ./...

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## Run the service on its embedded defaults.
	@echo "nuxarid (the API server) is not part of this tree yet; the ledger it"
	@echo "builds on is. Run 'make test' to exercise it, 'make bench' to measure it."

.PHONY: generate
generate: ## Regenerate generated code.
	$(GO) generate $(PKGS)

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: lint
lint: $(STATICCHECK) ## gofmt, go vet, staticcheck.
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	@# The offline verifier must build without Pebble or server code.
	@if $(GO) list -deps ./ledger/verify | grep -E 'cockroachdb/pebble|nuxari/ledger$$'; then \
		echo "ledger/verify must not depend on Pebble or the ledger"; exit 1; fi

.PHONY: unit
unit: ## Run the unit, integration and crash tests with the race detector.
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each.
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

.PHONY: test
test: lint unit fuzz ## Everything CI runs: lint, all tests, fuzz smoke.

.PHONY: bench
bench: ## Run the benchmarks (BENCHTIME=1x by default; see bench/RESULTS.md).
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m ./bench/ ./ledger/
