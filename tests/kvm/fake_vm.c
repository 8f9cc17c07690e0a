// SPDX-License-Identifier: MIT
/*
 * fake_vm.c - the fake KVM VM's ioctl() (fake_vm.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "fake_vm.h"

#ifndef KVM_CAP_DISABLE_QUIRKS2
#define KVM_CAP_DISABLE_QUIRKS2 213
#endif

int spp_fake_vm_fd = -1;
int spp_fake_vcpu_fd = -1;

/* The ioctl() libspp calls: the fake VM's and vCPU's, or the kernel's. */
int ioctl(int fd, unsigned long req, ...)
{
	unsigned long arg;
	va_list ap;

	va_start(ap, req);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (fd >= 0 && fd == spp_fake_vcpu_fd) {
		errno = req == KVM_RUN ? EINTR : ENOTTY;
		return -1;
	}
	if (fd < 0 || fd != spp_fake_vm_fd)
		return (int)syscall(SYS_ioctl, fd, req, arg);
	switch (req) {
	case KVM_CHECK_EXTENSION:
		switch (arg) {
		case KVM_CAP_READONLY_MEM:
			return 1;
		case KVM_CAP_NR_MEMSLOTS:
			return 32764;
		case KVM_CAP_SYNC_REGS:
			return KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS |
			       KVM_SYNC_X86_EVENTS;
		case KVM_CAP_DISABLE_QUIRKS2:
			return 1 << 7; /* the slot zap quirk */
		default:
			return 0;
		}
	case KVM_SET_USER_MEMORY_REGION:
	case KVM_ENABLE_CAP:
		return 0;
	default:
		errno = ENOTTY;
		return -1;
	}
}
