/* SPDX-License-Identifier: MIT */
/*
 * vm_priv.h - inside the built-in VMM (spp/vm.h): the VM and vCPU
 * structures, exit dispatch to registered handlers, and the one way a
 * run's result is made. Internal to libspp (src/vmm).
 *
 * Exit dispatch. Whoever owns exits registers a handler for a KVM exit
 * reason (KVM_EXIT_*) and, for KVM_EXIT_MMIO and KVM_EXIT_IO, optionally
 * a range of guest-physical addresses or ports. After KVM_RUN returns,
 * spp_vmm_dispatch() asks the handlers registered for that exit reason
 * whose range holds the exit's address (range-less ones: every exit of
 * the reason), in registration order, until one takes it. An exit no
 * handler takes ends the run as SPP_VM_UNHANDLED. Today's handlers:
 *
 *   vm.c       the guard: every MMIO exit first (stores into trapped
 *              pages), KVM_EXIT_INTERNAL_ERROR (stores KVM cannot
 *              emulate) and KVM_EXIT_INTR (the stuck-vCPU probe);
 *              HLT, SHUTDOWN, FAIL_ENTRY and the internal-error report
 *   devices.c  the doorbell page (a table: offset -> operation) and the
 *              console and exit ports
 */
#ifndef SPP_VMM_VM_PRIV_H
#define SPP_VMM_VM_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include <spp/guest_mem.h>
#include <spp/vm.h>

struct spp_vcpu {
	struct spp_vm *vm;
	uint32_t index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
	bool parked; /* outside KVM_RUN and the exit handler */
	bool in_call; /* in a guard call from a doorbell: counts as parked */
	bool probe; /* kicked to check it is not stuck in KVM_RUN */
	uint64_t exits; /* KVM_RUN returns (written by the vCPU thread) */
	uint64_t probe_seen; /* exits at the last probe (main thread) */
};

/* What a handler did with an exit. */
enum spp_vmm_ret {
	SPP_VMM_PASS, /* not mine: ask the next handler */
	SPP_VMM_DONE, /* handled, or the run ended: back to KVM_RUN */
	SPP_VMM_AGAIN, /* handled, and v->run now holds the next exit:
			  dispatch that one */
};

struct spp_vmm_handler {
	const char *name; /* what it is, for people */
	uint32_t exit_reason; /* the KVM_EXIT_* it serves */
	/* KVM_EXIT_MMIO: GPAs, KVM_EXIT_IO: ports [base, base + size);
	 * size 0: every exit of exit_reason */
	uint64_t base, size;
	/* Called on the vCPU thread with @off = the exit's address - base
	 * (0 for range-less handlers). It may read and change v->run,
	 * guest memory and the guard, and ends the run with spp_vmm_end(). */
	enum spp_vmm_ret (*fn)(struct spp_vcpu *v, uint64_t off, void *ctx);
	void *ctx;
};

#define SPP_VMM_MAX_HANDLERS 32

struct spp_vm {
	int kvm_fd, vm_fd, mem_fd;
	uint64_t ram_size;
	uint8_t *ram;
	struct spp_guest_mem mem;
	struct spp_guard *guard;
	struct spp_vm_config cfg;
	unsigned int nvcpus;
	struct spp_vcpu vcpus[SPP_LAYOUT_MAX_VCPUS];
	uint64_t entry;
	bool loaded;
	uint64_t xcr0; /* 0: no XSAVE for the guest (CR4.OSXSAVE off) */
	struct spp_vmm_handler handlers[SPP_VMM_MAX_HANDLERS];
	unsigned int nhandlers; /* registered before the first run */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool running; /* a run is going on */
	bool ended; /* the run has its result */
	bool quit;
	unsigned int pause_req;
	struct spp_vm_result result;
	struct spp_event held; /* a store held by SPP_VM_STOPPED */
	bool have_held;
};

/*
 * spp_vmm_register() - add @h (copied) to @vm's handlers, after those
 * registered before it. Only before the first run (no locking). Returns
 * 0, -EINVAL (no fn, or a range on an exit reason other than MMIO/IO,
 * or one that wraps) or -ENOSPC (SPP_VMM_MAX_HANDLERS reached).
 */
int spp_vmm_register(struct spp_vm *vm, const struct spp_vmm_handler *h);

/* spp_vmm_dispatch() - hand v->run's exit to its handlers (see above). */
void spp_vmm_dispatch(struct spp_vcpu *v);

/*
 * spp_vmm_end() - end the run from vCPU @v with the result @r: the
 * caller sets reason and that reason's fields (the rest zero, e.g. a
 * compound literal); the detail line is formatted from @fmt here, vcpu
 * is @v's and rip, if 0, its current RIP. The first result of a run
 * wins; every vCPU is then stopped. The one place a vCPU ends a run.
 */
void spp_vmm_end(struct spp_vcpu *v, struct spp_vm_result *r, const char *fmt,
		 ...) __attribute__((format(printf, 3, 4)));

/* An address, port or exit spp does not serve (SPP_VM_UNHANDLED). */
#define spp_vmm_unhandled(v, a, ...)                              \
	spp_vmm_end((v),                                          \
		    &(struct spp_vm_result){                      \
			    .reason = SPP_VM_UNHANDLED,           \
			    .exit_reason = (v)->run->exit_reason, \
			    .addr = (a),                          \
		    },                                            \
		    __VA_ARGS__)

/*
 * spp_vmm_call_begin() / spp_vmm_call_end() - around a guard call from
 * an exit handler that may pause the VM (spp_guard_protect_add): @v
 * counts as parked meanwhile, so a pause on another thread does not wait
 * for it while it waits for that pause's lock.
 */
void spp_vmm_call_begin(struct spp_vcpu *v);
void spp_vmm_call_end(struct spp_vcpu *v);

/*
 * spp_vmm_devices_init() - register the guest's devices: the doorbell
 * page and the console and exit ports (spp/guest_abi.h). Returns 0 or
 * the error of spp_vmm_register().
 */
int spp_vmm_devices_init(struct spp_vm *vm);

#endif /* SPP_VMM_VM_PRIV_H */
