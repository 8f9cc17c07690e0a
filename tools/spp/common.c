// SPDX-License-Identifier: MIT
/*
 * common.c - what every command of spp shares: the error line and the
 * clock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "spp_cli.h"

const char *spp_cli_command;

double spp_cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void spp_cli_err(const char *fmt, ...)
{
	va_list ap;

	if (spp_cli_command)
		fprintf(stderr, "spp %s: ", spp_cli_command);
	else
		fputs("spp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
