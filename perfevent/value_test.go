package perfevent

import (
	"math"
	"testing"
)

func TestValueScaled(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    Value
		want uint64
	}{
		{"not multiplexed", Value{Raw: 1234, Enabled: 500, Running: 500}, 1234},
		{"half the time", Value{Raw: 1000, Enabled: 200, Running: 100}, 2000},
		{"a third", Value{Raw: 10, Enabled: 3, Running: 1}, 30},
		{"rounds down", Value{Raw: 10, Enabled: 2, Running: 3}, 6},
		{"never running", Value{Raw: 0, Enabled: 1000, Running: 0}, 0},
		{"never enabled", Value{}, 0},
		{"huge values do not overflow", Value{Raw: 1e12, Enabled: 1e12, Running: 5e11}, 2e12},
		{"huge exact", Value{Raw: math.MaxUint64 / 4, Enabled: 3e18, Running: 1e18}, math.MaxUint64 / 4 * 3},
		{"saturates", Value{Raw: math.MaxUint64, Enabled: 2, Running: 1}, math.MaxUint64},
		{"max equal", Value{Raw: math.MaxUint64, Enabled: math.MaxUint64, Running: math.MaxUint64}, math.MaxUint64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.Scaled(); got != tc.want {
				t.Errorf("%+v.Scaled() = %d, want %d", tc.v, got, tc.want)
			}
		})
	}
}

func TestValuePercent(t *testing.T) {
	for _, tc := range []struct {
		v    Value
		want float64
	}{
		{Value{Enabled: 0, Running: 0}, 100},
		{Value{Enabled: 100, Running: 100}, 100},
		{Value{Enabled: 200, Running: 50}, 25},
		{Value{Enabled: 100, Running: 0}, 0},
		{Value{Enabled: math.MaxUint64, Running: math.MaxUint64 / 2}, 50},
	} {
		if got := tc.v.Percent(); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%+v.Percent() = %v, want %v", tc.v, got, tc.want)
		}
	}
}
