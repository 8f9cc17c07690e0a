// SPDX-License-Identifier: MIT
/*
 * x86.c - identity page tables, GDT and TSS in guest memory.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include <spp/layout.h>
#include <spp/x86.h>

#include "kvm/kvm_ioctl.h"

/* The layout's promises, checked once at compile time. */
_Static_assert(SPP_LAYOUT_RAM_DEFAULT >= SPP_LAYOUT_RAM_MIN &&
		       SPP_LAYOUT_RAM_DEFAULT <= SPP_LAYOUT_RAM_MAX,
	       "default RAM out of range");
_Static_assert(SPP_LAYOUT_SELFTEST_PAGE + 0x1000 <= SPP_LAYOUT_RAM_DEFAULT,
	       "the selftest page must exist in a default guest");
_Static_assert(SPP_LAYOUT_RAM_MAX <= SPP_LAYOUT_DOORBELL,
	       "the doorbell must lie above all RAM");
_Static_assert(SPP_LAYOUT_DOORBELL + SPP_LAYOUT_DOORBELL_SIZE <= (1ULL << 36),
	       "the doorbell must lie below the smallest MAXPHYADDR");
_Static_assert((SPP_LAYOUT_RAM_MAX >> 30) <= 512 &&
		       (SPP_LAYOUT_DOORBELL >> 39) == 0 &&
		       (SPP_LAYOUT_DOORBELL >> 30) >=
			       (SPP_LAYOUT_RAM_MAX >> 30),
	       "one PDPT for RAM and doorbell, doorbell in its own PD");
_Static_assert(SPP_LAYOUT_TSS_AT(SPP_LAYOUT_MAX_VCPUS) <= SPP_LAYOUT_IOMAP &&
		       SPP_LAYOUT_TSS_STRIDE >= SPP_X86_TSS_SIZE &&
		       SPP_LAYOUT_IOMAP + SPP_X86_IOMAP_SIZE <=
			       SPP_LAYOUT_TSS + SPP_LAYOUT_TSS_SIZE &&
		       SPP_X86_TSS_LIMIT(0) <= 0xFFFFF,
	       "TSS area: TSSes, then the I/O bitmap");
_Static_assert(SPP_X86_GDT_ENTRIES * 8 <= SPP_LAYOUT_GDT_SIZE, "GDT size");
_Static_assert(sizeof(struct spp_exc_report) <= SPP_LAYOUT_EXC_REPORT_STRIDE &&
		       SPP_LAYOUT_EXC_REPORT_AT(SPP_LAYOUT_MAX_VCPUS) <=
			       SPP_LAYOUT_EXC_REPORT +
				       SPP_LAYOUT_EXC_REPORT_SIZE,
	       "exception reports");
_Static_assert(SPP_LAYOUT_STACK_TOP <= SPP_LAYOUT_SHARED &&
		       SPP_LAYOUT_SHARED + SPP_LAYOUT_SHARED_SIZE <=
			       SPP_LAYOUT_LOW_END &&
		       SPP_LAYOUT_LOW_END <= SPP_LAYOUT_LOAD_BASE,
	       "low area order");
_Static_assert(SPP_LAYOUT_EXC_STUBS + SPP_LAYOUT_EXC_STUBS_SIZE <=
			       SPP_LAYOUT_RSP0_STACKS &&
		       SPP_LAYOUT_RSP0_STACK_TOP(SPP_LAYOUT_MAX_VCPUS - 1) <=
			       SPP_LAYOUT_IST1_STACKS &&
		       SPP_LAYOUT_IST1_STACK_TOP(SPP_LAYOUT_MAX_VCPUS - 1) <=
			       SPP_LAYOUT_SYS_END,
	       "system area order");

#define FLAT_LIMIT 0xFFFFFFFFu

/* Each segment, described once. */
/* Code and data segments, each described once; TSSes in tss_segment(). */
static const struct spp_x86_segment segments[SPP_X86_GDT_TSS] = {
	[SPP_X86_GDT_KCODE] = {
		.limit = FLAT_LIMIT, .selector = SPP_X86_SEL_KCODE,
		.type = SPP_X86_SEG_TYPE_CODE_XRA, .present = 1, .dpl = 0,
		.s = 1, .l = 1, .g = 1,
	},
	[SPP_X86_GDT_KDATA] = {
		.limit = FLAT_LIMIT, .selector = SPP_X86_SEL_KDATA,
		.type = SPP_X86_SEG_TYPE_DATA_RWA, .present = 1, .dpl = 0,
		.db = 1, .s = 1, .g = 1,
	},
	[SPP_X86_GDT_UCODE32] = {
		.limit = FLAT_LIMIT, .selector = SPP_X86_SEL_UCODE32,
		.type = SPP_X86_SEG_TYPE_CODE_XRA, .present = 1, .dpl = 3,
		.db = 1, .s = 1, .g = 1,
	},
	[SPP_X86_GDT_UDATA] = {
		.limit = FLAT_LIMIT, .selector = SPP_X86_SEL_UDATA,
		.type = SPP_X86_SEG_TYPE_DATA_RWA, .present = 1, .dpl = 3,
		.db = 1, .s = 1, .g = 1,
	},
	[SPP_X86_GDT_UCODE] = {
		.limit = FLAT_LIMIT, .selector = SPP_X86_SEL_UCODE,
		.type = SPP_X86_SEG_TYPE_CODE_XRA, .present = 1, .dpl = 3,
		.s = 1, .l = 1, .g = 1,
	},
};

/* vCPU @i's TSS: busy, as VM entry requires of TR (never loaded by LTR). */
static struct spp_x86_segment tss_segment(unsigned int i)
{
	return (struct spp_x86_segment){
		.base = SPP_LAYOUT_TSS_AT(i),
		.limit = (uint32_t)SPP_X86_TSS_LIMIT(i),
		.selector = SPP_X86_SEL_TSS_AT(i),
		.type = SPP_X86_SEG_TYPE_TSS64_BUSY,
		.present = 1,
	};
}

int spp_x86_segment_get(unsigned int index, struct spp_x86_segment *out)
{
	if (!out || index == SPP_X86_GDT_NULL || index >= SPP_X86_GDT_ENTRIES)
		return -EINVAL;
	if (index < SPP_X86_GDT_TSS) {
		*out = segments[index];
		return 0;
	}
	if ((index - SPP_X86_GDT_TSS) % 2)
		return -EINVAL; /* upper half of a TSS descriptor */
	*out = tss_segment((index - SPP_X86_GDT_TSS) / 2);
	return 0;
}

int spp_x86_segment_to_desc(const struct spp_x86_segment *seg, uint64_t desc[2])
{
	uint32_t limit;
	uint64_t d;

	if (!seg || !desc || seg->type > 15 || seg->dpl > 3 ||
	    seg->present > 1 || seg->db > 1 || seg->s > 1 || seg->l > 1 ||
	    seg->g > 1 || seg->avl > 1 || (seg->l && seg->db))
		return -EINVAL;
	if (seg->g) {
		if ((seg->limit & 0xFFF) != 0xFFF)
			return -EINVAL;
		limit = seg->limit >> 12;
	} else {
		if (seg->limit > 0xFFFFF)
			return -EINVAL;
		limit = seg->limit;
	}
	if (seg->s && seg->base > 0xFFFFFFFFu)
		return -EINVAL;

	d = (uint64_t)(limit & 0xFFFF);
	d |= (seg->base & 0xFFFFFFULL) << 16;
	d |= (uint64_t)seg->type << 40;
	d |= (uint64_t)seg->s << 44;
	d |= (uint64_t)seg->dpl << 45;
	d |= (uint64_t)seg->present << 47;
	d |= (uint64_t)((limit >> 16) & 0xF) << 48;
	d |= (uint64_t)seg->avl << 52;
	d |= (uint64_t)seg->l << 53;
	d |= (uint64_t)seg->db << 54;
	d |= (uint64_t)seg->g << 55;
	d |= ((seg->base >> 24) & 0xFF) << 56;
	desc[0] = d;
	if (seg->s)
		return 1;
	desc[1] = seg->base >> 32; /* upper dword reserved, 0 */
	return 2;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	unsigned int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

int spp_x86_gdt_build(const struct spp_guest_mem *m,
		      struct spp_x86_dtable *gdtr)
{
	unsigned char gdt[SPP_X86_GDT_ENTRIES * 8];
	unsigned char *p;
	unsigned int i;

	if (!m || !gdtr)
		return -EINVAL;
	p = spp_guest_mem_ptr(m, SPP_LAYOUT_GDT, SPP_LAYOUT_GDT_SIZE);
	if (!p)
		return -EFAULT;
	memset(gdt, 0, sizeof(gdt));
	for (i = 1; i < SPP_X86_GDT_ENTRIES; i++) {
		struct spp_x86_segment seg;
		uint64_t desc[2];
		int n;

		if (spp_x86_segment_get(i, &seg))
			continue; /* upper half of a TSS descriptor */
		n = spp_x86_segment_to_desc(&seg, desc);
		if (n < 0)
			return n; /* a bug in the descriptions above */
		put_le64(gdt + 8 * i, desc[0]);
		if (n == 2)
			put_le64(gdt + 8 * (i + 1), desc[1]);
	}
	memset(p, 0, SPP_LAYOUT_GDT_SIZE);
	memcpy(p, gdt, sizeof(gdt));
	*gdtr = (struct spp_x86_dtable){
		.base = SPP_LAYOUT_GDT,
		.limit = sizeof(gdt) - 1,
	};
	return 0;
}

int spp_x86_tss_build(const struct spp_guest_mem *m)
{
	unsigned char *area, *iomap;
	unsigned int i;

	if (!m)
		return -EINVAL;
	area = spp_guest_mem_ptr(m, SPP_LAYOUT_TSS, SPP_LAYOUT_TSS_SIZE);
	if (!area)
		return -EFAULT;
	memset(area, 0, SPP_LAYOUT_TSS_SIZE);
	for (i = 0; i < SPP_LAYOUT_MAX_VCPUS; i++) {
		unsigned char *p =
			area + (SPP_LAYOUT_TSS_AT(i) - SPP_LAYOUT_TSS);
		uint64_t off = SPP_LAYOUT_IOMAP - SPP_LAYOUT_TSS_AT(i);

		put_le64(p + SPP_X86_TSS_RSP0, SPP_LAYOUT_RSP0_STACK_TOP(i));
		put_le64(p + SPP_X86_TSS_IST1, SPP_LAYOUT_IST1_STACK_TOP(i));
		p[SPP_X86_TSS_IOMAP_BASE] = (unsigned char)off;
		p[SPP_X86_TSS_IOMAP_BASE + 1] = (unsigned char)(off >> 8);
	}
	/* Bit set = port denied; the byte after the bitmap must be 0xFF. */
	iomap = area + (SPP_LAYOUT_IOMAP - SPP_LAYOUT_TSS);
	memset(iomap, 0xFF, SPP_X86_IOMAP_SIZE);
	iomap[SPP_LAYOUT_PORT_CONSOLE / 8] &=
		(unsigned char)~(1u << (SPP_LAYOUT_PORT_CONSOLE % 8));
	iomap[SPP_LAYOUT_PORT_EXIT / 8] &=
		(unsigned char)~(1u << (SPP_LAYOUT_PORT_EXIT % 8));
	return 0;
}

#define PT_ENTRIES 512

static void set_entry(unsigned char *area, uint64_t base, uint64_t table,
		      unsigned int index, uint64_t value)
{
	put_le64(area + (table - base) + 8 * index, value);
}

int spp_x86_pt_build(const struct spp_guest_mem *m, uint64_t ram_size,
		     uint64_t *cr3)
{
	uint64_t base, npages, pml4, pdpt, pds, pts, db_pd, db_pt, gpa;
	uint64_t npd, npt, i;
	unsigned char *area;

	if (!m || !cr3 || !spp_layout_ram_valid(ram_size))
		return -EINVAL;
	npages = spp_layout_pt_pages(ram_size);
	base = spp_layout_pt_base(ram_size);
	area = spp_guest_mem_ptr(m, base, npages * SPP_PAGE_SIZE);
	if (!area)
		return -EFAULT;

	npd = (ram_size + (1ULL << 30) - 1) >> 30;
	npt = ram_size >> 21;
	pml4 = base;
	pdpt = pml4 + SPP_PAGE_SIZE;
	pds = pdpt + SPP_PAGE_SIZE;
	pts = pds + npd * SPP_PAGE_SIZE;
	db_pd = pts + npt * SPP_PAGE_SIZE;
	db_pt = db_pd + SPP_PAGE_SIZE;

	memset(area, 0, npages * SPP_PAGE_SIZE);
	set_entry(area, base, pml4, 0, pdpt | SPP_X86_PTE_TABLE);
	for (i = 0; i < npd; i++)
		set_entry(area, base, pdpt, (unsigned int)i,
			  (pds + i * SPP_PAGE_SIZE) | SPP_X86_PTE_TABLE);
	/* PDs are contiguous, so PDE k of the RAM is entry k of one array. */
	for (i = 0; i < npt; i++)
		set_entry(area, base, pds, (unsigned int)i,
			  (pts + i * SPP_PAGE_SIZE) | SPP_X86_PTE_TABLE);
	/* Likewise the PTs: PTE k maps page k. */
	for (gpa = 0; gpa < ram_size; gpa += SPP_PAGE_SIZE) {
		uint64_t flags = spp_layout_is_supervisor(gpa, ram_size) ?
					 SPP_X86_PTE_LEAF_SUPERVISOR :
					 SPP_X86_PTE_LEAF_USER;

		put_le64(area + (pts - base) + 8 * (gpa >> 12), gpa | flags);
	}

	/* The doorbell: PDPT -> its own PD -> its own PT -> one leaf. */
	set_entry(area, base, pdpt,
		  (unsigned int)((SPP_LAYOUT_DOORBELL >> 30) &
				 (PT_ENTRIES - 1)),
		  db_pd | SPP_X86_PTE_TABLE);
	set_entry(area, base, db_pd,
		  (unsigned int)((SPP_LAYOUT_DOORBELL >> 21) &
				 (PT_ENTRIES - 1)),
		  db_pt | SPP_X86_PTE_TABLE);
	set_entry(area, base, db_pt,
		  (unsigned int)((SPP_LAYOUT_DOORBELL >> 12) &
				 (PT_ENTRIES - 1)),
		  SPP_LAYOUT_DOORBELL | SPP_X86_PTE_LEAF_DOORBELL);

	*cr3 = pml4;
	return 0;
}

void spp_x86_segment_to_kvm(const struct spp_x86_segment *s,
			    struct kvm_segment *k)
{
	memset(k, 0, sizeof(*k));
	k->base = s->base;
	k->limit = s->limit;
	k->selector = s->selector;
	k->type = s->type;
	k->present = s->present;
	k->dpl = s->dpl;
	k->db = s->db;
	k->s = s->s;
	k->l = s->l;
	k->g = s->g;
	k->avl = s->avl;
	k->unusable = s->unusable;
}

int spp_x86_cpuid_setup(int kvm_fd, int vcpu_fd, uint64_t *xcr0)
{
	const uint32_t n = 128;
	struct kvm_cpuid2 *cpuid;
	bool xsave = false;
	uint64_t x = 0;
	uint32_t i;
	int ret;

	*xcr0 = 0;
	cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return -ENOMEM;
	cpuid->nent = n;
	ret = spp_kvm_ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid);
	if (!ret)
		ret = spp_kvm_ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid);
	for (i = 0; !ret && i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == 1)
			xsave = e->ecx & (1u << 26);
		if (e->function == 0xd && e->index == 0)
			x = e->eax;
	}
	free(cpuid);
	x &= SPP_X86_XCR0_WANTED;
	if (!ret && xsave && (x & 3) == 3)
		*xcr0 = x;
	return ret < 0 ? ret : 0;
}
