package session

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/report"
	"golang.org/x/sys/unix"
)

// BenchmarkStopCloneContinue measures the whole path a new thread takes
// through perfprof: the parent's clone event, the child's first stop, the
// clone of the parent's counter group onto it, PTRACE_CONT, and at its exit
// the final read and close. The workload (scripts/bin/threadtree) creates
// the threads in batches of up to 1,000; ns/op is wall time per thread
// (workload included), and cpu-µs/task is perfprof's own CPU per thread.
// The sampled case (-F 999 -e task-clock, no sink) adds a ring to each
// thread: its map at the clone, and its retirement at the exit.
func BenchmarkStopCloneContinue(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for _, events := range []string{"task-clock", "task-clock,page-faults,context-switches", "sampled:task-clock"} {
		b.Run(events, func(b *testing.B) {
			sampled := strings.HasPrefix(events, "sampled:")
			events = strings.TrimPrefix(events, "sampled:")
			if out, err := exec.Command("make", "-s", "-C", "../scripts").CombinedOutput(); err != nil {
				b.Fatalf("build workloads: %v\n%s", err, out)
			}
			threadtree, _ := filepath.Abs("../scripts/bin/threadtree")
			specs, err := perfevent.Parse(events)
			if err != nil {
				b.Fatal(err)
			}
			if sampled {
				if specs, err = perfevent.Sampling(specs, perfevent.SampleOptions{Freq: 999}); err != nil {
					b.Fatal(err)
				}
			}
			pin, err := perfevent.Pin(specs)
			if err != nil {
				b.Fatal(err)
			}
			defer pin.Close()
			devnull, err := unix.Open(os.DevNull, unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Close(devnull)
			var before unix.Rusage
			unix.Getrusage(unix.RUSAGE_SELF, &before)
			b.ResetTimer()
			for done := 0; done < b.N; {
				// threadtree K creates K threads, and one more from the
				// first of them.
				k := max(min(1000, b.N-done)-1, 1)
				n := k + 1
				done += n
				set := profdev.NewSet(specs, report.NewModel(report.Options{Events: specs}))
				set.FollowChildren()
				if sampled {
					if err := set.EnableSampling(profdev.SamplingOptions{RingOrder: 0}); err != nil {
						b.Fatal(err)
					}
				}
				tr, err := follow.Start(follow.Options{Hooks: &hooks{set: set}})
				if err != nil {
					b.Fatal(err)
				}
				// The workload's "created" lines go to /dev/null: it
				// inherits fd 1 while Launch runs.
				saved, _ := unix.Dup(1)
				unix.Dup2(devnull, 1)
				_, err = tr.Launch(threadtree, []string{"threadtree", strconv.Itoa(k), "0", "0"}, nil,
					func(t pidtree.Task) ([]pidtree.Device, error) {
						d, err := set.Arm(t, "threadtree", true)
						return []pidtree.Device{d}, err
					})
				unix.Dup2(saved, 1)
				unix.Close(saved)
				if err != nil {
					b.Fatal(err)
				}
				tr.Run()
				select {
				case <-tr.Done():
				case <-time.After(time.Minute):
					b.Fatal("the workload did not end in a minute")
				}
				if res := tr.Wait(); res.Stats.Tasks != n+1 || res.Stats.ForkFailures != 0 {
					b.Fatalf("stats %+v, want %d tasks", res.Stats, n+1)
				}
				set.Close()
			}
			b.StopTimer()
			var after unix.Rusage
			unix.Getrusage(unix.RUSAGE_SELF, &after)
			cpu := (after.Utime.Nano() + after.Stime.Nano()) - (before.Utime.Nano() + before.Stime.Nano())
			b.ReportMetric(float64(cpu)/1e3/float64(max(b.N, 2)), "cpu-µs/task")
		})
	}
}
