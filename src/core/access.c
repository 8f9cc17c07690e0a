// SPDX-License-Identifier: MIT
/*
 * access.c - the permission store: RAM map, SET/GET, the write check.
 *
 * Every update runs in three phases so that a failed call changes
 * nothing: validate (arguments, RAM), reserve (hash room, SPPT tables),
 * commit (cannot fail).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <spp/access.h>
#include <spp/sppt.h>

#include "core.h"

struct ram_region {
	uint64_t gfn;
	uint64_t npages;
};

struct spp_access {
	struct ram_region *ram; /* sorted by gfn, never overlapping */
	size_t nram, ram_cap;
	struct spp_pagemap pm;
	struct spp_sppt *sppt;
};

int spp_access_create(struct spp_access **out)
{
	struct spp_access *acc;

	if (!out)
		return -EINVAL;
	acc = calloc(1, sizeof(*acc));
	if (!acc)
		return -ENOMEM;
	spp_pagemap_init(&acc->pm);
	*out = acc;
	return 0;
}

void spp_access_destroy(struct spp_access *acc)
{
	if (!acc)
		return;
	spp_pagemap_release(&acc->pm);
	free(acc->ram);
	free(acc);
}

/* Index of the last region starting at or below @gfn, or -1. */
static long region_floor(const struct spp_access *acc, uint64_t gfn)
{
	long lo = 0, hi = (long)acc->nram - 1, found = -1;

	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;

		if (acc->ram[mid].gfn <= gfn) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

bool spp_access_is_ram(const struct spp_access *acc, uint64_t gfn,
		       uint64_t npages)
{
	uint64_t end;
	long i;

	if (!acc || !npages || gfn + npages < gfn)
		return false;
	end = gfn + npages;
	i = region_floor(acc, gfn);
	if (i < 0)
		return false;
	/* Walk forward through adjacent regions until @end is covered. */
	for (; (size_t)i < acc->nram; i++) {
		const struct ram_region *r = &acc->ram[i];

		if (r->gfn > gfn || gfn - r->gfn >= r->npages)
			return false;
		if (end - r->gfn <= r->npages)
			return true;
		gfn = r->gfn + r->npages;
	}
	return false;
}

int spp_access_add_ram(struct spp_access *acc, uint64_t base, uint64_t size)
{
	uint64_t gfn, n;
	long i;

	if (!acc || !size || (base | size) & ~SPP_PAGE_MASK)
		return -EINVAL;
	if (base >= (1ULL << SPP_GPA_BITS) ||
	    size > (1ULL << SPP_GPA_BITS) - base)
		return -EINVAL;
	gfn = base >> SPP_PAGE_SHIFT;
	n = size >> SPP_PAGE_SHIFT;
	i = region_floor(acc, gfn);
	if (i >= 0 && gfn - acc->ram[i].gfn < acc->ram[i].npages)
		return -EEXIST;
	if ((size_t)(i + 1) < acc->nram && acc->ram[i + 1].gfn < gfn + n)
		return -EEXIST;
	if (acc->nram == acc->ram_cap) {
		size_t cap = acc->ram_cap ? acc->ram_cap * 2 : 8;
		struct ram_region *r = realloc(acc->ram, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		acc->ram = r;
		acc->ram_cap = cap;
	}
	memmove(&acc->ram[i + 2], &acc->ram[i + 1],
		(acc->nram - (size_t)(i + 1)) * sizeof(*acc->ram));
	acc->ram[i + 1].gfn = gfn;
	acc->ram[i + 1].npages = n;
	acc->nram++;
	return 0;
}

/* Whether a protected page lies in [@gfn, @gfn + @n). */
static bool any_protected(const struct spp_access *acc, uint64_t gfn,
			  uint64_t n)
{
	size_t i;

	if (n > acc->pm.count) {
		for (i = 0; i < acc->pm.cap; i++)
			if (acc->pm.keys[i] != SPP_PAGEMAP_EMPTY &&
			    acc->pm.keys[i] - gfn < n)
				return true;
		return false;
	}
	for (i = 0; i < n; i++)
		if (spp_pagemap_get(&acc->pm, gfn + i) != SPP_ACCESS_FULL)
			return true;
	return false;
}

int spp_access_remove_ram(struct spp_access *acc, uint64_t base, uint64_t size)
{
	uint64_t gfn = base >> SPP_PAGE_SHIFT;
	long i;

	if (!acc)
		return -EINVAL;
	i = region_floor(acc, gfn);
	if (i < 0 || acc->ram[i].gfn != gfn || (base & ~SPP_PAGE_MASK) ||
	    acc->ram[i].npages != size >> SPP_PAGE_SHIFT ||
	    (size & ~SPP_PAGE_MASK))
		return -ENOENT;
	if (any_protected(acc, gfn, acc->ram[i].npages))
		return -EBUSY;
	memmove(&acc->ram[i], &acc->ram[i + 1],
		(acc->nram - (size_t)i - 1) * sizeof(*acc->ram));
	acc->nram--;
	return 0;
}

/*
 * Replace the RAM list by @n ranges @v (any order, may touch, never
 * overlap): sorted and stored; adjacent ranges stay separate entries so
 * spp_access_remove_ram() still finds the regions it was given.
 */
static int ram_replace(struct spp_access *acc, struct ram_region *v, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++) {
		struct ram_region t = v[i];

		for (j = i; j > 0 && v[j - 1].gfn > t.gfn; j--)
			v[j] = v[j - 1];
		v[j] = t;
	}
	free(acc->ram);
	acc->ram = v;
	acc->nram = n;
	acc->ram_cap = n;
	return 0;
}

/* A copy of the RAM list with room for @extra more ranges, or NULL. */
static struct ram_region *ram_copy(const struct spp_access *acc, size_t extra)
{
	struct ram_region *v = malloc((acc->nram + extra + 1) * sizeof(*v));

	if (v && acc->nram)
		memcpy(v, acc->ram, acc->nram * sizeof(*v));
	return v;
}

static int ram_args(uint64_t base, uint64_t size)
{
	if (!size || (base | size) & ~SPP_PAGE_MASK)
		return -EINVAL;
	if (base >= (1ULL << SPP_GPA_BITS) ||
	    size > (1ULL << SPP_GPA_BITS) - base)
		return -EINVAL;
	return 0;
}

int spp_access_merge_ram(struct spp_access *acc, uint64_t base, uint64_t size)
{
	uint64_t gfn, end;
	struct ram_region *v;
	size_t i, n;

	if (!acc || ram_args(base, size))
		return -EINVAL;
	gfn = base >> SPP_PAGE_SHIFT;
	end = gfn + (size >> SPP_PAGE_SHIFT);
	/* Each gap between registered ranges inside [gfn, end) is added. */
	v = ram_copy(acc, acc->nram + 1);
	if (!v)
		return -ENOMEM;
	n = acc->nram;
	for (i = 0; i < acc->nram && gfn < end; i++) {
		const struct ram_region *r = &acc->ram[i];

		if (r->gfn + r->npages <= gfn)
			continue;
		if (r->gfn >= end)
			break;
		if (r->gfn > gfn)
			v[n++] = (struct ram_region){ gfn, r->gfn - gfn };
		gfn = r->gfn + r->npages;
	}
	if (gfn < end)
		v[n++] = (struct ram_region){ gfn, end - gfn };
	return ram_replace(acc, v, n);
}

int spp_access_trim_ram(struct spp_access *acc, uint64_t base, uint64_t size)
{
	uint64_t lo, hi, g;
	struct ram_region *v;
	size_t i, n = 0, cap;

	if (!acc || ram_args(base, size))
		return -EINVAL;
	lo = base >> SPP_PAGE_SHIFT;
	hi = lo + (size >> SPP_PAGE_SHIFT);
	/* Every range may split in two, and each protected page inside
	 * [lo, hi) stays as a range of its own. */
	cap = 2 * acc->nram + acc->pm.count + 1;
	v = malloc(cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < acc->nram; i++) {
		const struct ram_region *r = &acc->ram[i];
		uint64_t a = r->gfn, b = r->gfn + r->npages;
		uint64_t c = a > lo ? a : lo, d = b < hi ? b : hi;

		if (c >= d) {
			v[n++] = *r;
			continue;
		}
		if (a < c)
			v[n++] = (struct ram_region){ a, c - a };
		if (d < b)
			v[n++] = (struct ram_region){ d, b - d };
		if (d - c > acc->pm.count) {
			size_t k;

			for (k = 0; k < acc->pm.cap; k++) {
				g = acc->pm.keys[k];
				if (g != SPP_PAGEMAP_EMPTY && g - c < d - c)
					v[n++] = (struct ram_region){ g, 1 };
			}
		} else {
			for (g = c; g < d; g++)
				if (spp_pagemap_get(&acc->pm, g) !=
				    SPP_ACCESS_FULL)
					v[n++] = (struct ram_region){ g, 1 };
		}
	}
	return ram_replace(acc, v, n);
}

/* Validate a range: -EINVAL on overflow, -EFAULT when not all RAM. */
static int check_ram(const struct spp_access *acc, uint64_t gfn, uint64_t n)
{
	if (gfn + n < gfn)
		return -EINVAL;
	if (!spp_access_is_ram(acc, gfn, n))
		return -EFAULT;
	return 0;
}

/*
 * Room the hash table needs for the update: the pages that are unprotected
 * now and protected after. Counting them costs a lookup per page, so first
 * try the bound "every protected map of the update is new", which needs
 * no lookup and is exact enough whenever the table has that much room.
 */
static size_t count_inserts(const struct spp_access *acc, uint64_t gfn,
			    uint64_t n, const struct spp_map_src *src)
{
	size_t k, bound = 0, inserts = 0;

	if (!src->maps)
		bound = src->fill == SPP_ACCESS_FULL ? 0 : n;
	else
		for (k = 0; k < n; k++)
			bound += src->maps[k] != SPP_ACCESS_FULL;
	if (!bound || acc->pm.count + bound <= acc->pm.cap / 4 * 3)
		return bound;
	for (k = 0; k < n; k++)
		if (spp_map_src_at(src, k) != SPP_ACCESS_FULL &&
		    spp_pagemap_get(&acc->pm, gfn + k) == SPP_ACCESS_FULL)
			inserts++;
	return inserts;
}

static int update(struct spp_access *acc, uint64_t gfn, uint64_t n,
		  const struct spp_map_src *src)
{
	uint64_t k;
	int ret;

	if (!n)
		return 0;
	ret = check_ram(acc, gfn, n);
	if (ret)
		return ret;
	ret = spp_pagemap_reserve(&acc->pm, count_inserts(acc, gfn, n, src));
	if (ret)
		return ret;
	if (acc->sppt) {
		ret = spp_sppt_prepare_src(acc->sppt, gfn, n, src);
		if (ret)
			return ret;
	}

	/* Commit: nothing below can fail. */
	if (!src->maps && src->fill == SPP_ACCESS_FULL && n > acc->pm.count)
		spp_pagemap_remove_range(&acc->pm, gfn, n);
	else
		for (k = 0; k < n; k++)
			spp_pagemap_put(&acc->pm, gfn + k,
					spp_map_src_at(src, k));
	if (acc->sppt)
		spp_sppt_commit_src(acc->sppt, gfn, n, src);
	spp_pagemap_shrink(&acc->pm);
	return 0;
}

int spp_access_set_bulk(struct spp_access *acc, uint64_t gfn, uint64_t npages,
			const uint32_t *maps)
{
	struct spp_map_src src = { .maps = maps };

	if (!acc || (!maps && npages))
		return -EINVAL;
	return update(acc, gfn, npages, &src);
}

int spp_access_set_range(struct spp_access *acc, uint64_t gfn, uint64_t npages,
			 uint32_t map)
{
	struct spp_map_src src = { .maps = NULL, .fill = map };

	if (!acc)
		return -EINVAL;
	return update(acc, gfn, npages, &src);
}

int spp_access_get_bulk(const struct spp_access *acc, uint64_t gfn,
			uint64_t npages, uint32_t *maps)
{
	uint64_t k;
	int ret;

	if (!acc || (!maps && npages))
		return -EINVAL;
	if (!npages)
		return 0;
	ret = check_ram(acc, gfn, npages);
	if (ret)
		return ret;
	for (k = 0; k < npages; k++)
		maps[k] = spp_pagemap_get(&acc->pm, gfn + k);
	return 0;
}

/* Header checks shared by the KVM-shaped calls; 1 means "return 0". */
static int check_request(const struct spp_subpage *req)
{
	if (!req || req->flags)
		return -EINVAL;
	if (req->npages > SPP_SUBPAGE_MAX_PAGES)
		return -EINVAL;
	return req->npages == 0;
}

int spp_access_set(struct spp_access *acc, const struct spp_subpage *req)
{
	int ret = acc ? check_request(req) : -EINVAL;

	if (ret)
		return ret < 0 ? ret : 0;
	ret = spp_access_set_bulk(acc, req->gfn_base, req->npages,
				  req->access_map);
	return ret ? ret : (int)req->npages;
}

int spp_access_get(const struct spp_access *acc, struct spp_subpage *req)
{
	int ret = acc ? check_request(req) : -EINVAL;

	if (ret)
		return ret < 0 ? ret : 0;
	ret = spp_access_get_bulk(acc, req->gfn_base, req->npages,
				  req->access_map);
	return ret ? ret : (int)req->npages;
}

uint32_t spp_access_lookup(const struct spp_access *acc, uint64_t gfn)
{
	/* Beyond 2^48 nothing is RAM; UINT64_MAX is the map's empty key. */
	if (!acc || gfn >= SPP_GFN_LIMIT)
		return SPP_ACCESS_FULL;
	return spp_pagemap_get(&acc->pm, gfn);
}

/* Bits of the sub-pages @first..@last (0..31) of one page. */
static uint32_t subpage_mask(unsigned int first, unsigned int last)
{
	return (uint32_t)(((2ULL << last) - 1) & ~((1ULL << first) - 1));
}

int spp_access_check_write(const struct spp_access *acc, uint64_t gpa,
			   uint32_t len, struct spp_write_verdict *v)
{
	uint64_t last, gfn[2];
	uint32_t touched[2] = { 0, 0 }, denied;
	unsigned int npages, p;

	if (!acc || !v || !len || len > SPP_PAGE_SIZE)
		return -EINVAL;
	if (gpa >= (1ULL << SPP_GPA_BITS) || len > (1ULL << SPP_GPA_BITS) - gpa)
		return -EINVAL;
	last = gpa + len - 1;
	gfn[0] = gpa >> SPP_PAGE_SHIFT;
	gfn[1] = last >> SPP_PAGE_SHIFT;
	npages = gfn[0] == gfn[1] ? 1 : 2;
	if (npages == 1) {
		touched[0] = subpage_mask(spp_subpage_index(gpa),
					  spp_subpage_index(last));
	} else {
		touched[0] = subpage_mask(spp_subpage_index(gpa), 31);
		touched[1] = subpage_mask(0, spp_subpage_index(last));
	}

	memset(v, 0, sizeof(*v));
	v->allowed = true;
	v->crosses_page = npages == 2;
	for (p = 0; p < npages; p++) {
		v->subpages_touched +=
			(unsigned int)__builtin_popcount(touched[p]);
		denied = touched[p] & ~spp_pagemap_get(&acc->pm, gfn[p]);
		v->subpages_denied += (unsigned int)__builtin_popcount(denied);
		if (denied && v->allowed) {
			v->allowed = false;
			v->denied_gfn = gfn[p];
			v->denied_subpage = (unsigned int)__builtin_ctz(denied);
			v->denied_gpa = (gfn[p] << SPP_PAGE_SHIFT) +
					v->denied_subpage * SPP_SUBPAGE_SIZE;
		}
	}
	return 0;
}

int spp_access_attach_sppt(struct spp_access *acc, struct spp_sppt *sppt)
{
	size_t i, n = 0;
	uint64_t *gfns;
	uint32_t *maps;
	int ret = 0;

	if (!acc)
		return -EINVAL;
	if (!sppt) {
		acc->sppt = NULL;
		return 0;
	}
	if (!spp_sppt_is_empty(sppt))
		return -EBUSY;
	if (!acc->pm.count) {
		acc->sppt = sppt;
		return 0;
	}
	/* Replay every protected page into the table, all or nothing. */
	gfns = malloc(acc->pm.count * sizeof(*gfns));
	maps = malloc(acc->pm.count * sizeof(*maps));
	if (!gfns || !maps) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < acc->pm.cap; i++) {
		if (acc->pm.keys[i] == SPP_PAGEMAP_EMPTY)
			continue;
		gfns[n] = acc->pm.keys[i];
		maps[n++] = acc->pm.vals[i];
	}
	for (i = 0; i < n; i++) {
		ret = spp_sppt_set(sppt, gfns[i], 1, &maps[i]);
		if (ret) {
			/* Undo what went in: removals never allocate. */
			uint32_t full = SPP_ACCESS_FULL;

			while (i--)
				spp_sppt_commit(sppt, gfns[i], 1, &full);
			goto out;
		}
	}
	acc->sppt = sppt;
out:
	free(gfns);
	free(maps);
	return ret;
}

int spp_access_for_each(const struct spp_access *acc, spp_access_page_fn fn,
			void *ctx)
{
	size_t i;
	int ret;

	if (!acc || !fn)
		return -EINVAL;
	for (i = 0; i < acc->pm.cap; i++) {
		if (acc->pm.keys[i] == SPP_PAGEMAP_EMPTY)
			continue;
		ret = fn(ctx, acc->pm.keys[i], acc->pm.vals[i]);
		if (ret)
			return ret;
	}
	return 0;
}

int spp_access_reserve(struct spp_access *acc, uint64_t npages)
{
	if (!acc)
		return -EINVAL;
	if (npages > SPP_GFN_LIMIT)
		return -ENOMEM;
	return spp_pagemap_set_floor(&acc->pm, (size_t)npages);
}

uint64_t spp_access_count(const struct spp_access *acc)
{
	return acc ? acc->pm.count : 0;
}

size_t spp_access_memory(const struct spp_access *acc)
{
	if (!acc)
		return 0;
	return sizeof(*acc) + acc->ram_cap * sizeof(*acc->ram) +
	       spp_pagemap_memory(&acc->pm);
}
