# Kapsule: containers that feel like the host, kept up to date like the desktop.
# `make help` lists the targets.

GO        ?= go
PREFIX    ?= /usr/local
DESTDIR   ?=
BIN       := bin
PKGS      := ./...
E2E_FLAGS ?= -count=1 -timeout 40m
export CGO_ENABLED ?= 1

# Where make install puts things, under $(DESTDIR).
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share
USERUNITDIR ?= $(PREFIX)/lib/systemd/user
DBUSDIR     ?= $(DATADIR)/dbus-1
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d

# Every cmd/NAME/main.go is a binary (kapsuled, kap, kapsule-update once it
# lands); the CLIs get shell completions, kapsule (kap's other name) too.
CMDS := $(sort $(patsubst cmd/%/main.go,%,$(wildcard cmd/*/main.go)))
CLIS := $(filter-out kapsuled,$(CMDS)) kapsule
XML  := $(sort $(wildcard dbus-interfaces/*.xml))

.PHONY: help build completions test test-unit test-install test-e2e testbed bench lint fmt-check vet fuzz stress install uninstall demo demo-clean clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build kapsuled, kap (also as kapsule) and kapsule-update into bin/
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...
	@ln -sf kap $(BIN)/kapsule

completions: build ## bash, zsh and fish completions for the CLIs into bin/completions/ (cobra writes them)
	@mkdir -p $(BIN)/completions/bash $(BIN)/completions/zsh $(BIN)/completions/fish
	@for c in $(CLIS); do \
		$(BIN)/$$c completion bash >$(BIN)/completions/bash/$$c && \
		$(BIN)/$$c completion zsh >$(BIN)/completions/zsh/_$$c && \
		$(BIN)/$$c completion fish >$(BIN)/completions/fish/$$c.fish || exit 1; \
	done

install: build completions ## install into DESTDIR/PREFIX (default /usr/local); see README "Installing"
	install -D -m 0755 -t $(DESTDIR)$(BINDIR) $(addprefix $(BIN)/,$(CMDS))
	ln -sfn kap $(DESTDIR)$(BINDIR)/kapsule
	@mkdir -p $(BIN)/systemd
	sed 's|@BINDIR@|$(BINDIR)|g' systemd/kapsuled.service.in >$(BIN)/systemd/kapsuled.service
	sed 's|@BINDIR@|$(BINDIR)|g' systemd/org.kde.kapsule.service.in >$(BIN)/systemd/org.kde.kapsule.service
	install -D -m 0644 $(BIN)/systemd/kapsuled.service $(DESTDIR)$(USERUNITDIR)/kapsuled.service
	install -D -m 0644 $(BIN)/systemd/org.kde.kapsule.service $(DESTDIR)$(DBUSDIR)/services/org.kde.kapsule.service
	install -D -m 0644 -t $(DESTDIR)$(DBUSDIR)/interfaces $(XML)
	install -D -m 0644 -t $(DESTDIR)$(BASHCOMPDIR) $(addprefix $(BIN)/completions/bash/,$(CLIS))
	install -D -m 0644 -t $(DESTDIR)$(ZSHCOMPDIR) $(addprefix $(BIN)/completions/zsh/_,$(CLIS))
	install -D -m 0644 -t $(DESTDIR)$(FISHCOMPDIR) $(patsubst %,$(BIN)/completions/fish/%.fish,$(CLIS))
	install -D -m 0644 data/kapsulerc $(DESTDIR)$(DATADIR)/kapsule/kapsulerc

uninstall: ## remove exactly what make install put there (give it the same PREFIX and DESTDIR)
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(CMDS) kapsule)
	rm -f $(DESTDIR)$(USERUNITDIR)/kapsuled.service $(DESTDIR)$(DBUSDIR)/services/org.kde.kapsule.service
	rm -f $(addprefix $(DESTDIR)$(DBUSDIR)/interfaces/,$(notdir $(XML)))
	rm -f $(addprefix $(DESTDIR)$(BASHCOMPDIR)/,$(CLIS)) $(addprefix $(DESTDIR)$(ZSHCOMPDIR)/_,$(CLIS)) \
		$(patsubst %,$(DESTDIR)$(FISHCOMPDIR)/%.fish,$(CLIS))
	rm -f $(DESTDIR)$(DATADIR)/kapsule/kapsulerc
	[ ! -d $(DESTDIR)$(DATADIR)/kapsule ] || rmdir --ignore-fail-on-non-empty $(DESTDIR)$(DATADIR)/kapsule

testbed: ## set up the test bed: packages, incusd, test image, test user (root)
	testbed/setup.sh

test: testbed lint test-unit test-e2e fuzz stress ## everything CI runs: test bed, gofmt, vet, unit tests (-race), end-to-end tests on real Incus, fuzzing, stress tests

lint: fmt-check vet ## gofmt and go vet

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags e2e $(PKGS)
	$(GO) vet -tags stress $(PKGS)

test-unit: ## unit tests with the race detector
	$(GO) test -race -count=1 $(PKGS)

test-install: ## make install and uninstall into temporary dirs, checked file by file; systemd-analyze verify (part of test-unit)
	$(GO) test -race -count=1 ./install/

# End-to-end tests named TestRestricted* run as the restricted test user (in
# group incus only: Incus through incus-user's per-user project), all others
# as the test user (incus-admin).
RESTRICTED_TESTS := ^TestRestricted

test-e2e: build ## end-to-end tests on the real test bed, as the unprivileged test user, then the restricted ones as the restricted user
	KAPSULE_BIN=$(CURDIR)/bin $(GO) test -tags e2e -race -p 1 $(E2E_FLAGS) -skip '$(RESTRICTED_TESTS)' -exec $(CURDIR)/testbed/as-user $(PKGS)
	KAPSULE_BIN=$(CURDIR)/bin TESTBED_AS=restricted $(GO) test -tags e2e -race -p 1 $(E2E_FLAGS) -run '$(RESTRICTED_TESTS)' -exec $(CURDIR)/testbed/as-user $(PKGS)

# Every fuzz target (func FuzzX in a _test.go file) for FUZZTIME each: go
# test fuzzes one target per run, so they run one after the other.
FUZZTIME ?= 10s

fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz: $$t in ./$$(dirname $${f#./}) for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./$$(dirname $${f#./}); \
		done; \
	done

# Stress tests (stress/, build tag stress) run as root: they kill kapsuled,
# restart incusd (briefly: it affects everything on the machine), kill the
# session bus and act as other users, and start kapsuled and the CLIs as
# the test user themselves. See README "Reliability".
STRESS_FLAGS ?= -count=1 -timeout 40m

stress: build ## stress tests (root): faults, load through the bridge, hostile input, security boundaries
	KAPSULE_BIN=$(CURDIR)/bin $(GO) test -tags stress -p 1 $(STRESS_FLAGS) ./stress/

bench: testbed build ## benchmarks: ratios against a floor measured in the same run
	KAPSULE_BIN=$(CURDIR)/bin $(GO) test -tags e2e -p 1 -run '^$$' -bench . -benchtime 30x -exec $(CURDIR)/testbed/as-user ./lifecycle/incus/ ./cmd/kap/ ./cmd/kapsuled/
	KAPSULE_BIN=$(CURDIR)/bin $(GO) test -tags e2e -p 1 -run '^$$' -bench . -benchtime 1x -timeout 30m -exec $(CURDIR)/testbed/as-user ./cmd/kapsule-update/

demo: ## the main job end to end on this machine (root): test bed, a desktop user, a container with a pending update, kap and kapsule-update at work
	demo/demo.sh

demo-clean: ## remove what make demo made (user, container, /opt/kapsule-demo); the test bed stays
	demo/clean.sh

clean: ## remove build output
	rm -rf $(BIN)
