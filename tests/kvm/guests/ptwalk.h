/* SPDX-License-Identifier: MIT */
/*
 * ptwalk.h - a guest whose own page tables sit on pages it protects,
 * shared by tests/kvm/guests/ptwalk.c and tests/kvm/test_kvm_pagetables.c.
 *
 * vCPU 0 builds a 4-level copy of the VMM's tables at PTW_PML4..PTW_PT
 * (the path of 0x10000000..0x101fffff runs through all four), switches
 * CR3 to it, clears the accessed and dirty flags it will watch and, when
 * the host asks, protects the four table pages with ctl->map (the host
 * denies the sub-pages holding the entries in use). Then it loads and
 * stores through them and records what it saw; the host compares with an
 * unprotected run and reads the tables and data pages itself.
 */
#ifndef SPP_TEST_PTWALK_H
#define SPP_TEST_PTWALK_H

#include <stdint.h>

#include <spp/layout.h>

#define PTW_PML4 0x10100000ULL
#define PTW_PDPT 0x10101000ULL
#define PTW_PD 0x10102000ULL
#define PTW_PT 0x10103000ULL /* maps 0x10000000..0x101fffff */
/* Data pages, mapped by PT entries 16..19 (sub-page 1 of PTW_PT). */
#define PTW_DATA(i) (0x10010000ULL + 0x1000ULL * (i))
/* Offsets of the entries the data pages' walks use. */
#define PTW_PML4_OFF 0x000 /* entry 0 */
#define PTW_PDPT_OFF 0x000 /* entry 0 */
#define PTW_PD_OFF 0x400 /* entry 128 */
#define PTW_PT_OFF(i) (0x080 + 8 * (i)) /* entry 16 + i */
/* A data offset that no entry of the walk has (KVM cannot mistake it). */
#define PTW_SAFE_OFF 0x200

/* In the shared area, away from page offset 0 (see ptwalk.c). */
#define PTW_CTL (SPP_LAYOUT_SHARED + 0x800)

struct ptw_ctl {
	uint64_t protect; /* host: protect the four pages with map */
	uint64_t map;
	int64_t prot_result[4]; /* guest: spp_guest_protect() results */
	uint64_t load_safe; /* what loads at PTW_SAFE_OFF read */
	uint64_t load_aliased; /* a load at page offset 0 of data page 0 */
	uint64_t pte_before; /* PT entry 17 before the guest's own store */
	uint64_t done;
};

/* Values the guest stores. */
#define PTW_V_SAFE 0x1122334455667788ULL
#define PTW_V_ALIASED 0x0badcafe0badcafeULL
#define PTW_V_PTE 0xdeadULL /* what it tries to write into PT entry 17 */

#endif /* SPP_TEST_PTWALK_H */
