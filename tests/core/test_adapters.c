// SPDX-License-Identifier: MIT
/*
 * test_adapters.c - HVMI's SPP glue pair and KVMi's write-bitmap batches
 * (spp/adapters.h) over a store: every bit's mapping, reserved bits, the
 * all-ones rule, batches all or nothing, bad input changing nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <spp/adapters.h>
#include <spp/spp.h>

#define RAM_BASE 0x100000ULL
#define RAM_SIZE (4ULL << 20)
#define PG(i) (RAM_BASE + SPP_PAGE_SIZE * (i))

static int setup(void **state)
{
	struct spp_access *acc;

	assert_int_equal(spp_access_create(&acc), 0);
	assert_int_equal(spp_access_add_ram(acc, RAM_BASE, RAM_SIZE), 0);
	*state = acc;
	return 0;
}

static int teardown(void **state)
{
	spp_access_destroy(*state);
	return 0;
}

/* Every protected page of @acc folded into one number, to see "nothing
 * changed" in a single comparison. */
static int fold_page(void *ctx, uint64_t gfn, uint32_t map)
{
	uint64_t *h = ctx;

	*h = (*h ^ gfn) * 0x100000001B3ULL;
	*h = (*h ^ map) * 0x100000001B3ULL;
	return 0;
}

static uint64_t digest(const struct spp_access *acc)
{
	uint64_t h = spp_access_count(acc);

	assert_int_equal(spp_access_for_each(acc, fold_page, &h), 0);
	return h;
}

static void test_hvmi_each_bit(void **state)
{
	struct spp_access *acc = *state;
	unsigned int i;
	uint64_t v;

	for (i = 0; i < 32; i++) {
		/* sub-page i writable alone: bit 2i, map bit i */
		assert_int_equal(spp_hvmi_set(acc, PG(1), 1ULL << (2 * i)), 0);
		assert_int_equal(spp_access_lookup(acc, PG(1) >> 12), 1u << i);
		assert_int_equal(spp_hvmi_get(acc, PG(1), &v), 0);
		assert_int_equal(v, 1ULL << (2 * i));
		/* everything but sub-page i writable */
		assert_int_equal(spp_hvmi_set(acc, PG(1),
					      SPP_VECTOR_FULL &
						      ~(1ULL << (2 * i))),
				 0);
		assert_int_equal(spp_access_lookup(acc, PG(1) >> 12),
				 ~(1u << i));
		/* the check agrees: only sub-page i is denied */
		{
			struct spp_write_verdict vd;

			assert_int_equal(spp_access_check_write(
						 acc, PG(1) + 128 * i, 1, &vd),
					 0);
			assert_false(vd.allowed);
			assert_int_equal(vd.denied_subpage, i);
		}
	}
}

static void test_hvmi_full_and_none(void **state)
{
	struct spp_access *acc = *state;
	uint64_t v = 0;

	/* an untouched page reads all writable */
	assert_int_equal(spp_hvmi_get(acc, PG(2), &v), 0);
	assert_int_equal(v, SPP_VECTOR_FULL);
	assert_int_equal(spp_hvmi_set(acc, PG(2), 0), 0);
	assert_int_equal(spp_access_lookup(acc, PG(2) >> 12), 0);
	assert_int_equal(spp_access_count(acc), 1);
	assert_int_equal(spp_hvmi_get(acc, PG(2), &v), 0);
	assert_int_equal(v, 0);
	/* 0x5555...: unprotected again, the page leaves the store */
	assert_int_equal(spp_hvmi_set(acc, PG(2), SPP_VECTOR_FULL), 0);
	assert_int_equal(spp_access_count(acc), 0);
}

static void test_hvmi_odd_bits_rejected(void **state)
{
	struct spp_access *acc = *state;
	unsigned int i;
	uint64_t before, v;

	assert_int_equal(spp_hvmi_set(acc, PG(3), 0x5), 0);
	before = digest(acc);
	for (i = 0; i < 32; i++) {
		assert_int_equal(spp_hvmi_set(acc, PG(3),
					      SPP_VECTOR_FULL |
						      (1ULL << (2 * i + 1))),
				 -EINVAL);
		assert_int_equal(spp_hvmi_set(acc, PG(4), 2ULL << (2 * i)),
				 -EINVAL);
	}
	assert_int_equal(spp_hvmi_set(acc, PG(3), ~0ULL), -EINVAL);
	assert_int_equal(digest(acc), before);
	assert_int_equal(spp_hvmi_get(acc, PG(3), &v), 0);
	assert_int_equal(v, 0x5);
}

static void test_hvmi_bad_input(void **state)
{
	struct spp_access *acc = *state;
	uint64_t v = 0x1234, before = digest(acc);

	assert_int_equal(spp_hvmi_get(NULL, PG(0), &v), -EINVAL);
	assert_int_equal(spp_hvmi_get(acc, PG(0), NULL), -EINVAL);
	assert_int_equal(spp_hvmi_get(acc, PG(0) + 0x80, &v), -EINVAL);
	assert_int_equal(spp_hvmi_get(acc, 1ULL << 48, &v), -EINVAL);
	assert_int_equal(spp_hvmi_get(acc, 0, &v), -EFAULT); /* not RAM */
	assert_int_equal(spp_hvmi_get(acc, RAM_BASE + RAM_SIZE, &v), -EFAULT);
	assert_int_equal(v, 0x1234); /* not written on error */
	assert_int_equal(spp_hvmi_set(NULL, PG(0), 0), -EINVAL);
	assert_int_equal(spp_hvmi_set(acc, PG(0) + 1, 0), -EINVAL);
	assert_int_equal(spp_hvmi_set(acc, 1ULL << 48, 0), -EINVAL);
	assert_int_equal(spp_hvmi_set(acc, 0, 0), -EFAULT);
	assert_int_equal(spp_hvmi_set_with(NULL, acc, PG(0), 0), -EINVAL);
	assert_int_equal(digest(acc), before);
}

/* A setter that records its calls and fails on call @fail_at (1-based). */
struct rec {
	struct spp_access *acc;
	int calls, fail_at, err;
	uint64_t gfn[16], npages[16];
};

static int rec_set(void *ctx, uint64_t gfn, uint64_t npages,
		   const uint32_t *maps)
{
	struct rec *r = ctx;

	if (r->calls < 16) {
		r->gfn[r->calls] = gfn;
		r->npages[r->calls] = npages;
	}
	if (++r->calls == r->fail_at)
		return r->err;
	return spp_access_set_bulk(r->acc, gfn, npages, maps);
}

static void test_hvmi_set_with(void **state)
{
	struct rec r = { .acc = *state };

	assert_int_equal(spp_hvmi_set_with(rec_set, &r, PG(5), 0x4), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.gfn[0], PG(5) >> 12);
	assert_int_equal(r.npages[0], 1);
	assert_int_equal(spp_access_lookup(r.acc, PG(5) >> 12), 0x2);
	/* odd bits never reach the setter */
	assert_int_equal(spp_hvmi_set_with(rec_set, &r, PG(5), 0x2), -EINVAL);
	assert_int_equal(r.calls, 1);
	/* the setter's error is the answer */
	r.fail_at = 2;
	r.err = -EIO;
	assert_int_equal(spp_hvmi_set_with(rec_set, &r, PG(5), 0), -EIO);
	assert_int_equal(spp_access_lookup(r.acc, PG(5) >> 12), 0x2);
}

static void test_kvmi_set_get(void **state)
{
	struct spp_access *acc = *state;
	struct spp_kvmi_entry e[] = {
		{ PG(10), 0xFFFFFFFEu, 0 }, /* sub-page 0 denied */
		{ PG(7), 0x0, 0 }, /* every sub-page denied */
		{ PG(8), 0x80000000u, 0 }, /* only sub-page 31 writable */
		{ PG(9), SPP_ACCESS_FULL, 0 }, /* all ones: unprotected */
	};
	struct spp_kvmi_entry q[] = {
		{ PG(7), 1, 0 },  { PG(8), 1, 0 },  { PG(9), 1, 0 },
		{ PG(10), 1, 0 }, { PG(11), 1, 0 }, { PG(7), 1, 0 },
	};
	size_t bad = 0;

	assert_int_equal(spp_kvmi_set(acc, e, 4, &bad), 0);
	assert_int_equal(bad, SIZE_MAX);
	assert_int_equal(spp_access_count(acc), 3); /* PG(9) unprotected */
	assert_int_equal(spp_kvmi_get(acc, q, 6, &bad), 0);
	assert_int_equal(q[0].bitmap, 0);
	assert_int_equal(q[1].bitmap, 0x80000000u);
	assert_int_equal(q[2].bitmap, SPP_ACCESS_FULL);
	assert_int_equal(q[3].bitmap, 0xFFFFFFFEu);
	assert_int_equal(q[4].bitmap, SPP_ACCESS_FULL); /* never set */
	assert_int_equal(q[5].bitmap, 0); /* duplicates fine for reads */
	/* all ones unprotects a protected page */
	e[1].bitmap = SPP_ACCESS_FULL;
	assert_int_equal(spp_kvmi_set(acc, &e[1], 1, NULL), 0);
	assert_int_equal(spp_access_count(acc), 2);
	/* the same map as the HVMI vector */
	{
		uint64_t v;

		assert_int_equal(spp_hvmi_get(acc, PG(8), &v), 0);
		assert_int_equal(v, 1ULL << 62);
	}
	/* zero entries: nothing */
	assert_int_equal(spp_kvmi_set(acc, NULL, 0, &bad), 0);
	assert_int_equal(spp_kvmi_get(acc, NULL, 0, &bad), 0);
}

static void test_kvmi_each_bit(void **state)
{
	struct spp_access *acc = *state;
	struct spp_kvmi_entry e[32], q[32];
	unsigned int i;

	for (i = 0; i < 32; i++) {
		e[i] = (struct spp_kvmi_entry){ PG(100 + i), 1u << i, 0 };
		q[i] = (struct spp_kvmi_entry){ PG(100 + i), 0, 0 };
	}
	assert_int_equal(spp_kvmi_set(acc, e, 32, NULL), 0);
	assert_int_equal(spp_kvmi_get(acc, q, 32, NULL), 0);
	for (i = 0; i < 32; i++) {
		struct spp_write_verdict vd;
		uint64_t v;

		assert_int_equal(q[i].bitmap, 1u << i);
		assert_int_equal(spp_hvmi_get(acc, PG(100 + i), &v), 0);
		assert_int_equal(v, 1ULL << (2 * i));
		assert_int_equal(spp_access_check_write(
					 acc, PG(100 + i) + 128 * i, 128, &vd),
				 0);
		assert_true(vd.allowed);
	}
}

static void test_kvmi_all_or_nothing(void **state)
{
	struct spp_access *acc = *state;
	struct spp_kvmi_entry e[] = {
		{ PG(20), 0x1, 0 },
		{ PG(21), 0x2, 0 },
		{ PG(22), 0x3, 0 },
		{ PG(23), 0x4, 0 },
	};
	uint64_t before;
	size_t bad;

	assert_int_equal(spp_kvmi_set(acc, e, 1, NULL), 0);
	before = digest(acc);
	/* the last entry bad: the first three are not applied */
	e[3].gpa = RAM_BASE + RAM_SIZE; /* not RAM */
	assert_int_equal(spp_kvmi_set(acc, e, 4, &bad), -EFAULT);
	assert_int_equal(bad, 3);
	assert_int_equal(digest(acc), before);
	e[3].gpa = PG(23) + 0x80; /* not aligned */
	assert_int_equal(spp_kvmi_set(acc, e, 4, &bad), -EINVAL);
	assert_int_equal(bad, 3);
	e[3].gpa = PG(23);
	e[2].padding = 1; /* padding must be 0 */
	assert_int_equal(spp_kvmi_set(acc, e, 4, &bad), -EINVAL);
	assert_int_equal(bad, 2);
	e[2].padding = 0;
	e[1].gpa = 1ULL << 52; /* beyond an SPPT's reach */
	assert_int_equal(spp_kvmi_set(acc, e, 4, &bad), -EINVAL);
	assert_int_equal(bad, 1);
	e[1].gpa = PG(21);
	assert_int_equal(digest(acc), before);
	/* the read side writes nothing on error either */
	{
		struct spp_kvmi_entry q[] = { { PG(20), 7, 0 }, { 0, 7, 0 } };

		assert_int_equal(spp_kvmi_get(acc, q, 2, &bad), -EFAULT);
		assert_int_equal(bad, 1);
		assert_int_equal(q[0].bitmap, 7);
	}
	assert_int_equal(spp_kvmi_set(acc, e, 4, &bad), 0);
	assert_int_equal(spp_access_count(acc), 4);
}

static void test_kvmi_duplicates(void **state)
{
	struct spp_access *acc = *state;
	struct spp_kvmi_entry e[] = {
		{ PG(30), 0x10, 0 },
		{ PG(31), 0x20, 0 },
		{ PG(30), 0x10, 0 }, /* the same again: set once */
		{ PG(31), 0x21, 0 }, /* a conflict */
	};
	struct rec r = { .acc = acc };
	uint64_t before = digest(acc);
	size_t bad;

	assert_int_equal(spp_kvmi_set(acc, e, 4, &bad), -EINVAL);
	assert_int_equal(bad, 3); /* the later entry of the pair */
	assert_int_equal(digest(acc), before);
	assert_int_equal(spp_kvmi_set_with(acc, rec_set, &r, e, 3, &bad), 0);
	/* 30 and 31 are one run: one call */
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.gfn[0], PG(30) >> 12);
	assert_int_equal(r.npages[0], 2);
	assert_int_equal(spp_access_lookup(acc, PG(30) >> 12), 0x10);
	assert_int_equal(spp_access_lookup(acc, PG(31) >> 12), 0x20);
}

static void test_kvmi_setter_failure_undone(void **state)
{
	struct spp_access *acc = *state;
	/* three runs in gfn order: {40,41}, {50}, {60} */
	struct spp_kvmi_entry e[] = {
		{ PG(60), 0x6, 0 },
		{ PG(41), 0x0, 0 },
		{ PG(50), SPP_ACCESS_FULL, 0 },
		{ PG(40), 0x4, 0 },
	};
	struct rec r = { .acc = acc, .fail_at = 3, .err = -EIO };
	uint64_t before;
	size_t bad;

	assert_int_equal(spp_hvmi_set(acc, PG(50), 0x1), 0); /* protected */
	assert_int_equal(spp_hvmi_set(acc, PG(41), 0x4), 0);
	before = digest(acc);
	assert_int_equal(spp_kvmi_set_with(acc, rec_set, &r, e, 4, &bad), -EIO);
	assert_int_equal(bad, 0); /* the run of PG(60) failed */
	/* the two runs done were set back, last first */
	assert_int_equal(r.calls, 5);
	assert_int_equal(r.gfn[0], PG(40) >> 12);
	assert_int_equal(r.gfn[1], PG(50) >> 12);
	assert_int_equal(r.gfn[2], PG(60) >> 12);
	assert_int_equal(r.gfn[3], PG(50) >> 12);
	assert_int_equal(r.gfn[4], PG(40) >> 12);
	assert_int_equal(r.npages[4], 2);
	assert_int_equal(digest(acc), before);
	assert_int_equal(spp_access_lookup(acc, PG(50) >> 12), 0x1);
}

static void test_kvmi_long_run_split(void **state)
{
	struct spp_access *acc = *state;
	static struct spp_kvmi_entry e[600];
	struct rec r = { .acc = acc };
	unsigned int i;

	for (i = 0; i < 600; i++)
		e[i] = (struct spp_kvmi_entry){ PG(200 + 599 - i), 0x7, 0 };
	assert_int_equal(spp_kvmi_set_with(acc, rec_set, &r, e, 600, NULL), 0);
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.npages[0], SPP_SUBPAGE_MAX_PAGES);
	assert_int_equal(r.npages[1], 600 - SPP_SUBPAGE_MAX_PAGES);
	assert_int_equal(spp_access_count(acc), 600);
}

static void test_kvmi_bad_input(void **state)
{
	struct spp_access *acc = *state;
	struct spp_kvmi_entry e = { PG(1), 0, 0 };
	size_t bad = 0;

	assert_int_equal(spp_kvmi_set(NULL, &e, 1, &bad), -EINVAL);
	assert_int_equal(bad, SIZE_MAX);
	assert_int_equal(spp_kvmi_set(acc, NULL, 1, &bad), -EINVAL);
	assert_int_equal(spp_kvmi_set_with(acc, NULL, NULL, &e, 1, &bad),
			 -EINVAL);
	assert_int_equal(spp_kvmi_get(NULL, &e, 1, &bad), -EINVAL);
	assert_int_equal(spp_kvmi_get(acc, NULL, 1, &bad), -EINVAL);
	assert_int_equal(spp_access_count(acc), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_hvmi_each_bit),
		T(test_hvmi_full_and_none),
		T(test_hvmi_odd_bits_rejected),
		T(test_hvmi_bad_input),
		T(test_hvmi_set_with),
		T(test_kvmi_set_get),
		T(test_kvmi_each_bit),
		T(test_kvmi_all_or_nothing),
		T(test_kvmi_duplicates),
		T(test_kvmi_setter_failure_undone),
		T(test_kvmi_long_run_split),
		T(test_kvmi_bad_input),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
