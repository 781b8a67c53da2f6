# Kapsule: containers that feel like the host, kept up to date like the desktop.
# `make help` lists the targets.

GO        ?= go
PREFIX    ?= /usr/local
DESTDIR   ?=
BIN       := bin
PKGS      := ./...
E2E_FLAGS ?= -count=1 -timeout 40m
export CGO_ENABLED ?= 1

.PHONY: help build test test-unit test-e2e testbed bench lint fmt-check vet install uninstall demo demo-clean clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build kapsuled, kap (also as kapsule) and kapsule-update into bin/
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...
	@ln -sf kap $(BIN)/kapsule

testbed: ## set up the test bed: packages, incusd, test image, test user (root)
	testbed/setup.sh

test: testbed lint test-unit test-e2e ## everything CI runs: test bed, gofmt, vet, unit tests (-race), end-to-end tests on real Incus

lint: fmt-check vet ## gofmt and go vet

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags e2e $(PKGS)

test-unit: ## unit tests with the race detector
	$(GO) test -race -count=1 $(PKGS)

test-e2e: build ## end-to-end tests on the real test bed, as the unprivileged test user
	KAPSULE_BIN=$(CURDIR)/bin $(GO) test -tags e2e -race -p 1 $(E2E_FLAGS) -exec $(CURDIR)/testbed/as-user $(PKGS)

bench: testbed build ## benchmarks: ratios against a floor measured in the same run
	KAPSULE_BIN=$(CURDIR)/bin $(GO) test -tags e2e -p 1 -run '^$$' -bench . -benchtime 30x -exec $(CURDIR)/testbed/as-user ./lifecycle/incus/ ./cmd/kap/

clean: ## remove build output
	rm -rf $(BIN)
