/* pagetouch NPROC PAGES: forks NPROC children concurrently; each touches PAGES
 * pages and exits; the parent touches PAGES too, then reaps them all. For
 * comparing summed page-faults against `perf stat -e page-faults`. */
#include "common.h"

int main(int argc, char **argv)
{
	long nproc, pages;
	pid_t *kids = NULL, self;

	init(argv);
	if (argc != 3)
		die_msg("usage: pagetouch NPROC PAGES");
	nproc = parse_long(argv[1], "NPROC", 0, 4096);
	pages = parse_long(argv[2], "PAGES", 0, 1L << 24);
	self = gettid_();
	if (nproc > 0 && !(kids = calloc((size_t)nproc, sizeof *kids)))
		die_errno("calloc");
	for (long i = 0; i < nproc; i++) {
		pid_t pid = fork();
		if (pid < 0)
			die_errno("fork");
		if (pid == 0) {
			touch(pages);
			_exit(0);
		}
		kids[i] = pid;
		created("fork", pid, pid, self);
	}
	touch(pages);
	for (long i = 0; i < nproc; i++)
		wait_ok(kids[i], 0);
	free(kids);
	done();
	return 0;
}
