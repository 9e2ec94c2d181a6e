/* exitrace MODE N: tasks that end while the tracer is still setting them up.
 *  thread: N times, fork a child that creates a raw clone thread and ends
 *          the process at once: on even rounds the child's main thread calls
 *          exit_group right after clone() returns, on odd rounds the new
 *          thread calls exit_group as its first action while the main thread
 *          waits. The child prints "created thread TID TGID CHILD" before it
 *          ends (even rounds only: on odd rounds nobody may outlive the
 *          thread to print), the parent "created fork CHILD CHILD SELF".
 *  orphan: N times, fork a child A that forks a grandchild B and _exits at
 *          once; B burns 1 ms and exits. A prints B's created line, the
 *          parent A's. The parent waits until every B is gone (a pipe's
 *          write end held by each B reaches EOF).
 *  spawners: N times, fork a child whose 3 threads create threads in a loop
 *          (each new thread exits at once) while its main thread calls
 *          exit_group after 2 ms: a creator is often killed between its
 *          clone and the report of it, so the new thread's parent event
 *          never comes. Prints only the parent's "created fork" lines.
 *  kill:   N times, fork a child that sleeps 30 ms and exits 0; the parent
 *          SIGKILLs it at once (i % 3 == 0), after a sched_yield (1) or never
 *          (2), and checks the status it reaps.
 * Ends with "done PID", exit 0. */
#include "common.h"
#include <sched.h>
#include <signal.h>

#define STACK (64 * 1024)

static int thread_fn(void *arg)
{
	if (arg)
		syscall(SYS_exit_group, 0);
	for (;;)
		pause();
	return 0;
}

static void thread_child(long round)
{
	pid_t ptid = 0;
	char *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_PARENT_SETTID;
	if (stack == MAP_FAILED)
		_exit(2);
	if (clone(thread_fn, stack + STACK, flags, (void *)(round % 2), &ptid) < 0)
		_exit(3);
	if (round % 2 == 0) {
		created("thread", ptid, getpid(), gettid_());
		syscall(SYS_exit_group, 0);
	}
	for (;;)
		pause();
}

static int quick_fn(void *arg)
{
	(void)arg;
	syscall(SYS_exit, 0);
	return 0;
}

/* spawner: create threads until the process ends. */
static int spawner_fn(void *arg)
{
	int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
	char *stacks = arg;
	for (unsigned i = 0;; i++)
		clone(quick_fn, stacks + (i % 16 + 1) * STACK, flags, NULL);
	return 0;
}

static void spawners_child(void)
{
	int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
	for (int k = 0; k < 3; k++) {
		/* Its own stack, and 16 for the threads it creates (they exit
		 * at once and share them: they touch no stack). */
		char *m = mmap(NULL, 17 * STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (m == MAP_FAILED)
			_exit(2);
		if (clone(spawner_fn, m + STACK, flags, m + STACK) < 0)
			_exit(3);
	}
	sleep_ms(2);
	syscall(SYS_exit_group, 0);
}

int main(int argc, char **argv)
{
	long n;
	pid_t self, pid;
	int p[2];
	char c;

	init(argv);
	if (argc != 3)
		die_msg("usage: exitrace thread|orphan|spawners|kill N");
	n = parse_long(argv[2], "N", 0, 1000000);
	self = gettid_();
	if (strcmp(argv[1], "thread") == 0) {
		for (long i = 0; i < n; i++) {
			pid = fork();
			if (pid < 0)
				die_errno("fork");
			if (pid == 0)
				thread_child(i);
			created("fork", pid, pid, self);
			wait_ok(pid, 0);
		}
	} else if (strcmp(argv[1], "spawners") == 0) {
		for (long i = 0; i < n; i++) {
			pid = fork();
			if (pid < 0)
				die_errno("fork");
			if (pid == 0)
				spawners_child();
			created("fork", pid, pid, self);
			wait_ok(pid, 0);
		}
	} else if (strcmp(argv[1], "orphan") == 0) {
		if (pipe2(p, O_CLOEXEC) != 0)
			die_errno("pipe2");
		for (long i = 0; i < n; i++) {
			pid = fork();
			if (pid < 0)
				die_errno("fork");
			if (pid == 0) {
				pid_t b = fork();
				if (b < 0)
					_exit(2);
				if (b == 0) {
					close(p[0]);
					burn(1);
					_exit(0);
				}
				created("fork", b, b, gettid_());
				_exit(0);
			}
			created("fork", pid, pid, self);
			wait_ok(pid, 0);
		}
		close(p[1]);
		while (read(p[0], &c, 1) != 0)
			if (errno != EINTR)
				die_errno("read");
	} else if (strcmp(argv[1], "kill") == 0) {
		for (long i = 0; i < n; i++) {
			int st;
			pid = fork();
			if (pid < 0)
				die_errno("fork");
			if (pid == 0) {
				sleep_ms(30);
				_exit(0);
			}
			if (i % 3 == 0)
				kill(pid, SIGKILL);
			created("fork", pid, pid, self);
			if (i % 3 == 1) {
				sched_yield();
				kill(pid, SIGKILL);
			}
			while (waitpid(pid, &st, 0) < 0)
				if (errno != EINTR)
					die_errno("waitpid");
			if (i % 3 == 2 ? !(WIFEXITED(st) && WEXITSTATUS(st) == 0)
				       : !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
				die_msg("child %d (round %ld): status 0x%x", (int)pid, i, st);
		}
	} else {
		die_msg("unknown mode %s", argv[1]);
	}
	done();
	return 0;
}
