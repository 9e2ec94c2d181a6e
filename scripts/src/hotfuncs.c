/* hotfuncs MS [STATIC GO]: forks two children; the first burns MS ms of
 * CPU in hot_alpha, the second in hot_beta, and the parent in hot_gamma
 * (each a function of its own, never inlined), then waits for them. For
 * checking that each process's profile puts its own function on top.
 * With STATIC and GO, the first child execs STATIC -alpha MS (a static
 * build of hotfuncs, which then burns in hot_alpha), and a third child
 * execs GO MS (a Go program that burns in main.hotDelta): a PIE, a static
 * binary and a Go binary in one tree. */
#include "common.h"

static volatile unsigned long sink;

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void hot_alpha(long ms)
{
	double until = mono() + ms / 1e3;
	while (mono() < until)
		for (int i = 0; i < 100000; i++)
			sink += i * 3;
}

__attribute__((noinline)) void hot_gamma(long ms)
{
	double until = mono() + ms / 1e3;
	while (mono() < until)
		for (int i = 0; i < 100000; i++)
			sink += i ^ 5;
}

__attribute__((noinline)) void hot_beta(long ms)
{
	double until = mono() + ms / 1e3;
	while (mono() < until)
		for (int i = 0; i < 100000; i++)
			sink ^= i * 7;
}

int main(int argc, char **argv)
{
	long ms;
	pid_t kids[3], self;
	int n = 2;

	if (argc == 3 && strcmp(argv[1], "-alpha") == 0) {
		/* The static build, exec'd by the first child. */
		hot_alpha(atol(argv[2]));
		return 0;
	}
	init(argv);
	if (argc != 2 && argc != 4)
		die_msg("usage: hotfuncs MS [STATIC GO]");
	ms = parse_long(argv[1], "MS", 1, 600000);
	if (argc == 4)
		n = 3;
	self = gettid_();
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			die_errno("fork");
		if (pid == 0) {
			if (i == 0 && n == 3) {
				char *args[] = {argv[2], "-alpha", argv[1], NULL};
				execv(argv[2], args);
				die_errno("exec STATIC");
			}
			if (i == 2) {
				char *args[] = {argv[3], argv[1], NULL};
				execv(argv[3], args);
				die_errno("exec GO");
			}
			if (i == 0)
				hot_alpha(ms);
			else
				hot_beta(ms);
			_exit(0);
		}
		kids[i] = pid;
		created("fork", pid, pid, self);
	}
	hot_gamma(ms);
	for (int i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	return 0;
}
