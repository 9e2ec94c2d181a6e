/* forkrate RATE: a service that, from its first SIGUSR1 on, forks RATE
 * short-lived children a second (each touches a page and exits), reaping
 * them as they end, until SIGTERM; then it waits for the last ones and
 * prints
 *   FORKED n
 * on stdout, the number of children it made, and exits 0. For the daemon
 * soak (test/daemon_test.go). */
#include "common.h"
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t stop, go;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

int main(int argc, char **argv)
{
	long rate, forked = 0;
	struct timespec next, gap;

	init(argv);
	if (argc != 2)
		die_msg("usage: forkrate RATE");
	rate = parse_long(argv[1], "RATE", 1, 10000);
	signal(SIGTERM, on_term);
	signal(SIGUSR1, on_usr1);
	gap.tv_sec = 0;
	gap.tv_nsec = 1000000000L / rate;
	clock_gettime(CLOCK_MONOTONIC, &next);
	printf("READY\n");
	fflush(stdout);
	while (!go && !stop)
		usleep(1000); /* not pause(): a signal before it would be lost */
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stop) {
		pid_t pid = fork();
		if (pid < 0)
			die_errno("fork");
		if (pid == 0) {
			static char page[4096];
			page[0] = 1;
			_exit(page[0] - 1);
		}
		forked++;
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		next.tv_nsec += gap.tv_nsec;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR && !stop)
			;
	}
	while (waitpid(-1, NULL, 0) > 0)
		;
	printf("FORKED %ld\n", forked);
	return 0;
}
