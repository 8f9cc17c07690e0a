// SPDX-License-Identifier: MIT
/*
 * test_kvm_assumptions.c - canary for the KVM behaviour the kvm layer of spp
 * is built on, checked with raw ioctls and no spp code.
 *
 * spp maps every page holding a protected sub-page through a
 * KVM_MEM_READONLY memslot and relies on KVM to turn each guest write into
 * such a page into a KVM_EXIT_MMIO exit that names the exact address, length
 * and data, leaving the backing memory alone; on reads going through without
 * an exit; on the guest continuing after the writing instruction when
 * KVM_RUN is entered again; and on writes spp commits to the backing memory
 * from user space being what the guest reads next. If a test here fails,
 * the host's KVM does not behave as spp assumes and the kvm tests built on
 * top of it mean nothing.
 *
 * The guest is a few bytes of 16-bit real-mode code (no page tables, no
 * GDT): CS = DS = SS = 0, code at CODE_GPA, a read-write RAM slot
 * [0, RAM_SIZE) and a read-only slot [ROM_GPA, ROM_GPA + ROM_SIZE).
 *
 * It also checks, per kernel version, the KVM features spp uses where they
 * exist: KVM_CAP_SYNC_REGS and KVM_CAP_IMMEDIATE_EXIT everywhere, and from
 * 6.12 on KVM_X86_QUIRK_SLOT_ZAP_ALL, which spp disables. The kernel release
 * is printed first (a TAP comment) and named in every failure, so that a
 * KVM that changed between kernel versions (tests/run runs the kvm suite on
 * 6.1 and 6.12) shows up here.
 *
 * Without /dev/kvm the program prints "1..0 # SKIP no /dev/kvm: ..." and
 * exits 0; tests/run then runs it inside a VM that has one (docs/testing.md).
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
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "kvm_test.h"

#define RAM_SIZE 0x4000u /* slot 0, read-write, at 0 */
#define ROM_GPA 0x4000u /* slot 1, KVM_MEM_READONLY */
#define ROM_SIZE 0x1000u
#define CODE_GPA 0x1000u
#define DATA_GPA 0x2000u /* results the guest stores into RAM */
#define STACK_GPA 0x3000u

struct vm {
	int kvm;
	int fd;
	int vcpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *ram;
	uint8_t *rom;
	uint8_t rom_copy[ROM_SIZE];
};

static int kvm_fd = -1;
static char kernel[65] = "unknown"; /* uname -r */
static int kernel_major, kernel_minor;

/* A failure names the kernel it happened on. */
#define canary_fail(fmt, ...) fail_msg("kernel %s: " fmt, kernel, __VA_ARGS__)

#ifndef KVM_CAP_DISABLE_QUIRKS2
#define KVM_CAP_DISABLE_QUIRKS2 213
#endif
#define QUIRK_SLOT_ZAP_ALL (1 << 7) /* KVM_X86_QUIRK_SLOT_ZAP_ALL, 6.12 */

/* ---- guest programs (16-bit real mode) ---- */

/*
 * Writes of each size to the read-only slot, then a marker into RAM:
 *	mov byte  [0x4123], 0x42	c6 06 23 41 42
 *	mov word  [0x4246], 0xbeef	c7 06 46 42 ef be
 *	mov dword [0x4388], 0x12345678	66 c7 06 88 43 78 56 34 12
 *	mov byte  [0x2000], 0x01	c6 06 00 20 01
 *	hlt				f4
 */
static const uint8_t prog_writes[] = {
	0xc6, 0x06, 0x23, 0x41, 0x42, 0xc7, 0x06, 0x46, 0x42,
	0xef, 0xbe, 0x66, 0xc7, 0x06, 0x88, 0x43, 0x78, 0x56,
	0x34, 0x12, 0xc6, 0x06, 0x00, 0x20, 0x01, 0xf4,
};

/*
 * Reads of each size from the read-only slot, stored into RAM:
 *	mov al,  [0x4010]		a0 10 40
 *	mov [0x2000], al		a2 00 20
 *	mov ax,  [0x4020]		a1 20 40
 *	mov [0x2002], ax		a3 02 20
 *	mov eax, [0x4030]		66 a1 30 40
 *	mov [0x2004], eax		66 a3 04 20
 *	hlt				f4
 */
static const uint8_t prog_reads[] = {
	0xa0, 0x10, 0x40, 0xa2, 0x00, 0x20, 0xa1, 0x20, 0x40, 0xa3, 0x02,
	0x20, 0x66, 0xa1, 0x30, 0x40, 0x66, 0xa3, 0x04, 0x20, 0xf4,
};

/*
 * One write to the read-only slot; the next instruction must run once,
 * after KVM_RUN is entered again, and the write must not be repeated:
 *	mov byte [0x4000], 0x11		c6 06 00 40 11
 *	mov byte [0x2001], 0x22		c6 06 01 20 22
 *	hlt				f4
 */
static const uint8_t prog_resume[] = {
	0xc6, 0x06, 0x00, 0x40, 0x11, 0xc6, 0x06, 0x01, 0x20, 0x22, 0xf4,
};

/*
 * Port I/O to the debug port 0xe9, then a marker:
 *	mov al, 0x5a			b0 5a
 *	out 0xe9, al			e6 e9
 *	mov byte [0x2000], 0x33		c6 06 00 20 33
 *	hlt				f4
 */
static const uint8_t prog_out[] = {
	0xb0, 0x5a, 0xe6, 0xe9, 0xc6, 0x06, 0x00, 0x20, 0x33, 0xf4,
};

/*
 *	hlt				f4
 */
static const uint8_t prog_hlt[] = {
	0xf4,
};

/* ---- helpers ---- */

static const char *exit_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_IO:
		return "IO";
	case KVM_EXIT_HLT:
		return "HLT";
	case KVM_EXIT_MMIO:
		return "MMIO";
	case KVM_EXIT_SHUTDOWN:
		return "SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY:
		return "FAIL_ENTRY";
	case KVM_EXIT_INTERNAL_ERROR:
		return "INTERNAL_ERROR";
	default:
		return "other";
	}
}

static void set_region(struct vm *vm, uint32_t slot, uint32_t flags,
		       uint64_t gpa, uint64_t size, void *mem)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)mem,
	};

	assert_int_equal(ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r), 0);
}

static int vm_setup(void **state)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	int size;
	size_t i;

	assert_non_null(vm);
	vm->kvm = kvm_fd;
	vm->fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	assert_true(vm->fd >= 0);

	vm->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(vm->ram != MAP_FAILED);
	vm->rom = mmap(NULL, ROM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(vm->rom != MAP_FAILED);
	for (i = 0; i < ROM_SIZE; i++)
		vm->rom[i] = (uint8_t)(0xa5 ^ (i * 7));
	memcpy(vm->rom_copy, vm->rom, ROM_SIZE);

	set_region(vm, 0, 0, 0, RAM_SIZE, vm->ram);
	set_region(vm, 1, KVM_MEM_READONLY, ROM_GPA, ROM_SIZE, vm->rom);

	vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	assert_true(vm->vcpu >= 0);
	size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	assert_true(size >= (int)sizeof(struct kvm_run));
	vm->run_size = (size_t)size;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu, 0);
	assert_true(vm->run != MAP_FAILED);

	*state = vm;
	return 0;
}

static int vm_teardown(void **state)
{
	struct vm *vm = *state;

	if (!vm)
		return 0;
	munmap(vm->run, vm->run_size);
	close(vm->vcpu);
	close(vm->fd);
	munmap(vm->ram, RAM_SIZE);
	munmap(vm->rom, ROM_SIZE);
	free(vm);
	return 0;
}

/* Put CODE at CODE_GPA and point the vCPU at it, in real mode. */
static void load(struct vm *vm, const uint8_t *code, size_t len)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	memset(vm->ram, 0, RAM_SIZE);
	memcpy(vm->ram + CODE_GPA, code, len);

	assert_int_equal(ioctl(vm->vcpu, KVM_GET_SREGS, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	sregs.es = sregs.ds;
	sregs.ss = sregs.ds;
	assert_int_equal(ioctl(vm->vcpu, KVM_SET_SREGS, &sregs), 0);

	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_GPA;
	regs.rsp = STACK_GPA;
	regs.rflags = 0x2; /* reserved bit 1; IF clear */
	assert_int_equal(ioctl(vm->vcpu, KVM_SET_REGS, &regs), 0);
}

/* KVM_RUN once; return the exit reason. */
static uint32_t run(struct vm *vm)
{
	int ret;

	do
		ret = ioctl(vm->vcpu, KVM_RUN, 0);
	while (ret < 0 && errno == EINTR);
	if (ret < 0)
		canary_fail("KVM_RUN: %s", strerror(errno));
	return vm->run->exit_reason;
}

static void expect_exit(struct vm *vm, uint32_t want)
{
	uint32_t got = run(vm);

	if (got != want)
		canary_fail("exit %u (%s), expected %u (%s)", got,
			    exit_name(got), want, exit_name(want));
}

static void expect_mmio_write(struct vm *vm, uint64_t gpa, const uint8_t *data,
			      uint32_t len)
{
	expect_exit(vm, KVM_EXIT_MMIO);
	assert_int_equal(vm->run->mmio.is_write, 1);
	assert_int_equal(vm->run->mmio.phys_addr, gpa);
	assert_int_equal(vm->run->mmio.len, len);
	assert_memory_equal(vm->run->mmio.data, data, len);
}

static uint64_t rip(struct vm *vm)
{
	struct kvm_regs regs;

	assert_int_equal(ioctl(vm->vcpu, KVM_GET_REGS, &regs), 0);
	return regs.rip;
}

/* ---- the facts ---- */

static void test_api_version(void **state)
{
	(void)state;
	assert_int_equal(ioctl(kvm_fd, KVM_GET_API_VERSION, 0), 12);
}

static void test_cap_readonly_mem(void **state)
{
	(void)state;
	assert_true(ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) >
		    0);
	assert_true(ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) >
		    0);
}

static void test_cap_nr_memslots(void **state)
{
	int n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);

	(void)state;
	printf("# KVM_CAP_NR_MEMSLOTS = %d\n", n);
	assert_true(n >= 32);
}

/* Writes to a read-only slot exit with the exact access; memory stays. */
static void test_readonly_write_exits_mmio(void **state)
{
	static const uint8_t b[] = { 0x42 };
	static const uint8_t w[] = { 0xef, 0xbe };
	static const uint8_t d[] = { 0x78, 0x56, 0x34, 0x12 };
	struct vm *vm = *state;

	load(vm, prog_writes, sizeof(prog_writes));
	expect_mmio_write(vm, ROM_GPA + 0x123, b, sizeof(b));
	expect_mmio_write(vm, ROM_GPA + 0x246, w, sizeof(w));
	expect_mmio_write(vm, ROM_GPA + 0x388, d, sizeof(d));
	expect_exit(vm, KVM_EXIT_HLT);
	assert_int_equal(vm->ram[DATA_GPA], 0x01);
	assert_memory_equal(vm->rom, vm->rom_copy, ROM_SIZE);
}

/* Reads from a read-only slot do not exit and see the backing memory. */
static void test_readonly_read_no_exit(void **state)
{
	struct vm *vm = *state;

	load(vm, prog_reads, sizeof(prog_reads));
	expect_exit(vm, KVM_EXIT_HLT);
	assert_memory_equal(vm->ram + DATA_GPA, vm->rom + 0x10, 1);
	assert_memory_equal(vm->ram + DATA_GPA + 2, vm->rom + 0x20, 2);
	assert_memory_equal(vm->ram + DATA_GPA + 4, vm->rom + 0x30, 4);
}

/*
 * What user space writes into the backing memory of a read-only slot
 * (spp committing the allowed bytes of a write) is what the guest reads.
 */
static void test_readonly_sees_user_writes(void **state)
{
	struct vm *vm = *state;

	load(vm, prog_reads, sizeof(prog_reads));
	expect_exit(vm, KVM_EXIT_HLT);

	vm->rom[0x10] = 0x3c;
	memcpy(vm->rom + 0x20, "\x01\x02", 2);
	memcpy(vm->rom + 0x30, "\xca\xfe\xf0\x0d", 4);
	load(vm, prog_reads, sizeof(prog_reads));
	expect_exit(vm, KVM_EXIT_HLT);
	assert_int_equal(vm->ram[DATA_GPA], 0x3c);
	assert_memory_equal(vm->ram + DATA_GPA + 2, "\x01\x02", 2);
	assert_memory_equal(vm->ram + DATA_GPA + 4, "\xca\xfe\xf0\x0d", 4);
}

/* After the MMIO exit the guest continues after the writing instruction. */
static void test_mmio_resume(void **state)
{
	static const uint8_t b[] = { 0x11 };
	struct vm *vm = *state;

	load(vm, prog_resume, sizeof(prog_resume));
	expect_mmio_write(vm, ROM_GPA, b, sizeof(b));
	assert_int_equal(vm->ram[DATA_GPA + 1], 0); /* not yet */
	expect_exit(vm, KVM_EXIT_HLT); /* no second MMIO exit */
	assert_int_equal(vm->ram[DATA_GPA + 1], 0x22);
	assert_int_equal(rip(vm), CODE_GPA + sizeof(prog_resume));
	assert_int_equal(vm->rom[0], vm->rom_copy[0]);
}

/* The registers come with every exit (spp reads rep string state there). */
static void test_cap_sync_regs(void **state)
{
	int r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);

	(void)state;
	printf("# kernel %s: KVM_CAP_SYNC_REGS = %#x\n", kernel, r);
	if (r <= 0 || !(r & KVM_SYNC_X86_REGS))
		canary_fail("KVM_CAP_SYNC_REGS = %d lacks KVM_SYNC_X86_REGS",
			    r);
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0)
		canary_fail("%s", "no KVM_CAP_IMMEDIATE_EXIT");
}

/*
 * From 6.12 on, KVM_X86_QUIRK_SLOT_ZAP_ALL is offered and can be disabled
 * on a VM (spp_guard_create() does): then a memslot change zaps only that
 * slot's mappings. Before 6.12 it does not exist, and spp's docs say so.
 */
static void test_slot_zap_quirk(void **state)
{
	struct vm *vm = *state;
	struct kvm_enable_cap off = {
		.cap = KVM_CAP_DISABLE_QUIRKS2,
		.args = { QUIRK_SLOT_ZAP_ALL },
	};
	bool new_kernel = kernel_major > 6 ||
			  (kernel_major == 6 && kernel_minor >= 12);
	int q = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_DISABLE_QUIRKS2);
	bool offered = q > 0 && (q & QUIRK_SLOT_ZAP_ALL);

	printf("# kernel %s: KVM_CAP_DISABLE_QUIRKS2 = %#x, slot zap quirk %s\n",
	       kernel, q, offered ? "offered" : "absent");
	if (new_kernel && !offered)
		canary_fail("%s", "6.12+ without KVM_X86_QUIRK_SLOT_ZAP_ALL");
	if (!new_kernel && offered)
		canary_fail("%s", "KVM_X86_QUIRK_SLOT_ZAP_ALL before 6.12 "
				  "(docs/performance.md (e) assumes none)");
	if (offered && ioctl(vm->fd, KVM_ENABLE_CAP, &off))
		canary_fail("disabling KVM_X86_QUIRK_SLOT_ZAP_ALL: %s",
			    strerror(errno));
}

/* out to port 0xe9 exits KVM_EXIT_IO with port, size and data. */
static void test_port_io(void **state)
{
	struct vm *vm = *state;
	const uint8_t *data;

	load(vm, prog_out, sizeof(prog_out));
	expect_exit(vm, KVM_EXIT_IO);
	assert_int_equal(vm->run->io.direction, KVM_EXIT_IO_OUT);
	assert_int_equal(vm->run->io.port, 0xe9);
	assert_int_equal(vm->run->io.size, 1);
	assert_int_equal(vm->run->io.count, 1);
	data = (const uint8_t *)vm->run + vm->run->io.data_offset;
	assert_int_equal(data[0], 0x5a);
	expect_exit(vm, KVM_EXIT_HLT);
	assert_int_equal(vm->ram[DATA_GPA], 0x33);
}

/* hlt exits KVM_EXIT_HLT with RIP after the instruction. */
static void test_hlt(void **state)
{
	struct vm *vm = *state;

	load(vm, prog_hlt, sizeof(prog_hlt));
	expect_exit(vm, KVM_EXIT_HLT);
	assert_int_equal(rip(vm), CODE_GPA + sizeof(prog_hlt));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api_version),
		cmocka_unit_test(test_cap_readonly_mem),
		cmocka_unit_test(test_cap_nr_memslots),
		cmocka_unit_test_setup_teardown(test_readonly_write_exits_mmio,
						vm_setup, vm_teardown),
		cmocka_unit_test_setup_teardown(test_readonly_read_no_exit,
						vm_setup, vm_teardown),
		cmocka_unit_test_setup_teardown(test_readonly_sees_user_writes,
						vm_setup, vm_teardown),
		cmocka_unit_test_setup_teardown(test_mmio_resume, vm_setup,
						vm_teardown),
		cmocka_unit_test_setup_teardown(test_port_io, vm_setup,
						vm_teardown),
		cmocka_unit_test_setup_teardown(test_hlt, vm_setup,
						vm_teardown),
		cmocka_unit_test(test_cap_sync_regs),
		cmocka_unit_test_setup_teardown(test_slot_zap_quirk, vm_setup,
						vm_teardown),
	};
	struct utsname u;
	int ret;

	if (spp_kt_no_kvm("test_kvm_assumptions"))
		return 0;
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0)
		return 1;
	if (!uname(&u)) {
		snprintf(kernel, sizeof(kernel), "%s", u.release);
		sscanf(kernel, "%d.%d", &kernel_major, &kernel_minor);
	}
	printf("# KVM canary on kernel %s\n", kernel);
	fflush(stdout);
	ret = cmocka_run_group_tests_name(kernel, tests, NULL, NULL);
	close(kvm_fd);
	return ret;
}
