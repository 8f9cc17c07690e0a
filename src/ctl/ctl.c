// SPDX-License-Identifier: MIT
/*
 * ctl.c - the control socket (spp/ctl.h, docs/control.md): one server
 * thread polls the listening socket, an eventfd (events to send, shut
 * down) and up to SPP_CTL_MAX_CLIENTS clients. A client has an input
 * buffer (one request line, at most SPP_CTL_LINE_MAX bytes) and an output
 * ring of fixed size that replies and events share, under the ctl's
 * lock: spp_ctl_event() appends to the rings of subscribers from vCPU
 * threads without allocating or blocking, and drops what does not fit.
 * A reply always fits: events leave REPLY_MAX bytes free, and the server
 * reads a client's next request only when that much is free.
 *
 * Commands are rows of one table (name, argument spec, handler); the
 * arguments are checked against the spec before a handler runs, so a
 * handler sees only known keys of the right type and range.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <spp/ctl.h>
#include <spp/event_json.h>
#include <spp/ksym.h>
#include <spp/spp.h>
#include <spp/vector.h>
#include <spp/x86.h>

#include "kvm/bytemask.h"
#include "util/clock.h"

#define RING_SIZE (256u << 10) /* a client's output queue */
#define REPLY_MAX (64u << 10) /* the longest reply */
#define EVENT_MAX 1536 /* the longest event line (insn_sym included) */
#define FLUSH_MS 1000 /* spp_ctl_destroy()'s wait for slow readers */
#define GPA_LIMIT (1ULL << SPP_GPA_BITS)
#define SPP_CTL_STR_(x) #x
#define SPP_CTL_STR(x) SPP_CTL_STR_(x)

struct client {
	int fd;
	bool negotiated;
	bool events; /* subscribed */
	bool discard; /* skipping the rest of an over-long line */
	bool closing; /* flush, then close (the 17th client) */
	char *in; /* the request line so far */
	size_t in_len, in_cap;
	/* the output ring, under ctl->lock */
	char *out;
	size_t head, len; /* first byte, bytes queued */
	uint64_t lost; /* events dropped since the last SPP_EVENTS_LOST */
};

struct spp_ctl {
	struct spp_guard *g;
	struct spp_ctl_ops ops;
	void *ctx;
	char *path;
	int lfd, efd;
	pthread_t thread;
	double t0;

	pthread_mutex_t lock; /* clients' rings, subscriptions, counters */
	struct client *clients[SPP_CTL_MAX_CLIENTS];
	unsigned int nclients;
	uint64_t seq; /* events reported */
	uint64_t events_sent, events_dropped;
	struct spp_ksym_table *syms; /* under lock: events read it */
	atomic_bool stop;
	atomic_bool retry_now; /* try pending rules at once (new symbols) */
	/* spp_ctl_guest_reset(): resets asked (atomic) and done (under
	 * lock, reset_cond signalled) */
	atomic_uint resets_asked;
	unsigned int resets_done;
	pthread_cond_t reset_cond;

	/* the server thread's own */
	struct rule *rules[SPP_CTL_MAX_RULES];
	unsigned int nrules, rule_seq;
	double next_retry;
	unsigned int idle_rounds; /* retries since one applied or came */
};

/* ---- output ---------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t ring_free(const struct client *cl)
{
	return RING_SIZE - cl->len;
}

/* Append @n bytes to @cl's ring; the caller checked they fit. Under
 * the lock. */
static void ring_put(struct client *cl, const char *s, size_t n)
{
	size_t tail = (cl->head + cl->len) % RING_SIZE;
	size_t first = n < RING_SIZE - tail ? n : RING_SIZE - tail;

	memcpy(cl->out + tail, s, first);
	memcpy(cl->out, s + first, n - first);
	cl->len += n;
}

static void wake(struct spp_ctl *c)
{
	uint64_t one = 1;

	if (write(c->efd, &one, sizeof(one)) < 0) {
		/* the counter is full: the server is awake anyway */
	}
}

static void timestamp(char *buf, size_t size)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	snprintf(buf, size, "{\"seconds\":%lld,\"microseconds\":%ld}",
		 (long long)tv.tv_sec, (long)tv.tv_usec);
}

/* Queue one line (a '\n' is added) for @cl; false if it does not fit
 * while leaving @reserve bytes free. Under the lock. */
static bool queue_line(struct client *cl, const char *s, size_t n,
		       size_t reserve)
{
	if (n + 1 + reserve > ring_free(cl))
		return false;
	ring_put(cl, s, n);
	ring_put(cl, "\n", 1);
	return true;
}

/* Queue the JSON value @v as one line for @cl and free it. The server
 * thread only. */
static void send_json(struct spp_ctl *c, struct client *cl, json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;

	json_decref(v);
	pthread_mutex_lock(&c->lock);
	if (!s || !queue_line(cl, s, strlen(s), 0))
		/* out of memory, or a reply beyond REPLY_MAX (never: the
		 * replies are bounded): a line the client can read */
		queue_line(cl,
			   "{\"error\":{\"class\":\"GenericError\",\"desc\":"
			   "\"reply too large or out of memory\"}}",
			   73, 0);
	pthread_mutex_unlock(&c->lock);
	free(s);
}

/* A client's ring had events dropped: tell it once there is room. Under
 * the lock. */
static void report_lost(struct client *cl)
{
	char line[256], ts[80];
	int n;

	if (!cl->lost)
		return;
	timestamp(ts, sizeof(ts));
	n = snprintf(
		line, sizeof(line),
		"{\"event\":\"SPP_EVENTS_LOST\",\"data\":{\"count\":%" PRIu64
		"},\"timestamp\":%s}",
		cl->lost, ts);
	if (queue_line(cl, line, (size_t)n, REPLY_MAX))
		cl->lost = 0;
}

void spp_ctl_event(struct spp_ctl *c, const struct spp_event *ev)
{
	char data[EVENT_MAX - 200], line[EVENT_MAX], ts[80];
	bool any = false;
	unsigned int i;
	uint64_t seq;
	int n;

	if (!c || !ev)
		return;
	timestamp(ts, sizeof(ts));
	pthread_mutex_lock(&c->lock);
	seq = ++c->seq;
	n = spp_event_json_ksym(ev, seq, now() - c->t0, c->syms, data,
				sizeof(data));
	if (n > 0 && (size_t)n < sizeof(data))
		n = snprintf(line, sizeof(line),
			     "{\"event\":\"%s\",\"data\":%s,\"timestamp\":%s}",
			     ev->verdict == SPP_VERDICT_ALLOWED ?
				     "SPP_ALLOWED" :
				     "SPP_VIOLATION",
			     data, ts);
	for (i = 0; n > 0 && (size_t)n < sizeof(line) && i < c->nclients; i++) {
		struct client *cl = c->clients[i];

		if (!cl->events || cl->closing)
			continue;
		report_lost(cl);
		if (!cl->lost && queue_line(cl, line, (size_t)n, REPLY_MAX)) {
			c->events_sent++;
			any = true;
		} else {
			cl->lost++;
			c->events_dropped++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (any)
		wake(c);
}

/* ---- requests ----------------------------------------------------------- */

/* An error reply being built: class and text. */
struct err {
	const char *cls;
	char desc[256];
};

__attribute__((format(printf, 2, 3))) static json_t *fail(struct err *e,
							  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->desc, sizeof(e->desc), fmt, ap);
	va_end(ap);
	if (!e->cls)
		e->cls = "GenericError";
	return NULL;
}

/* The error text of a guard errno for [@gpa, + @len). */
static json_t *guard_fail(struct err *e, int ret, uint64_t gpa, uint64_t len)
{
	char buf[128];

	switch (ret) {
	case -EFAULT:
		return fail(e,
			    "not guest RAM: [0x%" PRIx64 ", 0x%" PRIx64
			    ") is not all guest memory the guard owns",
			    gpa, gpa + len);
	case -EIO:
		return fail(e,
			    "KVM refused a memslot change (nothing changed)");
	case -ENOMEM:
		return fail(e, "out of memory (nothing changed)");
	case -EINVAL:
		return fail(e, "invalid request");
	}
	return fail(e, "%s", strerror_r(-ret, buf, sizeof(buf)));
}

/* The embedder's check of pages [@gfn, + @n); true when allowed. */
static bool protectable(struct spp_ctl *c, uint64_t gfn, uint64_t n,
			struct err *e)
{
	const char *why = NULL;
	int ret;

	if (!c->ops.protectable)
		return true;
	ret = c->ops.protectable(c->ctx, gfn, n, &why);
	if (!ret)
		return true;
	if (ret == -EFAULT)
		fail(e, "not guest RAM: %s", why ? why : "refused");
	else
		fail(e, "not protectable: %s", why ? why : "refused");
	return false;
}

enum arg_type { A_UINT, A_BOOL, A_STRING, A_MAPS, A_ADDR };

struct arg {
	const char *name;
	enum arg_type type;
	bool required;
	uint64_t min, max; /* A_UINT: the range */
};

#define ARGS_MAX 3

struct request {
	json_t *args; /* checked against the command's spec */
	struct client *cl;
};

/* A_UINT argument @name, known to be there and in range (or @def). */
static uint64_t arg_u64(const struct request *r, const char *name, uint64_t def)
{
	json_t *v = json_object_get(r->args, name);

	return v ? (uint64_t)json_integer_value(v) : def;
}

static json_t *version_obj(void)
{
	unsigned int v[3] = { 0, 0, 0 };
	char pkg[64];

	sscanf(spp_version(), "%u.%u.%u", &v[0], &v[1], &v[2]);
	snprintf(pkg, sizeof(pkg), "spp %s", spp_version());
	return json_pack("{s:{s:i,s:i,s:i},s:s}", "qemu", "major", v[0],
			 "minor", v[1], "micro", v[2], "package", pkg);
}

static json_t *cmd_capabilities(struct spp_ctl *c, struct request *r,
				struct err *e)
{
	(void)c;
	(void)e;
	r->cl->negotiated = true;
	return json_object();
}

static json_t *cmd_version(struct spp_ctl *c, struct request *r, struct err *e)
{
	(void)c;
	(void)r;
	(void)e;
	return version_obj();
}

static json_t *cmd_commands(struct spp_ctl *c, struct request *r,
			    struct err *e);

/* A zeroed request for the maps of pages [@gfn, + @n) (the caller frees
 * it), or NULL without memory. */
static struct spp_subpage *maps_req(uint64_t gfn, uint32_t n)
{
	struct spp_subpage *req;

	req = calloc(1, sizeof(*req) + n * sizeof(uint32_t));
	if (req) {
		req->gfn_base = gfn;
		req->npages = n;
	}
	return req;
}

/* The maps of pages [@gfn, + @n) into @maps; 0 or a guard errno. */
static int get_maps(struct spp_ctl *c, uint64_t gfn, uint32_t n, uint32_t *maps)
{
	struct spp_subpage *req = maps_req(gfn, n);
	int ret;

	if (!req)
		return -ENOMEM;
	ret = spp_guard_get_access(c->g, req);
	if (ret >= 0)
		memcpy(maps, req->access_map, n * sizeof(uint32_t));
	free(req);
	return ret < 0 ? ret : 0;
}

/* SET maps for pages [@gfn, + @n), @n <= SPP_CTL_MAX_PAGES. */
static int set_maps(struct spp_ctl *c, uint64_t gfn, uint32_t n,
		    const uint32_t *maps)
{
	struct spp_subpage *req = maps_req(gfn, n);
	int ret;

	if (!req)
		return -ENOMEM;
	memcpy(req->access_map, maps, n * sizeof(uint32_t));
	ret = spp_guard_set_access(c->g, req);
	free(req);
	return ret < 0 ? ret : 0;
}

static void rules_claim(struct spp_ctl *c, uint64_t gfn, uint64_t n,
			const uint32_t *maps);

/*
 * set-access and protect: whole maps @m for pages [@gfn, + @n). A whole
 * map carries the page's other denials over (a read-modify-write of the
 * map does), so only the sub-pages it turns from writable to denied are
 * the address protection's; a rule keeps what it denied before. 0 or the
 * guard's errno.
 */
static int set_whole_maps(struct spp_ctl *c, uint64_t gfn, uint32_t n,
			  const uint32_t *m)
{
	uint32_t old[SPP_CTL_MAX_PAGES];
	uint32_t i;
	int ret;

	if (!c->nrules) /* no rule to claim from: no need for the old maps */
		return set_maps(c, gfn, n, m);
	ret = get_maps(c, gfn, n, old);
	if (!ret)
		ret = set_maps(c, gfn, n, m);
	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		old[i] = ~old[i] | m[i]; /* clear: newly denied */
	rules_claim(c, gfn, n, old);
	return 0;
}

static json_t *cmd_set_access(struct spp_ctl *c, struct request *r,
			      struct err *e)
{
	json_t *maps = json_object_get(r->args, "maps"), *v;
	uint64_t gfn = arg_u64(r, "gfn", 0);
	uint32_t m[SPP_CTL_MAX_PAGES];
	size_t i, n = json_array_size(maps);
	bool protect = false;
	int ret;

	if (gfn + n > GPA_LIMIT >> SPP_PAGE_SHIFT)
		return fail(e,
			    "gfn 0x%" PRIx64 " + %zu pages beyond the "
			    "%u-bit guest-physical space",
			    gfn, n, SPP_GPA_BITS);
	json_array_foreach(maps, i, v)
	{
		m[i] = (uint32_t)json_integer_value(v);
		protect |= m[i] != SPP_ACCESS_FULL;
	}
	if (protect && !protectable(c, gfn, n, e))
		return NULL;
	ret = set_whole_maps(c, gfn, (uint32_t)n, m);
	if (ret)
		return guard_fail(e, ret, gfn << SPP_PAGE_SHIFT,
				  n << SPP_PAGE_SHIFT);
	return json_pack("{s:I}", "npages", (json_int_t)n);
}

static json_t *cmd_get_access(struct spp_ctl *c, struct request *r,
			      struct err *e)
{
	uint64_t gfn = arg_u64(r, "gfn", 0), n = arg_u64(r, "npages", 1);
	uint32_t m[SPP_CTL_MAX_PAGES];
	json_t *a;
	uint64_t i;
	int ret;

	if (gfn + n > GPA_LIMIT >> SPP_PAGE_SHIFT)
		return fail(e,
			    "gfn 0x%" PRIx64 " + %" PRIu64 " pages beyond "
			    "the %u-bit guest-physical space",
			    gfn, n, SPP_GPA_BITS);
	ret = get_maps(c, gfn, (uint32_t)n, m);
	if (ret)
		return guard_fail(e, ret, gfn << SPP_PAGE_SHIFT,
				  n << SPP_PAGE_SHIFT);
	a = json_array();
	for (i = 0; a && i < n; i++)
		json_array_append_new(a, json_integer(m[i]));
	return json_pack("{s:o}", "maps", a);
}

static json_t *cmd_protect(struct spp_ctl *c, struct request *r, struct err *e)
{
	uint64_t gpa = arg_u64(r, "gpa", 0);
	uint32_t map = (uint32_t)arg_u64(r, "map", 0);
	int ret;

	if (gpa & (SPP_PAGE_SIZE - 1))
		return fail(e, "gpa 0x%" PRIx64 " is not 4 KiB aligned", gpa);
	if (map != SPP_ACCESS_FULL &&
	    !protectable(c, gpa >> SPP_PAGE_SHIFT, 1, e))
		return NULL;
	ret = set_whole_maps(c, gpa >> SPP_PAGE_SHIFT, 1, &map);
	if (ret)
		return guard_fail(e, ret, gpa, SPP_PAGE_SIZE);
	return json_pack("{s:i}", "pages", 1);
}

/* The sub-pages of page @page that [@gpa, @end) touches, as a map. */
static uint32_t touched(uint64_t page, uint64_t gpa, uint64_t end)
{
	uint64_t s = gpa > page ? gpa : page;
	uint64_t t = end < page + SPP_PAGE_SIZE ? end : page + SPP_PAGE_SIZE;
	unsigned int first = (unsigned int)((s - page) / SPP_SUBPAGE_SIZE);
	unsigned int last = (unsigned int)((t - 1 - page) / SPP_SUBPAGE_SIZE);
	uint32_t m = 0;

	for (; first <= last; first++)
		m |= 1u << first;
	return m;
}

/*
 * Pages [@gpa, @gpa + @len) rounded outward: each page's map ANDed with
 * the complement of the touched sub-pages (@deny) or ORed with them.
 * All or nothing: the maps are read first (that also checks RAM), then
 * set in requests of at most SPP_CTL_MAX_PAGES pages; when one fails the
 * ones before are set back.
 */
static json_t *change_range(struct spp_ctl *c, uint64_t gpa, uint64_t len,
			    bool deny, struct err *e)
{
	uint64_t first = gpa & SPP_PAGE_MASK;
	uint64_t end = gpa + len;
	uint64_t npages = ((end + SPP_PAGE_SIZE - 1) & SPP_PAGE_MASK) - first;
	uint32_t *old = NULL, *m = NULL;
	uint64_t i, done;
	int ret = 0;

	npages >>= SPP_PAGE_SHIFT;
	if (deny && !protectable(c, first >> SPP_PAGE_SHIFT, npages, e))
		return NULL;
	if (npages > (64u << 20) / sizeof(uint32_t))
		return fail(e, "range too large (at most %u pages)",
			    (unsigned int)((64u << 20) / sizeof(uint32_t)));
	old = malloc(npages * sizeof(*old));
	m = malloc(npages * sizeof(*m));
	if (!old || !m)
		ret = -ENOMEM;
	for (i = 0; !ret && i < npages; i += SPP_CTL_MAX_PAGES) {
		uint64_t k = npages - i < SPP_CTL_MAX_PAGES ? npages - i :
							      SPP_CTL_MAX_PAGES;

		ret = get_maps(c, (first >> SPP_PAGE_SHIFT) + i, (uint32_t)k,
			       old + i);
	}
	for (i = 0; !ret && i < npages; i++) {
		uint32_t t = touched(first + (i << SPP_PAGE_SHIFT), gpa, end);

		m[i] = deny ? old[i] & ~t : old[i] | t;
	}
	for (done = 0; !ret && done < npages; done += SPP_CTL_MAX_PAGES) {
		uint64_t k = npages - done < SPP_CTL_MAX_PAGES ?
				     npages - done :
				     SPP_CTL_MAX_PAGES;

		ret = set_maps(c, (first >> SPP_PAGE_SHIFT) + done, (uint32_t)k,
			       m + done);
		if (ret) {
			/* undo what was set: all or nothing */
			for (i = 0; i < done; i += SPP_CTL_MAX_PAGES)
				set_maps(c, (first >> SPP_PAGE_SHIFT) + i,
					 SPP_CTL_MAX_PAGES, old + i);
			break;
		}
	}
	/* what the range denied is the address protection's now */
	if (!ret && deny && c->nrules) {
		for (i = 0; i < npages; i++)
			m[i] = ~touched(first + (i << SPP_PAGE_SHIFT), gpa,
					end);
		rules_claim(c, first >> SPP_PAGE_SHIFT, npages, m);
	}
	free(old);
	free(m);
	if (ret)
		return guard_fail(e, ret, gpa, len);
	return json_pack("{s:I}", "pages", (json_int_t)npages);
}

static json_t *cmd_protect_range(struct spp_ctl *c, struct request *r,
				 struct err *e)
{
	uint64_t gpa = arg_u64(r, "gpa", 0), len = arg_u64(r, "len", 1);

	if (gpa + len > GPA_LIMIT)
		return fail(e,
			    "gpa 0x%" PRIx64 " + len 0x%" PRIx64
			    " beyond the %u-bit guest-physical space",
			    gpa, len, SPP_GPA_BITS);
	return change_range(c, gpa, len, true, e);
}

static json_t *cmd_unprotect(struct spp_ctl *c, struct request *r,
			     struct err *e)
{
	uint64_t gpa = arg_u64(r, "gpa", 0), len;

	if (!json_object_get(r->args, "len")) {
		gpa &= SPP_PAGE_MASK; /* the page at gpa */
		len = SPP_PAGE_SIZE;
	} else {
		len = arg_u64(r, "len", 1);
	}
	if (gpa + len > GPA_LIMIT)
		return fail(e,
			    "gpa 0x%" PRIx64 " + len 0x%" PRIx64
			    " beyond the %u-bit guest-physical space",
			    gpa, len, SPP_GPA_BITS);
	return change_range(c, gpa, len, false, e);
}

/* protect-bytes / unprotect-bytes: byte masks finer than the hardware
 * (spp_guard_protect_bytes()); all or nothing in the guard. */
static json_t *change_bytes(struct spp_ctl *c, struct request *r, struct err *e,
			    bool on)
{
	uint64_t gpa = arg_u64(r, "gpa", 0), len = arg_u64(r, "len", 1);
	uint64_t gfn = gpa >> SPP_PAGE_SHIFT, n;
	int ret;

	if (gpa + len > GPA_LIMIT)
		return fail(e,
			    "gpa 0x%" PRIx64 " + len 0x%" PRIx64
			    " beyond the %u-bit guest-physical space",
			    gpa, len, SPP_GPA_BITS);
	n = ((gpa + len - 1) >> SPP_PAGE_SHIFT) - gfn + 1;
	if (on && !protectable(c, gfn, n, e))
		return NULL;
	ret = on ? spp_guard_protect_bytes(c->g, gpa, len) :
		   spp_guard_unprotect_bytes(c->g, gpa, len);
	if (ret == -ENOSPC)
		return fail(e,
			    "too many pages with byte masks (at most %u; "
			    "nothing changed)",
			    SPP_GUARD_BYTES_MAX_PAGES);
	if (ret)
		return guard_fail(e, ret, gpa, len);
	return json_pack("{s:I}", "pages", (json_int_t)n);
}

static json_t *cmd_protect_bytes(struct spp_ctl *c, struct request *r,
				 struct err *e)
{
	return change_bytes(c, r, e, true);
}

static json_t *cmd_unprotect_bytes(struct spp_ctl *c, struct request *r,
				   struct err *e)
{
	return change_bytes(c, r, e, false);
}

static const char *const policy_names[] = {
	[SPP_POLICY_DENY] = "deny",
	[SPP_POLICY_LOG] = "log",
	[SPP_POLICY_STOP] = "stop",
};

static json_t *cmd_set_policy(struct spp_ctl *c, struct request *r,
			      struct err *e)
{
	const char *p = json_string_value(json_object_get(r->args, "policy"));
	unsigned int i;

	for (i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++)
		if (!strcmp(p, policy_names[i])) {
			spp_guard_set_policy(c->g, (enum spp_policy)i);
			return json_object();
		}
	return fail(e, "policy '%s': expected deny, log or stop", p);
}

static json_t *cmd_query_policy(struct spp_ctl *c, struct request *r,
				struct err *e)
{
	/* the guard has no getter yet: its field, read as its vCPU threads
	 * read it */
	unsigned int p = (unsigned int)spp_guard_policy(c->g);

	(void)r;
	(void)e;
	return json_pack("{s:s}", "policy",
			 p <= SPP_POLICY_STOP ? policy_names[p] : "?");
}

/* The guard's counters and the ctl's own. */
static json_t *stats_obj(struct spp_ctl *c)
{
	struct spp_guard_stats s;
	uint64_t sent, dropped;
	unsigned int clients;

	spp_guard_stats(c->g, &s);
	pthread_mutex_lock(&c->lock);
	clients = c->nclients;
	sent = c->events_sent;
	dropped = c->events_dropped;
	pthread_mutex_unlock(&c->lock);
#define I(x) (json_int_t)(x)
	return json_pack(
		"{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
		"s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"exits", I(s.exits), "stores", I(s.stores), "allowed",
		I(s.allowed), "denied", I(s.denied), "slot_changes",
		I(s.slot_changes), "slots", I(s.slots), "ro_slots",
		I(s.ro_slots), "trapped_pages", I(s.trapped_pages), "emulated",
		I(s.emulated), "unemulated", I(s.unemulated), "string_batches",
		I(s.string_batches), "string_elements", I(s.string_elements),
		"rmw_redone", I(s.rmw_redone), "rmw_unsure", I(s.rmw_unsure),
		"misdirected", I(s.misdirected), "walk_writes",
		I(s.walk_writes), "fine_allowed", I(s.fine_allowed),
		"mmio_stores", I(s.mmio_stores), "mmio_rmw", I(s.mmio_rmw),
		"clients", I(clients), "events_sent", I(sent), "events_dropped",
		I(dropped));
#undef I
}

static json_t *cmd_stats(struct spp_ctl *c, struct request *r, struct err *e)
{
	(void)r;
	(void)e;
	return stats_obj(c);
}

static json_t *cmd_events(struct spp_ctl *c, struct request *r, struct err *e)
{
	json_t *allowed = json_object_get(r->args, "allowed");

	(void)e;
	pthread_mutex_lock(&c->lock);
	r->cl->events = json_is_true(json_object_get(r->args, "enable"));
	pthread_mutex_unlock(&c->lock);
	/* the guard's switch: every subscriber gets SPP_ALLOWED then */
	if (allowed)
		spp_guard_set_report_allowed(c->g, json_is_true(allowed));
	return json_object();
}

#define UNSUPPORTED(op)                                                       \
	do {                                                                  \
		if (!c->ops.op)                                               \
			return fail(e, "%s: not supported by this VMM", #op); \
	} while (0)

static json_t *cmd_held(struct spp_ctl *c, struct request *r, struct err *e)
{
	struct spp_event evs[SPP_CTL_MAX_HELD];
	char buf[EVENT_MAX];
	json_t *a;
	int n, i;

	(void)r;
	UNSUPPORTED(held);
	memset(evs, 0, sizeof(evs));
	n = c->ops.held(c->ctx, evs, SPP_CTL_MAX_HELD);
	if (n < 0)
		return guard_fail(e, n, 0, 0);
	if (n > SPP_CTL_MAX_HELD)
		n = SPP_CTL_MAX_HELD;
	a = json_array();
	for (i = 0; a && i < n; i++) {
		spp_event_json(&evs[i], 0, 0, buf, sizeof(buf));
		json_array_append_new(a, json_loads(buf, 0, NULL));
	}
	return a;
}

static json_t *cmd_resolve(struct spp_ctl *c, struct request *r, struct err *e)
{
	uint32_t vcpu = (uint32_t)arg_u64(r, "vcpu", 0);
	bool commit = json_is_true(json_object_get(r->args, "commit"));
	int ret;

	UNSUPPORTED(resolve);
	ret = c->ops.resolve(c->ctx, vcpu, commit);
	if (ret == -ENOENT)
		return fail(e, "no store held on vCPU %" PRIu32, vcpu);
	if (ret < 0)
		return guard_fail(e, ret, 0, 0);
	return json_pack("{s:s}", "verdict",
			 spp_verdict_name((enum spp_verdict)ret));
}

static json_t *cmd_start(struct spp_ctl *c, struct request *r, struct err *e)
{
	int ret;

	(void)r;
	UNSUPPORTED(start);
	ret = c->ops.start(c->ctx);
	if (ret < 0)
		return guard_fail(e, ret, 0, 0);
	return json_object();
}

/* ---- kernel-address rules (protect-symbol, protect-gva) ------------------- */

/*
 * One page a rule protects: the sub-pages it denies there, and the ones it
 * holds. A rule holds the sub-pages it turned from writable to denied and
 * gives only those back; a sub-page denied by two rules is held by one,
 * and passes to the other when that one goes (give_back()); one an
 * address protection denies later by name (protect-range) or turns from
 * writable to denied (set-access, protect) is the address protection's
 * (rules_claim()). So dropping a rule never opens what something else
 * still asks to deny.
 *
 * A rule denies its sub-pages whole. One that was byte-protected
 * (protect-bytes) loses its mask while the rule holds it; the mask is
 * kept here and put back when the rule goes, on the same terms.
 */
struct rule_page {
	uint64_t gva; /* the first byte of the rule on this page */
	uint64_t gpa; /* the page */
	uint32_t map; /* the map the rule set */
	uint32_t denied; /* the sub-pages the rule touches, all denied */
	uint32_t held; /* of them, the ones it gives back writable */
	uint32_t masks_held; /* and the ones it gives back byte-protected */
	uint64_t *bytes; /* their masks (spp_guard_get_bytes()); or NULL */
};

struct rule {
	unsigned int id;
	char *symbol; /* protect-symbol's NAME[+OFF][/LEN]; NULL: a gva */
	uint64_t gva, len; /* protect-gva; a symbol's once it resolved */
	bool applied;
	char why[224]; /* pending: why */
	unsigned int npages;
	struct rule_page pages[SPP_CTL_RULE_MAX_PAGES];
};

/* @r's pages forgotten (what they set aside freed); the maps stay. */
static void rule_pages_release(struct rule *r)
{
	unsigned int k;

	for (k = 0; k < r->npages; k++)
		free(r->pages[k].bytes);
	r->npages = 0;
}

static void rule_free(struct rule *r)
{
	rule_pages_release(r);
	free(r->symbol);
	free(r);
}

/* 4 KiB virtual pages [@gva, + @len) spans (@len > 0, no wrap). */
static uint64_t span_pages(uint64_t gva, uint64_t len)
{
	return ((gva + len - 1) >> SPP_PAGE_SHIFT) - (gva >> SPP_PAGE_SHIFT) +
	       1;
}

/* Canonical under 5-level paging at least (the widest there is). */
static bool canonical57(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 7) >> 7) == a;
}

/* A rule as the replies, query-rules and SPP_RULE_APPLIED show it. */
static json_t *rule_obj(const struct rule *r)
{
	json_t *o = json_object(), *pages;
	char hex[24];
	unsigned int i;

	if (!o)
		return NULL;
	json_object_set_new(o, "id", json_integer(r->id));
	json_object_set_new(o, "kind",
			    json_string(r->symbol ? "symbol" : "gva"));
	if (r->symbol)
		json_object_set_new(o, "symbol", json_string(r->symbol));
	json_object_set_new(o, "state",
			    json_string(r->applied ? "applied" : "pending"));
	if (!r->symbol || r->applied) {
		snprintf(hex, sizeof(hex), "0x%" PRIx64, r->gva);
		json_object_set_new(o, "gva", json_string(hex));
		json_object_set_new(o, "len", json_integer((json_int_t)r->len));
	}
	if (!r->applied) {
		json_object_set_new(o, "why", json_string(r->why));
		return o;
	}
	pages = json_array();
	for (i = 0; pages && i < r->npages; i++) {
		const struct rule_page *p = &r->pages[i];
		char g[24], a[24];

		snprintf(g, sizeof(g), "0x%" PRIx64, p->gva);
		snprintf(a, sizeof(a), "0x%" PRIx64, p->gpa);
		json_array_append_new(
			pages,
			json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "gva", g, "gpa",
				  a, "map", (json_int_t)p->map, "denied",
				  (json_int_t)p->denied, "held",
				  (json_int_t)p->held, "masks_held",
				  (json_int_t)p->masks_held));
	}
	json_object_set_new(o, "pages", pages ? pages : json_null());
	return o;
}

/* The event @name with @data (taken) to every subscriber. The server
 * thread only. */
static void broadcast(struct spp_ctl *c, const char *name, json_t *data)
{
	char ts[80], *d = data ? json_dumps(data, JSON_COMPACT) : NULL, *line;
	bool any = false;
	unsigned int i;
	int n;

	json_decref(data);
	if (!d)
		return;
	timestamp(ts, sizeof(ts));
	n = asprintf(&line, "{\"event\":\"%s\",\"data\":%s,\"timestamp\":%s}",
		     name, d, ts);
	free(d);
	if (n < 0)
		return;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nclients; i++) {
		struct client *cl = c->clients[i];

		if (!cl->events || cl->closing)
			continue;
		report_lost(cl);
		if (!cl->lost && queue_line(cl, line, (size_t)n, REPLY_MAX)) {
			any = true;
		} else {
			cl->lost++;
			c->events_dropped++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	free(line);
	if (any)
		wake(c);
}

__attribute__((format(printf, 2, 3))) static int why(struct rule *r,
						     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	return 0;
}

static const char *const fault_kinds[] = {
	[SPP_GVA_NOT_PRESENT] = "not present",
	[SPP_GVA_RESERVED] = "a reserved bit set",
	[SPP_GVA_OUTSIDE_RAM] = "outside guest RAM",
};

/* The KASLR slide and @r's range from the table: 0, -EAGAIN (pending:
 * why said) or another errno (why said). Under c->lock. */
static int resolve_symbol(struct spp_ctl *c, struct rule *r,
			  const struct spp_ctl_vcpu_state *st)
{
	uint64_t slide = 0, gva, len;
	int ret;

	if (!c->syms) {
		why(r, "no kernel symbols loaded (set-symbols)");
		return -EAGAIN;
	}
	ret = spp_ksym_find_slide(c->syms, "entry_SYSCALL_64", st->lstar,
				  &slide);
	if ((ret == -ENOENT || ret == -ENOTUNIQ) && st->idt_base)
		ret = spp_ksym_find_slide(c->syms, "idt_table", st->idt_base,
					  &slide);
	if (ret) {
		why(r,
		    "the symbols do not match this kernel: MSR_LSTAR 0x%" PRIx64
		    " is not entry_SYSCALL_64 (nor the IDTR base idt_table): "
		    "%s",
		    st->lstar,
		    ret == -EINVAL ? "another offset in its page" :
		    ret == -ENOENT ? "no such symbol in the table" :
				     "the name is not unique");
		return -ENOEXEC;
	}
	spp_ksym_set_slide(c->syms, slide);
	ret = spp_ksym_parse_range(c->syms, r->symbol, &gva, &len);
	if (ret) {
		why(r, "'%s': %s", r->symbol, strerror(-ret));
		return ret;
	}
	r->gva = gva;
	r->len = len;
	return 0;
}

/* Translate @r's range with vCPU 0's tables into @p / *@n: 0, -EAGAIN or
 * another errno, why said. */
static int rule_translate(struct spp_ctl *c, struct rule *r,
			  const struct spp_ctl_vcpu_state *st,
			  struct spp_gva_piece *p, size_t *n)
{
	struct spp_x86_paging pg = st->paging;
	struct spp_gva_fault f = { 0 };
	int ret;

	if (span_pages(r->gva, r->len) > SPP_CTL_RULE_MAX_PAGES) {
		why(r, "0x%" PRIx64 " + %" PRIu64 " spans more than %u pages",
		    r->gva, r->len, SPP_CTL_RULE_MAX_PAGES);
		return -E2BIG;
	}
	ret = spp_guard_translate(c->g, &pg, r->gva, r->len, p,
				  SPP_CTL_RULE_MAX_PAGES, n, &f);
	if (ret == -EFAULT && (pg.cr3 & SPP_PAGE_SIZE)) {
		/* Linux with PTI: a vCPU in user mode runs on the user copy
		 * of the top table, the kernel's is the 4 KiB below it
		 * (CR3 bit 12 clear), where the kernel is mapped */
		struct spp_gva_fault f2;

		pg.cr3 &= ~(uint64_t)SPP_PAGE_SIZE;
		if (!spp_guard_translate(c->g, &pg, r->gva, r->len, p,
					 SPP_CTL_RULE_MAX_PAGES, n, &f2))
			return 0;
	}
	switch (ret) {
	case 0:
		return 0;
	case -EINVAL:
		why(r, "0x%" PRIx64 " + %" PRIu64 " is not canonical", r->gva,
		    r->len);
		return ret;
	case -EOPNOTSUPP:
		why(r, "vCPU 0 is not in long mode with paging yet");
		return -EAGAIN;
	case -EFAULT:
		if (f.level)
			why(r,
			    "0x%" PRIx64 " does not translate (CR3 0x%" PRIx64
			    "): the level-%u entry at gpa 0x%" PRIx64
			    " (0x%" PRIx64 ") is %s",
			    f.gva, st->paging.cr3, f.level, f.entry_gpa,
			    f.entry,
			    f.kind <= SPP_GVA_OUTSIDE_RAM ?
				    fault_kinds[f.kind] :
				    "bad");
		else
			why(r,
			    "0x%" PRIx64 " translates to a page outside guest "
			    "RAM (entry at gpa 0x%" PRIx64 ": 0x%" PRIx64 ")",
			    f.gva, f.entry_gpa, f.entry);
		return ret;
	}
	why(r, "translation failed: %s", strerror(-ret));
	return ret;
}

/* Rule page @p about to deny its sub-pages whole on a page whose map is
 * @old: the masks of the byte-protected ones set aside. 0 or -ENOMEM. */
static int masks_aside(struct spp_ctl *c, struct rule_page *p, uint32_t old)
{
	uint64_t bits[SPP_PAGE_SIZE / 64];

	if (spp_guard_get_bytes(c->g, p->gpa >> SPP_PAGE_SHIFT, bits) <= 0)
		return 0;
	p->masks_held = spp_bytemask_subpages(bits) & p->denied & ~old;
	if (!p->masks_held)
		return 0;
	p->bytes = malloc(sizeof(bits));
	if (!p->bytes)
		return -ENOMEM;
	memcpy(p->bytes, bits, sizeof(bits));
	return 0;
}

/* Deny what the pieces touch, page by page, whole, all or nothing; fills
 * @r->pages. 0 or an errno (why said). */
static int rule_protect(struct spp_ctl *c, struct rule *r,
			const struct spp_gva_piece *p, size_t n)
{
	struct rule_page pg[SPP_CTL_RULE_MAX_PAGES];
	uint32_t old[SPP_CTL_RULE_MAX_PAGES];
	unsigned int np = 0, i, k;
	struct err e = { NULL, "" };
	int ret = 0;

	for (i = 0; i < n; i++) {
		uint64_t page = p[i].gpa & SPP_PAGE_MASK;
		uint32_t t = touched(page, p[i].gpa, p[i].gpa + p[i].len);

		for (k = 0; k < np && pg[k].gpa != page; k++)
			;
		if (k == np)
			pg[np++] = (struct rule_page){ .gva = p[i].gva,
						       .gpa = page };
		pg[k].denied |= t; /* two virtual pages on one page */
	}
	for (k = 0; k < np && !ret; k++) {
		uint64_t gfn = pg[k].gpa >> SPP_PAGE_SHIFT;

		if (!protectable(c, gfn, 1, &e)) {
			why(r, "page 0x%" PRIx64 ": %s", pg[k].gpa, e.desc);
			ret = -EPERM;
			break;
		}
		ret = get_maps(c, gfn, 1, &old[k]);
		if (!ret)
			ret = masks_aside(c, &pg[k], old[k]);
		if (ret) {
			guard_fail(&e, ret, pg[k].gpa, SPP_PAGE_SIZE);
			why(r, "page 0x%" PRIx64 ": %s", pg[k].gpa, e.desc);
			break;
		}
		pg[k].map = old[k] & ~pg[k].denied;
		pg[k].held = old[k] & pg[k].denied;
	}
	for (k = 0; k < np && !ret; k++) {
		uint64_t gfn = pg[k].gpa >> SPP_PAGE_SHIFT;

		/* whole: a byte-protected sub-page's mask goes too */
		ret = spp_guard_protect_add(c->g, gfn, ~pg[k].denied);
		if (!ret)
			continue;
		while (k-- > 0) { /* all or nothing */
			gfn = pg[k].gpa >> SPP_PAGE_SHIFT;
			spp_guard_set_bytes(c->g, gfn, pg[k].masks_held,
					    pg[k].bytes);
			set_maps(c, gfn, 1, &old[k]);
		}
		guard_fail(&e, ret, 0, 0);
		why(r, "setting the maps: %s", e.desc);
		break;
	}
	if (ret) {
		for (k = 0; k < np; k++)
			free(pg[k].bytes);
		return ret;
	}
	memcpy(r->pages, pg, np * sizeof(pg[0]));
	r->npages = np;
	return 0;
}

/* vCPU 0's state into *@st (the embedder pauses the vCPUs for it):
 * 0 or its errno. */
static int vcpu0(struct spp_ctl *c, struct spp_ctl_vcpu_state *st)
{
	memset(st, 0, sizeof(*st));
	if (!c->ops.vcpu_state)
		return -EOPNOTSUPP;
	return c->ops.vcpu_state(c->ctx, 0, st);
}

/* Try to apply @r now with vCPU 0's state @st as vcpu0() read it (@ret
 * its result): 0 (applied), -EAGAIN (pending) or another errno; r->why
 * says why not. The server thread only. */
static int rule_try(struct spp_ctl *c, struct rule *r,
		    const struct spp_ctl_vcpu_state *st_in, int ret)
{
	struct spp_gva_piece p[SPP_CTL_RULE_MAX_PAGES];
	struct spp_ctl_vcpu_state st = *st_in;
	size_t n = 0;

	if (ret == -EOPNOTSUPP) {
		why(r, "not supported by this VMM (no vCPU state)");
		return ret;
	}
	if (ret == -ENOENT) {
		why(r, "no vCPU yet");
		return -EAGAIN;
	}
	if (ret) {
		why(r, "vCPU 0's registers: %s", strerror(-ret));
		return ret;
	}
	if (!(st.paging.cr0 & SPP_X86_CR0_PG) ||
	    !(st.paging.efer & SPP_X86_EFER_LMA)) {
		why(r, "vCPU 0 is not in long mode with paging yet");
		return -EAGAIN;
	}
	if (r->symbol) {
		if (!st.lstar) {
			why(r, "the guest kernel is not up yet (MSR_LSTAR is "
			       "0)");
			return -EAGAIN;
		}
		pthread_mutex_lock(&c->lock);
		ret = resolve_symbol(c, r, &st);
		pthread_mutex_unlock(&c->lock);
		if (ret)
			return ret;
	}
	ret = rule_translate(c, r, &st, p, &n);
	if (!ret)
		ret = rule_protect(c, r, p, n);
	if (!ret) {
		r->applied = true;
		r->why[0] = 0;
	}
	return ret;
}

static bool any_pending(const struct spp_ctl *c)
{
	unsigned int i;

	for (i = 0; i < c->nrules; i++)
		if (!c->rules[i]->applied)
			return true;
	return false;
}

/* Every pending rule once more, on one look at vCPU 0 (one pause);
 * SPP_RULE_APPLIED for those that took. Whether one did. */
static bool retry_pending(struct spp_ctl *c)
{
	struct spp_ctl_vcpu_state st;
	bool took = false;
	unsigned int i;
	int ret;

	if (!any_pending(c))
		return false;
	ret = vcpu0(c, &st);
	for (i = 0; i < c->nrules; i++) {
		struct rule *r = c->rules[i];

		if (r->applied || rule_try(c, r, &st, ret))
			continue;
		took = true;
		broadcast(c, "SPP_RULE_APPLIED", rule_obj(r));
	}
	return took;
}

/* The rule page of applied rule @r on page @gpa, or NULL. */
static struct rule_page *rule_page_at(struct rule *r, uint64_t gpa)
{
	unsigned int k;

	for (k = 0; r->applied && k < r->npages; k++)
		if (r->pages[k].gpa == gpa)
			return &r->pages[k];
	return NULL;
}

/* Rule @r gives page @p back: the sub-pages it holds become writable,
 * or byte-protected again, except those another applied rule denies,
 * which that rule holds from now on (masks included). 0 or an errno
 * (then nothing changed). */
static int give_back(struct spp_ctl *c, struct rule *r, struct rule_page *p)
{
	uint64_t gfn = p->gpa >> SPP_PAGE_SHIFT;
	uint32_t keep = 0, open, masks, pass, m;
	struct rule_page *q;
	unsigned int i;
	int ret;

	for (i = 0; i < c->nrules; i++) {
		q = c->rules[i] == r ? NULL : rule_page_at(c->rules[i], p->gpa);
		if (!q)
			continue;
		keep |= q->denied;
		/* room for masks it may take over: before anything changes */
		if (p->masks_held & q->denied && !q->bytes) {
			q->bytes = calloc(SPP_PAGE_SIZE / 64, sizeof(uint64_t));
			if (!q->bytes)
				return -ENOMEM;
		}
	}
	ret = get_maps(c, gfn, 1, &m);
	if (ret)
		return ret;
	open = p->held & ~keep;
	masks = p->masks_held & ~keep & ~m; /* still denied */
	ret = spp_guard_set_bytes(c->g, gfn, masks, p->bytes);
	if (!ret && open) {
		m |= open;
		ret = set_maps(c, gfn, 1, &m);
		if (ret) /* whole again, as before */
			spp_guard_set_bytes(
				c->g, gfn, masks,
				(uint64_t[SPP_PAGE_SIZE / 64]){ 0 });
	}
	if (ret)
		return ret;
	pass = (p->held | p->masks_held) & keep;
	for (i = 0; pass && i < c->nrules; i++) {
		q = c->rules[i] == r ? NULL : rule_page_at(c->rules[i], p->gpa);
		if (!q)
			continue;
		q->held |= pass & p->held & q->denied;
		masks = pass & p->masks_held & q->denied;
		q->masks_held |= masks;
		spp_bytemask_copy(q->bytes, p->bytes, masks);
		pass &= ~q->denied;
	}
	p->held = 0;
	p->masks_held = 0;
	free(p->bytes);
	p->bytes = NULL;
	return 0;
}

/* An address protection claims, on pages [@gfn, + @n), the sub-pages
 * clear in @maps: they are its own now, no rule gives them back. */
static void rules_claim(struct spp_ctl *c, uint64_t gfn, uint64_t n,
			const uint32_t *maps)
{
	unsigned int i, k;

	for (i = 0; i < c->nrules; i++) {
		struct rule *r = c->rules[i];

		for (k = 0; r->applied && k < r->npages; k++) {
			uint64_t f = r->pages[k].gpa >> SPP_PAGE_SHIFT;

			if (f >= gfn && f - gfn < n) {
				r->pages[k].held &= maps[f - gfn];
				r->pages[k].masks_held &= maps[f - gfn];
			}
		}
	}
}

/* The guest was reset: every applied rule gives its sub-pages back and
 * waits again (spp_ctl_guest_reset()). The server thread only. */
static void rules_reset(struct spp_ctl *c)
{
	unsigned int i, k;

	for (i = 0; i < c->nrules; i++) {
		struct rule *r = c->rules[i];
		int ret = 0;

		if (!r->applied)
			continue;
		for (k = 0; k < r->npages; k++) {
			int e = give_back(c, r, &r->pages[k]);

			if (e && !ret)
				ret = e;
		}
		r->applied = false;
		rule_pages_release(r);
		if (ret)
			why(r,
			    "the guest was reset (its old pages: %s); waiting "
			    "for its kernel again",
			    strerror(-ret));
		else
			why(r, "the guest was reset; waiting for its kernel "
			       "again");
		broadcast(c, "SPP_RULE_PENDING", rule_obj(r));
	}
	c->idle_rounds = 0;
	c->next_retry = now();
}

int spp_ctl_guest_reset(struct spp_ctl *c, int timeout_ms)
{
	struct timespec end;
	unsigned int mine;
	int ret = 0;

	if (!c || timeout_ms < 0)
		return -EINVAL;
	spp_clock_deadline(&end, timeout_ms);
	mine = atomic_fetch_add(&c->resets_asked, 1) + 1;
	wake(c);
	pthread_mutex_lock(&c->lock);
	while ((int)(c->resets_done - mine) < 0 && !ret)
		if (pthread_cond_timedwait(&c->reset_cond, &c->lock, &end) ==
		    ETIMEDOUT)
			ret = -ETIMEDOUT;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* A new rule @r (taken): tried at once, kept when applied or pending. */
static json_t *add_rule(struct spp_ctl *c, struct rule *r, struct err *e)
{
	struct spp_ctl_vcpu_state st;
	int ret;

	if (c->nrules == SPP_CTL_MAX_RULES) {
		rule_free(r);
		return fail(e, "too many rules (at most %u)",
			    SPP_CTL_MAX_RULES);
	}
	ret = vcpu0(c, &st);
	ret = rule_try(c, r, &st, ret);
	if (ret && ret != -EAGAIN) {
		fail(e, "%s", r->why);
		rule_free(r);
		return NULL;
	}
	r->id = ++c->rule_seq;
	c->rules[c->nrules++] = r;
	c->idle_rounds = 0; /* a new rule: retry it at the full rate */
	return rule_obj(r);
}

/* A_ADDR: a JSON integer >= 0, or a string "0x..." / decimal (addresses
 * above 2^63 do not fit a JSON integer everywhere). */
static bool parse_addr(json_t *v, uint64_t *out)
{
	const char *s;
	char *end;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return false;
		*out = (uint64_t)json_integer_value(v);
		return true;
	}
	s = json_string_value(v);
	if (!s || !*s || !((s[0] >= '0' && s[0] <= '9')))
		return false;
	errno = 0;
	*out = strtoull(s, &end,
			s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 16 : 10);
	return !errno && !*end && end != s;
}

static json_t *cmd_protect_gva(struct spp_ctl *c, struct request *r,
			       struct err *e)
{
	uint64_t gva = 0, len = arg_u64(r, "len", 1);
	struct rule *rule;

	parse_addr(json_object_get(r->args, "gva"), &gva);
	if (gva + (len - 1) < gva || !canonical57(gva) ||
	    !canonical57(gva + len - 1) ||
	    (gva >> 63) != ((gva + len - 1) >> 63))
		return fail(e,
			    "gva 0x%" PRIx64 " + len %" PRIu64
			    ": not a canonical virtual range",
			    gva, len);
	if (span_pages(gva, len) > SPP_CTL_RULE_MAX_PAGES)
		return fail(e,
			    "gva 0x%" PRIx64 " + len %" PRIu64
			    " spans more than %u pages",
			    gva, len, SPP_CTL_RULE_MAX_PAGES);
	UNSUPPORTED(vcpu_state);
	rule = calloc(1, sizeof(*rule));
	if (!rule)
		return fail(e, "out of memory");
	rule->gva = gva;
	rule->len = len;
	return add_rule(c, rule, e);
}

static json_t *cmd_protect_symbol(struct spp_ctl *c, struct request *r,
				  struct err *e)
{
	const char *spec =
		json_string_value(json_object_get(r->args, "symbol"));
	uint64_t gva, len;
	struct rule *rule;
	int ret;

	UNSUPPORTED(vcpu_state);
	pthread_mutex_lock(&c->lock);
	ret = c->syms ? spp_ksym_parse_range(c->syms, spec, &gva, &len) :
			-ENOKEY;
	pthread_mutex_unlock(&c->lock);
	switch (ret) {
	case 0:
		break;
	case -ENOKEY:
		return fail(e, "no kernel symbols loaded (set-symbols first)");
	case -EINVAL:
		return fail(e,
			    "'%s': expected NAME[+OFF][/LEN] (OFF, LEN "
			    "decimal or 0x hex, LEN > 0)",
			    spec);
	case -ENOENT:
		return fail(e, "'%s': no such symbol", spec);
	case -ENOTUNIQ:
		return fail(e,
			    "'%s': the name is not unique (several "
			    "symbols at different addresses)",
			    spec);
	case -ENODATA:
		return fail(e, "'%s': the symbol's size is unknown: give /LEN",
			    spec);
	case -ERANGE:
		return fail(e, "'%s': the offset is past the symbol's end",
			    spec);
	default:
		return fail(e, "'%s': %s", spec, strerror(-ret));
	}
	if (span_pages(gva, len) > SPP_CTL_RULE_MAX_PAGES)
		return fail(e,
			    "'%s': %" PRIu64 " bytes span more than %u pages",
			    spec, len, SPP_CTL_RULE_MAX_PAGES);
	rule = calloc(1, sizeof(*rule));
	if (rule)
		rule->symbol = strdup(spec);
	if (!rule || !rule->symbol) {
		free(rule);
		return fail(e, "out of memory");
	}
	return add_rule(c, rule, e);
}

static json_t *cmd_unprotect_rule(struct spp_ctl *c, struct request *r,
				  struct err *e)
{
	uint64_t id = arg_u64(r, "id", 0);
	struct rule *rule = NULL;
	unsigned int i, k;
	int ret = 0;

	for (i = 0; i < c->nrules && c->rules[i]->id != id; i++)
		;
	if (i == c->nrules)
		return fail(e, "no rule %" PRIu64, id);
	rule = c->rules[i];
	for (k = 0; rule->applied && k < rule->npages && !ret; k++)
		ret = give_back(c, rule, &rule->pages[k]);
	if (ret)
		return guard_fail(e, ret, 0, 0);
	c->rules[i] = c->rules[--c->nrules];
	rule_free(rule);
	return json_pack("{s:I}", "id", (json_int_t)id);
}

static json_t *cmd_query_rules(struct spp_ctl *c, struct request *r,
			       struct err *e)
{
	json_t *a = json_array(), *o;
	unsigned int i;
	size_t nsyms;
	uint64_t slide;
	char hex[24];

	(void)r;
	(void)e;
	for (i = 0; a && i < c->nrules; i++)
		json_array_append_new(a, rule_obj(c->rules[i]));
	pthread_mutex_lock(&c->lock);
	nsyms = spp_ksym_count(c->syms);
	slide = spp_ksym_slide(c->syms);
	pthread_mutex_unlock(&c->lock);
	snprintf(hex, sizeof(hex), "0x%" PRIx64, slide);
	o = json_pack("{s:I,s:s,s:o}", "symbols", (json_int_t)nsyms, "slide",
		      hex, "rules", a ? a : json_array());
	return o;
}

/* Replace the table (taken; NULL drops it); the old one is freed. */
static void swap_symbols(struct spp_ctl *c, struct spp_ksym_table *t)
{
	struct spp_ksym_table *old;

	pthread_mutex_lock(&c->lock);
	old = c->syms;
	c->syms = t;
	pthread_mutex_unlock(&c->lock);
	spp_ksym_destroy(old);
	atomic_store(&c->retry_now, true);
	/* (idle_rounds is the server thread's: the next round resets it
	 * only if a rule takes; the table change itself retries at once) */
}

static json_t *cmd_set_symbols(struct spp_ctl *c, struct request *r,
			       struct err *e)
{
	const char *path = json_string_value(json_object_get(r->args, "path"));
	struct spp_ksym_error ke = { 0, NULL };
	struct spp_ksym_table *t = NULL;
	char buf[128];
	size_t n;
	int ret;

	ret = spp_ksym_load_any(path, &t, &ke);
	if (ret) {
		if (ke.what && ke.line)
			return fail(e, "%s:%u: %s", path, ke.line, ke.what);
		if (ke.what && (ret == -EINVAL || ret == -ENODATA))
			return fail(e, "%s: %s", path, ke.what);
		if (ke.what)
			return fail(e, "%s: %s (%s)", path, ke.what,
				    strerror_r(-ret, buf, sizeof(buf)));
		return fail(e, "%s: %s", path,
			    strerror_r(-ret, buf, sizeof(buf)));
	}
	n = spp_ksym_count(t);
	swap_symbols(c, t);
	return json_pack("{s:I}", "symbols", (json_int_t)n);
}

int spp_ctl_set_symbols(struct spp_ctl *c, struct spp_ksym_table *t)
{
	if (!c)
		return -EINVAL;
	swap_symbols(c, t);
	wake(c);
	return 0;
}

/* The commands: one row each (docs/control.md describes them). */
#define U32 0, UINT32_MAX
#define GPA 0, GPA_LIMIT - 1
static const struct command {
	const char *name;
	json_t *(*fn)(struct spp_ctl *c, struct request *r, struct err *e);
	struct arg args[ARGS_MAX];
} commands[] = {
	{ "qmp_capabilities", cmd_capabilities, { { 0 } } },
	{ "query-version", cmd_version, { { 0 } } },
	{ "query-commands", cmd_commands, { { 0 } } },
	{ "set-access",
	  cmd_set_access,
	  { { "gfn", A_UINT, true, 0, (GPA_LIMIT >> SPP_PAGE_SHIFT) - 1 },
	    { "maps", A_MAPS, true, 1, SPP_CTL_MAX_PAGES } } },
	{ "get-access",
	  cmd_get_access,
	  { { "gfn", A_UINT, true, 0, (GPA_LIMIT >> SPP_PAGE_SHIFT) - 1 },
	    { "npages", A_UINT, true, 1, SPP_CTL_MAX_PAGES } } },
	{ "protect",
	  cmd_protect,
	  { { "gpa", A_UINT, true, GPA }, { "map", A_UINT, true, U32 } } },
	{ "protect-range",
	  cmd_protect_range,
	  { { "gpa", A_UINT, true, GPA },
	    { "len", A_UINT, true, 1, GPA_LIMIT } } },
	{ "unprotect",
	  cmd_unprotect,
	  { { "gpa", A_UINT, true, GPA },
	    { "len", A_UINT, false, 1, GPA_LIMIT } } },
	{ "protect-bytes",
	  cmd_protect_bytes,
	  { { "gpa", A_UINT, true, GPA },
	    { "len", A_UINT, true, 1, SPP_GUARD_BYTES_MAX_LEN } } },
	{ "unprotect-bytes",
	  cmd_unprotect_bytes,
	  { { "gpa", A_UINT, true, GPA },
	    { "len", A_UINT, true, 1, SPP_GUARD_BYTES_MAX_LEN } } },
	{ "set-policy", cmd_set_policy, { { "policy", A_STRING, true, 0, 0 } } },
	{ "query-policy", cmd_query_policy, { { 0 } } },
	{ "query-stats", cmd_stats, { { 0 } } },
	{ "events",
	  cmd_events,
	  { { "enable", A_BOOL, true, 0, 0 },
	    { "allowed", A_BOOL, false, 0, 0 } } },
	{ "query-held", cmd_held, { { 0 } } },
	{ "resolve",
	  cmd_resolve,
	  { { "vcpu", A_UINT, true, U32 }, { "commit", A_BOOL, true, 0, 0 } } },
	{ "start", cmd_start, { { 0 } } },
	{ "set-symbols", cmd_set_symbols, { { "path", A_STRING, true, 0, 0 } } },
	{ "protect-symbol",
	  cmd_protect_symbol,
	  { { "symbol", A_STRING, true, 0, 0 } } },
	{ "protect-gva",
	  cmd_protect_gva,
	  { { "gva", A_ADDR, true, 0, 0 },
	    { "len", A_UINT, true, 1,
	      (uint64_t)SPP_CTL_RULE_MAX_PAGES *SPP_PAGE_SIZE } } },
	{ "unprotect-rule",
	  cmd_unprotect_rule,
	  { { "id", A_UINT, true, 1, UINT32_MAX } } },
	{ "query-rules", cmd_query_rules, { { 0 } } },
};
#undef U32
#undef GPA

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static json_t *cmd_commands(struct spp_ctl *c, struct request *r, struct err *e)
{
	json_t *a = json_array();
	size_t i;

	(void)c;
	(void)r;
	(void)e;
	for (i = 0; a && i < NCOMMANDS; i++)
		json_array_append_new(a, json_pack("{s:s}", "name",
						   commands[i].name));
	return a;
}

static const char *type_name(enum arg_type t)
{
	switch (t) {
	case A_UINT:
		return "an integer";
	case A_BOOL:
		return "a boolean";
	case A_STRING:
		return "a string";
	case A_MAPS:
		return "an array of 32-bit integers";
	case A_ADDR:
		return "an address: an integer or a string \"0x...\"";
	}
	return "?";
}

/* An integer in [@min, @max]? */
static bool in_range(json_t *v, uint64_t min, uint64_t max)
{
	json_int_t i;

	if (!json_is_integer(v))
		return false;
	i = json_integer_value(v);
	return i >= 0 && (uint64_t)i >= min && (uint64_t)i <= max;
}

/* @args (NULL: none) against @cmd's spec: true, or false with @e set. */
static bool check_args(const struct command *cmd, json_t *args, struct err *e)
{
	const char *key;
	json_t *v, *x;
	size_t i, k;

	if (args && !json_is_object(args)) {
		fail(e, "'arguments' must be an object");
		return false;
	}
	json_object_foreach(args, key, v)
	{
		for (i = 0; i < ARGS_MAX && cmd->args[i].name; i++)
			if (!strcmp(cmd->args[i].name, key))
				break;
		if (i == ARGS_MAX || !cmd->args[i].name) {
			fail(e, "%s: unknown argument '%s'", cmd->name, key);
			return false;
		}
	}
	for (i = 0; i < ARGS_MAX && cmd->args[i].name; i++) {
		const struct arg *a = &cmd->args[i];
		bool ok;

		v = args ? json_object_get(args, a->name) : NULL;
		if (!v) {
			if (!a->required)
				continue;
			fail(e, "%s: missing argument '%s'", cmd->name,
			     a->name);
			return false;
		}
		switch (a->type) {
		case A_UINT:
			if (!json_is_integer(v))
				break;
			if (!in_range(v, a->min, a->max)) {
				fail(e,
				     "%s: '%s' must be an integer in "
				     "%" PRIu64 "..%" PRIu64,
				     cmd->name, a->name, a->min, a->max);
				return false;
			}
			continue;
		case A_BOOL:
			if (json_is_boolean(v))
				continue;
			break;
		case A_STRING:
			if (json_is_string(v))
				continue;
			break;
		case A_MAPS:
			if (!json_is_array(v))
				break;
			if (json_array_size(v) < a->min ||
			    json_array_size(v) > a->max) {
				fail(e,
				     "%s: '%s' must have %" PRIu64 "..%" PRIu64
				     " elements",
				     cmd->name, a->name, a->min, a->max);
				return false;
			}
			ok = true;
			json_array_foreach(v, k, x)
				ok &= in_range(x, 0, UINT32_MAX);
			if (ok)
				continue;
			break;
		case A_ADDR: {
			uint64_t addr;

			if (parse_addr(v, &addr))
				continue;
			break;
		}
		}
		fail(e, "%s: '%s' must be %s", cmd->name, a->name,
		     type_name(a->type));
		return false;
	}
	return true;
}

/* One request line of @cl (NUL-terminated, @n bytes): the reply queued. */
static void handle_line(struct spp_ctl *c, struct client *cl, const char *line,
			size_t n)
{
	struct err e = { NULL, "" };
	const struct command *cmd = NULL;
	json_t *req, *id = NULL, *exec, *ret = NULL, *reply, *args = NULL;
	json_error_t je;
	const char *key, *name;
	json_t *v;
	size_t i;

	req = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
	if (!req) {
		fail(&e, "JSON parse error: %s", je.text);
		goto reply;
	}
	if (!json_is_object(req)) {
		fail(&e, "a request must be a JSON object");
		goto reply;
	}
	id = json_object_get(req, "id");
	json_object_foreach(req, key, v)
	{
		if (strcmp(key, "execute") && strcmp(key, "arguments") &&
		    strcmp(key, "id")) {
			fail(&e,
			     "unknown member '%s' (expected execute, "
			     "arguments, id)",
			     key);
			goto reply;
		}
	}
	exec = json_object_get(req, "execute");
	if (!json_is_string(exec)) {
		fail(&e, "'execute' must be there and a string");
		goto reply;
	}
	name = json_string_value(exec);
	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			cmd = &commands[i];
	if (!cl->negotiated && (!cmd || cmd->fn != cmd_capabilities)) {
		e.cls = "CommandNotFound";
		fail(&e, "Expecting capabilities negotiation with "
			 "'qmp_capabilities'");
		goto reply;
	}
	if (!cmd) {
		e.cls = "CommandNotFound";
		fail(&e, "The command %.100s has not been found", name);
		goto reply;
	}
	args = json_object_get(req, "arguments");
	if (!check_args(cmd, args, &e))
		goto reply;
	ret = cmd->fn(c, &(struct request){ args, cl }, &e);
	if (!ret && !e.desc[0])
		fail(&e, "out of memory");
reply:
	if (ret)
		reply = json_pack("{s:o}", "return", ret);
	else
		reply = json_pack("{s:{s:s,s:s}}", "error", "class",
				  e.cls ? e.cls : "GenericError", "desc",
				  e.desc);
	if (reply && id)
		json_object_set(reply, "id", id);
	json_decref(req);
	send_json(c, cl, reply);
}

/* ---- the server thread ------------------------------------------------- */

static void client_free(struct client *cl)
{
	if (!cl)
		return;
	if (cl->fd >= 0)
		close(cl->fd);
	free(cl->in);
	free(cl->out);
	free(cl);
}

/* Remove client @i (under no lock: the server thread is the only one that
 * removes, spp_ctl_event() reads the array under the lock). */
static void client_drop(struct spp_ctl *c, unsigned int i)
{
	struct client *cl;

	pthread_mutex_lock(&c->lock);
	cl = c->clients[i];
	c->clients[i] = c->clients[--c->nclients];
	c->clients[c->nclients] = NULL;
	pthread_mutex_unlock(&c->lock);
	client_free(cl);
}

/* A peer of ours, or root? */
static bool peer_ok(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return false;
	return cred.uid == geteuid() || cred.uid == 0;
}

static void accept_client(struct spp_ctl *c)
{
	static const char busy[] =
		"{\"error\":{\"class\":\"GenericError\",\"desc\":\"too many "
		"clients (" SPP_CTL_STR(SPP_CTL_MAX_CLIENTS) ")\"}}\n";
	struct client *cl;
	json_t *greet;
	int fd;

	fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (!peer_ok(fd)) {
		close(fd);
		return;
	}
	if (c->nclients == SPP_CTL_MAX_CLIENTS) {
		/* a new socket's buffer takes the line at once */
		if (send(fd, busy, sizeof(busy) - 1,
			 MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* gone already */
		}
		close(fd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (cl)
		cl->out = malloc(RING_SIZE);
	if (!cl || !cl->out) {
		if (cl)
			free(cl);
		close(fd);
		return;
	}
	cl->fd = fd;
	pthread_mutex_lock(&c->lock);
	c->clients[c->nclients++] = cl;
	pthread_mutex_unlock(&c->lock);
	greet = json_pack("{s:{s:o,s:[]}}", "QMP", "version", version_obj(),
			  "capabilities");
	send_json(c, cl, greet);
}

/* Send what @cl has queued; false when the client is gone. */
static bool flush_client(struct spp_ctl *c, struct client *cl)
{
	bool ok = true;

	pthread_mutex_lock(&c->lock);
	while (cl->len) {
		size_t n = cl->len < RING_SIZE - cl->head ?
				   cl->len :
				   RING_SIZE - cl->head;
		ssize_t w = send(cl->fd, cl->out + cl->head, n,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			ok = errno == EAGAIN || errno == EWOULDBLOCK ||
			     errno == EINTR;
			break;
		}
		cl->head = (cl->head + (size_t)w) % RING_SIZE;
		cl->len -= (size_t)w;
	}
	if (ok && cl->lost && !cl->closing)
		report_lost(cl);
	pthread_mutex_unlock(&c->lock);
	return ok;
}

/* Take the complete lines of @cl's input, one at a time while its ring
 * has room for a reply. */
static void take_lines(struct spp_ctl *c, struct client *cl)
{
	size_t start = 0;

	for (;;) {
		char *nl = cl->in && start < cl->in_len ?
				   memchr(cl->in + start, '\n',
					  cl->in_len - start) :
				   NULL;
		size_t n;
		bool room;

		if (!nl)
			break;
		pthread_mutex_lock(&c->lock);
		room = ring_free(cl) >= REPLY_MAX;
		pthread_mutex_unlock(&c->lock);
		if (!room)
			break;
		n = (size_t)(nl - (cl->in + start));
		*nl = 0;
		if (cl->discard) {
			cl->discard = false; /* the end of the long line */
		} else {
			if (n && cl->in[start + n - 1] == '\r')
				n--;
			/* blank lines are no requests */
			if (strspn(cl->in + start, " \t\r") < n)
				handle_line(c, cl, cl->in + start, n);
		}
		start = (size_t)(nl - cl->in) + 1;
	}
	if (start) /* (cl->in is NULL before the first bytes) */
		memmove(cl->in, cl->in + start, cl->in_len - start);
	cl->in_len -= start;
	if (cl->in_len > SPP_CTL_LINE_MAX &&
	    !memchr(cl->in, '\n', cl->in_len)) {
		/* no newline within the limit: refuse, skip to the next */
		if (!cl->discard) {
			struct err e = { NULL, "" };

			fail(&e, "request line longer than %u bytes",
			     SPP_CTL_LINE_MAX);
			send_json(c, cl,
				  json_pack("{s:{s:s,s:s}}", "error", "class",
					    e.cls, "desc", e.desc));
		}
		cl->discard = true;
		cl->in_len = 0;
	}
}

/* Read from @cl; false when it is gone. */
static bool read_client(struct spp_ctl *c, struct client *cl)
{
	ssize_t r;

	if (cl->in_cap - cl->in_len < 4096) {
		size_t ncap = cl->in_cap ? 2 * cl->in_cap : 8192;
		char *n;

		if (ncap > SPP_CTL_LINE_MAX + 8192)
			ncap = SPP_CTL_LINE_MAX + 8192;
		n = realloc(cl->in, ncap);
		if (!n)
			return false;
		cl->in = n;
		cl->in_cap = ncap;
	}
	if (cl->in_len == cl->in_cap)
		return true; /* full of requests that wait for room to reply */
	r = recv(cl->fd, cl->in + cl->in_len, cl->in_cap - cl->in_len, 0);
	if (r == 0)
		return false;
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ||
		       errno == EINTR;
	cl->in_len += (size_t)r;
	take_lines(c, cl);
	return true;
}

/* The last event, then at most FLUSH_MS to send everything. */
static void shut_down(struct spp_ctl *c)
{
	char line[2048], ts[80], *stats;
	json_t *st = stats_obj(c);
	double end = now() + FLUSH_MS / 1000.0;
	unsigned int i;
	int n = 0;

	stats = st ? json_dumps(st, JSON_COMPACT) : NULL;
	json_decref(st);
	timestamp(ts, sizeof(ts));
	if (stats)
		n = snprintf(
			line, sizeof(line),
			"{\"event\":\"SHUTDOWN\",\"data\":{\"guest\":false,"
			"\"reason\":\"spp-exit\",\"stats\":%s},"
			"\"timestamp\":%s}",
			stats, ts);
	free(stats);
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nclients; i++)
		if (c->clients[i]->events && n > 0 && (size_t)n < sizeof(line))
			queue_line(c->clients[i], line, (size_t)n, 0);
	pthread_mutex_unlock(&c->lock);
	for (;;) {
		struct pollfd pfd[SPP_CTL_MAX_CLIENTS];
		unsigned int np = 0;
		double left = end - now();

		for (i = 0; i < c->nclients;) {
			if (!flush_client(c, c->clients[i]) ||
			    !c->clients[i]->len) {
				client_drop(c, i);
				continue;
			}
			pfd[np].fd = c->clients[i]->fd;
			pfd[np++].events = POLLOUT;
			i++;
		}
		if (!np || left <= 0)
			break;
		poll(pfd, np, (int)(left * 1000) + 1);
	}
	while (c->nclients)
		client_drop(c, c->nclients - 1);
}

/* Read only what can be answered: room for a reply in the ring and for
 * more request bytes. Under the lock. */
static bool want_input(const struct client *cl)
{
	return ring_free(cl) >= REPLY_MAX &&
	       (cl->in_len < cl->in_cap ||
		cl->in_cap < SPP_CTL_LINE_MAX + 8192);
}

/* Wait forever, or until the next retry while rules are pending. */
static int poll_timeout(struct spp_ctl *c)
{
	double left;

	if (!any_pending(c) && !atomic_load(&c->retry_now))
		return -1;
	left = c->next_retry - now();
	return left <= 0 || atomic_load(&c->retry_now) ? 0 :
							 (int)(left * 1000) + 1;
}

static void *server(void *arg)
{
	struct spp_ctl *c = arg;

	while (!atomic_load(&c->stop)) {
		struct pollfd pfd[SPP_CTL_MAX_CLIENTS + 2];
		struct client *cl[SPP_CTL_MAX_CLIENTS];
		unsigned int i, n = c->nclients;
		uint64_t v;

		pfd[0] = (struct pollfd){ .fd = c->lfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = c->efd, .events = POLLIN };
		pthread_mutex_lock(&c->lock);
		for (i = 0; i < n; i++) {
			cl[i] = c->clients[i];
			pfd[i + 2].fd = cl[i]->fd;
			pfd[i + 2].events = (want_input(cl[i]) ? POLLIN : 0) |
					    (cl[i]->len ? POLLOUT : 0);
			pfd[i + 2].revents = 0;
		}
		pthread_mutex_unlock(&c->lock);
		if (poll(pfd, n + 2, poll_timeout(c)) < 0)
			continue;
		if (pfd[1].revents & POLLIN) {
			if (read(c->efd, &v, sizeof(v)) < 0) {
				/* nothing to read: another wake took it */
			}
		}
		if (atomic_load(&c->stop))
			break;
		{
			unsigned int asked = atomic_load(&c->resets_asked);

			if (asked != c->resets_done) {
				rules_reset(c);
				pthread_mutex_lock(&c->lock);
				c->resets_done = asked;
				pthread_cond_broadcast(&c->reset_cond);
				pthread_mutex_unlock(&c->lock);
			}
		}
		/* back to front: client_drop() moves the last one into the
		 * hole, which was handled already */
		for (i = n; i-- > 0;) {
			bool ok = true;

			if (pfd[i + 2].revents & (POLLERR | POLLNVAL))
				ok = false;
			if (ok && (pfd[i + 2].revents & (POLLIN | POLLHUP)))
				ok = read_client(c, cl[i]);
			if (ok) {
				take_lines(c, cl[i]); /* what waited for room */
				ok = flush_client(c, cl[i]);
			}
			if (!ok)
				client_drop(c, i);
		}
		if (pfd[0].revents & POLLIN)
			accept_client(c);
		if (atomic_exchange(&c->retry_now, false) ||
		    (any_pending(c) && now() >= c->next_retry)) {
			unsigned int k;

			if (retry_pending(c))
				c->idle_rounds = 0;
			k = c->idle_rounds++;
			/* back off while nothing takes (200, 400, 800 ms,
			 * then 1 s): every attempt pauses the guest */
			c->next_retry =
				now() + (k < 3 ? (double)(1u << k) : 5) *
						SPP_CTL_RETRY_MS / 1000.0;
		}
	}
	shut_down(c);
	return NULL;
}

/* ---- create, destroy --------------------------------------------------- */

/* @path's directory: ours, not writable by group or others. */
static int check_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;

	if (!slash)
		strcpy(dir, ".");
	else if (slash == path)
		strcpy(dir, "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return 0;
}

/* Something at @path already: a stale socket is removed. */
static int check_existing(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, ret;

	if (lstat(sa->sun_path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (!ret)
		return -EADDRINUSE;
	if (errno != ECONNREFUSED)
		return -EADDRINUSE;
	return unlink(sa->sun_path) ? -errno : 0;
}

int spp_ctl_create(struct spp_ctl **out, const char *path, struct spp_guard *g,
		   const struct spp_ctl_ops *ops, void *ctx)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct spp_ctl *c;
	int ret;

	if (!out || !path || !*path || !g)
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	ret = check_dir(path);
	if (!ret)
		ret = check_existing(&sa);
	if (ret)
		return ret;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->g = g;
	if (ops)
		c->ops = *ops;
	c->ctx = ctx;
	c->t0 = now();
	c->lfd = c->efd = -1;
	c->path = strdup(path);
	if (!c->path) {
		ret = -ENOMEM;
		goto err;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->reset_cond, NULL);
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->efd < 0 || c->lfd < 0) {
		ret = -errno;
		goto err_lock;
	}
	{
		/* created 0600 whatever the umask: never a moment
		 * where others may connect */
		mode_t old = umask(0177);

		ret = bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa));
		umask(old);
	}
	if (ret) {
		ret = -errno;
		goto err_lock;
	}
	if (chmod(path, 0600) || listen(c->lfd, SPP_CTL_MAX_CLIENTS)) {
		ret = -errno;
		unlink(path);
		goto err_lock;
	}
	ret = -pthread_create(&c->thread, NULL, server, c);
	if (ret) {
		unlink(path);
		goto err_lock;
	}
	*out = c;
	return 0;
err_lock:
	pthread_cond_destroy(&c->reset_cond);
	pthread_mutex_destroy(&c->lock);
	if (c->lfd >= 0)
		close(c->lfd);
	if (c->efd >= 0)
		close(c->efd);
err:
	free(c->path);
	free(c);
	return ret;
}

void spp_ctl_destroy(struct spp_ctl *c)
{
	if (!c)
		return;
	atomic_store(&c->stop, true);
	wake(c);
	pthread_join(c->thread, NULL);
	close(c->lfd);
	unlink(c->path);
	close(c->efd);
	pthread_cond_destroy(&c->reset_cond);
	pthread_mutex_destroy(&c->lock);
	while (c->nrules) {
		struct rule *r = c->rules[--c->nrules];

		rule_free(r);
	}
	spp_ksym_destroy(c->syms);
	free(c->path);
	free(c);
}

int spp_ctl_private_path(char *buf, size_t size)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	char tmpl[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int n;

	if (!buf)
		return -EINVAL;
	if (!base || base[0] != '/')
		base = "/tmp";
	n = snprintf(tmpl, sizeof(tmpl), "%s/spp-XXXXXX/control", base);
	if (n < 0 || (size_t)n >= sizeof(tmpl) || (size_t)n >= size)
		return -ENAMETOOLONG;
	tmpl[n - strlen("/control")] = 0;
	if (!mkdtemp(tmpl)) /* mode 0700 */
		return -errno;
	snprintf(buf, size, "%s/control", tmpl);
	return 0;
}

int spp_ctl_private_remove(const char *path)
{
	const char *slash;
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];

	if (!path)
		return -EINVAL;
	slash = strrchr(path, '/');
	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(dir))
		return -EINVAL;
	if (unlink(path) && errno != ENOENT)
		return -errno;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	return rmdir(dir) ? -errno : 0;
}
