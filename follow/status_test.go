package follow

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestDecode(t *testing.T) {
	stopped := func(sig unix.Signal, event int) unix.WaitStatus {
		return unix.WaitStatus(0x7f | int(sig)<<8 | event<<16)
	}
	tests := []struct {
		name string
		ws   unix.WaitStatus
		kind StopKind
		sig  unix.Signal
	}{
		{"exited 0", 0x0000, StopNone, 0},
		{"exited 3", 0x0300, StopNone, 0},
		{"killed by SIGKILL", 0x0009, StopNone, 0},
		{"fork event", stopped(unix.SIGTRAP, unix.PTRACE_EVENT_FORK), StopFork, unix.SIGTRAP},
		{"vfork event", stopped(unix.SIGTRAP, unix.PTRACE_EVENT_VFORK), StopVFork, unix.SIGTRAP},
		{"clone event", stopped(unix.SIGTRAP, unix.PTRACE_EVENT_CLONE), StopClone, unix.SIGTRAP},
		{"exec event", stopped(unix.SIGTRAP, unix.PTRACE_EVENT_EXEC), StopExec, unix.SIGTRAP},
		{"new child or interrupt (0x80057f)", 0x80057f, StopEvent, unix.SIGTRAP},
		{"group-stop SIGSTOP (0x80137f), TrapCause says -1", 0x80137f, StopGroup, unix.SIGSTOP},
		{"group-stop SIGTSTP", stopped(unix.SIGTSTP, unix.PTRACE_EVENT_STOP), StopGroup, unix.SIGTSTP},
		{"group-stop SIGTTIN", stopped(unix.SIGTTIN, unix.PTRACE_EVENT_STOP), StopGroup, unix.SIGTTIN},
		{"group-stop SIGTTOU", stopped(unix.SIGTTOU, unix.PTRACE_EVENT_STOP), StopGroup, unix.SIGTTOU},
		{"signal-delivery SIGSTOP (0x137f)", 0x137f, StopSignal, unix.SIGSTOP},
		{"signal-delivery SIGUSR1", stopped(unix.SIGUSR1, 0), StopSignal, unix.SIGUSR1},
		{"signal-delivery SIGTRAP", stopped(unix.SIGTRAP, 0), StopSignal, unix.SIGTRAP},
		{"syscall-stop", stopped(unix.SIGTRAP|0x80, 0), StopSyscall, unix.SIGTRAP | 0x80},
		{"exit event", stopped(unix.SIGTRAP, unix.PTRACE_EVENT_EXIT), StopOther, unix.SIGTRAP},
		{"vfork-done event", stopped(unix.SIGTRAP, unix.PTRACE_EVENT_VFORK_DONE), StopOther, unix.SIGTRAP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, sig := decode(tc.ws)
			if kind != tc.kind || sig != tc.sig {
				t.Errorf("decode(%#x) = %v, %v; want %v, %v", uint32(tc.ws), kind, sig, tc.kind, tc.sig)
			}
		})
	}
	if got := unix.WaitStatus(0x80137f).TrapCause(); got != -1 {
		t.Errorf("TrapCause of a group-stop = %d; the decoder exists because it is -1", got)
	}
}
