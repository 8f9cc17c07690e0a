// SPDX-License-Identifier: MIT
/*
 * test_qemu_ksym.c - kernel structures of a nested Linux guest protected
 * by guest-virtual address through spp qemu and the control socket
 * (docs/introspection.md), on real QEMU and KVM:
 *
 *   spp qemu --control S --protect-gva 0xffffffff00000000/8 (a kernel
 *   address nothing maps at first: the rule waits and says so);
 *   modprobe_path's address from the guest's own /proc/kallsyms
 *   (nokaslr; Debian ships only a stub System.map - once a table from
 *   the kernel image exists, this is where set-symbols of it and
 *   protect-symbol modprobe_path go); protect-gva of it through the
 *   socket: applied, pages and maps named; "echo /tmp/x >
 *   /proc/sys/kernel/modprobe" in the guest is dropped, the file reads
 *   back unchanged, the event's rip (and insn_rip when known) lies in
 *   the kernel; then by symbol: a table of the guest's own symbols
 *   (entry_SYSCALL_64, modprobe_path, the storing function) through
 *   set-symbols, protect-symbol modprobe_path/64 (slide 0 from
 *   MSR_LSTAR), the write dropped again and the event's insn_sym naming
 *   the function; a guest reset (QMP system_reset): the rule gives its
 *   page back (SPP_RULE_PENDING, the map all writable again), waits for
 *   the kernel that boots next and takes again (SPP_RULE_APPLIED, the
 *   same page: nokaslr), and the write is dropped once more.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "qemu_ctl.h"
#include "qemu_test.h"

#define KERNEL_MIN 0xffffffff80000000ULL

static const char *spp_bin;

/* The next event @name of @c (events enabled) within @ms: from those a
 * request's reply came after (c->events) first, then from the socket. */
static json_t *next_event(struct ctl *c, const char *name, int ms)
{
	double end = now_ms() + ms;

	for (size_t i = 0; i < json_array_size(c->events); i++) {
		json_t *v = json_array_get(c->events, i);

		if (!strcmp(json_string_value(json_object_get(v, "event")) ?:
									     "",
			    name)) {
			json_t *d = json_incref(json_object_get(v, "data"));

			json_array_remove(c->events, i);
			return d;
		}
	}
	while (now_ms() < end) {
		char *s = ctl_line(c, 1000);
		json_t *v;

		if (!s)
			continue;
		v = json_loads(s, 0, NULL);
		free(s);
		if (v &&
		    !strcmp(json_string_value(json_object_get(v, "event")) ?:
									     "",
			    name)) {
			json_t *d = json_incref(json_object_get(v, "data"));

			json_decref(v);
			return d;
		}
		json_decref(v);
	}
	fail_msg("no %s within %d s", name, ms / 1000);
	return NULL;
}

/* The next SPP_VIOLATION of @c (events enabled), within 30 s. */
static json_t *next_violation(struct ctl *c)
{
	return next_event(c, "SPP_VIOLATION", 30000);
}

/* The guest's root writes @value into /proc/sys/kernel/modprobe: the
 * violation it caused (the events of the writes before, which requests
 * since took in, are not this write's). */
static json_t *write_modprobe(struct qemu_test *q, struct ctl *c,
			      const char *value)
{
	char cmd[96];

	json_array_clear(c->events);
	snprintf(cmd, sizeof(cmd), "putfile /proc/sys/kernel/modprobe %s",
		 value);
	assert_int_equal(qemu_test_cmd(q, cmd, NULL, 0), 0);
	return next_violation(c);
}

static void test_protect_kernel_gva(void **state)
{
	char dir[64] = "/tmp/spp-ksymtest.XXXXXX", sock[128], mapf[128],
	     reply[512], orig[512], cmd[64], name[200];
	const char *prefix[] = { spp_bin,
				 "qemu",
				 "--control",
				 sock,
				 "--protect-gva",
				 "0xffffffff00000000/8",
				 "--",
				 NULL };
	const struct qemu_test_opts o = { .prog = "wptest",
					  .marker = "^SPP-WPTEST ",
					  .prefix = prefix,
					  .reboot = true,
					  .name = "spp-qemu-ksym" };
	unsigned long long addr, a, next, rip, irip, entry, gpa0;
	struct qemu_test *q;
	struct ctl *c;
	json_t *r, *ev, *pages;
	FILE *f;
	int status = -1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/control", dir);
	snprintf(mapf, sizeof(mapf), "%s/near.map", dir);
	q = qemu_test_start(&o);
	assert_non_null(q);
	c = ctl_open(sock);
	/* the rule given at start: nothing maps it, it waits and says why */
	r = ctl_ok(c, "{\"execute\":\"query-rules\"}");
	printf("# at start: %s\n", json_dumps(r, JSON_COMPACT));
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(r, "rules"), 0),
			"state")),
		"pending");
	json_decref(r);

	assert_int_equal(qemu_test_cmd(q, "ksym modprobe_path", reply,
				       sizeof(reply)),
			 0);
	assert_int_equal(sscanf(reply, "OK addr=0x%llx", &addr), 1);
	assert_true(addr >= KERNEL_MIN);
	assert_int_equal(qemu_test_cmd(q, "getfile /proc/sys/kernel/modprobe",
				       reply, sizeof(reply)),
			 0);
	assert_int_equal(strncmp(reply, "OK text=/", 9), 0);
	snprintf(orig, sizeof(orig), "%s", reply);
	json_decref(ctl_ok(c, "{\"execute\":\"events\",\"arguments\":"
			      "{\"enable\":true}}"));
	r = ctl_ok(c,
		   "{\"execute\":\"protect-gva\",\"arguments\":{\"gva\":"
		   "\"0x%llx\",\"len\":64}}",
		   addr);
	printf("# protect-gva: %s\n", json_dumps(r, JSON_COMPACT));
	assert_string_equal(json_string_value(json_object_get(r, "state")),
			    "applied");
	pages = json_object_get(r, "pages");
	assert_true(json_array_size(pages) >= 1);
	assert_int_equal(ctl_map(c, hexstr(json_object_get(
					    json_array_get(pages, 0), "gpa"))),
			 (uint32_t)json_integer_value(json_object_get(
				 json_array_get(pages, 0), "map")));
	json_decref(r);

	/* the guest's root writes the sysctl: dropped */
	ev = write_modprobe(q, c, "/tmp/x");
	assert_int_equal(qemu_test_cmd(q, "getfile /proc/sys/kernel/modprobe",
				       reply, sizeof(reply)),
			 0);
	assert_string_equal(reply, orig);
	printf("# event: %s\n", json_dumps(ev, JSON_COMPACT));
	assert_string_equal(json_string_value(json_object_get(ev, "verdict")),
			    "denied");
	rip = hexstr(json_object_get(ev, "rip"));
	assert_true(rip >= KERNEL_MIN);
	irip = json_is_null(json_object_get(ev, "insn_rip")) ?
		       0 :
		       hexstr(json_object_get(ev, "insn_rip"));
	assert_true(!irip || irip >= KERNEL_MIN);
	assert_null(json_object_get(ev, "insn_sym")); /* no table yet */
	json_decref(ev);

	/* the rule goes: the sub-page is writable again */
	json_decref(ctl_ok(c, "{\"execute\":\"unprotect-rule\",\"arguments\":"
			      "{\"id\":2}}"));

	/* by symbol: a table of the guest's own symbols (entry_SYSCALL_64
	 * for the slide from MSR_LSTAR - 0 here, nokaslr -, modprobe_path,
	 * and the function that stored, from ksymat) */
	snprintf(cmd, sizeof(cmd), "ksymat 0x%llx", irip ? irip : rip);
	assert_int_equal(qemu_test_cmd(q, cmd, reply, sizeof(reply)), 0);
	assert_int_equal(sscanf(reply, "OK name=%199s addr=0x%llx next=0x%llx",
				name, &a, &next),
			 3);
	assert_int_equal(qemu_test_cmd(q, "ksym entry_SYSCALL_64", reply,
				       sizeof(reply)),
			 0);
	assert_int_equal(sscanf(reply, "OK addr=0x%llx", &entry), 1);
	f = fopen(mapf, "w");
	assert_non_null(f);
	fprintf(f,
		"%llx T %s\n%llx T zz_next\n%llx T entry_SYSCALL_64\n"
		"%llx D modprobe_path\n%llx D zz_after\n",
		a, name, next, entry, addr, addr + 256);
	fclose(f);
	json_decref(ctl_ok(c,
			   "{\"execute\":\"set-symbols\",\"arguments\":"
			   "{\"path\":\"%s\"}}",
			   mapf));
	r = ctl_ok(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
		      "{\"symbol\":\"modprobe_path/64\"}}");
	printf("# protect-symbol: %s\n", json_dumps(r, JSON_COMPACT));
	assert_string_equal(json_string_value(json_object_get(r, "state")),
			    "applied");
	assert_int_equal(hexstr(json_object_get(r, "gva")), addr);
	gpa0 = hexstr(json_object_get(
		json_array_get(json_object_get(r, "pages"), 0), "gpa"));
	json_decref(r);
	r = ctl_ok(c, "{\"execute\":\"query-rules\"}");
	assert_string_equal(json_string_value(json_object_get(r, "slide")),
			    "0x0");
	json_decref(r);
	ev = write_modprobe(q, c, "/tmp/y");
	printf("# event: %s\n", json_dumps(ev, JSON_COMPACT));
	if (json_is_null(json_object_get(ev, "insn_rip"))) {
		assert_true(json_is_null(json_object_get(ev, "insn_sym")));
	} else {
		const char *sym =
			json_string_value(json_object_get(ev, "insn_sym"));

		assert_non_null(sym);
		assert_int_equal(strncmp(sym, name, strlen(name)), 0);
	}
	json_decref(ev);
	assert_int_equal(qemu_test_cmd(q, "getfile /proc/sys/kernel/modprobe",
				       reply, sizeof(reply)),
			 0);
	assert_string_equal(reply, orig);

	/* a guest reset: the rule gives the page back and waits for the
	 * next kernel (policy log meanwhile: the booting kernel may store
	 * next to modprobe_path, and a dropped store could hang the boot) */
	json_decref(ctl_ok(c, "{\"execute\":\"set-policy\",\"arguments\":"
			      "{\"policy\":\"log\"}}"));
	assert_int_equal(qemu_test_qmp(q, "system_reset", NULL, 0), 0);
	ev = next_event(c, "SPP_RULE_PENDING", 30000);
	printf("# after system_reset: %s\n", json_dumps(ev, JSON_COMPACT));
	assert_int_equal(json_integer_value(json_object_get(ev, "id")), 3);
	assert_string_equal(json_string_value(json_object_get(ev, "state")),
			    "pending");
	assert_non_null(
		strstr(json_string_value(json_object_get(ev, "why")), "reset"));
	json_decref(ev);
	/* (nothing else protects that page) */
	assert_int_equal(ctl_map(c, gpa0), 0xffffffffu);
	/* a reboot that hangs is a hung boot: counted, reset once more */
	for (int attempt = 0;; attempt++) {
		if (!qemu_test_expect(q, "^SPP-WPTEST ", 60000, NULL))
			break;
		assert_int_equal(attempt, 0); /* hung twice */
		qemu_test_hung(q, "no SPP-WPTEST within 60 s of system_reset");
		assert_int_equal(qemu_test_qmp(q, "system_reset", NULL, 0), 0);
	}
	ev = next_event(c, "SPP_RULE_APPLIED", 30000);
	printf("# the kernel booted again: %s\n", json_dumps(ev, JSON_COMPACT));
	assert_int_equal(json_integer_value(json_object_get(ev, "id")), 3);
	assert_int_equal(hexstr(json_object_get(ev, "gva")), addr);
	assert_int_equal(
		hexstr(json_object_get(
			json_array_get(json_object_get(ev, "pages"), 0),
			"gpa")),
		gpa0); /* nokaslr: where it was */
	json_decref(ev);
	assert_int_not_equal(ctl_map(c, gpa0), 0xffffffffu);
	json_decref(ctl_ok(c, "{\"execute\":\"set-policy\",\"arguments\":"
			      "{\"policy\":\"deny\"}}"));
	ev = write_modprobe(q, c, "/tmp/z");
	assert_string_equal(json_string_value(json_object_get(ev, "verdict")),
			    "denied");
	json_decref(ev);
	assert_int_equal(qemu_test_cmd(q, "getfile /proc/sys/kernel/modprobe",
				       reply, sizeof(reply)),
			 0);
	assert_string_equal(reply, orig);

	/* before quit, as test_qemu_shim does: the page back to the kernel */
	json_decref(ctl_ok(c, "{\"execute\":\"unprotect-rule\",\"arguments\":"
			      "{\"id\":3}}"));
	ctl_close(c);
	assert_int_equal(qemu_test_cmd(q, "quit", NULL, 0), 0);
	assert_int_equal(qemu_test_wait_exit(q, 30000, &status), 0);
	assert_true(WIFEXITED(status));
	qemu_test_stop(q);
	unlink(mapf);
	unlink(sock);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protect_kernel_gva),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s SPP\n", argv[0]);
		return 2;
	}
	spp_bin = argv[1];
	if (qemu_test_unavailable("qemu/ksym", NULL))
		return 0;
	return cmocka_run_group_tests_name("qemu_ksym", tests, NULL, NULL);
}
