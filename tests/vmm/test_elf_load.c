// SPDX-License-Identifier: MIT
/*
 * test_elf_load.c - the static ELF loader (spp/elf_load.h): a valid image
 * built here, a real one built by meson (argv[1]), a table of malformed
 * variants with their documented errno, and random corruption. Every
 * failure must leave guest memory untouched (checked by checksum).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spp/elf_load.h>
#include <spp/layout.h>

#define RAM SPP_LAYOUT_RAM_MIN /* 16 MiB */
#define FILL 0xA5

static const char *real_elf_path;
static unsigned char *ram; /* host memory of guest RAM [0, RAM) */
static struct spp_guest_mem mem;

static uint64_t rng_state = 0x13198A2E03707344ULL;

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static uint64_t checksum(const unsigned char *p, size_t n)
{
	uint64_t h = 0xCBF29CE484222325ULL;
	const uint64_t *q = (const uint64_t *)p;
	size_t i;

	for (i = 0; i < n / 8; i++)
		h = (h ^ q[i]) * 0x100000001B3ULL;
	return h;
}

static int setup_ram(void **state)
{
	(void)state;
	ram = malloc(RAM);
	if (!ram)
		return -1;
	memset(ram, FILL, RAM);
	spp_guest_mem_init(&mem);
	return spp_guest_mem_add(&mem, 0, RAM, ram);
}

static int teardown_ram(void **state)
{
	(void)state;
	free(ram);
	ram = NULL;
	return 0;
}

/*
 * The hand-built image: ELF header, 4 program headers (text R E, data RW
 * with bss, GNU_STACK, NOTE), then the segment bytes.
 */
#define TEXT_GPA 0x400000ULL
#define TEXT_OFF 0x200
#define TEXT_LEN 0x40
#define DATA_GPA 0x401000ULL
#define DATA_OFF 0x240
#define DATA_LEN 0x20
#define DATA_MEM 0x1800
#define IMG_SIZE 0x260
#define NPH 4

struct image {
	unsigned char b[0x400];
	size_t size;
};

static Elf64_Ehdr *ehdr(struct image *im)
{
	return (Elf64_Ehdr *)im->b;
}

static Elf64_Phdr *phdr(struct image *im, unsigned int i)
{
	return (Elf64_Phdr *)(im->b + sizeof(Elf64_Ehdr)) + i;
}

static void build_valid(struct image *im)
{
	Elf64_Ehdr *eh = ehdr(im);
	unsigned int i;

	memset(im, 0, sizeof(*im));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = TEXT_GPA + 0x10;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = NPH;

	*phdr(im, 0) = (Elf64_Phdr){
		.p_type = PT_LOAD,
		.p_flags = PF_R | PF_X,
		.p_offset = TEXT_OFF,
		.p_vaddr = TEXT_GPA,
		.p_paddr = TEXT_GPA,
		.p_filesz = TEXT_LEN,
		.p_memsz = TEXT_LEN,
		.p_align = 0x1000,
	};
	*phdr(im, 1) = (Elf64_Phdr){
		.p_type = PT_LOAD,
		.p_flags = PF_R | PF_W,
		.p_offset = DATA_OFF,
		.p_vaddr = DATA_GPA,
		.p_paddr = DATA_GPA,
		.p_filesz = DATA_LEN,
		.p_memsz = DATA_MEM,
		.p_align = 0x1000,
	};
	*phdr(im, 2) =
		(Elf64_Phdr){ .p_type = PT_GNU_STACK, .p_flags = PF_R | PF_W };
	*phdr(im, 3) =
		(Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0, .p_filesz = 4 };
	for (i = 0; i < TEXT_LEN; i++)
		im->b[TEXT_OFF + i] = (unsigned char)(0x90 + i);
	for (i = 0; i < DATA_LEN; i++)
		im->b[DATA_OFF + i] = (unsigned char)(0x30 + i);
	im->size = IMG_SIZE;
}

static void test_valid_image(void **state)
{
	struct spp_elf_info info;
	struct image im;
	unsigned int i;

	(void)state;
	build_valid(&im);
	memset(ram, FILL, RAM);
	assert_int_equal(spp_elf_load(&mem, RAM, im.b, im.size, &info), 0);
	assert_int_equal(info.entry, TEXT_GPA + 0x10);
	assert_int_equal(info.lowest, TEXT_GPA);
	assert_int_equal(info.end, DATA_GPA + DATA_MEM);
	assert_int_equal(info.nsegments, 2);
	assert_memory_equal(ram + TEXT_GPA, im.b + TEXT_OFF, TEXT_LEN);
	assert_memory_equal(ram + DATA_GPA, im.b + DATA_OFF, DATA_LEN);
	for (i = DATA_LEN; i < DATA_MEM; i++)
		assert_int_equal(ram[DATA_GPA + i], 0); /* bss zeroed */
	/* bytes around and between segments untouched */
	assert_int_equal(ram[TEXT_GPA - 1], FILL);
	assert_int_equal(ram[TEXT_GPA + TEXT_LEN], FILL);
	assert_int_equal(ram[DATA_GPA - 1], FILL);
	assert_int_equal(ram[DATA_GPA + DATA_MEM], FILL);
	for (i = 0; i < SPP_LAYOUT_LOAD_BASE; i += 4096)
		assert_int_equal(ram[i], FILL);
}

static void test_valid_variants(void **state)
{
	struct spp_elf_info info;
	struct image im;

	(void)state;
	/* Segment ending exactly at the page tables; entry at its last byte. */
	build_valid(&im);
	phdr(&im, 0)->p_paddr = phdr(&im, 0)->p_vaddr =
		spp_layout_pt_base(RAM) - TEXT_LEN;
	ehdr(&im)->e_entry = spp_layout_pt_base(RAM) - 1;
	assert_int_equal(spp_elf_load(&mem, RAM, im.b, im.size, &info), 0);
	assert_int_equal(info.end, spp_layout_pt_base(RAM));
	assert_int_equal(info.lowest, DATA_GPA);

	/* Segment starting exactly at the load base, p_memsz 0 ignored,
	 * a zero-filesz (pure bss) segment. */
	build_valid(&im);
	phdr(&im, 2)->p_type = PT_LOAD;
	phdr(&im, 2)->p_vaddr = phdr(&im, 2)->p_paddr = 0x100;
	phdr(&im, 1)->p_filesz = 0;
	memset(ram + DATA_GPA, FILL, DATA_MEM);
	assert_int_equal(spp_elf_load(&mem, RAM, im.b, im.size, &info), 0);
	assert_int_equal(info.nsegments, 2);
	assert_int_equal(ram[DATA_GPA], 0);
	assert_int_equal(ram[0x100], FILL);

	/* A bigger RAM moves the page tables and the window's end. */
	build_valid(&im);
	assert_int_equal(spp_elf_load(&mem, 2 * RAM, im.b, im.size, &info), 0);
}

struct variant {
	const char *name;
	void (*mutate)(struct image *im);
	int err;
};

static void m_trunc_header(struct image *im)
{
	im->size = sizeof(Elf64_Ehdr) - 1;
}

static void m_empty(struct image *im)
{
	im->size = 0;
}

static void m_bad_magic(struct image *im)
{
	im->b[1] = 'F';
}

static void m_class32(struct image *im)
{
	im->b[EI_CLASS] = ELFCLASS32;
}

static void m_big_endian(struct image *im)
{
	im->b[EI_DATA] = ELFDATA2MSB;
}

static void m_ident_version(struct image *im)
{
	im->b[EI_VERSION] = 0;
}

static void m_version(struct image *im)
{
	ehdr(im)->e_version = 2;
}

static void m_machine_386(struct image *im)
{
	ehdr(im)->e_machine = EM_386;
}

static void m_machine_arm(struct image *im)
{
	ehdr(im)->e_machine = EM_AARCH64;
}

static void m_dyn(struct image *im)
{
	ehdr(im)->e_type = ET_DYN;
}

static void m_rel(struct image *im)
{
	ehdr(im)->e_type = ET_REL;
}

static void m_core(struct image *im)
{
	ehdr(im)->e_type = ET_CORE;
}

static void m_phoff_past_eof(struct image *im)
{
	ehdr(im)->e_phoff = im->size + 8;
}

static void m_phoff_overflow(struct image *im)
{
	ehdr(im)->e_phoff = UINT64_MAX - 8;
}

static void m_phnum_phentsize_overflow(struct image *im)
{
	ehdr(im)->e_phnum = 0xFFFE;
	ehdr(im)->e_phentsize = 0xFFFF;
}

static void m_phentsize_small(struct image *im)
{
	ehdr(im)->e_phentsize = 32;
}

static void m_phnum_zero(struct image *im)
{
	ehdr(im)->e_phnum = 0;
}

static void m_phnum_xnum(struct image *im)
{
	ehdr(im)->e_phnum = PN_XNUM;
}

static void m_phdrs_truncated(struct image *im)
{
	im->size = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) + 10;
}

static void m_filesz_past_eof(struct image *im)
{
	phdr(im, 1)->p_filesz = im->size - DATA_OFF + 1;
}

static void m_offset_past_eof(struct image *im)
{
	phdr(im, 0)->p_offset = im->size;
}

static void m_offset_overflow(struct image *im)
{
	phdr(im, 1)->p_offset = UINT64_MAX - 4;
}

static void m_filesz_gt_memsz(struct image *im)
{
	phdr(im, 1)->p_memsz = DATA_LEN - 1;
}

static void m_filesz_memsz_zero(struct image *im)
{
	phdr(im, 1)->p_memsz = 0;
}

static void set_gpa(struct image *im, unsigned int i, uint64_t gpa)
{
	phdr(im, i)->p_vaddr = phdr(im, i)->p_paddr = gpa;
}

static void m_outside_ram(struct image *im)
{
	set_gpa(im, 1, RAM);
}

static void m_far_outside_ram(struct image *im)
{
	set_gpa(im, 1, 1ULL << 40);
}

static void m_crossing_ram_end(struct image *im)
{
	set_gpa(im, 1, RAM - 0x10);
}

static void m_in_page_tables(struct image *im)
{
	set_gpa(im, 1, spp_layout_pt_base(RAM));
}

static void m_into_page_tables(struct image *im)
{
	set_gpa(im, 1, spp_layout_pt_base(RAM) - 0x10);
}

static void m_in_low_area(struct image *im)
{
	set_gpa(im, 1, SPP_LAYOUT_GDT);
}

static void m_at_zero(struct image *im)
{
	set_gpa(im, 1, 0);
}

static void m_into_load_base(struct image *im)
{
	/* [0x3FFFF0, +DATA_MEM): starts in the low area */
	set_gpa(im, 1, SPP_LAYOUT_LOAD_BASE - 0x10);
}

static void m_shared_area(struct image *im)
{
	set_gpa(im, 1, SPP_LAYOUT_SHARED);
}

static void m_paddr_ne_vaddr(struct image *im)
{
	phdr(im, 1)->p_vaddr = 0xFFFFFFFF80000000ULL + DATA_GPA;
}

static void m_paddr_overflow(struct image *im)
{
	set_gpa(im, 1, UINT64_MAX - 0x10);
}

static void m_entry_outside(struct image *im)
{
	ehdr(im)->e_entry = TEXT_GPA + TEXT_LEN; /* one past the end */
}

static void m_entry_before(struct image *im)
{
	ehdr(im)->e_entry = TEXT_GPA - 1;
}

static void m_entry_in_data(struct image *im)
{
	ehdr(im)->e_entry = DATA_GPA + 4; /* loaded, but not PF_X */
}

static void m_entry_zero(struct image *im)
{
	ehdr(im)->e_entry = 0;
}

static void m_overlap(struct image *im)
{
	set_gpa(im, 1, TEXT_GPA + TEXT_LEN - 1);
}

static void m_overlap_contained(struct image *im)
{
	set_gpa(im, 0, DATA_GPA + 0x100);
}

static void m_interp(struct image *im)
{
	phdr(im, 3)->p_type = PT_INTERP;
}

static void m_dynamic(struct image *im)
{
	phdr(im, 2)->p_type = PT_DYNAMIC;
}

static void m_no_load(struct image *im)
{
	phdr(im, 0)->p_type = PT_NOTE;
	phdr(im, 1)->p_type = PT_NULL;
}

static const struct variant variants[] = {
	{ "truncated header", m_trunc_header, -ENOEXEC },
	{ "empty file", m_empty, -ENOEXEC },
	{ "bad magic", m_bad_magic, -ENOEXEC },
	{ "32-bit class", m_class32, -ENOEXEC },
	{ "big-endian", m_big_endian, -ENOEXEC },
	{ "e_ident version", m_ident_version, -ENOEXEC },
	{ "e_version", m_version, -ENOEXEC },
	{ "machine i386", m_machine_386, -ENOEXEC },
	{ "machine aarch64", m_machine_arm, -ENOEXEC },
	{ "ET_DYN (PIE)", m_dyn, -EINVAL },
	{ "ET_REL", m_rel, -ENOEXEC },
	{ "ET_CORE", m_core, -ENOEXEC },
	{ "phoff past EOF", m_phoff_past_eof, -EBADMSG },
	{ "phoff overflow", m_phoff_overflow, -EBADMSG },
	{ "phnum*phentsize overflow", m_phnum_phentsize_overflow, -EBADMSG },
	{ "phentsize 32", m_phentsize_small, -EBADMSG },
	{ "phnum 0", m_phnum_zero, -EBADMSG },
	{ "phnum PN_XNUM", m_phnum_xnum, -EBADMSG },
	{ "program headers truncated", m_phdrs_truncated, -EBADMSG },
	{ "p_offset+p_filesz past EOF", m_filesz_past_eof, -EBADMSG },
	{ "p_offset at EOF", m_offset_past_eof, -EBADMSG },
	{ "p_offset overflow", m_offset_overflow, -EBADMSG },
	{ "filesz > memsz", m_filesz_gt_memsz, -EBADMSG },
	{ "filesz > memsz = 0", m_filesz_memsz_zero, -EBADMSG },
	{ "segment outside RAM", m_outside_ram, -ERANGE },
	{ "segment far outside RAM", m_far_outside_ram, -ERANGE },
	{ "segment crossing RAM end", m_crossing_ram_end, -ERANGE },
	{ "segment in page tables", m_in_page_tables, -ERANGE },
	{ "segment into page tables", m_into_page_tables, -ERANGE },
	{ "segment in spp area (GDT)", m_in_low_area, -ERANGE },
	{ "segment at GPA 0", m_at_zero, -ERANGE },
	{ "segment into load base", m_into_load_base, -ERANGE },
	{ "segment in shared area", m_shared_area, -ERANGE },
	{ "p_paddr != p_vaddr", m_paddr_ne_vaddr, -ERANGE },
	{ "p_paddr + p_memsz overflow", m_paddr_overflow, -ERANGE },
	{ "entry past segment", m_entry_outside, -EBADMSG },
	{ "entry before segment", m_entry_before, -EBADMSG },
	{ "entry in data segment", m_entry_in_data, -EBADMSG },
	{ "entry 0", m_entry_zero, -EBADMSG },
	{ "overlapping segments", m_overlap, -EBADMSG },
	{ "contained segment", m_overlap_contained, -EBADMSG },
	{ "PT_INTERP", m_interp, -EINVAL },
	{ "PT_DYNAMIC", m_dynamic, -EINVAL },
	{ "no PT_LOAD", m_no_load, -EBADMSG },
};

static void test_malformed_table(void **state)
{
	const struct spp_elf_info sentinel = { 1, 2, 3, 4 };
	uint64_t before;
	size_t i;

	(void)state;
	memset(ram, FILL, RAM);
	before = checksum(ram, RAM);
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		struct spp_elf_info info = sentinel;
		struct image im;
		int ret;

		build_valid(&im);
		variants[i].mutate(&im);
		ret = spp_elf_load(&mem, RAM, im.b, im.size, &info);
		if (ret != variants[i].err)
			fail_msg("%s: got %d, want %d", variants[i].name, ret,
				 variants[i].err);
		assert_memory_equal(&info, &sentinel, sizeof(info));
		if (checksum(ram, RAM) != before)
			fail_msg("%s: guest memory changed", variants[i].name);
	}
}

/* The first segment is fine; the second fails last: still nothing written. */
static void test_all_or_nothing(void **state)
{
	struct spp_elf_info info;
	struct spp_guest_mem half;
	struct image im;
	uint64_t before;

	(void)state;
	memset(ram, FILL, RAM);
	before = checksum(ram, RAM);

	/* -EFAULT: the window is valid but the second segment is unbacked. */
	spp_guest_mem_init(&half);
	assert_int_equal(spp_guest_mem_add(&half, 0, 8 << 20, ram), 0);
	build_valid(&im);
	set_gpa(&im, 1, 12 << 20);
	assert_int_equal(spp_elf_load(&half, RAM, im.b, im.size, &info),
			 -EFAULT);
	/* straddling two regions is unbacked too */
	assert_int_equal(
		spp_guest_mem_add(&half, 8 << 20, 8 << 20, ram + (8 << 20)), 0);
	set_gpa(&im, 1, (8 << 20) - 0x10);
	assert_int_equal(spp_elf_load(&half, RAM, im.b, im.size, &info),
			 -EFAULT);
	assert_int_equal(checksum(ram, RAM), before);

	/* Arguments. */
	build_valid(&im);
	assert_int_equal(spp_elf_load(NULL, RAM, im.b, im.size, &info),
			 -EINVAL);
	assert_int_equal(spp_elf_load(&mem, RAM, NULL, im.size, &info),
			 -EINVAL);
	assert_int_equal(spp_elf_load(&mem, RAM, im.b, im.size, NULL), -EINVAL);
	assert_int_equal(spp_elf_load(&mem, 0, im.b, im.size, &info), -EINVAL);
	assert_int_equal(spp_elf_load(&mem, RAM + 4096, im.b, im.size, &info),
			 -EINVAL);
	assert_int_equal(checksum(ram, RAM), before);
}

static void test_too_many_segments(void **state)
{
	const unsigned int n = SPP_ELF_MAX_SEGMENTS + 1;
	size_t size = sizeof(Elf64_Ehdr) + n * sizeof(Elf64_Phdr) + 16;
	struct spp_elf_info info;
	unsigned char *img = calloc(1, size);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	uint64_t before;
	unsigned int i;

	(void)state;
	assert_non_null(img);
	memset(ram, FILL, RAM);
	before = checksum(ram, RAM);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = TEXT_GPA;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = (Elf64_Half)n;
	for (i = 0; i < n; i++)
		ph[i] = (Elf64_Phdr){
			.p_type = PT_LOAD,
			.p_flags = PF_R | PF_X,
			.p_offset = size - 16,
			.p_filesz = 16,
			.p_memsz = 16,
			.p_vaddr = TEXT_GPA + 0x1000 * i,
			.p_paddr = TEXT_GPA + 0x1000 * i,
		};
	assert_int_equal(spp_elf_load(&mem, RAM, img, size, &info), -E2BIG);
	assert_int_equal(checksum(ram, RAM), before);
	/* exactly the maximum is fine */
	eh->e_phnum = (Elf64_Half)(n - 1);
	assert_int_equal(spp_elf_load(&mem, RAM, img, size, &info), 0);
	assert_int_equal(info.nsegments, SPP_ELF_MAX_SEGMENTS);
	free(img);
}

/*
 * Random corruption of the headers: never a crash or an out-of-bounds
 * read (ASan run), and a failed load changes nothing. A small backing
 * window keeps the checksum cheap.
 */
static void test_random_corruption(void **state)
{
	static unsigned char win[0x4000];
	struct spp_guest_mem small;
	int k, ok = 0;

	(void)state;
	spp_guest_mem_init(&small);
	assert_int_equal(spp_guest_mem_add(&small, TEXT_GPA, sizeof(win), win),
			 0);
	memset(win, FILL, sizeof(win));
	for (k = 0; k < 20000; k++) {
		struct spp_elf_info info;
		struct image im;
		uint64_t before;
		int j, flips, ret;
		unsigned char *copy;

		build_valid(&im);
		flips = 1 + (int)(rng_next() % 4);
		for (j = 0; j < flips; j++) {
			size_t at = rng_next() % (sizeof(Elf64_Ehdr) +
						  NPH * sizeof(Elf64_Phdr));
			im.b[at] = (unsigned char)rng_next();
		}
		if (!(k % 7))
			im.size = rng_next() % (IMG_SIZE + 1);
		/* exact-size heap copy so ASan sees any over-read */
		copy = malloc(im.size ? im.size : 1);
		assert_non_null(copy);
		memcpy(copy, im.b, im.size);
		before = checksum(win, sizeof(win));
		ret = spp_elf_load(&small, RAM, copy, im.size, &info);
		free(copy);
		assert_true(ret == 0 || ret == -EINVAL || ret == -ENOEXEC ||
			    ret == -EBADMSG || ret == -ERANGE ||
			    ret == -EFAULT || ret == -E2BIG);
		if (ret) {
			assert_int_equal(checksum(win, sizeof(win)), before);
		} else {
			ok++;
			assert_true(info.lowest >= TEXT_GPA &&
				    info.end <= TEXT_GPA + sizeof(win));
			memset(win, FILL, sizeof(win));
		}
	}
	assert_true(ok > 0); /* some flips hit harmless bytes */
}

static unsigned char *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		p = malloc((size_t)n);
		if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		}
		*size = (size_t)n;
	}
	fclose(f);
	return p;
}

/* The guest built by meson from guest_hello.c. */
static void test_real_elf(void **state)
{
	struct spp_elf_info info;
	const Elf64_Ehdr *eh;
	unsigned char *img;
	size_t size = 0;
	unsigned int i, seen = 0;
	uint64_t bss_lo = 0, bss_hi = 0;

	(void)state;
	if (!real_elf_path)
		skip();
	img = read_file(real_elf_path, &size);
	assert_non_null(img);
	eh = (const Elf64_Ehdr *)img;
	memset(ram, FILL, RAM);
	assert_int_equal(spp_elf_load(&mem, RAM, img, size, &info), 0);
	assert_int_equal(info.entry, eh->e_entry);
	assert_true(info.lowest >= SPP_LAYOUT_LOAD_BASE);
	assert_true(info.end <= SPP_LAYOUT_LOAD_BASE + 0x100000);
	assert_true(info.nsegments >= 2);

	for (i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph =
			(const Elf64_Phdr *)(img + eh->e_phoff) + i;
		uint64_t j;

		if (ph->p_type != PT_LOAD || !ph->p_memsz)
			continue;
		seen++;
		assert_memory_equal(ram + ph->p_paddr, img + ph->p_offset,
				    ph->p_filesz);
		for (j = ph->p_filesz; j < ph->p_memsz; j++)
			assert_int_equal(ram[ph->p_paddr + j], 0);
		if (ph->p_memsz > ph->p_filesz + 4096) {
			bss_lo = ph->p_paddr + ph->p_filesz;
			bss_hi = ph->p_paddr + ph->p_memsz;
		}
		if (ph->p_flags & PF_X)
			assert_true(eh->e_entry >= ph->p_paddr &&
				    eh->e_entry < ph->p_paddr + ph->p_memsz);
	}
	assert_int_equal(seen, info.nsegments);
	assert_true(bss_hi - bss_lo >= 8192); /* guest_bss[8192] */
	/* The entry point holds code: the first outb's "mov $imm, %al"
	 * or similar, not fill. */
	assert_int_not_equal(ram[info.entry], FILL);
	/* "hello\n" made it into guest memory (rodata). */
	assert_non_null(memmem(ram + info.lowest, info.end - info.lowest,
			       "hello\n", 6));
	/* Nothing below the load base was written. */
	for (i = 0; i < SPP_LAYOUT_LOAD_BASE; i += 512)
		assert_int_equal(ram[i], FILL);

	/* A prefix of the real file is refused cleanly. */
	memset(ram, FILL, RAM);
	{
		uint64_t before = checksum(ram, RAM);
		int ret = spp_elf_load(&mem, RAM, img, size / 2, &info);

		assert_int_equal(ret, -EBADMSG);
		assert_int_equal(checksum(ram, RAM), before);
	}
	free(img);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_image),
		cmocka_unit_test(test_valid_variants),
		cmocka_unit_test(test_malformed_table),
		cmocka_unit_test(test_all_or_nothing),
		cmocka_unit_test(test_too_many_segments),
		cmocka_unit_test(test_random_corruption),
		cmocka_unit_test(test_real_elf),
	};

	if (argc > 1)
		real_elf_path = argv[1];
	return cmocka_run_group_tests(tests, setup_ram, teardown_ram);
}
