#!/usr/bin/env bash
# Prepares a fresh Debian machine for perfprof's demo and tests: a C
# compiler (cgo, for the signal state perfprof hands its workload, and the
# test workloads), strace (a second tracer, for the already-traced test),
# perf (to cross-check counts), Python (a real program with a SIGINT
# handler, for the Ctrl-C test), Prometheus (a real server scrapes
# --listen in the metrics test), and tracefs.
# Idempotent; quiet when there is nothing to do.
set -euo pipefail

need=()
command -v go >/dev/null || { echo "setup: Go is missing: install Go 1.24 or newer (https://go.dev/dl)" >&2; exit 1; }
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v make >/dev/null || need+=(make)
command -v strace >/dev/null || need+=(strace)
command -v python3 >/dev/null || need+=(python3)
command -v perf >/dev/null || need+=(linux-perf)
command -v prometheus >/dev/null || need+=(prometheus)

if ((${#need[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "setup: missing ${need[*]}: install them (as root: apt-get install ${need[*]})" >&2
		exit 1
	fi
	echo "setup: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# perf is optional (a cross-check): do not fail if the package is absent.
	if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
		rest=()
		for p in "${need[@]}"; do [[ $p == linux-perf ]] || rest+=("$p"); done
		if ((${#rest[@]})); then
			apt-get install -y -qq --no-install-recommends "${rest[@]}" >/dev/null
		fi
	fi
fi

# Tracepoint events need tracefs; perfprof mounts it itself when root, but
# do it here too so that 'perf list' and the tests see the same thing.
if [[ $(id -u) -eq 0 && ! -e /sys/kernel/tracing/events ]]; then
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
