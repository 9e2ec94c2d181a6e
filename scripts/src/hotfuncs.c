/* hotfuncs MS: forks two children; the first burns MS ms of CPU in
 * hot_alpha, the second in hot_beta, and the parent in hot_gamma (each a
 * function of its own, never inlined), then waits for both. For checking
 * that each process's profile puts its own function on top. */
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
	pid_t kids[2], self;

	init(argv);
	if (argc != 2)
		die_msg("usage: hotfuncs MS");
	ms = parse_long(argv[1], "MS", 1, 600000);
	self = gettid_();
	for (int i = 0; i < 2; i++) {
		pid_t pid = fork();
		if (pid < 0)
			die_errno("fork");
		if (pid == 0) {
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
	for (int i = 0; i < 2; i++)
		waitpid(kids[i], NULL, 0);
	return 0;
}
