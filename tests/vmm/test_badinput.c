// SPDX-License-Identifier: MIT
/*
 * test_badinput.c - every public function of spp/guest_mem.h,
 * elf_load.h, exc.h and x86.h fed NULL, overflowing ranges, unaligned or
 * out-of-range values: a negative errno (or the documented neutral value),
 * no crash, and guest memory, output buffers and the region list as
 * before. No KVM needed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <spp/elf_load.h>
#include <spp/exc.h>
#include <spp/guest_mem.h>
#include <spp/layout.h>
#include <spp/x86.h>

#define RAM SPP_LAYOUT_RAM_MIN

struct fx {
	struct spp_guest_mem m, copy;
	uint8_t *ram, *orig;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ram = malloc(RAM);
	f->orig = malloc(RAM);
	assert_non_null(f->ram);
	assert_non_null(f->orig);
	memset(f->ram, 0xC3, RAM);
	memcpy(f->orig, f->ram, RAM);
	spp_guest_mem_init(&f->m);
	assert_int_equal(spp_guest_mem_add(&f->m, 0, RAM, f->ram), 0);
	f->copy = f->m;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	free(f->ram);
	free(f->orig);
	free(f);
	return 0;
}

static void assert_unchanged(struct fx *f)
{
	assert_memory_equal(&f->m, &f->copy, sizeof(f->m));
	if (memcmp(f->ram, f->orig, RAM))
		fail_msg("guest memory changed");
}

static void test_guest_mem_bad(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16], orig[16];
	struct spp_guest_mem full;
	unsigned int i;

	memset(buf, 0x5A, sizeof(buf));
	memcpy(orig, buf, sizeof(buf));
	spp_guest_mem_init(NULL);
	assert_int_equal(spp_guest_mem_add(NULL, RAM, 4096, buf), -EINVAL);
	assert_int_equal(spp_guest_mem_add(&f->m, RAM, 4096, NULL), -EINVAL);
	assert_int_equal(spp_guest_mem_add(&f->m, RAM, 0, buf), -EINVAL);
	assert_int_equal(spp_guest_mem_add(&f->m, UINT64_MAX, 2, buf), -EINVAL);
	assert_int_equal(spp_guest_mem_add(&f->m, RAM - 1, 2, buf), -EEXIST);
	assert_int_equal(spp_guest_mem_remove(NULL, 0, RAM), -EINVAL);
	assert_int_equal(spp_guest_mem_remove(&f->m, 0, RAM - 1), -ENOENT);
	assert_int_equal(spp_guest_mem_remove(&f->m, 1, RAM), -ENOENT);
	assert_null(spp_guest_mem_find(NULL, 0));
	assert_null(spp_guest_mem_find(&f->m, RAM));
	assert_null(spp_guest_mem_find(&f->m, UINT64_MAX));
	assert_null(spp_guest_mem_ptr(NULL, 0, 1));
	assert_null(spp_guest_mem_ptr(&f->m, 0, 0));
	assert_null(spp_guest_mem_ptr(&f->m, RAM - 1, 2));
	assert_null(spp_guest_mem_ptr(&f->m, 8, UINT64_MAX));
	assert_null(spp_guest_mem_ptr(&f->m, UINT64_MAX, 2));
	assert_int_equal(spp_guest_mem_read(NULL, 0, buf, 1), -EINVAL);
	assert_int_equal(spp_guest_mem_read(&f->m, 0, NULL, 1), -EINVAL);
	assert_int_equal(spp_guest_mem_read(&f->m, RAM - 8, buf, 16), -EFAULT);
	assert_int_equal(spp_guest_mem_read(&f->m, UINT64_MAX - 4, buf, 16),
			 -EFAULT);
	assert_int_equal(spp_guest_mem_read(&f->m, 0, buf, SIZE_MAX), -EFAULT);
	assert_memory_equal(buf, orig, sizeof(buf));
	assert_int_equal(spp_guest_mem_write(NULL, 0, buf, 1), -EINVAL);
	assert_int_equal(spp_guest_mem_write(&f->m, 0, NULL, 1), -EINVAL);
	assert_int_equal(spp_guest_mem_write(&f->m, RAM - 8, buf, 16), -EFAULT);
	assert_int_equal(spp_guest_mem_write(&f->m, UINT64_MAX - 4, buf, 16),
			 -EFAULT);
	assert_int_equal(spp_guest_mem_fill(NULL, 0, 0, 1), -EINVAL);
	assert_int_equal(spp_guest_mem_fill(&f->m, RAM - 8, 0, 16), -EFAULT);
	assert_int_equal(spp_guest_mem_fill(&f->m, 0, 0, SIZE_MAX), -EFAULT);
	/* a full list refuses one more */
	spp_guest_mem_init(&full);
	for (i = 0; i < SPP_GUEST_MEM_MAX_REGIONS; i++)
		assert_int_equal(
			spp_guest_mem_add(&full, 4096ULL * i, 4096, f->ram), 0);
	assert_int_equal(spp_guest_mem_add(&full, 1ULL << 40, 4096, f->ram),
			 -ENOSPC);
	assert_int_equal(full.nregions, SPP_GUEST_MEM_MAX_REGIONS);
	assert_unchanged(f);
}

static void test_elf_load_bad(void **state)
{
	struct fx *f = *state;
	struct spp_elf_info info, orig;
	static const uint8_t junk[64] = { 0x7f, 'E', 'L', 'F' };

	memset(&info, 0x5A, sizeof(info));
	orig = info;
	assert_int_equal(spp_elf_load(NULL, RAM, junk, sizeof(junk), &info),
			 -EINVAL);
	assert_int_equal(spp_elf_load(&f->m, RAM, NULL, 64, &info), -EINVAL);
	assert_int_equal(spp_elf_load(&f->m, RAM, junk, sizeof(junk), NULL),
			 -EINVAL);
	assert_int_equal(spp_elf_load(&f->m, 0, junk, sizeof(junk), &info),
			 -EINVAL);
	assert_int_equal(spp_elf_load(&f->m, RAM + 4096, junk, sizeof(junk),
				      &info),
			 -EINVAL);
	assert_int_equal(spp_elf_load(&f->m, UINT64_MAX, junk, sizeof(junk),
				      &info),
			 -EINVAL);
	assert_int_equal(spp_elf_load(&f->m, RAM, junk, 0, &info), -ENOEXEC);
	assert_int_equal(spp_elf_load(&f->m, RAM, junk, sizeof(junk), &info),
			 -ENOEXEC);
	assert_memory_equal(&info, &orig, sizeof(info));
	assert_unchanged(f);
}

static void test_exc_bad(void **state)
{
	struct fx *f = *state;
	struct spp_x86_dtable idtr = { 0x5A5A, 0x5A5A };
	struct spp_exc_report r, orig;
	struct spp_guest_mem empty;
	char buf[8] = "xxxxxxx";

	memset(&r, 0x5A, sizeof(r));
	orig = r;
	assert_false(spp_exc_has_error_code(UINT32_MAX));
	assert_false(spp_exc_has_error_code(32));
	assert_int_equal(spp_exc_ist(UINT32_MAX), 0);
	assert_int_equal(spp_exc_stub_gpa(SPP_EXC_VECTORS), 0);
	assert_int_equal(spp_exc_stub_gpa(UINT32_MAX), 0);
	assert_non_null(spp_exc_blob(NULL));
	assert_int_equal(spp_exc_install(NULL, &idtr), -EINVAL);
	assert_int_equal(spp_exc_install(&f->m, NULL), -EINVAL);
	spp_guest_mem_init(&empty);
	assert_int_equal(spp_exc_install(&empty, &idtr), -EFAULT);
	assert_int_equal(idtr.base, 0x5A5A);
	assert_int_equal(spp_exc_report_gpa(SPP_LAYOUT_MAX_VCPUS), 0);
	assert_int_equal(spp_exc_report_gpa(UINT32_MAX), 0);
	assert_int_equal(spp_exc_report_take(NULL, spp_exc_report_gpa(0), &r),
			 -EINVAL);
	assert_int_equal(spp_exc_report_take(&f->m, spp_exc_report_gpa(0),
					     NULL),
			 -EINVAL);
	assert_int_equal(spp_exc_report_take(&f->m, spp_exc_report_gpa(0) + 8,
					     &r),
			 -EINVAL);
	assert_int_equal(spp_exc_report_take(&f->m, 0, &r), -EINVAL);
	assert_int_equal(spp_exc_report_take(&f->m, UINT64_MAX, &r), -EINVAL);
	assert_int_equal(spp_exc_report_take(
				 &f->m,
				 SPP_LAYOUT_EXC_REPORT_AT(SPP_LAYOUT_MAX_VCPUS),
				 &r),
			 -EINVAL);
	assert_int_equal(spp_exc_report_take(&empty, spp_exc_report_gpa(0), &r),
			 -EFAULT);
	assert_memory_equal(&r, &orig, sizeof(r));
	assert_non_null(spp_exc_name(UINT32_MAX));
	assert_int_equal(spp_exc_format(NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(spp_exc_format(&r, NULL, 8), -EINVAL);
	assert_string_equal(buf, "xxxxxxx");
	/* NULL with size 0 measures; a huge vector is formatted, not indexed */
	r.vector = UINT64_MAX;
	assert_true(spp_exc_format(&r, NULL, 0) > 0);
	assert_true(spp_exc_format(&r, buf, sizeof(buf)) > 0);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_unchanged(f);
}

static void test_x86_bad(void **state)
{
	struct fx *f = *state;
	struct spp_x86_segment seg, bad;
	struct spp_x86_dtable dt = { 0x5A5A, 0x5A5A };
	struct spp_guest_mem empty;
	uint64_t desc[2] = { 0x5A, 0x5A }, cr3 = 0x5A;

	assert_int_equal(spp_x86_segment_get(SPP_X86_GDT_KCODE, NULL), -EINVAL);
	assert_int_equal(spp_x86_segment_get(SPP_X86_GDT_NULL, &seg), -EINVAL);
	assert_int_equal(spp_x86_segment_get(SPP_X86_GDT_TSS_AT(0) + 1, &seg),
			 -EINVAL);
	assert_int_equal(spp_x86_segment_get(SPP_X86_GDT_ENTRIES, &seg),
			 -EINVAL);
	assert_int_equal(spp_x86_segment_get(UINT32_MAX, &seg), -EINVAL);
	assert_int_equal(spp_x86_segment_get(SPP_X86_GDT_KCODE, &seg), 0);
	assert_int_equal(spp_x86_segment_to_desc(NULL, desc), -EINVAL);
	assert_int_equal(spp_x86_segment_to_desc(&seg, NULL), -EINVAL);
	bad = seg;
	bad.type = 16;
	assert_int_equal(spp_x86_segment_to_desc(&bad, desc), -EINVAL);
	bad = seg;
	bad.dpl = 4;
	assert_int_equal(spp_x86_segment_to_desc(&bad, desc), -EINVAL);
	bad = seg;
	bad.l = 1;
	bad.db = 1;
	assert_int_equal(spp_x86_segment_to_desc(&bad, desc), -EINVAL);
	bad = seg;
	bad.g = 0;
	bad.limit = 0x100000;
	assert_int_equal(spp_x86_segment_to_desc(&bad, desc), -EINVAL);
	bad = seg;
	bad.base = 1ULL << 32;
	assert_int_equal(spp_x86_segment_to_desc(&bad, desc), -EINVAL);
	assert_int_equal(desc[0], 0x5A);
	assert_int_equal(desc[1], 0x5A);
	spp_guest_mem_init(&empty);
	assert_int_equal(spp_x86_gdt_build(NULL, &dt), -EINVAL);
	assert_int_equal(spp_x86_gdt_build(&f->m, NULL), -EINVAL);
	assert_int_equal(spp_x86_gdt_build(&empty, &dt), -EFAULT);
	assert_int_equal(dt.base, 0x5A5A);
	assert_int_equal(spp_x86_tss_build(NULL), -EINVAL);
	assert_int_equal(spp_x86_tss_build(&empty), -EFAULT);
	assert_int_equal(spp_x86_pt_build(NULL, RAM, &cr3), -EINVAL);
	assert_int_equal(spp_x86_pt_build(&f->m, RAM, NULL), -EINVAL);
	assert_int_equal(spp_x86_pt_build(&f->m, RAM + 4096, &cr3), -EINVAL);
	assert_int_equal(spp_x86_pt_build(&f->m, UINT64_MAX, &cr3), -EINVAL);
	assert_int_equal(spp_x86_pt_build(&f->m, 2 * RAM, &cr3), -EFAULT);
	assert_int_equal(spp_x86_pt_build(&empty, RAM, &cr3), -EFAULT);
	assert_int_equal(cr3, 0x5A);
	assert_unchanged(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_guest_mem_bad, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_elf_load_bad, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_exc_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_x86_bad, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
