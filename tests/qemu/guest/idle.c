// SPDX-License-Identifier: MIT
/*
 * idle - the smallest nested guest program: prints
 * "SPP-IDLE ready cpus=<n>", then answers each console line "OK idle"
 * until "quit" ("OK bye"), and exits (init powers off).
 */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

int main(void)
{
	struct termios t;
	char line[256];

	if (!tcgetattr(0, &t)) {
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		t.c_oflag &= ~(tcflag_t)ONLCR;
		tcsetattr(0, TCSANOW, &t);
	}
	printf("SPP-IDLE ready cpus=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!strcmp(line, "quit")) {
			puts("OK bye");
			return 0;
		}
		puts("OK idle");
		fflush(stdout);
	}
	return 0;
}
