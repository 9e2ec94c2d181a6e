/* daemonize MS PIDFILE: classic double fork. The original process exits right
 * after the first fork; the first child calls setsid(), forks again and exits;
 * the grandchild writes its pid to PIDFILE (via PIDFILE.tmp + rename), burns
 * MS ms, touches 100 pages and exits 0. Output order is always:
 * "created fork C1", "done ORIG", "created fork GC". stdio is not redirected, so the
 * grandchild still holds the caller's stdout/stderr until it exits. */
#include "common.h"
#include <fcntl.h>
#include <stdio.h>

static void write_pidfile(const char *path)
{
	char tmp[4096], buf[32];
	int fd, len;
	ssize_t w;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		die_msg("PIDFILE path too long");
	len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die_errno(tmp);
	w = write(fd, buf, (size_t)len);
	if (w < 0)
		die_errno("write pidfile");
	if (w != len)
		die_msg("short write to %s", tmp);
	if (close(fd) != 0)
		die_errno("close pidfile");
	if (rename(tmp, path) != 0)
		die_errno("rename pidfile");
}

int main(int argc, char **argv)
{
	long ms;
	pid_t pid;

	init(argv);
	if (argc != 3)
		die_msg("usage: daemonize MS PIDFILE");
	ms = parse_long(argv[1], "MS", 0, 600000);

	struct gate g;

	gate_init(&g);
	pid = fork();
	if (pid < 0)
		die_errno("fork");
	if (pid > 0) {
		created("fork", pid, pid, gettid_());
		done();
		gate_open(&g);
		return 0;
	}
	/* first child: waits until the original has printed its lines, so the
	 * output order is fixed; the original does not wait for anything. */
	gate_wait(&g);
	if (setsid() < 0)
		die_errno("setsid");
	pid = fork();
	if (pid < 0)
		die_errno("fork (second)");
	if (pid > 0) {
		created("fork", pid, pid, gettid_());
		if (fflush(stdout) != 0)
			die_errno("fflush");
		_exit(0);
	}
	/* grandchild: the daemon */
	write_pidfile(argv[2]);
	burn(ms);
	touch(100);
	return 0;
}
