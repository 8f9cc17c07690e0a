// SPDX-License-Identifier: MIT
/*
 * test_sppt.c - the Sub-Page Permission Table in hardware format
 * (spp/sppt.h, spec §1.3-§1.5): creation, a walk by hand through
 * spp_sppt_read(), table lifetime, for_each_table, two-phase updates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <spp/spp.h>

#define BASE SPP_SPPT_DEFAULT_BASE
#define MPA SPP_SPPT_DEFAULT_MAXPHYADDR

/* A gfn with distinct indexes at every level. */
#define IDX4 0x123ULL
#define IDX3 0x045ULL
#define IDX2 0x067ULL
#define IDX1 0x089ULL
#define GFN_OF(i4, i3, i2, i1)                             \
	(((uint64_t)(i4) << 27) | ((uint64_t)(i3) << 18) | \
	 ((uint64_t)(i2) << 9) | (uint64_t)(i1))
#define GFN_G GFN_OF(IDX4, IDX3, IDX2, IDX1)

static struct spp_sppt *new_sppt_at(uint64_t base, unsigned int mpa)
{
	struct spp_sppt *s = NULL;

	assert_int_equal(spp_sppt_create(&s, base, mpa), 0);
	assert_non_null(s);
	return s;
}

static struct spp_sppt *new_sppt(void)
{
	return new_sppt_at(BASE, MPA);
}

static uint64_t rd(struct spp_sppt *s, uint64_t pa)
{
	uint64_t e = 0xDEADBEEFDEADBEEFULL;

	assert_int_equal(spp_sppt_read(s, pa, &e), 0);
	return e;
}

static void set1(struct spp_sppt *s, uint64_t gfn, uint32_t map)
{
	assert_int_equal(spp_sppt_set(s, gfn, 1, &map), 0);
}

/* Check that a non-leaf entry is exactly next | 1 and return next. */
static uint64_t next_table(struct spp_sppt *s, uint64_t entry)
{
	uint64_t next = entry & ~1ULL;

	assert_int_equal(entry & 1, 1);
	assert_int_equal(entry & 0xFFF, 1); /* bits 11:1 clear */
	assert_int_equal(entry >> 52, 0);
	assert_int_equal(next >> spp_sppt_maxphyaddr(s), 0);
	/* table k lives at base + 4096 * k, the root being at base */
	assert_true(next > spp_sppt_spptp(s));
	assert_int_equal((next - spp_sppt_spptp(s)) & 0xFFF, 0);
	return next;
}

/*
 * Walk the table by hand for @gfn, checking every non-leaf entry, and
 * return the leaf entry. @tables receives the 4 table addresses.
 */
static uint64_t walk_by_hand(struct spp_sppt *s, uint64_t gfn,
			     uint64_t tables[4])
{
	uint64_t gpa = gfn << 12;
	uint64_t table = spp_sppt_spptp(s);
	int level;

	for (level = 4; level >= 1; level--) {
		unsigned int shift = 12 + 9 * (level - 1);
		uint64_t idx = (gpa >> shift) & 0x1FF;
		uint64_t e;

		tables[4 - level] = table;
		e = rd(s, table + idx * 8);
		if (level == 1)
			return e;
		table = next_table(s, e);
	}
	return 0;
}

/* ---- create ------------------------------------------------------------- */

static void test_create_invalid(void **state)
{
	struct spp_sppt *s = NULL;

	(void)state;
	assert_int_equal(spp_sppt_create(NULL, BASE, MPA), -EINVAL);
	assert_int_equal(spp_sppt_create(&s, BASE + 1, MPA), -EINVAL);
	assert_int_equal(spp_sppt_create(&s, BASE + 0x800, MPA), -EINVAL);
	assert_int_equal(spp_sppt_create(&s, BASE + 8, MPA), -EINVAL);
	assert_int_equal(spp_sppt_create(&s, BASE, 35), -EINVAL);
	assert_int_equal(spp_sppt_create(&s, BASE, 53), -EINVAL);
	assert_int_equal(spp_sppt_create(&s, BASE, 0), -EINVAL);
	assert_int_equal(spp_sppt_create(&s, BASE, 64), -EINVAL);
	/* the root itself would not fit below 2^maxphyaddr */
	assert_int_equal(spp_sppt_create(&s, 1ULL << 36, 36), -EINVAL);
	assert_int_equal(spp_sppt_create(&s, 1ULL << 46, 46), -EINVAL);
	assert_int_equal(spp_sppt_create(&s, 0xFFFFFFFFFFFFF000ULL, 52),
			 -EINVAL);

	/* the edges of the valid range */
	s = new_sppt_at(0, 36);
	assert_int_equal(spp_sppt_maxphyaddr(s), 36);
	assert_int_equal(spp_sppt_spptp(s), 0);
	spp_sppt_destroy(s);
	s = new_sppt_at(1ULL << 51, 52);
	assert_int_equal(spp_sppt_maxphyaddr(s), 52);
	assert_int_equal(spp_sppt_spptp(s), 1ULL << 51);
	spp_sppt_destroy(s);
	spp_sppt_destroy(NULL);
}

static void test_fresh_table(void **state)
{
	struct spp_sppt *s = new_sppt();
	uint64_t v, i;

	(void)state;
	assert_int_equal(spp_sppt_table_count(s), 1);
	assert_int_equal(spp_sppt_spptp(s), BASE);
	assert_int_equal(spp_sppt_maxphyaddr(s), MPA);
	assert_true(spp_sppt_memory(s) >= 4096);
	/* every root entry is not present */
	for (i = 0; i < 512; i++)
		assert_int_equal(rd(s, BASE + i * 8) & 1, 0);
	/* no other table */
	assert_int_equal(spp_sppt_read(s, BASE + 4096, &v), -EFAULT);
	assert_int_equal(spp_sppt_get_vector(s, 0, &v), -ENOENT);
	assert_int_equal(spp_sppt_get_vector(s, GFN_G, &v), -ENOENT);
	spp_sppt_destroy(s);

	s = new_sppt_at(0x7654000, 39);
	assert_int_equal(spp_sppt_spptp(s), 0x7654000);
	assert_int_equal(spp_sppt_maxphyaddr(s), 39);
	assert_int_equal(spp_sppt_table_count(s), 1);
	assert_int_equal(rd(s, 0x7654000 + 0xFF8) & 1, 0);
	spp_sppt_destroy(s);
}

/* ---- one page ----------------------------------------------------------- */

static void check_single_page(struct spp_sppt *s, uint64_t gfn, uint32_t map)
{
	uint64_t tables[4], v, i;
	uint64_t leaf = walk_by_hand(s, gfn, tables);
	uint64_t gpa = gfn << 12;

	assert_int_equal(leaf, spp_vector_from_map(map));
	assert_int_equal(tables[0], spp_sppt_spptp(s));
	/* the 4 tables are distinct */
	assert_int_not_equal(tables[0], tables[1]);
	assert_int_not_equal(tables[1], tables[2]);
	assert_int_not_equal(tables[2], tables[3]);
	assert_int_not_equal(tables[0], tables[2]);
	assert_int_not_equal(tables[0], tables[3]);
	assert_int_not_equal(tables[1], tables[3]);
	/* the other 511 leaf entries are the full vector */
	for (i = 0; i < 512; i++) {
		if (i == (gfn & 511))
			continue;
		assert_int_equal(rd(s, tables[3] + i * 8), SPP_VECTOR_FULL);
	}
	/* the other entries of the upper tables are not present */
	for (i = 0; i < 512; i++) {
		if (i != ((gpa >> 39) & 511))
			assert_int_equal(rd(s, tables[0] + i * 8) & 1, 0);
		if (i != ((gpa >> 30) & 511))
			assert_int_equal(rd(s, tables[1] + i * 8) & 1, 0);
		if (i != ((gpa >> 21) & 511))
			assert_int_equal(rd(s, tables[2] + i * 8) & 1, 0);
	}
	assert_int_equal(spp_sppt_table_count(s), 4);
	assert_int_equal(spp_sppt_get_vector(s, gfn, &v), 0);
	assert_int_equal(v, spp_vector_from_map(map));
}

static void test_single_page_by_hand(void **state)
{
	static const uint32_t maps[] = { 0x0,	     0x1,	 0x80000000u,
					 0x12345678, 0xFFFFFFFE, 0x55555555 };
	unsigned int k;

	(void)state;
	for (k = 0; k < sizeof(maps) / sizeof(maps[0]); k++) {
		struct spp_sppt *s = new_sppt();

		set1(s, GFN_G, maps[k]);
		check_single_page(s, GFN_G, maps[k]);
		spp_sppt_destroy(s);
	}
}

static void test_single_page_edges(void **state)
{
	static const uint64_t gfns[] = {
		0,
		GFN_OF(0, 0, 0, 511),
		GFN_OF(511, 511, 511, 511), /* the last gfn below 2^48 */
		GFN_OF(511, 0, 0, 0),
		GFN_OF(1, 2, 3, 4),
	};
	unsigned int k;

	(void)state;
	for (k = 0; k < sizeof(gfns) / sizeof(gfns[0]); k++) {
		struct spp_sppt *s = new_sppt();
		uint64_t v;

		set1(s, gfns[k], 0xC3C3C3C3);
		check_single_page(s, gfns[k], 0xC3C3C3C3);
		/* a neighbour in the same 2 MiB block reads full */
		assert_int_equal(spp_sppt_get_vector(s, gfns[k] ^ 1, &v), 0);
		assert_int_equal(v, SPP_VECTOR_FULL);
		spp_sppt_destroy(s);
	}
}

static void test_custom_base(void **state)
{
	struct spp_sppt *s = new_sppt_at(0x7654000, 39);
	uint64_t tables[4], leaf;
	int i;

	(void)state;
	set1(s, GFN_G, 0xF0);
	leaf = walk_by_hand(s, GFN_G, tables);
	assert_int_equal(leaf, spp_vector_from_map(0xF0));
	for (i = 0; i < 4; i++) {
		assert_true(tables[i] >= 0x7654000);
		assert_int_equal((tables[i] - 0x7654000) & 0xFFF, 0);
		assert_true(tables[i] < (1ULL << 39));
	}
	spp_sppt_destroy(s);
}

static void test_unprotect_frees(void **state)
{
	struct spp_sppt *s = new_sppt();
	uint64_t tables[4], v;
	size_t mem0, mem1;

	(void)state;
	mem0 = spp_sppt_memory(s);
	set1(s, GFN_G, 0x1);
	walk_by_hand(s, GFN_G, tables);
	mem1 = spp_sppt_memory(s);
	assert_true(mem1 >= mem0 + 3 * 4096);
	assert_int_equal(spp_sppt_table_count(s), 4);

	set1(s, GFN_G, SPP_ACCESS_FULL);
	assert_int_equal(spp_sppt_table_count(s), 1);
	assert_true(spp_sppt_memory(s) < mem1);
	assert_int_equal(spp_sppt_get_vector(s, GFN_G, &v), -ENOENT);
	/* the root entry is no longer present */
	assert_int_equal(rd(s, BASE + IDX4 * 8) & 1, 0);
	/* the freed tables are not readable any more */
	assert_int_equal(spp_sppt_read(s, tables[1], &v), -EFAULT);
	assert_int_equal(spp_sppt_read(s, tables[2], &v), -EFAULT);
	assert_int_equal(spp_sppt_read(s, tables[3], &v), -EFAULT);

	/* and the cycle works again */
	set1(s, GFN_G, 0x2);
	check_single_page(s, GFN_G, 0x2);
	set1(s, GFN_G, SPP_ACCESS_FULL);
	assert_int_equal(spp_sppt_table_count(s), 1);
	spp_sppt_destroy(s);
}

static void test_unprotect_one_of_two(void **state)
{
	struct spp_sppt *s = new_sppt();
	uint64_t v;

	(void)state;
	set1(s, GFN_G, 0x1);
	set1(s, GFN_G + 1, 0x2);
	assert_int_equal(spp_sppt_table_count(s), 4);
	set1(s, GFN_G, SPP_ACCESS_FULL);
	/* the block still has a protected page */
	assert_int_equal(spp_sppt_table_count(s), 4);
	assert_int_equal(spp_sppt_get_vector(s, GFN_G, &v), 0);
	assert_int_equal(v, SPP_VECTOR_FULL);
	check_single_page(s, GFN_G + 1, 0x2);
	spp_sppt_destroy(s);
}

static void test_two_pages_share_root(void **state)
{
	struct spp_sppt *s = new_sppt();
	const uint64_t g1 = GFN_OF(3, 7, 9, 11);
	const uint64_t g2 = GFN_OF(3, 8, 9, 11); /* other 1 GiB region */
	const uint64_t g3 = GFN_OF(4, 7, 9, 11); /* other 512 GiB region */
	uint64_t t1[4], t2[4], t3[4];

	(void)state;
	set1(s, g1, 0x11);
	set1(s, g2, 0x22);
	assert_int_equal(spp_sppt_table_count(s), 6);
	assert_int_equal(walk_by_hand(s, g1, t1), spp_vector_from_map(0x11));
	assert_int_equal(walk_by_hand(s, g2, t2), spp_vector_from_map(0x22));
	assert_int_equal(t1[0], t2[0]);
	assert_int_equal(t1[0], BASE);
	assert_int_equal(t1[1], t2[1]); /* same level-3 table */
	assert_int_not_equal(t1[2], t2[2]);
	assert_int_not_equal(t1[3], t2[3]);

	set1(s, g3, 0x33);
	assert_int_equal(spp_sppt_table_count(s), 9);
	assert_int_equal(walk_by_hand(s, g3, t3), spp_vector_from_map(0x33));
	assert_int_equal(t3[0], BASE);
	assert_int_not_equal(t3[1], t1[1]);

	/* two pages in one 2 MiB block share all four */
	set1(s, g1 + 100, 0x44);
	assert_int_equal(spp_sppt_table_count(s), 9);
	assert_int_equal(walk_by_hand(s, g1 + 100, t3),
			 spp_vector_from_map(0x44));
	assert_memory_equal(t3, t1, sizeof(t1));

	set1(s, g2, SPP_ACCESS_FULL);
	assert_int_equal(spp_sppt_table_count(s), 7);
	set1(s, g3, SPP_ACCESS_FULL);
	assert_int_equal(spp_sppt_table_count(s), 4);
	assert_int_equal(walk_by_hand(s, g1, t3), spp_vector_from_map(0x11));
	spp_sppt_destroy(s);
}

/* ---- multi-page set ------------------------------------------------------- */

static void test_set_many(void **state)
{
	struct spp_sppt *s = new_sppt();
	const uint64_t gfn = GFN_OF(0, 1, 10, 0);
	uint32_t *maps = malloc(2048 * sizeof(*maps));
	uint64_t i, v;

	(void)state;
	assert_non_null(maps);
	/* 4 blocks; only block 2 holds a protected page */
	for (i = 0; i < 2048; i++)
		maps[i] = SPP_ACCESS_FULL;
	maps[1024 + 77] = 0xABCDEF01;
	assert_int_equal(spp_sppt_set(s, gfn, 2048, maps), 0);
	assert_int_equal(spp_sppt_table_count(s), 4);
	assert_int_equal(spp_sppt_get_vector(s, gfn, &v), -ENOENT);
	assert_int_equal(spp_sppt_get_vector(s, gfn + 512, &v), -ENOENT);
	assert_int_equal(spp_sppt_get_vector(s, gfn + 1536, &v), -ENOENT);
	assert_int_equal(spp_sppt_get_vector(s, gfn + 1024 + 77, &v), 0);
	assert_int_equal(v, spp_vector_from_map(0xABCDEF01));

	/* every page protected: 4 level-1 tables */
	for (i = 0; i < 2048; i++)
		maps[i] = (uint32_t)(i * 0x9E3779B9u) & 0x7FFFFFFF;
	assert_int_equal(spp_sppt_set(s, gfn, 2048, maps), 0);
	assert_int_equal(spp_sppt_table_count(s), 7);
	for (i = 0; i < 2048; i++) {
		assert_int_equal(spp_sppt_get_vector(s, gfn + i, &v), 0);
		assert_int_equal(v, spp_vector_from_map(maps[i]));
	}
	/* an unaligned range straddling two blocks */
	for (i = 0; i < 2048; i++)
		maps[i] = SPP_ACCESS_FULL;
	assert_int_equal(spp_sppt_set(s, gfn, 2048, maps), 0);
	assert_int_equal(spp_sppt_table_count(s), 1);
	for (i = 0; i < 10; i++)
		maps[i] = 0x100 + (uint32_t)i;
	assert_int_equal(spp_sppt_set(s, gfn + 507, 10, maps), 0);
	assert_int_equal(spp_sppt_table_count(s), 5);
	assert_int_equal(spp_sppt_get_vector(s, gfn + 511, &v), 0);
	assert_int_equal(v, spp_vector_from_map(0x104));
	assert_int_equal(spp_sppt_get_vector(s, gfn + 512, &v), 0);
	assert_int_equal(v, spp_vector_from_map(0x105));
	assert_int_equal(spp_sppt_get_vector(s, gfn + 517, &v), 0);
	assert_int_equal(v, SPP_VECTOR_FULL);
	/* npages 0 changes nothing */
	assert_int_equal(spp_sppt_set(s, gfn, 0, maps), 0);
	assert_int_equal(spp_sppt_table_count(s), 5);
	free(maps);
	spp_sppt_destroy(s);
}

static void test_set_invalid(void **state)
{
	struct spp_sppt *s = new_sppt();
	uint32_t maps[4] = { 0, 0, 0, 0 };
	uint64_t v;
	size_t mem;

	(void)state;
	set1(s, 5, 0x5);
	mem = spp_sppt_memory(s);
	assert_int_equal(spp_sppt_set(NULL, 0, 1, maps), -EINVAL);
	assert_int_equal(spp_sppt_set(s, 0, 1, NULL), -EINVAL);
	assert_int_equal(spp_sppt_set(s, SPP_GFN_LIMIT, 1, maps), -EINVAL);
	assert_int_equal(spp_sppt_set(s, SPP_GFN_LIMIT - 2, 4, maps), -EINVAL);
	assert_int_equal(spp_sppt_set(s, UINT64_MAX - 1, 4, maps), -EINVAL);
	assert_int_equal(spp_sppt_set(s, 4, UINT64_MAX, maps), -EINVAL);
	assert_int_equal(spp_sppt_table_count(s), 4);
	assert_int_equal(spp_sppt_memory(s), mem);
	assert_int_equal(spp_sppt_get_vector(s, 4, &v), 0);
	assert_int_equal(v, SPP_VECTOR_FULL);
	assert_int_equal(spp_sppt_get_vector(s, 5, &v), 0);
	assert_int_equal(v, spp_vector_from_map(0x5));
	/* the last 4 gfns are fine */
	assert_int_equal(spp_sppt_set(s, SPP_GFN_LIMIT - 4, 4, maps), 0);
	assert_int_equal(spp_sppt_get_vector(s, SPP_GFN_LIMIT - 1, &v), 0);
	assert_int_equal(v, 0);
	spp_sppt_destroy(s);
}

/* ---- read / get_vector ------------------------------------------------------ */

static void test_read_errors(void **state)
{
	struct spp_sppt *s = new_sppt();
	uint64_t e = 0x1122334455667788ULL;
	uint64_t tables[4];

	(void)state;
	set1(s, GFN_G, 0x0);
	walk_by_hand(s, GFN_G, tables);
	/* unaligned */
	assert_int_equal(spp_sppt_read(s, BASE + 1, &e), -EFAULT);
	assert_int_equal(spp_sppt_read(s, BASE + 4, &e), -EFAULT);
	assert_int_equal(spp_sppt_read(s, tables[3] + 7, &e), -EFAULT);
	/* outside every live table */
	assert_int_equal(spp_sppt_read(s, BASE - 8, &e), -EFAULT);
	assert_int_equal(spp_sppt_read(s, 0, &e), -EFAULT);
	assert_int_equal(spp_sppt_read(s, BASE + 4096 * 64, &e), -EFAULT);
	assert_int_equal(spp_sppt_read(s, UINT64_MAX - 7, &e), -EFAULT);
	assert_int_equal(spp_sppt_read(s, 1ULL << MPA, &e), -EFAULT);
	/* last entry of each live table is fine */
	rd(s, BASE + 0xFF8);
	rd(s, tables[3] + 0xFF8);
	assert_int_equal(rd(s, tables[3] + 0xFF8), SPP_VECTOR_FULL);
	spp_sppt_destroy(s);
}

static void test_get_vector_errors(void **state)
{
	struct spp_sppt *s = new_sppt();
	uint64_t v = 77;

	(void)state;
	set1(s, GFN_G, 0x3);
	assert_int_equal(spp_sppt_get_vector(s, GFN_G + 512, &v), -ENOENT);
	assert_int_equal(spp_sppt_get_vector(s, GFN_G - 512, &v), -ENOENT);
	assert_int_equal(spp_sppt_get_vector(s, GFN_G ^ (1ULL << 18), &v),
			 -ENOENT);
	assert_int_equal(spp_sppt_get_vector(s, GFN_G ^ (1ULL << 27), &v),
			 -ENOENT);
	assert_int_equal(spp_sppt_get_vector(s, SPP_GFN_LIMIT, &v), -EINVAL);
	assert_int_equal(spp_sppt_get_vector(s, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(v, 77);
	/* gfn bits above 47:12 are not silently dropped */
	assert_int_equal(spp_sppt_get_vector(s, GFN_G | SPP_GFN_LIMIT, &v),
			 -EINVAL);
	assert_int_equal(spp_sppt_get_vector(s, GFN_G, &v), 0);
	assert_int_equal(v, spp_vector_from_map(0x3));
	assert_int_equal(v, 0x5);
	spp_sppt_destroy(s);
}

/* ---- for_each_table --------------------------------------------------------- */

struct tvisit {
	struct spp_sppt *s;
	int n;
	uint64_t pa[16];
	int level[16];
	int stop_at; /* 1-based; 0 never */
	int stop_value;
};

static int tvisit_fn(void *ctx, uint64_t pa, int level, const uint64_t *entries)
{
	struct tvisit *t = ctx;
	unsigned int i;

	assert_true(t->n < 16);
	t->pa[t->n] = pa;
	t->level[t->n] = level;
	t->n++;
	/* the entries are the table's content */
	for (i = 0; i < 512; i += 37)
		assert_int_equal(entries[i], rd(t->s, pa + i * 8));
	assert_int_equal(entries[511], rd(t->s, pa + 511 * 8));
	if (t->stop_at && t->n == t->stop_at)
		return t->stop_value;
	return 0;
}

static void test_for_each_table(void **state)
{
	struct spp_sppt *s = new_sppt();
	struct tvisit t;
	uint64_t tables[4], tables2[4];
	static const int order1[] = { 4, 3, 2, 1 };
	int i;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.s = s;
	/* only the root */
	assert_int_equal(spp_sppt_for_each_table(s, tvisit_fn, &t), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.pa[0], BASE);
	assert_int_equal(t.level[0], 4);

	set1(s, GFN_G, 0x7);
	walk_by_hand(s, GFN_G, tables);
	memset(&t, 0, sizeof(t));
	t.s = s;
	assert_int_equal(spp_sppt_for_each_table(s, tvisit_fn, &t), 0);
	assert_int_equal(t.n, 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(t.level[i], order1[i]);
		assert_int_equal(t.pa[i], tables[i]);
	}

	/* a second page at a lower GPA in another 1 GiB region */
	set1(s, GFN_OF(IDX4, IDX3 - 1, 5, 5), 0x9);
	walk_by_hand(s, GFN_OF(IDX4, IDX3 - 1, 5, 5), tables2);
	memset(&t, 0, sizeof(t));
	t.s = s;
	assert_int_equal(spp_sppt_for_each_table(s, tvisit_fn, &t), 0);
	assert_int_equal(t.n, 6);
	assert_int_equal(spp_sppt_table_count(s), 6);
	{
		static const int order2[] = { 4, 3, 2, 1, 2, 1 };

		for (i = 0; i < 6; i++)
			assert_int_equal(t.level[i], order2[i]);
	}
	/* depth first in GPA order: the lower page's tables first */
	assert_int_equal(t.pa[0], BASE);
	assert_int_equal(t.pa[1], tables[1]);
	assert_int_equal(t.pa[2], tables2[2]);
	assert_int_equal(t.pa[3], tables2[3]);
	assert_int_equal(t.pa[4], tables[2]);
	assert_int_equal(t.pa[5], tables[3]);

	/* stopping */
	memset(&t, 0, sizeof(t));
	t.s = s;
	t.stop_at = 3;
	t.stop_value = -42;
	assert_int_equal(spp_sppt_for_each_table(s, tvisit_fn, &t), -42);
	assert_int_equal(t.n, 3);
	memset(&t, 0, sizeof(t));
	t.s = s;
	t.stop_at = 1;
	t.stop_value = 7;
	assert_int_equal(spp_sppt_for_each_table(s, tvisit_fn, &t), 7);
	assert_int_equal(t.n, 1);

	assert_int_equal(spp_sppt_for_each_table(NULL, tvisit_fn, &t), -EINVAL);
	assert_int_equal(spp_sppt_for_each_table(s, NULL, &t), -EINVAL);
	spp_sppt_destroy(s);
}

/* ---- prepare / commit ----------------------------------------------------------- */

static void test_prepare_commit(void **state)
{
	struct spp_sppt *s = new_sppt();
	uint32_t maps[600];
	uint64_t v, i;
	const uint64_t gfn = GFN_G - 100;

	(void)state;
	for (i = 0; i < 600; i++)
		maps[i] = (uint32_t)i;
	assert_int_equal(spp_sppt_prepare(s, gfn, 600, maps), 0);
	/* nothing visible yet */
	assert_int_equal(spp_sppt_table_count(s), 1);
	assert_int_equal(spp_sppt_get_vector(s, gfn, &v), -ENOENT);
	for (i = 0; i < 512; i++)
		assert_int_equal(rd(s, BASE + i * 8) & 1, 0);
	assert_int_equal(spp_sppt_read(s, BASE + 4096, &v), -EFAULT);

	spp_sppt_commit(s, gfn, 600, maps);
	/* gfn .. gfn+599 spans two 2 MiB blocks */
	assert_int_equal(spp_sppt_table_count(s), 5);
	for (i = 0; i < 600; i++) {
		assert_int_equal(spp_sppt_get_vector(s, gfn + i, &v), 0);
		assert_int_equal(v, spp_vector_from_map(maps[i]));
	}

	/* an unprotecting prepare + commit frees the tables */
	for (i = 0; i < 600; i++)
		maps[i] = SPP_ACCESS_FULL;
	assert_int_equal(spp_sppt_prepare(s, gfn, 600, maps), 0);
	assert_int_equal(spp_sppt_table_count(s), 5);
	assert_int_equal(spp_sppt_get_vector(s, gfn, &v), 0);
	assert_int_equal(v, spp_vector_from_map(0));
	spp_sppt_commit(s, gfn, 600, maps);
	assert_int_equal(spp_sppt_table_count(s), 1);
	assert_int_equal(spp_sppt_get_vector(s, gfn, &v), -ENOENT);
	spp_sppt_destroy(s);
}

static void test_prepare_invalid(void **state)
{
	struct spp_sppt *s = new_sppt();
	uint32_t maps[4] = { 1, 2, 3, 4 };
	uint64_t v;

	(void)state;
	assert_int_equal(spp_sppt_prepare(NULL, 0, 1, maps), -EINVAL);
	assert_int_equal(spp_sppt_prepare(s, 0, 1, NULL), -EINVAL);
	assert_int_equal(spp_sppt_prepare(s, UINT64_MAX - 1, 4, maps), -EINVAL);
	assert_int_equal(spp_sppt_prepare(s, SPP_GFN_LIMIT, 1, maps), -EINVAL);
	/* one page past the end */
	assert_int_equal(spp_sppt_prepare(s, SPP_GFN_LIMIT - 3, 4, maps),
			 -EINVAL);
	assert_int_equal(spp_sppt_table_count(s), 1);
	/* the last 4 gfns */
	assert_int_equal(spp_sppt_prepare(s, SPP_GFN_LIMIT - 4, 4, maps), 0);
	spp_sppt_commit(s, SPP_GFN_LIMIT - 4, 4, maps);
	assert_int_equal(spp_sppt_get_vector(s, SPP_GFN_LIMIT - 1, &v), 0);
	assert_int_equal(v, spp_vector_from_map(4));
	assert_int_equal(spp_sppt_get_vector(s, SPP_GFN_LIMIT - 4, &v), 0);
	assert_int_equal(v, spp_vector_from_map(1));
	assert_int_equal(spp_sppt_prepare(s, SPP_GFN_LIMIT - 4, 5, maps),
			 -EINVAL);
	assert_int_equal(spp_sppt_table_count(s), 4);
	spp_sppt_destroy(s);
}

/*
 * Tables must fit below 2^maxphyaddr: a table with room for only four
 * tables holds one 2 MiB block and refuses a second one with -ENOMEM,
 * changing nothing.
 */
static void test_address_space_exhausted(void **state)
{
	struct spp_sppt *s = NULL;
	const uint64_t base = (1ULL << 36) - 4 * 4096;
	const uint64_t g = 0x12345; /* below 2^24: fits the 36-bit space */
	uint32_t maps[2] = { 0x1, 0x2 };
	uint64_t v, tables[4];
	size_t mem;

	(void)state;
	/* the root fits below 2^36, so creation succeeds */
	assert_int_equal(spp_sppt_create(&s, base, 36), 0);
	assert_int_equal(spp_sppt_set(s, g, 1, maps), 0);
	assert_int_equal(spp_sppt_table_count(s), 4);
	walk_by_hand(s, g, tables);
	mem = spp_sppt_memory(s);

	/* another 2 MiB block needs a fifth table */
	assert_int_equal(spp_sppt_set(s, g + 512, 1, maps + 1), -ENOMEM);
	/* also when the same call changes the existing block too */
	assert_int_equal(spp_sppt_set(s, (g | 511), 2, maps), -ENOMEM);
	assert_int_equal(spp_sppt_prepare(s, g + 512, 1, maps), -ENOMEM);
	assert_int_equal(spp_sppt_table_count(s), 4);
	assert_int_equal(spp_sppt_memory(s), mem);
	assert_int_equal(spp_sppt_get_vector(s, g + 512, &v), -ENOENT);
	assert_int_equal(spp_sppt_get_vector(s, g | 511, &v), 0);
	assert_int_equal(v, SPP_VECTOR_FULL);
	assert_int_equal(walk_by_hand(s, g, tables), 0x1);

	/* changes inside the existing block need no table */
	assert_int_equal(spp_sppt_set(s, g + 1, 1, maps + 1), 0);
	assert_int_equal(spp_sppt_get_vector(s, g + 1, &v), 0);
	assert_int_equal(v, 0x4);

	/* freeing the block makes room elsewhere */
	maps[0] = maps[1] = SPP_ACCESS_FULL;
	assert_int_equal(spp_sppt_set(s, g, 2, maps), 0);
	assert_int_equal(spp_sppt_table_count(s), 1);
	maps[0] = 0;
	assert_int_equal(spp_sppt_set(s, g + 512, 1, maps), 0);
	assert_int_equal(spp_sppt_get_vector(s, g + 512, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(spp_sppt_table_count(s), 4);
	spp_sppt_destroy(s);

	/* room for the root alone */
	assert_int_equal(spp_sppt_create(&s, (1ULL << 36) - 4096, 36), 0);
	assert_int_equal(spp_sppt_set(s, 0, 1, maps), -ENOMEM);
	assert_int_equal(spp_sppt_table_count(s), 1);
	assert_int_equal(rd(s, (1ULL << 36) - 4096) & 1, 0);
	assert_int_equal(spp_sppt_get_vector(s, 0, &v), -ENOENT);
	spp_sppt_destroy(s);
}

static void test_memory_accounting(void **state)
{
	struct spp_sppt *s = new_sppt();
	uint64_t i;
	size_t m0, m1;

	(void)state;
	m0 = spp_sppt_memory(s);
	/* one page in each of 64 blocks */
	for (i = 0; i < 64; i++)
		set1(s, i * 512 + 3, 0x1);
	assert_int_equal(spp_sppt_table_count(s), 67);
	m1 = spp_sppt_memory(s);
	assert_true(m1 >= 67 * 4096);
	/* bookkeeping is modest: less than twice the table pages */
	assert_true(m1 < 2 * 67 * 4096 + 64 * 1024);
	for (i = 0; i < 64; i++)
		set1(s, i * 512 + 3, SPP_ACCESS_FULL);
	assert_int_equal(spp_sppt_table_count(s), 1);
	assert_true(spp_sppt_memory(s) < m1);
	assert_true(spp_sppt_memory(s) < m0 + 16 * 4096);
	spp_sppt_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_fresh_table),
		cmocka_unit_test(test_single_page_by_hand),
		cmocka_unit_test(test_single_page_edges),
		cmocka_unit_test(test_custom_base),
		cmocka_unit_test(test_unprotect_frees),
		cmocka_unit_test(test_unprotect_one_of_two),
		cmocka_unit_test(test_two_pages_share_root),
		cmocka_unit_test(test_set_many),
		cmocka_unit_test(test_set_invalid),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_get_vector_errors),
		cmocka_unit_test(test_for_each_table),
		cmocka_unit_test(test_prepare_commit),
		cmocka_unit_test(test_prepare_invalid),
		cmocka_unit_test(test_address_space_exhausted),
		cmocka_unit_test(test_memory_accounting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
