/* execthread MS: a non-leader thread execs. The main thread starts a second
 * thread, which prints its created line, burns MS ms and calls
 * execv("/bin/true"); the kernel kills the spinning main thread and the
 * exec'ing thread takes over the leader's pid. No "done" line is printed. */
#include "common.h"

static long ms;

static void *worker(void *arg)
{
	char *targv[] = { "true", NULL };
	created("thread", gettid_(), getpid(), (pid_t)(long)arg);
	burn(ms);
	execv("/bin/true", targv);
	die_errno("execv /bin/true");
}

int main(int argc, char **argv)
{
	pthread_t th;
	int err;

	init(argv);
	if (argc != 2)
		die_msg("usage: execthread MS");
	ms = parse_long(argv[1], "MS", 0, 600000);
	if ((err = pthread_create(&th, NULL, worker, (void *)(long)gettid_())) != 0)
		die_err(err, "pthread_create");
	for (;;)
		burn(10);
}
