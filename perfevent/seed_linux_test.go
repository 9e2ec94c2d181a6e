package perfevent

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSeedSavesAnIPI checks what Seed is for, on the real kernel: opening
// a group of two on a task born after its creator was seeded sends one
// function-call IPI to the task's CPU (the enable), against two for a task
// born unseeded (the leader's install and the enable). The IPIs are
// counted in /proc/interrupts (CAL) of the CPU the stopped task is pinned
// to, while this thread opens the groups from another CPU.
func TestSeedSavesAnIPI(t *testing.T) {
	requires(t, swPMU)
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs: the IPIs go to the stopped task's CPU")
	}
	specs := mustParse(t, "task-clock,page-faults")
	// No open or close below may be the first or last of its kind: those
	// patch kernel text, which sends IPIs of its own.
	pin, err := Pin(specs)
	if err != nil {
		t.Fatal(err)
	}
	defer pin.Close()

	// Children forked from this locked thread inherit its seed.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	setCPU(t, 0, 0)
	defer setCPU(t, 0, -1)
	plain := stoppedChild(t) // forked before the seed: none
	seed, err := Seed(0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(seed)
	seeded := stoppedChild(t)

	const n = 200
	ipis := func(pid int) int {
		before := callIPIs(t, 1)
		for range n {
			g, err := OpenGroup(specs, pid, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			g.Close()
		}
		return callIPIs(t, 1) - before
	}
	// Other activity adds IPIs, and now and then saves one (a function
	// call queued behind another's rides on its IPI): try a few times.
	var p, s int
	for range 5 {
		p, s = ipis(plain), ipis(seeded)
		if p >= 2*n*9/10 && s < p*3/4 {
			break
		}
	}
	t.Logf("%d groups: %d IPIs to the unseeded task's CPU, %d to the seeded one's", n, p, s)
	if p < 2*n*9/10 || s >= p*3/4 {
		t.Errorf("want about %d and %d: the seeded task should save one IPI per group", 2*n, n)
	}
}

// stoppedChild starts a sleep from the calling thread, pins it to CPU 1,
// stops it and returns its pid; it is killed when the test ends.
func stoppedChild(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	setCPU(t, pid, 1)
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err == nil {
			if s := string(b); strings.HasPrefix(s[strings.LastIndexByte(s, ')')+1:], " T") {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d did not stop", pid)
		}
	}
}

// setCPU pins task pid (0: the calling thread) to cpu, or to every CPU
// when cpu is -1.
func setCPU(t *testing.T, pid, cpu int) {
	t.Helper()
	var set unix.CPUSet
	for i := range runtime.NumCPU() {
		if cpu < 0 || i == cpu {
			set.Set(i)
		}
	}
	if err := unix.SchedSetaffinity(pid, &set); err != nil {
		t.Fatal(err)
	}
}

// callIPIs returns the function-call interrupts CPU cpu has taken, from
// /proc/interrupts ("CAL:" on x86, "IPI1:" on arm64).
func callIPIs(t *testing.T, cpu int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/interrupts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > cpu+1 && strings.HasSuffix(line, "Function call interrupts") {
			n, err := strconv.Atoi(f[cpu+1])
			if err != nil {
				t.Fatalf("/proc/interrupts: %q", line)
			}
			return n
		}
	}
	t.Skip("/proc/interrupts counts no function-call interrupts here")
	return 0
}
