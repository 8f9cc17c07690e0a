// SPDX-License-Identifier: MIT
/*
 * test_qemu_boot - plain QEMU (no spp) on real KVM boots the project's
 * nested guest, and the guest program and the harness do what they say:
 * wptest reports its page, every store class it has lands in the page
 * as written (read back with dump), bad commands get ERR, quit powers
 * the guest off; QMP stop/cont pause and resume a spinning guest and
 * system_reset reboots it. The preload-shim tests reuse all of this.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "guest/wptest.h"
#include "qemu_test.h"

static struct qemu_test *wq; /* the wptest guest of the wptest group */
static uint64_t page_gpa;
static int guest_avx;

/* The page bytes [off, off + len) as wptest's dump shows them. */
static void dump(size_t off, size_t len, uint8_t *out)
{
	char cmd[64], reply[2 * WPT_DUMP_MAX + 8];

	assert_true(len <= WPT_DUMP_MAX);
	snprintf(cmd, sizeof(cmd), "dump %zu %zu", off, len);
	assert_int_equal(qemu_test_cmd(wq, cmd, reply, sizeof(reply)), 0);
	assert_int_equal(strlen(reply), 3 + 2 * len);
	for (size_t k = 0; k < len; k++) {
		unsigned int b;

		assert_int_equal(sscanf(reply + 3 + 2 * k, "%2x", &b), 1);
		out[k] = (uint8_t)b;
	}
}

static void cmd_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cmd_ok(const char *fmt, ...)
{
	char cmd[128], reply[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(qemu_test_cmd(wq, cmd, reply, sizeof(reply)), 0);
}

static void expect_bytes(size_t off, const uint8_t *want, size_t len)
{
	uint8_t got[WPT_DUMP_MAX];

	dump(off, len, got);
	assert_memory_equal(got, want, len);
}

static void expect_pattern(size_t off, enum wpt_pattern p, size_t len)
{
	uint8_t want[WPT_DUMP_MAX];

	for (size_t k = 0; k < len; k++)
		want[k] = wpt_pattern(p, (unsigned int)k);
	expect_bytes(off, want, len);
}

/* Zero a region first, so a store that did nothing cannot pass. */
static void zero(size_t off, size_t len)
{
	cmd_ok("fill %zu %zu 0", off, len);
	uint8_t z[WPT_DUMP_MAX] = { 0 };

	expect_bytes(off, z, len);
}

static int wptest_setup(void **state)
{
	const struct qemu_test_opts o = { .prog = "wptest",
					  .marker = "^SPP-WPTEST " };
	const char *m;
	unsigned long long gpa;

	(void)state;
	wq = qemu_test_start(&o);
	if (!wq)
		return -1;
	m = qemu_test_marker_line(wq);
	if (sscanf(m, "SPP-WPTEST page=0x%llx cpus=%*d avx=%d", &gpa,
		   &guest_avx) != 2) {
		fprintf(stderr, "# bad wptest marker: %s\n", m);
		return -1;
	}
	page_gpa = gpa;
	printf("# nested guest up in %.1f s (retried %d), page 0x%" PRIx64
	       ", avx=%d\n",
	       qemu_test_elapsed_ms(wq) / 1e3, qemu_test_retries(wq), page_gpa,
	       guest_avx);
	return 0;
}

static int wptest_teardown(void **state)
{
	(void)state;
	qemu_test_stop(wq);
	wq = NULL;
	return 0;
}

static void test_page_address(void **state)
{
	char reply[64], want[64];

	(void)state;
	/* 4 KiB aligned, inside the 256 MiB of RAM, not page 0. */
	assert_int_equal(page_gpa & 4095, 0);
	assert_true(page_gpa >= 4096);
	assert_true(page_gpa < 256u << 20);
	assert_int_equal(qemu_test_cmd(wq, "page", reply, sizeof(reply)), 0);
	snprintf(want, sizeof(want), "OK page=0x%" PRIx64, page_gpa);
	assert_string_equal(reply, want);
}

static void test_fill(void **state)
{
	uint8_t want[300];

	(void)state;
	zero(0, 300);
	cmd_ok("fill 10 280 0xa5");
	memset(want, 0, sizeof(want));
	memset(want + 10, 0xa5, 280);
	expect_bytes(0, want, 300);
}

static void test_stores(void **state)
{
	static const struct {
		const char *cmd;
		size_t off, len;
		uint8_t b[8];
	} st[] = {
		{ "store1 0x200 0xab", 0x200, 1, { 0xab } },
		{ "store2 0x202 0xbeef", 0x202, 2, { 0xef, 0xbe } },
		{ "store4 0x204 0xdeadbeef",
		  0x204,
		  4,
		  { 0xef, 0xbe, 0xad, 0xde } },
		{ "store8 0x208 0x1122334455667788",
		  0x208,
		  8,
		  { 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 } },
		/* Unaligned, across a 128-byte sub-page boundary. */
		{ "store8 0x27c 0x0102030405060708",
		  0x27c,
		  8,
		  { 8, 7, 6, 5, 4, 3, 2, 1 } },
		/* The last bytes of the page. */
		{ "store4 4092 0xcafef00d",
		  4092,
		  4,
		  { 0x0d, 0xf0, 0xfe, 0xca } },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		zero(st[i].off, st[i].len);
		assert_int_equal(qemu_test_cmd(wq, st[i].cmd, NULL, 0), 0);
		expect_bytes(st[i].off, st[i].b, st[i].len);
	}
}

static void test_sse(void **state)
{
	(void)state;
	zero(0x378, 16);
	cmd_ok("sse 0x378"); /* straddles sub-pages 6 and 7 */
	expect_pattern(0x378, WPT_PAT_SSE, 16);
}

static void test_avx(void **state)
{
	char reply[64];
	int r;

	(void)state;
	zero(0x3f0, 32);
	r = qemu_test_cmd(wq, "avx 0x3f0", reply, sizeof(reply));
	if (!guest_avx) {
		/* The guest's CPUID has no AVX: it must say so. */
		assert_int_equal(r, 1);
		assert_string_equal(reply, "SKIP noavx");
		printf("# the nested guest's CPU has no AVX: vmovdqu not "
		       "tested\n");
		return;
	}
	assert_int_equal(r, 0);
	expect_pattern(0x3f0, WPT_PAT_AVX, 32);
}

static void test_rep_stos_movs(void **state)
{
	uint8_t want[520];

	(void)state;
	zero(0x500, 520);
	cmd_ok("rep 0x504 512 0x5a");
	memset(want, 0, sizeof(want));
	memset(want + 4, 0x5a, 512);
	expect_bytes(0x500, want, 520);
	zero(0x800, 300);
	cmd_ok("movs 0x801 299");
	expect_pattern(0x801, WPT_PAT_MOVS, 299);
}

static void test_locked(void **state)
{
	char reply[128];
	const uint8_t sum[8] = { 0x03, 0x02, 0, 0, 0, 0, 0, 0x10 };

	(void)state;
	zero(0x900, 8);
	assert_int_equal(qemu_test_cmd(wq, "xadd 0x900 0x1000000000000101",
				       reply, sizeof(reply)),
			 0);
	assert_string_equal(reply, "OK old=0x0");
	assert_int_equal(
		qemu_test_cmd(wq, "xadd 0x900 0x102", reply, sizeof(reply)), 0);
	assert_string_equal(reply, "OK old=0x1000000000000101");
	expect_bytes(0x900, sum, 8);
	/* cmpxchg: a wrong expected value changes nothing, the right one
	 * swaps. */
	assert_int_equal(qemu_test_cmd(wq, "cmpxchg 0x900 0x5 0x77", reply,
				       sizeof(reply)),
			 0);
	assert_string_equal(reply, "OK zf=0 old=0x1000000000000203");
	expect_bytes(0x900, sum, 8);
	assert_int_equal(qemu_test_cmd(wq,
				       "cmpxchg 0x900 0x1000000000000203 0x77",
				       reply, sizeof(reply)),
			 0);
	assert_string_equal(reply, "OK zf=1 old=0x1000000000000203");
	const uint8_t x77[8] = { 0x77 };

	expect_bytes(0x900, x77, 8);
}

static void test_read_copy_to_user(void **state)
{
	char reply[64];

	(void)state;
	zero(0xa10, 700);
	assert_int_equal(
		qemu_test_cmd(wq, "read 0xa10 700", reply, sizeof(reply)), 0);
	assert_string_equal(reply, "OK n=700");
	expect_pattern(0xa10, WPT_PAT_READ, 700);
}

static void test_memcpy(void **state)
{
	(void)state;
	zero(0xc03, 1000);
	cmd_ok("memcpy 0xc03 1000");
	expect_pattern(0xc03, WPT_PAT_MEMCPY, 1000);
}

static void test_bad_commands(void **state)
{
	static const char *const bad[] = {
		"frobnicate", "store8 4090 0x1", "fill 0 4097 1", "dump 0 1025",
		"sse",	      "store3 0 0",	 "fill 1 2 256",
	};
	char reply[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(qemu_test_cmd(wq, bad[i], reply,
					       sizeof(reply)),
				 -EBADMSG);
		assert_true(!strncmp(reply, "ERR ", 4));
	}
	/* The guest still answers. */
	cmd_ok("where");
}

static void test_quit_powers_off(void **state)
{
	int st = -1;

	(void)state;
	cmd_ok("quit");
	assert_int_equal(qemu_test_expect(wq, "^SPP-EXIT rc=0$", 30000, NULL),
			 0);
	assert_int_equal(qemu_test_wait_exit(wq, 30000, &st), 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* QMP on a spinning guest: stop pauses it, cont resumes it,
 * system_reset reboots it (QEMU started without -no-reboot). */
static void test_qmp_stop_cont_reset(void **state)
{
	const struct qemu_test_opts o = { .prog = "spin",
					  .args = "100",
					  .marker = "^SPP-SPIN ready",
					  .reboot = true };
	struct qemu_test *q = qemu_test_start(&o);
	char reply[512];
	const char *l;
	unsigned long n1, n2;

	(void)state;
	assert_non_null(q);
	assert_int_equal(qemu_test_expect(q, "^SPP-SPIN n=", 10000, &l), 0);
	assert_int_equal(sscanf(l, "SPP-SPIN n=%lu", &n1), 1);
	assert_int_equal(qemu_test_qmp(q, "query-status", reply, sizeof(reply)),
			 0);
	assert_non_null(strstr(reply, "\"running\": true"));

	assert_int_equal(qemu_test_qmp(q, "stop", NULL, 0), 0);
	assert_int_equal(qemu_test_qmp(q, "query-status", reply, sizeof(reply)),
			 0);
	assert_non_null(strstr(reply, "\"status\": \"paused\""));
	/* Drain what was printed before the stop, then 2 s of silence. */
	while (qemu_test_expect(q, "^SPP-SPIN n=", 300, &l) == 0)
		assert_int_equal(sscanf(l, "SPP-SPIN n=%lu", &n1), 1);
	assert_int_equal(qemu_test_expect(q, "^SPP-SPIN n=", 2000, NULL),
			 -ETIMEDOUT);

	assert_int_equal(qemu_test_qmp(q, "cont", NULL, 0), 0);
	assert_int_equal(qemu_test_expect(q, "^SPP-SPIN n=", 10000, &l), 0);
	assert_int_equal(sscanf(l, "SPP-SPIN n=%lu", &n2), 1);
	assert_true(n2 > n1);

	/* system_reset: the guest boots again, from the start. A reboot
	 * that hangs is a hung boot: counted, and QEMU started once more. */
	for (int attempt = 0;; attempt++) {
		assert_int_equal(qemu_test_qmp(q, "system_reset", NULL, 0), 0);
		if (qemu_test_expect(q, "^SPP-INIT test=spin", 60000, NULL) ==
		    0)
			break;
		assert_int_equal(attempt, 0); /* hung twice */
		qemu_test_hung(q, "no SPP-INIT within 60 s of system_reset");
		qemu_test_stop(q);
		q = qemu_test_start(&o);
		assert_non_null(q);
	}
	assert_int_equal(qemu_test_expect(q, "^SPP-SPIN n=1 ", 30000, NULL), 0);
	qemu_test_stop(q);
}

int main(void)
{
	const struct CMUnitTest wptest[] = {
		cmocka_unit_test(test_page_address),
		cmocka_unit_test(test_fill),
		cmocka_unit_test(test_stores),
		cmocka_unit_test(test_sse),
		cmocka_unit_test(test_avx),
		cmocka_unit_test(test_rep_stos_movs),
		cmocka_unit_test(test_locked),
		cmocka_unit_test(test_read_copy_to_user),
		cmocka_unit_test(test_memcpy),
		cmocka_unit_test(test_bad_commands),
		cmocka_unit_test(test_quit_powers_off),
		/* Its own guest (spin), after wptest's has powered off. */
		cmocka_unit_test(test_qmp_stop_cont_reset),
	};

	if (qemu_test_unavailable("qemu/boot", NULL))
		return 0;
	return cmocka_run_group_tests_name("qemu_boot", wptest, wptest_setup,
					   wptest_teardown);
}
