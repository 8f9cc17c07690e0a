// SPDX-License-Identifier: MIT
/*
 * kallsyms.c - a kernel's symbol table from its image (spp/ksym.h,
 * spp_ksym_parse_image()).
 *
 * 1. Payload: a bzImage's setup header (at 0x1f1) names the compressed
 *    kernel (payload_offset/payload_length, from the start of the
 *    protected-mode code at (setup_sects + 1) * 512). Its last 4 bytes
 *    are the uncompressed size (kbuild appends it; gzip's trailer holds
 *    it anyway). It is decompressed into a buffer of exactly that size.
 * 2. The kallsyms tables, found by structure anywhere in the result:
 *    - token index: 256 u16 offsets, the first 0, each step the length
 *      of a token string plus its NUL; the token table is the place
 *      where 256 NUL-terminated strings have exactly those lengths
 *      (the one-letter tokens '_', 'T' and 't' standing for themselves);
 *    - markers: u32 offsets of every 256th entry in the names, the first
 *      0; the names are the entries (a length of 1 or 2 bytes, then
 *      token numbers) ending just before the markers: a start from which
 *      walking 256 entries at a time hits every marker, the last group
 *      ending in at most 7 bytes of zero padding. That gives the count
 *      N, which must also be stored (kallsyms_num_syms);
 *    - offsets: N s32 in address order (kallsyms are sorted): with
 *      absolute per-cpu symbols (x86-64 SMP), the per-cpu ones first as
 *      non-negative absolute values, one per leading A-type name, then
 *      the others as relative_base - 1 - offset, the first of them -1;
 *      without, unsigned offsets from relative_base, the first 0;
 *    - relative_base: the u64 after (or before) the offsets; in an ELF
 *      image every located symbol must lie in its loaded segments.
 * 3. Each name decodes to its type letter and the name proper; the
 *    triples become a table (ksym_internal.h).
 *
 * Nothing here trusts the image: every read is bounds-checked, every
 * count bounded before it is multiplied, and the candidates checked in
 * full are bounded (TOKEN_TRIES, MARKERS_TRIES, OFFSETS_TRIES), so a
 * crafted image cannot make the search quadratic.
 */
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <spp/ksym.h>

#include "ksym_internal.h"

#define IMG_FILE_MAX (1ULL << 30)
#define IMG_OUT_MAX (512u << 20)
/* A decoded name (type letter included); the kernel's limit is 512. */
#define NAME_MAX_LEN 1024
/* A names entry: 1-2 length bytes and up to this many token numbers. */
#define ENTRY_TOKENS_MAX 1023
#define ENTRY_MAX (2 + ENTRY_TOKENS_MAX)
/* A token: the kernel's are a few bytes, bounded by the name length. */
#define TOKEN_MAX 512
/* At most this many symbols (the kernel has ~200k with KALLSYMS_ALL). */
#define NSYMS_MAX (16u << 20)
/* Markers: at least this many (so 513 symbols or more), and the runs
 * tried, longest first (the kernel's is hundreds long). */
#define MARKERS_MIN 3
#define MARKERS_TRIES 16
/* Token indexes and offsets candidates checked in full, at most: a
 * crafted image must not make the search quadratic. */
#define TOKEN_TRIES 16
#define OFFSETS_TRIES 64

struct img {
	const uint8_t *p;
	size_t n;
};

/* What the search found; positions are offsets into the image. */
struct tables {
	size_t token_table, token_index, names, markers, offsets;
	size_t nsyms, nmarkers;
	bool abs_percpu;
	uint64_t base;
	uint16_t tok[256];
	/* kernel address range from the ELF program headers; lo > hi: none */
	uint64_t lo, hi;
};

static int fail(struct spp_ksym_error *err, const char *what, int ret)
{
	if (err) {
		err->line = 0;
		err->what = what;
	}
	return ret;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int32_t les32(const uint8_t *p)
{
	uint32_t v = le32(p);
	int32_t s;

	memcpy(&s, &v, sizeof(s));
	return s;
}

/* Does [off, off + len) lie inside @im? */
static bool in(const struct img *im, size_t off, size_t len)
{
	return off <= im->n && len <= im->n - off;
}

/* --- 1. the payload ------------------------------------------------ */

/* The compressed payload of a bzImage; 1 = @b is one, 0 = it is not. */
static int bz_payload(const struct img *b, struct img *pl,
		      struct spp_ksym_error *err)
{
	uint64_t pm, off, len;
	unsigned int sects;

	if (b->n < 0x250 || memcmp(b->p + 0x202, "HdrS", 4))
		return 0;
	if (le16(b->p + 0x206) < 0x208)
		return fail(err,
			    "a bzImage of boot protocol before 2.08: "
			    "no payload fields",
			    -EOPNOTSUPP);
	sects = b->p[0x1f1] ? b->p[0x1f1] : 4;
	pm = (uint64_t)(sects + 1) * 512;
	off = le32(b->p + 0x248);
	len = le32(b->p + 0x24c);
	if (len < 8 || pm + off > b->n || len > b->n - (pm + off))
		return fail(err,
			    "the bzImage's payload_offset/payload_length "
			    "lie outside the file",
			    -EINVAL);
	pl->p = b->p + pm + off;
	pl->n = (size_t)len;
	return 1;
}

static int unxz(const struct img *in, uint8_t *out, size_t outlen,
		struct spp_ksym_error *err)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r;

	/* The kernel's xz dictionary is at most 32 MiB. */
	if (lzma_stream_decoder(&s, 256u << 20, 0) != LZMA_OK)
		return fail(err, "out of memory", -ENOMEM);
	s.next_in = in->p;
	s.avail_in = in->n;
	s.next_out = out;
	s.avail_out = outlen;
	r = lzma_code(&s, LZMA_FINISH);
	lzma_end(&s);
	if (r == LZMA_MEM_ERROR)
		return fail(err, "out of memory", -ENOMEM);
	if (r != LZMA_STREAM_END)
		return fail(err,
			    r == LZMA_BUF_ERROR || r == LZMA_OK ?
				    "the xz payload does not end where the "
				    "stated size says" :
				    "the xz payload is corrupt",
			    -EINVAL);
	if (s.total_out != outlen)
		return fail(err,
			    "the xz payload is shorter than the stated size",
			    -EINVAL);
	return 0;
}

static int unzstd(const struct img *in, uint8_t *out, size_t outlen,
		  struct spp_ksym_error *err)
{
	size_t frame, got;

	/* The payload is one frame, then the 4-byte size. */
	frame = ZSTD_findFrameCompressedSize(in->p, in->n);
	if (ZSTD_isError(frame))
		return fail(err, "the zstd payload is corrupt", -EINVAL);
	got = ZSTD_decompress(out, outlen, in->p, frame);
	if (ZSTD_isError(got)) {
		if (ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation)
			return fail(err, "out of memory", -ENOMEM);
		return fail(err,
			    ZSTD_getErrorCode(got) ==
					    ZSTD_error_dstSize_tooSmall ?
				    "the zstd payload is longer than the "
				    "stated size" :
				    "the zstd payload is corrupt",
			    -EINVAL);
	}
	if (got != outlen)
		return fail(err,
			    "the zstd payload is shorter than the stated size",
			    -EINVAL);
	return 0;
}

static int gunzip(const struct img *in, uint8_t *out, size_t outlen,
		  struct spp_ksym_error *err)
{
	z_stream z;
	int r;

	memset(&z, 0, sizeof(z));
	if (in->n > UINT32_MAX || outlen > UINT32_MAX)
		return fail(err, "the gzip payload is too large", -EFBIG);
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return fail(err, "out of memory", -ENOMEM);
	z.next_in = (Bytef *)(uintptr_t)in->p;
	z.avail_in = (uInt)in->n;
	z.next_out = out;
	z.avail_out = (uInt)outlen;
	r = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	if (r == Z_MEM_ERROR)
		return fail(err, "out of memory", -ENOMEM);
	if (r != Z_STREAM_END || z.total_out != outlen)
		return fail(err,
			    "the gzip payload is corrupt or not of the "
			    "stated size",
			    -EINVAL);
	return 0;
}

/* Decompress @pl into a new buffer *@out of the size its last 4 bytes
 * state. */
static int decompress(const struct img *pl, struct img *out,
		      struct spp_ksym_error *err)
{
	static const uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 };
	static const uint8_t zst[] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const uint8_t gz[] = { 0x1f, 0x8b };
	int (*fn)(const struct img *, uint8_t *, size_t,
		  struct spp_ksym_error *) = NULL;
	uint32_t size;
	uint8_t *buf;
	int ret;

	if (pl->n >= sizeof(xz) && !memcmp(pl->p, xz, sizeof(xz)))
		fn = unxz;
	else if (pl->n >= sizeof(zst) && !memcmp(pl->p, zst, sizeof(zst)))
		fn = unzstd;
	else if (pl->n >= sizeof(gz) && !memcmp(pl->p, gz, sizeof(gz)))
		fn = gunzip;
	else
		return fail(err,
			    "the bzImage's payload is not xz, zstd or gzip "
			    "(bzip2, lzma, lzo and lz4 are not supported)",
			    -EOPNOTSUPP);
	size = le32(pl->p + pl->n - 4);
	if (!size)
		return fail(err, "the payload states a size of 0", -EINVAL);
	if (size > IMG_OUT_MAX)
		return fail(err, "the payload would decompress beyond 512 MiB",
			    -EFBIG);
	buf = malloc(size);
	if (!buf)
		return fail(err, "out of memory", -ENOMEM);
	ret = fn(pl, buf, size, err);
	if (ret) {
		free(buf);
		return ret;
	}
	out->p = buf;
	out->n = size;
	return 0;
}

/* --- 2. the tables ------------------------------------------------- */

/* The length of entry @pos of the names (header included) into *@len,
 * its token count into *@ntok; false if it is malformed or runs out. */
static bool entry_at(const struct img *im, size_t pos, size_t end, size_t *len,
		     size_t *ntok)
{
	size_t n, hdr = 1;

	if (pos >= end)
		return false;
	n = im->p[pos];
	if (n & 0x80) {
		if (pos + 1 >= end)
			return false;
		n = (n & 0x7f) | (size_t)im->p[pos + 1] << 7;
		hdr = 2;
	}
	if (!n || n > end - pos - hdr)
		return false;
	*len = hdr + n;
	*ntok = n;
	return true;
}

/* Is there a token table at @t for the index @idx? */
static bool token_table_at(const struct img *im, size_t t, const uint16_t *idx)
{
	static const char self[] = "_Tt";
	unsigned int i;
	size_t j;

	for (i = 0; i < 256; i++) {
		size_t s = t + idx[i], e;

		if (i < 255) {
			e = t + idx[i + 1] - 1;
			if (!in(im, t, (size_t)idx[i + 1]) || im->p[e])
				return false;
		} else {
			if (!in(im, s, 1))
				return false;
			for (e = s; e < im->n && e - s <= TOKEN_MAX && im->p[e];
			     e++)
				;
			if (e >= im->n || im->p[e] || e == s)
				return false;
		}
		for (j = s; j < e; j++)
			if (!im->p[j])
				return false;
	}
	for (i = 0; self[i]; i++) {
		const uint8_t *tok = im->p + t + idx[(uint8_t)self[i]];

		if (tok[0] != (uint8_t)self[i] || tok[1])
			return false;
	}
	return true;
}

/* The token index and table: 0, or -ENODATA. */
static int find_tokens(const struct img *im, struct tables *tb)
{
	size_t p, t, tries = 0;
	unsigned int i;

	for (p = 0; in(im, p, 512) && tries < TOKEN_TRIES; p += 2) {
		const uint8_t *q = im->p + p;

		if (q[0] || q[1] || le16(q + 2) < 2 || le16(q + 2) > TOKEN_MAX)
			continue;
		for (i = 0; i < 256; i++)
			tb->tok[i] = le16(q + 2 * i);
		for (i = 1; i < 256; i++)
			if (tb->tok[i] < tb->tok[i - 1] + 2 ||
			    tb->tok[i] > tb->tok[i - 1] + TOKEN_MAX)
				break;
		if (i < 256)
			continue;
		tries++;
		for (t = 0; in(im, t, (size_t)tb->tok[255] + 2); t++) {
			if (im->p[t + tb->tok[1] - 1] ||
			    im->p[t + tb->tok[2] - 1])
				continue;
			if (token_table_at(im, t, tb->tok)) {
				tb->token_index = p;
				tb->token_table = t;
				return 0;
			}
		}
	}
	return -ENODATA;
}

/* Do the names start at @s for the markers at @m (@k of them), ending by
 * @m? Sets tb->nsyms. The last group first: it fails fastest. */
static bool names_at(const struct img *im, size_t s, size_t m, size_t k,
		     struct tables *tb)
{
	size_t pos, j, g, len, ntok, tail = 0;

	pos = s + le32(im->p + m + 4 * (k - 1));
	while (tail < 256 && pos < m && im->p[pos]) {
		if (!entry_at(im, pos, m, &len, &ntok))
			return false;
		pos += len;
		tail++;
	}
	if (!tail || m - pos > 7)
		return false;
	for (; pos < m; pos++)
		if (im->p[pos])
			return false;
	pos = s;
	for (g = 1; g < k; g++) {
		for (j = 0; j < 256; j++) {
			if (!entry_at(im, pos, m, &len, &ntok))
				return false;
			pos += len;
		}
		if (pos != s + le32(im->p + m + 4 * g))
			return false;
	}
	tb->nsyms = 256 * (k - 1) + tail;
	return true;
}

/* Is @v stored as a u32 within 16 bytes before @s (where
 * kallsyms_num_syms is in every layout) or anywhere 4-aligned? */
static bool count_stored(const struct img *im, size_t s, size_t v)
{
	size_t p;

	for (p = s >= 16 ? s - 16 : 0; p + 4 <= s; p++)
		if (le32(im->p + p) == v)
			return true;
	for (p = 0; in(im, p, 4); p += 4)
		if (le32(im->p + p) == v)
			return true;
	return false;
}

struct mcand {
	size_t m, r;
};

static int mcand_cmp(const void *a, const void *b)
{
	const struct mcand *x = a, *y = b;

	if (x->r != y->r)
		return x->r > y->r ? -1 : 1;
	return x->m < y->m ? -1 : x->m > y->m;
}

/* Try the names before the markers at @m, of which @r could be: 1 = found. */
static int names_before(const struct img *im, size_t m, size_t r,
			struct tables *tb)
{
	size_t k, s, lo, hi;

	for (k = r; k >= MARKERS_MIN && k + 3 > r; k--) {
		size_t last = le32(im->p + m + 4 * (k - 1));

		if (last >= m)
			continue;
		hi = m - last;
		lo = hi > 256 * (size_t)ENTRY_MAX + 8 ?
			     hi - 256 * (size_t)ENTRY_MAX - 8 :
			     0;
		/* from the end: the last group is short */
		for (s = hi; s-- > lo;) {
			if (!names_at(im, s, m, k, tb))
				continue;
			if (!count_stored(im, s, tb->nsyms))
				continue;
			tb->names = s;
			tb->markers = m;
			tb->nmarkers = k;
			return 1;
		}
	}
	return 0;
}

/* The markers and the names before them: 0, -ENODATA or -ENOMEM. The
 * longest runs of markers are tried first, at most MARKERS_TRIES. */
static int find_names(const struct img *im, struct tables *tb)
{
	const size_t gmin = 256 * 2, gmax = 256 * (size_t)ENTRY_MAX;
	struct mcand *c = NULL;
	size_t m, r, nc = 0, cap = 0, i;
	int ret = -ENODATA;

	for (m = 0; in(im, m, 8); m += 4) {
		uint32_t d = le32(im->p + m + 4);

		if (le32(im->p + m) || d < gmin || d > gmax)
			continue;
		/* r: how many markers could follow, each a group apart */
		for (r = 2; in(im, m + 4 * r, 4) && r < NSYMS_MAX / 256; r++) {
			uint32_t a = le32(im->p + m + 4 * (r - 1));
			uint32_t b = le32(im->p + m + 4 * r);

			if (b < a + gmin || b - a > gmax)
				break;
		}
		if (r < MARKERS_MIN)
			continue;
		if (nc == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct mcand *n = realloc(c, ncap * sizeof(*c));

			if (!n) {
				free(c);
				return -ENOMEM;
			}
			c = n;
			cap = ncap;
		}
		c[nc].m = m;
		c[nc++].r = r;
	}
	if (nc)
		qsort(c, nc, sizeof(*c), mcand_cmp);
	for (i = 0; i < nc && i < MARKERS_TRIES; i++)
		if (names_before(im, c[i].m, c[i].r, tb)) {
			ret = 0;
			break;
		}
	free(c);
	return ret;
}

/* Decode entry @pos into @buf (NUL-terminated); its length in *@next. */
static int decode(const struct img *im, const struct tables *tb, size_t pos,
		  size_t end, char *buf, size_t *next)
{
	size_t len, ntok, i, o = 0, hdr;

	if (!entry_at(im, pos, end, &len, &ntok))
		return -EINVAL;
	hdr = len - ntok;
	for (i = 0; i < ntok; i++) {
		const uint8_t *tok =
			im->p + tb->token_table + tb->tok[im->p[pos + hdr + i]];

		for (; *tok; tok++) {
			if (o + 1 >= NAME_MAX_LEN)
				return -EINVAL;
			buf[o++] = (char)*tok;
		}
	}
	buf[o] = '\0';
	*next = pos + len;
	return o >= 2 ? 0 : -EINVAL;
}

static bool is_abs(char type)
{
	return type == 'A' || type == 'a';
}

/* The kernel's address range from an ELF image's loaded segments. */
static void elf_range(const struct img *im, struct tables *tb)
{
	size_t phoff, i, phnum;

	tb->lo = 1;
	tb->hi = 0;
	if (!in(im, 0, 64) || memcmp(im->p, "\177ELF\2\1", 6) ||
	    le16(im->p + 54) != 56)
		return;
	phoff = (size_t)le64(im->p + 32);
	phnum = le16(im->p + 56);
	if (phoff > im->n || phnum > (im->n - phoff) / 56)
		return;
	for (i = 0; i < phnum; i++) {
		const uint8_t *ph = im->p + phoff + 56 * i;
		uint64_t va = le64(ph + 16), sz = le64(ph + 40);

		/* PT_LOAD of the kernel half (not the per-cpu one at 0) */
		if (le32(ph) != 1 || !(va >> 63) || va + sz < va)
			continue;
		if (tb->lo > tb->hi) {
			tb->lo = va;
			tb->hi = va + sz;
		}
		if (va < tb->lo)
			tb->lo = va;
		if (va + sz > tb->hi)
			tb->hi = va + sz;
	}
}

static uint64_t sym_addr(const struct tables *tb, int32_t off)
{
	if (!tb->abs_percpu)
		return tb->base + (uint32_t)off;
	if (off >= 0)
		return (uint64_t)off;
	return tb->base - 1 - (uint64_t)(int64_t)off;
}

/* Are the located addresses inside the ELF range (when there is one)? */
static bool base_ok(const struct img *im, const struct tables *tb,
		    const char *types, size_t *tries)
{
	size_t i;

	/* a kernel's text start: page-aligned, in the upper half */
	if (tb->base < 0xffff800000000000ULL || tb->base & 0xfff)
		return false;
	if (tb->lo > tb->hi)
		return true;
	(*tries)++; /* the costly check */
	for (i = 0; i < tb->nsyms; i++) {
		uint64_t a = sym_addr(tb, les32(im->p + tb->offsets + 4 * i));

		if (!is_abs(types[i]) && (a < tb->lo || a > tb->hi))
			return false;
	}
	return true;
}

/* Is @o a plausible start of the offsets (and is relative_base after or
 * before them)? */
static bool offsets_at(const struct img *im, struct tables *tb, size_t o,
		       size_t nabs, const char *types, size_t *tries)
{
	size_t end = o + 4 * tb->nsyms, cand[2], i;

	if (!in(im, o, 4 * tb->nsyms))
		return false;
	if (tb->abs_percpu) {
		if (nabs >= tb->nsyms || les32(im->p + o + 4 * nabs) != -1)
			return false;
		for (i = 0; i < nabs; i++)
			if (les32(im->p + o + 4 * i) < 0)
				return false;
	} else if (le32(im->p + o)) {
		return false;
	}
	tb->offsets = o;
	/* right after the offsets or right before them, 8-aligned, what
	 * lies between zero */
	cand[0] = (end + 7) & ~(size_t)7;
	cand[1] = o >= 8 ? (o - 8) & ~(size_t)7 : SIZE_MAX;
	for (i = 0; i < 2; i++) {
		size_t p, q;

		if (cand[i] == SIZE_MAX || !in(im, cand[i], 8))
			continue;
		p = i ? cand[i] + 8 : end;
		q = i ? o : cand[i];
		while (p < q && !im->p[p])
			p++;
		if (p < q)
			continue;
		tb->base = le64(im->p + cand[i]);
		if (base_ok(im, tb, types, tries))
			return true;
	}
	return false;
}

/* Is @b after @a in address order (rule: absolute per-cpu or not)? */
static bool in_order(bool abs_percpu, int32_t a, int32_t b)
{
	if (!abs_percpu)
		return (uint32_t)a <= (uint32_t)b;
	if (a >= 0)
		return b < 0 || a <= b;
	return b < 0 && b <= a;
}

/* The offsets and the relative base: 0, or -ENODATA. @types: each
 * symbol's type letter, in table order. */
static int find_offsets(const struct img *im, struct tables *tb,
			const char *types)
{
	size_t nabs, i, start, o, tries = 0;
	int rule;

	for (nabs = 0; nabs < tb->nsyms && is_abs(types[nabs]); nabs++)
		;
	for (rule = 1; rule >= 0; rule--) {
		tb->abs_percpu = rule;
		start = 0;
		for (i = 4; i <= im->n - im->n % 4; i += 4) {
			bool brk = i + 4 > im->n ||
				   !in_order(rule, les32(im->p + i - 4),
					     les32(im->p + i));

			if (!brk)
				continue;
			/* a run [start, i) of 4-byte steps in order */
			if ((i - start) / 4 >= tb->nsyms) {
				size_t last = i - 4 * tb->nsyms;

				for (o = start; o <= last; o += 4) {
					if (rule && nabs < tb->nsyms &&
					    les32(im->p + o + 4 * nabs) != -1)
						continue;
					if (tries > OFFSETS_TRIES)
						return -ENODATA;
					if (offsets_at(im, tb, o, nabs, types,
						       &tries))
						return 0;
				}
			}
			start = i;
		}
	}
	return -ENODATA;
}

static int decode_all(const struct img *im, struct tables *tb,
		      struct spp_ksym_table **out, struct spp_ksym_error *err)
{
	struct spp_ksymtab_entry *e = NULL;
	size_t i, pos = tb->names, used = 0, cap = 0;
	char *pool = NULL, *types = NULL, name[NAME_MAX_LEN];
	int ret;

	e = calloc(tb->nsyms, sizeof(*e));
	types = malloc(tb->nsyms);
	if (!e || !types) {
		ret = fail(err, "out of memory", -ENOMEM);
		goto out;
	}
	for (i = 0; i < tb->nsyms; i++) {
		size_t n, j;

		if (decode(im, tb, pos, tb->markers, name, &pos)) {
			ret = fail(err,
				   "a symbol name that runs out of the table",
				   -EINVAL);
			goto out;
		}
		for (j = 0; name[j]; j++)
			if ((uint8_t)name[j] <= ' ' || (uint8_t)name[j] == 0x7f)
				break;
		if (name[j]) {
			ret = fail(err,
				   "a symbol name with a control character "
				   "or blank",
				   -EINVAL);
			goto out;
		}
		n = strlen(name); /* type letter, name, NUL */
		if (cap - used < n) {
			size_t nc = cap ? cap * 2 : 1u << 20;
			char *np = realloc(pool, nc);

			if (!np) {
				ret = fail(err, "out of memory", -ENOMEM);
				goto out;
			}
			pool = np;
			cap = nc;
		}
		memcpy(pool + used, name + 1, n);
		e[i].name = used;
		e[i].type = name[0];
		types[i] = name[0];
		used += n;
	}
	if (find_offsets(im, tb, types)) {
		ret = fail(err,
			   "found the kallsyms names but not their offsets and "
			   "relative base (a kernel without "
			   "CONFIG_KALLSYMS_BASE_RELATIVE?)",
			   -EOPNOTSUPP);
		goto out;
	}
	for (i = 0; i < tb->nsyms; i++)
		e[i].addr = sym_addr(tb, les32(im->p + tb->offsets + 4 * i));
	ret = spp_ksymtab_new(pool, used, e, tb->nsyms, out, err);
	pool = NULL;
out:
	free(pool);
	free(types);
	free(e);
	return ret;
}

static int parse_kernel(const struct img *im, struct spp_ksym_table **out,
			struct spp_ksym_error *err)
{
	struct tables tb;
	int ret;

	memset(&tb, 0, sizeof(tb));
	if (find_tokens(im, &tb))
		return fail(err,
			    "no kallsyms token table in the kernel (built "
			    "without CONFIG_KALLSYMS, or not a kernel)",
			    -ENODATA);
	ret = find_names(im, &tb);
	if (ret == -ENOMEM)
		return fail(err, "out of memory", ret);
	if (ret)
		return fail(err,
			    "a kallsyms token table but no names and markers "
			    "(fewer than 513 symbols?)",
			    -ENODATA);
	elf_range(im, &tb);
	return decode_all(im, &tb, out, err);
}

int spp_ksym_parse_image(const void *buf, size_t len,
			 struct spp_ksym_table **out,
			 struct spp_ksym_error *err)
{
	struct img im = { buf, len }, pl, raw;
	struct spp_ksym_table *t = NULL;
	int ret;

	if (!buf || !out)
		return fail(err, "no input", -EINVAL);
	ret = bz_payload(&im, &pl, err);
	if (ret < 0)
		return ret;
	if (!ret)
		return parse_kernel(&im, out, err);
	ret = decompress(&pl, &raw, err);
	if (ret)
		return ret;
	ret = parse_kernel(&raw, &t, err);
	free((void *)raw.p);
	if (!ret)
		*out = t;
	return ret;
}

int spp_ksym_load_image(const char *path, struct spp_ksym_table **out,
			struct spp_ksym_error *err)
{
	struct stat st;
	void *map;
	int fd, ret;

	if (!path || !out)
		return fail(err, "no file", -EINVAL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, "cannot open it", -errno);
	if (fstat(fd, &st)) {
		ret = fail(err, "cannot stat it", -errno);
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode) || !st.st_size) {
		close(fd);
		return fail(err, "not a regular file with contents", -EINVAL);
	}
	if ((uint64_t)st.st_size > IMG_FILE_MAX) {
		close(fd);
		return fail(err, "larger than 1 GiB", -EFBIG);
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	ret = map == MAP_FAILED ? -errno : 0;
	close(fd);
	if (ret)
		return fail(err, "cannot map it", ret);
	ret = spp_ksym_parse_image(map, (size_t)st.st_size, out, err);
	munmap(map, (size_t)st.st_size);
	return ret;
}

/* A kernel image rather than text: an ELF file, a bzImage ("HdrS" at
 * 0x202), or a NUL byte in its first bytes (no text map has one). */
static bool looks_like_image(const unsigned char *b, size_t n)
{
	if (n >= 4 && !memcmp(b, "\177ELF", 4))
		return true;
	if (n >= 0x206 && !memcmp(b + 0x202, "HdrS", 4))
		return true;
	return memchr(b, 0, n) != NULL;
}

int spp_ksym_load_any(const char *path, struct spp_ksym_table **out,
		      struct spp_ksym_error *err)
{
	unsigned char head[1024];
	ssize_t n;
	int fd;

	if (!path || !out)
		return fail(err, "no file", -EINVAL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, "cannot open it", -errno);
	do
		n = read(fd, head, sizeof(head));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int ret = -errno;

		close(fd);
		return fail(err, "cannot read it", ret);
	}
	close(fd);
	if (looks_like_image(head, (size_t)n))
		return spp_ksym_load_image(path, out, err);
	return spp_ksym_load(path, out, err);
}
