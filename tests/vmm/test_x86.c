// SPDX-License-Identifier: MIT
/*
 * test_x86.c - identity page tables (walked here like the CPU would),
 * GDT bytes decoded back to the segment descriptions, TSS, register
 * constants and the layout helpers (spp/x86.h, spp/layout.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <spp/layout.h>
#include <spp/x86.h>

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t read64(const struct spp_guest_mem *m, uint64_t gpa)
{
	const unsigned char *p = spp_guest_mem_ptr(m, gpa, 8);

	assert_non_null(p);
	return get_le64(p);
}

/*
 * A 4-level walk of @va. Returns the leaf PTE, or 0 if some level is not
 * present. Checks on the way: non-leaf entries are exactly
 * address | P|RW|US|A (no PS, no NX, no other bit), table addresses lie
 * in the page-table area.
 */
static uint64_t walk(const struct spp_guest_mem *m, uint64_t cr3,
		     uint64_t ram_size, uint64_t va)
{
	uint64_t table = cr3, e = 0;
	int level;

	for (level = 4; level >= 1; level--) {
		unsigned int idx = (va >> (12 + 9 * (level - 1))) & 511;

		e = read64(m, table + 8 * idx);
		if (!(e & SPP_X86_PTE_P))
			return 0;
		if (level == 1)
			break;
		assert_int_equal(e & ~SPP_X86_PTE_ADDR_MASK, SPP_X86_PTE_TABLE);
		table = e & SPP_X86_PTE_ADDR_MASK;
		assert_true(table >= spp_layout_pt_base(ram_size) &&
			    table < ram_size);
	}
	assert_int_equal(e & SPP_X86_PTE_PS, 0);
	assert_int_equal(e & SPP_X86_PTE_NX, 0);
	return e;
}

/* Expected leaf for a RAM page. */
static uint64_t want_leaf(uint64_t gpa, uint64_t ram_size)
{
	gpa &= ~0xFFFULL;
	return gpa | (spp_layout_is_supervisor(gpa, ram_size) ?
			      SPP_X86_PTE_LEAF_SUPERVISOR :
			      SPP_X86_PTE_LEAF_USER);
}

/* Back only the page-table area of a guest with @ram_size bytes. */
static unsigned char *back_pt_area(struct spp_guest_mem *m, uint64_t ram_size,
				   uint64_t *cr3)
{
	uint64_t base = spp_layout_pt_base(ram_size);
	size_t len = (size_t)(ram_size - base);
	unsigned char *area;

	area = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(area != MAP_FAILED);
	spp_guest_mem_init(m);
	assert_int_equal(spp_guest_mem_add(m, base, len, area), 0);
	assert_int_equal(spp_x86_pt_build(m, ram_size, cr3), 0);
	assert_int_equal(*cr3, base);
	return area;
}

static void check_sample_addresses(const struct spp_guest_mem *m, uint64_t cr3,
				   uint64_t ram_size)
{
	const uint64_t pt = spp_layout_pt_base(ram_size);
	const uint64_t addrs[] = {
		0,
		0x123,
		SPP_LAYOUT_GDT,
		SPP_LAYOUT_EXC_REPORT + 8,
		SPP_LAYOUT_STACK - 1, /* guard page: supervisor */
		SPP_LAYOUT_STACK,
		SPP_LAYOUT_STACK_TOP - 8,
		SPP_LAYOUT_SHARED,
		SPP_LAYOUT_LOAD_BASE,
		SPP_LAYOUT_LOAD_BASE + 0x1234,
		0x1FFFFF,
		0x200000,
		(1ULL << 30) - 1,
		1ULL << 30,
		SPP_LAYOUT_SELFTEST_PAGE,
		SPP_LAYOUT_SELFTEST_PAGE + 0xFFF,
		pt - 1,
		pt,
		pt + 0x1000,
		ram_size - 0x1000,
		ram_size - 1,
	};
	size_t i;

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		uint64_t a = addrs[i];

		if (a >= ram_size)
			continue;
		assert_int_equal(walk(m, cr3, ram_size, a),
				 want_leaf(a, ram_size));
	}
	/* the supervisor/user split at the interesting edges */
	assert_int_equal(walk(m, cr3, ram_size, pt - 1) & SPP_X86_PTE_US,
			 SPP_X86_PTE_US);
	assert_int_equal(walk(m, cr3, ram_size, pt) & SPP_X86_PTE_US, 0);
	assert_int_equal(walk(m, cr3, ram_size, ram_size - 1) & SPP_X86_PTE_US,
			 0);
	assert_int_equal(walk(m, cr3, ram_size, SPP_LAYOUT_SYS_END - 1) &
				 SPP_X86_PTE_US,
			 0);
	assert_int_equal(walk(m, cr3, ram_size, SPP_LAYOUT_SYS_END) &
				 SPP_X86_PTE_US,
			 SPP_X86_PTE_US);

	/* beyond RAM: not mapped */
	assert_int_equal(walk(m, cr3, ram_size, ram_size), 0);
	assert_int_equal(walk(m, cr3, ram_size, ram_size + 0x200000), 0);
	assert_int_equal(walk(m, cr3, ram_size, 1ULL << 39), 0);
	if (ram_size <= 0xFEE00000)
		assert_int_equal(walk(m, cr3, ram_size, 0xFEE00000), 0);
	/* the doorbell, and only its page */
	assert_int_equal(walk(m, cr3, ram_size, SPP_LAYOUT_DOORBELL + 0x10),
			 SPP_LAYOUT_DOORBELL | SPP_X86_PTE_LEAF_DOORBELL);
	assert_int_equal(walk(m, cr3, ram_size, SPP_LAYOUT_DOORBELL - 1), 0);
	assert_int_equal(walk(m, cr3, ram_size,
			      SPP_LAYOUT_DOORBELL + SPP_LAYOUT_DOORBELL_SIZE),
			 0);
}

static void test_pt_sizes(void **state)
{
	(void)state;
	/* 512 MiB: PML4 + PDPT + 1 PD + 256 PT + doorbell PD + PT */
	assert_int_equal(spp_layout_pt_pages(512ULL << 20), 2 + 1 + 256 + 2);
	assert_int_equal(spp_layout_pt_pages(16ULL << 20), 2 + 1 + 8 + 2);
	assert_int_equal(spp_layout_pt_pages(18ULL << 20), 2 + 1 + 9 + 2);
	assert_int_equal(spp_layout_pt_pages(3ULL << 30), 2 + 3 + 1536 + 2);
	assert_int_equal(spp_layout_pt_pages(SPP_LAYOUT_RAM_MAX),
			 2 + 32 + 16384 + 2);
	assert_int_equal(spp_layout_pt_base(512ULL << 20),
			 (512ULL << 20) - 261 * 4096);
	assert_int_equal(spp_layout_pt_pages(0), 0);
	assert_int_equal(spp_layout_pt_base(0), 0);
	assert_false(spp_layout_ram_valid(0));
	assert_false(spp_layout_ram_valid(SPP_LAYOUT_RAM_MIN - 0x200000));
	assert_false(spp_layout_ram_valid(SPP_LAYOUT_RAM_MIN + 0x1000));
	assert_false(spp_layout_ram_valid(SPP_LAYOUT_RAM_MAX + 0x200000));
	assert_true(spp_layout_ram_valid(SPP_LAYOUT_RAM_MIN));
	assert_true(spp_layout_ram_valid(SPP_LAYOUT_RAM_DEFAULT));
	assert_true(spp_layout_ram_valid(SPP_LAYOUT_RAM_MAX));
	assert_false(spp_layout_has_selftest_page(256ULL << 20));
	assert_true(spp_layout_has_selftest_page((256ULL + 2) << 20));
	assert_true(spp_layout_has_selftest_page((256ULL + 4) << 20));
	assert_true(spp_layout_has_selftest_page(SPP_LAYOUT_RAM_DEFAULT));
}

/* Small RAM, fully backed: every page is walked. */
static void test_pt_every_page(void **state)
{
	const uint64_t ram_size = SPP_LAYOUT_RAM_MIN + 0x200000; /* 18 MiB */
	struct spp_guest_mem m;
	unsigned char *ram = calloc(1, ram_size);
	uint64_t cr3, gpa, present = 0, i;

	(void)state;
	assert_non_null(ram);
	spp_guest_mem_init(&m);
	assert_int_equal(spp_guest_mem_add(&m, 0, ram_size, ram), 0);
	memset(ram + spp_layout_pt_base(ram_size), 0xCC,
	       ram_size - spp_layout_pt_base(ram_size)); /* stale junk */
	assert_int_equal(spp_x86_pt_build(&m, ram_size, &cr3), 0);
	assert_int_equal(cr3, spp_layout_pt_base(ram_size));
	for (gpa = 0; gpa < ram_size; gpa += 0x1000)
		assert_int_equal(walk(&m, cr3, ram_size,
				      gpa + (gpa >> 12) % 4096),
				 want_leaf(gpa, ram_size));
	check_sample_addresses(&m, cr3, ram_size);
	/* Nothing else: count present entries over the whole area. */
	for (i = cr3; i < ram_size; i += 8)
		if (read64(&m, i) & SPP_X86_PTE_P)
			present++;
	/* 1 PML4E + (1 RAM + 1 doorbell) PDPTEs + 9 PDEs + pages + 2 */
	assert_int_equal(present, 1 + 2 + 9 + (ram_size >> 12) + 1 + 1);
	/* Only the page-table area was written. */
	for (gpa = 0; gpa < cr3; gpa++)
		if (ram[gpa])
			fail_msg("byte at %#llx written",
				 (unsigned long long)gpa);
	free(ram);
}

static void test_pt_sizes_walked(void **state)
{
	const uint64_t sizes[] = {
		SPP_LAYOUT_RAM_MIN,	     SPP_LAYOUT_RAM_DEFAULT,
		(1ULL << 30) + 0x200000,     3ULL << 30,
		(4ULL << 30) + (6ULL << 20), SPP_LAYOUT_RAM_MAX,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct spp_guest_mem m;
		uint64_t cr3, ram_size = sizes[i];
		unsigned char *area = back_pt_area(&m, ram_size, &cr3);
		uint64_t gpa;

		check_sample_addresses(&m, cr3, ram_size);
		/* every 2 MiB block's first and last page, the PT seams */
		for (gpa = 0; gpa < ram_size; gpa += 0x200000) {
			assert_int_equal(walk(&m, cr3, ram_size, gpa),
					 want_leaf(gpa, ram_size));
			assert_int_equal(walk(&m, cr3, ram_size,
					      gpa + 0x1FF000),
					 want_leaf(gpa + 0x1FF000, ram_size));
		}
		munmap(area, (size_t)(ram_size - cr3));
	}
}

static void test_pt_errors(void **state)
{
	const uint64_t ram_size = SPP_LAYOUT_RAM_MIN;
	static unsigned char buf[0x8000]; /* < the 52 KiB area */
	struct spp_guest_mem m;
	uint64_t cr3 = 77;
	size_t i;

	(void)state;
	spp_guest_mem_init(&m);
	memset(buf, 0x5A, sizeof(buf));
	/* Area only partly backed. */
	assert_int_equal(spp_guest_mem_add(&m, ram_size - sizeof(buf),
					   sizeof(buf), buf),
			 0);
	assert_int_equal(spp_x86_pt_build(&m, ram_size, &cr3), -EFAULT);
	assert_int_equal(spp_x86_pt_build(&m, 0, &cr3), -EINVAL);
	assert_int_equal(spp_x86_pt_build(&m, ram_size + 0x1000, &cr3),
			 -EINVAL);
	assert_int_equal(spp_x86_pt_build(&m, SPP_LAYOUT_RAM_MAX * 2, &cr3),
			 -EINVAL);
	assert_int_equal(spp_x86_pt_build(NULL, ram_size, &cr3), -EINVAL);
	assert_int_equal(spp_x86_pt_build(&m, ram_size, NULL), -EINVAL);
	assert_int_equal(cr3, 77);
	for (i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0x5A);
}

/* An independent decoder of a code/data descriptor. */
static void decode(const uint64_t *d, struct spp_x86_segment *s)
{
	uint64_t v = d[0];
	uint32_t raw_limit = (uint32_t)((v & 0xFFFF) | ((v >> 32) & 0xF0000));

	memset(s, 0, sizeof(*s));
	s->base = ((v >> 16) & 0xFFFFFF) | (((v >> 56) & 0xFF) << 24);
	s->type = (v >> 40) & 0xF;
	s->s = (v >> 44) & 1;
	s->dpl = (v >> 45) & 3;
	s->present = (v >> 47) & 1;
	s->avl = (v >> 52) & 1;
	s->l = (v >> 53) & 1;
	s->db = (v >> 54) & 1;
	s->g = (v >> 55) & 1;
	s->limit = s->g ? (raw_limit << 12) | 0xFFF : raw_limit;
	if (!s->s)
		s->base |= (d[1] & 0xFFFFFFFF) << 32;
}

static void test_gdt(void **state)
{
	static unsigned char low[0x8000];
	struct spp_guest_mem m;
	struct spp_x86_dtable gdtr = { 0, 0 };
	uint64_t gdt[SPP_X86_GDT_ENTRIES];
	unsigned int i;

	(void)state;
	memset(low, 0xEE, sizeof(low));
	spp_guest_mem_init(&m);
	assert_int_equal(spp_guest_mem_add(&m, 0, sizeof(low), low), 0);
	assert_int_equal(spp_x86_gdt_build(&m, &gdtr), 0);
	assert_int_equal(gdtr.base, SPP_LAYOUT_GDT);
	assert_int_equal(gdtr.limit, 8 * SPP_X86_GDT_ENTRIES - 1);
	for (i = 0; i < SPP_X86_GDT_ENTRIES; i++)
		gdt[i] = get_le64(low + SPP_LAYOUT_GDT + 8 * i);
	/* the rest of the GDT page is zeroed, nothing outside written */
	for (i = 8 * SPP_X86_GDT_ENTRIES; i < SPP_LAYOUT_GDT_SIZE; i++)
		assert_int_equal(low[SPP_LAYOUT_GDT + i], 0);
	assert_int_equal(low[SPP_LAYOUT_GDT - 1], 0xEE);
	assert_int_equal(low[SPP_LAYOUT_GDT + SPP_LAYOUT_GDT_SIZE], 0xEE);

	/* Known-good encodings (the values every 64-bit VMM uses). */
	assert_int_equal(gdt[0], 0);
	assert_int_equal(gdt[SPP_X86_GDT_KCODE], 0x00AF9B000000FFFFULL);
	assert_int_equal(gdt[SPP_X86_GDT_KDATA], 0x00CF93000000FFFFULL);
	assert_int_equal(gdt[SPP_X86_GDT_UCODE32], 0x00CFFB000000FFFFULL);
	assert_int_equal(gdt[SPP_X86_GDT_UDATA], 0x00CFF3000000FFFFULL);
	assert_int_equal(gdt[SPP_X86_GDT_UCODE], 0x00AFFB000000FFFFULL);

	/* Every descriptor decodes back to its description. */
	for (i = 1; i < SPP_X86_GDT_ENTRIES; i++) {
		struct spp_x86_segment want, got;

		if (i > SPP_X86_GDT_TSS && (i - SPP_X86_GDT_TSS) % 2) {
			assert_int_equal(spp_x86_segment_get(i, &want),
					 -EINVAL);
			continue;
		}
		assert_int_equal(spp_x86_segment_get(i, &want), 0);
		decode(&gdt[i], &got);
		assert_int_equal(got.base, want.base);
		assert_int_equal(got.limit, want.limit);
		assert_int_equal(got.type, want.type);
		assert_int_equal(got.present, want.present);
		assert_int_equal(got.dpl, want.dpl);
		assert_int_equal(got.db, want.db);
		assert_int_equal(got.s, want.s);
		assert_int_equal(got.l, want.l);
		assert_int_equal(got.g, want.g);
		assert_int_equal(got.avl, want.avl);
		/* selector = index << 3 | DPL */
		assert_int_equal(want.selector, (i << 3) | want.dpl);
		assert_int_equal(want.unusable, 0);
	}

	/* The selector constants and the SYSCALL/SYSRET arithmetic. */
	assert_int_equal(SPP_X86_SEL_KCODE, SPP_X86_GDT_KCODE << 3);
	assert_int_equal(SPP_X86_SEL_KDATA, SPP_X86_SEL_KCODE + 8);
	assert_int_equal(SPP_X86_SEL_UDATA, SPP_X86_SEL_UCODE32 + 8);
	assert_int_equal(SPP_X86_SEL_UCODE, SPP_X86_SEL_UCODE32 + 16);
	assert_int_equal(SPP_X86_SEL_TSS, SPP_X86_GDT_TSS << 3);
	assert_int_equal(SPP_X86_STAR_INIT, 0x001B000800000000ULL);
	assert_int_equal(spp_x86_segment_get(0, NULL), -EINVAL);
	{
		struct spp_x86_segment s;

		assert_int_equal(spp_x86_segment_get(SPP_X86_GDT_NULL, &s),
				 -EINVAL);
		assert_int_equal(spp_x86_segment_get(SPP_X86_GDT_ENTRIES, &s),
				 -EINVAL);
		assert_int_equal(spp_x86_segment_get(SPP_X86_GDT_TSS, &s), 0);
		assert_int_equal(s.base, SPP_LAYOUT_TSS);
		assert_int_equal(s.limit, SPP_X86_TSS_LIMIT(0));
		assert_int_equal(s.selector, 0x30);
		assert_int_equal(s.type, SPP_X86_SEG_TYPE_TSS64_BUSY);
		assert_int_equal(s.s, 0);
		assert_int_equal(s.g, 0);
	}

	assert_int_equal(spp_x86_gdt_build(NULL, &gdtr), -EINVAL);
	assert_int_equal(spp_x86_gdt_build(&m, NULL), -EINVAL);
	spp_guest_mem_init(&m);
	assert_int_equal(spp_x86_gdt_build(&m, &gdtr), -EFAULT);
}

static void test_segment_to_desc(void **state)
{
	const struct spp_x86_segment ok = {
		.base = 0x12345678,
		.limit = 0xABCDE,
		.type = 5,
		.present = 1,
		.dpl = 2,
		.db = 1,
		.s = 1,
		.avl = 1,
	};
	struct spp_x86_segment s, got;
	uint64_t d[2] = { 0, 0 };

	(void)state;
	assert_int_equal(spp_x86_segment_to_desc(&ok, d), 1);
	decode(d, &got);
	assert_int_equal(got.base, ok.base);
	assert_int_equal(got.limit, ok.limit);
	assert_int_equal(got.type, ok.type);
	assert_int_equal(got.dpl, ok.dpl);
	assert_int_equal(got.avl, 1);

	/* 64-bit system segment base */
	s = (struct spp_x86_segment){ .base = 0x123456789ABCDEF0ULL,
				      .limit = 0x67,
				      .type = 9,
				      .present = 1 };
	assert_int_equal(spp_x86_segment_to_desc(&s, d), 2);
	decode(d, &got);
	assert_int_equal(got.base, s.base);
	assert_int_equal(got.limit, 0x67);
	assert_int_equal(d[1] >> 32, 0);

	s = ok;
	s.type = 16;
	assert_int_equal(spp_x86_segment_to_desc(&s, d), -EINVAL);
	s = ok;
	s.dpl = 4;
	assert_int_equal(spp_x86_segment_to_desc(&s, d), -EINVAL);
	s = ok;
	s.limit = 0x100000; /* needs g */
	assert_int_equal(spp_x86_segment_to_desc(&s, d), -EINVAL);
	s = ok;
	s.g = 1;
	s.limit = 0xFFFFF000; /* low bits not 0xFFF */
	assert_int_equal(spp_x86_segment_to_desc(&s, d), -EINVAL);
	s = ok;
	s.base = 1ULL << 32;
	assert_int_equal(spp_x86_segment_to_desc(&s, d), -EINVAL);
	s = ok;
	s.l = 1; /* with db */
	assert_int_equal(spp_x86_segment_to_desc(&s, d), -EINVAL);
	s = ok;
	s.present = 2;
	assert_int_equal(spp_x86_segment_to_desc(&s, d), -EINVAL);
	assert_int_equal(spp_x86_segment_to_desc(NULL, d), -EINVAL);
	assert_int_equal(spp_x86_segment_to_desc(&ok, NULL), -EINVAL);
}

static void test_tss(void **state)
{
	static unsigned char low[0x8000];
	const unsigned char *iomap = low + SPP_LAYOUT_IOMAP;
	struct spp_guest_mem m;
	unsigned int port, i;

	(void)state;
	memset(low, 0xEE, sizeof(low));
	spp_guest_mem_init(&m);
	assert_int_equal(spp_guest_mem_add(&m, 0, sizeof(low), low), 0);
	assert_int_equal(spp_x86_tss_build(&m), 0);
	for (i = 0; i < SPP_LAYOUT_MAX_VCPUS; i++) {
		const unsigned char *tss = low + SPP_LAYOUT_TSS_AT(i);
		struct spp_x86_segment seg;
		unsigned int base;

		assert_int_equal(get_le64(tss + SPP_X86_TSS_RSP0),
				 SPP_LAYOUT_RSP0_STACK_TOP(i));
		assert_int_equal(get_le64(tss + SPP_X86_TSS_IST1),
				 SPP_LAYOUT_IST1_STACK_TOP(i));
		assert_int_equal(get_le64(tss + 12), 0); /* RSP1 */
		assert_int_equal(get_le64(tss + 44), 0); /* IST2 */
		base = tss[SPP_X86_TSS_IOMAP_BASE] |
		       (tss[SPP_X86_TSS_IOMAP_BASE + 1] << 8);
		/* every TSS finds the one bitmap, within its limit */
		assert_ptr_equal(tss + base, iomap);
		assert_int_equal(
			spp_x86_segment_get(SPP_X86_GDT_TSS_AT(i), &seg), 0);
		assert_int_equal(seg.base, SPP_LAYOUT_TSS_AT(i));
		assert_int_equal(seg.selector, SPP_X86_SEL_TSS_AT(i));
		assert_int_equal(seg.limit, base + 8192);
		/* stacks: distinct per vCPU, 16-byte aligned, system area */
		assert_int_equal(SPP_LAYOUT_RSP0_STACK_TOP(i) % 16, 0);
		assert_true(SPP_LAYOUT_IST1_STACK_TOP(i) <= SPP_LAYOUT_SYS_END);
		if (i)
			assert_int_equal(
				SPP_LAYOUT_RSP0_STACK_TOP(i) -
					SPP_LAYOUT_RSP0_STACK_TOP(i - 1),
				SPP_LAYOUT_KSTACK_SIZE);
	}
	assert_true(SPP_LAYOUT_RSP0_STACK_TOP(SPP_LAYOUT_MAX_VCPUS - 1) <=
		    SPP_LAYOUT_IST1_STACKS);
	for (port = 0; port < 65536; port++) {
		int denied = (iomap[port / 8] >> (port % 8)) & 1;

		assert_int_equal(denied, port != SPP_LAYOUT_PORT_CONSOLE &&
						 port != SPP_LAYOUT_PORT_EXIT);
	}
	assert_int_equal(iomap[8192], 0xFF); /* terminating byte */
	/* nothing outside the TSS area */
	assert_int_equal(low[SPP_LAYOUT_TSS - 1], 0xEE);
	assert_int_equal(low[SPP_LAYOUT_TSS + SPP_LAYOUT_TSS_SIZE], 0xEE);
	assert_int_equal(SPP_LAYOUT_EXC_REPORT_AT(SPP_LAYOUT_MAX_VCPUS - 1) +
					 sizeof(struct spp_exc_report) <=
				 SPP_LAYOUT_EXC_REPORT +
					 SPP_LAYOUT_EXC_REPORT_SIZE,
			 1);

	assert_int_equal(spp_x86_tss_build(NULL), -EINVAL);
	spp_guest_mem_init(&m);
	assert_int_equal(spp_x86_tss_build(&m), -EFAULT);
}

static void test_register_constants(void **state)
{
	(void)state;
	assert_int_equal(SPP_X86_CR0_INIT, 0x80010033ULL);
	assert_int_equal(SPP_X86_CR0_INIT & SPP_X86_CR0_EM, 0);
	assert_int_equal(SPP_X86_CR4_INIT, 0x620ULL);
	assert_int_equal(
		SPP_X86_CR4_INIT & (SPP_X86_CR4_SMEP | SPP_X86_CR4_SMAP), 0);
	assert_int_equal(SPP_X86_EFER_INIT, 0x501ULL);
	assert_int_equal(SPP_X86_EFER_INIT & SPP_X86_EFER_NXE, 0);
	assert_int_equal(SPP_X86_RFLAGS_INIT, 0x3002ULL);
	assert_int_equal(SPP_X86_RFLAGS_INIT & SPP_X86_RFLAGS_IF, 0);
	assert_int_equal(SPP_X86_RFLAGS_IOPL(3), SPP_X86_RFLAGS_IOPL_MASK);
	assert_int_equal(SPP_X86_PTE_LEAF_USER, 0x67);
	assert_int_equal(SPP_X86_PTE_LEAF_SUPERVISOR, 0x63);
	assert_int_equal(SPP_X86_PTE_TABLE, 0x27);
	assert_int_equal(SPP_X86_PTE_LEAF_DOORBELL, 0x7F);
	assert_int_equal(SPP_LAYOUT_EXIT_STATUS(0), 1);
	assert_int_equal(SPP_LAYOUT_EXIT_STATUS(0x10), 0x21);
	assert_int_equal(offsetof(struct spp_exc_report, vector), 8);
	assert_int_equal(offsetof(struct spp_exc_report, rip), 24);
	assert_int_equal(offsetof(struct spp_exc_report, cr2), 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pt_sizes),
		cmocka_unit_test(test_pt_every_page),
		cmocka_unit_test(test_pt_sizes_walked),
		cmocka_unit_test(test_pt_errors),
		cmocka_unit_test(test_gdt),
		cmocka_unit_test(test_segment_to_desc),
		cmocka_unit_test(test_tss),
		cmocka_unit_test(test_register_constants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
