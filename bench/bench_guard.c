// SPDX-License-Identifier: MIT
/*
 * bench_guard.c - (u) natively: the guard's own cost per trapped store,
 * without KVM.
 *
 * Usage: bench_guard [TRIALS]   (default 7; bench/run runs it on the host)
 *
 * spp_guard_handle_exit() is called on fabricated KVM_EXIT_MMIO exits of a
 * 4-byte store into an allowed and into a denied sub-page of a protected
 * page, and beside a pointer protected by byte in a denied sub-page
 * (spp_guard_protect_bytes(): allowed, judged per byte), against the raw VMM's whole handling of such an exit (a memcpy
 * into the backing memory). The guard runs on the fake VM of
 * tests/kvm/fake_vm.h: its ioctl(), which the statically linked libspp
 * calls, answers the guard's few VM ioctls itself (capabilities as a 6.12
 * host has them, memslot changes accepted); every other ioctl goes to the
 * kernel. The stores are 4 bytes inside one page, so the guard never
 * re-enters KVM_RUN for them. The event callback counts, as a VMM's would.
 *
 * Output: a Markdown section in bench_kvm's format, on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <spp/event_json.h>
#include <spp/guard.h>
#include <spp/guest_mem.h>
#include <spp/ksym.h>
#include <spp/x86.h>

#include "bench_fig.h"
#include "fake_vm.h"

#define MAX_TRIALS BENCH_MAX_TRIALS
#define CALLS 200000
#define RAM_SIZE (64ULL << 20)
#define PROT_PAGE 0x100000ULL
#define DENIED_SUBPAGE 5
#define ALLOWED_ADDR (PROT_PAGE + 1 * 128)
#define DENIED_ADDR (PROT_PAGE + DENIED_SUBPAGE * 128)
#define PLAIN_ADDR 0x200000ULL
/* finer than the hardware: an 8-byte pointer protected by byte in
 * sub-page 5 of its page, a store beside it in the same sub-page */
#define FINE_PAGE 0x180000ULL
#define FINE_PTR (FINE_PAGE + DENIED_SUBPAGE * 128 + 48)
#define FINE_ADDR (FINE_PAGE + DENIED_SUBPAGE * 128)
#define CODE_ADDR 0x400000ULL

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_guard: %s: %s\n", what,
		strerror(err < 0 ? -err : err));
	exit(1);
}

static unsigned long events;
static struct spp_event last_event; /* of a denied store, for the JSON rows */

static void on_event(void *ctx, const struct spp_event *ev)
{
	(void)ctx;
	if (ev->verdict != SPP_VERDICT_ALLOWED)
		last_event = *ev;
	events++;
}

/*
 * A symbol table of 6.12's size (162 756 symbols, docs/introspection.md),
 * 64 bytes apart from 0xffffffff81000000, for the insn_sym row; the
 * event's insn_rip is moved into its middle.
 */
#define KSYMS 162756
#define KSYM_BASE 0xffffffff81000000ULL

static struct spp_ksym_table *fake_ksyms(void)
{
	struct spp_ksym_table *t = NULL;
	size_t size = (size_t)KSYMS * 40, n = 0;
	char *buf = malloc(size);
	int i;

	if (!buf)
		die("symbols", ENOMEM);
	for (i = 0; i < KSYMS; i++)
		n += (size_t)snprintf(buf + n, size - n,
				      "%016llx T bench_fn_%06d\n",
				      KSYM_BASE + 64ULL * i, i);
	if (spp_ksym_parse(buf, n, &t, NULL))
		die("spp_ksym_parse", EINVAL);
	free(buf);
	return t;
}

/* Total ns of @calls spp_event_json_ksym() of @ev (@syms NULL: no
 * table). */
static double json_ns(const struct spp_event *ev,
		      const struct spp_ksym_table *syms, int calls)
{
	char buf[1024];
	double t0 = now_ns();
	int i;

	for (i = 0; i < calls; i++)
		if (spp_event_json_ksym(ev, (uint64_t)i, 1.5, syms, buf,
					sizeof(buf)) >= (int)sizeof(buf))
			die("spp_event_json_ksym", ENOSPC);
	return now_ns() - t0;
}

/* Total ns of @calls calls of spp_guard_handle_exit() on a store to @gpa. */
static double handle_n(struct spp_guard *g, struct kvm_run *run, uint64_t gpa,
		       int calls)
{
	struct spp_event ev;
	double t0;
	int i;

	run->mmio.phys_addr = gpa;
	run->s.regs.regs.rdi = gpa; /* identity mapped: mov [rdi], eax */
	t0 = now_ns();
	for (i = 0; i < calls; i++)
		if (spp_guard_handle_exit(g, -1, run, 0, &ev) !=
		    SPP_EXIT_HANDLED)
			die("spp_guard_handle_exit", EINVAL);
	return now_ns() - t0;
}

/* Mean ns per call of spp_guard_handle_exit() on a store to @gpa. */
static double handle(struct spp_guard *g, struct kvm_run *run, uint64_t gpa)
{
	return handle_n(g, run, gpa, CALLS) / CALLS;
}

/*
 * Mean ns per call on a store to @gpa in @g (*@a) and in @h (*@b), in
 * alternating chunks of CALLS / CHUNKS calls, so that both see the same
 * load: their difference is what the two guards' handling differs by.
 */
#define CHUNKS 50

static void handle_pair(struct spp_guard *g, struct spp_guard *h,
			struct kvm_run *run, uint64_t gpa, double *a, double *b)
{
	int k;

	*a = *b = 0;
	for (k = 0; k < CHUNKS; k++) {
		*a += handle_n(g, run, gpa, CALLS / CHUNKS);
		*b += handle_n(h, run, gpa, CALLS / CHUNKS);
	}
	*a /= CALLS;
	*b /= CALLS;
}

/* A guard on the fake VM over @ram with PROT_PAGE protected. */
static int guard_on(struct spp_guard **g, const struct spp_guard_ops *ops,
		    uint8_t *ram)
{
	int ret = spp_guard_create(g, spp_fake_vm_fd, ops, NULL);

	if (!ret)
		ret = spp_guard_add_memory(*g, 0, 0, RAM_SIZE, ram);
	if (!ret)
		ret = spp_guard_set_range(*g, PROT_PAGE >> 12, 1,
					  ~(1u << DENIED_SUBPAGE));
	return ret;
}

int main(int argc, char **argv)
{
	const struct spp_guard_ops ops = { .event = on_event };
	const struct spp_guard_ops quiet = { 0 }; /* nobody takes events */
	struct fig fa = { 0 }, fd = { 0 }, ff = { 0 }, fb = { 0 }, fr = { 0 };
	struct fig fn = { 0 }, fe = { 0 }, fj = { 0 }, fk = { 0 }, fs = { 0 };
	struct spp_ksym_table *syms;
	struct spp_event jev;
	struct spp_guard *gq;
	unsigned int trials = 7, k;
	struct spp_guard *g;
	struct kvm_run *run;
	struct utsname u;
	uint8_t *ram;
	char model[160];
	int ret, i;

	if (argc > 1)
		trials = (unsigned int)strtoul(argv[1], NULL, 10);
	if (trials < 1 || trials > MAX_TRIALS)
		trials = 7;
	spp_fake_vm_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	run = calloc(1, sizeof(*run));
	if (spp_fake_vm_fd < 0 || ram == MAP_FAILED || !run)
		die("setup", errno);
	memset(ram, 0, RAM_SIZE);
	ret = guard_on(&g, &ops, ram);
	if (!ret)
		ret = spp_guard_protect_bytes(g, FINE_PTR, 8);
	/* the same page in a guard without an event consumer: a denied
	 * store there reads none of the fields an event carries */
	if (!ret)
		ret = guard_on(&gq, &quiet, ram);
	if (ret < 0)
		die("guard", ret);
	/*
	 * The vCPU as KVM hands it over with the exit (sync regs): 64-bit
	 * mode on the VMM's identity tables, RIP just past a `mov [rdi],
	 * eax` (89 07) at CODE_ADDR, so the guard finds the store's
	 * instruction and walks its address as on a real exit.
	 */
	{
		struct spp_guest_mem mem;
		uint64_t cr3;

		spp_guest_mem_init(&mem);
		ret = spp_guest_mem_add(&mem, 0, RAM_SIZE, ram);
		if (!ret)
			ret = spp_x86_pt_build(&mem, RAM_SIZE, &cr3);
		if (ret)
			die("page tables", ret);
		memcpy(ram + CODE_ADDR, "\x89\x07", 2);
		run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
		run->s.regs.regs.rip = CODE_ADDR + 2;
		run->s.regs.regs.rflags = 2;
		run->s.regs.sregs.cr0 = 0x80000011; /* PG, ET, PE */
		run->s.regs.sregs.cr3 = cr3;
		run->s.regs.sregs.cr4 = 0x20; /* PAE */
		run->s.regs.sregs.efer = 0x500; /* LMA, LME */
		run->s.regs.sregs.cs.l = 1;
	}
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.is_write = 1;
	run->mmio.len = 4;
	memcpy(run->mmio.data, "\x11\x22\x33\x44", 4);

	handle(g, run, ALLOWED_ADDR); /* warm */
	for (k = 0; k < trials; k++) {
		double t0;

		double a = handle(g, run, ALLOWED_ADDR);
		double b = handle(g, run, FINE_ADDR);

		fig_add(&fa, a);
		fig_add(&fb, b);
		fig_add(&fr, b / a);
		double d, q;

		handle_pair(g, gq, run, DENIED_ADDR, &d, &q);

		fig_add(&fd, d);
		fig_add(&fn, q);
		fig_add(&fe, d - q);
		t0 = now_ns();
		for (i = 0; i < CALLS; i++) {
			volatile uint64_t gpa = PLAIN_ADDR;

			memcpy(ram + gpa, run->mmio.data, run->mmio.len);
		}
		fig_add(&ff, (now_ns() - t0) / CALLS);
	}
	if (memcmp(ram + ALLOWED_ADDR, "\x11\x22\x33\x44", 4) ||
	    memcmp(ram + FINE_ADDR, "\x11\x22\x33\x44", 4) ||
	    ram[DENIED_ADDR] || events != (unsigned long)trials * CALLS)
		die("wrong bytes or events", EIO);
	spp_guard_destroy(g);
	spp_guard_destroy(gq);

	/* the JSON object of that denied store's event (what the control
	 * socket sends), without and with a kernel symbol table for
	 * insn_sym; insn_rip moved into the table's middle */
	syms = fake_ksyms();
	jev = last_event;
	if (!jev.insn_rip || !(jev.known & SPP_EVENT_CPU) ||
	    !(jev.known & SPP_EVENT_OLD))
		die("the denied store's event lacks its fields", EIO);
	jev.insn_rip = KSYM_BASE + 64ULL * (KSYMS / 2) + 0x11;
	json_ns(&jev, syms, CALLS / CHUNKS); /* warm */
	for (k = 0; k < trials; k++) {
		double j = 0, s = 0;

		for (i = 0; i < CHUNKS / 5; i++) { /* JSON is 10x slower */
			j += json_ns(&jev, NULL, CALLS / CHUNKS);
			s += json_ns(&jev, syms, CALLS / CHUNKS);
		}
		j /= CALLS / 5;
		s /= CALLS / 5;

		fig_add(&fj, j);
		fig_add(&fk, s);
		fig_add(&fs, s - j);
	}
	spp_ksym_destroy(syms);

	cpu_model(model, sizeof(model));
	uname(&u);
	printf("\n### (u) native: the guard's own cost per trapped 4-byte "
	       "store\n\nspp_guard_handle_exit() called %d times per trial "
	       "on a fabricated KVM_EXIT_MMIO, on this host (%s, kernel %s; "
	       "no KVM: bench/bench_guard.c answers the guard's VM ioctls), "
	       "against the raw VMM's memcpy; %u trials.\n",
	       CALLS, model, u.release, trials);
	table_head("user-space handling, native");
	row("floor: memcpy into backing memory", &ff, "ns");
	row("spp_guard_handle_exit, allowed", &fa, "ns");
	row("spp_guard_handle_exit, denied (event to the VMM)", &fd, "ns");
	row("spp_guard_handle_exit, beside a byte-protected pointer "
	    "(allowed, --protect-bytes)",
	    &fb, "ns");
	row("  ratio to allowed in a writable sub-page", &fr, "x");
	printf("\n### (u) native: what a reported store's event costs\n\n"
	       "The fields an engine acts on (old, cpl, cr3, insn_rip; "
	       "docs/events.md) are read for reported stores only: a denied "
	       "store with an event consumer against the same store in a "
	       "guard without one (difference per trial: reading the fields "
	       "and the callback). Then the event's JSON object as the "
	       "control socket writes it, without and with a kernel symbol "
	       "table of %d symbols for insn_sym.\n",
	       KSYMS);
	table_head("per reported store, native");
	row("denied, no event consumer (no fields read)", &fn, "ns");
	row("denied, event with its fields", &fd, "ns");
	row("  the fields and the callback (difference)", &fe, "ns");
	row("spp_event_json, no symbol table", &fj, "ns");
	row("spp_event_json_ksym, insn_sym resolved", &fk, "ns");
	row("  insn_sym (difference)", &fs, "ns");
	return 0;
}
