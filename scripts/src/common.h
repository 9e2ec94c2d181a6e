/* Shared helpers for the perfprof test workloads (header-only). */
#ifndef PERFPROF_SCRIPTS_COMMON_H
#define PERFPROF_SCRIPTS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *prog_name = "workload";

/* die_msg: print "prog: message" on stderr and exit 1. */
static inline void __attribute__((noreturn, format(printf, 1, 2)))
die_msg(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* die_err: report error code err (errno value) for operation what. */
static inline void __attribute__((noreturn)) die_err(int err, const char *what)
{
	die_msg("%s: %s", what, strerror(err));
}

static inline void __attribute__((noreturn)) die_errno(const char *what)
{
	die_err(errno, what);
}

/* init: set program name and make stdout line-buffered. */
static inline void init(char **argv)
{
	if (argv && argv[0]) {
		const char *s = strrchr(argv[0], '/');
		prog_name = s ? s + 1 : argv[0];
	}
	if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
		die_msg("setvbuf failed");
}

static inline void __attribute__((format(printf, 1, 2))) out(const char *fmt, ...)
{
	va_list ap;
	int r;
	va_start(ap, fmt);
	r = vprintf(fmt, ap);
	va_end(ap);
	if (r < 0)
		die_errno("write stdout");
}

static inline pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* created: one protocol line per created task. */
static inline void created(const char *kind, pid_t tid, pid_t tgid, pid_t parent)
{
	out("created %s %d %d %d\n", kind, (int)tid, (int)tgid, (int)parent);
}

static inline void done(void)
{
	out("done %d\n", (int)getpid());
}

static inline long parse_long(const char *s, const char *name, long min, long max)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		die_msg("bad %s '%s' (want integer in [%ld, %ld])", name, s, min, max);
	return v;
}

/* burn_sink keeps the spin loop from being optimised away. */
static volatile unsigned long burn_sink;

/* burn: spin until ms milliseconds of this thread's CPU time are used.
 * CLOCK_THREAD_CPUTIME_ID is a real syscall (no vDSO), so most of the time is
 * spent in a user-space arithmetic loop between clock reads (~10-20 us per
 * chunk) to keep the burn mostly user time. */
static inline void burn(long ms)
{
	struct timespec a, b;
	long long target = (long long)ms * 1000000LL, el;
	unsigned long x = burn_sink | 1;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a) != 0)
		die_errno("clock_gettime");
	do {
		for (int i = 0; i < 20000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		burn_sink = x;
		if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b) != 0)
			die_errno("clock_gettime");
		el = (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	} while (el < target);
}

/* page_size: the page size, 4096 if sysconf cannot tell. */
static inline long page_size(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	return pg > 0 ? pg : 4096;
}

/* map_pages: len bytes of fresh private anonymous memory, without
 * transparent huge pages: one page fault per page written. */
static inline void *map_pages(size_t len)
{
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		die_errno("mmap");
	if (madvise(m, len, MADV_NOHUGEPAGE) != 0 && errno != EINVAL)
		die_errno("madvise");
	return m;
}

/* touch: map pages anonymous pages and write one byte to each (one page
 * fault per page). */
static inline void touch(long pages)
{
	long pg = page_size();
	size_t len;
	volatile char *p;
	void *m;
	if (pages <= 0)
		return;
	len = (size_t)pages * (size_t)pg;
	m = map_pages(len);
	p = m;
	for (long i = 0; i < pages; i++)
		p[(size_t)i * (size_t)pg] = (char)i;
	if (munmap(m, len) != 0)
		die_errno("munmap");
}

/* wait_ok: reap pid (retrying on EINTR) and require a clean exit 0. */
static inline void wait_ok(pid_t pid, int flags)
{
	int st;
	pid_t r;
	do
		r = waitpid(pid, &st, flags);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		die_errno("waitpid");
	if (r != pid)
		die_msg("waitpid returned %d, want %d", (int)r, (int)pid);
	if (WIFSIGNALED(st))
		die_msg("child %d killed by signal %d", (int)pid, WTERMSIG(st));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die_msg("child %d exited with status %d", (int)pid,
			WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* sleep_ms: nanosleep; returns early (0) if interrupted by a signal. */
static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	if (nanosleep(&ts, NULL) != 0 && errno != EINTR)
		die_errno("nanosleep");
}

/* gate: one-shot pipe handshake used around fork() so that a parent's
 * "created" line for a child is written before anything the child writes
 * (keeps the output in creation order: a task's line precedes its children's).
 * Parent: gate_init before fork, gate_open after printing. Child: gate_wait. */
struct gate {
	int fd[2];
};

static inline void gate_init(struct gate *g)
{
	if (pipe2(g->fd, O_CLOEXEC) != 0)
		die_errno("pipe2");
}

static inline void gate_wait(struct gate *g)
{
	char c;
	ssize_t r;
	if (close(g->fd[1]) != 0)
		die_errno("close gate");
	do
		r = read(g->fd[0], &c, 1);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		die_errno("read gate");
	if (r != 1)
		die_msg("gate: parent closed the handshake pipe without releasing us");
	if (close(g->fd[0]) != 0)
		die_errno("close gate");
}

static inline void gate_open(struct gate *g)
{
	ssize_t r;
	if (close(g->fd[0]) != 0)
		die_errno("close gate");
	do
		r = write(g->fd[1], "x", 1);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		die_errno("write gate");
	if (close(g->fd[1]) != 0)
		die_errno("close gate");
}

#endif
