// SPDX-License-Identifier: MIT
/*
 * test_tools_cli.c - the spp command without KVM: every class of bad
 * input is one line on stderr naming the offending token, exit status 2
 * and nothing run; --help, --version, check; and what demo, info and run
 * do on a machine without /dev/kvm (skipped where there is one).
 *
 * Arguments: the spp binary, a valid guest ELF (guest_hello), docs/spp.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "spp_exec.h"

static const char *spp, *guest, *man_page;

/* spp run ARGS... must fail with exit 2, one stderr line containing
 * @token, nothing on stdout. */
static void bad_run(const char *token, ...)
{
	const char *args[32] = { "run" };
	struct spp_out o;
	size_t n = 1;
	va_list ap;

	va_start(ap, token);
	while ((args[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	spp_exec(spp, args, &o);
	assert_int_equal(o.status, 2);
	assert_int_equal(spp_lines(o.err), 1);
	assert_non_null(strstr(o.err, token));
	assert_string_equal(o.out, "");
	spp_out_free(&o);
}

static bool have_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* spp ARGS... (any command) must exit with @status, with @out_has on
 * stdout and @err_has on stderr (each NULL: not checked; "" : empty). */
static void expect(const char *const *args, int status, const char *out_has,
		   const char *err_has)
{
	struct spp_out o;

	spp_exec(spp, args, &o);
	if (o.status != status)
		fail_msg("spp %s %s: status %d, not %d (stderr: %s)", args[0],
			 args[1] ? args[1] : "", o.status, status, o.err);
	if (out_has && (*out_has ? !strstr(o.out, out_has) : *o.out))
		fail_msg("spp %s %s: stdout lacks '%s': %s", args[0],
			 args[1] ? args[1] : "", out_has, o.out);
	if (err_has && (*err_has ? !strstr(o.err, err_has) : *o.err))
		fail_msg("spp %s %s: stderr lacks '%s': %s", args[0],
			 args[1] ? args[1] : "", err_has, o.err);
	if (status == 2)
		assert_int_equal(spp_lines(o.err), 1);
	spp_out_free(&o);
}

#define EXPECT(status, out_has, err_has, ...)                        \
	expect((const char *const[]){ __VA_ARGS__, NULL }, (status), \
	       (out_has), (err_has))

/* spp run ARGS... must get past every check of its input: without KVM it
 * then fails with 10, with KVM the hello guest runs (15). */
static void good_run(const char *first, ...)
{
	const char *args[32] = { "run", first };
	struct spp_out o;
	size_t n = 2;
	va_list ap;

	va_start(ap, first);
	while ((args[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	spp_exec(spp, args, &o);
	if (o.status != (have_kvm() ? 15 : 10))
		fail_msg("spp run %s ...: status %d: %s", first, o.status,
			 o.err);
	spp_out_free(&o);
}

static void test_malformed_numbers(void **state)
{
	(void)state;
	bad_run("'zz'", "--protect", "zz:0x0", guest, NULL);
	bad_run("'0x10000000x'", "--protect", "0x10000000x:0", guest, NULL);
	bad_run("'0xq'", "--protect", "0x10000000:0xq", guest, NULL);
	bad_run("'0x10000000'", "--protect", "0x10000000", guest, NULL);
	bad_run("'abc'", "--protect-range", "0x10000000+abc", guest, NULL);
	bad_run("'0'", "--protect-range", "0x10000000+0", guest, NULL);
	bad_run("'0x10000000'", "--protect-range", "0x10000000", guest, NULL);
	bad_run("'-1'", "--protect-range", "0x10000000+-1", guest, NULL);
	bad_run("'0'", "--protect-bytes", "0x10000000+0", guest, NULL);
	bad_run("more than 2M", "--protect-bytes", "0x10000000+3M", guest,
		NULL);
	bad_run("'two'", "--vcpus", "two", guest, NULL);
	bad_run("'0'", "--vcpus", "0", guest, NULL);
	bad_run("'9'", "--vcpus", "9", guest, NULL);
	bad_run("'1X'", "--mem", "1X", guest, NULL);
	bad_run("'8M'", "--mem", "8M", guest, NULL);
	bad_run("'513M'", "--mem", "513M", guest, NULL);
	bad_run("'64G'", "--mem", "64G", guest, NULL);
	bad_run("'soon'", "--timeout", "soon", guest, NULL);
	bad_run("'-1'", "--timeout", "-1", guest, NULL);
	bad_run("'maybe'", "--on-violation", "maybe", guest, NULL);
}

static void test_unaligned_gpa(void **state)
{
	(void)state;
	bad_run("'0x10000080'", "--protect", "0x10000080:0x0", guest, NULL);
	bad_run("not 4 KiB aligned", "--protect", "0x10000001:0x0", guest,
		NULL);
}

static void test_map_beyond_32_bits(void **state)
{
	(void)state;
	bad_run("'0x100000000'", "--protect", "0x10000000:0x100000000", guest,
		NULL);
	bad_run("more than 32 bits", "--protect", "0x10000000:0xfffffffff",
		guest, NULL);
}

static void test_overlapping_rules(void **state)
{
	(void)state;
	bad_run("overlaps --protect '0x10000000:0x0'", "--protect",
		"0x10000000:0x0", "--protect", "0x10000000:0xffff", guest,
		NULL);
	bad_run("--protect-range '0x10000290+16': overlaps", "--protect",
		"0x10000000:0x0", "--protect-range", "0x10000290+16", guest,
		NULL);
	/* a byte rule overlaps as the sub-pages it touches */
	bad_run("--protect-bytes '0x10000290+8': overlaps", "--protect-range",
		"0x10000280+1", "--protect-bytes", "0x10000290+8", guest, NULL);
	/* both round to sub-page 0 */
	bad_run("'0x10000070+4': overlaps --protect-range '0x10000010+4'",
		"--protect-range", "0x10000010+4", "--protect-range",
		"0x10000070+4", guest, NULL);
}

static void test_out_of_ram_rules(void **state)
{
	(void)state;
	bad_run("beyond guest RAM", "--protect", "0x20000000:0x0", guest, NULL);
	bad_run("'0x10000000:0x0': beyond guest RAM", "--mem", "256M",
		"--protect", "0x10000000:0x0", guest, NULL);
	bad_run("'0x1fffff00+0x200'", "--protect-range", "0x1fffff00+0x200",
		guest, NULL);
	bad_run("system area", "--protect", "0x1000:0x0", guest, NULL);
	bad_run("page tables", "--protect", "0x1ff00000:0x0", guest, NULL);
}

static void test_bad_guest(void **state)
{
	char *text = spp_tmpfile("not an ELF file\n");
	char *empty = spp_tmpfile("");

	(void)state;
	bad_run("'/nonexistent/guest.elf'", "/nonexistent/guest.elf", NULL);
	bad_run("'/tmp' is not a regular file", "/tmp", NULL);
	bad_run("not an ELF64 x86-64 executable", text, NULL);
	bad_run("not an ELF64 x86-64 executable", empty, NULL);
	/* a host program: dynamically linked, position independent */
	bad_run("-static -no-pie", "/bin/sh", NULL);
	unlink(text);
	unlink(empty);
	free(text);
	free(empty);
}

static void test_bad_command_line(void **state)
{
	const char *none[] = { "run", NULL };
	const char *unknown_cmd[] = { "fly", NULL };
	struct spp_out o;

	(void)state;
	bad_run("'--bogus'", "--bogus", guest, NULL);
	bad_run("'--protect'", guest, "--protect", NULL);
	bad_run("'--stats'", "--stats=yes", guest, NULL);
	bad_run("'-x'", "-x", guest, NULL);
	bad_run("'extra'", guest, "extra", NULL);
	bad_run("no guest", "--stats", NULL);
	spp_exec(spp, none, &o);
	assert_int_equal(o.status, 2);
	assert_int_equal(spp_lines(o.err), 1);
	spp_out_free(&o);
	spp_exec(spp, unknown_cmd, &o);
	assert_int_equal(o.status, 2);
	assert_non_null(strstr(o.err, "'fly'"));
	spp_out_free(&o);
}

static void test_bad_policy_file(void **state)
{
	char *unknown = spp_tmpfile("# rules\nprotect 0x10000000:0x0\n"
				    "forbid 0x10001000\n");
	char *badnum = spp_tmpfile("protect-range 0x10000000+0x\n");
	char *noarg = spp_tmpfile("\n\non-violation\n");
	char *extra = spp_tmpfile("protect 0x10000000:0x0 0x1\n");
	char *overlap = spp_tmpfile("protect 0x10000000:0x0\n");
	char token[256];

	(void)state;
	snprintf(token, sizeof(token), "%s:3: unknown rule 'forbid'", unknown);
	bad_run(token, "--policy", unknown, guest, NULL);
	snprintf(token, sizeof(token), "%s:1: protect-range '0x10000000+0x'",
		 badnum);
	bad_run(token, "--policy", badnum, guest, NULL);
	snprintf(token, sizeof(token), "%s:3: 'on-violation' needs", noarg);
	bad_run(token, "--policy", noarg, guest, NULL);
	bad_run("unexpected '0x1'", "--policy", extra, guest, NULL);
	snprintf(token, sizeof(token),
		 "%s:1: protect '0x10000000:0x0': overlaps --protect-range "
		 "'0x10000000+1'",
		 overlap);
	bad_run(token, "--policy", overlap, "--protect-range", "0x10000000+1",
		guest, NULL);
	bad_run("'/nonexistent/policy'", "--policy", "/nonexistent/policy",
		guest, NULL);
	unlink(unknown);
	unlink(badnum);
	unlink(noarg);
	unlink(extra);
	unlink(overlap);
	free(unknown);
	free(badnum);
	free(noarg);
	free(extra);
	free(overlap);
}

/* Issue 15, item 4: one number syntax everywhere (spp(1), NUMBERS): 0x
 * hex, otherwise decimal (a leading 0 is no octal), K/M/G/T on sizes. */
static void test_number_syntax(void **state)
{
	char *policy = spp_tmpfile("protect 10000000:0x0\n");
	char *policy_ok = spp_tmpfile("protect 0x10000000:0xffffffdf\n"
				      "protect-range 268439552+4K\n");
	char token[256];

	(void)state;
	/* 010 is ten (bit 1 set: sub-page 1 writable), not octal eight */
	EXPECT(0, "allowed (1 sub-pages)\n", "", "check", "0x10000080", "1",
	       "010");
	/* the same GPA in decimal and in hex */
	EXPECT(0, "denied: sub-page 5 at 0x10000280\n", "", "check",
	       "268436112", "4", "0xffffffdf");
	EXPECT(0, "denied: sub-page 5 at 0x10000280\n", "", "check",
	       "0x10000290", "4", "0xFFFFFFDF");
	/* sizes take K/M/G/T */
	EXPECT(0, "allowed (32 sub-pages)\n", "", "check", "0x10000000", "4K",
	       "0xffffffff");
	EXPECT(2, "", "'ffffffdf'", "check", "0x10000290", "4", "ffffffdf");
	EXPECT(2, "", "0x", "check", "0x10000290", "4", "ffffffdf");
	EXPECT(2, "", "'0x'", "check", "0x", "4", "0x0");
	EXPECT(2, "", "'4k4'", "check", "0x10000290", "4k4", "0x0");
	EXPECT(2, "", "'+4'", "check", "0x10000290", "+4", "0x0");
	EXPECT(2, "", "' 4'", "check", "0x10000290", " 4", "0x0");
	EXPECT(2, "", "'1M'", "check", "0x10000290", "4", "1M");

	/* spp run reads them alike: no hex without 0x */
	bad_run("'10000000'", "--protect", "10000000:0x0", guest, NULL);
	bad_run("not 4 KiB aligned", "--protect", "10000000:0x0", guest, NULL);
	bad_run("'ffffffdf'", "--protect", "0x10000000:ffffffdf", guest, NULL);
	bad_run("'1f'", "--protect-range", "0x10000290+1f", guest, NULL);
	bad_run("'1e3'", "--timeout", "1e3", guest, NULL);
	bad_run("'0x1p3'", "--timeout", "0x1p3", guest, NULL);
	snprintf(token, sizeof(token), "%s:1: protect '10000000:0x0'", policy);
	bad_run(token, "--policy", policy, guest, NULL);
	good_run("--protect", "268443648:0", "--protect-range",
		 "0x10003000+0x1K", "--vcpus", "02", "--mem", "0x200M",
		 "--timeout", "0x10", "--policy", policy_ok, guest, NULL);
	good_run("--mem", "1024", "--timeout", "2.5", guest, NULL);
	unlink(policy);
	unlink(policy_ok);
	free(policy);
	free(policy_ok);
}

/* Issue 15, item 8: help for every command, -V. */
static void test_help_everywhere(void **state)
{
	(void)state;
	EXPECT(0, "run [OPTIONS] GUEST.elf", "", "help");
	EXPECT(0, "--protect GPA:MAP", "", "help", "run");
	EXPECT(0, "usage: spp info", "", "help", "info");
	EXPECT(0, "usage: spp info", "", "info", "--help");
	EXPECT(0, "usage: spp info", "", "info", "-h");
	EXPECT(0, "usage: spp demo", "", "help", "demo");
	EXPECT(0, "usage: spp demo", "", "demo", "--help");
	EXPECT(0, "usage: spp check GPA LEN MAP", "", "help", "check");
	EXPECT(0, "usage: spp check GPA LEN MAP", "", "check", "--help");
	EXPECT(0, "usage: spp help", "", "help", "help");
	EXPECT(0, "usage: spp help", "", "help", "--help");
	EXPECT(0, "spp 0.", "", "-V");
	EXPECT(2, "", "'fly'", "help", "fly");
	EXPECT(2, "", "'extra'", "help", "run", "extra");
	EXPECT(2, "", "'--bogus'", "info", "--bogus");
	EXPECT(2, "", "'-x'", "check", "-x", "1", "2");
}

/* Issue 15, item 8: the keyword is judged first; binary files are named,
 * never echoed. */
static void test_policy_file_words(void **state)
{
	static const char elf[] =
		"\x7f"
		"ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"
		"\x02\0>\0\x01\0\0\0\x1b[2J\x80\xff protect\n";
	static const char nul[] = "protect 0x10000000:0x0\0evil\n";
	static const char hi[] = "protect 0x10000000:\xc3\xa9\n";
	char *words = spp_tmpfile("# comment\nfoo bar baz\n");
	char *bin = spp_tmpfile_bytes(elf, sizeof(elf) - 1);
	char *bin2 = spp_tmpfile_bytes(nul, sizeof(nul) - 1);
	char *bin3 = spp_tmpfile_bytes(hi, sizeof(hi) - 1);
	char *files[] = { bin, bin2, bin3 };
	char token[256];
	struct spp_out o;
	size_t i;

	(void)state;
	snprintf(token, sizeof(token), "%s:2: unknown rule 'foo'", words);
	bad_run(token, "--policy", words, guest, NULL);
	for (i = 0; i < 3; i++) {
		const char *args[] = { "run", "--policy", files[i], guest,
				       NULL };
		const unsigned char *c;

		spp_exec(spp, args, &o);
		assert_int_equal(o.status, 2);
		assert_int_equal(spp_lines(o.err), 1);
		snprintf(token, sizeof(token), "%s:1: ", files[i]);
		assert_non_null(strstr(o.err, token));
		if (i < 2)
			assert_non_null(strstr(o.err, "binary data"));
		for (c = (const unsigned char *)o.err; *c; c++)
			if ((*c < 0x20 && *c != '\n') || *c >= 0x7f)
				fail_msg("raw byte 0x%02x in: %s", *c, o.err);
		spp_out_free(&o);
	}
	unlink(words);
	free(words);
	for (i = 0; i < 3; i++) {
		unlink(files[i]);
		free(files[i]);
	}
}

/* Nothing runs on bad input: not even the events file is created. */
static void test_nothing_run(void **state)
{
	char path[] = "/tmp/spp-test-events-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	bad_run("'0x10000001:0x0'", "--events", path, "--protect",
		"0x10000001:0x0", guest, NULL);
	assert_int_equal(access(path, F_OK), -1);
	bad_run("'/nonexistent/dir/events'", "--events",
		"/nonexistent/dir/events", guest, NULL);
}

static void test_help(void **state)
{
	const char *help[] = { "--help", NULL };
	const char *run_help[] = { "run", "--help", NULL };
	const char *version[] = { "--version", NULL };
	struct spp_out o;

	(void)state;
	spp_exec(spp, help, &o);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.out, "run [OPTIONS] GUEST.elf"));
	assert_non_null(strstr(o.out, "info"));
	spp_out_free(&o);

	spp_exec(spp, run_help, &o);
	assert_int_equal(o.status, 0);
	for (const char *const *opt =
		     (const char *const[]){
			     "--protect GPA:MAP", "--protect-range GPA+LEN",
			     "--policy FILE", "--on-violation deny|log|stop",
			     "--events FILE", "--vcpus N", "--mem SIZE",
			     "--timeout SECONDS", "--stats", "ROUNDED OUTWARD",
			     NULL };
	     *opt; opt++)
		assert_non_null(strstr(o.out, *opt));
	spp_out_free(&o);

	spp_exec(spp, version, &o);
	assert_int_equal(o.status, 0);
	assert_true(!strncmp(o.out, "spp ", 4));
	spp_out_free(&o);
}

static void test_check(void **state)
{
	const char *denied[] = { "check", "0x10000290", "4", "0xffffffdf",
				 NULL };
	const char *allowed[] = { "check", "0x10000300", "8", "0xffffffdf",
				  NULL };
	const char *bad[] = { "check", "0x10000290", "4", "0x1ffffffff", NULL };
	struct spp_out o;

	(void)state;
	spp_exec(spp, denied, &o);
	assert_int_equal(o.status, 0);
	assert_string_equal(o.out, "denied: sub-page 5 at 0x10000280\n");
	spp_out_free(&o);
	spp_exec(spp, allowed, &o);
	assert_string_equal(o.out, "allowed (1 sub-pages)\n");
	spp_out_free(&o);
	spp_exec(spp, bad, &o);
	assert_int_equal(o.status, 2);
	spp_out_free(&o);
}

/* Without /dev/kvm (and without the VM): the core-model demo, info says
 * so, run exits with 10. */
static void test_without_kvm(void **state)
{
	static const char *const no_vm[] = { "SPP_NO_KVM_VM=1", NULL };
	const char *demo[] = { "demo", NULL };
	const char *info[] = { "info", NULL };
	const char *run[] = { "run", guest, NULL };
	struct spp_out o;

	(void)state;
	if (have_kvm()) {
		fprintf(stderr, "# /dev/kvm exists: the kvm suite covers it\n");
		return;
	}
	spp_exec_sig(spp, demo, no_vm, 0, 0, &o);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.err, "playing the demo on the core model"));
	assert_non_null(strstr(o.err, "SPP_NO_KVM_VM"));
	assert_non_null(strstr(o.out, "scene 1: the KVM SPP selftest"));
	assert_non_null(strstr(o.out, "-> 32 of 32 stores denied"));
	spp_out_free(&o);

	spp_exec_sig(spp, info, no_vm, 0, 0, &o);
	assert_int_equal(o.status, 10);
	assert_non_null(strstr(o.out, "/dev/kvm:          unusable here"));
	assert_non_null(strstr(o.out, "spp version:"));
	spp_out_free(&o);

	spp_exec(spp, run, &o);
	assert_int_equal(o.status, 10);
	assert_non_null(strstr(o.err, "KVM unavailable"));
	spp_out_free(&o);
}

/* Issue 15, item 5: without KVM (exit 10) the events file is left as it
 * was, and none is created. */
static void test_events_kept_without_kvm(void **state)
{
	char *keep = spp_tmpfile("{\"type\":\"write\",\"seq\":1}\n");
	char path[] = "/tmp/spp-test-events-XXXXXX";
	const char *run_keep[] = { "run", "--events", keep, guest, NULL };
	const char *run_new[] = { "run", "--events", path, guest, NULL };
	struct spp_out o;
	char *text;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	if (have_kvm()) {
		fprintf(stderr, "# /dev/kvm exists: nothing to check\n");
	} else {
		spp_exec(spp, run_keep, &o);
		assert_int_equal(o.status, 10);
		spp_out_free(&o);
		text = spp_slurp(keep);
		assert_string_equal(text, "{\"type\":\"write\",\"seq\":1}\n");
		free(text);
		spp_exec(spp, run_new, &o);
		assert_int_equal(o.status, 10);
		spp_out_free(&o);
		assert_int_equal(access(path, F_OK), -1);
	}
	/* what cannot be an events file is still bad input, KVM or not */
	bad_run("--events '/tmp'", "--events", "/tmp", guest, NULL);
	bad_run("--events '/nonexistent/dir/events'", "--events",
		"/nonexistent/dir/events", guest, NULL);
	unlink(keep);
	free(keep);
}

/* spp(1) from "spp run --help" and @opt ("events-all"): "\-\-events\-all" */
static void man_option(const char *opt, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "\\-\\-");

	for (; *opt && n + 3 < size; opt++) {
		if (*opt == '-')
			buf[n++] = '\\';
		buf[n++] = *opt;
	}
	buf[n] = 0;
}

/* spp ctl: bad arguments exit 2 before connecting (the socket does not
 * exist: they never get that far); a socket nobody serves exits 10. */
static void test_ctl_bad_input(void **state)
{
	(void)state;
	EXPECT(2, "", "spp ctl: expected SOCKET COMMAND", "ctl");
	EXPECT(2, "", "spp ctl: expected SOCKET COMMAND", "ctl", "/nope/s");
	EXPECT(2, "", "spp ctl: unknown command 'fly'", "ctl", "/nope/s",
	       "fly");
	EXPECT(2, "", "spp ctl: protect: expected protect GPA:MAP", "ctl",
	       "/nope/s", "protect");
	EXPECT(2, "", "spp ctl: '0x1000': expected GPA:MAP", "ctl", "/nope/s",
	       "protect", "0x1000");
	EXPECT(2, "", "spp ctl: bad GPA 'ab' (hex needs a 0x prefix)", "ctl",
	       "/nope/s", "protect", "ab:0");
	EXPECT(2, "", "spp ctl: MAP '0x1000:0x100000000' has more than 32 bits",
	       "ctl", "/nope/s", "protect", "0x1000:0x100000000");
	EXPECT(2, "", "spp ctl: bad LEN 'x'", "ctl", "/nope/s", "protect-range",
	       "0x1000+x");
	EXPECT(2, "", "spp ctl: policy 'maybe': expected deny, log or stop",
	       "ctl", "/nope/s", "policy", "maybe");
	EXPECT(2, "", "spp ctl: 'later': expected commit or drop", "ctl",
	       "/nope/s", "resolve", "0", "later");
	EXPECT(2, "", "spp ctl: stats: expected stats", "ctl", "/nope/s",
	       "stats", "extra");
	EXPECT(2, "", "spp ctl: '0xffffffff81000000': expected GVA/LEN", "ctl",
	       "/nope/s", "protect-gva", "0xffffffff81000000");
	EXPECT(2, "", "spp ctl: LEN in '0x1000/0' must be at least 1", "ctl",
	       "/nope/s", "protect-gva", "0x1000/0");
	EXPECT(2, "", "spp ctl: 'a b': expected NAME[+OFF][/LEN]", "ctl",
	       "/nope/s", "protect-symbol", "a b");
	EXPECT(2, "", "spp ctl: '/nope/System.map': No such file", "ctl",
	       "/nope/s", "set-symbols", "/nope/System.map");
	EXPECT(2, "", "spp ctl: ID '0': expected a rule's id", "ctl", "/nope/s",
	       "unprotect-rule", "0");
	EXPECT(2, "",
	       "spp qemu: --protect-symbol 'modprobe_path': needs "
	       "--system-map FILE",
	       "qemu", "--protect-symbol", "modprobe_path", "--", "true");
	EXPECT(2, "",
	       "spp qemu: --protect-gva '0x8000000000000000/8': not a "
	       "canonical virtual range",
	       "qemu", "--protect-gva", "0x8000000000000000/8", "--", "true");
	EXPECT(2, "", "spp qemu: --system-map '/dev/null': no symbol in it",
	       "qemu", "--system-map", "/dev/null", "--protect-symbol", "x",
	       "--", "true");
	EXPECT(10, "", "spp ctl: /nope/s: No such file or directory", "ctl",
	       "/nope/s", "stats");
	EXPECT(0, "usage: spp ctl SOCKET COMMAND", "", "ctl", "--help");
	EXPECT(0, "resolve VCPU commit|drop", "", "help", "ctl");
}

/*
 * The options of run come from one table (SPP_CLI_RUN_OPTIONS): its
 * --help lists each, and spp(1)'s OPTIONS OF RUN has a paragraph for each
 * of them and for no other (but -h/--help). So a new row cannot go
 * undocumented.
 */
static void test_options_documented(void **state)
{
	char *man = spp_slurp(man_page), *sect, *end, *p, name[64], want[160];
	struct spp_out o;
	size_t i, nopts = 0;

	(void)state;
	assert_non_null(man);
	sect = strstr(man, "\n.SH OPTIONS OF RUN\n");
	assert_non_null(sect);
	end = strstr(sect + 1, "\n.SH ");
	assert_non_null(end);
	*end = 0;
	spp_exec(spp, (const char *const[]){ "run", "--help", NULL }, &o);
	assert_int_equal(o.status, 0);
	for (i = 0; i < spp_lines(o.out); i++) {
		char line[256], *sp;

		assert_true(spp_line(o.out, i, line, sizeof(line)));
		if (strncmp(line, "  --", 4))
			continue;
		sp = strchr(line + 4, ' ');
		snprintf(name, sizeof(name), "%.*s",
			 (int)(sp ? sp - line - 4 : (long)strlen(line + 4)),
			 line + 4);
		man_option(name, want, sizeof(want));
		p = sect;
		while ((p = strstr(p, want)) != NULL &&
		       !(p[-1] == ' ' &&
			 (p[strlen(want)] == ' ' || p[strlen(want)] == '\n')))
			p++;
		if (!p)
			fail_msg("spp(1) OPTIONS OF RUN lacks --%s", name);
		nopts++;
	}
	assert_int_equal(nopts, 15);
	/* and the other way: every option spp(1) documents is in --help */
	for (p = sect; (p = strstr(p, "\n.B")) != NULL; p++) {
		char *opt = strstr(p, " \\-\\-"), *q;
		size_t n = 0;

		if (!opt || strchr(p + 1, '\n') < opt)
			continue;
		for (q = opt + 5; *q && *q != ' ' && *q != '\n'; q++)
			if (*q != '\\' && n + 1 < sizeof(name))
				name[n++] = *q;
		name[n] = 0;
		if (!strcmp(name, "help"))
			continue;
		snprintf(want, sizeof(want), "  --%s ", name);
		if (!strstr(o.out, want))
			fail_msg("spp run --help lacks --%s of spp(1)", name);
	}
	spp_out_free(&o);
	free(man);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed_numbers),
		cmocka_unit_test(test_unaligned_gpa),
		cmocka_unit_test(test_map_beyond_32_bits),
		cmocka_unit_test(test_overlapping_rules),
		cmocka_unit_test(test_out_of_ram_rules),
		cmocka_unit_test(test_bad_guest),
		cmocka_unit_test(test_bad_command_line),
		cmocka_unit_test(test_bad_policy_file),
		cmocka_unit_test(test_nothing_run),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_without_kvm),
		cmocka_unit_test(test_number_syntax),
		cmocka_unit_test(test_help_everywhere),
		cmocka_unit_test(test_policy_file_words),
		cmocka_unit_test(test_events_kept_without_kvm),
		cmocka_unit_test(test_options_documented),
		cmocka_unit_test(test_ctl_bad_input),
	};

	if (argc < 4) {
		fprintf(stderr, "usage: %s SPP GUEST.elf SPP.1\n", argv[0]);
		return 2;
	}
	spp = argv[1];
	guest = argv[2];
	man_page = argv[3];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
