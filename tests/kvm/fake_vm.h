/* SPDX-License-Identifier: MIT */
/*
 * fake_vm.h - a fake KVM VM for programs that drive the guard on
 * fabricated exits without KVM (tests/kvm/test_bytes.c,
 * bench/bench_guard.c).
 *
 * fake_vm.c defines ioctl(), which the statically linked libspp calls:
 * on spp_fake_vm_fd it answers the guard's few VM ioctls itself
 * (capabilities as a 6.12 host has them: read-only memory, 32764
 * memslots, sync regs with SREGS, the slot zap quirk; memslot changes and
 * KVM_ENABLE_CAP accepted; anything else ENOTTY), on spp_fake_vcpu_fd
 * KVM_RUN fails with EINTR ("instruction complete") and anything else
 * with ENOTTY; every other fd goes to the kernel.
 *
 * Built into each such program with fake_vm.c (tests/kvm/meson.build,
 * bench/meson.build).
 */
#ifndef SPP_FAKE_VM_H
#define SPP_FAKE_VM_H

/*
 * The fds the fake answers for; -1 (the default): none. The program
 * opens them itself (on /dev/null, say) and passes spp_fake_vm_fd to
 * spp_guard_create(), spp_fake_vcpu_fd to spp_guard_handle_exit().
 */
extern int spp_fake_vm_fd;
extern int spp_fake_vcpu_fd;

#endif
