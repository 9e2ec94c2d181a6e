package perfevent

import (
	"math"
	"math/bits"
)

// Value is one counter reading.
type Value struct {
	Raw     uint64 // the count as read
	Enabled uint64 // time the group was enabled, ns
	Running uint64 // time the group was on a PMU, ns
	// Lost counts the records of a sampling event the kernel dropped for
	// want of room in its ring (PERF_FORMAT_LOST; 0 when counting).
	Lost uint64
}

// Scaled estimates the count over the whole enabled time:
// Raw*Enabled/Running. It returns Raw when Enabled == Running (no
// multiplexing) and 0 when Running is 0 (never counted; show
// "<not counted>"). The product is computed in 128 bits, so it neither
// overflows nor loses precision; a result beyond 2^64-1 saturates.
func (v Value) Scaled() uint64 {
	if v.Running == 0 {
		return 0
	}
	if v.Enabled == v.Running {
		return v.Raw
	}
	hi, lo := bits.Mul64(v.Raw, v.Enabled)
	if hi >= v.Running {
		return math.MaxUint64 // quotient does not fit in 64 bits
	}
	q, _ := bits.Div64(hi, lo, v.Running)
	return q
}

// Percent returns the share of the enabled time the counter was running,
// 100*Running/Enabled, or 100 when Enabled is 0.
func (v Value) Percent() float64 {
	if v.Enabled == 0 {
		return 100
	}
	return 100 * float64(v.Running) / float64(v.Enabled)
}
