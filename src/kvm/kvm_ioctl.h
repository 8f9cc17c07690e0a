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
 * They enter the kernel through syscall(SYS_ioctl) rather than libc's
 * ioctl(): inside the QEMU shim, which interposes ioctl() on QEMU, the
 * library's own KVM calls must not come back into the shim.
 *
 * Internal to libspp (src/kvm and src/vmm).
 */
#ifndef SPP_KVM_IOCTL_H
#define SPP_KVM_IOCTL_H

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int spp_kvm_ioctl_raw(int fd, unsigned long req, void *arg)
{
	long r = syscall(SYS_ioctl, fd, req, arg);

	return r < 0 ? -errno : (int)r;
}

static inline int spp_kvm_ioctl_val(int fd, unsigned long req,
				    unsigned long val)
{
	long r = syscall(SYS_ioctl, fd, req, val);

	return r < 0 ? -errno : (int)r;
}

#define spp_kvm_ioctl(fd, req, arg)                                      \
	__extension__({                                                  \
		_Static_assert(_IOC_SIZE(req) == sizeof(*(arg)),         \
			       "argument size differs from " #req "'s"); \
		spp_kvm_ioctl_raw((fd), (req), (arg));                   \
	})

#endif /* SPP_KVM_IOCTL_H */
