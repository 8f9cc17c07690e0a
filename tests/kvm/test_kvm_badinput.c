// SPDX-License-Identifier: MIT
/*
 * test_kvm_badinput.c - the public functions of spp/guard.h and spp/vm.h
 * fed NULL, overflowing ranges, unaligned addresses, huge page counts,
 * unknown flags and policies: a negative errno (or the documented neutral
 * value), no crash, and nothing changed - maps, RAM, memslots (guard
 * statistics) and output buffers as before. Real KVM: a guard on a raw VM
 * with one RAM region, and a built-in VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <cmocka.h>

#include <spp/spp.h>
#include <spp/guard.h>
#include <spp/guest_mem.h>
#include <spp/vm.h>

#include "kvm_test.h"

#define RAM_GPA 0x100000ULL
#define RAM_SIZE 0x200000ULL /* gfns 0x100 .. 0x2ff */
#define GFN 0x180ULL
#define MAP 0x00FF00FFu
#define VMM_SLOT 0

static const char *guest_hello;

struct fx {
	int kvm, vm;
	void *ram;
	struct spp_guard *g;
	struct spp_guard_stats st;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	spp_kt_guarded_vm(&f->kvm, &f->vm, &f->ram, &f->g, VMM_SLOT, RAM_GPA,
			  RAM_SIZE);
	assert_int_equal(spp_guard_set_range(f->g, GFN, 2, MAP), 0);
	spp_guard_stats(f->g, &f->st);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	spp_kt_guarded_vm_free(f->kvm, f->vm, f->ram, f->g, RAM_SIZE);
	free(f);
	return 0;
}

static void assert_unchanged(struct fx *f)
{
	struct spp_guard_stats st;
	uint64_t g;

	spp_guard_stats(f->g, &st);
	assert_int_equal(st.slots, f->st.slots);
	assert_int_equal(st.ro_slots, f->st.ro_slots);
	assert_int_equal(st.trapped_pages, f->st.trapped_pages);
	assert_int_equal(st.slot_changes, f->st.slot_changes);
	assert_int_equal(spp_access_count(spp_guard_access(f->g)), 2);
	for (g = GFN - 1; g < GFN + 3; g++)
		assert_int_equal(spp_guard_lookup(f->g, g),
				 g == GFN || g == GFN + 1 ? MAP :
							    SPP_ACCESS_FULL);
	assert_true(spp_access_is_ram(spp_guard_access(f->g), RAM_GPA >> 12,
				      RAM_SIZE >> 12));
}

static void test_guard_null(void **state)
{
	struct fx *f = *state;
	struct {
		struct spp_subpage h;
		uint32_t map[1];
	} req = { { .gfn_base = GFN, .npages = 1 }, { 0 } };
	struct spp_guard *g = (struct spp_guard *)0x1;
	struct spp_guard_stats st;
	struct spp_event ev = { .verdict = SPP_VERDICT_STOPPED, .len = 4 };
	struct spp_insn_report rep;
	struct kvm_run run;
	uint64_t bm = 0;

	assert_int_equal(spp_guard_create(NULL, f->vm, NULL, NULL), -EINVAL);
	assert_int_equal(spp_guard_create(&g, -1, NULL, NULL), -EINVAL);
	assert_ptr_equal(g, (struct spp_guard *)0x1);
	spp_guard_destroy(NULL);
	assert_int_equal(spp_guard_set_slot_range(NULL, 40, 4), -EINVAL);
	assert_int_equal(spp_guard_add_memory(NULL, 1, 0x400000, 4096, f->ram),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory(f->g, 1, 0x400000, 4096, NULL),
			 -EINVAL);
	assert_int_equal(spp_guard_remove_memory(NULL, RAM_GPA), -EINVAL);
	assert_int_equal(spp_guard_add_memory_flags(NULL, 1, 0x400000, 4096,
						    f->ram, 0),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory_flags(f->g, 1, 0x400000, 4096,
						    NULL, 0),
			 -EINVAL);
	assert_int_equal(spp_guard_forget_memory(NULL, VMM_SLOT), -EINVAL);
	assert_int_equal(spp_guard_set_memory_flags(NULL, VMM_SLOT, 0),
			 -EINVAL);
	assert_int_equal(spp_guard_get_dirty_log(NULL, VMM_SLOT, &bm), -EINVAL);
	assert_int_equal(spp_guard_get_dirty_log(f->g, VMM_SLOT, NULL),
			 -EINVAL);
	assert_int_equal(spp_guard_set_access(NULL, &req.h), -EINVAL);
	assert_int_equal(spp_guard_set_access(f->g, NULL), -EINVAL);
	assert_int_equal(spp_guard_get_access(NULL, &req.h), -EINVAL);
	assert_int_equal(spp_guard_get_access(f->g, NULL), -EINVAL);
	assert_int_equal(spp_guard_set_range(NULL, GFN, 1, 0), -EINVAL);
	assert_int_equal(spp_guard_protect_add(NULL, GFN, 0), -EINVAL);
	assert_int_equal(spp_guard_protect_bytes(NULL, GFN << 12, 8), -EINVAL);
	assert_int_equal(spp_guard_unprotect_bytes(NULL, GFN << 12, 8),
			 -EINVAL);
	{
		uint64_t bits[SPP_PAGE_SIZE / 64];

		assert_int_equal(spp_guard_get_bytes(NULL, GFN, bits), -EINVAL);
		assert_int_equal(spp_guard_get_bytes(f->g, GFN, NULL), -EINVAL);
	}
	assert_int_equal(spp_guard_lookup(NULL, GFN), SPP_ACCESS_FULL);
	assert_int_equal(spp_guard_set_policy(NULL, SPP_POLICY_LOG), -EINVAL);
	spp_guard_set_report_allowed(NULL, true);
	memset(&run, 0, sizeof(run));
	run.exit_reason = KVM_EXIT_MMIO;
	run.mmio.len = 4;
	run.mmio.is_write = 1;
	run.mmio.phys_addr = GFN << 12;
	assert_int_equal(spp_guard_handle_exit(NULL, -1, &run, 0, NULL),
			 -EINVAL);
	assert_int_equal(spp_guard_handle_exit(f->g, -1, NULL, 0, NULL),
			 -EINVAL);
	/* spp_guard_emulate: NULL guard or run; not an emulation failure;
	 * a vCPU fd that is none (the registers cannot be read) */
	memset(&rep, 0x5A, sizeof(rep));
	assert_int_equal(spp_guard_emulate(NULL, -1, &run, 0, NULL, &rep),
			 -EINVAL);
	assert_int_equal(rep.len, 0);
	assert_int_equal(spp_guard_emulate(f->g, -1, NULL, 0, NULL, NULL),
			 -EINVAL);
	run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run.internal.suberror = KVM_INTERNAL_ERROR_DELIVERY_EV;
	assert_int_equal(spp_guard_emulate(f->g, -1, &run, 0, NULL, NULL),
			 SPP_EXIT_NOT_MINE);
	run.exit_reason = KVM_EXIT_INTR;
	assert_int_equal(spp_guard_emulate(f->g, -1, &run, 0, NULL, NULL),
			 -EBADF);
	run.exit_reason = KVM_EXIT_MMIO;
	assert_int_equal(spp_guard_resolve_stop(NULL, &ev, false), -EINVAL);
	assert_int_equal(spp_guard_resolve_stop(f->g, NULL, false), -EINVAL);
	assert_int_equal(spp_guard_get_dirty(NULL, GFN, 1, &bm, false),
			 -EINVAL);
	assert_int_equal(spp_guard_get_dirty(f->g, GFN, 1, NULL, false),
			 -EINVAL);
	memset(&st, 0x5A, sizeof(st));
	spp_guard_stats(NULL, &st);
	assert_int_equal(st.slots, 0x5A5A5A5A);
	spp_guard_stats(f->g, NULL);
	assert_null(spp_guard_access(NULL));
	assert_int_equal(req.map[0], 0);
	assert_int_equal(bm, 0);
	assert_unchanged(f);
}

static void test_guard_memory_bad(void **state)
{
	struct fx *f = *state;
	void *unaligned = (char *)f->ram + 8;

	/* unaligned gpa, size, hva; zero size; wrapping; beyond 2^48 */
	assert_int_equal(spp_guard_add_memory(f->g, 1, 0x400800, 4096, f->ram),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory(f->g, 1, 0x400000, 100, f->ram),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory(f->g, 1, 0x400000, 4096,
					      unaligned),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory(f->g, 1, 0x400000, 0, f->ram),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory(f->g, 1, ~0xFFFULL, 0x2000,
					      f->ram),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory(f->g, 1, 1ULL << 48, 4096,
					      f->ram),
			 -EINVAL);
	/* the guard's own slot ids, the VMM slot again, an overlap */
	assert_int_equal(spp_guard_add_memory(f->g, 40, 0x400000, 4096, f->ram),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory(f->g, VMM_SLOT, 0x400000, 4096,
					      f->ram),
			 -EEXIST);
	assert_int_equal(spp_guard_add_memory(f->g, 1, RAM_GPA + 4096, 4096,
					      f->ram),
			 -EEXIST);
	assert_int_equal(spp_guard_remove_memory(f->g, RAM_GPA + 4096),
			 -ENOENT);
	assert_int_equal(spp_guard_remove_memory(f->g, UINT64_MAX), -ENOENT);
	assert_int_equal(spp_guard_remove_memory(f->g, RAM_GPA), -EBUSY);
	/* slot ranges: empty, past the memslot limit, wrapping */
	assert_int_equal(spp_guard_set_slot_range(f->g, 40, 0), -EINVAL);
	assert_int_equal(spp_guard_set_slot_range(f->g, UINT32_MAX, 2),
			 -EINVAL);
	assert_int_equal(spp_guard_set_slot_range(f->g, 40, UINT32_MAX),
			 -EINVAL);
	assert_unchanged(f);
}

static void test_guard_access_bad(void **state)
{
	struct fx *f = *state;
	struct spp_subpage *req = calloc(1, sizeof(*req) + 600 * 4);
	unsigned int i;

	assert_non_null(req);
	for (i = 0; i < 32; i++) {
		req->gfn_base = GFN;
		req->npages = 1;
		req->flags = 1u << i;
		assert_int_equal(spp_guard_set_access(f->g, req), -EINVAL);
		req->access_map[0] = 0xA5A5A5A5;
		assert_int_equal(spp_guard_get_access(f->g, req), -EINVAL);
		assert_int_equal(req->access_map[0], 0xA5A5A5A5);
	}
	req->flags = 0;
	req->npages = SPP_SUBPAGE_MAX_PAGES + 1;
	assert_int_equal(spp_guard_set_access(f->g, req), -EINVAL);
	assert_int_equal(spp_guard_get_access(f->g, req), -EINVAL);
	req->npages = 2;
	req->gfn_base = UINT64_MAX;
	assert_int_equal(spp_guard_set_access(f->g, req), -EINVAL);
	assert_int_equal(spp_guard_get_access(f->g, req), -EINVAL);
	req->gfn_base = (RAM_GPA + RAM_SIZE) / 4096 - 1; /* half outside */
	assert_int_equal(spp_guard_set_access(f->g, req), -EFAULT);
	assert_int_equal(spp_guard_set_range(f->g, UINT64_MAX - 1, 4, 0),
			 -EINVAL);
	assert_int_equal(spp_guard_set_range(f->g, GFN, UINT64_MAX, 0),
			 -EINVAL);
	assert_true(spp_guard_set_range(f->g, GFN, 1ULL << 40, 0) < 0);
	assert_int_equal(spp_guard_set_range(f->g, 0x10, 1, 0), -EFAULT);
	assert_int_equal(spp_guard_protect_add(f->g, 0x10, 0), -EFAULT);
	assert_int_equal(spp_guard_protect_add(f->g, UINT64_MAX, 0), -EINVAL);
	assert_true(spp_guard_protect_add(f->g, 1ULL << 52, 0) < 0);
	assert_int_equal(spp_guard_protect_bytes(f->g, GFN << 12, 0), -EINVAL);
	assert_int_equal(spp_guard_protect_bytes(f->g, UINT64_MAX - 3, 8),
			 -EINVAL);
	assert_int_equal(spp_guard_protect_bytes(f->g, GFN << 12,
						 SPP_GUARD_BYTES_MAX_LEN + 1),
			 -EINVAL);
	assert_int_equal(spp_guard_protect_bytes(f->g, RAM_GPA + RAM_SIZE - 4,
						 8),
			 -EFAULT);
	assert_int_equal(spp_guard_unprotect_bytes(f->g, 0x10 << 12, 8),
			 -EFAULT);
	assert_int_equal(spp_guard_lookup(f->g, UINT64_MAX), SPP_ACCESS_FULL);
	free(req);
	assert_unchanged(f);
}

static void test_guard_dirty_bad(void **state)
{
	struct fx *f = *state;
	uint64_t bm[4] = { 0x5A, 0x5A, 0x5A, 0x5A };

	assert_int_equal(spp_guard_get_dirty(f->g, GFN, 0, bm, false), -EINVAL);
	assert_int_equal(spp_guard_get_dirty(f->g, UINT64_MAX, 2, bm, false),
			 -EINVAL);
	/* gfns whose address wraps into the region: not guarded RAM */
	assert_true(spp_guard_get_dirty(f->g, (1ULL << 52) + GFN, 1, bm, true) <
		    0);
	assert_true(spp_guard_get_dirty(f->g, GFN, 1ULL << 52, bm, true) < 0);
	assert_true(spp_guard_get_dirty(f->g, GFN, (1ULL << 52) + 1, bm, true) <
		    0);
	assert_int_equal(spp_guard_get_dirty(f->g, 0x10, 1, bm, false),
			 -EFAULT);
	assert_int_equal(spp_guard_get_dirty(f->g, 0x2ff, 2, bm, false),
			 -EFAULT);
	assert_int_equal(bm[0], 0x5A);
	assert_int_equal(bm[1], 0x5A);
	assert_unchanged(f);
}

static void test_guard_exit_bad(void **state)
{
	struct fx *f = *state;
	struct spp_event ev;
	struct kvm_run run;
	uint8_t *ram = f->ram;
	unsigned int i;
	static const uint32_t lens[] = { 0, 9, 16, UINT32_MAX };
	int ret;

	memset(&run, 0, sizeof(run));
	run.exit_reason = KVM_EXIT_IO; /* not MMIO */
	assert_int_equal(spp_guard_handle_exit(f->g, -1, &run, 0, NULL),
			 -EINVAL);
	run.exit_reason = KVM_EXIT_MMIO;
	run.mmio.is_write = 1;
	run.mmio.phys_addr = GFN << 12;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		run.mmio.len = lens[i];
		assert_int_equal(spp_guard_handle_exit(f->g, -1, &run, 0, NULL),
				 -EINVAL);
	}
	/* an address that wraps, one outside RAM: not the guard's */
	run.mmio.len = 8;
	run.mmio.phys_addr = UINT64_MAX - 3;
	assert_int_equal(spp_guard_handle_exit(f->g, -1, &run, 0, NULL),
			 SPP_EXIT_NOT_MINE);
	run.mmio.phys_addr = 0x10000;
	assert_int_equal(spp_guard_handle_exit(f->g, -1, &run, 0, NULL),
			 SPP_EXIT_NOT_MINE);
	/* a forged write exit into a denied sub-page, with no vCPU behind
	 * it: dropped and reported, never committed */
	run.mmio.len = 4;
	run.mmio.phys_addr = (GFN << 12) + 8 * 128;
	memset(run.mmio.data, 0xEE, 8);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(spp_guard_handle_exit(f->g, -1, &run, 0, &ev),
			 SPP_EXIT_HANDLED);
	assert_int_equal(ev.verdict, SPP_VERDICT_DENIED);
	assert_int_equal(ev.gpa, (GFN << 12) + 8 * 128);
	/* an 8-byte one whose store may go on (the guard asks KVM_RUN for
	 * the rest): the bad vCPU fd is an error, nothing committed */
	run.mmio.len = 8;
	run.mmio.phys_addr = (GFN << 12) + 8 * 128;
	ret = spp_guard_handle_exit(f->g, -1, &run, 0, &ev);
	assert_int_equal(ret, -EBADF);
	/* held stores that are not: wrong verdict, empty, too long, outside
	 * guarded RAM, wrapping */
	memset(&ev, 0, sizeof(ev));
	ev.gpa = GFN << 12;
	ev.len = 4;
	ev.verdict = SPP_VERDICT_DENIED;
	assert_int_equal(spp_guard_resolve_stop(f->g, &ev, true), -EINVAL);
	ev.verdict = SPP_VERDICT_STOPPED;
	ev.len = 0;
	assert_int_equal(spp_guard_resolve_stop(f->g, &ev, true), -EINVAL);
	ev.len = SPP_STORE_MAX + 1;
	assert_int_equal(spp_guard_resolve_stop(f->g, &ev, true), -EINVAL);
	ev.len = 4;
	ev.gpa = 0x10000;
	assert_int_equal(spp_guard_resolve_stop(f->g, &ev, true), -EINVAL);
	ev.gpa = UINT64_MAX - 1;
	assert_int_equal(spp_guard_resolve_stop(f->g, &ev, true), -EINVAL);
	ev.gpa = RAM_GPA + RAM_SIZE - 2; /* runs out of the region */
	assert_int_equal(spp_guard_resolve_stop(f->g, &ev, true), -EINVAL);
	for (i = 0; i < RAM_SIZE; i++)
		if (ram[i])
			fail_msg("guest RAM written at 0x%llx",
				 (unsigned long long)(RAM_GPA + i));
	/* unknown policies are refused: stores still dropped (DENY) */
	assert_int_equal(spp_guard_set_policy(f->g, (enum spp_policy)3),
			 -EINVAL);
	assert_int_equal(spp_guard_set_policy(f->g, (enum spp_policy) - 1),
			 -EINVAL);
	memset(&ev, 0, sizeof(ev));
	ev.gpa = GFN << 12; /* sub-page 0: writable */
	ev.len = 4;
	ev.verdict = SPP_VERDICT_STOPPED;
	ev.gpa += 8 * 128; /* sub-page 8: denied */
	memset(ev.data, 0xEE, 4);
	assert_int_equal(spp_guard_resolve_stop(f->g, &ev, false),
			 SPP_VERDICT_DENIED);
	assert_int_equal(ram[(GFN << 12) - RAM_GPA + 8 * 128], 0);
	assert_unchanged(f);
}

/* ---- spp/vm.h ------------------------------------------------------------ */

static void test_vm_bad(void **state)
{
	struct spp_vm_config cfg = { 0 };
	struct spp_vm_result res;
	struct spp_vm *vm = (struct spp_vm *)0x1;
	static const uint64_t rams[] = { 1,
					 0x1000,
					 SPP_LAYOUT_RAM_MIN - 0x200000,
					 SPP_LAYOUT_RAM_MIN + 0x1000,
					 SPP_LAYOUT_RAM_MAX + 0x200000,
					 UINT64_MAX };
	unsigned int i;

	(void)state;
	assert_int_equal(spp_vm_create(NULL, NULL), -EINVAL);
	for (i = 0; i < sizeof(rams) / sizeof(rams[0]); i++) {
		cfg.ram_size = rams[i];
		assert_int_equal(spp_vm_create(&vm, &cfg), -EINVAL);
	}
	cfg.ram_size = 0;
	cfg.nvcpus = SPP_LAYOUT_MAX_VCPUS + 1;
	assert_int_equal(spp_vm_create(&vm, &cfg), -EINVAL);
	cfg.nvcpus = UINT32_MAX;
	assert_int_equal(spp_vm_create(&vm, &cfg), -EINVAL);
	cfg.nvcpus = 1;
	cfg.policy = (enum spp_policy)3;
	assert_int_equal(spp_vm_create(&vm, &cfg), -EINVAL);
	assert_ptr_equal(vm, (struct spp_vm *)0x1);
	spp_vm_destroy(NULL);
	assert_int_equal(spp_vm_load_elf(NULL, "x", 1), -EINVAL);
	assert_int_equal(spp_vm_load_elf_file(NULL, "/dev/null"), -EINVAL);
	assert_int_equal(spp_vm_run(NULL, 10, &res), -EINVAL);
	spp_vm_interrupt(NULL);
	assert_null(spp_vm_guard(NULL));
	assert_null(spp_vm_mem(NULL));
	assert_int_equal(spp_vm_nvcpus(NULL), 0);
	assert_int_equal(spp_vm_ram_size(NULL), 0);
	assert_string_equal(spp_vm_reason_name((enum spp_vm_reason)99), "?");
	assert_string_equal(spp_vm_reason_name((enum spp_vm_reason) - 1), "?");

	/* a real VM: bad images and paths leave it unloaded and usable */
	cfg.policy = SPP_POLICY_DENY;
	cfg.ram_size = SPP_LAYOUT_RAM_MIN;
	assert_int_equal(spp_vm_create(&vm, &cfg), 0);
	assert_int_equal(spp_vm_run(vm, 10, &res), -EINVAL); /* not loaded */
	assert_int_equal(spp_vm_run(vm, 10, NULL), -EINVAL);
	assert_int_equal(spp_vm_load_elf(vm, NULL, 64), -EINVAL);
	assert_int_equal(spp_vm_load_elf(vm,
					 "\x7f"
					 "ELF",
					 4),
			 -ENOEXEC);
	assert_int_equal(spp_vm_load_elf_file(vm, NULL), -EINVAL);
	assert_int_equal(spp_vm_load_elf_file(vm, "/nonexistent/guest"),
			 -ENOENT);
	assert_int_equal(spp_vm_load_elf_file(vm, "/"), -EINVAL);
	assert_int_equal(spp_vm_load_elf_file(vm, "/dev/null"), -EINVAL);
	assert_non_null(guest_hello);
	assert_int_equal(spp_vm_load_elf_file(vm, guest_hello), 0);
	assert_int_equal(spp_vm_load_elf_file(vm, guest_hello), -EINVAL);
	assert_int_equal(spp_vm_run(vm, 60000, NULL), -EINVAL);
	assert_int_equal(spp_vm_run(vm, 60000, &res), 0);
	assert_int_equal(res.reason, SPP_VM_EXIT);
	assert_int_equal(res.status, (7 << 1) | 1);
	spp_vm_destroy(vm);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_guard_null, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_guard_memory_bad, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_guard_access_bad, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_guard_dirty_bad, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_guard_exit_bad, setup,
						teardown),
		cmocka_unit_test(test_vm_bad),
	};
	if (spp_kt_no_kvm("test_kvm_badinput"))
		return 0;
	guest_hello = spp_kt_guest(argc, argv, "guest_hello");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
