// SPDX-License-Identifier: MIT
/*
 * test_walk.c - spp_walk(), the hardware decision for one access
 * (spp/walk.h, spec §1.4-§1.7): every step of the decision order, SPP
 * miss and misconfiguration at every level and for every reserved-bit
 * class, qualification bits, argument errors, and a walk over a real
 * struct spp_sppt compared with spp_access_check_write().
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

/* ---- a tiny fake physical memory holding SPPT pages --------------------- */

#define FAKE_PAGES 16

struct fake_mem {
	int npages;
	uint64_t pa[FAKE_PAGES];
	uint64_t e[FAKE_PAGES][512];
	int reads;
	uint64_t read_pa[8];
	uint64_t fail_page; /* reads of this page fail with fail_err */
	int fail_err;
};

static int fake_read(void *ctx, uint64_t pa, uint64_t *entry)
{
	struct fake_mem *m = ctx;
	int i;

	if (m->reads < 8)
		m->read_pa[m->reads] = pa;
	m->reads++;
	if (m->fail_err && (pa & ~0xFFFULL) == m->fail_page)
		return m->fail_err;
	if (pa & 7)
		return -EFAULT;
	for (i = 0; i < m->npages; i++) {
		if (m->pa[i] == (pa & ~0xFFFULL)) {
			*entry = m->e[i][(pa & 0xFFF) >> 3];
			return 0;
		}
	}
	return -EFAULT;
}

static uint64_t *fake_table(struct fake_mem *m, uint64_t pa)
{
	int i;

	for (i = 0; i < m->npages; i++)
		if (m->pa[i] == pa)
			return m->e[i];
	assert_true(m->npages < FAKE_PAGES);
	m->pa[m->npages] = pa;
	memset(m->e[m->npages], 0, sizeof(m->e[0]));
	return m->e[m->npages++];
}

/* The standard test GPA: distinct index at every level, sub-page 9. */
#define GPA 0x00001234567894C0ULL
#define T4 0x10000ULL
#define T3 0x11000ULL
#define T2 0x12000ULL
#define T1 0x13000ULL

static unsigned int idx(uint64_t gpa, int level)
{
	return (unsigned int)((gpa >> (12 + 9 * (level - 1))) & 0x1FF);
}

struct tables {
	uint64_t pa[5]; /* pa[level], 1..4 */
};

/* Build a 4-level SPPT in @m for @gpa ending in @vector. */
static void build_at(struct fake_mem *m, const struct tables *t, uint64_t gpa,
		     uint64_t vector)
{
	int level;

	for (level = 4; level >= 2; level--)
		fake_table(m, t->pa[level])[idx(gpa, level)] =
			t->pa[level - 1] | 1;
	fake_table(m, t->pa[1])[idx(gpa, 1)] = vector;
}

static const struct tables std_tables = { { 0, T1, T2, T3, T4 } };

static uint64_t *entry_at(struct fake_mem *m, const struct tables *t,
			  uint64_t gpa, int level)
{
	return &fake_table(m, t->pa[level])[idx(gpa, level)];
}

static void build(struct fake_mem *m, uint64_t vector)
{
	memset(m, 0, sizeof(*m));
	build_at(m, &std_tables, GPA, vector);
}

/* An eligible write to GPA. */
static void std_input(struct spp_walk_input *in, struct fake_mem *m)
{
	memset(in, 0, sizeof(*in));
	in->spp_enabled = true;
	in->spptp = T4;
	in->maxphyaddr = 46;
	in->read = fake_read;
	in->read_ctx = m;
	in->ept.read = true;
	in->ept.write = false;
	in->ept.exec = false;
	in->ept.spp = true;
	in->ept.size = SPP_EPT_4K;
	in->gpa = GPA;
	in->type = SPP_ACCESS_WRITE;
	in->origin = SPP_ORIGIN_LINEAR;
	in->nmi_unblocking = false;
}

static struct spp_walk_result walk(const struct spp_walk_input *in)
{
	struct spp_walk_result r;

	memset(&r, 0xA5, sizeof(r));
	assert_int_equal(spp_walk(in, &r), 0);
	assert_int_equal(r.subpage, (in->gpa >> 7) & 31);
	return r;
}

#define Q_WRITE_STD                                                \
	(SPP_EPTV_WRITE | SPP_EPTV_READABLE | SPP_EPTV_GLA_VALID | \
	 SPP_EPTV_GLA_XLATE)

static void expect_allowed(const struct spp_walk_result *r,
			   enum spp_walk_path path)
{
	assert_int_equal(r->outcome, SPP_WALK_ALLOWED);
	assert_int_equal(r->path, path);
	assert_int_equal(r->exit_reason, 0);
	assert_int_equal(r->exit_qualification, 0);
}

static void expect_eptv(const struct spp_walk_result *r,
			enum spp_walk_path path, uint64_t qual)
{
	assert_int_equal(r->outcome, SPP_WALK_EPT_VIOLATION);
	assert_int_equal(r->path, path);
	assert_int_equal(r->exit_reason, SPP_EXIT_EPT_VIOLATION);
	assert_int_equal(r->exit_qualification, qual);
	assert_int_equal(r->exit_qualification & SPP_QUAL_SPP_MISS, 0);
}

static void expect_spp_event(const struct spp_walk_result *r,
			     enum spp_walk_outcome outcome, int level,
			     uint64_t entry, uint64_t qual)
{
	assert_int_equal(r->outcome, outcome);
	assert_int_equal(r->path, SPP_PATH_SPPT);
	assert_int_equal(r->exit_reason, SPP_EXIT_SPP_EVENT);
	assert_int_equal(r->exit_qualification, qual);
	assert_int_equal(r->level, level);
	assert_int_equal(r->entry, entry);
}

/* ---- step 1: reads and fetches ------------------------------------------- */

static void test_reads(void **state)
{
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;

	(void)state;
	build(&m, 0);
	std_input(&in, &m);
	in.type = SPP_ACCESS_READ;
	/* readable: allowed, whatever the SPPT says */
	r = walk(&in);
	expect_allowed(&r, SPP_PATH_NOT_WRITE);
	assert_int_equal(r.level, 0);
	assert_int_equal(m.reads, 0);
	in.ept.write = in.ept.exec = true;
	r = walk(&in);
	expect_allowed(&r, SPP_PATH_NOT_WRITE);
	in.ept.write = in.ept.exec = false;
	in.ept.spp = false;
	in.spp_enabled = false;
	r = walk(&in);
	expect_allowed(&r, SPP_PATH_NOT_WRITE);
	in.spp_enabled = true;
	in.ept.spp = true;
	in.ept.size = SPP_EPT_2M;
	r = walk(&in);
	expect_allowed(&r, SPP_PATH_NOT_WRITE);
	in.ept.size = SPP_EPT_4K;

	/* not readable: EPT violation with the read qualification */
	in.ept.read = false;
	in.ept.exec = true;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_WRITE,
		    SPP_EPTV_READ | SPP_EPTV_EXECUTABLE | SPP_EPTV_GLA_VALID |
			    SPP_EPTV_GLA_XLATE);
	assert_int_equal(r.level, 0);
	in.ept.exec = false;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_WRITE,
		    SPP_EPTV_READ | SPP_EPTV_GLA_VALID | SPP_EPTV_GLA_XLATE);
	in.origin = SPP_ORIGIN_PAGE_WALK;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_WRITE, SPP_EPTV_READ | SPP_EPTV_GLA_VALID);
	in.origin = SPP_ORIGIN_PHYSICAL;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_WRITE, SPP_EPTV_READ);
	in.nmi_unblocking = true;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_WRITE,
		    SPP_EPTV_READ | SPP_QUAL_NMI_UNBLOCK);
	assert_int_equal(m.reads, 0);
}

static void test_fetches(void **state)
{
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;

	(void)state;
	build(&m, 0);
	std_input(&in, &m);
	in.type = SPP_ACCESS_FETCH;
	/* R=1, X=0 */
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_WRITE,
		    SPP_EPTV_FETCH | SPP_EPTV_READABLE | SPP_EPTV_GLA_VALID |
			    SPP_EPTV_GLA_XLATE);
	in.ept.write = true;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_WRITE,
		    SPP_EPTV_FETCH | SPP_EPTV_READABLE | SPP_EPTV_WRITABLE |
			    SPP_EPTV_GLA_VALID | SPP_EPTV_GLA_XLATE);
	in.ept.write = false;
	in.ept.exec = true;
	r = walk(&in);
	expect_allowed(&r, SPP_PATH_NOT_WRITE);
	/* execute-only */
	in.ept.read = false;
	r = walk(&in);
	expect_allowed(&r, SPP_PATH_NOT_WRITE);
	/* nothing */
	in.ept.exec = false;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_WRITE,
		    SPP_EPTV_FETCH | SPP_EPTV_GLA_VALID | SPP_EPTV_GLA_XLATE);
	assert_int_equal(m.reads, 0);
}

/* ---- steps 2..7 ------------------------------------------------------------ */

static void test_ept_writable(void **state)
{
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;

	(void)state;
	build(&m, 0); /* the SPPT would deny */
	std_input(&in, &m);
	in.ept.write = true;
	r = walk(&in);
	expect_allowed(&r, SPP_PATH_EPT_WRITABLE);
	assert_int_equal(r.level, 0);
	/* whatever else holds */
	in.spp_enabled = false;
	in.ept.size = SPP_EPT_1G;
	in.ept.spp = false;
	in.origin = SPP_ORIGIN_PAGE_WALK;
	r = walk(&in);
	expect_allowed(&r, SPP_PATH_EPT_WRITABLE);
	in.origin = SPP_ORIGIN_PHYSICAL;
	r = walk(&in);
	expect_allowed(&r, SPP_PATH_EPT_WRITABLE);
	assert_int_equal(m.reads, 0);
}

static void test_control_off(void **state)
{
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;

	(void)state;
	build(&m, SPP_VECTOR_FULL); /* the SPPT would allow */
	std_input(&in, &m);
	in.spp_enabled = false;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_CONTROL_OFF, Q_WRITE_STD);
	assert_int_equal(r.level, 0);
	in.ept.exec = true;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_CONTROL_OFF,
		    Q_WRITE_STD | SPP_EPTV_EXECUTABLE);
	in.nmi_unblocking = true;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_CONTROL_OFF,
		    Q_WRITE_STD | SPP_EPTV_EXECUTABLE | SPP_QUAL_NMI_UNBLOCK);
	/* control off wins over the later steps */
	in.nmi_unblocking = false;
	in.ept.exec = false;
	in.ept.size = SPP_EPT_2M;
	in.ept.spp = false;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_CONTROL_OFF, Q_WRITE_STD);
	assert_int_equal(m.reads, 0);
}

static void test_large_pages(void **state)
{
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;

	(void)state;
	build(&m, SPP_VECTOR_FULL);
	std_input(&in, &m);
	in.ept.size = SPP_EPT_2M;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_LARGE_PAGE, Q_WRITE_STD);
	in.ept.size = SPP_EPT_1G;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_LARGE_PAGE, Q_WRITE_STD);
	assert_int_equal(r.level, 0);
	/* large page wins over bit 61 clear and not readable... */
	in.ept.spp = false;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_LARGE_PAGE, Q_WRITE_STD);
	in.ept.spp = true;
	in.origin = SPP_ORIGIN_PAGE_WALK;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_LARGE_PAGE,
		    SPP_EPTV_WRITE | SPP_EPTV_READABLE | SPP_EPTV_GLA_VALID);
	assert_int_equal(m.reads, 0);
}

static void test_no_spp_bit(void **state)
{
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;

	(void)state;
	build(&m, SPP_VECTOR_FULL);
	std_input(&in, &m);
	in.ept.spp = false;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NO_SPP_BIT, Q_WRITE_STD);
	assert_int_equal(r.level, 0);
	/* wins over not readable and not linear */
	in.ept.read = false;
	in.origin = SPP_ORIGIN_PHYSICAL;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NO_SPP_BIT, SPP_EPTV_WRITE);
	assert_int_equal(m.reads, 0);
}

static void test_not_readable(void **state)
{
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;

	(void)state;
	build(&m, SPP_VECTOR_FULL);
	std_input(&in, &m);
	in.ept.read = false;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_READABLE,
		    SPP_EPTV_WRITE | SPP_EPTV_GLA_VALID | SPP_EPTV_GLA_XLATE);
	assert_int_equal(r.level, 0);
	in.ept.exec = true;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_READABLE,
		    SPP_EPTV_WRITE | SPP_EPTV_EXECUTABLE | SPP_EPTV_GLA_VALID |
			    SPP_EPTV_GLA_XLATE);
	/* wins over not linear */
	in.origin = SPP_ORIGIN_PAGE_WALK;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_READABLE,
		    SPP_EPTV_WRITE | SPP_EPTV_EXECUTABLE | SPP_EPTV_GLA_VALID);
	assert_int_equal(m.reads, 0);
}

static void test_not_linear(void **state)
{
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;

	(void)state;
	build(&m, SPP_VECTOR_FULL);
	std_input(&in, &m);
	in.origin = SPP_ORIGIN_PAGE_WALK;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_LINEAR,
		    SPP_EPTV_WRITE | SPP_EPTV_READABLE | SPP_EPTV_GLA_VALID);
	assert_int_equal(r.level, 0);
	in.origin = SPP_ORIGIN_PHYSICAL;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_LINEAR,
		    SPP_EPTV_WRITE | SPP_EPTV_READABLE);
	in.nmi_unblocking = true;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_NOT_LINEAR,
		    SPP_EPTV_WRITE | SPP_EPTV_READABLE | SPP_QUAL_NMI_UNBLOCK);
	assert_int_equal(m.reads, 0);
}

/* ---- step 8: the SPPT decides ------------------------------------------------ */

static void test_sppt_leaf_bits(void **state)
{
	const uint32_t map = 0x0F0F3C5A;
	const uint64_t vec = spp_vector_from_map(map);
	const uint64_t page = GPA & ~0xFFFULL;
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;
	unsigned int i;

	(void)state;
	build(&m, vec);
	std_input(&in, &m);
	for (i = 0; i < 32; i++) {
		static const uint64_t offs[] = { 0, 1, 64, 127 };
		unsigned int k;

		for (k = 0; k < 4; k++) {
			in.gpa = page + i * 128 + offs[k];
			m.reads = 0;
			r = walk(&in);
			assert_int_equal(r.path, SPP_PATH_SPPT);
			assert_int_equal(r.level, 1);
			assert_int_equal(r.entry, vec);
			assert_int_equal(r.subpage, i);
			assert_int_equal(m.reads, 4);
			if (map & (1u << i))
				expect_allowed(&r, SPP_PATH_SPPT);
			else
				expect_eptv(&r, SPP_PATH_SPPT, Q_WRITE_STD);
		}
	}
	/* the walker read the right entries */
	in.gpa = GPA;
	m.reads = 0;
	walk(&in);
	assert_int_equal(m.read_pa[0], T4 + idx(GPA, 4) * 8);
	assert_int_equal(m.read_pa[1], T3 + idx(GPA, 3) * 8);
	assert_int_equal(m.read_pa[2], T2 + idx(GPA, 2) * 8);
	assert_int_equal(m.read_pa[3], T1 + idx(GPA, 1) * 8);

	/* denied with X and NMI unblocking */
	in.gpa = page; /* sub-page 0: map bit 0 clear */
	in.ept.exec = true;
	in.nmi_unblocking = true;
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_SPPT,
		    Q_WRITE_STD | SPP_EPTV_EXECUTABLE | SPP_QUAL_NMI_UNBLOCK);
	assert_int_equal(r.level, 1);
}

static void test_sppt_full_and_empty_vector(void **state)
{
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;
	uint64_t off;

	(void)state;
	build(&m, SPP_VECTOR_FULL);
	std_input(&in, &m);
	for (off = 0; off < 4096; off += 128) {
		in.gpa = (GPA & ~0xFFFULL) + off;
		r = walk(&in);
		expect_allowed(&r, SPP_PATH_SPPT);
	}
	build(&m, 0);
	for (off = 0; off < 4096; off += 128) {
		in.gpa = (GPA & ~0xFFFULL) + off + 5;
		r = walk(&in);
		expect_eptv(&r, SPP_PATH_SPPT, Q_WRITE_STD);
		assert_int_equal(r.entry, 0);
		assert_int_equal(r.level, 1);
	}
}

static void test_spp_miss_each_level(void **state)
{
	int level;

	(void)state;
	for (level = 4; level >= 2; level--) {
		static const uint64_t not_present[] = {
			0,
			T1, /* KVM's trick: address kept, bit 0 cleared */
			0xFFF0000000000FFEULL, /* reserved bits, no bit 0 */
			0xFFFFFFFFFFFFFFFEULL,
		};
		unsigned int k;

		for (k = 0; k < 4; k++) {
			struct fake_mem m;
			struct spp_walk_input in;
			struct spp_walk_result r;

			build(&m, SPP_VECTOR_FULL);
			*entry_at(&m, &std_tables, GPA, level) = not_present[k];
			std_input(&in, &m);
			r = walk(&in);
			expect_spp_event(&r, SPP_WALK_SPP_MISS, level,
					 not_present[k], SPP_QUAL_SPP_MISS);
			assert_int_equal(m.reads, 5 - level);
			in.nmi_unblocking = true;
			r = walk(&in);
			expect_spp_event(
				&r, SPP_WALK_SPP_MISS, level, not_present[k],
				SPP_QUAL_SPP_MISS | SPP_QUAL_NMI_UNBLOCK);
		}
	}
}

/* One misconfiguration case: @bit set in the entry at @level. */
static void check_misconfig_bit(int level, unsigned int bit,
				unsigned int maxphyaddr)
{
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;
	uint64_t *e, val;

	build(&m, SPP_VECTOR_FULL);
	e = entry_at(&m, &std_tables, GPA, level);
	*e |= 1ULL << bit;
	val = *e;
	std_input(&in, &m);
	in.maxphyaddr = maxphyaddr;
	r = walk(&in);
	expect_spp_event(&r, SPP_WALK_SPP_MISCONFIG, level, val, 0);
	assert_int_equal(m.reads, 5 - level);
	in.nmi_unblocking = true;
	r = walk(&in);
	expect_spp_event(&r, SPP_WALK_SPP_MISCONFIG, level, val,
			 SPP_QUAL_NMI_UNBLOCK);
}

static void test_misconfig_low_bits(void **state)
{
	int level;
	unsigned int bit;

	(void)state;
	for (level = 4; level >= 2; level--)
		for (bit = 1; bit <= 11; bit++)
			check_misconfig_bit(level, bit, 46);
}

static void test_misconfig_high_bits(void **state)
{
	int level;
	unsigned int bit;

	(void)state;
	for (level = 4; level >= 2; level--)
		for (bit = 52; bit <= 63; bit++)
			check_misconfig_bit(level, bit, 46);
}

static void test_misconfig_above_maxphyaddr(void **state)
{
	static const unsigned int mpas[] = { 39, 46, 36, 52 };
	unsigned int k, bit;
	int level;

	(void)state;
	for (k = 0; k < 4; k++)
		for (level = 4; level >= 2; level--)
			for (bit = mpas[k]; bit <= 51; bit++)
				check_misconfig_bit(level, bit, mpas[k]);
}

/* Address bits just below MAXPHYADDR are a valid table address. */
static void test_tables_high_in_maxphyaddr(void **state)
{
	static const unsigned int mpas[] = { 39, 46, 52 };
	unsigned int k;

	(void)state;
	for (k = 0; k < 3; k++) {
		const uint64_t hi = 1ULL << (mpas[k] - 1);
		const struct tables t = { { 0, hi | T1, hi | T2, hi | T3,
					    hi | T4 } };
		struct fake_mem m;
		struct spp_walk_input in;
		struct spp_walk_result r;
		const uint32_t map = ~(1u << 9); /* GPA is in sub-page 9 */

		memset(&m, 0, sizeof(m));
		build_at(&m, &t, GPA, spp_vector_from_map(map));
		std_input(&in, &m);
		in.maxphyaddr = mpas[k];
		in.spptp = hi | T4;
		r = walk(&in);
		expect_eptv(&r, SPP_PATH_SPPT, Q_WRITE_STD);
		assert_int_equal(r.level, 1);
		assert_int_equal(m.reads, 4);
		in.gpa = GPA + 128;
		r = walk(&in);
		expect_allowed(&r, SPP_PATH_SPPT);
	}
}

static void test_misconfig_leaf_odd_bits(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < 32; i++) {
		static const uint64_t bases[] = { 0, SPP_VECTOR_FULL };
		unsigned int k;

		for (k = 0; k < 2; k++) {
			struct fake_mem m;
			struct spp_walk_input in;
			struct spp_walk_result r;
			uint64_t vec = bases[k] | (1ULL << (2 * i + 1));

			build(&m, vec);
			std_input(&in, &m);
			r = walk(&in);
			expect_spp_event(&r, SPP_WALK_SPP_MISCONFIG, 1, vec, 0);
			assert_int_equal(m.reads, 4);
		}
	}
}

/* A miss higher up wins over a misconfigured entry further down. */
static void test_first_problem_wins(void **state)
{
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;

	(void)state;
	build(&m, SPP_VECTOR_RESERVED); /* misconfigured leaf */
	*entry_at(&m, &std_tables, GPA, 2) |= 1ULL << 5; /* bad L2E */
	*entry_at(&m, &std_tables, GPA, 3) = 0; /* L3E not present */
	std_input(&in, &m);
	r = walk(&in);
	expect_spp_event(&r, SPP_WALK_SPP_MISS, 3, 0, SPP_QUAL_SPP_MISS);
	*entry_at(&m, &std_tables, GPA, 3) = T2 | 1;
	r = walk(&in);
	expect_spp_event(&r, SPP_WALK_SPP_MISCONFIG, 2, T1 | 1 | (1ULL << 5),
			 0);
	*entry_at(&m, &std_tables, GPA, 2) = T1 | 1;
	r = walk(&in);
	expect_spp_event(&r, SPP_WALK_SPP_MISCONFIG, 1, SPP_VECTOR_RESERVED, 0);
}

/* ---- errors ---------------------------------------------------------------------- */

static void expect_einval(const struct spp_walk_input *in)
{
	struct spp_walk_result r, sentinel;

	memset(&r, 0x5C, sizeof(r));
	memset(&sentinel, 0x5C, sizeof(sentinel));
	assert_int_equal(spp_walk(in, &r), -EINVAL);
	assert_memory_equal(&r, &sentinel, sizeof(r));
}

static void test_invalid_args(void **state)
{
	struct fake_mem m;
	struct spp_walk_input in;
	struct spp_walk_result r;
	unsigned int bit;

	(void)state;
	build(&m, SPP_VECTOR_FULL);
	std_input(&in, &m);
	assert_int_equal(spp_walk(NULL, &r), -EINVAL);
	assert_int_equal(spp_walk(&in, NULL), -EINVAL);

	/* MAXPHYADDR */
	in.maxphyaddr = 35;
	expect_einval(&in);
	in.maxphyaddr = 53;
	expect_einval(&in);
	in.maxphyaddr = 0;
	expect_einval(&in);
	in.maxphyaddr = 46;

	/* SPPTP bits 11:0 */
	for (bit = 0; bit < 12; bit++) {
		in.spptp = T4 | (1ULL << bit);
		expect_einval(&in);
	}
	/* SPPTP at or above 2^MAXPHYADDR */
	in.spptp = T4 | (1ULL << 46);
	expect_einval(&in);
	in.spptp = T4 | (1ULL << 63);
	expect_einval(&in);
	in.maxphyaddr = 39;
	in.spptp = T4 | (1ULL << 39);
	expect_einval(&in);
	in.spptp = T4 | (1ULL << 45);
	expect_einval(&in);
	in.maxphyaddr = 46;
	in.spptp = T4;

	/* a write-only EPT leaf is an EPT misconfiguration */
	in.ept.read = false;
	in.ept.write = true;
	expect_einval(&in);
	in.type = SPP_ACCESS_READ;
	expect_einval(&in);
	in.type = SPP_ACCESS_FETCH;
	in.ept.exec = true;
	expect_einval(&in);
	in.type = SPP_ACCESS_WRITE;
	in.ept.read = true;
	in.ept.write = false;
	in.ept.exec = false;

	/* no read callback for an eligible write */
	in.read = NULL;
	expect_einval(&in);
	in.read = fake_read;

	/* sanity: the corrected input walks */
	r = walk(&in);
	expect_allowed(&r, SPP_PATH_SPPT);
}

/* VM entry would fail with such an SPPTP whatever the access. */
static void test_bad_spptp_any_access(void **state)
{
	struct fake_mem m;
	struct spp_walk_input in;

	(void)state;
	build(&m, SPP_VECTOR_FULL);
	std_input(&in, &m);
	in.type = SPP_ACCESS_READ;
	in.spptp = T4 | 0x8;
	expect_einval(&in);
	in.spptp = 1ULL << 50;
	expect_einval(&in);
	in.spptp = T4;
	in.maxphyaddr = 60;
	expect_einval(&in);
	assert_int_equal(m.reads, 0);
}

static void test_read_error_propagated(void **state)
{
	static const uint64_t pages[] = { T4, T3, T2, T1 };
	static const int errs[] = { -EIO, -EFAULT, -ENOMEM, -EIO };
	unsigned int k;

	(void)state;
	for (k = 0; k < 4; k++) {
		struct fake_mem m;
		struct spp_walk_input in;
		struct spp_walk_result r, sentinel;

		build(&m, SPP_VECTOR_FULL);
		m.fail_page = pages[k];
		m.fail_err = errs[k];
		std_input(&in, &m);
		memset(&r, 0x3C, sizeof(r));
		memset(&sentinel, 0x3C, sizeof(sentinel));
		assert_int_equal(spp_walk(&in, &r), errs[k]);
		assert_memory_equal(&r, &sentinel, sizeof(r));
		assert_int_equal(m.reads, (int)k + 1);
	}
	/* an SPPTP pointing at no memory */
	{
		struct fake_mem m;
		struct spp_walk_input in;
		struct spp_walk_result r;

		build(&m, SPP_VECTOR_FULL);
		std_input(&in, &m);
		in.spptp = 0x7000000;
		assert_int_equal(spp_walk(&in, &r), -EFAULT);
	}
}

static void test_names(void **state)
{
	const char *o[4], *p[8];
	int i, j;

	(void)state;
	assert_string_equal(spp_walk_outcome_name(SPP_WALK_ALLOWED), "allowed");
	assert_string_equal(spp_walk_outcome_name(SPP_WALK_SPP_MISS),
			    "spp-miss");
	for (i = 0; i < 4; i++) {
		o[i] = spp_walk_outcome_name((enum spp_walk_outcome)i);
		assert_non_null(o[i]);
		assert_true(strlen(o[i]) > 0);
		for (j = 0; j < i; j++)
			assert_string_not_equal(o[i], o[j]);
	}
	for (i = 0; i < 8; i++) {
		p[i] = spp_walk_path_name((enum spp_walk_path)i);
		assert_non_null(p[i]);
		assert_true(strlen(p[i]) > 0);
		for (j = 0; j < i; j++)
			assert_string_not_equal(p[i], p[j]);
	}
}

/* ---- a real SPPT built through the store ---------------------------------------- */

static void real_sppt_round(uint64_t base, unsigned int mpa)
{
	struct spp_access *acc = NULL;
	struct spp_sppt *s = NULL;
	const uint64_t gfn = 0x12345;
	const uint32_t map = 0xC0FFEE11;
	struct spp_walk_input in;
	struct spp_walk_result r;
	uint64_t off;

	assert_int_equal(spp_access_create(&acc), 0);
	assert_int_equal(spp_access_add_ram(acc, 0, 1ULL << 32), 0);
	assert_int_equal(spp_sppt_create(&s, base, mpa), 0);
	assert_int_equal(spp_access_attach_sppt(acc, s), 0);
	assert_int_equal(spp_access_set_range(acc, gfn, 1, map), 0);
	assert_int_equal(spp_access_set_range(acc, gfn + 2, 1, 0), 0);

	memset(&in, 0, sizeof(in));
	in.spp_enabled = true;
	in.spptp = spp_sppt_spptp(s);
	in.maxphyaddr = spp_sppt_maxphyaddr(s);
	in.read = spp_sppt_read;
	in.read_ctx = s;
	in.ept.read = true;
	in.ept.spp = true;
	in.ept.size = SPP_EPT_4K;
	in.type = SPP_ACCESS_WRITE;
	in.origin = SPP_ORIGIN_LINEAR;

	for (off = 0; off < 4096; off++) {
		struct spp_write_verdict v;
		uint64_t g;

		for (g = gfn; g <= gfn + 2; g++) {
			in.gpa = (g << 12) + off;
			assert_int_equal(
				spp_access_check_write(acc, in.gpa, 1, &v), 0);
			r = walk(&in);
			assert_int_equal(r.path, SPP_PATH_SPPT);
			assert_int_equal(r.level, 1);
			assert_int_equal(r.outcome == SPP_WALK_ALLOWED,
					 v.allowed);
			if (v.allowed)
				expect_allowed(&r, SPP_PATH_SPPT);
			else
				expect_eptv(&r, SPP_PATH_SPPT, Q_WRITE_STD);
		}
	}
	/* spot checks of the map itself */
	in.gpa = gfn << 12; /* sub-page 0: bit 0 of 0x...11 set */
	r = walk(&in);
	expect_allowed(&r, SPP_PATH_SPPT);
	in.gpa = (gfn << 12) + 128; /* sub-page 1: clear */
	r = walk(&in);
	expect_eptv(&r, SPP_PATH_SPPT, Q_WRITE_STD);
	in.gpa = ((gfn + 1) << 12) + 128; /* unprotected, same block */
	r = walk(&in);
	expect_allowed(&r, SPP_PATH_SPPT);
	assert_int_equal(r.entry, SPP_VECTOR_FULL);

	/* an uncovered 2 MiB block in the same 1 GiB: miss at level 2 */
	in.gpa = (gfn + 512) << 12;
	r = walk(&in);
	expect_spp_event(&r, SPP_WALK_SPP_MISS, 2, r.entry, SPP_QUAL_SPP_MISS);
	assert_int_equal(r.entry & 1, 0);
	/* another 1 GiB region: miss at level 3 */
	in.gpa = (gfn + (1ULL << 18)) << 12;
	r = walk(&in);
	expect_spp_event(&r, SPP_WALK_SPP_MISS, 3, r.entry, SPP_QUAL_SPP_MISS);
	/* another 512 GiB region: miss at level 4 */
	in.gpa = (gfn + (1ULL << 27)) << 12;
	r = walk(&in);
	expect_spp_event(&r, SPP_WALK_SPP_MISS, 4, r.entry, SPP_QUAL_SPP_MISS);

	/* unprotect: the walk follows */
	assert_int_equal(spp_access_set_range(acc, gfn, 3, SPP_ACCESS_FULL), 0);
	in.gpa = (gfn << 12) + 128;
	r = walk(&in);
	expect_spp_event(&r, SPP_WALK_SPP_MISS, 4, r.entry, SPP_QUAL_SPP_MISS);

	assert_int_equal(spp_access_attach_sppt(acc, NULL), 0);
	spp_sppt_destroy(s);
	spp_access_destroy(acc);
}

static void test_real_sppt(void **state)
{
	(void)state;
	real_sppt_round(SPP_SPPT_DEFAULT_BASE, SPP_SPPT_DEFAULT_MAXPHYADDR);
	real_sppt_round(0x40000000, 39);
	real_sppt_round(0x1000, 36);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads),
		cmocka_unit_test(test_fetches),
		cmocka_unit_test(test_ept_writable),
		cmocka_unit_test(test_control_off),
		cmocka_unit_test(test_large_pages),
		cmocka_unit_test(test_no_spp_bit),
		cmocka_unit_test(test_not_readable),
		cmocka_unit_test(test_not_linear),
		cmocka_unit_test(test_sppt_leaf_bits),
		cmocka_unit_test(test_sppt_full_and_empty_vector),
		cmocka_unit_test(test_spp_miss_each_level),
		cmocka_unit_test(test_misconfig_low_bits),
		cmocka_unit_test(test_misconfig_high_bits),
		cmocka_unit_test(test_misconfig_above_maxphyaddr),
		cmocka_unit_test(test_tables_high_in_maxphyaddr),
		cmocka_unit_test(test_misconfig_leaf_odd_bits),
		cmocka_unit_test(test_first_problem_wins),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_bad_spptp_any_access),
		cmocka_unit_test(test_read_error_propagated),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_real_sppt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
