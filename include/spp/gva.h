/* SPDX-License-Identifier: MIT */
/*
 * spp/gva.h - guest-virtual ranges to guest-physical pieces, through the
 * guest's own page tables.
 *
 * An introspection engine names kernel structures by virtual address (a
 * symbol plus the KASLR slide, spp/ksym.h); protection is per
 * guest-physical page. spp_gva_translate() walks the guest's x86 long-mode
 * tables (4- or 5-level, 1 GiB and 2 MiB leaves) from a vCPU's CR3 for
 * each 4 KiB page of a range and returns one piece per page: what to
 * protect on which guest-physical page.
 *
 * Guest page tables are not trusted: every entry is read through
 * spp_guest_mem_ptr() (an entry outside guest RAM ends the walk, nothing
 * is read elsewhere), and a walk is at most five reads, one per level, so
 * tables that point at themselves or at each other cannot make it loop.
 * The work of one call is bounded by its caller: at most @max pages,
 * five reads each. The tables are read as they are at the time of the
 * call; a guest that changes them afterwards changes the answer (the
 * caller pauses the vCPUs when that matters).
 *
 * No KVM here: the registers come in a struct (KVM_GET_SREGS has them).
 * Thread safety: reads guest memory only; concurrent calls are fine.
 */
#ifndef SPP_GVA_H
#define SPP_GVA_H

#include <stddef.h>
#include <stdint.h>

#include <spp/guest_mem.h>

/* The control registers a walk depends on (a vCPU's, KVM_GET_SREGS). */
struct spp_x86_paging {
	uint64_t cr0; /* PG must be set */
	uint64_t cr3; /* the root table: bits 51:12 */
	uint64_t cr4; /* LA57 selects 5-level paging */
	uint64_t efer; /* LMA must be set */
};

/* One guest-physical piece of a virtual range: never crosses a 4 KiB page. */
struct spp_gva_piece {
	uint64_t gva; /* first byte, virtual */
	uint64_t gpa; /* its translation */
	uint32_t len; /* 1..4096 */
};

/* Why a walk failed (spp_gva_translate()'s -EFAULT). */
enum spp_gva_fault_kind {
	SPP_GVA_NOT_PRESENT = 1, /* the entry's present bit is clear */
	SPP_GVA_RESERVED, /* PS set in a PML5E/PML4E (reserved there) */
	SPP_GVA_OUTSIDE_RAM, /* the entry, or the page, is not guest RAM */
};

struct spp_gva_fault {
	enum spp_gva_fault_kind kind;
	uint64_t gva; /* the first byte of the range on the page that failed */
	/* The entry at fault: level 5 (PML5E) or 4 (PML4E) down to 1 (PTE);
	 * 0 when the walk succeeded but the page it ends on is not (wholly)
	 * guest RAM. */
	unsigned int level;
	uint64_t entry_gpa; /* where the entry is (level 0: the leaf's) */
	uint64_t entry; /* its value; 0 when it could not be read */
};

/*
 * spp_gva_translate() - the guest-physical pieces of the virtual range
 * [@gva, @gva + @len) under the tables @pg selects: one piece per 4 KiB
 * virtual page it touches, in address order, into @pieces[0 .. *@n - 1].
 * Each piece lies in guest RAM (one region of @mem). Returns 0; -EINVAL
 * (NULL arguments, @len 0, the range wrapping past 2^64 or a
 * non-canonical address in it); -EOPNOTSUPP (not long mode with paging:
 * CR0.PG and EFER.LMA; 32-bit and PAE paging are not walked); -ENOSPC
 * (more than @max pages, found before any walk); -EFAULT (a page does
 * not translate: @fault, if not NULL, says where and why). On error *@n
 * is not written and @pieces holds nothing usable.
 */
int spp_gva_translate(const struct spp_guest_mem *mem,
		      const struct spp_x86_paging *pg, uint64_t gva,
		      uint64_t len, struct spp_gva_piece *pieces, size_t max,
		      size_t *n, struct spp_gva_fault *fault);

#endif /* SPP_GVA_H */
