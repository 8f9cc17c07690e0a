// SPDX-License-Identifier: MIT
/*
 * ctl.c - "spp ctl SOCKET COMMAND [ARGS]": one request to a control
 * socket (spp/ctl.h, docs/control.md) of "spp run --control" or the QEMU
 * shim, its answer on stdout; "events" streams events until the socket
 * closes or SIGINT. The subcommands are rows of one table; numbers go
 * through spp_cli_parse_number(). An error reply prints "spp ctl: DESC"
 * and exits SPP_CLI_ERROR; bad arguments exit SPP_CLI_USAGE before
 * anything is sent.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <spp/vector.h>

#include "spp_cli.h"

#define REPLY_TIMEOUT_MS 30000

#define bad(...) (spp_cli_err(__VA_ARGS__), SPP_CLI_USAGE)

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* The next line (malloc'ed, without '\n') or NULL: closed, a timeout
 * (@ms >= 0) or SIGINT. */
static char *next_line(struct conn *c, int ms)
{
	for (;;) {
		char *nl = c->buf ? memchr(c->buf, '\n', c->len) : NULL, *s;
		struct pollfd p = { c->fd, POLLIN, 0 };
		ssize_t n;

		if (nl) {
			size_t k = (size_t)(nl - c->buf);

			s = strndup(c->buf, k);
			memmove(c->buf, nl + 1, c->len - k - 1);
			c->len -= k + 1;
			return s;
		}
		if (c->cap - c->len < 4096) {
			char *b = realloc(c->buf, c->cap + 65536);

			if (!b)
				return NULL;
			c->buf = b;
			c->cap += 65536;
		}
		if (interrupted)
			return NULL;
		n = poll(&p, 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
	}
}

static int send_line(struct conn *c, const char *s)
{
	size_t n = strlen(s), done = 0;

	while (done < n + 1) {
		const char *p = done < n ? s + done : "\n";
		size_t k = done < n ? n - done : 1;
		ssize_t w = send(c->fd, p, k, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)w;
	}
	return 0;
}

/* The reply to the request just sent (events in between are skipped),
 * parsed; NULL after an error line. */
static json_t *reply(struct conn *c, char **raw)
{
	for (;;) {
		char *s = next_line(c, REPLY_TIMEOUT_MS);
		json_t *v;

		if (!s) {
			spp_cli_err("no reply (connection closed or timed "
				    "out)");
			return NULL;
		}
		v = json_loads(s, 0, NULL);
		if (!v) {
			spp_cli_err("not JSON from the server: %.200s", s);
			free(s);
			return NULL;
		}
		if (json_object_get(v, "event")) {
			json_decref(v);
			free(s);
			continue;
		}
		if (raw)
			*raw = s;
		else
			free(s);
		return v;
	}
}

/* Send @req (a JSON text) and return the reply's "return" value (a new
 * reference), or NULL after printing the error. */
static json_t *request(struct conn *c, const char *req)
{
	json_t *v, *r, *e;

	if (send_line(c, req)) {
		spp_cli_err("cannot send: %s", strerror(errno));
		return NULL;
	}
	v = reply(c, NULL);
	if (!v)
		return NULL;
	r = json_object_get(v, "return");
	if (r) {
		json_incref(r);
		json_decref(v);
		return r;
	}
	e = json_object_get(v, "error");
	spp_cli_err("%s", e ? json_string_value(json_object_get(e, "desc")) :
			      "a reply that is no reply");
	json_decref(v);
	return NULL;
}

/* request() with arguments packed by jansson. */
static json_t *requestf(struct conn *c, const char *name, json_t *args)
{
	json_t *req =
		json_pack("{s:s,s:o*}", "execute", name, "arguments", args);
	char *s = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_t *r = s ? request(c, s) : NULL;

	if (!s)
		spp_cli_err("out of memory");
	free(s);
	json_decref(req);
	return r;
}

/* A finished request: 0, or SPP_CLI_ERROR if it failed. */
static int done(json_t *r)
{
	if (!r)
		return SPP_CLI_ERROR;
	json_decref(r);
	return 0;
}

static int number(const char *what, const char *s, unsigned int flags,
		  uint64_t *v)
{
	if (spp_cli_parse_number(s, flags, v))
		return bad("bad %s '%s' (%s)", what, s, spp_cli_number_help(s));
	return 0;
}

/* "A<sep>B" into two numbers (B with @bflags); B optional if @opt. */
static int pair(const char *arg, char sep, const char *an, const char *bn,
		unsigned int bflags, bool opt, uint64_t *a, uint64_t *b,
		bool *has_b)
{
	char buf[64], *p;

	if (strlen(arg) >= sizeof(buf))
		return bad("'%s': too long", arg);
	strcpy(buf, arg);
	p = strchr(buf, sep);
	*has_b = p != NULL;
	if (!p && !opt)
		return bad("'%s': expected %s%c%s", arg, an, sep, bn);
	if (p)
		*p++ = 0;
	if (number(an, buf, 0, a) || (p && number(bn, p, bflags, b)))
		return SPP_CLI_USAGE;
	return 0;
}

static int sub_protect(struct conn *c, char **argv)
{
	uint64_t gpa, map;
	bool has;

	if (pair(argv[0], ':', "GPA", "MAP", 0, false, &gpa, &map, &has))
		return SPP_CLI_USAGE;
	if (map > UINT32_MAX)
		return bad("MAP '%s' has more than 32 bits", argv[0]);
	if (!c)
		return 0;
	return done(requestf(c, "protect",
			     json_pack("{s:I,s:I}", "gpa", (json_int_t)gpa,
				       "map", (json_int_t)map)));
}

static int sub_range(struct conn *c, char **argv, const char *cmd, bool opt)
{
	uint64_t gpa, len = 0;
	json_t *args;
	bool has;

	if (pair(argv[0], '+', "GPA", "LEN", SPP_CLI_NUM_SIZE, opt, &gpa, &len,
		 &has))
		return SPP_CLI_USAGE;
	if (gpa > INT64_MAX || len > INT64_MAX)
		return bad("'%s': beyond guest-physical space", argv[0]);
	if (!c)
		return 0;
	args = has ? json_pack("{s:I,s:I}", "gpa", (json_int_t)gpa, "len",
			       (json_int_t)len) :
		     json_pack("{s:I}", "gpa", (json_int_t)gpa);
	return done(requestf(c, cmd, args));
}

static int sub_protect_range(struct conn *c, char **argv)
{
	return sub_range(c, argv, "protect-range", false);
}

static int sub_unprotect(struct conn *c, char **argv)
{
	return sub_range(c, argv, "unprotect", true);
}

static int sub_get(struct conn *c, char **argv)
{
	uint64_t gpa;
	json_t *r;

	if (number("GPA", argv[0], 0, &gpa))
		return SPP_CLI_USAGE;
	if (gpa > INT64_MAX)
		return bad("GPA '%s' beyond guest-physical space", argv[0]);
	if (!c)
		return 0;
	r = requestf(c, "get-access",
		     json_pack("{s:I,s:i}", "gfn",
			       (json_int_t)(gpa >> SPP_PAGE_SHIFT), "npages",
			       1));
	if (!r)
		return SPP_CLI_ERROR;
	printf("0x%08" PRIx32 "\n", (uint32_t)json_integer_value(json_array_get(
					    json_object_get(r, "maps"), 0)));
	json_decref(r);
	return 0;
}

/* @r as one compact JSON line on stdout. */
static int print_json(json_t *r)
{
	char *s;

	if (!r)
		return SPP_CLI_ERROR;
	s = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(r);
	if (!s)
		return bad("out of memory");
	puts(s);
	free(s);
	return 0;
}

static int sub_stats(struct conn *c, char **argv)
{
	(void)argv;
	if (!c)
		return 0;
	return print_json(requestf(c, "query-stats", NULL));
}

static int sub_policy(struct conn *c, char **argv)
{
	json_t *r;

	if (!c && !argv[0])
		return 0;
	if (!argv[0]) {
		r = requestf(c, "query-policy", NULL);
		if (!r)
			return SPP_CLI_ERROR;
		puts(json_string_value(json_object_get(r, "policy")));
		json_decref(r);
		return 0;
	}
	if (strcmp(argv[0], "deny") && strcmp(argv[0], "log") &&
	    strcmp(argv[0], "stop"))
		return bad("policy '%s': expected deny, log or stop", argv[0]);
	if (!c)
		return 0;
	return done(requestf(c, "set-policy",
			     json_pack("{s:s}", "policy", argv[0])));
}

static int sub_held(struct conn *c, char **argv)
{
	json_t *r, *ev;
	size_t i;

	(void)argv;
	if (!c)
		return 0;
	r = requestf(c, "query-held", NULL);
	if (!r)
		return SPP_CLI_ERROR;
	json_array_foreach(r, i, ev)
	{
		char *s = json_dumps(ev, JSON_COMPACT);

		if (s)
			puts(s);
		free(s);
	}
	json_decref(r);
	return 0;
}

static int sub_resolve(struct conn *c, char **argv)
{
	uint64_t vcpu;
	json_t *r;
	bool commit;

	if (number("VCPU", argv[0], 0, &vcpu))
		return SPP_CLI_USAGE;
	if (vcpu > UINT32_MAX)
		return bad("VCPU '%s' too large", argv[0]);
	if (!strcmp(argv[1], "commit"))
		commit = true;
	else if (!strcmp(argv[1], "drop"))
		commit = false;
	else
		return bad("'%s': expected commit or drop", argv[1]);
	if (!c)
		return 0;
	r = requestf(c, "resolve",
		     json_pack("{s:I,s:b}", "vcpu", (json_int_t)vcpu, "commit",
			       commit));
	if (!r)
		return SPP_CLI_ERROR;
	puts(json_string_value(json_object_get(r, "verdict")));
	json_decref(r);
	return 0;
}

static int sub_start(struct conn *c, char **argv)
{
	(void)argv;
	if (!c)
		return 0;
	return done(requestf(c, "start", NULL));
}

static int sub_raw(struct conn *c, char **argv)
{
	char *line = NULL;
	json_t *v;

	if (!c)
		return strchr(argv[0], '\n') ?
			       bad("JSON: one line, without a newline") :
			       0;
	if (send_line(c, argv[0])) {
		spp_cli_err("cannot send: %s", strerror(errno));
		return SPP_CLI_ERROR;
	}
	v = reply(c, &line);
	if (!v)
		return SPP_CLI_ERROR;
	puts(line);
	free(line);
	if (json_object_get(v, "error")) {
		json_decref(v);
		return SPP_CLI_ERROR;
	}
	json_decref(v);
	return 0;
}

/*
 * The data object of an event line, as the server wrote it (the object
 * of spp_event_json(), byte for byte: a re-encoding would change the
 * number format of "time"): between ',"data":' and the last
 * ',"timestamp":'.
 */
static bool event_data(const char *line, const char **p, size_t *n)
{
	const char *d = strstr(line, ",\"data\":"), *t = NULL, *q;

	for (q = line; (q = strstr(q, ",\"timestamp\":")) != NULL; q++)
		t = q;
	if (!d || !t || t < d)
		return false;
	*p = d + 8;
	*n = (size_t)(t - *p);
	return true;
}

static int sub_events(struct conn *c, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sigint };
	json_t *r;

	(void)argv;
	if (!c)
		return 0;
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: poll returns */
	sigaction(SIGTERM, &sa, NULL);
	r = requestf(c, "events", json_pack("{s:b}", "enable", 1));
	if (!r)
		return SPP_CLI_ERROR;
	json_decref(r);
	for (;;) {
		char *s = next_line(c, -1);
		const char *name, *data;
		json_t *v;
		size_t n;

		if (!s)
			return 0; /* closed, or SIGINT */
		v = json_loads(s, 0, NULL);
		name = json_string_value(json_object_get(v, "event"));
		if (name &&
		    (!strcmp(name, "SPP_VIOLATION") ||
		     !strcmp(name, "SPP_ALLOWED")) &&
		    event_data(s, &data, &n)) {
			printf("%.*s\n", (int)n, data);
			fflush(stdout);
		} else if (name && !strcmp(name, "SPP_EVENTS_LOST")) {
			spp_cli_err(
				"%" JSON_INTEGER_FORMAT
				" events lost (not read in time)",
				json_integer_value(json_object_get(
					json_object_get(v, "data"), "count")));
		}
		json_decref(v);
		free(s);
	}
}

/* The subcommands: name, operands (min..max), usage, handler. A handler
 * called with @c NULL only checks its arguments: 0 or SPP_CLI_USAGE after
 * one error line. */
static const struct sub {
	const char *name;
	int min, max;
	const char *args;
	int (*fn)(struct conn *c, char **argv);
	const char *help;
} subs[] = {
	{ "protect", 1, 1, "GPA:MAP", sub_protect,
	  "page GPA gets the write map MAP" },
	{ "protect-range", 1, 1, "GPA+LEN", sub_protect_range,
	  "deny the sub-pages LEN bytes at GPA touch" },
	{ "unprotect", 1, 1, "GPA[+LEN]", sub_unprotect,
	  "make them (or the page at GPA) writable" },
	{ "get", 1, 1, "GPA", sub_get, "the map of the page at GPA" },
	{ "stats", 0, 0, "", sub_stats, "the counters as one JSON line" },
	{ "events", 0, 0, "", sub_events,
	  "print events as JSON lines until the end" },
	{ "policy", 0, 1, "[deny|log|stop]", sub_policy,
	  "set the violation policy, or print it" },
	{ "held", 0, 0, "", sub_held, "stores held by policy stop" },
	{ "resolve", 2, 2, "VCPU commit|drop", sub_resolve,
	  "finish VCPU's held store" },
	{ "start", 0, 0, "", sub_start, "let the vCPUs run" },
	{ "raw", 1, 1, "JSON", sub_raw, "send one request, print the reply" },
};

#define NSUBS (sizeof(subs) / sizeof(subs[0]))

void spp_cli_ctl_help(FILE *f)
{
	size_t i;

	fputs("Send one command to the control socket SOCKET of a running\n"
	      "\"spp run --control SOCKET\" (or a VMM with spp's control\n"
	      "socket) and print its answer (docs/control.md). COMMAND:\n",
	      f);
	for (i = 0; i < NSUBS; i++) {
		int n = fprintf(f, "  %s%s%s", subs[i].name,
				*subs[i].args ? " " : "", subs[i].args);

		fprintf(f, "%*s%s\n", n < 32 ? 32 - n : 1, "", subs[i].help);
	}
	fputs("An error reply prints \"spp ctl: DESC\" and exits 10; bad\n"
	      "arguments exit 2 before anything is sent. Numbers: 0x for hex,\n"
	      "otherwise decimal; LEN may end in K, M, G or T.\n",
	      f);
}

int spp_cli_ctl(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct conn c = { .fd = -1 };
	const struct sub *s = NULL;
	int i, n, ret;
	json_t *v;
	char *g;

	for (i = 1; i < argc && i < 3; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return SPP_CLI_HELP;
	if (argc < 3)
		return bad("expected SOCKET COMMAND (try spp help ctl)");
	for (i = 0; i < (int)NSUBS; i++)
		if (!strcmp(subs[i].name, argv[2]))
			s = &subs[i];
	if (!s)
		return bad("unknown command '%s' (try spp help ctl)", argv[2]);
	n = argc - 3;
	if (n < s->min || n > s->max)
		return bad("%s: expected %s%s%s", s->name, s->name,
			   *s->args ? " " : "", s->args);
	if (strlen(argv[1]) >= sizeof(sa.sun_path))
		return bad("socket path '%s' too long", argv[1]);
	{
		/* the arguments, checked before anything is sent */
		char *args[3] = { n > 0 ? argv[3] : NULL,
				  n > 1 ? argv[4] : NULL, NULL };

		if (s->fn(NULL, args))
			return SPP_CLI_USAGE;
	}
	strcpy(sa.sun_path, argv[1]);
	c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&sa, sizeof(sa))) {
		spp_cli_err("%s: %s", argv[1], strerror(errno));
		if (c.fd >= 0)
			close(c.fd);
		return SPP_CLI_ERROR;
	}
	/* the greeting (or the server's refusal), then the negotiation */
	g = next_line(&c, REPLY_TIMEOUT_MS);
	v = g ? json_loads(g, 0, NULL) : NULL;
	free(g);
	if (!json_object_get(v, "QMP")) {
		json_t *e = json_object_get(v, "error");

		spp_cli_err("%s: %s", argv[1],
			    e ? json_string_value(json_object_get(e, "desc")) :
				"no greeting: not spp's control socket");
		json_decref(v);
		close(c.fd);
		free(c.buf);
		return SPP_CLI_ERROR;
	}
	json_decref(v);
	ret = done(request(&c, "{\"execute\":\"qmp_capabilities\"}"));
	if (!ret) {
		char *args[3] = { n > 0 ? argv[3] : NULL,
				  n > 1 ? argv[4] : NULL, NULL };

		ret = s->fn(&c, args);
	}
	close(c.fd);
	free(c.buf);
	return ret;
}
