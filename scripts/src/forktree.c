/* forktree DEPTH WIDTH MS PAGES: process tree built with fork(). Each process
 * at depth < DEPTH forks WIDTH children; every process (root included) burns
 * MS ms of CPU and touches PAGES pages, then waits for its children.
 * A child starts only after its parent printed its created line. */
#include "common.h"

static long max_depth, width, ms, pages;

static void node(long depth)
{
	long n = depth < max_depth ? width : 0;
	pid_t *kids = NULL, self = gettid_();

	if (n > 0 && !(kids = calloc((size_t)n, sizeof *kids)))
		die_errno("calloc");
	for (long i = 0; i < n; i++) {
		struct gate g;
		pid_t pid;
		gate_init(&g);
		pid = fork();
		if (pid < 0)
			die_errno("fork");
		if (pid == 0) {
			gate_wait(&g);
			free(kids);
			node(depth + 1);
			exit(0);
		}
		kids[i] = pid;
		created("fork", pid, pid, self);
		gate_open(&g);
	}
	burn(ms);
	touch(pages);
	for (long i = 0; i < n; i++)
		wait_ok(kids[i], 0);
	free(kids);
}

int main(int argc, char **argv)
{
	init(argv);
	if (argc != 5)
		die_msg("usage: forktree DEPTH WIDTH MS PAGES");
	max_depth = parse_long(argv[1], "DEPTH", 0, 10);
	width = parse_long(argv[2], "WIDTH", 0, 64);
	ms = parse_long(argv[3], "MS", 0, 600000);
	pages = parse_long(argv[4], "PAGES", 0, 1L << 24);
	node(0);
	done();
	return 0;
}
