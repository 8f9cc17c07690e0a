// SPDX-License-Identifier: MIT
/*
 * test_tools_run.c - "spp run", "spp demo" and "spp info" end to end on
 * real KVM: exit codes (guest status by doorbell and by port 0xF4, crash,
 * timeout, stop, signals), the JSON fields of events, --stats JSON, the
 * text summary (guest-protected pages, ties among hot sub-pages),
 * --protect-range rounding, the policy file, --vcpus.
 *
 * Arguments: the spp binary, then guest ELF files matched by name
 * (guest_hello, guest_fault, guest_sweep, guest_portexit, guest_spin,
 * guest_selfprot).
 * Without /dev/kvm it skips as a whole; tests/run then runs it inside a
 * VM that has KVM (docs/testing.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "spp_exec.h"

static const char *spp, *g_hello, *g_fault, *g_sweep, *g_portexit, *g_spin,
	*g_selfprot, *g_gvaloop;

#define RUN(o, ...) \
	spp_exec(spp, (const char *const[]){ "run", __VA_ARGS__, NULL }, (o))

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Line @i of @s must be an event with these values (and every field of
 * docs/events.md). */
static void check_event(const char *s, size_t i, uint64_t gpa, unsigned len,
			const char *data, unsigned subpage, unsigned vcpu,
			const char *verdict)
{
	static const char *const fields[] = {
		"{\"type\":\"write\",",
		"\"seq\":",
		"\"time\":",
		"\"vcpu\":",
		"\"gpa\":",
		"\"len\":",
		"\"data\":",
		"\"page\":",
		"\"subpage\":",
		"\"subpage_gpa\":",
		"\"rip\":\"0x",
		"\"insn_rip\":",
		/* known for every reported store (never null) */
		"\"cpl\":",
		"\"cr3\":\"0x",
		"\"old\":\"",
		"\"fragments\":",
		"\"verdict\":",
	};
	char line[1024], want[128];
	size_t k;

	assert_true(spp_line(s, i, line, sizeof(line)));
	for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
		if (!strstr(line, fields[k]))
			fail_msg("event line %zu lacks %s: %s", i, fields[k],
				 line);
	assert_int_equal(line[strlen(line) - 1], '}');
#define WANT(...)                                                        \
	do {                                                             \
		snprintf(want, sizeof(want), __VA_ARGS__);               \
		if (!strstr(line, want))                                 \
			fail_msg("event line %zu lacks %s: %s", i, want, \
				 line);                                  \
	} while (0)
	WANT("\"seq\":%zu,", i + 1);
	WANT("\"vcpu\":%u,", vcpu);
	WANT("\"gpa\":\"0x%" PRIx64 "\",", gpa);
	WANT("\"len\":%u,", len);
	WANT("\"data\":\"%s\",", data);
	WANT("\"page\":\"0x%" PRIx64 "\",", gpa & ~(uint64_t)0xfff);
	WANT("\"subpage\":%u,", subpage);
	WANT("\"verdict\":\"%s\",", verdict);
	/* the CPU's state is known for every reported store */
	if (strstr(line, "\"cpl\":null") || strstr(line, "\"old\":null"))
		fail_msg("event line %zu lacks cpl or old: %s", i, line);
	/* KVM completed these one-instruction stores: spp decodes the
	 * instruction backwards from RIP, so its own RIP is known, before
	 * RIP and at most 15 bytes before it (never a made-up "0x0") */
	{
		const char *r = strstr(line, "\"rip\":\"0x");
		const char *ir = strstr(line, "\"insn_rip\":\"0x");
		unsigned long long rip, irip;

		if (!r || !ir || sscanf(r, "\"rip\":\"0x%llx", &rip) != 1 ||
		    sscanf(ir, "\"insn_rip\":\"0x%llx", &irip) != 1 || !irip ||
		    irip >= rip || rip - irip > 15)
			fail_msg("event line %zu: bad insn_rip: %s", i, line);
	}
#undef WANT
}

/* The gpa of the sweep guest's k-th store: first and last byte of every
 * sub-page of 0x10000000 and 0x10001000. */
static uint64_t sweep_gpa(size_t k)
{
	return 0x10000000 + 128 * (k / 2) + 127 * (k % 2);
}

static void test_exit_status_doorbell(void **state)
{
	struct spp_out o;

	(void)state;
	RUN(&o, g_hello);
	assert_int_equal(o.status, 15); /* 7 << 1 | 1 */
	assert_string_equal(o.out, "hello from the guest\n");
	assert_non_null(strstr(o.err, "guest exited with status 15 (value 7)"));
	spp_out_free(&o);
}

static void test_exit_status_port(void **state)
{
	struct spp_out o;

	(void)state;
	RUN(&o, "--quiet", g_portexit);
	assert_int_equal(o.status, 43); /* 21 << 1 | 1 */
	assert_string_equal(o.out, "port console\n");
	assert_string_equal(o.err, "");
	spp_out_free(&o);
}

static void test_events_json(void **state)
{
	struct spp_out o;
	size_t k;

	(void)state;
	RUN(&o, "--protect", "0x10000000:0x0", "--events", "-", g_sweep);
	assert_int_equal(o.status, 1);
	/* the console moves to stderr when events take stdout */
	assert_non_null(strstr(o.err, "sweep: 64 of 128 stores landed\n"));
	assert_int_equal(spp_lines(o.out), 64);
	for (k = 0; k < 64; k++)
		check_event(o.out, k, sweep_gpa(k), 1, "aa", (unsigned)k / 2, 0,
			    "denied");
	spp_out_free(&o);
}

static void test_events_file_all(void **state)
{
	char path[] = "/tmp/spp-test-events-XXXXXX";
	struct spp_out o;
	char *ev;
	size_t k;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	RUN(&o, "--protect", "0x10000000:0xffff0000", "--events", path,
	    "--events-all", g_sweep);
	assert_int_equal(o.status, 1);
	assert_string_equal(o.out, "sweep: 96 of 128 stores landed\n");
	ev = spp_slurp(path);
	assert_int_equal(spp_lines(ev), 64);
	for (k = 0; k < 64; k++)
		check_event(ev, k, sweep_gpa(k), 1, "aa", (unsigned)k / 2, 0,
			    k < 32 ? "denied" : "allowed");
	free(ev);
	unlink(path);
	spp_out_free(&o);
}

static void test_protect_range_rounding(void **state)
{
	struct spp_out o;

	(void)state;
	/* 16 bytes inside sub-page 5: the whole sub-page */
	RUN(&o, "--protect-range", "0x10000290+16", "--events", "-", g_sweep);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.err, "sweep: 126 of 128 stores landed"));
	assert_int_equal(spp_lines(o.out), 2);
	check_event(o.out, 0, 0x10000280, 1, "aa", 5, 0, "denied");
	check_event(o.out, 1, 0x100002ff, 1, "aa", 5, 0, "denied");
	spp_out_free(&o);

	/* 32 bytes across sub-pages 5 and 6 */
	RUN(&o, "--protect-range", "0x100002f0+0x20", "--events", "-", g_sweep);
	assert_non_null(strstr(o.err, "sweep: 124 of 128 stores landed"));
	assert_int_equal(spp_lines(o.out), 4);
	check_event(o.out, 3, 0x1000037f, 1, "aa", 6, 0, "denied");
	spp_out_free(&o);

	/* across a page boundary: sub-page 31 and the next page's 0 */
	RUN(&o, "--protect-range", "0x10000ff0+0x20", "--events", "-", g_sweep);
	assert_non_null(strstr(o.err, "sweep: 124 of 128 stores landed"));
	assert_int_equal(spp_lines(o.out), 4);
	check_event(o.out, 0, 0x10000f80, 1, "aa", 31, 0, "denied");
	check_event(o.out, 3, 0x1000107f, 1, "aa", 0, 0, "denied");
	spp_out_free(&o);
}

/* --protect-bytes: exactly those bytes, finer than the hardware */
static void test_protect_bytes(void **state)
{
	struct spp_out o;
	char line[1024];

	(void)state;
	/* 16 bytes inside sub-page 5: its first and last byte land */
	RUN(&o, "--protect-bytes", "0x10000290+16", "--events", "-", "--stats",
	    g_sweep);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.err, "sweep: 128 of 128 stores landed"));
	assert_int_equal(spp_lines(o.out), 0);
	assert_non_null(strstr(o.err, "\"fine_allowed\":2,"));
	spp_out_free(&o);

	/* the last byte of sub-page 5 and the first of 6: those two only */
	RUN(&o, "--protect-bytes", "0x100002ff+2", "--events", "-", g_sweep);
	assert_non_null(strstr(o.err, "sweep: 126 of 128 stores landed"));
	assert_int_equal(spp_lines(o.out), 2);
	check_event(o.out, 0, 0x100002ff, 1, "aa", 5, 0, "denied");
	check_event(o.out, 1, 0x10000300, 1, "aa", 6, 0, "denied");
	assert_true(spp_line(o.out, 0, line, sizeof(line)));
	assert_non_null(strstr(line, "\"protected_bytes\":\"0x1\"}"));
	spp_out_free(&o);
}

static void test_policy_file(void **state)
{
	char *policy =
		spp_tmpfile("# two rules and a policy\n"
			    "protect 0x10000000:0xfffffffe  # sub-page 0\n"
			    "\n"
			    "protect-range 0x10001f80+128\n"
			    "on-violation log\n");
	struct spp_out o;

	(void)state;
	RUN(&o, "--policy", policy, "--events", "-", g_sweep);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.err, "sweep: 128 of 128 stores landed"));
	assert_int_equal(spp_lines(o.out), 4);
	check_event(o.out, 0, 0x10000000, 1, "aa", 0, 0, "logged");
	check_event(o.out, 1, 0x1000007f, 1, "aa", 0, 0, "logged");
	check_event(o.out, 2, 0x10001f80, 1, "aa", 31, 0, "logged");
	check_event(o.out, 3, 0x10001fff, 1, "aa", 31, 0, "logged");
	spp_out_free(&o);

	/* --on-violation wins over the file */
	RUN(&o, "--policy", policy, "--on-violation", "deny", "--events", "-",
	    g_sweep);
	assert_non_null(strstr(o.err, "sweep: 124 of 128 stores landed"));
	check_event(o.out, 3, 0x10001fff, 1, "aa", 31, 0, "denied");
	spp_out_free(&o);
	unlink(policy);
	free(policy);
}

static void test_stop(void **state)
{
	struct spp_out o;

	(void)state;
	RUN(&o, "--protect", "0x10001000:0xfffffffd", "--on-violation", "stop",
	    "--events", "-", g_sweep);
	assert_int_equal(o.status, 8);
	assert_int_equal(spp_lines(o.out), 1);
	check_event(o.out, 0, 0x10001080, 1, "aa", 1, 0, "stopped");
	assert_non_null(strstr(o.err, "stopped on a violation: vCPU 0, "
				      "1-byte store at 0x10001080 into "
				      "denied sub-page 1"));
	assert_null(strstr(o.err, "stores landed"));
	spp_out_free(&o);
}

/* --timeout, and --progress: a line every 5 s */
static void test_timeout_progress(void **state)
{
	struct spp_out o;
	double t = now();

	(void)state;
	RUN(&o, "--timeout", "5.5", "--progress", g_spin);
	t = now() - t;
	assert_int_equal(o.status, 6);
	assert_string_equal(o.out, "spinning\n");
	assert_non_null(strstr(o.err, "spp: timeout after"));
	assert_non_null(strstr(o.err, "spp: 5 s: "));
	assert_int_equal(spp_count(o.err, " exits for trapped writes, "), 2);
	assert_true(t >= 5.4 && t < 60);
	spp_out_free(&o);
}

static void test_signals(void **state)
{
	const char *args[] = { "run",  "--stats", "--protect", "0x10000000:0x0",
			       g_spin, NULL };
	struct spp_out o;

	(void)state;
	spp_exec_sig(spp, args, NULL, SIGINT, 1500, &o);
	assert_int_equal(o.status, 12);
	assert_non_null(strstr(o.err, "spp: interrupted by SIGINT\n"));
	assert_non_null(strstr(o.err, "\"outcome\":\"interrupted\""));
	spp_out_free(&o);
	spp_exec_sig(spp, args, NULL, SIGTERM, 1500, &o);
	assert_int_equal(o.status, 12);
	assert_non_null(strstr(o.err, "spp: interrupted by SIGTERM\n"));
	spp_out_free(&o);
}

static void test_crash(void **state)
{
	struct spp_out o;

	(void)state;
	RUN(&o, g_fault);
	assert_int_equal(o.status, 4);
	assert_non_null(strstr(o.err, "spp: guest crashed (exception) on "
				      "vCPU 0"));
	spp_out_free(&o);
}

static void test_stats_json(void **state)
{
	struct spp_out o;
	char last[4096];

	(void)state;
	RUN(&o, "--protect", "0x10000000:0xffff0000", "--stats", g_sweep);
	assert_int_equal(o.status, 1);
	assert_true(spp_line(o.err, spp_lines(o.err) - 1, last, sizeof(last)));
	assert_true(!strncmp(last, "{\"type\":\"summary\",\"spp\":\"", 25));
	for (const char *const *f =
		     (const char *const[]){
			     "\"outcome\":\"exit\",\"reason\":\"exit\",\"exit_code\":1,"
			     "\"guest_status\":1,",
			     "\"time\":",
			     "\"vcpus\":1,\"mem\":536870912,"
			     "\"policy\":\"deny\",\"exits\":",
			     ",\"stores\":64,\"allowed\":32,\"denied\":32,\"events\":0,",
			     "\"protected_pages\":1,\"guest_protected_pages\":0,"
			     "\"other_allowed\":0,"
			     "\"other_denied\":0,\"emulated\":0,"
			     "\"string_batches\":0,\"string_elements\":0,"
			     "\"rmw_redone\":0,\"misdirected\":0,"
			     "\"walk_writes\":0,\"fine_allowed\":0,"
			     "\"pages_truncated\":false,"
			     "\"pages\":[{\"gpa\":\"0x10000000\",\"map\":\"0xffff0000\","
			     "\"allowed\":32,\"denied\":32,\"source\":\"rules\"}],",
			     "\"hot_subpages\":[{\"gpa\":\"0x10000000\",\"page\":"
			     "\"0x10000000\",\"subpage\":0,\"allowed\":0,\"denied\":2},"
			     "{\"gpa\":\"0x10000080\",\"page\":\"0x10000000\","
			     "\"subpage\":1,\"allowed\":0,\"denied\":2},",
			     NULL };
	     *f; f++)
		if (!strstr(last, *f))
			fail_msg("--stats lacks %s: %s", *f, last);
	assert_int_equal(last[strlen(last) - 1], '}');
	assert_int_equal(spp_count(last, "\"gpa\""), 6); /* 1 page, 5 hot */
	spp_out_free(&o);
}

static void test_text_summary(void **state)
{
	struct spp_out o;

	(void)state;
	RUN(&o, "--protect", "0x10000000:0x0", "--mem", "1G", g_sweep);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.err, "spp: guest exited with status 1 "
				      "(value 0)\n"));
	assert_non_null(strstr(o.err, ", 1 vCPU, 1024M, policy deny: "));
	assert_non_null(strstr(o.err, " stores: 64 allowed, 64 denied\n"));
	assert_non_null(strstr(o.err, "spp:   page 0x10000000 map 0x00000000: "
				      "0 allowed, 64 denied\n"));
	/* the page after one whose sub-page 31 is denied traps too */
	assert_non_null(strstr(o.err, "neighbour pages (trapped, "
				      "unprotected): 64 allowed, 0 denied\n"));
	assert_non_null(strstr(o.err, "spp: hottest sub-pages: 0x10000000 "
				      "(#0) 0 allowed/2 denied, 0x10000080 "
				      "(#1) 0 allowed/2 denied,"));
	spp_out_free(&o);
}

/* Issue 15, item 3: sub-pages with tied counts: the denied one is not
 * left out of hot_subpages. */
static void test_hot_subpages_ties(void **state)
{
	struct spp_out o;
	char last[4096];

	(void)state;
	/* every sub-page of 0x10000000 gets 2 stores; only #31 is denied */
	RUN(&o, "--protect", "0x10000000:0x7fffffff", "--stats", g_sweep);
	assert_int_equal(o.status, 1);
	assert_true(spp_line(o.err, spp_lines(o.err) - 1, last, sizeof(last)));
	if (!strstr(last,
		    "\"hot_subpages\":[{\"gpa\":\"0x10000f80\","
		    "\"page\":\"0x10000000\",\"subpage\":31,"
		    "\"allowed\":0,\"denied\":2},{\"gpa\":\"0x10000000\","))
		fail_msg("hot_subpages: %s", strstr(last, "\"hot_subpages\""));
	spp_out_free(&o);
	RUN(&o, "--protect", "0x10000000:0x7fffffff", g_sweep);
	assert_non_null(strstr(o.err, "spp: hottest sub-pages: 0x10000f80 "
				      "(#31) 0 allowed/2 denied, 0x10000000 "
				      "(#0) 2 allowed/0 denied,"));
	spp_out_free(&o);
}

/* Issue 15, item 3: stores on pages the guest protected itself are
 * counted on those pages, in JSON and text alike, and add up. */
static void test_guest_protected_pages(void **state)
{
	struct spp_out o;
	char last[4096];

	(void)state;
	RUN(&o, "--protect", "0x10000000:0x0", "--stats", g_selfprot);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.out, "selfprot: protect 0 0\n"));
	assert_true(spp_line(o.err, spp_lines(o.err) - 1, last, sizeof(last)));
	for (const char *const *f =
		     (const char *const[]){
			     ",\"stores\":6,\"allowed\":3,\"denied\":3,",
			     ",\"protected_pages\":3,\"guest_protected_pages\":2,"
			     "\"other_allowed\":0,\"other_denied\":0,",
			     "\"pages\":[{\"gpa\":\"0x10000000\",\"map\":"
			     "\"0x00000000\",\"allowed\":0,\"denied\":1,"
			     "\"source\":\"rules\"},"
			     "{\"gpa\":\"0x10003000\",\"map\":\"0xffffffdf\","
			     "\"allowed\":3,\"denied\":2,\"source\":\"guest\"},"
			     "{\"gpa\":\"0x10005000\",\"map\":\"0x00000000\","
			     "\"allowed\":0,\"denied\":0,\"source\":\"guest\"}],",
			     "\"hot_subpages\":[{\"gpa\":\"0x10003000\","
			     "\"page\":\"0x10003000\",\"subpage\":0,"
			     "\"allowed\":3,\"denied\":0},{\"gpa\":\"0x10003280\","
			     "\"page\":\"0x10003000\",\"subpage\":5,"
			     "\"allowed\":0,\"denied\":2},{\"gpa\":\"0x10000000\","
			     "\"page\":\"0x10000000\",\"subpage\":0,"
			     "\"allowed\":0,\"denied\":1}]}",
			     NULL };
	     *f; f++)
		if (!strstr(last, *f))
			fail_msg("--stats lacks %s: %s", *f, last);
	spp_out_free(&o);

	RUN(&o, "--protect", "0x10000000:0x0", g_selfprot);
	assert_int_equal(o.status, 1);
	for (const char *const *l =
		     (const char *const[]){
			     " stores: 3 allowed, 3 denied\n",
			     "spp:   page 0x10000000 map 0x00000000: 0 allowed, "
			     "1 denied\n",
			     "spp:   page 0x10003000 map 0xffffffdf (guest): 3 "
			     "allowed, 2 denied\n",
			     "spp:   page 0x10005000 map 0x00000000 (guest): 0 "
			     "allowed, 0 denied\n",
			     NULL };
	     *l; l++)
		if (!strstr(o.err, *l))
			fail_msg("summary lacks '%s': %s", *l, o.err);
	assert_null(strstr(o.err, "neighbour pages"));
	spp_out_free(&o);
}

static void test_vcpus(void **state)
{
	struct spp_out o;

	(void)state;
	RUN(&o, "--vcpus", "3", "--protect", "0x10010000:0x0", "--events", "-",
	    g_sweep);
	assert_int_equal(o.status, 1);
	assert_int_equal(spp_lines(o.out), 2);
	/* vCPUs 1 and 2, in either order */
	if (strstr(o.out, "\"seq\":1,") &&
	    strstr(o.out, "\"vcpu\":1,\"gpa\":\"0x10010080\"") <
		    strstr(o.out, "\"vcpu\":2,")) {
		check_event(o.out, 0, 0x10010080, 4, "11000000", 1, 1,
			    "denied");
		check_event(o.out, 1, 0x10010100, 4, "22000000", 2, 2,
			    "denied");
	} else {
		check_event(o.out, 0, 0x10010100, 4, "22000000", 2, 2,
			    "denied");
		check_event(o.out, 1, 0x10010080, 4, "11000000", 1, 1,
			    "denied");
	}
	spp_out_free(&o);
}

static void test_demo(void **state)
{
	const char *args[] = { "demo", NULL };
	struct spp_out o;

	(void)state;
	spp_exec(spp, args, &o);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.out, "scene 1: the KVM SPP selftest, page "
				      "0x10000000"));
	assert_non_null(strstr(o.out, "scene 2: a 128-byte structure"));
	assert_int_equal(spp_count(o.out, ": yes\n"), 10);
	assert_null(strstr(o.out, "unexpected"));
	assert_non_null(strstr(o.out, "Every check passed."));
	assert_int_equal(spp_count(o.out, "\"verdict\":\"denied\","), 7);
	spp_out_free(&o);
}

static void test_info(void **state)
{
	const char *args[] = { "info", NULL };
	struct spp_out o;

	(void)state;
	spp_exec(spp, args, &o);
	assert_int_equal(o.status, 0);
	for (const char *const *l =
		     (const char *const[]){
			     "spp version:       ", "kernel:            ",
			     "/dev/kvm:          present and usable (API version 12)\n",
			     "read-only slots:   yes (KVM_CAP_READONLY_MEM)\n",
			     "memslots:          ", "vCPUs:             max ",
			     "slot zap quirk:    ", "sync regs:         used",
			     "immediate exit:    used",
			     "memory fault info: ", "guest CPL0 code:   ",
			     "x the time of the same loop at CPL3",
			     "exit round trip:   ", NULL };
	     *l; l++)
		if (!strstr(o.out, *l))
			fail_msg("spp info lacks '%s'", *l);
	spp_out_free(&o);
}

/* Start @args of spp in the background, stdout into @out_path (NULL:
 * /dev/null), stderr to /dev/null; returns its pid. */
static pid_t spawn(const char *const *args, const char *out_path)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (!pid) {
		const char *argv[16] = { spp };
		int i, null = open("/dev/null", O_RDWR);
		int out = out_path ? open(out_path,
					  O_WRONLY | O_CREAT | O_TRUNC, 0600) :
				     null;

		for (i = 0; args[i] && i < 14; i++)
			argv[i + 1] = args[i];
		dup2(out, 1);
		dup2(null, 2);
		execv(spp, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define CTL(o, ...) \
	spp_exec(spp, (const char *const[]){ "ctl", __VA_ARGS__, NULL }, (o))

/* spp run --control S with a guest that stores into 0x10000000 now and
 * then, and spp ctl S against it: protect, get, a refused protection,
 * events of the guest's real stores, stats, unprotect; the socket is gone
 * after the run. */
static void test_control(void **state)
{
	char dir[] = "/tmp/spp-test-control.XXXXXX", sock[64], evpath[96];
	struct spp_out o;
	pid_t run, ev;
	char *evs = NULL;
	int i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/c", dir);
	snprintf(evpath, sizeof(evpath), "%s/events", dir);
	run = spawn((const char *const[]){ "run", "--control", sock,
					   "--timeout", "120", "--quiet",
					   g_spin, NULL },
		    NULL);
	for (i = 0; i < 3000 && access(sock, F_OK); i++)
		usleep(10000);
	assert_int_equal(access(sock, F_OK), 0);

	CTL(&o, sock, "protect", "0x10000000:0x0");
	assert_int_equal(o.status, 0);
	spp_out_free(&o);
	CTL(&o, sock, "get", "0x10000000");
	assert_int_equal(o.status, 0);
	assert_string_equal(o.out, "0x00000000\n");
	spp_out_free(&o);
	/* the layout check of --protect: refused, nothing changes */
	CTL(&o, sock, "protect", "0x1000:0x0");
	assert_int_equal(o.status, 10);
	assert_string_equal(o.err, "spp ctl: not protectable: in spp's "
				   "system area below 1 MiB\n");
	spp_out_free(&o);
	CTL(&o, sock, "protect-range", "0x10000000+1T");
	assert_int_equal(o.status, 10);
	assert_true(spp_has_line(o.err, "spp ctl: not guest RAM: beyond"));
	spp_out_free(&o);
	CTL(&o, sock, "protect", "0x10000000");
	assert_int_equal(o.status, 2); /* bad input: nothing sent */
	spp_out_free(&o);
	CTL(&o, sock, "raw", "{\"execute\":\"query-policy\"}");
	assert_int_equal(o.status, 0);
	assert_string_equal(o.out, "{\"return\":{\"policy\":\"deny\"}}\n");
	spp_out_free(&o);

	/* events of the guest's stores into the page, until SIGINT */
	ev = spawn((const char *const[]){ "ctl", sock, "events", NULL },
		   evpath);
	for (i = 0; i < 6000; i++) {
		free(evs);
		evs = access(evpath, F_OK) ? NULL : spp_slurp(evpath);
		if (evs && strchr(evs, '\n'))
			break;
		usleep(10000);
	}
	kill(ev, SIGINT);
	assert_int_equal(reap(ev), 0);
	free(evs);
	evs = spp_slurp(evpath);
	assert_non_null(evs);
	/* the line of spp run --events (seq and time are the socket's) */
	{
		static const char *const want[] = {
			"{\"type\":\"write\",\"seq\":",
			",\"vcpu\":0,\"gpa\":\"0x10000000\",\"len\":8,",
			",\"page\":\"0x10000000\",\"subpage\":0,"
			"\"subpage_gpa\":\"0x10000000\",\"rip\":\"0x",
			",\"fragments\":1,\"verdict\":\"denied\","
			"\"protected_bytes\":null}\n",
		};
		size_t k;

		for (k = 0; k < sizeof(want) / sizeof(want[0]); k++)
			if (!strstr(evs, want[k]))
				fail_msg("events lack %s: %s", want[k], evs);
	}

	CTL(&o, sock, "stats");
	assert_int_equal(o.status, 0);
	assert_int_equal(spp_lines(o.out), 1);
	assert_non_null(strstr(o.out, "\"denied\":"));
	assert_null(strstr(o.out, "\"denied\":0,"));
	assert_non_null(strstr(o.out, "\"clients\":1,"));
	spp_out_free(&o);
	CTL(&o, sock, "unprotect", "0x10000000");
	assert_int_equal(o.status, 0);
	spp_out_free(&o);
	CTL(&o, sock, "get", "0x10000000");
	assert_string_equal(o.out, "0xffffffff\n");
	spp_out_free(&o);

	kill(run, SIGINT);
	assert_int_equal(reap(run), 12);
	assert_int_equal(access(sock, F_OK), -1);
	unlink(evpath);
	free(evs);
	assert_int_equal(rmdir(dir), 0);
}

/* protect-gva through spp run's option and through its control socket:
 * the guest (gvaloop) sees its store to the GVA dropped, the bytes there
 * unchanged, the neighbouring sub-page's store land (it checks, status
 * 1); the reply names the page and map; the event has the address. */
static void test_protect_gva(void **state)
{
	char dir[] = "/tmp/spp-test-gva.XXXXXX", sock[64], evpath[96];
	struct spp_out o;
	char *evs;
	pid_t run;
	int i;

	(void)state;
	spp_exec(spp,
		 (const char *const[]){ "run", "--protect-gva", "0x10000290/8",
					"--quiet", "--timeout", "60", g_gvaloop,
					NULL },
		 &o);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.out, "gvaloop: denied after 1 rounds, "
				      "neighbour ok"));
	spp_out_free(&o);
	/* bad input: nothing runs */
	spp_exec(spp,
		 (const char *const[]){ "run", "--protect-gva", "0x10000290/0",
					g_gvaloop, NULL },
		 &o);
	assert_int_equal(o.status, 2);
	spp_out_free(&o);
	spp_exec(spp,
		 (const char *const[]){ "run", "--protect-gva", "0x1000/8",
					g_gvaloop, NULL },
		 &o);
	assert_int_equal(o.status, 2);
	assert_non_null(strstr(o.err, "is not protectable"));
	spp_out_free(&o);

	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/c", dir);
	snprintf(evpath, sizeof(evpath), "%s/events", dir);
	run = spawn((const char *const[]){ "run", "--control", sock,
					   "--timeout", "120", "--events",
					   evpath, g_gvaloop, NULL },
		    NULL);
	for (i = 0; i < 3000 && access(sock, F_OK); i++)
		usleep(10000);
	assert_int_equal(access(sock, F_OK), 0);
	/* (before the rule: the guest ends as soon as a store is denied) */
	CTL(&o, sock, "protect-symbol", "modprobe_path");
	assert_int_equal(o.status, 10);
	assert_non_null(strstr(o.err, "no kernel symbols loaded"));
	spp_out_free(&o);
	CTL(&o, sock, "query-rules");
	assert_int_equal(o.status, 0);
	assert_string_equal(o.out, "{\"symbols\":0,\"slide\":\"0x0\","
				   "\"rules\":[]}\n");
	spp_out_free(&o);
	CTL(&o, sock, "protect-gva", "0x10000290/8");
	assert_int_equal(o.status, 0);
	if (!strstr(o.out, "\"state\":\"applied\"") ||
	    !strstr(o.out, "\"pages\":[{\"gva\":\"0x10000290\",\"gpa\":"
			   "\"0x10000000\",\"map\":4294967263,"
			   "\"denied\":32,\"held\":32,\"masks_held\":0}]"))
		fail_msg("protect-gva answered %s", o.out);
	spp_out_free(&o);
	assert_int_equal(reap(run), 1); /* the guest's own checks passed */
	evs = spp_slurp(evpath);
	assert_non_null(evs);
	assert_non_null(strstr(evs, "\"gpa\":\"0x10000290\",\"len\":8,"));
	assert_non_null(strstr(evs, "\"verdict\":\"denied\""));
	free(evs);
	unlink(evpath);
	assert_int_equal(rmdir(dir), 0);
}

static void guests_from_args(int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		const char *b = strrchr(argv[i], '/');

		b = b ? b + 1 : argv[i];
		if (!strcmp(b, "guest_hello"))
			g_hello = argv[i];
		else if (!strcmp(b, "guest_fault"))
			g_fault = argv[i];
		else if (!strcmp(b, "guest_sweep"))
			g_sweep = argv[i];
		else if (!strcmp(b, "guest_portexit"))
			g_portexit = argv[i];
		else if (!strcmp(b, "guest_spin"))
			g_spin = argv[i];
		else if (!strcmp(b, "guest_selfprot"))
			g_selfprot = argv[i];
		else if (!strcmp(b, "guest_gvaloop"))
			g_gvaloop = argv[i];
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_status_doorbell),
		cmocka_unit_test(test_exit_status_port),
		cmocka_unit_test(test_events_json),
		cmocka_unit_test(test_events_file_all),
		cmocka_unit_test(test_protect_range_rounding),
		cmocka_unit_test(test_protect_bytes),
		cmocka_unit_test(test_policy_file),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_timeout_progress),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_crash),
		cmocka_unit_test(test_stats_json),
		cmocka_unit_test(test_text_summary),
		cmocka_unit_test(test_hot_subpages_ties),
		cmocka_unit_test(test_guest_protected_pages),
		cmocka_unit_test(test_vcpus),
		cmocka_unit_test(test_control),
		cmocka_unit_test(test_protect_gva),
		cmocka_unit_test(test_demo),
		cmocka_unit_test(test_info),
	};
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("1..0 # SKIP no /dev/kvm: %s\n", strerror(errno));
		fprintf(stderr, "test_tools_run: SKIPPED: no /dev/kvm (%s)\n",
			strerror(errno));
		return 0;
	}
	close(fd);
	if (argc < 2) {
		fprintf(stderr, "usage: %s SPP GUEST.elf...\n", argv[0]);
		return 2;
	}
	spp = argv[1];
	guests_from_args(argc, argv);
	if (!g_hello || !g_fault || !g_sweep || !g_portexit || !g_spin ||
	    !g_selfprot) {
		fprintf(stderr, "test_tools_run: a guest is missing\n");
		return 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
