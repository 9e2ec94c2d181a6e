// hot: the symbol package's C test program. It prints the address of
// hot_function_pie and of libc's getpid, one per line, then calls
// hot_function_pie in a loop until its standard input reaches EOF.
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>

volatile unsigned long sink;

__attribute__((noinline)) unsigned long hot_function_pie(unsigned long n)
{
	unsigned long s = 0;
	for (unsigned long i = 0; i < n; i++)
		s += i * i ^ (s >> 3);
	return s;
}

int main(void)
{
	printf("%p\n%p\n", (void *)hot_function_pie, (void *)getpid);
	fflush(stdout);
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	char buf[64];
	for (;;) {
		sink += hot_function_pie(100000);
		ssize_t r = read(0, buf, sizeof buf);
		if (r == 0)
			return 0;
		usleep(1000);
	}
}
