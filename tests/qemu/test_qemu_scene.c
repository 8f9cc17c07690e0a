// SPDX-License-Identifier: MIT
/*
 * test_qemu_scene.c - the kernel-structure scene (docs/introspection.md,
 * "The scene"): a nested Debian kernel under spp qemu and the shim, on
 * real QEMU and KVM, its two best-known write targets protected by name.
 *
 *   spp qemu --control S --protect-symbol modprobe_path/96
 *            --protect-symbol core_pattern/96 -- QEMU ... -kernel VMLINUZ
 *
 * Each string's first sub-page (LEN: the rest of the sub-page its first
 * byte is in, 96 for both on Debian's 6.1): no path can change without
 * its first byte. The whole symbols would reach sub-pages the kernel
 * writes itself (modprobe_path's last one holds trace events registered
 * at boot and kmod_concurrent_max): denying those stops the boot.
 *
 * No --system-map: spp takes the symbols from the image QEMU boots
 * (-kernel: kallsyms decoded from the bzImage), not from the guest. The
 * rules wait for the kernel (pending), then apply: query-rules names the
 * pages and maps. The guest boots with KASLR: the slide spp finds
 * (MSR_LSTAR against entry_SYSCALL_64) moves the image's addresses onto
 * the guest's own /proc/kallsyms, and the rules sit at the moved
 * addresses (a slide of 0, 1 in ~500 boots, proves less but is no
 * failure; the slide is printed). Policy deny: as root the guest
 * writes /tmp/x into /proc/sys/kernel/modprobe and core_pattern; both
 * read back unchanged, the denied events name the kernel function that
 * stored (insn_sym). The rest of those pages keeps changing: a workload
 * of forks, pipes and files on a tmpfs gives the same digest as without
 * the rules (the same boot, after unprotect-rule), and the guard reports
 * allowed stores to the protected pages meanwhile. Policy log: the writes
 * land and are reported as logged.
 *
 * A hung boot is retried by the harness; a guest that stalls later (a
 * console command without an answer) restarts the case once, counted in
 * the retry log as well.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <spp/ksym.h>

#include "qemu_ctl.h"
#include "qemu_test.h"

#define KERNEL_MIN 0xffffffff80000000ULL
#define STALLED 1 /* a console command got no answer: restart the case */
#define ROUNDS "4"

static const char *spp_bin;

/* Functions a sysctl string store may be made by: proc_dostring() and
 * its helper, core_pattern's wrapper, or a copy routine they call. */
static const char *const store_fns[] = {
	"_proc_do_string",
	"proc_dostring",
	"proc_dostring_coredump",
	"memcpy",
	"__memcpy",
	"strscpy",
	"_copy_from_user",
	"copy_from_user",
	"rep_movs_alternative",
	"copy_user_generic_string",
	"copy_user_enhanced_fast_string",
	"strncpy_from_user",
};

struct target {
	const char *sym, *sysctl;
	uint64_t addr, size; /* from the kernel image */
	uint64_t len; /* protected: the rest of the first sub-page */
	char spec[64]; /* NAME/LEN */
	uint64_t gpa[4]; /* the rule's pages */
	size_t npages;
	char orig[256];
};

/* A console command with a timeout; STALLED when none came. */
static int gcmd(struct qemu_test *q, const char *cmd, char *reply, size_t size,
		int timeout_ms)
{
	const char *l;
	int r;

	assert_int_equal(qemu_test_send(q, cmd), 0);
	r = qemu_test_expect(q, "^(OK|ERR)", timeout_ms, &l);
	if (r == -ETIMEDOUT) {
		printf("# guest: no answer to '%s' in %d s\n", cmd,
		       timeout_ms / 1000);
		return STALLED;
	}
	assert_int_equal(r, 0);
	if (reply)
		snprintf(reply, size, "%s", l);
	if (strncmp(l, "OK", 2))
		fail_msg("guest: '%s' -> %s", cmd, l);
	return 0;
}

#define G(q, cmd, reply, ms)                                \
	do {                                                \
		if (gcmd(q, cmd, reply, sizeof(reply), ms)) \
			return STALLED;                     \
	} while (0)

/* The events of @c for @ms: the SPP_VIOLATION data objects appended to
 * @viol (may be NULL), the count of SPP_ALLOWED ones on @t's pages. */
static unsigned int drain(struct ctl *c, int ms, json_t *viol,
			  const struct target *t, size_t nt)
{
	double end = now_ms() + ms;
	unsigned int allowed = 0;

	while (now_ms() < end) {
		char *s = ctl_line(c, 200);
		const char *name;
		json_t *v, *d;
		size_t i, k;

		if (!s)
			continue;
		v = json_loads(s, 0, NULL);
		free(s);
		name = json_string_value(json_object_get(v, "event")) ?: "";
		d = json_object_get(v, "data");
		if (!strcmp(name, "SPP_VIOLATION") && viol)
			json_array_append(viol, d);
		if (!strcmp(name, "SPP_ALLOWED"))
			for (i = 0; i < nt; i++)
				for (k = 0; k < t[i].npages; k++)
					allowed += (hexstr(json_object_get(
							    d, "gpa")) &
						    ~0xfffULL) == t[i].gpa[k];
		json_decref(v);
	}
	return allowed;
}

/* The events of one sysctl write: at least one, all with @verdict, on
 * @t's pages, from a kernel function that stores strings. */
static void check_write_events(json_t *viol, const struct target *t,
			       const char *verdict)
{
	json_t *ev;
	size_t i, k;

	printf("# %s: %zu event(s)\n", t->sym, json_array_size(viol));
	assert_true(json_array_size(viol) >= 1);
	json_array_foreach(viol, i, ev)
	{
		const char *sym =
			json_string_value(json_object_get(ev, "insn_sym"));
		uint64_t gpa = hexstr(json_object_get(ev, "gpa"));
		bool known = false, on_page = false;

		if (i < 3)
			printf("#   %s\n", json_dumps(ev, JSON_COMPACT));
		assert_string_equal(
			json_string_value(json_object_get(ev, "verdict")),
			verdict);
		assert_true(hexstr(json_object_get(ev, "rip")) >= KERNEL_MIN);
		for (k = 0; k < t->npages; k++)
			on_page |= (gpa & ~0xfffULL) == t->gpa[k];
		assert_true(on_page);
		if (json_is_null(json_object_get(ev, "insn_rip"))) {
			assert_null(sym);
			continue;
		}
		assert_non_null(sym);
		printf("#   insn_sym %s\n", sym);
		for (k = 0; k < sizeof(store_fns) / sizeof(store_fns[0]); k++) {
			size_t n = strlen(store_fns[k]);

			known |= !strncmp(sym, store_fns[k], n) &&
				 sym[n] == '+';
		}
		if (!known)
			fail_msg("%s: stored by %s, not a sysctl string store",
				 t->sym, sym);
	}
}

/* Write @text into @t's sysctl; the events that follow into a new array. */
static int sysctl_write(struct qemu_test *q, struct ctl *c,
			const struct target *t, const char *text, json_t **viol)
{
	char cmd[300], reply[300];

	snprintf(cmd, sizeof(cmd), "put %s %s", t->sysctl, text);
	G(q, cmd, reply, 30000);
	*viol = json_array();
	drain(c, 2000, *viol, NULL, 0);
	return 0;
}

static int scene_once(struct qemu_test *q, const char *sock,
		      const struct spp_ksym_table *image, struct target *t)
{
	char reply[512], cmd[300], digest[2][64], path[512], line[512];
	unsigned int allowed;
	json_int_t stores;
	double end;
	struct ctl *c;
	json_t *r, *rule, *viol;
	size_t i, k;
	bool said_symbols = false, said_applied = false;
	uint64_t slide;
	FILE *f;

	c = ctl_open(sock);
	json_decref(ctl_ok(c, "{\"execute\":\"events\",\"arguments\":"
			      "{\"enable\":true}}"));
	/* the rules: given before start, applied once the kernel is up */
	end = now_ms() + 120000;
	for (;;) {
		bool all = true;

		r = ctl_ok(c, "{\"execute\":\"query-rules\"}");
		json_array_foreach(json_object_get(r, "rules"), i, rule) all &=
			!strcmp(json_string_value(json_object_get(rule, "state")) ?:
					"",
				"applied");
		if (all && json_array_size(json_object_get(r, "rules")) == 2)
			break;
		json_decref(r);
		if (now_ms() > end)
			fail_msg("the rules did not apply within 120 s");
		usleep(500000);
	}
	printf("# query-rules: %s\n", json_dumps(r, JSON_COMPACT));
	assert_int_equal(json_integer_value(json_object_get(r, "symbols")),
			 spp_ksym_count(image));
	/* KASLR: the slide from the guest's MSR_LSTAR; checked against the
	 * guest's own /proc/kallsyms below */
	slide = hexstr(json_object_get(r, "slide"));
	printf("# KASLR slide found by spp: 0x%" PRIx64 "\n", slide);
	assert_int_equal(slide & 0xfff, 0);
	for (i = 0; i < 2; i++) {
		json_t *pages, *p;

		rule = json_array_get(json_object_get(r, "rules"), i);
		assert_string_equal(
			json_string_value(json_object_get(rule, "symbol")),
			t[i].spec);
		assert_int_equal(hexstr(json_object_get(rule, "gva")),
				 t[i].addr + slide);
		assert_int_equal(
			json_integer_value(json_object_get(rule, "len")),
			t[i].len);
		pages = json_object_get(rule, "pages");
		assert_true(json_array_size(pages) >= 1 &&
			    json_array_size(pages) <= 4);
		t[i].npages = 0;
		json_array_foreach(pages, k, p)
		{
			uint64_t gpa = hexstr(json_object_get(p, "gpa"));
			uint32_t map = (uint32_t)json_integer_value(
				json_object_get(p, "map"));

			uint64_t gva = hexstr(json_object_get(p, "gva"));
			uint64_t base = gva & ~0xfffULL;
			uint64_t last = t[i].addr + slide + t[i].len - 1;
			uint32_t bits = 0;
			unsigned int b;

			if (last > base + 0xfff)
				last = base + 0xfff;
			for (b = (gva - base) / 128; b <= (last - base) / 128;
			     b++)
				bits |= 1u << b;
			/* the sub-pages the symbol touches on this page */
			assert_int_equal(gpa & 0xfff, 0);
			assert_int_equal(json_integer_value(
						 json_object_get(p, "denied")),
					 bits);
			assert_int_equal(map & bits, 0);
			assert_int_equal(ctl_map(c, gpa), map);
			t[i].gpa[t[i].npages++] = gpa;
		}
	}
	json_decref(r);
	/* spp qemu said where the symbols came from and what applied */
	snprintf(path, sizeof(path), "%s/qemu.log", qemu_test_dir(q));
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		said_symbols |= strstr(line, "kernel symbols from -kernel") !=
				NULL;
		said_applied |= strstr(line, "--protect-symbol") &&
				strstr(line, ": applied: ");
	}
	fclose(f);
	assert_true(said_symbols);
	assert_true(said_applied);

	/* the image's addresses, moved by the slide, are the running
	 * kernel's */
	for (i = 0; i < 2; i++) {
		unsigned long long a;

		snprintf(cmd, sizeof(cmd), "ksym %s", t[i].sym);
		G(q, cmd, reply, 30000);
		assert_int_equal(sscanf(reply, "OK addr=0x%llx", &a), 1);
		assert_int_equal(a, t[i].addr + slide);
		snprintf(cmd, sizeof(cmd), "get %s", t[i].sysctl);
		G(q, cmd, t[i].orig, 30000);
		printf("# %s: %s\n", t[i].sysctl, t[i].orig);
	}

	/* policy deny: root's writes dropped, reported with the function */
	for (i = 0; i < 2; i++) {
		if (sysctl_write(q, c, &t[i], "/tmp/x", &viol))
			return STALLED;
		check_write_events(viol, &t[i], "denied");
		json_decref(viol);
		snprintf(cmd, sizeof(cmd), "get %s", t[i].sysctl);
		G(q, cmd, reply, 30000);
		assert_string_equal(reply, t[i].orig);
	}

	/* the rest of the pages keeps changing: a workload, allowed stores */
	json_decref(ctl_ok(c, "{\"execute\":\"events\",\"arguments\":"
			      "{\"enable\":true,\"allowed\":true}}"));
	r = ctl_ok(c, "{\"execute\":\"query-stats\"}");
	stores = json_integer_value(json_object_get(r, "allowed"));
	json_decref(r);
	end = now_ms();
	G(q, "run " ROUNDS, reply, 300000);
	printf("# protected: %s (%.0f s)\n", reply, (now_ms() - end) / 1000);
	assert_int_equal(sscanf(reply, "OK run digest=%63s", digest[0]), 1);
	json_decref(ctl_ok(c, "{\"execute\":\"events\",\"arguments\":"
			      "{\"enable\":true,\"allowed\":false}}"));
	allowed = drain(c, 2000, NULL, t, 2);
	printf("# allowed stores to the protected pages: %u\n", allowed);
	r = ctl_ok(c, "{\"execute\":\"query-stats\"}");
	printf("# stats: %s\n", json_dumps(r, JSON_COMPACT));
	stores = json_integer_value(json_object_get(r, "allowed")) - stores;
	json_decref(r);
	printf("# allowed stores to trapped pages during the workload: "
	       "%" JSON_INTEGER_FORMAT "\n",
	       stores);

	/* policy log: the writes land, reported as logged */
	json_decref(ctl_ok(c, "{\"execute\":\"set-policy\",\"arguments\":"
			      "{\"policy\":\"log\"}}"));
	for (i = 0; i < 2; i++) {
		if (sysctl_write(q, c, &t[i], "/tmp/x", &viol))
			return STALLED;
		check_write_events(viol, &t[i], "logged");
		json_decref(viol);
		snprintf(cmd, sizeof(cmd), "get %s", t[i].sysctl);
		G(q, cmd, reply, 30000);
		assert_string_equal(reply, "OK text=/tmp/x");
		/* back as it was */
		snprintf(cmd, sizeof(cmd), "put %s %s", t[i].sysctl,
			 t[i].orig + strlen("OK text="));
		G(q, cmd, reply, 30000);
		drain(c, 1500, NULL, NULL, 0); /* that write's events */
	}

	/* the same workload without the rules: the same output */
	json_decref(ctl_ok(c, "{\"execute\":\"unprotect-rule\",\"arguments\":"
			      "{\"id\":1}}"));
	json_decref(ctl_ok(c, "{\"execute\":\"unprotect-rule\",\"arguments\":"
			      "{\"id\":2}}"));
	G(q, "run " ROUNDS, reply, 300000);
	printf("# unprotected: %s\n", reply);
	assert_int_equal(sscanf(reply, "OK run digest=%63s", digest[1]), 1);
	assert_string_equal(digest[0], digest[1]);
	/* the guard let the kernel's other stores to those pages through */
	assert_true(stores > 0);

	ctl_close(c);
	G(q, "quit", reply, 30000);
	return 0;
}

static void test_scene(void **state)
{
	char dir[64] = "/tmp/spp-scene.XXXXXX", sock[128];
	struct target t[2] = {
		{ .sym = "modprobe_path",
		  .sysctl = "/proc/sys/kernel/modprobe" },
		{ .sym = "core_pattern",
		  .sysctl = "/proc/sys/kernel/core_pattern" },
	};
	const char *prefix[] = { spp_bin,
				 "qemu",
				 "--control",
				 sock,
				 "--protect-symbol",
				 t[0].spec,
				 "--protect-symbol",
				 t[1].spec,
				 "--",
				 NULL };
	const struct qemu_test_opts o = { .prog = "scene",
					  .kaslr = true,
					  .marker = "^SPP-SCENE ready",
					  .prefix = prefix,
					  .name = "spp-qemu-scene" };
	struct spp_ksym_error ke = { 0, NULL };
	struct spp_ksym_table *image = NULL;
	int attempt, ret = STALLED, status = -1;
	size_t i;

	(void)state;
	/* the symbols: the kernel image's own tables */
	assert_int_equal(spp_ksym_load_image(qemu_test_kernel(), &image, &ke),
			 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(spp_ksym_lookup(image, t[i].sym, &t[i].addr,
						 &t[i].size),
				 0);
		printf("# %s: 0x%" PRIx64 " +%" PRIu64 " (from %s)\n", t[i].sym,
		       t[i].addr, t[i].size, qemu_test_kernel());
		assert_true(t[i].addr >= KERNEL_MIN && t[i].size > 0);
		t[i].len = 128 - (t[i].addr & 127);
		snprintf(t[i].spec, sizeof(t[i].spec), "%s/%" PRIu64, t[i].sym,
			 t[i].len);
	}
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/control", dir);
	for (attempt = 0; attempt < 2 && ret == STALLED; attempt++) {
		struct qemu_test *q = qemu_test_start(&o);

		assert_non_null(q);
		printf("# attempt %d (hung boots retried: %d)\n", attempt + 1,
		       qemu_test_retries(q));
		ret = scene_once(q, sock, image, t);
		if (ret == STALLED) {
			qemu_test_hung(q, "the guest stalled in the scene");
			qemu_test_stop(q);
			unlink(sock);
			continue;
		}
		assert_int_equal(qemu_test_wait_exit(q, 30000, &status), 0);
		assert_true(WIFEXITED(status));
		qemu_test_stop(q);
	}
	assert_int_equal(ret, 0);
	spp_ksym_destroy(image);
	unlink(sock);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scene),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s SPP\n", argv[0]);
		return 2;
	}
	spp_bin = argv[1];
	if (qemu_test_unavailable("qemu/scene", NULL))
		return 0;
	return cmocka_run_group_tests_name("qemu_scene", tests, NULL, NULL);
}
