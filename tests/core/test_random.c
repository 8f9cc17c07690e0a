// SPDX-License-Identifier: MIT
/*
 * test_random.c - seeded random SET sequences against a dense reference.
 *
 * A guest of a few scattered RAM regions gets thousands of random
 * SET/GET/range calls (valid and invalid); after every call the store,
 * the attached SPPT and the reference must agree page by page, and a
 * failed call must have changed nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <spp/spp.h>

/* RAM: three regions, two of them adjacent, spread over the 48-bit space. */
static const struct {
	uint64_t gfn, npages;
} regions[] = {
	{ 0x0, 1536 }, /* 6 MiB at 0: crosses 2 MiB blocks */
	{ 0x600, 512 }, /* adjacent to the first */
	{ 0x7fffff000ULL - 1024, 1024 }, /* just below 2^47 - 4 MiB */
};
#define NREG (sizeof(regions) / sizeof(regions[0]))
#define MAXREF 4096

struct model {
	uint32_t ref[MAXREF]; /* maps by dense index */
	struct spp_access *acc;
	struct spp_sppt *sppt;
	uint64_t rng;
};

static uint64_t rnd(struct model *m)
{
	/* xorshift64*: reproducible from the seed */
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return m->rng * 0x2545F4914F6CDD1DULL;
}

/* Dense index of @gfn, or -1 when it is not RAM. */
static int dense(uint64_t gfn)
{
	size_t r;
	int base = 0;

	for (r = 0; r < NREG; r++) {
		if (gfn - regions[r].gfn < regions[r].npages)
			return base + (int)(gfn - regions[r].gfn);
		base += (int)regions[r].npages;
	}
	return -1;
}

static uint32_t random_map(struct model *m)
{
	switch (rnd(m) % 6) {
	case 0:
	case 1:
		return SPP_ACCESS_FULL;
	case 2:
		return 0;
	case 3:
		return ~(1u << (rnd(m) % 32));
	default:
		return (uint32_t)rnd(m);
	}
}

/* A gfn near RAM: inside, at an edge or just outside. */
static uint64_t random_gfn(struct model *m)
{
	size_t r = rnd(m) % NREG;
	int64_t off = (int64_t)(rnd(m) % (regions[r].npages + 64)) - 32;

	return regions[r].gfn + (uint64_t)off;
}

static void check_all(struct model *m)
{
	uint64_t count = 0;
	size_t r;
	int d = 0;

	for (r = 0; r < NREG; r++) {
		uint64_t k;

		for (k = 0; k < regions[r].npages; k++, d++) {
			uint64_t gfn = regions[r].gfn + k, vec;
			uint32_t want = m->ref[d];
			int ret;

			assert_int_equal(spp_access_lookup(m->acc, gfn), want);
			count += want != SPP_ACCESS_FULL;
			ret = spp_sppt_get_vector(m->sppt, gfn, &vec);
			if (ret == -ENOENT) {
				assert_int_equal(want, SPP_ACCESS_FULL);
				continue;
			}
			assert_int_equal(ret, 0);
			assert_true(vec == spp_vector_from_map(want));
		}
	}
	assert_int_equal(spp_access_count(m->acc), count);
	if (!count)
		assert_int_equal(spp_sppt_table_count(m->sppt), 1);
}

static void one_step(struct model *m)
{
	uint32_t maps[600], fill;
	uint64_t gfn = random_gfn(m), n = 1 + rnd(m) % 600, k;
	bool all_ram = true, bulk = rnd(m) & 1, wraps = gfn + n < gfn;
	int ret, want;

	for (k = 0; k < n; k++) {
		maps[k] = random_map(m);
		if (dense(gfn + k) < 0)
			all_ram = false;
	}
	if (rnd(m) % 4 == 0) {
		fill = random_map(m);
		ret = spp_access_set_range(m->acc, gfn, n, fill);
		for (k = 0; k < n; k++)
			maps[k] = fill;
		want = all_ram ? 0 : wraps ? -EINVAL : -EFAULT;
	} else if (bulk) {
		ret = spp_access_set_bulk(m->acc, gfn, n, maps);
		want = all_ram ? 0 : wraps ? -EINVAL : -EFAULT;
	} else {
		struct spp_subpage *req =
			malloc(sizeof(*req) + n * sizeof(uint32_t));

		assert_non_null(req);
		req->gfn_base = gfn;
		req->npages = (uint32_t)n;
		req->flags = 0;
		memcpy(req->access_map, maps, n * sizeof(uint32_t));
		ret = spp_access_set(m->acc, req);
		want = n > SPP_SUBPAGE_MAX_PAGES ? -EINVAL :
		       all_ram			 ? (int)n :
		       wraps			 ? -EINVAL :
						   -EFAULT;
		free(req);
	}
	assert_int_equal(ret, want);
	if (ret >= 0)
		for (k = 0; k < n; k++)
			m->ref[dense(gfn + k)] = maps[k];
}

static void run_seed(uint64_t seed, int steps)
{
	struct model m = { .rng = seed * 2 + 1 };
	size_t r;
	int i;

	for (i = 0; i < MAXREF; i++)
		m.ref[i] = SPP_ACCESS_FULL;
	assert_int_equal(spp_access_create(&m.acc), 0);
	assert_int_equal(spp_sppt_create(&m.sppt, SPP_SPPT_DEFAULT_BASE,
					 SPP_SPPT_DEFAULT_MAXPHYADDR),
			 0);
	assert_int_equal(spp_access_attach_sppt(m.acc, m.sppt), 0);
	for (r = 0; r < NREG; r++)
		assert_int_equal(spp_access_add_ram(m.acc, regions[r].gfn << 12,
						    regions[r].npages << 12),
				 0);
	for (i = 0; i < steps; i++) {
		one_step(&m);
		check_all(&m);
	}
	/* Unprotect everything: all tables but the root go away. */
	for (r = 0; r < NREG; r++)
		assert_int_equal(spp_access_set_range(m.acc, regions[r].gfn,
						      regions[r].npages,
						      SPP_ACCESS_FULL),
				 0);
	assert_int_equal(spp_access_count(m.acc), 0);
	assert_int_equal(spp_sppt_table_count(m.sppt), 1);
	assert_int_equal(spp_access_attach_sppt(m.acc, NULL), 0);
	spp_sppt_destroy(m.sppt);
	spp_access_destroy(m.acc);
}

static void test_random_sequences(void **state)
{
	uint64_t seed;

	(void)state;
	for (seed = 1; seed <= 40; seed++)
		run_seed(seed, 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_sequences),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
