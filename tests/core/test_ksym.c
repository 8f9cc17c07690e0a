// SPDX-License-Identifier: MIT
/*
 * test_ksym.c - System.map and /proc/kallsyms tables (spp/ksym.h) on small
 * synthetic maps: name -> address and size, address -> name+0xoff,
 * NAME[+OFF][/LEN], the KASLR slide, malformed lines by line number,
 * duplicate names, empty maps, Debian's stub System.map and hidden
 * kallsyms addresses; then the real /proc/kallsyms and /boot/System.map*
 * of this machine where there are some.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spp/ksym.h>

static const char sysmap[] = "0000000000000000 D fixed_percpu_data\n"
			     "0000000000001000 A __abs_marker\n"
			     "ffffffff81000000 T _stext\n"
			     "ffffffff81000000 T _text\n"
			     "ffffffff81000000 t srso_local_alias\n"
			     "ffffffff81000100 t cleanup\n"
			     "ffffffff81000140 T entry_SYSCALL_64\n"
			     "ffffffff81000400 t cleanup\n"
			     "ffffffff81000480 T proc_dostring\n"
			     "ffffffff81000500 T do_sys_open\n"
			     "ffffffff81000500 t do_sys_open\n"
			     "ffffffff81000600 t helper\n"
			     "ffffffff81000700 T helper\n"
			     "ffffffff81000800 t helper\n"
			     "ffffffff82000000 D modprobe_path\n"
			     "ffffffff82000100 D core_pattern\n"
			     "ffffffff82000180 D idt_table\n"
			     "ffffffff82001180 B _end\n";

static struct spp_ksym_table *parse(const char *text)
{
	struct spp_ksym_table *t = NULL;
	struct spp_ksym_error err = { 0, NULL };

	assert_int_equal(spp_ksym_parse(text, strlen(text), &t, &err), 0);
	assert_non_null(t);
	assert_null(err.what); /* filled on failure only */
	return t;
}

/* @text fails with @ret at @line. */
static void parse_fails(const char *text, int ret, unsigned int line)
{
	struct spp_ksym_table *t = (void *)0x1;
	struct spp_ksym_error err = { 99, NULL };

	assert_int_equal(spp_ksym_parse(text, strlen(text), &t, &err), ret);
	assert_ptr_equal(t, (void *)0x1); /* *out untouched */
	assert_int_equal(err.line, line);
	assert_non_null(err.what);
}

static void test_lookup_and_size(void **state)
{
	struct spp_ksym_table *t = parse(sysmap);
	uint64_t a = 0, sz = 0;

	(void)state;
	assert_int_equal(spp_ksym_count(t), 18);
	assert_int_equal(spp_ksym_lookup(t, "entry_SYSCALL_64", &a, &sz), 0);
	assert_int_equal(a, 0xffffffff81000140ULL);
	assert_int_equal(sz, 0x400 - 0x140); /* to the next symbol */
	assert_int_equal(spp_ksym_lookup(t, "modprobe_path", &a, &sz), 0);
	assert_int_equal(a, 0xffffffff82000000ULL);
	assert_int_equal(sz, 0x100);
	assert_int_equal(spp_ksym_lookup(t, "core_pattern", &a, &sz), 0);
	assert_int_equal(sz, 0x80);
	/* aliases: each gets the distance to the next higher address */
	assert_int_equal(spp_ksym_lookup(t, "_text", &a, &sz), 0);
	assert_int_equal(sz, 0x100);
	assert_int_equal(spp_ksym_lookup(t, "_stext", &a, &sz), 0);
	assert_int_equal(sz, 0x100);
	/* the highest symbol: size unknown */
	assert_int_equal(spp_ksym_lookup(t, "_end", &a, &sz), 0);
	assert_int_equal(sz, 0);
	/* absolute: no location, no size */
	assert_int_equal(spp_ksym_lookup(t, "__abs_marker", &a, &sz), 0);
	assert_int_equal(a, 0x1000);
	assert_int_equal(sz, 0);
	/* @size may be NULL */
	assert_int_equal(spp_ksym_lookup(t, "idt_table", &a, NULL), 0);
	assert_int_equal(a, 0xffffffff82000180ULL);
	spp_ksym_destroy(t);
}

static void test_duplicate_names(void **state)
{
	struct spp_ksym_table *t = parse(sysmap);
	uint64_t a = 7, sz = 7;

	(void)state;
	/* two locals at different addresses: ambiguous, nothing written */
	assert_int_equal(spp_ksym_lookup(t, "cleanup", &a, &sz), -ENOTUNIQ);
	assert_int_equal(a, 7);
	assert_int_equal(sz, 7);
	/* one global among locals: the global, as a link would pick */
	assert_int_equal(spp_ksym_lookup(t, "helper", &a, NULL), 0);
	assert_int_equal(a, 0xffffffff81000700ULL);
	/* global and local at one address: that address */
	assert_int_equal(spp_ksym_lookup(t, "do_sys_open", &a, NULL), 0);
	assert_int_equal(a, 0xffffffff81000500ULL);
	assert_int_equal(spp_ksym_lookup(t, "no_such", &a, NULL), -ENOENT);
	spp_ksym_destroy(t);
	/* two globals of one name at two addresses (two modules) */
	t = parse("ffffffffc0001000 T init\t[a]\n"
		  "ffffffffc0002000 T init\t[b]\n");
	assert_int_equal(spp_ksym_lookup(t, "init", &a, NULL), -ENOTUNIQ);
	spp_ksym_destroy(t);
}

static void test_resolve(void **state)
{
	struct spp_ksym_table *t = parse(sysmap);
	const char *name = NULL;
	uint64_t off = 1;
	char buf[64];

	(void)state;
	assert_int_equal(
		spp_ksym_resolve(t, 0xffffffff81000150ULL, &name, &off), 0);
	assert_string_equal(name, "entry_SYSCALL_64");
	assert_int_equal(off, 0x10);
	assert_int_equal(spp_ksym_format(t, 0xffffffff81000150ULL, buf,
					 sizeof(buf)),
			 (int)strlen("entry_SYSCALL_64+0x10"));
	assert_string_equal(buf, "entry_SYSCALL_64+0x10");
	assert_int_equal(spp_ksym_format(t, 0xffffffff82000100ULL, buf,
					 sizeof(buf)),
			 12);
	assert_string_equal(buf, "core_pattern");
	/* aliases: a global first, the first of the file among globals */
	assert_int_equal(spp_ksym_format(t, 0xffffffff81000004ULL, buf,
					 sizeof(buf)),
			 10);
	assert_string_equal(buf, "_stext+0x4");
	assert_int_equal(spp_ksym_format(t, 0xffffffff81000500ULL, buf,
					 sizeof(buf)),
			 11);
	assert_string_equal(buf, "do_sys_open");
	/* the last byte before the next symbol */
	assert_int_equal(spp_ksym_format(t, 0xffffffff820000ffULL, buf,
					 sizeof(buf)),
			 18);
	assert_string_equal(buf, "modprobe_path+0xff");
	/* the absolute symbol never answers, and the per-cpu symbol below
	 * it has no size: its next neighbour is the image, GiBs away */
	assert_int_equal(spp_ksym_resolve(t, 0x1000, &name, &off), -ENOENT);
	assert_int_equal(spp_ksym_resolve(t, 0, &name, &off), 0);
	assert_string_equal(name, "fixed_percpu_data");
	{
		uint64_t a, sz;

		assert_int_equal(
			spp_ksym_lookup(t, "fixed_percpu_data", &a, &sz), 0);
		assert_int_equal(sz, 0);
	}
	/* past the end of the highest symbol; exactly on it is fine */
	assert_int_equal(spp_ksym_resolve(t, 0xffffffff82001181ULL, &name,
					  &off),
			 -ENOENT);
	assert_int_equal(spp_ksym_resolve(t, 0xffffffff82001180ULL, NULL, NULL),
			 0);
	/* too small a buffer */
	assert_int_equal(spp_ksym_format(t, 0xffffffff81000150ULL, buf, 8),
			 -ENOSPC);
	assert_int_equal(spp_ksym_format(t, 0xffffffff81000150ULL, NULL, 8),
			 -EINVAL);
	spp_ksym_destroy(t);
	/* below the first symbol */
	t = parse("ffffffff81000000 T _text\nffffffff81001000 T _etext\n");
	assert_int_equal(spp_ksym_resolve(t, 0xffffffff80ffffffULL, &name,
					  &off),
			 -ENOENT);
	spp_ksym_destroy(t);
}

static void test_kallsyms_format(void **state)
{
	struct spp_ksym_table *t;
	const char *name;
	uint64_t a, sz, off;

	(void)state;
	t = parse("ffffffff9a000000 T _text\r\n"
		  "ffffffff9a000140 T entry_SYSCALL_64\r\n"
		  "ffffffff9a200000 D _end\n"
		  "\n"
		  "ffffffffc0a01000 t ext4_fill_super\t[ext4]\n"
		  "ffffffffc0a01800 t ext4_put_super\t[ext4]\n"
		  "                 U some_undefined\n"
		  "ffffffffc0b00000 T kvm_init\t[kvm]");
	assert_int_equal(spp_ksym_count(t), 6);
	assert_int_equal(spp_ksym_lookup(t, "ext4_fill_super", &a, &sz), 0);
	assert_int_equal(a, 0xffffffffc0a01000ULL);
	assert_int_equal(sz, 0x800);
	assert_int_equal(
		spp_ksym_resolve(t, 0xffffffffc0a01010ULL, &name, &off), 0);
	assert_string_equal(name, "ext4_fill_super");
	assert_int_equal(off, 0x10);
	/* the last line without a newline is read */
	assert_int_equal(spp_ksym_lookup(t, "kvm_init", &a, NULL), 0);
	spp_ksym_destroy(t);
}

static void test_malformed_lines(void **state)
{
	(void)state;
	parse_fails("ffffffff81000000 T _text\nxyz T foo\n", -EINVAL, 2);
	parse_fails("ffffffff81000000 T _text\n"
		    "\n"
		    "1ffffffff81000000 T too_wide\n",
		    -EINVAL, 3);
	parse_fails("ffffffff81000000 TT _text\n", -EINVAL, 1);
	parse_fails("ffffffff81000000 1 _text\n", -EINVAL, 1);
	parse_fails("ffffffff81000000 T\n", -EINVAL, 1);
	parse_fails("ffffffff81000000\n", -EINVAL, 1);
	parse_fails("ffffffff81000000 T a b\n", -EINVAL, 1);
	parse_fails("ffffffff81000000 T a [m] x\n", -EINVAL, 1);
	parse_fails("ffffffff81000000 T a []\n", -EINVAL, 1);
	parse_fails("ffffffff81000000 T _text\n0x T a\n", -EINVAL, 2);
	/* a NUL byte: not text */
	{
		static const char nul[] = "ffffffff81000000 T a\0b\n";
		struct spp_ksym_table *t = NULL;
		struct spp_ksym_error err;

		assert_int_equal(spp_ksym_parse(nul, sizeof(nul) - 1, &t, &err),
				 -EINVAL);
		assert_null(t);
		assert_int_equal(err.line, 0);
	}
}

static void test_empty_and_stub(void **state)
{
	struct spp_ksym_table *t = NULL;
	struct spp_ksym_error err;

	(void)state;
	parse_fails("", -ENODATA, 0);
	parse_fails("\n\n  \n", -ENODATA, 0);
	parse_fails("                 U only_undefined\n", -ENODATA, 0);
	/* Debian's linux-image packages ship this one line */
	parse_fails("ffffffffffffffff B The real System.map is in the "
		    "linux-image-6.1.0-37-amd64-dbg package\n",
		    -ENODATA, 1);
	{
		static const char stub[] =
			"ffffffffffffffff B The real System.map is in the "
			"linux-image-<version>-dbg package";

		assert_int_equal(spp_ksym_parse(stub, sizeof(stub) - 1, &t,
						&err),
				 -ENODATA);
		assert_null(t);
	}
	assert_non_null(strstr(err.what, "dbg"));
	/* kallsyms read without the right to see addresses */
	parse_fails("0000000000000000 T _text\n"
		    "0000000000000000 T _stext\n"
		    "0000000000000000 t ext4_fill_super\t[ext4]\n",
		    -ENODATA, 0);
}

static void test_parse_range(void **state)
{
	struct spp_ksym_table *t = parse(sysmap);
	uint64_t a = 5, l = 5;

	(void)state;
	assert_int_equal(spp_ksym_parse_range(t, "modprobe_path", &a, &l), 0);
	assert_int_equal(a, 0xffffffff82000000ULL);
	assert_int_equal(l, 0x100);
	assert_int_equal(spp_ksym_parse_range(t, "modprobe_path+0x80", &a, &l),
			 0);
	assert_int_equal(a, 0xffffffff82000080ULL);
	assert_int_equal(l, 0x80); /* the rest of the symbol */
	assert_int_equal(spp_ksym_parse_range(t, "core_pattern/8", &a, &l), 0);
	assert_int_equal(a, 0xffffffff82000100ULL);
	assert_int_equal(l, 8);
	assert_int_equal(spp_ksym_parse_range(t, "idt_table+16/0x200", &a, &l),
			 0);
	assert_int_equal(a, 0xffffffff82000190ULL);
	assert_int_equal(l, 0x200); /* LEN may pass the symbol's end */
	/* no LEN past the symbol, or a symbol without a size */
	assert_int_equal(spp_ksym_parse_range(t, "core_pattern+128", &a, &l),
			 -ERANGE);
	assert_int_equal(spp_ksym_parse_range(t, "_end", &a, &l), -ENODATA);
	assert_int_equal(spp_ksym_parse_range(t, "_end/64", &a, &l), 0);
	assert_int_equal(spp_ksym_parse_range(t, "cleanup/8", &a, &l),
			 -ENOTUNIQ);
	assert_int_equal(spp_ksym_parse_range(t, "nope/8", &a, &l), -ENOENT);
	a = l = 5;
	{
		static const char *const bad[] = {
			"",
			"+8",
			"/8",
			"core_pattern+",
			"core_pattern/",
			"core_pattern/0",
			"core_pattern+1+2",
			"core_pattern/8/8",
			"core_pattern/8+1",
			"core_pattern+0x",
			"core_pattern+12a",
			"core_pattern/-1",
			"core_pattern+99999999999999999999",
			"_end+0xffffffffffffffff/2",
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(spp_ksym_parse_range(t, bad[i], &a,
							      &l),
					 -EINVAL);
		}
	}
	assert_int_equal(a, 5);
	assert_int_equal(l, 5);
	spp_ksym_destroy(t);
}

static void test_slide(void **state)
{
	struct spp_ksym_table *t = parse(sysmap);
	const uint64_t lstar = 0xffffffff9a400140ULL; /* as read at run time */
	const uint64_t slide = 0x19400000ULL;
	uint64_t s = 3, a, l;
	const char *name;
	char buf[64];

	(void)state;
	assert_int_equal(spp_ksym_slide(t), 0);
	assert_int_equal(spp_ksym_find_slide(t, "entry_SYSCALL_64", lstar, &s),
			 0);
	assert_int_equal(s, slide);
	/* the IDTR base against idt_table says the same */
	assert_int_equal(spp_ksym_find_slide(t, "idt_table",
					     0xffffffff82000180ULL + slide, &s),
			 0);
	assert_int_equal(s, slide);
	/* a runtime address at another page offset: not this kernel */
	s = 3;
	assert_int_equal(spp_ksym_find_slide(t, "entry_SYSCALL_64",
					     lstar + 0x40, &s),
			 -EINVAL);
	assert_int_equal(s, 3);
	assert_int_equal(spp_ksym_find_slide(t, "cleanup", lstar, &s),
			 -ENOTUNIQ);
	assert_int_equal(spp_ksym_find_slide(t, "nope", lstar, &s), -ENOENT);
	assert_int_equal(spp_ksym_set_slide(t, slide), 0);
	/* every answer moves with it */
	assert_int_equal(spp_ksym_lookup(t, "entry_SYSCALL_64", &a, NULL), 0);
	assert_int_equal(a, lstar);
	assert_int_equal(spp_ksym_parse_range(t, "modprobe_path/8", &a, &l), 0);
	assert_int_equal(a, 0xffffffff82000000ULL + slide);
	assert_int_equal(spp_ksym_resolve(t, lstar + 8, &name, NULL), 0);
	assert_string_equal(name, "entry_SYSCALL_64");
	assert_int_equal(spp_ksym_format(t, 0xffffffff82000108ULL + slide, buf,
					 sizeof(buf)),
			 16);
	assert_string_equal(buf, "core_pattern+0x8");
	/* the link-time address is not the running kernel's any more */
	assert_int_equal(spp_ksym_resolve(t, 0xffffffff81000150ULL, &name,
					  NULL),
			 -ENOENT);
	/* finding the slide again does not depend on the one set */
	assert_int_equal(spp_ksym_find_slide(t, "entry_SYSCALL_64", lstar, &s),
			 0);
	assert_int_equal(s, slide);
	/* a misaligned slide is refused and the old one stays */
	assert_int_equal(spp_ksym_set_slide(t, slide + 0x10), -EINVAL);
	assert_int_equal(spp_ksym_slide(t), slide);
	/* a slide downwards wraps as it should */
	assert_int_equal(spp_ksym_set_slide(t, (uint64_t)-0x1000000), 0);
	assert_int_equal(spp_ksym_lookup(t, "_text", &a, NULL), 0);
	assert_int_equal(a, 0xffffffff80000000ULL);
	spp_ksym_destroy(t);
}

static void test_bad_input(void **state)
{
	struct spp_ksym_table *t = parse(sysmap);
	uint64_t a, l;
	const char *name;

	(void)state;
	assert_int_equal(spp_ksym_parse(NULL, 4, &t, NULL), -EINVAL);
	assert_int_equal(spp_ksym_parse(sysmap, 4, NULL, NULL), -EINVAL);
	assert_int_equal(spp_ksym_load(NULL, &t, NULL), -EINVAL);
	assert_int_equal(spp_ksym_load("/nonexistent/System.map", &t, NULL),
			 -ENOENT);
	assert_int_equal(spp_ksym_lookup(NULL, "_text", &a, NULL), -EINVAL);
	assert_int_equal(spp_ksym_lookup(t, NULL, &a, NULL), -EINVAL);
	assert_int_equal(spp_ksym_lookup(t, "_text", NULL, NULL), -EINVAL);
	assert_int_equal(spp_ksym_resolve(NULL, 0, &name, NULL), -EINVAL);
	assert_int_equal(spp_ksym_parse_range(NULL, "_text/1", &a, &l),
			 -EINVAL);
	assert_int_equal(spp_ksym_parse_range(t, NULL, &a, &l), -EINVAL);
	assert_int_equal(spp_ksym_find_slide(NULL, "_text", 0, &a), -EINVAL);
	assert_int_equal(spp_ksym_set_slide(NULL, 0), -EINVAL);
	assert_int_equal(spp_ksym_slide(NULL), 0);
	assert_int_equal(spp_ksym_count(NULL), 0);
	spp_ksym_destroy(NULL);
	spp_ksym_destroy(t);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/spp_ksym_XXXXXX";
	struct spp_ksym_table *t = NULL;
	struct spp_ksym_error err;
	uint64_t a;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, sysmap, strlen(sysmap)),
			 (ssize_t)strlen(sysmap));
	assert_int_equal(write(fd, "zzz\n", 4), 4);
	close(fd);
	assert_int_equal(spp_ksym_load(path, &t, &err), -EINVAL);
	assert_int_equal(err.line, 19);
	assert_int_equal(truncate(path, (off_t)strlen(sysmap)), 0);
	assert_int_equal(spp_ksym_load(path, &t, &err), 0);
	assert_int_equal(spp_ksym_lookup(t, "core_pattern", &a, NULL), 0);
	assert_int_equal(a, 0xffffffff82000100ULL);
	spp_ksym_destroy(t);
	unlink(path);
}

/* This machine's own kernel, where it lets us read it. */
static void test_real_kallsyms(void **state)
{
	struct spp_ksym_table *t = NULL;
	struct spp_ksym_error err;
	uint64_t a, slide;
	const char *name;
	int ret;

	(void)state;
	if (access("/proc/kallsyms", R_OK)) {
		print_message("# no /proc/kallsyms here\n");
		return; /* (cmocka's skip() counts as a failure in TAP) */
	}
	ret = spp_ksym_load("/proc/kallsyms", &t, &err);
	if (ret == -ENODATA) {
		print_message("# /proc/kallsyms: %s\n", err.what);
		return; /* hidden addresses: said so, the right answer */
	}
	assert_int_equal(ret, 0);
	print_message("# /proc/kallsyms: %zu symbols\n", spp_ksym_count(t));
	assert_true(spp_ksym_count(t) > 1000);
	/* runtime addresses already: the slide against itself is 0 */
	assert_int_equal(spp_ksym_lookup(t, "_text", &a, NULL), 0);
	assert_int_equal(spp_ksym_find_slide(t, "_text", a, &slide), 0);
	assert_int_equal(slide, 0);
	assert_int_equal(spp_ksym_resolve(t, a, &name, NULL), 0);
	spp_ksym_destroy(t);
}

static void test_real_system_map(void **state)
{
	glob_t g;
	size_t i;

	(void)state;
	if (glob("/boot/System.map*", 0, NULL, &g)) {
		print_message("# no /boot/System.map* here\n");
		return;
	}
	for (i = 0; i < g.gl_pathc; i++) {
		struct spp_ksym_table *t = NULL;
		struct spp_ksym_error err;
		char head[128] = "";
		FILE *f = fopen(g.gl_pathv[i], "r");
		int ret;

		if (!f)
			continue;
		if (!fgets(head, sizeof(head), f))
			head[0] = '\0';
		fclose(f);
		ret = spp_ksym_load(g.gl_pathv[i], &t, &err);
		if (strstr(head, "The real System.map is in")) {
			/* Debian's stub */
			assert_int_equal(ret, -ENODATA);
			assert_int_equal(err.line, 1);
			print_message("# %s: %s\n", g.gl_pathv[i], err.what);
		} else {
			assert_int_equal(ret, 0);
			print_message("# %s: %zu symbols\n", g.gl_pathv[i],
				      spp_ksym_count(t));
			spp_ksym_destroy(t);
		}
	}
	globfree(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_and_size),
		cmocka_unit_test(test_duplicate_names),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_kallsyms_format),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_empty_and_stub),
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_slide),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_real_kallsyms),
		cmocka_unit_test(test_real_system_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
