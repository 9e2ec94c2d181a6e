/* sigexec IGNORED BLOCKED CMD [ARGS...]: exec CMD with the signals of the
 * hex set IGNORED ignored and all others at their default action, and the
 * hex set BLOCKED as its signal mask. A set has bit n-1 for signal n, as
 * the SigIgn and SigBlk lines of /proc/PID/status. It is how a shell's
 * `trap '' SIG` or a service manager hands a program its signal state. */
#include "common.h"
#include <signal.h>

static unsigned long long parse_set(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 16);
	if (errno != 0 || end == s || *end != '\0')
		die_msg("bad signal set '%s' (want hex)", s);
	return v;
}

int main(int argc, char **argv)
{
	unsigned long long ign, blk;
	sigset_t mask;

	init(argv);
	if (argc < 4)
		die_msg("usage: sigexec IGNORED BLOCKED CMD [ARGS...]");
	ign = parse_set(argv[1]);
	blk = parse_set(argv[2]);
	sigemptyset(&mask);
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || (sig > 31 && sig < SIGRTMIN))
			continue;
		if (signal(sig, (ign >> (sig - 1)) & 1 ? SIG_IGN : SIG_DFL) == SIG_ERR)
			die_errno("signal");
		if ((blk >> (sig - 1)) & 1)
			sigaddset(&mask, sig);
	}
	if (sigprocmask(SIG_SETMASK, &mask, NULL) != 0)
		die_errno("sigprocmask");
	execvp(argv[3], argv + 3);
	die_errno(argv[3]);
}
