/* stopme: prints "ready PID", stops itself with SIGSTOP; once continued
 * prints "resumed", burns 10 ms and exits 0. */
#include "common.h"
#include <signal.h>

int main(int argc, char **argv)
{
	(void)argc;
	init(argv);
	out("ready %d\n", (int)getpid());
	if (raise(SIGSTOP) != 0)
		die_errno("raise(SIGSTOP)");
	out("resumed\n");
	burn(10);
	done();
	return 0;
}
