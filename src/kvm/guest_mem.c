// SPDX-License-Identifier: MIT
/*
 * guest_mem.c - guest-physical regions and the checked GPA -> host
 * pointer translation.
 */
#include <errno.h>
#include <string.h>

#include <spp/guest_mem.h>

void spp_guest_mem_init(struct spp_guest_mem *m)
{
	if (m)
		memset(m, 0, sizeof(*m));
}

int spp_guest_mem_add(struct spp_guest_mem *m, uint64_t gpa, uint64_t size,
		      void *host)
{
	uint64_t end;
	unsigned int i, pos;

	if (!m || !host || !size || __builtin_add_overflow(gpa, size, &end))
		return -EINVAL;
	/* end may be 0 only on overflow, excluded above; end > gpa. */
	pos = m->nregions;
	for (i = 0; i < m->nregions; i++) {
		const struct spp_guest_mem_region *r = &m->regions[i];

		if (gpa < r->gpa + r->size && r->gpa < end)
			return -EEXIST;
		if (pos == m->nregions && gpa < r->gpa)
			pos = i;
	}
	if (m->nregions >= SPP_GUEST_MEM_MAX_REGIONS)
		return -ENOSPC;
	memmove(&m->regions[pos + 1], &m->regions[pos],
		(m->nregions - pos) * sizeof(m->regions[0]));
	m->regions[pos] = (struct spp_guest_mem_region){
		.gpa = gpa,
		.size = size,
		.host = host,
	};
	m->nregions++;
	return 0;
}

int spp_guest_mem_remove(struct spp_guest_mem *m, uint64_t gpa, uint64_t size)
{
	unsigned int i;

	if (!m)
		return -EINVAL;
	for (i = 0; i < m->nregions; i++) {
		if (m->regions[i].gpa == gpa && m->regions[i].size == size) {
			memmove(&m->regions[i], &m->regions[i + 1],
				(m->nregions - i - 1) * sizeof(m->regions[0]));
			m->nregions--;
			memset(&m->regions[m->nregions], 0,
			       sizeof(m->regions[0]));
			return 0;
		}
	}
	return -ENOENT;
}

const struct spp_guest_mem_region *
spp_guest_mem_find(const struct spp_guest_mem *m, uint64_t gpa)
{
	unsigned int lo = 0, hi;

	if (!m)
		return NULL;
	/* Binary search: the last region with r->gpa <= gpa. */
	hi = m->nregions;
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (m->regions[mid].gpa <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	/* r->gpa <= gpa; r->gpa + r->size cannot overflow (checked at add). */
	if (gpa - m->regions[lo - 1].gpa < m->regions[lo - 1].size)
		return &m->regions[lo - 1];
	return NULL;
}

void *spp_guest_mem_ptr(const struct spp_guest_mem *m, uint64_t gpa,
			uint64_t len)
{
	const struct spp_guest_mem_region *r;
	uint64_t off;

	if (!len)
		return NULL;
	r = spp_guest_mem_find(m, gpa);
	if (!r)
		return NULL;
	off = gpa - r->gpa;
	/* off < r->size, so r->size - off >= 1: no overflow anywhere. */
	if (len > r->size - off)
		return NULL;
	return (char *)r->host + off;
}

int spp_guest_mem_read(const struct spp_guest_mem *m, uint64_t gpa, void *dst,
		       size_t len)
{
	const void *p;

	if (!m || !dst)
		return -EINVAL;
	if (!len)
		return 0;
	p = spp_guest_mem_ptr(m, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int spp_guest_mem_write(const struct spp_guest_mem *m, uint64_t gpa,
			const void *src, size_t len)
{
	void *p;

	if (!m || !src)
		return -EINVAL;
	if (!len)
		return 0;
	p = spp_guest_mem_ptr(m, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

int spp_guest_mem_fill(const struct spp_guest_mem *m, uint64_t gpa, int byte,
		       size_t len)
{
	void *p;

	if (!m)
		return -EINVAL;
	if (!len)
		return 0;
	p = spp_guest_mem_ptr(m, gpa, len);
	if (!p)
		return -EFAULT;
	memset(p, byte, len);
	return 0;
}
