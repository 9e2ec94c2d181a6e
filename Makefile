# perfprof: see README.md. Every target prepares what it needs.
GO       ?= go
BIN      := bin/perfprof
GOFLAGS  ?=
export PERFPROF_TEST_STRICT ?= 1

.PHONY: all build setup workloads conformance demo test vet fuzz bench bench-quick clean

all: build

setup:
	@bash scripts/setup.sh

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/perfprof

workloads: conformance
	@$(MAKE) -s -C scripts

# C targets of the reliability conformance suite (docs/reliability.md).
conformance:
	@$(MAKE) -s -C scripts/conformance

# Runs perfprof on the bundled demo: a tree of processes and threads.
demo: setup build workloads
	$(BIN) -e task-clock,page-faults,context-switches -- scripts/bin/demo
	$(BIN) --per-thread -e task-clock -- scripts/bin/demo

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }

# Real-kernel tests: run as root (ptrace of non-children, perf events on
# other tasks). PERFPROF_TEST_STRICT=1 turns missing-capability skips into
# failures.
test: setup build workloads vet
	$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 20s ./perfevent/
	$(GO) test -run '^$$' -fuzz FuzzParseArgs -fuzztime 10s ./cmd/perfprof/

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 5m ./perfevent/

# Overhead benchmark: Go micro-benchmarks, then scripts/benchtab, which
# copies ../shared/bench into bin/bench, builds the workloads and the
# reference follower there with gcc, and measures perfprof against them
# (5 to 8 minutes on 2 cores; see docs/performance.md). BENCHFLAGS is
# passed to the harness, e.g. BENCHFLAGS=-rounds=11.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./scripts/benchtab -perfprof $(BIN) $(BENCHFLAGS)

# A smoke run of the harness alone: 3 rounds, smaller workloads (about 80 s).
bench-quick: build
	$(GO) run ./scripts/benchtab -quick -perfprof $(BIN) $(BENCHFLAGS)

clean:
	rm -rf bin
	@$(MAKE) -s -C scripts clean
	@$(MAKE) -s -C scripts/conformance clean
