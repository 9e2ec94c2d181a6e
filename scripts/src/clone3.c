/* clone3: the less common ways of creating tasks.
 *  (a) a thread made with the glibc clone() wrapper (CLONE_VM|CLONE_FS|
 *      CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM) on its own
 *      mmap'ed stack; it burns 5 ms and leaves with syscall(SYS_exit, 0).
 *      The parent waits for it via CLONE_CHILD_CLEARTID + futex.
 *  (b) a process made with raw SYS_clone3, no flags, exit_signal=SIGCHLD
 *      (fork-like: ptrace reports it as a FORK event); burns 5 ms, _exit(0).
 *      Falls back to fork() (and says so on stderr) if clone3 gives ENOSYS.
 *  (c) a process made with glibc clone(), exit signal SIGUSR1, no
 *      CLONE_THREAD (ptrace reports a CLONE event); reaped with __WALL.
 * All three print "created clone ..." (or "created fork ..." for the (b)
 * fallback), written by the creator. */
#include "common.h"
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#define STACK_SIZE (256 * 1024)

/* CLONE_ARGS_SIZE_VER0 layout of struct clone_args (linux/sched.h). */
struct clone_args_v0 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static atomic_int thread_failed;

/* (a) Runs on a raw clone thread that shares the creator's TLS: so no stdio,
 * no errno-dependent paths, no die(); report failure through a flag. */
static int raw_thread_fn(void *arg)
{
	struct timespec a, b;
	long long el;
	(void)arg;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a) != 0) {
		atomic_store(&thread_failed, 1);
		syscall(SYS_exit, 1);
	}
	do {
		if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b) != 0) {
			atomic_store(&thread_failed, 1);
			syscall(SYS_exit, 1);
		}
		el = (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	} while (el < 5000000LL);
	syscall(SYS_exit, 0);
	return 0;
}

/* (c) Runs in a separate address space (no CLONE_VM): ordinary code is fine. */
static int proc_fn(void *arg)
{
	(void)arg;
	burn(5);
	return 0; /* glibc's clone() then exits the (single-threaded) child */
}

static void *map_stack(void)
{
	void *s = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (s == MAP_FAILED)
		die_errno("mmap stack");
	return s;
}

static void do_thread(pid_t self)
{
	/* Set to the tid by the kernel before clone() returns (PARENT_SETTID),
	 * cleared + futex-woken by the kernel at thread exit (CHILD_CLEARTID). */
	static pid_t ctid;
	pid_t tid;
	void *stk = map_stack();
	int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
		    CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;

	tid = clone(raw_thread_fn, (char *)stk + STACK_SIZE, flags, NULL, &ctid, NULL, &ctid);
	if (tid < 0)
		die_errno("clone (thread)");
	created("clone", tid, getpid(), self);
	for (;;) {
		pid_t v = __atomic_load_n(&ctid, __ATOMIC_ACQUIRE);
		if (v == 0)
			break;
		if (syscall(SYS_futex, &ctid, FUTEX_WAIT, v, NULL, NULL, 0) != 0 &&
		    errno != EAGAIN && errno != EINTR)
			die_errno("futex wait");
	}
	if (atomic_load(&thread_failed))
		die_msg("clone thread: clock_gettime failed");
	if (munmap(stk, STACK_SIZE) != 0)
		die_errno("munmap stack");
}

static void do_clone3_proc(pid_t self)
{
	struct clone_args_v0 ca;
	const char *kind = "clone";
	long r;

	memset(&ca, 0, sizeof ca);
	ca.exit_signal = SIGCHLD;
	r = syscall(SYS_clone3, &ca, sizeof ca);
	if (r < 0) {
		if (errno != ENOSYS)
			die_errno("clone3");
		fprintf(stderr, "%s: clone3: ENOSYS, falling back to fork()\n", prog_name);
		kind = "fork";
		r = fork();
		if (r < 0)
			die_errno("fork");
	}
	if (r == 0) {
		burn(5);
		_exit(0);
	}
	created(kind, (pid_t)r, (pid_t)r, self);
	wait_ok((pid_t)r, 0);
}

static void do_sigusr1_proc(pid_t self)
{
	sigset_t set, old;
	struct timespec zero = { 0, 0 };
	void *stk;
	pid_t pid;
	int sig;

	/* The child's exit signal is SIGUSR1 (default action: terminate), so
	 * block it and consume it after reaping. */
	if (sigemptyset(&set) != 0 || sigaddset(&set, SIGUSR1) != 0)
		die_errno("sigset");
	if (sigprocmask(SIG_BLOCK, &set, &old) != 0)
		die_errno("sigprocmask");
	stk = map_stack();
	pid = clone(proc_fn, (char *)stk + STACK_SIZE, SIGUSR1, NULL);
	if (pid < 0)
		die_errno("clone (SIGUSR1 process)");
	created("clone", pid, pid, self);
	wait_ok(pid, __WALL);
	sig = sigtimedwait(&set, NULL, &zero);
	if (sig < 0 && errno != EAGAIN)
		die_errno("sigtimedwait");
	if (sigprocmask(SIG_SETMASK, &old, NULL) != 0)
		die_errno("sigprocmask restore");
	if (munmap(stk, STACK_SIZE) != 0)
		die_errno("munmap stack");
}

int main(int argc, char **argv)
{
	pid_t self;

	(void)argc;
	init(argv);
	self = gettid_();
	do_thread(self);
	do_clone3_proc(self);
	do_sigusr1_proc(self);
	done();
	return 0;
}
