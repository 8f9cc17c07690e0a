// SPDX-License-Identifier: MIT
/*
 * options.c - the command line of "spp run", the policy file and the
 * checks of protection rules. Every error is one line on stderr naming
 * the offending token; the caller exits with SPP_CLI_USAGE.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spp/spp.h>
#include <spp/layout.h>

#include "spp_cli.h"

#define SUBPAGE 128ULL

/* One line naming the offending token; the exit code of bad input. */
#define bad(...) (spp_cli_err(__VA_ARGS__), SPP_CLI_USAGE)

int spp_cli_parse_number(const char *s, unsigned int flags, uint64_t *out)
{
	unsigned int base = 10, shift = 0, digits = 0;
	uint64_t v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s; s++, digits++) {
		unsigned char c = (unsigned char)*s;
		unsigned int d;

		if (isdigit(c))
			d = c - '0';
		else if (base == 16 && isxdigit(c))
			d = (unsigned int)(tolower(c) - 'a' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	if (!digits)
		return -EINVAL;
	if (*s && (flags & SPP_CLI_NUM_SIZE)) {
		switch (toupper((unsigned char)*s)) {
		case 'K':
			shift = 10;
			break;
		case 'M':
			shift = 20;
			break;
		case 'G':
			shift = 30;
			break;
		case 'T':
			shift = 40;
			break;
		default:
			return -EINVAL;
		}
		s++;
	} else if ((flags & SPP_CLI_NUM_MIB) == SPP_CLI_NUM_MIB) {
		shift = 20;
	}
	if (*s)
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

const char *spp_cli_number_help(const char *s)
{
	bool letter = false;
	const char *p;

	for (p = s; *p; p++) {
		if (!isxdigit((unsigned char)*p))
			return "expected decimal, or hex with 0x";
		letter |= !isdigit((unsigned char)*p);
	}
	return letter && p > s ? "hex needs a 0x prefix" :
				 "expected decimal, or hex with 0x";
}

const char *spp_cli_policy_name(enum spp_policy p)
{
	switch (p) {
	case SPP_POLICY_DENY:
		return "deny";
	case SPP_POLICY_LOG:
		return "log";
	case SPP_POLICY_STOP:
		return "stop";
	}
	return "?";
}

static int parse_policy(const char *s, enum spp_policy *p)
{
	if (!strcmp(s, "deny"))
		*p = SPP_POLICY_DENY;
	else if (!strcmp(s, "log"))
		*p = SPP_POLICY_LOG;
	else if (!strcmp(s, "stop"))
		*p = SPP_POLICY_STOP;
	else
		return -EINVAL;
	return 0;
}

static int add_rule(struct spp_run_opts *o, const struct spp_rule *r,
		    const char *origin)
{
	struct spp_rule *n = realloc(o->rules, (o->nrules + 1) * sizeof(*n));

	if (!n)
		return bad("out of memory");
	o->rules = n;
	n[o->nrules] = *r;
	n[o->nrules].origin = strdup(origin);
	if (!n[o->nrules].origin)
		return bad("out of memory");
	o->nrules++;
	return 0;
}

/* After "not aligned" for a GPA without 0x: how it was read. */
static const char *decimal_note(const char *s)
{
	return s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ?
		       "" :
		       " (read as decimal: hex needs a 0x prefix)";
}

/* GPA:MAP of --protect; @where names the token in messages. */
static int parse_protect(struct spp_run_opts *o, const char *arg,
			 const char *where)
{
	char buf[64], *colon;
	struct spp_rule r = { .range = false };
	uint64_t map;

	if (strlen(arg) >= sizeof(buf))
		return bad("%s: too long (expected GPA:MAP)", where);
	strcpy(buf, arg);
	colon = strchr(buf, ':');
	if (!colon)
		return bad("%s: expected GPA:MAP, e.g. 0x10000000:0x0", where);
	*colon = 0;
	if (spp_cli_parse_number(buf, 0, &r.gpa))
		return bad("%s: bad GPA '%s' (%s)", where, buf,
			   spp_cli_number_help(buf));
	if (r.gpa & (SPP_LAYOUT_PAGE_SIZE - 1))
		return bad("%s: GPA '%s' is not 4 KiB aligned%s", where, buf,
			   decimal_note(buf));
	if (spp_cli_parse_number(colon + 1, 0, &map))
		return bad("%s: bad MAP '%s' (%s)", where, colon + 1,
			   spp_cli_number_help(colon + 1));
	if (map > UINT32_MAX)
		return bad("%s: MAP '%s' has more than 32 bits", where,
			   colon + 1);
	r.map = (uint32_t)map;
	return add_rule(o, &r, where);
}

/* GPA+LEN of --protect-range. */
static int parse_range(struct spp_run_opts *o, const char *arg,
		       const char *where)
{
	char buf[64], *plus;
	struct spp_rule r = { .range = true };

	if (strlen(arg) >= sizeof(buf))
		return bad("%s: too long (expected GPA+LEN)", where);
	strcpy(buf, arg);
	plus = strchr(buf, '+');
	if (!plus)
		return bad("%s: expected GPA+LEN, e.g. 0x10000290+16", where);
	*plus = 0;
	if (spp_cli_parse_number(buf, 0, &r.gpa))
		return bad("%s: bad GPA '%s' (%s)", where, buf,
			   spp_cli_number_help(buf));
	if (spp_cli_parse_number(plus + 1, SPP_CLI_NUM_SIZE, &r.len) || !r.len)
		return bad("%s: bad LEN '%s' (a size of at least 1: decimal, "
			   "or hex with 0x; may end in K, M, G or T)",
			   where, plus + 1);
	if (r.gpa + r.len < r.gpa ||
	    r.gpa + r.len > UINT64_MAX - SUBPAGE) /* rounding must fit */
		return bad("%s: GPA+LEN '%s' overflows", where, arg);
	return add_rule(o, &r, where);
}

static char *rule_origin(const char *opt, const char *arg, char *buf, size_t n)
{
	snprintf(buf, n, "%s '%s'", opt, arg);
	return buf;
}

#define POLICY_LINE_MAX 511

/*
 * Whether line @lineno (@n bytes) of a policy file may be read as text:
 * no NUL or control bytes (tab, CR and LF aside) anywhere, nothing outside
 * ASCII before a '#'. Otherwise one line that names the line but never
 * echoes its bytes.
 */
static int policy_text(const char *path, unsigned int lineno, const char *line,
		       size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') ||
		    c == 0x7f)
			return bad("%s:%u: binary data (not a policy file)",
				   path, lineno);
	}
	for (i = 0; i < n && line[i] != '#'; i++)
		if ((unsigned char)line[i] >= 0x80)
			return bad("%s:%u: byte 0x%02x outside ASCII (rules "
				   "are ASCII; '#' comments may be UTF-8)",
				   path, lineno, (unsigned char)line[i]);
	return 0;
}

/*
 * Line after line of @f into @buf (@size bytes), NUL bytes included and
 * the '\n' kept; *@len is its length. A line longer than @size - 1 bytes
 * sets *@too_long and is not read further. Returns false at the end.
 */
static bool policy_line(FILE *f, char *buf, size_t size, size_t *len,
			bool *too_long)
{
	size_t n = 0;
	int c;

	*too_long = false;
	while ((c = getc(f)) != EOF) {
		if (n == size - 1) {
			*too_long = true;
			break;
		}
		buf[n++] = (char)c;
		if (c == '\n')
			break;
	}
	buf[n] = 0;
	*len = n;
	return n || *too_long;
}

/* The policy file: one rule per line, see docs/spp.1 (POLICY FILE). */
static int read_policy(struct spp_run_opts *o, const char *path)
{
	char line[POLICY_LINE_MAX + 1], where[POLICY_LINE_MAX + 200];
	unsigned int lineno = 0;
	FILE *f = fopen(path, "re");
	bool too_long;
	size_t n;
	int ret = 0;

	if (!f)
		return bad("--policy '%s': %s", path, strerror(errno));
	while (!ret && policy_line(f, line, sizeof(line), &n, &too_long)) {
		char *p, *kw, *arg, *extra, *save;

		lineno++;
		ret = policy_text(path, lineno, line, n);
		if (ret)
			break;
		if (too_long) {
			ret = bad("%s:%u: line too long", path, lineno);
			break;
		}
		p = strchr(line, '#');
		if (p)
			*p = 0;
		kw = strtok_r(line, " \t\r\n", &save);
		if (!kw)
			continue;
		arg = strtok_r(NULL, " \t\r\n", &save);
		extra = arg ? strtok_r(NULL, " \t\r\n", &save) : NULL;
		snprintf(where, sizeof(where), "%s:%u: %s '%s'", path, lineno,
			 kw, arg ? arg : "");
		if (strcmp(kw, "protect") && strcmp(kw, "protect-range") &&
		    strcmp(kw, "on-violation")) {
			ret = bad("%s:%u: unknown rule '%s' (protect, "
				  "protect-range, on-violation)",
				  path, lineno, kw);
		} else if (!arg) {
			ret = bad("%s:%u: '%s' needs an argument", path, lineno,
				  kw);
		} else if (extra) {
			ret = bad("%s:%u: unexpected '%s'", path, lineno,
				  extra);
		} else if (!strcmp(kw, "protect")) {
			ret = parse_protect(o, arg, where);
		} else if (!strcmp(kw, "protect-range")) {
			ret = parse_range(o, arg, where);
		} else {
			enum spp_policy pol;

			if (parse_policy(arg, &pol))
				ret = bad("%s: expected deny, log or stop",
					  where);
			else if (!o->policy_set)
				o->policy = pol;
		}
	}
	if (!ret && ferror(f))
		ret = bad("--policy '%s': %s", path, strerror(errno));
	fclose(f);
	return ret;
}

/* The bytes a rule claims: a whole page, or its range rounded outward to
 * sub-pages. */
static void rule_span(const struct spp_rule *r, uint64_t *start, uint64_t *end)
{
	if (r->range) {
		*start = r->gpa & ~(SUBPAGE - 1);
		*end = (r->gpa + r->len + SUBPAGE - 1) & ~(SUBPAGE - 1);
	} else {
		*start = r->gpa;
		*end = r->gpa + SPP_LAYOUT_PAGE_SIZE;
	}
}

static int check_rules(struct spp_run_opts *o)
{
	uint64_t pt_base = spp_layout_pt_base(o->mem);
	size_t i, k;

	for (i = 0; i < o->nrules; i++) {
		const struct spp_rule *r = &o->rules[i];
		uint64_t s, e;

		rule_span(r, &s, &e);
		/* the same check as a guest's PROTECT request */
		switch (spp_layout_protectable(s, e, o->mem)) {
		case SPP_LAYOUT_PROTECTABLE:
			break;
		case SPP_LAYOUT_BEYOND_RAM:
			return bad("%s: beyond guest RAM (--mem %" PRIu64
				   "M ends at 0x%" PRIx64 ")",
				   r->origin, o->mem >> 20, o->mem);
		case SPP_LAYOUT_SYSTEM_AREA:
			return bad("%s: in spp's system area below 0x%llx",
				   r->origin, SPP_LAYOUT_SYS_END);
		case SPP_LAYOUT_PAGE_TABLES:
			return bad("%s: in the guest page tables at the top "
				   "of RAM (0x%" PRIx64 " and up)",
				   r->origin, pt_base);
		}
		for (k = 0; k < i; k++) {
			uint64_t s2, e2;

			rule_span(&o->rules[k], &s2, &e2);
			if (s < e2 && s2 < e)
				return bad("%s: overlaps %s", r->origin,
					   o->rules[k].origin);
		}
	}
	return 0;
}

static int page_cmp(const void *a, const void *b)
{
	const struct spp_page *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

static int add_page(struct spp_run_opts *o, size_t *cap, uint64_t gpa,
		    uint32_t map)
{
	if (o->npages == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		struct spp_page *n = realloc(o->pages, ncap * sizeof(*n));

		if (!n)
			return bad("out of memory");
		o->pages = n;
		*cap = ncap;
	}
	o->pages[o->npages++] = (struct spp_page){ gpa, map };
	return 0;
}

/* The protected pages and their maps from the (checked) rules. */
static int compute_pages(struct spp_run_opts *o)
{
	size_t i, k, cap = 0;
	int ret;

	for (i = 0; i < o->nrules; i++) {
		const struct spp_rule *r = &o->rules[i];
		uint64_t s, e, page;

		if (!r->range) {
			ret = add_page(o, &cap, r->gpa, r->map);
			if (ret)
				return ret;
			continue;
		}
		rule_span(r, &s, &e);
		for (page = s & ~(SPP_LAYOUT_PAGE_SIZE - 1); page < e;
		     page += SPP_LAYOUT_PAGE_SIZE) {
			uint64_t a = s > page ? s : page;
			uint64_t b = e < page + SPP_LAYOUT_PAGE_SIZE ?
					     e :
					     page + SPP_LAYOUT_PAGE_SIZE;
			uint32_t map = SPP_ACCESS_FULL;
			uint64_t sp;

			for (sp = (a - page) / SUBPAGE;
			     sp < (b - page) / SUBPAGE; sp++)
				map &= ~(1u << sp);
			ret = add_page(o, &cap, page, map);
			if (ret)
				return ret;
		}
	}
	if (o->npages)
		qsort(o->pages, o->npages, sizeof(*o->pages), page_cmp);
	/* ranges may share pages (never sub-pages): AND their maps */
	for (i = k = 0; i < o->npages; i++) {
		if (k && o->pages[k - 1].gpa == o->pages[i].gpa)
			o->pages[k - 1].map &= o->pages[i].map;
		else
			o->pages[k++] = o->pages[i];
	}
	o->npages = k;
	return 0;
}

void spp_cli_run_usage(FILE *f)
{
	fprintf(f,
		"usage: spp run [OPTIONS] GUEST.elf\n"
		"\n"
		"Run a static ELF64 guest program on KVM with sub-page (128-byte)\n"
		"write protection. Numbers: 0x for hex, otherwise decimal (a\n"
		"leading 0 is no octal); sizes (LEN, SIZE) take K, M, G or T.\n"
		"\n"
		"protection (all rules are checked before anything runs; rules\n"
		"must not overlap and must lie in guest RAM above 1 MiB, below\n"
		"the page tables at the top of RAM):\n"
		"  --protect GPA:MAP         page GPA (4 KiB aligned) gets the 32-bit\n"
		"                            write map MAP: bit i set = sub-page i\n"
		"                            writable (0x0 = whole page read-only)\n"
		"  --protect-range GPA+LEN   deny writes to the LEN bytes at GPA,\n"
		"                            ROUNDED OUTWARD to whole 128-byte\n"
		"                            sub-pages (0x10000290+16 denies\n"
		"                            0x10000280..0x100002ff)\n"
		"  --policy FILE             rules from FILE: lines 'protect GPA:MAP',\n"
		"                            'protect-range GPA+LEN', 'on-violation\n"
		"                            deny|log|stop'; '#' comments\n"
		"  --on-violation deny|log|stop\n"
		"                            a store touching a denied sub-page is\n"
		"                            dropped (deny, default), committed and\n"
		"                            reported (log), or ends the run (stop)\n"
		"\n"
		"output:\n"
		"  --events FILE|-           one JSON object per line per event\n"
		"                            (docs/events.md); '-' = stdout, and the\n"
		"                            guest console then goes to stderr\n"
		"  --events-all              events for allowed stores to trapped\n"
		"                            pages too\n"
		"  --stats                   the exit summary as one JSON line on\n"
		"                            stderr instead of text\n"
		"  --progress                a progress line every 5 s on stderr\n"
		"                            (default: only when stderr is a tty)\n"
		"  --quiet                   no text summary\n"
		"\n"
		"machine:\n"
		"  --vcpus N                 vCPUs, 1..%u (default 1)\n"
		"  --mem SIZE                guest RAM, e.g. 512M (default), 1G; a\n"
		"                            number without suffix is MiB;\n"
		"                            16M..32G, 2M steps\n"
		"  --timeout SECONDS         end the run after SECONDS (fractions ok)\n"
		"\n"
		"exit status: the guest's (v << 1) | 1 (odd, as QEMU's\n"
		"isa-debug-exit); 2 bad input (nothing ran), 4 guest crashed,\n"
		"6 timeout, 8 stopped on a violation, 10 KVM unavailable or spp\n"
		"error, 12 interrupted. See spp(1).\n",
		SPP_LAYOUT_MAX_VCPUS);
}

enum {
	OPT_PROTECT = 256,
	OPT_RANGE,
	OPT_POLICY,
	OPT_ON_VIOLATION,
	OPT_EVENTS,
	OPT_EVENTS_ALL,
	OPT_VCPUS,
	OPT_MEM,
	OPT_TIMEOUT,
	OPT_STATS,
	OPT_PROGRESS,
	OPT_QUIET,
};

static const struct option run_options[] = {
	{ "protect", required_argument, NULL, OPT_PROTECT },
	{ "protect-range", required_argument, NULL, OPT_RANGE },
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "on-violation", required_argument, NULL, OPT_ON_VIOLATION },
	{ "events", required_argument, NULL, OPT_EVENTS },
	{ "events-all", no_argument, NULL, OPT_EVENTS_ALL },
	{ "vcpus", required_argument, NULL, OPT_VCPUS },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Seconds: a number as everywhere (spp(1), NUMBERS), or decimal digits
 * with a fraction ("0.5", "2.", ".25"). */
static int parse_timeout(const char *s, unsigned int *ms)
{
	const char *p, *dot = NULL;
	uint64_t n;
	double v;

	if (!spp_cli_parse_number(s, 0, &n)) {
		if (n > 4000000)
			return -EINVAL;
		*ms = (unsigned int)n * 1000;
		return 0;
	}
	for (p = s; *p; p++) {
		if (*p == '.' && !dot)
			dot = p;
		else if (!isdigit((unsigned char)*p))
			return -EINVAL;
	}
	if (!dot || p - s < 2)
		return -EINVAL;
	v = strtod(s, NULL);
	if (v > 4000000.0)
		return -EINVAL;
	*ms = (unsigned int)(v * 1000.0 + 0.5);
	if (v > 0 && !*ms)
		*ms = 1;
	return 0;
}

int spp_cli_run_opts(int argc, char **argv, struct spp_run_opts *o)
{
	const char *policy_file = NULL;
	char where[128];
	uint64_t v;
	int c, ret;

	memset(o, 0, sizeof(*o));
	o->vcpus = 1;
	o->mem = SPP_LAYOUT_RAM_DEFAULT;
	opterr = 0;
	optind = 1;
	for (;;) {
		int prev = optind;

		c = getopt_long(argc, argv, ":h", run_options, NULL);
		if (c == -1)
			break;
		switch (c) {
		case 'h':
			spp_cli_run_usage(stdout);
			return 1;
		case OPT_PROTECT:
			ret = parse_protect(o, optarg,
					    rule_origin("--protect", optarg,
							where, sizeof(where)));
			if (ret)
				return ret;
			break;
		case OPT_RANGE:
			ret = parse_range(o, optarg,
					  rule_origin("--protect-range", optarg,
						      where, sizeof(where)));
			if (ret)
				return ret;
			break;
		case OPT_POLICY:
			policy_file = optarg;
			break;
		case OPT_ON_VIOLATION:
			if (parse_policy(optarg, &o->policy))
				return bad(
					"--on-violation '%s': expected deny, "
					"log or stop",
					optarg);
			o->policy_set = true;
			break;
		case OPT_EVENTS:
			o->events = optarg;
			break;
		case OPT_EVENTS_ALL:
			o->events_all = true;
			break;
		case OPT_VCPUS:
			if (spp_cli_parse_number(optarg, 0, &v) || !v ||
			    v > SPP_LAYOUT_MAX_VCPUS)
				return bad("--vcpus '%s': expected 1..%u",
					   optarg, SPP_LAYOUT_MAX_VCPUS);
			o->vcpus = (unsigned int)v;
			break;
		case OPT_MEM:
			if (spp_cli_parse_number(optarg, SPP_CLI_NUM_MIB, &v) ||
			    !spp_layout_ram_valid(v))
				return bad(
					"--mem '%s': expected a size from 16M "
					"to 32G in 2M steps, e.g. 512M or 1G",
					optarg);
			o->mem = v;
			break;
		case OPT_TIMEOUT:
			if (parse_timeout(optarg, &o->timeout_ms))
				return bad("--timeout '%s': expected seconds, "
					   "e.g. 10 or 0.5",
					   optarg);
			break;
		case OPT_STATS:
			o->stats = true;
			break;
		case OPT_PROGRESS:
			o->progress = true;
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case ':':
			return bad("option '%s' needs an argument",
				   argv[optind - 1]);
		default: {
			/* the token getopt stopped at */
			const char *tok =
				argv[optind > prev ? optind - 1 : optind];

			if (optopt > 0 && optopt < 256)
				return bad("unknown option '-%c' (try --help)",
					   optopt);
			if (optopt && strchr(tok, '='))
				return bad("option '%.*s' takes no argument",
					   (int)(strchr(tok, '=') - tok), tok);
			return bad("unknown option '%s' (try --help)", tok);
		}
		}
	}
	if (optind >= argc)
		return bad("no guest given (usage: spp run [OPTIONS] "
			   "GUEST.elf)");
	if (optind + 1 < argc)
		return bad("unexpected argument '%s' (one guest only)",
			   argv[optind + 1]);
	o->guest = argv[optind];
	if (policy_file) {
		ret = read_policy(o, policy_file);
		if (ret)
			return ret;
	}
	ret = check_rules(o);
	if (!ret)
		ret = compute_pages(o);
	return ret;
}

void spp_cli_run_opts_free(struct spp_run_opts *o)
{
	size_t i;

	for (i = 0; i < o->nrules; i++)
		free(o->rules[i].origin);
	free(o->rules);
	free(o->pages);
	memset(o, 0, sizeof(*o));
}
