// SPDX-License-Identifier: MIT
/*
 * test_badinput.c - every public function of the core (spp/vector.h,
 * access.h, sppt.h, walk.h) fed NULL, overflowing ranges, unaligned
 * addresses, huge page counts and unknown flags: a negative errno (or the
 * documented neutral value for functions without one), no crash, and the
 * state exactly as before (protected pages, maps, SPPT tables, RAM map,
 * output buffers).
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

#define RAM_BASE 0x100000ULL
#define RAM_SIZE 0x400000ULL /* gfns 0x100 .. 0x4ff */
#define GFN 0x200ULL
#define MAP 0x0F0F0F0Fu
#define POISON 0xA5A5A5A5u

struct fixture {
	struct spp_access *acc;
	struct spp_sppt *sppt;
};

struct snapshot {
	uint64_t count;
	size_t tables;
	uint32_t maps[4];
	uint64_t vector;
	bool ram_lo, ram_hi, ram_out;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(spp_access_create(&f->acc), 0);
	assert_int_equal(spp_sppt_create(&f->sppt, SPP_SPPT_DEFAULT_BASE,
					 SPP_SPPT_DEFAULT_MAXPHYADDR),
			 0);
	assert_int_equal(spp_access_attach_sppt(f->acc, f->sppt), 0);
	assert_int_equal(spp_access_add_ram(f->acc, RAM_BASE, RAM_SIZE), 0);
	assert_int_equal(spp_access_set_range(f->acc, GFN, 2, MAP), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(spp_access_attach_sppt(f->acc, NULL), 0);
	spp_sppt_destroy(f->sppt);
	spp_access_destroy(f->acc);
	free(f);
	return 0;
}

static void snap(const struct fixture *f, struct snapshot *s)
{
	unsigned int i;

	memset(s, 0, sizeof(*s));
	s->count = spp_access_count(f->acc);
	s->tables = spp_sppt_table_count(f->sppt);
	for (i = 0; i < 4; i++)
		s->maps[i] = spp_access_lookup(f->acc, GFN - 1 + i);
	assert_int_equal(spp_sppt_get_vector(f->sppt, GFN, &s->vector), 0);
	s->ram_lo = spp_access_is_ram(f->acc, RAM_BASE >> 12, 1);
	s->ram_hi =
		spp_access_is_ram(f->acc, (RAM_BASE + RAM_SIZE) / 4096 - 1, 1);
	s->ram_out = spp_access_is_ram(f->acc, (RAM_BASE + RAM_SIZE) / 4096, 1);
}

static void assert_unchanged(const struct fixture *f)
{
	struct snapshot now, want = {
		.count = 2,
		.maps = { SPP_ACCESS_FULL, MAP, MAP, SPP_ACCESS_FULL },
		.ram_lo = true,
		.ram_hi = true,
	};

	snap(f, &now);
	want.vector = spp_vector_from_map(MAP);
	assert_int_equal(now.count, want.count);
	assert_int_equal(now.tables, 4); /* root and one table per level */
	assert_memory_equal(now.maps, want.maps, sizeof(want.maps));
	assert_int_equal(now.vector, want.vector);
	assert_true(now.ram_lo);
	assert_true(now.ram_hi);
	assert_false(now.ram_out);
}

/* ---- spp/vector.h -------------------------------------------------------- */

static void test_vector(void **state)
{
	uint32_t map = POISON;

	(void)state;
	assert_int_equal(spp_vector_to_map(SPP_VECTOR_FULL, NULL), -EINVAL);
	assert_int_equal(spp_vector_to_map(SPP_VECTOR_RESERVED, &map), -EINVAL);
	assert_int_equal(spp_vector_to_map(1ULL << 63, &map), -EINVAL);
	assert_int_equal(map, POISON);
}

/* ---- spp/access.h -------------------------------------------------------- */

static void test_access_null(void **state)
{
	struct fixture *f = *state;
	struct {
		struct spp_subpage h;
		uint32_t map[2];
	} req = { { .gfn_base = GFN, .npages = 2 }, { 0, 0 } };
	struct spp_write_verdict v;
	uint32_t maps[2] = { 0, 0 };

	assert_int_equal(spp_access_create(NULL), -EINVAL);
	spp_access_destroy(NULL);
	assert_int_equal(spp_access_add_ram(NULL, 0, 4096), -EINVAL);
	assert_int_equal(spp_access_remove_ram(NULL, RAM_BASE, RAM_SIZE),
			 -EINVAL);
	assert_false(spp_access_is_ram(NULL, GFN, 1));
	assert_int_equal(spp_access_attach_sppt(NULL, f->sppt), -EINVAL);
	assert_int_equal(spp_access_set(NULL, &req.h), -EINVAL);
	assert_int_equal(spp_access_set(f->acc, NULL), -EINVAL);
	assert_int_equal(spp_access_get(NULL, &req.h), -EINVAL);
	assert_int_equal(spp_access_get(f->acc, NULL), -EINVAL);
	assert_int_equal(spp_access_set_bulk(NULL, GFN, 2, maps), -EINVAL);
	assert_int_equal(spp_access_set_bulk(f->acc, GFN, 2, NULL), -EINVAL);
	assert_int_equal(spp_access_set_range(NULL, GFN, 2, 0), -EINVAL);
	assert_int_equal(spp_access_get_bulk(NULL, GFN, 2, maps), -EINVAL);
	assert_int_equal(spp_access_get_bulk(f->acc, GFN, 2, NULL), -EINVAL);
	assert_int_equal(spp_access_lookup(NULL, GFN), SPP_ACCESS_FULL);
	assert_int_equal(spp_access_check_write(NULL, GFN << 12, 4, &v),
			 -EINVAL);
	assert_int_equal(spp_access_check_write(f->acc, GFN << 12, 4, NULL),
			 -EINVAL);
	assert_int_equal(spp_access_for_each(NULL, NULL, NULL), -EINVAL);
	assert_int_equal(spp_access_for_each(f->acc, NULL, NULL), -EINVAL);
	assert_int_equal(spp_access_reserve(NULL, 10), -EINVAL);
	assert_int_equal(spp_access_count(NULL), 0);
	assert_int_equal(spp_access_memory(NULL), 0);
	assert_int_equal(maps[0], 0);
	assert_int_equal(req.map[0], 0);
	assert_unchanged(f);
}

static void test_access_add_ram_bad(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(spp_access_add_ram(f->acc, 0x10001000, 0), -EINVAL);
	assert_int_equal(spp_access_add_ram(f->acc, 0x10000800, 4096), -EINVAL);
	assert_int_equal(spp_access_add_ram(f->acc, 0x10000000, 0x800),
			 -EINVAL);
	assert_int_equal(spp_access_add_ram(f->acc, UINT64_MAX & ~0xFFFULL,
					    0x2000),
			 -EINVAL); /* wraps */
	assert_int_equal(spp_access_add_ram(f->acc, (1ULL << 48) - 4096,
					    0x2000),
			 -EINVAL); /* beyond 2^48 */
	assert_int_equal(spp_access_add_ram(f->acc, RAM_BASE + 4096, 4096),
			 -EEXIST);
	assert_int_equal(spp_access_remove_ram(f->acc, RAM_BASE, 4096),
			 -ENOENT);
	assert_int_equal(spp_access_remove_ram(f->acc, RAM_BASE, RAM_SIZE),
			 -EBUSY);
	assert_unchanged(f);
}

static void test_access_set_get_bad(void **state)
{
	struct fixture *f = *state;
	struct spp_subpage *req;
	size_t i;

	req = calloc(1, sizeof(*req) + 600 * sizeof(uint32_t));
	assert_non_null(req);
	/* unknown flags, one bit at a time */
	for (i = 0; i < 32; i++) {
		req->gfn_base = GFN;
		req->npages = 1;
		req->flags = 1u << i;
		req->access_map[0] = 0;
		assert_int_equal(spp_access_set(f->acc, req), -EINVAL);
		req->access_map[0] = POISON;
		assert_int_equal(spp_access_get(f->acc, req), -EINVAL);
		assert_int_equal(req->access_map[0], POISON);
	}
	req->flags = 0;
	/* huge npages */
	req->npages = SPP_SUBPAGE_MAX_PAGES + 1;
	assert_int_equal(spp_access_set(f->acc, req), -EINVAL);
	assert_int_equal(spp_access_get(f->acc, req), -EINVAL);
	req->npages = UINT32_MAX;
	assert_int_equal(spp_access_set(f->acc, req), -EINVAL);
	assert_int_equal(spp_access_get(f->acc, req), -EINVAL);
	/* overflowing and out-of-RAM ranges */
	req->npages = 2;
	req->gfn_base = UINT64_MAX;
	assert_int_equal(spp_access_set(f->acc, req), -EINVAL);
	assert_int_equal(spp_access_get(f->acc, req), -EINVAL);
	req->gfn_base = SPP_GFN_LIMIT - 1;
	assert_true(spp_access_set(f->acc, req) < 0);
	req->gfn_base = (RAM_BASE + RAM_SIZE) / 4096 - 1; /* 1 in, 1 out */
	assert_int_equal(spp_access_set(f->acc, req), -EFAULT);
	req->access_map[0] = req->access_map[1] = POISON;
	assert_int_equal(spp_access_get(f->acc, req), -EFAULT);
	assert_int_equal(req->access_map[0], POISON);
	/* bulk: overflow, huge counts, not RAM */
	assert_int_equal(spp_access_set_range(f->acc, UINT64_MAX - 1, 5, 0),
			 -EINVAL);
	assert_int_equal(spp_access_set_range(f->acc, GFN, UINT64_MAX, 0),
			 -EINVAL);
	assert_true(spp_access_set_range(f->acc, GFN, 1ULL << 40, 0) < 0);
	assert_int_equal(spp_access_set_range(f->acc, 0, 1, 0), -EFAULT);
	assert_int_equal(spp_access_get_bulk(f->acc, UINT64_MAX, 2,
					     req->access_map),
			 -EINVAL);
	assert_int_equal(spp_access_set_bulk(f->acc, GFN, UINT64_MAX,
					     req->access_map),
			 -EINVAL);
	assert_false(spp_access_is_ram(f->acc, GFN, 0));
	assert_false(spp_access_is_ram(f->acc, UINT64_MAX, 2));
	assert_false(spp_access_is_ram(f->acc, GFN, UINT64_MAX));
	assert_int_equal(spp_access_lookup(f->acc, UINT64_MAX),
			 SPP_ACCESS_FULL);
	assert_true(spp_access_reserve(f->acc, UINT64_MAX) < 0);
	free(req);
	assert_unchanged(f);
}

static void test_access_check_write_bad(void **state)
{
	struct fixture *f = *state;
	struct spp_write_verdict v, orig;

	memset(&orig, 0x5A, sizeof(orig));
	v = orig;
	assert_int_equal(spp_access_check_write(f->acc, GFN << 12, 0, &v),
			 -EINVAL);
	assert_int_equal(spp_access_check_write(f->acc, GFN << 12,
						SPP_PAGE_SIZE + 1, &v),
			 -EINVAL);
	assert_int_equal(spp_access_check_write(f->acc, UINT64_MAX - 2, 8, &v),
			 -EINVAL);
	assert_int_equal(spp_access_check_write(f->acc, (1ULL << 48) - 2, 4,
						&v),
			 -EINVAL);
	assert_int_equal(spp_access_check_write(f->acc, GFN << 12, UINT32_MAX,
						&v),
			 -EINVAL);
	assert_memory_equal(&v, &orig, sizeof(v));
	assert_unchanged(f);
}

static void test_access_attach_busy(void **state)
{
	struct fixture *f = *state;
	struct spp_access *other;

	/* an SPPT that already mirrors a store with protected pages */
	assert_int_equal(spp_access_create(&other), 0);
	assert_int_equal(spp_access_attach_sppt(other, f->sppt), -EBUSY);
	spp_access_destroy(other);
	assert_unchanged(f);
}

/* ---- spp/sppt.h ---------------------------------------------------------- */

static int count_tables(void *ctx, uint64_t pa, int level,
			const uint64_t *entries)
{
	(void)pa;
	(void)level;
	(void)entries;
	(*(int *)ctx)++;
	return 0;
}

static void test_sppt_bad(void **state)
{
	struct fixture *f = *state;
	uint32_t maps[2] = { 0, 0 };
	uint64_t e = 0x5A5A, vec = 0x5A5A;
	struct spp_sppt *s = (struct spp_sppt *)0x1;
	int n = 0;

	assert_int_equal(spp_sppt_create(NULL, SPP_SPPT_DEFAULT_BASE, 46),
			 -EINVAL);
	assert_int_equal(spp_sppt_create(&s, SPP_SPPT_DEFAULT_BASE + 8, 46),
			 -EINVAL);
	assert_int_equal(spp_sppt_create(&s, SPP_SPPT_DEFAULT_BASE, 35),
			 -EINVAL);
	assert_int_equal(spp_sppt_create(&s, SPP_SPPT_DEFAULT_BASE, 53),
			 -EINVAL);
	assert_int_equal(spp_sppt_create(&s, 1ULL << 46, 46), -EINVAL);
	assert_int_equal(spp_sppt_create(&s, UINT64_MAX & ~0xFFFULL, 52),
			 -EINVAL);
	assert_ptr_equal(s, (struct spp_sppt *)0x1);
	spp_sppt_destroy(NULL);
	assert_int_equal(spp_sppt_spptp(NULL), 0);
	assert_int_equal(spp_sppt_maxphyaddr(NULL), 0);
	assert_int_equal(spp_sppt_read(NULL, SPP_SPPT_DEFAULT_BASE, &e),
			 -EFAULT);
	assert_int_equal(spp_sppt_read(f->sppt, SPP_SPPT_DEFAULT_BASE, NULL),
			 -EFAULT);
	assert_int_equal(spp_sppt_read(f->sppt, SPP_SPPT_DEFAULT_BASE + 4, &e),
			 -EFAULT);
	assert_int_equal(spp_sppt_read(f->sppt, SPP_SPPT_DEFAULT_BASE - 8, &e),
			 -EFAULT);
	assert_int_equal(spp_sppt_read(f->sppt, UINT64_MAX & ~7ULL, &e),
			 -EFAULT);
	assert_int_equal(e, 0x5A5A);
	assert_int_equal(spp_sppt_get_vector(NULL, GFN, &vec), -EINVAL);
	assert_int_equal(spp_sppt_get_vector(f->sppt, GFN, NULL), -EINVAL);
	assert_int_equal(spp_sppt_get_vector(f->sppt, SPP_GFN_LIMIT, &vec),
			 -EINVAL);
	assert_int_equal(spp_sppt_get_vector(f->sppt, UINT64_MAX, &vec),
			 -EINVAL);
	assert_int_equal(vec, 0x5A5A);
	assert_int_equal(spp_sppt_prepare(NULL, GFN, 1, maps), -EINVAL);
	assert_int_equal(spp_sppt_prepare(f->sppt, GFN, 1, NULL), -EINVAL);
	assert_int_equal(spp_sppt_prepare(f->sppt, UINT64_MAX, 2, maps),
			 -EINVAL);
	assert_int_equal(spp_sppt_prepare(f->sppt, SPP_GFN_LIMIT - 1, 2, maps),
			 -EINVAL);
	assert_int_equal(spp_sppt_set(NULL, GFN, 1, maps), -EINVAL);
	assert_int_equal(spp_sppt_set(f->sppt, GFN, 1, NULL), -EINVAL);
	assert_int_equal(spp_sppt_set(f->sppt, SPP_GFN_LIMIT, 1, maps),
			 -EINVAL);
	spp_sppt_commit(NULL, GFN, 1, maps);
	spp_sppt_commit(f->sppt, GFN, 1, NULL);
	assert_int_equal(spp_sppt_for_each_table(NULL, count_tables, &n),
			 -EINVAL);
	assert_int_equal(spp_sppt_for_each_table(f->sppt, NULL, &n), -EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(spp_sppt_table_count(NULL), 0);
	assert_int_equal(spp_sppt_memory(NULL), 0);
	assert_unchanged(f);
}

/* ---- spp/walk.h ---------------------------------------------------------- */

static void test_walk_bad(void **state)
{
	struct fixture *f = *state;
	struct spp_walk_input in = {
		.spp_enabled = true,
		.spptp = spp_sppt_spptp(f->sppt),
		.maxphyaddr = SPP_SPPT_DEFAULT_MAXPHYADDR,
		.read = spp_sppt_read,
		.read_ctx = f->sppt,
		.ept = { .read = true, .spp = true, .size = SPP_EPT_4K },
		.gpa = GFN << 12,
		.type = SPP_ACCESS_WRITE,
		.origin = SPP_ORIGIN_LINEAR,
	};
	struct spp_walk_input bad;
	struct spp_walk_result out, orig;

	memset(&orig, 0x5A, sizeof(orig));
	out = orig;
	assert_int_equal(spp_walk(NULL, &out), -EINVAL);
	assert_int_equal(spp_walk(&in, NULL), -EINVAL);
	bad = in;
	bad.maxphyaddr = 35;
	assert_int_equal(spp_walk(&bad, &out), -EINVAL);
	bad.maxphyaddr = 53;
	assert_int_equal(spp_walk(&bad, &out), -EINVAL);
	bad = in;
	bad.spptp |= 0x8; /* bits 11:0 */
	assert_int_equal(spp_walk(&bad, &out), -EINVAL);
	bad.spptp = 1ULL << 46; /* above MAXPHYADDR */
	assert_int_equal(spp_walk(&bad, &out), -EINVAL);
	bad = in;
	bad.read = NULL; /* an eligible write needs the table */
	assert_true(spp_walk(&bad, &out) < 0);
	bad = in;
	bad.ept.write = true;
	bad.ept.read = false; /* write-only EPT: misconfiguration */
	assert_int_equal(spp_walk(&bad, &out), -EINVAL);
	bad = in;
	bad.read_ctx = NULL; /* the read callback fails */
	assert_int_equal(spp_walk(&bad, &out), -EFAULT);
	assert_memory_equal(&out, &orig, sizeof(out));
	assert_non_null(spp_walk_outcome_name((enum spp_walk_outcome)99));
	assert_non_null(spp_walk_path_name((enum spp_walk_path)99));
	assert_non_null(spp_walk_outcome_name((enum spp_walk_outcome) - 1));
	assert_int_equal(spp_walk(&in, &out), 0); /* the good input works */
	assert_int_equal(out.outcome, SPP_WALK_ALLOWED);
	assert_unchanged(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector),
		cmocka_unit_test_setup_teardown(test_access_null, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_access_add_ram_bad, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_access_set_get_bad, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_access_check_write_bad,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_access_attach_busy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sppt_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_bad, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
