/* SPDX-License-Identifier: MIT */
/*
 * spp/access.h - the sub-page permission store of one guest.
 *
 * Holds one 32-bit access map per 4 KiB guest page (bit i = sub-page i
 * writable; SPP_ACCESS_FULL = unprotected, the default) for the pages of
 * the guest's registered RAM regions. Only protected pages take memory
 * (a hash table of about 24 bytes per protected page), so a 1 TiB guest
 * costs nothing until pages are protected.
 *
 * SET/GET follow the final uAPI of the KVM SPP series (v8..v12,
 * KVM_SUBPAGES_SET_ACCESS / KVM_SUBPAGES_GET_ACCESS) with one deliberate
 * improvement: every call is all or nothing. A call that fails leaves
 * every page, the RAM map and the attached SPPT exactly as they were.
 *
 * An SPPT (spp/sppt.h) may be attached; it is then kept in sync eagerly:
 * every successful SET writes the new vectors into it before returning.
 *
 * Thread safety: none inside. Concurrent readers are fine; a writer
 * (add/remove RAM, SET) needs exclusive access. The KVM layer serialises.
 */
#ifndef SPP_ACCESS_H
#define SPP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <spp/vector.h>

struct spp_sppt;

/* Most pages one KVM-shaped SET/GET call may name (KVM_SUBPAGE_MAX_PAGES). */
#define SPP_SUBPAGE_MAX_PAGES 512

/* The request of KVM_SUBPAGES_SET_ACCESS / _GET_ACCESS, v8..v12 layout:
 * a 16-byte header followed by @npages access maps. */
struct spp_subpage {
	uint64_t gfn_base;
	uint32_t npages;
	uint32_t flags; /* must be 0 */
	uint32_t access_map[];
};

struct spp_access;

/*
 * spp_access_create() - an empty store: no RAM, no protected page.
 * Returns 0 and stores it in *@out, -EINVAL (NULL) or -ENOMEM.
 */
int spp_access_create(struct spp_access **out);

/* spp_access_destroy() - free the store (not an attached SPPT); NULL ok. */
void spp_access_destroy(struct spp_access *acc);

/*
 * spp_access_add_ram() - register guest-physical RAM [@base, @base+@size).
 * @base and @size must be 4 KiB aligned, @size > 0, the region must end at
 * or below 2^48 (what an SPPT can index) and must not overlap a registered
 * region (adjacent is fine). Returns 0, -EINVAL, -EEXIST (overlap) or
 * -ENOMEM.
 */
int spp_access_add_ram(struct spp_access *acc, uint64_t base, uint64_t size);

/*
 * spp_access_remove_ram() - unregister the region that starts at @base
 * and has exactly @size bytes. Refused with -EBUSY while any of its pages
 * is protected (unprotect them first); -ENOENT if no such region, -EINVAL
 * for NULL.
 */
int spp_access_remove_ram(struct spp_access *acc, uint64_t base, uint64_t size);

/*
 * spp_access_merge_ram() - make every page of [@base, @base+@size) RAM:
 * the parts not registered yet are added (as regions of their own), the
 * rest stays as it is. For an embedder whose RAM map changes under it (a
 * VMM that deletes and re-creates memslots). Alignment and limits as
 * spp_access_add_ram(). Returns 0, -EINVAL or -ENOMEM (nothing changed).
 */
int spp_access_merge_ram(struct spp_access *acc, uint64_t base, uint64_t size);

/*
 * spp_access_trim_ram() - the pages of [@base, @base+@size) stop being
 * RAM, except protected ones: each stays registered with its map, so the
 * protection holds when RAM comes back there (spp_access_merge_ram()).
 * Regions are cut where needed. Returns 0, -EINVAL or -ENOMEM (nothing
 * changed).
 */
int spp_access_trim_ram(struct spp_access *acc, uint64_t base, uint64_t size);

/*
 * spp_access_is_ram() - whether every page of @gfn .. @gfn + @npages - 1
 * lies in registered RAM (regions may be adjacent). False for @npages 0,
 * NULL or an overflowing range.
 */
bool spp_access_is_ram(const struct spp_access *acc, uint64_t gfn,
		       uint64_t npages);

/*
 * spp_access_attach_sppt() - mirror the store into @sppt (NULL detaches).
 * @sppt must protect no page yet (-EBUSY otherwise). The table is brought
 * up to date with every protected page first; on failure (-ENOMEM) nothing
 * is attached and @sppt is unchanged. The caller keeps ownership of @sppt
 * and must detach it before destroying it. Returns 0, -EINVAL, -EBUSY or
 * -ENOMEM.
 */
int spp_access_attach_sppt(struct spp_access *acc, struct spp_sppt *sppt);

/*
 * spp_access_set() - KVM_SUBPAGES_SET_ACCESS.
 * Sets the maps of pages @req->gfn_base .. + @req->npages - 1.
 * Returns @req->npages on success; 0 if @req->npages is 0; -EINVAL if @req
 * is NULL, @req->flags != 0, @req->npages > SPP_SUBPAGE_MAX_PAGES or the
 * range overflows; -EFAULT if a page is not in registered RAM (KVM's
 * answer for a gfn without a memslot); -ENOMEM. Nothing changes on error.
 */
int spp_access_set(struct spp_access *acc, const struct spp_subpage *req);

/*
 * spp_access_get() - KVM_SUBPAGES_GET_ACCESS.
 * Fills @req->access_map[0 .. @req->npages - 1]; an unprotected page
 * reads SPP_ACCESS_FULL. Return values and errors as spp_access_set();
 * @req->access_map is not written on error.
 */
int spp_access_get(const struct spp_access *acc, struct spp_subpage *req);

/*
 * spp_access_set_bulk() - SET without the 512-page limit, for library
 * users: @maps[k] becomes the map of page @gfn + k. Returns 0 (also for
 * @npages 0), -EINVAL (NULL, overflow), -EFAULT (not RAM) or -ENOMEM.
 * All or nothing.
 */
int spp_access_set_bulk(struct spp_access *acc, uint64_t gfn, uint64_t npages,
			const uint32_t *maps);

/*
 * spp_access_set_range() - give every page of @gfn .. @gfn + @npages - 1
 * the same @map (e.g. SPP_ACCESS_FULL to unprotect a range). Errors as
 * spp_access_set_bulk().
 */
int spp_access_set_range(struct spp_access *acc, uint64_t gfn, uint64_t npages,
			 uint32_t map);

/*
 * spp_access_get_bulk() - GET without the 512-page limit. Errors as
 * spp_access_set_bulk(); @maps is not written on error.
 */
int spp_access_get_bulk(const struct spp_access *acc, uint64_t gfn,
			uint64_t npages, uint32_t *maps);

/*
 * spp_access_lookup() - the map of page @gfn; SPP_ACCESS_FULL for an
 * unprotected page and for any gfn outside RAM. The hot-path query.
 */
uint32_t spp_access_lookup(const struct spp_access *acc, uint64_t gfn);

/* Result of a write check. */
struct spp_write_verdict {
	bool allowed;
	/* When denied: the first denied sub-page in address order. */
	uint64_t denied_gpa; /* its first byte */
	uint64_t denied_gfn;
	unsigned int denied_subpage; /* 0..31 */
	/* Sub-pages the write touches: one or more per page, at most 2 pages. */
	unsigned int subpages_touched;
	/* How many of them are denied (0 when allowed). */
	unsigned int subpages_denied;
	bool crosses_page;
};

/*
 * spp_access_check_write() - would a @len-byte write at @gpa be allowed?
 * Strict rule: allowed only if every sub-page the write touches is
 * writable. A write that crosses a 4 KiB boundary is judged as one store:
 * one denied sub-page on either page denies all of it (on hardware a
 * fault on either page means no byte of the store is written).
 * @len is 1..SPP_PAGE_SIZE. Pages outside RAM count as unprotected.
 * Returns 0 and fills @v, or -EINVAL (NULL, @len out of range, @gpa + @len
 * overflowing or reaching past the 48-bit GPA space).
 */
int spp_access_check_write(const struct spp_access *acc, uint64_t gpa,
			   uint32_t len, struct spp_write_verdict *v);

/* Called by spp_access_for_each() with each protected page. */
typedef int (*spp_access_page_fn)(void *ctx, uint64_t gfn, uint32_t map);

/*
 * spp_access_for_each() - visit every protected page, in no set order.
 * The store must not change during the walk. Stops at and returns the
 * first non-zero value of @fn; 0 otherwise; -EINVAL for NULL arguments.
 */
int spp_access_for_each(const struct spp_access *acc, spp_access_page_fn fn,
			void *ctx);

/*
 * spp_access_reserve() - allocate room for @npages protected pages now and
 * keep it: SETs that stay within it never allocate in the store, and the
 * store does not shrink below it. For VMMs that want no allocation (and no
 * first-touch page faults) when protections change while the guest runs.
 * 0 drops the reservation. An attached SPPT still allocates its tables.
 * Returns 0, -EINVAL (NULL) or -ENOMEM (nothing changed).
 */
int spp_access_reserve(struct spp_access *acc, uint64_t npages);

/* Number of protected pages (map != SPP_ACCESS_FULL). */
uint64_t spp_access_count(const struct spp_access *acc);

/* Bytes allocated by the store (an attached SPPT not included). */
size_t spp_access_memory(const struct spp_access *acc);

#endif /* SPP_ACCESS_H */
