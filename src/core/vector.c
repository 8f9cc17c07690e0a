// SPDX-License-Identifier: MIT
/*
 * vector.c - access map <-> SPP vector.
 *
 * The map's bit i becomes the vector's bit 2i: a bit "spread" done with
 * the usual interleave masks in five steps instead of a 32-step loop.
 */
#include <errno.h>
#include <stddef.h>

#include <spp/vector.h>

uint64_t spp_vector_from_map(uint32_t map)
{
	uint64_t x = map;

	x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
	x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
	x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;
	x = (x | (x << 2)) & 0x3333333333333333ULL;
	x = (x | (x << 1)) & 0x5555555555555555ULL;
	return x;
}

int spp_vector_to_map(uint64_t vector, uint32_t *map)
{
	uint64_t x = vector;

	if (!map || (vector & SPP_VECTOR_RESERVED))
		return -EINVAL;
	x = (x | (x >> 1)) & 0x3333333333333333ULL;
	x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0FULL;
	x = (x | (x >> 4)) & 0x00FF00FF00FF00FFULL;
	x = (x | (x >> 8)) & 0x0000FFFF0000FFFFULL;
	x = (x | (x >> 16)) & 0x00000000FFFFFFFFULL;
	*map = (uint32_t)x;
	return 0;
}
