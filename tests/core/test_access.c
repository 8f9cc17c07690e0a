// SPDX-License-Identifier: MIT
/*
 * test_access.c - the per-guest permission store (spp/access.h): RAM
 * regions, the KVM-shaped SET/GET (spec §2.3), bulk and range calls,
 * lookup/count/for_each and the eagerly synced attached SPPT.
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

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define TIB (1ULL << 40)

static uint64_t rng_state = 0x0123456789ABCDEFULL;

static uint32_t rng32(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return (uint32_t)(x >> 16);
}

/* A random map that protects something (never SPP_ACCESS_FULL). */
static uint32_t rng_map(void)
{
	uint32_t m = rng32();

	return m == SPP_ACCESS_FULL ? 0 : m;
}

static struct spp_subpage *req_alloc(uint64_t gfn, uint32_t npages,
				     uint32_t flags)
{
	size_t n = npages ? npages : 1;
	struct spp_subpage *r = malloc(sizeof(*r) + n * sizeof(uint32_t));

	assert_non_null(r);
	r->gfn_base = gfn;
	r->npages = npages;
	r->flags = flags;
	memset(r->access_map, 0x5A, n * sizeof(uint32_t));
	return r;
}

static struct spp_access *new_acc(void)
{
	struct spp_access *acc = NULL;

	assert_int_equal(spp_access_create(&acc), 0);
	assert_non_null(acc);
	return acc;
}

/* A store with RAM [0, 64 MiB). */
static struct spp_access *new_acc_ram(void)
{
	struct spp_access *acc = new_acc();

	assert_int_equal(spp_access_add_ram(acc, 0, 64 * MIB), 0);
	return acc;
}

/* SET a single page through the KVM-shaped call. */
static void set1(struct spp_access *acc, uint64_t gfn, uint32_t map)
{
	struct spp_subpage *r = req_alloc(gfn, 1, 0);

	r->access_map[0] = map;
	assert_int_equal(spp_access_set(acc, r), 1);
	free(r);
}

/* GET a single page through the KVM-shaped call. */
static uint32_t get1(const struct spp_access *acc, uint64_t gfn)
{
	struct spp_subpage *r = req_alloc(gfn, 1, 0);
	uint32_t m;

	assert_int_equal(spp_access_get(acc, r), 1);
	m = r->access_map[0];
	free(r);
	return m;
}

/* ---- create / destroy ------------------------------------------------ */

static void test_create_destroy(void **state)
{
	struct spp_access *acc;

	(void)state;
	assert_int_equal(spp_access_create(NULL), -EINVAL);
	acc = new_acc();
	assert_int_equal(spp_access_count(acc), 0);
	assert_false(spp_access_is_ram(acc, 0, 1));
	assert_int_equal(spp_access_lookup(acc, 0), SPP_ACCESS_FULL);
	/* an empty store costs (next to) nothing */
	assert_true(spp_access_memory(acc) < MIB);
	spp_access_destroy(acc);
	spp_access_destroy(NULL);
}

/* ---- RAM regions ----------------------------------------------------- */

static void test_add_ram_invalid(void **state)
{
	struct spp_access *acc = new_acc();

	(void)state;
	assert_int_equal(spp_access_add_ram(NULL, 0, 4096), -EINVAL);
	/* unaligned base / size */
	assert_int_equal(spp_access_add_ram(acc, 1, 4096), -EINVAL);
	assert_int_equal(spp_access_add_ram(acc, 0x800, 4096), -EINVAL);
	assert_int_equal(spp_access_add_ram(acc, 0, 4095), -EINVAL);
	assert_int_equal(spp_access_add_ram(acc, 0, 4097), -EINVAL);
	assert_int_equal(spp_access_add_ram(acc, 4096, 100), -EINVAL);
	/* zero size */
	assert_int_equal(spp_access_add_ram(acc, 0, 0), -EINVAL);
	assert_int_equal(spp_access_add_ram(acc, 1 * MIB, 0), -EINVAL);
	/* beyond 2^48 */
	assert_int_equal(spp_access_add_ram(acc, 1ULL << 48, 4096), -EINVAL);
	assert_int_equal(spp_access_add_ram(acc, (1ULL << 48) - 4096, 8192),
			 -EINVAL);
	assert_int_equal(spp_access_add_ram(acc, 0, (1ULL << 48) + 4096),
			 -EINVAL);
	/* base + size overflows 64 bits */
	assert_int_equal(spp_access_add_ram(acc, 0xFFFFFFFFFFFFF000ULL, 0x2000),
			 -EINVAL);
	assert_int_equal(spp_access_add_ram(acc, 0x1000, 0xFFFFFFFFFFFFF000ULL),
			 -EINVAL);
	/* nothing was registered */
	assert_false(spp_access_is_ram(acc, 0, 1));
	assert_false(spp_access_is_ram(acc, ((1ULL << 48) >> 12) - 1, 1));
	assert_int_equal(spp_access_count(acc), 0);

	/* ending exactly at 2^48 is fine */
	assert_int_equal(spp_access_add_ram(acc, (1ULL << 48) - 8192, 8192), 0);
	assert_true(spp_access_is_ram(acc, SPP_GFN_LIMIT - 2, 2));
	assert_false(spp_access_is_ram(acc, SPP_GFN_LIMIT - 3, 1));
	assert_false(spp_access_is_ram(acc, SPP_GFN_LIMIT - 1, 2));
	spp_access_destroy(acc);
}

static void test_add_ram_overlap(void **state)
{
	struct spp_access *acc = new_acc();

	(void)state;
	/* [1 MiB, 2 MiB) */
	assert_int_equal(spp_access_add_ram(acc, 1 * MIB, 1 * MIB), 0);
	assert_int_equal(spp_access_add_ram(acc, 1 * MIB, 1 * MIB), -EEXIST);
	assert_int_equal(spp_access_add_ram(acc, 1 * MIB + 4096, 4096),
			 -EEXIST);
	assert_int_equal(spp_access_add_ram(acc, 1 * MIB - 4096, 8192),
			 -EEXIST);
	assert_int_equal(spp_access_add_ram(acc, 2 * MIB - 4096, 8192),
			 -EEXIST);
	assert_int_equal(spp_access_add_ram(acc, 0, 4 * MIB), -EEXIST);
	assert_int_equal(spp_access_add_ram(acc, 2 * MIB - 4096, 4096),
			 -EEXIST);
	/* failed adds registered nothing */
	assert_false(spp_access_is_ram(acc, (1 * MIB >> 12) - 1, 1));
	assert_false(spp_access_is_ram(acc, 2 * MIB >> 12, 1));
	assert_true(spp_access_is_ram(acc, 1 * MIB >> 12, 256));

	/* adjacent on both sides is fine */
	assert_int_equal(spp_access_add_ram(acc, 0, 1 * MIB), 0);
	assert_int_equal(spp_access_add_ram(acc, 2 * MIB, 1 * MIB), 0);
	/* adjacent regions join for is_ram */
	assert_true(spp_access_is_ram(acc, 0, 768));
	assert_false(spp_access_is_ram(acc, 0, 769));
	/* a region after a gap */
	assert_int_equal(spp_access_add_ram(acc, 4 * MIB, 1 * MIB), 0);
	assert_false(spp_access_is_ram(acc, 767, 2));
	assert_false(spp_access_is_ram(acc, 3 * MIB >> 12, 1));
	assert_true(spp_access_is_ram(acc, 4 * MIB >> 12, 256));
	assert_int_equal(spp_access_add_ram(acc, 3 * MIB, 2 * MIB), -EEXIST);
	assert_int_equal(spp_access_add_ram(acc, 3 * MIB, 1 * MIB), 0);
	assert_true(spp_access_is_ram(acc, 0, 1280));
	spp_access_destroy(acc);
}

static void test_is_ram_edges(void **state)
{
	struct spp_access *acc = new_acc_ram();

	(void)state;
	assert_false(spp_access_is_ram(NULL, 0, 1));
	assert_false(spp_access_is_ram(acc, 0, 0));
	assert_true(spp_access_is_ram(acc, 0, 16384));
	assert_false(spp_access_is_ram(acc, 0, 16385));
	assert_true(spp_access_is_ram(acc, 16383, 1));
	assert_false(spp_access_is_ram(acc, 16384, 1));
	assert_false(spp_access_is_ram(acc, 1, UINT64_MAX));
	assert_false(spp_access_is_ram(acc, UINT64_MAX, 2));
	spp_access_destroy(acc);
}

static void test_remove_ram(void **state)
{
	struct spp_access *acc = new_acc();
	struct spp_subpage *r;

	(void)state;
	assert_int_equal(spp_access_add_ram(acc, 0, 2 * MIB), 0);
	assert_int_equal(spp_access_add_ram(acc, 2 * MIB, 2 * MIB), 0);

	assert_int_equal(spp_access_remove_ram(NULL, 0, 2 * MIB), -EINVAL);
	/* no such region: wrong base, wrong size, nothing there */
	assert_int_equal(spp_access_remove_ram(acc, 4096, 2 * MIB - 4096),
			 -ENOENT);
	assert_int_equal(spp_access_remove_ram(acc, 0, 1 * MIB), -ENOENT);
	assert_int_equal(spp_access_remove_ram(acc, 0, 4 * MIB), -ENOENT);
	assert_int_equal(spp_access_remove_ram(acc, 8 * MIB, 2 * MIB), -ENOENT);
	assert_true(spp_access_is_ram(acc, 0, 1024));

	/* busy while a page of it is protected */
	set1(acc, (2 * MIB >> 12) + 7, 0x1234);
	assert_int_equal(spp_access_remove_ram(acc, 2 * MIB, 2 * MIB), -EBUSY);
	assert_true(spp_access_is_ram(acc, 512, 512));
	assert_int_equal(get1(acc, 512 + 7), 0x1234);
	assert_int_equal(spp_access_count(acc), 1);

	/* the other region is free to go */
	assert_int_equal(spp_access_remove_ram(acc, 0, 2 * MIB), 0);
	assert_false(spp_access_is_ram(acc, 0, 1));
	assert_true(spp_access_is_ram(acc, 512, 512));
	assert_int_equal(spp_access_remove_ram(acc, 0, 2 * MIB), -ENOENT);

	/* unprotect, then remove */
	set1(acc, 512 + 7, SPP_ACCESS_FULL);
	assert_int_equal(spp_access_count(acc), 0);
	assert_int_equal(spp_access_remove_ram(acc, 2 * MIB, 2 * MIB), 0);
	assert_false(spp_access_is_ram(acc, 512, 1));

	/* gone RAM can't be SET any more */
	r = req_alloc(512, 1, 0);
	r->access_map[0] = 0;
	assert_int_equal(spp_access_set(acc, r), -EFAULT);
	assert_int_equal(spp_access_count(acc), 0);
	free(r);

	/* and can be added again */
	assert_int_equal(spp_access_add_ram(acc, 0, 4 * MIB), 0);
	assert_int_equal(get1(acc, 519), SPP_ACCESS_FULL);
	spp_access_destroy(acc);
}

/* ---- SET / GET: argument checks --------------------------------------- */

static void test_set_invalid_args(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_subpage *r;

	(void)state;
	set1(acc, 10, 0xF0F0F0F0);

	assert_int_equal(spp_access_set(NULL, NULL), -EINVAL);
	assert_int_equal(spp_access_set(acc, NULL), -EINVAL);
	r = req_alloc(10, 1, 0);
	r->access_map[0] = 0;
	assert_int_equal(spp_access_set(NULL, r), -EINVAL);

	/* flags != 0 */
	r->flags = 1;
	assert_int_equal(spp_access_set(acc, r), -EINVAL);
	r->flags = 0x80000000u;
	assert_int_equal(spp_access_set(acc, r), -EINVAL);
	free(r);
	assert_int_equal(get1(acc, 10), 0xF0F0F0F0);
	assert_int_equal(spp_access_count(acc), 1);

	/* KVM checks flags before the npages == 0 shortcut (spec §2.3.3) */
	r = req_alloc(10, 0, 1);
	assert_int_equal(spp_access_set(acc, r), -EINVAL);
	free(r);

	/* npages 513 */
	r = req_alloc(10, 513, 0);
	memset(r->access_map, 0, 513 * sizeof(uint32_t));
	assert_int_equal(spp_access_set(acc, r), -EINVAL);
	r->npages = UINT32_MAX;
	assert_int_equal(spp_access_set(acc, r), -EINVAL);
	free(r);
	assert_int_equal(get1(acc, 10), 0xF0F0F0F0);
	assert_int_equal(get1(acc, 11), SPP_ACCESS_FULL);
	assert_int_equal(spp_access_count(acc), 1);
	spp_access_destroy(acc);
}

static void test_set_npages_zero(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_subpage *r;

	(void)state;
	r = req_alloc(10, 0, 0);
	assert_int_equal(spp_access_set(acc, r), 0);
	assert_int_equal(spp_access_get(acc, r), 0);
	/* 0 also when the gfn is not RAM: KVM returns before looking */
	r->gfn_base = 1ULL << 30;
	assert_int_equal(spp_access_set(acc, r), 0);
	assert_int_equal(spp_access_get(acc, r), 0);
	free(r);
	assert_int_equal(spp_access_count(acc), 0);
	spp_access_destroy(acc);
}

static void test_set_get_512(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_subpage *r = req_alloc(1000, 512, 0);
	uint32_t maps[512];
	unsigned int i;

	(void)state;
	for (i = 0; i < 512; i++)
		maps[i] = r->access_map[i] = rng_map();
	assert_int_equal(spp_access_set(acc, r), 512);
	assert_int_equal(spp_access_count(acc), 512);

	memset(r->access_map, 0, 512 * sizeof(uint32_t));
	assert_int_equal(spp_access_get(acc, r), 512);
	assert_memory_equal(r->access_map, maps, sizeof(maps));
	for (i = 0; i < 512; i++)
		assert_int_equal(spp_access_lookup(acc, 1000 + i), maps[i]);
	assert_int_equal(spp_access_lookup(acc, 999), SPP_ACCESS_FULL);
	assert_int_equal(spp_access_lookup(acc, 1512), SPP_ACCESS_FULL);

	/* GET of 513 is refused too and writes nothing */
	free(r);
	r = req_alloc(1000, 513, 0);
	memset(r->access_map, 0x77, 513 * sizeof(uint32_t));
	assert_int_equal(spp_access_get(acc, r), -EINVAL);
	for (i = 0; i < 513; i++)
		assert_int_equal(r->access_map[i], 0x77777777);
	free(r);
	spp_access_destroy(acc);
}

static void test_set_returns_npages(void **state)
{
	struct spp_access *acc = new_acc_ram();
	uint32_t n;

	(void)state;
	for (n = 1; n <= 512; n = n * 3 + 1) {
		struct spp_subpage *r = req_alloc(4096, n, 0);
		uint32_t i;

		for (i = 0; i < n; i++)
			r->access_map[i] = (uint32_t)(n * 1000 + i);
		assert_int_equal(spp_access_set(acc, r), n);
		memset(r->access_map, 0, n * sizeof(uint32_t));
		assert_int_equal(spp_access_get(acc, r), n);
		for (i = 0; i < n; i++)
			assert_int_equal(r->access_map[i], n * 1000 + i);
		free(r);
	}
	spp_access_destroy(acc);
}

static void test_set_outside_ram(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_subpage *r;
	size_t mem;

	(void)state;
	mem = spp_access_memory(acc);
	/* a page entirely outside RAM */
	r = req_alloc(16384, 1, 0);
	r->access_map[0] = 0;
	assert_int_equal(spp_access_set(acc, r), -EFAULT);
	r->gfn_base = 1ULL << 30;
	assert_int_equal(spp_access_set(acc, r), -EFAULT);
	/* beyond what an SPPT can index, but no overflow */
	r->gfn_base = SPP_GFN_LIMIT;
	assert_int_equal(spp_access_set(acc, r), -EFAULT);
	free(r);
	assert_int_equal(spp_access_count(acc), 0);
	assert_int_equal(spp_access_lookup(acc, 16384), SPP_ACCESS_FULL);
	assert_int_equal(spp_access_memory(acc), mem);
	spp_access_destroy(acc);
}

/* All or nothing: a SET that fails half way changes no page. */
static void test_set_partly_outside_ram_all_or_nothing(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_subpage *r, *g;
	unsigned int i;

	(void)state;
	/* the last 8 pages of RAM: 16376..16383 */
	r = req_alloc(16376, 8, 0);
	for (i = 0; i < 8; i++)
		r->access_map[i] = 0x100 + i;
	assert_int_equal(spp_access_set(acc, r), 8);
	free(r);
	assert_int_equal(spp_access_count(acc), 8);

	/* would change all 8 and run 4 pages past the end of RAM */
	r = req_alloc(16376, 12, 0);
	for (i = 0; i < 12; i++)
		r->access_map[i] = 0x200 + i;
	assert_int_equal(spp_access_set(acc, r), -EFAULT);
	/* would unprotect them and run past the end */
	for (i = 0; i < 12; i++)
		r->access_map[i] = SPP_ACCESS_FULL;
	assert_int_equal(spp_access_set(acc, r), -EFAULT);
	free(r);

	g = req_alloc(16376, 8, 0);
	assert_int_equal(spp_access_get(acc, g), 8);
	for (i = 0; i < 8; i++)
		assert_int_equal(g->access_map[i], 0x100 + i);
	free(g);
	assert_int_equal(spp_access_count(acc), 8);

	/* the failing page first, the good ones after */
	assert_int_equal(spp_access_add_ram(acc, 128 * MIB, 1 * MIB), 0);
	set1(acc, 128 * MIB >> 12, 0xAB);
	r = req_alloc((128 * MIB >> 12) - 1, 3, 0);
	r->access_map[0] = 1;
	r->access_map[1] = 2;
	r->access_map[2] = 3;
	assert_int_equal(spp_access_set(acc, r), -EFAULT);
	free(r);
	assert_int_equal(get1(acc, 128 * MIB >> 12), 0xAB);
	assert_int_equal(get1(acc, (128 * MIB >> 12) + 1), SPP_ACCESS_FULL);
	assert_int_equal(spp_access_count(acc), 9);
	spp_access_destroy(acc);
}

static void test_set_across_hole(void **state)
{
	struct spp_access *acc = new_acc();
	struct spp_subpage *r;
	unsigned int i;

	(void)state;
	/* [0, 4 MiB) and [8 MiB, 12 MiB) with a hole between */
	assert_int_equal(spp_access_add_ram(acc, 0, 4 * MIB), 0);
	assert_int_equal(spp_access_add_ram(acc, 8 * MIB, 4 * MIB), 0);
	r = req_alloc(1000, 512, 0); /* 1000 .. 1511, hole starts at 1024 */
	for (i = 0; i < 512; i++)
		r->access_map[i] = i;
	assert_int_equal(spp_access_set(acc, r), -EFAULT);
	assert_int_equal(spp_access_count(acc), 0);
	assert_int_equal(get1(acc, 1000), SPP_ACCESS_FULL);
	assert_int_equal(get1(acc, 1023), SPP_ACCESS_FULL);
	free(r);

	/* adjacent regions: one SET may span them */
	assert_int_equal(spp_access_add_ram(acc, 4 * MIB, 4 * MIB), 0);
	r = req_alloc(2000, 200, 0); /* 2000 .. 2199 crosses 2048 */
	for (i = 0; i < 200; i++)
		r->access_map[i] = i;
	assert_int_equal(spp_access_set(acc, r), 200);
	free(r);
	assert_int_equal(get1(acc, 2047), 47);
	assert_int_equal(get1(acc, 2048), 48);
	assert_int_equal(spp_access_count(acc), 200);
	spp_access_destroy(acc);
}

static void test_set_overflow(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_subpage *r;

	(void)state;
	set1(acc, 5, 0x5);
	r = req_alloc(UINT64_MAX, 2, 0);
	r->access_map[0] = 0;
	r->access_map[1] = 0;
	assert_int_equal(spp_access_set(acc, r), -EINVAL);
	free(r);
	r = req_alloc(UINT64_MAX - 1, 4, 0);
	assert_int_equal(spp_access_set(acc, r), -EINVAL);
	memset(r->access_map, 0x33, 4 * sizeof(uint32_t));
	assert_int_equal(spp_access_get(acc, r), -EINVAL);
	assert_int_equal(r->access_map[0], 0x33333333);
	assert_int_equal(r->access_map[3], 0x33333333);
	free(r);
	assert_int_equal(get1(acc, 5), 0x5);
	assert_int_equal(spp_access_count(acc), 1);
	spp_access_destroy(acc);
}

/* ---- GET ---------------------------------------------------------------- */

static void test_get_unprotected_full(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_subpage *r = req_alloc(0, 512, 0);
	unsigned int i;

	(void)state;
	assert_int_equal(spp_access_get(acc, r), 512);
	for (i = 0; i < 512; i++)
		assert_int_equal(r->access_map[i], SPP_ACCESS_FULL);
	set1(acc, 300, 0);
	memset(r->access_map, 0, 512 * sizeof(uint32_t));
	assert_int_equal(spp_access_get(acc, r), 512);
	for (i = 0; i < 512; i++)
		assert_int_equal(r->access_map[i],
				 i == 300 ? 0 : SPP_ACCESS_FULL);
	free(r);
	spp_access_destroy(acc);
}

static void test_get_errors_leave_buffer(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_subpage *r;
	unsigned int i;

	(void)state;
	set1(acc, 16383, 0x42);
	assert_int_equal(spp_access_get(acc, NULL), -EINVAL);
	r = req_alloc(16380, 8, 0); /* runs 4 pages past RAM */
	memset(r->access_map, 0xEE, 8 * sizeof(uint32_t));
	assert_int_equal(spp_access_get(NULL, r), -EINVAL);
	assert_int_equal(spp_access_get(acc, r), -EFAULT);
	for (i = 0; i < 8; i++)
		assert_int_equal(r->access_map[i], 0xEEEEEEEE);
	r->gfn_base = 1ULL << 30;
	assert_int_equal(spp_access_get(acc, r), -EFAULT);
	for (i = 0; i < 8; i++)
		assert_int_equal(r->access_map[i], 0xEEEEEEEE);
	r->gfn_base = 16380;
	r->flags = 2;
	assert_int_equal(spp_access_get(acc, r), -EINVAL);
	r->npages = 4;
	assert_int_equal(spp_access_get(acc, r), -EINVAL);
	for (i = 0; i < 8; i++)
		assert_int_equal(r->access_map[i], 0xEEEEEEEE);
	r->flags = 0;
	assert_int_equal(spp_access_get(acc, r), 4);
	assert_int_equal(r->access_map[3], 0x42);
	assert_int_equal(r->access_map[0], SPP_ACCESS_FULL);
	assert_int_equal(r->access_map[4], 0xEEEEEEEE);
	free(r);
	spp_access_destroy(acc);
}

static void test_set_full_unprotects(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_subpage *r = req_alloc(100, 64, 0);
	size_t mem_empty, mem_full;
	unsigned int i;

	(void)state;
	mem_empty = spp_access_memory(acc);
	for (i = 0; i < 64; i++)
		r->access_map[i] = i; /* page 100 gets 0: fully protected */
	assert_int_equal(spp_access_set(acc, r), 64);
	assert_int_equal(spp_access_count(acc), 64);
	mem_full = spp_access_memory(acc);
	assert_true(mem_full > mem_empty);

	/* unprotect every other page */
	for (i = 0; i < 64; i++)
		r->access_map[i] = (i & 1) ? SPP_ACCESS_FULL : i;
	assert_int_equal(spp_access_set(acc, r), 64);
	assert_int_equal(spp_access_count(acc), 32);
	assert_int_equal(spp_access_lookup(acc, 101), SPP_ACCESS_FULL);
	assert_int_equal(spp_access_lookup(acc, 102), 2);

	/* same values again: no change in count */
	assert_int_equal(spp_access_set(acc, r), 64);
	assert_int_equal(spp_access_count(acc), 32);

	for (i = 0; i < 64; i++)
		r->access_map[i] = SPP_ACCESS_FULL;
	assert_int_equal(spp_access_set(acc, r), 64);
	assert_int_equal(spp_access_count(acc), 0);
	assert_true(spp_access_memory(acc) < mem_full);
	for (i = 0; i < 64; i++)
		assert_int_equal(spp_access_lookup(acc, 100 + i),
				 SPP_ACCESS_FULL);
	free(r);
	spp_access_destroy(acc);
}

/* Setting SPP_ACCESS_FULL on a page never protected is a no-op. */
static void test_set_full_on_unprotected(void **state)
{
	struct spp_access *acc = new_acc_ram();

	(void)state;
	set1(acc, 7, SPP_ACCESS_FULL);
	assert_int_equal(spp_access_count(acc), 0);
	set1(acc, 7, 0xFFFFFFFE);
	assert_int_equal(spp_access_count(acc), 1);
	set1(acc, 7, 0x7FFFFFFF);
	assert_int_equal(spp_access_count(acc), 1);
	assert_int_equal(get1(acc, 7), 0x7FFFFFFF);
	set1(acc, 7, SPP_ACCESS_FULL);
	assert_int_equal(spp_access_count(acc), 0);
	spp_access_destroy(acc);
}

/* ---- bulk and range --------------------------------------------------- */

static void test_bulk_large(void **state)
{
	struct spp_access *acc = new_acc_ram();
	const uint64_t n = 5000, gfn = 3000;
	uint32_t *maps = malloc(n * sizeof(*maps));
	uint32_t *back = malloc(n * sizeof(*back));
	uint64_t i, protected_pages = 0;

	(void)state;
	assert_non_null(maps);
	assert_non_null(back);
	for (i = 0; i < n; i++) {
		maps[i] = (i % 3 == 0) ? SPP_ACCESS_FULL : rng_map();
		protected_pages += maps[i] != SPP_ACCESS_FULL;
	}
	assert_int_equal(spp_access_set_bulk(acc, gfn, n, maps), 0);
	assert_int_equal(spp_access_count(acc), protected_pages);
	memset(back, 0, n * sizeof(*back));
	assert_int_equal(spp_access_get_bulk(acc, gfn, n, back), 0);
	assert_memory_equal(back, maps, n * sizeof(*maps));
	for (i = 0; i < n; i++)
		assert_int_equal(spp_access_lookup(acc, gfn + i), maps[i]);

	/* a KVM-shaped GET agrees with the bulk one */
	{
		struct spp_subpage *r = req_alloc(gfn + 1234, 512, 0);

		assert_int_equal(spp_access_get(acc, r), 512);
		assert_memory_equal(r->access_map, maps + 1234,
				    512 * sizeof(uint32_t));
		free(r);
	}

	/* npages 0 */
	assert_int_equal(spp_access_set_bulk(acc, gfn, 0, maps), 0);
	assert_int_equal(spp_access_get_bulk(acc, gfn, 0, back), 0);
	assert_int_equal(spp_access_count(acc), protected_pages);
	free(maps);
	free(back);
	spp_access_destroy(acc);
}

static void test_bulk_errors(void **state)
{
	struct spp_access *acc = new_acc_ram();
	uint32_t maps[1024], back[1024];
	unsigned int i;

	(void)state;
	for (i = 0; i < 1024; i++)
		maps[i] = i;
	assert_int_equal(spp_access_set_bulk(acc, 16000, 384, maps), 0);
	assert_int_equal(spp_access_count(acc), 384);

	/* partly outside RAM: nothing changes, nothing read back */
	for (i = 0; i < 1024; i++)
		maps[i] = 0xC0DE0000u | i;
	assert_int_equal(spp_access_set_bulk(acc, 16000, 1024, maps), -EFAULT);
	assert_int_equal(spp_access_count(acc), 384);
	memset(back, 0xAB, sizeof(back));
	assert_int_equal(spp_access_get_bulk(acc, 16000, 1024, back), -EFAULT);
	for (i = 0; i < 1024; i++)
		assert_int_equal(back[i], 0xABABABAB);
	assert_int_equal(spp_access_get_bulk(acc, 16000, 384, back), 0);
	for (i = 0; i < 384; i++)
		assert_int_equal(back[i], i);

	/* NULL */
	assert_int_equal(spp_access_set_bulk(NULL, 0, 1, maps), -EINVAL);
	assert_int_equal(spp_access_set_bulk(acc, 0, 1, NULL), -EINVAL);
	assert_int_equal(spp_access_get_bulk(NULL, 0, 1, back), -EINVAL);
	assert_int_equal(spp_access_get_bulk(acc, 0, 1, NULL), -EINVAL);
	/* overflow */
	assert_int_equal(spp_access_set_bulk(acc, UINT64_MAX - 1, 4, maps),
			 -EINVAL);
	memset(back, 0xAB, sizeof(back));
	assert_int_equal(spp_access_get_bulk(acc, UINT64_MAX - 1, 4, back),
			 -EINVAL);
	assert_int_equal(back[0], 0xABABABAB);
	assert_int_equal(spp_access_set_bulk(acc, 1, UINT64_MAX, maps),
			 -EINVAL);
	assert_int_equal(spp_access_count(acc), 384);
	assert_int_equal(spp_access_lookup(acc, 16001), 1);
	spp_access_destroy(acc);
}

static void test_set_range(void **state)
{
	struct spp_access *acc = new_acc_ram();
	uint64_t i;

	(void)state;
	assert_int_equal(spp_access_set_range(acc, 2000, 3000, 0x0F0F0F0F), 0);
	assert_int_equal(spp_access_count(acc), 3000);
	assert_int_equal(spp_access_lookup(acc, 1999), SPP_ACCESS_FULL);
	for (i = 2000; i < 5000; i++)
		assert_int_equal(spp_access_lookup(acc, i), 0x0F0F0F0F);
	assert_int_equal(spp_access_lookup(acc, 5000), SPP_ACCESS_FULL);

	/* unprotect the middle */
	assert_int_equal(spp_access_set_range(acc, 2500, 1000, SPP_ACCESS_FULL),
			 0);
	assert_int_equal(spp_access_count(acc), 2000);
	assert_int_equal(spp_access_lookup(acc, 2499), 0x0F0F0F0F);
	assert_int_equal(spp_access_lookup(acc, 2500), SPP_ACCESS_FULL);
	assert_int_equal(spp_access_lookup(acc, 3499), SPP_ACCESS_FULL);
	assert_int_equal(spp_access_lookup(acc, 3500), 0x0F0F0F0F);

	/* errors change nothing */
	assert_int_equal(spp_access_set_range(acc, 16000, 1000, 0), -EFAULT);
	assert_int_equal(spp_access_set_range(acc, 4000, 100000,
					      SPP_ACCESS_FULL),
			 -EFAULT);
	assert_int_equal(spp_access_set_range(acc, UINT64_MAX, 2, 0), -EINVAL);
	assert_int_equal(spp_access_set_range(NULL, 0, 1, 0), -EINVAL);
	assert_int_equal(spp_access_set_range(acc, 0, 0, 0), 0);
	assert_int_equal(spp_access_count(acc), 2000);
	assert_int_equal(spp_access_lookup(acc, 16000), SPP_ACCESS_FULL);
	assert_int_equal(spp_access_lookup(acc, 4999), 0x0F0F0F0F);

	assert_int_equal(spp_access_set_range(acc, 0, 16384, SPP_ACCESS_FULL),
			 0);
	assert_int_equal(spp_access_count(acc), 0);
	spp_access_destroy(acc);
}

static void test_lookup_outside_ram(void **state)
{
	struct spp_access *acc = new_acc_ram();

	(void)state;
	set1(acc, 0, 0);
	assert_int_equal(spp_access_lookup(acc, 0), 0);
	assert_int_equal(spp_access_lookup(acc, 16384), SPP_ACCESS_FULL);
	assert_int_equal(spp_access_lookup(acc, SPP_GFN_LIMIT),
			 SPP_ACCESS_FULL);
	assert_int_equal(spp_access_lookup(acc, UINT64_MAX), SPP_ACCESS_FULL);
	spp_access_destroy(acc);
}

/* ---- for_each ------------------------------------------------------------ */

struct visit {
	uint64_t base;
	uint64_t n;
	uint32_t *maps; /* expected map per gfn - base */
	unsigned char *seen;
	uint64_t calls;
	uint64_t stop_after; /* 0: never */
	int stop_value;
};

static int visit_fn(void *ctx, uint64_t gfn, uint32_t map)
{
	struct visit *v = ctx;

	v->calls++;
	assert_true(gfn >= v->base && gfn < v->base + v->n);
	assert_int_not_equal(map, SPP_ACCESS_FULL);
	assert_int_equal(map, v->maps[gfn - v->base]);
	assert_int_equal(v->seen[gfn - v->base], 0);
	v->seen[gfn - v->base] = 1;
	if (v->stop_after && v->calls == v->stop_after)
		return v->stop_value;
	return 0;
}

static void test_for_each(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct visit v;
	uint32_t maps[2048];
	unsigned char seen[2048];
	uint64_t i, expected = 0;

	(void)state;
	memset(&v, 0, sizeof(v));
	v.base = 8000;
	v.n = 2048;
	v.maps = maps;
	v.seen = seen;
	memset(seen, 0, sizeof(seen));

	/* empty store: no call */
	assert_int_equal(spp_access_for_each(acc, visit_fn, &v), 0);
	assert_int_equal(v.calls, 0);

	for (i = 0; i < 2048; i++) {
		maps[i] = (i % 7 == 3 || i == 2047) ? rng_map() :
						      SPP_ACCESS_FULL;
		expected += maps[i] != SPP_ACCESS_FULL;
	}
	assert_int_equal(spp_access_set_bulk(acc, 8000, 2048, maps), 0);
	/* protect then unprotect a page elsewhere: must not be visited */
	set1(acc, 100, 0x1);
	set1(acc, 100, SPP_ACCESS_FULL);

	assert_int_equal(spp_access_for_each(acc, visit_fn, &v), 0);
	assert_int_equal(v.calls, expected);
	for (i = 0; i < 2048; i++)
		assert_int_equal(seen[i], maps[i] != SPP_ACCESS_FULL);

	/* stops at the first non-zero return and passes it on */
	memset(seen, 0, sizeof(seen));
	v.calls = 0;
	v.stop_after = 5;
	v.stop_value = 4242;
	assert_int_equal(spp_access_for_each(acc, visit_fn, &v), 4242);
	assert_int_equal(v.calls, 5);
	v.calls = 0;
	memset(seen, 0, sizeof(seen));
	v.stop_after = 1;
	v.stop_value = -ENOSPC;
	assert_int_equal(spp_access_for_each(acc, visit_fn, &v), -ENOSPC);
	assert_int_equal(v.calls, 1);

	assert_int_equal(spp_access_for_each(NULL, visit_fn, &v), -EINVAL);
	assert_int_equal(spp_access_for_each(acc, NULL, &v), -EINVAL);
	spp_access_destroy(acc);
}

/* ---- count / memory --------------------------------------------------- */

static void test_count_and_memory(void **state)
{
	struct spp_access *acc = new_acc();
	size_t m0, m1, m2;

	(void)state;
	m0 = spp_access_memory(acc);
	/* RAM alone costs nothing per page: a 1 TiB region */
	assert_int_equal(spp_access_add_ram(acc, 0, TIB), 0);
	assert_true(spp_access_memory(acc) < m0 + 64 * 1024);
	assert_int_equal(spp_access_count(acc), 0);

	assert_int_equal(spp_access_set_range(acc, 1 << 20, 10000, 0x3), 0);
	assert_int_equal(spp_access_count(acc), 10000);
	m1 = spp_access_memory(acc);
	assert_true(m1 > m0);
	/* about 24 bytes a page: generous bound of 256 */
	assert_true(m1 < m0 + 10000 * 256);

	assert_int_equal(
		spp_access_set_range(acc, 1 << 20, 10000, SPP_ACCESS_FULL), 0);
	assert_int_equal(spp_access_count(acc), 0);
	m2 = spp_access_memory(acc);
	assert_true(m2 < m1);
	spp_access_destroy(acc);
}

static void test_reserve(void **state)
{
	struct spp_access *acc = new_acc_ram();
	size_t m0, mr;
	uint64_t i;

	(void)state;
	assert_int_equal(spp_access_reserve(NULL, 10), -EINVAL);
	m0 = spp_access_memory(acc);
	assert_int_equal(spp_access_reserve(acc, 10000), 0);
	mr = spp_access_memory(acc);
	/* room for 10000 maps of 4 bytes at the very least */
	assert_true(mr >= m0 + 10000 * 4);

	/* SETs within the reservation allocate nothing */
	for (i = 0; i < 10000; i++)
		set1(acc, i, (uint32_t)i);
	assert_int_equal(spp_access_count(acc), 10000);
	assert_int_equal(spp_access_memory(acc), mr);
	/* and the store does not shrink below it */
	assert_int_equal(spp_access_set_range(acc, 0, 10000, SPP_ACCESS_FULL),
			 0);
	assert_int_equal(spp_access_count(acc), 0);
	assert_int_equal(spp_access_memory(acc), mr);
	set1(acc, 5, 0x5);
	set1(acc, 5, SPP_ACCESS_FULL);
	assert_int_equal(spp_access_memory(acc), mr);

	/* an impossible reservation changes nothing */
	set1(acc, 7, 0x7);
	assert_int_equal(spp_access_reserve(acc, UINT64_MAX), -ENOMEM);
	assert_int_equal(spp_access_memory(acc), mr);
	assert_int_equal(spp_access_count(acc), 1);
	assert_int_equal(get1(acc, 7), 0x7);

	/* 0 drops it: the next SETs may give the room back */
	assert_int_equal(spp_access_reserve(acc, 0), 0);
	set1(acc, 7, SPP_ACCESS_FULL);
	assert_int_equal(spp_access_count(acc), 0);
	assert_true(spp_access_memory(acc) < mr);
	spp_access_destroy(acc);
}

/* ---- attached SPPT ------------------------------------------------------ */

static struct spp_sppt *new_sppt(void)
{
	struct spp_sppt *s = NULL;

	assert_int_equal(spp_sppt_create(&s, SPP_SPPT_DEFAULT_BASE,
					 SPP_SPPT_DEFAULT_MAXPHYADDR),
			 0);
	assert_non_null(s);
	return s;
}

static uint64_t vec_of(const struct spp_sppt *s, uint64_t gfn)
{
	uint64_t v = 0xDEAD;

	assert_int_equal(spp_sppt_get_vector(s, gfn, &v), 0);
	return v;
}

/* Whether root entry @i of @s is present. */
static int rd_root_present(struct spp_sppt *s, uint64_t i)
{
	uint64_t e = 0;

	assert_int_equal(spp_sppt_read(s, spp_sppt_spptp(s) + i * 8, &e), 0);
	return (int)(e & 1);
}

static void test_attach_existing_pages(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_sppt *s = new_sppt();
	uint64_t v;

	(void)state;
	set1(acc, 0x10, 0x1);
	set1(acc, 0x11, 0x80000000u);
	set1(acc, 0x2345, 0);
	assert_int_equal(spp_sppt_table_count(s), 1);

	assert_int_equal(spp_access_attach_sppt(acc, s), 0);
	assert_int_equal(vec_of(s, 0x10), 0x1);
	assert_int_equal(vec_of(s, 0x11), 1ULL << 62);
	assert_int_equal(vec_of(s, 0x12), SPP_VECTOR_FULL);
	assert_int_equal(vec_of(s, 0x2345), 0);
	assert_int_equal(vec_of(s, 0x2344), SPP_VECTOR_FULL);
	/* gfn 0x10 and 0x2345 sit in different 2 MiB blocks of one 1 GiB */
	assert_int_equal(spp_sppt_table_count(s), 5);
	/* a 2 MiB block without protected pages has no level-1 table */
	assert_int_equal(spp_sppt_get_vector(s, 0x1000, &v), -ENOENT);

	/* the store is unaffected */
	assert_int_equal(spp_access_count(acc), 3);
	assert_int_equal(get1(acc, 0x11), 0x80000000u);

	assert_int_equal(spp_access_attach_sppt(acc, NULL), 0);
	spp_sppt_destroy(s);
	spp_access_destroy(acc);
}

static void test_attach_later_sets(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_sppt *s = new_sppt();
	struct spp_subpage *r;
	uint64_t v;
	unsigned int i;

	(void)state;
	assert_int_equal(spp_access_attach_sppt(acc, s), 0);
	assert_int_equal(spp_sppt_table_count(s), 1);

	set1(acc, 0x400, 0x12345678);
	assert_int_equal(vec_of(s, 0x400), spp_vector_from_map(0x12345678));
	assert_int_equal(spp_sppt_table_count(s), 4);

	r = req_alloc(0x600, 512, 0);
	for (i = 0; i < 512; i++)
		r->access_map[i] = 0xFFFF0000u ^ i;
	assert_int_equal(spp_access_set(acc, r), 512);
	for (i = 0; i < 512; i++)
		assert_int_equal(vec_of(s, 0x600 + i),
				 spp_vector_from_map(0xFFFF0000u ^ i));
	free(r);

	assert_int_equal(spp_access_set_range(acc, 0x1000, 3, 0xF), 0);
	assert_int_equal(vec_of(s, 0x1001), 0x55);
	{
		uint32_t maps[2] = { 0x3, SPP_ACCESS_FULL };

		assert_int_equal(spp_access_set_bulk(acc, 0x1001, 2, maps), 0);
		assert_int_equal(vec_of(s, 0x1001), 0x5);
		assert_int_equal(vec_of(s, 0x1002), SPP_VECTOR_FULL);
	}

	/* unprotecting a whole 2 MiB block drops its level-1 table */
	assert_int_equal(spp_access_set_range(acc, 0x1000, 3, SPP_ACCESS_FULL),
			 0);
	assert_int_equal(spp_sppt_get_vector(s, 0x1000, &v), -ENOENT);
	set1(acc, 0x400, SPP_ACCESS_FULL);
	assert_int_equal(spp_sppt_get_vector(s, 0x400, &v), -ENOENT);
	assert_int_equal(vec_of(s, 0x600), spp_vector_from_map(0xFFFF0000u));
	assert_int_equal(spp_access_set_range(acc, 0x600, 512, SPP_ACCESS_FULL),
			 0);
	assert_int_equal(spp_sppt_table_count(s), 1);
	assert_int_equal(spp_access_count(acc), 0);

	/* detached: SETs no longer reach the table */
	assert_int_equal(spp_access_attach_sppt(acc, NULL), 0);
	set1(acc, 0x400, 0x1);
	assert_int_equal(spp_sppt_get_vector(s, 0x400, &v), -ENOENT);
	assert_int_equal(spp_sppt_table_count(s), 1);
	spp_sppt_destroy(s);
	spp_access_destroy(acc);
}

static void test_attach_failed_set_leaves_sppt(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_sppt *s = new_sppt();
	struct spp_subpage *r;
	size_t tables;
	uint64_t v;
	unsigned int i;

	(void)state;
	assert_int_equal(spp_access_attach_sppt(acc, s), 0);
	/* 16376..16383: the last pages of RAM */
	assert_int_equal(spp_access_set_range(acc, 16376, 8, 0xAAAA), 0);
	tables = spp_sppt_table_count(s);

	/* partly outside RAM */
	r = req_alloc(16370, 20, 0);
	for (i = 0; i < 20; i++)
		r->access_map[i] = 0x1;
	assert_int_equal(spp_access_set(acc, r), -EFAULT);
	free(r);
	/* bad flags */
	r = req_alloc(16376, 1, 4);
	r->access_map[0] = 0;
	assert_int_equal(spp_access_set(acc, r), -EINVAL);
	free(r);
	/* a failing unprotect */
	assert_int_equal(spp_access_set_range(acc, 16376, 20, SPP_ACCESS_FULL),
			 -EFAULT);

	for (i = 16370; i < 16376; i++)
		assert_int_equal(vec_of(s, i), SPP_VECTOR_FULL);
	for (i = 16376; i < 16384; i++)
		assert_int_equal(vec_of(s, i), spp_vector_from_map(0xAAAA));
	assert_int_equal(spp_sppt_get_vector(s, 16384, &v), -ENOENT);
	assert_int_equal(spp_sppt_table_count(s), tables);
	assert_int_equal(spp_access_count(acc), 8);

	/* a failing SET into a fresh 2 MiB block creates no table */
	assert_int_equal(spp_access_set_range(acc, 1024, 20000, 0), -EFAULT);
	assert_int_equal(spp_sppt_get_vector(s, 1024, &v), -ENOENT);
	assert_int_equal(spp_sppt_table_count(s), tables);

	assert_int_equal(spp_access_attach_sppt(acc, NULL), 0);
	spp_sppt_destroy(s);
	spp_access_destroy(acc);
}

static void test_attach_busy(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_sppt *s = new_sppt();
	uint32_t m = 0x1;
	uint64_t v;

	(void)state;
	set1(acc, 5, 0x77);
	assert_int_equal(spp_sppt_set(s, 9, 1, &m), 0);
	assert_int_equal(spp_access_attach_sppt(acc, s), -EBUSY);
	/* nothing attached, nothing changed in the table */
	assert_int_equal(spp_sppt_get_vector(s, 5, &v), 0);
	assert_int_equal(v, SPP_VECTOR_FULL);
	assert_int_equal(vec_of(s, 9), 0x1);
	set1(acc, 6, 0x0);
	assert_int_equal(vec_of(s, 6), SPP_VECTOR_FULL);
	assert_int_equal(spp_sppt_table_count(s), 4);

	/* once the table is empty again, attaching works */
	m = SPP_ACCESS_FULL;
	assert_int_equal(spp_sppt_set(s, 9, 1, &m), 0);
	assert_int_equal(spp_sppt_table_count(s), 1);
	assert_int_equal(spp_access_attach_sppt(acc, s), 0);
	assert_int_equal(vec_of(s, 5), spp_vector_from_map(0x77));
	assert_int_equal(vec_of(s, 6), 0);

	assert_int_equal(spp_access_attach_sppt(NULL, s), -EINVAL);
	assert_int_equal(spp_access_attach_sppt(acc, NULL), 0);
	spp_sppt_destroy(s);
	spp_access_destroy(acc);
}

/*
 * An SPPT with room for only a few tables (they must fit below
 * 2^maxphyaddr) makes SETs fail with -ENOMEM: the store and the table
 * must both stay as they were.
 */
static struct spp_sppt *new_small_sppt(unsigned int ntables)
{
	struct spp_sppt *s = NULL;

	assert_int_equal(
		spp_sppt_create(&s, (1ULL << 36) - ntables * 4096ULL, 36), 0);
	return s;
}

static void test_attach_enomem_set_all_or_nothing(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_sppt *s = new_small_sppt(4);
	struct spp_subpage *r;
	uint64_t v;
	unsigned int i;

	(void)state;
	assert_int_equal(spp_access_attach_sppt(acc, s), 0);
	/* block 0 (gfn 0..511) takes all four tables */
	assert_int_equal(spp_access_set_range(acc, 500, 12, 0x0F), 0);
	assert_int_equal(spp_sppt_table_count(s), 4);
	assert_int_equal(spp_access_count(acc), 12);

	/* 505..516 would change 505..511 and need a table for block 1 */
	r = req_alloc(505, 12, 0);
	for (i = 0; i < 12; i++)
		r->access_map[i] = 0xF0000000u | i;
	assert_int_equal(spp_access_set(acc, r), -ENOMEM);
	free(r);
	assert_int_equal(spp_access_set_range(acc, 505, 12, 0), -ENOMEM);
	{
		uint32_t maps[2] = { 1, 2 };

		assert_int_equal(spp_access_set_bulk(acc, 511, 2, maps),
				 -ENOMEM);
	}

	/* nothing changed, in the store or in the table */
	assert_int_equal(spp_access_count(acc), 12);
	for (i = 500; i < 512; i++) {
		assert_int_equal(spp_access_lookup(acc, i), 0x0F);
		assert_int_equal(vec_of(s, i), 0x55);
	}
	for (i = 512; i < 520; i++)
		assert_int_equal(spp_access_lookup(acc, i), SPP_ACCESS_FULL);
	assert_int_equal(spp_sppt_get_vector(s, 512, &v), -ENOENT);
	assert_int_equal(spp_sppt_table_count(s), 4);

	/* a SET inside block 0 still works */
	assert_int_equal(spp_access_set_range(acc, 0, 3, 0x1), 0);
	assert_int_equal(vec_of(s, 2), 0x1);
	assert_int_equal(spp_access_count(acc), 15);

	assert_int_equal(spp_access_attach_sppt(acc, NULL), 0);
	spp_sppt_destroy(s);
	spp_access_destroy(acc);
}

static void test_attach_enomem_leaves_sppt(void **state)
{
	struct spp_access *acc = new_acc_ram();
	struct spp_sppt *s = new_small_sppt(5);
	uint64_t v, i;

	(void)state;
	/* three 2 MiB blocks: root + L3 + L2 + 3 L1 = 6 tables > 5 */
	set1(acc, 10, 0x1);
	set1(acc, 600, 0x2);
	set1(acc, 1200, 0x3);
	assert_int_equal(spp_access_attach_sppt(acc, s), -ENOMEM);
	assert_int_equal(spp_sppt_table_count(s), 1);
	for (i = 0; i < 512; i++)
		assert_int_equal(rd_root_present(s, i), 0);
	assert_int_equal(spp_sppt_get_vector(s, 10, &v), -ENOENT);
	assert_int_equal(spp_sppt_get_vector(s, 600, &v), -ENOENT);
	/* not attached: SETs do not reach the table */
	set1(acc, 11, 0x4);
	assert_int_equal(spp_sppt_table_count(s), 1);
	assert_int_equal(spp_access_count(acc), 4);

	/* two blocks fit */
	set1(acc, 1200, SPP_ACCESS_FULL);
	assert_int_equal(spp_access_attach_sppt(acc, s), 0);
	assert_int_equal(spp_sppt_table_count(s), 5);
	assert_int_equal(vec_of(s, 10), 0x1);
	assert_int_equal(vec_of(s, 11), 0x10);
	assert_int_equal(vec_of(s, 600), 0x4);
	assert_int_equal(spp_access_attach_sppt(acc, NULL), 0);
	spp_sppt_destroy(s);
	spp_access_destroy(acc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_destroy),
		cmocka_unit_test(test_add_ram_invalid),
		cmocka_unit_test(test_add_ram_overlap),
		cmocka_unit_test(test_is_ram_edges),
		cmocka_unit_test(test_remove_ram),
		cmocka_unit_test(test_set_invalid_args),
		cmocka_unit_test(test_set_npages_zero),
		cmocka_unit_test(test_set_get_512),
		cmocka_unit_test(test_set_returns_npages),
		cmocka_unit_test(test_set_outside_ram),
		cmocka_unit_test(test_set_partly_outside_ram_all_or_nothing),
		cmocka_unit_test(test_set_across_hole),
		cmocka_unit_test(test_set_overflow),
		cmocka_unit_test(test_get_unprotected_full),
		cmocka_unit_test(test_get_errors_leave_buffer),
		cmocka_unit_test(test_set_full_unprotects),
		cmocka_unit_test(test_set_full_on_unprotected),
		cmocka_unit_test(test_bulk_large),
		cmocka_unit_test(test_bulk_errors),
		cmocka_unit_test(test_set_range),
		cmocka_unit_test(test_lookup_outside_ram),
		cmocka_unit_test(test_for_each),
		cmocka_unit_test(test_count_and_memory),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_attach_existing_pages),
		cmocka_unit_test(test_attach_later_sets),
		cmocka_unit_test(test_attach_failed_set_leaves_sppt),
		cmocka_unit_test(test_attach_busy),
		cmocka_unit_test(test_attach_enomem_set_all_or_nothing),
		cmocka_unit_test(test_attach_enomem_leaves_sppt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
