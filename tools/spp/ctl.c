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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <spp/vector.h>

#include "spp_cli.h"

#define bad(...) (spp_cli_err(__VA_ARGS__), SPP_CLI_USAGE)

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

static int sub_protect(struct spp_cli_conn *c, char **argv)
{
	uint64_t gpa, map;
	bool has;

	if (pair(argv[0], ':', "GPA", "MAP", 0, false, &gpa, &map, &has))
		return SPP_CLI_USAGE;
	if (map > UINT32_MAX)
		return bad("MAP '%s' has more than 32 bits", argv[0]);
	if (!c)
		return 0;
	return done(spp_cli_conn_requestf(c, "protect",
					  json_pack("{s:I,s:I}", "gpa",
						    (json_int_t)gpa, "map",
						    (json_int_t)map)));
}

static int sub_range(struct spp_cli_conn *c, char **argv, const char *cmd,
		     bool opt)
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
	return done(spp_cli_conn_requestf(c, cmd, args));
}

static int sub_protect_range(struct spp_cli_conn *c, char **argv)
{
	return sub_range(c, argv, "protect-range", false);
}

static int sub_unprotect(struct spp_cli_conn *c, char **argv)
{
	return sub_range(c, argv, "unprotect", true);
}

static int sub_protect_bytes(struct spp_cli_conn *c, char **argv)
{
	return sub_range(c, argv, "protect-bytes", false);
}

static int sub_unprotect_bytes(struct spp_cli_conn *c, char **argv)
{
	return sub_range(c, argv, "unprotect-bytes", false);
}

static int sub_get(struct spp_cli_conn *c, char **argv)
{
	uint64_t gpa;
	json_t *r;

	if (number("GPA", argv[0], 0, &gpa))
		return SPP_CLI_USAGE;
	if (gpa > INT64_MAX)
		return bad("GPA '%s' beyond guest-physical space", argv[0]);
	if (!c)
		return 0;
	r = spp_cli_conn_requestf(c, "get-access",
				  json_pack("{s:I,s:i}", "gfn",
					    (json_int_t)(gpa >> SPP_PAGE_SHIFT),
					    "npages", 1));
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

static int sub_stats(struct spp_cli_conn *c, char **argv)
{
	(void)argv;
	if (!c)
		return 0;
	return print_json(spp_cli_conn_requestf(c, "query-stats", NULL));
}

static int sub_policy(struct spp_cli_conn *c, char **argv)
{
	json_t *r;

	if (!c && !argv[0])
		return 0;
	if (!argv[0]) {
		r = spp_cli_conn_requestf(c, "query-policy", NULL);
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
	return done(spp_cli_conn_requestf(
		c, "set-policy", json_pack("{s:s}", "policy", argv[0])));
}

static int sub_held(struct spp_cli_conn *c, char **argv)
{
	json_t *r, *ev;
	size_t i;

	(void)argv;
	if (!c)
		return 0;
	r = spp_cli_conn_requestf(c, "query-held", NULL);
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

static int sub_resolve(struct spp_cli_conn *c, char **argv)
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
	r = spp_cli_conn_requestf(c, "resolve",
				  json_pack("{s:I,s:b}", "vcpu",
					    (json_int_t)vcpu, "commit",
					    commit));
	if (!r)
		return SPP_CLI_ERROR;
	puts(json_string_value(json_object_get(r, "verdict")));
	json_decref(r);
	return 0;
}

static int sub_start(struct spp_cli_conn *c, char **argv)
{
	(void)argv;
	if (!c)
		return 0;
	return done(spp_cli_conn_requestf(c, "start", NULL));
}

static int sub_set_symbols(struct spp_cli_conn *c, char **argv)
{
	char path[4096];

	/* the server opens it, from its own working directory */
	if (!realpath(argv[0], path))
		return bad("'%s': %s", argv[0], strerror(errno));
	if (!c)
		return 0;
	return print_json(spp_cli_conn_requestf(
		c, "set-symbols", json_pack("{s:s}", "path", path)));
}

static int sub_protect_symbol(struct spp_cli_conn *c, char **argv)
{
	if (!*argv[0] || strpbrk(argv[0], " \t\n\"\\"))
		return bad("'%s': expected NAME[+OFF][/LEN]", argv[0]);
	if (!c)
		return 0;
	return print_json(spp_cli_conn_requestf(
		c, "protect-symbol", json_pack("{s:s}", "symbol", argv[0])));
}

static int sub_protect_gva(struct spp_cli_conn *c, char **argv)
{
	uint64_t gva, len;
	char hex[24];
	bool has;

	if (pair(argv[0], '/', "GVA", "LEN", SPP_CLI_NUM_SIZE, false, &gva,
		 &len, &has))
		return SPP_CLI_USAGE;
	if (!len || len > INT64_MAX)
		return bad("LEN in '%s' must be at least 1", argv[0]);
	if (!c)
		return 0;
	snprintf(hex, sizeof(hex), "0x%" PRIx64, gva);
	return print_json(spp_cli_conn_requestf(
		c, "protect-gva",
		json_pack("{s:s,s:I}", "gva", hex, "len", (json_int_t)len)));
}

static int sub_unprotect_rule(struct spp_cli_conn *c, char **argv)
{
	uint64_t id;

	if (number("ID", argv[0], 0, &id))
		return SPP_CLI_USAGE;
	if (!id || id > UINT32_MAX)
		return bad("ID '%s': expected a rule's id", argv[0]);
	if (!c)
		return 0;
	return done(spp_cli_conn_requestf(
		c, "unprotect-rule", json_pack("{s:I}", "id", (json_int_t)id)));
}

static int sub_query_rules(struct spp_cli_conn *c, char **argv)
{
	(void)argv;
	if (!c)
		return 0;
	return print_json(spp_cli_conn_requestf(c, "query-rules", NULL));
}

static int sub_raw(struct spp_cli_conn *c, char **argv)
{
	char *line = NULL;
	json_t *v;
	int err;

	if (!c)
		return strchr(argv[0], '\n') ?
			       bad("JSON: one line, without a newline") :
			       0;
	err = spp_cli_conn_send(c, argv[0]);
	if (err) {
		spp_cli_err("cannot send: %s", strerror(-err));
		return SPP_CLI_ERROR;
	}
	v = spp_cli_conn_reply(c, &line);
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

static int sub_events(struct spp_cli_conn *c, char **argv)
{
	struct sigaction sa = { .sa_handler = spp_cli_conn_on_signal };
	json_t *r;

	(void)argv;
	if (!c)
		return 0;
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: poll returns */
	sigaction(SIGTERM, &sa, NULL);
	r = spp_cli_conn_requestf(c, "events", json_pack("{s:b}", "enable", 1));
	if (!r)
		return SPP_CLI_ERROR;
	json_decref(r);
	for (;;) {
		char *s = spp_cli_conn_line(c, -1);
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
		    spp_cli_event_data(s, &data, &n)) {
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
	int (*fn)(struct spp_cli_conn *c, char **argv);
	const char *help;
} subs[] = {
	{ "protect", 1, 1, "GPA:MAP", sub_protect,
	  "page GPA gets the write map MAP" },
	{ "protect-range", 1, 1, "GPA+LEN", sub_protect_range,
	  "deny the sub-pages LEN bytes at GPA touch" },
	{ "unprotect", 1, 1, "GPA[+LEN]", sub_unprotect,
	  "make them (or the page at GPA) writable" },
	{ "protect-bytes", 1, 1, "GPA+LEN", sub_protect_bytes,
	  "deny exactly the LEN bytes at GPA" },
	{ "unprotect-bytes", 1, 1, "GPA+LEN", sub_unprotect_bytes,
	  "take them out of the byte masks" },
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
	{ "set-symbols", 1, 1, "FILE", sub_set_symbols,
	  "the guest kernel's System.map/kallsyms" },
	{ "protect-symbol", 1, 1, "NAME[+OFF][/LEN]", sub_protect_symbol,
	  "deny writes to a kernel symbol" },
	{ "protect-gva", 1, 1, "GVA/LEN", sub_protect_gva,
	  "deny writes to LEN bytes at virtual GVA" },
	{ "unprotect-rule", 1, 1, "ID", sub_unprotect_rule,
	  "drop a rule, its sub-pages writable" },
	{ "query-rules", 0, 0, "", sub_query_rules,
	  "the symbol/GVA rules as one JSON line" },
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
	struct spp_cli_conn c = { .fd = -1 };
	const struct sub *s = NULL;
	int i, n, ret;

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
	if (strlen(argv[1]) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return bad("socket path '%s' too long", argv[1]);
	{
		/* the arguments, checked before anything is sent */
		char *args[3] = { n > 0 ? argv[3] : NULL,
				  n > 1 ? argv[4] : NULL, NULL };

		if (s->fn(NULL, args))
			return SPP_CLI_USAGE;
	}
	ret = spp_cli_conn_open(&c, argv[1]) ? SPP_CLI_ERROR : 0;
	if (!ret) {
		char *args[3] = { n > 0 ? argv[3] : NULL,
				  n > 1 ? argv[4] : NULL, NULL };

		ret = s->fn(&c, args);
	}
	spp_cli_conn_close(&c);
	return ret;
}
