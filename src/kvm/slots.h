/* SPDX-License-Identifier: MIT */
/*
 * slots.h - the memslot planner of a guard; pure, no KVM. Not installed.
 *
 * A guarded RAM region is covered by a sorted sequence of memslots with
 * no gaps, read-only (trapped pages) and read-write alternating. When the
 * trapped status of pages in a window changes, the planner computes the
 * replacement for the slots around that window, merging trapped runs with
 * the pages between them when the memslot budget is short.
 */
#ifndef SPP_KVM_SLOTS_H
#define SPP_KVM_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spp_slot {
	uint32_t id; /* KVM memslot id (assigned when applied) */
	uint64_t gfn;
	uint64_t npages;
	bool ro;
};

/* Whether page @gfn must trap (be in a read-only slot). */
typedef bool (*spp_trapped_fn)(void *ctx, uint64_t gfn);

struct spp_slot_plan {
	size_t first; /* old slots [first, first + count) are replaced */
	size_t count;
	struct spp_slot *slots; /* by these, in order (ids not yet set) */
	size_t nslots;
	bool merged; /* the budget forced merging */
};

/*
 * spp_slots_plan() - plan the slots after the trapped status of pages in
 * [@lo, @hi) may have changed. @slots/@nslots is the region's current
 * sequence (at least one slot); [@lo, @hi) must lie inside it. Pages
 * outside the window keep the status their current slot gives them.
 * The replacement may use the slots it replaces plus @free_slots more.
 * Returns 0 and fills @plan (free with spp_slot_plan_release()),
 * -EINVAL or -ENOMEM.
 */
int spp_slots_plan(const struct spp_slot *slots, size_t nslots, uint64_t lo,
		   uint64_t hi, spp_trapped_fn trapped, void *ctx,
		   size_t free_slots, struct spp_slot_plan *plan);

/*
 * spp_slots_split() - cut the planned slots at every multiple of @chunk
 * pages (absolute gfn), if that adds at most @spare slots; otherwise
 * leave the plan as it is. Returns 0, -EINVAL or -ENOMEM (plan unchanged).
 */
int spp_slots_split(struct spp_slot_plan *plan, uint64_t chunk, size_t spare);

/*
 * spp_slots_keep_cuts() - where the plan would join slots that @old (the
 * @nold slots it replaces) keep apart at a multiple of @chunk pages, cut
 * the planned slot there again, at most @spare times (the first ones).
 * Past the budget spp_slots_split() allows, this keeps a change from
 * merging chunks into ever larger slots, as long as memslot ids are free.
 * Returns 0, -EINVAL or -ENOMEM (plan unchanged).
 */
int spp_slots_keep_cuts(struct spp_slot_plan *plan, const struct spp_slot *old,
			size_t nold, uint64_t chunk, size_t spare);

/*
 * spp_slots_reserve() - make room for @n slots in the array *@slots of
 * capacity *@cap, growing it geometrically (at least doubling), so a run
 * of changes costs amortised O(1) allocations. Returns 0 or -ENOMEM
 * (array unchanged).
 */
int spp_slots_reserve(struct spp_slot **slots, size_t *cap, size_t n);

/*
 * spp_slots_apply() - replace slots [plan->first, plan->first +
 * plan->count) of the array *@slots (*@nslots entries, capacity *@cap)
 * by the plan's slots, in place. Returns 0 or -ENOMEM (array unchanged;
 * never after spp_slots_reserve() made room for the result).
 */
int spp_slots_apply(struct spp_slot **slots, size_t *nslots, size_t *cap,
		    const struct spp_slot_plan *plan);

/* What a sequence of slots holds: slots, read-only ones, pages in them. */
struct spp_slot_tally {
	uint64_t slots;
	uint64_t ro;
	uint64_t trapped;
};

/* spp_slots_tally() - add the counts of @n slots to @t. */
void spp_slots_tally(const struct spp_slot *slots, size_t n,
		     struct spp_slot_tally *t);

/* spp_slot_plan_release() - free a plan's array. */
void spp_slot_plan_release(struct spp_slot_plan *plan);

#endif /* SPP_KVM_SLOTS_H */
