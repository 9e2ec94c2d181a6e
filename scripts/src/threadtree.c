/* threadtree NTHREADS MS PAGES: the main thread creates NTHREADS pthreads;
 * each burns MS ms and touches PAGES pages; thread 0 also creates one
 * sub-thread doing the same. Threads print their own created line. */
#include "common.h"

static long ms, pages;

struct targ {
	long idx;
	pid_t parent;
};

static void *worker(void *arg)
{
	struct targ *t = arg;
	pid_t self = gettid_();
	pthread_t sub;
	struct targ subarg = { -1, self };
	int err;

	created("thread", self, getpid(), t->parent);
	if (t->idx == 0) {
		if ((err = pthread_create(&sub, NULL, worker, &subarg)) != 0)
			die_err(err, "pthread_create (sub-thread)");
	}
	burn(ms);
	touch(pages);
	if (t->idx == 0) {
		if ((err = pthread_join(sub, NULL)) != 0)
			die_err(err, "pthread_join (sub-thread)");
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long n;
	pthread_t *th = NULL;
	struct targ *args = NULL;
	int err;

	init(argv);
	if (argc != 4)
		die_msg("usage: threadtree NTHREADS MS PAGES");
	n = parse_long(argv[1], "NTHREADS", 0, 4096);
	ms = parse_long(argv[2], "MS", 0, 600000);
	pages = parse_long(argv[3], "PAGES", 0, 1L << 24);
	if (n > 0 && (!(th = calloc((size_t)n, sizeof *th)) ||
		      !(args = calloc((size_t)n, sizeof *args))))
		die_errno("calloc");
	for (long i = 0; i < n; i++) {
		args[i].idx = i;
		args[i].parent = gettid_();
		if ((err = pthread_create(&th[i], NULL, worker, &args[i])) != 0)
			die_err(err, "pthread_create");
	}
	for (long i = 0; i < n; i++)
		if ((err = pthread_join(th[i], NULL)) != 0)
			die_err(err, "pthread_join");
	done();
	return 0;
}
