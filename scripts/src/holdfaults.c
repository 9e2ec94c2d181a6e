/* holdfaults THREADS SECONDS: creates THREADS threads (64 KiB stacks) that
 * all stay alive at once. Each makes 2 page faults of its own, writing to 2
 * fresh pages of a shared private anonymous mapping, then waits on a
 * barrier. When every thread is alive and has made its faults, the main
 * thread prints "ALIVE THREADS" on stderr, sleeps SECONDS, releases the
 * threads and joins them. With `-c 1 -e page-faults`, every thread is
 * sampled while all are alive. For the sampling benchmark (scripts/benchtab). */
#include "common.h"

static pthread_barrier_t start, stop;
static char *region;
static long page;

static void *thread_main(void *arg)
{
	long i = (long)arg;
	region[(2 * i) * page] = 1;
	region[(2 * i + 1) * page] = 1;
	pthread_barrier_wait(&start);
	pthread_barrier_wait(&stop);
	return NULL;
}

int main(int argc, char **argv)
{
	long threads, secs;
	pthread_t *tids;
	pthread_attr_t attr;
	size_t len;
	int err;

	init(argv);
	if (argc != 3)
		die_msg("usage: holdfaults THREADS SECONDS");
	threads = parse_long(argv[1], "THREADS", 1, 100000);
	secs = parse_long(argv[2], "SECONDS", 0, 3600);
	page = page_size();
	len = (size_t)(2 * threads) * (size_t)page;
	region = map_pages(len);
	if (!(tids = calloc((size_t)threads, sizeof *tids)))
		die_errno("calloc");
	if ((err = pthread_attr_init(&attr)) != 0 ||
	    (err = pthread_attr_setstacksize(&attr, 64 * 1024)) != 0)
		die_err(err, "pthread_attr");
	if ((err = pthread_barrier_init(&start, NULL, (unsigned)threads + 1)) != 0 ||
	    (err = pthread_barrier_init(&stop, NULL, (unsigned)threads + 1)) != 0)
		die_err(err, "pthread_barrier_init");
	for (long i = 0; i < threads; i++)
		if ((err = pthread_create(&tids[i], &attr, thread_main, (void *)i)) != 0)
			die_err(err, "pthread_create");
	pthread_barrier_wait(&start);
	fprintf(stderr, "ALIVE %ld\n", threads);
	sleep_ms(secs * 1000);
	pthread_barrier_wait(&stop);
	for (long i = 0; i < threads; i++)
		if ((err = pthread_join(tids[i], NULL)) != 0)
			die_err(err, "pthread_join");
	free(tids);
	return 0;
}
