package metrics

import (
	"runtime"
	"runtime/debug"
	rm "runtime/metrics"
	"sync"
	"time"
)

// goFamilies are perfprof's Go runtime metrics: the go_* families of
// client_golang's Go collector with its defaults (collectors.NewGoCollector),
// computed as it computes them: go_goroutines, go_threads, go_info, the GC
// pauses, the runtime.MemStats-like go_memstats_* (from runtime/metrics),
// and the three runtime/metrics it exports by default (go_gc_gogc_percent,
// go_gc_gomemlimit_bytes, go_sched_gomaxprocs_threads).
func goFamilies() []family {
	one := func(name, help string, k kind, v float64) family {
		return family{name: name, help: help, kind: k, series: []series{{value: v}}}
	}
	threads, _ := runtime.ThreadCreateProfile(nil)
	st := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&st)
	pauses := series{value: st.PauseTotal.Seconds(), count: uint64(st.NumGC)}
	for i, q := range st.PauseQuantiles {
		pauses.quantiles = append(pauses.quantiles, quantile{float64(i) / float64(len(st.PauseQuantiles)-1), q.Seconds()})
	}
	fams := []family{
		one("go_goroutines", "Number of goroutines that currently exist.", gauge, float64(runtime.NumGoroutine())),
		one("go_threads", "Number of OS threads created.", gauge, float64(threads)),
		{name: "go_gc_duration_seconds", help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
			kind: summary, series: []series{pauses}},
		one("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", gauge, float64(st.LastGC.UnixNano())/1e9),
		{name: "go_info", help: "Information about the Go environment.", kind: gauge,
			series: []series{{labels: []label{{"version", runtime.Version()}}, value: 1}}},
	}

	samples := make([]rm.Sample, len(rmNames))
	for i, n := range rmNames {
		samples[i].Name = n
	}
	rm.Read(samples)
	v := func(i int) uint64 {
		if samples[i].Value.Kind() != rm.KindUint64 {
			return 0 // not in this Go
		}
		return samples[i].Value.Uint64()
	}
	for i, name := range rmExported {
		fams = append(fams, one(name, rmHelp()[i], gauge, float64(v(i))))
	}
	tiny := v(rmTinyAllocs)
	heapAlloc := v(rmHeapObjectsBytes)
	heapInuse := heapAlloc + v(rmHeapUnused)
	heapReleased := v(rmHeapReleased)
	heapIdle := heapReleased + v(rmHeapFree)
	stackInuse := v(rmHeapStacks)
	mspanInuse, mcacheInuse := v(rmMSpanInuse), v(rmMCacheInuse)
	ms := func(name, help string, k kind, x uint64) family {
		return one("go_memstats_"+name, help, k, float64(x))
	}
	return append(fams,
		ms("alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", gauge, heapAlloc),
		ms("alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", counter, v(rmAllocsBytes)),
		ms("sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", gauge, v(rmTotal)),
		ms("mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", counter, v(rmAllocsObjects)+tiny),
		ms("frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", counter, v(rmFreesObjects)+tiny),
		ms("heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", gauge, heapAlloc),
		ms("heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", gauge, heapInuse+heapIdle),
		ms("heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", gauge, heapIdle),
		ms("heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", gauge, heapInuse),
		ms("heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", gauge, heapReleased),
		ms("heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", gauge, v(rmHeapObjects)),
		ms("stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", gauge, stackInuse),
		ms("stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", gauge, stackInuse+v(rmOSStacks)),
		ms("mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", gauge, mspanInuse),
		ms("mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", gauge, mspanInuse+v(rmMSpanFree)),
		ms("mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", gauge, mcacheInuse),
		ms("mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", gauge, mcacheInuse+v(rmMCacheFree)),
		ms("buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", gauge, v(rmBuckets)),
		ms("gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", gauge, v(rmMetadataOther)),
		ms("other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", gauge, v(rmOther)),
		ms("next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", gauge, v(rmHeapGoal)),
	)
}

// rmExported are the families of the runtime/metrics read first in
// rmNames, exported under the names client_golang gives them.
var rmExported = []string{"go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_sched_gomaxprocs_threads"}

// rmNames are the runtime/metrics read at a scrape: first those exported
// as they are (rmExported), then those the go_memstats_* are made of,
// by the indexes below.
var rmNames = []string{
	"/gc/gogc:percent",
	"/gc/gomemlimit:bytes",
	"/sched/gomaxprocs:threads",
	"/gc/heap/tiny/allocs:objects",
	"/gc/heap/allocs:objects",
	"/gc/heap/frees:objects",
	"/gc/heap/allocs:bytes",
	"/gc/heap/objects:objects",
	"/gc/heap/goal:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/os-stacks:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/mspan/free:bytes",
	"/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/metadata/mcache/free:bytes",
	"/memory/classes/profiling/buckets:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/other:bytes",
}

// Indexes in rmNames.
const (
	rmTinyAllocs = 3 + iota
	rmAllocsObjects
	rmFreesObjects
	rmAllocsBytes
	rmHeapObjects
	rmHeapGoal
	rmTotal
	rmHeapObjectsBytes
	rmHeapUnused
	rmHeapReleased
	rmHeapFree
	rmHeapStacks
	rmOSStacks
	rmMSpanInuse
	rmMSpanFree
	rmMCacheInuse
	rmMCacheFree
	rmBuckets
	rmMetadataOther
	rmOther
)

// rmHelp returns the help texts of rmExported: the runtime's description
// of each, and where it comes from, as client_golang writes them.
var rmHelp = sync.OnceValue(func() []string {
	help := make([]string, len(rmExported))
	for i := range rmExported {
		help[i] = "Sourced from " + rmNames[i] + "."
		for _, d := range rm.All() {
			if d.Name == rmNames[i] {
				help[i] = d.Description + " " + help[i]
			}
		}
	}
	return help
})
