// SPDX-License-Identifier: MIT
/*
 * embed.c - a minimal VMM that owns its VM, memory and exit loop and
 * embeds spp's guard for sub-page write protection.
 *
 * The VMM maps 1 MiB of RAM as memslot 0 and runs a few real-mode
 * instructions that store into page 2. It hands the RAM to a guard,
 * denies sub-page 0 of page 2, and passes every KVM_EXIT_MMIO to
 * spp_guard_handle_exit() first. Then it checks what landed, merges the
 * guard's dirty pages (bytes spp wrote bypass KVM's dirty log), and gives
 * the RAM back.
 *
 * Output is TAP, one line per check. Exit status: 0 on success, 1 on a
 * failed check; without /dev/kvm it prints a TAP skip and exits 0.
 * Build: cc embed.c $(pkg-config --cflags --libs spp) -lpthread
 */
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

#define RAM_SIZE (1u << 20)
#define RAM_SLOT 0
#define PAGE2 0x2000

/* Real-mode guest: three stores into page 2 and one to a device, hlt. */
static const uint8_t guest_code[] = {
	0xb8, 0x11, 0x11, /* mov ax, 0x1111 */
	0xa3, 0x00, 0x20, /* mov [0x2000], ax: sub-page 0, denied */
	0xa3, 0x80, 0x20, /* mov [0x2080], ax: sub-page 1, allowed */
	0xa3, 0x7f, 0x20, /* mov [0x207f], ax: straddles 0|1, denied */
	0xa3, 0x00, 0xf0, /* mov [0xf000], ax: plain RAM, no exit */
	0xf4, /* hlt */
};

#define NCHECKS 10

static int check(int ok, const char *what)
{
	static int n;

	printf("%sok %d - %s\n", ok ? "" : "not ", ++n, what);
	return ok ? 0 : 1;
}

static void on_event(void *ctx, const struct spp_event *ev)
{
	int *n = ctx;

	(*n)++;
	printf("# event: %u-byte store at 0x%llx denied (sub-page %u)\n",
	       ev->len, (unsigned long long)ev->gpa, ev->subpage);
}

int main(void)
{
	struct kvm_userspace_memory_region slot = { 0 };
	struct spp_guard_ops ops = { .event = on_event };
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct spp_guard *g;
	struct kvm_run *run;
	uint64_t dirty[4];
	int kvm, vm, vcpu, ret, nevents = 0, fails = 0, own_exits = 0;
	uint8_t *ram;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		printf("1..0 # SKIP no /dev/kvm: %s\n", strerror(errno));
		return 0; /* TAP skip: exit 77 would read as an error */
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (vm < 0 || ram == MAP_FAILED) {
		perror("embed: VM");
		return 1;
	}
	memcpy(ram, guest_code, sizeof(guest_code));
	{
		/* stores KVM cannot emulate must exit (for spp_guard_emulate),
		 * not become a #UD in the guest; best effort on old kernels */
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_EXIT_ON_EMULATION_FAILURE,
			.args = { 1 },
		};

		if (ioctl(vm, KVM_CHECK_EXTENSION,
			  KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0)
			ioctl(vm, KVM_ENABLE_CAP, &cap);
	}
	slot.slot = RAM_SLOT;
	slot.memory_size = RAM_SIZE;
	slot.userspace_addr = (uint64_t)(uintptr_t)ram;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
		perror("embed: memslot");
		return 1;
	}

	/* Hand the RAM to spp and protect sub-page 0 of page 2. This VMM
	 * changes protections only while its one vCPU is stopped, so it needs
	 * no pause/resume callbacks. */
	ret = spp_guard_create(&g, vm, &ops, &nevents);
	if (!ret)
		ret = spp_guard_add_memory(g, RAM_SLOT, 0, RAM_SIZE, ram);
	if (!ret)
		ret = spp_guard_set_range(g, PAGE2 >> 12, 1, ~1u);
	if (ret) {
		fprintf(stderr, "embed: guard: %s\n", strerror(-ret));
		return 1;
	}

	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	run = mmap(NULL, (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0),
		   PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (vcpu < 0 || run == MAP_FAILED ||
	    ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
		perror("embed: vCPU");
		return 1;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
		perror("embed: registers");
		return 1;
	}

	printf("1..%d\n", NCHECKS);
	/* The VMM's exit loop: spp first for MMIO, then its own devices. */
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			perror("embed: KVM_RUN");
			return 1;
		}
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
			/* a store KVM's emulator lacks: spp may do it */
			struct spp_insn_report rep;

			ret = spp_guard_emulate(g, vcpu, run, 0, NULL, &rep);
			if (ret == SPP_EXIT_HANDLED)
				continue;
			fprintf(stderr, "embed: internal error%s%s\n",
				ret == -EOPNOTSUPP ? ": " : "",
				ret == -EOPNOTSUPP ? rep.text : "");
			return 1;
		}
		if (run->exit_reason != KVM_EXIT_MMIO) {
			fprintf(stderr, "embed: exit %u\n", run->exit_reason);
			return 1;
		}
		ret = spp_guard_handle_exit(g, vcpu, run, 0, NULL);
		if (ret < 0) {
			fprintf(stderr, "embed: %s\n", strerror(-ret));
			return 1;
		}
		if (ret == SPP_EXIT_NOT_MINE)
			own_exits++; /* the VMM's own MMIO device */
	}

	fails += check(ram[PAGE2] == 0 && ram[PAGE2 + 1] == 0,
		       "denied store did not land");
	fails += check(ram[PAGE2 + 0x80] == 0x11 && ram[PAGE2 + 0x81] == 0x11,
		       "allowed store landed");
	fails += check(ram[PAGE2 + 0x7f] == 0, "straddling store did not land");
	fails += check(ram[0xf000] == 0x11, "store elsewhere is plain RAM");
	fails += check(nevents == 2, "two events");
	fails += check(own_exits == 0, "no exit left for the VMM");
	fails += check(spp_guard_get_dirty(g, 0, 256, dirty, true) == 0 &&
			       dirty[0] == 1ULL << 2,
		       "dirty log: page 2, written by spp");
	fails += check(spp_guard_get_dirty(g, 0, 256, dirty, false) == 0 &&
			       dirty[0] == 0,
		       "dirty log cleared");
	fails += check(spp_guard_remove_memory(g, 0) == -EBUSY,
		       "RAM with protections cannot be taken back");
	fails += check(spp_guard_set_range(g, PAGE2 >> 12, 1,
					   SPP_ACCESS_FULL) == 0 &&
			       spp_guard_remove_memory(g, 0) == 0,
		       "unprotected RAM is back in memslot 0");
	spp_guard_destroy(g);
	return fails ? 1 : 0;
}
