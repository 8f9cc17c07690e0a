/* SPDX-License-Identifier: MIT */
/*
 * spp/sppt.h - a Sub-Page Permission Table in exact hardware format.
 *
 * Four levels of 4 KiB tables, 512 little-endian u64 entries each, indexed
 * by GPA[47:39] (level 4, the root), [38:30], [29:21] and [20:12] (level 1).
 * A non-leaf entry is the next table's physical address | 1 (bit 0 =
 * present, no other bit); a level-1 entry is the page's 64-bit SPP vector
 * (see spp/vector.h). The SPPTP is the root table's address.
 *
 * Tables live in a private "table address space": table k has the
 * physical address base + 4096 * k, where @base is chosen at creation (a
 * VMM that hands the tables to real hardware copies them to host-physical
 * pages at those offsets, or picks @base accordingly). spp_sppt_read() is
 * the accessor the walker (spp/walk.h) uses to read them.
 *
 * Contents: a level-1 table exists exactly for the 2 MiB blocks that hold
 * at least one protected page (vector != SPP_VECTOR_FULL); its other
 * entries hold SPP_VECTOR_FULL. Upper tables exist only on the paths to
 * such leaves, so memory is 4 KiB per such block plus its share of upper
 * levels - what hardware needs - and a GPA outside them walks to an SPP
 * miss, which hardware never takes for pages without EPT bit 61.
 *
 * Updates are two-phase so a caller can be all-or-nothing:
 * spp_sppt_prepare() allocates everything spp_sppt_commit() of the same
 * range and maps will need; the commit then cannot fail.
 */
#ifndef SPP_SPPT_H
#define SPP_SPPT_H

#include <stddef.h>
#include <stdint.h>

#define SPP_SPPT_ENTRIES 512
#define SPP_SPPT_LEVELS 4
#define SPP_SPPT_DEFAULT_BASE 0x100000000ULL /* 4 GiB */
#define SPP_SPPT_DEFAULT_MAXPHYADDR 46

struct spp_sppt;

/*
 * spp_sppt_create() - an SPPT whose tables start at physical address @base.
 * @base must be 4 KiB aligned, and the tables must fit below 2^@maxphyaddr
 * (@maxphyaddr 36..52). Only the root table exists afterwards.
 * Returns 0 and stores the table in *@out, -EINVAL or -ENOMEM.
 */
int spp_sppt_create(struct spp_sppt **out, uint64_t base,
		    unsigned int maxphyaddr);

/* spp_sppt_destroy() - free the table and all its pages; NULL is a no-op. */
void spp_sppt_destroy(struct spp_sppt *sppt);

/* spp_sppt_spptp() - the SPPTP value: the root table's address. */
uint64_t spp_sppt_spptp(const struct spp_sppt *sppt);

/* spp_sppt_maxphyaddr() - the MAXPHYADDR the table was created for. */
unsigned int spp_sppt_maxphyaddr(const struct spp_sppt *sppt);

/*
 * spp_sppt_read() - read the entry at physical address @pa.
 * @ctx is a struct spp_sppt *; the signature matches spp_walk_read_fn.
 * Returns 0, or -EFAULT if @pa is not 8-byte aligned inside a live table.
 */
int spp_sppt_read(void *ctx, uint64_t pa, uint64_t *entry);

/*
 * spp_sppt_get_vector() - the SPP vector stored for page @gfn.
 * Returns 0 and stores it, -ENOENT if no level-1 table covers @gfn (a
 * walk would take an SPP miss), -EINVAL if @gfn >= SPP_GFN_LIMIT.
 */
int spp_sppt_get_vector(const struct spp_sppt *sppt, uint64_t gfn,
			uint64_t *vector);

/*
 * spp_sppt_prepare() - reserve what committing @maps for pages
 * @gfn .. @gfn + @npages - 1 needs. Allocates tables into a private pool;
 * changes nothing visible. Returns 0, -EINVAL (NULL, range overflow or
 * beyond SPP_GFN_LIMIT) or -ENOMEM (nothing retained).
 */
int spp_sppt_prepare(struct spp_sppt *sppt, uint64_t gfn, uint64_t npages,
		     const uint32_t *maps);

/*
 * spp_sppt_commit() - write the vectors of @maps (access maps, one per
 * page) for @gfn .. @gfn + @npages - 1. Must follow a successful
 * spp_sppt_prepare() of the same arguments with no update in between;
 * cannot fail then. Frees tables left without protected pages.
 */
void spp_sppt_commit(struct spp_sppt *sppt, uint64_t gfn, uint64_t npages,
		     const uint32_t *maps);

/*
 * spp_sppt_set() - prepare + commit. Returns 0, -EINVAL or -ENOMEM; on
 * error the table is unchanged.
 */
int spp_sppt_set(struct spp_sppt *sppt, uint64_t gfn, uint64_t npages,
		 const uint32_t *maps);

/* Called by spp_sppt_for_each_table() once per live table. */
typedef int (*spp_sppt_table_fn)(void *ctx, uint64_t pa, int level,
				 const uint64_t *entries);

/*
 * spp_sppt_for_each_table() - visit every live table, root first, then in
 * depth-first GPA order. Stops at and returns the first non-zero value
 * @fn returns; 0 otherwise. -EINVAL for NULL arguments.
 */
int spp_sppt_for_each_table(const struct spp_sppt *sppt, spp_sppt_table_fn fn,
			    void *ctx);

/* Number of live tables (root included). */
size_t spp_sppt_table_count(const struct spp_sppt *sppt);

/* Bytes allocated by the table, bookkeeping and spare pool included. */
size_t spp_sppt_memory(const struct spp_sppt *sppt);

#endif /* SPP_SPPT_H */
