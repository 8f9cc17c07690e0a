// SPDX-License-Identifier: MIT
/*
 * test_check.c - spp_access_check_write(): the strict multi-sub-page rule
 * (spec §1.6 "Writes that span sub-pages or pages", §6 item 1), page
 * crossing, unprotected and non-RAM pages, argument checks, and an
 * exhaustive comparison with a brute-force reference.
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
#define RAM_SIZE (64 * MIB)
#define RAM_PAGES (RAM_SIZE >> 12)

/* The test page A and its neighbours. */
#define GFN_A 0x100ULL
#define GPA_A (GFN_A << 12)
#define GFN_B (GFN_A + 1)
#define GPA_B (GFN_B << 12)

static uint64_t rng_state = 0xA5A5A5A55A5A5A5AULL;

static uint32_t rng32(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return (uint32_t)(x >> 11);
}

static struct spp_access *new_acc(void)
{
	struct spp_access *acc = NULL;

	assert_int_equal(spp_access_create(&acc), 0);
	assert_int_equal(spp_access_add_ram(acc, 0, RAM_SIZE), 0);
	return acc;
}

static void set_map(struct spp_access *acc, uint64_t gfn, uint32_t map)
{
	assert_int_equal(spp_access_set_range(acc, gfn, 1, map), 0);
	assert_int_equal(spp_access_lookup(acc, gfn), map);
}

static struct spp_write_verdict check(const struct spp_access *acc,
				      uint64_t gpa, uint32_t len)
{
	struct spp_write_verdict v;

	memset(&v, 0xCC, sizeof(v));
	assert_int_equal(spp_access_check_write(acc, gpa, len, &v), 0);
	return v;
}

static void expect_allowed(const struct spp_access *acc, uint64_t gpa,
			   uint32_t len, unsigned int touched, bool crosses)
{
	struct spp_write_verdict v = check(acc, gpa, len);

	assert_true(v.allowed);
	assert_int_equal(v.subpages_touched, touched);
	assert_int_equal(v.crosses_page, crosses);
}

static void expect_denied(const struct spp_access *acc, uint64_t gpa,
			  uint32_t len, uint64_t denied_gfn,
			  unsigned int denied_subpage, unsigned int touched,
			  bool crosses)
{
	struct spp_write_verdict v = check(acc, gpa, len);

	assert_false(v.allowed);
	assert_int_equal(v.denied_gfn, denied_gfn);
	assert_int_equal(v.denied_subpage, denied_subpage);
	assert_int_equal(v.denied_gpa,
			 (denied_gfn << 12) + denied_subpage * 128ULL);
	assert_int_equal(v.subpages_touched, touched);
	assert_int_equal(v.crosses_page, crosses);
}

/* ---- argument checks --------------------------------------------------- */

static void test_invalid_args(void **state)
{
	struct spp_access *acc = new_acc();
	struct spp_write_verdict v;

	(void)state;
	assert_int_equal(spp_access_check_write(NULL, GPA_A, 1, &v), -EINVAL);
	assert_int_equal(spp_access_check_write(acc, GPA_A, 1, NULL), -EINVAL);
	assert_int_equal(spp_access_check_write(acc, GPA_A, 0, &v), -EINVAL);
	assert_int_equal(spp_access_check_write(acc, GPA_A, 4097, &v), -EINVAL);
	assert_int_equal(spp_access_check_write(acc, GPA_A, 8192, &v), -EINVAL);
	assert_int_equal(spp_access_check_write(acc, GPA_A, UINT32_MAX, &v),
			 -EINVAL);
	/* gpa + len overflows 64 bits */
	assert_int_equal(spp_access_check_write(acc, UINT64_MAX, 1, &v),
			 -EINVAL);
	assert_int_equal(spp_access_check_write(acc, UINT64_MAX - 3, 8, &v),
			 -EINVAL);
	/* beyond the 48-bit GPA space */
	assert_int_equal(spp_access_check_write(acc, 1ULL << 48, 1, &v),
			 -EINVAL);
	assert_int_equal(spp_access_check_write(acc, (1ULL << 48) - 1, 2, &v),
			 -EINVAL);
	assert_int_equal(spp_access_check_write(acc, (1ULL << 48) - 4095, 4096,
						&v),
			 -EINVAL);
	assert_int_equal(spp_access_check_write(acc, 1ULL << 52, 4, &v),
			 -EINVAL);
	/* right up to the end of the 48-bit space is fine */
	expect_allowed(acc, (1ULL << 48) - 1, 1, 1, false);
	expect_allowed(acc, (1ULL << 48) - 4096, 4096, 32, false);
	expect_allowed(acc, (1ULL << 48) - 4097, 4096, 33, true);
	spp_access_destroy(acc);
}

/* ---- aligned writes within one sub-page --------------------------------- */

static void test_aligned_writes(void **state)
{
	struct spp_access *acc = new_acc();
	/* sub-pages 0, 15, 27 denied */
	const uint32_t map = ~((1u << 0) | (1u << 15) | (1u << 27));
	static const uint32_t sizes[] = { 1, 2, 4, 8, 16, 64, 128 };
	unsigned int s;

	(void)state;
	set_map(acc, GFN_A, map);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t len = sizes[s];
		uint64_t off;

		for (off = 0; off < 4096; off += len) {
			unsigned int sp = (unsigned int)(off >> 7);

			if (map & (1u << sp))
				expect_allowed(acc, GPA_A + off, len, 1, false);
			else
				expect_denied(acc, GPA_A + off, len, GFN_A, sp,
					      1, false);
		}
	}
	spp_access_destroy(acc);
}

static void test_fully_protected_page(void **state)
{
	struct spp_access *acc = new_acc();
	uint64_t off;

	(void)state;
	set_map(acc, GFN_A, 0);
	for (off = 0; off < 4096; off += 8)
		expect_denied(acc, GPA_A + off, 8, GFN_A,
			      (unsigned int)(off >> 7), 1, false);
	/* neighbours unprotected */
	expect_allowed(acc, GPA_A - 8, 8, 1, false);
	expect_allowed(acc, GPA_B, 8, 1, false);
	spp_access_destroy(acc);
}

/* ---- unaligned writes crossing a 128-byte boundary ---------------------- */

static void test_cross_allowed_to_denied(void **state)
{
	struct spp_access *acc = new_acc();

	(void)state;
	/* sub-page 5 denied, 4 and 6 allowed */
	set_map(acc, GFN_A, ~(1u << 5));
	/* bytes 638..641: sub-pages 4 and 5 */
	expect_denied(acc, GPA_A + 5 * 128 - 2, 4, GFN_A, 5, 2, false);
	/* the last byte alone lands in 5 */
	expect_denied(acc, GPA_A + 5 * 128 - 1, 2, GFN_A, 5, 2, false);
	/* ending just before the boundary: allowed */
	expect_allowed(acc, GPA_A + 5 * 128 - 8, 8, 1, false);
	/* 8 bytes from 4 into 5 */
	expect_denied(acc, GPA_A + 5 * 128 - 7, 8, GFN_A, 5, 2, false);
	/* from 4 through 5 into 6 */
	expect_denied(acc, GPA_A + 4 * 128 + 100, 200, GFN_A, 5, 3, false);
	spp_access_destroy(acc);
}

static void test_cross_denied_to_allowed(void **state)
{
	struct spp_access *acc = new_acc();

	(void)state;
	/* sub-page 4 denied, 5 allowed */
	set_map(acc, GFN_A, ~(1u << 4));
	expect_denied(acc, GPA_A + 5 * 128 - 2, 4, GFN_A, 4, 2, false);
	expect_denied(acc, GPA_A + 5 * 128 - 1, 8, GFN_A, 4, 2, false);
	expect_allowed(acc, GPA_A + 5 * 128, 8, 1, false);
	/* from 3 through 4 into 5 */
	expect_denied(acc, GPA_A + 3 * 128 + 120, 140, GFN_A, 4, 3, false);
	spp_access_destroy(acc);
}

static void test_cross_both_denied_reports_first(void **state)
{
	struct spp_access *acc = new_acc();

	(void)state;
	set_map(acc, GFN_A, ~((1u << 9) | (1u << 10) | (1u << 12)));
	expect_denied(acc, GPA_A + 10 * 128 - 4, 8, GFN_A, 9, 2, false);
	/* 8 allowed, then 9, 10 denied: the first denied is 9 */
	expect_denied(acc, GPA_A + 8 * 128 + 127, 300, GFN_A, 9, 4, false);
	/* 11 allowed, 12 denied */
	expect_denied(acc, GPA_A + 11 * 128, 129, GFN_A, 12, 2, false);
	expect_allowed(acc, GPA_A + 11 * 128, 128, 1, false);
	spp_access_destroy(acc);
}

/* ---- page-crossing writes ------------------------------------------------ */

static void test_subpages_denied_count(void **state)
{
	struct spp_access *acc = new_acc();
	struct spp_write_verdict v;

	(void)state;
	/* sub-pages 0 and 2 writable, 1 and 3 denied */
	set_map(acc, GFN_A, 0xFFFFFFF5u);
	v = check(acc, GPA_A, 512); /* sub-pages 0..3 */
	assert_false(v.allowed);
	assert_int_equal(v.subpages_touched, 4);
	assert_int_equal(v.subpages_denied, 2);
	assert_int_equal(v.denied_subpage, 1);
	v = check(acc, GPA_A + 128, 1); /* sub-page 1 only */
	assert_int_equal(v.subpages_denied, v.subpages_touched);
	v = check(acc, GPA_A, 1); /* sub-page 0 only */
	assert_true(v.allowed);
	assert_int_equal(v.subpages_denied, 0);
	/* across the page: sub-page 31 of A allowed, 0 of B denied */
	set_map(acc, GFN_A, SPP_ACCESS_FULL);
	set_map(acc, GFN_B, ~1u);
	v = check(acc, GPA_B - 8, 16);
	assert_int_equal(v.subpages_touched, 2);
	assert_int_equal(v.subpages_denied, 1);
	spp_access_destroy(acc);
}

static void test_page_crossing(void **state)
{
	struct spp_access *acc = new_acc();
	const uint64_t gpa = GPA_B - 4; /* 4 bytes in A, 4 in B */

	(void)state;
	/* both unprotected */
	expect_allowed(acc, gpa, 8, 2, true);

	/* A sub-page 31 denied only */
	set_map(acc, GFN_A, ~(1u << 31));
	expect_denied(acc, gpa, 8, GFN_A, 31, 2, true);

	/* B sub-page 0 denied only */
	set_map(acc, GFN_A, SPP_ACCESS_FULL);
	set_map(acc, GFN_B, ~1u);
	expect_denied(acc, gpa, 8, GFN_B, 0, 2, true);
	/* in B the write alone is denied too, in A alone allowed */
	expect_denied(acc, GPA_B, 4, GFN_B, 0, 1, false);
	expect_allowed(acc, gpa, 4, 1, false);

	/* both denied: A's comes first in address order */
	set_map(acc, GFN_A, ~(1u << 31));
	expect_denied(acc, gpa, 8, GFN_A, 31, 2, true);

	/* both protected but the touched sub-pages writable */
	set_map(acc, GFN_A, 0x80000000u);
	set_map(acc, GFN_B, 0x00000001u);
	expect_allowed(acc, gpa, 8, 2, true);
	/* reaching into B sub-page 1 (denied) */
	expect_denied(acc, GPA_B - 1, 130, GFN_B, 1, 3, true);
	/* reaching back into A sub-page 30 (denied) */
	expect_denied(acc, GPA_B - 129, 130, GFN_A, 30, 3, true);

	/* A protected elsewhere only, B sub-page 0 denied */
	set_map(acc, GFN_A, ~(1u << 3));
	set_map(acc, GFN_B, ~1u);
	expect_denied(acc, GPA_B - 1, 2, GFN_B, 0, 2, true);
	/* A denied early, B denied: first is A's */
	expect_denied(acc, GPA_A + 3 * 128, 4096, GFN_A, 3, 32, true);
	spp_access_destroy(acc);
}

static void test_page_crossing_into_non_ram(void **state)
{
	struct spp_access *acc = new_acc();
	const uint64_t last = RAM_PAGES - 1;

	(void)state;
	/* the last RAM page; the next page is not RAM (unprotected) */
	set_map(acc, last, ~1u);
	expect_allowed(acc, RAM_SIZE - 4, 8, 2, true);
	set_map(acc, last, ~(1u << 31));
	expect_denied(acc, RAM_SIZE - 4, 8, last, 31, 2, true);
	/* from non-RAM below into a protected RAM page */
	assert_int_equal(spp_access_add_ram(acc, 128 * MIB, MIB), 0);
	set_map(acc, 128 * MIB >> 12, ~1u);
	expect_denied(acc, 128 * MIB - 2, 4, 128 * MIB >> 12, 0, 2, true);
	set_map(acc, 128 * MIB >> 12, ~2u);
	expect_allowed(acc, 128 * MIB - 2, 4, 2, true);
	spp_access_destroy(acc);
}

/* ---- patterns -------------------------------------------------------------- */

static void test_map_patterns(void **state)
{
	struct spp_access *acc = new_acc();
	unsigned int i, k;

	(void)state;
	/* 0x55555555: even sub-pages writable */
	set_map(acc, GFN_A, 0x55555555);
	for (i = 0; i < 32; i++) {
		uint64_t first = GPA_A + i * 128ULL;

		if (i & 1) {
			expect_denied(acc, first, 1, GFN_A, i, 1, false);
			expect_denied(acc, first + 127, 1, GFN_A, i, 1, false);
		} else {
			expect_allowed(acc, first, 1, 1, false);
			expect_allowed(acc, first + 127, 1, 1, false);
			expect_allowed(acc, first, 128, 1, false);
		}
		/* any write over a boundary touches an odd one */
		if (i < 31)
			expect_denied(acc, first + 127, 2, GFN_A,
				      (i & 1) ? i : i + 1, 2, false);
	}
	/* 0xAAAAAAAA: odd sub-pages writable */
	set_map(acc, GFN_A, 0xAAAAAAAA);
	for (i = 0; i < 32; i++) {
		uint64_t first = GPA_A + i * 128ULL;

		if (i & 1) {
			expect_allowed(acc, first, 1, 1, false);
			expect_allowed(acc, first + 120, 8, 1, false);
		} else {
			expect_denied(acc, first, 1, GFN_A, i, 1, false);
			expect_denied(acc, first + 120, 8, GFN_A, i, 1, false);
		}
		if (i < 31)
			expect_denied(acc, first + 126, 4, GFN_A,
				      (i & 1) ? i + 1 : i, 2, false);
	}
	/* a single writable sub-page k */
	for (k = 0; k < 32; k++) {
		uint64_t first = GPA_A + k * 128ULL;

		set_map(acc, GFN_A, 1u << k);
		expect_allowed(acc, first, 128, 1, false);
		expect_allowed(acc, first + 64, 64, 1, false);
		for (i = 0; i < 32; i++)
			if (i != k)
				expect_denied(acc, GPA_A + i * 128ULL + 5, 1,
					      GFN_A, i, 1, false);
		if (k < 31)
			expect_denied(acc, first, 129, GFN_A, k + 1, 2, false);
		if (k > 0)
			expect_denied(acc, first - 1, 129, GFN_A, k - 1, 2,
				      false);
		expect_denied(acc, GPA_A, 4096, GFN_A, k ? 0 : 1, 32, false);
	}
	spp_access_destroy(acc);
}

static void test_unprotected_and_non_ram(void **state)
{
	struct spp_access *acc = new_acc();
	uint64_t off;

	(void)state;
	for (off = 0; off < 4096; off += 61)
		expect_allowed(
			acc, GPA_A + off, 8,
			spp_subpage_index(GPA_A + off) ==
					spp_subpage_index(GPA_A + off + 7) ?
				1 :
				2,
			off + 8 > 4096);
	/* protecting one page does not affect another */
	set_map(acc, GFN_B, 0);
	expect_allowed(acc, GPA_A + 100, 4, 1, false);
	/* outside RAM */
	expect_allowed(acc, 1ULL << 30, 1, 1, false);
	expect_allowed(acc, (1ULL << 30) + 120, 16, 2, false);
	expect_allowed(acc, (1ULL << 40) - 8, 16, 2, true);
	expect_allowed(acc, 1ULL << 40, 4096, 32, false);
	spp_access_destroy(acc);
}

static void test_full_page_writes(void **state)
{
	struct spp_access *acc = new_acc();

	(void)state;
	expect_allowed(acc, GPA_A, 4096, 32, false);
	set_map(acc, GFN_A, ~(1u << 17));
	expect_denied(acc, GPA_A, 4096, GFN_A, 17, 32, false);
	set_map(acc, GFN_A, ~((1u << 17) | (1u << 31)));
	expect_denied(acc, GPA_A, 4096, GFN_A, 17, 32, false);
	set_map(acc, GFN_A, ~(1u << 31));
	expect_denied(acc, GPA_A, 4096, GFN_A, 31, 32, false);

	/* unaligned: A offsets 100..4095 (32 sub-pages), B 0..99 (1) */
	set_map(acc, GFN_A, SPP_ACCESS_FULL);
	expect_allowed(acc, GPA_A + 100, 4096, 33, true);
	/* A offset 4095 (sub-page 31), B 0..4094 (32) */
	expect_allowed(acc, GPA_A + 4095, 4096, 33, true);
	/* A offset 128..4095 (31), B 0..127 (1) */
	expect_allowed(acc, GPA_A + 128, 4096, 32, true);
	set_map(acc, GFN_B, ~(1u << 30));
	expect_denied(acc, GPA_A + 4095, 4096, GFN_B, 30, 33, true);
	expect_allowed(acc, GPA_A + 100, 4096, 33, true);
	set_map(acc, GFN_B, ~1u);
	expect_denied(acc, GPA_A + 100, 4096, GFN_B, 0, 33, true);
	set_map(acc, GFN_A, 0x7FFFFFFF);
	expect_denied(acc, GPA_A + 100, 4096, GFN_A, 31, 33, true);
	spp_access_destroy(acc);
}

/* ---- exhaustive comparison with a brute-force reference ------------------ */

struct ref_verdict {
	bool allowed;
	uint64_t denied_gfn;
	unsigned int denied_subpage;
	unsigned int touched;
	bool crosses;
};

/* maps[0..2] are the maps of pages GFN_A - 1, GFN_A, GFN_A + 1. */
static struct ref_verdict ref_check(const uint32_t maps[3], uint64_t gpa,
				    uint32_t len)
{
	struct ref_verdict r = { .allowed = true };
	uint64_t last_key = UINT64_MAX;
	uint64_t a;

	for (a = gpa; a < gpa + len; a++) {
		uint64_t gfn = a >> 12;
		unsigned int sp = (unsigned int)((a >> 7) & 31);
		uint64_t key = (gfn << 5) | sp;
		uint32_t map;

		if (key == last_key)
			continue;
		last_key = key;
		r.touched++;
		assert_true(gfn >= GFN_A - 1 && gfn <= GFN_A + 1);
		map = maps[gfn - (GFN_A - 1)];
		if (r.allowed && !(map & (1u << sp))) {
			r.allowed = false;
			r.denied_gfn = gfn;
			r.denied_subpage = sp;
		}
	}
	r.crosses = (gpa >> 12) != ((gpa + len - 1) >> 12);
	return r;
}

static void exhaustive_round(const uint32_t maps[3])
{
	struct spp_access *acc = new_acc();
	uint64_t off;
	uint32_t len;

	set_map(acc, GFN_A - 1, maps[0]);
	set_map(acc, GFN_A, maps[1]);
	set_map(acc, GFN_A + 1, maps[2]);
	for (off = 0; off < 4096; off++) {
		for (len = 1; len <= 16; len++) {
			struct ref_verdict r =
				ref_check(maps, GPA_A + off, len);
			struct spp_write_verdict v =
				check(acc, GPA_A + off, len);

			assert_int_equal(v.allowed, r.allowed);
			assert_int_equal(v.subpages_touched, r.touched);
			assert_int_equal(v.crosses_page, r.crosses);
			if (r.allowed)
				continue;
			assert_int_equal(v.denied_gfn, r.denied_gfn);
			assert_int_equal(v.denied_subpage, r.denied_subpage);
			assert_int_equal(v.denied_gpa,
					 (r.denied_gfn << 12) +
						 r.denied_subpage * 128ULL);
		}
	}
	/* and writes ending in A from the page below */
	for (off = 4080; off < 4096; off++) {
		for (len = 1; len <= 16; len++) {
			uint64_t gpa = GPA_A - 4096 + off;
			struct ref_verdict r = ref_check(maps, gpa, len);
			struct spp_write_verdict v = check(acc, gpa, len);

			assert_int_equal(v.allowed, r.allowed);
			assert_int_equal(v.subpages_touched, r.touched);
			assert_int_equal(v.crosses_page, r.crosses);
			if (!r.allowed) {
				assert_int_equal(v.denied_gfn, r.denied_gfn);
				assert_int_equal(v.denied_subpage,
						 r.denied_subpage);
			}
		}
	}
	spp_access_destroy(acc);
}

static void test_exhaustive_random(void **state)
{
	uint32_t maps[3];
	int round;

	(void)state;
	for (round = 0; round < 6; round++) {
		maps[0] = rng32();
		maps[1] = rng32();
		maps[2] = rng32();
		if (round == 4)
			maps[0] = maps[2] = SPP_ACCESS_FULL;
		if (round == 5)
			maps[1] = 0x0F0F0F0F;
		exhaustive_round(maps);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_aligned_writes),
		cmocka_unit_test(test_fully_protected_page),
		cmocka_unit_test(test_cross_allowed_to_denied),
		cmocka_unit_test(test_cross_denied_to_allowed),
		cmocka_unit_test(test_cross_both_denied_reports_first),
		cmocka_unit_test(test_page_crossing),
		cmocka_unit_test(test_subpages_denied_count),
		cmocka_unit_test(test_page_crossing_into_non_ram),
		cmocka_unit_test(test_map_patterns),
		cmocka_unit_test(test_unprotected_and_non_ram),
		cmocka_unit_test(test_full_page_writes),
		cmocka_unit_test(test_exhaustive_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
