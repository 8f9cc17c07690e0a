/* SPDX-License-Identifier: MIT */
/*
 * core.h - internals shared by the core modules; not installed.
 */
#ifndef SPP_CORE_CORE_H
#define SPP_CORE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <spp/sppt.h>
#include <spp/vector.h>

/*
 * struct spp_pagemap - gfn -> access map for protected pages only.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), keys and values in separate arrays: 12 bytes a slot, load
 * at most 3/4. An absent gfn reads SPP_ACCESS_FULL.
 */
struct spp_pagemap {
	uint64_t *keys; /* SPP_PAGEMAP_EMPTY marks a free slot */
	uint32_t *vals;
	size_t cap; /* 0 or a power of two */
	size_t count;
	size_t min_cap; /* shrinking stops here (spp_access_reserve) */
	unsigned int shift; /* 64 - log2(cap / 8): yields a group index */
};

#define SPP_PAGEMAP_EMPTY UINT64_MAX

/* spp_pagemap_init() - an empty map; allocates nothing. */
void spp_pagemap_init(struct spp_pagemap *pm);

/* spp_pagemap_release() - free the arrays; the map is empty afterwards. */
void spp_pagemap_release(struct spp_pagemap *pm);

/*
 * spp_pagemap_slot() - home slot of @gfn. Groups of 8 consecutive gfns
 * hash together (Fibonacci hashing of gfn / 8) and keep their order inside
 * the group, so a run of contiguous pages touches one cache line of keys
 * per 8 pages instead of one per page (SET of contiguous pages runs about
 * twice as fast; bench/run-core).
 */
static inline size_t spp_pagemap_slot(const struct spp_pagemap *pm,
				      uint64_t gfn)
{
	size_t group =
		(size_t)(((gfn >> 3) * 0x9E3779B97F4A7C15ULL) >> pm->shift);

	return (group << 3) | (size_t)(gfn & 7);
}

/* spp_pagemap_get() - the map of @gfn, SPP_ACCESS_FULL if absent. */
static inline uint32_t spp_pagemap_get(const struct spp_pagemap *pm,
				       uint64_t gfn)
{
	size_t mask = pm->cap - 1, i;

	if (!pm->count)
		return SPP_ACCESS_FULL;
	i = spp_pagemap_slot(pm, gfn);
	for (;; i = (i + 1) & mask) {
		if (pm->keys[i] == gfn)
			return pm->vals[i];
		if (pm->keys[i] == SPP_PAGEMAP_EMPTY)
			return SPP_ACCESS_FULL;
	}
}

/*
 * spp_pagemap_reserve() - make room so that @extra insertions cannot fail.
 * Returns 0 or -ENOMEM (the map is unchanged then).
 */
int spp_pagemap_reserve(struct spp_pagemap *pm, size_t extra);

/*
 * spp_pagemap_put() - set the map of @gfn; SPP_ACCESS_FULL removes it.
 * An insertion needs room reserved before; it never allocates.
 */
void spp_pagemap_put(struct spp_pagemap *pm, uint64_t gfn, uint32_t map);

/*
 * spp_pagemap_remove_range() - remove every gfn in [@gfn, @gfn + @n),
 * visiting the table instead of the range; for ranges much larger than
 * the map. Never allocates.
 */
void spp_pagemap_remove_range(struct spp_pagemap *pm, uint64_t gfn, uint64_t n);

/*
 * spp_pagemap_set_floor() - keep room for @npages entries from now on:
 * grows the table now and never shrinks it below that. 0 drops the floor.
 * Returns 0 or -ENOMEM (nothing changed then).
 */
int spp_pagemap_set_floor(struct spp_pagemap *pm, size_t npages);

/* spp_pagemap_shrink() - shrink after many removals; best effort. */
void spp_pagemap_shrink(struct spp_pagemap *pm);

/* spp_pagemap_memory() - bytes held by the arrays. */
size_t spp_pagemap_memory(const struct spp_pagemap *pm);

/*
 * Map source of an SPPT update: @maps[k] for page gfn + k, or, when
 * @maps is NULL, @fill for every page. Lets the store update ranges of
 * any size without materialising an array.
 */
struct spp_map_src {
	const uint32_t *maps;
	uint32_t fill;
};

static inline uint32_t spp_map_src_at(const struct spp_map_src *src, uint64_t k)
{
	return src->maps ? src->maps[k] : src->fill;
}

/* spp_sppt_prepare()/commit() with a map source (see spp/sppt.h). */
int spp_sppt_prepare_src(struct spp_sppt *sppt, uint64_t gfn, uint64_t npages,
			 const struct spp_map_src *src);
void spp_sppt_commit_src(struct spp_sppt *sppt, uint64_t gfn, uint64_t npages,
			 const struct spp_map_src *src);

/* Whether the SPPT holds no protected page (only the root is live). */
bool spp_sppt_is_empty(const struct spp_sppt *sppt);

#endif /* SPP_CORE_CORE_H */
