// SPDX-License-Identifier: MIT
/*
 * test_tools_json.c - the event lines of "spp run --events" (json.c,
 * libspp's spp_event_json()) without KVM, and that both manuals name every field they carry:
 * docs/events.md has a table row per field, spp(1) lists them under
 * --events.
 *
 * Arguments: docs/spp.1, docs/events.md.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <spp/event_json.h>
#include <spp/ksym.h>

#include "spp_cli.h"
#include "spp_exec.h"

static const char *man_page, *events_md;

static void event_line(const struct spp_event *ev, char *buf, size_t size)
{
	int n = spp_cli_event_json(buf, size, ev, 7, 0.5);

	assert_true(n > 0 && (size_t)n < size);
	assert_int_equal(buf[n - 1], '\n');
}

static const struct spp_event store = {
	.vcpu = 1,
	.gpa = 0x10000290,
	.len = 2,
	.data = { 0xab, 0x01 },
	.subpage_gpa = 0x10000280,
	.subpage = 5,
	.rip = 0x400128,
	.fragments = 1,
	.verdict = SPP_VERDICT_DENIED,
};

/* Issue 15, item 6: a store KVM completed has no known instruction RIP:
 * null, never a made-up "0x0". */
static void test_insn_rip_unknown(void **state)
{
	char line[1024];

	(void)state;
	event_line(&store, line, sizeof(line));
	assert_string_equal(
		line,
		"{\"type\":\"write\",\"seq\":7,\"time\":0.500000,\"vcpu\":1,"
		"\"gpa\":\"0x10000290\",\"len\":2,\"data\":\"ab01\","
		"\"old\":null,\"page\":\"0x10000000\",\"subpage\":5,"
		"\"subpage_gpa\":\"0x10000280\",\"rip\":\"0x400128\","
		"\"insn_rip\":null,\"cpl\":null,\"cr3\":null,"
		"\"fragments\":1,\"verdict\":\"denied\","
		"\"protected_bytes\":null}\n");
}

static void test_insn_rip_known(void **state)
{
	struct spp_event ev = store;
	char line[1024];

	(void)state;
	ev.insn_rip = 0x400124;
	ev.fragments = 0;
	ev.verdict = SPP_VERDICT_LOGGED;
	event_line(&ev, line, sizeof(line));
	assert_non_null(strstr(line, ",\"rip\":\"0x400128\",\"insn_rip\":"
				     "\"0x400124\",\"cpl\":null,"));
	assert_non_null(strstr(line, "\"verdict\":\"logged\","));
	/* judged per byte (spp_guard_protect_bytes()): which were protected */
	ev.known = SPP_EVENT_BYTES;
	ev.protected_bytes = 0x2;
	event_line(&ev, line, sizeof(line));
	assert_non_null(strstr(line, ",\"protected_bytes\":\"0x2\"}"));
	ev.protected_bytes = 0;
	event_line(&ev, line, sizeof(line));
	assert_non_null(strstr(line, ",\"protected_bytes\":\"0x0\"}"));
}

/* spp_event_json_ksym(): insn_sym right after insn_rip, the slide
 * applied, null when unknown or in no symbol; no table: no field. */
static void test_insn_sym(void **state)
{
	static const char map[] = "ffffffff81000000 T _text\n"
				  "ffffffff81000100 T entry_SYSCALL_64\n"
				  "ffffffff81000200 T the_end\n";
	struct spp_ksym_table *t;
	struct spp_event ev = store;
	char obj[1024], plain[1024];

	(void)state;
	assert_int_equal(spp_ksym_parse(map, sizeof(map) - 1, &t, NULL), 0);
	assert_int_equal(spp_ksym_set_slide(t, 0x200000), 0);
	ev.insn_rip = 0xffffffff81200104ULL;
	assert_true(spp_event_json_ksym(&ev, 7, 0.5, t, obj, sizeof(obj)) > 0);
	assert_non_null(strstr(obj, ",\"insn_rip\":\"0xffffffff81200104\","
				    "\"insn_sym\":\"entry_SYSCALL_64+0x4\","
				    "\"cpl\":"));
	ev.insn_rip = 0x400124; /* in no symbol */
	spp_event_json_ksym(&ev, 7, 0.5, t, obj, sizeof(obj));
	assert_non_null(strstr(obj, "\"insn_sym\":null,"));
	ev.insn_rip = 0; /* unknown */
	spp_event_json_ksym(&ev, 7, 0.5, t, obj, sizeof(obj));
	assert_non_null(strstr(obj, "\"insn_rip\":null,\"insn_sym\":null,"));
	/* without a table: exactly spp_event_json() */
	spp_event_json_ksym(&ev, 7, 0.5, NULL, obj, sizeof(obj));
	spp_event_json(&ev, 7, 0.5, plain, sizeof(plain));
	assert_string_equal(obj, plain);
	assert_null(strstr(obj, "insn_sym"));
	spp_ksym_destroy(t);
}

/* libspp's spp_event_json(): the object without '\n', snprintf's rules
 * into a buffer too small (and for NULL, 0), -EINVAL for bad arguments. */
static void test_event_json_lib(void **state)
{
	char line[1024], obj[1024], small[16];
	int n, k;

	(void)state;
	event_line(&store, line, sizeof(line));
	n = spp_event_json(&store, 7, 0.5, obj, sizeof(obj));
	assert_int_equal(n, strlen(line) - 1);
	assert_memory_equal(obj, line, (size_t)n);
	assert_int_equal(obj[n], 0);
	assert_int_equal(spp_event_json(&store, 7, 0.5, NULL, 0), n);
	k = spp_event_json(&store, 7, 0.5, small, sizeof(small));
	assert_int_equal(k, n);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, line, sizeof(small) - 1);
	assert_int_equal(spp_event_json(NULL, 7, 0.5, obj, sizeof(obj)),
			 -EINVAL);
	assert_int_equal(spp_event_json(&store, 7, 0.5, NULL, 5), -EINVAL);
	assert_string_equal(spp_verdict_name(SPP_VERDICT_STOPPED), "stopped");
	assert_string_equal(spp_verdict_name((enum spp_verdict)99), "?");
}

/* The writer of json.c (the --stats summary uses it into a FILE): commas,
 * nesting, escapes, and snprintf's rules into a buffer too small. */
static void test_json_writer(void **state)
{
	static const char want[] =
		"{\"s\":\"a\\\"b\\\\c\\u0001\",\"n\":18446744073709551615,"
		"\"x\":\"0xfff\",\"a\":[{\"k\":null},{}],\"e\":[],"
		"\"r\":0.500000}\n";
	char buf[256], small[10];
	struct spp_cli_json j;
	int pass;

	(void)state;
	for (pass = 0; pass < 2; pass++) {
		if (pass)
			spp_cli_json_buf(&j, small, sizeof(small));
		else
			spp_cli_json_buf(&j, buf, sizeof(buf));
		spp_cli_json_open(&j, NULL, '{');
		spp_cli_json_str(&j, "s", "a\"b\\c\x01");
		spp_cli_json_u64(&j, "n", UINT64_MAX);
		spp_cli_json_hex(&j, "x", 0xfff);
		spp_cli_json_open(&j, "a", '[');
		spp_cli_json_open(&j, NULL, '{');
		spp_cli_json_raw(&j, "k", "null");
		spp_cli_json_close(&j, '}');
		spp_cli_json_open(&j, NULL, '{');
		spp_cli_json_close(&j, '}');
		spp_cli_json_close(&j, ']');
		spp_cli_json_open(&j, "e", '[');
		spp_cli_json_close(&j, ']');
		spp_cli_json_raw(&j, "r", "%.6f", 0.5);
		spp_cli_json_close(&j, '}');
		assert_int_equal(spp_cli_json_end(&j), strlen(want));
	}
	assert_string_equal(buf, want);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, want, sizeof(small) - 1);
}

/* Whether [@s, @end) has @word (@len bytes) as a whole word. */
static bool has_word(const char *s, const char *end, const char *word,
		     size_t len)
{
	const char *p;

	for (p = s; (p = strstr(p, word)) != NULL && p + len <= end; p++) {
		char after = p[len];

		if ((p == s || p[-1] == ' ' || p[-1] == '\n') &&
		    (after == ',' || after == ' ' || after == '\n'))
			return true;
	}
	return false;
}

/* Every field of an event line is documented in both manuals. */
static void test_fields_documented(void **state)
{
	char line[1024], want[64], *man = spp_slurp(man_page),
				   *md = spp_slurp(events_md);
	const char *p = line, *fields, *fields_end;
	size_t nfields = 0;

	(void)state;
	event_line(&store, line, sizeof(line));
	/* the field list of --events in spp(1) */
	fields = strstr(man, "Fields: ");
	assert_non_null(fields);
	fields_end = strstr(fields, "(docs/events.md");
	assert_non_null(fields_end);
	while ((p = strstr(p, "\"")) != NULL) {
		const char *end = strchr(p + 1, '"');
		size_t len = (size_t)(end - p - 1);

		assert_non_null(end);
		if (end[1] != ':') { /* a value */
			p = end + 1;
			continue;
		}
		snprintf(want, sizeof(want), "| `%.*s` |", (int)len, p + 1);
		if (!strstr(md, want))
			fail_msg("docs/events.md lacks the row %s", want);
		snprintf(want, sizeof(want), "%.*s", (int)len, p + 1);
		if (!has_word(fields, fields_end, want, len))
			fail_msg("spp(1) --events lacks the field %.*s",
				 (int)len, p + 1);
		nfields++;
		p = end + 1;
	}
	assert_int_equal(nfields, 18);
	/* fields are stable from 0.1.0 on: none is "added in" a later one */
	assert_null(strstr(md, "added in 0."));
	free(man);
	free(md);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insn_rip_unknown),
		cmocka_unit_test(test_insn_rip_known),
		cmocka_unit_test(test_insn_sym),
		cmocka_unit_test(test_event_json_lib),
		cmocka_unit_test(test_fields_documented),
		cmocka_unit_test(test_json_writer),
	};

	if (argc < 3) {
		fprintf(stderr, "usage: %s SPP.1 EVENTS.md\n", argv[0]);
		return 2;
	}
	man_page = argv[1];
	events_md = argv[2];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
