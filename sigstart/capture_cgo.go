//go:build cgo

package sigstart

/*
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint64_t sigstart_ignored, sigstart_blocked;
static int sigstart_known;

// struct sigaction as the rt_sigaction system call takes it on amd64 and
// arm64. glibc's sigaction() refuses signals 32 and 33 (it keeps them for
// itself), yet a process can be started with them ignored: ask the kernel.
struct sigstart_ksigaction {
	unsigned long handler;
	unsigned long flags;
	unsigned long restorer;
	uint64_t mask;
};

// Runs before the Go runtime's initsig and minit change the process's
// dispositions and the main thread's mask.
__attribute__((constructor)) static void sigstart_capture(void) {
#if defined(__x86_64__) || defined(__aarch64__)
	uint64_t mask;
	if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &mask, sizeof mask) != 0)
		return;
	for (int sig = 1; sig <= 64; sig++) {
		struct sigstart_ksigaction sa;
		memset(&sa, 0, sizeof sa);
		if (syscall(SYS_rt_sigaction, sig, NULL, &sa, sizeof sa.mask) == 0 &&
		    sa.handler == (unsigned long)SIG_IGN)
			sigstart_ignored |= (uint64_t)1 << (sig - 1);
	}
	sigstart_blocked = mask;
	sigstart_known = 1;
#endif
}

static uint64_t sigstart_get_ignored(void) { return sigstart_ignored; }
static uint64_t sigstart_get_blocked(void) { return sigstart_blocked; }
static int sigstart_get_known(void) { return sigstart_known; }
*/
import "C"

var (
	ignored = Set(C.sigstart_get_ignored())
	blocked = Set(C.sigstart_get_blocked())
	known   = C.sigstart_get_known() != 0
)
