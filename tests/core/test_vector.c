// SPDX-License-Identifier: MIT
/*
 * test_vector.c - constants, spp_subpage_index() and the access map <->
 * SPP vector conversions (spp/vector.h, quick-reference table of the spec).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <spp/spp.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

/* Reference conversion, bit by bit. */
static uint64_t ref_from_map(uint32_t map)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < 32; i++)
		if (map & (1u << i))
			v |= 1ULL << (2 * i);
	return v;
}

static void test_from_map_examples(void **state)
{
	(void)state;
	assert_int_equal(spp_vector_from_map(0x1), 0x1);
	assert_int_equal(spp_vector_from_map(0x2), 0x4);
	assert_int_equal(spp_vector_from_map(0x3), 0x5);
	assert_int_equal(spp_vector_from_map(0xFFFFFFFFu),
			 0x5555555555555555ULL);
	assert_int_equal(spp_vector_from_map(0), 0);
	assert_int_equal(spp_vector_from_map(0x80000000u), 1ULL << 62);
	assert_int_equal(spp_vector_from_map(0x0000FFFFu), 0x55555555ULL);
	assert_int_equal(spp_vector_from_map(0xFFFF0000u),
			 0x5555555500000000ULL);
	assert_int_equal(spp_vector_from_map(SPP_ACCESS_FULL), SPP_VECTOR_FULL);
}

static void test_from_map_each_bit(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < 32; i++) {
		uint64_t v = spp_vector_from_map(1u << i);

		assert_int_equal(v, 1ULL << (2 * i));
		/* all but bit i */
		v = spp_vector_from_map(~(1u << i));
		assert_int_equal(v, SPP_VECTOR_FULL & ~(1ULL << (2 * i)));
	}
}

static void test_from_map_never_sets_odd_bits(void **state)
{
	int k;

	(void)state;
	for (k = 0; k < 100000; k++) {
		uint32_t m = (uint32_t)rng_next();
		uint64_t v = spp_vector_from_map(m);

		assert_int_equal(v & SPP_VECTOR_RESERVED, 0);
		assert_int_equal(v, ref_from_map(m));
	}
}

static void test_round_trip_random(void **state)
{
	int k;

	(void)state;
	for (k = 0; k < 100000; k++) {
		uint32_t m = (uint32_t)rng_next();
		uint32_t back = ~m;

		assert_int_equal(
			spp_vector_to_map(spp_vector_from_map(m), &back), 0);
		assert_int_equal(back, m);
	}
}

static void test_round_trip_vector_side(void **state)
{
	int k;

	(void)state;
	for (k = 0; k < 100000; k++) {
		uint64_t v = rng_next() & SPP_VECTOR_FULL;
		uint32_t m = 0xDEADBEEF;

		assert_int_equal(spp_vector_to_map(v, &m), 0);
		assert_int_equal(spp_vector_from_map(m), v);
	}
}

static void test_to_map_examples(void **state)
{
	uint32_t m;

	(void)state;
	m = 0x12345678;
	assert_int_equal(spp_vector_to_map(0, &m), 0);
	assert_int_equal(m, 0);
	assert_int_equal(spp_vector_to_map(0x1, &m), 0);
	assert_int_equal(m, 0x1);
	assert_int_equal(spp_vector_to_map(0x4, &m), 0);
	assert_int_equal(m, 0x2);
	assert_int_equal(spp_vector_to_map(1ULL << 62, &m), 0);
	assert_int_equal(m, 0x80000000u);
	assert_int_equal(spp_vector_to_map(SPP_VECTOR_FULL, &m), 0);
	assert_int_equal(m, SPP_ACCESS_FULL);
}

static void test_to_map_rejects_each_odd_bit(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < 32; i++) {
		uint64_t odd = 1ULL << (2 * i + 1);
		uint32_t m = 0xCAFEF00D;

		/* the odd bit alone */
		assert_int_equal(spp_vector_to_map(odd, &m), -EINVAL);
		assert_int_equal(m, 0xCAFEF00D);
		/* together with a valid full vector */
		assert_int_equal(spp_vector_to_map(SPP_VECTOR_FULL | odd, &m),
				 -EINVAL);
		assert_int_equal(m, 0xCAFEF00D);
		/* together with a random valid vector */
		assert_int_equal(
			spp_vector_to_map((rng_next() & SPP_VECTOR_FULL) | odd,
					  &m),
			-EINVAL);
		assert_int_equal(m, 0xCAFEF00D);
	}
}

static void test_to_map_rejects_random_invalid(void **state)
{
	int k;

	(void)state;
	for (k = 0; k < 10000; k++) {
		uint64_t v = rng_next();
		uint32_t m = 0x0BADCAFE;

		if (!(v & SPP_VECTOR_RESERVED))
			continue;
		assert_int_equal(spp_vector_to_map(v, &m), -EINVAL);
		assert_int_equal(m, 0x0BADCAFE);
	}
	{
		uint32_t m = 0x0BADCAFE;

		assert_int_equal(spp_vector_to_map(SPP_VECTOR_RESERVED, &m),
				 -EINVAL);
		assert_int_equal(spp_vector_to_map(~0ULL, &m), -EINVAL);
		assert_int_equal(m, 0x0BADCAFE);
	}
}

static void test_to_map_null(void **state)
{
	(void)state;
	assert_int_equal(spp_vector_to_map(0, NULL), -EINVAL);
	assert_int_equal(spp_vector_to_map(SPP_VECTOR_FULL, NULL), -EINVAL);
	assert_int_equal(spp_vector_to_map(SPP_VECTOR_RESERVED, NULL), -EINVAL);
}

static void test_constants(void **state)
{
	(void)state;
	assert_int_equal(SPP_PAGE_SHIFT, 12);
	assert_int_equal(SPP_PAGE_SIZE, 4096);
	assert_int_equal(SPP_PAGE_MASK, 0xFFFFFFFFFFFFF000ULL);
	assert_int_equal(SPP_SUBPAGE_SHIFT, 7);
	assert_int_equal(SPP_SUBPAGE_SIZE, 128);
	assert_int_equal(SPP_SUBPAGES_PER_PAGE, 32);
	assert_int_equal(SPP_SUBPAGE_SIZE * SPP_SUBPAGES_PER_PAGE,
			 SPP_PAGE_SIZE);
	assert_int_equal(SPP_ACCESS_FULL, 0xFFFFFFFFu);
	assert_int_equal(SPP_VECTOR_FULL, 0x5555555555555555ULL);
	assert_int_equal(SPP_VECTOR_RESERVED, 0xAAAAAAAAAAAAAAAAULL);
	assert_int_equal(SPP_VECTOR_FULL | SPP_VECTOR_RESERVED, ~0ULL);
	assert_int_equal(SPP_GPA_BITS, 48);
	assert_int_equal(SPP_GFN_LIMIT, 1ULL << 36);
	assert_int_equal(SPP_SUBPAGE_MAX_PAGES, 512);
	assert_int_equal(sizeof(struct spp_subpage), 16);
	assert_int_equal(offsetof(struct spp_subpage, gfn_base), 0);
	assert_int_equal(offsetof(struct spp_subpage, npages), 8);
	assert_int_equal(offsetof(struct spp_subpage, flags), 12);
	assert_int_equal(offsetof(struct spp_subpage, access_map), 16);
	assert_int_equal(SPP_EXIT_EPT_VIOLATION, 48);
	assert_int_equal(SPP_EXIT_SPP_EVENT, 66);
	assert_int_equal(SPP_QUAL_SPP_MISS, 0x800);
	assert_int_equal(SPP_QUAL_NMI_UNBLOCK, 0x1000);
	assert_int_equal(SPP_EPTV_READ, 0x1);
	assert_int_equal(SPP_EPTV_WRITE, 0x2);
	assert_int_equal(SPP_EPTV_FETCH, 0x4);
	assert_int_equal(SPP_EPTV_READABLE, 0x8);
	assert_int_equal(SPP_EPTV_WRITABLE, 0x10);
	assert_int_equal(SPP_EPTV_EXECUTABLE, 0x20);
	assert_int_equal(SPP_EPTV_GLA_VALID, 0x80);
	assert_int_equal(SPP_EPTV_GLA_XLATE, 0x100);
	assert_int_equal(SPP_SPPTE_RSVD_LOW, 0xFFE);
	assert_int_equal(SPP_SPPTE_RSVD_HIGH, 0xFFF0000000000000ULL);
	assert_int_equal(SPP_SPPTE_PRESENT, 1);
	assert_int_equal(SPP_SPPT_ENTRIES, 512);
	assert_int_equal(SPP_SPPT_LEVELS, 4);
}

static void test_subpage_index(void **state)
{
	uint64_t off;

	(void)state;
	assert_int_equal(spp_subpage_index(0), 0);
	assert_int_equal(spp_subpage_index(127), 0);
	assert_int_equal(spp_subpage_index(128), 1);
	assert_int_equal(spp_subpage_index(255), 1);
	assert_int_equal(spp_subpage_index(256), 2);
	assert_int_equal(spp_subpage_index(0xF80), 31);
	assert_int_equal(spp_subpage_index(0xFFF), 31);
	assert_int_equal(spp_subpage_index(0x1000), 0);
	assert_int_equal(spp_subpage_index(0x1080), 1);
	assert_int_equal(spp_subpage_index(0xFFFFFFFFFFFFF000ULL), 0);
	assert_int_equal(spp_subpage_index(0xFFFFFFFFFFFFFFFFULL), 31);
	assert_int_equal(spp_subpage_index(0x123456789ABCDE80ULL),
			 (0xE80 >> 7));
	for (off = 0; off < 4096; off++) {
		assert_int_equal(spp_subpage_index(off), off / 128);
		assert_int_equal(spp_subpage_index(0x7654321000ULL + off),
				 off / 128);
	}
}

static void test_map_writable(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < 32; i++) {
		assert_true(spp_map_writable(SPP_ACCESS_FULL, i));
		assert_false(spp_map_writable(0, i));
		assert_true(spp_map_writable(1u << i, i));
		assert_false(spp_map_writable(~(1u << i), i));
		assert_int_equal(spp_map_writable(0x55555555, i), !(i & 1));
		assert_int_equal(spp_map_writable(0xAAAAAAAA, i), i & 1);
	}
}

static void test_version(void **state)
{
	const char *v = spp_version();
	unsigned int a, b, c;
	char tail;

	(void)state;
	assert_non_null(v);
	assert_int_equal(sscanf(v, "%u.%u.%u%c", &a, &b, &c, &tail), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_map_examples),
		cmocka_unit_test(test_from_map_each_bit),
		cmocka_unit_test(test_from_map_never_sets_odd_bits),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_round_trip_vector_side),
		cmocka_unit_test(test_to_map_examples),
		cmocka_unit_test(test_to_map_rejects_each_odd_bit),
		cmocka_unit_test(test_to_map_rejects_random_invalid),
		cmocka_unit_test(test_to_map_null),
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_subpage_index),
		cmocka_unit_test(test_map_writable),
		cmocka_unit_test(test_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
