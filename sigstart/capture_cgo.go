//go:build cgo

package sigstart

/*
#include <signal.h>
#include <stdint.h>

static uint64_t sigstart_ignored, sigstart_blocked;
static int sigstart_known;

// Runs before the Go runtime's initsig and minit change the process's
// dispositions and the main thread's mask.
__attribute__((constructor)) static void sigstart_capture(void) {
	sigset_t mask;
	if (sigprocmask(SIG_BLOCK, NULL, &mask) != 0)
		return;
	for (int sig = 1; sig <= 64; sig++) {
		struct sigaction sa;
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			sigstart_ignored |= (uint64_t)1 << (sig - 1);
		if (sigismember(&mask, sig) == 1)
			sigstart_blocked |= (uint64_t)1 << (sig - 1);
	}
	sigstart_known = 1;
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
