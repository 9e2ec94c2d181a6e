package test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The inherit follower (--follow inherit) against the workloads the
// ptrace follower's tests run: the same tasks, parents, commands and
// counts, each task once; what the kernel does not tell (a descendant's
// exit status) left out, not guessed.

// TestInheritForkTree: every process of a fork tree once, with its
// parent and its own counts (each burns 20 ms and touches 100 pages);
// the workload's exit status, and none for the others.
func TestInheritForkTree(t *testing.T) {
	requires(t)
	t.Parallel()
	p, cs, root, rep := runTree(t, 12, "--follow", "inherit", "-e", "task-clock,page-faults",
		"--", workload("forktree"), "2", "3", "20", "100")
	final := rep.finalByPID(t)
	if len(final) != len(cs)+1 {
		t.Errorf("%d final counts records, want %d", len(final), len(cs)+1)
	}
	ppid := map[int]int{root: p.pid()}
	for _, c := range cs {
		ppid[c.tid] = c.parent
	}
	forks := rep.forksByTID(t)
	exits := rep.exitsByTID()
	for pid, parent := range ppid {
		r, ok := final[pid]
		if !ok {
			t.Errorf("no final counts record for pid %d", pid)
			continue
		}
		if tc, pf := value(t, r, "task-clock"), value(t, r, "page-faults"); tc < ms(20) || pf < 100 || pf > 400 {
			t.Errorf("pid %d: task-clock %d ns, page-faults %d; want >= %d ns and 100 to 400", pid, tc, pf, ms(20))
		}
		if r.PPID != parent || !*r.Exited {
			t.Errorf("pid %d: ppid %d exited %v, want ppid %d exited true", pid, r.PPID, *r.Exited, parent)
		}
		e := exits[pid]
		switch {
		case len(e) != 1:
			t.Errorf("pid %d: %d exit records, want 1", pid, len(e))
		case pid == root && (e[0].Code == nil || *e[0].Code != 0):
			t.Errorf("workload %d: exit record %v, want code 0", pid, e[0])
		case pid != root && (e[0].Code != nil || e[0].Signal != nil):
			t.Errorf("pid %d: exit record %v: an inherited task's status is not known", pid, e[0])
		}
		if f, ok := forks[pid]; pid != root && (!ok || f.ParentTID != parent || f.Kind != "fork") {
			t.Errorf("pid %d: fork record %v, want one from %d", pid, f, parent)
		}
	}
	checkSummary(t, rep, len(cs)+1, len(cs))
}

// TestInheritThreadTree: each thread its own row with --per-thread.
func TestInheritThreadTree(t *testing.T) {
	requires(t)
	t.Parallel()
	_, cs, root, rep := runTree(t, 5, "--follow", "inherit", "--per-thread", "-e", "task-clock,page-faults",
		"--", workload("threadtree"), "4", "20", "100")
	final := rep.finalByTID(t)
	if len(final) != len(cs)+1 {
		t.Errorf("%d final counts records, want %d (one per thread)", len(final), len(cs)+1)
	}
	for _, c := range cs {
		r, ok := final[c.tid]
		if !ok {
			t.Errorf("no counts record for thread %d", c.tid)
			continue
		}
		if r.PID != root {
			t.Errorf("thread %d: pid %d, want %d", c.tid, r.PID, root)
		}
		if tc, pf := value(t, r, "task-clock"), value(t, r, "page-faults"); tc < ms(20) || pf < 100 {
			t.Errorf("thread %d: task-clock %d ns, page-faults %d; want >= %d ns and >= 100", c.tid, tc, pf, ms(20))
		}
	}
	checkSummary(t, rep, len(cs)+1, len(cs))
}

// TestInheritMatchesPtrace runs the conformance workloads under both
// followers: the same number of processes, the same commands, each task
// once, and page-faults and task-clock totals that agree (inherit also
// counts a forked child's first copy-on-write faults, which happen
// before the ptrace follower's counters open).
func TestInheritMatchesPtrace(t *testing.T) {
	requires(t)
	build := makeProject(t)
	for _, tc := range []struct {
		name, script string
		perThread    bool
	}{
		{"Demo", workload("demo"), true},
		{"ForkTree", workload("forktree") + " 2 4 5 50; true", false},
		{"SpawnVfork", workload("spawn") + " 20 | cat", false},
		{"Threads", workload("threadtree") + " 8 5 20; true", true},
		{"Clone3", workload("clone3") + "; true", true},
		{"ExecFromThread", workload("execthread") + " 20", false},
		{"ZombieLeader", workload("zombieleader") + " 100", true},
		// make and gcc: programs nobody here wrote, two jobs at once.
		{"MakeJ2", "make -s -B -j2 -C " + build, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requires(t)
			run := func(follow string) *report {
				args := []string{"--follow", follow, "-e", "task-clock,page-faults"}
				if tc.perThread {
					args = append(args, "--per-thread")
				}
				p, out := runJSON(t, 60*time.Second, append(args, "--", "sh", "-c", tc.script)...)
				_ = p
				return readReport(t, out)
			}
			pt, in := run("ptrace"), run("inherit")
			// Rows by their parent's command and their own (the pids
			// differ from run to run): the same tree.
			comms := func(rep *report) map[string]int {
				commOf := map[[2]int]string{}
				for _, r := range rep.final {
					commOf[[2]int{r.PID, r.TID}] = r.Comm
				}
				m := map[string]int{}
				for _, r := range rep.final {
					parent := commOf[[2]int{r.PPID, r.PPID}]
					if tc.perThread && r.TID != r.PID {
						parent = commOf[[2]int{r.PID, r.PID}]
					}
					m[parent+">"+r.Comm]++
				}
				return m
			}
			if a, b := comms(pt), comms(in); !equalCounts(a, b) {
				t.Errorf("rows by parent and command: ptrace %v, inherit %v", a, b)
			}
			if a, b := *pt.summary.TasksFollowed, *in.summary.TasksFollowed; a != b {
				t.Errorf("tasks followed: ptrace %d, inherit %d", a, b)
			}
			total := func(rep *report, ev string) (sum uint64) {
				for _, r := range rep.final {
					sum += value(t, r, ev)
				}
				return sum
			}
			// Page faults repeat from run to run (inherit counts one
			// more per forked child); the CPU time of two runs of a
			// short workload on a busy machine less so.
			for _, c := range []struct {
				ev     string
				lo, hi float64
			}{{"page-faults", 0.8, 1.25}, {"task-clock", 0.5, 2}} {
				a, b := float64(total(pt, c.ev)), float64(total(in, c.ev))
				if b < a*c.lo || b > a*c.hi {
					t.Errorf("%s in all: ptrace %.0f, inherit %.0f", c.ev, a, b)
				}
			}
		})
	}
}

// makeProject writes a small C project: four files, each compiled by
// make's rule with gcc, and linked.
func makeProject(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc here (make setup installs it)")
	}
	dir := t.TempDir()
	files := map[string]string{
		"Makefile": "prog: a.o b.o c.o d.o\n\tgcc -o $@ $^\n%.o: %.c\n\tgcc -O2 -c -o $@ $<\n",
		"a.c":      "int b(int); int c(int); int d(int); int main(void) { return b(1) + c(2) + d(3) - 6; }\n",
		"b.c":      "int b(int x) { return x; }\n",
		"c.c":      "int c(int x) { return x; }\n",
		"d.c":      "int d(int x) { return x; }\n",
	}
	for name, text := range files {
		if err := os.WriteFile(dir+"/"+name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestInheritSetuid: with no ptrace, a setuid program keeps its
// privileges under a non-root perfprof. passwd -S nobody reads /etc/shadow,
// which only its setuid root can: under the ptrace follower it runs
// without them and says "never" for the date of the last change.
func TestInheritSetuid(t *testing.T) {
	requires(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to run perfprof as another user")
	}
	for _, tool := range []string{"setpriv", "passwd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s here", tool)
		}
	}
	passwd, _ := exec.LookPath("passwd")
	if st, err := os.Stat(passwd); err != nil || st.Mode()&os.ModeSetuid == 0 {
		t.Skipf("%s is not setuid", passwd)
	}
	// The binary must be reachable by nobody.
	bin := t.TempDir() + "/perfprof"
	if b, err := os.ReadFile(ppBin); err != nil || os.WriteFile(bin, b, 0o755) != nil {
		t.Fatal("copy perfprof", err)
	}
	os.Chmod(t.TempDir(), 0o755)
	run := func(follow string) string {
		cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			bin, "--follow", follow, "-e", "task-clock:u", "--", passwd, "-S", "nobody")
		cmd.Dir = "/"
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("--follow %s: %v\n%s", follow, err, out)
		}
		return strings.SplitN(string(out), "\n", 2)[0]
	}
	want, err := exec.Command(passwd, "-S", "nobody").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := run("inherit"); got != strings.SplitN(string(want), "\n", 2)[0] {
		t.Errorf("passwd -S nobody under a non-root perfprof --follow inherit printed %q, want %q (as root gets)", got, want)
	}
	if got := run("ptrace"); got == strings.SplitN(string(want), "\n", 2)[0] {
		t.Logf("passwd -S nobody under the ptrace follower printed %q too: the kernel honoured setuid under a tracer", got)
	}
}

// TestInheritProfileFolded: the hot tree's profile, each process's hot
// function its leaf, from per-CPU rings merged in time order (an exec's
// mappings before the samples that use them).
func TestInheritProfileFolded(t *testing.T) {
	requires(t)
	checkFoldedHot(t, "--follow", "inherit")
}

// TestInheritStorm: a storm of 2,000 short-lived processes and threads
// under -p --follow inherit. Every task is reported once, with its fork
// and exit records, whatever the kernel does to the counting rings; a
// count lost with a ring that stalled (two CPUs writing READ records into
// it at once) is marked unknown, never shown as a number, and the
// warning says how many.
func TestInheritStorm(t *testing.T) {
	requires(t)
	tgt := start(t, "env", "STORM_UNTRACED=1", confBin(t, "storm"), "2000", "200", "5")
	pid := tgt.expectPID("ready", 5*time.Second)
	out := reportPath(t)
	pp := start(t, ppBin, "--follow", "inherit", "-p", strconv.Itoa(pid), "--json", "-o", out, "--fold-after", "1000000")
	time.Sleep(500 * time.Millisecond) // nothing to wait for: no tracer shows
	unix.Kill(pid, unix.SIGUSR1)
	tgt.expect("stormdone ", 60*time.Second)
	unix.Kill(pid, unix.SIGTERM)
	if code := pp.wait(10 * time.Second); code != 0 {
		t.Fatalf("perfprof exit status %d after its target exited\n%s", code, tail(pp.stderr()))
	}
	tgt.wait(5 * time.Second)
	rep := readReport(t, out)
	cs := parseCreated(t, tgt.out.all())
	if len(cs) != 2000 {
		t.Fatalf("%d created lines, want 2000", len(cs))
	}
	checkFollowed(t, rep, cs, 1, followCheck{exits: true})
	unknown := 0
	for _, r := range rep.final {
		if r.Unknown {
			unknown++
			for ev, v := range r.Events {
				if ev == "page-faults" && v.Value > 0 && r.PID != pid {
					t.Errorf("pid %d: unknown, yet %d page faults", r.PID, v.Value)
				}
			}
		}
	}
	warned := strings.Contains(pp.stderr(), "final counts of")
	t.Logf("%d of %d rows unknown; stderr: %s", unknown, len(rep.final), strings.TrimSpace(pp.stderr()))
	if (unknown > 0) != warned {
		t.Errorf("%d rows with unknown counts, warning %v:\n%s", unknown, warned, pp.stderr())
	}
}
