// SPDX-License-Identifier: MIT
/*
 * test_slots.c - the memslot planner (src/kvm/slots.c), no KVM needed.
 *
 * A region of N pages with a trapped-page set held in a bitmap; after
 * each change the planned slots must cover the region exactly, alternate
 * RW/RO, put every trapped page in an RO slot, and - with enough budget -
 * every untrapped page in an RW slot.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kvm/slots.h"

#define BASE 0x1000u
#define NPAGES 4096u

struct region {
	bool trapped[NPAGES];
	struct spp_slot *slots;
	size_t nslots, cap;
	uint64_t rng;
};

static bool is_trapped(void *ctx, uint64_t gfn)
{
	struct region *r = ctx;

	return r->trapped[gfn - BASE];
}

static void region_init(struct region *r)
{
	memset(r, 0, sizeof(*r));
	r->slots = calloc(1, sizeof(*r->slots));
	assert_non_null(r->slots);
	r->slots[0] = (struct spp_slot){ 1, BASE, NPAGES, false };
	r->nslots = 1;
	r->cap = 1;
	r->rng = 12345;
}

/* Apply a plan to the region's slot array, as the guard does. */
static void apply(struct region *r, const struct spp_slot_plan *p)
{
	assert_int_equal(spp_slots_apply(&r->slots, &r->nslots, &r->cap, p), 0);
	assert_true(r->nslots <= r->cap);
}

/* Invariants; @exact: untrapped pages must be RW (no merging happened). */
static void check(const struct region *r, bool exact)
{
	uint64_t g = BASE;
	size_t i;

	for (i = 0; i < r->nslots; i++) {
		const struct spp_slot *s = &r->slots[i];
		uint64_t k;

		assert_int_equal(s->gfn, g);
		assert_true(s->npages > 0);
		if (i)
			assert_true(s->ro != r->slots[i - 1].ro);
		for (k = 0; k < s->npages; k++) {
			bool t = r->trapped[s->gfn + k - BASE];

			if (t)
				assert_true(s->ro);
			if (exact && !t)
				assert_false(s->ro);
		}
		g += s->npages;
	}
	assert_int_equal(g, BASE + NPAGES);
}

static void change(struct region *r, uint64_t lo, uint64_t hi, bool t,
		   size_t free_slots, bool exact)
{
	struct spp_slot_plan p;
	uint64_t g;

	for (g = lo; g < hi; g++)
		r->trapped[g - BASE] = t;
	assert_int_equal(spp_slots_plan(r->slots, r->nslots, lo, hi, is_trapped,
					r, free_slots, &p),
			 0);
	if (exact)
		assert_false(p.merged);
	assert_true(p.nslots <= p.count + free_slots);
	apply(r, &p);
	spp_slot_plan_release(&p);
	check(r, exact);
}

static void test_split_and_merge_back(void **state)
{
	struct region r;

	(void)state;
	region_init(&r);
	change(&r, BASE + 100, BASE + 101, true, 100, true);
	assert_int_equal(r.nslots, 3);
	assert_int_equal(r.slots[1].gfn, BASE + 100);
	assert_int_equal(r.slots[1].npages, 1);
	/* an adjacent page joins the same RO slot */
	change(&r, BASE + 101, BASE + 102, true, 100, true);
	assert_int_equal(r.nslots, 3);
	assert_int_equal(r.slots[1].npages, 2);
	/* edges of the region */
	change(&r, BASE, BASE + 1, true, 100, true);
	change(&r, BASE + NPAGES - 1, BASE + NPAGES, true, 100, true);
	assert_int_equal(r.nslots, 5);
	/* everything back: one RW slot */
	change(&r, BASE, BASE + NPAGES, false, 100, true);
	assert_int_equal(r.nslots, 1);
	assert_false(r.slots[0].ro);
	free(r.slots);
}

static void test_random_changes(void **state)
{
	struct region r;
	int i;

	(void)state;
	region_init(&r);
	for (i = 0; i < 3000; i++) {
		uint64_t lo, n;

		r.rng = r.rng * 6364136223846793005ULL + 1442695040888963407ULL;
		lo = BASE + (r.rng >> 33) % NPAGES;
		n = 1 + (r.rng >> 20) % 8;
		if (lo + n > BASE + NPAGES)
			n = BASE + NPAGES - lo;
		change(&r, lo, lo + n, (r.rng >> 10) & 1, 1u << 20, true);
	}
	free(r.slots);
}

static void test_budget_merges(void **state)
{
	struct region r;
	uint64_t g;
	size_t used;

	(void)state;
	region_init(&r);
	/* 10 trapped pages 100 apart with room for only 5 more slots */
	used = 0;
	for (g = BASE + 50; g < BASE + 1050; g += 100) {
		struct spp_slot_plan p;

		r.trapped[g - BASE] = true;
		assert_int_equal(spp_slots_plan(r.slots, r.nslots, g, g + 1,
						is_trapped, &r,
						used < 5 ? 5 - used : 0, &p),
				 0);
		used += p.nslots - p.count;
		apply(&r, &p);
		spp_slot_plan_release(&p);
		check(&r, false);
		assert_true(r.nslots <= 6);
	}
	free(r.slots);
}

/* Cutting a plan at chunk boundaries: within the spare budget, or not at
 * all. */
static void test_split_chunks(void **state)
{
	struct spp_slot one[] = { { 0, 0x1000, 0x3000, false } };
	struct spp_slot_plan plan;
	uint64_t g;
	size_t i;

	(void)state;
	memset(&plan, 0, sizeof(plan));
	plan.slots = calloc(2, sizeof(*plan.slots));
	assert_non_null(plan.slots);
	plan.slots[0] = one[0];
	plan.slots[1] = (struct spp_slot){ 0, 0x4000, 0x10, true };
	plan.nslots = 2;
	/* 0x1000..0x4000 at 0x800 pages: 6 pieces, 5 more slots */
	assert_int_equal(spp_slots_split(&plan, 0x800, 4), 0);
	assert_int_equal(plan.nslots, 2);
	assert_int_equal(spp_slots_split(&plan, 0x800, 5), 0);
	assert_int_equal(plan.nslots, 7);
	for (i = 0, g = 0x1000; i < plan.nslots; i++) {
		assert_int_equal(plan.slots[i].gfn, g);
		assert_true(plan.slots[i].npages <= 0x800);
		assert_int_equal(plan.slots[i].ro, i == 6);
		g += plan.slots[i].npages;
	}
	assert_int_equal(g, 0x4010);
	assert_int_equal(spp_slots_split(&plan, 0, 100), -EINVAL);
	spp_slot_plan_release(&plan);
}

/* A plan that joins chunks @old keeps apart gets the cut back, within
 * @spare; boundaries off the chunk grid or already planned stay as
 * planned. */
static void test_keep_cuts(void **state)
{
	const struct spp_slot old[] = {
		{ 0, 0x1000, 0x7f0, true },  { 0, 0x17f0, 0x10, false },
		{ 0, 0x1800, 0x800, false }, { 0, 0x2000, 0x100, false },
		{ 0, 0x2100, 0x700, false },
	};
	const struct spp_slot planned[] = {
		{ 0, 0x1000, 0x7f0, true },
		{ 0, 0x17f0, 0x10, false },
		{ 0, 0x1800, 0x1, true },
		{ 0, 0x1801, 0x1000 - 0x1, false },
	};
	struct spp_slot_plan plan;
	size_t spare;

	(void)state;
	for (spare = 0; spare < 3; spare++) {
		memset(&plan, 0, sizeof(plan));
		plan.slots = malloc(sizeof(planned));
		assert_non_null(plan.slots);
		memcpy(plan.slots, planned, sizeof(planned));
		plan.nslots = 4;
		assert_int_equal(
			spp_slots_keep_cuts(&plan, old, 5, 0x800, spare), 0);
		/* only 0x2000 counts: 0x17f0 is off the grid, 0x1800 is
		 * planned, 0x2100 is off the grid */
		assert_int_equal(plan.nslots, spare ? 5 : 4);
		if (spare) {
			assert_int_equal(plan.slots[3].gfn, 0x1801);
			assert_int_equal(plan.slots[3].npages, 0x2000 - 0x1801);
			assert_false(plan.slots[3].ro);
			assert_int_equal(plan.slots[4].gfn, 0x2000);
			assert_int_equal(plan.slots[4].npages, 0x800);
			assert_false(plan.slots[4].ro);
		}
		spp_slot_plan_release(&plan);
	}
	assert_int_equal(spp_slots_keep_cuts(NULL, old, 5, 0x800, 1), -EINVAL);
	assert_int_equal(spp_slots_keep_cuts(&plan, old, 5, 0, 1), -EINVAL);
}

/*
 * The guard's bookkeeping per change: the array spliced in place and
 * grown geometrically, the counts kept by the tally of the replaced and
 * the planned slots, equal to a recount after every change.
 */
static void test_apply_and_tally(void **state)
{
	struct spp_slot_tally t = { 0 }, all;
	struct region r;
	size_t grows = 0, cap;
	uint64_t g;
	int i;

	(void)state;
	region_init(&r);
	spp_slots_tally(r.slots, r.nslots, &t);
	assert_int_equal(t.slots, 1);
	assert_int_equal(t.ro, 0);
	assert_int_equal(t.trapped, 0);
	for (i = 0; i < 6000; i++) {
		struct spp_slot_tally old = { 0 }, new = { 0 };
		struct spp_slot_plan p;
		uint64_t lo, n;
		bool on;

		r.rng = r.rng * 6364136223846793005ULL + 1442695040888963407ULL;
		/* scattered pages first (the array grows), then anything */
		lo = i < 1000 ? BASE + 1 + 4 * (uint64_t)i :
				BASE + (r.rng >> 33) % NPAGES;
		n = i < 1000 ? 1 : 1 + (r.rng >> 20) % 8;
		on = i < 1000 || ((r.rng >> 10) & 1);
		if (lo + n > BASE + NPAGES)
			n = BASE + NPAGES - lo;
		for (g = lo; g < lo + n; g++)
			r.trapped[g - BASE] = on;
		assert_int_equal(spp_slots_plan(r.slots, r.nslots, lo, lo + n,
						is_trapped, &r, 1u << 20, &p),
				 0);
		spp_slots_tally(r.slots + p.first, p.count, &old);
		spp_slots_tally(p.slots, p.nslots, &new);
		cap = r.cap;
		apply(&r, &p);
		grows += r.cap != cap;
		spp_slot_plan_release(&p);
		t.slots += new.slots - old.slots;
		t.ro += new.ro - old.ro;
		t.trapped += new.trapped - old.trapped;
		memset(&all, 0, sizeof(all));
		spp_slots_tally(r.slots, r.nslots, &all);
		assert_int_equal(t.slots, all.slots);
		assert_int_equal(t.ro, all.ro);
		assert_int_equal(t.trapped, all.trapped);
		for (g = 0, n = 0; g < NPAGES; g++)
			n += r.trapped[g];
		assert_int_equal(all.trapped, n);
		check(&r, true);
	}
	/* 1000 scattered pages: ~2000 slots, a handful of reallocations */
	assert_true(r.cap >= 2001);
	assert_true(grows <= 10);
	/* reserving what is there already changes nothing */
	cap = r.cap;
	assert_int_equal(spp_slots_reserve(&r.slots, &r.cap, r.nslots), 0);
	assert_int_equal(r.cap, cap);
	free(r.slots);
}

static void test_invalid(void **state)
{
	struct region r;
	struct spp_slot_plan p;

	(void)state;
	region_init(&r);
	assert_int_equal(spp_slots_plan(NULL, 1, BASE, BASE + 1, is_trapped, &r,
					1, &p),
			 -EINVAL);
	assert_int_equal(spp_slots_plan(r.slots, 1, BASE + 5, BASE + 5,
					is_trapped, &r, 1, &p),
			 -EINVAL);
	assert_int_equal(spp_slots_plan(r.slots, 1, BASE - 1, BASE + 1,
					is_trapped, &r, 1, &p),
			 -EINVAL);
	assert_int_equal(spp_slots_plan(r.slots, 1, BASE, BASE + NPAGES + 1,
					is_trapped, &r, 1, &p),
			 -EINVAL);
	free(r.slots);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_and_merge_back),
		cmocka_unit_test(test_random_changes),
		cmocka_unit_test(test_budget_merges),
		cmocka_unit_test(test_split_chunks),
		cmocka_unit_test(test_keep_cuts),
		cmocka_unit_test(test_apply_and_tally),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
