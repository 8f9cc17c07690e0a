/* SPDX-License-Identifier: MIT */
/*
 * spp/layout.h - the guest-physical map of spp's built-in VMM.
 *
 * Every guest-physical address the VMM layer uses is defined here and
 * nowhere else. Guests are identity mapped (GVA == GPA) with 4 KiB pages,
 * so these are guest-virtual addresses as well.
 *
 *   GPA
 *   0x0_0000_0000 +---------------------------------------+ -.
 *                 | null page (never used)                |  |
 *   0x0_0000_1000 | GDT                                   |  |
 *   0x0_0000_2000 | IDT (256 gates)                       |  | spp-owned
 *   0x0_0000_3000 | TSS per vCPU (128 B apart)            |  | system area
 *   0x0_0000_3400 | I/O bitmap, shared (8 KiB + 1)        |  | supervisor
 *   0x0_0000_6000 | exception report per vCPU (256 B)     |  | only (U=0)
 *   0x0_0000_7000 | exception stubs (2 pages)             |  |
 *   0x0_0001_0000 | RSP0 stack per vCPU (16 KiB each)     |  |
 *   0x0_0003_0000 | IST1 stack per vCPU (16 KiB each)     |  |
 *   0x0_0005_0000 | (free, reserved for the VMM)          |  |
 *   0x0_0010_0000 +---------------------------------------+  |
 *                 | guest stacks (1 MiB, grows down,      |  | spp-owned
 *                 |  user accessible; top 0x200000)       |  | low area
 *   0x0_0020_0000 +---------------------------------------+  | (ELF segments
 *                 | shared area (2 MiB, user accessible): |  |  refused)
 *                 |  host<->guest mailboxes, arguments    |  |
 *   0x0_0040_0000 +---------------------------------------+ -'
 *                 | guest program load area: PT_LOAD      |
 *                 | segments (gcc -no-pie links here),    |
 *                 | then free RAM for the guest           |
 *   0x0_1000_0000 |   SPP selftest page (4 KiB)           |
 *                 |   ...                                 |
 *   pt_base       +---------------------------------------+ -.
 *                 | page tables: PML4, PDPT, PDs, PTs for |  | spp-owned,
 *                 | all of RAM, PD+PT for the doorbell    |  | supervisor
 *   ram_size      +---------------------------------------+ -' only
 *                 | (nothing: no memslot)                 |
 *   0xF_FFFF_F000 | MMIO doorbell page (no memslot)       |
 *   0x10_0000_0000 (64 GiB = 2^36)
 *
 * Choices:
 *
 * - RAM is one block [0, ram_size), ram_size a multiple of 2 MiB in
 *   [SPP_LAYOUT_RAM_MIN, SPP_LAYOUT_RAM_MAX]. The default is 512 MiB,
 *   not 256 MiB: the SPP selftest page sits at 0x10000000 = 256 MiB,
 *   which a 256 MiB guest would not have. spp_layout_ram_valid() checks a
 *   size; spp_layout_has_selftest_page() says whether the page fits.
 *
 * - Page tables map every RAM byte with 4 KiB pages (SPP works on 4 KiB
 *   pages only). For 32 GiB that is 64 MiB of PTs, far too much for the
 *   low area, so the tables sit at the TOP of RAM, sized for the actual
 *   ram_size: spp_layout_pt_base() .. ram_size, about 0.2 % of RAM
 *   (1 MiB + 20 KiB for 512 MiB). Order inside: PML4, PDPT, the RAM PDs,
 *   the RAM PTs, the doorbell's PD, the doorbell's PT.
 *
 * - The doorbell is the last 4 KiB page below 2^36 (64 GiB): far above
 *   any RAM (max 32 GiB), below the smallest MAXPHYADDR any x86-64 CPU
 *   reports (36), and away from the fixed x86 devices below 4 GiB (IOAPIC
 *   0xFEC00000, LAPIC 0xFEE00000, KVM's private TSS/identity pages at
 *   0xFFFBC000). A guest access to it has no memslot, so it exits as
 *   KVM_EXIT_MMIO at any CPL. It is mapped user-accessible, uncached.
 *
 * - RAM above SPP_LAYOUT_RAM_IRQCHIP_MAX (3 GiB) overlaps those fixed
 *   pages below 4 GiB. A VMM that creates an in-kernel irqchip (LAPIC
 *   access page) or runs on VT-x without unrestricted guest (KVM's TSS
 *   and identity-map memslots) must keep ram_size at or below it.
 *
 * - User (U/S) bit: set at every paging level and on every leaf except
 *   the spp-owned supervisor-only pages (the system area and the page
 *   tables), so CPL3 guest bodies run anywhere else but cannot touch the
 *   GDT, IDT, TSS, exception report or their own page tables. The page
 *   below the guest stacks (0xFF000) is supervisor-only, so a CPL3 stack
 *   overflow faults instead of running into the system area.
 *
 * - Per-vCPU system state: each of up to SPP_LAYOUT_MAX_VCPUS vCPUs has
 *   its own TSS (own GDT descriptor, so TR can differ), RSP0 and IST1
 *   stacks and exception report; vCPUs never share a stack. The I/O
 *   bitmap is only read by the CPU, so all TSSes point at one copy. The
 *   guest stack area is split among vCPUs by the guest ABI.
 */
#ifndef SPP_LAYOUT_H
#define SPP_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include <spp/vector.h> /* SPP_PAGE_SIZE */

/* --- guest RAM ------------------------------------------------------- */

#define SPP_LAYOUT_RAM_BASE 0x0ULL /* RAM always starts at GPA 0 */
#define SPP_LAYOUT_RAM_ALIGN 0x200000ULL /* 2 MiB: whole PT pages */
#define SPP_LAYOUT_RAM_MIN 0x1000000ULL /* 16 MiB */
#define SPP_LAYOUT_RAM_DEFAULT 0x20000000ULL /* 512 MiB */
#define SPP_LAYOUT_RAM_MAX 0x800000000ULL /* 32 GiB */
/* Largest RAM that stays clear of the fixed pages below 4 GiB. */
#define SPP_LAYOUT_RAM_IRQCHIP_MAX 0xC0000000ULL /* 3 GiB */

/* --- spp-owned system area: supervisor only --------------------------- */

#define SPP_LAYOUT_SYS_BASE 0x0ULL
#define SPP_LAYOUT_SYS_END 0x100000ULL /* 1 MiB, exclusive */

#define SPP_LAYOUT_NULL_PAGE 0x0ULL /* never used by spp */
#define SPP_LAYOUT_GDT 0x1000ULL /* one page */
#define SPP_LAYOUT_GDT_SIZE 0x1000ULL
#define SPP_LAYOUT_IDT 0x2000ULL /* 256 16-byte gates = one page */
#define SPP_LAYOUT_IDT_SIZE 0x1000ULL
/* vCPUs the system area has room for (TSS, stacks, reports). */
#define SPP_LAYOUT_MAX_VCPUS 8

#define SPP_LAYOUT_TSS 0x3000ULL /* TSS area: TSSes, then the I/O bitmap */
#define SPP_LAYOUT_TSS_SIZE 0x3000ULL
#define SPP_LAYOUT_TSS_STRIDE 0x80ULL /* vCPU i's 104-byte TSS: */
#define SPP_LAYOUT_TSS_AT(i) \
	(SPP_LAYOUT_TSS + (uint64_t)(i)*SPP_LAYOUT_TSS_STRIDE)
#define SPP_LAYOUT_IOMAP 0x3400ULL /* 8 KiB bitmap + a 0xFF byte */
#define SPP_LAYOUT_EXC_REPORT 0x6000ULL /* struct spp_exc_report per vCPU */
#define SPP_LAYOUT_EXC_REPORT_SIZE 0x1000ULL
#define SPP_LAYOUT_EXC_REPORT_STRIDE 0x100ULL
#define SPP_LAYOUT_EXC_REPORT_AT(i) \
	(SPP_LAYOUT_EXC_REPORT + (uint64_t)(i)*SPP_LAYOUT_EXC_REPORT_STRIDE)
#define SPP_LAYOUT_EXC_STUBS 0x7000ULL /* exception entry code */
#define SPP_LAYOUT_EXC_STUBS_SIZE 0x2000ULL
/* RSP0: the stack of a CPL3 -> CPL0 transition; IST1: #DF, #MC, NMI. */
#define SPP_LAYOUT_KSTACK_SIZE 0x4000ULL /* each, per vCPU */
#define SPP_LAYOUT_RSP0_STACKS 0x10000ULL
#define SPP_LAYOUT_RSP0_STACK_TOP(i) \
	(SPP_LAYOUT_RSP0_STACKS + ((uint64_t)(i) + 1) * SPP_LAYOUT_KSTACK_SIZE)
#define SPP_LAYOUT_IST1_STACKS 0x30000ULL
#define SPP_LAYOUT_IST1_STACK_TOP(i) \
	(SPP_LAYOUT_IST1_STACKS + ((uint64_t)(i) + 1) * SPP_LAYOUT_KSTACK_SIZE)

/* --- guest stack and shared area: user accessible --------------------- */

#define SPP_LAYOUT_STACK 0x100000ULL /* all vCPUs' guest stacks */
#define SPP_LAYOUT_STACK_SIZE 0x100000ULL /* 1 MiB */
#define SPP_LAYOUT_STACK_TOP (SPP_LAYOUT_STACK + SPP_LAYOUT_STACK_SIZE)
#define SPP_LAYOUT_SHARED 0x200000ULL /* mailboxes, guest arguments */
#define SPP_LAYOUT_SHARED_SIZE 0x200000ULL

/* The whole low area [0, LOW_END) belongs to spp: no ELF segment there. */
#define SPP_LAYOUT_LOW_END 0x400000ULL

/* --- guest program --------------------------------------------------- */

#define SPP_LAYOUT_LOAD_BASE 0x400000ULL /* 4 MiB: gcc -no-pie default */

/* The page the KVM SPP selftest protects (spp demo, guest selftests). */
#define SPP_LAYOUT_SELFTEST_PAGE 0x10000000ULL

/* --- MMIO doorbell: no memslot ---------------------------------------- */

#define SPP_LAYOUT_DOORBELL 0xFFFFFF000ULL /* 2^36 - 4 KiB */
#define SPP_LAYOUT_DOORBELL_SIZE 0x1000ULL

/* --- I/O ports ------------------------------------------------------- */

/* Debug console: every byte written (outb) is guest output. */
#define SPP_LAYOUT_PORT_CONSOLE 0xE9
/*
 * Exit port, QEMU isa-debug-exit semantics: writing value v ends the
 * guest with status (v << 1) | 1, so a status is always odd and 0 or 2
 * can never be confused with a guest's exit.
 */
#define SPP_LAYOUT_PORT_EXIT 0xF4
#define SPP_LAYOUT_EXIT_STATUS(v) ((((uint32_t)(v)) << 1) | 1u)

/* --- exception report ------------------------------------------------- */

/*
 * struct spp_exc_report - what spp's exception stubs store at
 * SPP_LAYOUT_EXC_REPORT_AT(vCPU index) before exiting to the host. The stubs write every
 * field and @magic last; the host trusts the report only if @magic ==
 * SPP_EXC_REPORT_MAGIC and clears @magic when it has read it.
 */
struct spp_exc_report {
	uint64_t magic;
	uint64_t vector; /* 0..255 */
	uint64_t error_code; /* 0 for vectors that push none */
	uint64_t rip; /* from the interrupt frame */
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
	uint64_t cr2; /* meaningful for #PF (vector 14) */
	uint64_t count; /* exceptions taken since the host cleared it */
};

#define SPP_EXC_REPORT_MAGIC 0x5450524F50584345ULL /* "ECXPORPT" */

/* --- page-table area at the top of RAM -------------------------------- */

/*
 * spp_layout_ram_valid() - whether @ram_size is an acceptable RAM size:
 * a multiple of SPP_LAYOUT_RAM_ALIGN in [SPP_LAYOUT_RAM_MIN,
 * SPP_LAYOUT_RAM_MAX].
 */
static inline bool spp_layout_ram_valid(uint64_t ram_size)
{
	return ram_size >= SPP_LAYOUT_RAM_MIN &&
	       ram_size <= SPP_LAYOUT_RAM_MAX &&
	       !(ram_size & (SPP_LAYOUT_RAM_ALIGN - 1));
}

/*
 * spp_layout_pt_pages() - pages of the page-table area for a valid
 * @ram_size: PML4 + PDPT + one PD per GiB + one PT per 2 MiB + the
 * doorbell's PD and PT. 0 for an invalid size.
 */
static inline uint64_t spp_layout_pt_pages(uint64_t ram_size)
{
	if (!spp_layout_ram_valid(ram_size))
		return 0;
	return 2 + ((ram_size + (1ULL << 30) - 1) >> 30) + (ram_size >> 21) + 2;
}

/*
 * spp_layout_pt_base() - first byte of the page-table area at the top of
 * a valid @ram_size (the PML4, i.e. CR3); 0 for an invalid size. Guest
 * programs may use RAM only below it.
 */
static inline uint64_t spp_layout_pt_base(uint64_t ram_size)
{
	if (!spp_layout_ram_valid(ram_size))
		return 0;
	return ram_size - spp_layout_pt_pages(ram_size) * SPP_PAGE_SIZE;
}

/*
 * spp_layout_has_selftest_page() - whether a guest of @ram_size has the
 * SPP selftest page in usable RAM (below the page tables).
 */
static inline bool spp_layout_has_selftest_page(uint64_t ram_size)
{
	return spp_layout_ram_valid(ram_size) &&
	       SPP_LAYOUT_SELFTEST_PAGE + SPP_PAGE_SIZE <=
		       spp_layout_pt_base(ram_size);
}

/*
 * spp_layout_is_supervisor() - whether the page holding @gpa is
 * spp-owned and mapped supervisor-only for a guest of valid @ram_size:
 * the system area [0, 1 MiB) and the page-table area.
 */
static inline bool spp_layout_is_supervisor(uint64_t gpa, uint64_t ram_size)
{
	return gpa < SPP_LAYOUT_SYS_END ||
	       (gpa >= spp_layout_pt_base(ram_size) && gpa < ram_size);
}

/*
 * Why a guest-physical range may not be protected in spp's VMM. The
 * system area and the page tables are spp's: the CPU itself writes some
 * of them (the TSS's busy bit, the page tables' accessed and dirty
 * flags), and a read-only page table makes KVM emulate every page walk
 * through it (docs/kvm.md, "Guest page tables on trapped pages").
 */
enum spp_layout_refusal {
	SPP_LAYOUT_PROTECTABLE = 0,
	SPP_LAYOUT_BEYOND_RAM, /* not all of it is guest RAM */
	SPP_LAYOUT_SYSTEM_AREA, /* touches [0, SPP_LAYOUT_SYS_END) */
	SPP_LAYOUT_PAGE_TABLES, /* touches [pt_base, ram_size) */
};

/*
 * spp_layout_protectable() - whether [@start, @end) may be protected in a
 * guest of valid @ram_size: SPP_LAYOUT_PROTECTABLE or the first reason
 * it may not, checked in the order of the enum. An empty or wrapping
 * range, or an invalid @ram_size, is SPP_LAYOUT_BEYOND_RAM. The CLI
 * (host rules) and the doorbell PROTECT (guest requests) both ask this.
 */
static inline enum spp_layout_refusal
spp_layout_protectable(uint64_t start, uint64_t end, uint64_t ram_size)
{
	if (!spp_layout_ram_valid(ram_size) || end <= start || end > ram_size)
		return SPP_LAYOUT_BEYOND_RAM;
	if (start < SPP_LAYOUT_SYS_END)
		return SPP_LAYOUT_SYSTEM_AREA;
	if (end > spp_layout_pt_base(ram_size))
		return SPP_LAYOUT_PAGE_TABLES;
	return SPP_LAYOUT_PROTECTABLE;
}

#endif /* SPP_LAYOUT_H */
