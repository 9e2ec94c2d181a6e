package perfevent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestAttrSize(t *testing.T) {
	if got := binary.Size(unix.PerfEventAttr{}); got != attrSize {
		t.Fatalf("binary.Size(unix.PerfEventAttr{}) = %d, attrSize = %d", got, attrSize)
	}
}

// cacheConfig is PERF_TYPE_HW_CACHE's config: cache | op<<8 | result<<16.
func cacheConfig(cache, op, result uint64) uint64 { return cache | op<<8 | result<<16 }

type parseCase struct {
	name     string
	in       []string
	names    []string // Spec.Name, in order
	typ      uint32   // of the first spec
	config   uint64   // of the first spec
	bits     uint64   // exclude bits of the first spec
	hardware bool     // of the first spec
}

var parseCases = []parseCase{
	// Hardware.
	{name: "cycles", in: []string{"cycles"}, names: []string{"cycles"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_CPU_CYCLES, hardware: true},
	{name: "cpu-cycles alias", in: []string{"cpu-cycles"}, names: []string{"cycles"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_CPU_CYCLES, hardware: true},
	{name: "instructions", in: []string{"instructions"}, names: []string{"instructions"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_INSTRUCTIONS, hardware: true},
	{name: "cache-references", in: []string{"cache-references"}, names: []string{"cache-references"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_CACHE_REFERENCES, hardware: true},
	{name: "cache-misses", in: []string{"cache-misses"}, names: []string{"cache-misses"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_CACHE_MISSES, hardware: true},
	{name: "branches", in: []string{"branches"}, names: []string{"branches"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_BRANCH_INSTRUCTIONS, hardware: true},
	{name: "branch-instructions alias", in: []string{"branch-instructions"}, names: []string{"branches"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_BRANCH_INSTRUCTIONS, hardware: true},
	{name: "branch-misses", in: []string{"branch-misses"}, names: []string{"branch-misses"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_BRANCH_MISSES, hardware: true},
	{name: "bus-cycles", in: []string{"bus-cycles"}, names: []string{"bus-cycles"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_BUS_CYCLES, hardware: true},
	{name: "stalled-cycles-frontend", in: []string{"stalled-cycles-frontend"}, names: []string{"stalled-cycles-frontend"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_STALLED_CYCLES_FRONTEND, hardware: true},
	{name: "stalled-cycles-backend", in: []string{"stalled-cycles-backend"}, names: []string{"stalled-cycles-backend"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_STALLED_CYCLES_BACKEND, hardware: true},
	{name: "ref-cycles", in: []string{"ref-cycles"}, names: []string{"ref-cycles"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_REF_CPU_CYCLES, hardware: true},

	// Software.
	{name: "task-clock", in: []string{"task-clock"}, names: []string{"task-clock"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_TASK_CLOCK},
	{name: "cpu-clock", in: []string{"cpu-clock"}, names: []string{"cpu-clock"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_CPU_CLOCK},
	{name: "page-faults", in: []string{"page-faults"}, names: []string{"page-faults"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_PAGE_FAULTS},
	{name: "faults alias", in: []string{"faults"}, names: []string{"page-faults"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_PAGE_FAULTS},
	{name: "minor-faults", in: []string{"minor-faults"}, names: []string{"minor-faults"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_PAGE_FAULTS_MIN},
	{name: "major-faults", in: []string{"major-faults"}, names: []string{"major-faults"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_PAGE_FAULTS_MAJ},
	{name: "context-switches", in: []string{"context-switches"}, names: []string{"context-switches"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_CONTEXT_SWITCHES},
	{name: "cs alias", in: []string{"cs"}, names: []string{"context-switches"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_CONTEXT_SWITCHES},
	{name: "cpu-migrations", in: []string{"cpu-migrations"}, names: []string{"cpu-migrations"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_CPU_MIGRATIONS},
	{name: "migrations alias", in: []string{"migrations"}, names: []string{"cpu-migrations"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_CPU_MIGRATIONS},
	{name: "alignment-faults", in: []string{"alignment-faults"}, names: []string{"alignment-faults"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_ALIGNMENT_FAULTS},
	{name: "emulation-faults", in: []string{"emulation-faults"}, names: []string{"emulation-faults"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_EMULATION_FAULTS},
	{name: "dummy", in: []string{"dummy"}, names: []string{"dummy"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_DUMMY},

	// Hardware cache.
	{name: "L1-dcache-loads", in: []string{"L1-dcache-loads"}, names: []string{"L1-dcache-loads"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_L1D, unix.PERF_COUNT_HW_CACHE_OP_READ, unix.PERF_COUNT_HW_CACHE_RESULT_ACCESS), hardware: true},
	{name: "L1-dcache-load-misses", in: []string{"L1-dcache-load-misses"}, names: []string{"L1-dcache-load-misses"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_L1D, unix.PERF_COUNT_HW_CACHE_OP_READ, unix.PERF_COUNT_HW_CACHE_RESULT_MISS), hardware: true},
	{name: "L1-dcache-stores", in: []string{"L1-dcache-stores"}, names: []string{"L1-dcache-stores"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_L1D, unix.PERF_COUNT_HW_CACHE_OP_WRITE, unix.PERF_COUNT_HW_CACHE_RESULT_ACCESS), hardware: true},
	{name: "L1-icache-load-misses", in: []string{"L1-icache-load-misses"}, names: []string{"L1-icache-load-misses"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_L1I, unix.PERF_COUNT_HW_CACHE_OP_READ, unix.PERF_COUNT_HW_CACHE_RESULT_MISS), hardware: true},
	{name: "LLC-loads", in: []string{"LLC-loads"}, names: []string{"LLC-loads"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_LL, unix.PERF_COUNT_HW_CACHE_OP_READ, unix.PERF_COUNT_HW_CACHE_RESULT_ACCESS), hardware: true},
	{name: "LLC-load-misses", in: []string{"LLC-load-misses"}, names: []string{"LLC-load-misses"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_LL, unix.PERF_COUNT_HW_CACHE_OP_READ, unix.PERF_COUNT_HW_CACHE_RESULT_MISS), hardware: true},
	{name: "LLC-stores", in: []string{"LLC-stores"}, names: []string{"LLC-stores"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_LL, unix.PERF_COUNT_HW_CACHE_OP_WRITE, unix.PERF_COUNT_HW_CACHE_RESULT_ACCESS), hardware: true},
	{name: "LLC-prefetches", in: []string{"LLC-prefetches"}, names: []string{"LLC-prefetches"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_LL, unix.PERF_COUNT_HW_CACHE_OP_PREFETCH, unix.PERF_COUNT_HW_CACHE_RESULT_ACCESS), hardware: true},
	{name: "LLC-prefetch-misses", in: []string{"LLC-prefetch-misses"}, names: []string{"LLC-prefetch-misses"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_LL, unix.PERF_COUNT_HW_CACHE_OP_PREFETCH, unix.PERF_COUNT_HW_CACHE_RESULT_MISS), hardware: true},
	{name: "dTLB-load-misses", in: []string{"dTLB-load-misses"}, names: []string{"dTLB-load-misses"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_DTLB, unix.PERF_COUNT_HW_CACHE_OP_READ, unix.PERF_COUNT_HW_CACHE_RESULT_MISS), hardware: true},
	{name: "iTLB-load-misses", in: []string{"iTLB-load-misses"}, names: []string{"iTLB-load-misses"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_ITLB, unix.PERF_COUNT_HW_CACHE_OP_READ, unix.PERF_COUNT_HW_CACHE_RESULT_MISS), hardware: true},
	{name: "branch-loads", in: []string{"branch-loads"}, names: []string{"branch-loads"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_BPU, unix.PERF_COUNT_HW_CACHE_OP_READ, unix.PERF_COUNT_HW_CACHE_RESULT_ACCESS), hardware: true},
	{name: "branch-load-misses", in: []string{"branch-load-misses"}, names: []string{"branch-load-misses"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_BPU, unix.PERF_COUNT_HW_CACHE_OP_READ, unix.PERF_COUNT_HW_CACHE_RESULT_MISS), hardware: true},
	{name: "node-stores", in: []string{"node-stores"}, names: []string{"node-stores"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_NODE, unix.PERF_COUNT_HW_CACHE_OP_WRITE, unix.PERF_COUNT_HW_CACHE_RESULT_ACCESS), hardware: true},
	{name: "cache names ignore case", in: []string{"llc-LOAD-misses"}, names: []string{"LLC-load-misses"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_LL, unix.PERF_COUNT_HW_CACHE_OP_READ, unix.PERF_COUNT_HW_CACHE_RESULT_MISS), hardware: true},
	{name: "singular access op", in: []string{"LLC-load"}, names: []string{"LLC-loads"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_LL, unix.PERF_COUNT_HW_CACHE_OP_READ, unix.PERF_COUNT_HW_CACHE_RESULT_ACCESS), hardware: true},
	{name: "cache with modifier", in: []string{"dTLB-load-misses:u"}, names: []string{"dTLB-load-misses:u"}, typ: unix.PERF_TYPE_HW_CACHE, config: cacheConfig(unix.PERF_COUNT_HW_CACHE_DTLB, unix.PERF_COUNT_HW_CACHE_OP_READ, unix.PERF_COUNT_HW_CACHE_RESULT_MISS), bits: modUserBits, hardware: true},

	// Modifiers.
	{name: "cycles:u", in: []string{"cycles:u"}, names: []string{"cycles:u"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_CPU_CYCLES, bits: unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv, hardware: true},
	{name: "cpu-cycles:k", in: []string{"cpu-cycles:k"}, names: []string{"cycles:k"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_CPU_CYCLES, bits: unix.PerfBitExcludeUser | unix.PerfBitExcludeHv, hardware: true},
	{name: "task-clock:uk", in: []string{"task-clock:uk"}, names: []string{"task-clock:uk"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_TASK_CLOCK},
	{name: "ku is uk", in: []string{"cs:ku"}, names: []string{"context-switches:uk"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_CONTEXT_SWITCHES},
	{name: "raw with modifier", in: []string{"r1a2:u"}, names: []string{"r1a2:u"}, typ: unix.PERF_TYPE_RAW, config: 0x1a2, bits: modUserBits, hardware: true},

	// Raw.
	{name: "raw", in: []string{"r1a2"}, names: []string{"r1a2"}, typ: unix.PERF_TYPE_RAW, config: 0x1a2, hardware: true},
	{name: "raw upper case, leading zeros", in: []string{"r00C0"}, names: []string{"rc0"}, typ: unix.PERF_TYPE_RAW, config: 0xc0, hardware: true},
	{name: "raw 64 bits", in: []string{"rffffffffffffffff"}, names: []string{"rffffffffffffffff"}, typ: unix.PERF_TYPE_RAW, config: 1<<64 - 1, hardware: true},

	// Lists.
	{name: "comma list", in: []string{"task-clock,page-faults,cs"}, names: []string{"task-clock", "page-faults", "context-switches"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_TASK_CLOCK},
	{name: "several lists", in: []string{"task-clock", "faults,cycles:u"}, names: []string{"task-clock", "page-faults", "cycles:u"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_TASK_CLOCK},
	{name: "spaces", in: []string{" task-clock , cs "}, names: []string{"task-clock", "context-switches"}, typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_TASK_CLOCK},
	{name: "same event, other modifier", in: []string{"cycles,cycles:u,cycles:k"}, names: []string{"cycles", "cycles:u", "cycles:k"}, typ: unix.PERF_TYPE_HARDWARE, config: unix.PERF_COUNT_HW_CPU_CYCLES, hardware: true},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := Parse(tc.in...)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			var names []string
			for _, s := range specs {
				names = append(names, s.Name)
				if s.Attr.Size != attrSize {
					t.Errorf("%s: Attr.Size = %d, want %d", s.Name, s.Attr.Size, attrSize)
				}
				if s.Attr.Read_format != 0 || s.Attr.Bits&^excludeMask != 0 {
					t.Errorf("%s: Parse set open-time fields: %+v", s.Name, s.Attr)
				}
			}
			if !slices.Equal(names, tc.names) {
				t.Errorf("names = %q, want %q", names, tc.names)
			}
			s := specs[0]
			if s.Attr.Type != tc.typ || s.Attr.Config != tc.config || s.Attr.Bits != tc.bits || s.Hardware != tc.hardware {
				t.Errorf("%s: type %d config %#x bits %#x hardware %v; want type %d config %#x bits %#x hardware %v",
					s.Name, s.Attr.Type, s.Attr.Config, s.Attr.Bits, s.Hardware, tc.typ, tc.config, tc.bits, tc.hardware)
			}
			// The canonical name parses to the same event.
			again, err := Parse(s.Name)
			if err != nil || again[0] != s {
				t.Errorf("Parse(%q) = %+v, %v; want %+v", s.Name, again, err, s)
			}
		})
	}
}

func TestParseCacheFamily(t *testing.T) {
	caches := []string{"L1-dcache", "L1-icache", "LLC", "dTLB", "iTLB", "branch", "node"}
	ops := [][2]string{{"load", "loads"}, {"store", "stores"}, {"prefetch", "prefetches"}}
	seen := map[uint64]string{}
	for ci, c := range caches {
		for oi, op := range ops {
			for ri, name := range []string{c + "-" + op[1], c + "-" + op[0] + "-misses"} {
				specs, err := Parse(name)
				if err != nil {
					t.Errorf("Parse(%q): %v", name, err)
					continue
				}
				want := cacheConfig(uint64(ci), uint64(oi), uint64(ri))
				if specs[0].Name != name || specs[0].Attr.Type != unix.PERF_TYPE_HW_CACHE || specs[0].Attr.Config != want {
					t.Errorf("Parse(%q) = %q type %d config %#x, want config %#x", name, specs[0].Name, specs[0].Attr.Type, specs[0].Attr.Config, want)
				}
				if prev, ok := seen[want]; ok {
					t.Errorf("%q and %q have the same config", prev, name)
				}
				seen[want] = name
			}
		}
	}
}

func TestParseTracepoint(t *testing.T) {
	requires(t, tracefs)
	for _, name := range []string{"sched:sched_switch", "sched:sched_process_fork"} {
		subsys, ev, _ := strings.Cut(name, ":")
		id, err := TracepointID(subsys, ev)
		if err != nil {
			t.Fatal(err)
		}
		specs, err := Parse(name)
		if err != nil {
			t.Fatalf("Parse(%q): %v", name, err)
		}
		s := specs[0]
		if s.Name != name || s.Attr.Type != unix.PERF_TYPE_TRACEPOINT || s.Attr.Config != id || s.Hardware {
			t.Errorf("Parse(%q) = %+v, want tracepoint id %d", name, s, id)
		}
	}
	specs, err := Parse("sched:sched_switch,task-clock")
	if err != nil || len(specs) != 2 {
		t.Fatalf("Parse(tracepoint, task-clock) = %v, %v", specs, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []string
		unknown string   // the UnknownEventError's Name, if any
		suggest []string // must be among its suggestions
		text    string   // in the error text otherwise
		tracefs bool
	}{
		{name: "misspelt software", in: []string{"task-clok"}, unknown: "task-clok", suggest: []string{"task-clock"}},
		{name: "transposed hardware", in: []string{"cylces"}, unknown: "cylces", suggest: []string{"cycles"}},
		{name: "misspelt with modifier", in: []string{"cylces:u"}, unknown: "cylces", suggest: []string{"cycles"}},
		{name: "prefix", in: []string{"context"}, unknown: "context", suggest: []string{"context-switches"}},
		{name: "cache typo", in: []string{"LLC-load-mises"}, unknown: "LLC-load-mises", suggest: []string{"LLC-load-misses"}},
		{name: "case matters", in: []string{"Task-Clock"}, unknown: "Task-Clock", suggest: []string{"task-clock"}},
		{name: "nothing close", in: []string{"zzzzzzzzzzzzzz"}, unknown: "zzzzzzzzzzzzzz"},
		{name: "empty element", in: []string{"task-clock,,cs"}, text: "empty event"},
		{name: "trailing comma", in: []string{"task-clock,"}, text: "empty event"},
		{name: "empty list", in: []string{""}, text: "empty event"},
		{name: "no lists", in: nil, text: "no events"},
		{name: "duplicate", in: []string{"task-clock,task-clock"}, text: "listed twice"},
		{name: "duplicate alias", in: []string{"cycles", "cpu-cycles"}, text: "listed twice"},
		{name: "duplicate modifier spelling", in: []string{"cs:uk,cs:ku"}, text: "listed twice"},
		{name: "duplicate raw", in: []string{"r1a2,r01A2"}, text: "listed twice"},
		{name: "bad modifier", in: []string{"cycles:x"}, text: "unknown modifier"},
		{name: "empty modifier", in: []string{"cycles:"}, text: "unknown modifier"},
		{name: "perf modifier we lack", in: []string{"cycles:ppp"}, text: "unknown modifier"},
		{name: "too many colons", in: []string{"a:b:c:d"}, text: "malformed"},
		{name: "raw too long", in: []string{"r11112222333344445"}, unknown: "r11112222333344445"},
		{name: "path traversal", in: []string{"..:sched_switch"}, text: "malformed tracepoint"},
		{name: "slash", in: []string{"sched:a/b"}, text: "malformed tracepoint"},
		{name: "tracepoint modifier", in: []string{"sched:sched_switch:u"}, text: "take no modifier"},
		{name: "unknown tracepoint", in: []string{"sched:sched_swich"}, unknown: "sched:sched_swich", suggest: []string{"sched:sched_switch"}, tracefs: true},
		{name: "unknown subsystem", in: []string{"nosuchsubsys:foo"}, unknown: "nosuchsubsys:foo", tracefs: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tracefs {
				requires(t, tracefs)
			}
			specs, err := Parse(tc.in...)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tc.in, specs)
			}
			var ue *UnknownEventError
			isUnknown := errors.As(err, &ue)
			if tc.unknown == "" {
				if isUnknown {
					t.Fatalf("Parse(%q): unexpected %#v", tc.in, ue)
				}
				if !strings.Contains(err.Error(), tc.text) {
					t.Fatalf("Parse(%q) error %q does not contain %q", tc.in, err, tc.text)
				}
				return
			}
			if !isUnknown {
				t.Fatalf("Parse(%q) = %v, want an *UnknownEventError", tc.in, err)
			}
			if ue.Name != tc.unknown || err.Error() != fmt.Sprintf("unknown event %q", tc.unknown) {
				t.Errorf("error %q for %q, want name %q", err, ue.Name, tc.unknown)
			}
			if len(ue.Suggestions) > maxSuggestions {
				t.Errorf("%d suggestions: %q", len(ue.Suggestions), ue.Suggestions)
			}
			for _, s := range tc.suggest {
				if !slices.Contains(ue.Suggestions, s) {
					t.Errorf("suggestions %q lack %q", ue.Suggestions, s)
				}
			}
			if len(tc.suggest) > 0 && ue.Suggestions[0] != tc.suggest[0] {
				t.Errorf("best suggestion %q, want %q", ue.Suggestions[0], tc.suggest[0])
			}
			if len(tc.suggest) == 0 && len(ue.Suggestions) != 0 {
				t.Errorf("suggestions %q, want none", ue.Suggestions)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"cycles", "cycles", 0},
		{"cylces", "cycles", 1}, {"task-clok", "task-clock", 1}, {"kitten", "sitting", 3},
		{"ab", "ba", 1}, {"abc", "ca", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestFallback(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"cycles", "cpu-clock"},
		{"cpu-cycles", "cpu-clock"},
		{"cycles:u", "cpu-clock:u"},
		{"cycles:k", "cpu-clock:k"},
		{"cycles:uk", "cpu-clock"},
		{"instructions", ""},
		{"task-clock", ""},
		{"r3c", ""},
	} {
		specs, err := Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		f, ok := Fallback(specs[0])
		if tc.want == "" {
			if ok {
				t.Errorf("Fallback(%q) = %q, want none", tc.in, f.Name)
			}
			continue
		}
		want, err := Parse(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || f != want[0] {
			t.Errorf("Fallback(%q) = %+v, %v; want %+v", tc.in, f, ok, want[0])
		}
	}
}

// TestOpenErrno maps every errno perf_event_open is known to return to its
// meaning, and checks that the errno stays matchable.
func TestOpenErrno(t *testing.T) {
	for _, tc := range []struct {
		errno unix.Errno
		want  error  // nil: no sentinel
		msg   string // after `open "cycles" for tid 4242: `
	}{
		{unix.ENOENT, ErrNotSupported, "event not supported (no such file or directory)"},
		{unix.ENODEV, ErrNotSupported, "event not supported (no such device)"},
		{unix.EOPNOTSUPP, ErrNotSupported, "event not supported (operation not supported)"},
		{unix.EACCES, ErrPermission, "event not permitted (permission denied)"},
		{unix.EPERM, ErrPermission, "event not permitted (operation not permitted)"},
		{unix.ESRCH, ErrNoTask, "no such task (no such process)"},
		// The errno says the meaning and more: it stands alone.
		{unix.EMFILE, ErrTooManyFiles, "too many open files"},
		{unix.ENFILE, ErrTooManyFiles, "too many open files in system"},
		{unix.EBUSY, ErrBusy, "PMU busy (device or resource busy)"},
		{unix.EINVAL, nil, "perf_event_open: invalid argument"},
		{unix.E2BIG, nil, "perf_event_open: argument list too long"},
	} {
		t.Run(tc.errno.Error(), func(t *testing.T) {
			err := error(&OpenError{Event: "cycles", TID: 4242, Err: openErrnoError(tc.errno)})
			if !errors.Is(err, tc.errno) {
				t.Errorf("%v does not match %v", err, tc.errno)
			}
			if want := `open "cycles" for tid 4242: ` + tc.msg; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err, want)
			}
			// No words twice.
			if n := strings.Count(err.Error(), tc.errno.Error()); n != 1 {
				t.Errorf("%q holds the errno's text %d times, want once", err, n)
			}
			if tc.want != nil {
				if n := strings.Count(err.Error(), tc.want.Error()); n != 1 {
					t.Errorf("%q holds the meaning %q %d times, want once", err, tc.want, n)
				}
			}
			for _, s := range []error{ErrNotSupported, ErrPermission, ErrNoTask, ErrTooManyFiles, ErrBusy} {
				if got := errors.Is(err, s); got != (s == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
			if tc.want == ErrPermission && !errors.Is(err, fs.ErrPermission) {
				t.Errorf("%v does not match fs.ErrPermission", err)
			}
		})
	}
	err := &OpenError{Event: "cycles", TID: 4242, Err: openErrnoError(unix.ENOENT)}
	if want := `open "cycles" for tid 4242: event not supported (no such file or directory)`; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}

// TestOpenErrorHardware: an event that needs a hardware PMU says so,
// whatever the errno (the command's hint names the missing PMU).
func TestOpenErrorHardware(t *testing.T) {
	for _, tc := range []struct {
		event string
		want  bool
	}{
		{"cycles", true}, {"LLC-load-misses:u", true}, {"r1a2", true},
		{"sched:sched_switch", false}, {"task-clock", false}, {"dummy (seed)", false},
	} {
		e := &OpenError{Event: tc.event, TID: 1, Err: ErrnoError(unix.ENOENT)}
		if got := e.Hardware(); got != tc.want {
			t.Errorf("%s: Hardware() = %v, want %v", tc.event, got, tc.want)
		}
	}
	if _, ok := Paranoid(); !ok {
		t.Error("Paranoid: kernel.perf_event_paranoid cannot be read")
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(strings.Join(tc.in, ","))
	}
	for _, s := range []string{"task-clok", "cylces:u", "a,,b", "cycles,cpu-cycles", "sched:sched_switch", "sched:sched_switch:u", "..:..", "r", "rg", ":", "::", "cycles:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		specs, err := Parse(in)
		if err != nil {
			if specs != nil {
				t.Fatalf("Parse(%q) returned specs and error %v", in, err)
			}
			return
		}
		var names []string
		for _, s := range specs {
			if s.Name == "" || s.Attr.Size != attrSize {
				t.Fatalf("Parse(%q): bad spec %+v", in, s)
			}
			names = append(names, s.Name)
		}
		// Canonical names parse back to the same specs.
		again, err := Parse(strings.Join(names, ","))
		if err != nil || !slices.Equal(again, specs) {
			t.Fatalf("Parse(%q) = %+v; reparsing %q = %+v, %v", in, specs, names, again, err)
		}
	})
}

func TestUnit(t *testing.T) {
	tests := []struct {
		events string
		want   Unit
	}{
		{"task-clock", Nanoseconds},
		{"task-clock:u", Nanoseconds},
		{"cpu-clock:k", Nanoseconds},
		{"page-faults", Count},
		{"cycles:u", Count},
		{"r1a2", Count},
	}
	for _, tc := range tests {
		specs, err := Parse(tc.events)
		if err != nil {
			t.Fatal(err)
		}
		if got := specs[0].Unit(); got != tc.want {
			t.Errorf("%s: Unit() = %v, want %v", tc.events, got, tc.want)
		}
	}
	// A fallback keeps the time unit of what it falls back to.
	specs, _ := Parse("cycles:u")
	if fb, ok := Fallback(specs[0]); !ok || fb.Unit() != Nanoseconds {
		t.Errorf("Fallback(cycles:u) = %+v, %v: want a nanoseconds event", fb, ok)
	}
}
