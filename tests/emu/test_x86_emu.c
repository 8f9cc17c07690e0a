// SPDX-License-Identifier: MIT
/*
 * test_x86_emu.c - the store emulator (src/kvm/x86_emu.c) against this
 * CPU, no KVM needed.
 *
 * Each store case is an instruction assembled into .rodata (SNIP), copied
 * to an executable page and run natively from a full register state
 * (GPRs, RFLAGS, x87/SSE/AVX through XRSTOR); the emulator gets the same
 * state (as struct kvm_regs/kvm_sregs of a flat 64-bit guest whose linear
 * addresses are this process's) and must compute the same memory bytes,
 * general registers, arithmetic flags and x87 state. Each read-modify-
 * write case runs twice natively, on a stale and on the current memory
 * value: spp_x86_emu_rmw_redo() applied to the first run's outcome must
 * give the second's. What cannot run natively in user mode (SGDT & co.
 * where UMIP faults, 32-bit modes) is checked against the architectural
 * result.
 *
 * A new store instruction: one row in src/kvm/x86_emu.c's table, one
 * SNIP and one row in store_cases[] here.
 */
#include <cpuid.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "kvm/x86_emu.h"

/* ---- running an instruction natively ---------------------------------- */

/* General registers in encoding order (RAX, RCX, RDX, RBX, RSP, ...). */
enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI };

struct cpu {
	uint64_t gpr[16];
	uint64_t rflags;
	uint64_t pad[7];
	uint8_t xs[4096] __attribute__((aligned(64)));
};

_Static_assert(offsetof(struct cpu, rflags) == 128, "harness layout");
_Static_assert(offsetof(struct cpu, xs) == 192, "harness layout");

/* Used by the assembly below; not static so they keep their names. */
void emu_test_native(struct cpu *c);
void emu_test_xsave(uint8_t *xs);
struct cpu *emu_test_ctx;
void *emu_test_code;
uint64_t emu_test_rfbm;
uint8_t emu_test_host_xs[4096] __attribute__((aligned(64)));

/*
 * emu_test_native(c): save the host's x87/SSE/AVX state, load c's
 * (XRSTOR), RFLAGS and every GPR but RSP, call the code page (the
 * instruction, then RET), store them all back into c and restore the
 * host's state.
 */
__asm__(".text\n"
	".type emu_test_native, @function\n"
	"emu_test_native:\n"
	"	push %rbx\n"
	"	push %rbp\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	mov %rdi, emu_test_ctx(%rip)\n"
	"	mov emu_test_rfbm(%rip), %eax\n"
	"	xor %edx, %edx\n"
	"	xsave64 emu_test_host_xs(%rip)\n"
	"	xrstor64 192(%rdi)\n"
	"	pushq 128(%rdi)\n"
	"	popfq\n"
	"	mov 0(%rdi), %rax\n"
	"	mov 8(%rdi), %rcx\n"
	"	mov 16(%rdi), %rdx\n"
	"	mov 24(%rdi), %rbx\n"
	"	mov 40(%rdi), %rbp\n"
	"	mov 48(%rdi), %rsi\n"
	"	mov 64(%rdi), %r8\n"
	"	mov 72(%rdi), %r9\n"
	"	mov 80(%rdi), %r10\n"
	"	mov 88(%rdi), %r11\n"
	"	mov 96(%rdi), %r12\n"
	"	mov 104(%rdi), %r13\n"
	"	mov 112(%rdi), %r14\n"
	"	mov 120(%rdi), %r15\n"
	"	mov 56(%rdi), %rdi\n"
	"	call *emu_test_code(%rip)\n"
	"	push %rdi\n"
	"	mov emu_test_ctx(%rip), %rdi\n"
	"	pushfq\n"
	"	popq 128(%rdi)\n"
	"	cld\n"
	"	popq 56(%rdi)\n"
	"	mov %rax, 0(%rdi)\n"
	"	mov %rcx, 8(%rdi)\n"
	"	mov %rdx, 16(%rdi)\n"
	"	mov %rbx, 24(%rdi)\n"
	"	mov %rbp, 40(%rdi)\n"
	"	mov %rsi, 48(%rdi)\n"
	"	mov %r8, 64(%rdi)\n"
	"	mov %r9, 72(%rdi)\n"
	"	mov %r10, 80(%rdi)\n"
	"	mov %r11, 88(%rdi)\n"
	"	mov %r12, 96(%rdi)\n"
	"	mov %r13, 104(%rdi)\n"
	"	mov %r14, 112(%rdi)\n"
	"	mov %r15, 120(%rdi)\n"
	"	mov emu_test_rfbm(%rip), %eax\n"
	"	xor %edx, %edx\n"
	"	xsave64 192(%rdi)\n"
	"	xrstor64 emu_test_host_xs(%rip)\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbp\n"
	"	pop %rbx\n"
	"	ret\n"
	".size emu_test_native, .-emu_test_native\n"
	"\n"
	".type emu_test_xsave, @function\n"
	"emu_test_xsave:\n"
	"	mov emu_test_rfbm(%rip), %eax\n"
	"	xor %edx, %edx\n"
	"	xsave64 (%rdi)\n"
	"	ret\n"
	".size emu_test_xsave, .-emu_test_xsave\n");

/* An instruction assembled into .rodata: snip_NAME .. snip_NAME_end. */
#define SNIP(name, text)                                         \
	extern const uint8_t snip_##name[], snip_##name##_end[]; \
	__asm__(".pushsection .rodata\n"                         \
		"snip_" #name ":\n\t" text "\n"                  \
		"snip_" #name "_end:\n"                          \
		".popsection\n")

enum {
	F_AVX = 1 << 0,
	F_AVX2 = 1 << 1,
	F_MOVBE = 1 << 2,
	F_XSAVEOPT = 1 << 3,
	F_SSE4A = 1 << 4,
	F_CX16 = 1 << 5,
};

static unsigned int have; /* F_* of this CPU */
static uint64_t xcr0;
static uint8_t *code_page; /* RX: the instruction, then RET */
static uint8_t base_xs[4096] __attribute__((aligned(64)));
static uint8_t mem[4096] __attribute__((aligned(64)));

#define MEM_RBX (mem + 1024)
#define MEM_RDI (mem + 2048)

static void cpu_features(void)
{
	unsigned int a, b, c, d;

	have = 0;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)) ||
	    !(c & (1u << 26)))
		return; /* no XSAVE enabled: nothing runs */
	__asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
	xcr0 = a | ((uint64_t)d << 32);
	if ((c & (1u << 28)) && (xcr0 & 6) == 6)
		have |= F_AVX;
	if (c & (1u << 22))
		have |= F_MOVBE;
	if (c & (1u << 13))
		have |= F_CX16;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 5)) &&
	    (have & F_AVX))
		have |= F_AVX2;
	if (__get_cpuid_count(0xd, 1, &a, &b, &c, &d) && (a & 1))
		have |= F_XSAVEOPT;
	if (__get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 6)))
		have |= F_SSE4A;
}

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void rnd_bytes(uint8_t *p, size_t n)
{
	while (n--)
		*p++ = (uint8_t)rnd();
}

static void put_f80(uint8_t *slot, long double v)
{
	memset(slot, 0, 16);
	memcpy(slot, &v, 10);
}

/* A state to start from: random GPRs and vector registers, rBX and rDI
 * pointing into mem, a full x87 stack with TOP 3 (so MMn != ST(n)). */
static void cpu_init(struct cpu *c, unsigned int round)
{
	static const long double st[8] = {
		1.5L,  -2.25e10L, 3.0e300L, 12345.678L,
		-0.0L, 7.9e-320L, 2.5L,	    -3.5L,
	};
	uint16_t fcw = 0x037f, fsw = 3 << 11;
	uint32_t mxcsr = 0x1f80;
	unsigned int i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < 16; i++)
		c->gpr[i] = rnd();
	c->gpr[RSP] = 0;
	c->gpr[RBX] = (uint64_t)(uintptr_t)MEM_RBX;
	c->gpr[RDI] = (uint64_t)(uintptr_t)MEM_RDI;
	c->rflags = 0x202 | (rnd() & SPP_RFLAGS_ARITH);
	memcpy(c->xs, base_xs, sizeof(c->xs));
	memcpy(c->xs + SPP_XS_FCW, &fcw, 2);
	memcpy(c->xs + SPP_XS_FSW, &fsw, 2);
	c->xs[SPP_XS_FTW] = 0xff;
	memcpy(c->xs + SPP_XS_MXCSR, &mxcsr, 4);
	for (i = 0; i < 8; i++)
		put_f80(c->xs + SPP_XS_ST(i), st[(i + round) & 7]);
	rnd_bytes(c->xs + SPP_XS_XMM(0), 16 * 16);
	if (emu_test_rfbm & 4)
		rnd_bytes(c->xs + SPP_XS_YMMH(0), 16 * 16);
	memcpy(c->xs + SPP_XS_XSTATE_BV, &emu_test_rfbm, 8);
}

static void run_native(struct cpu *c, const uint8_t *code, size_t len)
{
	assert_true(mprotect(code_page, 4096, PROT_READ | PROT_WRITE) == 0);
	memset(code_page, 0xcc, 4096);
	memcpy(code_page, code, len);
	code_page[len] = 0xc3; /* ret */
	assert_true(mprotect(code_page, 4096, PROT_READ | PROT_EXEC) == 0);
	emu_test_code = code_page;
	emu_test_native(c);
}

/* ---- the emulator on the same state ------------------------------------ */

struct fake {
	uint8_t xs[4096];
};

static int fake_read(void *ctx, uint64_t lin, void *buf, uint32_t len)
{
	(void)ctx;
	memcpy(buf, (const void *)(uintptr_t)lin, len);
	return 0;
}

static uint8_t *fake_xsave(void *ctx)
{
	return ((struct fake *)ctx)->xs;
}

static uint64_t fake_xcr0(void *ctx)
{
	(void)ctx;
	return xcr0;
}

static const struct spp_x86_emu_ops fake_ops = {
	.read = fake_read,
	.xsave = fake_xsave,
	.xcr0 = fake_xcr0,
};

static void regs_from(struct kvm_regs *r, const struct cpu *c)
{
	r->rax = c->gpr[0], r->rcx = c->gpr[1], r->rdx = c->gpr[2];
	r->rbx = c->gpr[3], r->rsp = c->gpr[4], r->rbp = c->gpr[5];
	r->rsi = c->gpr[6], r->rdi = c->gpr[7], r->r8 = c->gpr[8];
	r->r9 = c->gpr[9], r->r10 = c->gpr[10], r->r11 = c->gpr[11];
	r->r12 = c->gpr[12], r->r13 = c->gpr[13], r->r14 = c->gpr[14];
	r->r15 = c->gpr[15], r->rflags = c->rflags;
}

static void regs_to(struct cpu *c, const struct kvm_regs *r)
{
	c->gpr[0] = r->rax, c->gpr[1] = r->rcx, c->gpr[2] = r->rdx;
	c->gpr[3] = r->rbx, c->gpr[4] = r->rsp, c->gpr[5] = r->rbp;
	c->gpr[6] = r->rsi, c->gpr[7] = r->rdi, c->gpr[8] = r->r8;
	c->gpr[9] = r->r9, c->gpr[10] = r->r10, c->gpr[11] = r->r11;
	c->gpr[12] = r->r12, c->gpr[13] = r->r13, c->gpr[14] = r->r14;
	c->gpr[15] = r->r15, c->rflags = r->rflags;
}

/* A flat 64-bit guest at CPL 0: linear addresses are this process's. */
static void long_mode(struct kvm_sregs *s)
{
	memset(s, 0, sizeof(*s));
	s->efer = 0x500; /* LME | LMA */
	s->cr0 = 0x80050033;
	s->cr4 = 0x6a0;
	s->cs.l = 1;
	s->cs.selector = 0x8;
}

static struct fake fake;
static struct spp_x86_emu emu;

static void emu_setup(const struct cpu *c)
{
	memset(&emu, 0, sizeof(emu));
	memcpy(fake.xs, c->xs, sizeof(fake.xs));
	emu.ops = &fake_ops;
	emu.ctx = &fake;
	regs_from(&emu.s.regs, c);
	emu.s.regs.rip = (uint64_t)(uintptr_t)code_page;
	long_mode(&emu.s.sregs);
}

/* Decode at RIP, compute the store, apply it to memory; state into @c. */
static int emulate_store(struct cpu *c, struct spp_x86_store *st,
			 const char **why)
{
	uint32_t i;
	int ret;

	emu_setup(c);
	ret = spp_x86_emu_decode(&emu, NULL, 0);
	if (ret)
		return ret;
	memset(st, 0, sizeof(*st));
	ret = spp_x86_emu_store(&emu, st, why);
	if (!ret && st->needs_old) {
		memcpy(st->old, (const void *)(uintptr_t)st->lin, st->len);
		ret = spp_x86_emu_store(&emu, st, why);
	}
	if (ret)
		return ret;
	for (i = 0; i < st->len; i++)
		if (!st->masked || st->mask[i])
			((uint8_t *)(uintptr_t)st->lin)[i] = st->data[i];
	regs_to(c, &emu.s.regs);
	memcpy(c->xs, fake.xs, sizeof(c->xs));
	return 0;
}

/* ---- comparing -------------------------------------------------------- */

enum {
	C_X87 = 1 << 0, /* compare x87 status, tags, stack */
	C_MMX = 1 << 1, /* MMX clobbers x87 tags/TOP natively: skip them */
	/* FXSAVE/XSAVE: FOP/FIP/FDP (bytes 6..23 at rBX) are the host's
	 * last x87 instruction's, and the CPU may write the reserved bytes
	 * 10..15 of each ST slot (spp leaves them) */
	C_FXSAVE = 1 << 2,
};

static void expect_gprs(const struct cpu *want, const struct cpu *got,
			uint64_t fmask, const char *name)
{
	unsigned int i;

	for (i = 0; i < 16; i++) {
		if (i == RSP)
			continue;
		if (want->gpr[i] != got->gpr[i])
			print_error("%s: GPR %u native %#llx emulated %#llx\n",
				    name, i, (unsigned long long)want->gpr[i],
				    (unsigned long long)got->gpr[i]);
		assert_int_equal(want->gpr[i], got->gpr[i]);
	}
	if ((want->rflags ^ got->rflags) & fmask)
		print_error("%s: RFLAGS native %#llx emulated %#llx\n", name,
			    (unsigned long long)want->rflags,
			    (unsigned long long)got->rflags);
	assert_int_equal(want->rflags & fmask, got->rflags & fmask);
}

static void expect_x87(const struct cpu *want, const struct cpu *got,
		       const char *name)
{
	uint16_t a, b;
	unsigned int i;

	memcpy(&a, want->xs + SPP_XS_FSW, 2);
	memcpy(&b, got->xs + SPP_XS_FSW, 2);
	if ((a ^ b) & ~0x4500) /* C0, C2, C3 are undefined after stores */
		print_error("%s: FSW native %#x emulated %#x\n", name, a, b);
	assert_int_equal(a & ~0x4500, b & ~0x4500);
	assert_int_equal(want->xs[SPP_XS_FTW], got->xs[SPP_XS_FTW]);
	for (i = 0; i < 8; i++)
		assert_memory_equal(want->xs + SPP_XS_ST(i),
				    got->xs + SPP_XS_ST(i), 10);
}

static void expect_vectors(const struct cpu *want, const struct cpu *got)
{
	assert_memory_equal(want->xs + SPP_XS_XMM(0), got->xs + SPP_XS_XMM(0),
			    16 * 16);
	if (emu_test_rfbm & 4)
		assert_memory_equal(want->xs + SPP_XS_YMMH(0),
				    got->xs + SPP_XS_YMMH(0), 16 * 16);
}

/* Bytes of an FXSAVE/XSAVE image at rBX left out of the comparison. */
static bool fxsave_dont_care(const uint8_t *p)
{
	ptrdiff_t off = p - MEM_RBX;

	if (off >= 6 && off < 24)
		return true;
	return off >= SPP_XS_ST(0) && off < SPP_XS_ST(8) &&
	       (off - SPP_XS_ST(0)) % 16 >= 10;
}

static void expect_mem(const uint8_t *want, const uint8_t *got, bool fxsave,
		       const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(mem); i++) {
		if (fxsave && fxsave_dont_care(got + i))
			continue;
		if (want[i] != got[i])
			print_error("%s: byte %zd native %#x emulated %#x\n",
				    name, (ptrdiff_t)(got + i - MEM_RBX),
				    want[i], got[i]);
		assert_int_equal(want[i], got[i]);
	}
}

/* ---- store cases ------------------------------------------------------ */

struct store_case {
	const char *name;
	const uint8_t *code, *end;
	unsigned int need; /* F_* */
	unsigned int check; /* C_* */
	void (*setup)(struct cpu *c, unsigned int round);
};

/* general registers */
SNIP(mov8, "mov %cl, 1(%rbx)");
SNIP(mov8h, "mov %ah, 2(%rbx)");
SNIP(mov8rex, "mov %sil, 3(%rbx)");
SNIP(mov16, "mov %dx, 5(%rbx)");
SNIP(mov32, "mov %esi, 7(%rbx)");
SNIP(mov64, "mov %r9, 9(%rbx)");
SNIP(mov32sib, "mov %eax, 8(%rbx,%rcx,4)");
SNIP(movnti, "movnti %r10, 24(%rbx)");
SNIP(movbe16, "movbe %ax, 1(%rbx)");
SNIP(movbe32, "movbe %r11d, 3(%rbx)");
SNIP(movbe64, "movbe %rcx, 5(%rbx)");
/* SSE */
SNIP(movq_x, "movq %xmm3, 3(%rbx)");
SNIP(movd_x, "movd %xmm9, 5(%rbx)");
SNIP(movq_mm, "movq %mm2, 7(%rbx)");
SNIP(movntq, "movntq %mm6, 8(%rbx)");
SNIP(movss, "movss %xmm1, 4(%rbx)");
SNIP(movsd_x, "movsd %xmm2, 9(%rbx)");
SNIP(movlps, "movlps %xmm4, 2(%rbx)");
SNIP(movlpd, "movlpd %xmm12, 2(%rbx)");
SNIP(movhps, "movhps %xmm5, 6(%rbx)");
SNIP(movhpd, "movhpd %xmm13, 6(%rbx)");
SNIP(movdqu, "movdqu %xmm6, 3(%rbx)");
SNIP(movdqa, "movdqa %xmm7, 16(%rbx)");
SNIP(movaps, "movaps %xmm8, 32(%rbx)");
SNIP(movups, "movups %xmm15, 1(%rbx)");
SNIP(movapd, "movapd %xmm0, 48(%rbx)");
SNIP(movupd, "movupd %xmm11, 5(%rbx)");
SNIP(movntdq, "movntdq %xmm10, 64(%rbx)");
SNIP(movntps, "movntps %xmm14, 80(%rbx)");
SNIP(movntpd, "movntpd %xmm3, 96(%rbx)");
SNIP(movntss, "movntss %xmm3, 5(%rbx)");
SNIP(movntsd, "movntsd %xmm4, 9(%rbx)");
SNIP(pextrb, "pextrb $13, %xmm1, 3(%rbx)");
SNIP(pextrw, "pextrw $5, %xmm2, 3(%rbx)");
SNIP(pextrd, "pextrd $2, %xmm3, 3(%rbx)");
SNIP(pextrq, "pextrq $1, %xmm4, 3(%rbx)");
SNIP(extractps, "extractps $3, %xmm5, 3(%rbx)");
SNIP(stmxcsr, "stmxcsr 3(%rbx)");
/* AVX */
SNIP(vmovq, "vmovq %xmm3, 3(%rbx)");
SNIP(vmovd, "vmovd %xmm9, 5(%rbx)");
SNIP(vmovss, "vmovss %xmm1, 4(%rbx)");
SNIP(vmovsd, "vmovsd %xmm2, 9(%rbx)");
SNIP(vmovlps, "vmovlps %xmm4, 2(%rbx)");
SNIP(vmovlpd, "vmovlpd %xmm12, 2(%rbx)");
SNIP(vmovhps, "vmovhps %xmm5, 6(%rbx)");
SNIP(vmovhpd, "vmovhpd %xmm13, 6(%rbx)");
SNIP(vmovdqu_y, "vmovdqu %ymm6, 3(%rbx)");
SNIP(vmovdqu_x, "vmovdqu %xmm6, 3(%rbx)");
SNIP(vmovdqa_y, "vmovdqa %ymm7, 32(%rbx)");
SNIP(vmovaps_y, "vmovaps %ymm8, 64(%rbx)");
SNIP(vmovups_y, "vmovups %ymm15, 1(%rbx)");
SNIP(vmovapd_x, "vmovapd %xmm0, 48(%rbx)");
SNIP(vmovupd_y, "vmovupd %ymm11, 5(%rbx)");
SNIP(vmovntdq_y, "vmovntdq %ymm10, 64(%rbx)");
SNIP(vmovntps_y, "vmovntps %ymm14, 96(%rbx)");
SNIP(vmovntpd_x, "vmovntpd %xmm3, 128(%rbx)");
SNIP(vpextrb, "vpextrb $15, %xmm1, 3(%rbx)");
SNIP(vpextrw, "vpextrw $7, %xmm2, 3(%rbx)");
SNIP(vpextrd, "vpextrd $1, %xmm3, 3(%rbx)");
SNIP(vpextrq, "vpextrq $1, %xmm4, 3(%rbx)");
SNIP(vextractps, "vextractps $2, %xmm5, 3(%rbx)");
SNIP(vextractf128, "vextractf128 $1, %ymm6, 3(%rbx)");
SNIP(vextracti128, "vextracti128 $1, %ymm7, 3(%rbx)");
SNIP(vstmxcsr, "vstmxcsr 3(%rbx)");
/* masked */
SNIP(maskmovdqu, "maskmovdqu %xmm2, %xmm1");
SNIP(vmaskmovdqu, "vmaskmovdqu %xmm2, %xmm1");
SNIP(vmaskmovps_y, "vmaskmovps %ymm2, %ymm1, 3(%rbx)");
SNIP(vmaskmovpd_x, "vmaskmovpd %xmm2, %xmm1, 3(%rbx)");
SNIP(vpmaskmovd_y, "vpmaskmovd %ymm2, %ymm1, 3(%rbx)");
SNIP(vpmaskmovq_x, "vpmaskmovq %xmm2, %xmm1, 3(%rbx)");
/* x87 */
SNIP(fnstcw, "fnstcw 3(%rbx)");
SNIP(fnstsw, "fnstsw 3(%rbx)");
SNIP(fst32, "fsts 3(%rbx)");
SNIP(fst64, "fstl 3(%rbx)");
SNIP(fstp32, "fstps 3(%rbx)");
SNIP(fstp64, "fstpl 3(%rbx)");
SNIP(fstp80, "fstpt 3(%rbx)");
SNIP(fist16, "fists 3(%rbx)");
SNIP(fist32, "fistl 3(%rbx)");
SNIP(fistp16, "fistps 3(%rbx)");
SNIP(fistp32, "fistpl 3(%rbx)");
SNIP(fistp64, "fistpll 3(%rbx)");
SNIP(fisttp16, "fisttps 3(%rbx)");
SNIP(fisttp32, "fisttpl 3(%rbx)");
SNIP(fisttp64, "fisttpll 3(%rbx)");
/* state saves */
SNIP(fxsave, "fxsave (%rbx)");
SNIP(fxsave64, "fxsave64 (%rbx)");
SNIP(xsave, "xsave (%rbx)");
SNIP(xsave64, "xsave64 (%rbx)");
SNIP(xsaveopt, "xsaveopt (%rbx)");
SNIP(xsaveopt64, "xsaveopt64 (%rbx)");
/* compare-exchanges */
SNIP(cmpxchg8b, "cmpxchg8b 8(%rbx)");
SNIP(cmpxchg16b, "cmpxchg16b 16(%rbx)");

/* mov %eax, 8(%rbx,%rcx,4) with a small index */
static void set_index(struct cpu *c, unsigned int round)
{
	c->gpr[RCX] = round * 3;
}

/* for every other round, a mask of ST(0) empty: stack underflow */
static void x87_underflow(struct cpu *c, unsigned int round)
{
	if (round & 1)
		c->xs[SPP_XS_FTW] = (uint8_t) ~(1u << 3);
}

static void xsave_mask(struct cpu *c, unsigned int round)
{
	c->gpr[RAX] = round & 1 ? 3 : 7; /* without AVX on odd rounds */
	c->gpr[RDX] = 0;
}

/* Odd rounds: EDX:EAX equal to memory, the exchange happens. */
static void cmpxchg8b_match(struct cpu *c, unsigned int round)
{
	uint32_t lo, hi;

	if (!(round & 1))
		return;
	memcpy(&lo, MEM_RBX + 8, 4);
	memcpy(&hi, MEM_RBX + 12, 4);
	c->gpr[RAX] = (c->gpr[RAX] & ~0xffffffffULL) | lo;
	c->gpr[RDX] = (c->gpr[RDX] & ~0xffffffffULL) | hi;
}

static void cmpxchg16b_match(struct cpu *c, unsigned int round)
{
	if (!(round & 1))
		return;
	memcpy(&c->gpr[RAX], MEM_RBX + 16, 8);
	memcpy(&c->gpr[RDX], MEM_RBX + 24, 8);
}

#define S(n, need, check, setup)                                 \
	{                                                        \
#n, snip_##n, snip_##n##_end, need, check, setup \
	}

static const struct store_case store_cases[] = {
	S(mov8, 0, 0, NULL),
	S(mov8h, 0, 0, NULL),
	S(mov8rex, 0, 0, NULL),
	S(mov16, 0, 0, NULL),
	S(mov32, 0, 0, NULL),
	S(mov64, 0, 0, NULL),
	S(mov32sib, 0, 0, set_index),
	S(movnti, 0, 0, NULL),
	S(movbe16, F_MOVBE, 0, NULL),
	S(movbe32, F_MOVBE, 0, NULL),
	S(movbe64, F_MOVBE, 0, NULL),
	S(movq_x, 0, 0, NULL),
	S(movd_x, 0, 0, NULL),
	S(movq_mm, 0, C_MMX, NULL),
	S(movntq, 0, C_MMX, NULL),
	S(movss, 0, 0, NULL),
	S(movsd_x, 0, 0, NULL),
	S(movlps, 0, 0, NULL),
	S(movlpd, 0, 0, NULL),
	S(movhps, 0, 0, NULL),
	S(movhpd, 0, 0, NULL),
	S(movdqu, 0, 0, NULL),
	S(movdqa, 0, 0, NULL),
	S(movaps, 0, 0, NULL),
	S(movups, 0, 0, NULL),
	S(movapd, 0, 0, NULL),
	S(movupd, 0, 0, NULL),
	S(movntdq, 0, 0, NULL),
	S(movntps, 0, 0, NULL),
	S(movntpd, 0, 0, NULL),
	S(movntss, F_SSE4A, 0, NULL),
	S(movntsd, F_SSE4A, 0, NULL),
	S(pextrb, 0, 0, NULL),
	S(pextrw, 0, 0, NULL),
	S(pextrd, 0, 0, NULL),
	S(pextrq, 0, 0, NULL),
	S(extractps, 0, 0, NULL),
	S(stmxcsr, 0, 0, NULL),
	S(vmovq, F_AVX, 0, NULL),
	S(vmovd, F_AVX, 0, NULL),
	S(vmovss, F_AVX, 0, NULL),
	S(vmovsd, F_AVX, 0, NULL),
	S(vmovlps, F_AVX, 0, NULL),
	S(vmovlpd, F_AVX, 0, NULL),
	S(vmovhps, F_AVX, 0, NULL),
	S(vmovhpd, F_AVX, 0, NULL),
	S(vmovdqu_y, F_AVX, 0, NULL),
	S(vmovdqu_x, F_AVX, 0, NULL),
	S(vmovdqa_y, F_AVX, 0, NULL),
	S(vmovaps_y, F_AVX, 0, NULL),
	S(vmovups_y, F_AVX, 0, NULL),
	S(vmovapd_x, F_AVX, 0, NULL),
	S(vmovupd_y, F_AVX, 0, NULL),
	S(vmovntdq_y, F_AVX, 0, NULL),
	S(vmovntps_y, F_AVX, 0, NULL),
	S(vmovntpd_x, F_AVX, 0, NULL),
	S(vpextrb, F_AVX, 0, NULL),
	S(vpextrw, F_AVX, 0, NULL),
	S(vpextrd, F_AVX, 0, NULL),
	S(vpextrq, F_AVX, 0, NULL),
	S(vextractps, F_AVX, 0, NULL),
	S(vextractf128, F_AVX, 0, NULL),
	S(vextracti128, F_AVX2, 0, NULL),
	S(vstmxcsr, F_AVX, 0, NULL),
	S(maskmovdqu, 0, 0, NULL),
	S(vmaskmovdqu, F_AVX, 0, NULL),
	S(vmaskmovps_y, F_AVX, 0, NULL),
	S(vmaskmovpd_x, F_AVX, 0, NULL),
	S(vpmaskmovd_y, F_AVX2, 0, NULL),
	S(vpmaskmovq_x, F_AVX2, 0, NULL),
	S(fnstcw, 0, C_X87, NULL),
	S(fnstsw, 0, C_X87, NULL),
	S(fst32, 0, C_X87, x87_underflow),
	S(fst64, 0, C_X87, x87_underflow),
	S(fstp32, 0, C_X87, x87_underflow),
	S(fstp64, 0, C_X87, x87_underflow),
	S(fstp80, 0, C_X87, x87_underflow),
	S(fist16, 0, C_X87, x87_underflow),
	S(fist32, 0, C_X87, x87_underflow),
	S(fistp16, 0, C_X87, x87_underflow),
	S(fistp32, 0, C_X87, x87_underflow),
	S(fistp64, 0, C_X87, x87_underflow),
	S(fisttp16, 0, C_X87, x87_underflow),
	S(fisttp32, 0, C_X87, x87_underflow),
	S(fisttp64, 0, C_X87, x87_underflow),
	S(fxsave, 0, C_X87 | C_FXSAVE, NULL),
	S(fxsave64, 0, C_X87 | C_FXSAVE, NULL),
	S(xsave, 0, C_X87 | C_FXSAVE, xsave_mask),
	S(xsave64, 0, C_X87 | C_FXSAVE, xsave_mask),
	S(xsaveopt, F_XSAVEOPT, C_X87 | C_FXSAVE, xsave_mask),
	S(xsaveopt64, F_XSAVEOPT, C_X87 | C_FXSAVE, xsave_mask),
	S(cmpxchg8b, 0, 0, cmpxchg8b_match),
	S(cmpxchg16b, F_CX16, 0, cmpxchg16b_match),
};

#define ROUNDS 6

static void test_store(void **state)
{
	const struct store_case *t = *state;
	static struct cpu c0, native, emulated;
	static uint8_t mem0[sizeof(mem)], mem_native[sizeof(mem)];
	struct spp_x86_store *st = calloc(1, sizeof(*st));
	unsigned int round;

	assert_non_null(st);
	if ((t->need & have) != t->need) {
		free(st);
		skip();
	}
	for (round = 0; round < ROUNDS; round++) {
		const char *why = NULL;
		int ret;

		rng = 0x9e3779b97f4a7c15ULL * (round + 1) + t->code[0];
		rnd_bytes(mem, sizeof(mem));
		cpu_init(&c0, round);
		if (t->setup)
			t->setup(&c0, round);
		memcpy(mem0, mem, sizeof(mem));

		native = c0;
		run_native(&native, t->code, (size_t)(t->end - t->code));
		memcpy(mem_native, mem, sizeof(mem));

		memcpy(mem, mem0, sizeof(mem));
		emulated = c0;
		ret = emulate_store(&emulated, st, &why);
		if (ret)
			print_error("%s: emulator says %d (%s)\n", t->name, ret,
				    why ? why : "");
		assert_int_equal(ret, 0);
		assert_true(emu.flags & SPP_X86_EMU_STORE);
		expect_mem(mem_native, mem, t->check & C_FXSAVE, t->name);
		expect_gprs(&native, &emulated,
			    SPP_RFLAGS_ARITH | SPP_RFLAGS_DF, t->name);
		if ((t->check & C_X87) && !(t->check & C_MMX))
			expect_x87(&native, &emulated, t->name);
		expect_vectors(&native, &emulated);
	}
	free(st);
}

/* ---- read-modify-writes ----------------------------------------------- */

struct rmw_case {
	const char *name;
	const uint8_t *code, *end;
	unsigned int size;
	uint64_t fmask; /* flags the instruction defines */
	void (*setup)(struct cpu *c, uint64_t stale, unsigned int round);
	int expect; /* RMW_NATIVE, RMW_STANDS or -EAGAIN */
};

enum {
	RMW_NATIVE = 0, /* redone: as the CPU on the current value */
	RMW_STANDS = 1, /* KVM's compare failed: memory keeps its value */
};

SNIP(add8i, "lock addb $0x5a, (%rbx)");
SNIP(add16r, "lock add %cx, (%rbx)");
SNIP(add32r, "lock add %ecx, (%rbx)");
SNIP(add64i, "lock addq $-7, (%rbx)");
SNIP(sub32r, "lock sub %esi, (%rbx)");
SNIP(sub8i, "lock subb $3, (%rbx)");
SNIP(and64r, "lock and %r9, (%rbx)");
SNIP(or16i, "lock orw $0x1234, (%rbx)");
SNIP(xor8r, "lock xor %dl, (%rbx)");
SNIP(inc32, "lock incl (%rbx)");
SNIP(dec64, "lock decq (%rbx)");
SNIP(neg16, "lock negw (%rbx)");
SNIP(not32, "lock notl (%rbx)");
SNIP(bts32i, "lock btsl $5, (%rbx)");
SNIP(btr64r, "lock btr %rcx, (%rbx)");
SNIP(btc16i, "lock btcw $9, (%rbx)");
SNIP(xadd32, "lock xadd %ecx, (%rbx)");
SNIP(xadd8, "lock xadd %dl, (%rbx)");
SNIP(xadd64, "lock xadd %r10, (%rbx)");
SNIP(xchg64, "xchg %rcx, (%rbx)");
SNIP(xchg16, "xchg %si, (%rbx)");
SNIP(cmpxchg32, "lock cmpxchg %ecx, (%rbx)");
SNIP(cmpxchg8, "lock cmpxchg %dl, (%rbx)");
SNIP(cmpxchg64, "lock cmpxchg %r11, (%rbx)");
SNIP(cmpxchg8b_rmw, "lock cmpxchg8b (%rbx)");
SNIP(adc32, "lock adc %ecx, (%rbx)");
SNIP(sbb16, "lock sbb %cx, (%rbx)");

/* rCX a bit offset inside the operand */
static void small_bit(struct cpu *c, uint64_t stale, unsigned int round)
{
	(void)stale;
	c->gpr[RCX] = (round * 13) & 63;
}

/* the accumulator equals the stale value: KVM's compare succeeded */
static void acc_stale(struct cpu *c, uint64_t stale, unsigned int round)
{
	(void)round;
	c->gpr[RAX] = stale;
}

/* ...and differs from it: KVM's compare failed */
static void acc_other(struct cpu *c, uint64_t stale, unsigned int round)
{
	(void)round;
	c->gpr[RAX] = ~stale;
}

static void edx_eax_stale(struct cpu *c, uint64_t stale, unsigned int round)
{
	(void)round;
	c->gpr[RAX] = (c->gpr[RAX] & ~0xffffffffULL) | (uint32_t)stale;
	c->gpr[RDX] = (c->gpr[RDX] & ~0xffffffffULL) | (stale >> 32);
}

static void edx_eax_other(struct cpu *c, uint64_t stale, unsigned int round)
{
	edx_eax_stale(c, ~stale, round);
}

#define AR SPP_RFLAGS_ARITH
#define R(n, size, fmask, setup, expect)                                 \
	{                                                                \
#n, snip_##n, snip_##n##_end, size, fmask, setup, expect \
	}
#define Rx(n, code, size, fmask, setup, expect)                               \
	{                                                                     \
		n, snip_##code, snip_##code##_end, size, fmask, setup, expect \
	}

static const struct rmw_case rmw_cases[] = {
	R(add8i, 1, AR, NULL, RMW_NATIVE),
	R(add16r, 2, AR, NULL, RMW_NATIVE),
	R(add32r, 4, AR, NULL, RMW_NATIVE),
	R(add64i, 8, AR, NULL, RMW_NATIVE),
	R(sub32r, 4, AR, NULL, RMW_NATIVE),
	R(sub8i, 1, AR, NULL, RMW_NATIVE),
	R(and64r, 8, AR, NULL, RMW_NATIVE),
	R(or16i, 2, AR, NULL, RMW_NATIVE),
	R(xor8r, 1, AR, NULL, RMW_NATIVE),
	R(inc32, 4, AR, NULL, RMW_NATIVE),
	R(dec64, 8, AR, NULL, RMW_NATIVE),
	R(neg16, 2, AR, NULL, RMW_NATIVE),
	R(not32, 4, AR, NULL, RMW_NATIVE),
	R(bts32i, 4, SPP_RFLAGS_CF, NULL, RMW_NATIVE),
	R(btr64r, 8, SPP_RFLAGS_CF, small_bit, RMW_NATIVE),
	R(btc16i, 2, SPP_RFLAGS_CF, NULL, RMW_NATIVE),
	R(xadd32, 4, AR, NULL, RMW_NATIVE),
	R(xadd8, 1, AR, NULL, RMW_NATIVE),
	R(xadd64, 8, AR, NULL, RMW_NATIVE),
	R(xchg64, 8, AR, NULL, RMW_NATIVE),
	R(xchg16, 2, AR, NULL, RMW_NATIVE),
	Rx("cmpxchg32 (KVM: equal)", cmpxchg32, 4, AR, acc_stale, RMW_NATIVE),
	Rx("cmpxchg8 (KVM: equal)", cmpxchg8, 1, AR, acc_stale, RMW_NATIVE),
	Rx("cmpxchg64 (KVM: equal)", cmpxchg64, 8, AR, acc_stale, RMW_NATIVE),
	Rx("cmpxchg32 (KVM: differ)", cmpxchg32, 4, AR, acc_other, RMW_STANDS),
	Rx("cmpxchg8b (KVM: equal)", cmpxchg8b_rmw, 8, SPP_RFLAGS_ZF,
	   edx_eax_stale, RMW_NATIVE),
	Rx("cmpxchg8b (KVM: differ)", cmpxchg8b_rmw, 8, SPP_RFLAGS_ZF,
	   edx_eax_other, RMW_STANDS),
	R(adc32, 4, AR, NULL, -EAGAIN),
	R(sbb16, 2, AR, NULL, -EAGAIN),
};

static void test_rmw(void **state)
{
	const struct rmw_case *t = *state;
	static struct cpu c0, kvm, want;
	size_t len = (size_t)(t->end - t->code);
	uint64_t mask = t->size == 8 ? ~0ULL : (1ULL << (t->size * 8)) - 1;
	unsigned int round;

	for (round = 0; round < ROUNDS; round++) {
		uint64_t stale, cur, kvm_new = 0, want_new = 0, newv = 0;
		struct cpu got;
		int ret;

		rng = 0x2545f4914f6cdd1dULL * (round + 1) + t->code[1];
		rnd_bytes(mem, sizeof(mem));
		stale = rnd() & mask;
		do
			cur = rnd() & mask;
		while (cur == stale);
		cpu_init(&c0, round);
		if (t->setup)
			t->setup(&c0, stale, round);

		/* KVM's run, on the value it read */
		kvm = c0;
		memcpy(MEM_RBX, &stale, t->size);
		run_native(&kvm, t->code, len);
		memcpy(&kvm_new, MEM_RBX, t->size);
		/* the CPU's, on the value memory holds now */
		want = c0;
		memcpy(MEM_RBX, &cur, t->size);
		run_native(&want, t->code, len);
		memcpy(&want_new, MEM_RBX, t->size);

		emu_setup(&kvm);
		assert_int_equal(spp_x86_emu_decode64(&emu, t->code,
						      (uint32_t)len,
						      emu.s.regs.rip),
				 0);
		assert_true(emu.flags & SPP_X86_EMU_RMW);
		ret = spp_x86_emu_rmw_redo(&emu, t->size, cur, kvm_new, &newv);
		if (t->expect < 0) {
			assert_int_equal(ret, t->expect);
			continue;
		}
		if (ret == 1) {
			/* KVM's result stands: only when it is the CPU's */
			assert_int_equal(kvm_new, want_new);
			continue;
		}
		assert_int_equal(ret, 0);
		regs_to(&got, &emu.s.regs);
		if (t->expect == RMW_STANDS) {
			/* no store of its own: what is there stays */
			assert_int_equal(newv, cur);
			expect_gprs(&kvm, &got, t->fmask, t->name);
			continue;
		}
		if (newv != want_new)
			print_error("%s: native %#llx emulated %#llx\n",
				    t->name, (unsigned long long)want_new,
				    (unsigned long long)newv);
		assert_int_equal(newv, want_new);
		expect_gprs(&want, &got, t->fmask, t->name);
		assert_true(emu.s.regs_dirty);
	}
}

/* ---- what cannot run natively ----------------------------------------- */

/* Decode @bytes (in the mode of emu.s) and compute their store. */
static int store_of(const uint8_t *bytes, size_t n, struct spp_x86_store *st,
		    const char **why)
{
	uint8_t given[32] = { 0 };
	int ret;

	memcpy(given, bytes, n);
	ret = spp_x86_emu_decode(&emu, given, sizeof(given));
	if (ret)
		return ret;
	memset(st, 0, sizeof(*st));
	return spp_x86_emu_store(&emu, st, why);
}

static void test_descriptor_tables(void **state)
{
	static const uint8_t sgdt[] = { 0x0f, 0x01, 0x03 }; /* sgdt [rbx] */
	static const uint8_t sidt[] = { 0x0f, 0x01, 0x0b }; /* sidt [rbx] */
	static const uint8_t sldt[] = { 0x0f, 0x00, 0x03 }; /* sldt [rbx] */
	static const uint8_t str[] = { 0x0f, 0x00, 0x0b }; /* str [rbx] */
	static const uint8_t smsw[] = { 0x0f, 0x01, 0x23 }; /* smsw [rbx] */
	struct spp_x86_store *st = calloc(1, sizeof(*st));
	const char *why;
	struct cpu c;

	(void)state;
	assert_non_null(st);
	cpu_init(&c, 0);
	emu_setup(&c);
	emu.s.sregs.gdt.base = 0xfffffe0000001000ULL;
	emu.s.sregs.gdt.limit = 0x7f;
	emu.s.sregs.idt.base = 0xfffffe0000002000ULL;
	emu.s.sregs.idt.limit = 0xfff;
	emu.s.sregs.ldt.selector = 0x28;
	emu.s.sregs.tr.selector = 0x40;
	emu.s.sregs.cr0 = 0x80050033;

	assert_int_equal(store_of(sgdt, sizeof(sgdt), st, &why), 0);
	assert_true(emu.flags & SPP_X86_EMU_HANGS);
	assert_int_equal(st->lin, c.gpr[RBX]);
	assert_int_equal(st->len, 10);
	assert_memory_equal(st->data,
			    "\x7f\x00\x00\x10\x00\x00\x00\xfe\xff\xff", 10);
	assert_int_equal(store_of(sidt, sizeof(sidt), st, &why), 0);
	assert_memory_equal(st->data,
			    "\xff\x0f\x00\x20\x00\x00\x00\xfe\xff\xff", 10);
	assert_int_equal(store_of(sldt, sizeof(sldt), st, &why), 0);
	assert_int_equal(st->len, 2);
	assert_memory_equal(st->data, "\x28\x00", 2);
	assert_int_equal(store_of(str, sizeof(str), st, &why), 0);
	assert_memory_equal(st->data, "\x40\x00", 2);
	assert_int_equal(store_of(smsw, sizeof(smsw), st, &why), 0);
	assert_memory_equal(st->data, "\x33\x00", 2);

	/* UMIP at CPL 3: #GP on the CPU, so no store */
	emu.s.sregs.cr4 |= 1ULL << 11;
	emu.s.sregs.cs.selector = 0x33;
	assert_int_equal(store_of(sgdt, sizeof(sgdt), st, &why), -ENOENT);
	assert_int_equal(store_of(smsw, sizeof(smsw), st, &why), -ENOENT);
	/* UMIP at CPL 0: allowed */
	emu.s.sregs.cs.selector = 0x8;
	assert_int_equal(store_of(sidt, sizeof(sidt), st, &why), 0);

	/* 32-bit protected mode: 6 bytes, segment base added */
	emu.s.sregs.efer = 0;
	emu.s.sregs.cs.l = 0;
	emu.s.sregs.cs.db = 1;
	emu.s.sregs.ds.base = 0x10000;
	emu.s.regs.rbx = 0x40;
	assert_int_equal(store_of(sgdt, sizeof(sgdt), st, &why), 0);
	assert_int_equal(st->lin, 0x10040);
	assert_int_equal(st->len, 6);
	assert_memory_equal(st->data, "\x7f\x00\x00\x10\x00\x00", 6);
	free(st);
}

static void test_legacy_modes(void **state)
{
	/* mov [ebx+4], eax; 16-bit: mov [bx+si+2], ax */
	static const uint8_t mov32[] = { 0x89, 0x43, 0x04 };
	static const uint8_t mov16[] = { 0x89, 0x40, 0x02 };
	static const uint8_t es_stos[] = { 0x26, 0x89,
					   0x07 }; /* mov es:[edi],eax */
	struct spp_x86_store *st = calloc(1, sizeof(*st));
	const char *why;
	struct cpu c;

	(void)state;
	assert_non_null(st);
	cpu_init(&c, 0);
	emu_setup(&c);
	emu.s.sregs.efer = 0;
	emu.s.sregs.cs.l = 0;
	emu.s.sregs.cs.db = 1;
	emu.s.sregs.cs.base = 0;
	emu.s.sregs.ds.base = 0x1000;
	emu.s.sregs.es.base = 0x200000;
	emu.s.regs.rbx = 0xfffff000; /* wraps at 4 GiB */
	emu.s.regs.rdi = 0x10;
	emu.s.regs.rax = 0x1122334455667788ULL;
	assert_int_equal(store_of(mov32, sizeof(mov32), st, &why), 0);
	assert_int_equal(st->lin, 0x4);
	assert_int_equal(st->len, 4);
	assert_memory_equal(st->data, "\x88\x77\x66\x55", 4);
	assert_int_equal(store_of(es_stos, sizeof(es_stos), st, &why), 0);
	assert_int_equal(st->lin, 0x200010);

	/* 16-bit: the offset wraps at 64 KiB */
	emu.s.sregs.cs.db = 0;
	emu.s.regs.rbx = 0xfff0;
	emu.s.regs.rsi = 0x20;
	assert_int_equal(store_of(mov16, sizeof(mov16), st, &why), 0);
	assert_int_equal(st->lin, 0x1000 + 0x12);
	assert_int_equal(st->len, 2);
	assert_memory_equal(st->data, "\x88\x77", 2);
	free(st);
}

SNIP(scatter, "vpscatterdd %xmm2, 8(%rax,%xmm1,4){%k1}");

static void test_addressing(void **state)
{
	static const uint8_t rip_rel[] = { 0x89, 0x05, 0x10, 0, 0, 0 };
	static const uint8_t fs_mov[] = { 0x64, 0x89, 0x03 }; /* fs:[rbx] */
	static const uint8_t add[] = { 0x01, 0x03 }; /* add [rbx], eax */
	static const uint8_t nop[] = { 0x90 };
	struct spp_x86_store *st = calloc(1, sizeof(*st));
	const char *why;
	uint64_t lin;
	uint32_t len;
	struct cpu c;

	(void)state;
	assert_non_null(st);
	cpu_init(&c, 0);
	emu_setup(&c);
	emu.s.regs.rip = 0x401000;
	assert_int_equal(store_of(rip_rel, sizeof(rip_rel), st, &why), 0);
	assert_int_equal(st->lin, 0x401000 + 6 + 0x10);
	emu.s.sregs.fs.base = 0x7f0000000000ULL;
	emu.s.sregs.ds.base = 0x1234; /* ignored in 64-bit mode */
	assert_int_equal(store_of(fs_mov, sizeof(fs_mov), st, &why), 0);
	assert_int_equal(st->lin, 0x7f0000000000ULL + c.gpr[RBX]);
	/* a read-modify-write is KVM's to do: no user-space store */
	assert_int_equal(store_of(add, sizeof(add), st, &why), -EOPNOTSUPP);
	assert_true(emu.flags & SPP_X86_EMU_RMW);
	assert_false(emu.flags & SPP_X86_EMU_STORE);
	assert_int_equal(spp_x86_emu_dest(&emu, &lin, &len), 0);
	assert_int_equal(lin, c.gpr[RBX]);
	assert_int_equal(len, 4);
	/* no memory written */
	assert_int_equal(store_of(nop, sizeof(nop), st, &why), -ENOENT);
	assert_int_equal(spp_x86_emu_dest(&emu, NULL, NULL), -ENOENT);
	/* a scatter has no one address */
	assert_int_equal(store_of(snip_scatter,
				  (size_t)(snip_scatter_end - snip_scatter), st,
				  &why),
			 -EOPNOTSUPP);
	/* backward decoding: only an instruction of exactly that length */
	assert_int_equal(spp_x86_emu_decode64(&emu, rip_rel, 6, 0x1000), 0);
	assert_int_equal(emu.s.regs.rip, 0x1000);
	assert_int_equal(spp_x86_emu_decode64(&emu, rip_rel, 5, 0x1000),
			 -ENOEXEC);
	assert_int_equal(spp_x86_emu_decode64(&emu, fs_mov, 2, 0x1000),
			 -ENOEXEC);
	free(st);
}

static void test_strings(void **state)
{
	static const uint8_t rep_stosq[] = { 0xf3, 0x48, 0xab };
	static const uint8_t rep_movsb_fs[] = { 0x64, 0xf3, 0xa4 };
	static const uint8_t rep_movsd_a32[] = { 0x67, 0xf3, 0xa5 };
	static const uint8_t stosb[] = { 0xaa };
	static const uint8_t sse_movsd[] = { 0xf2, 0x0f, 0x11, 0x03 };
	uint8_t given[32];
	struct spp_x86_string s;
	struct cpu c;

	(void)state;
	cpu_init(&c, 0);
	emu_setup(&c);
#define DECODE(b)                                                         \
	do {                                                              \
		memset(given, 0, sizeof(given));                          \
		memcpy(given, b, sizeof(b));                              \
		assert_int_equal(spp_x86_emu_decode(&emu, given, 32), 0); \
	} while (0)
	DECODE(rep_stosq);
	assert_int_equal(spp_x86_emu_string(&emu, 8, &s), 0);
	assert_int_equal(s.size, 8);
	assert_false(s.movs);
	assert_int_equal(s.amask, ~0ULL);
	assert_int_equal(spp_x86_emu_string(&emu, 4, &s), -ENOENT);
	DECODE(rep_movsb_fs);
	assert_int_equal(spp_x86_emu_string(&emu, 1, &s), 0);
	assert_true(s.movs);
	assert_int_equal(s.src_seg, SPP_X86_FS);
	DECODE(rep_movsd_a32);
	assert_int_equal(spp_x86_emu_string(&emu, 4, &s), 0);
	assert_int_equal(s.amask, 0xffffffffULL);
	assert_int_equal(s.src_seg, SPP_X86_DS);
	DECODE(stosb); /* no REP: KVM does it */
	assert_true(emu.flags & SPP_X86_EMU_STRING);
	assert_int_equal(spp_x86_emu_string(&emu, 1, &s), -ENOENT);
	DECODE(sse_movsd); /* SSE's MOVSD is a plain store */
	assert_true(emu.flags & SPP_X86_EMU_STORE);
#undef DECODE
}

static void test_refused(void **state)
{
	static const uint8_t fxsave_odd[] = { 0x0f, 0xae, 0x43, 0x08 };
	static const uint8_t xsave[] = { 0x0f, 0xae, 0x23 };
	static const uint8_t fstp[] = { 0xd9, 0x1b }; /* fstp dword [rbx] */
	struct spp_x86_store *st = calloc(1, sizeof(*st));
	const char *why = NULL;
	struct cpu c;

	(void)state;
	assert_non_null(st);
	cpu_init(&c, 0);
	emu_setup(&c);
	/* misaligned FXSAVE: #GP on the CPU */
	assert_int_equal(store_of(fxsave_odd, sizeof(fxsave_odd), st, &why),
			 -EOPNOTSUPP);
	assert_non_null(why);
	/* XSAVE of components beyond AVX */
	emu.s.regs.rax = 0xff;
	emu.s.regs.rdx = 0;
	xcr0 |= 0xe0;
	assert_int_equal(store_of(xsave, sizeof(xsave), st, &why), 0);
	assert_true(st->needs_old);
	assert_int_equal(spp_x86_emu_store(&emu, st, &why), -EOPNOTSUPP);
	xcr0 &= ~0xe0ULL;
	/* x87 stack underflow with the invalid operation unmasked */
	fake.xs[SPP_XS_FTW] = 0;
	fake.xs[SPP_XS_FCW] &= (uint8_t)~1;
	why = NULL;
	assert_int_equal(store_of(fstp, sizeof(fstp), st, &why), -EOPNOTSUPP);
	assert_non_null(why);
	assert_false(emu.s.xs_dirty);
	/* no XSAVE image to be had */
	emu.ops = NULL;
	assert_int_equal(store_of(fstp, sizeof(fstp), st, &why), -EIO);
	free(st);
}

int main(void)
{
	struct CMUnitTest tests[sizeof(store_cases) / sizeof(store_cases[0]) +
				sizeof(rmw_cases) / sizeof(rmw_cases[0]) + 5];
	size_t i, n = 0;

	cpu_features();
	if (!xcr0) {
		printf("1..0 # SKIP no XSAVE on this CPU\n");
		return 0;
	}
	emu_test_rfbm = xcr0 & ((have & F_AVX) ? 7 : 3);
	code_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code_page == MAP_FAILED)
		return 1;
	emu_test_xsave(base_xs);
	memset(base_xs + 512, 0, 64); /* the header: standard format */

	for (i = 0; i < sizeof(store_cases) / sizeof(store_cases[0]); i++) {
		tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate(
			test_store, (void *)&store_cases[i]);
		tests[n++].name = store_cases[i].name;
	}
	for (i = 0; i < sizeof(rmw_cases) / sizeof(rmw_cases[0]); i++) {
		tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate(
			test_rmw, (void *)&rmw_cases[i]);
		tests[n++].name = rmw_cases[i].name;
	}
	tests[n++] =
		(struct CMUnitTest)cmocka_unit_test(test_descriptor_tables);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_legacy_modes);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_addressing);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_strings);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_refused);
	return _cmocka_run_group_tests("x86_emu", tests, n, NULL, NULL);
}
