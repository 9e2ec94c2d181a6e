package follow

import (
	"os"
	"runtime"
	"testing"

	"github.com/perfprof/perfprof/internal/procfs"
	"golang.org/x/sys/unix"
)

// processOf names the process of a thread and of a leader, by both of its
// ways, and nothing for a task that is gone.
func TestProcessOf(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid() // a thread of ours, maybe not the leader
	for _, task := range []int{tid, os.Getpid()} {
		if tgid, ppid := processOf(task); tgid != os.Getpid() || ppid != os.Getppid() {
			t.Errorf("processOf(%d) = %d, %d; want %d, %d", task, tgid, ppid, os.Getpid(), os.Getppid())
		}
		if st, err := procfs.ReadStatus(task); err != nil || st.TGID != os.Getpid() || st.PPID != os.Getppid() {
			t.Errorf("/proc/%d/status: %+v, %v", task, st, err)
		}
	}
	if _, _, ok := pidfdProcessOf(tid); !ok {
		t.Logf("PIDFD_GET_INFO not available: processOf reads /proc (Linux < 6.13)")
	}
	// The /proc way, as on kernels without PIDFD_GET_INFO.
	pidfdUnsupported.Store(true)
	if tgid, ppid := processOf(tid); tgid != os.Getpid() || ppid != os.Getppid() {
		t.Errorf("processOf(%d) from /proc = %d, %d", tid, tgid, ppid)
	}
	pidfdUnsupported.Store(false)
	if tgid, ppid := processOf(1 << 22); tgid != 0 || ppid != 0 {
		t.Errorf("processOf of a missing task = %d, %d", tgid, ppid)
	}
}

// BenchmarkProcessOf is the cost processOf adds to a new task whose first
// stop comes before its parent's event (most tasks below the first level
// of a tree).
func BenchmarkProcessOf(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	b.Run("pidfd", func(b *testing.B) {
		for range b.N {
			pidfdProcessOf(tid)
		}
	})
	b.Run("proc", func(b *testing.B) {
		pidfdUnsupported.Store(true)
		defer pidfdUnsupported.Store(false)
		for range b.N {
			processOf(tid)
		}
	})
}
