/* SPDX-License-Identifier: MIT */
/*
 * spp/guest_mem.h - guest-physical memory as seen from the host.
 *
 * A list of regions, each a guest-physical range [gpa, gpa + size) backed
 * by @size bytes of host memory at @host (the caller owns that memory;
 * this module never allocates, maps or frees it). Regions never overlap;
 * adjacent regions stay separate regions, and a range that straddles two
 * of them is NOT translated (their host memory need not be contiguous).
 *
 * spp_guest_mem_ptr() is the one place where a guest-physical address
 * becomes a host pointer; every other module goes through it.
 *
 * Thread safety: none inside. Lookups may run concurrently; add/remove
 * need exclusive access.
 */
#ifndef SPP_GUEST_MEM_H
#define SPP_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Most regions one struct spp_guest_mem holds. */
#define SPP_GUEST_MEM_MAX_REGIONS 64

struct spp_guest_mem_region {
	uint64_t gpa;
	uint64_t size; /* > 0; gpa + size does not overflow */
	void *host;
};

/*
 * struct spp_guest_mem - read the fields freely, change them only through
 * the functions below. @regions is sorted by gpa.
 */
struct spp_guest_mem {
	struct spp_guest_mem_region regions[SPP_GUEST_MEM_MAX_REGIONS];
	unsigned int nregions;
};

/* spp_guest_mem_init() - an empty map (no region). */
void spp_guest_mem_init(struct spp_guest_mem *m);

/*
 * spp_guest_mem_add() - back [@gpa, @gpa + @size) with host memory @host.
 * Returns 0; -EINVAL if @m or @host is NULL, @size is 0 or @gpa + @size
 * overflows 2^64; -EEXIST if the range overlaps a region (adjacent is
 * fine); -ENOSPC if SPP_GUEST_MEM_MAX_REGIONS regions exist already.
 * No alignment is required.
 */
int spp_guest_mem_add(struct spp_guest_mem *m, uint64_t gpa, uint64_t size,
		      void *host);

/*
 * spp_guest_mem_remove() - drop the region that starts at @gpa and has
 * exactly @size bytes. Returns 0, -ENOENT (no such region) or -EINVAL
 * (@m NULL).
 */
int spp_guest_mem_remove(struct spp_guest_mem *m, uint64_t gpa, uint64_t size);

/*
 * spp_guest_mem_find() - the region holding the byte at @gpa, or NULL.
 */
const struct spp_guest_mem_region *
spp_guest_mem_find(const struct spp_guest_mem *m, uint64_t gpa);

/*
 * spp_guest_mem_ptr() - host pointer for the guest range
 * [@gpa, @gpa + @len). NULL unless the whole range lies inside ONE region;
 * NULL for @len 0, for @m NULL and when @gpa + @len overflows.
 */
void *spp_guest_mem_ptr(const struct spp_guest_mem *m, uint64_t gpa,
			uint64_t len);

/*
 * spp_guest_mem_read() - copy @len guest bytes at @gpa to @dst.
 * Returns 0 (also for @len 0), -EINVAL (@dst or @m NULL) or -EFAULT
 * (range not inside one region; @dst untouched).
 */
int spp_guest_mem_read(const struct spp_guest_mem *m, uint64_t gpa, void *dst,
		       size_t len);

/*
 * spp_guest_mem_write() - copy @len bytes from @src to guest @gpa.
 * Returns 0 (also for @len 0), -EINVAL (@src or @m NULL) or -EFAULT
 * (range not inside one region; guest memory untouched).
 */
int spp_guest_mem_write(const struct spp_guest_mem *m, uint64_t gpa,
			const void *src, size_t len);

/*
 * spp_guest_mem_fill() - set @len guest bytes at @gpa to @byte.
 * Returns 0 (also for @len 0), -EINVAL (@m NULL) or -EFAULT.
 */
int spp_guest_mem_fill(const struct spp_guest_mem *m, uint64_t gpa, int byte,
		       size_t len);

#endif /* SPP_GUEST_MEM_H */
