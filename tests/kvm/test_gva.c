// SPDX-License-Identifier: MIT
/*
 * test_gva.c - guest-virtual ranges to guest-physical pieces
 * (spp/gva.h) without KVM: hand-built 4- and 5-level page tables in a
 * buffer behind a struct spp_guest_mem, with a higher-half kernel
 * mapping, 2 MiB and 1 GiB leaves, holes, reserved bits, entries
 * pointing outside RAM and tables that point at themselves.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <spp/gva.h>
#include <spp/vector.h>

#define RAM (8ULL << 20)
#define P 0x1ULL
#define RW 0x2ULL
#define PS 0x80ULL
#define KTEXT 0xffffffff81000000ULL /* a kernel image address */

struct fix {
	uint8_t *ram;
	struct spp_guest_mem mem;
	struct spp_x86_paging pg;
	uint64_t next_table; /* bump allocator for tables, from 1 MiB */
	unsigned int levels;
};

static uint64_t *entry(struct fix *f, uint64_t table, unsigned int idx)
{
	return (uint64_t *)(f->ram + table + 8 * idx);
}

static uint64_t new_table(struct fix *f)
{
	uint64_t t = f->next_table;

	f->next_table += SPP_PAGE_SIZE;
	assert_true(f->next_table <= 2ULL << 20);
	return t;
}

/* Map @gva to @gpa with a leaf at @leaf (1: 4 KiB, 2: 2 MiB, 3: 1 GiB). */
static void map(struct fix *f, uint64_t gva, uint64_t gpa, unsigned int leaf)
{
	uint64_t table = f->pg.cr3 & ~0xfffULL;
	unsigned int level;

	for (level = f->levels; level > leaf; level--) {
		uint64_t *e =
			entry(f, table, (gva >> (12 + 9 * (level - 1))) & 511);

		if (!(*e & P))
			*e = new_table(f) | P | RW;
		table = *e & 0x000ffffffffff000ULL;
	}
	*entry(f, table, (gva >> (12 + 9 * (leaf - 1))) & 511) =
		gpa | P | RW | (leaf > 1 ? PS : 0);
}

static void init(struct fix *f, unsigned int levels)
{
	f->ram = calloc(1, RAM);
	assert_non_null(f->ram);
	spp_guest_mem_init(&f->mem);
	assert_int_equal(spp_guest_mem_add(&f->mem, 0, RAM, f->ram), 0);
	f->levels = levels;
	f->next_table = 1ULL << 20;
	f->pg = (struct spp_x86_paging){
		.cr0 = 0x80000011,
		.cr3 = new_table(f),
		.cr4 = 0x20 | (levels == 5 ? 1ULL << 12 : 0),
		.efer = 0x500,
	};
}

static int setup4(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	init(f, 4);
	*state = f;
	return 0;
}

static int setup5(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	init(f, 5);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	free(f->ram);
	free(f);
	return 0;
}

static int tr(struct fix *f, uint64_t gva, uint64_t len,
	      struct spp_gva_piece *p, size_t max, size_t *n,
	      struct spp_gva_fault *flt)
{
	return spp_gva_translate(&f->mem, &f->pg, gva, len, p, max, n, flt);
}

static void test_one_page(void **state)
{
	struct fix *f = *state;
	struct spp_gva_piece p[4];
	size_t n = 99;

	map(f, KTEXT, 0x400000, 1);
	assert_int_equal(tr(f, KTEXT + 0x290, 16, p, 4, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(p[0].gva, KTEXT + 0x290);
	assert_int_equal(p[0].gpa, 0x400290);
	assert_int_equal(p[0].len, 16);
	/* a whole page, exactly */
	assert_int_equal(tr(f, KTEXT, 4096, p, 1, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(p[0].len, 4096);
}

/* A range over three virtual pages that are not contiguous physically:
 * three pieces, split at the page boundaries. */
static void test_spanning_pages(void **state)
{
	struct fix *f = *state;
	struct spp_gva_piece p[3];
	size_t n = 0;

	map(f, KTEXT, 0x500000, 1);
	map(f, KTEXT + 0x1000, 0x300000, 1);
	map(f, KTEXT + 0x2000, 0x601000, 1);
	assert_int_equal(tr(f, KTEXT + 0xf80, 0x1100, p, 3, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_int_equal(p[0].gpa, 0x500f80);
	assert_int_equal(p[0].len, 0x80);
	assert_int_equal(p[1].gva, KTEXT + 0x1000);
	assert_int_equal(p[1].gpa, 0x300000);
	assert_int_equal(p[1].len, 0x1000);
	assert_int_equal(p[2].gpa, 0x601000);
	assert_int_equal(p[2].len, 0x80);
	/* too few slots: said before any walk, *n untouched */
	n = 77;
	assert_int_equal(tr(f, KTEXT + 0xf80, 0x1100, p, 2, &n, NULL), -ENOSPC);
	assert_int_equal(n, 77);
}

static void test_large_pages(void **state)
{
	struct fix *f = *state;
	struct spp_gva_piece p[2];
	size_t n;

	/* the direct map: a 2 MiB leaf, and a 1 GiB leaf over all RAM */
	map(f, 0xffff888000200000ULL, 0x200000, 2);
	map(f, 0xffff888040000000ULL, 0, 3);
	assert_int_equal(tr(f, 0xffff888000200ff8ULL, 16, p, 2, &n, NULL), 0);
	assert_int_equal(n, 2); /* still one piece per 4 KiB page */
	assert_int_equal(p[0].gpa, 0x200ff8);
	assert_int_equal(p[0].len, 8);
	assert_int_equal(p[1].gpa, 0x201000);
	assert_int_equal(p[1].len, 8);
	assert_int_equal(tr(f, 0xffff888040123456ULL, 4, p, 2, &n, NULL), 0);
	assert_int_equal(p[0].gpa, 0x123456);
}

static void test_not_present(void **state)
{
	struct fix *f = *state;
	struct spp_gva_piece p[2];
	struct spp_gva_fault flt;
	size_t n = 5;

	map(f, KTEXT, 0x400000, 1);
	/* the next page's PTE is empty: level 1, and the first page's piece
	 * does not count */
	assert_int_equal(tr(f, KTEXT + 0xff0, 0x20, p, 2, &n, &flt), -EFAULT);
	assert_int_equal(n, 5);
	assert_int_equal(flt.kind, SPP_GVA_NOT_PRESENT);
	assert_int_equal(flt.level, 1);
	assert_int_equal(flt.gva, KTEXT + 0x1000);
	assert_int_equal(flt.entry, 0);
	assert_int_equal(flt.entry_gpa & 0xfff, 8 * 1);
	/* nothing mapped in that half at all: the PML4E */
	assert_int_equal(tr(f, 0x1000, 1, p, 2, &n, &flt), -EFAULT);
	assert_int_equal(flt.level, 4);
	assert_int_equal(flt.entry_gpa, f->pg.cr3);
	/* a PDE that is empty */
	assert_int_equal(tr(f, KTEXT + (2ULL << 20), 1, p, 2, &n, &flt),
			 -EFAULT);
	assert_int_equal(flt.kind, SPP_GVA_NOT_PRESENT);
	assert_int_equal(flt.level, 2);
}

static void test_outside_ram(void **state)
{
	struct fix *f = *state;
	struct spp_gva_piece p[1];
	struct spp_gva_fault flt;
	size_t n;
	uint64_t *pml4e;

	/* a PTE pointing past RAM: the page is no RAM (level 0) */
	map(f, KTEXT, RAM, 1);
	assert_int_equal(tr(f, KTEXT, 8, p, 1, &n, &flt), -EFAULT);
	assert_int_equal(flt.kind, SPP_GVA_OUTSIDE_RAM);
	assert_int_equal(flt.level, 0);
	assert_int_equal(flt.entry & ~0xfffULL, RAM);
	/* a PML4E pointing at a table outside RAM: the PDPTE is not read */
	pml4e = entry(f, f->pg.cr3, 1);
	*pml4e = 0x7ffffff000ULL | P | RW;
	assert_int_equal(tr(f, 1ULL << 39, 8, p, 1, &n, &flt), -EFAULT);
	assert_int_equal(flt.kind, SPP_GVA_OUTSIDE_RAM);
	assert_int_equal(flt.level, 3);
	assert_int_equal(flt.entry_gpa, 0x7ffffff000ULL + 0);
	assert_int_equal(flt.entry, 0);
	/* CR3 itself outside RAM */
	f->pg.cr3 = 1ULL << 40;
	assert_int_equal(tr(f, KTEXT, 8, p, 1, &n, &flt), -EFAULT);
	assert_int_equal(flt.level, 4);
	assert_int_equal(flt.entry_gpa, (1ULL << 40) + 8 * 511);
}

/* A page straddling two RAM regions (their host memory need not be
 * contiguous) is not handed out as one piece. */
static void test_page_across_regions(void **state)
{
	struct fix *f = *state;
	struct spp_gva_piece p[1];
	struct spp_gva_fault flt;
	size_t n;

	assert_int_equal(spp_guest_mem_remove(&f->mem, 0, RAM), 0);
	assert_int_equal(spp_guest_mem_add(&f->mem, 0, 0x400800, f->ram), 0);
	assert_int_equal(spp_guest_mem_add(&f->mem, 0x400800, RAM - 0x400800,
					   f->ram + 0x400800),
			 0);
	map(f, KTEXT, 0x400000, 1);
	assert_int_equal(tr(f, KTEXT + 0x100, 0x100, p, 1, &n, &flt), 0);
	assert_int_equal(tr(f, KTEXT + 0x7f0, 0x20, p, 1, &n, &flt), -EFAULT);
	assert_int_equal(flt.kind, SPP_GVA_OUTSIDE_RAM);
	assert_int_equal(flt.level, 0);
}

static void test_reserved_ps(void **state)
{
	struct fix *f = *state;
	struct spp_gva_piece p[1];
	struct spp_gva_fault flt;
	size_t n;

	*entry(f, f->pg.cr3, 2) = 0x40000000ULL | P | RW | PS;
	assert_int_equal(tr(f, 2ULL << 39, 8, p, 1, &n, &flt), -EFAULT);
	assert_int_equal(flt.kind, SPP_GVA_RESERVED);
	assert_int_equal(flt.level, 4);
	assert_int_equal(flt.entry, 0x40000000ULL | P | RW | PS);
}

/* Tables pointing at themselves (a recursive slot, as some kernels keep)
 * translate in at most one read per level: no loop. */
static void test_self_reference(void **state)
{
	struct fix *f = *state;
	struct spp_gva_piece p[1];
	size_t n;
	uint64_t cr3 = f->pg.cr3, gva;

	*entry(f, cr3, 256) = cr3 | P | RW; /* PML4[256] -> the PML4 */
	/* 256/256/256/5 ends on the PML4 page itself, offset 5*8 */
	gva = 0xffff000000000000ULL | (256ULL << 39) | (256ULL << 30) |
	      (256ULL << 21) | (5ULL << 12) | 0x28;
	assert_int_equal(tr(f, gva, 8, p, 1, &n, NULL), -EFAULT);
	/* (PML4[5] is empty) -- with it present, the walk ends at once */
	*entry(f, cr3, 5) = cr3 | P | RW;
	assert_int_equal(tr(f, gva, 8, p, 1, &n, NULL), 0);
	assert_int_equal(p[0].gpa, cr3 + 0x28);
}

static void test_five_levels(void **state)
{
	struct fix *f = *state;
	struct spp_gva_piece p[1];
	struct spp_gva_fault flt;
	size_t n;
	const uint64_t gva = 0xff11000000001234ULL; /* 57-bit canonical */

	map(f, gva & ~0xfffULL, 0x700000, 1);
	assert_int_equal(tr(f, gva, 4, p, 1, &n, NULL), 0);
	assert_int_equal(p[0].gpa, 0x700234);
	/* empty at the top: level 5 */
	assert_int_equal(tr(f, 0x1000, 4, p, 1, &n, &flt), -EFAULT);
	assert_int_equal(flt.level, 5);
	/* canonical with 5 levels, not with 4 */
	f->pg.cr4 &= ~(1ULL << 12);
	assert_int_equal(tr(f, gva, 4, p, 1, &n, NULL), -EINVAL);
}

static void test_bad_input(void **state)
{
	struct fix *f = *state;
	struct spp_gva_piece p[2];
	struct spp_x86_paging pg = f->pg;
	size_t n = 3;

	map(f, KTEXT, 0x400000, 1);
	assert_int_equal(spp_gva_translate(NULL, &f->pg, KTEXT, 1, p, 2, &n,
					   NULL),
			 -EINVAL);
	assert_int_equal(spp_gva_translate(&f->mem, NULL, KTEXT, 1, p, 2, &n,
					   NULL),
			 -EINVAL);
	assert_int_equal(tr(f, KTEXT, 1, NULL, 2, &n, NULL), -EINVAL);
	assert_int_equal(tr(f, KTEXT, 1, p, 2, NULL, NULL), -EINVAL);
	assert_int_equal(tr(f, KTEXT, 0, p, 2, &n, NULL), -EINVAL);
	assert_int_equal(tr(f, ~0ULL, 2, p, 2, &n, NULL), -EINVAL); /* wraps */
	/* from the top of the lower half into the hole */
	assert_int_equal(tr(f, 0x00007ffffffffff0ULL, 0x20, p, 2, &n, NULL),
			 -EFAULT); /* the first page is not mapped */
	map(f, 0x00007ffffffff000ULL, 0x400000, 1);
	assert_int_equal(tr(f, 0x00007ffffffffff0ULL, 0x20, p, 2, &n, NULL),
			 -EINVAL); /* the second is not canonical */
	assert_int_equal(n, 3);
	/* no paging / not long mode */
	pg.cr0 &= ~0x80000000ULL;
	assert_int_equal(spp_gva_translate(&f->mem, &pg, KTEXT, 1, p, 2, &n,
					   NULL),
			 -EOPNOTSUPP);
	pg = f->pg;
	pg.efer = 0;
	assert_int_equal(spp_gva_translate(&f->mem, &pg, KTEXT, 1, p, 2, &n,
					   NULL),
			 -EOPNOTSUPP);
	assert_int_equal(n, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup4, teardown)
		T(test_one_page),
		T(test_spanning_pages),
		T(test_large_pages),
		T(test_not_present),
		T(test_outside_ram),
		T(test_page_across_regions),
		T(test_reserved_ps),
		T(test_self_reference),
		cmocka_unit_test_setup_teardown(test_five_levels, setup5,
						teardown),
		T(test_bad_input),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
