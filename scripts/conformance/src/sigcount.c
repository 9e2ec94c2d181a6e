/* sigcount N M: counts the signals its handlers receive.
 *  1. A sender child sends SIGUSR1 then SIGUSR2 to the parent N times each,
 *     and waits for the handler's acknowledgement (a byte on a pipe) after
 *     every signal, so none can coalesce.
 *  2. With SIGRTMIN+1 blocked, a second child sigqueue()s M signals with
 *     values 1000+i; once it has exited the parent unblocks SIGRTMIN+1 and
 *     its handler records the values.
 *  3. N children exit at once; waitpid must reap all of them (SIGCHLD is
 *     handled, counted and re-checked with waitpid).
 * Output: "created fork ..." for each child, then
 * "usr1 A usr2 B rt C order OK|BAD" and "done PID"; exits 0 if every count
 * is exact and the values came in order, 1 otherwise. */
#include "common.h"
#include <signal.h>
#include <stdatomic.h>

static atomic_long usr1, usr2, chld;
static int ack[2];
static long *rtvals;
static atomic_long nrt;

static void on_sig(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	(void)uc;
	if (sig == SIGUSR1)
		atomic_fetch_add(&usr1, 1);
	else if (sig == SIGUSR2)
		atomic_fetch_add(&usr2, 1);
	else if (sig == SIGCHLD) {
		atomic_fetch_add(&chld, 1);
		errno = saved;
		return;
	} else {
		long i = atomic_fetch_add(&nrt, 1);
		rtvals[i] = si->si_value.sival_int;
		errno = saved;
		return;
	}
	if (write(ack[1], "a", 1) != 1)
		_exit(3);
	errno = saved;
}

static void handle(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sig;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0)
		die_errno("sigaction");
}

int main(int argc, char **argv)
{
	long n, m;
	pid_t self, pid, parent;
	sigset_t rt, old;
	int ok = 1;

	init(argv);
	if (argc != 3)
		die_msg("usage: sigcount N M");
	n = parse_long(argv[1], "N", 0, 100000);
	m = parse_long(argv[2], "M", 0, 10000);
	if (!(rtvals = calloc((size_t)m + 1, sizeof *rtvals)))
		die_errno("calloc");
	self = gettid_();
	parent = getpid();
	if (pipe(ack) != 0)
		die_errno("pipe");
	handle(SIGUSR1);
	handle(SIGUSR2);
	handle(SIGCHLD);
	handle(SIGRTMIN + 1);

	/* 1. acknowledged SIGUSR1/SIGUSR2 */
	pid = fork();
	if (pid < 0)
		die_errno("fork");
	if (pid == 0) {
		char c;
		for (long i = 0; i < 2 * n; i++) {
			if (kill(parent, i % 2 ? SIGUSR2 : SIGUSR1) != 0)
				_exit(4);
			while (read(ack[0], &c, 1) != 1)
				if (errno != EINTR)
					_exit(5);
		}
		_exit(0);
	}
	created("fork", pid, pid, self);
	wait_ok(pid, 0);

	/* 2. queued real-time signals with values, delivered at unblock */
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN + 1);
	if (sigprocmask(SIG_BLOCK, &rt, &old) != 0)
		die_errno("sigprocmask");
	pid = fork();
	if (pid < 0)
		die_errno("fork");
	if (pid == 0) {
		for (long i = 0; i < m; i++) {
			union sigval v = { .sival_int = (int)(1000 + i) };
			if (sigqueue(parent, SIGRTMIN + 1, v) != 0)
				_exit(6);
		}
		_exit(0);
	}
	created("fork", pid, pid, self);
	wait_ok(pid, 0);
	if (sigprocmask(SIG_SETMASK, &old, NULL) != 0)
		die_errno("sigprocmask");
	for (int i = 0; i < 1000 && atomic_load(&nrt) < m; i++)
		sleep_ms(1);

	/* 3. many children exiting at once */
	for (long i = 0; i < n; i++) {
		pid = fork();
		if (pid < 0)
			die_errno("fork");
		if (pid == 0)
			_exit(0);
		created("fork", pid, pid, self);
	}
	for (long i = 0; i < n; i++) {
		int st;
		pid_t r;
		do
			r = waitpid(-1, &st, 0);
		while (r < 0 && errno == EINTR);
		if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "sigcount: waitpid: %d status 0x%x\n", (int)r, st);
			ok = 0;
		}
	}
	if (atomic_load(&chld) == 0) {
		fprintf(stderr, "sigcount: no SIGCHLD received\n");
		ok = 0;
	}

	long got = atomic_load(&nrt);
	int order = got == m;
	for (long i = 0; i < got && i < m; i++)
		if (rtvals[i] != 1000 + i)
			order = 0;
	out("usr1 %ld usr2 %ld rt %ld order %s\n", atomic_load(&usr1), atomic_load(&usr2), got, order ? "OK" : "BAD");
	if (!order) {
		for (long i = 0; i < got && i < m; i++)
			fprintf(stderr, "%ld ", rtvals[i]);
		fputc('\n', stderr);
	}
	ok = ok && order && atomic_load(&usr1) == n && atomic_load(&usr2) == n;
	done();
	return ok ? 0 : 1;
}
