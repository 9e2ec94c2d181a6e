/* zombieleader MS: the main thread creates a worker thread, waits until the
 * worker has printed its created line, then only the leader exits
 * (raw SYS_exit), leaving a zombie thread-group leader. The worker burns MS ms,
 * prints "done PID" and ends the process with exit(0) (exit_group). */
#include "common.h"

static long ms;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int announced;

static void *worker(void *arg)
{
	int err;
	created("thread", gettid_(), getpid(), (pid_t)(long)arg);
	if ((err = pthread_mutex_lock(&mu)) != 0)
		die_err(err, "pthread_mutex_lock");
	announced = 1;
	if ((err = pthread_cond_signal(&cv)) != 0)
		die_err(err, "pthread_cond_signal");
	if ((err = pthread_mutex_unlock(&mu)) != 0)
		die_err(err, "pthread_mutex_unlock");
	burn(ms);
	done();
	exit(0);
}

int main(int argc, char **argv)
{
	pthread_t th;
	int err;

	init(argv);
	if (argc != 2)
		die_msg("usage: zombieleader MS");
	ms = parse_long(argv[1], "MS", 0, 600000);
	if ((err = pthread_create(&th, NULL, worker, (void *)(long)gettid_())) != 0)
		die_err(err, "pthread_create");
	if ((err = pthread_mutex_lock(&mu)) != 0)
		die_err(err, "pthread_mutex_lock");
	while (!announced)
		if ((err = pthread_cond_wait(&cv, &mu)) != 0)
			die_err(err, "pthread_cond_wait");
	if ((err = pthread_mutex_unlock(&mu)) != 0)
		die_err(err, "pthread_mutex_unlock");
	syscall(SYS_exit, 0); /* exits only this thread; does not return */
	die_errno("SYS_exit returned");
}
