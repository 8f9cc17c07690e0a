// SPDX-License-Identifier: MIT
/*
 * bench_fig.c - figures, table rows and the clock of the benchmarks
 * (bench_fig.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_fig.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void fig_add(struct fig *f, double v)
{
	if (f->n < BENCH_MAX_TRIALS)
		f->v[f->n++] = v;
}

double fig_med(const struct fig *f)
{
	double s[BENCH_MAX_TRIALS];

	if (!f->n)
		return 0;
	memcpy(s, f->v, f->n * sizeof(double));
	qsort(s, f->n, sizeof(double), cmp_double);
	return f->n % 2 ? s[f->n / 2] : (s[f->n / 2 - 1] + s[f->n / 2]) / 2;
}

double fig_min(const struct fig *f)
{
	double m = f->n ? f->v[0] : 0;

	for (unsigned int i = 1; i < f->n; i++)
		m = f->v[i] < m ? f->v[i] : m;
	return m;
}

double fig_max(const struct fig *f)
{
	double m = f->n ? f->v[0] : 0;

	for (unsigned int i = 1; i < f->n; i++)
		m = f->v[i] > m ? f->v[i] : m;
	return m;
}

void table_head(const char *title)
{
	printf("\n| %s | median | min | max | unit |\n|---|---|---|---|---|\n",
	       title);
}

void row(const char *name, const struct fig *f, const char *unit)
{
	printf("| %s | %.4g | %.4g | %.4g | %s |\n", name, fig_med(f),
	       fig_min(f), fig_max(f), unit);
}

double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

void cpu_model(char *buf, unsigned int size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, size, "?");
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && c) {
			snprintf(buf, size, "%s", c + 2);
			buf[strcspn(buf, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
}
