// SPDX-License-Identifier: MIT
/*
 * test_qemu_shim - the QEMU preload shim (libspp-qemu.so, spp qemu) on a
 * real QEMU on real KVM, with the nested wptest guest (issue 11 item 7).
 *
 * Boots: one plain QEMU (the reference replies), one QEMU with the shim
 * preloaded directly (every check that needs a running guest, in order:
 * nothing protected, the store classes against the core model, live
 * changes, bad control requests and the kvmclock page, policy stop, QMP
 * stop/cont and system_reset, quit), one "spp qemu" end to end, and one
 * "spp qemu" that must refuse a rule beyond RAM before the guest runs.
 *
 * The control socket is spoken to directly (jansson): replies and events
 * are checked field by field. Expected memory and events come from the
 * core model (spp_access_check_write()): a store whose bytes touch a
 * denied sub-page changes nothing and is one SPP_VIOLATION event,
 * otherwise all its bytes land; rep strings and byte loops are judged per
 * element; read() (copy_to_user) and glibc memcpy, whose decomposition is
 * unknown, must leave denied sub-pages as they were and fill allowed
 * sub-pages that have no denied neighbour.
 *
 * Arguments: the spp command and libspp-qemu.so (tests/qemu/meson.build).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <spp/access.h>

#include "guest/wptest.h"
#include "qemu_ctl.h"
#include "qemu_test.h"

#define MAP_FULL 0xffffffffu
/* The mixed map of the class checks: sub-pages 2, 3, 8, 20-22 and 31
 * denied, so there are allowed->denied and denied->allowed boundaries,
 * runs of denied sub-pages, and allowed sub-pages with no denied
 * neighbour (for read and memcpy). */
#define MAP_MIXED                                                        \
	(~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 20) | (1u << 21) | \
	   (1u << 22) | (1u << 31)))

static const char *spp_bin, *shim_lib;

/* ---- the guest and the model ------------------------------------------- */

/* What QEMU's threads wait in, and the console tail: for a hang. */
static void diag_hang(struct qemu_test *q, const char *what)
{
	char cmd[512];

	printf("# %s: QEMU's threads and the console tail:\n", what);
	fflush(stdout);
	snprintf(cmd, sizeof(cmd),
		 "for p in $(pgrep -g %d); do for t in /proc/$p/task/*; do "
		 "echo \"# $p $t $(cat $t/comm) $(cat $t/wchan)\"; done; "
		 "done",
		 (int)qemu_test_pid(q));
	if (system(cmd) < 0)
		printf("# (no thread list)\n");
	qemu_test_print_tail(q, 30);
}

/* qemu_test_wait_exit(), with the threads and the tail on a timeout. */
static int wait_exit(struct qemu_test *q, int *status)
{
	int r = qemu_test_wait_exit(q, 30000, status);

	if (r)
		diag_hang(q, "QEMU did not exit within 30 s");
	return r;
}

static struct qemu_test *sq; /* the shim's guest */
static struct ctl *sc;
static uint64_t page; /* wptest's page */
static int guest_avx;
static struct spp_access *acc; /* the core model of the page's map */
static uint8_t img[WPT_PAGE_SIZE]; /* what the page should hold */
static char sock_dir[64], sock_path[128];

/*
 * A nested guest that stops answering in the middle of a case happens
 * without spp too (docs/testing.md, "Nested QEMU guests"): it is handled
 * like a hung boot - QEMU's threads and the console tail are shown, the
 * retry is logged, QEMU with the shim starts once more and the case runs
 * again from its start. A second time fails the case.
 */
static jmp_buf stuck_jmp;
static bool stuck_armed; /* a case that can run again is running */
static int stuck_restarts;

/* The guard's counters that move with stores: 1 s apart, with the
 * vCPU's RIP between. Exits that climb: a store retried for ever; still
 * ones: the guest runs (or spins) without storing into trapped pages. */
static const char *const stuck_stats[] = { "exits",	 "stores",
					   "denied",	 "string_elements",
					   "rmw_redone", "emulated",
					   "unemulated", "misdirected" };
#define NSTUCK (sizeof(stuck_stats) / sizeof(stuck_stats[0]))

static bool stats_sample(long long *v)
{
	json_t *r = ctl_try(sc, "{\"execute\":\"query-stats\"}", 5000);
	json_t *ret = json_object_get(r, "return");

	for (size_t i = 0; i < NSTUCK; i++)
		v[i] = json_integer_value(json_object_get(ret, stuck_stats[i]));
	json_decref(r);
	return ret != NULL;
}

static void diag_stuck(void)
{
	long long a[NSTUCK], b[NSTUCK];
	bool ok = stats_sample(a);
	int frame;

	frame = qemu_test_print_cpu(sq, 3);
	if (ok && stats_sample(b)) {
		fprintf(stderr, "# guard counters over ~1 s:");
		for (size_t i = 0; i < NSTUCK; i++)
			fprintf(stderr, " %s %lld%+lld", stuck_stats[i], b[i],
				b[i] - a[i]);
		fprintf(stderr, "\n# %s\n",
			b[0] != a[0] ? "exits climb: a store retried for ever "
				       "(the guard or KVM)" :
			frame == 1   ? "no exits: the guest spins, not spp" :
				       "no exits: the guest runs or spins "
				       "without storing into trapped pages");
	} else {
		fprintf(stderr,
			"# the control socket did not answer query-stats\n");
	}
	fflush(stderr);
}

static void guest_stuck(const char *cmd)
{
	char what[160];

	if (!stuck_armed || stuck_restarts)
		return;
	stuck_restarts++;
	snprintf(what, sizeof(what), "the guest stopped answering '%.60s'",
		 cmd);
	diag_stuck();
	diag_hang(sq, what);
	qemu_test_hung(sq, what);
	longjmp(stuck_jmp, 1);
}

/* qemu_test_cmd() on the shim's guest, through guest_stuck(). */
static int shim_cmd(const char *cmd, char *reply, size_t size)
{
	int r = qemu_test_cmd(sq, cmd, reply, size);

	if (r == -ETIMEDOUT)
		guest_stuck(cmd);
	return r;
}

static int shim_boot(void);
static void shim_reconnect(void);

/* Where a case may run again on a new guest (once per case): the rest
 * of the case must set up what it needs itself. */
#define CASE_RESTARTABLE()                                \
	do {                                              \
		if (setjmp(stuck_jmp)) {                  \
			ctl_close(sc);                    \
			sc = NULL;                        \
			qemu_test_stop(sq);               \
			sq = NULL;                        \
			assert_int_equal(shim_boot(), 0); \
			shim_reconnect();                 \
		} else {                                  \
			stuck_restarts = 0;               \
		}                                         \
		stuck_armed = true;                       \
	} while (0)

static void model_map(uint32_t map)
{
	assert_int_equal(spp_access_set_range(acc, page >> 12, 1, map), 0);
}

static bool sp_denied(unsigned int sp)
{
	return !(spp_access_lookup(acc, page >> 12) >> sp & 1);
}

static void dump(struct qemu_test *q, size_t off, size_t len, uint8_t *out,
		 char *reply, size_t size)
{
	char cmd[64];

	assert_true(len <= WPT_DUMP_MAX);
	snprintf(cmd, sizeof(cmd), "dump %zu %zu", off, len);
	assert_int_equal(q == sq ? shim_cmd(cmd, reply, size) :
				   qemu_test_cmd(q, cmd, reply, size),
			 0);
	assert_int_equal(strlen(reply), 3 + 2 * len);
	for (size_t k = 0; out && k < len; k++) {
		unsigned int b;

		assert_int_equal(sscanf(reply + 3 + 2 * k, "%2x", &b), 1);
		out[k] = (uint8_t)b;
	}
}

/* The page [off, off + len) must be img's. */
static void expect_img(size_t off, size_t len)
{
	static char reply[2 * WPT_DUMP_MAX + 8];
	uint8_t got[WPT_DUMP_MAX];

	while (len) {
		size_t n = len < WPT_DUMP_MAX ? len : WPT_DUMP_MAX;

		dump(sq, off, n, got, reply, sizeof(reply));
		for (size_t k = 0; k < n; k++)
			if (got[k] != img[off + k])
				fail_msg("page byte 0x%zx: 0x%02x, want 0x%02x "
					 "(map 0x%08x)",
					 off + k, got[k], img[off + k],
					 spp_access_lookup(acc, page >> 12));
		off += n;
		len -= n;
	}
}

static void guest_ok(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void guest_ok(const char *fmt, ...)
{
	char cmd[128], reply[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (shim_cmd(cmd, reply, sizeof(reply)))
		fail_msg("guest: %s -> %s", cmd, reply);
}

/* One store as the model sees it. */
struct store {
	uint32_t off, len;
	uint8_t b[32];
};

#define MAX_STORES 1024

/* wptest's command @cmd as stores (in order) on the page as img has it,
 * and the reply it gives; *@fuzzy for read and memcpy (one store of
 * the whole range: only its bytes are known). */
static size_t model_cmd(const char *cmd, struct store *st, char *want,
			size_t wsize, bool *fuzzy)
{
	char w[16];
	uint64_t a = 0, b = 0, c = 0;
	size_t n = 0;

	*fuzzy = false;
	assert_true(sscanf(cmd, "%15s %" SCNi64 " %" SCNx64 " %" SCNx64, w, &a,
			   &b, &c) >= 2);
	if (!strcmp(w, "fill") || !strcmp(w, "rep") || !strcmp(w, "movs")) {
		/* fill/rep: LEN is decimal or 0x.. (strtoull base 0) */
		assert_int_equal(sscanf(cmd,
					"%*s %" SCNi64 " %" SCNi64 " %" SCNi64,
					&a, &b, &c),
				 w[0] == 'm' ? 2 : 3);
		for (n = 0; n < b; n++) {
			st[n].off = (uint32_t)(a + n);
			st[n].len = 1;
			st[n].b[0] = w[0] == 'm' ?
					     wpt_pattern(WPT_PAT_MOVS,
							 (unsigned int)n) :
					     (uint8_t)c;
		}
		snprintf(want, wsize, "OK %s", w);
	} else if (!strncmp(w, "store", 5)) {
		st[0].off = (uint32_t)a;
		st[0].len = (uint32_t)(w[5] - '0');
		for (unsigned int k = 0; k < st[0].len; k++)
			st[0].b[k] = (uint8_t)(b >> (8 * k));
		n = 1;
		snprintf(want, wsize, "OK %s", w);
	} else if (!strcmp(w, "sse") || !strcmp(w, "avx")) {
		st[0].off = (uint32_t)a;
		st[0].len = w[0] == 's' ? 16 : 32;
		for (unsigned int k = 0; k < st[0].len; k++)
			st[0].b[k] = wpt_pattern(
				w[0] == 's' ? WPT_PAT_SSE : WPT_PAT_AVX, k);
		n = 1;
		snprintf(want, wsize, "OK %s", w);
	} else if (!strcmp(w, "xadd") || !strcmp(w, "cmpxchg")) {
		uint64_t cur, v;

		memcpy(&cur, img + a, 8);
		if (w[0] == 'x') {
			v = cur + b;
			snprintf(want, wsize, "OK old=0x%" PRIx64, cur);
		} else {
			/* a failing lock cmpxchg writes the value back */
			v = cur == b ? c : cur;
			snprintf(want, wsize, "OK zf=%d old=0x%" PRIx64,
				 cur == b, cur);
		}
		st[0].off = (uint32_t)a;
		st[0].len = 8;
		memcpy(st[0].b, &v, 8);
		n = 1;
	} else if (!strcmp(w, "read") || !strcmp(w, "memcpy")) {
		assert_int_equal(
			sscanf(cmd, "%*s %" SCNi64 " %" SCNi64, &a, &b), 2);
		st[0].off = (uint32_t)a;
		st[0].len = (uint32_t)b;
		*fuzzy = true;
		n = 1;
		if (w[0] == 'r')
			snprintf(want, wsize, "OK n=%" PRIu64, b);
		else
			snprintf(want, wsize, "OK memcpy");
	} else {
		fail_msg("model: unknown command %s", cmd);
	}
	return n;
}

static uint8_t fuzzy_byte(const char *cmd, unsigned int k)
{
	return wpt_pattern(cmd[0] == 'r' ? WPT_PAT_READ : WPT_PAT_MEMCPY, k);
}

/* The SPP_VIOLATION events received since the last call (new ref). */
static json_t *take_violations(struct ctl *c)
{
	json_t *out = json_array(), *e;
	size_t i;

	json_array_foreach(c->events, i, e)
	{
		if (!strcmp(json_string_value(json_object_get(e, "event")),
			    "SPP_VIOLATION"))
			json_array_append(out, json_object_get(e, "data"));
	}
	json_array_clear(c->events);
	return out;
}

/* The reply lines of one run of steps, to compare with QEMU without the
 * shim (test 1). */
#define MAX_REPLIES 64
struct replies {
	char *line[MAX_REPLIES];
	size_t n;
};

static void keep(struct replies *r, const char *line)
{
	if (r && r->n < MAX_REPLIES)
		r->line[r->n++] = strdup(line);
}

/* The range a step's dump shows: its stores and 8 bytes either side. */
static void dump_range(const struct store *st, size_t n, size_t *off,
		       size_t *len)
{
	uint32_t lo = WPT_PAGE_SIZE, hi = 0;

	for (size_t i = 0; i < n; i++) {
		if (st[i].off < lo)
			lo = st[i].off;
		if (st[i].off + st[i].len > hi)
			hi = st[i].off + st[i].len;
	}
	lo = lo >= 8 ? lo - 8 : 0;
	hi = hi + 8 <= WPT_PAGE_SIZE ? hi + 8 : WPT_PAGE_SIZE;
	*off = lo;
	*len = hi - lo;
}

/*
 * Run @cmd in the shim's guest and check it against the model: reply,
 * memory (dump), events (exact classes: one SPP_VIOLATION per store the
 * model denies, gpa len data subpage verdict; fuzzy: within range and on
 * a denied sub-page) and the guard's denied counter. Returns false when
 * the guest said SKIP (avx without AVX).
 */
static bool check_cmd(const char *cmd, struct replies *rs)
{
	static struct store st[MAX_STORES];
	static char dreply[2 * WPT_DUMP_MAX + 8];
	char want[128], reply[256];
	uint8_t got[WPT_DUMP_MAX];
	size_t n, off, len, nexp = 0, i;
	uint64_t d0, d1;
	json_t *ev, *e;
	bool fuzzy;
	int r;

	n = model_cmd(cmd, st, want, sizeof(want), &fuzzy);
	d0 = ctl_stat(sc, "denied");
	json_array_clear(sc->events);
	r = shim_cmd(cmd, reply, sizeof(reply));
	keep(rs, reply);
	if (r == 1 && !guest_avx && !strncmp(cmd, "avx", 3)) {
		assert_string_equal(reply, "SKIP noavx");
		printf("# %s: SKIP, the nested guest's CPU has no AVX\n", cmd);
		return false;
	}
	if (r)
		fail_msg("guest: %s -> %s", cmd, reply);
	if (strcmp(reply, want))
		fail_msg("guest: %s -> '%s', want '%s'", cmd, reply, want);
	d1 = ctl_stat(sc, "denied");
	ev = take_violations(sc);
	dump_range(st, n, &off, &len);
	dump(sq, off, len, got, dreply, sizeof(dreply));
	keep(rs, dreply);

	if (fuzzy) {
		const struct store *s = &st[0];

		for (i = 0; i < len; i++) {
			size_t o = off + i;
			unsigned int sp = (unsigned int)(o / 128);
			bool in = o >= s->off && o < s->off + s->len;
			uint8_t nw =
				in ? fuzzy_byte(cmd,
						(unsigned int)(o - s->off)) :
				     0;
			bool lone = !sp_denied(sp) &&
				    (sp == 0 || !sp_denied(sp - 1)) &&
				    (sp == 31 || !sp_denied(sp + 1));

			if (!in || sp_denied(sp)) {
				if (got[i] != img[o])
					fail_msg("%s: byte 0x%zx (sub-page %u, "
						 "%s) is 0x%02x, want 0x%02x "
						 "(unchanged)",
						 cmd, o, sp,
						 in ? "denied" : "outside",
						 got[i], img[o]);
			} else if (lone) {
				if (got[i] != nw)
					fail_msg("%s: byte 0x%zx (allowed "
						 "sub-page %u) is 0x%02x, want "
						 "0x%02x",
						 cmd, o, sp, got[i], nw);
			} else if (got[i] != nw && got[i] != img[o]) {
				fail_msg("%s: byte 0x%zx (sub-page %u, next to "
					 "a denied one) is 0x%02x: neither "
					 "0x%02x nor 0x%02x",
					 cmd, o, sp, got[i], img[o], nw);
			}
		}
		memcpy(img + off, got, len);
		json_array_foreach(ev, i, e)
		{
			uint64_t g = hexstr(json_object_get(e, "gpa"));
			uint64_t l = (uint64_t)json_integer_value(
				json_object_get(e, "len"));
			json_int_t sp = json_integer_value(
				json_object_get(e, "subpage"));

			assert_true(g >= page + s->off &&
				    g + l <= page + s->off + s->len);
			assert_true(sp_denied((unsigned int)sp));
			assert_string_equal(json_string_value(json_object_get(
						    e, "verdict")),
					    "denied");
		}
		assert_int_equal(d1 - d0, json_array_size(ev));
		printf("# %s: %zu events, memory as the model allows\n", cmd,
		       json_array_size(ev));
		json_decref(ev);
		return true;
	}

	for (i = 0; i < n; i++) {
		struct spp_write_verdict v;
		char hex[65];

		assert_int_equal(spp_access_check_write(acc, page + st[i].off,
							st[i].len, &v),
				 0);
		if (v.allowed) {
			memcpy(img + st[i].off, st[i].b, st[i].len);
			continue;
		}
		e = json_array_get(ev, nexp++);
		if (!e)
			fail_msg(
				"%s: store %zu (0x%x+%u) denied by the model: no "
				"event (%zu events)",
				cmd, i, st[i].off, st[i].len,
				json_array_size(ev));
		for (unsigned int k = 0; k < st[i].len; k++)
			sprintf(hex + 2 * k, "%02x", st[i].b[k]);
		if (hexstr(json_object_get(e, "gpa")) != page + st[i].off ||
		    json_integer_value(json_object_get(e, "len")) !=
			    st[i].len ||
		    strcasecmp(json_string_value(json_object_get(e, "data")),
			       hex) ||
		    json_integer_value(json_object_get(e, "subpage")) !=
			    v.denied_subpage ||
		    strcmp(json_string_value(json_object_get(e, "verdict")),
			   "denied")) {
			char *s = json_dumps(e, JSON_COMPACT);

			fail_msg("%s: store %zu: event %s, want gpa 0x%" PRIx64
				 " len %u data %s subpage %u denied",
				 cmd, i, s, page + st[i].off, st[i].len, hex,
				 v.denied_subpage);
		}
	}
	if (json_array_size(ev) != nexp)
		fail_msg("%s: %zu events, the model denies %zu stores", cmd,
			 json_array_size(ev), nexp);
	assert_int_equal(d1 - d0, nexp);
	for (i = 0; i < len; i++)
		if (got[i] != img[off + i])
			fail_msg("%s: byte 0x%zx is 0x%02x, the model says "
				 "0x%02x (map 0x%08x)",
				 cmd, off + i, got[i], img[off + i],
				 spp_access_lookup(acc, page >> 12));
	printf("# %s: %zu of %zu stores denied, events and memory as the "
	       "model\n",
	       cmd, nexp, n);
	json_decref(ev);
	return true;
}

/* Every class, at all-allowed, all-denied and straddling offsets of
 * MAP_MIXED (sub-pages 2, 3, 8, 20-22, 31 denied). */
static const char *const steps[] = {
	"fill 0xf0 0x20 0x22", /* 1 allowed | 2 denied */
	"store1 0x10 0xab", /* allowed */
	"store1 0x110 0xcd", /* denied */
	"store2 0xff 0xbeef", /* 1 | 2: denied */
	"store4 0x1fe 0xdeadbeef", /* 3 | 4: denied */
	"store4 0x27e 0x01020304", /* 4 | 5: allowed */
	"store8 0x2c0 0x1122334455667788", /* allowed */
	"store8 0x180 0x8877665544332211", /* denied */
	"store8 0xfc 0x0102030405060708", /* 1 | 2: denied */
	"store4 0xffc 0x0a0b0c0d", /* last bytes, 31 denied */
	"sse 0x2f8", /* 5 | 6: allowed */
	"sse 0x1f8", /* 3 | 4: denied */
	"sse 0x418", /* 8: denied */
	"avx 0x3f0", /* 7 | 8: denied */
	"avx 0x5f0", /* 11 | 12: allowed */
	"rep 0x3c0 0x60 0x5a", /* 7 allowed, 8 denied: per element */
	"movs 0x9c0 0x60", /* 19 allowed, 20 denied */
	"xadd 0x300 0x1000000000000101", /* allowed */
	"xadd 0x408 0x102", /* denied */
	"xadd 0x47c 0x5", /* 8 | 9: denied */
	"cmpxchg 0x308 0x0 0x77", /* allowed, succeeds */
	"cmpxchg 0x308 0x5 0x88", /* allowed, fails */
	"cmpxchg 0x410 0x0 0x99", /* denied, succeeds */
	"cmpxchg 0x418 0x5 0x99", /* denied, fails (writes back) */
	"read 0xf0 0x200", /* 1 2 3 4 5: 5 has no denied neighbour */
	"memcpy 0x980 0x300", /* 19 20 21 22 23 24: 24 has none */
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

/* The same commands on QEMU without the shim: its replies. */
static void plain_replies(struct replies *rs)
{
	const struct qemu_test_opts o = { .prog = "wptest",
					  .marker = "^SPP-WPTEST ",
					  .name = "shim-plain" };
	static struct store st[MAX_STORES];
	static char reply[2 * WPT_DUMP_MAX + 8];
	struct qemu_test *q = qemu_test_start(&o);
	char want[128];
	int status = -1;

	assert_non_null(q);
	for (size_t i = 0; i < NSTEPS; i++) {
		size_t n, off, len;
		bool fuzzy;

		n = model_cmd(steps[i], st, want, sizeof(want), &fuzzy);
		qemu_test_cmd(q, steps[i], reply, sizeof(reply));
		keep(rs, reply);
		if (!strcmp(reply, "SKIP noavx"))
			continue;
		dump_range(st, n, &off, &len);
		dump(q, off, len, NULL, reply, sizeof(reply));
		keep(rs, reply);
		/* the model's img follows the run for xadd/cmpxchg replies */
		for (size_t k = 0; k < n; k++)
			if (!fuzzy)
				memcpy(img + st[k].off, st[k].b, st[k].len);
			else
				for (unsigned int b = 0; b < st[k].len; b++)
					img[st[k].off + b] =
						fuzzy_byte(steps[i], b);
	}
	assert_int_equal(qemu_test_cmd(q, "quit", NULL, 0), 0);
	assert_int_equal(wait_exit(q, &status), 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	qemu_test_stop(q);
	memset(img, 0, sizeof(img));
}

/* ---- the shim's boot ---------------------------------------------------- */

static char env_preload[512], env_control[200];

static const char *shim_env[] = { env_preload, env_control, NULL };
static const struct qemu_test_opts shim_opts = { .prog = "wptest",
						 .marker = "^SPP-WPTEST ",
						 .reboot = true,
						 .name = "shim",
						 .env = shim_env };

/* QEMU with the shim: sq, page, guest_avx, a fresh model. */
static int shim_boot(void)
{
	unsigned long long gpa;

	spp_access_destroy(acc);
	acc = NULL;
	if (spp_access_create(&acc))
		return -1;
	memset(img, 0, sizeof(img));
	sq = qemu_test_start(&shim_opts);
	if (!sq)
		return -1;
	if (sscanf(qemu_test_marker_line(sq),
		   "SPP-WPTEST page=0x%llx cpus=%*d avx=%d", &gpa,
		   &guest_avx) != 2)
		return -1;
	page = gpa;
	if (spp_access_add_ram(acc, page, WPT_PAGE_SIZE))
		return -1;
	printf("# shim guest up in %.1f s (retried %d), page 0x%" PRIx64
	       ", avx=%d\n",
	       qemu_test_elapsed_ms(sq) / 1e3, qemu_test_retries(sq), page,
	       guest_avx);
	return 0;
}

static int shim_setup(void **state)
{
	(void)state;
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/spp-shimtest.XXXXXX");
	if (!mkdtemp(sock_dir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/control", sock_dir);
	snprintf(env_preload, sizeof(env_preload), "LD_PRELOAD=%s", shim_lib);
	snprintf(env_control, sizeof(env_control), "SPP_QEMU_CONTROL=%s",
		 sock_path);
	return 0;
}

/* The replies of QEMU without the shim to the class list: first, so
 * that the shim's guest does not idle while it runs. */
static struct replies plain;

static void test_plain_reference(void **state)
{
	(void)state;
	stuck_armed = false; /* no stuck_jmp of this case */
	memset(img, 0, sizeof(img));
	plain_replies(&plain);
}

static int shim_teardown(void **state)
{
	(void)state;
	ctl_close(sc);
	sc = NULL;
	qemu_test_stop(sq);
	sq = NULL;
	spp_access_destroy(acc);
	unlink(sock_path);
	rmdir(sock_dir);
	return 0;
}

/* The control socket of the shim's guest, events on. */
static void shim_reconnect(void)
{
	json_t *r;

	sc = ctl_open(sock_path);
	r = ctl_ok(sc, "{\"execute\":\"events\",\"arguments\":"
		       "{\"enable\":true}}");
	json_decref(r);
}

/* 1. With the shim and nothing protected, every class lands as written
 * (the model with a full map), the guard traps nothing, and wptest
 * answers exactly as it does without the shim. */
static void test_unprotected(void **state)
{
	static struct replies shim; /* static: kept over a restart */

	(void)state;
	stuck_armed = false; /* no stuck_jmp yet */
	assert_int_equal(shim_boot(), 0);
	shim_reconnect();
	CASE_RESTARTABLE();
	for (size_t i = 0; i < shim.n; i++)
		free(shim.line[i]);
	shim.n = 0;
	assert_int_equal(ctl_map(sc, page), MAP_FULL);
	model_map(MAP_FULL);
	for (size_t i = 0; i < NSTEPS; i++)
		check_cmd(steps[i], &shim);
	assert_int_equal(ctl_stat(sc, "exits"), 0);
	assert_int_equal(ctl_stat(sc, "stores"), 0);
	assert_int_equal(ctl_stat(sc, "trapped_pages"), 0);

	/* the reference, from test_plain_reference */
	assert_true(plain.n > 0);
	assert_int_equal(plain.n, shim.n);
	for (size_t i = 0; i < shim.n; i++) {
		if (strcmp(plain.line[i], shim.line[i]))
			fail_msg("reply %zu differs: shim '%.80s', plain "
				 "'%.80s'",
				 i, shim.line[i], plain.line[i]);
		free(shim.line[i]);
	}
	printf("# %zu replies identical with and without the shim\n", shim.n);
}

/* Zero the page (unprotected) and check it. */
static void zero_page(void)
{
	assert_int_equal(ctl_map(sc, page), MAP_FULL);
	guest_ok("rep 0 4096 0");
	memset(img, 0, sizeof(img));
	expect_img(0, WPT_PAGE_SIZE);
}

/* 2. Every class against the core model under a mixed map. */
static void test_classes(void **state)
{
	(void)state;
	/*
	 * A guest that stops answering here (issue 11: in the nested test
	 * VM, seen in 3 of 4 runs once) is the test VM's nested-SVM defect,
	 * not the guard: an interrupt delivered while interrupts are off
	 * re-enters a handler that holds its spinlock, with or without spp
	 * (docs/testing.md). diag_stuck() shows it; the case runs again once.
	 */
	CASE_RESTARTABLE();
	zero_page();
	ctl_protect(sc, page, MAP_MIXED);
	model_map(MAP_MIXED);
	for (size_t i = 0; i < NSTEPS; i++)
		check_cmd(steps[i], NULL);
	/* nothing else on the page moved */
	expect_img(0, WPT_PAGE_SIZE);
}

/* 3. Live changes: protect, unprotect, protect-range, get-access. */
static void test_live_changes(void **state)
{
	json_t *r;

	(void)state;
	CASE_RESTARTABLE();
	ctl_protect(sc, page, 0);
	model_map(0);
	check_cmd("store8 0x600 0x1111111111111111", NULL); /* dropped */
	r = ctl_ok(sc,
		   "{\"execute\":\"unprotect\",\"arguments\":"
		   "{\"gpa\":%" PRIu64 "}}",
		   page);
	assert_int_equal(json_integer_value(json_object_get(r, "pages")), 1);
	json_decref(r);
	assert_int_equal(ctl_map(sc, page), MAP_FULL);
	model_map(MAP_FULL);
	check_cmd("store8 0x600 0x2222222222222222", NULL); /* lands */
	assert_int_equal(ctl_stat(sc, "trapped_pages"), 0);

	/* 16 bytes at 0x290: sub-page 5 denied, its neighbours not */
	r = ctl_ok(sc,
		   "{\"execute\":\"protect-range\",\"arguments\":"
		   "{\"gpa\":%" PRIu64 ",\"len\":16}}",
		   page + 0x290);
	assert_int_equal(json_integer_value(json_object_get(r, "pages")), 1);
	json_decref(r);
	assert_int_equal(ctl_map(sc, page), ~(1u << 5));
	model_map(~(1u << 5));
	check_cmd("store1 0x27f 0x31", NULL); /* sub-page 4: lands */
	check_cmd("store1 0x300 0x32", NULL); /* sub-page 6: lands */
	check_cmd("store8 0x290 0x3333333333333333", NULL); /* dropped */
	check_cmd("store2 0x2ff 0x3434", NULL); /* 5 | 6: dropped */
	check_cmd("store8 0x278 0x3535353535353535", NULL); /* 4 | 5 */
	r = ctl_ok(sc,
		   "{\"execute\":\"unprotect\",\"arguments\":"
		   "{\"gpa\":%" PRIu64 ",\"len\":1}}",
		   page + 0x2a0);
	json_decref(r);
	assert_int_equal(ctl_map(sc, page), MAP_FULL);
	model_map(MAP_FULL);
	check_cmd("store8 0x290 0x3636363636363636", NULL); /* lands */
}

/* 6. Bad requests change nothing; the kvmclock page is refused. */
static void test_bad_requests(void **state)
{
	const char *d;
	char reply[128];
	unsigned long long va;
	uint64_t pa, trapped;
	json_t *r;

	(void)state;
	CASE_RESTARTABLE();
	ctl_protect(sc, page, MAP_MIXED);
	model_map(MAP_MIXED);
	trapped = ctl_stat(sc, "trapped_pages");
	assert_true(trapped >= 1);

	d = ctl_err(sc,
		    "{\"execute\":\"protect\",\"arguments\":"
		    "{\"gpa\":%u,\"map\":0}}",
		    0x40000000u);
	assert_non_null(strstr(d, "not guest RAM"));
	d = ctl_err(sc,
		    "{\"execute\":\"set-access\",\"arguments\":"
		    "{\"gfn\":%" PRIu64 ",\"maps\":[0,0]}}",
		    (uint64_t)0x40000000u >> 12);
	assert_non_null(strstr(d, "not guest RAM"));
	/* a range from the last RAM page on: all or nothing */
	d = ctl_err(sc,
		    "{\"execute\":\"protect-range\",\"arguments\":"
		    "{\"gpa\":%u,\"len\":8192}}",
		    0x10000000u - 4096);
	assert_non_null(strstr(d, "not guest RAM"));
	assert_int_equal(ctl_map(sc, 0x10000000u - 4096), MAP_FULL);
	d = ctl_err(sc,
		    "{\"execute\":\"get-access\",\"arguments\":"
		    "{\"gfn\":%u,\"npages\":1}}",
		    0x40000000u >> 12);
	assert_non_null(strstr(d, "not guest RAM"));

	/* malformed: an error each, the connection still works */
	d = ctl_err(sc, "{\"execute\":\"protect\",\"arguments\":{\"gpa\":");
	d = ctl_err(sc, "protect 0x1000");
	d = ctl_err(sc,
		    "{\"execute\":\"protect\",\"arguments\":"
		    "{\"gpa\":%" PRIu64 ",\"map\":0,\"bogus\":1}}",
		    page);
	r = ctl_ok(sc, "{\"execute\":\"query-version\"}");
	assert_non_null(json_object_get(r, "package"));
	json_decref(r);
	assert_int_equal(ctl_map(sc, page), MAP_MIXED);
	assert_int_equal(ctl_stat(sc, "trapped_pages"), trapped);

	/* The kvmclock area: KVM writes it itself (MSR_KVM_SYSTEM_TIME_NEW
	 * points at hv_clock_boot[0] on the boot CPU). */
	assert_int_equal(shim_cmd("ksym hv_clock_boot", reply, sizeof(reply)),
			 0);
	assert_int_equal(sscanf(reply, "OK addr=0x%llx", &va), 1);
	assert_true(va >= 0xffffffff80000000ull);
	pa = (va - 0xffffffff80000000ull) & ~0xfffull;
	printf("# hv_clock_boot at 0x%llx: guest-physical page 0x%" PRIx64 "\n",
	       va, pa);
	assert_true(pa < 0x10000000u);
	d = ctl_err(sc,
		    "{\"execute\":\"protect\",\"arguments\":"
		    "{\"gpa\":%" PRIu64 ",\"map\":%u}}",
		    pa, 0xfffffffeu);
	assert_non_null(strstr(d, "kvmclock"));
	d = ctl_err(sc,
		    "{\"execute\":\"protect-range\",\"arguments\":"
		    "{\"gpa\":%" PRIu64 ",\"len\":8}}",
		    pa + 0x40);
	assert_non_null(strstr(d, "kvmclock"));
	d = ctl_err(sc,
		    "{\"execute\":\"set-access\",\"arguments\":"
		    "{\"gfn\":%" PRIu64 ",\"maps\":[0,0,0]}}",
		    (pa >> 12) - 1);
	assert_non_null(strstr(d, "kvmclock"));
	assert_int_equal(ctl_map(sc, pa), MAP_FULL);
	assert_int_equal(ctl_map(sc, pa - 4096), MAP_FULL);
	assert_int_equal(ctl_stat(sc, "trapped_pages"), trapped);
	/* unprotecting needs no check */
	r = ctl_ok(sc,
		   "{\"execute\":\"unprotect\",\"arguments\":"
		   "{\"gpa\":%" PRIu64 "}}",
		   pa);
	json_decref(r);
	/* and the guest still runs its clock and stores */
	check_cmd("store8 0x10 0x4141414141414141", NULL);
	check_cmd("store8 0x100 0x4242424242424242", NULL);
}

/* The held stores (query-held), after waiting up to @ms for @n. */
static json_t *held_wait(size_t n, int ms)
{
	double end = now_ms() + ms;

	for (;;) {
		json_t *h = ctl_ok(sc, "{\"execute\":\"query-held\"}");

		assert_true(json_is_array(h));
		if (json_array_size(h) >= n || now_ms() > end)
			return h;
		json_decref(h);
		usleep(50000);
	}
}

static void qmp_quick(const char *cmd)
{
	char reply[512];
	double t0 = now_ms();

	assert_int_equal(qemu_test_qmp(sq, cmd, reply, sizeof(reply)), 0);
	if (now_ms() - t0 > 5000)
		fail_msg("QMP %s took %.1f s", cmd, (now_ms() - t0) / 1e3);
}

/* 5. Policy stop: a denied store is held until resolved; QEMU's own
 * stop/cont still work meanwhile. */
static void test_policy_stop(void **state)
{
	char reply[512];
	const char *l;
	json_t *h, *e, *r;

	(void)state;
	stuck_armed = false; /* no stuck_jmp of this case */
	assert_int_equal(ctl_map(sc, page), MAP_MIXED);
	json_decref(ctl_ok(sc, "{\"execute\":\"set-policy\",\"arguments\":"
			       "{\"policy\":\"stop\"}}"));
	h = held_wait(0, 0);
	assert_int_equal(json_array_size(h), 0);
	json_decref(h);

	/* sub-page 3: denied, held */
	assert_int_equal(qemu_test_send(sq, "store8 0x1c0 0x5151515151515151"),
			 0);
	h = held_wait(1, 10000);
	assert_int_equal(json_array_size(h), 1);
	e = json_array_get(h, 0);
	if (json_object_get(e, "data") &&
	    json_is_object(json_object_get(e, "data")))
		e = json_object_get(e, "data");
	assert_int_equal(json_integer_value(json_object_get(e, "vcpu")), 0);
	assert_int_equal(hexstr(json_object_get(e, "gpa")), page + 0x1c0);
	assert_string_equal(json_string_value(json_object_get(e, "data")),
			    "5151515151515151");
	assert_string_equal(json_string_value(json_object_get(e, "verdict")),
			    "stopped");
	json_decref(h);
	/* the guest's command has not completed */
	assert_int_equal(qemu_test_expect(sq, "^(OK|ERR)", 500, NULL),
			 -ETIMEDOUT);

	/* QEMU's own stop and cont while the store is held */
	qmp_quick("stop");
	assert_int_equal(
		qemu_test_qmp(sq, "query-status", reply, sizeof(reply)), 0);
	assert_non_null(strstr(reply, "paused"));
	qmp_quick("cont");
	assert_int_equal(
		qemu_test_qmp(sq, "query-status", reply, sizeof(reply)), 0);
	assert_non_null(strstr(reply, "\"running\": true"));
	h = held_wait(1, 0);
	assert_int_equal(json_array_size(h), 1);
	json_decref(h);

	/* drop: the command completes, memory unchanged */
	r = ctl_ok(sc, "{\"execute\":\"resolve\",\"arguments\":"
		       "{\"vcpu\":0,\"commit\":false}}");
	assert_string_equal(json_string_value(json_object_get(r, "verdict")),
			    "denied");
	json_decref(r);
	assert_int_equal(qemu_test_expect(sq, "^(OK|ERR)", 10000, &l), 0);
	assert_string_equal(l, "OK store8");
	expect_img(0x1b8, 24);
	h = held_wait(0, 0);
	assert_int_equal(json_array_size(h), 0);
	json_decref(h);

	/* a second one, committed: memory changed */
	assert_int_equal(qemu_test_send(sq, "store4 0x1c4 0x52525252"), 0);
	h = held_wait(1, 10000);
	assert_int_equal(json_array_size(h), 1);
	json_decref(h);
	r = ctl_ok(sc, "{\"execute\":\"resolve\",\"arguments\":"
		       "{\"vcpu\":0,\"commit\":true}}");
	printf("# resolve commit: verdict %s\n",
	       json_string_value(json_object_get(r, "verdict")));
	assert_string_not_equal(
		json_string_value(json_object_get(r, "verdict")), "denied");
	json_decref(r);
	assert_int_equal(qemu_test_expect(sq, "^(OK|ERR)", 10000, &l), 0);
	assert_string_equal(l, "OK store4");
	memset(img + 0x1c4, 0x52, 4);
	expect_img(0x1b8, 24);
	/* no such held store */
	ctl_err(sc, "{\"execute\":\"resolve\",\"arguments\":"
		    "{\"vcpu\":0,\"commit\":false}}");
	json_decref(ctl_ok(sc, "{\"execute\":\"set-policy\",\"arguments\":"
			       "{\"policy\":\"deny\"}}"));
	json_array_clear(sc->events);
}

/* 4. QEMU's stop/cont and system_reset with protections active. */
static void test_qmp_control(void **state)
{
	char reply[512];
	unsigned long long gpa2;
	const char *l;
	int st = -1;

	(void)state;
	stuck_armed = false; /* no stuck_jmp of this case */
	assert_int_equal(ctl_map(sc, page), MAP_MIXED);
	qmp_quick("stop");
	assert_int_equal(
		qemu_test_qmp(sq, "query-status", reply, sizeof(reply)), 0);
	assert_non_null(strstr(reply, "paused"));
	/* the guest does not answer while stopped */
	assert_int_equal(qemu_test_send(sq, "where"), 0);
	assert_int_equal(qemu_test_expect(sq, "^(OK|ERR)", 1000, NULL),
			 -ETIMEDOUT);
	qmp_quick("cont");
	assert_int_equal(qemu_test_expect(sq, "^OK cpu=", 10000, NULL), 0);
	/* enforcement goes on */
	check_cmd("store8 0x400 0x6161616161616161", NULL); /* 8: denied */
	check_cmd("store8 0x480 0x6262626262626262", NULL); /* 9: allowed */

	/* system_reset: the guest boots again (policy log meanwhile: the
	 * rebooting kernel may use the protected page for anything, and a
	 * dropped store there could hang the boot). */
	json_decref(ctl_ok(sc, "{\"execute\":\"set-policy\",\"arguments\":"
			       "{\"policy\":\"log\"}}"));
	/* A reboot that hangs is a hung boot: counted, and QEMU with the
	 * shim started once more (protected and reset alike). */
	for (int attempt = 0;; attempt++) {
		qmp_quick("system_reset");
		if (!qemu_test_expect(sq, "^SPP-WPTEST ", 60000, &l))
			break;
		assert_int_equal(attempt, 0); /* hung twice */
		qemu_test_hung(sq, "no SPP-WPTEST within 60 s of "
				   "system_reset");
		ctl_close(sc);
		qemu_test_stop(sq);
		sq = NULL;
		assert_int_equal(shim_boot(), 0);
		sc = ctl_open(sock_path);
		json_decref(ctl_ok(sc, "{\"execute\":\"events\",\"arguments\":"
				       "{\"enable\":true}}"));
		ctl_protect(sc, page, MAP_MIXED);
		model_map(MAP_MIXED);
		json_decref(ctl_ok(sc, "{\"execute\":\"set-policy\","
				       "\"arguments\":{\"policy\":\"log\"}}"));
	}
	assert_int_equal(sscanf(l, "SPP-WPTEST page=0x%llx", &gpa2), 1);
	printf("# rebooted: page 0x%llx (was 0x%" PRIx64 ")\n", gpa2, page);
	/* the map survived the reset, QEMU runs */
	assert_int_equal(ctl_map(sc, page), MAP_MIXED);
	assert_int_equal(waitpid(qemu_test_pid(sq), &st, WNOHANG), 0);
	json_decref(ctl_ok(sc, "{\"execute\":\"set-policy\",\"arguments\":"
			       "{\"policy\":\"deny\"}}"));
	json_decref(ctl_ok(sc,
			   "{\"execute\":\"unprotect\",\"arguments\":"
			   "{\"gpa\":%" PRIu64 "}}",
			   page));
	/* the new page: protected, enforced */
	spp_access_destroy(acc);
	assert_int_equal(spp_access_create(&acc), 0);
	page = gpa2;
	assert_int_equal(spp_access_add_ram(acc, page, WPT_PAGE_SIZE), 0);
	memset(img, 0, sizeof(img));
	ctl_protect(sc, page, MAP_MIXED);
	model_map(MAP_MIXED);
	json_array_clear(sc->events);
	check_cmd("store8 0x100 0x7171717171717171", NULL); /* denied */
	check_cmd("store8 0x80 0x7272727272727272", NULL); /* allowed */
}

/* 1 (end). quit: the guest powers off, QEMU exits 0. */
static void test_quit(void **state)
{
	int st = -1;

	(void)state;
	stuck_armed = false; /* no stuck_jmp of this case */
	/* wptest's page goes back to the kernel when it exits, and the
	 * kernel may write it at once (a dropped store there hung the
	 * power-off) */
	json_decref(ctl_ok(sc,
			   "{\"execute\":\"unprotect\",\"arguments\":"
			   "{\"gpa\":%" PRIu64 "}}",
			   page));
	assert_int_equal(ctl_stat(sc, "trapped_pages"), 0);
	assert_int_equal(qemu_test_cmd(sq, "quit", NULL, 0), 0);
	assert_int_equal(qemu_test_expect(sq, "^SPP-EXIT rc=0$", 30000, NULL),
			 0);
	assert_int_equal(wait_exit(sq, &st), 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- spp qemu ----------------------------------------------------------- */

/* The last line of the file @path (static). */
static const char *last_line(const char *path)
{
	static char last[8192];
	char line[8192];
	FILE *f = fopen(path, "r");

	last[0] = 0;
	if (!f)
		return last;
	while (fgets(line, sizeof(line), f))
		if (line[0] != '\n')
			snprintf(last, sizeof(last), "%s", line);
	fclose(f);
	last[strcspn(last, "\n")] = 0;
	return last;
}

/* 7. spp qemu --control --events --stats, end to end. */
static void test_spp_qemu(void **state)
{
	char dir[64] = "/tmp/spp-shimtest.XXXXXX", sock[128], evf[128],
	     log[512], line[4096];
	const char *prefix[] = { spp_bin,   "qemu",	"--control",
				 sock,	    "--events", evf,
				 "--stats", "--",	NULL };
	const struct qemu_test_opts o = { .prog = "wptest",
					  .marker = "^SPP-WPTEST ",
					  .prefix = prefix,
					  .name = "spp-qemu" };
	static const char *const fields[] = {
		"type", "seq",	    "time",	 "vcpu",    "gpa",
		"len",	"data",	    "page",	 "subpage", "subpage_gpa",
		"rip",	"insn_rip", "fragments", "verdict",
	};
	struct qemu_test *q;
	struct ctl *c;
	unsigned long long gpa;
	json_t *v, *st;
	FILE *f;
	int status = -1, n = 0;

	(void)state;
	stuck_armed = false; /* no stuck_jmp of this case */
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/control", dir);
	snprintf(evf, sizeof(evf), "%s/events.jsonl", dir);
	q = qemu_test_start(&o);
	assert_non_null(q);
	assert_int_equal(sscanf(qemu_test_marker_line(q),
				"SPP-WPTEST page=0x%llx", &gpa),
			 1);
	c = ctl_open(sock);
	json_decref(ctl_ok(c,
			   "{\"execute\":\"protect\",\"arguments\":"
			   "{\"gpa\":%llu,\"map\":%u}}",
			   gpa, 0xfffffffeu));
	assert_int_equal(qemu_test_cmd(q, "store8 0x8 0x0807060504030201", NULL,
				       0),
			 0); /* denied */
	assert_int_equal(qemu_test_cmd(q, "store8 0x88 0x1112131415161718",
				       NULL, 0),
			 0); /* allowed */
	assert_int_equal(qemu_test_cmd(q, "dump 0x0 0x100", line, sizeof(line)),
			 0);
	assert_int_equal(strncmp(line + 3 + 16, "0000000000000000", 16), 0);
	assert_int_equal(strncmp(line + 3 + 2 * 0x88, "1817161514131211", 16),
			 0);
	/* before quit: the page goes back to the kernel (test_quit) */
	json_decref(ctl_ok(c,
			   "{\"execute\":\"unprotect\",\"arguments\":"
			   "{\"gpa\":%llu}}",
			   gpa));
	ctl_close(c);
	assert_int_equal(qemu_test_cmd(q, "quit", NULL, 0), 0);
	assert_int_equal(wait_exit(q, &status), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* the events file: exactly the violation */
	f = fopen(evf, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		printf("# event: %s", line);
		v = json_loads(line, 0, NULL);
		assert_non_null(v);
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (!json_object_get(v, fields[i]))
				fail_msg("event line without '%s': %s",
					 fields[i], line);
		assert_string_equal(
			json_string_value(json_object_get(v, "type")), "write");
		assert_int_equal(hexstr(json_object_get(v, "gpa")), gpa + 8);
		assert_int_equal(hexstr(json_object_get(v, "page")), gpa);
		assert_int_equal(json_integer_value(json_object_get(v, "len")),
				 8);
		assert_string_equal(
			json_string_value(json_object_get(v, "data")),
			"0102030405060708");
		assert_int_equal(
			json_integer_value(json_object_get(v, "subpage")), 0);
		assert_string_equal(
			json_string_value(json_object_get(v, "verdict")),
			"denied");
		json_decref(v);
		n++;
	}
	fclose(f);
	assert_int_equal(n, 1);

	/* stderr's last line: the --stats JSON */
	snprintf(log, sizeof(log), "%s/qemu.log", qemu_test_dir(q));
	v = json_loads(last_line(log), 0, NULL);
	if (!v)
		fail_msg("last stderr line not JSON: %s", last_line(log));
	printf("# --stats: %s\n", last_line(log));
	assert_int_equal(json_integer_value(json_object_get(v, "qemu_status")),
			 0);
	assert_int_equal(json_integer_value(json_object_get(v, "events")), 1);
	st = json_object_get(v, "stats");
	assert_int_equal(json_integer_value(json_object_get(st, "denied")), 1);
	/* the allowed one and any other store into the trapped pages (the
	 * guard may trap more than the protected page: trapped_pages) */
	assert_true(json_integer_value(json_object_get(st, "allowed")) >= 1);
	assert_int_equal(json_integer_value(json_object_get(st, "stores")),
			 json_integer_value(json_object_get(st, "allowed")) +
				 1);
	json_decref(v);
	qemu_test_stop(q);
	unlink(evf);
	unlink(sock);
	rmdir(dir);
}

/* 7b. spp qemu --protect beyond RAM: status 2, the page named, QEMU
 * gone (nothing left in the process group). */
static void test_spp_qemu_bad_rule(void **state)
{
	char dir[64] = "/tmp/spp-shimtest.XXXXXX", err[128], text[4096] = "";
	const char *kernel = qemu_test_kernel(), *initrd = qemu_test_initrd();
	const char *qemu = getenv("SPP_QEMU") ? getenv("SPP_QEMU") :
						"qemu-system-x86_64";
	double t0 = now_ms();
	pid_t pid, r;
	int status = -1, fd;
	ssize_t n;

	(void)state;
	stuck_armed = false; /* no stuck_jmp of this case */
	assert_non_null(mkdtemp(dir));
	snprintf(err, sizeof(err), "%s/stderr", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		setpgid(0, 0);
		fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execl(spp_bin, spp_bin, "qemu", "--protect", "0x40000000:0x0",
		      "--", qemu, "-enable-kvm", "-cpu", "host", "-m", "256",
		      "-nodefaults", "-display", "none", "-serial", "null",
		      "-kernel", kernel, "-initrd", initrd, "-append",
		      "console=ttyS0 nokaslr quiet spp.test=idle", "-no-reboot",
		      (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	do {
		r = waitpid(pid, &status, WNOHANG);
		if (!r)
			usleep(50000);
	} while (!r && now_ms() - t0 < 90000);
	if (!r) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("spp qemu still runs after 90 s");
	}
	fd = open(err, O_RDONLY);
	n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = 0;
	printf("# spp qemu --protect 0x40000000:0x0: status %d in %.1f s\n",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	       (now_ms() - t0) / 1e3);
	for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n"))
		printf("# stderr: %s\n", l);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
	assert_non_null(
		memmem(text, (size_t)(n > 0 ? n : 0), "0x40000000", 10));
	/* QEMU ended with it: nothing left of the process group */
	usleep(200000);
	if (kill(-pid, 0) == 0) {
		kill(-pid, SIGKILL);
		fail_msg("a process of spp qemu's group outlived it");
	}
	assert_int_equal(errno, ESRCH);
	unlink(err);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	/* One group (one TAP plan): the shim's boot is the group's, the
	 * spp qemu tests start their own QEMU after it has ended. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_reference),
		cmocka_unit_test(test_unprotected),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_live_changes),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_policy_stop),
		cmocka_unit_test(test_qmp_control),
		cmocka_unit_test(test_quit),
		cmocka_unit_test(test_spp_qemu),
		cmocka_unit_test(test_spp_qemu_bad_rule),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s SPP LIBSPP-QEMU.SO\n", argv[0]);
		return 2;
	}
	spp_bin = argv[1];
	shim_lib = argv[2];
	if (qemu_test_unavailable("qemu/shim", NULL))
		return 0;
	return cmocka_run_group_tests_name("qemu_shim", tests, shim_setup,
					   shim_teardown);
}
