// SPDX-License-Identifier: MIT
/*
 * test_kvm_memslots.c - the guard following a VMM whose memslots change
 * under it (the QEMU shim's calls): spp_guard_forget_memory() and memory
 * coming back, regions in KVM address space 1 (x86 SMM) mirroring RAM,
 * dirty logging over the guard's pieces (spp_guard_add_memory_flags(),
 * spp_guard_set_memory_flags(), spp_guard_get_dirty_log()), the rule that
 * a VMM's slot id stays with its own region, and bad input to each.
 *
 * A VMM of its own, as in examples/embed.c: raw KVM, 16-bit real-mode
 * guest code generated per test (a list of byte stores, then hlt) at
 * CODE_GPA, RAM at 0 in memslot ids below the guard's range. What the
 * tests observe is what KVM does: guest stores dropped or committed, the
 * memslots KVM holds (KVM_GET_DIRTY_LOG answers 0 only for an existing
 * slot that logs dirty pages; KVM_SET_USER_MEMORY_REGION refuses a slot
 * over memory another slot covers, and an id in use with another size),
 * and KVM's dirty bitmaps. And a kick (immediate_exit) the VMM's signal
 * handler gave a vCPU thread before the guard handles its exit survives
 * the guard completing the store: QEMU kicks only once per "stop".
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <spp/guard.h>

#include "kvm_test.h"

#define MIB (1ULL << 20)
#define RAM_SIZE MIB
#define MEM_SIZE (2 * MIB) /* the host memory behind the RAM */
#define CODE_GPA 0x1000u
#define AS1 (1u << 16)
#define PROBE_ID 20 /* a free id below the guard's range, for probes */
#define P5 0x5000u /* the protected page of most tests */
#define DENY_SP2 (~(1u << 2)) /* sub-page 2 (0x100..0x17f) denied */

static int kvm_fd = -1;

struct vm {
	int fd;
	int vcpu;
	struct kvm_run *run;
	uint8_t *mem;
	struct spp_guard *g;
	int events;
	int nr_slots;
};

static void on_event(void *ctx, const struct spp_event *ev)
{
	struct vm *vm = ctx;

	(void)ev;
	vm->events++;
}

/* KVM_SET_USER_MEMORY_REGION as the VMM makes it: 0 or -errno. */
static int vmm_slot(struct vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa,
		    uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

static struct vm *vm_new(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct spp_guard_ops ops = { .event = on_event };
	int size;

	assert_non_null(vm);
	vm->fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	assert_true(vm->fd >= 0);
	vm->nr_slots = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	assert_true(vm->nr_slots > 32);
	vm->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(vm->mem != MAP_FAILED);
	assert_int_equal(spp_guard_create(&vm->g, vm->fd, &ops, vm), 0);
	vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	assert_true(vm->vcpu >= 0);
	size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	assert_true(size > 0);
	vm->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu, 0);
	assert_true(vm->run != MAP_FAILED);
	return vm;
}

static void vm_free(struct vm *vm)
{
	spp_guard_destroy(vm->g);
	close(vm->vcpu);
	close(vm->fd);
	munmap(vm->mem, MEM_SIZE);
	free(vm);
}

/* The VMM's RAM [0, RAM_SIZE) as memslot @slot, handed to the guard. */
static void ram_add(struct vm *vm, uint32_t slot, uint32_t flags)
{
	assert_int_equal(vmm_slot(vm, slot, flags, 0, RAM_SIZE, vm->mem), 0);
	assert_int_equal(spp_guard_add_memory_flags(vm->g, slot, 0, RAM_SIZE,
						    vm->mem, flags),
			 0);
}

/* Whether KVM holds slot @slot (with its address space) logging dirty
 * pages: KVM_GET_DIRTY_LOG answers -ENOENT for any other id. */
static bool kvm_has_logging_slot(struct vm *vm, uint32_t slot)
{
	static uint64_t bm[MEM_SIZE / 4096 / 64];
	struct kvm_dirty_log d = { .slot = slot, .dirty_bitmap = bm };

	if (!ioctl(vm->fd, KVM_GET_DIRTY_LOG, &d))
		return true;
	assert_int_equal(errno, ENOENT);
	return false;
}

/* The ids of logging slots KVM holds in address space @as (all of them
 * must log: the tests that count use regions with dirty logging). */
static int kvm_slot_ids(struct vm *vm, uint32_t as, uint32_t *ids, int max)
{
	int id, n = 0;

	for (id = 0; id < vm->nr_slots; id++) {
		if (!kvm_has_logging_slot(vm, (uint32_t)id | as << 16))
			continue;
		assert_true(n < max);
		ids[n++] = (uint32_t)id;
	}
	return n;
}

/* Whether some memslot of address space @as covers page @gpa: KVM
 * refuses a new slot over it with -EEXIST. */
static bool kvm_covered(struct vm *vm, uint32_t as, uint64_t gpa)
{
	int ret = vmm_slot(vm, PROBE_ID | as << 16, 0, gpa, 4096,
			   vm->mem + MIB + 0x1000);

	if (ret == -EEXIST)
		return true;
	assert_int_equal(ret, 0);
	assert_int_equal(vmm_slot(vm, PROBE_ID | as << 16, 0, gpa, 0,
				  vm->mem + MIB + 0x1000),
			 0);
	return false;
}

static void protect(struct vm *vm, uint64_t gpa, uint32_t map)
{
	assert_int_equal(spp_guard_set_range(vm->g, gpa >> 12, 1, map), 0);
}

/*
 * Guest code at CODE_GPA: "mov byte [addr], val" for each store (DS = 0,
 * addresses below 64 KiB), then hlt. Run it to the hlt from real mode,
 * every MMIO exit through the guard (none may be left over). With @smm
 * the vCPU first takes an SMI (KVM_SMI): the code then runs in SMM,
 * through address space 1, from SMBASE 0x30000 + 0x8000.
 */
struct store {
	uint16_t addr;
	uint8_t val;
};

/* The vCPU in real mode (CS = DS = 0) at CODE_GPA. */
static void real_mode_at_code(struct vm *vm)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	assert_int_equal(ioctl(vm->vcpu, KVM_GET_SREGS, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	assert_int_equal(ioctl(vm->vcpu, KVM_SET_SREGS, &sregs), 0);
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rip = CODE_GPA;
	assert_int_equal(ioctl(vm->vcpu, KVM_SET_REGS, &regs), 0);
}

static void run_stores(struct vm *vm, const struct store *s, size_t n, bool smm)
{
	uint64_t code = smm ? 0x38000 : CODE_GPA;
	uint8_t *p = vm->mem + code;
	size_t i;

	for (i = 0; i < n; i++) {
		*p++ = 0xc6;
		*p++ = 0x06;
		*p++ = (uint8_t)s[i].addr;
		*p++ = (uint8_t)(s[i].addr >> 8);
		*p++ = s[i].val;
	}
	*p++ = 0xf4;
	real_mode_at_code(vm);
	if (smm)
		assert_int_equal(ioctl(vm->vcpu, KVM_SMI, 0), 0);
	for (;;) {
		int ret;

		if (ioctl(vm->vcpu, KVM_RUN, 0) < 0) {
			assert_int_equal(errno, EINTR);
			continue;
		}
		if (vm->run->exit_reason == KVM_EXIT_HLT)
			break;
		if (vm->run->exit_reason != KVM_EXIT_MMIO)
			fail_msg("exit %u running the code at 0x%llx",
				 vm->run->exit_reason,
				 (unsigned long long)code);
		ret = spp_guard_handle_exit(vm->g, vm->vcpu, vm->run, 0, NULL);
		if (ret != SPP_EXIT_HANDLED)
			fail_msg("MMIO at 0x%llx: handle_exit %d",
				 (unsigned long long)vm->run->mmio.phys_addr,
				 ret);
	}
	if (smm) {
		struct kvm_vcpu_events ev;

		assert_int_equal(ioctl(vm->vcpu, KVM_GET_VCPU_EVENTS, &ev), 0);
		assert_true(ev.smi.smm); /* it really ran in SMM */
		ev.flags = KVM_VCPUEVENT_VALID_SMM; /* leave SMM */
		ev.smi.smm = 0;
		ev.smi.pending = 0;
		assert_int_equal(ioctl(vm->vcpu, KVM_SET_VCPU_EVENTS, &ev), 0);
	}
}

/* Stores into P5: a denied and an allowed sub-page; one to plain RAM. */
static const struct store p5_stores[] = {
	{ P5 + 0x100, 0x11 }, /* sub-page 2: denied */
	{ P5 + 0x000, 0x22 }, /* sub-page 0: allowed */
	{ 0x9000, 0x33 }, /* unprotected page */
};

/* The stores of p5_stores had their effect: P5's denied byte dropped and
 * reported, the rest landed. Clears the bytes for the next run. */
static void check_p5_enforced(struct vm *vm, bool smm)
{
	struct spp_guard_stats st0, st1;

	spp_guard_stats(vm->g, &st0);
	vm->events = 0;
	memset(vm->mem + P5, 0, 4096);
	vm->mem[0x9000] = 0;
	run_stores(vm, p5_stores, 3, smm);
	spp_guard_stats(vm->g, &st1);
	assert_int_equal(vm->mem[P5 + 0x100], 0);
	assert_int_equal(vm->mem[P5], 0x22);
	assert_int_equal(vm->mem[0x9000], 0x33);
	assert_int_equal(vm->events, 1);
	/* both P5 stores exited, the plain one did not */
	assert_int_equal(st1.stores - st0.stores, 2);
	assert_int_equal(st1.denied - st0.denied, 1);
}

static int get_map(struct vm *vm, uint64_t gpa, uint32_t *map)
{
	struct {
		struct spp_subpage h;
		uint32_t map[1];
	} r = { { .gfn_base = gpa >> 12, .npages = 1 }, { 0x5a5a5a5a } };
	int ret = spp_guard_get_access(vm->g, &r.h);

	*map = r.map[0];
	return ret;
}

/* ---- forget and come back ------------------------------------------- */

static void test_forget_and_come_back(void **state)
{
	struct vm *vm = vm_new();
	struct spp_guard_stats st;
	uint32_t map;

	(void)state;
	ram_add(vm, 0, 0);
	protect(vm, P5, DENY_SP2);
	check_p5_enforced(vm, false);

	/* The VMM deletes its slot: the guard deletes every piece. */
	assert_int_equal(spp_guard_forget_memory(vm->g, 0), 0);
	spp_guard_stats(vm->g, &st);
	assert_int_equal(st.slots, 0);
	assert_false(kvm_covered(vm, 0, 0));
	assert_false(kvm_covered(vm, 0, P5));
	assert_false(kvm_covered(vm, 0, RAM_SIZE - 4096));
	/* The map is kept; the pages around it are not RAM any more. */
	assert_int_equal(get_map(vm, P5, &map), 1);
	assert_int_equal(map, DENY_SP2);
	assert_int_equal(spp_guard_lookup(vm->g, P5 >> 12), DENY_SP2);
	assert_int_equal(spp_guard_set_range(vm->g, (P5 >> 12) + 1, 1, 0),
			 -EFAULT);
	assert_int_equal(spp_guard_forget_memory(vm->g, 0), -ENOENT);

	/* Same slot id, same memory: KVM takes the id (no piece holds
	 * it), and the page traps again. */
	ram_add(vm, 0, 0);
	spp_guard_stats(vm->g, &st);
	assert_int_equal(st.ro_slots, 1);
	assert_int_equal(st.trapped_pages, 1);
	check_p5_enforced(vm, false);

	/* Another id, a larger region covering it. */
	assert_int_equal(spp_guard_forget_memory(vm->g, 0), 0);
	assert_int_equal(vmm_slot(vm, 7, 0, 0, MEM_SIZE, vm->mem), 0);
	assert_int_equal(spp_guard_add_memory(vm->g, 7, 0, MEM_SIZE, vm->mem),
			 0);
	check_p5_enforced(vm, false);
	/* the old id is free in KVM: nothing of the guard's uses it */
	assert_int_equal(vmm_slot(vm, 0, 0, 0x10000000, 4096, vm->mem), 0);
	assert_int_equal(vmm_slot(vm, 0, 0, 0x10000000, 0, vm->mem), 0);

	/* Unprotected, the region goes back as the VMM's one slot. */
	protect(vm, P5, SPP_ACCESS_FULL);
	assert_int_equal(spp_guard_remove_memory(vm->g, 0), 0);
	assert_int_equal(vmm_slot(vm, 7, 0, 0, MEM_SIZE, vm->mem), 0);
	assert_int_equal(vmm_slot(vm, 7, 0, 0, MIB, vm->mem), -EINVAL);
	vm_free(vm);
}

/* Memory comes back smaller, not covering the protected page: the map
 * stays; later memory that covers it traps it. */
static void test_forget_partial_return(void **state)
{
	struct vm *vm = vm_new();
	uint32_t map;

	(void)state;
	ram_add(vm, 0, 0);
	protect(vm, P5, DENY_SP2);
	protect(vm, 0x7000, 0);
	assert_int_equal(spp_guard_forget_memory(vm->g, 0), 0);
	/* [0, 0x5000) comes back in id 3 */
	assert_int_equal(vmm_slot(vm, 3, 0, 0, P5, vm->mem), 0);
	assert_int_equal(spp_guard_add_memory(vm->g, 3, 0, P5, vm->mem), 0);
	assert_int_equal(get_map(vm, P5, &map), 1);
	assert_int_equal(map, DENY_SP2);
	assert_int_equal(spp_guard_lookup(vm->g, 7), 0);
	/* the rest comes back in id 4, and traps */
	assert_int_equal(vmm_slot(vm, 4, 0, P5, RAM_SIZE - P5, vm->mem + P5),
			 0);
	assert_int_equal(spp_guard_add_memory(vm->g, 4, P5, RAM_SIZE - P5,
					      vm->mem + P5),
			 0);
	check_p5_enforced(vm, false);
	vm->mem[0x7000] = 0x44;
	run_stores(vm, (const struct store[]){ { 0x7000, 0x55 } }, 1, false);
	assert_int_equal(vm->mem[0x7000], 0x44);
	vm_free(vm);
}

/* ---- address space 1 ------------------------------------------------- */

static bool have_as1(void)
{
	int n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MULTI_ADDRESS_SPACE);

	if (n >= 2)
		return true;
	fprintf(stderr,
		"# SKIP: KVM_CAP_MULTI_ADDRESS_SPACE is %d: no "
		"address space 1 on this host\n",
		n);
	return false;
}

static void test_as1_mirror(void **state)
{
	struct vm *vm;
	uint32_t ids0[64], ids1[64];
	int n0, n1, i, j;

	(void)state;
	if (!have_as1())
		skip();
	vm = vm_new();
	ram_add(vm, 0, KVM_MEM_LOG_DIRTY_PAGES);
	ram_add(vm, 0 | AS1, KVM_MEM_LOG_DIRTY_PAGES);
	assert_int_equal(kvm_slot_ids(vm, 0, ids0, 64), 1);
	assert_int_equal(kvm_slot_ids(vm, 1, ids1, 64), 1);
	/* an as1 region may overlap an as0 one, not another as1 one */
	assert_int_equal(spp_guard_add_memory(vm->g, 1 | AS1, 0, 4096, vm->mem),
			 -EEXIST);

	/* Protecting a page cuts both address spaces in three. */
	protect(vm, P5, DENY_SP2);
	n0 = kvm_slot_ids(vm, 0, ids0, 64);
	n1 = kvm_slot_ids(vm, 1, ids1, 64);
	assert_int_equal(n0, 3);
	assert_int_equal(n1, 3);
	assert_int_equal(ids0[0], 0);
	assert_int_equal(ids1[0], 0);
	/* each VMM id stays in its own space; guard ids are not shared */
	for (i = 1; i < n0; i++)
		for (j = 1; j < n1; j++)
			assert_int_not_equal(ids0[i], ids1[j]);
	check_p5_enforced(vm, false);

	/* In SMM the guest sees address space 1: the same page traps. */
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_SMM) > 0)
		check_p5_enforced(vm, true);
	else
		fprintf(stderr, "# no KVM_CAP_X86_SMM: SMM stores not run\n");

	/* Forget the as1 region: its pieces go, as0 keeps its three. */
	assert_int_equal(spp_guard_forget_memory(vm->g, 0 | AS1), 0);
	assert_int_equal(kvm_slot_ids(vm, 1, ids1, 64), 0);
	assert_false(kvm_covered(vm, 1, P5));
	assert_int_equal(kvm_slot_ids(vm, 0, ids0, 64), 3);
	/* the VMM takes its as1 id back: KVM would refuse it (-EINVAL,
	 * another size) if the guard still held id 0 of address space 1 */
	assert_int_equal(vmm_slot(vm, 0 | AS1, 0, 0, RAM_SIZE, vm->mem), 0);
	check_p5_enforced(vm, false);
	/* and hands it back: the page traps in both spaces again */
	assert_int_equal(vmm_slot(vm, 0 | AS1, 0, 0, 0, vm->mem), 0);
	ram_add(vm, 0 | AS1, KVM_MEM_LOG_DIRTY_PAGES);
	assert_int_equal(kvm_slot_ids(vm, 1, ids1, 64), 3);
	vm_free(vm);
}

/*
 * Distinct VMM ids in the two spaces: the as1 VMM id never shows up as a
 * piece of the as0 region, nor the other way round, through changes that
 * delete the piece holding a VMM id and create new pieces.
 */
static void test_as1_vmm_ids(void **state)
{
	struct vm *vm;
	static const uint64_t pages[] = { P5, 0x3000, 0x2000, 0x9000, 0xf000 };
	size_t i;

	(void)state;
	if (!have_as1())
		skip();
	vm = vm_new();
	ram_add(vm, 3, KVM_MEM_LOG_DIRTY_PAGES);
	ram_add(vm, 4 | AS1, KVM_MEM_LOG_DIRTY_PAGES);
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		protect(vm, pages[i], 0);
		assert_true(kvm_has_logging_slot(vm, 3));
		assert_true(kvm_has_logging_slot(vm, 4 | AS1));
		assert_false(kvm_has_logging_slot(vm, 4));
		assert_false(kvm_has_logging_slot(vm, 3 | AS1));
	}
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		protect(vm, pages[i], SPP_ACCESS_FULL);
		assert_true(kvm_has_logging_slot(vm, 3));
		assert_true(kvm_has_logging_slot(vm, 4 | AS1));
		assert_false(kvm_has_logging_slot(vm, 4));
		assert_false(kvm_has_logging_slot(vm, 3 | AS1));
	}
	protect(vm, P5, DENY_SP2);
	/* the VMM deletes its as1 slot and creates its id anew elsewhere */
	assert_int_equal(spp_guard_forget_memory(vm->g, 4 | AS1), 0);
	assert_int_equal(vmm_slot(vm, 4 | AS1, 0, 0x10000000, 4096, vm->mem),
			 0);
	/* and its as0 id 4 too (never the guard's) */
	assert_int_equal(vmm_slot(vm, 4, 0, 0x10000000, 4096, vm->mem), 0);
	check_p5_enforced(vm, false);
	vm_free(vm);
}

/* ---- the VMM's id stays with its region ------------------------------ */

static void test_vmm_id_stays(void **state)
{
	struct vm *vm = vm_new();
	uint32_t ids[64];
	int n, i;

	(void)state;
	ram_add(vm, 2, KVM_MEM_LOG_DIRTY_PAGES);
	/* a second region of the VMM's, id 1, at 1 MiB */
	assert_int_equal(vmm_slot(vm, 1, KVM_MEM_LOG_DIRTY_PAGES, MIB, MIB,
				  vm->mem + MIB),
			 0);
	assert_int_equal(spp_guard_add_memory_flags(vm->g, 1, MIB, MIB,
						    vm->mem + MIB,
						    KVM_MEM_LOG_DIRTY_PAGES),
			 0);
	/* the first piece of region 2 holds id 2; changes next to it
	 * delete and re-create it, many times, in both regions */
	for (i = 0; i < 40; i++) {
		uint64_t a = 0x2000 + (uint64_t)(i % 20) * 0x1000;

		protect(vm, a, i < 20 ? 0 : SPP_ACCESS_FULL);
		protect(vm, MIB + a, i < 20 ? 0 : SPP_ACCESS_FULL);
		assert_true(kvm_has_logging_slot(vm, 2));
		assert_true(kvm_has_logging_slot(vm, 1));
		n = kvm_slot_ids(vm, 0, ids, 64);
		if (i == 19)
			assert_int_equal(n, 6); /* rw, ro (20 pages), rw x 2 */
	}
	n = kvm_slot_ids(vm, 0, ids, 64);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 2);
	/* forget region 2: id 2 is gone from KVM, id 1 stays */
	protect(vm, P5, DENY_SP2);
	assert_int_equal(spp_guard_forget_memory(vm->g, 2), 0);
	assert_false(kvm_has_logging_slot(vm, 2));
	assert_true(kvm_has_logging_slot(vm, 1));
	/* changes in region 1 never take id 2 */
	for (i = 0; i < 10; i++) {
		protect(vm, MIB + 0x3000 + (uint64_t)i * 0x2000, 0);
		assert_false(kvm_has_logging_slot(vm, 2));
	}
	assert_int_equal(vmm_slot(vm, 2, 0, 0x10000000, 4096, vm->mem), 0);
	vm_free(vm);
}

/*
 * spp_guard_remove_memory() of a region in several pieces gives the
 * guard's piece ids back: with two ids in the guard's range, a region
 * added afterwards is cut in three around one protected page.
 */
static void test_remove_returns_ids(void **state)
{
	struct vm *vm = vm_new();
	struct spp_guard_stats st;
	const uint64_t big = 128 * MIB, gpa = 1ULL << 32;
	uint32_t ids[64], guard_id = 0;
	uint8_t *mem;
	int n, i;

	(void)state;
	mem = mmap(NULL, big, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(mem != MAP_FAILED);
	assert_int_equal(
		vmm_slot(vm, 5, KVM_MEM_LOG_DIRTY_PAGES, gpa, big, mem), 0);
	assert_int_equal(spp_guard_add_memory_flags(vm->g, 5, gpa, big, mem,
						    KVM_MEM_LOG_DIRTY_PAGES),
			 0);
	/* protect and unprotect: the 64 MiB cut stays (docs/kvm.md) */
	assert_int_equal(spp_guard_set_range(vm->g, (gpa >> 12) + 5, 1, 0), 0);
	assert_int_equal(spp_guard_set_range(vm->g, (gpa >> 12) + 5, 1,
					     SPP_ACCESS_FULL),
			 0);
	n = kvm_slot_ids(vm, 0, ids, 64);
	if (n != 2)
		fail_msg("expected the region in 2 pieces, KVM has %d", n);
	for (i = 0; i < n; i++)
		if (ids[i] != 5)
			guard_id = ids[i];
	assert_true(guard_id >= 32 && (int)guard_id + 2 <= vm->nr_slots);
	/* two ids for the guard: the one in use and one more */
	assert_int_equal(spp_guard_set_slot_range(vm->g, guard_id, 2), 0);
	assert_int_equal(spp_guard_remove_memory(vm->g, gpa), 0);
	assert_int_equal(kvm_slot_ids(vm, 0, ids, 64), 1);
	assert_int_equal(ids[0], 5);

	ram_add(vm, 0, KVM_MEM_LOG_DIRTY_PAGES);
	protect(vm, P5, DENY_SP2);
	spp_guard_stats(vm->g, &st);
	assert_int_equal(st.trapped_pages, 1);
	assert_int_equal(st.ro_slots, 1);
	assert_int_equal(kvm_slot_ids(vm, 0, ids, 64), 4); /* 5, 0, 2 ids */
	vm_free(vm);
	munmap(mem, big);
}

/* ---- dirty logging --------------------------------------------------- */

static void dirty_log(struct vm *vm, uint32_t slot, uint64_t *bm)
{
	memset(bm, 0xa5, RAM_SIZE / 4096 / 8);
	assert_int_equal(spp_guard_get_dirty_log(vm->g, slot, bm), 0);
}

/*
 * The set bits of @bm (RAM_SIZE pages) are exactly the pages @want, but
 * for the code page: the guest only reads it, yet KVM marks a page dirty
 * whenever it maps it writable, on a read fault too (measured: 6.1), so
 * its bit says when KVM last faulted it in, nothing about the guard.
 */
static void assert_dirty(const uint64_t *bm, const uint64_t *want, size_t n)
{
	uint64_t exp[RAM_SIZE / 4096 / 64] = { 0 };
	size_t i;

	exp[0] = bm[0] & 1ULL << (CODE_GPA >> 12);

	for (i = 0; i < n; i++)
		exp[want[i] >> 18] |= 1ULL << ((want[i] >> 12) % 64);
	for (i = 0; i < RAM_SIZE / 4096 / 64; i++)
		if (bm[i] != exp[i])
			fail_msg(
				"dirty word %zu: 0x%016llx, expected 0x%016llx",
				i, (unsigned long long)bm[i],
				(unsigned long long)exp[i]);
}

static void test_dirty_log(void **state)
{
	struct vm *vm = vm_new();
	uint64_t bm[RAM_SIZE / 4096 / 64];

	(void)state;
	ram_add(vm, 0, KVM_MEM_LOG_DIRTY_PAGES);
	protect(vm, P5, DENY_SP2);
	protect(vm, 0x6000, 0); /* every store dropped */
	dirty_log(vm, 0, bm);
	run_stores(vm,
		   (const struct store[]){ { P5 + 0x100, 1 },
					   { P5 + 0x080, 2 },
					   { 0x6000, 3 },
					   { 0x6f00, 4 },
					   { 0x9000, 5 },
					   { 0xc123, 6 } },
		   6, false);
	assert_int_equal(vm->mem[P5 + 0x80], 2);
	assert_int_equal(vm->mem[0x6000], 0);
	/* the guard's commit to P5 and KVM's two plain stores; not the
	 * page whose stores were all dropped, not the code page */
	dirty_log(vm, 0, bm);
	assert_dirty(bm, (const uint64_t[]){ P5, 0x9000, 0xc000 }, 3);
	dirty_log(vm, 0, bm);
	assert_dirty(bm, NULL, 0);

	/* A page dirtied in a piece the guard then re-creates (a change
	 * next to it) is still reported. */
	run_stores(vm, (const struct store[]){ { 0x9000, 7 } }, 1, false);
	protect(vm, 0xa000, 0);
	protect(vm, 0xa000, SPP_ACCESS_FULL);
	dirty_log(vm, 0, bm);
	assert_dirty(bm, (const uint64_t[]){ 0x9000 }, 1);

	/* Logging off: KVM has no log, the guard says -ENOENT; on again. */
	assert_int_equal(spp_guard_set_memory_flags(vm->g, 0, 0), 0);
	assert_false(kvm_has_logging_slot(vm, 0));
	assert_int_equal(spp_guard_get_dirty_log(vm->g, 0, bm), -ENOENT);
	run_stores(vm, (const struct store[]){ { 0xd000, 8 } }, 1, false);
	assert_int_equal(spp_guard_set_memory_flags(vm->g, 0,
						    KVM_MEM_LOG_DIRTY_PAGES),
			 0);
	assert_true(kvm_has_logging_slot(vm, 0));
	run_stores(vm, (const struct store[]){ { 0xe000, 9 } }, 1, false);
	dirty_log(vm, 0, bm);
	assert_dirty(bm, (const uint64_t[]){ 0xe000 }, 1);
	vm_free(vm);
}

/* A region added without logging, turned on later; pieces created after
 * that log from the start. */
static void test_dirty_log_later(void **state)
{
	struct vm *vm = vm_new();
	uint64_t bm[RAM_SIZE / 4096 / 64];
	uint32_t ids[64];

	(void)state;
	ram_add(vm, 0, 0);
	protect(vm, P5, DENY_SP2);
	assert_int_equal(spp_guard_get_dirty_log(vm->g, 0, bm), -ENOENT);
	assert_int_equal(spp_guard_set_memory_flags(vm->g, 0,
						    KVM_MEM_LOG_DIRTY_PAGES),
			 0);
	assert_int_equal(kvm_slot_ids(vm, 0, ids, 64), 3);
	protect(vm, 0xb000, 0); /* new pieces */
	assert_int_equal(kvm_slot_ids(vm, 0, ids, 64), 5);
	dirty_log(vm, 0, bm);
	run_stores(vm,
		   (const struct store[]){
			   { 0xc000, 1 }, { P5, 2 }, { 0xf000, 3 } },
		   3, false);
	dirty_log(vm, 0, bm);
	assert_dirty(bm, (const uint64_t[]){ P5, 0xc000, 0xf000 }, 3);
	vm_free(vm);
}

/* ---- a kick that came before the exit's handling ----------------------- */

/*
 * QEMU's SIG_IPI handler sets immediate_exit; it can run between KVM_RUN
 * returning an MMIO exit and the guard's handling (the shim blocks the
 * signal only from there on). A 4-byte store at P5 + 0xffe splits at the
 * page end, so the guard completes the instruction itself with
 * immediate_exit. The kick must still be there afterwards, and KVM's next
 * KVM_RUN must return EINTR without running guest code.
 */
static void test_kick_survives(void **state)
{
	/* mov dword [0x5ffe], 0x11223344; mov byte [0x9000], 0x55; hlt */
	static const uint8_t code[] = {
		0x66, 0xc7, 0x06, 0xfe, 0x5f, 0x44, 0x33, 0x22,
		0x11, 0xc6, 0x06, 0x00, 0x90, 0x55, 0xf4,
	};
	struct vm *vm = vm_new();

	(void)state;
	ram_add(vm, 0, 0);
	protect(vm, P5, DENY_SP2);
	memcpy(vm->mem + CODE_GPA, code, sizeof(code));
	real_mode_at_code(vm);

	assert_int_equal(ioctl(vm->vcpu, KVM_RUN, 0), 0);
	assert_int_equal(vm->run->exit_reason, KVM_EXIT_MMIO);
	assert_int_equal(vm->run->mmio.phys_addr, P5 + 0xffe);
	assert_int_equal(vm->run->mmio.len, 2);
	vm->run->immediate_exit = 1; /* the VMM's kick landed here */
	assert_int_equal(spp_guard_handle_exit(vm->g, vm->vcpu, vm->run, 0,
					       NULL),
			 SPP_EXIT_HANDLED);
	assert_int_equal(vm->run->immediate_exit, 1);
	/* the whole store landed (sub-page 31 and the next page allow it) */
	assert_memory_equal(vm->mem + P5 + 0xffe,
			    ((const uint8_t[]){ 0x44, 0x33, 0x22, 0x11 }), 4);
	/* the kick: KVM_RUN returns at once, the next store not done */
	assert_int_equal(ioctl(vm->vcpu, KVM_RUN, 0), -1);
	assert_int_equal(errno, EINTR);
	assert_int_equal(vm->mem[0x9000], 0);
	vm->run->immediate_exit = 0; /* the VMM ate it */
	assert_int_equal(ioctl(vm->vcpu, KVM_RUN, 0), 0);
	assert_int_equal(vm->run->exit_reason, KVM_EXIT_HLT);
	assert_int_equal(vm->mem[0x9000], 0x55);
	vm_free(vm);
}

/* ---- bad input -------------------------------------------------------- */

static void test_bad_input(void **state)
{
	struct vm *vm = vm_new();
	struct spp_guard_stats st0, st1;
	uint64_t bm[RAM_SIZE / 4096 / 64];
	uint32_t ids[64];

	(void)state;
	ram_add(vm, 0, KVM_MEM_LOG_DIRTY_PAGES);
	protect(vm, P5, DENY_SP2);
	spp_guard_stats(vm->g, &st0);

	assert_int_equal(spp_guard_forget_memory(NULL, 0), -EINVAL);
	assert_int_equal(spp_guard_forget_memory(vm->g, 1), -ENOENT);
	assert_int_equal(spp_guard_forget_memory(vm->g, 0 | AS1), -ENOENT);
	assert_int_equal(spp_guard_forget_memory(vm->g, 0 | 2u << 16), -ENOENT);
	assert_int_equal(spp_guard_forget_memory(vm->g, 33), -ENOENT);

	assert_int_equal(spp_guard_set_memory_flags(NULL, 0, 0), -EINVAL);
	assert_int_equal(spp_guard_set_memory_flags(vm->g, 0, KVM_MEM_READONLY),
			 -EINVAL);
	assert_int_equal(spp_guard_set_memory_flags(vm->g, 0, 0x80), -EINVAL);
	assert_int_equal(spp_guard_set_memory_flags(vm->g, 1, 0), -ENOENT);
	assert_int_equal(spp_guard_set_memory_flags(vm->g, 0 | AS1, 0),
			 -ENOENT);

	assert_int_equal(spp_guard_get_dirty_log(NULL, 0, bm), -EINVAL);
	assert_int_equal(spp_guard_get_dirty_log(vm->g, 0, NULL), -EINVAL);
	assert_int_equal(spp_guard_get_dirty_log(vm->g, 1, bm), -ENOENT);
	assert_int_equal(spp_guard_get_dirty_log(vm->g, 0 | AS1, bm), -ENOENT);

	assert_int_equal(spp_guard_add_memory_flags(NULL, 1, MIB, MIB,
						    vm->mem + MIB, 0),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory_flags(vm->g, 1, MIB, MIB, NULL,
						    0),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory_flags(vm->g, 1, MIB, MIB,
						    vm->mem + MIB,
						    KVM_MEM_READONLY),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory_flags(vm->g, 1, MIB, MIB,
						    vm->mem + MIB, 0x80),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory_flags(vm->g, 1 | 2u << 16, MIB,
						    MIB, vm->mem + MIB, 0),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory(vm->g, 1 | 0xffffu << 16, MIB,
					      MIB, vm->mem + MIB),
			 -EINVAL);
	/* the guard's own ids, in either space */
	assert_int_equal(spp_guard_add_memory(vm->g, 40, MIB, MIB,
					      vm->mem + MIB),
			 -EINVAL);
	assert_int_equal(spp_guard_add_memory(vm->g, 40 | AS1, MIB, MIB,
					      vm->mem + MIB),
			 -EINVAL);
	/* the VMM's id in use, overlapping memory */
	assert_int_equal(spp_guard_add_memory(vm->g, 0, MIB, MIB,
					      vm->mem + MIB),
			 -EEXIST);
	assert_int_equal(spp_guard_add_memory(vm->g, 1, RAM_SIZE - 4096, 8192,
					      vm->mem),
			 -EEXIST);

	/* nothing changed: slots as KVM holds them, maps, enforcement */
	spp_guard_stats(vm->g, &st1);
	assert_int_equal(st1.slots, st0.slots);
	assert_int_equal(st1.ro_slots, st0.ro_slots);
	assert_int_equal(st1.trapped_pages, st0.trapped_pages);
	assert_int_equal(st1.slot_changes, st0.slot_changes);
	assert_int_equal(kvm_slot_ids(vm, 0, ids, 64), 3);
	assert_int_equal(kvm_slot_ids(vm, 1, ids, 64), 0);
	assert_false(kvm_covered(vm, 0, MIB));
	assert_int_equal(spp_guard_lookup(vm->g, P5 >> 12), DENY_SP2);
	check_p5_enforced(vm, false);
	dirty_log(vm, 0, bm);
	assert_dirty(bm, (const uint64_t[]){ P5, 0x9000 }, 2);
	vm_free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forget_and_come_back),
		cmocka_unit_test(test_forget_partial_return),
		cmocka_unit_test(test_as1_mirror),
		cmocka_unit_test(test_as1_vmm_ids),
		cmocka_unit_test(test_vmm_id_stays),
		cmocka_unit_test(test_remove_returns_ids),
		cmocka_unit_test(test_dirty_log),
		cmocka_unit_test(test_dirty_log_later),
		cmocka_unit_test(test_kick_survives),
		cmocka_unit_test(test_bad_input),
	};

	if (spp_kt_no_kvm("test_kvm_memslots"))
		return 0;
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	assert_true(kvm_fd >= 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
