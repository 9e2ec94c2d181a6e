# perfprof: see README.md. Every target prepares what it needs.
GO       ?= go
BIN      := bin/perfprof
GOFLAGS  ?=
export PERFPROF_TEST_STRICT ?= 1

.PHONY: all build setup workloads demo test vet fuzz bench clean

all: build

setup:
	@bash scripts/setup.sh

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/perfprof

workloads:
	@$(MAKE) -s -C scripts

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

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 5m ./perfevent/

bench: build workloads
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
	@$(MAKE) -s -C scripts clean
