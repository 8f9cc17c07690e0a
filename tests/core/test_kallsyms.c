// SPDX-License-Identifier: MIT
/*
 * test_kallsyms.c - symbol tables from kernel images
 * (spp_ksym_parse_image(), spp/ksym.h). Synthetic kallsyms tables built
 * here in both kernels' layouts (6.1: offsets, relative_base, num_syms,
 * names, markers, token_table, token_index; 6.12: num_syms, names,
 * markers, token_table, token_index, offsets, relative_base,
 * seqs_of_names), with and without absolute per-cpu symbols, bare and
 * inside a bzImage compressed with gzip, xz and zstd; corrupted ones;
 * then the real Debian kernels the test VM boots, where they are cached.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <spp/ksym.h>

#define NSYMS 900
#define NPERCPU 5
#define TEXT 0xffffffff81000000ULL

struct sym {
	uint64_t addr;
	char type;
	char name[512];
};

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	put(b, x, 2);
}

static void put32(struct buf *b, uint32_t v)
{
	put16(b, (uint16_t)v);
	put16(b, (uint16_t)(v >> 16));
}

static void put64(struct buf *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b, (uint32_t)(v >> 32));
}

static void align8(struct buf *b)
{
	while (b->n % 8)
		put8(b, 0);
}

/* Filler that is not zero: a few KiB of a pseudo-random sequence. */
static void filler(struct buf *b, size_t n, uint32_t seed)
{
	while (n--) {
		seed = seed * 1103515245u + 12345u;
		put8(b, (uint8_t)(seed >> 16));
	}
}

/* The symbols: NPERCPU absolute per-cpu ones (if @percpu), _text, then
 * named ones in address order with aliases, the four the real tests
 * look up and a name long enough for a 2-byte length. */
static struct sym *make_syms(int percpu, size_t *n)
{
	static const char types[] = "TtDdBbRr";
	struct sym *s = calloc(NSYMS, sizeof(*s));
	uint64_t a = TEXT;
	size_t i = 0, j;

	assert_non_null(s);
	if (percpu)
		for (; i < NPERCPU; i++) {
			s[i].addr = 0x1000 * i;
			s[i].type = 'A';
			snprintf(s[i].name, sizeof(s[i].name), "pcpu_%zu", i);
		}
	s[i].addr = a;
	s[i].type = 'T';
	strcpy(s[i++].name, "_text");
	for (j = 0; i < NSYMS; i++, j++) {
		if (j % 7)
			a += 0x40 + 0x10 * (j % 5); /* else an alias */
		s[i].addr = a;
		s[i].type = types[j % 8];
		snprintf(s[i].name, sizeof(s[i].name), "sym_%zu_%s", j,
			 j % 3 ? "abc" : "Tt__x");
	}
	strcpy(s[NSYMS - 40].name, "modprobe_path");
	s[NSYMS - 40].type = 'D';
	strcpy(s[NSYMS - 30].name, "core_pattern");
	s[NSYMS - 30].type = 'D';
	strcpy(s[NSYMS - 20].name, "entry_SYSCALL_64");
	s[NSYMS - 20].type = 'T';
	strcpy(s[NSYMS - 10].name, "idt_table");
	s[NSYMS - 10].type = 'd';
	memset(s[NSYMS - 5].name, '9', 300); /* 300 tokens: 2-byte length */
	s[NSYMS - 5].name[300] = '\0';
	*n = NSYMS;
	return s;
}

/* Tokens: every byte of a name stands for itself; the other indices
 * are pairs of lower-case letters ("ab", "ac", ...), used greedily. */
static char tokens[256][3];

static void make_tokens(void)
{
	unsigned int i, k = 0;

	for (i = 0; i < 256; i++) {
		if ((i >= '0' && i <= '9') || (i >= 'A' && i <= 'Z') ||
		    (i >= 'a' && i <= 'z') || i == '_') {
			tokens[i][0] = (char)i;
			tokens[i][1] = '\0';
		} else {
			tokens[i][0] = (char)('a' + k % 26);
			tokens[i][1] = (char)('b' + (k / 26) % 25);
			tokens[i][2] = '\0';
			k++;
		}
	}
}

static void put_names(struct buf *b, const struct sym *s, size_t n,
		      uint32_t *markers)
{
	size_t i, base = b->n;

	for (i = 0; i < n; i++) {
		uint8_t tok[600];
		char full[520];
		size_t len = 0, p = 0, fl;
		unsigned int t;

		snprintf(full, sizeof(full), "%c%s", s[i].type, s[i].name);
		fl = strlen(full);
		while (p < fl) {
			for (t = 0; t < 256; t++)
				if (tokens[t][1] && p + 1 < fl &&
				    tokens[t][0] == full[p] &&
				    tokens[t][1] == full[p + 1])
					break;
			if (t == 256) {
				t = (uint8_t)full[p];
				p++;
			} else {
				p += 2;
			}
			tok[len++] = (uint8_t)t;
		}
		if (i % 256 == 0)
			markers[i / 256] = (uint32_t)(b->n - base);
		if (len >= 0x80) {
			put8(b, (uint8_t)((len & 0x7f) | 0x80));
			put8(b, (uint8_t)(len >> 7));
		} else {
			put8(b, (uint8_t)len);
		}
		put(b, tok, len);
	}
}

static void put_tokens(struct buf *b, int index)
{
	unsigned int i;
	uint16_t off = 0;

	for (i = 0; i < 256; i++) {
		if (index)
			put16(b, off);
		else
			put(b, tokens[i], strlen(tokens[i]) + 1);
		off = (uint16_t)(off + strlen(tokens[i]) + 1);
	}
}

static void put_offsets(struct buf *b, const struct sym *s, size_t n,
			int percpu)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!percpu)
			put32(b, (uint32_t)(s[i].addr - TEXT));
		else if (s[i].type == 'A')
			put32(b, (uint32_t)s[i].addr);
		else
			put32(b, (uint32_t)(TEXT - 1 - s[i].addr));
	}
}

enum layout { L61, L612 };

/* Where make_blob() put the tables. */
static struct {
	size_t offsets, names, markers, token_index;
} at;

/* A kernel-like blob holding the tables in @layout; @percpu: absolute
 * per-cpu symbols. Filler before, between and after. */
static struct buf make_blob(enum layout layout, int percpu, struct sym **syms,
			    size_t *nsyms)
{
	struct buf b = { NULL, 0, 0 }, names = { NULL, 0, 0 };
	uint32_t markers[(NSYMS + 255) / 256];
	struct sym *s;
	size_t n, i;

	make_tokens();
	s = make_syms(percpu, &n);
	put_names(&names, s, n, markers);
	filler(&b, 4096, 1);
	put(&b, "\0\0\0\0\0\0\0\0", 8); /* a zero run: no offsets here */
	align8(&b);
	if (layout == L61) {
		at.offsets = b.n;
		put_offsets(&b, s, n, percpu);
		align8(&b);
		put64(&b, TEXT);
		align8(&b);
	}
	put32(&b, (uint32_t)n);
	align8(&b);
	at.names = b.n;
	put(&b, names.p, names.n);
	align8(&b);
	at.markers = b.n;
	for (i = 0; i < (n + 255) / 256; i++)
		put32(&b, markers[i]);
	align8(&b);
	put_tokens(&b, 0);
	align8(&b);
	at.token_index = b.n;
	put_tokens(&b, 1);
	align8(&b);
	if (layout == L612) {
		at.offsets = b.n;
		put_offsets(&b, s, n, percpu);
		align8(&b);
		put64(&b, TEXT);
		align8(&b);
		for (i = 0; i < n; i++) { /* seqs_of_names: 3 bytes each */
			put8(&b, (uint8_t)(i >> 16));
			put8(&b, (uint8_t)(i >> 8));
			put8(&b, (uint8_t)i);
		}
	}
	filler(&b, 4096, 2);
	free(names.p);
	*syms = s;
	*nsyms = n;
	return b;
}

/* The table @t holds exactly the symbols @s. */
static void check_table(struct spp_ksym_table *t, const struct sym *s, size_t n)
{
	uint64_t a, sz;
	const char *name;
	size_t i, found = 0;
	char type;

	assert_int_equal(spp_ksym_count(t), n);
	for (i = 0; i < n; i++) {
		size_t j;

		assert_int_equal(spp_ksym_at(t, i, &a, &type, &name, NULL), 0);
		for (j = 0; j < n; j++)
			if (!strcmp(s[j].name, name)) {
				assert_int_equal(s[j].addr, a);
				assert_int_equal(s[j].type, type);
				found++;
				break;
			}
		if (i)
			assert_true(a >= s[0].addr);
	}
	assert_int_equal(found, n);
	assert_int_equal(spp_ksym_at(t, n, &a, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(spp_ksym_lookup(t, "modprobe_path", &a, &sz), 0);
	assert_int_equal(a, s[NSYMS - 40].addr);
	assert_true(sz > 0); /* a distance */
	assert_int_equal(spp_ksym_lookup(t, "idt_table", &a, NULL), 0);
	assert_int_equal(a, s[NSYMS - 10].addr);
	assert_int_equal(spp_ksym_lookup(t, "_text", &a, NULL), 0);
	assert_int_equal(a, TEXT);
	assert_int_equal(
		spp_ksym_resolve(t, s[NSYMS - 20].addr + 1, &name, &sz), 0);
	assert_string_equal(name, "entry_SYSCALL_64");
	assert_int_equal(sz, 1);
}

static void parse_ok(const struct buf *b, const struct sym *s, size_t n)
{
	struct spp_ksym_table *t = NULL;
	struct spp_ksym_error err = { 0, NULL };

	if (spp_ksym_parse_image(b->p, b->n, &t, &err))
		print_message("# %s\n", err.what);
	assert_non_null(t);
	assert_null(err.what);
	check_table(t, s, n);
	spp_ksym_destroy(t);
}

static void parse_fails(const void *p, size_t n, int ret)
{
	struct spp_ksym_table *t = (void *)0x1;
	struct spp_ksym_error err = { 99, NULL };

	assert_int_equal(spp_ksym_parse_image(p, n, &t, &err), ret);
	assert_ptr_equal(t, (void *)0x1);
	assert_non_null(err.what);
	assert_int_equal(err.line, 0);
}

static void test_layouts(void **state)
{
	static const struct {
		enum layout l;
		int percpu;
	} cases[] = { { L61, 1 }, { L612, 1 }, { L61, 0 }, { L612, 0 } };
	size_t c, n;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct sym *s;
		struct buf b = make_blob(cases[c].l, cases[c].percpu, &s, &n);
		struct spp_ksym_table *t = NULL;
		uint64_t a, sz;

		print_message(
			"# layout %s, %s\n", cases[c].l == L61 ? "6.1" : "6.12",
			cases[c].percpu ? "absolute per-cpu" : "all relative");
		parse_ok(&b, s, n);
		if (cases[c].percpu) {
			/* per-cpu: absolute, no size, no address -> name */
			assert_int_equal(
				spp_ksym_parse_image(b.p, b.n, &t, NULL), 0);
			assert_int_equal(spp_ksym_lookup(t, "pcpu_1", &a, &sz),
					 0);
			assert_int_equal(a, 0x1000);
			assert_int_equal(sz, 0);
			assert_int_equal(spp_ksym_resolve(t, 0x1000, NULL,
							  NULL),
					 -ENOENT);
			spp_ksym_destroy(t);
		}
		free(b.p);
		free(s);
	}
}

/* A bzImage around @payload: setup header, protocol 2.15. */
static struct buf bzimage(const uint8_t *payload, size_t n)
{
	struct buf b = { NULL, 0, 0 };
	uint8_t setup[5 * 512];

	memset(setup, 0, sizeof(setup));
	setup[0x1f1] = 4; /* setup_sects */
	memcpy(setup + 0x202, "HdrS", 4);
	setup[0x206] = 0x0f;
	setup[0x207] = 0x02;
	setup[0x248] = 0x10; /* payload_offset 0x10 */
	setup[0x24c] = (uint8_t)n;
	setup[0x24d] = (uint8_t)(n >> 8);
	setup[0x24e] = (uint8_t)(n >> 16);
	setup[0x24f] = (uint8_t)(n >> 24);
	put(&b, setup, sizeof(setup));
	filler(&b, 0x10, 3);
	put(&b, payload, n);
	filler(&b, 64, 4);
	return b;
}

static struct buf compress_gz(const struct buf *in)
{
	struct buf o = { NULL, 0, 0 };
	z_stream z;

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
				      Z_DEFAULT_STRATEGY),
			 Z_OK);
	o.cap = deflateBound(&z, in->n);
	o.p = malloc(o.cap);
	z.next_in = in->p;
	z.avail_in = (uInt)in->n;
	z.next_out = o.p;
	z.avail_out = (uInt)o.cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	o.n = z.total_out;
	deflateEnd(&z);
	return o; /* gzip's trailer ends in the size */
}

static struct buf compress_xz(const struct buf *in)
{
	struct buf o = { NULL, 0, 0 };
	size_t pos = 0;

	o.cap = lzma_stream_buffer_bound(in->n) + 4;
	o.p = malloc(o.cap);
	assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL,
						 in->p, in->n, o.p, &pos,
						 o.cap),
			 LZMA_OK);
	o.n = pos;
	put32(&o, (uint32_t)in->n);
	return o;
}

static struct buf compress_zstd(const struct buf *in)
{
	struct buf o = { NULL, 0, 0 };
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t r;

	o.cap = ZSTD_compressBound(in->n) + 4;
	o.p = malloc(o.cap);
	/* with a checksum, as the zstd tool (and so kbuild) writes it */
	assert_false(ZSTD_isError(
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 19)));
	assert_false(ZSTD_isError(
		ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1)));
	r = ZSTD_compress2(cc, o.p, o.cap, in->p, in->n);
	ZSTD_freeCCtx(cc);
	assert_false(ZSTD_isError(r));
	o.n = r;
	put32(&o, (uint32_t)in->n);
	return o;
}

static void test_bzimage(void **state)
{
	struct buf (*fn[])(const struct buf *) = { compress_gz, compress_xz,
						   compress_zstd };
	size_t c, n;

	(void)state;
	for (c = 0; c < 3; c++) {
		struct sym *s;
		struct buf raw = make_blob(c == 1 ? L61 : L612, 1, &s, &n);
		struct buf z = fn[c](&raw), img = bzimage(z.p, z.n);
		size_t mid = 0x10 + 5 * 512 + z.n / 2;

		parse_ok(&img, s, n);
		/* payload_length past the end of the file */
		img.p[0x24e] = 0x7f;
		parse_fails(img.p, img.n, -EINVAL);
		img.p[0x24e] = (uint8_t)(z.n >> 16);
		/* a corrupt stream */
		img.p[mid] ^= 0x55;
		img.p[mid + 1] ^= 0xaa;
		parse_fails(img.p, img.n, -EINVAL);
		img.p[mid] ^= 0x55;
		img.p[mid + 1] ^= 0xaa;
		/* a stated size beyond 512 MiB */
		img.p[0x10 + 5 * 512 + z.n - 1] = 0x40;
		parse_fails(img.p, img.n, -EFBIG);
		/* a stated size other than the stream's */
		img.p[0x10 + 5 * 512 + z.n - 1] = 0;
		img.p[0x10 + 5 * 512 + z.n - 4] ^= 0x10;
		parse_fails(img.p, img.n, -EINVAL);
		/* truncated: the payload outside the file */
		parse_fails(img.p, 0x10 + 5 * 512 + z.n / 2, -EINVAL);
		free(img.p);
		free(z.p);
		free(raw.p);
		free(s);
	}
}

static void test_bad_images(void **state)
{
	struct buf b, img;
	struct sym *s;
	size_t n, i;
	uint8_t *copy;

	(void)state;
	parse_fails(NULL, 10, -EINVAL);
	assert_int_equal(spp_ksym_parse_image("x", 1, NULL, NULL), -EINVAL);
	assert_int_equal(spp_ksym_load_image(NULL, NULL, NULL), -EINVAL);
	parse_fails("", 0, -ENODATA);
	b = make_blob(L612, 1, &s, &n);
	copy = malloc(b.n);
	/* no tables at all: filler */
	memset(copy, 0, b.n);
	parse_fails(copy, b.n, -ENODATA);
	/* the token index broken: one step not the token's length */
	memcpy(copy, b.p, b.n);
	copy[at.token_index + 2 * 100] ^= 1;
	parse_fails(copy, b.n, -ENODATA);
	/* a marker off by one: names not found */
	memcpy(copy, b.p, b.n);
	copy[at.markers + 4]++;
	parse_fails(copy, b.n, -ENODATA);
	/* a name's length past the markers */
	memcpy(copy, b.p, b.n);
	copy[at.names] = 0x7f;
	parse_fails(copy, b.n, -ENODATA);
	/* the offsets out of order: names, but no addresses */
	memcpy(copy, b.p, b.n);
	assert_int_equal(copy[at.offsets + 4 * NPERCPU], 0xff); /* -1 */
	copy[at.offsets + 4 * (n / 2) + 2] ^= 0x10;
	parse_fails(copy, b.n, -EOPNOTSUPP);
	/* every truncation of the blob fails cleanly or finds it all */
	for (i = 0; i < b.n; i += b.n / 61 + 1) {
		struct spp_ksym_table *t = NULL;
		int ret = spp_ksym_parse_image(b.p, i, &t, NULL);

		assert_true(ret == -ENODATA || ret == -EOPNOTSUPP || ret == 0);
		spp_ksym_destroy(t);
	}
	/* a payload compressed otherwise (bzip2) */
	img = bzimage((const uint8_t *)"BZh91AY&SY\0\0\0\0\1\0\0\0", 18);
	parse_fails(img.p, img.n, -EOPNOTSUPP);
	free(img.p);
	/* boot protocol too old for payload fields */
	img = bzimage(b.p, b.n);
	img.p[0x206] = 0x06;
	parse_fails(img.p, img.n, -EOPNOTSUPP);
	free(img.p);
	free(copy);
	free(b.p);
	free(s);
}

static void test_load_image(void **state)
{
	char path[] = "/tmp/spp-kallsyms-XXXXXX";
	struct spp_ksym_table *t = (void *)0x1;
	struct spp_ksym_error err = { 0, NULL };
	struct sym *s;
	size_t n;
	struct buf b = make_blob(L61, 1, &s, &n);
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(spp_ksym_load_image(path, &t, &err), -EINVAL);
	assert_ptr_equal(t, (void *)0x1); /* empty file */
	assert_int_equal(write(fd, b.p, b.n), (ssize_t)b.n);
	close(fd);
	assert_int_equal(spp_ksym_load_image(path, &t, &err), 0);
	check_table(t, s, n);
	spp_ksym_destroy(t);
	unlink(path);
	t = (void *)0x1;
	assert_int_equal(spp_ksym_load_image(path, &t, &err), -ENOENT);
	assert_ptr_equal(t, (void *)0x1);
	assert_int_equal(spp_ksym_load_image("/", &t, &err), -EINVAL);
	free(b.p);
	free(s);
}

/* spp_ksym_load_any(): the blob and a bzImage of it as images, a text map
 * as text; a missing file fails and leaves *out alone. */
static void test_load_any(void **state)
{
	char path[] = "/tmp/spp-kallsyms-XXXXXX";
	static const char map[] = "ffffffff81000000 T _text\n"
				  "ffffffff82000000 D modprobe_path\n";
	struct spp_ksym_table *t = (void *)0x1;
	struct spp_ksym_error err = { 0, NULL };
	struct sym *s;
	size_t n;
	struct buf b = make_blob(L61, 1, &s, &n), z = compress_xz(&b),
		   img = bzimage(z.p, z.n);
	const struct buf *as_image[] = { &b, &img };
	uint64_t a;
	unsigned int i;
	int fd;

	(void)state;
	for (i = 0; i < 2; i++) {
		fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, as_image[i]->p, as_image[i]->n),
				 (ssize_t)as_image[i]->n);
		close(fd);
		t = NULL;
		assert_int_equal(spp_ksym_load_any(path, &t, &err), 0);
		check_table(t, s, n);
		spp_ksym_destroy(t);
		unlink(path);
		strcpy(path, "/tmp/spp-kallsyms-XXXXXX");
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, map, sizeof(map) - 1),
			 (ssize_t)sizeof(map) - 1);
	close(fd);
	t = NULL;
	assert_int_equal(spp_ksym_load_any(path, &t, &err), 0);
	assert_int_equal(spp_ksym_count(t), 2);
	assert_int_equal(spp_ksym_lookup(t, "modprobe_path", &a, NULL), 0);
	assert_int_equal(a, 0xffffffff82000000ULL);
	spp_ksym_destroy(t);
	unlink(path);
	t = (void *)0x1;
	assert_int_equal(spp_ksym_load_any(path, &t, &err), -ENOENT);
	assert_ptr_equal(t, (void *)0x1);
	assert_int_equal(spp_ksym_load_any(NULL, &t, &err), -EINVAL);
	free(img.p);
	free(z.p);
	free(b.p);
	free(s);
}

/* The cache scripts/kvm-vm keeps its guest kernels in (lib.sh's
 * kvm_vm_cache()). */
static const char *vm_cache(char *buf, size_t len)
{
	const char *e = getenv("SPP_KVM_VM_CACHE");
	const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
	char k[4200];

	if (e && *e)
		return e;
	if (!getuid())
		return "/var/cache/spp-kvm-vm";
	if (x && *x)
		snprintf(buf, len, "%s/spp-kvm-vm", x);
	else
		snprintf(buf, len, "%s/.cache/spp-kvm-vm",
			 h ? h : "/nonexistent");
	snprintf(k, sizeof(k), "%s/kernel/vmlinuz", buf);
	if (access(k, R_OK) &&
	    !access("/var/cache/spp-kvm-vm/kernel/vmlinuz", R_OK))
		return "/var/cache/spp-kvm-vm";
	return buf;
}

/* One of the Debian kernels the test VM boots: the symbols the
 * introspection recipes use resolve, with the sizes their C types have. */
static void real_kernel(const char *kdir)
{
	char cache[4096], path[4300];
	struct spp_ksym_table *t = NULL;
	struct spp_ksym_error err = { 0, NULL };
	uint64_t a, sz, text;
	char type;
	const char *name;
	int ret;

	snprintf(path, sizeof(path), "%s/%s/vmlinuz",
		 vm_cache(cache, sizeof(cache)), kdir);
	if (access(path, R_OK)) {
		print_message("# SKIPPED: no %s (scripts/kvm-vm/setup caches "
			      "it): the real-image test did not run\n",
			      path);
		return; /* (cmocka's skip() counts as a failure in TAP) */
	}
	ret = spp_ksym_load_image(path, &t, &err);
	if (ret)
		print_message("# %s: %s\n", path, err.what);
	assert_int_equal(ret, 0);
	print_message("# %s: %zu symbols\n", path, spp_ksym_count(t));
	assert_true(spp_ksym_count(t) > 90000); /* KALLSYMS_ALL */
	assert_int_equal(spp_ksym_lookup(t, "_text", &text, NULL), 0);
	assert_int_equal(text, TEXT);
	/* char modprobe_path[KMOD_PATH_LEN = 256] */
	assert_int_equal(spp_ksym_lookup(t, "modprobe_path", &a, &sz), 0);
	assert_true(a > text);
	assert_int_equal(sz, 256);
	/* char core_pattern[CORENAME_MAX_SIZE = 128] */
	assert_int_equal(spp_ksym_lookup(t, "core_pattern", &a, &sz), 0);
	assert_int_equal(sz, 128);
	/* gate_desc idt_table[256], page-aligned */
	assert_int_equal(spp_ksym_lookup(t, "idt_table", &a, &sz), 0);
	assert_int_equal(a & 0xfff, 0);
	assert_int_equal(sz, 4096);
	assert_int_equal(spp_ksym_lookup(t, "entry_SYSCALL_64", &a, NULL), 0);
	assert_int_equal(spp_ksym_resolve(t, a, &name, NULL), 0);
	assert_string_equal(name, "entry_SYSCALL_64");
	/* per-cpu symbols are absolute */
	assert_int_equal(spp_ksym_lookup(t, "fixed_percpu_data", &a, &sz), 0);
	assert_int_equal(a, 0);
	assert_int_equal(spp_ksym_at(t, 0, &a, &type, &name, NULL), 0);
	assert_int_equal(type, 'A');
	spp_ksym_destroy(t);
}

static void test_real_61(void **state)
{
	(void)state;
	real_kernel("kernel");
}

static void test_real_612(void **state)
{
	(void)state;
	real_kernel("kernel-6.12");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_bzimage),
		cmocka_unit_test(test_bad_images),
		cmocka_unit_test(test_load_image),
		cmocka_unit_test(test_load_any),
		cmocka_unit_test(test_real_61),
		cmocka_unit_test(test_real_612),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
