/* SPDX-License-Identifier: MIT */
/*
 * bench_fig.h - what the benchmarks share: a figure (one value per
 * trial) and its median/min/max, the table rows docs/performance.md
 * takes, and the clock. Used by bench_kvm.c and bench_guard.c.
 */
#ifndef SPP_BENCH_FIG_H
#define SPP_BENCH_FIG_H

#define BENCH_MAX_TRIALS 64

struct fig {
	double v[BENCH_MAX_TRIALS];
	unsigned int n;
};

/* fig_add() - one trial's value (beyond BENCH_MAX_TRIALS: dropped). */
void fig_add(struct fig *f, double v);

/* fig_med(), fig_min(), fig_max() - over the trials; 0 without any. */
double fig_med(const struct fig *f);
double fig_min(const struct fig *f);
double fig_max(const struct fig *f);

/* table_head() - a markdown table "TITLE | median | min | max | unit". */
void table_head(const char *title);

/* row() - one line of that table for @f. */
void row(const char *name, const struct fig *f, const char *unit);

/* now_ns() - CLOCK_MONOTONIC in nanoseconds. */
double now_ns(void);

/* cpu_model() - the host CPU's "model name" of /proc/cpuinfo, or "?". */
void cpu_model(char *buf, unsigned int size);

#endif /* SPP_BENCH_FIG_H */
