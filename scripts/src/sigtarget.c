/* sigtarget NTHREADS: long-running multi-threaded target for attach/detach
 * tests. SIGUSR1 increments a counter, SIGUSR2 prints "usr1 COUNT", SIGTERM
 * asks for a clean shutdown (join, "usr1 COUNT", "done PID", exit 0).
 * Worker threads loop: burn 2 ms, sleep 5 ms. The main thread forks a child
 * (burn 3 ms, exit) about every 100 ms and reaps it. */
#include "common.h"
#include <signal.h>
#include <stdatomic.h>

static atomic_long usr1_count;
static atomic_int stop_flag;
static pthread_barrier_t ready_barrier;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&usr1_count, 1);
}

/* async-signal-safe: formats with no stdio and write()s straight to fd 1. */
static void on_usr2(int sig)
{
	char buf[48], num[24];
	long v = atomic_load(&usr1_count);
	int n = 0, k = 0;
	int saved = errno;
	(void)sig;
	if (v == 0)
		num[k++] = '0';
	while (v > 0) {
		num[k++] = (char)('0' + v % 10);
		v /= 10;
	}
	memcpy(buf, "usr1 ", 5);
	n = 5;
	while (k > 0)
		buf[n++] = num[--k];
	buf[n++] = '\n';
	if (write(STDOUT_FILENO, buf, (size_t)n) != n) {
		static const char msg[] = "sigtarget: write from SIGUSR2 handler failed\n";
		if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
			/* nothing more we can do */
		}
		_exit(1);
	}
	errno = saved;
}

static void on_term(int sig)
{
	(void)sig;
	atomic_store(&stop_flag, 1);
}

static void *worker(void *arg)
{
	pid_t parent = (pid_t)(long)arg;
	int err;

	created("thread", gettid_(), getpid(), parent);
	err = pthread_barrier_wait(&ready_barrier);
	if (err != 0 && err != PTHREAD_BARRIER_SERIAL_THREAD)
		die_err(err, "pthread_barrier_wait");
	while (!atomic_load(&stop_flag)) {
		burn(2);
		sleep_ms(5);
	}
	return NULL;
}

static void handle(int sig, void (*fn)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sa.sa_flags = SA_RESTART;
	if (sigemptyset(&sa.sa_mask) != 0)
		die_errno("sigemptyset");
	if (sigaction(sig, &sa, NULL) != 0)
		die_errno("sigaction");
}

int main(int argc, char **argv)
{
	long n;
	pthread_t *th = NULL;
	pid_t self, pid;
	int err;

	init(argv);
	if (argc != 2)
		die_msg("usage: sigtarget NTHREADS");
	n = parse_long(argv[1], "NTHREADS", 0, 1024);
	self = gettid_();

	handle(SIGUSR1, on_usr1);
	handle(SIGUSR2, on_usr2);
	handle(SIGTERM, on_term);

	if ((err = pthread_barrier_init(&ready_barrier, NULL, (unsigned)n + 1)) != 0)
		die_err(err, "pthread_barrier_init");
	if (n > 0 && !(th = calloc((size_t)n, sizeof *th)))
		die_errno("calloc");
	for (long i = 0; i < n; i++)
		if ((err = pthread_create(&th[i], NULL, worker, (void *)(long)self)) != 0)
			die_err(err, "pthread_create");
	err = pthread_barrier_wait(&ready_barrier);
	if (err != 0 && err != PTHREAD_BARRIER_SERIAL_THREAD)
		die_err(err, "pthread_barrier_wait");
	out("ready %d\n", (int)getpid());

	while (!atomic_load(&stop_flag)) {
		pid = fork();
		if (pid < 0)
			die_errno("fork");
		if (pid == 0) {
			burn(3);
			_exit(0);
		}
		created("fork", pid, pid, self);
		wait_ok(pid, 0);
		if (!atomic_load(&stop_flag))
			sleep_ms(100);
	}

	for (long i = 0; i < n; i++)
		if ((err = pthread_join(th[i], NULL)) != 0)
			die_err(err, "pthread_join");
	out("usr1 %ld\n", atomic_load(&usr1_count));
	done();
	return 0;
}
