package perfevent

import (
	"fmt"
	"strconv"
	"strings"

	perf "github.com/elastic/go-perf"
	"golang.org/x/sys/unix"
)

// Spec is one parsed event, ready to open. Attr is fully resolved at parse
// time: opening a Spec reads no file and allocates nothing.
type Spec struct {
	// Name is the canonical name as shown to users, e.g. "task-clock",
	// "page-faults", "cycles:u", "sched:sched_switch", "r1a2". Aliases are
	// replaced by the canonical name ("cs" becomes "context-switches"),
	// and ":ku" is written ":uk".
	Name string
	// Attr holds Type, Config, Size and the exclude bits of the
	// modifiers. Read_format, Disabled, EnableOnExec and Inherit are set
	// by OpenGroup, Probe and Pin.
	Attr unix.PerfEventAttr
	// Hardware is true when the event needs a hardware PMU
	// (PERF_TYPE_HARDWARE, PERF_TYPE_HW_CACHE, PERF_TYPE_RAW).
	Hardware bool
}

// attrSize is sizeof(struct perf_event_attr) as x/sys/unix lays it out
// (up to sig_data). A test checks it against the Go struct.
const attrSize = unix.PERF_ATTR_SIZE_VER7

// Exclude bits of the modifiers.
const (
	excludeMask  = unix.PerfBitExcludeUser | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv
	modUserBits  = unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv // ":u"
	modKernelBit = unix.PerfBitExcludeUser | unix.PerfBitExcludeHv   // ":k"
)

// Parse parses comma-separated event lists. Each element of lists may
// itself hold several events ("a,b"); spaces around an event are ignored.
//
// Accepted events:
//   - hardware: cycles (cpu-cycles), instructions, cache-references,
//     cache-misses, branches (branch-instructions), branch-misses,
//     bus-cycles, stalled-cycles-frontend, stalled-cycles-backend,
//     ref-cycles;
//   - software: task-clock, cpu-clock, page-faults (faults), minor-faults,
//     major-faults, context-switches (cs), cpu-migrations (migrations),
//     alignment-faults, emulation-faults, dummy;
//   - hardware cache events in perf's spelling, case-insensitive:
//     {L1-dcache, L1-icache, LLC, dTLB, iTLB, branch, node} ×
//     {loads, stores, prefetches} for accesses and
//     {load, store, prefetch}-misses for misses ("LLC-load-misses");
//   - raw PMU events "rNNNN", NNNN being the config in hex (PERF_TYPE_RAW);
//   - tracepoints "subsys:name", whose id Parse reads from tracefs (see
//     TracepointID; this may mount tracefs when running as root).
//
// Every kind but tracepoints takes one modifier: ":u" counts user space only
// (exclude_kernel, exclude_hv), ":k" kernel only (exclude_user, exclude_hv),
// ":uk" or ":ku" both (no excludes). Tracepoints take no modifier:
// "sched:sched_switch:u" is an error, because a tracepoint fires in the
// kernel whatever the privilege level of the code that caused it.
//
// Names are case-sensitive, like perf's, except hardware cache names. An
// unknown name gives an *UnknownEventError. Empty elements and duplicate
// events (the same type, config and modifier, under whatever spelling) are
// errors.
func Parse(lists ...string) ([]Spec, error) {
	var specs []Spec
	type key struct {
		typ    uint32
		config uint64
		bits   uint64
	}
	seen := make(map[key]string)
	for _, list := range lists {
		for _, elem := range strings.Split(list, ",") {
			elem = strings.TrimSpace(elem)
			if elem == "" {
				return nil, syntaxErrorf("empty event in list %q", list)
			}
			s, err := parseEvent(elem, true)
			if err != nil {
				return nil, err
			}
			k := key{s.Attr.Type, s.Attr.Config, s.Attr.Bits & excludeMask}
			if prev, ok := seen[k]; ok {
				if prev == elem {
					return nil, syntaxErrorf("event %q is listed twice", elem)
				}
				return nil, syntaxErrorf("event %q is listed twice (as %q and %q)", s.Name, prev, elem)
			}
			seen[k] = elem
			specs = append(specs, s)
		}
	}
	if len(specs) == 0 {
		return nil, syntaxErrorf("no events given")
	}
	return specs, nil
}

// parseEvent parses one event. With resolve false, tracepoints are not
// looked up in tracefs: their Attr.Config stays 0.
func parseEvent(elem string, resolve bool) (Spec, error) {
	parts := strings.Split(elem, ":")
	switch len(parts) {
	case 1:
		return parseBase(elem, "", "")
	case 2:
		if isBase(parts[0]) {
			return parseBase(parts[0], parts[1], elem)
		}
		if parseModifier(parts[1]) != "" {
			// "cylces:u": a misspelt event with a modifier, not a
			// tracepoint named "u".
			return parseBase(parts[0], "", "")
		}
		return parseTracepoint(parts[0], parts[1], resolve)
	case 3:
		if !isBase(parts[0]) && parseModifier(parts[2]) != "" {
			return Spec{}, syntaxErrorf("event %q: tracepoints take no modifier", elem)
		}
	}
	return Spec{}, syntaxErrorf("event %q: malformed event name", elem)
}

// isBase reports whether name is a known hardware, software, cache or raw
// event (anything that takes a modifier).
func isBase(name string) bool {
	if _, ok := lookupName(name); ok {
		return true
	}
	_, ok := parseRaw(name)
	return ok
}

// parseModifier returns the canonical spelling of a modifier, or "" if mod
// is not one.
func parseModifier(mod string) string {
	switch mod {
	case "u", "k", "uk":
		return mod
	case "ku":
		return "uk"
	}
	return ""
}

// modifierBits returns the exclude bits of a canonical modifier.
func modifierBits(mod string) uint64 {
	switch mod {
	case "u":
		return modUserBits
	case "k":
		return modKernelBit
	}
	return 0
}

// modifierSuffix returns the ":mod" suffix that gives bits back.
func modifierSuffix(bits uint64) string {
	switch bits & excludeMask {
	case modUserBits:
		return ":u"
	case modKernelBit:
		return ":k"
	}
	return ""
}

// parseBase parses a hardware, software, cache or raw event name with an
// optional modifier (mod is what followed the colon; elem the whole text,
// "" if there was no colon).
func parseBase(name, mod, elem string) (Spec, error) {
	var s Spec
	if ev, ok := lookupName(name); ok {
		var a perf.Attr
		if err := ev.cfg.Configure(&a); err != nil {
			return Spec{}, fmt.Errorf("event %q: %w", name, err)
		}
		s.Name = ev.name
		s.Attr.Type = uint32(a.Type)
		s.Attr.Config = a.Config
		s.Hardware = ev.hw
	} else if cfg, ok := parseRaw(name); ok {
		s.Name = "r" + strconv.FormatUint(cfg, 16)
		s.Attr.Type = unix.PERF_TYPE_RAW
		s.Attr.Config = cfg
		s.Hardware = true
	} else {
		return Spec{}, &UnknownEventError{Name: name, Suggestions: suggest(name, knownNames)}
	}
	s.Attr.Size = attrSize
	if elem != "" {
		m := parseModifier(mod)
		if m == "" {
			return Spec{}, syntaxErrorf("event %q: unknown modifier %q (want u, k or uk)", elem, mod)
		}
		s.Attr.Bits |= modifierBits(m)
		s.Name += ":" + m
	}
	return s, nil
}

// parseRaw parses "rNNNN", NNNN being 1 to 16 hex digits.
func parseRaw(name string) (uint64, bool) {
	if len(name) < 2 || len(name) > 17 || name[0] != 'r' {
		return 0, false
	}
	for _, c := range name[1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return 0, false
		}
	}
	cfg, err := strconv.ParseUint(name[1:], 16, 64)
	return cfg, err == nil
}

func parseTracepoint(subsys, name string, resolve bool) (Spec, error) {
	full := subsys + ":" + name
	if !validTracefsName(subsys) || !validTracefsName(name) {
		return Spec{}, syntaxErrorf("event %q: malformed tracepoint name", full)
	}
	s := Spec{Name: full}
	s.Attr.Type = unix.PERF_TYPE_TRACEPOINT
	s.Attr.Size = attrSize
	if resolve {
		id, err := TracepointID(subsys, name)
		if err != nil {
			return Spec{}, err
		}
		s.Attr.Config = id
	}
	return s, nil
}

// validTracefsName reports whether s can be a tracefs directory name: this
// keeps "subsys:name" from walking out of the events directory.
func validTracefsName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// isHardwareName reports whether name (as in Spec.Name or OpenError.Event)
// is a hardware event. It reads no file.
func isHardwareName(name string) bool {
	s, err := parseEvent(name, false)
	return err == nil && s.Hardware
}

// Fallback returns the event perf falls back to when s is not supported:
// "cycles" (with any modifier) becomes "cpu-clock" with the same modifier.
// ok is false for every other event.
func Fallback(s Spec) (Spec, bool) {
	if s.Attr.Type != unix.PERF_TYPE_HARDWARE || s.Attr.Config != unix.PERF_COUNT_HW_CPU_CYCLES {
		return Spec{}, false
	}
	f := Spec{Name: "cpu-clock" + modifierSuffix(s.Attr.Bits)}
	f.Attr.Type = unix.PERF_TYPE_SOFTWARE
	f.Attr.Config = unix.PERF_COUNT_SW_CPU_CLOCK
	f.Attr.Size = attrSize
	f.Attr.Bits = s.Attr.Bits & excludeMask
	return f, true
}

// UnknownEventError is returned by Parse and TracepointID for a name they
// do not know. Suggestions lists up to 3 close known names, best first,
// for a "did you mean" line.
type UnknownEventError struct {
	Name        string
	Suggestions []string
}

// Error returns `unknown event "task-clok"`; the caller adds the
// suggestions.
func (e *UnknownEventError) Error() string {
	return fmt.Sprintf("unknown event %q", e.Name)
}

// UserOnly returns s restricted to user space (":u"), which
// kernel.perf_event_paranoid 2 still allows an unprivileged user; ok is
// false if s already excludes something or is a tracepoint.
func UserOnly(s Spec) (Spec, bool) {
	if s.Attr.Type == unix.PERF_TYPE_TRACEPOINT || s.Attr.Bits&excludeMask != 0 {
		return Spec{}, false
	}
	u := s
	u.Attr.Bits |= modUserBits
	u.Name = s.Name + modifierSuffix(u.Attr.Bits)
	return u, true
}

// SyntaxError is a malformed event list: an empty element, a duplicate, a
// bad modifier or name. The caller's input is at fault (a usage error).
type SyntaxError struct{ Msg string }

func (e *SyntaxError) Error() string { return e.Msg }

func syntaxErrorf(format string, args ...any) error {
	return &SyntaxError{Msg: fmt.Sprintf(format, args...)}
}

// Unit says what an event's counts, and a sample's period, measure.
type Unit uint8

const (
	// Count: events (page faults, cycles, tracepoint hits).
	Count Unit = iota
	// Nanoseconds: time on the CPU (the software clocks, cpu-clock and
	// task-clock, with any modifier).
	Nanoseconds
)

// String returns the unit as pprof names it: "count" or "nanoseconds".
func (u Unit) String() string {
	if u == Nanoseconds {
		return "nanoseconds"
	}
	return "count"
}

// Unit says what the event measures, from its attr (not its name): every
// consumer (the report, the writers, profiles, metrics) asks the Spec.
func (s Spec) Unit() Unit {
	if s.Attr.Type == unix.PERF_TYPE_SOFTWARE &&
		(s.Attr.Config == unix.PERF_COUNT_SW_CPU_CLOCK || s.Attr.Config == unix.PERF_COUNT_SW_TASK_CLOCK) {
		return Nanoseconds
	}
	return Count
}
