/* SPDX-License-Identifier: MIT */
/*
 * spp/adapters.h - the sub-page calls introspection engines already make,
 * over a permission store (spp/access.h).
 *
 * Two shapes exist in the wild (docs/introspection.md, "Adapters"):
 *
 *  - HVMI's optional glue pair, Get/SetSPPPageProtection: one 4 KiB page
 *    at a time, its protection as a u64 SPP vector in the hardware leaf
 *    format: bit 2i set = sub-page i writable, odd bits reserved.
 *    0x5555555555555555 (SPP_VECTOR_FULL) = unprotected. spp_hvmi_get()
 *    and spp_hvmi_set() take the page's address where HVMI passes its
 *    page GPA.
 *
 *  - KVMi's page-write-bitmap batches: an array of {gpa, u32 bitmap,
 *    u32 padding}, bit i set = sub-page i writable, all ones
 *    (SPP_ACCESS_FULL) = writable = the page unprotected. Applied all or
 *    nothing by spp_kvmi_set().
 *
 * Both convert with spp_vector_from_map()/spp_vector_to_map() and change
 * nothing on bad input. The core has no KVM: the *_with() forms take a
 * setter, so an embedder of a guard passes one that calls
 * spp_guard_set_access() or spp_guard_set_range(), and the guard's store
 * (spp_guard_access()) for the reads. Thread safety: as the store (a
 * writer needs exclusive access; the guard serialises its own setters).
 */
#ifndef SPP_ADAPTERS_H
#define SPP_ADAPTERS_H

#include <stddef.h>
#include <stdint.h>

#include <spp/access.h>

/*
 * spp_adapter_set_fn - gives pages @gfn .. @gfn + @npages - 1 the maps
 * @maps[0 .. @npages - 1] (@npages >= 1, at most SPP_SUBPAGE_MAX_PAGES).
 * Returns 0 or a negative errno, and must change nothing when it fails
 * (spp_access_set_bulk() and spp_guard_set_access() behave so).
 */
typedef int (*spp_adapter_set_fn)(void *ctx, uint64_t gfn, uint64_t npages,
				  const uint32_t *maps);

/*
 * spp_hvmi_get() - HVMI's GetSPPPageProtection: the SPP vector of the page
 * at @gpa (4 KiB aligned) into *@spp; SPP_VECTOR_FULL when the page is
 * unprotected. Returns 0; -EINVAL (NULL, @gpa not aligned or at/above
 * 2^48); -EFAULT (@gpa not in registered RAM). *@spp is written only on
 * success.
 */
int spp_hvmi_get(const struct spp_access *acc, uint64_t gpa, uint64_t *spp);

/*
 * spp_hvmi_set() - HVMI's SetSPPPageProtection on the store @acc: the page
 * at @gpa gets the access map of vector @spp (SPP_VECTOR_FULL
 * unprotects). Returns 0; -EINVAL (NULL, @gpa not 4 KiB aligned or at or
 * above 2^48, an odd bit of @spp set); -EFAULT (not RAM); -ENOMEM.
 * Nothing changes on error.
 */
int spp_hvmi_set(struct spp_access *acc, uint64_t gpa, uint64_t spp);

/*
 * spp_hvmi_set_with() - spp_hvmi_set() through @set(@ctx, gfn, 1, &map)
 * instead of a store: checks as spp_hvmi_set() except RAM (the setter's
 * job), then returns what @set returns (0 on success).
 */
int spp_hvmi_set_with(spp_adapter_set_fn set, void *ctx, uint64_t gpa,
		      uint64_t spp);

/* One entry of KVMi's batch (kvmi_page_write_bitmap_entry's layout). */
struct spp_kvmi_entry {
	uint64_t gpa; /* 4 KiB aligned, below 2^48 */
	uint32_t bitmap; /* bit i = sub-page i writable; ~0 = unprotected */
	uint32_t padding; /* must be 0 */
};

/*
 * spp_kvmi_set() - apply a batch of @n entries to the store @acc, all or
 * nothing. Every entry is checked before anything changes:
 *  - @gpa 4 KiB aligned and below 2^48, @padding 0: else -EINVAL;
 *  - the page in registered RAM: else -EFAULT;
 *  - a page named twice must have the same bitmap both times (it is then
 *    set once); two different bitmaps for one page are -EINVAL, not "the
 *    last wins": a batch has no order an engine could rely on.
 * Then pages are set in ascending gfn order, contiguous pages in one
 * call. @n 0 is 0 (nothing done). On error *@bad (if not NULL) is the index
 * of the entry at fault (for a conflict, the later of the two; for a failed
 * set, the first entry of its run; SIZE_MAX when no single entry is: NULL
 * arguments, no memory for the sort). Returns 0, -EINVAL, -EFAULT or
 * -ENOMEM; nothing changes on error (the store running out of memory in
 * the middle is undone as spp_kvmi_set_with() describes).
 */
int spp_kvmi_set(struct spp_access *acc, const struct spp_kvmi_entry *e,
		 size_t n, size_t *bad);

/*
 * spp_kvmi_set_with() - spp_kvmi_set() through a setter: @acc is only read
 * (RAM and the maps before; with a guard, spp_guard_access()), @set(@ctx,
 * ...) makes each change. Same checks, same order. If @set fails, the
 * runs already set are given back their previous maps (through @set, last
 * first) and @set's error is returned, with *@bad at the first entry of
 * the failed run. Nothing is left changed unless a setter that failed
 * once also fails to restore; the result is then still the first error.
 */
int spp_kvmi_set_with(const struct spp_access *acc, spp_adapter_set_fn set,
		      void *ctx, const struct spp_kvmi_entry *e, size_t n,
		      size_t *bad);

/*
 * spp_kvmi_get() - the read side: each @e[k].bitmap becomes the map of the
 * page at @e[k].gpa (SPP_ACCESS_FULL when unprotected). The entries are
 * checked first as spp_kvmi_set() does (duplicates are fine here); on
 * error no bitmap is written and *@bad names the entry. Returns 0,
 * -EINVAL or -EFAULT.
 */
int spp_kvmi_get(const struct spp_access *acc, struct spp_kvmi_entry *e,
		 size_t n, size_t *bad);

#endif /* SPP_ADAPTERS_H */
