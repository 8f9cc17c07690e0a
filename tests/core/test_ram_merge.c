// SPDX-License-Identifier: MIT
/*
 * test_ram_merge.c - spp_access_merge_ram() and spp_access_trim_ram()
 * (spp/access.h): the RAM map of an embedder whose memslots come and go.
 * Merge adds exactly the parts not registered yet (regions of their own,
 * so remove_ram still finds the regions it was given), trim cuts regions
 * and keeps each protected page registered with its map; bad arguments
 * change nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <spp/spp.h>

#define PG(n) ((uint64_t)(n) << SPP_PAGE_SHIFT)
#define MAP_A 0x0F0F0F0Fu
#define MAP_B 0xFFFF0000u

static int setup(void **state)
{
	struct spp_access *acc = NULL;

	assert_int_equal(spp_access_create(&acc), 0);
	*state = acc;
	return 0;
}

static int teardown(void **state)
{
	spp_access_destroy(*state);
	return 0;
}

/* Every page of [@gfn, @gfn + @n) is RAM (@want) or not, one by one. */
static void assert_ram(const struct spp_access *acc, uint64_t gfn, uint64_t n,
		       bool want)
{
	uint64_t k;

	for (k = 0; k < n; k++)
		if (spp_access_is_ram(acc, gfn + k, 1) != want)
			fail_msg("page 0x%llx: RAM %d, expected %d",
				 (unsigned long long)(gfn + k), !want, want);
}

static void add(struct spp_access *acc, uint64_t gfn, uint64_t n)
{
	assert_int_equal(spp_access_add_ram(acc, PG(gfn), PG(n)), 0);
}

static void protect(struct spp_access *acc, uint64_t gfn, uint32_t map)
{
	assert_int_equal(spp_access_set_range(acc, gfn, 1, map), 0);
}

/* KVM-shaped GET of one page: its result and the map it gave. */
static int get1(const struct spp_access *acc, uint64_t gfn, uint32_t *map)
{
	struct {
		struct spp_subpage h;
		uint32_t map[1];
	} r = { .h = { .gfn_base = gfn, .npages = 1 }, .map = { 0x5A5A5A5A } };
	int ret = spp_access_get(acc, &r.h);

	*map = r.map[0];
	return ret;
}

static int set1(struct spp_access *acc, uint64_t gfn, uint32_t map)
{
	struct {
		struct spp_subpage h;
		uint32_t map[1];
	} r = { .h = { .gfn_base = gfn, .npages = 1 }, .map = { map } };

	return spp_access_set(acc, &r.h);
}

/* Union over gaps: the gaps become regions of their own, the regions
 * that were there stay exactly as given. */
static void test_merge_over_gaps(void **state)
{
	struct spp_access *acc = *state;

	add(acc, 10, 10);
	add(acc, 30, 10);
	assert_int_equal(spp_access_merge_ram(acc, PG(5), PG(45)), 0);
	assert_ram(acc, 0, 5, false);
	assert_ram(acc, 5, 45, true);
	assert_ram(acc, 50, 10, false);
	assert_true(spp_access_is_ram(acc, 5, 45));
	/* the original regions are still found exactly */
	assert_int_equal(spp_access_remove_ram(acc, PG(10), PG(10)), 0);
	assert_ram(acc, 10, 10, false);
	assert_ram(acc, 5, 5, true);
	assert_ram(acc, 20, 30, true);
	assert_int_equal(spp_access_remove_ram(acc, PG(30), PG(10)), 0);
	/* and so are the added gaps */
	assert_int_equal(spp_access_remove_ram(acc, PG(5), PG(5)), 0);
	assert_int_equal(spp_access_remove_ram(acc, PG(20), PG(10)), 0);
	assert_int_equal(spp_access_remove_ram(acc, PG(40), PG(10)), 0);
	assert_ram(acc, 0, 60, false);
}

/* A merge that starts or ends inside a region, or touches one. */
static void test_merge_partial_and_adjacent(void **state)
{
	struct spp_access *acc = *state;

	add(acc, 10, 10);
	/* adjacent above and below */
	assert_int_equal(spp_access_merge_ram(acc, PG(20), PG(5)), 0);
	assert_int_equal(spp_access_merge_ram(acc, PG(7), PG(3)), 0);
	assert_ram(acc, 6, 1, false);
	assert_ram(acc, 7, 18, true);
	assert_ram(acc, 25, 1, false);
	/* overlapping both ends of [7, 25) */
	assert_int_equal(spp_access_merge_ram(acc, PG(3), PG(30)), 0);
	assert_ram(acc, 3, 30, true);
	assert_ram(acc, 33, 1, false);
	assert_ram(acc, 2, 1, false);
	assert_int_equal(spp_access_remove_ram(acc, PG(10), PG(10)), 0);
	assert_int_equal(spp_access_remove_ram(acc, PG(20), PG(5)), 0);
	assert_int_equal(spp_access_remove_ram(acc, PG(7), PG(3)), 0);
	assert_int_equal(spp_access_remove_ram(acc, PG(3), PG(4)), 0);
	assert_int_equal(spp_access_remove_ram(acc, PG(25), PG(8)), 0);
	assert_ram(acc, 0, 40, false);
	/* into an empty map: one region */
	assert_int_equal(spp_access_merge_ram(acc, PG(100), PG(4)), 0);
	assert_ram(acc, 100, 4, true);
	assert_int_equal(spp_access_remove_ram(acc, PG(100), PG(4)), 0);
}

/* Merging RAM that is there adds nothing: no region appears that a
 * remove_ram would then leave behind. */
static void test_merge_idempotent(void **state)
{
	struct spp_access *acc = *state;

	add(acc, 10, 10);
	assert_int_equal(spp_access_merge_ram(acc, PG(10), PG(10)), 0);
	assert_int_equal(spp_access_merge_ram(acc, PG(12), PG(3)), 0);
	assert_int_equal(spp_access_merge_ram(acc, PG(30), PG(2)), 0);
	assert_int_equal(spp_access_merge_ram(acc, PG(30), PG(2)), 0);
	assert_int_equal(spp_access_remove_ram(acc, PG(10), PG(10)), 0);
	assert_ram(acc, 0, 30, false);
	assert_int_equal(spp_access_remove_ram(acc, PG(30), PG(2)), 0);
	assert_ram(acc, 0, 40, false);
	assert_int_equal(spp_access_remove_ram(acc, PG(30), PG(2)), -ENOENT);
}

/* Merged RAM is RAM for SET/GET and keeps the maps there. */
static void test_merge_keeps_maps(void **state)
{
	struct spp_access *acc = *state;
	uint32_t m;

	add(acc, 10, 10);
	protect(acc, 12, MAP_A);
	assert_int_equal(set1(acc, 25, MAP_B), -EFAULT);
	assert_int_equal(spp_access_merge_ram(acc, PG(0), PG(30)), 0);
	assert_int_equal(get1(acc, 12, &m), 1);
	assert_int_equal(m, MAP_A);
	assert_int_equal(set1(acc, 25, MAP_B), 1);
	assert_int_equal(spp_access_lookup(acc, 25), MAP_B);
	assert_int_equal(spp_access_count(acc), 2);
	/* protected: the region is busy, the unprotected gaps are not */
	assert_int_equal(spp_access_remove_ram(acc, PG(10), PG(10)), -EBUSY);
	assert_int_equal(spp_access_remove_ram(acc, PG(0), PG(10)), 0);
}

/* Trim cuts a region in two, removes whole ones and leaves the rest. */
static void test_trim_splits(void **state)
{
	struct spp_access *acc = *state;
	uint32_t m;

	add(acc, 10, 30);
	add(acc, 50, 10);
	add(acc, 60, 10);
	assert_int_equal(spp_access_trim_ram(acc, PG(20), PG(10)), 0);
	assert_ram(acc, 10, 10, true);
	assert_ram(acc, 20, 10, false);
	assert_ram(acc, 30, 10, true);
	assert_int_equal(set1(acc, 25, MAP_A), -EFAULT);
	assert_int_equal(get1(acc, 25, &m), -EFAULT);
	assert_int_equal(m, 0x5A5A5A5A);
	assert_int_equal(set1(acc, 15, MAP_A), 1);
	assert_int_equal(set1(acc, 15, SPP_ACCESS_FULL), 1);
	/* the pieces are regions: remove_ram finds them */
	assert_int_equal(spp_access_remove_ram(acc, PG(10), PG(10)), 0);
	assert_int_equal(spp_access_remove_ram(acc, PG(30), PG(10)), 0);
	/* across a region boundary and past the end of RAM */
	assert_int_equal(spp_access_trim_ram(acc, PG(55), PG(100)), 0);
	assert_ram(acc, 50, 5, true);
	assert_ram(acc, 55, 20, false);
	assert_int_equal(spp_access_remove_ram(acc, PG(50), PG(5)), 0);
	assert_ram(acc, 0, 200, false);
	/* no RAM there: nothing to do */
	assert_int_equal(spp_access_trim_ram(acc, PG(0), PG(100)), 0);
	assert_ram(acc, 0, 200, false);
}

/* A trimmed protected page stays registered with its map; its unprotected
 * neighbours are gone; the protection holds when RAM comes back. */
static void test_trim_keeps_protected(void **state)
{
	struct spp_access *acc = *state;
	uint32_t m;

	add(acc, 10, 30);
	protect(acc, 22, MAP_A);
	protect(acc, 23, MAP_B);
	protect(acc, 27, MAP_A);
	protect(acc, 35, MAP_B); /* outside the trim */
	assert_int_equal(spp_access_trim_ram(acc, PG(20), PG(10)), 0);
	assert_ram(acc, 10, 10, true);
	assert_ram(acc, 20, 2, false);
	assert_ram(acc, 22, 2, true);
	assert_ram(acc, 24, 3, false);
	assert_ram(acc, 27, 1, true);
	assert_ram(acc, 28, 2, false);
	assert_ram(acc, 30, 10, true);
	assert_int_equal(spp_access_count(acc), 4);
	assert_int_equal(get1(acc, 22, &m), 1);
	assert_int_equal(m, MAP_A);
	assert_int_equal(get1(acc, 23, &m), 1);
	assert_int_equal(m, MAP_B);
	assert_int_equal(spp_access_lookup(acc, 27), MAP_A);
	assert_int_equal(spp_access_lookup(acc, 35), MAP_B);
	/* SET/GET: the kept page yes, the pages beside it not */
	assert_int_equal(set1(acc, 21, MAP_A), -EFAULT);
	assert_int_equal(get1(acc, 24, &m), -EFAULT);
	assert_int_equal(set1(acc, 27, MAP_B), 1);
	assert_int_equal(spp_access_lookup(acc, 27), MAP_B);
	/* and the write check on a kept page still judges by its map */
	{
		struct spp_write_verdict v;

		assert_int_equal(spp_access_check_write(acc, PG(22) + 4 * 128,
							4, &v),
				 0);
		assert_false(v.allowed);
	}
	/* RAM comes back: the maps hold, the whole range is RAM again */
	assert_int_equal(spp_access_merge_ram(acc, PG(20), PG(10)), 0);
	assert_ram(acc, 10, 30, true);
	assert_int_equal(spp_access_lookup(acc, 22), MAP_A);
	assert_int_equal(spp_access_lookup(acc, 23), MAP_B);
	assert_int_equal(spp_access_lookup(acc, 27), MAP_B);
	assert_int_equal(spp_access_lookup(acc, 21), SPP_ACCESS_FULL);
	assert_int_equal(set1(acc, 21, MAP_A), 1);
	assert_int_equal(spp_access_count(acc), 5);
}

/* A kept page, once unprotected, goes with the next trim. */
static void test_trim_after_unprotect(void **state)
{
	struct spp_access *acc = *state;

	add(acc, 10, 10);
	protect(acc, 12, MAP_A);
	assert_int_equal(spp_access_trim_ram(acc, PG(10), PG(10)), 0);
	assert_ram(acc, 10, 2, false);
	assert_ram(acc, 12, 1, true);
	assert_ram(acc, 13, 7, false);
	assert_int_equal(set1(acc, 12, SPP_ACCESS_FULL), 1);
	assert_ram(acc, 12, 1, true); /* still registered */
	assert_int_equal(spp_access_remove_ram(acc, PG(12), PG(1)), 0);
	assert_ram(acc, 0, 30, false);
	add(acc, 10, 10);
	protect(acc, 12, MAP_A);
	assert_int_equal(spp_access_trim_ram(acc, PG(10), PG(10)), 0);
	assert_int_equal(set1(acc, 12, SPP_ACCESS_FULL), 1);
	assert_int_equal(spp_access_trim_ram(acc, PG(0), PG(30)), 0);
	assert_ram(acc, 0, 30, false);
	assert_int_equal(spp_access_count(acc), 0);
}

/*
 * Both ways trim finds protected pages: walking the range (range smaller
 * than the protected count) and walking the map (a huge range with few
 * protected pages).
 */
static void test_trim_large_and_dense(void **state)
{
	struct spp_access *acc = *state;
	uint64_t k, base = 1ULL << 20; /* 4 GiB */

	/* huge range, three protected pages */
	add(acc, base, 1ULL << 18); /* 1 GiB */
	protect(acc, base + 7, MAP_A);
	protect(acc, base + 100000, MAP_B);
	protect(acc, base + (1ULL << 18) - 1, MAP_A);
	assert_int_equal(spp_access_trim_ram(acc, PG(base), PG(1ULL << 18)), 0);
	assert_false(spp_access_is_ram(acc, base, 7));
	assert_true(spp_access_is_ram(acc, base + 7, 1));
	assert_false(spp_access_is_ram(acc, base + 8, 1));
	assert_true(spp_access_is_ram(acc, base + 100000, 1));
	assert_false(spp_access_is_ram(acc, base + 100001, 1));
	assert_true(spp_access_is_ram(acc, base + (1ULL << 18) - 1, 1));
	assert_false(spp_access_is_ram(acc, base + (1ULL << 18) - 2, 1));
	assert_int_equal(spp_access_lookup(acc, base + 100000), MAP_B);

	/* dense: 200 protected pages, a trim of 20 */
	add(acc, 1000, 300);
	for (k = 0; k < 200; k++)
		protect(acc, 1000 + k * 3 / 2, k & 1 ? MAP_A : MAP_B);
	assert_int_equal(spp_access_trim_ram(acc, PG(1100), PG(20)), 0);
	for (k = 1100; k < 1120; k++)
		assert_int_equal(spp_access_is_ram(acc, k, 1),
				 spp_access_lookup(acc, k) != SPP_ACCESS_FULL);
	assert_ram(acc, 1000, 100, true);
	assert_ram(acc, 1120, 180, true);
	assert_int_equal(spp_access_count(acc), 203);
}

/* Bad arguments: -EINVAL and the RAM map and maps exactly as before. */
static void test_bad_args(void **state)
{
	struct spp_access *acc = *state;
	static const struct {
		uint64_t base, size;
	} bad[] = {
		{ PG(10), 0 },
		{ PG(10) + 1, PG(1) },
		{ PG(10), PG(1) + 8 },
		{ 1ULL << 48, PG(1) },
		{ (1ULL << 48) - PG(1), PG(2) },
		{ UINT64_MAX & ~0xFFFULL, PG(2) },
		{ PG(1), UINT64_MAX & ~0xFFFULL },
	};
	size_t i;

	add(acc, 10, 10);
	protect(acc, 12, MAP_A);
	assert_int_equal(spp_access_merge_ram(NULL, PG(0), PG(1)), -EINVAL);
	assert_int_equal(spp_access_trim_ram(NULL, PG(0), PG(1)), -EINVAL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(spp_access_merge_ram(acc, bad[i].base,
						      bad[i].size),
				 -EINVAL);
		assert_int_equal(spp_access_trim_ram(acc, bad[i].base,
						     bad[i].size),
				 -EINVAL);
		assert_ram(acc, 0, 10, false);
		assert_ram(acc, 10, 10, true);
		assert_ram(acc, 20, 10, false);
		assert_int_equal(spp_access_lookup(acc, 12), MAP_A);
		assert_int_equal(spp_access_count(acc), 1);
	}
	/* the region is still the one given */
	assert_int_equal(spp_access_set_range(acc, 12, 1, SPP_ACCESS_FULL), 0);
	assert_int_equal(spp_access_remove_ram(acc, PG(10), PG(10)), 0);
	/* the last page below 2^48 is fine */
	assert_int_equal(spp_access_merge_ram(acc, (1ULL << 48) - PG(1), PG(1)),
			 0);
	assert_int_equal(spp_access_trim_ram(acc, (1ULL << 48) - PG(1), PG(1)),
			 0);
	assert_false(spp_access_is_ram(acc, ((1ULL << 48) >> 12) - 1, 1));
}

/* Many merge/trim rounds against a page-by-page model. */
static void test_random_against_model(void **state)
{
	struct spp_access *acc = *state;
	enum { N = 256 };
	bool ram[N] = { 0 }, prot[N] = { 0 };
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	int round;

	for (round = 0; round < 3000; round++) {
		uint64_t a, n, k;
		int op;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		a = x % N;
		n = 1 + (x >> 20) % (N - a);
		op = (int)((x >> 40) % 3);
		if (op == 0) {
			assert_int_equal(
				spp_access_merge_ram(acc, PG(a), PG(n)), 0);
			for (k = a; k < a + n; k++)
				ram[k] = true;
		} else if (op == 1) {
			assert_int_equal(spp_access_trim_ram(acc, PG(a), PG(n)),
					 0);
			for (k = a; k < a + n; k++)
				ram[k] = prot[k];
		} else {
			uint32_t map = (x >> 33) & 1 ? MAP_A : SPP_ACCESS_FULL;

			assert_int_equal(set1(acc, a, map),
					 ram[a] ? 1 : -EFAULT);
			if (ram[a])
				prot[a] = map != SPP_ACCESS_FULL;
		}
		for (k = 0; k < N; k++) {
			if (spp_access_is_ram(acc, k, 1) != ram[k])
				fail_msg("round %d: page %llu RAM %d, model %d",
					 round, (unsigned long long)k, !ram[k],
					 ram[k]);
			assert_int_equal(spp_access_lookup(acc, k) !=
						 SPP_ACCESS_FULL,
					 prot[k]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_merge_over_gaps),
		T(test_merge_partial_and_adjacent),
		T(test_merge_idempotent),
		T(test_merge_keeps_maps),
		T(test_trim_splits),
		T(test_trim_keeps_protected),
		T(test_trim_after_unprotect),
		T(test_trim_large_and_dense),
		T(test_bad_args),
		T(test_random_against_model),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
