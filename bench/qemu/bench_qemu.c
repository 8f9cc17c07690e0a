// SPDX-License-Identifier: MIT
/*
 * bench_qemu - a nested Linux guest in real QEMU on real KVM, with and
 * without a library preloaded into QEMU (issue 11 item 3): per boot, the
 * time from QEMU's start to the guest's bench program being ready, and
 * the guest's own clock over N 8-byte stores to one locked page
 * (tests/qemu/guest/bench.c). Boots alternate (a), (b), (a), (b)... so
 * that drifts in the host's load hit both; the table gives medians,
 * min and max, and the ratios (b)/(a) of the medians.
 *
 * Usage: bench_qemu [options]
 *   --reps R          boots per variant (default 5)
 *   --stores N        stores per timed loop (default 100000)
 *   --loops L         timed loops per boot, the median counts (default 3)
 *   --preload LIB     (b) is QEMU with LD_PRELOAD=LIB (default: none, so
 *                     (b) is plain QEMU again: the noise floor)
 *   --env NAME=VALUE  more environment for (b)'s QEMU (repeatable)
 *   --setup CMD       for (b), run `sh -c CMD` once the guest is ready,
 *                     before the stores, with SPP_BENCH_PAGE (the page's
 *                     guest-physical address, 0x...), SPP_BENCH_QEMU_PID
 *                     and SPP_BENCH_DIR (the harness's directory, with
 *                     qmp.sock) in its environment; it must exit 0
 *   --smp N           guest vCPUs (default 1)
 * Needs /dev/kvm, QEMU, a guest kernel and the initramfs (qemu_test.h:
 * SPP_QEMU_KERNEL, SPP_QEMU_INITRD); bench/qemu/run sets them up in the
 * KVM test VM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "qemu_test.h"

#define MAX_REPS 100
#define MAX_ENV 32

struct variant {
	const char *name;
	const char *env[MAX_ENV + 2];
	const char *setup;
	double boot_ms[MAX_REPS], store_ns[MAX_REPS];
	int n;
};

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n, double *lo, double *hi)
{
	double s[MAX_REPS];

	memcpy(s, v, sizeof(*v) * (size_t)n);
	qsort(s, (size_t)n, sizeof(*s), cmp);
	*lo = s[0];
	*hi = s[n - 1];
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* One boot of @v: its boot time and the median ns per store. */
static int one(struct variant *v, unsigned int smp, long stores, int loops)
{
	struct qemu_test_opts o = { .prog = "bench",
				    .marker = "^SPP-BENCH page=",
				    .env = v->env,
				    .smp = smp,
				    .name = v->name };
	struct qemu_test *q = qemu_test_start(&o);
	double per[16];
	char cmd[64], reply[128];
	int st;

	if (!q)
		return -1;
	v->boot_ms[v->n] = qemu_test_elapsed_ms(q);
	if (v->setup) {
		char env[512];
		int r;

		snprintf(env, sizeof(env),
			 "SPP_BENCH_PAGE=%s SPP_BENCH_QEMU_PID=%d "
			 "SPP_BENCH_DIR='%s'",
			 qemu_test_marker_line(q) + strlen("SPP-BENCH page="),
			 (int)qemu_test_pid(q), qemu_test_dir(q));
		char *sh = malloc(strlen(env) + strlen(v->setup) + 16);

		sprintf(sh, "export %s; %s", env, v->setup);
		r = fork();
		if (r == 0) {
			execl("/bin/sh", "sh", "-c", sh, (char *)NULL);
			_exit(127);
		}
		free(sh);
		if (r < 0 || waitpid(r, &st, 0) != r || !WIFEXITED(st) ||
		    WEXITSTATUS(st)) {
			fprintf(stderr, "bench_qemu: --setup failed\n");
			qemu_test_stop(q);
			return -1;
		}
	}
	snprintf(cmd, sizeof(cmd), "run %ld", stores);
	for (int i = 0; i < loops; i++) {
		unsigned long long n, ns;

		if (qemu_test_cmd(q, cmd, reply, sizeof(reply)) ||
		    sscanf(reply, "OK n=%llu ns=%llu", &n, &ns) != 2) {
			qemu_test_print_tail(q, 10);
			qemu_test_stop(q);
			return -1;
		}
		per[i] = (double)ns / (double)n;
	}
	double lo, hi;

	v->store_ns[v->n] = median(per, loops, &lo, &hi);
	v->n++;
	if (qemu_test_cmd(q, "quit", NULL, 0) == 0)
		qemu_test_wait_exit(q, 30000, NULL);
	qemu_test_stop(q);
	return 0;
}

static void row(const char *what, const double *a, int na, const double *b,
		int nb, const char *unit, double scale, int dec)
{
	double alo, ahi, blo, bhi;
	double am = median(a, na, &alo, &ahi), bm = median(b, nb, &blo, &bhi);

	printf("| %s | %.*f (%.*f–%.*f) | %.*f (%.*f–%.*f) | %.2f | %s |\n",
	       what, dec, am * scale, dec, alo * scale, dec, ahi * scale, dec,
	       bm * scale, dec, blo * scale, dec, bhi * scale, bm / am, unit);
}

int main(int argc, char **argv)
{
	struct variant v[2] = { { .name = "a-plain" },
				{ .name = "b-preload" } };
	const char *preload = NULL;
	char ld[1024];
	int reps = 5, loops = 3, ne = 0;
	long stores = 100000;
	unsigned int smp = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i],
			   *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val)
			goto usage;
		if (!strcmp(a, "--reps"))
			reps = atoi(val);
		else if (!strcmp(a, "--stores"))
			stores = atol(val);
		else if (!strcmp(a, "--loops"))
			loops = atoi(val);
		else if (!strcmp(a, "--preload"))
			preload = val;
		else if (!strcmp(a, "--env") && ne < MAX_ENV &&
			 strchr(val, '='))
			v[1].env[ne++] = val;
		else if (!strcmp(a, "--setup"))
			v[1].setup = val;
		else if (!strcmp(a, "--smp"))
			smp = (unsigned int)atoi(val);
		else
			goto usage;
		i++;
	}
	if (reps < 1 || reps > MAX_REPS || loops < 1 || loops > 16 ||
	    stores < 1 || smp < 1)
		goto usage;
	if (preload && *preload) {
		snprintf(ld, sizeof(ld), "LD_PRELOAD=%s", preload);
		v[1].env[ne++] = ld;
	}
	if (qemu_test_unavailable("bench_qemu", NULL))
		return 1;

	/* A boot that hangs twice (the nested guest's own flakiness under
	 * TCG, docs/testing.md) loses that repetition, not the run: the
	 * table says how many boots each median has. */
	int lost = 0;

	for (int r = 0; r < reps; r++)
		for (int k = 0; k < 2; k++)
			if (one(&v[k], smp, stores, loops)) {
				fprintf(stderr,
					"bench_qemu: %s boot %d failed: left "
					"out\n",
					v[k].name, r + 1);
				if (++lost > reps)
					return 1;
			}
	if (!v[0].n || !v[1].n) {
		fprintf(stderr, "bench_qemu: no boot of %s succeeded\n",
			v[0].n ? v[1].name : v[0].name);
		return 1;
	}

	printf("### Nested guest, plain QEMU (a) against QEMU with (b)\n\n");
	printf("(b): %s%s%s; %d and %d boots, alternating (%d left out: "
	       "hung twice); %ld stores per loop, median of %d loops per "
	       "boot; -smp %u; kernel %s\n\n",
	       preload ? "LD_PRELOAD=" : "plain QEMU again (no --preload)",
	       preload ? preload : "", v[1].setup ? ", with --setup" : "",
	       v[0].n, v[1].n, lost, stores, loops, smp, qemu_test_kernel());
	printf("| figure | (a) median (min–max) | (b) median (min–max) | "
	       "(b)/(a) | unit |\n|---|---|---|---|---|\n");
	row("boot to the bench program", v[0].boot_ms, v[0].n, v[1].boot_ms,
	    v[1].n, "s", 1e-3, 2);
	row("8-byte store in the guest", v[0].store_ns, v[0].n, v[1].store_ns,
	    v[1].n, "ns", 1, 1);
	return 0;
usage:
	fprintf(stderr, "usage: bench_qemu [--reps R] [--stores N] [--loops L] "
			"[--preload LIB] [--env NAME=VALUE]... [--setup CMD] "
			"[--smp N]\n");
	return 2;
}
