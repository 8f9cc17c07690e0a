// SPDX-License-Identifier: MIT
/*
 * bench_kvm.c - spp's enforcement on KVM against the raw KVM floor.
 *
 * Usage: bench_kvm GUEST_ELF [TRIALS [SECTIONS]]
 *   GUEST_ELF  bench/guests/bench (bench_abi.h)
 *   TRIALS     repetitions of every timed figure (default 5)
 *   SECTIONS   letters of the sections to run (default "abcdefgh")
 *
 * Two VMMs run the same guest program: a raw one written here (KVM_RUN,
 * memcpy of a write to its read-only page into the backing memory, KVM_RUN
 * again; it reuses only spp's guest set-up: ELF loader, GDT, TSS, IDT,
 * page tables) and spp's built-in VMM (spp/vm.h) with its guard. Timed
 * figures alternate between the VMs inside each trial, so both see the
 * same machine load; the tables give median, min and max over the trials.
 *
 * Diagnostic (not for the docs' figures): SPP_BENCH_NO_SYNC_REGS=1 hides
 * KVM_CAP_SYNC_REGS from the guard.
 *
 * Output: the machine, then a Markdown table per section on stdout, and
 * one line per target with "met" or "NOT met". Run through bench/run.
 * Exit status 0 (also when targets are missed), 1 on an error, 0 with a
 * message when there is no /dev/kvm.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <spp/elf_load.h>
#include <spp/exc.h>
#include <spp/guard.h>
#include <spp/guest_mem.h>
#include <spp/vm.h>
#include <spp/x86.h>

#include "bench_fig.h"
#include "guests/bench_abi.h"

#define MAX_TRIALS BENCH_MAX_TRIALS
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define PAGE 4096ULL

/* Guest-physical places (all in the guest's free RAM). */
#define PROT_PAGE 0x10000000ULL /* protected: sub-page 5 denied */
#define DENIED_SUBPAGE 5
#define PROT_MAP (~(1u << DENIED_SUBPAGE))
#define ALLOWED_ADDR (PROT_PAGE + 1 * 128)
#define DENIED_ADDR (PROT_PAGE + DENIED_SUBPAGE * 128)
#define PLAIN_PAGE 0x10100000ULL /* never protected */
#define TOGGLE_PAGE 0x10200000ULL /* protected and unprotected in (e) */
#define REGION 0x20000000ULL /* (e) the 64 MiB re-touched */
#define REGION_SIZE (64 * MIB)
#define MAIN_RAM (1 * GIB)
#define BIG_RAM (32 * GIB) /* (f) */

static const char *guest_path;
static void *guest_image;
static size_t guest_size;
static unsigned int trials = 5;
static double tsc_ns = 1.0; /* ns per guest TSC tick */
static int nmiss, nmet;

/* ---- helpers ---------------------------------------------------------- */

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_kvm: %s: %s\n", what,
		err ? strerror(err < 0 ? -err : err) : "failed");
	exit(1);
}

/*
 * Per-exit breakdown of (a) and (b), on an instrumented pass: this program
 * defines ioctl(), which both VMMs (the raw one here and libspp, linked
 * statically) call, and times each KVM_RUN and the user-space gap between
 * two of them on the vCPU; spp_guard_handle_exit() is wrapped
 * (-Wl,--wrap, bench/meson.build) to time the guard inside that gap. Only
 * one vCPU runs at a time in (a) and (b); off, the wrappers cost a branch.
 */
static struct {
	bool on;
	double last_end; /* end of the previous KVM_RUN; 0: none yet */
	double kvm_ns, user_ns, guard_ns, clock_ns;
	uint64_t runs, gaps, guards, intr;
} xt;

/* (e): the memslot ioctls of one protection change (toggler thread). */
static struct {
	bool on;
	double first, last_end, sum;
	unsigned int n;
} slt;

/* The wrappers' clock: the TSC (clock_gettime is a system call and an
 * HPET read in the 6.1 test VM, whose TSC is marked unstable). */
static double tsc_now_ns(void);

int ioctl(int fd, unsigned long req, ...);
int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	unsigned long arg;
	double t0, t1;
	long ret;

	va_start(ap, req);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (req == KVM_SET_USER_MEMORY_REGION && slt.on) {
		t0 = tsc_now_ns();
		ret = syscall(SYS_ioctl, fd, req, arg);
		t1 = tsc_now_ns();
		if (!slt.n)
			slt.first = t0;
		slt.last_end = t1;
		slt.sum += t1 - t0;
		slt.n++;
		return (int)ret;
	}
	/* Diagnostic: the guard without sync regs. */
	if (req == KVM_CHECK_EXTENSION && arg == KVM_CAP_SYNC_REGS &&
	    getenv("SPP_BENCH_NO_SYNC_REGS"))
		return 0;
	if (!xt.on || req != KVM_RUN)
		return (int)syscall(SYS_ioctl, fd, req, arg);
	t0 = tsc_now_ns();
	if (xt.last_end) {
		xt.user_ns += t0 - xt.last_end;
		xt.gaps++;
	}
	ret = syscall(SYS_ioctl, fd, req, arg);
	t1 = tsc_now_ns();
	if (ret < 0 && errno == EINTR)
		xt.intr++; /* a kick: spp's VMM probes every 100 ms */
	xt.kvm_ns += t1 - t0;
	xt.last_end = t1;
	xt.runs++;
	return (int)ret;
}

int __real_spp_guard_handle_exit(struct spp_guard *g, int vcpu_fd,
				 struct kvm_run *run, uint32_t vcpu,
				 struct spp_event *ev);
int __wrap_spp_guard_handle_exit(struct spp_guard *g, int vcpu_fd,
				 struct kvm_run *run, uint32_t vcpu,
				 struct spp_event *ev);
int __wrap_spp_guard_handle_exit(struct spp_guard *g, int vcpu_fd,
				 struct kvm_run *run, uint32_t vcpu,
				 struct spp_event *ev)
{
	double t0;
	int ret;

	if (!xt.on)
		return __real_spp_guard_handle_exit(g, vcpu_fd, run, vcpu, ev);
	t0 = tsc_now_ns();
	ret = __real_spp_guard_handle_exit(g, vcpu_fd, run, vcpu, ev);
	xt.guard_ns += tsc_now_ns() - t0;
	xt.guards++;
	return ret;
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static double tsc_now_ns(void)
{
	return (double)rdtsc() * tsc_ns;
}

static void row1(const char *name, double v, const char *unit)
{
	printf("| %s | %.4g | | | %s |\n", name, v, unit);
}

static void target(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("target: %s: ", ok ? "met" : "NOT met");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (ok)
		nmet++;
	else
		nmiss++;
}

/* ---- the raw VMM: no spp code in its exit path ----------------------- */

struct rawvm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	uint8_t *ram;
	uint64_t ram_size;
	uint64_t ro_gpa; /* the read-only page */
	struct spp_guest_mem mem;
	uint64_t exits; /* writes to the read-only page */
};

static void raw_slot(struct rawvm *r, uint32_t id, uint64_t gpa, uint64_t size,
		     uint32_t flags)
{
	struct kvm_userspace_memory_region m = {
		.slot = id,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)(r->ram + gpa),
	};

	if (ioctl(r->vm, KVM_SET_USER_MEMORY_REGION, &m) < 0)
		die("raw: memslot", errno);
}

/* One vCPU, RAM [0, @ram_size) as three slots with the page @ro_gpa
 * read-only in the middle, the guest loaded and its CPU in long mode. */
/* Variants of the raw VM for the (b) breakdown: spp's memslot layout,
 * spp's XSAVE set-up (CR4.OSXSAVE, XCR0 = x87|SSE|AVX as offered). */
#define RAW_CHUNKS 1u
#define RAW_XSAVE 2u

static struct rawvm *raw_create(uint64_t ram_size, uint64_t ro_gpa,
				unsigned int flags)
{
	bool chunks = flags & RAW_CHUNKS;
	uint64_t xcr0 = 0;
	struct spp_x86_dtable gdtr, idtr = { 0, 0 };
	struct spp_x86_segment code, data, tss;
	struct spp_elf_info info;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;
	struct rawvm *r = calloc(1, sizeof(*r));
	uint64_t cr3;
	int memfd, ret;

	if (!r)
		die("raw", ENOMEM);
	r->ram_size = ram_size;
	r->ro_gpa = ro_gpa;
	r->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (r->kvm < 0)
		die("raw: /dev/kvm", errno);
	r->vm = ioctl(r->kvm, KVM_CREATE_VM, 0);
	if (r->vm < 0)
		die("raw: KVM_CREATE_VM", errno);
	ioctl(r->vm, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	memfd = memfd_create("bench-raw-ram", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, (off_t)ram_size) < 0)
		die("raw: memfd", errno);
	r->ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		      0);
	close(memfd);
	if (r->ram == MAP_FAILED)
		die("raw: mmap", errno);
	if (chunks) {
		/* The RAM in 64 MiB slots, as spp's guard cuts it. */
		uint64_t g = 0, end;
		uint32_t id = 3;

		while (g < ram_size) {
			end = (g / (64 * MIB) + 1) * 64 * MIB;
			if (g < ro_gpa && end > ro_gpa)
				end = ro_gpa;
			if (end > ram_size)
				end = ram_size;
			if (g == ro_gpa) {
				raw_slot(r, 1, ro_gpa, PAGE, KVM_MEM_READONLY);
				end = ro_gpa + PAGE;
			} else {
				raw_slot(r, id++, g, end - g, 0);
			}
			g = end;
		}
	} else {
		raw_slot(r, 0, 0, ro_gpa, 0);
		raw_slot(r, 1, ro_gpa, PAGE, KVM_MEM_READONLY);
		raw_slot(r, 2, ro_gpa + PAGE, ram_size - ro_gpa - PAGE, 0);
	}

	spp_guest_mem_init(&r->mem);
	ret = spp_guest_mem_add(&r->mem, 0, ram_size, r->ram);
	if (!ret)
		ret = spp_elf_load(&r->mem, ram_size, guest_image, guest_size,
				   &info);
	if (!ret)
		ret = spp_x86_gdt_build(&r->mem, &gdtr);
	if (!ret)
		ret = spp_x86_tss_build(&r->mem);
	if (!ret)
		ret = spp_exc_install(&r->mem, &idtr);
	if (!ret)
		ret = spp_x86_pt_build(&r->mem, ram_size, &cr3);
	if (ret)
		die("raw: guest set-up", ret);

	r->vcpu = ioctl(r->vm, KVM_CREATE_VCPU, 0);
	if (r->vcpu < 0)
		die("raw: KVM_CREATE_VCPU", errno);
	r->run = mmap(NULL, (size_t)ioctl(r->kvm, KVM_GET_VCPU_MMAP_SIZE, 0),
		      PROT_READ | PROT_WRITE, MAP_SHARED, r->vcpu, 0);
	if (r->run == MAP_FAILED)
		die("raw: kvm_run", errno);
	/* the VMM's own CPUID set-up; its XCR0 only for RAW_XSAVE */
	ret = spp_x86_cpuid_setup(r->kvm, r->vcpu, &xcr0);
	if (ret)
		die("raw: cpuid", ret);
	if (!(flags & RAW_XSAVE))
		xcr0 = 0;

	if (spp_x86_segment_get(SPP_X86_GDT_KCODE, &code) ||
	    spp_x86_segment_get(SPP_X86_GDT_KDATA, &data) ||
	    spp_x86_segment_get(SPP_X86_GDT_TSS_AT(0), &tss))
		die("raw: segments", EINVAL);
	if (ioctl(r->vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("raw: sregs", errno);
	spp_x86_segment_to_kvm(&code, &sregs.cs);
	spp_x86_segment_to_kvm(&data, &sregs.ds);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	spp_x86_segment_to_kvm(&tss, &sregs.tr);
	sregs.gdt.base = gdtr.base;
	sregs.gdt.limit = gdtr.limit;
	sregs.idt.base = idtr.base;
	sregs.idt.limit = idtr.limit;
	sregs.cr0 = SPP_X86_CR0_INIT;
	sregs.cr3 = cr3;
	sregs.cr4 = SPP_X86_CR4_INIT;
	if (xcr0)
		sregs.cr4 |= SPP_X86_CR4_OSXSAVE;
	sregs.efer = SPP_X86_EFER_INIT;
	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = SPP_X86_RFLAGS_INIT;
	regs.rip = info.entry;
	regs.rsp = SPP_GUEST_STACK_TOP(0);
	regs.rdi = 0;
	regs.rsi = 1;
	if (ioctl(r->vcpu, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(r->vcpu, KVM_SET_FPU, &fpu) < 0 ||
	    ioctl(r->vcpu, KVM_SET_REGS, &regs) < 0)
		die("raw: registers", errno);
	if (xcr0) {
		struct kvm_xcrs xcrs;

		memset(&xcrs, 0, sizeof(xcrs));
		xcrs.nr_xcrs = 1;
		xcrs.xcrs[0].value = xcr0;
		if (ioctl(r->vcpu, KVM_SET_XCRS, &xcrs) < 0)
			die("raw: xcr0", errno);
	}
	return r;
}

/* Run until the guest syncs; the floor's whole exit handling is the
 * memcpy below. */
static void raw_run(struct rawvm *r)
{
	struct kvm_run *run = r->run;

	for (;;) {
		if (ioctl(r->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("raw: KVM_RUN", errno);
		}
		if (run->exit_reason == KVM_EXIT_MMIO && run->mmio.is_write &&
		    run->mmio.phys_addr - r->ro_gpa < PAGE) {
			memcpy(r->ram + run->mmio.phys_addr, run->mmio.data,
			       run->mmio.len);
			r->exits++;
			continue;
		}
		if (run->exit_reason == KVM_EXIT_MMIO &&
		    run->mmio.phys_addr - SPP_LAYOUT_DOORBELL <
			    SPP_LAYOUT_DOORBELL_SIZE) {
			uint64_t off =
				run->mmio.phys_addr - SPP_LAYOUT_DOORBELL;

			if (off == SPP_DOORBELL_SYNC)
				return;
			if (off == SPP_DOORBELL_PUTC ||
			    off == SPP_DOORBELL_PUTS)
				continue;
		}
		if (run->exit_reason == KVM_EXIT_IO)
			continue; /* console */
		fprintf(stderr, "bench_kvm: raw VM: exit %u at 0x%llx\n",
			run->exit_reason,
			(unsigned long long)run->mmio.phys_addr);
		exit(1);
	}
}

/* ---- both VMMs behind one interface ---------------------------------- */

struct target {
	struct rawvm *raw;
	struct spp_vm *vm;
	unsigned int nvcpus;
	uint64_t seq;
};

static uint8_t *tgt_ptr(struct target *t, uint64_t gpa, uint64_t len)
{
	uint8_t *p = t->raw ? spp_guest_mem_ptr(&t->raw->mem, gpa, len) :
			      spp_guest_mem_ptr(spp_vm_mem(t->vm), gpa, len);

	if (!p)
		die("guest pointer", EFAULT);
	return p;
}

static void spp_run_until_sync(struct target *t)
{
	struct spp_vm_result res;
	int ret = spp_vm_run(t->vm, 600 * 1000, &res);

	if (ret)
		die("spp_vm_run", ret);
	if (res.reason != SPP_VM_SYNC || res.value != t->seq) {
		fprintf(stderr, "bench_kvm: spp VM: %s\n", res.detail);
		exit(1);
	}
}

static struct target *spp_target(uint64_t ram_size, unsigned int nvcpus)
{
	struct spp_vm_config cfg = { .ram_size = ram_size, .nvcpus = nvcpus };
	struct target *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		die("target", ENOMEM);
	ret = spp_vm_create(&t->vm, &cfg);
	if (!ret)
		ret = spp_vm_load_elf(t->vm, guest_image, guest_size);
	if (ret)
		die("spp VM", ret);
	t->nvcpus = nvcpus;
	return t;
}

static struct target *raw_target(uint64_t ram_size, uint64_t ro_gpa,
				 unsigned int flags)
{
	struct target *t = calloc(1, sizeof(*t));

	if (!t)
		die("target", ENOMEM);
	t->raw = raw_create(ram_size, ro_gpa, flags);
	t->nvcpus = 1;
	return t;
}

struct result {
	double wall_ns; /* host: the whole run, sync included */
	double guest_ns; /* guest TSC around the command (vCPU 0) */
};

/*
 * Run @c on the first @nv vCPUs (vCPU i gets addr + i * @vstride) and
 * wait for it. Returns the wall time and the guest's own time.
 */
static struct result tgt_cmd(struct target *t, const struct bench_cmd *c,
			     unsigned int nv, uint64_t vstride)
{
	struct result res;
	uint64_t *done = (uint64_t *)tgt_ptr(t, BENCH_DONE_ADDR, 8);
	struct bench_cmd *gc[SPP_LAYOUT_MAX_VCPUS];
	double t0;
	unsigned int i;

	*done = 0;
	xt.last_end = 0; /* the gap before the first KVM_RUN is not an exit's */
	t->seq++;
	for (i = 0; i < nv; i++) {
		gc[i] = (struct bench_cmd *)tgt_ptr(t, BENCH_CMD_ADDR(i),
						    sizeof(*gc[i]));
		*gc[i] = *c;
		gc[i]->addr = c->addr + i * vstride;
		gc[i]->nvcpus = nv;
		__atomic_store_n(&gc[i]->seq, t->seq, __ATOMIC_SEQ_CST);
	}
	t0 = now_ns();
	if (t->raw)
		raw_run(t->raw);
	else
		spp_run_until_sync(t);
	res.wall_ns = now_ns() - t0;
	res.guest_ns = (double)(gc[0]->tsc1 - gc[0]->tsc0) * tsc_ns;
	return res;
}

static struct bench_cmd cmd(uint64_t op, uint64_t addr, uint64_t count)
{
	struct bench_cmd c;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.addr = addr;
	c.count = count;
	c.n = 1;
	return c;
}

static struct spp_guard_stats gstats(struct target *t)
{
	struct spp_guard_stats s;

	spp_guard_stats(spp_vm_guard(t->vm), &s);
	return s;
}

static void must(int ret, const char *what)
{
	if (ret < 0)
		die(what, ret);
}

/* ---- machine ---------------------------------------------------------- */

static void calibrate_tsc(void)
{
	double t0 = now_ns(), t1;
	uint64_t c0 = rdtsc(), c1;

	usleep(200 * 1000);
	t1 = now_ns();
	c1 = rdtsc();
	tsc_ns = (t1 - t0) / (double)(c1 - c0);
}

static void print_machine(void)
{
	struct utsname u;
	char model[160];
	const char *host = getenv("SPP_BENCH_HOST");

	cpu_model(model, sizeof(model));
	uname(&u);
	if (host)
		printf("host: %s\n", host);
	printf("KVM host (where /dev/kvm is): %s, %ld CPUs online, kernel %s%s\n",
	       model, sysconf(_SC_NPROCESSORS_ONLN), u.release,
	       getenv("SPP_KVM_VM") ?
		       "; inside the QEMU TCG VM (nested SVM): scripts/kvm-vm" :
		       "; native");
	printf("guest TSC: %.3f ns/tick; trials: %u\n", tsc_ns, trials);
}

/* ---- (a) (b) floor and trapped stores --------------------------------- */

#define STORES 2000

static double per_store_us(struct result r, uint64_t n)
{
	return r.wall_ns / (double)n / 1e3;
}

/* Per-exit parts of one instrumented command: KVM_RUN, the user-space gap
 * between two KVM_RUNs, the guard inside it (µs per exit). */
struct parts {
	struct fig kvm, user, guard, share, intr;
};

static void parts_run(struct target *t, uint64_t addr, struct parts *p)
{
	struct bench_cmd c = cmd(BENCH_STORE32, addr, STORES);

	memset(&xt, 0, sizeof(xt));
	xt.on = true;
	tgt_cmd(t, &c, 1, 0);
	xt.on = false;
	if (!xt.runs || !xt.gaps)
		die("(b) breakdown: no KVM_RUN seen", EIO);
	fig_add(&p->kvm, xt.kvm_ns / (double)xt.runs / 1e3);
	fig_add(&p->intr, (double)xt.intr * 1000 / (double)xt.runs);
	fig_add(&p->user, xt.user_ns / (double)xt.gaps / 1e3);
	fig_add(&p->guard,
		xt.guards ? xt.guard_ns / (double)xt.guards / 1e3 : 0);
	fig_add(&p->share, xt.guards ? (xt.guard_ns / (double)xt.guards) /
					       (xt.kvm_ns / (double)xt.runs +
						xt.user_ns / (double)xt.gaps) :
				       0);
}

static void section_ab_breakdown(struct target *raw, struct target *spp)
{
	struct parts pr = { 0 }, pc = { 0 }, px = { 0 }, pa = { 0 }, pd = { 0 };
	struct target *chunked = raw_target(MAIN_RAM, PROT_PAGE, RAW_CHUNKS);
	struct target *xs = raw_target(MAIN_RAM, PROT_PAGE, RAW_XSAVE);
	double t0, clk;
	unsigned int k;
	int i;

	t0 = now_ns();
	for (i = 0; i < 10000; i++)
		tsc_now_ns();
	clk = (now_ns() - t0) / 10000;
	for (k = 0; k < trials; k++) {
		parts_run(raw, ALLOWED_ADDR, &pr);
		parts_run(chunked, ALLOWED_ADDR, &pc);
		parts_run(xs, ALLOWED_ADDR, &px);
		parts_run(spp, ALLOWED_ADDR, &pa);
		parts_run(spp, DENIED_ADDR, &pd);
	}
	printf("\n#### (b) per exit: where the time goes\n\n"
	       "A second, instrumented pass of the same %u stores per trial: "
	       "KVM_RUN timed around the ioctl, the user-space gap from one "
	       "KVM_RUN's return to the next call (the VMM's whole exit "
	       "handling), and spp_guard_handle_exit() inside that gap "
	       "(clock around the handler); also the raw VMM with its RAM "
	       "in 64 MiB memslots, as spp's guard cuts it (a'), and with "
	       "spp's XSAVE set-up, CR4.OSXSAVE and XCR0 = x87|SSE|AVX (a\"). "
	       "The clock is the "
	       "TSC (%.0f ns a reading here).\n",
	       STORES, clk);
	table_head("per trapped store");
	row("(a) raw: in KVM_RUN", &pr.kvm, "µs/exit");
	row("(a) raw: user space between KVM_RUNs", &pr.user, "µs/exit");
	row("(a') raw, 64 MiB memslots: in KVM_RUN", &pc.kvm, "µs/exit");
	row("(a') raw, 64 MiB memslots: user space between KVM_RUNs", &pc.user,
	    "µs/exit");
	row("(a\") raw, spp's XSAVE set-up: in KVM_RUN", &px.kvm, "µs/exit");
	row("(b) allowed: in KVM_RUN", &pa.kvm, "µs/exit");
	row("(b) allowed: user space between KVM_RUNs", &pa.user, "µs/exit");
	row("(b) allowed: of it in spp_guard_handle_exit", &pa.guard,
	    "µs/exit");
	row("(b) allowed: guard / whole exit", &pa.share, "ratio");
	row("(b) allowed: KVM_RUNs interrupted by a kick", &pa.intr,
	    "per 1000");
	row("(b) denied: in KVM_RUN", &pd.kvm, "µs/exit");
	row("(b) denied: user space between KVM_RUNs", &pd.user, "µs/exit");
	row("(b) denied: of it in spp_guard_handle_exit", &pd.guard, "µs/exit");
	row("(b) denied: guard / whole exit", &pd.share, "ratio");
}

static void section_ab(struct target *raw, struct target *spp)
{
	struct fig floor = { 0 }, allowed = { 0 }, denied = { 0 };
	struct fig ra = { 0 }, rd = { 0 };
	struct spp_guard_stats s0, s1;
	uint64_t e0 = raw->raw->exits;
	struct bench_cmd c;
	unsigned int k;
	uint8_t *den = tgt_ptr(spp, DENIED_ADDR, 4);
	uint8_t *alw = tgt_ptr(spp, ALLOWED_ADDR, 4);

	s0 = gstats(spp);
	for (k = 0; k < trials; k++) {
		double a, b = 0, d = 0;

		/* Alternate the order: drifting load hits both sides. */
		c = cmd(BENCH_STORE32, DENIED_ADDR, STORES);
		if (k % 2)
			d = per_store_us(tgt_cmd(spp, &c, 1, 0), STORES);
		c.addr = ALLOWED_ADDR;
		if (k % 2)
			b = per_store_us(tgt_cmd(spp, &c, 1, 0), STORES);
		a = per_store_us(tgt_cmd(raw, &c, 1, 0), STORES);
		if (!(k % 2))
			b = per_store_us(tgt_cmd(spp, &c, 1, 0), STORES);
		c.addr = DENIED_ADDR;
		if (!(k % 2))
			d = per_store_us(tgt_cmd(spp, &c, 1, 0), STORES);
		fig_add(&floor, a);
		fig_add(&allowed, b);
		fig_add(&denied, d);
		fig_add(&ra, b / a);
		fig_add(&rd, d / a);
	}
	s1 = gstats(spp);
	if (den[0] || den[1] || alw[0] != (uint8_t)(STORES - 1))
		die("(b): the protected page holds wrong bytes", EIO);

	printf("\n### (a) floor, (b) trapped stores through spp\n\n"
	       "%u one-instruction 4-byte stores (`mov`) per trial at CPL3; "
	       "wall time per store.\n",
	       STORES);
	table_head("store into a trapped page");
	row("(a) floor: raw KVM, read-only slot, memcpy", &floor, "µs/store");
	row("(b) spp, allowed sub-page", &allowed, "µs/store");
	row("(b) spp, denied sub-page", &denied, "µs/store");
	row("(b)/(a) allowed", &ra, "ratio");
	row("(b)/(a) denied", &rd, "ratio");
	row1("exits per store: floor",
	     (double)(raw->raw->exits - e0) / ((double)trials * STORES),
	     "exits");
	row1("exits per store: spp",
	     (double)(s1.exits - s0.exits) / (2.0 * trials * STORES), "exits");
	target(fig_med(&ra) <= 1.05, "(b)/(a) allowed %.3f <= 1.05",
	       fig_med(&ra));
	target(fig_med(&rd) <= 1.05, "(b)/(a) denied %.3f <= 1.05",
	       fig_med(&rd));
	section_ab_breakdown(raw, spp);
}

/* ---- (c) (d) untrapped accesses ----------------------------------------- */

#define PLAIN_OPS 2000000

static void section_cd(struct target *raw, struct target *spp, bool do_c,
		       bool do_d)
{
	struct fig rs = { 0 }, ss = { 0 }, rl = { 0 }, sl = { 0 };
	struct fig qs = { 0 }, ql = { 0 }, pl = { 0 };
	struct spp_guard_stats s0, s1;
	struct bench_cmd c;
	unsigned int k;

	c = cmd(BENCH_STORE32, PLAIN_PAGE, 1024);
	c.n = 1024;
	c.stride = 4;
	tgt_cmd(raw, &c, 1, 0); /* warm: first touch, translation */
	tgt_cmd(spp, &c, 1, 0);
	for (k = 0; do_c && k < trials; k++) {
		double a, b;

		c = cmd(BENCH_STORE32, PLAIN_PAGE, PLAIN_OPS);
		c.n = 1024;
		c.stride = 4;
		a = tgt_cmd(raw, &c, 1, 0).guest_ns;
		b = tgt_cmd(spp, &c, 1, 0).guest_ns;
		fig_add(&rs, a / PLAIN_OPS);
		fig_add(&ss, b / PLAIN_OPS);
		fig_add(&qs, a / b);
		c.op = BENCH_LOAD64;
		c.n = 512;
		c.stride = 8;
		a = tgt_cmd(raw, &c, 1, 0).guest_ns;
		b = tgt_cmd(spp, &c, 1, 0).guest_ns;
		fig_add(&rl, a / PLAIN_OPS);
		fig_add(&sl, b / PLAIN_OPS);
		fig_add(&ql, a / b);
	}
	if (do_c) {
		printf("\n### (c) an unprotected page: VM under spp vs VM "
		       "without spp\n\n%u accesses per trial (4-byte stores "
		       "over the page, 8-byte loads over the page), timed by "
		       "the guest's TSC; both VMs also hold a trapped page "
		       "elsewhere.\n",
		       PLAIN_OPS);
		table_head("unprotected page");
		row("stores, VM without spp (raw)", &rs, "ns/store");
		row("stores, VM under spp", &ss, "ns/store");
		row("loads, VM without spp (raw)", &rl, "ns/load");
		row("loads, VM under spp", &sl, "ns/load");
		row("(c) stores: speed spp / no spp", &qs, "ratio");
		row("(c) loads: speed spp / no spp", &ql, "ratio");
		target(fig_med(&qs) >= 0.98, "(c) stores %.3f >= 0.98",
		       fig_med(&qs));
		target(fig_med(&ql) >= 0.98, "(c) loads %.3f >= 0.98",
		       fig_med(&ql));
	}
	if (!do_d)
		return;
	s0 = gstats(spp);
	for (k = 0; k < trials; k++) {
		c = cmd(BENCH_LOAD64, PROT_PAGE, PLAIN_OPS);
		c.n = 512;
		c.stride = 8;
		fig_add(&pl, tgt_cmd(spp, &c, 1, 0).guest_ns / PLAIN_OPS);
	}
	s1 = gstats(spp);
	printf("\n### (d) reads of a protected page\n\n%u 8-byte loads over "
	       "the whole protected page per trial.\n",
	       PLAIN_OPS);
	table_head("protected page, loads");
	row("loads, spp, protected page", &pl, "ns/load");
	row1("guard exits during all the loads", (double)(s1.exits - s0.exits),
	     "exits");
	target(s1.exits == s0.exits, "(d) %llu exits for %u loads (must be 0)",
	       (unsigned long long)(s1.exits - s0.exits), PLAIN_OPS * trials);
}

/* ---- (e) protection changes while the guest runs -------------------- */

struct toggler {
	struct target *t;
	struct bench_cmd *gc;
	struct fig prot, unprot;
	/* the parts: before the first memslot ioctl (pause, planning), the
	 * memslot ioctls, after the last one (resume); their count */
	struct fig pre[2], ioc[2], post[2], n[2];
	int err;
};

/* One timed spp_guard_set_range(); its parts go to index @i of @tg's. */
static double toggle_timed(struct toggler *tg, struct spp_guard *g,
			   uint32_t map, int i)
{
	double t0, t1;

	memset(&slt, 0, sizeof(slt));
	slt.on = true;
	t0 = tsc_now_ns();
	if (!tg->err)
		tg->err = spp_guard_set_range(g, TOGGLE_PAGE >> 12, 1, map);
	t1 = tsc_now_ns();
	slt.on = false;
	if (slt.n) {
		fig_add(&tg->pre[i], (slt.first - t0) / 1e6);
		fig_add(&tg->ioc[i], slt.sum / 1e6);
		fig_add(&tg->post[i], (t1 - slt.last_end) / 1e6);
	}
	fig_add(&tg->n[i], slt.n);
	return (t1 - t0) / 1e6;
}

static void *toggle_thread(void *arg)
{
	struct toggler *tg = arg;
	struct spp_guard *g = spp_vm_guard(tg->t->vm);
	uint64_t p0;
	unsigned int k;

	while (!__atomic_load_n(&tg->gc->progress, __ATOMIC_ACQUIRE))
		usleep(1000);
	p0 = tg->gc->progress;
	for (k = 0; k < 3 * trials && !tg->err; k++) {
		fig_add(&tg->prot, toggle_timed(tg, g, PROT_MAP, 0));
		fig_add(&tg->unprot, toggle_timed(tg, g, SPP_ACCESS_FULL, 1));
		usleep(2000);
	}
	/* The guest must have kept running meanwhile. */
	if (!tg->err && tg->gc->progress == p0)
		tg->err = -EDEADLK;
	__atomic_store_n(&tg->gc->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void section_e(struct target *spp)
{
	struct toggler tg = { .t = spp };
	struct fig steady = { 0 }, after_p = { 0 }, after_u = { 0 };
	struct fig rp = { 0 }, ru = { 0 };
	struct spp_guard *g = spp_vm_guard(spp->vm);
	struct bench_cmd c;
	pthread_t th;
	unsigned int k;

	/* Latency: the guest hammers a plain page (no exits) meanwhile. */
	tg.gc = (struct bench_cmd *)tgt_ptr(spp, BENCH_CMD_ADDR(0),
					    sizeof(*tg.gc));
	tg.gc->progress = 0;
	tg.gc->stop = 0;
	c = cmd(BENCH_HAMMER, PLAIN_PAGE, 0);
	if (pthread_create(&th, NULL, toggle_thread, &tg))
		die("thread", errno);
	tgt_cmd(spp, &c, 1, 0);
	pthread_join(th, NULL);
	if (tg.err)
		die("(e) toggling", tg.err);

	/* Collateral: touch every page of a 64 MiB region that no change
	 * concerns, steady, then right after a protect, after an unprotect. */
	c = cmd(BENCH_STORE32, REGION, REGION_SIZE / PAGE);
	c.n = REGION_SIZE / PAGE;
	c.stride = PAGE;
	tgt_cmd(spp, &c, 1, 0); /* first touch: host allocation */
	for (k = 0; k < trials; k++) {
		double s, p, u;

		s = tgt_cmd(spp, &c, 1, 0).guest_ns;
		must(spp_guard_set_range(g, TOGGLE_PAGE >> 12, 1, PROT_MAP),
		     "protect");
		p = tgt_cmd(spp, &c, 1, 0).guest_ns;
		must(spp_guard_set_range(g, TOGGLE_PAGE >> 12, 1,
					 SPP_ACCESS_FULL),
		     "unprotect");
		u = tgt_cmd(spp, &c, 1, 0).guest_ns;
		fig_add(&steady, s / 1e6);
		fig_add(&after_p, p / 1e6);
		fig_add(&after_u, u / 1e6);
		fig_add(&rp, p / s);
		fig_add(&ru, u / s);
	}
	printf("\n### (e) protection changes while the guest runs\n\n"
	       "Latency: %u protect/unprotect pairs of one page while the "
	       "guest stores to another page (host wall time of "
	       "spp_guard_set_range, pause and resume of the vCPU included). "
	       "Collateral: the guest stores once into each 4 KiB page of a "
	       "64 MiB region no change concerns (guest TSC).\n",
	       3 * trials);
	table_head("protection change");
	row("protect one page (latency)", &tg.prot, "ms");
	row("protect: before the first memslot ioctl (pause, plan)", &tg.pre[0],
	    "ms");
	row("protect: memslot ioctls", &tg.ioc[0], "ms");
	row("protect: after the last memslot ioctl (resume)", &tg.post[0],
	    "ms");
	row("protect: memslot ioctls per change", &tg.n[0], "ioctls");
	row("unprotect it (latency)", &tg.unprot, "ms");
	row("unprotect: before the first memslot ioctl (pause, plan)",
	    &tg.pre[1], "ms");
	row("unprotect: memslot ioctls", &tg.ioc[1], "ms");
	row("unprotect: after the last memslot ioctl (resume)", &tg.post[1],
	    "ms");
	row("unprotect: memslot ioctls per change", &tg.n[1], "ioctls");
	row("touch 64 MiB, steady state", &steady, "ms");
	row("touch 64 MiB right after a protect", &after_p, "ms");
	row("touch 64 MiB right after an unprotect", &after_u, "ms");
	row("re-touch after protect / steady", &rp, "ratio");
	row("re-touch after unprotect / steady", &ru, "ratio");
	target(fig_med(&tg.prot) <= 0.5 && fig_med(&tg.unprot) <= 0.5,
	       "(e) protect %.3f ms, unprotect %.3f ms <= 0.5 ms",
	       fig_med(&tg.prot), fig_med(&tg.unprot));
	target(fig_med(&rp) <= 2 && fig_med(&ru) <= 2,
	       "(e) re-touch %.2fx / %.2fx steady state <= 2x", fig_med(&rp),
	       fig_med(&ru));
}

/* ---- (f) large SETs, the memslot budget ------------------------------- */

#define CONTIG_PAGES (1u << 20)
#define SCATTER_BASE 0x10000000ULL
#define SCATTER_STRIDE (2 * MIB)

static uint64_t scatter_gpa(uint64_t i, uint64_t per_pass)
{
	return SCATTER_BASE + (i % per_pass) * SCATTER_STRIDE +
	       (i / per_pass) * MIB;
}

static void section_f(unsigned int scatter_total)
{
	struct target *t = spp_target(BIG_RAM, 1);
	struct spp_guard *g = spp_vm_guard(t->vm);
	struct spp_subpage *req;
	struct spp_guard_stats s0, s = { 0 };
	struct fig cset = { 0 }, cclear = { 0 }, cchunk = { 0 };
	uint64_t per_pass, i, marks[] = { 1024,	 4096,	8192,  12288, 16000,
					  16384, 20000, 24576, 32768 };
	uint64_t usable = spp_layout_pt_base(BIG_RAM) - SCATTER_BASE;
	unsigned int k, m = 0;
	double t0, tmark;

	req = malloc(sizeof(*req) + SPP_SUBPAGE_MAX_PAGES * sizeof(uint32_t));
	if (!req)
		die("(f)", ENOMEM);
	s0 = gstats(t);
	printf("\n### (f) large SETs and the memslot budget\n\n"
	       "A %llu GiB guest, 1 M contiguous pages (4 GiB): one "
	       "spp_guard_set_range() call with one map; KVM-shaped SETs "
	       "(spp_guard_set_access, at most 512 pages each) with varied "
	       "maps; one spp_guard_set_range() back to all-writable.\n",
	       (unsigned long long)(BIG_RAM / GIB));
	for (k = 0; k < trials; k++) {
		t0 = now_ns();
		must(spp_guard_set_range(g, SCATTER_BASE >> 12, CONTIG_PAGES,
					 PROT_MAP),
		     "(f) SET 1 M");
		fig_add(&cset, (now_ns() - t0) / 1e6);
		t0 = now_ns();
		must(spp_guard_set_range(g, SCATTER_BASE >> 12, CONTIG_PAGES,
					 SPP_ACCESS_FULL),
		     "(f) clear 1 M");
		fig_add(&cclear, (now_ns() - t0) / 1e6);
		t0 = now_ns();
		for (i = 0; i < CONTIG_PAGES; i += SPP_SUBPAGE_MAX_PAGES) {
			uint32_t j;

			req->gfn_base = (SCATTER_BASE >> 12) + i;
			req->npages = SPP_SUBPAGE_MAX_PAGES;
			req->flags = 0;
			for (j = 0; j < SPP_SUBPAGE_MAX_PAGES; j++)
				req->access_map[j] =
					~(1u << ((i + j) % 30 + 1));
			must(spp_guard_set_access(g, req), "(f) SET 512");
		}
		fig_add(&cchunk, (now_ns() - t0) / 1e6);
		s = gstats(t);
		must(spp_guard_set_range(g, SCATTER_BASE >> 12, CONTIG_PAGES,
					 SPP_ACCESS_FULL),
		     "(f) clear 1 M");
	}
	table_head("1 M contiguous pages");
	row("SET 1 M pages, one call", &cset, "ms");
	row("SET 1 M pages, 2048 KVM-shaped calls of 512", &cchunk, "ms");
	row("SET them back to writable, one call", &cclear, "ms");
	row1("memslots of the guard while set", (double)s.slots, "slots");
	row1("of them read-only", (double)s.ro_slots, "slots");
	free(req);

	/* Scattered: one page per 2 MiB, a second pass at odd MiBs once the
	 * first pass has used every 2 MiB step. */
	per_pass = usable / SCATTER_STRIDE;
	printf("\nScattered: one SET (spp_guard_set_range, 1 page) per page, "
	       "one page per 2 MiB (%llu of them fit the guest; beyond that a "
	       "second pass at the odd MiBs), sub-page %d denied. Budget: "
	       "memslot ids 32 .. KVM_CAP_NR_MEMSLOTS - 1.\n",
	       (unsigned long long)per_pass, DENIED_SUBPAGE);
	printf("\n| pages protected | last SET (µs/page, mean since previous "
	       "row) | memslots | read-only | trapped pages | merged "
	       "unprotected pages |\n|---|---|---|---|---|---|\n");
	t0 = tmark = now_ns();
	for (i = 0; i < scatter_total; i++) {
		must(spp_guard_set_range(g, scatter_gpa(i, per_pass) >> 12, 1,
					 PROT_MAP),
		     "(f) scattered SET");
		if (i + 1 == marks[m] || i + 1 == scatter_total) {
			double tn = now_ns();
			uint64_t prev = m ? marks[m - 1] : 0;

			s = gstats(t);
			printf("| %llu | %.1f | %u | %u | %llu | %llu |\n",
			       (unsigned long long)(i + 1),
			       (tn - tmark) / 1e3 / (double)(i + 1 - prev),
			       s.slots, s.ro_slots,
			       (unsigned long long)s.trapped_pages,
			       (unsigned long long)(s.trapped_pages - i - 1));
			fflush(stdout);
			tmark = tn;
			if (i + 1 == marks[m] &&
			    m + 1 < sizeof(marks) / sizeof(marks[0]))
				m++;
		}
	}
	printf("\nAll %u scattered SETs: %.2f s.\n", scatter_total,
	       (now_ns() - t0) / 1e9);

	/* Correctness: a store into the denied sub-page of every page must
	 * be dropped, one into an allowed sub-page must land; then the cost
	 * of the merged (unprotected but trapped) pages. */
	{
		struct spp_guard_stats a, b;
		struct bench_cmd c;
		uint64_t done = 0, bad = 0, passes, p, n;
		double ns_prot = 0, ns_merged = 0;
		uint64_t merged_exits;

		passes = (scatter_total + per_pass - 1) / per_pass;
		a = gstats(t);
		for (p = 0; p < passes; p++) {
			n = scatter_total - p * per_pass < per_pass ?
				    scatter_total - p * per_pass :
				    per_pass;
			c = cmd(BENCH_STORE32,
				scatter_gpa(p * per_pass, per_pass) +
					DENIED_SUBPAGE * 128,
				n);
			c.n = n;
			c.stride = SCATTER_STRIDE;
			tgt_cmd(t, &c, 1, 0);
			c.addr = scatter_gpa(p * per_pass, per_pass) + 128;
			ns_prot += tgt_cmd(t, &c, 1, 0).wall_ns;
			done += n;
		}
		b = gstats(t);
		for (i = 0; i < scatter_total; i++) {
			uint64_t gpa = scatter_gpa(i, per_pass);
			uint32_t d, ok;

			memcpy(&d, tgt_ptr(t, gpa + DENIED_SUBPAGE * 128, 4),
			       4);
			memcpy(&ok, tgt_ptr(t, gpa + 128, 4), 4);
			if (d != 0 || ok != (uint32_t)(i % per_pass))
				bad++;
		}
		printf("\nCorrectness past the budget: %llu stores into a "
		       "denied sub-page (%llu denied by the guard), %llu into "
		       "an allowed one; pages with a wrong byte: %llu.\n",
		       (unsigned long long)done,
		       (unsigned long long)(b.denied - a.denied),
		       (unsigned long long)done, (unsigned long long)bad);
		target(bad == 0 && b.denied - a.denied == done &&
			       scatter_total > 16384,
		       "(f) %u scattered pages (> 16 K) all protected "
		       "correctly",
		       scatter_total);

		/* The page after each first-pass page: unprotected, trapped
		 * only where the budget merged it into a read-only slot. */
		n = scatter_total < per_pass ? scatter_total : per_pass;
		c = cmd(BENCH_STORE32, SCATTER_BASE + 64 * MIB + PAGE, n);
		c.addr = scatter_gpa(0, per_pass) + PAGE;
		c.n = n;
		c.stride = SCATTER_STRIDE;
		tgt_cmd(t, &c, 1, 0); /* first touch: the host's page faults */
		a = gstats(t);
		ns_merged = tgt_cmd(t, &c, 1, 0).wall_ns;
		b = gstats(t);
		merged_exits = b.exits - a.exits;
		printf("\nStores into the unprotected page after each of the "
		       "first %llu protected pages: %llu of them exited "
		       "(merged into read-only slots); %.1f µs per store "
		       "on average over all, against %.1f µs per store into "
		       "a protected page above (every one an exit).\n",
		       (unsigned long long)n, (unsigned long long)merged_exits,
		       ns_merged / 1e3 / (double)n,
		       ns_prot / 1e3 / (double)done);
	}
	(void)s0;
	spp_vm_destroy(t->vm);
	free(t);
}

/* ---- (g) 1 vs 2 vCPUs --------------------------------------------------- */

static void section_g(void)
{
	struct target *t1 = spp_target(SPP_LAYOUT_RAM_DEFAULT, 1);
	struct target *t2 = spp_target(SPP_LAYOUT_RAM_DEFAULT, 2);
	struct fig f1 = { 0 }, f2 = { 0 }, q = { 0 };
	struct bench_cmd c;
	unsigned int k, i;

	for (i = 0; i < 2; i++) {
		must(spp_guard_set_range(spp_vm_guard(t1->vm),
					 (PROT_PAGE >> 12) + 16 * i, 1,
					 PROT_MAP),
		     "(g) protect");
		must(spp_guard_set_range(spp_vm_guard(t2->vm),
					 (PROT_PAGE >> 12) + 16 * i, 1,
					 PROT_MAP),
		     "(g) protect");
	}
	for (k = 0; k < trials; k++) {
		double a, b;

		c = cmd(BENCH_STORE32, ALLOWED_ADDR, STORES);
		a = tgt_cmd(t1, &c, 1, 0).wall_ns;
		b = tgt_cmd(t2, &c, 2, 16 * PAGE).wall_ns;
		fig_add(&f1, STORES / a * 1e9);
		fig_add(&f2, 2.0 * STORES / b * 1e9);
		fig_add(&q, (2.0 * STORES / b) / (STORES / a));
	}
	printf("\n### (g) 1 vs 2 vCPUs trapping writes on different pages\n\n"
	       "Each vCPU: %u allowed 4-byte stores into its own protected "
	       "page; throughput of the whole VM.\n",
	       STORES);
	table_head("trapped stores");
	row("1 vCPU", &f1, "stores/s");
	row("2 vCPUs", &f2, "stores/s");
	row("2 vCPUs / 1 vCPU", &q, "ratio");
	target(fig_med(&q) >= 1.6, "(g) 2 vCPUs %.2fx >= 1.6x", fig_med(&q));
	spp_vm_destroy(t1->vm);
	spp_vm_destroy(t2->vm);
	free(t1);
	free(t2);
}

/* ---- (h) string stores ------------------------------------------------ */

#define REPS 8

static void section_h(struct target *raw, struct target *spp)
{
	struct fig fr = { 0 }, fs = { 0 }, fm = { 0 }, frm = { 0 };
	struct spp_guard_stats a, b;
	uint64_t ex128 = 0, ex4k = 0, e0, fl128 = 0;
	struct bench_cmd c;
	unsigned int k;

	for (k = 0; k < trials; k++) {
		c = cmd(BENCH_REP_STOSB, ALLOWED_ADDR, REPS);
		c.len = 128;
		e0 = raw->raw->exits;
		fig_add(&fr, tgt_cmd(raw, &c, 1, 0).wall_ns / REPS / 1e3);
		fl128 += raw->raw->exits - e0;
		a = gstats(spp);
		fig_add(&fs, tgt_cmd(spp, &c, 1, 0).wall_ns / REPS / 1e3);
		b = gstats(spp);
		ex128 += b.exits - a.exits;
	}
	for (k = 0; k < trials; k++) {
		c = cmd(BENCH_MEMSET, PROT_PAGE, 1);
		c.len = PAGE;
		fig_add(&frm, tgt_cmd(raw, &c, 1, 0).wall_ns / 1e6);
		a = gstats(spp);
		fig_add(&fm, tgt_cmd(spp, &c, 1, 0).wall_ns / 1e6);
		b = gstats(spp);
		ex4k += b.exits - a.exits;
	}
	printf("\n### (h) string stores on a protected page\n\n"
	       "`rep stosb` of 128 bytes into an allowed sub-page (%u per "
	       "trial), and the guest library's `memset` (a `rep stosb`) of "
	       "the whole 4 KiB page, which holds the denied sub-page.\n",
	       REPS);
	table_head("string store");
	row("128-byte rep stosb, floor (raw)", &fr, "µs");
	row("128-byte rep stosb, spp", &fs, "µs");
	row1("128-byte rep stosb: exits, floor", (double)fl128 / trials / REPS,
	     "exits");
	row1("128-byte rep stosb: exits, spp", (double)ex128 / trials / REPS,
	     "exits");
	row("4 KiB memset, floor (raw)", &frm, "ms");
	row("4 KiB memset, spp", &fm, "ms");
	row1("4 KiB memset: exits, spp", (double)ex4k / trials, "exits");
	target((double)ex128 / trials / REPS <= 2,
	       "(h) %.0f exits for a 128-byte rep stosb <= 2",
	       (double)ex128 / trials / REPS);
}

/* ---- (u) the guard's own cost per exit --------------------------------- */

#define UCALLS 20000

/*
 * spp_guard_handle_exit() on a fabricated exit of a 4-byte store (no
 * KVM_RUN involved: such a store needs no continuation), against the
 * floor's handling (a memcpy): the user-space part of one trapped store.
 */
static void section_u(struct target *spp)
{
	struct fig fa = { 0 }, fd = { 0 }, ff = { 0 };
	struct spp_guard *g = spp_vm_guard(spp->vm);
	struct kvm_run *run = calloc(1, sizeof(*run));
	struct spp_event ev;
	uint8_t *ram = tgt_ptr(spp, 0, PAGE);
	unsigned int k, i;

	if (!run)
		die("(u)", ENOMEM);
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.is_write = 1;
	run->mmio.len = 4;
	for (k = 0; k < trials; k++) {
		double t0;

		run->mmio.phys_addr = ALLOWED_ADDR;
		t0 = now_ns();
		for (i = 0; i < UCALLS; i++)
			if (spp_guard_handle_exit(g, -1, run, 0, &ev) !=
			    SPP_EXIT_HANDLED)
				die("(u) handle_exit", EINVAL);
		fig_add(&fa, (now_ns() - t0) / UCALLS);
		run->mmio.phys_addr = DENIED_ADDR;
		t0 = now_ns();
		for (i = 0; i < UCALLS; i++)
			if (spp_guard_handle_exit(g, -1, run, 0, &ev) !=
			    SPP_EXIT_HANDLED)
				die("(u) handle_exit", EINVAL);
		fig_add(&fd, (now_ns() - t0) / UCALLS);
		t0 = now_ns();
		for (i = 0; i < UCALLS; i++) {
			volatile uint64_t gpa = PLAIN_PAGE;

			memcpy(ram + gpa, run->mmio.data, run->mmio.len);
		}
		fig_add(&ff, (now_ns() - t0) / UCALLS);
	}
	printf("\n### (u) user-space cost of one trapped 4-byte store\n\n"
	       "spp_guard_handle_exit() called %u times per trial on a "
	       "fabricated KVM_EXIT_MMIO (no KVM_RUN), against the floor's "
	       "memcpy. Under TCG this code runs emulated too: compare with "
	       "the exit costs of (a).\n",
	       UCALLS);
	table_head("user-space handling");
	row("floor: memcpy into backing memory", &ff, "ns");
	row("spp_guard_handle_exit, allowed", &fa, "ns");
	row("spp_guard_handle_exit, denied", &fd, "ns");
	free(run);
}

/* ---- main ------------------------------------------------------------- */

static void load_guest(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		die(path, errno);
	guest_size = (size_t)st.st_size;
	guest_image = malloc(guest_size);
	if (!guest_image ||
	    read(fd, guest_image, guest_size) != (ssize_t)guest_size)
		die(path, EIO);
	close(fd);
}

int main(int argc, char **argv)
{
	const char *sections = "abcdefghu";
	struct target *raw = NULL, *spp = NULL;
	unsigned int scatter = 20000;
	int fd;

	if (argc < 2) {
		fprintf(stderr,
			"usage: bench_kvm GUEST_ELF [TRIALS [SECTIONS]]\n");
		return 1;
	}
	guest_path = argv[1];
	if (argc > 2)
		trials = (unsigned int)strtoul(argv[2], NULL, 10);
	if (argc > 3)
		sections = argv[3];
	if (getenv("SPP_BENCH_SCATTER"))
		scatter = (unsigned int)strtoul(getenv("SPP_BENCH_SCATTER"),
						NULL, 10);
	if (trials < 1 || trials > MAX_TRIALS)
		trials = 5;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("bench_kvm: no /dev/kvm (%s): run bench/run, which "
		       "uses the KVM test VM\n",
		       strerror(errno));
		return 0;
	}
	close(fd);
	load_guest(guest_path);
	calibrate_tsc();
	print_machine();
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (strpbrk(sections, "abcdehu")) {
		raw = raw_target(MAIN_RAM, PROT_PAGE, 0);
		spp = spp_target(MAIN_RAM, 1);
		must(spp_guard_set_range(spp_vm_guard(spp->vm), PROT_PAGE >> 12,
					 1, PROT_MAP),
		     "protect");
	}
	if (strchr(sections, 'a') || strchr(sections, 'b'))
		section_ab(raw, spp);
	if (strchr(sections, 'c') || strchr(sections, 'd'))
		section_cd(raw, spp, strchr(sections, 'c'),
			   strchr(sections, 'd'));
	if (strchr(sections, 'e'))
		section_e(spp);
	if (strchr(sections, 'h'))
		section_h(raw, spp);
	if (strchr(sections, 'u'))
		section_u(spp);
	if (spp) {
		spp_vm_destroy(spp->vm);
		free(spp);
	}
	if (strchr(sections, 'g'))
		section_g();
	if (strchr(sections, 'f'))
		section_f(scatter);
	printf("\ntargets: %d met, %d not met\n", nmet, nmiss);
	return 0;
}
