// SPDX-License-Identifier: MIT
/*
 * vm.c - the built-in VMM: VM and vCPU setup, vCPU threads, the run
 * loop, ports and the doorbell (see spp/vm.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

#define VM_RAM_SLOT 0

struct vcpu {
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

/*
 * How often a running vCPU is kicked out of KVM_RUN to see whether it
 * sits on an instruction KVM spins on instead of exiting (SGDT into a
 * trapped page): spp_guard_emulate() then does it.
 */
#define VM_PROBE_MS 100

struct spp_vm {
	int kvm_fd, vm_fd, mem_fd;
	uint64_t ram_size;
	uint8_t *ram;
	struct spp_guest_mem mem;
	struct spp_guard *guard;
	struct spp_vm_config cfg;
	unsigned int nvcpus;
	struct vcpu vcpus[SPP_GUEST_MAX_VCPUS];
	uint64_t entry;
	bool loaded;
	uint64_t xcr0; /* 0: no XSAVE for the guest (CR4.OSXSAVE off) */

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

static __thread struct kvm_run *tls_run
	__attribute__((tls_model("initial-exec")));
static __thread struct vcpu *tls_vcpu
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
		struct vcpu *v = &vm->vcpus[i];

		if (v->started && !v->parked && !v->in_call && v != tls_vcpu)
			pthread_kill(v->thread, SPP_VM_KICK_SIGNAL);
	}
}

static bool all_parked(struct spp_vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

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
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
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

static uint64_t vcpu_rip(struct vcpu *v)
{
	struct kvm_regs regs;

	return ioctl(v->fd, KVM_GET_REGS, &regs) == 0 ? regs.rip : 0;
}

/* Record @r as the run's result (first one wins) and stop everyone. */
static void finish(struct vcpu *v, struct spp_vm_result *r)
{
	struct spp_vm *vm = v->vm;

	r->vcpu = v->index;
	if (!r->rip)
		r->rip = vcpu_rip(v);
	pthread_mutex_lock(&vm->lock);
	if (!vm->ended) {
		vm->result = *r;
		vm->ended = true;
		if (r->reason == SPP_VM_STOPPED) {
			vm->held = r->event;
			vm->have_held = true;
		}
		kick_all(vm);
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
}

static void finish_simple(struct vcpu *v, enum spp_vm_reason reason,
			  const char *fmt, unsigned long long a)
{
	struct spp_vm_result r;

	memset(&r, 0, sizeof(r));
	r.reason = reason;
	r.exit_reason = v->run->exit_reason;
	r.addr = a;
	snprintf(r.detail, sizeof(r.detail), fmt, a);
	finish(v, &r);
}

/* ---- doorbell and ports ----------------------------------------------- */

static void console(struct spp_vm *vm, const char *buf, size_t len)
{
	if (vm->cfg.console && len)
		vm->cfg.console(vm->cfg.ctx, buf, len);
}

static void doorbell_puts(struct vcpu *v, uint64_t gpa)
{
	struct spp_vm *vm = v->vm;
	size_t n;

	for (n = 0; n < SPP_PUTS_MAX; n++) {
		const char *c = spp_guest_mem_ptr(&vm->mem, gpa + n, 1);

		if (!c) {
			finish_simple(v, SPP_VM_UNHANDLED,
				      "PUTS string at 0x%llx leaves RAM", gpa);
			return;
		}
		if (!*c)
			break;
	}
	console(vm, spp_guest_mem_ptr(&vm->mem, gpa, n ? n : 1), n);
}

static void doorbell_protect(struct vcpu *v, uint64_t gpa)
{
	struct spp_vm *vm = v->vm;
	struct spp_protect_req *req =
		spp_guest_mem_ptr(&vm->mem, gpa, sizeof(*req));
	struct spp_protect_req copy;
	int ret;

	if (!req) {
		finish_simple(v, SPP_VM_UNHANDLED,
			      "PROTECT request at 0x%llx leaves RAM", gpa);
		return;
	}
	memcpy(&copy, req, sizeof(copy));
	/* Count as parked while in the guard: a concurrent protection change
	 * on another thread waits for us and we for its lock. */
	pthread_mutex_lock(&vm->lock);
	v->in_call = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	ret = spp_guard_protect_add(vm->guard, copy.gpa >> SPP_PAGE_SHIFT,
				    copy.map);
	pthread_mutex_lock(&vm->lock);
	v->in_call = false;
	pthread_mutex_unlock(&vm->lock);
	copy.result = ret;
	memcpy(&req->result, &copy.result, sizeof(copy.result));
}

static void doorbell_exception(struct vcpu *v, uint64_t gpa)
{
	struct spp_vm_result r;

	memset(&r, 0, sizeof(r));
	r.reason = SPP_VM_EXCEPTION;
	/* The report must be this vCPU's slot, complete (magic last). */
	if (gpa == spp_exc_report_gpa(v->index) &&
	    spp_exc_report_take(&v->vm->mem, gpa, &r.exc) == 1) {
		r.rip = r.exc.rip;
		spp_exc_format(&r.exc, r.detail, sizeof(r.detail));
	} else {
		snprintf(r.detail, sizeof(r.detail),
			 "bad exception report at 0x%llx",
			 (unsigned long long)gpa);
	}
	finish(v, &r);
}

static void doorbell(struct vcpu *v, uint64_t off, uint64_t arg)
{
	struct spp_vm_result r;
	char c = (char)arg;

	switch (off) {
	case SPP_DOORBELL_PUTC:
		console(v->vm, &c, 1);
		return;
	case SPP_DOORBELL_PUTS:
		doorbell_puts(v, arg);
		return;
	case SPP_DOORBELL_EXIT:
		memset(&r, 0, sizeof(r));
		r.reason = SPP_VM_EXIT;
		r.status = (int)SPP_LAYOUT_EXIT_STATUS(arg & 0xff);
		snprintf(r.detail, sizeof(r.detail), "guest exit %d", r.status);
		finish(v, &r);
		return;
	case SPP_DOORBELL_SYNC:
		memset(&r, 0, sizeof(r));
		r.reason = SPP_VM_SYNC;
		r.value = arg;
		snprintf(r.detail, sizeof(r.detail), "sync %llu",
			 (unsigned long long)arg);
		finish(v, &r);
		return;
	case SPP_DOORBELL_PROTECT:
		doorbell_protect(v, arg);
		return;
	case SPP_DOORBELL_EXCEPTION:
		doorbell_exception(v, arg);
		return;
	}
	finish_simple(v, SPP_VM_UNHANDLED, "unknown doorbell offset 0x%llx",
		      off);
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	const uint8_t *data = (const uint8_t *)run + run->io.data_offset;
	size_t len = (size_t)run->io.size * run->io.count;
	struct spp_vm_result r;

	if (run->io.direction == KVM_EXIT_IO_OUT &&
	    run->io.port == SPP_LAYOUT_PORT_CONSOLE) {
		console(v->vm, (const char *)data, len);
		return;
	}
	if (run->io.direction == KVM_EXIT_IO_OUT &&
	    run->io.port == SPP_LAYOUT_PORT_EXIT) {
		memset(&r, 0, sizeof(r));
		r.reason = SPP_VM_EXIT;
		r.status = (int)SPP_LAYOUT_EXIT_STATUS(data[0]);
		snprintf(r.detail, sizeof(r.detail), "guest exit %d", r.status);
		finish(v, &r);
		return;
	}
	finish_simple(v, SPP_VM_UNHANDLED, "port 0x%llx", run->io.port);
}

static void handle_exit(struct vcpu *v);

/* End the run on a store policy STOP held (SPP_EXIT_STOP). */
static void finish_stopped(struct vcpu *v, const struct spp_event *ev)
{
	struct spp_vm_result r;

	memset(&r, 0, sizeof(r));
	r.reason = SPP_VM_STOPPED;
	r.event = *ev;
	r.rip = ev->rip;
	snprintf(r.detail, sizeof(r.detail),
		 "store of %u bytes at 0x%llx into denied sub-page %u", ev->len,
		 (unsigned long long)ev->gpa, ev->subpage);
	finish(v, &r);
}

static void handle_mmio(struct vcpu *v)
{
	struct spp_vm *vm = v->vm;
	struct kvm_run *run = v->run;
	struct spp_vm_result r;
	struct spp_event ev;
	int ret;

	ret = spp_guard_handle_exit(vm->guard, v->fd, run, v->index, &ev);
	if (ret == SPP_EXIT_AGAIN) {
		/* The guard finished its store and KVM_RUN produced the next
		 * exit of that instruction, for us: handle it as any exit. */
		handle_exit(v);
		return;
	}
	if (ret == SPP_EXIT_HANDLED)
		return;
	if (ret == SPP_EXIT_STOP) {
		finish_stopped(v, &ev);
		return;
	}
	if (ret < 0) {
		memset(&r, 0, sizeof(r));
		r.reason = SPP_VM_ERROR;
		r.error = ret;
		snprintf(r.detail, sizeof(r.detail), "guard: %s",
			 strerror(-ret));
		finish(v, &r);
		return;
	}
	if (run->mmio.is_write && run->mmio.len == 8 &&
	    run->mmio.phys_addr - SPP_LAYOUT_DOORBELL <
		    SPP_LAYOUT_DOORBELL_SIZE) {
		uint64_t arg;

		memcpy(&arg, run->mmio.data, 8);
		doorbell(v, run->mmio.phys_addr - SPP_LAYOUT_DOORBELL, arg);
		return;
	}
	finish_simple(v, SPP_VM_UNHANDLED,
		      run->mmio.is_write ? "write to unmapped GPA 0x%llx" :
					   "read of unmapped GPA 0x%llx",
		      run->mmio.phys_addr);
}

/* A store the guard emulated, or one it refused; false: not a store the
 * guard owns. */
static bool guard_emulated(struct vcpu *v, int ret,
			   const struct spp_insn_report *rep,
			   const struct spp_event *ev)
{
	struct spp_vm_result r;

	if (ret == SPP_EXIT_HANDLED || ret == SPP_EXIT_NOT_MINE)
		return ret == SPP_EXIT_HANDLED;
	if (ret == SPP_EXIT_STOP) {
		finish_stopped(v, ev);
		return true;
	}
	memset(&r, 0, sizeof(r));
	if (ret == -EOPNOTSUPP) {
		r.reason = SPP_VM_INTERNAL_ERROR;
		r.exit_reason = v->run->exit_reason;
		r.rip = rep->rip;
		r.insn_len = rep->len;
		memcpy(r.insn, rep->bytes, rep->len);
		snprintf(r.detail, sizeof(r.detail),
			 "spp cannot emulate the store `%s` at rip 0x%llx: %s",
			 rep->text, (unsigned long long)rep->rip, rep->why);
	} else {
		r.reason = SPP_VM_ERROR;
		r.error = ret;
		snprintf(r.detail, sizeof(r.detail), "guard emulation: %s",
			 strerror(-ret));
	}
	finish(v, &r);
	return true;
}

static void handle_internal(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct spp_insn_report rep;
	struct spp_vm_result r;
	struct spp_event ev;
	size_t i;

	/* A store KVM's emulator lacks, into a trapped page: spp does it. */
	if (guard_emulated(v,
			   spp_guard_emulate(v->vm->guard, v->fd, run, v->index,
					     &ev, &rep),
			   &rep, &ev))
		return;
	memset(&r, 0, sizeof(r));
	r.reason = SPP_VM_INTERNAL_ERROR;
	r.exit_reason = run->exit_reason;
	r.suberror = run->internal.suberror;
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags &
	     KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		r.insn_len = run->emulation_failure.insn_size;
		if (r.insn_len > sizeof(run->emulation_failure.insn_bytes))
			r.insn_len = sizeof(run->emulation_failure.insn_bytes);
		memcpy(r.insn, run->emulation_failure.insn_bytes, r.insn_len);
	}
	i = (size_t)snprintf(r.detail, sizeof(r.detail),
			     "KVM internal error, suberror %u%s", r.suberror,
			     r.insn_len ? ", instruction" : "");
	for (uint32_t k = 0; k < r.insn_len && i + 4 < sizeof(r.detail); k++)
		i += (size_t)snprintf(r.detail + i, sizeof(r.detail) - i,
				      " %02x", r.insn[k]);
	finish(v, &r);
}

static void handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct spp_vm_result r;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		break;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		break;
	case KVM_EXIT_HLT:
		finish_simple(v, SPP_VM_HALT, "hlt at rip 0x%llx", vcpu_rip(v));
		break;
	case KVM_EXIT_SHUTDOWN:
		finish_simple(v, SPP_VM_SHUTDOWN,
			      "triple fault (shutdown) at rip 0x%llx",
			      vcpu_rip(v));
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		handle_internal(v);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		memset(&r, 0, sizeof(r));
		r.reason = SPP_VM_FAIL_ENTRY;
		r.exit_reason = run->exit_reason;
		r.hw_reason = run->fail_entry.hardware_entry_failure_reason;
		snprintf(r.detail, sizeof(r.detail),
			 "VM entry failed, hardware reason 0x%llx",
			 (unsigned long long)r.hw_reason);
		finish(v, &r);
		break;
	default:
		finish_simple(v, SPP_VM_UNHANDLED, "KVM exit reason %llu",
			      run->exit_reason);
		break;
	}
}

/* ---- vCPU threads ------------------------------------------------------- */

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
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

		ret = ioctl(v->fd, KVM_RUN, 0);
		__atomic_store_n(&v->exits, v->exits + 1, __ATOMIC_RELAXED);
		if (ret < 0) {
			if (errno == EINTR &&
			    __atomic_exchange_n(&v->probe, false,
						__ATOMIC_ACQ_REL)) {
				struct spp_insn_report rep;
				struct spp_event ev;

				v->run->exit_reason = KVM_EXIT_INTR;
				guard_emulated(v,
					       spp_guard_emulate(
						       vm->guard, v->fd, v->run,
						       v->index, &ev, &rep),
					       &rep, &ev);
			} else if (errno != EINTR && errno != EAGAIN) {
				struct spp_vm_result r;

				memset(&r, 0, sizeof(r));
				r.reason = SPP_VM_ERROR;
				r.error = -errno;
				snprintf(r.detail, sizeof(r.detail),
					 "KVM_RUN: %s", strerror(errno));
				finish(v, &r);
			}
		} else {
			handle_exit(v);
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
 * guest programs can use AVX; vm->xcr0 records it.
 */
static int setup_cpuid(struct spp_vm *vm, struct vcpu *v)
{
	struct kvm_cpuid2 *cpuid;
	int n = 128, ret = 0;
	uint32_t i;

	cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return -ENOMEM;
	cpuid->nent = (uint32_t)n;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0 ||
	    ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
		ret = -errno;
	if (!ret && v->index == 0) {
		bool xsave = false;
		uint64_t xcr0 = 0;

		for (i = 0; i < cpuid->nent; i++) {
			const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

			if (e->function == 1)
				xsave = e->ecx & (1u << 26);
			if (e->function == 0xd && e->index == 0)
				xcr0 = e->eax;
		}
		xcr0 &= SPP_X86_XCR0_WANTED;
		if (xsave && (xcr0 & 3) == 3)
			vm->xcr0 = xcr0;
	}
	free(cpuid);
	return ret;
}

static void seg_to_kvm(const struct spp_x86_segment *s, struct kvm_segment *k)
{
	memset(k, 0, sizeof(*k));
	k->base = s->base;
	k->limit = s->limit;
	k->selector = s->selector;
	k->type = s->type;
	k->present = s->present;
	k->dpl = s->dpl;
	k->db = s->db;
	k->s = s->s;
	k->l = s->l;
	k->g = s->g;
	k->avl = s->avl;
	k->unusable = s->unusable;
}

static int setup_vcpu_state(struct spp_vm *vm, struct vcpu *v, uint64_t cr3,
			    const struct spp_x86_dtable *gdtr,
			    const struct spp_x86_dtable *idtr)
{
	struct spp_x86_segment code, data, tss;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;

	if (spp_x86_segment_get(SPP_X86_GDT_KCODE, &code) ||
	    spp_x86_segment_get(SPP_X86_GDT_KDATA, &data) ||
	    spp_x86_segment_get(SPP_X86_GDT_TSS_AT(v->index), &tss))
		return -EINVAL;
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	seg_to_kvm(&code, &sregs.cs);
	seg_to_kvm(&data, &sregs.ds);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	seg_to_kvm(&tss, &sregs.tr);
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
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	if (vm->xcr0) {
		struct kvm_xcrs xcrs;

		memset(&xcrs, 0, sizeof(xcrs));
		xcrs.nr_xcrs = 1;
		xcrs.xcrs[0].xcr = 0;
		xcrs.xcrs[0].value = vm->xcr0;
		if (ioctl(v->fd, KVM_SET_XCRS, &xcrs) < 0)
			return -errno;
	}

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = SPP_X86_RFLAGS_INIT;
	regs.rip = vm->entry;
	regs.rsp = SPP_GUEST_STACK_TOP(v->index);
	regs.rdi = v->index;
	regs.rsi = vm->nvcpus;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

static int create_vcpu(struct spp_vm *vm, struct vcpu *v, uint32_t index,
		       int mmap_size)
{
	int ret;

	v->vm = vm;
	v->index = index;
	v->parked = true;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, index);
	if (v->fd < 0)
		return -errno;
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
	if (!out || (cfg && (cfg->nvcpus > SPP_GUEST_MAX_VCPUS ||
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
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		goto fail;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		ret = -errno;
		goto fail;
	}
	/* Needed by VT-x without unrestricted guest; harmless elsewhere. */
	ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	/*
	 * An instruction KVM cannot emulate (say an SSE store into a
	 * read-only slot) must reach us with its bytes, not become a #UD in
	 * a CPL3 guest: without this cap KVM injects #UD there.
	 */
	if (ioctl(vm->vm_fd, KVM_CHECK_EXTENSION,
		  KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_EXIT_ON_EMULATION_FAILURE,
			.args = { 1 },
		};

		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
			ret = -errno;
			goto fail;
		}
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
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		ret = -errno;
		goto fail;
	}
	ret = spp_guard_create(&vm->guard, vm->vm_fd, &ops, vm);
	if (!ret)
		ret = spp_guard_add_memory(vm->guard, VM_RAM_SLOT, 0,
					   vm->ram_size, vm->ram);
	if (ret)
		goto fail;
	spp_guard_set_policy(vm->guard, vm->cfg.policy);

	mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
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
	for (i = 0; i < SPP_GUEST_MAX_VCPUS; i++) {
		struct vcpu *v = &vm->vcpus[i];

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

static void add_ms(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
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
		struct vcpu *v = &vm->vcpus[i];

		if (v->started)
			continue;
		ret = -pthread_create(&v->thread, NULL, vcpu_thread, v);
		v->started = !ret;
	}
	if (ret) {
		vm->result.reason = SPP_VM_ERROR;
		vm->result.error = ret;
		vm->ended = true;
	}
	pthread_cond_broadcast(&vm->cond);
	if (timeout_ms)
		add_ms(&deadline, timeout_ms);
	while (!vm->ended) {
		struct timespec probe;

		add_ms(&probe, VM_PROBE_MS);
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
			vm->result.reason = SPP_VM_TIMEOUT;
			snprintf(vm->result.detail, sizeof(vm->result.detail),
				 "timeout after %u ms", timeout_ms);
			vm->ended = true;
			continue;
		}
		/*
		 * No news for a while: make sure nobody spins in KVM_RUN. A
		 * vCPU that left KVM_RUN since the last look does not: only
		 * the others are kicked (a kick costs a signal, an exit and
		 * a decode at RIP).
		 */
		for (i = 0; i < vm->nvcpus; i++) {
			struct vcpu *v = &vm->vcpus[i];
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
	if (vm->running && !vm->ended) {
		vm->result.reason = SPP_VM_INTERRUPTED;
		snprintf(vm->result.detail, sizeof(vm->result.detail),
			 "interrupted");
		vm->ended = true;
		kick_all(vm);
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
}

uint64_t spp_vm_xcr0(struct spp_vm *vm)
{
	return vm ? vm->xcr0 : 0;
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
