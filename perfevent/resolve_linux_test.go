package perfevent

import (
	"errors"
	"testing"
)

func TestResolve(t *testing.T) {
	requires(t, swPMU)
	specs, err := Parse("task-clock,cycles:u,page-faults")
	if err != nil {
		t.Fatal(err)
	}
	got, subs, err := Resolve(specs, false)
	if err != nil {
		t.Fatal(err)
	}
	if Probe(specs[1:2]) == nil {
		// A machine with a PMU: nothing to replace.
		if len(subs) != 0 || got[1].Name != "cycles:u" {
			t.Errorf("Resolve = %v, %+v: want the events as given", got, subs)
		}
		return
	}
	if len(subs) != 1 || subs[0].From.Name != "cycles:u" || subs[0].To.Name != "cpu-clock:u" || !errors.Is(subs[0].Why, ErrNotSupported) {
		t.Fatalf("substitutions = %+v, want cycles:u -> cpu-clock:u (not supported)", subs)
	}
	if got[0].Name != "task-clock" || got[1].Name != "cpu-clock:u" || got[2].Name != "page-faults" {
		t.Errorf("Resolve = %v %v %v, want task-clock cpu-clock:u page-faults", got[0].Name, got[1].Name, got[2].Name)
	}
	if specs[1].Name != "cycles:u" {
		t.Error("Resolve changed its argument")
	}
	// An event with no substitute fails, as the first *OpenError.
	specs, err = Parse("task-clock,instructions")
	if err != nil {
		t.Fatal(err)
	}
	var oe *OpenError
	if _, _, err := Resolve(specs, false); !errors.As(err, &oe) || oe.Event != "instructions" || !errors.Is(err, ErrNotSupported) {
		t.Errorf("Resolve(instructions) = %v, want an *OpenError of instructions, not supported", err)
	}
}

func TestResolveSampling(t *testing.T) {
	requires(t, swPMU, tracefs)
	specs, err := Parse("task-clock,sched:sched_switch")
	if err != nil {
		t.Fatal(err)
	}
	got, fields, err := ResolveSampling(specs, SampleOptions{Period: 1000, RingPages: 2, LostCount: true})
	if err != nil {
		t.Fatal(err)
	}
	if !Sampled(got) || len(fields) != 2 || fields[0] != nil || fields[1] == nil {
		t.Errorf("ResolveSampling: sampled %v, fields %v: want sampling specs and a decoder for the tracepoint only", Sampled(got), fields)
	}
	// Above kernel.perf_event_max_sample_rate, the kernel refuses.
	if _, _, err := ResolveSampling(specs[:1], SampleOptions{Freq: 1 << 40, RingPages: 2, LostCount: true}); err == nil {
		t.Error("ResolveSampling at 2^40 Hz: no error")
	}
}
