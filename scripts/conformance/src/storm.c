/* storm TOTAL ALIVE LIFE_MS: fork/thread storm generator for attach (-p)
 * tests. Prints "ready PID", then waits until it is traced (TracerPid != 0,
 * at most 10 s; "untraced" on stderr otherwise), prints "traced", waits for
 * SIGUSR1 (the go signal, sent while traced), then creates TOTAL tasks,
 * alternately a process (fork) and a thread (pthread_create), keeping at
 * most ALIVE/2 of each alive at once. Every task sleeps LIFE_MS ms and exits.
 * The creator prints "created fork PID PID SELF" for a process; a thread
 * prints its own "created thread TID TGID SELF". When all are reaped it
 * prints "stormdone TOTAL", then waits for SIGTERM, prints "done PID" and
 * exits 0. */
#include "common.h"
#include <signal.h>
#include <stdatomic.h>

static atomic_int live_threads;
static atomic_int term, go;
static long life_ms;
static pid_t self;

static void on_term(int sig)
{
	(void)sig;
	atomic_store(&term, 1);
}

static void on_usr1(int sig)
{
	(void)sig;
	atomic_store(&go, 1);
}

static int traced(void)
{
	char buf[4096];
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	char *p;
	if (fd < 0)
		die_errno("open /proc/self/status");
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strstr(buf, "TracerPid:");
	return p && atoi(p + 10) != 0;
}

static void *thread(void *arg)
{
	(void)arg;
	created("thread", gettid_(), getpid(), self);
	sleep_ms(life_ms);
	atomic_fetch_sub(&live_threads, 1);
	return NULL;
}

static void reap_one(long *procs)
{
	int st;
	pid_t r;
	do
		r = waitpid(-1, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		die_errno("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die_msg("child %d ended with status 0x%x", (int)r, st);
	(*procs)--;
}

int main(int argc, char **argv)
{
	long total, alive, procs = 0;
	pthread_attr_t attr;
	struct sigaction sa;
	sigset_t none;
	int err;

	init(argv);
	if (argc != 4)
		die_msg("usage: storm TOTAL ALIVE LIFE_MS");
	total = parse_long(argv[1], "TOTAL", 0, 10000000);
	alive = parse_long(argv[2], "ALIVE", 2, 100000);
	life_ms = parse_long(argv[3], "LIFE_MS", 0, 100000);
	self = gettid_();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0)
		die_errno("sigaction");
	sa.sa_handler = on_usr1;
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		die_errno("sigaction");
	if ((err = pthread_attr_init(&attr)) != 0 ||
	    (err = pthread_attr_setstacksize(&attr, 64 * 1024)) != 0 ||
	    (err = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED)) != 0)
		die_err(err, "pthread_attr");
	out("ready %d\n", (int)getpid());
	/* STORM_UNTRACED: a follower that does not trace (perfprof --follow
	 * inherit) is attached once the go signal comes. */
	for (int i = 0; !getenv("STORM_UNTRACED") && !traced(); i++) {
		if (i == 2000) {
			fprintf(stderr, "storm: untraced after 10 s, going on\n");
			break;
		}
		sleep_ms(5);
	}
	out("traced\n");
	while (!atomic_load(&go))
		sleep_ms(1);
	for (long i = 0; i < total; i++) {
		if (i % 2 == 0) {
			pid_t pid;
			while (procs >= alive / 2)
				reap_one(&procs);
			pid = fork();
			if (pid < 0)
				die_errno("fork");
			if (pid == 0) {
				sleep_ms(life_ms);
				_exit(0);
			}
			procs++;
			created("fork", pid, pid, self);
		} else {
			pthread_t th;
			while (atomic_load(&live_threads) >= alive / 2)
				sleep_ms(1);
			atomic_fetch_add(&live_threads, 1);
			if ((err = pthread_create(&th, &attr, thread, NULL)) != 0)
				die_err(err, "pthread_create");
		}
	}
	while (procs > 0)
		reap_one(&procs);
	while (atomic_load(&live_threads) > 0)
		sleep_ms(1);
	/* A detached thread may still be in its exit path: wait until the
	 * process is down to its main thread. */
	for (;;) {
		char buf[4096];
		int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
		char *p;
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			break;
		buf[n] = 0;
		p = strstr(buf, "Threads:");
		if (!p || atoi(p + 8) <= 1)
			break;
		sleep_ms(1);
	}
	out("stormdone %ld\n", total);
	sigemptyset(&none);
	while (!atomic_load(&term))
		sigsuspend(&none);
	done();
	return 0;
}
