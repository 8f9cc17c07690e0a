// SPDX-License-Identifier: MIT
/*
 * test_origin.c - where a store KVM completed came from, without KVM:
 * the guest page walker (src/kvm/x86_walk.c) and guard_store_origin()
 * (src/kvm/emulate.c) on a fabricated 64-bit vCPU state in kvm_run's
 * sync area, the VMM's identity tables and instruction bytes in memory.
 * The KVM side of the same thing is test_own_page_tables in
 * test_kvm_enforce.c (docs/kvm.md, "guest page tables on trapped pages").
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/kvm.h>

#include <spp/guest_mem.h>
#include <spp/layout.h>
#include <spp/x86.h>

#include "kvm/guard_priv.h"
#include "kvm/x86_walk.h"

#define RAM (64ULL << 20)
#define CODE 0x400000ULL

struct fix {
	uint8_t *ram;
	struct spp_guard *g; /* only its guest memory is used */
	struct kvm_run run;
	struct spp_x86_paging pg;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	uint64_t cr3;

	assert_non_null(f);
	f->ram = calloc(1, RAM);
	f->g = calloc(1, sizeof(*f->g));
	assert_non_null(f->ram);
	assert_non_null(f->g);
	spp_guest_mem_init(&f->g->mem);
	assert_int_equal(spp_guest_mem_add(&f->g->mem, 0, RAM, f->ram), 0);
	assert_int_equal(spp_x86_pt_build(&f->g->mem, RAM, &cr3), 0);
	f->pg = (struct spp_x86_paging){
		.cr0 = 0x80000011, .cr3 = cr3, .cr4 = 0x20, .efer = 0x500
	};
	f->run.kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	f->run.s.regs.regs.rflags = 2;
	f->run.s.regs.sregs.cr0 = f->pg.cr0;
	f->run.s.regs.sregs.cr3 = f->pg.cr3;
	f->run.s.regs.sregs.cr4 = f->pg.cr4;
	f->run.s.regs.sregs.efer = f->pg.efer;
	f->run.s.regs.sregs.cs.l = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	free(f->ram);
	free(f->g);
	free(f);
	return 0;
}

/* @bytes at CODE, RIP past them. */
static void insn(struct fix *f, const char *bytes, size_t n)
{
	memcpy(f->ram + CODE, bytes, n);
	f->run.s.regs.regs.rip = CODE + n;
}

static int origin(struct fix *f, uint64_t gpa, uint32_t len,
		  struct guard_origin *o)
{
	struct guard_piece p = { gpa, len, NULL, NULL };

	return guard_store_origin(f->g, -1, &f->run, &p, o);
}

static void test_walk(void **state)
{
	struct fix *f = *state;
	struct spp_x86_walk w;
	uint64_t pml4 = f->pg.cr3;

	assert_int_equal(spp_x86_walk(&f->g->mem, &f->pg, 0x01000123, &w), 0);
	assert_int_equal(w.gpa, 0x01000123);
	assert_int_equal(w.levels, 4);
	assert_int_equal(w.entry_gpa[0], pml4); /* PML4 entry 0 */
	assert_int_equal(w.entry_gpa[3] & 0xfff, 8 * 0x000); /* PT index 0 */
	/* beyond the mapped RAM: the PD entry is not present */
	assert_int_equal(spp_x86_walk(&f->g->mem, &f->pg, 0x7fff0000, &w),
			 -EFAULT);
	assert_int_equal(spp_x86_walk(&f->g->mem, &f->pg, 1ULL << 47, &w),
			 -EINVAL); /* not canonical */
	/* a 2 MiB leaf: the PD entry of 0x01000000 made one */
	{
		struct spp_x86_walk w2;
		uint64_t *pde;

		assert_int_equal(
			spp_x86_walk(&f->g->mem, &f->pg, 0x01000000, &w2), 0);
		pde = spp_guest_mem_ptr(&f->g->mem, w2.entry_gpa[2], 8);
		*pde = 0x2000000 | 0x83; /* P, RW, PS: 32 MiB */
		assert_int_equal(
			spp_x86_walk(&f->g->mem, &f->pg, 0x01012345, &w), 0);
		assert_int_equal(w.gpa, 0x2012345);
		assert_int_equal(w.levels, 3);
		*pde = w2.entry[2];
	}
	/* an entry pointing outside RAM ends the walk, no read there */
	{
		uint64_t *pml4e = spp_guest_mem_ptr(&f->g->mem, pml4 + 8, 8);

		*pml4e = 0x7ffffff000ULL | 3;
		assert_int_equal(spp_x86_walk(&f->g->mem, &f->pg, 1ULL << 39,
					      &w),
				 -EFAULT);
		assert_int_equal(w.levels, 1);
		*pml4e = 0;
	}
	/* no paging: not walked */
	{
		struct spp_x86_paging real = f->pg;

		real.cr0 = 0x11;
		assert_int_equal(spp_x86_walk(&f->g->mem, &real, 0x1000, &w),
				 -EOPNOTSUPP);
	}
}

static void test_walk_set_ad(void **state)
{
	struct fix *f = *state;
	struct spp_x86_walk w;
	uint64_t *e[4];
	unsigned int i;

	assert_int_equal(spp_x86_walk(&f->g->mem, &f->pg, 0x01000000, &w), 0);
	for (i = 0; i < 4; i++) {
		e[i] = spp_guest_mem_ptr(&f->g->mem, w.entry_gpa[i], 8);
		*e[i] &= ~(SPP_X86_PTE_A | SPP_X86_PTE_D);
	}
	assert_int_equal(spp_x86_walk(&f->g->mem, &f->pg, 0x01000000, &w), 0);
	/* a read: A on every level, no D */
	assert_int_equal(spp_x86_walk_set_ad(&f->g->mem, &w, false), 0xf);
	for (i = 0; i < 4; i++)
		assert_int_equal(*e[i] & (SPP_X86_PTE_A | SPP_X86_PTE_D),
				 SPP_X86_PTE_A);
	/* a write: D on the leaf only; nothing else changes */
	assert_int_equal(spp_x86_walk_set_ad(&f->g->mem, &w, true), 1u << 3);
	assert_int_equal(*e[3] & SPP_X86_PTE_D, SPP_X86_PTE_D);
	assert_int_equal(*e[2] & SPP_X86_PTE_D, 0);
	assert_int_equal(spp_x86_walk_set_ad(&f->g->mem, &w, true), 0);
	/* an entry the guest pointed elsewhere since the walk: left alone */
	*e[3] = (*e[3] & ~(SPP_X86_PTE_A | SPP_X86_PTE_D)) + 0x1000;
	assert_int_equal(spp_x86_walk_set_ad(&f->g->mem, &w, true), 0);
	assert_int_equal(*e[3] & SPP_X86_PTE_A, 0);
}

static void test_origin_plain_store(void **state)
{
	struct fix *f = *state;
	struct guard_origin o;

	insn(f, "\x89\x07", 2); /* mov [rdi], eax */
	f->run.s.regs.regs.rdi = 0x01000040;
	assert_int_equal(origin(f, 0x01000040, 4, &o), 0);
	assert_true(o.found);
	assert_false(o.misdirected);
	assert_int_equal(o.insn_rip, CODE);
	assert_int_equal(o.gpa, 0x01000040);
	assert_int_equal(o.walk.levels, 4);
	/* a store somewhere else: not this instruction's */
	assert_int_equal(origin(f, 0x01020048, 4, &o), -ENOENT);
	/* the wrong length: neither */
	assert_int_equal(origin(f, 0x01000040, 8, &o), -ENOENT);
}

/*
 * KVM emulated the store after the page walk faulted on a paging
 * structure in a read-only slot, and took the faulting entry's address
 * (same page offset) for the store's.
 */
static void test_origin_misdirected(void **state)
{
	struct fix *f = *state;
	struct guard_origin o;
	struct spp_x86_walk w;

	insn(f, "\x48\x89\x07", 3); /* mov [rdi], rax */
	f->run.s.regs.regs.rdi = 0x01010000; /* page offset 0 */
	assert_int_equal(spp_x86_walk(&f->g->mem, &f->pg, 0x01010000, &w), 0);
	/* the PML4 entry: offset 0 as well */
	assert_int_equal(origin(f, w.entry_gpa[0], 8, &o), 0);
	assert_true(o.misdirected);
	assert_int_equal(o.gpa, 0x01010000);
	assert_int_equal(o.insn_rip, CODE);
	/* an entry of the walk at another offset is no such store */
	assert_int_equal(origin(f, w.entry_gpa[3], 8, &o), -ENOENT);
}

/* A repeated store at the same RIP takes the cached instruction: with a
 * RIP-relative address, the second reading must equal the first. */
static void test_origin_cached_rip_relative(void **state)
{
	struct fix *f = *state;
	struct guard_origin o;
	unsigned int i;

	/* mov [rip + 0x1000], eax: 89 05 00 10 00 00 */
	insn(f, "\x89\x05\x00\x10\x00\x00", 6);
	for (i = 0; i < 3; i++) {
		assert_int_equal(origin(f, CODE + 6 + 0x1000, 4, &o), 0);
		assert_false(o.misdirected);
		assert_int_equal(o.insn_rip, CODE);
		assert_int_equal(o.gpa, CODE + 6 + 0x1000);
	}
	/* the code changed under the same RIP: decoded anew */
	insn(f, "\x90\x90\x90\x90\x89\x07", 6); /* nops, mov [rdi], eax */
	f->run.s.regs.regs.rdi = 0x01000080;
	assert_int_equal(origin(f, 0x01000080, 4, &o), 0);
	assert_int_equal(o.insn_rip, CODE + 4);
}

static void test_origin_not_long_mode(void **state)
{
	struct fix *f = *state;
	struct guard_origin o;

	insn(f, "\x89\x07", 2);
	f->run.s.regs.sregs.efer = 0;
	f->run.s.regs.sregs.cs.l = 0;
	assert_int_equal(origin(f, 0x01000040, 4, &o), -EOPNOTSUPP);
	assert_false(o.found);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_set_ad, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_origin_plain_store, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_origin_misdirected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_origin_cached_rip_relative,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_origin_not_long_mode,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
