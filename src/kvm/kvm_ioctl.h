/* SPDX-License-Identifier: MIT */
/*
 * kvm_ioctl.h - every KVM ioctl of libspp goes through these.
 *
 * spp_kvm_ioctl(fd, REQ, ptr) returns the ioctl's non-negative result or
 * -errno (never -1 with errno), and refuses to compile when *ptr is not
 * the size the request number encodes (_IOC_SIZE), so a wrong struct for
 * a request is a build error rather than a kernel reading past it.
 * spp_kvm_ioctl_val() is for requests that take a plain integer
 * argument (KVM_CHECK_EXTENSION, KVM_CREATE_VCPU, KVM_RUN's 0).
 *
 * They call libc's ioctl() (so a test program can interpose it, as
 * bench/bench_guard.c does) and count themselves in the thread's
 * spp_kvm_ioctl_depth meanwhile: the QEMU shim, which interposes ioctl()
 * on QEMU and links libspp in, passes those calls straight to the kernel
 * instead of treating them as QEMU's.
 *
 * Internal to libspp (src/kvm and src/vmm).
 */
#ifndef SPP_KVM_IOCTL_H
#define SPP_KVM_IOCTL_H

#include <errno.h>
#include <sys/ioctl.h>

/* Calls of the functions below in progress on this thread (hidden). */
extern __thread int spp_kvm_ioctl_depth __attribute__((visibility("hidden")));

static inline int spp_kvm_ioctl_raw(int fd, unsigned long req, void *arg)
{
	int r;

	spp_kvm_ioctl_depth++;
	r = ioctl(fd, req, arg);
	spp_kvm_ioctl_depth--;
	return r < 0 ? -errno : r;
}

static inline int spp_kvm_ioctl_val(int fd, unsigned long req,
				    unsigned long val)
{
	int r;

	spp_kvm_ioctl_depth++;
	r = ioctl(fd, req, val);
	spp_kvm_ioctl_depth--;
	return r < 0 ? -errno : r;
}

#define spp_kvm_ioctl(fd, req, arg)                                      \
	__extension__({                                                  \
		_Static_assert(_IOC_SIZE(req) == sizeof(*(arg)),         \
			       "argument size differs from " #req "'s"); \
		spp_kvm_ioctl_raw((fd), (req), (arg));                   \
	})

#endif /* SPP_KVM_IOCTL_H */
