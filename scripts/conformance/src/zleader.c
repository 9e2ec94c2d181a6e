/* zleader DELAY_MS RUN_MS: a process whose leader exits while a worker
 * thread lives on. The worker prints its created line; the leader prints
 * "ready PID", sleeps DELAY_MS, prints "leader-exit" and leaves with raw
 * SYS_exit (a zombie leader). The worker runs for RUN_MS ms of wall time
 * (from its start): every ~50 ms it burns 2 ms and forks a child (burns
 * 2 ms, exits 0; "created fork ...", reaped). Then "done PID", exit(0). */
#include "common.h"
#include <stdatomic.h>

static long run_ms;
static atomic_int up;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *worker(void *arg)
{
	pid_t me = gettid_();
	long long end = now_ms() + run_ms;
	(void)arg;
	created("thread", me, getpid(), getpid());
	atomic_store(&up, 1);
	while (now_ms() < end) {
		pid_t pid = fork();
		if (pid < 0)
			die_errno("fork");
		if (pid == 0) {
			burn(2);
			_exit(0);
		}
		created("fork", pid, pid, me);
		wait_ok(pid, 0);
		burn(2);
		sleep_ms(50);
	}
	done();
	exit(0);
}

int main(int argc, char **argv)
{
	pthread_t th;
	long delay;
	int err;

	init(argv);
	if (argc != 3)
		die_msg("usage: zleader DELAY_MS RUN_MS");
	delay = parse_long(argv[1], "DELAY_MS", 0, 600000);
	run_ms = parse_long(argv[2], "RUN_MS", 0, 600000);
	if ((err = pthread_create(&th, NULL, worker, NULL)) != 0)
		die_err(err, "pthread_create");
	while (!atomic_load(&up))
		sleep_ms(1);
	out("ready %d\n", (int)getpid());
	sleep_ms(delay);
	out("leader-exit\n");
	syscall(SYS_exit, 0);
	die_errno("SYS_exit returned");
}
