/* demo: the bundled demo for `make demo`. The root forks 2 worker processes;
 * each worker starts 2 threads; worker 0 also posix_spawns /bin/true. Every
 * task burns a different amount of CPU (50-150 ms) and touches a different
 * number of pages (200-800), so the per-task numbers are distinguishable. */
#include "common.h"
#include <spawn.h>

extern char **environ;

struct task {
	long ms, pages;
};

static const struct task root_task = { 60, 200 };
static const struct task worker_task[2] = { { 80, 300 }, { 70, 600 } };
static const struct task thread_task[2][2] = {
	{ { 100, 400 }, { 120, 500 } },
	{ { 90, 700 }, { 150, 800 } },
};

struct targ {
	const struct task *t;
	pid_t parent;
};

static void *thread_main(void *arg)
{
	struct targ *a = arg;
	created("thread", gettid_(), getpid(), a->parent);
	burn(a->t->ms);
	touch(a->t->pages);
	return NULL;
}

static void worker(int w)
{
	pthread_t th[2];
	struct targ args[2];
	pid_t self = gettid_();
	int err;

	for (int i = 0; i < 2; i++) {
		args[i].t = &thread_task[w][i];
		args[i].parent = self;
		if ((err = pthread_create(&th[i], NULL, thread_main, &args[i])) != 0)
			die_err(err, "pthread_create");
	}
	if (w == 0) {
		char *targv[] = { "true", NULL };
		pid_t pid;
		if ((err = posix_spawn(&pid, "/bin/true", NULL, NULL, targv, environ)) != 0)
			die_err(err, "posix_spawn /bin/true");
		created("vfork", pid, pid, self);
		wait_ok(pid, 0);
	}
	burn(worker_task[w].ms);
	touch(worker_task[w].pages);
	for (int i = 0; i < 2; i++)
		if ((err = pthread_join(th[i], NULL)) != 0)
			die_err(err, "pthread_join");
}

int main(int argc, char **argv)
{
	pid_t kids[2], self;

	init(argv);
	(void)argc;
	self = gettid_();
	for (int w = 0; w < 2; w++) {
		struct gate g;
		pid_t pid;
		gate_init(&g);
		pid = fork();
		if (pid < 0)
			die_errno("fork");
		if (pid == 0) {
			gate_wait(&g);
			worker(w);
			exit(0);
		}
		kids[w] = pid;
		created("fork", pid, pid, self);
		gate_open(&g);
	}
	burn(root_task.ms);
	touch(root_task.pages);
	for (int w = 0; w < 2; w++)
		wait_ok(kids[w], 0);
	done();
	return 0;
}
