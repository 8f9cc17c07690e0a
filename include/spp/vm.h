/* SPDX-License-Identifier: MIT */
/*
 * spp/vm.h - spp's small built-in VMM: runs static ELF guest programs on
 * KVM under sub-page write protection.
 *
 * One VM: guest RAM [0, ram_size) (a memfd), 1..SPP_LAYOUT_MAX_VCPUS
 * vCPUs each on its own thread, 64-bit long mode at CPL 0 with the
 * identity map, GDT, TSS and exception stubs of spp/layout.h, and a guard
 * (spp/guard.h) enforcing the protections. The guest talks to the VMM
 * through the doorbell of spp/guest_abi.h and ports 0xE9/0xF4.
 *
 * spp_vm_run() runs every vCPU until something ends the run - the guest
 * exits, syncs, crashes, a protected write stops it (policy STOP), the
 * timeout passes or spp_vm_interrupt() is called - then parks all vCPUs
 * and says why. The caller may then inspect or change memory and
 * protections and call spp_vm_run() again to continue.
 *
 * The library prints nothing: console output and events go to callbacks.
 * A real-time signal (SPP_VM_KICK_SIGNAL) is used to kick vCPU threads
 * out of KVM_RUN; its handler is installed on first VM creation.
 */
#ifndef SPP_VM_H
#define SPP_VM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <spp/ctl.h>
#include <spp/guard.h>
#include <spp/guest_abi.h>
#include <spp/layout.h>

#define SPP_VM_KICK_SIGNAL (SIGRTMIN + 7)

struct spp_vm;

struct spp_vm_config {
	uint64_t ram_size; /* 0: SPP_LAYOUT_RAM_DEFAULT */
	unsigned int nvcpus; /* 0: 1 */
	enum spp_policy policy; /* for stores into denied sub-pages */
	/* Guest console bytes (doorbell PUTC/PUTS, port 0xE9). May be NULL. */
	void (*console)(void *ctx, const char *buf, size_t len);
	/* Every store that touched a denied sub-page; on the vCPU thread.
	 * May be NULL. */
	void (*event)(void *ctx, const struct spp_event *ev);
	void *ctx;
};

enum spp_vm_reason {
	SPP_VM_EXIT, /* the guest exited: status */
	SPP_VM_SYNC, /* doorbell SYNC: value */
	SPP_VM_STOPPED, /* policy STOP held a store: event */
	SPP_VM_HALT, /* hlt with interrupts off */
	SPP_VM_EXCEPTION, /* guest exception: exc */
	SPP_VM_SHUTDOWN, /* triple fault */
	SPP_VM_INTERNAL_ERROR, /* KVM could not go on: suberror, insn */
	SPP_VM_FAIL_ENTRY, /* VM entry failed: hw_reason */
	SPP_VM_UNHANDLED, /* an exit, port or MMIO address spp does not
			     serve: exit_reason, gpa/port */
	SPP_VM_TIMEOUT,
	SPP_VM_INTERRUPTED, /* spp_vm_interrupt() */
	SPP_VM_ERROR, /* spp failed: error */
};

struct spp_vm_result {
	enum spp_vm_reason reason;
	uint32_t vcpu; /* the vCPU that ended the run */
	uint64_t rip; /* its RIP then (where the guest resumes) */
	int status; /* EXIT: (v << 1) | 1 */
	uint64_t value; /* SYNC */
	struct spp_exc_report exc; /* EXCEPTION */
	struct spp_event event; /* STOPPED */
	uint32_t exit_reason; /* KVM exit reason (UNHANDLED, errors) */
	uint32_t suberror; /* INTERNAL_ERROR */
	uint8_t insn[16]; /* INTERNAL_ERROR: instruction bytes, if given */
	uint32_t insn_len;
	uint64_t hw_reason; /* FAIL_ENTRY */
	uint64_t addr; /* UNHANDLED: MMIO GPA or port */
	int error; /* ERROR: negative errno */
	char detail[160]; /* one line for humans */
};

/*
 * spp_vm_create() - open /dev/kvm, create the VM, its RAM, vCPUs, CPU
 * state and guard. @cfg may be NULL (defaults). Returns 0, -ENOENT (no
 * /dev/kvm), -EACCES, -EOPNOTSUPP (KVM lacks read-only memslots or the
 * API version differs), -EINVAL (@out NULL, bad size, vCPU count or
 * policy), -ENOMEM, or the errno of a failed KVM call. *@out is written
 * only on success.
 */
int spp_vm_create(struct spp_vm **out, const struct spp_vm_config *cfg);

/* spp_vm_destroy() - stop the vCPU threads, free everything; NULL ok. */
void spp_vm_destroy(struct spp_vm *vm);

/*
 * spp_vm_load_elf() - load a static ELF64 guest (see spp/elf_load.h for
 * the errors) and set every vCPU's entry point. Before the first run.
 */
int spp_vm_load_elf(struct spp_vm *vm, const void *image, size_t size);

/* spp_vm_load_elf_file() - the same from a file; -errno of open/read. */
int spp_vm_load_elf_file(struct spp_vm *vm, const char *path);

/*
 * spp_vm_run() - run until the run ends (see above) or @timeout_ms
 * passes (0: no timeout). A store held by SPP_VM_STOPPED is judged again
 * under the current maps before the guest continues. Fills @res.
 * Returns 0, or -EINVAL / -EBUSY (a run is already going on).
 */
int spp_vm_run(struct spp_vm *vm, unsigned int timeout_ms,
	       struct spp_vm_result *res);

/* spp_vm_interrupt() - end the current run (reason INTERRUPTED) from
 * another thread. Not async-signal-safe. */
void spp_vm_interrupt(struct spp_vm *vm);

/*
 * spp_vm_xcr0() - the XCR0 the guest runs with: x87|SSE|AVX as far as
 * KVM offers XSAVE (then CR4.OSXSAVE is set too), 0 without XSAVE.
 */
uint64_t spp_vm_xcr0(struct spp_vm *vm);

/* spp_vm_guard() - the VM's guard, to set protections. */
struct spp_guard *spp_vm_guard(struct spp_vm *vm);

/* spp_vm_mem() - guest memory, for the one checked translation
 * spp_guest_mem_ptr(). */
const struct spp_guest_mem *spp_vm_mem(struct spp_vm *vm);

/*
 * spp_vm_vcpu_state() - vCPU @vcpu's paging registers, MSR_LSTAR (0 for
 * the built-in VMM's guests, which are no Linux) and IDTR base, read with
 * every vCPU parked (the guard's pause) - the control socket's
 * ops->vcpu_state. Safe from any thread but a vCPU's own. Returns 0,
 * -EINVAL (@vm or @st NULL), -ENOENT (no such vCPU) or the errno of
 * KVM_GET_SREGS / KVM_GET_MSRS (*@st zeroed then).
 */
int spp_vm_vcpu_state(struct spp_vm *vm, unsigned int vcpu,
		      struct spp_ctl_vcpu_state *st);

/* spp_vm_nvcpus() / spp_vm_ram_size() - as configured. */
unsigned int spp_vm_nvcpus(const struct spp_vm *vm);
uint64_t spp_vm_ram_size(const struct spp_vm *vm);

/* Name of a reason ("exit", "sync", ...). */
const char *spp_vm_reason_name(enum spp_vm_reason reason);

#endif /* SPP_VM_H */
