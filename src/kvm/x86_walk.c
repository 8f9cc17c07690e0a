// SPDX-License-Identifier: MIT
/*
 * x86_walk.c - software walk of the guest's long-mode page tables
 * (x86_walk.h).
 */
#include <errno.h>
#include <stddef.h>

#include <spp/vector.h>
#include <spp/x86.h>

#include "x86_walk.h"

/* Address bits of an entry (bits 51:12); the rest are flags. */
#define ENTRY_ADDR SPP_X86_PTE_ADDR_MASK

static bool canonical(uint64_t lin, unsigned int bits)
{
	int64_t s = (int64_t)(lin << (64 - bits)) >> (64 - bits);

	return (uint64_t)s == lin;
}

int spp_x86_walk(const struct spp_guest_mem *mem,
		 const struct spp_x86_paging *pg, uint64_t lin,
		 struct spp_x86_walk *w)
{
	unsigned int levels, level;
	uint64_t table;

	if (!mem || !pg || !w)
		return -EINVAL;
	w->levels = 0;
	w->gpa = 0;
	if (!(pg->cr0 & SPP_X86_CR0_PG) || !(pg->efer & SPP_X86_EFER_LMA))
		return -EOPNOTSUPP;
	levels = (pg->cr4 & SPP_X86_CR4_LA57) ? 5 : 4;
	if (!canonical(lin, 12 + 9 * levels))
		return -EINVAL;
	table = pg->cr3 & ENTRY_ADDR;
	for (level = levels; level >= 1; level--) {
		unsigned int shift = SPP_PAGE_SHIFT + 9 * (level - 1);
		uint64_t egpa = table + 8 * ((lin >> shift) & 511);
		const volatile uint64_t *e = spp_guest_mem_ptr(mem, egpa, 8);
		uint64_t v;

		if (!e) {
			w->entry_gpa[w->levels] = egpa;
			return -EFAULT;
		}
		v = __atomic_load_n(e, __ATOMIC_RELAXED);
		w->entry_gpa[w->levels] = egpa;
		w->entry[w->levels] = v;
		w->levels++;
		if (!(v & SPP_X86_PTE_P))
			return -EFAULT;
		if (level == 1 ||
		    ((level == 2 || level == 3) && (v & SPP_X86_PTE_PS))) {
			uint64_t off = lin & ((1ULL << shift) - 1);
			uint64_t base = v & ENTRY_ADDR & ~((1ULL << shift) - 1);

			/* A large leaf keeps its PAT bit (12) in the
			 * address field: the mask above drops it. */
			w->gpa = base | off;
			return 0;
		}
		if (level >= 4 && (v & SPP_X86_PTE_PS))
			return -EFAULT; /* reserved in PML5E/PML4E */
		table = v & ENTRY_ADDR;
	}
	return -EFAULT; /* not reached */
}

unsigned int spp_x86_walk_set_ad(const struct spp_guest_mem *mem,
				 const struct spp_x86_walk *w, bool write)
{
	unsigned int i, changed = 0;

	if (!mem || !w)
		return 0;
	for (i = 0; i < w->levels; i++) {
		uint64_t *e = spp_guest_mem_ptr(mem, w->entry_gpa[i], 8);
		uint64_t want = SPP_X86_PTE_A, cur;

		if (write && i == w->levels - 1)
			want |= SPP_X86_PTE_D;
		if (!e)
			continue;
		cur = __atomic_load_n(e, __ATOMIC_RELAXED);
		while ((cur & want) != want) {
			/* Only while it still maps what the walk used. */
			if ((cur & (ENTRY_ADDR | SPP_X86_PTE_P)) !=
			    (w->entry[i] & (ENTRY_ADDR | SPP_X86_PTE_P)))
				break;
			if (__atomic_compare_exchange_n(e, &cur, cur | want,
							false, __ATOMIC_SEQ_CST,
							__ATOMIC_RELAXED)) {
				changed |= 1u << i;
				break;
			}
		}
	}
	return changed;
}
