// SPDX-License-Identifier: MIT
/*
 * insn.c - runs the store instructions of insn.h at CPL3 on unprotected
 * and protected memory and compares the outcomes (see insn.h).
 */
#include <spp_guest.h>

#include "insn.h"

void insn_run(const struct insn_state *in, struct insn_state *out,
	      void (*fn)(void), void *target, int xsave);

#define INSN_DECL(name, ...) void snip_##name(void);
INSN_CASES(INSN_DECL)
#undef INSN_DECL

static const struct {
	void (*fn)(void);
	uint32_t len, a_off, d_off, features, setup;
	uint64_t rcx;
} cases[] = {
#define INSN_ROW(name, len, a, d, f, s, rcx, ...) \
	{ snip_##name, len, a, d, f, s, rcx },
	INSN_CASES(INSN_ROW)
#undef INSN_ROW
};

static struct insn_state base, in, ref_a, got_a, ref_d, got_d;
static uint8_t region_after_pa[INSN_REGION], expect_pd[INSN_REGION];

/* Is byte @off of the protected region in a writable sub-page? */
static int allowed(uint32_t off)
{
	uint32_t map = off < 0x1000 ? INSN_MAP0 :
		       off < 0x2000 ? INSN_MAP1 :
				      0xffffffffu;

	return (map >> ((off >> 7) & 31)) & 1;
}
static int use_xsave;

static const double x87_values[3] = { 3141592.6535897932, -2.5, 1e300 };

/* Bytes 0..15 of xmm i / ymm-high i in the base state: distinct patterns. */
static void base_vectors(void)
{
	uint8_t *xa = base.xarea;
	unsigned int i, b;

	for (i = 0; i < 16; i++)
		for (b = 0; b < 16; b++)
			xa[160 + 16 * i + b] = (uint8_t)(0x11 * i + 7 * b + 3);
	/* ymm8's sign bits are vmaskmovps's mask: elements 1, 2, 4, 7 */
	for (i = 0; i < 8; i++) {
		uint8_t *e = i < 4 ? &xa[160 + 16 * 8 + 4 * i] :
				     &xa[576 + 16 * 8 + 4 * (i - 4)];
		uint8_t on = i == 1 || i == 2 || i == 4 || i == 7;

		e[3] = on ? 0x80 : 0x00;
	}
	if (use_xsave) {
		for (i = 0; i < 16; i++)
			if (i != 8)
				for (b = 0; b < 16; b++)
					xa[576 + 16 * i + b] =
						(uint8_t)(0xa5 ^ (13 * i + b));
		/* header: XSTATE_BV = x87 | SSE | AVX */
		xa[512] = 7;
	}
	/* MXCSR with a flag set, to be visible in stmxcsr */
	xa[24] = 0xa1;
	xa[25] = 0x1f;
}

/* The state every run starts from: GPR patterns, x87 stack of three. */
static void make_base(void)
{
	unsigned int i;

	memset(&base, 0, sizeof(base));
	__asm__ volatile("fninit\n\t"
			 "fldl %0\n\t"
			 "fldl %1\n\t"
			 "fldl %2"
			 :
			 : "m"(x87_values[2]), "m"(x87_values[1]),
			   "m"(x87_values[0]));
	if (use_xsave)
		__asm__ volatile("xsave %0"
				 : "=m"(base.xarea)
				 : "a"(-1), "d"(-1));
	else
		__asm__ volatile("fxsave %0" : "=m"(base.xarea));
	__asm__ volatile("fninit");
	base_vectors();
	for (i = 0; i < 16; i++)
		base.gpr[i] = 0x0101010101010101ULL * (i + 1) ^
			      0x8040201008040201ULL;
	__asm__ volatile("pushfq\n\tpopq %0" : "=r"(base.rflags));
	base.rflags |= 0x8c5; /* CF PF ZF SF OF set: must come back as set */
	base.rflags &= ~0x400ULL;
}

static void fill(uint8_t *p, uint64_t len)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + (i >> 8) + 0x5a);
}

/* Is state byte @i compared? Skip what the architecture leaves open or
 * what differs by address: x87 FOP/FIP/FDP, ST padding, reserved and
 * software bytes, the header past XSTATE_BV. */
static int state_byte_compared(unsigned int i)
{
	if (i >= 6 && i < 24)
		return 0;
	if (i >= 32 && i < 160 && (i - 32) % 16 >= 10)
		return 0;
	if (i >= 416 && i < 512)
		return 0;
	if (i >= 520 && i < 576)
		return 0;
	return i < (use_xsave ? 832u : 416u);
}

/* Compare two runs' states; pointers into the regions count relative to
 * their region. Returns 0 or fills @r. */
static int compare_state(const struct insn_state *want, uint64_t want_base,
			 const struct insn_state *got, uint64_t got_base,
			 struct insn_result *r, uint32_t status)
{
	unsigned int i;

	for (i = 0; i < 16; i++) {
		uint64_t w = want->gpr[i], g = got->gpr[i];

		if (w - want_base < INSN_REGION + 0x100)
			w -= want_base;
		if (g - got_base < INSN_REGION + 0x100)
			g -= got_base;
		if (w != g) {
			r->status = status;
			r->detail = i;
			r->want = w;
			r->got = g;
			return -1;
		}
	}
	if ((want->rflags ^ got->rflags) & 0xcd5) {
		r->status = status;
		r->detail = 16;
		r->want = want->rflags;
		r->got = got->rflags;
		return -1;
	}
	for (i = 0; i < sizeof(want->xarea); i++) {
		if (!state_byte_compared(i) || want->xarea[i] == got->xarea[i])
			continue;
		r->status = status;
		r->detail = 0x1000 + i;
		r->want = want->xarea[i];
		r->got = got->xarea[i];
		return -1;
	}
	return 0;
}

static int compare_mem(const uint8_t *want, const uint8_t *got,
		       struct insn_result *r, uint32_t status, uint32_t skip)
{
	uint64_t i;

	for (i = 0; i < INSN_REGION; i++)
		if (want[i] != got[i] && (i < skip + 6 || i >= skip + 24)) {
			r->status = status;
			r->detail = (uint32_t)i;
			r->want = want[i];
			r->got = got[i];
			return -1;
		}
	return 0;
}

static void prepare(unsigned int k, uint64_t region, uint32_t off)
{
	const uint8_t *t = (const uint8_t *)(region + off);

	in = base;
	if (cases[k].setup & INSN_SET_RDXRAX) {
		memcpy(&in.gpr[0], t, 8);
		memcpy(&in.gpr[2], t + 8, 8);
	}
	if (cases[k].setup & INSN_SET_EDXEAX) {
		uint32_t lo, hi;

		memcpy(&lo, t, 4);
		memcpy(&hi, t + 4, 4);
		in.gpr[0] = lo;
		in.gpr[2] = hi;
	}
	if (cases[k].setup & INSN_SET_DF)
		in.rflags |= 0x400;
	if (cases[k].rcx)
		in.gpr[1] = cases[k].rcx;
	in.gpr[6] = INSN_SRC + 0x800; /* rsi: the string source */
}

static void run(unsigned int k, uint64_t region, uint32_t off,
		struct insn_state *out)
{
	prepare(k, region, off);
	insn_run(&in, out, cases[k].fn, (void *)(region + off), use_xsave);
}

static void run_case(struct insn_box *box, unsigned int k)
{
	struct insn_result *r = &box->res[k];
	uint8_t *u = (uint8_t *)INSN_U, *p = (uint8_t *)INSN_P;
	uint32_t a = cases[k].a_off, d = cases[k].d_off, n;

	memset(r, 0, sizeof(*r));
	/* P holds the pattern (the host restored it); so does U. */
	fill(u, INSN_REGION);
	run(k, INSN_U, a, &ref_a);
	run(k, INSN_P, a, &got_a);
	spp_guest_sync(INSN_SYNC_ALLOWED(k));
	if (!compare_mem(u, p, r, INSN_BAD_MEM_ALLOWED,
			 cases[k].setup & INSN_CMP_NO_FPTRS ? a : INSN_REGION))
		compare_state(&ref_a, INSN_U, &got_a, INSN_P, r,
			      INSN_BAD_REG_ALLOWED);

	memcpy(region_after_pa, p, INSN_REGION);
	fill(u, INSN_REGION);
	run(k, INSN_U, d, &ref_d);
	/* What P must hold after P@d: nothing of a single store that
	 * touches a denied sub-page; of a string store, the elements in
	 * writable sub-pages (each element is a store of its own). */
	fill(expect_pd, INSN_REGION);
	for (n = 0; n < INSN_REGION; n++)
		expect_pd[n] = u[n] != expect_pd[n] && cases[k].rcx &&
					       allowed(n) ?
				       u[n] :
				       region_after_pa[n];
	n = cases[k].len;
	memcpy(r->ref, u + d, n < 64 ? n : 64);
	run(k, INSN_P, d, &got_d);
	if (r->status == INSN_OK &&
	    !compare_mem(expect_pd, p, r, INSN_BAD_MEM_DENIED, INSN_REGION))
		compare_state(&ref_d, INSN_U, &got_d, INSN_P, r,
			      INSN_BAD_REG_DENIED);
	spp_guest_sync(INSN_SYNC_DENIED(k));
}

static void user_main(void *arg)
{
	struct insn_box *box = arg;

	make_base();
	for (;;) {
		uint32_t k = box->next;

		if (k >= INSN_NCASES)
			spp_guest_exit(0);
		run_case(box, k);
	}
}

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}

int main(int vcpu, int nvcpus)
{
	struct insn_box *box = (struct insn_box *)INSN_BOX;
	uint32_t r[4], f = 0;
	uint64_t cr4;

	(void)nvcpus;
	if (vcpu)
		for (;;)
			__asm__ volatile("hlt");
	cpuid(1, 0, r);
	if (r[2] & (1u << 0))
		f |= INSN_F_SSE3;
	if (r[2] & (1u << 13))
		f |= INSN_F_CX16;
	if (r[2] & (1u << 19))
		f |= INSN_F_SSE41;
	if (r[2] & (1u << 22))
		f |= INSN_F_MOVBE;
	__asm__ volatile("movq %%cr4, %0" : "=r"(cr4));
	if (cr4 & (1u << 18)) {
		uint32_t lo, hi;

		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		box->xcr0 = lo | (uint64_t)hi << 32;
		f |= INSN_F_XSAVE;
		use_xsave = 1;
		if ((box->xcr0 & 6) == 6 && (r[2] & (1u << 28))) {
			f |= INSN_F_AVX;
			cpuid(7, 0, r);
			if (r[1] & (1u << 5))
				f |= INSN_F_AVX2;
		}
	}
	box->features = f;
	spp_guest_sync(INSN_SYNC_READY);
	spp_guest_enter_user(user_main, box);
}
