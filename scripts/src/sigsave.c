/* sigsave [stubborn]: a program that saves its state when interrupted, as
 * `try: ... except KeyboardInterrupt: save(); sys.exit(3)` does.
 * It catches SIGINT, SIGTERM, SIGHUP and SIGQUIT, prints "ready PID" and
 * waits. At each signal its handler counts it. After the first, it prints
 * "caught SIGNAME", forks a child that burns 50 ms and exits 0 ("created
 * fork ..."; the tree goes on changing while it shuts down), waits 300 ms
 * for more signals, prints "saved N" (N: the signals it received in all)
 * and exits 3. With "stubborn" it prints "caught SIGNAME" and never
 * exits (for --kill-after). It waits at most 20 s for a signal, then
 * prints "timeout" and exits 1. */
#include "common.h"
#include <signal.h>
#include <stdatomic.h>

static atomic_int received;
static atomic_int first;

static void on_signal(int sig)
{
	int zero = 0;
	atomic_compare_exchange_strong(&first, &zero, sig);
	atomic_fetch_add(&received, 1);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int stubborn;
	pid_t pid;

	init(argv);
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "stubborn") != 0))
		die_msg("usage: sigsave [stubborn]");
	stubborn = argc == 2;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < 32; sig++)
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT)
			if (sigaction(sig, &sa, NULL) != 0)
				die_errno("sigaction");
	out("ready %d\n", (int)getpid());
	for (int i = 0; i < 2000 && atomic_load(&received) == 0; i++)
		sleep_ms(10);
	if (atomic_load(&received) == 0) {
		out("timeout\n");
		return 1;
	}
	out("caught SIG%s\n", sigabbrev_np(atomic_load(&first)));
	if (stubborn)
		for (;;)
			pause();
	pid = fork();
	if (pid < 0)
		die_errno("fork");
	if (pid == 0) {
		burn(50);
		_exit(0);
	}
	created("fork", pid, pid, gettid_());
	for (int i = 0; i < 30; i++)
		sleep_ms(10);
	wait_ok(pid, 0);
	out("saved %d\n", atomic_load(&received));
	return 3;
}
