/* SPDX-License-Identifier: MIT */
/*
 * shim.h - the QEMU shim's state, shared by its files. Not installed.
 *
 * libspp-qemu.so is preloaded into an unmodified QEMU (spp qemu, or by
 * hand / libvirt: docs/qemu.md). It interposes ioctl() and embeds a guard
 * the way the built-in VMM does:
 *
 *   shim.c   the interposed ioctl(): the VM and its vCPUs as QEMU creates
 *            them, QEMU's memslot calls handed to the guard (RAM slots of
 *            both address spaces; read-only ROM slots pass), dirty logs
 *            merged over the guard's pieces, capabilities the shim cannot
 *            honour hidden, a guest reset (QEMU writing the reset state
 *            into the first vCPU) told to the control socket's kernel
 *            rules; start-up from the environment
 *   vcpu.c   QEMU's KVM_RUN: trapped stores resolved inside the call
 *            (QEMU never sees them), the pause every protection change
 *            needs, stores held under policy STOP
 *   ops.c    what the control socket asks of this VMM: pages KVM writes
 *            itself (kvmclock, steal time, PV EOI, async PF), held
 *            stores, start
 *
 * Environment (set by spp qemu, or by hand):
 *   SPP_QEMU_CONTROL  the control socket's path (required: without it the
 *                     shim stays out of the way and says so once)
 *   SPP_QEMU_HOLD     "1": vCPUs wait before their first KVM_RUN until a
 *                     client sends "start" (spp qemu configures first);
 *                     the socket then appears only when the first vCPU
 *                     comes to KVM_RUN, i.e. once QEMU has mapped all
 *                     its RAM (without hold: when QEMU creates the VM)
 */
#ifndef SPP_QEMU_SHIM_H
#define SPP_QEMU_SHIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <spp/ctl.h>
#include <spp/guard.h>

struct kvm_run;

/* vCPUs the shim tracks (KVM's own limit on x86 is 1024 ids). */
#define SHIM_MAX_VCPUS 1024
/* Memslot ids kept from QEMU for the guard's pieces (per address space). */
#define SHIM_RESERVED_SLOTS 1024

struct shim_vcpu {
	int fd;
	uint32_t id; /* KVM_CREATE_VCPU's argument: the events' vcpu */
	struct kvm_run *run; /* the shim's own mapping of the vCPU's page */
	pid_t tid; /* the thread that calls KVM_RUN (0: not yet) */
	bool in_gate; /* counted in shim.active */
	bool held; /* a store held under policy STOP */
	struct spp_event held_ev;
};

struct shim {
	pthread_mutex_t lock; /* everything below but the guard */
	pthread_cond_t cond; /* pausing, started, held changed */
	int kvm_fd; /* the /dev/kvm fd QEMU created the VM on */
	int vm_fd; /* -1: no VM yet */
	struct spp_guard *g;
	struct spp_ctl *ctl;
	const char *control; /* SPP_QEMU_CONTROL */
	bool hold; /* SPP_QEMU_HOLD */
	bool started; /* "start" came (or no hold) */
	int run_size; /* KVM_GET_VCPU_MMAP_SIZE */
	int nr_memslots; /* KVM's, per address space */
	struct shim_vcpu *vcpus[SHIM_MAX_VCPUS];
	unsigned int nvcpus;
	int pausing; /* pause() calls in progress */
	unsigned int active; /* vCPU threads inside the KVM_RUN gate */
	unsigned int waiting; /* vCPU threads held before their first run */
};

extern struct shim shim;

/* One diagnostic line "spp qemu: ..." on stderr (QEMU's stderr). */
__attribute__((format(printf, 1, 2))) void shim_say(const char *fmt, ...);

/* Open the control socket (shim.ctl); says why not. 0 or -errno. */
int shim_control_open(void);

/* The raw ioctl, past the interposer. */
long shim_ioctl(int fd, unsigned long req, void *arg);

/* vcpu.c: QEMU's KVM_RUN on @v. Returns what ioctl() returns (-1 and
 * errno, or 0). */
int shim_vcpu_run(struct shim_vcpu *v);

/* vcpu.c: the guard's pause()/resume(): every vCPU outside KVM_RUN and
 * outside the guard. */
int shim_pause(void *ctx);
void shim_resume(void *ctx);

/* vcpu.c: the guard's event callback: to the control socket. */
void shim_event(void *ctx, const struct spp_event *ev);

/* ops.c: the control socket's ops. */
extern const struct spp_ctl_ops shim_ctl_ops;

#endif /* SPP_QEMU_SHIM_H */
