package perfevent

import (
	"strings"

	perf "github.com/elastic/go-perf"
)

// namedEvent is one entry of the generic (non-tracepoint, non-raw) name table.
type namedEvent struct {
	name string            // canonical name, as shown to users
	cfg  perf.Configurator // fills Type and Config
	hw   bool              // needs a hardware PMU
}

// genericEvents maps every accepted hardware and software spelling
// (canonical names and aliases) to its canonical entry. These names are
// case-sensitive, like perf's.
var genericEvents = map[string]namedEvent{}

// cacheEvents maps the lower-cased perf spelling of every hardware cache
// event ("l1-dcache-load-misses") to its entry with the canonical spelling
// ("L1-dcache-load-misses"). Hardware cache names are case-insensitive, as
// in perf.
var cacheEvents = map[string]namedEvent{}

// knownNames lists every accepted generic and cache spelling, for
// suggestions. Sorted by construction order, deduplicated.
var knownNames []string

func init() {
	hw := func(c perf.HardwareCounter, name string, aliases ...string) {
		add(namedEvent{name: name, cfg: c, hw: true}, aliases)
	}
	sw := func(c perf.SoftwareCounter, name string, aliases ...string) {
		add(namedEvent{name: name, cfg: c}, aliases)
	}
	// Canonical names follow perf stat's output, where "cycles" is what
	// users type and see most.
	hw(perf.CPUCycles, "cycles", "cpu-cycles")
	hw(perf.Instructions, "instructions")
	hw(perf.CacheReferences, "cache-references")
	hw(perf.CacheMisses, "cache-misses")
	hw(perf.BranchInstructions, "branches", "branch-instructions")
	hw(perf.BranchMisses, "branch-misses")
	hw(perf.BusCycles, "bus-cycles")
	hw(perf.StalledCyclesFrontend, "stalled-cycles-frontend", "idle-cycles-frontend")
	hw(perf.StalledCyclesBackend, "stalled-cycles-backend", "idle-cycles-backend")
	hw(perf.RefCPUCycles, "ref-cycles")

	sw(perf.TaskClock, "task-clock")
	sw(perf.CPUClock, "cpu-clock")
	sw(perf.PageFaults, "page-faults", "faults")
	sw(perf.MinorPageFaults, "minor-faults")
	sw(perf.MajorPageFaults, "major-faults")
	sw(perf.ContextSwitches, "context-switches", "cs")
	sw(perf.CPUMigrations, "cpu-migrations", "migrations")
	sw(perf.AlignmentFaults, "alignment-faults")
	sw(perf.EmulationFaults, "emulation-faults")
	sw(perf.Dummy, "dummy")

	// Hardware cache events in perf's spelling:
	// <cache>-<op plural> for accesses, <cache>-<op>-misses for misses.
	// The singular op is accepted for accesses too ("LLC-load").
	caches := []struct {
		c    perf.Cache
		name string
	}{
		{perf.L1D, "L1-dcache"}, {perf.L1I, "L1-icache"}, {perf.LL, "LLC"},
		{perf.DTLB, "dTLB"}, {perf.ITLB, "iTLB"}, {perf.BPU, "branch"},
		{perf.NODE, "node"},
	}
	ops := []struct {
		op               perf.CacheOp
		singular, plural string
	}{
		{perf.Read, "load", "loads"},
		{perf.Write, "store", "stores"},
		{perf.Prefetch, "prefetch", "prefetches"},
	}
	for _, c := range caches {
		for _, op := range ops {
			access := perf.HardwareCacheCounter{Cache: c.c, Op: op.op, Result: perf.Access}
			miss := perf.HardwareCacheCounter{Cache: c.c, Op: op.op, Result: perf.Miss}
			accName := c.name + "-" + op.plural
			addCache(namedEvent{name: accName, cfg: access, hw: true}, c.name+"-"+op.singular)
			missName := c.name + "-" + op.singular + "-misses"
			addCache(namedEvent{name: missName, cfg: miss, hw: true}, c.name+"-"+op.plural+"-misses")
		}
	}
}

func add(ev namedEvent, aliases []string) {
	for _, n := range append([]string{ev.name}, aliases...) {
		genericEvents[n] = ev
		knownNames = append(knownNames, n)
	}
}

func addCache(ev namedEvent, alias string) {
	cacheEvents[strings.ToLower(ev.name)] = ev
	cacheEvents[strings.ToLower(alias)] = ev
	// Only the canonical spelling is suggested; the alias would be noise.
	knownNames = append(knownNames, ev.name)
}

// lookupName finds a generic or hardware cache event by name.
func lookupName(name string) (namedEvent, bool) {
	if ev, ok := genericEvents[name]; ok {
		return ev, true
	}
	ev, ok := cacheEvents[strings.ToLower(name)]
	return ev, ok
}
