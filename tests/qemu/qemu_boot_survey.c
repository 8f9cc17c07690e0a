// SPDX-License-Identifier: MIT
/*
 * qemu_boot_survey - how often does a nested guest boot, and run wptest
 * on every vCPU? N boots of one variant through the qemu_test harness,
 * each without the hung-boot retry; one line per boot and a summary
 * "RESULT label: ok/N ...". For the multi-vCPU survey of docs/testing.md
 * ("Nested QEMU guests"); not a test.
 *
 * Usage: qemu_boot_survey LABEL N SMP [APPEND [QEMU-ARG...]]
 *   e.g. scripts/kvm-vm/run -- env SPP_QEMU_INITRD=build/tests/qemu/initramfs.cpio.gz
 *        build/tests/qemu/qemu_boot_survey base 5 2 "nowatchdog"
 * SPP_QEMU_BOOT_TIMEOUT (s, default 45 here) is the hang timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qemu_test.h"

/* Boot, then on each vCPU store to the page and read it back. */
static int one(const struct qemu_test_opts *o, unsigned int smp, char *why,
	       size_t size)
{
	struct qemu_test *q = qemu_test_start(o);
	char cmd[64], reply[128];
	int st = 0;

	if (!q) {
		snprintf(why, size, "no boot");
		return -1;
	}
	for (unsigned int c = 0; c < smp; c++) {
		snprintf(cmd, sizeof(cmd), "cpu %u", c);
		if (qemu_test_cmd(q, cmd, reply, sizeof(reply)) ||
		    atoi(reply + 7) != (int)c) {
			snprintf(why, size, "'%s': %s", cmd, reply);
			goto fail;
		}
		snprintf(cmd, sizeof(cmd), "store8 0x%x 0x%x", 8 * c, 0x51 + c);
		if (qemu_test_cmd(q, cmd, reply, sizeof(reply))) {
			snprintf(why, size, "'%s': %s", cmd, reply);
			goto fail;
		}
		snprintf(cmd, sizeof(cmd), "dump 0x%x 1", 8 * c);
		if (qemu_test_cmd(q, cmd, reply, sizeof(reply)) ||
		    strtoul(reply + 3, NULL, 16) != 0x51 + c) {
			snprintf(why, size, "'%s': %s", cmd, reply);
			goto fail;
		}
	}
	if (qemu_test_cmd(q, "quit", reply, sizeof(reply)) ||
	    qemu_test_wait_exit(q, 30000, &st)) {
		snprintf(why, size, "no power-off");
		goto fail;
	}
	qemu_test_stop(q);
	return 0;
fail:
	qemu_test_print_tail(q, 15);
	qemu_test_stop(q);
	return -1;
}

int main(int argc, char **argv)
{
	struct qemu_test_opts o = { .prog = "wptest",
				    .marker = "^SPP-WPTEST ",
				    .no_retry = true,
				    .boot_timeout_ms = 45000 };
	const char *t = getenv("SPP_QEMU_BOOT_TIMEOUT");
	int n, ok = 0;
	double total = 0;

	if (argc < 4) {
		fprintf(stderr,
			"usage: %s LABEL N SMP [APPEND [QEMU-ARG...]]\n",
			argv[0]);
		return 2;
	}
	n = atoi(argv[2]);
	o.smp = (unsigned int)atoi(argv[3]);
	o.append = argc > 4 && *argv[4] ? argv[4] : NULL;
	o.qemu_args = argc > 5 ? (const char *const *)argv + 5 : NULL;
	o.name = argv[1];
	if (t && atoi(t) > 0)
		o.boot_timeout_ms = atoi(t) * 1000;
	if (qemu_test_unavailable(argv[0], &o))
		return 1;
	for (int i = 1; i <= n; i++) {
		char why[256] = "";
		struct qemu_test_opts oi = o;
		double t0;
		int r;

		/* The time of the whole boot + commands + power-off. */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t0 = ts.tv_sec + ts.tv_nsec / 1e9;
		r = one(&oi, o.smp, why, sizeof(why));
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t0 = ts.tv_sec + ts.tv_nsec / 1e9 - t0;
		if (!r) {
			ok++;
			total += t0;
		}
		printf("%s boot %d: %s %.1f s %s\n", argv[1], i,
		       r ? "FAIL" : "ok", t0, why);
		fflush(stdout);
	}
	printf("RESULT %s: %d/%d (smp %u, append '%s', mean ok %.1f s)\n",
	       argv[1], ok, n, o.smp, o.append ? o.append : "",
	       ok ? total / ok : 0.0);
	return ok == n ? 0 : 1;
}
