package procfs

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReadSelf reads this process's files: of its leader and of a thread
// that may not be it.
func TestReadSelf(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	for _, task := range []int{os.Getpid(), tid} {
		st, err := ReadStat(task)
		if err != nil || st.PID != task || st.PPID != os.Getppid() || st.Zombie() {
			t.Errorf("ReadStat(%d) = %+v, %v; want pid %d, ppid %d", task, st, err, task, os.Getppid())
		}
		s, err := ReadStatus(task)
		if err != nil || s.TGID != os.Getpid() || s.PPID != os.Getppid() || s.State == 0 {
			t.Errorf("ReadStatus(%d) = %+v, %v; want Tgid %d, PPid %d", task, s, err, os.Getpid(), os.Getppid())
		}
	}
	tids, err := Threads(os.Getpid())
	if err != nil || !slices.Contains(tids, tid) || !slices.Contains(tids, os.Getpid()) {
		t.Errorf("Threads = %v, %v; want %d and %d in it", tids, err, os.Getpid(), tid)
	}
	pids, err := PIDs()
	if err != nil || !slices.Contains(pids, os.Getpid()) || slices.Contains(pids, tid) && tid != os.Getpid() {
		t.Errorf("PIDs: %v, %d values; want %d and not thread %d", err, len(pids), os.Getpid(), tid)
	}
	exe, _ := os.Executable()
	if c, want := Comm(os.Getpid()), filepath.Base(exe); c != want[:min(len(want), 15)] {
		t.Errorf("Comm(self) = %q, want %q", c, want)
	}
}

// TestReadChild reads a child whose comm holds spaces and parentheses,
// asleep, then a zombie, then reaped.
func TestReadChild(t *testing.T) {
	link := filepath.Join(t.TempDir(), "a) (b c")
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1)")
	}
	if err := os.Symlink(sleep, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var st Stat
	for deadline := time.Now().Add(5 * time.Second); ; {
		if st, err = ReadStat(pid); err == nil && st.State == 'S' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d never slept: %+v, %v", pid, st, err)
		}
		time.Sleep(time.Millisecond)
	}
	if st.Comm != "a) (b c" || st.PPID != os.Getpid() || Comm(pid) != "a) (b c" {
		t.Errorf("child: %+v, Comm %q; want comm \"a) (b c\" and parent %d", st, Comm(pid), os.Getpid())
	}
	if s, err := ReadStatus(pid); err != nil || s.TGID != pid || s.PPID != os.Getpid() || s.TracerPID != 0 || s.State != 'S' {
		t.Errorf("ReadStatus(child) = %+v, %v", s, err)
	}

	// A zombie: killed, not reaped.
	cmd.Process.Kill()
	var info unix.Siginfo
	for {
		if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != unix.EINTR {
			break
		}
	}
	if st, err := ReadStat(pid); err != nil || !st.Zombie() || st.Flags&0x4 == 0 {
		t.Errorf("zombie: %+v, %v; want Z with PF_EXITING", st, err)
	}
	if s, err := ReadStatus(pid); err != nil || s.State != 'Z' {
		t.Errorf("zombie's status: %+v, %v", s, err)
	}
	cmd.Wait()
	if st, err := ReadStat(pid); err == nil && st.Comm != "a) (b c" {
		t.Skipf("pid %d was reused", pid)
	} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ESRCH) {
		t.Errorf("ReadStat(reaped) = %v, want not found", err)
	}
	if _, err := ReadStatus(pid); err == nil {
		t.Errorf("ReadStatus(reaped): no error")
	}
	if c := Comm(pid); c != "" {
		t.Errorf("Comm(reaped) = %q", c)
	}
	if _, err := Threads(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Threads(reaped) = %v", err)
	}
}

// TestReadMapsOfSelf parses every line of this process's maps.
func TestReadMapsOfSelf(t *testing.T) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	var execs int
	for _, line := range splitLines(b) {
		m, err := ParseMapsLine(line)
		if err != nil {
			t.Fatal(err)
		}
		if m.Prot&ProtExec != 0 && m.Path == exe {
			execs++
		}
		if ExecLine([]byte(line)) != (m.Prot&ProtExec != 0) {
			t.Errorf("ExecLine(%q) disagrees", line)
		}
	}
	if execs == 0 {
		t.Errorf("no executable mapping of %s", exe)
	}
}

func splitLines(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := slices.Index(b, '\n')
		if i < 0 {
			return append(out, string(b))
		}
		out = append(out, string(b[:i]))
		b = b[i+1:]
	}
	return out
}
