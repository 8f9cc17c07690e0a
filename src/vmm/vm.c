// SPDX-License-Identifier: MIT
/*
 * vm.c - the built-in VMM: VM and vCPU setup, vCPU threads, the run
 * loop, exit dispatch to registered handlers and the guard's and CPU's
 * handlers (see spp/vm.h and vm_priv.h; the devices are in devices.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <spp/elf_load.h>
#include <spp/exc.h>
#include <spp/guest_mem.h>
#include <spp/vm.h>
#include <spp/x86.h>

#include "kvm/kvm_ioctl.h"
#include "util/clock.h"
#include "vm_priv.h"

#define VM_RAM_SLOT 0

/*
 * How often a running vCPU is kicked out of KVM_RUN to see whether it
 * sits on an instruction KVM spins on instead of exiting (SGDT into a
 * trapped page): spp_guard_emulate() then does it.
 */
#define VM_PROBE_MS 100

static __thread struct kvm_run *tls_run
	__attribute__((tls_model("initial-exec")));
static __thread struct spp_vcpu *tls_vcpu
	__attribute__((tls_model("initial-exec")));

static void kick_handler(int sig)
{
	(void)sig;
	if (tls_run)
		tls_run->immediate_exit = 1;
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;
static int kick_installed;

static void install_kick(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	kick_installed = sigaction(SPP_VM_KICK_SIGNAL, &sa, NULL) == 0;
}

/* Called with vm->lock held: make every running vCPU leave KVM_RUN. */
static void kick_all(struct spp_vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nvcpus; i++) {
		struct spp_vcpu *v = &vm->vcpus[i];

		if (v->started && !v->parked && !v->in_call && v != tls_vcpu)
			pthread_kill(v->thread, SPP_VM_KICK_SIGNAL);
	}
}

static bool all_parked(struct spp_vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nvcpus; i++) {
		struct spp_vcpu *v = &vm->vcpus[i];

		if (v->started && !v->parked && !v->in_call && v != tls_vcpu)
			return false;
	}
	return true;
}

/* Wait, with vm->lock held, until every other vCPU is parked; kick them
 * again now and then in case a signal raced with a KVM_RUN entry. */
static void wait_parked(struct spp_vm *vm)
{
	while (!all_parked(vm)) {
		struct timespec ts;

		kick_all(vm);
		spp_clock_deadline(&ts, 10);
		pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	}
}

/* ---- guard callbacks ---------------------------------------------------- */

static int vm_pause(void *ctx)
{
	struct spp_vm *vm = ctx;

	pthread_mutex_lock(&vm->lock);
	vm->pause_req++;
	wait_parked(vm);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

static void vm_resume(void *ctx)
{
	struct spp_vm *vm = ctx;

	pthread_mutex_lock(&vm->lock);
	vm->pause_req--;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

static void vm_event(void *ctx, const struct spp_event *ev)
{
	struct spp_vm *vm = ctx;

	if (vm->cfg.event)
		vm->cfg.event(vm->cfg.ctx, ev);
}

/* ---- ending a run ----------------------------------------------------- */

static uint64_t vcpu_rip(struct spp_vcpu *v)
{
	struct kvm_regs regs;

	return spp_kvm_ioctl(v->fd, KVM_GET_REGS, &regs) == 0 ? regs.rip : 0;
}

/*
 * With vm->lock held: make @r, its detail formatted from @fmt, the run's
 * result unless it has one already, and stop every vCPU.
 */
static void end_locked(struct spp_vm *vm, struct spp_vm_result *r,
		       const char *fmt, va_list ap)
{
	if (vm->ended)
		return;
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	vm->result = *r;
	vm->ended = true;
	if (r->reason == SPP_VM_STOPPED) {
		vm->held = r->event;
		vm->have_held = true;
	}
	kick_all(vm);
	pthread_cond_broadcast(&vm->cond);
}

/* The same for the results no vCPU gives (timeout, interrupt, errors of
 * spp_vm_run() itself); vm->lock held. */
static void __attribute__((format(printf, 3, 4)))
end_run(struct spp_vm *vm, struct spp_vm_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	end_locked(vm, r, fmt, ap);
	va_end(ap);
}

void spp_vmm_end(struct spp_vcpu *v, struct spp_vm_result *r, const char *fmt,
		 ...)
{
	struct spp_vm *vm = v->vm;
	va_list ap;

	r->vcpu = v->index;
	if (!r->rip)
		r->rip = vcpu_rip(v);
	va_start(ap, fmt);
	pthread_mutex_lock(&vm->lock);
	end_locked(vm, r, fmt, ap);
	pthread_mutex_unlock(&vm->lock);
	va_end(ap);
}

void spp_vmm_call_begin(struct spp_vcpu *v)
{
	pthread_mutex_lock(&v->vm->lock);
	v->in_call = true;
	pthread_cond_broadcast(&v->vm->cond);
	pthread_mutex_unlock(&v->vm->lock);
}

void spp_vmm_call_end(struct spp_vcpu *v)
{
	pthread_mutex_lock(&v->vm->lock);
	v->in_call = false;
	pthread_mutex_unlock(&v->vm->lock);
}

/* ---- exit dispatch ------------------------------------------------------ */

int spp_vmm_register(struct spp_vm *vm, const struct spp_vmm_handler *h)
{
	if (!h->fn ||
	    (h->size && h->exit_reason != KVM_EXIT_MMIO &&
	     h->exit_reason != KVM_EXIT_IO) ||
	    h->base + h->size < h->base)
		return -EINVAL;
	if (vm->nhandlers == SPP_VMM_MAX_HANDLERS)
		return -ENOSPC;
	vm->handlers[vm->nhandlers++] = *h;
	return 0;
}

/* What no handler took. */
static void unhandled(struct spp_vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_MMIO:
		spp_vmm_unhandled(v, run->mmio.phys_addr,
				  run->mmio.is_write ?
					  "write to unmapped GPA 0x%llx" :
					  "read of unmapped GPA 0x%llx",
				  (unsigned long long)run->mmio.phys_addr);
		break;
	case KVM_EXIT_IO:
		spp_vmm_unhandled(v, run->io.port, "port 0x%llx",
				  (unsigned long long)run->io.port);
		break;
	default:
		spp_vmm_unhandled(v, run->exit_reason, "KVM exit reason %llu",
				  (unsigned long long)run->exit_reason);
		break;
	}
}

void spp_vmm_dispatch(struct spp_vcpu *v)
{
	struct spp_vm *vm = v->vm;
	unsigned int i;

again:
	for (i = 0; i < vm->nhandlers; i++) {
		const struct spp_vmm_handler *h = &vm->handlers[i];
		uint64_t addr = 0;

		if (h->exit_reason != v->run->exit_reason)
			continue;
		if (h->exit_reason == KVM_EXIT_MMIO)
			addr = v->run->mmio.phys_addr;
		else if (h->exit_reason == KVM_EXIT_IO)
			addr = v->run->io.port;
		if (h->size && addr - h->base >= h->size)
			continue;
		switch (h->fn(v, h->size ? addr - h->base : 0, h->ctx)) {
		case SPP_VMM_PASS:
			continue;
		case SPP_VMM_AGAIN:
			goto again;
		case SPP_VMM_DONE:
			return;
		}
	}
	unhandled(v);
}

/* ---- the guard's exits -------------------------------------------------- */

/* End the run on a store policy STOP held (SPP_EXIT_STOP). */
static void end_stopped(struct spp_vcpu *v, const struct spp_event *ev)
{
	spp_vmm_end(v,
		    &(struct spp_vm_result){ .reason = SPP_VM_STOPPED,
					     .event = *ev,
					     .rip = ev->rip },
		    "store of %u bytes at 0x%llx into denied sub-page %u",
		    ev->len, (unsigned long long)ev->gpa, ev->subpage);
}

static void end_guard_error(struct spp_vcpu *v, const char *what, int err)
{
	spp_vmm_end(v,
		    &(struct spp_vm_result){ .reason = SPP_VM_ERROR,
					     .error = err },
		    "%s: %s", what, strerror(-err));
}

/* Every MMIO exit: a store into a trapped page is the guard's. */
static enum spp_vmm_ret guard_mmio(struct spp_vcpu *v, uint64_t off, void *ctx)
{
	struct spp_event ev;
	int ret;

	(void)off;
	(void)ctx;
	ret = spp_guard_handle_exit(v->vm->guard, v->fd, v->run, v->index, &ev);
	switch (ret) {
	case SPP_EXIT_NOT_MINE:
		return SPP_VMM_PASS;
	case SPP_EXIT_HANDLED:
		return SPP_VMM_DONE;
	case SPP_EXIT_AGAIN:
		/* The guard finished its store and KVM_RUN produced the next
		 * exit of that instruction, for us: handle it as any exit. */
		return SPP_VMM_AGAIN;
	case SPP_EXIT_STOP:
		end_stopped(v, &ev);
		return SPP_VMM_DONE;
	}
	end_guard_error(v, "guard", ret);
	return SPP_VMM_DONE;
}

/*
 * KVM_EXIT_INTERNAL_ERROR (a store KVM's emulator lacks, into a trapped
 * page) and KVM_EXIT_INTR (the probe of a vCPU KVM may spin on): spp
 * emulates the store. Another internal error is not the guard's; after a
 * probe there is nothing else to do.
 */
static enum spp_vmm_ret guard_emulate(struct spp_vcpu *v, uint64_t off,
				      void *ctx)
{
	struct spp_insn_report rep;
	struct spp_event ev;
	int ret;

	(void)off;
	(void)ctx;
	ret = spp_guard_emulate(v->vm->guard, v->fd, v->run, v->index, &ev,
				&rep);
	switch (ret) {
	case SPP_EXIT_HANDLED:
		return SPP_VMM_DONE;
	case SPP_EXIT_NOT_MINE:
		return v->run->exit_reason == KVM_EXIT_INTR ? SPP_VMM_DONE :
							      SPP_VMM_PASS;
	case SPP_EXIT_STOP:
		end_stopped(v, &ev);
		return SPP_VMM_DONE;
	case -EOPNOTSUPP: {
		struct spp_vm_result r = {
			.reason = SPP_VM_INTERNAL_ERROR,
			.exit_reason = v->run->exit_reason,
			.rip = rep.rip,
			.insn_len = rep.len,
		};

		memcpy(r.insn, rep.bytes, rep.len);
		spp_vmm_end(v, &r,
			    "spp cannot emulate the store `%s` at rip 0x%llx: "
			    "%s",
			    rep.text, (unsigned long long)rep.rip, rep.why);
		return SPP_VMM_DONE;
	}
	}
	end_guard_error(v, "guard emulation", ret);
	return SPP_VMM_DONE;
}

/* ---- the CPU's exits ---------------------------------------------------- */

/* HLT and SHUTDOWN end the run where the vCPU stands. */
struct cpu_stop {
	enum spp_vm_reason reason;
	const char *what;
};

static struct cpu_stop cpu_hlt = { SPP_VM_HALT, "hlt" };
static struct cpu_stop cpu_shutdown = { SPP_VM_SHUTDOWN,
					"triple fault (shutdown)" };

static enum spp_vmm_ret cpu_stopped(struct spp_vcpu *v, uint64_t off, void *ctx)
{
	const struct cpu_stop *stop = ctx;
	uint64_t rip = vcpu_rip(v);

	(void)off;
	spp_vmm_end(v,
		    &(struct spp_vm_result){ .reason = stop->reason,
					     .exit_reason = v->run->exit_reason,
					     .rip = rip,
					     .addr = rip },
		    "%s at rip 0x%llx", stop->what, (unsigned long long)rip);
	return SPP_VMM_DONE;
}

static enum spp_vmm_ret cpu_internal_error(struct spp_vcpu *v, uint64_t off,
					   void *ctx)
{
	struct kvm_run *run = v->run;
	struct spp_vm_result r = {
		.reason = SPP_VM_INTERNAL_ERROR,
		.exit_reason = run->exit_reason,
		.suberror = run->internal.suberror,
	};
	char hex[3 * sizeof(r.insn) + 1] = "";
	uint32_t k;

	(void)off;
	(void)ctx;
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags &
	     KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		r.insn_len = run->emulation_failure.insn_size;
		if (r.insn_len > sizeof(run->emulation_failure.insn_bytes))
			r.insn_len = sizeof(run->emulation_failure.insn_bytes);
		memcpy(r.insn, run->emulation_failure.insn_bytes, r.insn_len);
	}
	for (k = 0; k < r.insn_len; k++)
		snprintf(hex + 3 * k, sizeof(hex) - 3 * k, " %02x", r.insn[k]);
	spp_vmm_end(v, &r, "KVM internal error, suberror %u%s%s", r.suberror,
		    r.insn_len ? ", instruction" : "", hex);
	return SPP_VMM_DONE;
}

static enum spp_vmm_ret cpu_fail_entry(struct spp_vcpu *v, uint64_t off,
				       void *ctx)
{
	struct kvm_run *run = v->run;
	uint64_t hw = run->fail_entry.hardware_entry_failure_reason;

	(void)off;
	(void)ctx;
	spp_vmm_end(v,
		    &(struct spp_vm_result){ .reason = SPP_VM_FAIL_ENTRY,
					     .exit_reason = run->exit_reason,
					     .hw_reason = hw },
		    "VM entry failed, hardware reason 0x%llx",
		    (unsigned long long)hw);
	return SPP_VMM_DONE;
}

/* The guard's and the CPU's handlers; the guard's first. */
static int register_core_exits(struct spp_vm *vm)
{
	static const struct spp_vmm_handler core[] = {
		{ "guard: stores into trapped pages", KVM_EXIT_MMIO, 0, 0,
		  guard_mmio, NULL },
		{ "guard: stores KVM cannot emulate", KVM_EXIT_INTERNAL_ERROR,
		  0, 0, guard_emulate, NULL },
		{ "guard: stuck-vCPU probe", KVM_EXIT_INTR, 0, 0, guard_emulate,
		  NULL },
		{ "hlt", KVM_EXIT_HLT, 0, 0, cpu_stopped, &cpu_hlt },
		{ "triple fault", KVM_EXIT_SHUTDOWN, 0, 0, cpu_stopped,
		  &cpu_shutdown },
		{ "KVM internal error", KVM_EXIT_INTERNAL_ERROR, 0, 0,
		  cpu_internal_error, NULL },
		{ "VM entry failure", KVM_EXIT_FAIL_ENTRY, 0, 0, cpu_fail_entry,
		  NULL },
	};
	size_t i;
	int ret = 0;

	for (i = 0; i < sizeof(core) / sizeof(core[0]) && !ret; i++)
		ret = spp_vmm_register(vm, &core[i]);
	return ret;
}

/* ---- vCPU threads ------------------------------------------------------- */

static void *vcpu_thread(void *arg)
{
	struct spp_vcpu *v = arg;
	struct spp_vm *vm = v->vm;
	sigset_t set;
	int ret;

	tls_vcpu = v;
	tls_run = v->run;
	sigemptyset(&set);
	sigaddset(&set, SPP_VM_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	pthread_mutex_lock(&vm->lock);
	for (;;) {
		while (!vm->quit &&
		       (!vm->running || vm->ended || vm->pause_req)) {
			if (!v->parked) {
				v->parked = true;
				pthread_cond_broadcast(&vm->cond);
			}
			pthread_cond_wait(&vm->cond, &vm->lock);
		}
		v->parked = false;
		if (vm->quit)
			break;
		v->run->immediate_exit = 0; /* a kick now sets it again */
		pthread_mutex_unlock(&vm->lock);

		ret = spp_kvm_ioctl_val(v->fd, KVM_RUN, 0);
		__atomic_store_n(&v->exits, v->exits + 1, __ATOMIC_RELAXED);
		if (ret >= 0) {
			spp_vmm_dispatch(v);
		} else if (ret == -EINTR &&
			   __atomic_exchange_n(&v->probe, false,
					       __ATOMIC_ACQ_REL)) {
			v->run->exit_reason = KVM_EXIT_INTR;
			spp_vmm_dispatch(v);
		} else if (ret != -EINTR && ret != -EAGAIN) {
			spp_vmm_end(
				v,
				&(struct spp_vm_result){ .reason = SPP_VM_ERROR,
							 .error = ret },
				"KVM_RUN: %s", strerror(-ret));
		}
		pthread_mutex_lock(&vm->lock);
	}
	v->parked = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

/* ---- setup ------------------------------------------------------------ */

/*
 * The guest's CPUID is what KVM supports. Where that includes XSAVE, the
 * VMM also turns on CR4.OSXSAVE and XCR0 = x87|SSE|AVX (as offered), so
 * guest programs can use AVX; vm->xcr0 records it (spp_x86_cpuid_setup).
 */
static int setup_cpuid(struct spp_vm *vm, struct spp_vcpu *v)
{
	uint64_t xcr0;
	int ret = spp_x86_cpuid_setup(vm->kvm_fd, v->fd, &xcr0);

	if (!ret && v->index == 0)
		vm->xcr0 = xcr0;
	return ret;
}

static int setup_vcpu_state(struct spp_vm *vm, struct spp_vcpu *v, uint64_t cr3,
			    const struct spp_x86_dtable *gdtr,
			    const struct spp_x86_dtable *idtr)
{
	struct spp_x86_segment code, data, tss;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;
	int ret;

	if (spp_x86_segment_get(SPP_X86_GDT_KCODE, &code) ||
	    spp_x86_segment_get(SPP_X86_GDT_KDATA, &data) ||
	    spp_x86_segment_get(SPP_X86_GDT_TSS_AT(v->index), &tss))
		return -EINVAL;
	ret = spp_kvm_ioctl(v->fd, KVM_GET_SREGS, &sregs);
	if (ret)
		return ret;
	spp_x86_segment_to_kvm(&code, &sregs.cs);
	spp_x86_segment_to_kvm(&data, &sregs.ds);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	spp_x86_segment_to_kvm(&tss, &sregs.tr);
	sregs.gdt.base = gdtr->base;
	sregs.gdt.limit = gdtr->limit;
	sregs.idt.base = idtr->base;
	sregs.idt.limit = idtr->limit;
	sregs.cr0 = SPP_X86_CR0_INIT;
	sregs.cr3 = cr3;
	sregs.cr4 = SPP_X86_CR4_INIT;
	if (vm->xcr0)
		sregs.cr4 |= SPP_X86_CR4_OSXSAVE;
	sregs.efer = SPP_X86_EFER_INIT;
	ret = spp_kvm_ioctl(v->fd, KVM_SET_SREGS, &sregs);
	if (ret)
		return ret;
	if (vm->xcr0) {
		struct kvm_xcrs xcrs;

		memset(&xcrs, 0, sizeof(xcrs));
		xcrs.nr_xcrs = 1;
		xcrs.xcrs[0].xcr = 0;
		xcrs.xcrs[0].value = vm->xcr0;
		ret = spp_kvm_ioctl(v->fd, KVM_SET_XCRS, &xcrs);
		if (ret)
			return ret;
	}

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	ret = spp_kvm_ioctl(v->fd, KVM_SET_FPU, &fpu);
	if (ret)
		return ret;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = SPP_X86_RFLAGS_INIT;
	regs.rip = vm->entry;
	regs.rsp = SPP_GUEST_STACK_TOP(v->index);
	regs.rdi = v->index;
	regs.rsi = vm->nvcpus;
	return spp_kvm_ioctl(v->fd, KVM_SET_REGS, &regs);
}

static int create_vcpu(struct spp_vm *vm, struct spp_vcpu *v, uint32_t index,
		       int mmap_size)
{
	int ret;

	v->vm = vm;
	v->index = index;
	v->parked = true;
	v->fd = spp_kvm_ioctl_val(vm->vm_fd, KVM_CREATE_VCPU, index);
	if (v->fd < 0)
		return v->fd;
	v->run_size = (size_t)mmap_size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	ret = setup_cpuid(vm, v);
	return ret;
}

/* System structures in guest memory, then every vCPU's registers. */
static int setup_machine(struct spp_vm *vm)
{
	struct spp_x86_dtable gdtr, idtr = { 0, 0 };
	uint64_t cr3;
	unsigned int i;
	int ret;

	ret = spp_x86_gdt_build(&vm->mem, &gdtr);
	if (!ret)
		ret = spp_x86_tss_build(&vm->mem);
	if (!ret)
		ret = spp_exc_install(&vm->mem, &idtr);
	if (!ret)
		ret = spp_x86_pt_build(&vm->mem, vm->ram_size, &cr3);
	for (i = 0; !ret && i < vm->nvcpus; i++)
		ret = setup_vcpu_state(vm, &vm->vcpus[i], cr3, &gdtr, &idtr);
	return ret;
}

int spp_vm_create(struct spp_vm **out, const struct spp_vm_config *cfg)
{
	struct spp_guard_ops ops = { vm_pause, vm_resume, vm_event };
	struct kvm_userspace_memory_region region;
	struct spp_vm *vm;
	unsigned int i;
	int ret, mmap_size;

	/* Checked before anything: spp_vm_destroy() walks nvcpus vCPUs. */
	if (!out || (cfg && (cfg->nvcpus > SPP_LAYOUT_MAX_VCPUS ||
			     (unsigned int)cfg->policy > SPP_POLICY_STOP)))
		return -EINVAL;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	if (cfg)
		vm->cfg = *cfg;
	vm->ram_size = vm->cfg.ram_size ? vm->cfg.ram_size :
					  SPP_LAYOUT_RAM_DEFAULT;
	vm->nvcpus = vm->cfg.nvcpus ? vm->cfg.nvcpus : 1;
	vm->kvm_fd = vm->vm_fd = vm->mem_fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	spp_guest_mem_init(&vm->mem);
	ret = -EINVAL;
	if (!spp_layout_ram_valid(vm->ram_size))
		goto fail;

	pthread_once(&kick_once, install_kick);
	ret = -ENOSYS;
	if (!kick_installed)
		goto fail;
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = -EOPNOTSUPP;
	if (spp_kvm_ioctl_val(vm->kvm_fd, KVM_GET_API_VERSION, 0) !=
	    KVM_API_VERSION)
		goto fail;
	ret = spp_kvm_ioctl_val(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (ret < 0)
		goto fail;
	vm->vm_fd = ret;
	/* Needed by VT-x without unrestricted guest; harmless elsewhere. */
	spp_kvm_ioctl_val(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	/*
	 * An instruction KVM cannot emulate (say an SSE store into a
	 * read-only slot) must reach us with its bytes, not become a #UD in
	 * a CPL3 guest: without this cap KVM injects #UD there.
	 */
	if (spp_kvm_ioctl_val(vm->vm_fd, KVM_CHECK_EXTENSION,
			      KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_EXIT_ON_EMULATION_FAILURE,
			.args = { 1 },
		};

		ret = spp_kvm_ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap);
		if (ret)
			goto fail;
	}

	vm->mem_fd = memfd_create("spp-guest-ram", MFD_CLOEXEC);
	if (vm->mem_fd < 0 || ftruncate(vm->mem_fd, (off_t)vm->ram_size) < 0) {
		ret = -errno;
		goto fail;
	}
	vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->mem_fd, 0);
	if (vm->ram == MAP_FAILED) {
		vm->ram = NULL;
		ret = -errno;
		goto fail;
	}
	ret = spp_guest_mem_add(&vm->mem, 0, vm->ram_size, vm->ram);
	if (ret)
		goto fail;
	memset(&region, 0, sizeof(region));
	region.slot = VM_RAM_SLOT;
	region.memory_size = vm->ram_size;
	region.userspace_addr = (uint64_t)(uintptr_t)vm->ram;
	ret = spp_kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
	if (ret)
		goto fail;
	ret = spp_guard_create(&vm->guard, vm->vm_fd, &ops, vm);
	if (!ret)
		ret = spp_guard_add_memory(vm->guard, VM_RAM_SLOT, 0,
					   vm->ram_size, vm->ram);
	if (ret)
		goto fail;
	spp_guard_set_policy(vm->guard, vm->cfg.policy);
	ret = register_core_exits(vm);
	if (!ret)
		ret = spp_vmm_devices_init(vm);
	if (ret)
		goto fail;

	mmap_size = spp_kvm_ioctl_val(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run)) {
		ret = -EOPNOTSUPP;
		goto fail;
	}
	for (i = 0; i < vm->nvcpus; i++) {
		ret = create_vcpu(vm, &vm->vcpus[i], i, mmap_size);
		if (ret)
			goto fail;
	}
	*out = vm;
	return 0;
fail:
	spp_vm_destroy(vm);
	return ret;
}

void spp_vm_destroy(struct spp_vm *vm)
{
	unsigned int i;

	if (!vm)
		return;
	pthread_mutex_lock(&vm->lock);
	vm->quit = true;
	pthread_cond_broadcast(&vm->cond);
	kick_all(vm);
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < SPP_LAYOUT_MAX_VCPUS; i++) {
		struct spp_vcpu *v = &vm->vcpus[i];

		if (v->started)
			pthread_join(v->thread, NULL);
		if (v->run)
			munmap(v->run, v->run_size);
		if (v->vm && v->fd >= 0)
			close(v->fd);
	}
	spp_guard_destroy(vm->guard);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

int spp_vm_load_elf(struct spp_vm *vm, const void *image, size_t size)
{
	struct spp_elf_info info;
	int ret;

	if (!vm || vm->loaded)
		return -EINVAL;
	ret = spp_elf_load(&vm->mem, vm->ram_size, image, size, &info);
	if (ret)
		return ret;
	vm->entry = info.entry;
	ret = setup_machine(vm);
	if (!ret)
		vm->loaded = true;
	return ret;
}

int spp_vm_load_elf_file(struct spp_vm *vm, const char *path)
{
	struct stat st;
	void *buf;
	ssize_t n;
	int fd, ret;

	if (!vm || !path)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = S_ISREG(st.st_mode) ? -errno : -EINVAL;
		close(fd);
		return ret;
	}
	if (st.st_size > (off_t)vm->ram_size) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, (size_t)st.st_size);
	ret = n == st.st_size ? spp_vm_load_elf(vm, buf, (size_t)n) :
	      n < 0	      ? -errno :
				-EIO;
	free(buf);
	close(fd);
	return ret;
}

int spp_vm_run(struct spp_vm *vm, unsigned int timeout_ms,
	       struct spp_vm_result *res)
{
	struct timespec deadline;
	unsigned int i;
	int ret = 0;

	if (!vm || !res || !vm->loaded)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->running) {
		pthread_mutex_unlock(&vm->lock);
		return -EBUSY;
	}
	if (vm->have_held) {
		/* A stopped store: judge it again under today's maps. */
		vm->have_held = false;
		pthread_mutex_unlock(&vm->lock);
		spp_guard_resolve_stop(vm->guard, &vm->held, false);
		pthread_mutex_lock(&vm->lock);
	}
	vm->running = true;
	vm->ended = false;
	memset(&vm->result, 0, sizeof(vm->result));
	for (i = 0; i < vm->nvcpus && !ret; i++) {
		struct spp_vcpu *v = &vm->vcpus[i];

		if (v->started)
			continue;
		ret = -pthread_create(&v->thread, NULL, vcpu_thread, v);
		v->started = !ret;
	}
	if (ret) /* no detail line, as ever */
		end_run(vm,
			&(struct spp_vm_result){ .reason = SPP_VM_ERROR,
						 .error = ret },
			"%s", "");
	pthread_cond_broadcast(&vm->cond);
	if (timeout_ms)
		spp_clock_deadline(&deadline, timeout_ms);
	while (!vm->ended) {
		struct timespec probe;

		spp_clock_deadline(&probe, VM_PROBE_MS);
		if (timeout_ms && (probe.tv_sec > deadline.tv_sec ||
				   (probe.tv_sec == deadline.tv_sec &&
				    probe.tv_nsec > deadline.tv_nsec)))
			probe = deadline;
		if (pthread_cond_timedwait(&vm->cond, &vm->lock, &probe) !=
			    ETIMEDOUT ||
		    vm->ended)
			continue;
		if (timeout_ms && probe.tv_sec == deadline.tv_sec &&
		    probe.tv_nsec == deadline.tv_nsec) {
			end_run(vm,
				&(struct spp_vm_result){
					.reason = SPP_VM_TIMEOUT },
				"timeout after %u ms", timeout_ms);
			continue;
		}
		/*
		 * No news for a while: make sure nobody spins in KVM_RUN. A
		 * vCPU that left KVM_RUN since the last look does not: only
		 * the others are kicked (a kick costs a signal, an exit and
		 * a decode at RIP).
		 */
		for (i = 0; i < vm->nvcpus; i++) {
			struct spp_vcpu *v = &vm->vcpus[i];
			uint64_t n =
				__atomic_load_n(&v->exits, __ATOMIC_RELAXED);

			if (n != v->probe_seen) {
				v->probe_seen = n;
				continue;
			}
			__atomic_store_n(&v->probe, true, __ATOMIC_RELEASE);
			if (v->started && !v->parked && !v->in_call)
				pthread_kill(v->thread, SPP_VM_KICK_SIGNAL);
		}
	}
	wait_parked(vm);
	*res = vm->result;
	vm->running = false;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

void spp_vm_interrupt(struct spp_vm *vm)
{
	if (!vm)
		return;
	pthread_mutex_lock(&vm->lock);
	if (vm->running)
		end_run(vm,
			&(struct spp_vm_result){ .reason = SPP_VM_INTERRUPTED },
			"interrupted");
	pthread_mutex_unlock(&vm->lock);
}

uint64_t spp_vm_xcr0(struct spp_vm *vm)
{
	return vm ? vm->xcr0 : 0;
}

#define MSR_LSTAR 0xc0000082

int spp_vm_vcpu_state(struct spp_vm *vm, unsigned int vcpu,
		      struct spp_ctl_vcpu_state *st)
{
	struct kvm_sregs sregs;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[1];
	} m;
	int ret;

	if (!vm || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	if (vcpu >= vm->nvcpus)
		return -ENOENT;
	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 1;
	m.e[0].index = MSR_LSTAR;
	vm_pause(vm);
	ret = spp_kvm_ioctl(vm->vcpus[vcpu].fd, KVM_GET_SREGS, &sregs);
	/* KVM_GET_MSRS: the header's size is what the request encodes */
	if (!ret &&
	    spp_kvm_ioctl_raw(vm->vcpus[vcpu].fd, KVM_GET_MSRS, &m) == 1)
		st->lstar = m.e[0].data;
	vm_resume(vm);
	if (ret) {
		st->lstar = 0;
		return ret;
	}
	st->paging = (struct spp_x86_paging){ sregs.cr0, sregs.cr3, sregs.cr4,
					      sregs.efer };
	st->idt_base = sregs.idt.base;
	return 0;
}

struct spp_guard *spp_vm_guard(struct spp_vm *vm)
{
	return vm ? vm->guard : NULL;
}

const struct spp_guest_mem *spp_vm_mem(struct spp_vm *vm)
{
	return vm ? &vm->mem : NULL;
}

unsigned int spp_vm_nvcpus(const struct spp_vm *vm)
{
	return vm ? vm->nvcpus : 0;
}

uint64_t spp_vm_ram_size(const struct spp_vm *vm)
{
	return vm ? vm->ram_size : 0;
}

const char *spp_vm_reason_name(enum spp_vm_reason reason)
{
	static const char *const names[] = {
		[SPP_VM_EXIT] = "exit",
		[SPP_VM_SYNC] = "sync",
		[SPP_VM_STOPPED] = "stopped",
		[SPP_VM_HALT] = "halt",
		[SPP_VM_EXCEPTION] = "exception",
		[SPP_VM_SHUTDOWN] = "shutdown",
		[SPP_VM_INTERNAL_ERROR] = "internal-error",
		[SPP_VM_FAIL_ENTRY] = "fail-entry",
		[SPP_VM_UNHANDLED] = "unhandled",
		[SPP_VM_TIMEOUT] = "timeout",
		[SPP_VM_INTERRUPTED] = "interrupted",
		[SPP_VM_ERROR] = "error",
	};

	return reason <= SPP_VM_ERROR ? names[reason] : "?";
}
