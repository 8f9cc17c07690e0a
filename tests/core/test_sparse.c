// SPDX-License-Identifier: MIT
/*
 * test_sparse.c - scale: a 1 TiB guest with 1,048,576 protected pages,
 * scattered and contiguous, set through the KVM-shaped call; the store
 * must stay sparse (memory bounds) and give everything back afterwards.
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

#define NPROT (1ULL << 20) /* protected pages per case */
#define STRIDE 256ULL /* scattered: one page per 1 MiB */

static struct spp_subpage *req_alloc(uint32_t npages)
{
	struct spp_subpage *r = malloc(sizeof(*r) + npages * sizeof(uint32_t));

	assert_non_null(r);
	memset(r, 0, sizeof(*r) + npages * sizeof(uint32_t));
	r->npages = npages;
	return r;
}

/* A varied map for @gfn, never SPP_ACCESS_FULL. */
static uint32_t map_for(uint64_t gfn)
{
	uint32_t m = (uint32_t)(gfn * 2654435761u) ^ (uint32_t)(gfn >> 13);

	return m == SPP_ACCESS_FULL ? 0x12345678 : m;
}

/* Scattered layout: page k sits somewhere inside MiB k. */
static uint64_t scattered_gfn(uint64_t k)
{
	return k * STRIDE + ((k * 37) % STRIDE);
}

static bool scattered_protected(uint64_t gfn)
{
	uint64_t k = gfn / STRIDE;

	return k < NPROT && gfn == scattered_gfn(k);
}

static struct spp_access *new_tib_guest(void)
{
	struct spp_access *acc = NULL;

	assert_int_equal(spp_access_create(&acc), 0);
	assert_int_equal(spp_access_add_ram(acc, 0, TIB), 0);
	assert_int_equal(spp_access_count(acc), 0);
	assert_true(spp_access_memory(acc) < MIB);
	return acc;
}

/* GET 512 pages at @gfn and compare with @expect. */
static void spot_check(const struct spp_access *acc, uint64_t gfn,
		       uint32_t (*expect)(uint64_t))
{
	struct spp_subpage *r = req_alloc(512);
	uint64_t i;

	r->gfn_base = gfn;
	assert_int_equal(spp_access_get(acc, r), 512);
	for (i = 0; i < 512; i++)
		assert_int_equal(r->access_map[i], expect(gfn + i));
	free(r);
}

static uint32_t expect_scattered(uint64_t gfn)
{
	return scattered_protected(gfn) ? map_for(gfn) : SPP_ACCESS_FULL;
}

static uint32_t expect_scattered_none(uint64_t gfn)
{
	(void)gfn;
	return SPP_ACCESS_FULL;
}

static void test_scattered(void **state)
{
	struct spp_access *acc = new_tib_guest();
	struct spp_subpage *r = req_alloc(1);
	uint64_t k;

	(void)state;
	for (k = 0; k < NPROT; k++) {
		r->gfn_base = scattered_gfn(k);
		r->access_map[0] = map_for(r->gfn_base);
		if (spp_access_set(acc, r) != 1)
			fail_msg("SET of gfn %llu failed",
				 (unsigned long long)r->gfn_base);
	}
	assert_int_equal(spp_access_count(acc), NPROT);
	assert_true(spp_access_memory(acc) < 64 * MIB);

	/* spot checks all over the TiB, including both ends */
	spot_check(acc, 0, expect_scattered);
	spot_check(acc, 12345 * STRIDE, expect_scattered);
	spot_check(acc, 777777 * STRIDE + 100, expect_scattered);
	spot_check(acc, (NPROT - 2) * STRIDE, expect_scattered);
	for (k = 0; k < NPROT; k += 4099) {
		uint64_t g = scattered_gfn(k);

		assert_int_equal(spp_access_lookup(acc, g), map_for(g));
		assert_int_equal(spp_access_lookup(acc, g + 1),
				 SPP_ACCESS_FULL);
	}

	/* unprotect everything */
	for (k = 0; k < NPROT; k++) {
		r->gfn_base = scattered_gfn(k);
		r->access_map[0] = SPP_ACCESS_FULL;
		if (spp_access_set(acc, r) != 1)
			fail_msg("unprotect of gfn %llu failed",
				 (unsigned long long)r->gfn_base);
	}
	assert_int_equal(spp_access_count(acc), 0);
	assert_true(spp_access_memory(acc) < MIB);
	spot_check(acc, 12345 * STRIDE, expect_scattered_none);
	free(r);
	spp_access_destroy(acc);
}

#define CONTIG_BASE (3ULL << 18) /* gfn of 3 GiB, 1 GiB aligned */

static uint32_t expect_contig(uint64_t gfn)
{
	return (gfn >= CONTIG_BASE && gfn < CONTIG_BASE + NPROT) ?
		       map_for(gfn) :
		       SPP_ACCESS_FULL;
}

/* SET the contiguous range in 512-page calls, maps or all FULL. */
static void set_contig(struct spp_access *acc, bool protect)
{
	struct spp_subpage *r = req_alloc(512);
	uint64_t gfn, i;

	for (gfn = CONTIG_BASE; gfn < CONTIG_BASE + NPROT; gfn += 512) {
		r->gfn_base = gfn;
		for (i = 0; i < 512; i++)
			r->access_map[i] = protect ? map_for(gfn + i) :
						     SPP_ACCESS_FULL;
		if (spp_access_set(acc, r) != 512)
			fail_msg("SET at gfn %llu failed",
				 (unsigned long long)gfn);
	}
	free(r);
}

static void contig_spot_checks(const struct spp_access *acc)
{
	spot_check(acc, CONTIG_BASE - 256, expect_contig);
	spot_check(acc, CONTIG_BASE, expect_contig);
	spot_check(acc, CONTIG_BASE + 300000, expect_contig);
	spot_check(acc, CONTIG_BASE + NPROT - 256, expect_contig);
	spot_check(acc, CONTIG_BASE + NPROT, expect_contig);
}

static void test_contiguous(void **state)
{
	struct spp_access *acc = new_tib_guest();

	(void)state;
	set_contig(acc, true);
	assert_int_equal(spp_access_count(acc), NPROT);
	assert_true(spp_access_memory(acc) < 64 * MIB);
	contig_spot_checks(acc);

	set_contig(acc, false);
	assert_int_equal(spp_access_count(acc), 0);
	assert_true(spp_access_memory(acc) < MIB);
	spot_check(acc, CONTIG_BASE + 300000, expect_scattered_none);
	spp_access_destroy(acc);
}

static void test_contiguous_with_sppt(void **state)
{
	struct spp_access *acc = new_tib_guest();
	struct spp_sppt *s = NULL;
	uint64_t v, k;

	(void)state;
	assert_int_equal(spp_sppt_create(&s, SPP_SPPT_DEFAULT_BASE,
					 SPP_SPPT_DEFAULT_MAXPHYADDR),
			 0);
	assert_int_equal(spp_access_attach_sppt(acc, s), 0);
	set_contig(acc, true);
	assert_int_equal(spp_access_count(acc), NPROT);
	assert_true(spp_access_memory(acc) < 64 * MIB);
	contig_spot_checks(acc);

	/* 4 GiB from a 1 GiB boundary: root, 1 L3, 4 L2, 2048 L1 */
	assert_int_equal(spp_sppt_table_count(s), 1 + 1 + 4 + 2048);
	assert_true(spp_sppt_memory(s) < 16 * MIB);
	for (k = 0; k < NPROT; k += 1021) {
		assert_int_equal(spp_sppt_get_vector(s, CONTIG_BASE + k, &v),
				 0);
		assert_int_equal(v,
				 spp_vector_from_map(map_for(CONTIG_BASE + k)));
	}
	assert_int_equal(spp_sppt_get_vector(s, CONTIG_BASE - 1, &v), -ENOENT);
	assert_int_equal(spp_sppt_get_vector(s, CONTIG_BASE + NPROT, &v),
			 -ENOENT);

	set_contig(acc, false);
	assert_int_equal(spp_access_count(acc), 0);
	assert_true(spp_access_memory(acc) < MIB);
	assert_int_equal(spp_sppt_table_count(s), 1);
	assert_true(spp_sppt_memory(s) < MIB);
	assert_int_equal(spp_sppt_get_vector(s, CONTIG_BASE, &v), -ENOENT);

	assert_int_equal(spp_access_attach_sppt(acc, NULL), 0);
	spp_sppt_destroy(s);
	spp_access_destroy(acc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scattered),
		cmocka_unit_test(test_contiguous),
		cmocka_unit_test(test_contiguous_with_sppt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
