// SPDX-License-Identifier: MIT
/*
 * test_guest_mem.c - regions, the checked GPA -> host translation and the
 * read/write/fill helpers (spp/guest_mem.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <spp/guest_mem.h>

static uint64_t rng_state = 0x243F6A8885A308D3ULL;

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static unsigned char buf_a[0x3000], buf_b[0x2000], buf_c[0x1000];

static void test_empty(void **state)
{
	struct spp_guest_mem m;

	(void)state;
	spp_guest_mem_init(&m);
	assert_int_equal(m.nregions, 0);
	assert_null(spp_guest_mem_ptr(&m, 0, 1));
	assert_null(spp_guest_mem_find(&m, 0));
	assert_null(spp_guest_mem_ptr(NULL, 0, 1));
	assert_null(spp_guest_mem_find(NULL, 0));
	spp_guest_mem_init(NULL); /* no crash */
}

static void test_add_args(void **state)
{
	struct spp_guest_mem m;

	(void)state;
	spp_guest_mem_init(&m);
	assert_int_equal(spp_guest_mem_add(NULL, 0, 1, buf_a), -EINVAL);
	assert_int_equal(spp_guest_mem_add(&m, 0, 1, NULL), -EINVAL);
	assert_int_equal(spp_guest_mem_add(&m, 0, 0, buf_a), -EINVAL);
	/* gpa + size must not wrap past 2^64 (not even to exactly 0). */
	assert_int_equal(spp_guest_mem_add(&m, UINT64_MAX, 1, buf_a), -EINVAL);
	assert_int_equal(spp_guest_mem_add(&m, UINT64_MAX - 0xFFF, 0x1000,
					   buf_a),
			 -EINVAL);
	assert_int_equal(spp_guest_mem_add(&m, 1, UINT64_MAX, buf_a), -EINVAL);
	assert_int_equal(m.nregions, 0);
	/* The largest region there is. */
	assert_int_equal(spp_guest_mem_add(&m, 0, UINT64_MAX, buf_a), 0);
	assert_int_equal(m.nregions, 1);
}

static void test_overlap_and_adjacent(void **state)
{
	struct spp_guest_mem m;

	(void)state;
	spp_guest_mem_init(&m);
	assert_int_equal(spp_guest_mem_add(&m, 0x10000, 0x3000, buf_a), 0);
	/* overlaps: inside, covering, first byte, last byte */
	assert_int_equal(spp_guest_mem_add(&m, 0x11000, 0x1000, buf_b),
			 -EEXIST);
	assert_int_equal(spp_guest_mem_add(&m, 0x0, 0x100000, buf_b), -EEXIST);
	assert_int_equal(spp_guest_mem_add(&m, 0xF000, 0x1001, buf_b), -EEXIST);
	assert_int_equal(spp_guest_mem_add(&m, 0x12FFF, 0x10, buf_b), -EEXIST);
	/* adjacent on both sides is fine */
	assert_int_equal(spp_guest_mem_add(&m, 0x13000, 0x2000, buf_b), 0);
	assert_int_equal(spp_guest_mem_add(&m, 0xF000, 0x1000, buf_c), 0);
	assert_int_equal(m.nregions, 3);
	/* kept sorted */
	assert_int_equal(m.regions[0].gpa, 0xF000);
	assert_int_equal(m.regions[1].gpa, 0x10000);
	assert_int_equal(m.regions[2].gpa, 0x13000);
}

static void test_ptr_edges(void **state)
{
	struct spp_guest_mem m;

	(void)state;
	spp_guest_mem_init(&m);
	assert_int_equal(spp_guest_mem_add(&m, 0x10000, 0x3000, buf_a), 0);
	assert_ptr_equal(spp_guest_mem_ptr(&m, 0x10000, 1), buf_a);
	assert_ptr_equal(spp_guest_mem_ptr(&m, 0x10000, 0x3000), buf_a);
	assert_ptr_equal(spp_guest_mem_ptr(&m, 0x12FFF, 1), buf_a + 0x2FFF);
	assert_ptr_equal(spp_guest_mem_ptr(&m, 0x11234, 0x10), buf_a + 0x1234);
	assert_null(spp_guest_mem_ptr(&m, 0x10000, 0x3001));
	assert_null(spp_guest_mem_ptr(&m, 0x12FFF, 2));
	assert_null(spp_guest_mem_ptr(&m, 0xFFFF, 1));
	assert_null(spp_guest_mem_ptr(&m, 0xFFFF, 2)); /* starts outside */
	assert_null(spp_guest_mem_ptr(&m, 0x13000, 1));
	assert_null(spp_guest_mem_ptr(&m, 0, 1));
	/* len 0 is never a valid range */
	assert_null(spp_guest_mem_ptr(&m, 0x10000, 0));
	assert_null(spp_guest_mem_ptr(&m, 0x11000, 0));
	/* huge lengths, overflowing ones */
	assert_null(spp_guest_mem_ptr(&m, 0x10000, UINT64_MAX));
	assert_null(spp_guest_mem_ptr(&m, 0x10001, UINT64_MAX));
	assert_null(spp_guest_mem_ptr(&m, 0x12FFF, UINT64_MAX - 0x12FFF + 2));
	assert_null(spp_guest_mem_ptr(&m, UINT64_MAX, 1));
	assert_null(spp_guest_mem_ptr(&m, UINT64_MAX, UINT64_MAX));
}

static void test_ptr_top_of_address_space(void **state)
{
	struct spp_guest_mem m;
	const uint64_t gpa = UINT64_MAX - 0x1FFF; /* ends at 2^64 - 0x1000 */

	(void)state;
	spp_guest_mem_init(&m);
	assert_int_equal(spp_guest_mem_add(&m, gpa, 0x1000, buf_c), 0);
	assert_ptr_equal(spp_guest_mem_ptr(&m, gpa, 0x1000), buf_c);
	assert_ptr_equal(spp_guest_mem_ptr(&m, gpa + 0xFFF, 1), buf_c + 0xFFF);
	assert_null(spp_guest_mem_ptr(&m, gpa + 0xFFF, 2));
	assert_null(spp_guest_mem_ptr(&m, gpa, 0x1001));
	assert_null(spp_guest_mem_ptr(&m, gpa + 0x1000, 1));
	assert_null(spp_guest_mem_ptr(&m, UINT64_MAX, 1));
	assert_null(spp_guest_mem_ptr(&m, gpa + 0x800, UINT64_MAX));
	assert_null(spp_guest_mem_ptr(&m, gpa + 0x800, UINT64_MAX - 0x7FF));
	/* An adjacent region up to the last representable end (the byte at
	 * UINT64_MAX itself can never be in a region). */
	assert_int_equal(spp_guest_mem_add(&m, UINT64_MAX - 0x1000, 0x1000,
					   buf_b),
			 -EEXIST);
	assert_int_equal(
		spp_guest_mem_add(&m, UINT64_MAX - 0xFFF, 0xFFF, buf_b), 0);
	assert_ptr_equal(spp_guest_mem_ptr(&m, UINT64_MAX - 1, 1),
			 buf_b + 0xFFE);
	assert_ptr_equal(spp_guest_mem_ptr(&m, UINT64_MAX - 0xFFF, 0xFFF),
			 buf_b);
	assert_null(spp_guest_mem_ptr(&m, UINT64_MAX - 0x1000, 2));
	assert_null(spp_guest_mem_ptr(&m, UINT64_MAX - 1, 2));
	assert_null(spp_guest_mem_ptr(&m, UINT64_MAX, 1));
}

static void test_adjacent_do_not_merge(void **state)
{
	struct spp_guest_mem m;

	(void)state;
	spp_guest_mem_init(&m);
	assert_int_equal(spp_guest_mem_add(&m, 0x10000, 0x3000, buf_a), 0);
	assert_int_equal(spp_guest_mem_add(&m, 0x13000, 0x2000, buf_b), 0);
	assert_ptr_equal(spp_guest_mem_ptr(&m, 0x12FFF, 1), buf_a + 0x2FFF);
	assert_ptr_equal(spp_guest_mem_ptr(&m, 0x13000, 1), buf_b);
	/* a range straddling the seam is refused, however short */
	assert_null(spp_guest_mem_ptr(&m, 0x12FFF, 2));
	assert_null(spp_guest_mem_ptr(&m, 0x10000, 0x5000));
	assert_null(spp_guest_mem_ptr(&m, 0x12000, 0x2000));
	assert_int_equal(spp_guest_mem_read(&m, 0x12FFF, buf_c, 2), -EFAULT);
	assert_ptr_equal(spp_guest_mem_find(&m, 0x12FFF), &m.regions[0]);
	assert_ptr_equal(spp_guest_mem_find(&m, 0x13000), &m.regions[1]);
	assert_ptr_equal(spp_guest_mem_find(&m, 0x14FFF), &m.regions[1]);
	assert_null(spp_guest_mem_find(&m, 0x15000));
}

static void test_remove(void **state)
{
	struct spp_guest_mem m;

	(void)state;
	spp_guest_mem_init(&m);
	assert_int_equal(spp_guest_mem_add(&m, 0x10000, 0x3000, buf_a), 0);
	assert_int_equal(spp_guest_mem_add(&m, 0x20000, 0x2000, buf_b), 0);
	assert_int_equal(spp_guest_mem_add(&m, 0x30000, 0x1000, buf_c), 0);
	assert_int_equal(spp_guest_mem_remove(NULL, 0x10000, 0x3000), -EINVAL);
	/* exact match only */
	assert_int_equal(spp_guest_mem_remove(&m, 0x10000, 0x2000), -ENOENT);
	assert_int_equal(spp_guest_mem_remove(&m, 0x11000, 0x2000), -ENOENT);
	assert_int_equal(spp_guest_mem_remove(&m, 0x20000, 0x2000), 0);
	assert_int_equal(m.nregions, 2);
	assert_null(spp_guest_mem_ptr(&m, 0x20000, 1));
	assert_ptr_equal(spp_guest_mem_ptr(&m, 0x30000, 1), buf_c);
	assert_ptr_equal(spp_guest_mem_ptr(&m, 0x10000, 1), buf_a);
	assert_int_equal(spp_guest_mem_remove(&m, 0x20000, 0x2000), -ENOENT);
	/* the hole can be filled again, differently */
	assert_int_equal(spp_guest_mem_add(&m, 0x13000, 0x1D000, buf_b), 0);
	assert_int_equal(spp_guest_mem_remove(&m, 0x10000, 0x3000), 0);
	assert_int_equal(spp_guest_mem_remove(&m, 0x30000, 0x1000), 0);
	assert_int_equal(spp_guest_mem_remove(&m, 0x13000, 0x1D000), 0);
	assert_int_equal(m.nregions, 0);
}

static void test_capacity(void **state)
{
	struct spp_guest_mem m;
	unsigned int i;

	(void)state;
	spp_guest_mem_init(&m);
	for (i = 0; i < SPP_GUEST_MEM_MAX_REGIONS; i++)
		assert_int_equal(spp_guest_mem_add(&m, (uint64_t)i << 20,
						   0x1000, buf_c),
				 0);
	assert_int_equal(spp_guest_mem_add(&m, 1ULL << 40, 0x1000, buf_c),
			 -ENOSPC);
	/* overlap is reported before fullness */
	assert_int_equal(spp_guest_mem_add(&m, 0, 0x1000, buf_c), -EEXIST);
	assert_int_equal(spp_guest_mem_remove(&m, 5ULL << 20, 0x1000), 0);
	assert_int_equal(spp_guest_mem_add(&m, 1ULL << 40, 0x1000, buf_c), 0);
	for (i = 1; i < m.nregions; i++)
		assert_true(m.regions[i - 1].gpa < m.regions[i].gpa);
}

static void test_read_write_fill(void **state)
{
	struct spp_guest_mem m;
	unsigned char out[16], ref[sizeof(buf_a)];

	(void)state;
	spp_guest_mem_init(&m);
	memset(buf_a, 0x11, sizeof(buf_a));
	assert_int_equal(spp_guest_mem_add(&m, 0x10000, sizeof(buf_a), buf_a),
			 0);
	assert_int_equal(spp_guest_mem_write(&m, 0x10010, "abcdef", 6), 0);
	assert_memory_equal(buf_a + 0x10, "abcdef", 6);
	assert_int_equal(spp_guest_mem_read(&m, 0x10011, out, 3), 0);
	assert_memory_equal(out, "bcd", 3);
	assert_int_equal(spp_guest_mem_fill(&m, 0x12FF0, 0x77, 16), 0);
	assert_int_equal(buf_a[0x2FF0], 0x77);
	assert_int_equal(buf_a[0x2FFF], 0x77);

	/* failures change nothing */
	memcpy(ref, buf_a, sizeof(ref));
	memset(out, 0xEE, sizeof(out));
	assert_int_equal(spp_guest_mem_write(&m, 0x12FF8, "0123456789", 10),
			 -EFAULT);
	assert_int_equal(spp_guest_mem_fill(&m, 0xFFFF, 0, 2), -EFAULT);
	assert_int_equal(spp_guest_mem_fill(&m, UINT64_MAX, 0, 1), -EFAULT);
	assert_int_equal(spp_guest_mem_read(&m, 0x12FFF, out, 2), -EFAULT);
	assert_int_equal(out[0], 0xEE);
	assert_memory_equal(ref, buf_a, sizeof(ref));

	/* len 0 and NULL */
	assert_int_equal(spp_guest_mem_read(&m, 0, out, 0), 0);
	assert_int_equal(spp_guest_mem_write(&m, 0, out, 0), 0);
	assert_int_equal(spp_guest_mem_fill(&m, 0, 0, 0), 0);
	assert_int_equal(spp_guest_mem_read(&m, 0x10000, NULL, 1), -EINVAL);
	assert_int_equal(spp_guest_mem_write(&m, 0x10000, NULL, 1), -EINVAL);
	assert_int_equal(spp_guest_mem_read(NULL, 0x10000, out, 1), -EINVAL);
	assert_int_equal(spp_guest_mem_write(NULL, 0x10000, out, 1), -EINVAL);
	assert_int_equal(spp_guest_mem_fill(NULL, 0x10000, 0, 1), -EINVAL);
	assert_memory_equal(ref, buf_a, sizeof(ref));
}

/* Brute-force reference: the region index holding [gpa, gpa+len), or -1. */
static int ref_lookup(const uint64_t *gpa, const uint64_t *size, int n,
		      uint64_t a, uint64_t len)
{
	int i;

	if (!len)
		return -1;
	for (i = 0; i < n; i++) {
		if (a >= gpa[i] && a - gpa[i] < size[i] &&
		    len <= size[i] - (a - gpa[i]))
			return i;
	}
	return -1;
}

static void test_random_against_reference(void **state)
{
	static unsigned char backing[32][64];
	uint64_t gpa[32], size[32];
	int round, n, i, k;

	(void)state;
	for (round = 0; round < 200; round++) {
		struct spp_guest_mem m;

		spp_guest_mem_init(&m);
		n = 0;
		/* Random small regions in a small space, some adjacent. */
		for (k = 0; k < 64 && n < 32; k++) {
			uint64_t g = (rng_next() % 64) * 32;
			uint64_t s = 1 + rng_next() % 64;
			int expect = 0, ret;

			if (round & 1)
				g += UINT64_MAX - 4096; /* near the top */
			for (i = 0; i < n; i++)
				if (g < gpa[i] + size[i] && gpa[i] < g + s)
					expect = -EEXIST;
			ret = spp_guest_mem_add(&m, g, s, backing[n]);
			assert_int_equal(ret, expect);
			if (!ret) {
				gpa[n] = g;
				size[n] = s;
				n++;
			}
		}
		for (k = 0; k < 2000; k++) {
			uint64_t base = (round & 1) ? UINT64_MAX - 4096 : 0;
			uint64_t a = base + rng_next() % 2200;
			uint64_t len = rng_next() % 80;
			void *p;
			int r;

			if (!(k % 50))
				len = UINT64_MAX - rng_next() % 3;
			p = spp_guest_mem_ptr(&m, a, len);
			r = ref_lookup(gpa, size, n, a, len);
			if (r < 0)
				assert_null(p);
			else
				assert_ptr_equal(p, backing[r] + (a - gpa[r]));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_add_args),
		cmocka_unit_test(test_overlap_and_adjacent),
		cmocka_unit_test(test_ptr_edges),
		cmocka_unit_test(test_ptr_top_of_address_space),
		cmocka_unit_test(test_adjacent_do_not_merge),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_read_write_fill),
		cmocka_unit_test(test_random_against_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
