/* execmt MODE: exec in a multi-threaded process.
 *  leader: two threads (they print their created lines and sleep), then the
 *          leader execs this program with "after".
 *  thread: two threads; the second execs this program with "after" while the
 *          leader and the first thread sleep (the tid changes to the pid).
 *  fail:   the leader execs "/nonexistent/prog" and prints "execfail ERRNO";
 *          a thread does the same and prints its own "execfail ERRNO"; then
 *          the process goes on and execs this program with "after".
 *  after:  the new image: forks a child (burns 5 ms, exits 0), reaps it,
 *          burns 5 ms, prints "done PID" and exits 0. */
#include "common.h"
#include <stdatomic.h>

static pid_t leader;
static atomic_int started;

/* exec_after execs this program by its real path (exec'ing /proc/self/exe
 * would make the comm "exe"). */
static void exec_after(void)
{
	char *av[] = { "execmt", "after", NULL };
	static char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	if (n <= 0)
		die_errno("readlink /proc/self/exe");
	path[n] = 0;
	execv(path, av);
	die_errno("execv self");
}

static void *sleeper(void *arg)
{
	(void)arg;
	created("thread", gettid_(), getpid(), leader);
	atomic_fetch_add(&started, 1);
	for (;;)
		sleep_ms(10);
	return NULL;
}

static void *execer(void *arg)
{
	(void)arg;
	created("thread", gettid_(), getpid(), leader);
	atomic_fetch_add(&started, 1);
	while (atomic_load(&started) < 2)
		sleep_ms(1);
	burn(5);
	exec_after();
	return NULL;
}

static void *failer(void *arg)
{
	char *av[] = { "prog", NULL };
	(void)arg;
	created("thread", gettid_(), getpid(), leader);
	execv("/nonexistent/prog", av);
	out("execfail %d\n", errno);
	return NULL;
}

static void spawn(pthread_t *th, void *(*fn)(void *))
{
	int err = pthread_create(th, NULL, fn, NULL);
	if (err != 0)
		die_err(err, "pthread_create");
}

int main(int argc, char **argv)
{
	pthread_t a, b;
	int err;

	init(argv);
	if (argc != 2)
		die_msg("usage: execmt leader|thread|fail|after");
	leader = gettid_();
	if (strcmp(argv[1], "after") == 0) {
		pid_t pid = fork();
		if (pid < 0)
			die_errno("fork");
		if (pid == 0) {
			burn(5);
			_exit(0);
		}
		created("fork", pid, pid, leader);
		wait_ok(pid, 0);
		burn(5);
		done();
		return 0;
	}
	if (strcmp(argv[1], "leader") == 0) {
		spawn(&a, sleeper);
		spawn(&b, sleeper);
		while (atomic_load(&started) < 2)
			sleep_ms(1);
		burn(5);
		exec_after();
	}
	if (strcmp(argv[1], "thread") == 0) {
		spawn(&a, sleeper);
		spawn(&b, execer);
		for (;;)
			sleep_ms(10);
	}
	if (strcmp(argv[1], "fail") == 0) {
		char *av[] = { "prog", NULL };
		execv("/nonexistent/prog", av);
		out("execfail %d\n", errno);
		spawn(&a, failer);
		if ((err = pthread_join(a, NULL)) != 0)
			die_err(err, "pthread_join");
		burn(5);
		exec_after();
	}
	die_msg("unknown mode %s", argv[1]);
}
