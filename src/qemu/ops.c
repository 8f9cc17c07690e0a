// SPDX-License-Identifier: MIT
/*
 * ops.c - what the control socket asks of the QEMU shim.
 *
 * Pages KVM writes itself: the guest hands KVM the addresses of its
 * kvmclock, steal-time, PV-EOI and async-page-fault areas through MSRs,
 * and KVM fills them from the kernel (kvm_write_guest), past any memslot
 * flag: on a read-only slot such a write fails silently, so the guest's
 * clock or its PV features would break while spp reports nothing. The
 * shim reads those MSRs of every vCPU while they are paused and refuses
 * to protect such a page.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "shim.h"

#define MSR_LSTAR 0xc0000082
#define MSR_KVM_WALL_CLOCK 0x11
#define MSR_KVM_SYSTEM_TIME 0x12
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define MSR_KVM_ASYNC_PF_EN 0x4b564d02
#define MSR_KVM_STEAL_TIME 0x4b564d03
#define MSR_KVM_PV_EOI_EN 0x4b564d04

static const struct {
	uint32_t index;
	const char *why;
} pv_msrs[] = {
	{ MSR_KVM_SYSTEM_TIME_NEW,
	  "the guest's kvmclock area is on this page: KVM writes it itself" },
	{ MSR_KVM_SYSTEM_TIME,
	  "the guest's kvmclock area is on this page: KVM writes it itself" },
	{ MSR_KVM_STEAL_TIME,
	  "the guest's steal-time area is on this page: KVM writes it itself" },
	{ MSR_KVM_PV_EOI_EN,
	  "the guest's PV EOI flag is on this page: KVM writes it itself" },
	{ MSR_KVM_ASYNC_PF_EN,
	  "the guest's async page fault area is on this page: KVM writes it "
	  "itself" },
};
#define NR_PV_MSRS (sizeof(pv_msrs) / sizeof(pv_msrs[0]))

/* The MSR's guest-physical page if it is enabled (bit 0), else -1. */
static uint64_t pv_page(uint64_t val)
{
	return (val & 1) ? (val & ~0xfffULL) >> 12 : UINT64_MAX;
}

static int protectable(void *ctx, uint64_t gfn, uint64_t npages,
		       const char **why)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[NR_PV_MSRS];
	} m;
	unsigned int i, k;
	int ret = 0;

	(void)ctx;
	/* vCPUs paused: their fds are free for KVM_GET_MSRS */
	shim_pause(&shim);
	for (i = 0; i < shim.nvcpus && !ret; i++) {
		memset(&m, 0, sizeof(m));
		m.hdr.nmsrs = NR_PV_MSRS;
		for (k = 0; k < NR_PV_MSRS; k++)
			m.e[k].index = pv_msrs[k].index;
		/* returns how many it read: an MSR KVM lacks ends the list */
		long n = shim_ioctl(shim.vcpus[i]->fd, KVM_GET_MSRS, &m);

		for (k = 0; n > 0 && k < (unsigned long)n; k++) {
			uint64_t p = pv_page(m.e[k].data);

			if (p - gfn < npages) {
				*why = pv_msrs[k].why;
				ret = -EPERM;
				break;
			}
		}
	}
	shim_resume(&shim);
	return ret;
}

static int held(void *ctx, struct spp_event *evs, unsigned int n)
{
	unsigned int i, k = 0;

	(void)ctx;
	pthread_mutex_lock(&shim.lock);
	for (i = 0; i < shim.nvcpus && k < n; i++)
		if (shim.vcpus[i]->held)
			evs[k++] = shim.vcpus[i]->held_ev;
	pthread_mutex_unlock(&shim.lock);
	return (int)k;
}

static int resolve(void *ctx, uint32_t vcpu, bool commit)
{
	struct shim_vcpu *v = NULL;
	struct spp_event ev;
	unsigned int i;
	int ret;

	(void)ctx;
	pthread_mutex_lock(&shim.lock);
	for (i = 0; i < shim.nvcpus; i++)
		if (shim.vcpus[i]->id == vcpu && shim.vcpus[i]->held)
			v = shim.vcpus[i];
	if (v)
		ev = v->held_ev;
	pthread_mutex_unlock(&shim.lock);
	if (!v)
		return -ENOENT;
	/*
	 * Outside shim.lock: the guard's lock comes first (a protection
	 * change holds it while it pauses). Only this thread resolves, and
	 * the vCPU waits until it does, so the store is still the held one.
	 */
	ret = spp_guard_resolve_stop(shim.g, &ev, commit);
	if (ret >= 0) {
		pthread_mutex_lock(&shim.lock);
		v->held = false;
		pthread_cond_broadcast(&shim.cond);
		pthread_mutex_unlock(&shim.lock);
	}
	return ret;
}

static int start(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&shim.lock);
	shim.started = true;
	pthread_cond_broadcast(&shim.cond);
	pthread_mutex_unlock(&shim.lock);
	return 0;
}

/* The kernel-address commands' look at vCPU @vcpu (the @vcpu-th QEMU
 * created), paused: its fd is then free for KVM_GET_SREGS/MSRS. */
static int vcpu_state(void *ctx, uint32_t vcpu, struct spp_ctl_vcpu_state *st)
{
	struct kvm_sregs sregs;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[1];
	} m;
	int fd = -1, err = 0;
	long ret;

	(void)ctx;
	pthread_mutex_lock(&shim.lock);
	if (vcpu < shim.nvcpus)
		fd = shim.vcpus[vcpu]->fd;
	pthread_mutex_unlock(&shim.lock);
	if (fd < 0)
		return -ENOENT;
	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 1;
	m.e[0].index = MSR_LSTAR;
	shim_pause(&shim);
	ret = shim_ioctl(fd, KVM_GET_SREGS, &sregs);
	if (!ret)
		ret = shim_ioctl(fd, KVM_GET_MSRS, &m) == 1 ? 0 : -1;
	if (ret < 0)
		err = errno ? errno : EIO;
	shim_resume(&shim);
	if (err)
		return -err;
	st->paging = (struct spp_x86_paging){ sregs.cr0, sregs.cr3, sregs.cr4,
					      sregs.efer };
	st->lstar = m.e[0].data;
	st->idt_base = sregs.idt.base;
	return 0;
}

const struct spp_ctl_ops shim_ctl_ops = {
	.protectable = protectable,
	.held = held,
	.resolve = resolve,
	.start = start,
	.vcpu_state = vcpu_state,
};
