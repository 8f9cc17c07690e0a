// SPDX-License-Identifier: MIT
/*
 * ptwalk.c - a guest that runs on page tables it protects (ptwalk.h).
 * Runs at CPL0 on vCPU 0; other vCPUs spin.
 */
#include <spp_guest.h>

#include <spp/x86.h>

#include "ptwalk.h"

#define AD (SPP_X86_PTE_A | SPP_X86_PTE_D)
#define TABLE (SPP_X86_PTE_P | SPP_X86_PTE_RW | SPP_X86_PTE_US)

static inline uint64_t read_cr3(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static inline void write_cr3(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static volatile uint64_t *entry(uint64_t gpa)
{
	return (volatile uint64_t *)gpa;
}

static void clear_ad(void)
{
	unsigned int i;

	*entry(PTW_PML4) &= ~AD;
	*entry(PTW_PDPT) &= ~AD;
	*entry(PTW_PD + PTW_PD_OFF) &= ~AD;
	for (i = 0; i < 4; i++)
		*entry(PTW_PT + PTW_PT_OFF(i)) &= ~AD;
}

int main(int vcpu, int nvcpus)
{
	volatile struct ptw_ctl *ctl = (volatile struct ptw_ctl *)PTW_CTL;
	uint64_t cr3 = read_cr3() & SPP_X86_PTE_ADDR_MASK, pdpt, pd, pt, i;

	(void)nvcpus;
	if (vcpu)
		for (;;)
			spp_guest_pause();
	/* copy the VMM's path for the first GiB and 0x10000000's PT */
	pdpt = *entry(cr3) & SPP_X86_PTE_ADDR_MASK;
	pd = *entry(pdpt) & SPP_X86_PTE_ADDR_MASK;
	pt = *entry(pd + PTW_PD_OFF) & SPP_X86_PTE_ADDR_MASK;
	for (i = 0; i < 512; i++) {
		*entry(PTW_PML4 + 8 * i) = *entry(cr3 + 8 * i);
		*entry(PTW_PDPT + 8 * i) = *entry(pdpt + 8 * i);
		*entry(PTW_PD + 8 * i) = *entry(pd + 8 * i);
		*entry(PTW_PT + 8 * i) = *entry(pt + 8 * i);
	}
	*entry(PTW_PML4) = PTW_PDPT | TABLE;
	*entry(PTW_PDPT) = PTW_PD | TABLE;
	*entry(PTW_PD + PTW_PD_OFF) = PTW_PT | TABLE;
	for (i = 0; i < 4; i++) {
		*entry(PTW_DATA(i) + PTW_SAFE_OFF) = i;
		*entry(PTW_DATA(i)) = 0x100 + i;
	}
	write_cr3(PTW_PML4);
	clear_ad(); /* the switch itself walked */
	if (ctl->protect) {
		ctl->prot_result[0] =
			spp_guest_protect(entry(PTW_PML4), (uint32_t)ctl->map);
		ctl->prot_result[1] =
			spp_guest_protect(entry(PTW_PDPT), (uint32_t)ctl->map);
		ctl->prot_result[2] =
			spp_guest_protect(entry(PTW_PD), (uint32_t)ctl->map);
		ctl->prot_result[3] =
			spp_guest_protect(entry(PTW_PT), (uint32_t)ctl->map);
	}
	clear_ad(); /* denied now when protected: the host checks */
	write_cr3(PTW_PML4); /* every walk from here on starts cold */

	/* data page 0: loaded only; 1: stored; 2: stored at offset 0, the
	 * offset of the PML4 and PDPT entries its walk uses; 3: untouched */
	ctl->load_safe = spp_guest_load64(PTW_DATA(0) + PTW_SAFE_OFF);
	spp_guest_store64(PTW_DATA(1) + PTW_SAFE_OFF, PTW_V_SAFE);
	write_cr3(PTW_PML4);
	spp_guest_store64(PTW_DATA(2), PTW_V_ALIASED);
	write_cr3(PTW_PML4);
	ctl->load_aliased = spp_guest_load64(PTW_DATA(0));
	/* the guest's own store into a PT entry it protected */
	ctl->pte_before = *entry(PTW_PT + PTW_PT_OFF(1));
	spp_guest_store64(PTW_PT + PTW_PT_OFF(1), PTW_V_PTE);
	/* back to the VMM's tables before reporting */
	write_cr3(cr3);
	ctl->done = 1;
	return 0;
}
