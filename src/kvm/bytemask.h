/* SPDX-License-Identifier: MIT */
/*
 * bytemask.h - the guard's byte masks, finer than the hardware
 * (spp_guard_protect_bytes(), docs/introspection.md); pure, no KVM. Not
 * installed.
 *
 * A set of pages, each with one bit per byte (bit b of the page's 4096:
 * byte b is protected), sorted by page, no page with all bits clear. A
 * change builds a new set beside the old one, so the guard swaps the two
 * in one step and a failed change leaves the old set as it was.
 */
#ifndef SPP_KVM_BYTEMASK_H
#define SPP_KVM_BYTEMASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <spp/vector.h>

#define SPP_BYTEMASK_WORDS (SPP_PAGE_SIZE / 64)

struct spp_bytemask_page {
	uint64_t gfn;
	uint64_t bits[SPP_BYTEMASK_WORDS]; /* bit b: byte b of the page */
};

struct spp_bytemask {
	struct spp_bytemask_page *pages; /* sorted by gfn, none all zero */
	size_t n;
};

/* spp_bytemask_find() - page @gfn's bits, or NULL when it has none. */
const uint64_t *spp_bytemask_find(const struct spp_bytemask *m, uint64_t gfn);

/* spp_bytemask_subpages() - bit i set: sub-page i of @bits (a page's
 * SPP_BYTEMASK_WORDS words) has a protected byte. */
uint32_t spp_bytemask_subpages(const uint64_t *bits);

/* spp_bytemask_copy() - the words of the sub-pages of @subpages from
 * @src into @dst (both a page's SPP_BYTEMASK_WORDS words); the other
 * sub-pages' words of @dst stay. */
void spp_bytemask_copy(uint64_t *dst, const uint64_t *src, uint32_t subpages);

/* spp_bytemask_any() - whether a page of [@gfn, @gfn + @n) has bits. */
bool spp_bytemask_any(const struct spp_bytemask *m, uint64_t gfn, uint64_t n);

/* spp_bytemask_set() - set (@on) or clear bytes [@off, @off + @len) of
 * @bits; @off + @len <= SPP_PAGE_SIZE. */
void spp_bytemask_set(uint64_t *bits, uint32_t off, uint32_t len, bool on);

/* A change of page @gfn: @bits holds its bits (all zero if it had none);
 * change them in place. */
typedef void (*spp_bytemask_edit_fn)(void *ctx, uint64_t gfn, uint64_t *bits);

/*
 * spp_bytemask_edit() - into @out, a new set: @m with every page of
 * [@gfn, @gfn + @n) passed through @fn in ascending order (pages left all
 * clear are dropped). @m does not change. Returns 0, -EINVAL (@n 0 or
 * the range wraps), -ENOSPC (the result would hold more than @max pages)
 * or -ENOMEM; @out is left empty on error.
 */
int spp_bytemask_edit(const struct spp_bytemask *m, uint64_t gfn, uint64_t n,
		      spp_bytemask_edit_fn fn, void *ctx, size_t max,
		      struct spp_bytemask *out);

/* spp_bytemask_release() - free @m's pages; @m is empty after. */
void spp_bytemask_release(struct spp_bytemask *m);

#endif /* SPP_KVM_BYTEMASK_H */
