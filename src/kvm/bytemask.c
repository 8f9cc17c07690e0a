// SPDX-License-Identifier: MIT
/*
 * bytemask.c - the guard's byte masks (bytemask.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bytemask.h"

const uint64_t *spp_bytemask_find(const struct spp_bytemask *m, uint64_t gfn)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->pages[mid].gfn < gfn)
			lo = mid + 1;
		else if (m->pages[mid].gfn > gfn)
			hi = mid;
		else
			return m->pages[mid].bits;
	}
	return NULL;
}

uint32_t spp_bytemask_subpages(const uint64_t *bits)
{
	uint32_t s = 0;
	unsigned int i;

	/* 128 bytes per sub-page: two words each */
	for (i = 0; i < SPP_SUBPAGES_PER_PAGE; i++)
		if (bits[2 * i] | bits[2 * i + 1])
			s |= 1u << i;
	return s;
}

void spp_bytemask_copy(uint64_t *dst, const uint64_t *src, uint32_t subpages)
{
	unsigned int i;

	for (i = 0; i < SPP_SUBPAGES_PER_PAGE; i++) {
		if (!(subpages & (1u << i)))
			continue;
		dst[2 * i] = src[2 * i];
		dst[2 * i + 1] = src[2 * i + 1];
	}
}

/* Index of the first page with gfn >= @gfn. */
static size_t lower_bound(const struct spp_bytemask *m, uint64_t gfn)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->pages[mid].gfn < gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool spp_bytemask_any(const struct spp_bytemask *m, uint64_t gfn, uint64_t n)
{
	size_t i;

	if (!m->n || !n)
		return false;
	i = lower_bound(m, gfn);
	return i < m->n && m->pages[i].gfn - gfn < n;
}

void spp_bytemask_set(uint64_t *bits, uint32_t off, uint32_t len, bool on)
{
	uint32_t k;

	for (k = off; k < off + len; k++) {
		if (on)
			bits[k / 64] |= 1ULL << (k % 64);
		else
			bits[k / 64] &= ~(1ULL << (k % 64));
	}
}

static bool all_clear(const uint64_t *bits)
{
	unsigned int i;

	for (i = 0; i < SPP_BYTEMASK_WORDS; i++)
		if (bits[i])
			return false;
	return true;
}

int spp_bytemask_edit(const struct spp_bytemask *m, uint64_t gfn, uint64_t n,
		      spp_bytemask_edit_fn fn, void *ctx, size_t max,
		      struct spp_bytemask *out)
{
	size_t i, k = 0, cap;
	uint64_t j;

	out->pages = NULL;
	out->n = 0;
	if (!n || gfn + n < gfn || n > SIZE_MAX / sizeof(*out->pages) - m->n)
		return -EINVAL;
	cap = m->n + (size_t)n;
	out->pages = malloc(cap * sizeof(*out->pages));
	if (!out->pages)
		return -ENOMEM;
	i = lower_bound(m, gfn);
	if (i) /* m->pages is NULL while the set is empty */
		memcpy(out->pages, m->pages, i * sizeof(*out->pages));
	k = i;
	for (j = 0; j < n; j++) {
		struct spp_bytemask_page *p = &out->pages[k];

		if (i < m->n && m->pages[i].gfn == gfn + j)
			*p = m->pages[i++];
		else
			*p = (struct spp_bytemask_page){ .gfn = gfn + j };
		fn(ctx, gfn + j, p->bits);
		if (!all_clear(p->bits))
			k++;
	}
	if (i < m->n)
		memcpy(out->pages + k, m->pages + i,
		       (m->n - i) * sizeof(*out->pages));
	k += m->n - i;
	if (k > max) {
		free(out->pages);
		out->pages = NULL;
		return -ENOSPC;
	}
	out->n = k;
	if (!k) {
		free(out->pages);
		out->pages = NULL;
	}
	return 0;
}

void spp_bytemask_release(struct spp_bytemask *m)
{
	free(m->pages);
	m->pages = NULL;
	m->n = 0;
}
