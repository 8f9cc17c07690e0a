// SPDX-License-Identifier: MIT
/*
 * slots.c - memslot planner: trapped runs -> alternating RO/RW slots.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "slots.h"

struct run {
	uint64_t start, end; /* [start, end) */
};

struct runs {
	struct run *r;
	size_t n, cap;
};

static int runs_add(struct runs *rs, uint64_t start, uint64_t end)
{
	if (start >= end)
		return 0;
	if (rs->n && rs->r[rs->n - 1].end == start) {
		rs->r[rs->n - 1].end = end; /* extend: adjacent runs merge */
		return 0;
	}
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;
		struct run *r = realloc(rs->r, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		rs->r = r;
		rs->cap = cap;
	}
	rs->r[rs->n].start = start;
	rs->r[rs->n].end = end;
	rs->n++;
	return 0;
}

/* Index of the slot containing @gfn (slots sorted and contiguous). */
static size_t slot_index(const struct spp_slot *slots, size_t nslots,
			 uint64_t gfn)
{
	size_t lo = 0, hi = nslots - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;

		if (slots[mid].gfn <= gfn)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* RO parts of old slots [a, b] inside [from, to). */
static int runs_from_slots(struct runs *rs, const struct spp_slot *slots,
			   size_t a, size_t b, uint64_t from, uint64_t to)
{
	size_t i;
	int ret;

	for (i = a; i <= b; i++) {
		uint64_t s = slots[i].gfn, e = s + slots[i].npages;

		if (!slots[i].ro)
			continue;
		s = s > from ? s : from;
		e = e < to ? e : to;
		ret = runs_add(rs, s, e);
		if (ret)
			return ret;
	}
	return 0;
}

static int cmp_gap(const void *x, const void *y, void *runs)
{
	const struct run *r = runs;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	uint64_t gi = r[i + 1].start - r[i].end, gj = r[j + 1].start - r[j].end;

	return (gi > gj) - (gi < gj);
}

/* Slots needed for @n runs inside [start, end). */
static size_t slots_needed(const struct run *r, size_t n, uint64_t start,
			   uint64_t end)
{
	if (!n)
		return 1;
	return 2 * n - 1 + (r[0].start > start) + (r[n - 1].end < end);
}

/*
 * Merge runs across their smallest gaps until the sequence fits in @max
 * slots; when even one run does not fit, the whole span becomes one RO
 * slot.
 */
static int fit_budget(struct runs *rs, uint64_t start, uint64_t end, size_t max,
		      bool *merged)
{
	size_t *order, *join, i, k, need, one;

	need = slots_needed(rs->r, rs->n, start, end);
	if (need <= max)
		return 0;
	*merged = true; /* rs->n >= 1 here: no run needs one slot */
	one = 1 + (rs->r[0].start > start) + (rs->r[rs->n - 1].end < end);
	if (one >= max) {
		/* Best case with runs is one run; maybe not even that. */
		rs->r[0].end = rs->r[rs->n - 1].end;
		rs->n = 1;
		if (one > max) {
			rs->r[0].start = start;
			rs->r[0].end = end;
		}
		return 0;
	}
	order = malloc((rs->n - 1) * sizeof(*order));
	join = calloc(rs->n, sizeof(*join));
	if (!order || !join) {
		free(order);
		free(join);
		return -ENOMEM;
	}
	for (i = 0; i + 1 < rs->n; i++)
		order[i] = i;
	qsort_r(order, rs->n - 1, sizeof(*order), cmp_gap, rs->r);
	for (i = 0; i + 1 < rs->n && need > max; i++) {
		join[order[i]] = 1; /* run order[i] joins the next one */
		need -= 2;
	}
	for (i = 0, k = 0; i < rs->n; i++) {
		if (k && join[i - 1])
			rs->r[k - 1].end = rs->r[i].end;
		else
			rs->r[k++] = rs->r[i];
	}
	rs->n = k;
	free(order);
	free(join);
	return 0;
}

int spp_slots_plan(const struct spp_slot *slots, size_t nslots, uint64_t lo,
		   uint64_t hi, spp_trapped_fn trapped, void *ctx,
		   size_t free_slots, struct spp_slot_plan *plan)
{
	struct runs rs = { 0 };
	uint64_t start, end, g, run_start = 0;
	size_t a, b, i, k;
	bool in_run = false;
	int ret;

	if (!slots || !nslots || !trapped || !plan || lo >= hi)
		return -EINVAL;
	if (lo < slots[0].gfn ||
	    hi > slots[nslots - 1].gfn + slots[nslots - 1].npages)
		return -EINVAL;
	memset(plan, 0, sizeof(*plan));
	a = slot_index(slots, nslots, lo);
	b = slot_index(slots, nslots, hi - 1);
	/* One more slot each side, so new runs merge with old neighbours. */
	a = a ? a - 1 : 0;
	b = b + 1 < nslots ? b + 1 : b;
	start = slots[a].gfn;
	end = slots[b].gfn + slots[b].npages;

	ret = runs_from_slots(&rs, slots, a, b, start, lo);
	for (g = lo; !ret && g < hi; g++) {
		bool t = trapped(ctx, g);

		if (t && !in_run)
			run_start = g;
		else if (!t && in_run)
			ret = runs_add(&rs, run_start, g);
		in_run = t;
	}
	if (!ret && in_run)
		ret = runs_add(&rs, run_start, hi);
	if (!ret)
		ret = runs_from_slots(&rs, slots, a, b, hi, end);
	if (!ret)
		ret = fit_budget(&rs, start, end, free_slots + (b - a + 1),
				 &plan->merged);
	if (ret)
		goto out;

	plan->slots = calloc(2 * rs.n + 1, sizeof(*plan->slots));
	if (!plan->slots) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0, k = 0, g = start; i <= rs.n; i++) {
		uint64_t rs_start = i < rs.n ? rs.r[i].start : end;

		if (rs_start > g) {
			plan->slots[k].gfn = g;
			plan->slots[k].npages = rs_start - g;
			plan->slots[k++].ro = false;
		}
		if (i < rs.n) {
			plan->slots[k].gfn = rs.r[i].start;
			plan->slots[k].npages = rs.r[i].end - rs.r[i].start;
			plan->slots[k++].ro = true;
			g = rs.r[i].end;
		}
	}
	plan->nslots = k;
	plan->first = a;
	plan->count = b - a + 1;
out:
	free(rs.r);
	return ret;
}

int spp_slots_split(struct spp_slot_plan *plan, uint64_t chunk, size_t spare)
{
	struct spp_slot *s;
	size_t extra = 0, i, k;

	if (!plan || !chunk)
		return -EINVAL;
	for (i = 0; i < plan->nslots; i++) {
		const struct spp_slot *p = &plan->slots[i];

		extra += (p->gfn + p->npages - 1) / chunk - p->gfn / chunk;
	}
	if (!extra || extra > spare)
		return 0;
	s = calloc(plan->nslots + extra, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (i = 0, k = 0; i < plan->nslots; i++) {
		uint64_t g = plan->slots[i].gfn;
		uint64_t end = g + plan->slots[i].npages;

		while (g < end) {
			uint64_t next = (g / chunk + 1) * chunk;

			next = next < end ? next : end;
			s[k].gfn = g;
			s[k].npages = next - g;
			s[k++].ro = plan->slots[i].ro;
			g = next;
		}
	}
	free(plan->slots);
	plan->slots = s;
	plan->nslots = k;
	return 0;
}

int spp_slots_keep_cuts(struct spp_slot_plan *plan, const struct spp_slot *old,
			size_t nold, uint64_t chunk, size_t spare)
{
	struct spp_slot *s;
	size_t i, j, k, ncuts = 0;

	if (!plan || (!old && nold) || !chunk)
		return -EINVAL;
	/* Old boundaries at chunk multiples strictly inside a planned slot. */
	for (i = 0, j = 1; i < plan->nslots && j < nold && ncuts < spare; j++) {
		uint64_t b = old[j].gfn;

		while (i < plan->nslots &&
		       plan->slots[i].gfn + plan->slots[i].npages <= b)
			i++;
		if (i < plan->nslots && b % chunk == 0 &&
		    b > plan->slots[i].gfn)
			ncuts++;
	}
	if (!ncuts)
		return 0;
	s = calloc(plan->nslots + ncuts, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (i = 0, j = 1, k = 0; i < plan->nslots; i++) {
		uint64_t g = plan->slots[i].gfn;
		uint64_t end = g + plan->slots[i].npages;

		for (; j < nold && old[j].gfn < end; j++) {
			uint64_t b = old[j].gfn;

			if (!ncuts || b % chunk || b <= g)
				continue;
			s[k].gfn = g;
			s[k].npages = b - g;
			s[k++].ro = plan->slots[i].ro;
			g = b;
			ncuts--;
		}
		s[k].gfn = g;
		s[k].npages = end - g;
		s[k++].ro = plan->slots[i].ro;
	}
	free(plan->slots);
	plan->slots = s;
	plan->nslots = k;
	return 0;
}

void spp_slot_plan_release(struct spp_slot_plan *plan)
{
	if (plan) {
		free(plan->slots);
		plan->slots = NULL;
		plan->nslots = 0;
	}
}

int spp_slots_reserve(struct spp_slot **slots, size_t *cap, size_t n)
{
	struct spp_slot *s;
	size_t c;

	if (!slots || !cap)
		return -EINVAL;
	if (n <= *cap)
		return 0;
	c = *cap > SIZE_MAX / 2 / sizeof(*s) ? n : 2 * *cap;
	if (c < n)
		c = n;
	if (c < 16)
		c = 16;
	if (c > SIZE_MAX / sizeof(*s))
		return -ENOMEM;
	s = realloc(*slots, c * sizeof(*s));
	if (!s)
		return -ENOMEM;
	*slots = s;
	*cap = c;
	return 0;
}

int spp_slots_apply(struct spp_slot **slots, size_t *nslots, size_t *cap,
		    const struct spp_slot_plan *plan)
{
	size_t n, tail;
	int ret;

	if (!slots || !nslots || !cap || !plan ||
	    plan->first + plan->count > *nslots)
		return -EINVAL;
	n = *nslots - plan->count + plan->nslots;
	ret = spp_slots_reserve(slots, cap, n);
	if (ret)
		return ret;
	tail = *nslots - plan->first - plan->count;
	memmove(*slots + plan->first + plan->nslots,
		*slots + plan->first + plan->count, tail * sizeof(**slots));
	memcpy(*slots + plan->first, plan->slots,
	       plan->nslots * sizeof(**slots));
	*nslots = n;
	return 0;
}

void spp_slots_tally(const struct spp_slot *slots, size_t n,
		     struct spp_slot_tally *t)
{
	size_t i;

	t->slots += n;
	for (i = 0; i < n; i++) {
		if (slots[i].ro) {
			t->ro++;
			t->trapped += slots[i].npages;
		}
	}
}
