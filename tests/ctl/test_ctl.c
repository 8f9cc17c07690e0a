// SPDX-License-Identifier: MIT
/*
 * test_ctl.c - the control socket (spp/ctl.h, docs/control.md) on a real
 * guard of a real KVM VM (RAM mapped, no vCPU): the greeting, the
 * negotiation, every command's effect on the guard's maps and counters,
 * malformed requests of every kind (an error reply, nothing changed, the
 * connection still usable), the socket's mode and directory checks, the
 * client limit, protections outliving their client, events fanned out to
 * subscribers (and dropped, counted and reported for one that does not
 * read), the embedder's ops, and the SHUTDOWN event.
 *
 * Without /dev/kvm it skips as a whole (tests/run runs the kvm suite in
 * a VM that has one).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <cmocka.h>

#include <spp/ctl.h>
#include <spp/guard.h>
#include <spp/spp.h>
#include <spp/vector.h>

#include "ctl_lines.h"
#include "kvm_test.h"

#define RAM_GPA 0x100000ULL
#define RAM_SIZE 0x200000ULL /* gfns 0x100 .. 0x2ff */
#define GFN 0x180ULL
#define VMM_SLOT 0
#define LINE_MAX_TEST (2u << 20)

struct fx {
	int kvm, vm;
	void *ram;
	struct spp_guard *g;
	struct spp_ctl *c;
	char dir[64], path[96];
	/* what the ops saw and answer */
	bool refuse;
	int resolved_vcpu, resolve_ret;
	bool started;
};

static struct fx *fx_new(const struct spp_ctl_ops *ops)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	spp_kt_guarded_vm(&f->kvm, &f->vm, &f->ram, &f->g, VMM_SLOT, RAM_GPA,
			  RAM_SIZE);
	strcpy(f->dir, "/tmp/spp-test-ctl.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/control", f->dir);
	assert_int_equal(spp_ctl_create(&f->c, f->path, f->g, ops, f), 0);
	return f;
}

static int setup(void **state)
{
	*state = fx_new(NULL);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	spp_ctl_destroy(f->c);
	rmdir(f->dir);
	spp_kt_guarded_vm_free(f->kvm, f->vm, f->ram, f->g, RAM_SIZE);
	free(f);
	return 0;
}

/* ---- a client -------------------------------------------------------------- */

struct cl {
	int fd;
	struct spp_ctl_lines in;
};

static struct cl *cl_connect_raw(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct cl *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return c;
}

static void cl_close(struct cl *c)
{
	close(c->fd);
	spp_ctl_lines_free(&c->in);
	free(c);
}

/* The next line (malloc'ed, without '\n'), NULL at EOF or after @ms. */
static char *cl_line_ms(struct cl *c, int ms)
{
	return spp_ctl_line(&c->in, c->fd, ms);
}

static json_t *cl_json(struct cl *c)
{
	char *s = cl_line_ms(c, 10000);
	json_error_t e;
	json_t *v;

	if (!s)
		fail_msg("no line from the server");
	v = json_loads(s, 0, &e);
	if (!v)
		fail_msg("not JSON: %s", s);
	free(s);
	return v;
}

static void cl_send(struct cl *c, const char *s)
{
	size_t n = strlen(s);

	assert_int_equal(write(c->fd, s, n), (ssize_t)n);
	assert_int_equal(write(c->fd, "\n", 1), 1);
}

/* Send @s, return the reply (not an event). */
static json_t *cl_req(struct cl *c, const char *s)
{
	json_t *v;

	cl_send(c, s);
	for (;;) {
		v = cl_json(c);
		if (!json_object_get(v, "event"))
			return v;
		json_decref(v);
	}
}

/* A negotiated client. */
static struct cl *cl_connect(struct fx *f)
{
	struct cl *c = cl_connect_raw(f->path);
	json_t *v = cl_json(c);

	assert_non_null(json_object_get(v, "QMP"));
	json_decref(v);
	v = cl_req(c, "{\"execute\":\"qmp_capabilities\"}");
	assert_non_null(json_object_get(v, "return"));
	json_decref(v);
	return c;
}

/* The reply's "return", or fail naming the error. */
static json_t *ok(json_t *reply)
{
	json_t *r = json_object_get(reply, "return");

	if (!r)
		fail_msg("error reply: %s", json_dumps(reply, JSON_COMPACT));
	return r;
}

/* The reply must be an error of @cls whose desc contains @needle. */
static void assert_error(json_t *reply, const char *cls, const char *needle)
{
	json_t *e = json_object_get(reply, "error");
	const char *d;

	if (!e)
		fail_msg("expected an error containing '%s', got %s", needle,
			 json_dumps(reply, JSON_COMPACT));
	assert_string_equal(json_string_value(json_object_get(e, "class")),
			    cls);
	d = json_string_value(json_object_get(e, "desc"));
	assert_non_null(d);
	if (!strstr(d, needle))
		fail_msg("desc '%s' lacks '%s'", d, needle);
	json_decref(reply);
}

static uint32_t map_of(struct fx *f, uint64_t gfn)
{
	return spp_guard_lookup(f->g, gfn);
}

/* ---- tests --------------------------------------------------------------- */

static void test_greeting_and_negotiation(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect_raw(f->path);
	json_t *v = cl_json(c), *ver, *r;
	char want[64];

	ver = json_object_get(json_object_get(v, "QMP"), "version");
	assert_non_null(ver);
	assert_true(json_is_integer(
		json_object_get(json_object_get(ver, "qemu"), "major")));
	assert_true(json_is_integer(
		json_object_get(json_object_get(ver, "qemu"), "minor")));
	assert_true(json_is_integer(
		json_object_get(json_object_get(ver, "qemu"), "micro")));
	snprintf(want, sizeof(want), "spp %s", spp_version());
	assert_string_equal(json_string_value(json_object_get(ver, "package")),
			    want);
	assert_true(json_is_array(
		json_object_get(json_object_get(v, "QMP"), "capabilities")));
	json_decref(v);

	/* nothing before qmp_capabilities, not even a protection */
	assert_error(cl_req(c, "{\"execute\":\"protect\",\"arguments\":"
			       "{\"gpa\":1572864,\"map\":0}}"),
		     "CommandNotFound",
		     "Expecting capabilities negotiation with "
		     "'qmp_capabilities'");
	assert_int_equal(map_of(f, GFN), SPP_ACCESS_FULL);
	v = cl_req(c, "{\"execute\":\"qmp_capabilities\",\"id\":\"x1\"}");
	assert_true(json_is_object(ok(v)));
	assert_string_equal(json_string_value(json_object_get(v, "id")), "x1");
	json_decref(v);
	/* ids of any type come back */
	v = cl_req(c, "{\"execute\":\"query-version\",\"id\":[1,{\"a\":2}]}");
	r = ok(v);
	assert_non_null(json_object_get(r, "qemu"));
	{
		char *id = json_dumps(json_object_get(v, "id"), JSON_COMPACT);

		assert_string_equal(id, "[1,{\"a\":2}]");
		free(id);
	}
	json_decref(v);
	v = cl_req(c, "{\"execute\":\"query-commands\"}");
	r = ok(v);
	assert_true(json_array_size(r) >= 15);
	json_decref(v);
	/* an error echoes the id too */
	v = cl_req(c, "{\"execute\":\"nope\",\"id\":7}");
	assert_int_equal(json_integer_value(json_object_get(v, "id")), 7);
	assert_error(v, "CommandNotFound", "nope");
	cl_close(c);
}

static void test_access_commands(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect(f);
	json_t *v, *m;
	char req[256];

	/* set-access: KVM_SUBPAGES_SET_ACCESS, npages back */
	snprintf(req, sizeof(req),
		 "{\"execute\":\"set-access\",\"arguments\":{\"gfn\":%llu,"
		 "\"maps\":[0,4294967295,305419896]}}",
		 GFN);
	v = cl_req(c, req);
	assert_int_equal(json_integer_value(json_object_get(ok(v), "npages")),
			 3);
	json_decref(v);
	assert_int_equal(map_of(f, GFN), 0);
	assert_int_equal(map_of(f, GFN + 1), SPP_ACCESS_FULL);
	assert_int_equal(map_of(f, GFN + 2), 0x12345678);
	snprintf(req, sizeof(req),
		 "{\"execute\":\"get-access\",\"arguments\":{\"gfn\":%llu,"
		 "\"npages\":4}}",
		 GFN);
	v = cl_req(c, req);
	m = json_object_get(ok(v), "maps");
	assert_int_equal(json_array_size(m), 4);
	assert_int_equal(json_integer_value(json_array_get(m, 0)), 0);
	assert_int_equal(json_integer_value(json_array_get(m, 2)), 0x12345678);
	assert_int_equal(json_integer_value(json_array_get(m, 3)), 0xffffffff);
	json_decref(v);

	/* protect: one page */
	snprintf(req, sizeof(req),
		 "{\"execute\":\"protect\",\"arguments\":{\"gpa\":%llu,"
		 "\"map\":4294967039}}",
		 (GFN + 4) << 12);
	v = cl_req(c, req);
	assert_int_equal(json_integer_value(json_object_get(ok(v), "pages")),
			 1);
	json_decref(v);
	assert_int_equal(map_of(f, GFN + 4), 0xfffffeff);

	/* protect-range: rounded outward, ANDed in; across a page */
	snprintf(req, sizeof(req),
		 "{\"execute\":\"protect-range\",\"arguments\":{\"gpa\":%llu,"
		 "\"len\":16}}",
		 ((GFN + 4) << 12) + 0x290);
	v = cl_req(c, req);
	assert_int_equal(json_integer_value(json_object_get(ok(v), "pages")),
			 1);
	json_decref(v);
	assert_int_equal(map_of(f, GFN + 4), 0xfffffeff & ~(1u << 5));
	snprintf(req, sizeof(req),
		 "{\"execute\":\"protect-range\",\"arguments\":{\"gpa\":%llu,"
		 "\"len\":2}}",
		 ((GFN + 6) << 12) - 1);
	v = cl_req(c, req);
	assert_int_equal(json_integer_value(json_object_get(ok(v), "pages")),
			 2);
	json_decref(v);
	assert_int_equal(map_of(f, GFN + 5), 0x7fffffff);
	assert_int_equal(map_of(f, GFN + 6), 0xfffffffe);

	/* unprotect a sub-page range; then a whole page without len */
	snprintf(req, sizeof(req),
		 "{\"execute\":\"unprotect\",\"arguments\":{\"gpa\":%llu,"
		 "\"len\":1}}",
		 ((GFN + 4) << 12) + 0x2ff);
	v = cl_req(c, req);
	ok(v);
	json_decref(v);
	assert_int_equal(map_of(f, GFN + 4), 0xfffffeff);
	snprintf(req, sizeof(req),
		 "{\"execute\":\"unprotect\",\"arguments\":{\"gpa\":%llu}}",
		 ((GFN + 4) << 12) + 0x123);
	v = cl_req(c, req);
	assert_int_equal(json_integer_value(json_object_get(ok(v), "pages")),
			 1);
	json_decref(v);
	assert_int_equal(map_of(f, GFN + 4), SPP_ACCESS_FULL);

	/* policy */
	v = cl_req(c, "{\"execute\":\"set-policy\",\"arguments\":"
		      "{\"policy\":\"log\"}}");
	ok(v);
	json_decref(v);
	v = cl_req(c, "{\"execute\":\"query-policy\"}");
	assert_string_equal(json_string_value(json_object_get(ok(v), "policy")),
			    "log");
	json_decref(v);

	/* stats: every counter of the guard, and the ctl's */
	{
		static const char *const keys[] = {
			"exits",	  "stores",	    "allowed",
			"denied",	  "slot_changes",   "slots",
			"ro_slots",	  "trapped_pages",  "emulated",
			"unemulated",	  "string_batches", "string_elements",
			"rmw_redone",	  "rmw_unsure",	    "misdirected",
			"walk_writes",	  "fine_allowed",   "mmio_stores",
			"mmio_rmw",	  "clients",	    "events_sent",
			"events_dropped",
		};
		struct spp_guard_stats st;
		json_t *r;
		size_t i;

		v = cl_req(c, "{\"execute\":\"query-stats\"}");
		r = ok(v);
		spp_guard_stats(f->g, &st);
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!json_is_integer(json_object_get(r, keys[i])))
				fail_msg("query-stats lacks %s", keys[i]);
		assert_int_equal(json_object_size(r),
				 sizeof(keys) / sizeof(keys[0]));
		assert_int_equal(
			json_integer_value(json_object_get(r, "slot_changes")),
			st.slot_changes);
		assert_int_equal(
			json_integer_value(json_object_get(r, "trapped_pages")),
			st.trapped_pages);
		assert_int_equal(
			json_integer_value(json_object_get(r, "clients")), 1);
		json_decref(v);
	}
	cl_close(c);
}

/* Every malformed request: an error, nothing changed, still usable. */
/* protect-bytes / unprotect-bytes: byte masks (spp_guard_protect_bytes()) */
static void test_bytes_commands(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect(f);
	uint64_t bits[SPP_PAGE_SIZE / 64];
	char req[256];
	json_t *v;

	snprintf(req, sizeof(req),
		 "{\"execute\":\"protect-bytes\",\"arguments\":{\"gpa\":%llu,"
		 "\"len\":8}}",
		 (GFN << 12) + 0x2b0);
	v = cl_req(c, req);
	assert_int_equal(json_integer_value(json_object_get(ok(v), "pages")),
			 1);
	json_decref(v);
	assert_int_equal(map_of(f, GFN), ~(1u << 5));
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 8);
	assert_int_equal(bits[0x2b0 / 64], 0xffULL << (0x2b0 % 64));
	/* bad input: nothing changes */
	snprintf(req, sizeof(req),
		 "{\"execute\":\"protect-bytes\",\"arguments\":{\"gpa\":%llu,"
		 "\"len\":0}}",
		 GFN << 12);
	assert_error(cl_req(c, req), "GenericError", "len");
	snprintf(req, sizeof(req),
		 "{\"execute\":\"protect-bytes\",\"arguments\":{\"gpa\":%llu,"
		 "\"len\":8}}",
		 RAM_GPA + RAM_SIZE - 4);
	assert_error(cl_req(c, req), "GenericError", "not guest RAM");
	assert_int_equal(map_of(f, (RAM_GPA + RAM_SIZE) / 4096 - 1),
			 SPP_ACCESS_FULL);
	/* the counter of stores judged per byte is there */
	v = cl_req(c, "{\"execute\":\"query-stats\"}");
	assert_non_null(json_object_get(ok(v), "fine_allowed"));
	json_decref(v);
	/* unprotect-bytes: its last byte out, the sub-page is writable */
	snprintf(req, sizeof(req),
		 "{\"execute\":\"unprotect-bytes\",\"arguments\":"
		 "{\"gpa\":%llu,\"len\":128}}",
		 (GFN << 12) + 0x280);
	v = cl_req(c, req);
	ok(v);
	json_decref(v);
	assert_int_equal(map_of(f, GFN), SPP_ACCESS_FULL);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 0);
	cl_close(c);
}

static void test_malformed(void **state)
{
	static const struct {
		const char *req, *cls, *needle;
	} cases[] = {
		{ "{\"execute\":", "GenericError", "JSON parse error" },
		{ "not json", "GenericError", "JSON parse error" },
		{ "[1,2]", "GenericError", "must be a JSON object" },
		{ "{\"execute\":\"protect\",\"execute\":\"x\"}", "GenericError",
		  "JSON parse error" },
		{ "{\"arguments\":{}}", "GenericError", "'execute'" },
		{ "{\"execute\":3}", "GenericError", "'execute'" },
		{ "{\"execute\":\"query-stats\",\"bogus\":1}", "GenericError",
		  "unknown member 'bogus'" },
		{ "{\"execute\":\"frobnicate\"}", "CommandNotFound",
		  "frobnicate" },
		{ "{\"execute\":\"query-stats\",\"arguments\":[]}",
		  "GenericError", "'arguments' must be an object" },
		{ "{\"execute\":\"query-stats\",\"arguments\":{\"x\":1}}",
		  "GenericError", "unknown argument 'x'" },
		{ "{\"execute\":\"protect\",\"arguments\":{\"gpa\":1572864}}",
		  "GenericError", "missing argument 'map'" },
		{ "{\"execute\":\"protect\",\"arguments\":{\"gpa\":\"1572864\","
		  "\"map\":0}}",
		  "GenericError", "'gpa' must be an integer" },
		{ "{\"execute\":\"protect\",\"arguments\":{\"gpa\":1572864.0,"
		  "\"map\":0}}",
		  "GenericError", "'gpa' must be an integer" },
		{ "{\"execute\":\"protect\",\"arguments\":{\"gpa\":-4096,"
		  "\"map\":0}}",
		  "GenericError", "'gpa' must be an integer in" },
		{ "{\"execute\":\"protect\",\"arguments\":{\"gpa\":"
		  "4503599627370496,\"map\":0}}",
		  "GenericError", "'gpa' must be an integer in" },
		{ "{\"execute\":\"protect\",\"arguments\":{\"gpa\":"
		  "99999999999999999999999,\"map\":0}}",
		  "GenericError", "JSON parse error" },
		{ "{\"execute\":\"protect\",\"arguments\":{\"gpa\":1572864,"
		  "\"map\":4294967296}}",
		  "GenericError", "'map' must be an integer in" },
		{ "{\"execute\":\"protect\",\"arguments\":{\"gpa\":1572865,"
		  "\"map\":0}}",
		  "GenericError", "not 4 KiB aligned" },
		{ "{\"execute\":\"protect\",\"arguments\":{\"gpa\":"
		  "1099511627776,\"map\":0}}",
		  "GenericError", "not guest RAM" },
		{ "{\"execute\":\"set-access\",\"arguments\":{\"gfn\":384,"
		  "\"maps\":[]}}",
		  "GenericError", "1..512 elements" },
		{ "{\"execute\":\"set-access\",\"arguments\":{\"gfn\":384,"
		  "\"maps\":[0,\"x\"]}}",
		  "GenericError", "array of 32-bit integers" },
		{ "{\"execute\":\"set-access\",\"arguments\":{\"gfn\":384,"
		  "\"maps\":[0,-1]}}",
		  "GenericError", "array of 32-bit integers" },
		{ "{\"execute\":\"set-access\",\"arguments\":{\"gfn\":767,"
		  "\"maps\":[0,0]}}",
		  "GenericError", "not guest RAM" },
		{ "{\"execute\":\"get-access\",\"arguments\":{\"gfn\":384,"
		  "\"npages\":513}}",
		  "GenericError", "'npages' must be an integer in 1..512" },
		{ "{\"execute\":\"get-access\",\"arguments\":{\"gfn\":16,"
		  "\"npages\":1}}",
		  "GenericError", "not guest RAM" },
		{ "{\"execute\":\"protect-range\",\"arguments\":{\"gpa\":"
		  "3145600,\"len\":256}}",
		  "GenericError", "not guest RAM" },
		{ "{\"execute\":\"protect-range\",\"arguments\":{\"gpa\":"
		  "1572864,\"len\":0}}",
		  "GenericError", "'len' must be an integer in" },
		{ "{\"execute\":\"protect-range\",\"arguments\":{\"gpa\":"
		  "281474976710000,\"len\":4096}}",
		  "GenericError", "beyond" },
		{ "{\"execute\":\"unprotect\",\"arguments\":{\"gpa\":0}}",
		  "GenericError", "not guest RAM" },
		{ "{\"execute\":\"set-policy\",\"arguments\":{\"policy\":"
		  "\"maybe\"}}",
		  "GenericError", "expected deny, log or stop" },
		{ "{\"execute\":\"set-policy\",\"arguments\":{\"policy\":1}}",
		  "GenericError", "'policy' must be a string" },
		{ "{\"execute\":\"events\",\"arguments\":{\"enable\":1}}",
		  "GenericError", "'enable' must be a boolean" },
		{ "{\"execute\":\"query-held\"}", "GenericError",
		  "not supported by this VMM" },
		{ "{\"execute\":\"resolve\",\"arguments\":{\"vcpu\":0,"
		  "\"commit\":true}}",
		  "GenericError", "not supported by this VMM" },
		{ "{\"execute\":\"start\"}", "GenericError",
		  "not supported by this VMM" },
	};
	struct fx *f = *state;
	struct spp_guard_stats before, after;
	struct cl *c = cl_connect(f);
	uint32_t maps[8];
	size_t i, k;
	json_t *v;

	/* a protection to stay as it is */
	assert_int_equal(spp_guard_set_range(f->g, GFN, 2, 0x00ff00ff), 0);
	spp_guard_stats(f->g, &before);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (k = 0; k < 8; k++)
			maps[k] = map_of(f, GFN - 2 + k);
		assert_error(cl_req(c, cases[i].req), cases[i].cls,
			     cases[i].needle);
		for (k = 0; k < 8; k++)
			if (map_of(f, GFN - 2 + k) != maps[k])
				fail_msg("'%s' changed a map", cases[i].req);
		spp_guard_stats(f->g, &after);
		assert_int_equal(after.slot_changes, before.slot_changes);
		assert_int_equal(after.trapped_pages, before.trapped_pages);
		/* still usable */
		v = cl_req(c, "{\"execute\":\"query-policy\"}");
		ok(v);
		json_decref(v);
	}
	assert_int_equal(map_of(f, GFN), 0x00ff00ff);
	assert_int_equal(spp_access_count(spp_guard_access(f->g)), 2);
	cl_close(c);
}

/* A line over SPP_CTL_LINE_MAX: one error, the rest of it skipped, the
 * next request answered. */
static void test_long_line(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect(f);
	size_t n = SPP_CTL_LINE_MAX + 100, done = 0;
	char *big = malloc(n);
	json_t *v;

	assert_non_null(big);
	memset(big, ' ', n);
	memcpy(big, "{\"execute\":\"protect\",\"x\":\"", 27);
	while (done < n) {
		ssize_t w = write(c->fd, big + done, n - done);

		assert_true(w > 0);
		done += (size_t)w;
	}
	free(big);
	assert_error(cl_json(c), "GenericError", "longer than");
	cl_send(c, "\"}");
	v = cl_req(c, "{\"execute\":\"query-version\"}");
	ok(v);
	json_decref(v);
	assert_int_equal(spp_access_count(spp_guard_access(f->g)), 0);
	cl_close(c);
}

static void test_socket_checks(void **state)
{
	struct fx *f = *state;
	struct spp_ctl *c2;
	struct stat st;
	char dir[64], path[96];
	int fd;

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* something listens there already */
	assert_int_equal(spp_ctl_create(&c2, f->path, f->g, NULL, NULL),
			 -EADDRINUSE);
	/* a directory others may write to */
	strcpy(dir, "/tmp/spp-test-ctl.XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0777), 0);
	snprintf(path, sizeof(path), "%s/s", dir);
	assert_int_equal(spp_ctl_create(&c2, path, f->g, NULL, NULL), -EPERM);
	assert_int_equal(chmod(dir, 0720), 0);
	assert_int_equal(spp_ctl_create(&c2, path, f->g, NULL, NULL), -EPERM);
	assert_int_equal(chmod(dir, 0700), 0);
	/* a file that is no socket */
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(spp_ctl_create(&c2, path, f->g, NULL, NULL), -EEXIST);
	unlink(path);
	/* a stale socket is replaced */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		strcpy(sa.sun_path, path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)),
				 0);
		close(fd);
	}
	assert_int_equal(spp_ctl_create(&c2, path, f->g, NULL, NULL), 0);
	spp_ctl_destroy(c2);
	assert_int_equal(access(path, F_OK), -1); /* unlinked */
	assert_int_equal(rmdir(dir), 0);
	/* no such directory, bad arguments */
	assert_int_equal(spp_ctl_create(&c2, "/nonexistent-spp/s", f->g, NULL,
					NULL),
			 -ENOENT);
	assert_int_equal(spp_ctl_create(&c2, "", f->g, NULL, NULL), -EINVAL);
	assert_int_equal(spp_ctl_create(&c2, path, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(spp_ctl_create(NULL, path, f->g, NULL, NULL), -EINVAL);
	{
		char lng[200];

		memset(lng, 'a', sizeof(lng) - 1);
		lng[0] = '/';
		lng[sizeof(lng) - 1] = 0;
		assert_int_equal(spp_ctl_create(&c2, lng, f->g, NULL, NULL),
				 -ENAMETOOLONG);
	}
	spp_ctl_destroy(NULL);

	/* the private directory helper */
	assert_int_equal(spp_ctl_private_path(path, sizeof(path)), 0);
	assert_non_null(strstr(path, "/spp-"));
	{
		char *slash = strrchr(path, '/');

		*slash = 0;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
		*slash = '/';
	}
	assert_int_equal(spp_ctl_create(&c2, path, f->g, NULL, NULL), 0);
	spp_ctl_destroy(c2);
	assert_int_equal(spp_ctl_private_remove(path), 0);
	assert_int_equal(spp_ctl_private_path(path, 8), -ENAMETOOLONG);
}

static void test_client_limit(void **state)
{
	struct fx *f = *state;
	struct cl *c[SPP_CTL_MAX_CLIENTS], *extra;
	json_t *v;
	char *s;
	int i;

	for (i = 0; i < SPP_CTL_MAX_CLIENTS; i++)
		c[i] = cl_connect(f);
	extra = cl_connect_raw(f->path);
	assert_error(cl_json(extra), "GenericError", "too many clients");
	s = cl_line_ms(extra, 10000);
	assert_null(s); /* closed */
	cl_close(extra);
	v = cl_req(c[0], "{\"execute\":\"query-stats\"}");
	assert_int_equal(json_integer_value(json_object_get(ok(v), "clients")),
			 SPP_CTL_MAX_CLIENTS);
	json_decref(v);
	/* one leaves: there is room again */
	cl_close(c[SPP_CTL_MAX_CLIENTS - 1]);
	for (i = 0; i < 100; i++) {
		v = cl_req(c[0], "{\"execute\":\"query-stats\"}");
		if (json_integer_value(json_object_get(ok(v), "clients")) ==
		    SPP_CTL_MAX_CLIENTS - 1) {
			json_decref(v);
			break;
		}
		json_decref(v);
		usleep(10000);
	}
	c[SPP_CTL_MAX_CLIENTS - 1] = cl_connect(f);
	for (i = 0; i < SPP_CTL_MAX_CLIENTS; i++)
		cl_close(c[i]);
}

static void test_disconnect_keeps(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect(f), *d;
	json_t *v;

	v = cl_req(c, "{\"execute\":\"protect\",\"arguments\":{\"gpa\":"
		      "1638400,\"map\":0}}");
	ok(v);
	json_decref(v);
	cl_close(c);
	d = cl_connect(f);
	v = cl_req(d, "{\"execute\":\"get-access\",\"arguments\":{\"gfn\":400,"
		      "\"npages\":1}}");
	assert_int_equal(json_integer_value(json_array_get(
				 json_object_get(ok(v), "maps"), 0)),
			 0);
	json_decref(v);
	assert_int_equal(map_of(f, 400), 0);
	cl_close(d);
}

static const struct spp_event crafted = {
	.vcpu = 2,
	.gpa = 0x180290,
	.len = 4,
	.data = { 0xde, 0xad, 0xbe, 0xef },
	.subpage_gpa = 0x180280,
	.subpage = 5,
	.rip = 0x400128,
	.fragments = 1,
	.verdict = SPP_VERDICT_DENIED,
};

static void test_events_fanout(void **state)
{
	struct fx *f = *state;
	struct cl *a = cl_connect(f), *b = cl_connect(f);
	struct spp_event allowed = crafted;
	json_t *v, *d, *ts;
	char *s;

	v = cl_req(a, "{\"execute\":\"events\",\"arguments\":{\"enable\":"
		      "true}}");
	ok(v);
	json_decref(v);
	spp_ctl_event(f->c, &crafted);
	allowed.verdict = SPP_VERDICT_ALLOWED;
	spp_ctl_event(f->c, &allowed);
	v = cl_json(a);
	assert_string_equal(json_string_value(json_object_get(v, "event")),
			    "SPP_VIOLATION");
	d = json_object_get(v, "data");
	assert_string_equal(json_string_value(json_object_get(d, "type")),
			    "write");
	assert_int_equal(json_integer_value(json_object_get(d, "vcpu")), 2);
	assert_string_equal(json_string_value(json_object_get(d, "gpa")),
			    "0x180290");
	assert_string_equal(json_string_value(json_object_get(d, "data")),
			    "deadbeef");
	assert_int_equal(json_integer_value(json_object_get(d, "subpage")), 5);
	assert_string_equal(json_string_value(json_object_get(d, "verdict")),
			    "denied");
	assert_true(json_is_null(json_object_get(d, "insn_rip")));
	ts = json_object_get(v, "timestamp");
	assert_true(json_integer_value(json_object_get(ts, "seconds")) > 0);
	assert_true(json_is_integer(json_object_get(ts, "microseconds")));
	json_decref(v);
	v = cl_json(a);
	assert_string_equal(json_string_value(json_object_get(v, "event")),
			    "SPP_ALLOWED");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(v, "data"), "verdict")),
			    "allowed");
	json_decref(v);
	/* b did not subscribe: nothing for it */
	s = cl_line_ms(b, 200);
	assert_null(s);
	v = cl_req(b, "{\"execute\":\"query-stats\"}");
	assert_int_equal(
		json_integer_value(json_object_get(ok(v), "events_sent")), 2);
	json_decref(v);
	/* unsubscribed: nothing more */
	v = cl_req(a, "{\"execute\":\"events\",\"arguments\":{\"enable\":"
		      "false}}");
	ok(v);
	json_decref(v);
	spp_ctl_event(f->c, &crafted);
	assert_null(cl_line_ms(a, 200));
	spp_ctl_event(NULL, &crafted);
	spp_ctl_event(f->c, NULL);
	cl_close(a);
	cl_close(b);
}

/* A subscriber that does not read loses events, counted; it hears how
 * many once it reads again. The server is never blocked meanwhile. */
static void test_events_dropped(void **state)
{
	struct fx *f = *state;
	struct cl *a = cl_connect(f), *b = cl_connect(f);
	uint64_t dropped, got = 0, lost = 0;
	json_t *v;
	int i;

	v = cl_req(a, "{\"execute\":\"events\",\"arguments\":{\"enable\":"
		      "true}}");
	ok(v);
	json_decref(v);
	for (i = 0; i < 5000; i++)
		spp_ctl_event(f->c, &crafted);
	v = cl_req(b, "{\"execute\":\"query-stats\"}");
	dropped = (uint64_t)json_integer_value(
		json_object_get(ok(v), "events_dropped"));
	assert_true(dropped > 0);
	assert_int_equal(
		json_integer_value(json_object_get(ok(v), "events_sent")) +
			(json_int_t)dropped,
		5000);
	json_decref(v);
	/* a reads everything; one more event makes the report due */
	for (;;) {
		char *s = cl_line_ms(a, 500);

		if (!s) {
			if (lost)
				break;
			spp_ctl_event(f->c, &crafted);
			continue;
		}
		v = json_loads(s, 0, NULL);
		free(s);
		assert_non_null(v);
		if (!strcmp(json_string_value(json_object_get(v, "event")),
			    "SPP_EVENTS_LOST"))
			lost += (uint64_t)json_integer_value(json_object_get(
				json_object_get(v, "data"), "count"));
		else
			got++;
		json_decref(v);
	}
	assert_true(lost >= dropped);
	assert_true(got >= 5000 - dropped);
	cl_close(a);
	cl_close(b);
}

/* ---- the embedder's ops ------------------------------------------------- */

static int op_protectable(void *ctx, uint64_t gfn, uint64_t n, const char **why)
{
	struct fx *f = ctx;

	(void)gfn;
	(void)n;
	if (!f->refuse)
		return 0;
	*why = "the test's system area";
	return -EPERM;
}

static int op_held(void *ctx, struct spp_event *evs, unsigned int n)
{
	struct spp_event ev = crafted;

	(void)ctx;
	assert_true(n >= 1);
	ev.verdict = SPP_VERDICT_STOPPED;
	evs[0] = ev;
	return 1;
}

static int op_resolve(void *ctx, uint32_t vcpu, bool commit)
{
	struct fx *f = ctx;

	if (vcpu != 2)
		return -ENOENT;
	f->resolved_vcpu = (int)vcpu;
	return commit ? SPP_VERDICT_LOGGED : SPP_VERDICT_DENIED;
}

static int op_start(void *ctx)
{
	((struct fx *)ctx)->started = true;
	return 0;
}

static const struct spp_ctl_ops test_ops = {
	.protectable = op_protectable,
	.held = op_held,
	.resolve = op_resolve,
	.start = op_start,
};

static int setup_ops(void **state)
{
	*state = fx_new(&test_ops);
	return 0;
}

static void test_ops_called(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect(f);
	json_t *v, *r;

	f->refuse = true;
	assert_error(cl_req(c, "{\"execute\":\"protect\",\"arguments\":"
			       "{\"gpa\":1572864,\"map\":0}}"),
		     "GenericError", "the test's system area");
	assert_error(cl_req(c, "{\"execute\":\"protect-range\",\"arguments\":"
			       "{\"gpa\":1572864,\"len\":1}}"),
		     "GenericError", "the test's system area");
	assert_error(cl_req(c, "{\"execute\":\"set-access\",\"arguments\":"
			       "{\"gfn\":384,\"maps\":[1]}}"),
		     "GenericError", "not protectable");
	assert_int_equal(spp_access_count(spp_guard_access(f->g)), 0);
	/* unprotecting needs no permission */
	v = cl_req(c, "{\"execute\":\"unprotect\",\"arguments\":"
		      "{\"gpa\":1572864}}");
	ok(v);
	json_decref(v);
	f->refuse = false;
	v = cl_req(c, "{\"execute\":\"protect\",\"arguments\":"
		      "{\"gpa\":1572864,\"map\":0}}");
	ok(v);
	json_decref(v);
	assert_int_equal(map_of(f, GFN), 0);

	v = cl_req(c, "{\"execute\":\"query-held\"}");
	r = ok(v);
	assert_int_equal(json_array_size(r), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(r, 0), "verdict")),
			    "stopped");
	json_decref(v);
	v = cl_req(c, "{\"execute\":\"resolve\",\"arguments\":{\"vcpu\":2,"
		      "\"commit\":true}}");
	assert_string_equal(
		json_string_value(json_object_get(ok(v), "verdict")), "logged");
	json_decref(v);
	assert_int_equal(f->resolved_vcpu, 2);
	assert_error(cl_req(c, "{\"execute\":\"resolve\",\"arguments\":"
			       "{\"vcpu\":3,\"commit\":false}}"),
		     "GenericError", "no store held on vCPU 3");
	v = cl_req(c, "{\"execute\":\"start\"}");
	ok(v);
	json_decref(v);
	assert_true(f->started);
	cl_close(c);
}

/* spp_ctl_destroy(): SHUTDOWN with the stats to subscribers, socket
 * gone. */
static void test_shutdown(void **state)
{
	struct fx *f = *state;
	struct cl *a = cl_connect(f);
	json_t *v, *d;

	v = cl_req(a, "{\"execute\":\"events\",\"arguments\":{\"enable\":"
		      "true}}");
	ok(v);
	json_decref(v);
	spp_ctl_destroy(f->c);
	f->c = NULL;
	assert_int_equal(access(f->path, F_OK), -1);
	v = cl_json(a);
	assert_string_equal(json_string_value(json_object_get(v, "event")),
			    "SHUTDOWN");
	d = json_object_get(v, "data");
	assert_string_equal(json_string_value(json_object_get(d, "reason")),
			    "spp-exit");
	assert_true(json_is_integer(
		json_object_get(json_object_get(d, "stats"), "exits")));
	json_decref(v);
	assert_null(cl_line_ms(a, 5000));
	cl_close(a);
}

/* ---- kernel-address rules ------------------------------------------------ */

/*
 * The embedder's side of protect-gva / protect-symbol: vCPU 0's registers
 * as the test sets them (a VMM reads them from a paused vCPU), and guest
 * page tables the test builds in the guard's RAM, as a guest would.
 */
#define KBASE 0xffffffff81000000ULL
#define SLIDE 0x200000ULL /* a KASLR slide: 2 MiB */
#define PML4_K 0x104000ULL /* the kernel's top table (CR3 bit 12 clear) */
#define PML4_U 0x105000ULL /* PTI's user copy: no kernel mapped */
#define PG_P 1ULL
#define PG_RW 2ULL
#define PAGE_A 0x180000ULL /* where KBASE's first page lives */
#define PAGE_B 0x1c0000ULL /* its second page: not adjacent */

static pthread_mutex_t st_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spp_ctl_vcpu_state vstate;
static uint64_t next_table;

static int op_vcpu_state(void *ctx, uint32_t vcpu,
			 struct spp_ctl_vcpu_state *st)
{
	(void)ctx;
	if (vcpu)
		return -ENOENT;
	pthread_mutex_lock(&st_lock);
	*st = vstate;
	pthread_mutex_unlock(&st_lock);
	return 0;
}

static void set_vstate(uint64_t cr0, uint64_t cr3, uint64_t lstar)
{
	pthread_mutex_lock(&st_lock);
	vstate = (struct spp_ctl_vcpu_state){
		.paging = { cr0, cr3, 0x20, cr0 ? 0x500 : 0 },
		.lstar = lstar,
	};
	pthread_mutex_unlock(&st_lock);
}

static uint64_t *pte(struct fx *f, uint64_t table, unsigned int idx)
{
	return (uint64_t *)((uint8_t *)f->ram + (table - RAM_GPA) + 8 * idx);
}

/* 4-level: @gva's 4 KiB page -> @gpa (a raw entry value if @raw). */
static void map4k(struct fx *f, uint64_t gva, uint64_t entry)
{
	uint64_t table = PML4_K;
	unsigned int level;

	for (level = 4; level > 1; level--) {
		uint64_t *e =
			pte(f, table, (gva >> (12 + 9 * (level - 1))) & 511);

		if (!(*e & PG_P)) {
			*e = next_table | PG_P | PG_RW;
			next_table += SPP_PAGE_SIZE;
		}
		table = *e & 0x000ffffffffff000ULL;
	}
	*pte(f, table, (gva >> 12) & 511) = entry;
}

static const char sysmap[] = "ffffffff81000000 T _text\n"
			     "ffffffff81000100 T entry_SYSCALL_64\n"
			     "ffffffff81000f80 D modprobe_path\n"
			     "ffffffff81001080 D core_pattern\n"
			     "ffffffff81001100 t dup\n"
			     "ffffffff81001200 t dup\n"
			     "ffffffff81001300 D far_away\n"
			     "ffffffff81002000 D unmapped\n"
			     "ffffffff81003000 D huge\n"
			     "ffffffff81100000 D the_end\n";

static char map_path[128];

static int setup_rules(void **state)
{
	static const struct spp_ctl_ops ops = { .vcpu_state = op_vcpu_state };
	struct fx *f = fx_new(&ops);
	uint64_t s;
	FILE *fp;

	next_table = 0x106000;
	/* the image at KBASE and, slid, at KBASE + SLIDE: page 0 on A,
	 * page 1 on B, page 2's entry outside RAM, page 3 not present */
	for (s = 0; s <= SLIDE; s += SLIDE) {
		map4k(f, KBASE + s, PAGE_A | PG_P | PG_RW);
		map4k(f, KBASE + s + 0x1000, PAGE_B | PG_P | PG_RW);
		map4k(f, KBASE + s + 0x2000, 0x40000000ULL | PG_P | PG_RW);
	}
	/* a top-table entry that points at its own table */
	*pte(f, PML4_K, 300) = PML4_K | PG_P | PG_RW;
	snprintf(map_path, sizeof(map_path), "%s/System.map", f->dir);
	fp = fopen(map_path, "w");
	assert_non_null(fp);
	fputs(sysmap, fp);
	fclose(fp);
	set_vstate(0x11, 0, 0); /* reset state: protected mode, no paging */
	*state = f;
	return 0;
}

static int teardown_rules(void **state)
{
	unlink(map_path);
	return teardown(state);
}

static json_t *req_fmt(struct cl *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return cl_req(c, buf);
}

/* Nothing protected, no rule kept. */
static void assert_untouched(struct fx *f, struct cl *c)
{
	json_t *v = cl_req(c, "{\"execute\":\"query-rules\"}");

	assert_int_equal(json_array_size(json_object_get(ok(v), "rules")), 0);
	json_decref(v);
	assert_int_equal(spp_access_count(spp_guard_access(f->g)), 0);
}

/* The next event named @name within 5 s (others skipped). */
static json_t *next_event(struct cl *c, const char *name)
{
	for (;;) {
		char *s = cl_line_ms(c, 5000);
		json_t *v;

		if (!s)
			fail_msg("no %s event", name);
		v = json_loads(s, 0, NULL);
		free(s);
		if (v &&
		    !strcmp(json_string_value(json_object_get(v, "event")) ?:
									     "",
			    name))
			return v;
		json_decref(v);
	}
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	if (!s)
		fail_msg("no string '%s' in %s", k, json_dumps(o, 0));
	return s;
}

/* The test's System.map loaded, events on. */
static void symbols_and_events(struct cl *c)
{
	json_t *v = req_fmt(c,
			    "{\"execute\":\"set-symbols\",\"arguments\":"
			    "{\"path\":\"%s\"}}",
			    map_path);

	ok(v);
	json_decref(v);
	v = cl_req(c, "{\"execute\":\"events\",\"arguments\":{\"enable\":"
		      "true}}");
	ok(v);
	json_decref(v);
}

/* Bad input: an error reply each, nothing kept, nothing protected. */
static void test_rules_bad_input(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect(f);
	char bad[160];
	FILE *fp;
	json_t *v;

	set_vstate(0x80000011, PML4_K, 0);
	assert_error(cl_req(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
			       "{\"symbol\":\"modprobe_path\"}}"),
		     "GenericError", "no kernel symbols loaded");
	assert_error(cl_req(c, "{\"execute\":\"set-symbols\",\"arguments\":"
			       "{\"path\":\"/nonexistent/System.map\"}}"),
		     "GenericError", "No such file");
	snprintf(bad, sizeof(bad), "%s/bad.map", f->dir);
	fp = fopen(bad, "w");
	assert_non_null(fp);
	fputs("ffffffff81000000 T _text\nnot a line\n", fp);
	fclose(fp);
	v = req_fmt(c,
		    "{\"execute\":\"set-symbols\",\"arguments\":{\"path\":"
		    "\"%s\"}}",
		    bad);
	assert_error(v, "GenericError", "bad.map:2:");
	unlink(bad);
	v = req_fmt(c,
		    "{\"execute\":\"set-symbols\",\"arguments\":{\"path\":"
		    "\"%s\"}}",
		    map_path);
	assert_int_equal(json_integer_value(json_object_get(ok(v), "symbols")),
			 10);
	json_decref(v);
	assert_error(cl_req(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
			       "{\"symbol\":\"no_such_thing\"}}"),
		     "GenericError", "no such symbol");
	assert_error(cl_req(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
			       "{\"symbol\":\"dup/8\"}}"),
		     "GenericError", "not unique");
	assert_error(cl_req(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
			       "{\"symbol\":\"modprobe_path+\"}}"),
		     "GenericError", "expected NAME[+OFF][/LEN]");
	assert_error(cl_req(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
			       "{\"symbol\":\"modprobe_path+0x100\"}}"),
		     "GenericError", "past the symbol's end");
	assert_error(cl_req(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
			       "{\"symbol\":\"the_end\"}}"),
		     "GenericError", "size is unknown");
	assert_error(cl_req(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
			       "{\"symbol\":\"huge\"}}"),
		     "GenericError", "more than 64 pages");
	assert_error(cl_req(c, "{\"execute\":\"protect-gva\",\"arguments\":"
			       "{\"gva\":\"0x8000000000000000\",\"len\":8}}"),
		     "GenericError", "not a canonical");
	assert_error(cl_req(c, "{\"execute\":\"protect-gva\",\"arguments\":"
			       "{\"gva\":\"0xffffffff81000000\",\"len\":"
			       "1000000}}"),
		     "GenericError", "'len' must be an integer in 1..262144");
	assert_error(cl_req(c, "{\"execute\":\"protect-gva\",\"arguments\":"
			       "{\"gva\":\"0xffffffff8100zz00\",\"len\":8}}"),
		     "GenericError", "'gva' must be an address");
	assert_error(cl_req(c, "{\"execute\":\"protect-gva\",\"arguments\":"
			       "{\"gva\":-5,\"len\":8}}"),
		     "GenericError", "'gva' must be an address");
	assert_error(cl_req(c, "{\"execute\":\"unprotect-rule\",\"arguments\":"
			       "{\"id\":7}}"),
		     "GenericError", "no rule 7");
	/* the guest is up (long mode, paging): translation errors are
	 * errors now, not pending */
	assert_error(cl_req(c, "{\"execute\":\"protect-gva\",\"arguments\":"
			       "{\"gva\":\"0xffffffff81002000\",\"len\":8}}"),
		     "GenericError", "outside guest RAM");
	assert_error(cl_req(c, "{\"execute\":\"protect-gva\",\"arguments\":"
			       "{\"gva\":\"0xffffffff81003000\",\"len\":8}}"),
		     "GenericError", "is not present");
	/* the second page fails: the first is not protected either */
	assert_error(cl_req(c, "{\"execute\":\"protect-gva\",\"arguments\":"
			       "{\"gva\":\"0xffffffff81001ff8\",\"len\":16}}"),
		     "GenericError", "outside guest RAM");
	/* non-canonical under 4-level paging (canonical under 5) */
	assert_error(cl_req(c, "{\"execute\":\"protect-gva\",\"arguments\":"
			       "{\"gva\":\"0x0080000000000000\",\"len\":8}}"),
		     "GenericError", "not canonical");
	assert_untouched(f, c);
	cl_close(c);
}

/* Rules given before the kernel is up wait, say why, and are applied
 * (with the KASLR slide from MSR_LSTAR) once it is; the answer names the
 * pages and maps; a range across two pages clears exactly the sub-pages
 * it touches on each; events then carry insn_sym. */
static void test_rules_pending(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect(f);
	json_t *v, *r, *d, *pages, *p;
	struct spp_event ev = crafted;
	int seen = 0, i;

	symbols_and_events(c);
	/* the guest in its firmware: both wait */
	v = cl_req(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
		      "{\"symbol\":\"modprobe_path\"}}");
	r = ok(v);
	assert_string_equal(str(r, "state"), "pending");
	assert_non_null(strstr(str(r, "why"), "not in long mode"));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
	json_decref(v);
	v = cl_req(c, "{\"execute\":\"protect-gva\",\"arguments\":"
		      "{\"gva\":\"0xffffffff81000010\",\"len\":4}}");
	r = ok(v);
	assert_string_equal(str(r, "state"), "pending");
	json_decref(v);
	/* long mode with the user CR3 (PTI), the kernel not up yet */
	set_vstate(0x80000011, PML4_U, 0);
	/* (read before any request: cl_req() skips events) */
	v = next_event(c, "SPP_RULE_APPLIED");
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(v, "data"), "id")),
			 2);
	json_decref(v);
	v = cl_req(c, "{\"execute\":\"query-rules\"}");
	r = json_object_get(ok(v), "rules");
	assert_int_equal(json_array_size(r), 2);
	d = json_array_get(r, 0);
	assert_string_equal(str(d, "state"), "pending");
	assert_non_null(strstr(str(d, "why"), "MSR_LSTAR is 0"));
	/* the gva rule went through PML4_U's kernel half: CR3 bit 12 */
	d = json_array_get(r, 1);
	assert_string_equal(str(d, "state"), "applied");
	json_decref(v);
	assert_int_equal(map_of(f, PAGE_A >> SPP_PAGE_SHIFT), 0xfffffffe);
	/* the kernel is up, moved by SLIDE */
	set_vstate(0x80000011, PML4_K, 0xffffffff81000100ULL + SLIDE);
	v = next_event(c, "SPP_RULE_APPLIED");
	d = json_object_get(v, "data");
	assert_int_equal(json_integer_value(json_object_get(d, "id")), 1);
	assert_string_equal(str(d, "symbol"), "modprobe_path");
	assert_string_equal(str(d, "gva"), "0xffffffff81200f80");
	assert_int_equal(json_integer_value(json_object_get(d, "len")), 0x100);
	pages = json_object_get(d, "pages");
	assert_int_equal(json_array_size(pages), 2);
	json_array_foreach(pages, i, p)
	{
		const char *gpa = str(p, "gpa");

		if (!strcmp(gpa, "0x180000")) {
			/* sub-page 31 on A; sub-page 0 was denied already */
			assert_string_equal(str(p, "gva"),
					    "0xffffffff81200f80");
			assert_int_equal(
				json_integer_value(json_object_get(p, "map")),
				0x7ffffffe);
			assert_int_equal(json_integer_value(
						 json_object_get(p, "denied")),
					 0x80000000);
			seen |= 1;
		} else {
			assert_string_equal(gpa, "0x1c0000");
			assert_int_equal(
				json_integer_value(json_object_get(p, "map")),
				0xfffffffe);
			seen |= 2;
		}
	}
	assert_int_equal(seen, 3);
	json_decref(v);
	assert_int_equal(map_of(f, PAGE_A >> SPP_PAGE_SHIFT), 0x7ffffffe);
	assert_int_equal(map_of(f, PAGE_B >> SPP_PAGE_SHIFT), 0xfffffffe);
	v = cl_req(c, "{\"execute\":\"query-rules\"}");
	assert_string_equal(str(ok(v), "slide"), "0x200000");
	json_decref(v);

	/* a rule given now is applied at once */
	v = cl_req(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
		      "{\"symbol\":\"core_pattern+8/8\"}}");
	r = ok(v);
	assert_string_equal(str(r, "state"), "applied");
	assert_string_equal(str(json_array_get(json_object_get(r, "pages"), 0),
				"gpa"),
			    "0x1c0000");
	json_decref(v);
	assert_int_equal(map_of(f, PAGE_B >> SPP_PAGE_SHIFT), 0xfffffffc);

	/* events name the storing instruction */
	ev.insn_rip = 0xffffffff81000104ULL + SLIDE;
	spp_ctl_event(f->c, &ev);
	v = next_event(c, "SPP_VIOLATION");
	assert_string_equal(str(json_object_get(v, "data"), "insn_sym"),
			    "entry_SYSCALL_64+0x4");
	json_decref(v);
	ev.insn_rip = 0;
	spp_ctl_event(f->c, &ev);
	v = next_event(c, "SPP_VIOLATION");
	assert_true(json_is_null(
		json_object_get(json_object_get(v, "data"), "insn_sym")));
	json_decref(v);

	/* unprotect-rule gives back what the rule denied */
	v = cl_req(c, "{\"execute\":\"unprotect-rule\",\"arguments\":"
		      "{\"id\":1}}");
	ok(v);
	json_decref(v);
	assert_int_equal(map_of(f, PAGE_A >> SPP_PAGE_SHIFT), 0xfffffffe);
	assert_int_equal(map_of(f, PAGE_B >> SPP_PAGE_SHIFT), 0xfffffffd);
	cl_close(c);
}

/* A guest reset: applied rules give their sub-pages back and wait for
 * the next kernel, which may sit elsewhere (another slide); a protection
 * by address stays. */
static void test_rules_reset(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect(f);
	json_t *v, *r, *d;

	assert_int_equal(spp_ctl_guest_reset(NULL, 0), -EINVAL);
	assert_int_equal(spp_ctl_guest_reset(f->c, -1), -EINVAL);
	/* nothing applied yet: a reset changes nothing */
	assert_int_equal(spp_ctl_guest_reset(f->c, 5000), 0);
	symbols_and_events(c);
	/* a page protected by address, and the kernel up at slide 0 */
	v = cl_req(c, "{\"execute\":\"protect\",\"arguments\":"
		      "{\"gpa\":1835008,\"map\":4294967294}}"); /* 0x1c0000 */
	ok(v);
	json_decref(v);
	set_vstate(0x80000011, PML4_K, 0xffffffff81000100ULL);
	v = cl_req(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
		      "{\"symbol\":\"modprobe_path/8\"}}");
	r = ok(v);
	assert_string_equal(str(r, "state"), "applied");
	assert_string_equal(str(r, "gva"), "0xffffffff81000f80");
	json_decref(v);
	v = cl_req(c, "{\"execute\":\"protect-gva\",\"arguments\":"
		      "{\"gva\":\"0xffffffff81001100\",\"len\":8}}");
	r = ok(v);
	assert_string_equal(str(r, "state"), "applied");
	json_decref(v);
	assert_int_equal(map_of(f, PAGE_A >> SPP_PAGE_SHIFT), 0x7fffffff);
	assert_int_equal(map_of(f, PAGE_B >> SPP_PAGE_SHIFT), 0xfffffffa);

	/* the reset: the vCPU at the reset vector, both rules wait */
	set_vstate(0x10, 0, 0);
	assert_int_equal(spp_ctl_guest_reset(f->c, 5000), 0);
	for (int i = 1; i <= 2; i++) {
		v = next_event(c, "SPP_RULE_PENDING");
		d = json_object_get(v, "data");
		assert_int_equal(json_integer_value(json_object_get(d, "id")),
				 i);
		assert_string_equal(str(d, "state"), "pending");
		assert_non_null(strstr(str(d, "why"), "reset"));
		json_decref(v);
	}
	/* sub-page 31 of A and 2 of B back; B's sub-page 0 (the protect's)
	 * stays denied */
	assert_int_equal(map_of(f, PAGE_A >> SPP_PAGE_SHIFT), 0xffffffff);
	assert_int_equal(map_of(f, PAGE_B >> SPP_PAGE_SHIFT), 0xfffffffe);
	v = cl_req(c, "{\"execute\":\"query-rules\"}");
	r = json_object_get(ok(v), "rules");
	assert_int_equal(json_array_size(r), 2);
	assert_string_equal(str(json_array_get(r, 0), "state"), "pending");
	assert_string_equal(str(json_array_get(r, 1), "state"), "pending");
	json_decref(v);

	/* the next kernel, slid: the symbol rule follows it */
	set_vstate(0x80000011, PML4_K, 0xffffffff81000100ULL + SLIDE);
	for (int seen = 0; seen != 3;) {
		v = next_event(c, "SPP_RULE_APPLIED");
		d = json_object_get(v, "data");
		if (json_integer_value(json_object_get(d, "id")) == 1) {
			assert_string_equal(str(d, "gva"),
					    "0xffffffff81200f80");
			seen |= 1;
		} else {
			assert_string_equal(str(d, "gva"),
					    "0xffffffff81001100");
			seen |= 2;
		}
		json_decref(v);
	}
	assert_int_equal(map_of(f, PAGE_A >> SPP_PAGE_SHIFT), 0x7fffffff);
	assert_int_equal(map_of(f, PAGE_B >> SPP_PAGE_SHIFT), 0xfffffffa);
	cl_close(c);
}

/* A request @fmt that must succeed. */
static void req_ok(struct cl *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	json_t *v;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	v = cl_req(c, buf);
	ok(v);
	json_decref(v);
}

/* Field @key of rule @id's page @gpa now (query-rules); -1 when it has
 * no such page. */
static long long page_field(struct cl *c, long long id, uint64_t gpa,
			    const char *key)
{
	json_t *v = cl_req(c, "{\"execute\":\"query-rules\"}"), *r, *p;
	char want[24];
	long long held = -1;
	size_t i, k;

	snprintf(want, sizeof(want), "0x%" PRIx64, gpa);
	json_array_foreach(json_object_get(ok(v), "rules"), i, r)
	{
		if (json_integer_value(json_object_get(r, "id")) != id)
			continue;
		json_array_foreach(json_object_get(r, "pages"), k, p)
		{
			if (!strcmp(str(p, "gpa"), want))
				held = json_integer_value(
					json_object_get(p, key));
		}
	}
	json_decref(v);
	return held;
}

/* The sub-pages rule @id holds on page @gpa now; -1: no such page. */
static long long held_of(struct cl *c, long long id, uint64_t gpa)
{
	return page_field(c, id, gpa, "held");
}

/* Overlaps: dropping a rule, or a reset, opens only the sub-pages no
 * other rule and no address protection still denies. */
static void test_rules_overlap(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect(f);
	const uint64_t a = PAGE_A >> SPP_PAGE_SHIFT,
		       b = PAGE_B >> SPP_PAGE_SHIFT;

	symbols_and_events(c);
	set_vstate(0x80000011, PML4_K, 0xffffffff81000100ULL);
	/* B's sub-page 0 by address, before any rule */
	req_ok(c,
	       "{\"execute\":\"protect-range\",\"arguments\":"
	       "{\"gpa\":%llu,\"len\":1}}",
	       (unsigned long long)PAGE_B);
	/* 1: A 31 and B 0; 2: A 31 again; 3: B 1 */
	req_ok(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
		  "{\"symbol\":\"modprobe_path\"}}");
	req_ok(c, "{\"execute\":\"protect-gva\",\"arguments\":"
		  "{\"gva\":\"0xffffffff81000f80\",\"len\":8}}");
	req_ok(c, "{\"execute\":\"protect-gva\",\"arguments\":"
		  "{\"gva\":\"0xffffffff81001080\",\"len\":8}}");
	assert_int_equal(map_of(f, a), 0x7fffffff);
	assert_int_equal(map_of(f, b), 0xfffffffc);
	/* each holds what it turned from writable to denied */
	assert_int_equal(held_of(c, 1, PAGE_A), 0x80000000);
	assert_int_equal(held_of(c, 1, PAGE_B), 0);
	assert_int_equal(held_of(c, 2, PAGE_A), 0);
	assert_int_equal(held_of(c, 3, PAGE_B), 0x2);
	/* a read-modify-write of B's map (sub-page 5 more) carries rule 3's
	 * sub-page 1 over: still rule 3's; sub-page 5 is the protect's */
	req_ok(c,
	       "{\"execute\":\"protect\",\"arguments\":"
	       "{\"gpa\":%llu,\"map\":%u}}",
	       (unsigned long long)PAGE_B, 0xffffffdcu);
	assert_int_equal(held_of(c, 3, PAGE_B), 0x2);
	/* B 1 named by a range after rule 3: the address protection's now */
	req_ok(c,
	       "{\"execute\":\"protect-range\",\"arguments\":"
	       "{\"gpa\":%llu,\"len\":8}}",
	       (unsigned long long)PAGE_B + 0x80);
	assert_int_equal(held_of(c, 3, PAGE_B), 0);

	/* rule 1 goes: A 31 is rule 2's, B 0 the address protection's */
	req_ok(c, "{\"execute\":\"unprotect-rule\",\"arguments\":{\"id\":1}}");
	assert_int_equal(map_of(f, a), 0x7fffffff);
	assert_int_equal(map_of(f, b), 0xffffffdc);
	assert_int_equal(held_of(c, 2, PAGE_A), 0x80000000);
	assert_int_equal(held_of(c, 1, PAGE_A), -1);
	/* rule 3 goes: B 1 stays, the range named it */
	req_ok(c, "{\"execute\":\"unprotect-rule\",\"arguments\":{\"id\":3}}");
	assert_int_equal(map_of(f, b), 0xffffffdc);
	/* rule 2 goes: it took A 31 over from rule 1 and gives it back */
	req_ok(c, "{\"execute\":\"unprotect-rule\",\"arguments\":{\"id\":2}}");
	assert_int_equal(map_of(f, a), 0xffffffff);
	assert_int_equal(map_of(f, b), 0xffffffdc);
	req_ok(c, "{\"execute\":\"unprotect\",\"arguments\":{\"gpa\":%llu}}",
	       (unsigned long long)PAGE_B);
	assert_int_equal(map_of(f, b), 0xffffffff);

	/* two rules on one sub-page, reset in either order: all back */
	req_ok(c, "{\"execute\":\"protect-gva\",\"arguments\":"
		  "{\"gva\":\"0xffffffff81000f80\",\"len\":8}}");
	req_ok(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
		  "{\"symbol\":\"modprobe_path/8\"}}");
	assert_int_equal(map_of(f, a), 0x7fffffff);
	set_vstate(0x10, 0, 0);
	assert_int_equal(spp_ctl_guest_reset(f->c, 5000), 0);
	assert_int_equal(map_of(f, a), 0xffffffff);
	/* a range by address over a rule's sub-page keeps it past the
	 * reset */
	set_vstate(0x80000011, PML4_K, 0xffffffff81000100ULL);
	for (int i = 0; i < 2; i++)
		json_decref(next_event(c, "SPP_RULE_APPLIED"));
	assert_int_equal(map_of(f, a), 0x7fffffff);
	req_ok(c,
	       "{\"execute\":\"protect-range\",\"arguments\":"
	       "{\"gpa\":%llu,\"len\":128}}",
	       (unsigned long long)PAGE_A + 0xf80);
	set_vstate(0x10, 0, 0);
	assert_int_equal(spp_ctl_guest_reset(f->c, 5000), 0);
	assert_int_equal(map_of(f, a), 0x7fffffff);
	cl_close(c);
}

/* A rule denies whole: a byte-protected sub-page loses its mask while a
 * rule holds it, and gets it back when the last rule on it goes. */
static void test_rules_bytes(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect(f);
	const uint64_t a = PAGE_A >> SPP_PAGE_SHIFT;
	uint64_t bits[SPP_PAGE_SIZE / 64], before[SPP_PAGE_SIZE / 64];

	symbols_and_events(c);
	set_vstate(0x80000011, PML4_K, 0xffffffff81000100ULL);
	/* an 8-byte pointer in A's sub-page 31 */
	req_ok(c,
	       "{\"execute\":\"protect-bytes\",\"arguments\":"
	       "{\"gpa\":%llu,\"len\":8}}",
	       (unsigned long long)PAGE_A + 0xf90);
	assert_int_equal(spp_guard_get_bytes(f->g, a, before), 8);
	/* 1 and 2 deny that sub-page whole */
	req_ok(c, "{\"execute\":\"protect-gva\",\"arguments\":"
		  "{\"gva\":\"0xffffffff81000f80\",\"len\":8}}");
	assert_int_equal(spp_guard_get_bytes(f->g, a, bits), 0);
	assert_int_equal(map_of(f, a), 0x7fffffff);
	assert_int_equal(page_field(c, 1, PAGE_A, "masks_held"), 0x80000000);
	assert_int_equal(held_of(c, 1, PAGE_A), 0);
	req_ok(c, "{\"execute\":\"protect-symbol\",\"arguments\":"
		  "{\"symbol\":\"modprobe_path/8\"}}");
	assert_int_equal(page_field(c, 2, PAGE_A, "masks_held"), 0);
	/* 1 goes: 2 takes the mask over, the sub-page stays whole */
	req_ok(c, "{\"execute\":\"unprotect-rule\",\"arguments\":{\"id\":1}}");
	assert_int_equal(spp_guard_get_bytes(f->g, a, bits), 0);
	assert_int_equal(map_of(f, a), 0x7fffffff);
	assert_int_equal(page_field(c, 2, PAGE_A, "masks_held"), 0x80000000);
	/* 2 goes: byte-protected again, the same bytes */
	req_ok(c, "{\"execute\":\"unprotect-rule\",\"arguments\":{\"id\":2}}");
	assert_int_equal(spp_guard_get_bytes(f->g, a, bits), 8);
	assert_memory_equal(bits, before, sizeof(bits));
	assert_int_equal(map_of(f, a), 0x7fffffff);
	/* and through a reset */
	req_ok(c, "{\"execute\":\"protect-gva\",\"arguments\":"
		  "{\"gva\":\"0xffffffff81000f80\",\"len\":8}}");
	assert_int_equal(spp_guard_get_bytes(f->g, a, bits), 0);
	set_vstate(0x10, 0, 0);
	assert_int_equal(spp_ctl_guest_reset(f->c, 5000), 0);
	assert_int_equal(spp_guard_get_bytes(f->g, a, bits), 8);
	assert_memory_equal(bits, before, sizeof(bits));
	assert_int_equal(map_of(f, a), 0x7fffffff);
	/* a rule whose page the address side made writable meanwhile:
	 * nothing to put back */
	set_vstate(0x80000011, PML4_K, 0xffffffff81000100ULL);
	json_decref(next_event(c, "SPP_RULE_APPLIED"));
	assert_int_equal(spp_guard_get_bytes(f->g, a, bits), 0);
	req_ok(c, "{\"execute\":\"unprotect\",\"arguments\":{\"gpa\":%llu}}",
	       (unsigned long long)PAGE_A);
	req_ok(c, "{\"execute\":\"unprotect-rule\",\"arguments\":{\"id\":3}}");
	assert_int_equal(map_of(f, a), 0xffffffff);
	assert_int_equal(spp_guard_get_bytes(f->g, a, bits), 0);
	cl_close(c);
}

/* Tables that point at themselves give some translation, never a loop;
 * a VMM without vcpu_state says so. */
static void test_rules_untrusted_tables(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect(f);
	/* every level's index 300: PML4_K[300] -> PML4_K, four times */
	uint64_t gva = 0xffff000000000000ULL | (300ULL << 39) | (300ULL << 30) |
		       (300ULL << 21) | (300ULL << 12) | 0x80;
	json_t *v, *r;

	set_vstate(0x80000011, PML4_K, 0);
	v = req_fmt(c,
		    "{\"execute\":\"protect-gva\",\"arguments\":{\"gva\":"
		    "\"0x%llx\",\"len\":8}}",
		    (unsigned long long)gva);
	r = ok(v);
	assert_string_equal(str(r, "state"), "applied");
	assert_string_equal(str(json_array_get(json_object_get(r, "pages"), 0),
				"gpa"),
			    "0x104000");
	json_decref(v);
	assert_int_equal(map_of(f, PML4_K >> SPP_PAGE_SHIFT), 0xfffffffd);
	cl_close(c);
}

static void test_rules_unsupported(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_connect(f);

	assert_error(cl_req(c, "{\"execute\":\"protect-gva\",\"arguments\":"
			       "{\"gva\":\"0xffffffff81000000\",\"len\":8}}"),
		     "GenericError", "not supported by this VMM");
	assert_untouched(f, c);
	cl_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_greeting_and_negotiation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_access_commands, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bytes_commands, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_socket_checks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_client_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_keeps, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_events_fanout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_events_dropped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ops_called, setup_ops,
						teardown),
		cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rules_bad_input,
						setup_rules, teardown_rules),
		cmocka_unit_test_setup_teardown(test_rules_pending, setup_rules,
						teardown_rules),
		cmocka_unit_test_setup_teardown(test_rules_reset, setup_rules,
						teardown_rules),
		cmocka_unit_test_setup_teardown(test_rules_overlap, setup_rules,
						teardown_rules),
		cmocka_unit_test_setup_teardown(test_rules_bytes, setup_rules,
						teardown_rules),
		cmocka_unit_test_setup_teardown(test_rules_untrusted_tables,
						setup_rules, teardown_rules),
		cmocka_unit_test_setup_teardown(test_rules_unsupported, setup,
						teardown),
	};

	if (spp_kt_no_kvm("test_ctl"))
		return 0;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
