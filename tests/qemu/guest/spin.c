// SPDX-License-Identifier: MIT
/*
 * spin - a busy guest for stop/cont tests: prints "SPP-SPIN ready", then
 * "SPP-SPIN n=<count> t=<seconds since start>" every INTERVAL ms
 * (spp.args=INTERVAL, default 100), spinning on clock_gettime in
 * between, forever (the test stops QEMU).
 */
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double interval = (argc > 1 ? atoi(argv[1]) : 100) / 1e3;
	double t0 = now_s(), next = t0 + interval;
	struct termios t;

	if (interval <= 0)
		interval = 0.1;
	if (!tcgetattr(0, &t)) {
		t.c_oflag &= ~(tcflag_t)ONLCR;
		tcsetattr(0, TCSANOW, &t);
	}
	printf("SPP-SPIN ready\n");
	fflush(stdout);
	for (unsigned long n = 1;; n++) {
		while (now_s() < next)
			;
		printf("SPP-SPIN n=%lu t=%.3f\n", n, now_s() - t0);
		fflush(stdout);
		next += interval;
		/* After a pause (QEMU stopped), do not print the backlog. */
		if (next < now_s())
			next = now_s() + interval;
	}
}
