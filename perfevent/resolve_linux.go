package perfevent

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

// Substitution is an event that Resolve replaced by another: From cannot
// be opened here, To is counted instead. Why is ErrPermission (the kernel
// is excluded, as kernel.perf_event_paranoid still lets a user count user
// space) or ErrNotSupported (cycles falls back to cpu-clock, as perf does).
type Substitution struct {
	From, To Spec
	Why      error
}

// Resolve opens each event of specs once on the calling task, so that an
// event this machine lacks fails now, with one clear error, and not on
// every task; it returns the events to open, and the substitutions it made
// on the way (which it returns with an error too). With unprivileged, an
// event the kernel may not be counted for is counted in user space only
// (UserOnly); an unsupported cycles is counted as cpu-clock (Fallback).
// The error is the first event's *OpenError that has no substitute.
func Resolve(specs []Spec, unprivileged bool) ([]Spec, []Substitution, error) {
	specs = append([]Spec(nil), specs...)
	var subs []Substitution
	for i := range specs {
		err := Probe(specs[i : i+1])
		if err == nil {
			continue
		}
		if errors.Is(err, ErrPermission) && unprivileged {
			if u, ok := UserOnly(specs[i]); ok && Probe([]Spec{u}) == nil {
				subs = append(subs, Substitution{From: specs[i], To: u, Why: ErrPermission})
				specs[i] = u
				continue
			}
		}
		if errors.Is(err, ErrNotSupported) {
			if fb, ok := Fallback(specs[i]); ok {
				subs = append(subs, Substitution{From: specs[i], To: fb, Why: ErrNotSupported})
				specs[i] = fb
				if err := Probe(specs[i : i+1]); err != nil {
					return nil, subs, err
				}
				continue
			}
		}
		return nil, subs, err
	}
	return specs, subs, nil
}

// ResolveSampling makes specs sample as opt says (Sampling) and checks
// that this machine can (a frequency above
// kernel.perf_event_max_sample_rate is refused, for one): before Linux
// 6.0 the kernel does not count lost records, and opt.LostCount is
// dropped then (the PERF_RECORD_LOST records are all there is). It also
// returns the field decoders of the tracepoints, by event (nil for the
// others).
func ResolveSampling(specs []Spec, opt SampleOptions) ([]Spec, []*FieldDecoder, error) {
	sampled, err := Sampling(specs, opt)
	if err != nil {
		return nil, nil, err
	}
	if err := Probe(sampled); err != nil {
		if !opt.LostCount {
			return nil, nil, err
		}
		opt.LostCount = false
		var err2 error
		if sampled, err2 = Sampling(specs, opt); err2 != nil || Probe(sampled) != nil {
			return nil, nil, err
		}
	}
	fields := make([]*FieldDecoder, len(sampled))
	for i, sp := range sampled {
		if sp.Attr.Type != unix.PERF_TYPE_TRACEPOINT {
			continue
		}
		subsys, name, _ := strings.Cut(sp.Name, ":")
		f, err := ReadFormat(subsys, name)
		if err != nil {
			return nil, nil, err
		}
		fields[i] = NewFieldDecoder(f)
	}
	return sampled, fields, nil
}
