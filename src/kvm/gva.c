// SPDX-License-Identifier: MIT
/*
 * gva.c - guest-virtual ranges to guest-physical pieces (spp/gva.h), one
 * software walk (x86_walk.c) per 4 KiB page.
 */
#include <errno.h>

#include <spp/gva.h>
#include <spp/vector.h>
#include <spp/x86.h>

#include "x86_walk.h"

/* What a failed walk of @w (levels from @top down) ran into. */
static void classify(const struct spp_x86_walk *w, unsigned int top,
		     uint64_t gva, struct spp_gva_fault *f)
{
	unsigned int k = w->levels;

	f->gva = gva;
	if (k && !(w->entry[k - 1] & SPP_X86_PTE_P)) {
		f->kind = SPP_GVA_NOT_PRESENT;
		k--;
	} else if (k && top - (k - 1) >= 4 &&
		   (w->entry[k - 1] & SPP_X86_PTE_PS)) {
		f->kind = SPP_GVA_RESERVED;
		k--;
	} else {
		/* the next entry could not be read */
		f->kind = SPP_GVA_OUTSIDE_RAM;
		f->level = top - k;
		f->entry_gpa = w->entry_gpa[k];
		f->entry = 0;
		return;
	}
	f->level = top - k;
	f->entry_gpa = w->entry_gpa[k];
	f->entry = w->entry[k];
}

int spp_gva_translate(const struct spp_guest_mem *mem,
		      const struct spp_x86_paging *pg, uint64_t gva,
		      uint64_t len, struct spp_gva_piece *pieces, size_t max,
		      size_t *n, struct spp_gva_fault *fault)
{
	struct spp_gva_fault dummy;
	unsigned int top;
	uint64_t pages, at, end;
	size_t k = 0;

	if (!fault)
		fault = &dummy;
	if (!mem || !pg || !pieces || !n || !len || gva + (len - 1) < gva)
		return -EINVAL;
	if (!(pg->cr0 & SPP_X86_CR0_PG) || !(pg->efer & SPP_X86_EFER_LMA))
		return -EOPNOTSUPP;
	top = (pg->cr4 & SPP_X86_CR4_LA57) ? 5 : 4;
	end = gva + (len - 1); /* last byte */
	pages = (end >> SPP_PAGE_SHIFT) - (gva >> SPP_PAGE_SHIFT) + 1;
	if (pages > max)
		return -ENOSPC;
	for (at = gva;; at = (at | (SPP_PAGE_SIZE - 1)) + 1) {
		uint64_t page_end = at | (SPP_PAGE_SIZE - 1);
		uint32_t plen =
			(uint32_t)((page_end < end ? page_end : end) - at + 1);
		struct spp_x86_walk w;
		int ret = spp_x86_walk(mem, pg, at, &w);

		if (ret == -EFAULT)
			classify(&w, top, at, fault);
		if (ret)
			return ret;
		if (!spp_guest_mem_ptr(mem, w.gpa, plen)) {
			*fault = (struct spp_gva_fault){
				.kind = SPP_GVA_OUTSIDE_RAM,
				.gva = at,
				.level = 0,
				.entry_gpa = w.entry_gpa[w.levels - 1],
				.entry = w.entry[w.levels - 1],
			};
			return -EFAULT;
		}
		pieces[k++] = (struct spp_gva_piece){ at, w.gpa, plen };
		if (page_end >= end)
			break;
	}
	*n = k;
	return 0;
}
