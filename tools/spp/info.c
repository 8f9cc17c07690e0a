// SPDX-License-Identifier: MIT
/*
 * info.c - "spp info": what this host's KVM offers spp, and whether guest
 * CPL0 code runs natively: the built-in probe guest (guests/probe.c)
 * spins the same loop at CPL0 and at CPL3 and the host times both. On
 * kvm_pvm hosts guest CPL0 code is emulated, ~1000 times slower.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <spp/spp.h>
#include <spp/guest_mem.h>
#include <spp/vm.h>

#include "guests/probe_guest.h"
#include "spp_cli.h"

#define PROBE_TARGET_S 0.03 /* each measurement at least this long */
#define PROBE_CAP_MS 20000 /* give up on a loop after this */

/* Run the probe once with @cmd/@iters; seconds until its next sync, or
 * a negative value if it did not come back. */
static double probe_run(struct spp_vm *vm, uint64_t cmd, uint64_t iters)
{
	struct probe_mbox *m =
		spp_guest_mem_ptr(spp_vm_mem(vm), PROBE_MBOX, sizeof(*m));
	struct spp_vm_result res;
	double t;

	m->cmd = cmd;
	m->iters = iters;
	t = spp_cli_now();
	if (spp_vm_run(vm, PROBE_CAP_MS, &res) || res.reason != SPP_VM_SYNC ||
	    res.value != PROBE_READY)
		return -1;
	return spp_cli_now() - t;
}

/* Seconds per loop iteration at the current CPL, and the empty round
 * trip in *@rtt. */
static double probe_cpl(struct spp_vm *vm, uint64_t *iters, double *rtt)
{
	double base = 1e9, t = 0;
	int i;

	for (i = 0; i < 3; i++) {
		double b = probe_run(vm, PROBE_LOOP, 0);

		if (b < 0)
			return -1;
		if (b < base)
			base = b;
	}
	*rtt = base;
	for (;;) {
		t = probe_run(vm, PROBE_LOOP, *iters);
		if (t < 0)
			return -1;
		if (t - base >= PROBE_TARGET_S || *iters >= (1ULL << 34))
			break;
		*iters *= 2;
	}
	return (t - base) / (double)*iters;
}

static void probe(void)
{
	struct spp_vm *vm;
	uint64_t n0 = 1024, n3;
	double t0, t3, rtt0 = 0, rtt3 = 0, ratio;
	int ret;

	ret = spp_vm_create(&vm, NULL);
	if (!ret)
		ret = spp_vm_load_elf(vm, spp_probe_guest,
				      spp_probe_guest_size);
	if (ret) {
		printf("guest CPL0 code:   not measured (%s)\n",
		       strerror(-ret));
		spp_vm_destroy(vm);
		return;
	}
	t0 = probe_run(vm, PROBE_LOOP, 0); /* to the first sync */
	if (t0 >= 0)
		t0 = probe_cpl(vm, &n0, &rtt0);
	n3 = n0;
	if (t0 > 0 && probe_run(vm, PROBE_USER, 0) >= 0)
		t3 = probe_cpl(vm, &n3, &rtt3);
	else
		t3 = -1;
	spp_vm_destroy(vm);
	if (t0 <= 0 || t3 <= 0) {
		printf("guest CPL0 code:   not measured (the probe did not "
		       "finish)\n");
		return;
	}
	ratio = t0 / t3;
	printf("guest CPL0 code:   %s: a CPL0 loop takes %.2fx the time of "
	       "the same loop at CPL3\n"
	       "                   (%.2f vs %.2f ns per iteration)\n",
	       ratio < 3  ? "native" :
	       ratio < 30 ? "slow" :
			    "EMULATED (kvm_pvm?): keep guest code at CPL3",
	       ratio, t0 * 1e9, t3 * 1e9);
	printf("exit round trip:   %.0f us (CPL0), %.0f us (CPL3)\n",
	       rtt0 * 1e6, rtt3 * 1e6);
}

static int cap(int fd, long c)
{
	return ioctl(fd, KVM_CHECK_EXTENSION, c);
}

/* Values of linux/kvm.h newer than the headers spp may be built with. */
#ifndef KVM_CAP_DISABLE_QUIRKS2
#define KVM_CAP_DISABLE_QUIRKS2 213
#endif
#ifndef KVM_CAP_MEMORY_FAULT_INFO
#define KVM_CAP_MEMORY_FAULT_INFO 232
#endif
#define QUIRK_SLOT_ZAP_ALL (1 << 7) /* KVM_X86_QUIRK_SLOT_ZAP_ALL */

/* The KVM features spp uses where they exist, and what is missing. */
static void features(int vm)
{
	int quirks = cap(vm, KVM_CAP_DISABLE_QUIRKS2);
	int sync = cap(vm, KVM_CAP_SYNC_REGS);
	struct kvm_enable_cap off = {
		.cap = KVM_CAP_DISABLE_QUIRKS2,
		.args = { QUIRK_SLOT_ZAP_ALL },
	};

	/* As spp_guard_create() does, on this VM. */
	if (quirks > 0 && (quirks & QUIRK_SLOT_ZAP_ALL))
		printf("slot zap quirk:    %s (KVM_X86_QUIRK_SLOT_ZAP_ALL)\n",
		       !ioctl(vm, KVM_ENABLE_CAP, &off) ?
			       "disabled by spp: a protection change "
			       "re-faults only the memslots it replaces" :
			       "offered, but disabling it FAILED: every "
			       "protection change re-faults all guest memory");
	else
		printf("slot zap quirk:    MISSING (kernel < 6.12): every "
		       "protection change re-faults all guest memory "
		       "(KVM_X86_QUIRK_SLOT_ZAP_ALL)\n");
	printf("sync regs:         %s (KVM_CAP_SYNC_REGS)\n",
	       sync > 0 && (sync & KVM_SYNC_X86_REGS) ?
		       "used: the registers come with every exit" :
		       "MISSING: rep string stores cost an exit per element");
	printf("immediate exit:    %s (KVM_CAP_IMMEDIATE_EXIT)\n",
	       cap(vm, KVM_CAP_IMMEDIATE_EXIT) > 0 ?
		       "used: pausing vCPUs, split stores" :
		       "MISSING: spp cannot pause vCPUs");
	printf("memory fault info: %s (KVM_CAP_MEMORY_FAULT_INFO)\n",
	       cap(vm, KVM_CAP_MEMORY_FAULT_INFO) > 0 ?
		       "offered, not needed: spp's traps are MMIO exits" :
		       "not offered (kernel < 6.8), not needed");
}

int spp_cli_info(void)
{
	struct utsname u;
	int kvm, vm, api;

	printf("spp version:       %s\n", spp_version());
	printf("kernel:            %s\n", uname(&u) ? "unknown" : u.release);
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		printf("/dev/kvm:          unusable: %s\n", strerror(errno));
		return SPP_CLI_ERROR;
	}
	api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	printf("/dev/kvm:          %s (API version %d)\n",
	       api == KVM_API_VERSION && vm >= 0 ? "present and usable" :
						   "present but UNUSABLE",
	       api);
	if (vm < 0) {
		printf("KVM_CREATE_VM:     %s\n", strerror(errno));
		close(kvm);
		return SPP_CLI_ERROR;
	}
	printf("read-only slots:   %s (KVM_CAP_READONLY_MEM)\n",
	       cap(vm, KVM_CAP_READONLY_MEM) > 0 ? "yes" :
						   "NO: spp cannot work");
	printf("memslots:          %d (KVM_CAP_NR_MEMSLOTS)\n",
	       cap(vm, KVM_CAP_NR_MEMSLOTS));
	printf("vCPUs:             max %d, recommended %d (KVM); spp guests "
	       "up to %d\n",
	       cap(vm, KVM_CAP_MAX_VCPUS), cap(vm, KVM_CAP_NR_VCPUS),
	       SPP_LAYOUT_MAX_VCPUS);
	printf("emulation failure: %s (KVM_CAP_EXIT_ON_EMULATION_FAILURE)\n",
	       cap(vm, KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0 ?
		       "reported to spp" :
		       "not reported (old kernel)");
	features(vm);
	close(vm);
	close(kvm);
	fflush(stdout);
	probe();
	return SPP_CLI_OK;
}
