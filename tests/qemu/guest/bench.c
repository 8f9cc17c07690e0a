// SPDX-License-Identifier: MIT
/*
 * bench - the nested guest side of bench/qemu: one locked 4 KiB page,
 * "SPP-BENCH page=0x<gpa>" once ready (a preloaded shim can protect the
 * page then), and commands on the console:
 *
 *   run N     N 8-byte stores, one per 64-byte line around the page,
 *             timed with clock_gettime: OK n=<N> ns=<total ns>
 *   quit      OK bye, exit (init powers off)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(void)
{
	struct termios t;
	char line[256];
	uint64_t ent = 0;
	volatile uint64_t *page = aligned_alloc(4096, 4096);
	int fd;

	if (!tcgetattr(0, &t)) {
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		t.c_oflag &= ~(tcflag_t)ONLCR;
		tcsetattr(0, TCSANOW, &t);
	}
	if (!page || mlock((void *)page, 4096)) {
		printf("SPP-BENCH ERR no page: %s\n", strerror(errno));
		return 1;
	}
	memset((void *)page, 0, 4096);
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 ||
	    pread(fd, &ent, 8, (off_t)((uintptr_t)page / 4096 * 8)) != 8 ||
	    !(ent >> 63)) {
		printf("SPP-BENCH ERR no pagemap entry\n");
		return 1;
	}
	close(fd);
	printf("SPP-BENCH page=0x%llx\n",
	       (unsigned long long)((ent & ((1ULL << 55) - 1)) * 4096));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long long n;
		char *end;

		line[strcspn(line, "\r\n")] = 0;
		if (!strcmp(line, "quit")) {
			puts("OK bye");
			return 0;
		}
		if (strncmp(line, "run ", 4) ||
		    (n = strtoull(line + 4, &end, 0), *end) || !n) {
			printf("ERR usage: run N | quit\n");
			fflush(stdout);
			continue;
		}
		uint64_t t0 = now_ns();

		for (unsigned long long i = 0; i < n; i++)
			page[(i * 8) & 511] = i;
		uint64_t ns = now_ns() - t0;

		printf("OK n=%llu ns=%llu\n", n, (unsigned long long)ns);
		fflush(stdout);
	}
	return 0;
}
