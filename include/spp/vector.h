/* SPDX-License-Identifier: MIT */
/*
 * spp/vector.h - sub-page constants and the two permission encodings.
 *
 * A 4 KiB guest-physical page is split into 32 sub-pages of 128 bytes;
 * sub-page i covers page offsets 128*i .. 128*i+127 (GPA bits 11:7 = i).
 *
 * Two encodings of one page's write permissions exist:
 *  - the 32-bit "access map" of the KVM series' uAPI: bit i set means
 *    sub-page i is writable; 0xFFFFFFFF (SPP_ACCESS_FULL) means the page
 *    is not protected at all;
 *  - the 64-bit "SPP vector" that hardware reads from an SPPT leaf entry:
 *    bit 2i set means sub-page i is writable, every odd bit is reserved
 *    and must be 0 (a set odd bit is an SPP misconfiguration).
 */
#ifndef SPP_VECTOR_H
#define SPP_VECTOR_H

#include <stdbool.h>
#include <stdint.h>

#define SPP_PAGE_SHIFT 12
#define SPP_PAGE_SIZE (1ULL << SPP_PAGE_SHIFT)
#define SPP_PAGE_MASK (~(SPP_PAGE_SIZE - 1))

#define SPP_SUBPAGE_SHIFT 7
#define SPP_SUBPAGE_SIZE (1ULL << SPP_SUBPAGE_SHIFT)
#define SPP_SUBPAGES_PER_PAGE 32

/* Access map of an unprotected page: every sub-page writable. */
#define SPP_ACCESS_FULL 0xFFFFFFFFu
/* SPP vector equivalent of SPP_ACCESS_FULL. */
#define SPP_VECTOR_FULL 0x5555555555555555ULL
/* Reserved (odd) bits of an SPP vector. */
#define SPP_VECTOR_RESERVED 0xAAAAAAAAAAAAAAAAULL

/* Highest guest-physical address bit an SPPT can index (GPA[47:12]). */
#define SPP_GPA_BITS 48
#define SPP_GFN_LIMIT (1ULL << (SPP_GPA_BITS - SPP_PAGE_SHIFT))

/* Sub-page index (0..31) of a guest-physical address: GPA bits 11:7. */
static inline unsigned int spp_subpage_index(uint64_t gpa)
{
	return (unsigned int)((gpa >> SPP_SUBPAGE_SHIFT) &
			      (SPP_SUBPAGES_PER_PAGE - 1));
}

/*
 * spp_vector_from_map() - 32-bit access map to 64-bit SPP vector.
 * Moves bit i of @map to bit 2i of the result; odd bits are 0.
 * Examples: 0x1 -> 0x1, 0x2 -> 0x4, 0xFFFFFFFF -> 0x5555555555555555.
 */
uint64_t spp_vector_from_map(uint32_t map);

/*
 * spp_vector_to_map() - 64-bit SPP vector to 32-bit access map.
 * Stores in *@map the bits 2i of @vector as bit i.
 * Returns 0, or -EINVAL (and leaves *@map untouched) if @vector has a
 * reserved odd bit set or @map is NULL.
 */
int spp_vector_to_map(uint64_t vector, uint32_t *map);

/* Whether sub-page @index (0..31) is writable under access map @map. */
static inline bool spp_map_writable(uint32_t map, unsigned int index)
{
	return (map >> (index & 31)) & 1;
}

#endif /* SPP_VECTOR_H */
