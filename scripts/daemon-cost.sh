#!/bin/bash
# daemon-cost.sh SECONDS FOLLOW [PERFPROF]: the daemon of issue 18 on a
# Python service that forks 10 children a second, in a cgroup of its own:
# perfprof --daemon --cgroup DIR -F 49 -g --pprof-dir DIR -i 10000 with
# --follow FOLLOW, for SECONDS. Prints perfprof's CPU (share of one core)
# and its peak RSS, and the service's own CPU. Root; cgroup2 mounted.
set -euo pipefail
secs=${1:?seconds} follow=${2:?ptrace or inherit} pp=${3:-bin/perfprof}
root=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
cg=$root/perfprof-cost-$$
work=$(mktemp -d)
mkdir "$cg"
cleanup() {
	[ -f "$work/pp.pid" ] && kill "$(cat "$work/pp.pid")" 2>/dev/null || true
	echo 1 >"$cg/cgroup.kill" 2>/dev/null || true
	sleep 0.5
	rmdir "$cg" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
sh -c "echo \$\$ >$cg/cgroup.procs; exec python3 -c '
import os, time
while True:
    pid = os.fork()
    if pid == 0:
        sum(range(200000))
        os._exit(0)
    os.waitpid(pid, 0)
    time.sleep(0.1)
'" &
sleep 1
"$pp" --follow "$follow" --daemon --pidfile "$work/pp.pid" -o "$work/report" --cgroup "$cg" \
	-F 49 -g --pprof-dir "$work/prof" -i 10000 ${CPUPROFILE:+--cpuprofile "$CPUPROFILE"}
pid=$(cat "$work/pp.pid")
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
c0=$(cpu "$pid")
t0=$(date +%s.%N)
sleep "$secs"
c1=$(cpu "$pid")
t1=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
forks=$(grep -o '[0-9]* forks' "$work/report" | tail -1)
profs=$(ls "$work/prof" | wc -l)
awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$tick" -v hwm="$hwm" -v rss="$rss" \
	-v f="$follow" -v forks="$forks" -v profs="$profs" 'BEGIN {
	printf "--follow %s: %.0f s, perfprof CPU %.2f%% of one core, RSS %.1f MB (peak %.1f MB), %s, %d profiles\n",
		f, t1 - t0, 100 * (c1 - c0) / hz / (t1 - t0), rss / 1024, hwm / 1024, forks, profs
}'
