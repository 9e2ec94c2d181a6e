package main

import (
	"math"
	"slices"
	"testing"
	"time"
)

// Without -baseline, the order is the tools rotated by one each round, as
// before the A/B existed.
func TestOrderWithoutBaseline(t *testing.T) {
	w := newWorkload([]string{"forkloop", "300"}, true, false)
	n := len(w.tools)
	for r := 0; r < 2*n; r++ {
		var want []string
		for i := 0; i < n; i++ {
			want = append(want, w.tools[(i+r)%n])
		}
		if got := w.order(r); !slices.Equal(got, want) {
			t.Errorf("round %d: %v, want %v", r, got, want)
		}
	}
}

// With -baseline, every tool runs once per round, each new/old pair runs
// back to back, and the new binary runs first in every other round.
func TestOrderWithBaseline(t *testing.T) {
	for _, args := range [][]string{{"forkloop", "300"}, {"spawnloop", "100"}, {"fanout", "8", "30", "t"}} {
		w := newWorkload(args, true, true)
		newFirst := map[string]int{}
		for r := 0; r < 10; r++ {
			o := w.order(r)
			got, want := slices.Clone(o), slices.Clone(w.tools)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("%v round %d: %v is not a permutation of %v", args, r, o, w.tools)
			}
			for _, p := range abPairs {
				i, j := slices.Index(o, p.new), slices.Index(o, p.old)
				if (i < 0) != (j < 0) {
					t.Fatalf("%v round %d: %s without %s: %v", args, r, p.new, p.old, o)
				}
				if i < 0 {
					continue
				}
				if i-j != 1 && j-i != 1 {
					t.Errorf("%v round %d: %s and %s not back to back: %v", args, r, p.new, p.old, o)
				}
				if (i < j) != (r%2 == 0) {
					t.Errorf("%v round %d: %s first = %v, want %v", args, r, p.new, i < j, r%2 == 0)
				}
				if i < j {
					newFirst[p.new]++
				}
			}
		}
		for k, c := range newFirst {
			if c != 5 {
				t.Errorf("%v: %s first in %d of 10 rounds", args, k, c)
			}
		}
	}
}

func TestSignTest(t *testing.T) {
	for _, c := range []struct {
		k, n int
		p    float64
	}{{3, 3, 0.25}, {0, 3, 0.25}, {6, 6, 2.0 / 64}, {10, 11, 24.0 / 2048}, {9, 11, 134.0 / 2048}, {5, 10, 1}} {
		if p := signTest(c.k, c.n); math.Abs(p-c.p) > 1e-12 {
			t.Errorf("signTest(%d, %d) = %g, want %g", c.k, c.n, p, c.p)
		}
	}
}

func TestGrowth(t *testing.T) {
	res := &stormResult{procs: 1000}
	for i := 0; i <= 10; i++ {
		// 1 MB + 100 bytes per exited process, in kB.
		res.samples = append(res.samples, stormSample{at: time.Duration(i) * 200 * time.Millisecond, exited: 100 * i, rssKB: (1<<20 + 100*100*i) / 1024})
	}
	slope, ends := res.growth()
	if math.Abs(slope-100) > 2 || math.Abs(ends-100) > 2 {
		t.Errorf("growth = %.1f, %.1f, want about 100", slope, ends)
	}
}
