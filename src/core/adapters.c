// SPDX-License-Identifier: MIT
/*
 * adapters.c - HVMI's SPP glue pair and KVMi's write-bitmap batches over a
 * permission store (spp/adapters.h). Conversions are spp/vector.h's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <spp/adapters.h>

/* A page address the store can hold: aligned, below 2^48. */
static bool page_gpa_ok(uint64_t gpa)
{
	return !(gpa & ~SPP_PAGE_MASK) &&
	       (gpa >> SPP_PAGE_SHIFT) < SPP_GFN_LIMIT;
}

static int store_set(void *ctx, uint64_t gfn, uint64_t npages,
		     const uint32_t *maps)
{
	return spp_access_set_bulk(ctx, gfn, npages, maps);
}

int spp_hvmi_get(const struct spp_access *acc, uint64_t gpa, uint64_t *spp)
{
	uint64_t gfn = gpa >> SPP_PAGE_SHIFT;

	if (!acc || !spp || !page_gpa_ok(gpa))
		return -EINVAL;
	if (!spp_access_is_ram(acc, gfn, 1))
		return -EFAULT;
	*spp = spp_vector_from_map(spp_access_lookup(acc, gfn));
	return 0;
}

int spp_hvmi_set_with(spp_adapter_set_fn set, void *ctx, uint64_t gpa,
		      uint64_t spp)
{
	uint32_t map;

	if (!set || !page_gpa_ok(gpa) || spp_vector_to_map(spp, &map))
		return -EINVAL;
	return set(ctx, gpa >> SPP_PAGE_SHIFT, 1, &map);
}

int spp_hvmi_set(struct spp_access *acc, uint64_t gpa, uint64_t spp)
{
	if (!acc)
		return -EINVAL;
	return spp_hvmi_set_with(store_set, acc, gpa, spp);
}

/* One entry's checks, in the order the header lists them. */
static int kvmi_check(const struct spp_access *acc,
		      const struct spp_kvmi_entry *e)
{
	if (!page_gpa_ok(e->gpa) || e->padding)
		return -EINVAL;
	if (!spp_access_is_ram(acc, e->gpa >> SPP_PAGE_SHIFT, 1))
		return -EFAULT;
	return 0;
}

static int kvmi_check_all(const struct spp_access *acc,
			  const struct spp_kvmi_entry *e, size_t n, size_t *bad)
{
	size_t k;
	int ret;

	for (k = 0; k < n; k++) {
		ret = kvmi_check(acc, &e[k]);
		if (ret) {
			*bad = k;
			return ret;
		}
	}
	return 0;
}

struct kvmi_page {
	uint64_t gfn;
	size_t idx; /* the entry it came from */
};

static int page_cmp(const void *a, const void *b)
{
	const struct kvmi_page *x = a, *y = b;

	if (x->gfn != y->gfn)
		return x->gfn < y->gfn ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int spp_kvmi_set_with(const struct spp_access *acc, spp_adapter_set_fn set,
		      void *ctx, const struct spp_kvmi_entry *e, size_t n,
		      size_t *bad)
{
	struct kvmi_page *pg = NULL;
	uint32_t *maps = NULL, *old = NULL;
	uint64_t *gfns = NULL;
	size_t dummy, k, m = 0, start, done;
	int ret;

	if (!bad)
		bad = &dummy;
	*bad = SIZE_MAX;
	if (!acc || !set || (n && !e))
		return -EINVAL;
	if (!n)
		return 0;
	ret = kvmi_check_all(acc, e, n, bad);
	if (ret)
		return ret;
	if (n > SIZE_MAX / sizeof(*pg))
		return -ENOMEM;
	pg = malloc(n * sizeof(*pg));
	gfns = malloc(n * sizeof(*gfns));
	maps = malloc(n * sizeof(*maps));
	old = malloc(n * sizeof(*old));
	ret = -ENOMEM;
	if (!pg || !gfns || !maps || !old)
		goto out;
	for (k = 0; k < n; k++)
		pg[k] = (struct kvmi_page){ e[k].gpa >> SPP_PAGE_SHIFT, k };
	qsort(pg, n, sizeof(*pg), page_cmp);
	/* One row per page; a page named twice must agree with itself. */
	for (k = 0; k < n; k++) {
		uint32_t map = e[pg[k].idx].bitmap;

		if (m && gfns[m - 1] == pg[k].gfn) {
			if (maps[m - 1] != map) {
				*bad = pg[k].idx;
				ret = -EINVAL;
				goto out;
			}
			continue;
		}
		gfns[m] = pg[k].gfn;
		maps[m] = map;
		old[m] = spp_access_lookup(acc, pg[k].gfn);
		m++;
	}
	/* Runs of consecutive gfns, each one call of at most 512 pages. */
	for (start = 0; start < m; start = done) {
		done = start + 1;
		while (done < m && gfns[done] == gfns[done - 1] + 1 &&
		       done - start < SPP_SUBPAGE_MAX_PAGES)
			done++;
		ret = set(ctx, gfns[start], done - start, &maps[start]);
		if (ret) {
			size_t end = start, s;

			/* The runs before this one, back as they were. */
			while (end > 0) {
				s = end - 1;
				while (s > 0 && gfns[s] == gfns[s - 1] + 1 &&
				       end - s < SPP_SUBPAGE_MAX_PAGES)
					s--;
				(void)set(ctx, gfns[s], end - s, &old[s]);
				end = s;
			}
			for (k = 0; k < n; k++)
				if (pg[k].gfn == gfns[start]) {
					*bad = pg[k].idx;
					break;
				}
			goto out;
		}
	}
	*bad = SIZE_MAX;
	ret = 0;
out:
	free(pg);
	free(gfns);
	free(maps);
	free(old);
	return ret;
}

int spp_kvmi_set(struct spp_access *acc, const struct spp_kvmi_entry *e,
		 size_t n, size_t *bad)
{
	return spp_kvmi_set_with(acc, store_set, acc, e, n, bad);
}

int spp_kvmi_get(const struct spp_access *acc, struct spp_kvmi_entry *e,
		 size_t n, size_t *bad)
{
	size_t dummy, k;
	int ret;

	if (!bad)
		bad = &dummy;
	*bad = SIZE_MAX;
	if (!acc || (n && !e))
		return -EINVAL;
	ret = kvmi_check_all(acc, e, n, bad);
	if (ret)
		return ret;
	for (k = 0; k < n; k++)
		e[k].bitmap =
			spp_access_lookup(acc, e[k].gpa >> SPP_PAGE_SHIFT);
	return 0;
}
