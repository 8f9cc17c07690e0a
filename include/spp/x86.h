/* SPDX-License-Identifier: MIT */
/*
 * spp/x86.h - 64-bit CPU setup for spp's guests: identity page tables,
 * GDT, TSS and the initial control-register values.
 *
 * Everything is built into guest memory (through spp_guest_mem_ptr()) at
 * the addresses of spp/layout.h. Nothing here needs KVM: the KVM layer
 * converts struct spp_x86_segment / struct spp_x86_dtable field by field
 * into struct kvm_segment / struct kvm_dtable for KVM_SET_SREGS.
 *
 * GDT (SPP_LAYOUT_GDT), in the order SYSCALL/SYSRET want:
 *   index sel   segment
 *   0     0x00  null
 *   1     0x08  kernel code, 64-bit, DPL0   (STAR[47:32] = 0x08)
 *   2     0x10  kernel data, DPL0           (SYSCALL SS = 0x08 + 8)
 *   3     0x1b  user code, 32-bit, DPL3     (STAR[63:48] = 0x1b)
 *   4     0x23  user data, DPL3             (SYSRET SS = 0x1b + 8)
 *   5     0x2b  user code, 64-bit, DPL3     (SYSRET CS = 0x1b + 16)
 *   6-7   0x30  64-bit TSS of vCPU 0 (16 bytes)
 *   8-9   0x40  64-bit TSS of vCPU 1, ... up to SPP_LAYOUT_MAX_VCPUS
 * Each segment is described once (spp_x86_segment_get()); the GDT bytes
 * (spp_x86_segment_to_desc()) and the register state are both derived
 * from that description. Code and data descriptors have the accessed bit
 * set, and the TSS is marked busy (type 0xB), so the CPU never writes to
 * the GDT and the GDT matches what VM entry requires of TR.
 *
 * TSSes (SPP_LAYOUT_TSS_AT(i), one per vCPU, each with its own GDT
 * descriptor): RSP0 = SPP_LAYOUT_RSP0_STACK_TOP(i), IST1 =
 * SPP_LAYOUT_IST1_STACK_TOP(i), and all point at one I/O permission
 * bitmap (SPP_LAYOUT_IOMAP) that allows exactly SPP_LAYOUT_PORT_CONSOLE
 * and SPP_LAYOUT_PORT_EXIT. With RFLAGS.IOPL = 3 (SPP_X86_RFLAGS_INIT)
 * the bitmap is not consulted; it is the fallback for a guest that lowers
 * IOPL. vCPU i loads TR = SPP_X86_SEL_TSS_AT(i).
 *
 * Page tables (spp_layout_pt_base() .. ram_size): 4 levels, 4 KiB leaves,
 * identity map of [0, ram_size) plus the doorbell page. Every non-leaf
 * entry is P|RW|US|A; leaves are P|RW|A|D plus US unless
 * spp_layout_is_supervisor(); the doorbell leaf adds PCD|PWT. US on every
 * level lets CPL3 guest bodies (which run natively under kvm_pvm, see
 * docs) use all guest memory except spp's own structures. A and D are
 * preset so the CPU never writes page-table entries. No NX bit is used
 * (EFER.NXE is off) and CR4.SMEP/SMAP stay off, so CPL0 stubs may run
 * and touch any page.
 */
#ifndef SPP_X86_H
#define SPP_X86_H

#include <stdint.h>

#include <spp/guest_mem.h>
#include <spp/layout.h>

/* --- control registers ----------------------------------------------- */

#define SPP_X86_CR0_PE_BIT 0 /* protected mode */
#define SPP_X86_CR0_PE (1ULL << SPP_X86_CR0_PE_BIT)
#define SPP_X86_CR0_MP_BIT 1 /* monitor coprocessor (WAIT/FWAIT) */
#define SPP_X86_CR0_MP (1ULL << SPP_X86_CR0_MP_BIT)
#define SPP_X86_CR0_EM_BIT 2 /* x87 emulation: must stay 0 for SSE */
#define SPP_X86_CR0_EM (1ULL << SPP_X86_CR0_EM_BIT)
#define SPP_X86_CR0_ET_BIT 4 /* extension type, hardwired 1 */
#define SPP_X86_CR0_ET (1ULL << SPP_X86_CR0_ET_BIT)
#define SPP_X86_CR0_NE_BIT 5 /* native x87 error reporting */
#define SPP_X86_CR0_NE (1ULL << SPP_X86_CR0_NE_BIT)
#define SPP_X86_CR0_WP_BIT 16 /* CPL0 honours read-only pages */
#define SPP_X86_CR0_WP (1ULL << SPP_X86_CR0_WP_BIT)
#define SPP_X86_CR0_AM_BIT 18 /* alignment mask */
#define SPP_X86_CR0_AM (1ULL << SPP_X86_CR0_AM_BIT)
#define SPP_X86_CR0_PG_BIT 31 /* paging */
#define SPP_X86_CR0_PG (1ULL << SPP_X86_CR0_PG_BIT)
#define SPP_X86_CR0_INIT                                                     \
	(SPP_X86_CR0_PE | SPP_X86_CR0_MP | SPP_X86_CR0_ET | SPP_X86_CR0_NE | \
	 SPP_X86_CR0_WP | SPP_X86_CR0_PG)

#define SPP_X86_CR4_PAE_BIT 5 /* required for long mode */
#define SPP_X86_CR4_PAE (1ULL << SPP_X86_CR4_PAE_BIT)
#define SPP_X86_CR4_LA57_BIT 12 /* 5-level paging (never set by spp) */
#define SPP_X86_CR4_LA57 (1ULL << SPP_X86_CR4_LA57_BIT)
#define SPP_X86_CR4_OSFXSR_BIT 9 /* FXSAVE/FXRSTOR and SSE */
#define SPP_X86_CR4_OSFXSR (1ULL << SPP_X86_CR4_OSFXSR_BIT)
#define SPP_X86_CR4_OSXMMEXCPT_BIT 10 /* SIMD FP exceptions as #XM */
#define SPP_X86_CR4_OSXMMEXCPT (1ULL << SPP_X86_CR4_OSXMMEXCPT_BIT)
#define SPP_X86_CR4_OSXSAVE_BIT \
	18 /* XSAVE, XGETBV, AVX: set by the VMM
					  when KVM offers XSAVE */
#define SPP_X86_CR4_OSXSAVE (1ULL << SPP_X86_CR4_OSXSAVE_BIT)
#define SPP_X86_CR4_SMEP_BIT 20 /* kept 0 */
#define SPP_X86_CR4_SMEP (1ULL << SPP_X86_CR4_SMEP_BIT)
#define SPP_X86_CR4_SMAP_BIT 21 /* kept 0 */
#define SPP_X86_CR4_SMAP (1ULL << SPP_X86_CR4_SMAP_BIT)
#define SPP_X86_CR4_INIT \
	(SPP_X86_CR4_PAE | SPP_X86_CR4_OSFXSR | SPP_X86_CR4_OSXMMEXCPT)

/* XCR0 the VMM enables when the CPU offers them: x87, SSE, AVX. */
#define SPP_X86_XCR0_X87 (1ULL << 0)
#define SPP_X86_XCR0_SSE (1ULL << 1)
#define SPP_X86_XCR0_AVX (1ULL << 2)
#define SPP_X86_XCR0_WANTED \
	(SPP_X86_XCR0_X87 | SPP_X86_XCR0_SSE | SPP_X86_XCR0_AVX)

#define SPP_X86_EFER_SCE_BIT 0 /* SYSCALL/SYSRET */
#define SPP_X86_EFER_SCE (1ULL << SPP_X86_EFER_SCE_BIT)
#define SPP_X86_EFER_LME_BIT 8 /* long mode enable */
#define SPP_X86_EFER_LME (1ULL << SPP_X86_EFER_LME_BIT)
#define SPP_X86_EFER_LMA_BIT 10 /* long mode active */
#define SPP_X86_EFER_LMA (1ULL << SPP_X86_EFER_LMA_BIT)
#define SPP_X86_EFER_NXE_BIT 11 /* kept 0: no NX bits in the tables */
#define SPP_X86_EFER_NXE (1ULL << SPP_X86_EFER_NXE_BIT)
#define SPP_X86_EFER_INIT \
	(SPP_X86_EFER_SCE | SPP_X86_EFER_LME | SPP_X86_EFER_LMA)

#define SPP_X86_RFLAGS_FIXED_BIT 1 /* reserved, always 1 */
#define SPP_X86_RFLAGS_FIXED (1ULL << SPP_X86_RFLAGS_FIXED_BIT)
#define SPP_X86_RFLAGS_IF_BIT 9 /* interrupts: kept 0 */
#define SPP_X86_RFLAGS_IF (1ULL << SPP_X86_RFLAGS_IF_BIT)
#define SPP_X86_RFLAGS_IOPL_SHIFT 12 /* 2-bit field */
#define SPP_X86_RFLAGS_IOPL_MASK (3ULL << SPP_X86_RFLAGS_IOPL_SHIFT)
#define SPP_X86_RFLAGS_IOPL(pl)                          \
	(((uint64_t)(pl) << SPP_X86_RFLAGS_IOPL_SHIFT) & \
	 SPP_X86_RFLAGS_IOPL_MASK)
/* 0x3002: IOPL 3 so CPL3 bodies may use the console and exit ports. */
#define SPP_X86_RFLAGS_INIT (SPP_X86_RFLAGS_FIXED | SPP_X86_RFLAGS_IOPL(3))

/* --- page-table entries ---------------------------------------------- */

#define SPP_X86_PTE_P_BIT 0
#define SPP_X86_PTE_P (1ULL << SPP_X86_PTE_P_BIT)
#define SPP_X86_PTE_RW_BIT 1
#define SPP_X86_PTE_RW (1ULL << SPP_X86_PTE_RW_BIT)
#define SPP_X86_PTE_US_BIT 2
#define SPP_X86_PTE_US (1ULL << SPP_X86_PTE_US_BIT)
#define SPP_X86_PTE_PWT_BIT 3
#define SPP_X86_PTE_PWT (1ULL << SPP_X86_PTE_PWT_BIT)
#define SPP_X86_PTE_PCD_BIT 4
#define SPP_X86_PTE_PCD (1ULL << SPP_X86_PTE_PCD_BIT)
#define SPP_X86_PTE_A_BIT 5
#define SPP_X86_PTE_A (1ULL << SPP_X86_PTE_A_BIT)
#define SPP_X86_PTE_D_BIT 6
#define SPP_X86_PTE_D (1ULL << SPP_X86_PTE_D_BIT)
#define SPP_X86_PTE_PS_BIT 7 /* never set: 4 KiB leaves only */
#define SPP_X86_PTE_PS (1ULL << SPP_X86_PTE_PS_BIT)
#define SPP_X86_PTE_NX_BIT 63 /* never set */
#define SPP_X86_PTE_NX (1ULL << SPP_X86_PTE_NX_BIT)
#define SPP_X86_PTE_ADDR_MASK 0x000FFFFFFFFFF000ULL

/* Entry values spp writes. */
#define SPP_X86_PTE_TABLE \
	(SPP_X86_PTE_P | SPP_X86_PTE_RW | SPP_X86_PTE_US | SPP_X86_PTE_A)
#define SPP_X86_PTE_LEAF_SUPERVISOR \
	(SPP_X86_PTE_P | SPP_X86_PTE_RW | SPP_X86_PTE_A | SPP_X86_PTE_D)
#define SPP_X86_PTE_LEAF_USER (SPP_X86_PTE_LEAF_SUPERVISOR | SPP_X86_PTE_US)
#define SPP_X86_PTE_LEAF_DOORBELL \
	(SPP_X86_PTE_LEAF_USER | SPP_X86_PTE_PCD | SPP_X86_PTE_PWT)

/* --- GDT ------------------------------------------------------------- */

#define SPP_X86_GDT_NULL 0
#define SPP_X86_GDT_KCODE 1
#define SPP_X86_GDT_KDATA 2
#define SPP_X86_GDT_UCODE32 3
#define SPP_X86_GDT_UDATA 4
#define SPP_X86_GDT_UCODE 5
/* vCPU i's TSS: a 16-byte system descriptor in entries 6 + 2i, 7 + 2i. */
#define SPP_X86_GDT_TSS_AT(i) (6 + 2 * (i))
#define SPP_X86_GDT_TSS SPP_X86_GDT_TSS_AT(0)
#define SPP_X86_GDT_ENTRIES SPP_X86_GDT_TSS_AT(SPP_LAYOUT_MAX_VCPUS)

/* Selectors, RPL included. */
#define SPP_X86_SEL_KCODE 0x08
#define SPP_X86_SEL_KDATA 0x10
#define SPP_X86_SEL_UCODE32 0x1b
#define SPP_X86_SEL_UDATA 0x23
#define SPP_X86_SEL_UCODE 0x2b
#define SPP_X86_SEL_TSS_AT(i) (SPP_X86_GDT_TSS_AT(i) << 3)
#define SPP_X86_SEL_TSS SPP_X86_SEL_TSS_AT(0) /* 0x30 */

/* IA32_STAR value for SYSCALL/SYSRET with this GDT (EIP part 0). */
#define SPP_X86_MSR_STAR 0xC0000081u
#define SPP_X86_STAR_INIT                        \
	(((uint64_t)SPP_X86_SEL_UCODE32 << 48) | \
	 ((uint64_t)SPP_X86_SEL_KCODE << 32))

/* Segment types (the 4-bit type field). */
#define SPP_X86_SEG_TYPE_DATA_RWA 0x3 /* read/write, accessed */
#define SPP_X86_SEG_TYPE_CODE_XRA 0xB /* execute/read, accessed */
#define SPP_X86_SEG_TYPE_TSS64_AVAIL 0x9 /* system, s = 0 */
#define SPP_X86_SEG_TYPE_TSS64_BUSY 0xB /* system, s = 0 */

/*
 * struct spp_x86_segment - one segment, shaped like KVM's struct
 * kvm_segment: @limit is in bytes even when @g is set (it must then end
 * in 0xFFF). For a system segment (@s 0, the TSS) @base may use 64 bits.
 */
struct spp_x86_segment {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint8_t type; /* 0..15 */
	uint8_t present, dpl, db, s, l, g, avl;
	uint8_t unusable;
};

/* struct spp_x86_dtable - a GDTR/IDTR value, shaped like kvm_dtable. */
struct spp_x86_dtable {
	uint64_t base;
	uint16_t limit;
};

/* Size of the 64-bit TSS proper and byte offsets in it. */
#define SPP_X86_TSS_SIZE 104
#define SPP_X86_TSS_RSP0 4
#define SPP_X86_TSS_IST1 36
#define SPP_X86_TSS_IOMAP_BASE 102 /* u16: bitmap offset from the TSS */
#define SPP_X86_IOMAP_SIZE (8192 + 1) /* 65536 bits + a 0xFF byte */
/* vCPU i's TSS limit: up to and including the bitmap's 0xFF byte. */
#define SPP_X86_TSS_LIMIT(i) \
	(SPP_LAYOUT_IOMAP + SPP_X86_IOMAP_SIZE - 1 - SPP_LAYOUT_TSS_AT(i))

/*
 * spp_x86_segment_get() - the description of GDT entry @index
 * (SPP_X86_GDT_KCODE .. SPP_X86_GDT_UCODE, or SPP_X86_GDT_TSS_AT(vcpu)).
 * Returns 0 and fills *@out; -EINVAL for NULL, the null descriptor, the
 * upper half of a TSS descriptor or an index beyond the GDT.
 */
int spp_x86_segment_get(unsigned int index, struct spp_x86_segment *out);

/*
 * spp_x86_segment_to_desc() - encode @seg as a GDT descriptor into
 * @desc[0] (and @desc[1] for a system segment, @seg->s == 0).
 * Returns the number of 8-byte words written (1 or 2), or -EINVAL if
 * NULL, @seg->type > 15, @seg->dpl > 3, a flag is not 0/1, the limit is
 * not encodable (> 0xFFFFF with @g 0, low 12 bits not 0xFFF with @g 1),
 * a code/data base beyond 32 bits, or @l and @db both set.
 */
int spp_x86_segment_to_desc(const struct spp_x86_segment *seg,
			    uint64_t desc[2]);

/*
 * spp_x86_gdt_build() - write the GDT to SPP_LAYOUT_GDT and store its
 * GDTR value in *@gdtr. Returns 0, -EINVAL (NULL) or -EFAULT (the GDT
 * page is not backed by @m; nothing written).
 */
int spp_x86_gdt_build(const struct spp_guest_mem *m,
		      struct spp_x86_dtable *gdtr);

/*
 * spp_x86_tss_build() - write every vCPU's TSS and the shared I/O bitmap
 * into the TSS area (see the header comment). Returns 0, -EINVAL (NULL)
 * or -EFAULT (not backed; nothing written).
 */
int spp_x86_tss_build(const struct spp_guest_mem *m);

/*
 * spp_x86_pt_build() - write the identity page tables for a guest of
 * @ram_size (spp_layout_ram_valid()) into its page-table area, and store
 * the CR3 value (spp_layout_pt_base(ram_size)) in *@cr3.
 * Returns 0, -EINVAL (NULL, invalid size) or -EFAULT (the area is not
 * backed by one region of @m; nothing written).
 */
int spp_x86_pt_build(const struct spp_guest_mem *m, uint64_t ram_size,
		     uint64_t *cr3);

struct kvm_segment;

/*
 * spp_x86_segment_to_kvm() - @s as KVM's segment register (struct
 * kvm_segment of <linux/kvm.h>), for KVM_SET_SREGS. Both must be valid.
 */
void spp_x86_segment_to_kvm(const struct spp_x86_segment *s,
			    struct kvm_segment *k);

/*
 * spp_x86_cpuid_setup() - give the vCPU @vcpu_fd the CPUID KVM supports
 * (KVM_GET_SUPPORTED_CPUID on the /dev/kvm fd @kvm_fd, then
 * KVM_SET_CPUID2) and store in *@xcr0 the XCR0 a guest may enable with
 * it: x87|SSE|AVX as far as offered (SPP_X86_XCR0_WANTED), 0 without
 * XSAVE. Returns 0, -ENOMEM or KVM's -errno (*@xcr0 then 0).
 */
int spp_x86_cpuid_setup(int kvm_fd, int vcpu_fd, uint64_t *xcr0);

#endif /* SPP_X86_H */
