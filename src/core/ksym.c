// SPDX-License-Identifier: MIT
/*
 * ksym.c - System.map and /proc/kallsyms parsing, name <-> address
 * (spp/ksym.h).
 *
 * The input is copied once into @pool and cut into NUL-terminated names
 * in place; every symbol points into it. @sym is sorted by address
 * (globals first among aliases, then file order), @loc lists the located
 * ones (not absolute) in that order for address -> name, @byname indexes
 * @sym by name for name -> address.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spp/ksym.h>

#include "ksym_internal.h"

#define KSYM_FILE_MAX (256u << 20)
/* Sizes: a kernel image is at most 1 GiB (x86's KERNEL_IMAGE_SIZE), so a
 * gap this wide lies between two address ranges (per-cpu offsets and the
 * image, the image and modules), inside no symbol. */
#define KSYM_GAP_MAX (1ULL << 30)

struct ksym {
	uint64_t addr; /* as in the file */
	uint64_t size; /* estimate; 0 = unknown or absolute */
	const char *name;
	const char *module; /* NULL for the kernel image */
	size_t line; /* order in the file */
	char type;
};

struct spp_ksym_table {
	char *pool;
	struct ksym *sym;
	size_t nsym;
	size_t *loc; /* indices into @sym of located symbols */
	size_t nloc;
	const struct ksym **byname; /* @sym sorted by name */
	uint64_t slide;
};

static const char stub_text[] = "The real System.map is in";

static int fail(struct spp_ksym_error *err, unsigned int line, const char *what,
		int ret)
{
	if (err) {
		err->line = line;
		err->what = what;
	}
	return ret;
}

static bool is_global(char type)
{
	return type >= 'A' && type <= 'Z';
}

static bool is_located(char type)
{
	return type != 'A' && type != 'a';
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Next blank-separated field of the line at *@p (NUL-terminated in place). */
static char *field(char **p)
{
	char *s = *p, *e;

	while (blank(*s))
		s++;
	if (!*s)
		return NULL;
	for (e = s; *e && !blank(*e); e++)
		;
	if (*e)
		*e++ = '\0';
	*p = e;
	return s;
}

static int parse_hex(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	unsigned int n = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; *s; s++, n++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -EINVAL;
		if (n >= 16)
			return -EINVAL;
		x = x << 4 | d;
	}
	if (!n)
		return -EINVAL;
	*v = x;
	return 0;
}

static bool type_ok(const char *t)
{
	return t[0] && !t[1] &&
	       ((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z') ||
		t[0] == '?');
}

static int addr_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (is_global(x->type) != is_global(y->type))
		return is_global(x->type) ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int name_cmp(const void *a, const void *b)
{
	const struct ksym *x = *(const struct ksym *const *)a;
	const struct ksym *y = *(const struct ksym *const *)b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x < y ? -1 : x > y;
}

/* Parse one line in place into @s; 1 = a symbol, 0 = nothing to keep. */
static int parse_line(char *p, struct ksym *s, const char **what)
{
	char *a, *t, *n, *m;

	a = field(&p);
	if (!a)
		return 0; /* empty */
	t = field(&p);
	if (!t) {
		*what = "expected 'ADDRESS TYPE NAME'";
		return -EINVAL;
	}
	while (blank(*p))
		p++;
	/* "U name": undefined, no address (nm without --defined-only). */
	if (!*p && type_ok(a) && strchr("Uwv", a[0]))
		return 0;
	if (!strncmp(p, stub_text, sizeof(stub_text) - 1)) {
		*what = "Debian's stub System.map: the real one is in the "
			"linux-image-VERSION-dbg package";
		return -ENODATA;
	}
	n = field(&p);
	m = field(&p);
	if (parse_hex(a, &s->addr)) {
		*what = "the address is not a hexadecimal number of at most "
			"64 bits";
		return -EINVAL;
	}
	if (!type_ok(t)) {
		*what = "the type is not one letter";
		return -EINVAL;
	}
	if (!n) {
		*what = "expected 'ADDRESS TYPE NAME'";
		return -EINVAL;
	}
	if (m) {
		size_t ml = strlen(m);

		if (field(&p) || ml < 3 || m[0] != '[' || m[ml - 1] != ']') {
			*what = "expected 'ADDRESS TYPE NAME [MODULE]'";
			return -EINVAL;
		}
		m[ml - 1] = '\0';
		m++;
	}
	s->type = t[0];
	s->name = n;
	s->module = m;
	s->size = 0;
	return 1;
}

static void table_free(struct spp_ksym_table *t)
{
	if (!t)
		return;
	free(t->pool);
	free(t->sym);
	free(t->loc);
	free(t->byname);
	free(t);
}

static int build(struct spp_ksym_table *t, struct spp_ksym_error *err)
{
	size_t i, j;
	bool any_addr = false;

	qsort(t->sym, t->nsym, sizeof(*t->sym), addr_cmp);
	t->loc = malloc(t->nsym * sizeof(*t->loc));
	t->byname = malloc(t->nsym * sizeof(*t->byname));
	if (!t->loc || !t->byname)
		return fail(err, 0, "out of memory", -ENOMEM);
	for (i = 0; i < t->nsym; i++) {
		t->byname[i] = &t->sym[i];
		if (is_located(t->sym[i].type)) {
			t->loc[t->nloc++] = i;
			if (t->sym[i].addr)
				any_addr = true;
		}
	}
	if (t->nloc > 1 && !any_addr)
		return fail(err, 0,
			    "every address is 0: kptr_restrict hides them "
			    "(read /proc/kallsyms as root with "
			    "kernel.kptr_restrict=0)",
			    -ENODATA);
	/* Sizes: up to the next located symbol at a higher address. */
	for (i = 0; i < t->nloc; i = j) {
		uint64_t a = t->sym[t->loc[i]].addr, gap;
		size_t k;

		for (j = i + 1; j < t->nloc && t->sym[t->loc[j]].addr == a; j++)
			;
		gap = j < t->nloc ? t->sym[t->loc[j]].addr - a : 0;
		if (gap >= KSYM_GAP_MAX)
			gap = 0; /* no symbol's: between address ranges */
		for (k = i; k < j; k++)
			t->sym[t->loc[k]].size = gap;
	}
	qsort(t->byname, t->nsym, sizeof(*t->byname), name_cmp);
	return 0;
}

/*
 * finish() - the end of a constructor: builds @t's indexes and publishes
 * @t in @out, or on an error (@err filled) frees @t with its pool.
 * Returns 0 or -errno.
 */
static int finish(struct spp_ksym_table *t, struct spp_ksym_table **out,
		  struct spp_ksym_error *err)
{
	int ret = build(t, err);

	if (ret) {
		table_free(t);
		return ret;
	}
	*out = t;
	return 0;
}

int spp_ksym_parse(const char *buf, size_t len, struct spp_ksym_table **out,
		   struct spp_ksym_error *err)
{
	struct spp_ksym_table *t;
	size_t cap = 0, lines = 0;
	char *p, *end;
	int ret;

	if ((!buf && len) || !out)
		return fail(err, 0, "no input", -EINVAL);
	if (len && memchr(buf, '\0', len))
		return fail(err, 0, "a NUL byte: not a text file", -EINVAL);
	if (len > SIZE_MAX - 1)
		return fail(err, 0, "out of memory", -ENOMEM);
	t = calloc(1, sizeof(*t));
	if (!t)
		return fail(err, 0, "out of memory", -ENOMEM);
	t->pool = malloc(len + 1);
	if (!t->pool) {
		ret = fail(err, 0, "out of memory", -ENOMEM);
		goto out;
	}
	if (len)
		memcpy(t->pool, buf, len);
	t->pool[len] = '\0';
	for (p = t->pool, end = t->pool + len; p < end; p++)
		cap += *p == '\n';
	cap++;
	t->sym = malloc(cap * sizeof(*t->sym));
	if (!t->sym) {
		ret = fail(err, 0, "out of memory", -ENOMEM);
		goto out;
	}
	for (p = t->pool; p < end || (p == end && !lines);) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *what = NULL;

		if (nl)
			*nl = '\0';
		lines++;
		ret = parse_line(p, &t->sym[t->nsym], &what);
		if (ret < 0) {
			fail(err, (unsigned int)lines, what, ret);
			goto out;
		}
		if (ret) {
			t->sym[t->nsym].line = lines;
			t->nsym++;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	if (!t->nsym) {
		ret = fail(err, 0, "no symbol in it", -ENODATA);
		goto out;
	}
	return finish(t, out, err);
out:
	table_free(t);
	return ret;
}

int spp_ksymtab_new(char *pool, size_t pool_len,
		    const struct spp_ksymtab_entry *e, size_t n,
		    struct spp_ksym_table **out, struct spp_ksym_error *err)
{
	struct spp_ksym_table *t;
	size_t i;

	if (!pool || !out || (n && !e)) {
		free(pool);
		return fail(err, 0, "no input", -EINVAL);
	}
	if (!n) {
		free(pool);
		return fail(err, 0, "no symbol in it", -ENODATA);
	}
	for (i = 0; i < n; i++)
		if (e[i].name >= pool_len ||
		    !memchr(pool + e[i].name, '\0', pool_len - e[i].name)) {
			free(pool);
			return fail(err, 0, "a name outside the pool", -EINVAL);
		}
	t = calloc(1, sizeof(*t));
	if (!t || n > SIZE_MAX / sizeof(*t->sym)) {
		free(t);
		free(pool);
		return fail(err, 0, "out of memory", -ENOMEM);
	}
	t->pool = pool;
	t->sym = malloc(n * sizeof(*t->sym));
	if (!t->sym) {
		table_free(t);
		return fail(err, 0, "out of memory", -ENOMEM);
	}
	for (i = 0; i < n; i++) {
		t->sym[i].addr = e[i].addr;
		t->sym[i].size = 0;
		t->sym[i].name = pool + e[i].name;
		t->sym[i].module = NULL;
		t->sym[i].line = i + 1;
		t->sym[i].type = e[i].type;
	}
	t->nsym = n;
	return finish(t, out, err);
}

int spp_ksym_load(const char *path, struct spp_ksym_table **out,
		  struct spp_ksym_error *err)
{
	size_t len = 0, cap = 1 << 16;
	char *buf;
	int fd, ret;

	if (!path || !out)
		return fail(err, 0, "no file", -EINVAL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, 0, "cannot open it", -errno);
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return fail(err, 0, "out of memory", -ENOMEM);
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap >= KSYM_FILE_MAX) {
				ret = fail(err, 0, "larger than 256 MiB",
					   -EFBIG);
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				ret = fail(err, 0, "out of memory", -ENOMEM);
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = fail(err, 0, "cannot read it", -errno);
			goto out;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	ret = spp_ksym_parse(buf, len, out, err);
out:
	close(fd);
	free(buf);
	return ret;
}

void spp_ksym_destroy(struct spp_ksym_table *t)
{
	table_free(t);
}

size_t spp_ksym_count(const struct spp_ksym_table *t)
{
	return t ? t->nsym : 0;
}

int spp_ksym_at(const struct spp_ksym_table *t, size_t i, uint64_t *addr,
		char *type, const char **name, const char **module)
{
	const struct ksym *s;

	if (!t)
		return -EINVAL;
	if (i >= t->nsym)
		return -ENOENT;
	s = &t->sym[i];
	if (addr)
		*addr = s->addr + t->slide;
	if (type)
		*type = s->type;
	if (name)
		*name = s->name;
	if (module)
		*module = s->module;
	return 0;
}

/* The symbol a name means (spp/ksym.h's rule), or an error. */
static int find_name(const struct spp_ksym_table *t, const char *name,
		     const struct ksym **out)
{
	size_t lo = 0, hi = t->nsym, first, i, nglobal = 0;
	const struct ksym *pick = NULL, *global = NULL;
	bool one_addr = true;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(t->byname[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	for (i = first; i < t->nsym && !strcmp(t->byname[i]->name, name); i++) {
		const struct ksym *s = t->byname[i];

		if (!pick)
			pick = s;
		else if (s->addr != pick->addr)
			one_addr = false;
		if (is_global(s->type)) {
			nglobal++;
			global = s;
		}
	}
	if (!pick)
		return -ENOENT;
	if (!one_addr) {
		if (nglobal != 1)
			return -ENOTUNIQ;
		pick = global;
	}
	*out = pick;
	return 0;
}

int spp_ksym_lookup(const struct spp_ksym_table *t, const char *name,
		    uint64_t *addr, uint64_t *size)
{
	const struct ksym *s;
	int ret;

	if (!t || !name || !addr)
		return -EINVAL;
	ret = find_name(t, name, &s);
	if (ret)
		return ret;
	*addr = s->addr + t->slide;
	if (size)
		*size = s->size;
	return 0;
}

int spp_ksym_resolve(const struct spp_ksym_table *t, uint64_t addr,
		     const char **name, uint64_t *off)
{
	size_t lo = 0, hi, i;
	const struct ksym *s;
	uint64_t a;

	if (!t)
		return -EINVAL;
	a = addr - t->slide;
	hi = t->nloc;
	/* the first located symbol above @a */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->sym[t->loc[mid]].addr <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -ENOENT;
	i = lo - 1;
	while (i > 0 && t->sym[t->loc[i - 1]].addr == t->sym[t->loc[i]].addr)
		i--; /* the preferred alias sorts first */
	s = &t->sym[t->loc[i]];
	if (a - s->addr >= s->size && a != s->addr)
		return -ENOENT;
	if (name)
		*name = s->name;
	if (off)
		*off = a - s->addr;
	return 0;
}

int spp_ksym_format(const struct spp_ksym_table *t, uint64_t addr, char *buf,
		    size_t len)
{
	const char *name;
	uint64_t off;
	int ret, n;

	if (!buf)
		return -EINVAL;
	ret = spp_ksym_resolve(t, addr, &name, &off);
	if (ret)
		return ret;
	if (off)
		n = snprintf(buf, len, "%s+0x%llx", name,
			     (unsigned long long)off);
	else
		n = snprintf(buf, len, "%s", name);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

/* A number of spp(1)'s plain kinds: decimal or 0x hex, the whole of @s. */
static int parse_num(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i = 0;
	unsigned int base = 10;

	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == n)
		return -EINVAL;
	for (; i < n; i++) {
		unsigned int d;

		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (base == 16 && s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else if (base == 16 && s[i] >= 'A' && s[i] <= 'F')
			d = s[i] - 'A' + 10;
		else
			return -EINVAL;
		if (x > (UINT64_MAX - d) / base)
			return -EINVAL;
		x = x * base + d;
	}
	*v = x;
	return 0;
}

int spp_ksym_parse_range(const struct spp_ksym_table *t, const char *spec,
			 uint64_t *addr, uint64_t *len)
{
	const char *plus, *slash, *name_end;
	const struct ksym *s;
	uint64_t base, off = 0, l = 0;
	char name[512];
	bool has_len;
	int ret;

	if (!t || !spec || !addr || !len)
		return -EINVAL;
	slash = strchr(spec, '/');
	plus = strchr(spec, '+');
	if (plus && slash && plus > slash)
		return -EINVAL; /* "NAME/LEN+OFF" */
	name_end = plus ? plus : slash ? slash : spec + strlen(spec);
	if (name_end == spec || (size_t)(name_end - spec) >= sizeof(name))
		return -EINVAL;
	memcpy(name, spec, (size_t)(name_end - spec));
	name[name_end - spec] = '\0';
	if (plus) {
		const char *e = slash ? slash : plus + strlen(plus);

		if (parse_num(plus + 1, (size_t)(e - plus - 1), &off))
			return -EINVAL;
	}
	has_len = slash != NULL;
	if (has_len && (strchr(slash + 1, '/') ||
			parse_num(slash + 1, strlen(slash + 1), &l) || !l))
		return -EINVAL;
	ret = find_name(t, name, &s);
	if (ret)
		return ret;
	if (!has_len) {
		if (!s->size)
			return -ENODATA;
		if (off >= s->size)
			return -ERANGE;
		l = s->size - off;
	}
	base = s->addr + t->slide;
	if (base + off < base || l - 1 > UINT64_MAX - (base + off))
		return -EINVAL; /* wraps past 2^64 */
	*addr = base + off;
	*len = l;
	return 0;
}

int spp_ksym_find_slide(const struct spp_ksym_table *t, const char *name,
			uint64_t runtime, uint64_t *slide)
{
	const struct ksym *s;
	int ret;

	if (!t || !name || !slide)
		return -EINVAL;
	ret = find_name(t, name, &s);
	if (ret)
		return ret;
	if ((runtime ^ s->addr) & 0xfff)
		return -EINVAL;
	*slide = runtime - s->addr;
	return 0;
}

int spp_ksym_set_slide(struct spp_ksym_table *t, uint64_t slide)
{
	if (!t || (slide & 0xfff))
		return -EINVAL;
	t->slide = slide;
	return 0;
}

uint64_t spp_ksym_slide(const struct spp_ksym_table *t)
{
	return t ? t->slide : 0;
}
