// SPDX-License-Identifier: MIT
/*
 * test_tools_cli.c - the spp command without KVM: every class of bad
 * input is one line on stderr naming the offending token, exit status 2
 * and nothing run; --help, --version, check; and what demo, info and run
 * do on a machine without /dev/kvm (skipped where there is one).
 *
 * Arguments: the spp binary, then a valid guest ELF (guest_hello).
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

static const char *spp, *guest;

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

static bool have_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
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
	};

	if (argc < 3) {
		fprintf(stderr, "usage: %s SPP GUEST.elf\n", argv[0]);
		return 2;
	}
	spp = argv[1];
	guest = argv[2];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
