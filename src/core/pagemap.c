// SPDX-License-Identifier: MIT
/*
 * pagemap.c - the sparse gfn -> access-map hash table of the store.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define PAGEMAP_MIN_CAP 64

void spp_pagemap_init(struct spp_pagemap *pm)
{
	memset(pm, 0, sizeof(*pm));
}

void spp_pagemap_release(struct spp_pagemap *pm)
{
	free(pm->keys);
	free(pm->vals);
	spp_pagemap_init(pm);
}

static size_t slot_of(const struct spp_pagemap *pm, uint64_t gfn)
{
	return spp_pagemap_slot(pm, gfn);
}

static void insert_fresh(struct spp_pagemap *pm, uint64_t gfn, uint32_t map)
{
	size_t mask = pm->cap - 1, i = slot_of(pm, gfn);

	while (pm->keys[i] != SPP_PAGEMAP_EMPTY)
		i = (i + 1) & mask;
	pm->keys[i] = gfn;
	pm->vals[i] = map;
	pm->count++;
}

/* Move every entry into freshly allocated arrays of @cap slots. */
static int rehash(struct spp_pagemap *pm, size_t cap)
{
	struct spp_pagemap old = *pm;
	uint64_t *keys;
	uint32_t *vals;
	size_t i;

	keys = malloc(cap * sizeof(*keys));
	vals = malloc(cap * sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	memset(keys, 0xff, cap * sizeof(*keys));
	pm->keys = keys;
	pm->vals = vals;
	pm->cap = cap;
	pm->count = 0;
	pm->shift = 64 + 3 - (unsigned int)__builtin_ctzll(cap);
	for (i = 0; i < old.cap; i++)
		if (old.keys[i] != SPP_PAGEMAP_EMPTY)
			insert_fresh(pm, old.keys[i], old.vals[i]);
	free(old.keys);
	free(old.vals);
	return 0;
}

int spp_pagemap_reserve(struct spp_pagemap *pm, size_t extra)
{
	size_t need, cap;

	if (extra > SIZE_MAX / 8 - pm->count)
		return -ENOMEM;
	need = pm->count + extra;
	if (need <= pm->cap / 4 * 3)
		return 0;
	cap = pm->cap ? pm->cap : PAGEMAP_MIN_CAP;
	while (need > cap / 4 * 3) {
		if (cap > SIZE_MAX / 2 / sizeof(uint64_t))
			return -ENOMEM;
		cap *= 2;
	}
	return rehash(pm, cap);
}

/* Remove slot @i and close the gap (backward-shift deletion). */
static void remove_slot(struct spp_pagemap *pm, size_t i)
{
	size_t mask = pm->cap - 1, j = i, home;

	for (;;) {
		j = (j + 1) & mask;
		if (pm->keys[j] == SPP_PAGEMAP_EMPTY)
			break;
		home = slot_of(pm, pm->keys[j]);
		/* Move j back into i unless its home lies in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			pm->keys[i] = pm->keys[j];
			pm->vals[i] = pm->vals[j];
			i = j;
		}
	}
	pm->keys[i] = SPP_PAGEMAP_EMPTY;
	pm->count--;
}

void spp_pagemap_put(struct spp_pagemap *pm, uint64_t gfn, uint32_t map)
{
	size_t mask = pm->cap - 1, i;

	if (!pm->cap)
		return; /* nothing stored, nothing reserved: only removals */
	for (i = slot_of(pm, gfn);; i = (i + 1) & mask) {
		if (pm->keys[i] == gfn) {
			if (map == SPP_ACCESS_FULL)
				remove_slot(pm, i);
			else
				pm->vals[i] = map;
			return;
		}
		if (pm->keys[i] == SPP_PAGEMAP_EMPTY)
			break;
	}
	if (map == SPP_ACCESS_FULL)
		return;
	pm->keys[i] = gfn;
	pm->vals[i] = map;
	pm->count++;
}

void spp_pagemap_remove_range(struct spp_pagemap *pm, uint64_t gfn, uint64_t n)
{
	size_t i = 0;

	/*
	 * A backward shift may move a not-yet-visited entry into slot i, or
	 * (at the wrap-around) an already-visited one; re-examining slot i
	 * after a removal handles both, and an entry moved from the front to
	 * the end is examined again when the loop gets there.
	 */
	while (i < pm->cap) {
		uint64_t k = pm->keys[i];

		if (k != SPP_PAGEMAP_EMPTY && k - gfn < n)
			remove_slot(pm, i);
		else
			i++;
	}
}

/* Slots needed to hold @n entries at load <= 3/4. */
static size_t cap_for(size_t n)
{
	size_t cap = PAGEMAP_MIN_CAP;

	while (n > cap / 4 * 3)
		cap *= 2;
	return cap;
}

int spp_pagemap_set_floor(struct spp_pagemap *pm, size_t npages)
{
	size_t cap;
	int ret;

	if (npages > SIZE_MAX / 64)
		return -ENOMEM;
	cap = npages ? cap_for(npages) : 0;
	if (cap > pm->cap) {
		ret = rehash(pm, cap);
		if (ret)
			return ret;
	}
	pm->min_cap = cap;
	return 0;
}

void spp_pagemap_shrink(struct spp_pagemap *pm)
{
	size_t cap = pm->cap, floor = pm->min_cap > PAGEMAP_MIN_CAP ?
					      pm->min_cap :
					      PAGEMAP_MIN_CAP;

	if (!pm->count && !pm->min_cap) {
		spp_pagemap_release(pm);
		return;
	}
	if (cap <= floor || pm->count > cap / 16)
		return;
	while (cap > floor && pm->count <= cap / 8)
		cap /= 2;
	if (cap != pm->cap)
		(void)rehash(pm, cap); /* on -ENOMEM the larger table stays */
}

size_t spp_pagemap_memory(const struct spp_pagemap *pm)
{
	return pm->cap * (sizeof(*pm->keys) + sizeof(*pm->vals));
}
