/* faultpages PAGES: makes PAGES page faults, one write to each page of a
 * fresh private anonymous mapping, and reports how many its loop made.
 * The pages are touched a chunk at a time; MADV_DONTNEED drops a chunk's
 * pages so that the next pass faults on fresh ones and the memory stays
 * small. The faults are counted by a page-faults counter the process opens
 * on itself around the loop (perf_event_open, counting), and by getrusage:
 *   FAULTS pages=N counted=X rusage=Y     (X is -1 if the counter failed)
 *   RESULT name=faultpages n=N total_s=S us_per_op=U
 * both on stderr. The whole process faults a little more than its loop
 * (start-up, exit): a tool sampling every fault of the process sees those
 * too. For the sampling drain benchmark (scripts/benchtab). */
#include "common.h"
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

#define CHUNK_PAGES 4096L

static int open_counter(void)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_PAGE_FAULTS;
	a.disabled = 1;
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static long faults_now(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		die_errno("getrusage");
	return ru.ru_minflt + ru.ru_majflt;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long pages, pg, chunk, done_pages = 0, ru0, ru1;
	long long counted = -1;
	size_t len;
	volatile char *p;
	void *m;
	int fd;
	double t0, t1;

	init(argv);
	if (argc != 2)
		die_msg("usage: faultpages PAGES");
	pages = parse_long(argv[1], "PAGES", 0, 1L << 30);
	pg = page_size();
	chunk = pages < CHUNK_PAGES ? pages : CHUNK_PAGES;
	len = (size_t)(chunk > 0 ? chunk : 1) * (size_t)pg;
	m = map_pages(len);
	p = m;
	fd = open_counter();
	ru0 = faults_now();
	t0 = now();
	if (fd >= 0 && ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) != 0)
		die_errno("PERF_EVENT_IOC_ENABLE");
	while (done_pages < pages) {
		long n = pages - done_pages < chunk ? pages - done_pages : chunk;
		for (long i = 0; i < n; i++)
			p[(size_t)i * (size_t)pg] = (char)i;
		if (madvise(m, len, MADV_DONTNEED) != 0)
			die_errno("madvise(MADV_DONTNEED)");
		done_pages += n;
	}
	if (fd >= 0 && ioctl(fd, PERF_EVENT_IOC_DISABLE, 0) != 0)
		die_errno("PERF_EVENT_IOC_DISABLE");
	t1 = now();
	ru1 = faults_now();
	if (fd >= 0 && read(fd, &counted, sizeof counted) != (ssize_t)sizeof counted)
		die_errno("read counter");
	fprintf(stderr, "FAULTS pages=%ld counted=%lld rusage=%ld\n", pages, counted, ru1 - ru0);
	fprintf(stderr, "RESULT name=faultpages n=%ld total_s=%.6f us_per_op=%.4f\n",
		pages, t1 - t0, pages > 0 ? (t1 - t0) * 1e6 / (double)pages : 0.0);
	return 0;
}
