/* spawn N: N x posix_spawn("/bin/true") (glibc: clone(CLONE_VM|CLONE_VFORK))
 * plus one vfork() child that burns 5 ms and _exit(0)s. */
#include "common.h"
#include <spawn.h>

extern char **environ;

int main(int argc, char **argv)
{
	long n;
	pid_t self, pid;
	char *targv[] = { "true", NULL };
	int err;

	init(argv);
	if (argc != 2)
		die_msg("usage: spawn N");
	n = parse_long(argv[1], "N", 0, 100000);
	self = gettid_();
	for (long i = 0; i < n; i++) {
		if ((err = posix_spawn(&pid, "/bin/true", NULL, NULL, targv, environ)) != 0)
			die_err(err, "posix_spawn /bin/true");
		created("vfork", pid, pid, self);
		wait_ok(pid, 0);
	}
	pid = vfork();
	if (pid < 0)
		die_errno("vfork");
	if (pid == 0) {
		burn(5);
		_exit(0);
	}
	created("vfork", pid, pid, self);
	wait_ok(pid, 0);
	done();
	return 0;
}
