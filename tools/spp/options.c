// SPDX-License-Identifier: MIT
/*
 * options.c - the one number syntax of spp; the command line of "spp
 * run", its --help and the policy file, all three from one option table
 * (SPP_CLI_RUN_OPTIONS in spp_cli.h); the checks of protection rules.
 * Every error is one line on stderr naming the offending token; the
 * caller exits with SPP_CLI_USAGE.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spp/ctl.h>
#include <spp/spp.h>
#include <spp/layout.h>
#include <spp/vector.h>

#include "spp_cli.h"

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
			 const char *where, bool file)
{
	char buf[64], *colon;
	struct spp_rule r = { .range = false };
	uint64_t map;

	(void)file;
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
	if (r.gpa & (SPP_PAGE_SIZE - 1))
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
		       const char *where, bool file)
{
	char buf[64], *plus;
	struct spp_rule r = { .range = true };

	(void)file;
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
	    r.gpa + r.len >
		    UINT64_MAX - SPP_SUBPAGE_SIZE) /* rounding must fit */
		return bad("%s: GPA+LEN '%s' overflows", where, arg);
	return add_rule(o, &r, where);
}

static int add_kaddr(struct spp_run_opts *o, const struct spp_kaddr *k,
		     const char *where)
{
	struct spp_kaddr *n = realloc(o->kaddrs, (o->nkaddrs + 1) * sizeof(*n));

	if (!n)
		return bad("out of memory");
	o->kaddrs = n;
	n[o->nkaddrs] = *k;
	n[o->nkaddrs].origin = strdup(where);
	if (!n[o->nkaddrs].origin)
		return bad("out of memory");
	o->nkaddrs++;
	return 0;
}

/* GVA/LEN of --protect-gva (the control socket's limits: a canonical
 * range of at most SPP_CTL_RULE_MAX_PAGES pages). */
static int parse_protect_gva(struct spp_run_opts *o, const char *arg,
			     const char *where, bool file)
{
	struct spp_kaddr k = { 0 };
	char buf[64], *slash;
	uint64_t last;

	(void)file;
	if (strlen(arg) >= sizeof(buf))
		return bad("%s: too long (expected GVA/LEN)", where);
	strcpy(buf, arg);
	slash = strchr(buf, '/');
	if (!slash)
		return bad("%s: expected GVA/LEN, e.g. "
			   "0xffffffff82a5b1c0/256",
			   where);
	*slash = 0;
	if (spp_cli_parse_number(buf, 0, &k.gva))
		return bad("%s: bad GVA '%s' (%s)", where, buf,
			   spp_cli_number_help(buf));
	if (spp_cli_parse_number(slash + 1, SPP_CLI_NUM_SIZE, &k.len) ||
	    !k.len || k.len > (uint64_t)SPP_CTL_RULE_MAX_PAGES * SPP_PAGE_SIZE)
		return bad("%s: bad LEN '%s' (1..256K: decimal, or hex with "
			   "0x; may end in K)",
			   where, slash + 1);
	last = k.gva + k.len - 1;
	if (last < k.gva || (uint64_t)((int64_t)(k.gva << 7) >> 7) != k.gva ||
	    (uint64_t)((int64_t)(last << 7) >> 7) != last ||
	    (k.gva >> 63) != (last >> 63))
		return bad("%s: not a canonical virtual range", where);
	if (((last >> SPP_PAGE_SHIFT) - (k.gva >> SPP_PAGE_SHIFT)) >=
	    SPP_CTL_RULE_MAX_PAGES)
		return bad("%s: spans more than %u pages", where,
			   SPP_CTL_RULE_MAX_PAGES);
	return add_kaddr(o, &k, where);
}

/* NAME[+OFF][/LEN] of --protect-symbol: its syntax here, the name in
 * the --system-map table once that is read (spp_cli_check_symbols()). */
static int parse_protect_symbol(struct spp_run_opts *o, const char *arg,
				const char *where, bool file)
{
	struct spp_kaddr k = { 0 };

	(void)file;
	if (!*arg || strlen(arg) > 200 || strpbrk(arg, " \t\n\"\\"))
		return bad("%s: expected NAME[+OFF][/LEN], e.g. "
			   "modprobe_path or idt_table+0x10/16",
			   where);
	k.symbol = strdup(arg);
	if (!k.symbol)
		return bad("out of memory");
	if (add_kaddr(o, &k, where)) {
		free(k.symbol);
		return SPP_CLI_USAGE;
	}
	return 0;
}

/* GPA+LEN of --protect-bytes: a range the guard protects per byte. */
static int parse_bytes(struct spp_run_opts *o, const char *arg,
		       const char *where, bool file)
{
	size_t n = o->nrules;
	int ret = parse_range(o, arg, where, file);

	if (ret || o->nrules == n)
		return ret;
	if (o->rules[n].len > SPP_GUARD_BYTES_MAX_LEN)
		return bad("%s: LEN '%s' is more than 2M", where, arg);
	o->rules[n].bytes = true;
	return 0;
}

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

/* deny|log|stop: --on-violation wins over the policy file's line. */
static int parse_on_violation(struct spp_run_opts *o, const char *arg,
			      const char *where, bool file)
{
	enum spp_policy p;

	if (parse_policy(arg, &p))
		return bad("%s: expected deny, log or stop", where);
	if (file && o->policy_set)
		return 0;
	o->policy = p;
	o->policy_set = !file;
	return 0;
}

static const struct spp_cli_opt run_options[] = { SPP_CLI_RUN_OPTIONS };
static const struct spp_cli_opt qemu_options[] = { SPP_CLI_QEMU_OPTIONS };
static const struct spp_cli_opt ksym_options[] = { SPP_CLI_KSYM_OPTIONS };

#define NOPTS (sizeof(run_options) / sizeof(run_options[0]))
#define ROWS(t) (t), sizeof(t) / sizeof((t)[0])

/* A command's option table. */
struct optset {
	const char *getopt; /* getopt_long's optstring */
	const struct spp_cli_opt *rows;
	size_t n; /* at most NOPTS */
};

static const struct optset run_set = { ":h", ROWS(run_options) };
/* "+": options end at the first operand, QEMU's command */
static const struct optset qemu_set = { "+:h", ROWS(qemu_options) };
static const struct optset ksym_set = { ":h", ROWS(ksym_options) };

/* Row @opt with argument @arg (NULL for a flag) into @o. */
static int apply(struct spp_run_opts *o, const struct spp_cli_opt *opt,
		 const char *arg, const char *where, bool file)
{
	void *field = (char *)o + opt->field;
	uint64_t v;

	switch (opt->kind) {
	case SPP_OPT_FLAG:
		*(bool *)field = true;
		return 0;
	case SPP_OPT_STRING:
		*(const char **)field = arg;
		return 0;
	case SPP_OPT_UINT:
	case SPP_OPT_U64:
		if (spp_cli_parse_number(arg, opt->num, &v) || v < opt->min ||
		    v > opt->max || (opt->valid && !opt->valid(v))) {
			if (opt->expect)
				return bad("%s: expected %s", where,
					   opt->expect);
			return bad("%s: expected %" PRIu64 "..%" PRIu64, where,
				   opt->min, opt->max);
		}
		if (opt->kind == SPP_OPT_UINT)
			*(unsigned int *)field = (unsigned int)v;
		else
			*(uint64_t *)field = v;
		return 0;
	case SPP_OPT_SECONDS:
		if (parse_timeout(arg, field))
			return bad("%s: expected %s", where, opt->expect);
		return 0;
	case SPP_OPT_CALL:
		return opt->parse(o, arg, where, file);
	case SPP_OPT_GROUP:
		break;
	}
	return bad("%s: not an option", where);
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

/* The row of policy-file rule @kw, or NULL. */
static const struct spp_cli_opt *policy_opt(const char *kw)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (run_options[i].policy && !strcmp(run_options[i].name, kw))
			return &run_options[i];
	return NULL;
}

/* "protect, protect-range, on-violation": the rules a policy file knows. */
static void policy_words(char *buf, size_t n)
{
	size_t i, len = 0;

	buf[0] = 0;
	for (i = 0; i < NOPTS && len < n; i++)
		if (run_options[i].policy)
			len += (size_t)snprintf(buf + len, n - len, "%s%s",
						len ? ", " : "",
						run_options[i].name);
}

/*
 * The policy file: one rule per line, see docs/spp.1 (POLICY FILE). A
 * rule is a row of the option table marked for policy files, by its
 * name without "--".
 */
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
		char *p, *kw, *arg, *extra, *save, words[200];
		const struct spp_cli_opt *opt;

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
		opt = policy_opt(kw);
		if (!opt) {
			policy_words(words, sizeof(words));
			ret = bad("%s:%u: unknown rule '%s' (%s)", path, lineno,
				  kw, words);
		} else if (opt->arg && !arg) {
			ret = bad("%s:%u: '%s' needs an argument", path, lineno,
				  kw);
		} else if (extra || (!opt->arg && arg)) {
			ret = bad("%s:%u: unexpected '%s'", path, lineno,
				  extra ? extra : arg);
		} else {
			ret = apply(o, opt, arg, where, true);
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
		*start = r->gpa & ~(SPP_SUBPAGE_SIZE - 1);
		*end = (r->gpa + r->len + SPP_SUBPAGE_SIZE - 1) &
		       ~(SPP_SUBPAGE_SIZE - 1);
	} else {
		*start = r->gpa;
		*end = r->gpa + SPP_PAGE_SIZE;
	}
}

/* @vmm: the built-in VMM's RAM layout applies (spp run); else only the
 * guest-physical limit (spp qemu: the shim checks QEMU's RAM). */
static int check_rules(struct spp_run_opts *o, bool vmm)
{
	uint64_t pt_base = spp_layout_pt_base(o->mem);
	size_t i, k;

	for (i = 0; i < o->nrules; i++) {
		const struct spp_rule *r = &o->rules[i];
		uint64_t s, e;

		rule_span(r, &s, &e);
		if (!vmm && e > 1ULL << SPP_GPA_BITS)
			return bad("%s: beyond guest-physical space (2^%d)",
				   r->origin, SPP_GPA_BITS);
		/* the same check as a guest's PROTECT request */
		switch (!vmm ? SPP_LAYOUT_PROTECTABLE :
			       spp_layout_protectable(s, e, o->mem)) {
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

		if (r->bytes)
			continue; /* byte masks: applied after the maps */
		if (!r->range) {
			ret = add_page(o, &cap, r->gpa, r->map);
			if (ret)
				return ret;
			continue;
		}
		rule_span(r, &s, &e);
		for (page = s & ~(SPP_PAGE_SIZE - 1); page < e;
		     page += SPP_PAGE_SIZE) {
			uint64_t a = s > page ? s : page;
			uint64_t b = e < page + SPP_PAGE_SIZE ?
					     e :
					     page + SPP_PAGE_SIZE;
			uint32_t map = SPP_ACCESS_FULL;
			uint64_t sp;

			for (sp = (a - page) / SPP_SUBPAGE_SIZE;
			     sp < (b - page) / SPP_SUBPAGE_SIZE; sp++)
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

#define HELP_COL 28 /* where the help of an option starts */

/* @text's lines, each after the first indented to @col. */
static void help_lines(FILE *f, const char *text, int col)
{
	const char *nl;

	while ((nl = strchr(text, '\n'))) {
		fprintf(f, "%.*s\n%*s", (int)(nl - text), text, col, "");
		text = nl + 1;
	}
	fprintf(f, "%s\n", text);
}

/* The option rows of @set, as --help lists them. */
static void help_rows(FILE *f, const struct optset *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		const struct spp_cli_opt *opt = &set->rows[i];
		int n;

		if (opt->kind == SPP_OPT_GROUP) {
			fprintf(f, "\n%s\n", opt->help);
			continue;
		}
		n = fprintf(f, "  --%s%s%s", opt->name, opt->arg ? " " : "",
			    opt->arg ? opt->arg : "");
		if (n > HELP_COL - 2)
			fprintf(f, "\n%*s", HELP_COL, "");
		else
			fprintf(f, "%*s", HELP_COL - n, "");
		help_lines(f, opt->help, HELP_COL);
	}
}

void spp_cli_run_help(FILE *f)
{
	fputs("Run a static ELF64 guest program on KVM with sub-page (128-byte)\n"
	      "write protection. Numbers: 0x for hex, otherwise decimal (a\n"
	      "leading 0 is no octal); sizes (LEN, SIZE) take K, M, G or T.\n",
	      f);
	help_rows(f, &run_set);
	fputs("\n"
	      "exit status: the guest's (v << 1) | 1 (odd, as QEMU's\n"
	      "isa-debug-exit); 2 bad input (nothing ran), 4 guest crashed,\n"
	      "6 timeout, 8 stopped on a violation, 10 KVM unavailable or spp\n"
	      "error, 12 interrupted. See spp(1).\n",
	      f);
}

void spp_cli_qemu_help(FILE *f)
{
	fputs("Start QEMU (an unmodified qemu-system-x86_64 with KVM) with\n"
	      "spp's preload library: sub-page (128-byte) write protection for\n"
	      "its guest, a control socket, events. QEMU's own output, monitor\n"
	      "and exit status pass through (docs/qemu.md). Numbers as in\n"
	      "spp run.\n",
	      f);
	help_rows(f, &qemu_set);
	fputs("\n"
	      "exit status: QEMU's (128 + N when signal N ended it); 2 bad\n"
	      "input or a rule QEMU's guest cannot take (QEMU is stopped), 10\n"
	      "spp error. See spp(1).\n",
	      f);
}

void spp_cli_ksym_help(FILE *f)
{
	fputs("A Linux kernel's symbol table, from the kernel image itself\n"
	      "(the kallsyms tables a bzImage carries: no System.map, no -dbg\n"
	      "package) or from a System.map or /proc/kallsyms. Without NAME:\n"
	      "the table in System.map format on stdout (link-time addresses;\n"
	      "keep it as a cache). With NAMEs: one line 'NAME ADDR SIZE' each;\n"
	      "NAME may be NAME[+OFF][/LEN] (spp/ksym.h), SIZE the distance to\n"
	      "the next symbol (0: unknown).\n",
	      f);
	help_rows(f, &ksym_set);
	fputs("\n"
	      "exit status: 0; 2 bad input; 10 a file that cannot be read or\n"
	      "holds no symbols, or a NAME not found (the others still\n"
	      "printed). See spp(1) and docs/introspection.md.\n",
	      f);
}

/* The values of number rows without their option (zero for the rest). */
static void defaults(struct spp_run_opts *o, const struct optset *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		const struct spp_cli_opt *opt = &set->rows[i];
		void *field = (char *)o + opt->field;

		if (opt->kind == SPP_OPT_UINT)
			*(unsigned int *)field = (unsigned int)opt->def;
		else if (opt->kind == SPP_OPT_U64)
			*(uint64_t *)field = opt->def;
	}
}

/* getopt's table from the option table: val 256 + the row's index. */
static void getopt_table(struct option *lo, const struct optset *set)
{
	size_t i, n = 0;

	for (i = 0; i < set->n; i++) {
		if (set->rows[i].kind == SPP_OPT_GROUP)
			continue;
		lo[n++] = (struct option){ set->rows[i].name,
					   set->rows[i].arg ?
						   required_argument :
						   no_argument,
					   NULL, 256 + (int)i };
	}
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
}

/* The options of @set into @o; optind is then the first operand. */
static int parse_options(int argc, char **argv, struct spp_run_opts *o,
			 const struct optset *set)
{
	struct option longopts[NOPTS + 2];
	char where[128];
	int c, ret;

	memset(o, 0, sizeof(*o));
	defaults(o, set);
	getopt_table(longopts, set);
	opterr = 0;
	optind = 1;
	for (;;) {
		int prev = optind;

		c = getopt_long(argc, argv, set->getopt, longopts, NULL);
		if (c == -1)
			break;
		if (c >= 256 && c < 256 + (int)set->n) {
			const struct spp_cli_opt *opt = &set->rows[c - 256];

			snprintf(where, sizeof(where), "--%s '%s'", opt->name,
				 optarg ? optarg : "");
			ret = apply(o, opt, optarg, where, false);
			if (ret)
				return ret;
			continue;
		}
		switch (c) {
		case 'h':
			return SPP_CLI_HELP;
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
	return 0;
}

/* After the options: the policy file, the rules' checks, the pages. */
static int finish_rules(struct spp_run_opts *o, bool vmm)
{
	int ret;

	if (o->policy_file) {
		ret = read_policy(o, o->policy_file);
		if (ret)
			return ret;
	}
	ret = check_rules(o, vmm);
	if (!ret)
		ret = compute_pages(o);
	return ret;
}

int spp_cli_ksym_opts(int argc, char **argv, struct spp_run_opts *o, int *first)
{
	int ret = parse_options(argc, argv, o, &ksym_set);

	if (ret)
		return ret;
	if (!o->ksym_image == !o->ksym_map)
		return bad("give one of --image VMLINUZ and --system-map FILE");
	*first = optind;
	return 0;
}

int spp_cli_qemu_opts(int argc, char **argv, struct spp_run_opts *o)
{
	int ret = parse_options(argc, argv, o, &qemu_set);

	if (ret)
		return ret;
	if (optind >= argc)
		return bad(
			"no QEMU command given (usage: spp qemu " SPP_CLI_QEMU_ARGS
			")");
	o->qemu_argv = argv + optind;
	return finish_rules(o, false);
}

int spp_cli_run_opts(int argc, char **argv, struct spp_run_opts *o)
{
	int ret = parse_options(argc, argv, o, &run_set);

	if (ret)
		return ret;
	if (optind >= argc)
		return bad("no guest given (usage: spp run " SPP_CLI_RUN_ARGS
			   ")");
	if (optind + 1 < argc)
		return bad("unexpected argument '%s' (one guest only)",
			   argv[optind + 1]);
	o->guest = argv[optind];
	return finish_rules(o, true);
}

void spp_cli_run_opts_free(struct spp_run_opts *o)
{
	size_t i;

	for (i = 0; i < o->nrules; i++)
		free(o->rules[i].origin);
	free(o->rules);
	for (i = 0; i < o->nkaddrs; i++) {
		free(o->kaddrs[i].symbol);
		free(o->kaddrs[i].origin);
	}
	free(o->kaddrs);
	free(o->pages);
	memset(o, 0, sizeof(*o));
}
