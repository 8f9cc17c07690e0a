/* SPDX-License-Identifier: MIT */
/*
 * x86_walk.h - the guest's own page tables, walked in software.
 *
 * Translates a guest-linear address the way the CPU does in long mode
 * (4- and 5-level paging, 1 GiB and 2 MiB leaves), reading every
 * paging-structure entry through spp_guest_mem_ptr(): an entry outside
 * guest RAM ends the walk with -EFAULT, never a host read elsewhere. A walk
 * is at most five reads, so tables that point at themselves (legal, and
 * used by some kernels) cannot make it loop.
 *
 * It also does what the CPU's walker writes: the accessed flag of every
 * entry used and, for a write, the dirty flag of the leaf
 * (spp_x86_walk_set_ad). KVM cannot do those writes for paging
 * structures in read-only memslots (docs/kvm.md, "Guest page tables on
 * trapped pages"), so the guard does them.
 *
 * Internal to the kvm layer; no KVM here: state comes in a struct.
 */
#ifndef SPP_X86_WALK_H
#define SPP_X86_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include <spp/guest_mem.h>
#include <spp/gva.h>

#define SPP_X86_WALK_MAX_LEVELS 5

/* struct spp_x86_paging: the control registers (spp/gva.h). */

struct spp_x86_walk {
	uint64_t gpa; /* the translation of the linear address */
	unsigned int levels; /* entries used, top level first */
	uint64_t entry_gpa[SPP_X86_WALK_MAX_LEVELS];
	uint64_t entry[SPP_X86_WALK_MAX_LEVELS]; /* their values as read */
};

/*
 * spp_x86_walk() - translate @lin through the tables @pg selects.
 * Returns 0 with @w filled; -EOPNOTSUPP outside long mode with paging
 * (CR0.PG and EFER.LMA; 32-bit and PAE paging are not walked);
 * -EINVAL for a non-canonical @lin or NULL arguments; -EFAULT when an
 * entry lies outside guest RAM, is not present or has reserved bits set
 * (@w->levels then counts the entries read; for an entry outside RAM,
 * @w->entry_gpa[@w->levels] is its address). Permissions are not checked:
 * the callers translate accesses the CPU has already made.
 */
int spp_x86_walk(const struct spp_guest_mem *mem,
		 const struct spp_x86_paging *pg, uint64_t lin,
		 struct spp_x86_walk *w);

/*
 * spp_x86_walk_set_ad() - set the accessed flag in every entry of @w and,
 * when @write, the dirty flag of its leaf, each with one atomic
 * compare-and-exchange that leaves other bits as the guest has them now
 * (an entry that changed since the walk to point elsewhere is left
 * alone). Returns which entries it changed: bit i for @w->entry_gpa[i].
 */
unsigned int spp_x86_walk_set_ad(const struct spp_guest_mem *mem,
				 const struct spp_x86_walk *w, bool write);

#endif /* SPP_X86_WALK_H */
