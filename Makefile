# perfprof: see README.md. Every target prepares what it needs.
GO       ?= go
BIN      := bin/perfprof
GOFLAGS  ?=
export PERFPROF_TEST_STRICT ?= 1

.PHONY: all build setup workloads conformance demo test vet fuzz soak bench bench-quick clean

all: build

setup:
	@bash scripts/setup.sh

build:
	$(GO) build -buildvcs=auto $(GOFLAGS) -o $(BIN) ./cmd/perfprof

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
#
# The fuzzers run for a number of inputs, not a time: with a duration, Go
# 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" as the time runs out (go.dev/issue/75804, fixed in Go 1.27).
# About 70 s in all on the CI machine.
test: setup build workloads vet
	$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 150000x ./perfevent/
	$(GO) test -run '^$$' -fuzz '^FuzzParseFormat$$' -fuzztime 100000x ./perfevent/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeFields$$' -fuzztime 100000x ./perfevent/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime 200000x ./perfevent/
	$(GO) test -run '^$$' -fuzz '^FuzzParseArgs$$' -fuzztime 250000x ./cmd/perfprof/

# Soaks, about 7 minutes: a daemon following a service that forks 100
# children a second for 200 s (RSS, fds and metric series flat; in make
# test it runs 30 s), and the 20,000-task fork storm.
soak: setup build workloads
	PERFPROF_DAEMON_SOAK=200 $(GO) test -count=1 -timeout 15m -run '^TestDaemonSoak$$' -v ./test/
	PERFPROF_SOAK=1 $(GO) test -count=1 -timeout 30m -run '^TestSoakForkStorm$$' -v ./test/

# About 8 minutes.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 3000000x ./perfevent/
	$(GO) test -run '^$$' -fuzz '^FuzzParseFormat$$' -fuzztime 1000000x ./perfevent/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeFields$$' -fuzztime 1000000x ./perfevent/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime 1000000x ./perfevent/

# Overhead benchmark: Go micro-benchmarks, then scripts/benchtab, which
# copies ../shared/bench into bin/bench, builds the workloads and the
# reference follower there with gcc, and measures perfprof against them
# (11 to 14 minutes on 2 cores; see docs/performance.md). Its sampling
# section (4c, about 3 minutes: following with rings against counting,
# draining a million sampled page faults against perf record, an idle
# sampled target, 10,000 live sampled threads) also builds
# scripts/bin/faultpages and holdfaults. BENCHFLAGS is passed to the
# harness, e.g. BENCHFLAGS=-rounds=15; the sampling section alone:
# BENCHFLAGS=-sampling-only, or without it: BENCHFLAGS=-no-sampling; an
# A/B against an older binary: BENCHFLAGS=-baseline=/tmp/pp-old; the storm
# memory benchmark (off by default, about 2.5 minutes):
# BENCHFLAGS=-storm=200000, with the inherit follower:
# BENCHFLAGS='-storm=200000 -storm-follow=inherit'. Section 4d (about 4
# minutes) sets --follow inherit beside perf stat and perf record:
# alone with BENCHFLAGS=-inherit-only, left out with -no-inherit.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./scripts/benchtab -perfprof $(BIN) $(BENCHFLAGS)

# A smoke run of the harness alone: 3 rounds, smaller workloads (1 to 2
# minutes, the sampling section included).
bench-quick: build
	$(GO) run ./scripts/benchtab -quick -perfprof $(BIN) $(BENCHFLAGS)

clean:
	rm -rf bin
	@$(MAKE) -s -C scripts clean
	@$(MAKE) -s -C scripts/conformance clean
