// SPDX-License-Identifier: MIT
/*
 * emulate.c - stores spp finishes in user space (see spp/guard.h):
 *
 *  - instructions KVM's emulator cannot complete on a trapped page (SSE
 *    partial stores, AVX, x87, FXSAVE/XSAVE, CMPXCHG16B, MOVBE, SGDT...):
 *    spp_guard_emulate();
 *  - the rest of a rep STOS/MOVS after KVM did one element:
 *    guard_rep_continue();
 *  - locked read-modify-writes redone against current memory when another
 *    vCPU's store came between KVM's read and its write: guard_rmw_redo().
 *
 * Zydis decodes; the vCPU's registers come from KVM_GET_REGS/SREGS/XSAVE
 * and linear addresses become guest-physical through KVM_TRANSLATE, then
 * host pointers through the guard's one checked translation.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include <Zydis/Zydis.h>

#include "guard_priv.h"

#define EFER_LMA (1ULL << 10)
#define RFLAGS_CF (1ULL << 0)
#define RFLAGS_ZF (1ULL << 6)
#define RFLAGS_DF (1ULL << 10)
#define RFLAGS_RF (1ULL << 16)

/* Legacy-region offsets of the XSAVE image (the FXSAVE layout). */
#define XS_FCW 0
#define XS_FSW 2
#define XS_FTW 4
#define XS_FOP 6
#define XS_FIP 8
#define XS_FDP 16
#define XS_MXCSR 24
#define XS_ST(i) (32 + 16 * (i))
#define XS_XMM(i) (160 + 16 * (i))
#define XS_XSTATE_BV 512
#define XS_YMMH(i) (576 + 16 * (i))

#define EMU_MAX 1024 /* most bytes one emulated store writes (XSAVE) */

/* ---- the vCPU's state, fetched on demand --------------------------- */

struct vstate {
	int fd;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xs;
	uint64_t xcr0;
	bool have_regs, have_sregs, have_xs, have_xcr0;
	bool regs_dirty, xs_dirty;
};

static int vs_regs(struct vstate *s)
{
	if (!s->have_regs && ioctl(s->fd, KVM_GET_REGS, &s->regs) < 0)
		return -errno;
	s->have_regs = true;
	return 0;
}

static int vs_sregs(struct vstate *s)
{
	if (!s->have_sregs && ioctl(s->fd, KVM_GET_SREGS, &s->sregs) < 0)
		return -errno;
	s->have_sregs = true;
	return 0;
}

static uint8_t *vs_xs(struct vstate *s)
{
	if (!s->have_xs) {
		if (ioctl(s->fd, KVM_GET_XSAVE, &s->xs) < 0)
			return NULL;
		s->have_xs = true;
	}
	return (uint8_t *)s->xs.region;
}

static int vs_xcr0(struct vstate *s, uint64_t *xcr0)
{
	struct kvm_xcrs x;
	uint32_t i;

	if (!s->have_xcr0) {
		memset(&x, 0, sizeof(x));
		s->xcr0 = 3; /* x87 | SSE: what FXSAVE covers */
		if (ioctl(s->fd, KVM_GET_XCRS, &x) == 0)
			for (i = 0; i < x.nr_xcrs && i < KVM_MAX_XCRS; i++)
				if (x.xcrs[i].xcr == 0)
					s->xcr0 = x.xcrs[i].value;
		s->have_xcr0 = true;
	}
	*xcr0 = s->xcr0;
	return 0;
}

static int vs_flush(struct vstate *s)
{
	if (s->xs_dirty && ioctl(s->fd, KVM_SET_XSAVE, &s->xs) < 0)
		return -errno;
	if (s->regs_dirty && ioctl(s->fd, KVM_SET_REGS, &s->regs) < 0)
		return -errno;
	s->xs_dirty = s->regs_dirty = false;
	return 0;
}

static uint64_t *gpr_slot(struct kvm_regs *r, unsigned int id)
{
	uint64_t *const slot[16] = {
		(uint64_t *)&r->rax, (uint64_t *)&r->rcx, (uint64_t *)&r->rdx,
		(uint64_t *)&r->rbx, (uint64_t *)&r->rsp, (uint64_t *)&r->rbp,
		(uint64_t *)&r->rsi, (uint64_t *)&r->rdi, (uint64_t *)&r->r8,
		(uint64_t *)&r->r9,  (uint64_t *)&r->r10, (uint64_t *)&r->r11,
		(uint64_t *)&r->r12, (uint64_t *)&r->r13, (uint64_t *)&r->r14,
		(uint64_t *)&r->r15,
	};

	return slot[id & 15];
}

static bool long_mode(const struct vstate *s)
{
	return (s->sregs.efer & EFER_LMA) && s->sregs.cs.l;
}

/* Linear -> guest-physical for one page, through the guest's tables. */
static int vs_translate(struct vstate *s, uint64_t lin, uint64_t *gpa)
{
	struct kvm_translation t;

	*gpa = 0; /* -O3 cannot see that -errno is never 0 */
	memset(&t, 0, sizeof(t));
	t.linear_address = lin;
	if (ioctl(s->fd, KVM_TRANSLATE, &t) < 0)
		return -errno;
	if (!t.valid)
		return -EFAULT;
	*gpa = t.physical_address;
	return 0;
}

/* Read @len bytes of guest RAM at linear @lin. */
static int vs_read(struct spp_guard *g, struct vstate *s, uint64_t lin,
		   void *buf, uint32_t len)
{
	uint8_t *out = buf;

	while (len) {
		uint32_t n = PAGE_SIZE - (uint32_t)(lin & (PAGE_SIZE - 1));
		const uint8_t *p;
		uint64_t gpa;
		int ret;

		if (n > len)
			n = len;
		ret = vs_translate(s, lin, &gpa);
		if (ret)
			return ret;
		p = spp_guest_mem_ptr(&g->mem, gpa, n);
		if (!p)
			return -EFAULT;
		memcpy(out, p, n);
		out += n;
		lin += n;
		len -= n;
	}
	return 0;
}

/* ---- decoding ------------------------------------------------------- */

struct emu {
	struct spp_guard *g;
	struct vstate s;
	uint64_t rip_lin;
	uint8_t bytes[ZYDIS_MAX_INSTRUCTION_LENGTH];
	uint32_t nbytes;
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
};

static uint64_t seg_base(struct emu *e, ZydisRegister seg)
{
	const struct kvm_sregs *sr = &e->s.sregs;

	if (long_mode(&e->s)) {
		if (seg == ZYDIS_REGISTER_FS)
			return sr->fs.base;
		if (seg == ZYDIS_REGISTER_GS)
			return sr->gs.base;
		return 0;
	}
	switch (seg) {
	case ZYDIS_REGISTER_ES:
		return sr->es.base;
	case ZYDIS_REGISTER_CS:
		return sr->cs.base;
	case ZYDIS_REGISTER_SS:
		return sr->ss.base;
	case ZYDIS_REGISTER_FS:
		return sr->fs.base;
	case ZYDIS_REGISTER_GS:
		return sr->gs.base;
	default:
		return sr->ds.base;
	}
}

/* Linear address of @off in segment @seg (32 bits outside long mode). */
static uint64_t seg_linear(struct emu *e, ZydisRegister seg, uint64_t off)
{
	uint64_t a = seg_base(e, seg) + off;

	return long_mode(&e->s) ? a : a & 0xffffffff;
}

/* Fetch and decode the instruction at RIP (bytes from KVM if given). */
static int decode_at_rip(struct emu *e, const uint8_t *given, uint32_t ngiven)
{
	ZydisDecoder dec;
	ZydisMachineMode mode;
	ZydisStackWidth width;
	uint32_t n = sizeof(e->bytes);
	int ret;

	ret = vs_regs(&e->s);
	if (!ret)
		ret = vs_sregs(&e->s);
	if (ret)
		return ret;
	if (long_mode(&e->s)) {
		mode = ZYDIS_MACHINE_MODE_LONG_64;
		width = ZYDIS_STACK_WIDTH_64;
		e->rip_lin = e->s.regs.rip;
	} else {
		bool lma = e->s.sregs.efer & EFER_LMA;

		if (e->s.sregs.cs.db) {
			mode = lma ? ZYDIS_MACHINE_MODE_LONG_COMPAT_32 :
				     ZYDIS_MACHINE_MODE_LEGACY_32;
			width = ZYDIS_STACK_WIDTH_32;
		} else {
			mode = lma ? ZYDIS_MACHINE_MODE_LONG_COMPAT_16 :
				     ZYDIS_MACHINE_MODE_LEGACY_16;
			width = ZYDIS_STACK_WIDTH_16;
		}
		e->rip_lin = (e->s.sregs.cs.base + e->s.regs.rip) & 0xffffffff;
	}
	if (given && ngiven >= sizeof(e->bytes)) {
		memcpy(e->bytes, given, sizeof(e->bytes));
	} else {
		/* Up to the end of the next page at most: stop early where
		 * the page after RIP's is not RAM. */
		uint32_t first =
			PAGE_SIZE - (uint32_t)(e->rip_lin & (PAGE_SIZE - 1));

		if (vs_read(e->g, &e->s, e->rip_lin, e->bytes, n)) {
			n = first < n ? first : n;
			ret = vs_read(e->g, &e->s, e->rip_lin, e->bytes, n);
			if (ret)
				return ret;
		}
	}
	e->nbytes = n;
	if (ZYAN_FAILED(ZydisDecoderInit(&dec, mode, width)) ||
	    ZYAN_FAILED(ZydisDecoderDecodeFull(&dec, e->bytes, e->nbytes,
					       &e->insn, e->ops)))
		return -ENOEXEC;
	return 0;
}

static void describe(struct emu *e, struct spp_insn_report *rep,
		     const char *why)
{
	ZydisFormatter f;

	if (!rep)
		return;
	memset(rep, 0, sizeof(*rep));
	rep->rip = e->s.regs.rip;
	rep->len = e->insn.length ? e->insn.length : (uint8_t)e->nbytes;
	if (rep->len > sizeof(rep->bytes))
		rep->len = sizeof(rep->bytes);
	memcpy(rep->bytes, e->bytes, rep->len);
	rep->why = why;
	if (e->insn.length &&
	    ZYAN_SUCCESS(ZydisFormatterInit(&f, ZYDIS_FORMATTER_STYLE_INTEL)))
		ZydisFormatterFormatInstruction(&f, &e->insn, e->ops,
						e->insn.operand_count_visible,
						rep->text, sizeof(rep->text),
						e->s.regs.rip, NULL);
}

/*
 * The kvm_regs slot of general register @r (any width) and, in *@shift,
 * where its bits start there (8 for AH..BH, else 0); NULL for a register
 * that is not a general one.
 */
static uint64_t *gpr_of(struct kvm_regs *regs, ZydisRegister r,
			unsigned int *shift)
{
	ZydisRegisterClass c = ZydisRegisterGetClass(r);
	int id = ZydisRegisterGetId(r);

	*shift = 0;
	if (c == ZYDIS_REGCLASS_GPR8) {
		if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH) {
			*shift = 8;
			return gpr_slot(regs, r - ZYDIS_REGISTER_AH);
		}
		if (r >= ZYDIS_REGISTER_SPL && r <= ZYDIS_REGISTER_DIL)
			return gpr_slot(regs, 4 + r - ZYDIS_REGISTER_SPL);
		if (r >= ZYDIS_REGISTER_R8B && r <= ZYDIS_REGISTER_R15B)
			return gpr_slot(regs, 8 + r - ZYDIS_REGISTER_R8B);
	} else if (c < ZYDIS_REGCLASS_GPR16 || c > ZYDIS_REGCLASS_GPR64) {
		return NULL;
	}
	return id >= 0 && id <= 15 ? gpr_slot(regs, (unsigned int)id) : NULL;
}

/* The bytes of register @r (little endian, as the CPU holds them). */
static int reg_bytes(struct emu *e, ZydisRegister r, uint8_t *out)
{
	ZydisRegisterClass c = ZydisRegisterGetClass(r);
	int id = ZydisRegisterGetId(r);
	uint8_t *xs;
	uint64_t v;

	switch (c) {
	case ZYDIS_REGCLASS_GPR8:
	case ZYDIS_REGCLASS_GPR16:
	case ZYDIS_REGCLASS_GPR32:
	case ZYDIS_REGCLASS_GPR64: {
		unsigned int shift;
		const uint64_t *slot = gpr_of(&e->s.regs, r, &shift);

		if (!slot)
			return -EOPNOTSUPP;
		v = *slot >> shift;
		memcpy(out, &v, 8);
		return c == ZYDIS_REGCLASS_GPR8	 ? 1 :
		       c == ZYDIS_REGCLASS_GPR16 ? 2 :
		       c == ZYDIS_REGCLASS_GPR32 ? 4 :
						   8;
	}
	case ZYDIS_REGCLASS_MMX:
		xs = vs_xs(&e->s);
		if (!xs || id < 0 || id > 7)
			return -EIO;
		/* MMn is physical x87 register n; the image is in ST order. */
		memcpy(out, xs + XS_ST((id - ((xs[XS_FSW + 1] >> 3) & 7)) & 7),
		       8);
		return 8;
	case ZYDIS_REGCLASS_XMM:
	case ZYDIS_REGCLASS_YMM:
		xs = vs_xs(&e->s);
		if (!xs || id < 0 || id > 15)
			return -EIO;
		memcpy(out, xs + XS_XMM(id), 16);
		if (c == ZYDIS_REGCLASS_XMM)
			return 16;
		memcpy(out + 16, xs + XS_YMMH(id), 16);
		return 32;
	default:
		return -EOPNOTSUPP;
	}
}

static uint64_t gpr_value(struct emu *e, ZydisRegister r)
{
	uint8_t b[32] = { 0 };
	uint64_t v = 0;
	int n = reg_bytes(e, r, b);

	if (n > 0 && n <= 8)
		memcpy(&v, b, (size_t)n);
	return v;
}

/* Linear address of memory operand @op. */
static int mem_address(struct emu *e, const ZydisDecodedOperand *op,
		       uint64_t *lin)
{
	uint64_t a = 0;

	if (op->mem.type != ZYDIS_MEMOP_TYPE_MEM)
		return -EOPNOTSUPP; /* VSIB scatter, MIB, AGEN */
	if (op->mem.base == ZYDIS_REGISTER_RIP ||
	    op->mem.base == ZYDIS_REGISTER_EIP)
		a = e->s.regs.rip + e->insn.length;
	else if (op->mem.base != ZYDIS_REGISTER_NONE)
		a = gpr_value(e, op->mem.base);
	if (op->mem.index != ZYDIS_REGISTER_NONE)
		a += gpr_value(e, op->mem.index) * op->mem.scale;
	a += (uint64_t)op->mem.disp.value;
	if (e->insn.address_width == 32)
		a &= 0xffffffff;
	else if (e->insn.address_width == 16)
		a &= 0xffff;
	*lin = seg_linear(e, op->mem.segment, a);
	return 0;
}

/* ---- building the store --------------------------------------------- */

struct emu_store {
	uint64_t lin;
	uint32_t len;
	uint8_t data[EMU_MAX];
	uint8_t mask[EMU_MAX];
	bool masked;
	/* Read under the commit lock before data can be computed. */
	bool needs_old;
	uint8_t old[EMU_MAX];
};

static void mark(struct emu_store *st, uint32_t off, uint32_t n)
{
	memset(st->mask + off, 1, n);
}

static const ZydisDecodedOperand *find_op(struct emu *e, bool mem, bool write)
{
	unsigned int i;

	for (i = 0; i < e->insn.operand_count; i++) {
		const ZydisDecodedOperand *op = &e->ops[i];

		if (mem != (op->type == ZYDIS_OPERAND_TYPE_MEMORY))
			continue;
		if (op->visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN && !mem)
			continue;
		if (write && !(op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
			continue;
		if (!write && !mem && op->type != ZYDIS_OPERAND_TYPE_REGISTER)
			continue;
		return op;
	}
	return NULL;
}

static int imm_value(struct emu *e, uint64_t *v)
{
	unsigned int i;

	for (i = 0; i < e->insn.operand_count; i++)
		if (e->ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
			*v = e->ops[i].imm.value.u;
			return 0;
		}
	return -EOPNOTSUPP;
}

/* The explicit register source operands, in order. */
static unsigned int reg_sources(struct emu *e, ZydisRegister *r,
				unsigned int max)
{
	unsigned int i, n = 0;

	for (i = 0; i < e->insn.operand_count_visible && n < max; i++)
		if (e->ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    (e->ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_READ))
			r[n++] = e->ops[i].reg.value;
	return n;
}

enum x87_kind { X87_FLOAT, X87_INT, X87_TRUNC };

/*
 * Convert the 80-bit @st to @bytes of @kind with the host's FPU under the
 * guest's rounding control; returns the host status word (exception
 * flags, C1). Exceptions are masked on the host.
 */
static uint16_t x87_convert(const uint8_t *st, enum x87_kind kind,
			    unsigned int bytes, uint16_t fcw, uint8_t *out)
{
	long double v = 0;
	uint16_t cw = fcw | 0x3f, saved, sw;
	uint64_t tmp = 0; /* the store's destination: 2, 4 or 8 bytes */

	memcpy(&v, st, 10);
	__asm__ volatile("fnstcw %0" : "=m"(saved));
	__asm__ volatile("fnclex\n\tfldcw %0" : : "m"(cw));
#define X87_STORE(insn) \
	__asm__ volatile("fldt %1\n\t" insn " %0" : "=m"(tmp) : "m"(v))
	switch (kind * 16 + bytes) {
	case X87_FLOAT * 16 + 4:
		X87_STORE("fstps");
		break;
	case X87_FLOAT * 16 + 8:
		X87_STORE("fstpl");
		break;
	case X87_INT * 16 + 2:
		X87_STORE("fistps");
		break;
	case X87_INT * 16 + 4:
		X87_STORE("fistpl");
		break;
	case X87_INT * 16 + 8:
		X87_STORE("fistpll");
		break;
	case X87_TRUNC * 16 + 2:
		X87_STORE("fisttps");
		break;
	case X87_TRUNC * 16 + 4:
		X87_STORE("fisttpl");
		break;
	case X87_TRUNC * 16 + 8:
		X87_STORE("fisttpll");
		break;
	}
#undef X87_STORE
	if (kind == X87_FLOAT && bytes == 10)
		memcpy(out, st, 10); /* fstp m80: the register as it is */
	else
		memcpy(out, &tmp, bytes);
	__asm__ volatile("fnstsw %0" : "=m"(sw));
	__asm__ volatile("fnclex\n\tfldcw %0" : : "m"(saved));
	return sw;
}

/* The x87 indefinite of a masked invalid operation. */
static void x87_indefinite(enum x87_kind kind, unsigned int bytes, uint8_t *out)
{
	memset(out, 0, bytes);
	if (kind != X87_FLOAT) {
		out[bytes - 1] = 0x80;
	} else if (bytes == 4) {
		out[2] = 0xc0, out[3] = 0xff;
	} else if (bytes == 8) {
		out[6] = 0xf8, out[7] = 0xff;
	} else {
		out[7] = 0xc0, out[8] = 0xff, out[9] = 0xff;
	}
}

/* FST/FSTP/FIST/FISTP/FISTTP to memory: data, status, pop. */
static int build_x87(struct emu *e, struct emu_store *st, enum x87_kind kind,
		     bool pop, const char **why)
{
	uint8_t *xs = vs_xs(&e->s);
	uint16_t fcw, fsw, sw;
	unsigned int top, bytes = st->len;
	uint8_t tmp[16];

	if (!xs)
		return -EIO;
	memcpy(&fcw, xs + XS_FCW, 2);
	memcpy(&fsw, xs + XS_FSW, 2);
	top = (fsw >> 11) & 7;
	if (!(xs[XS_FTW] & (1u << top))) {
		/* stack underflow: invalid operation, stack fault */
		sw = 0x41;
		if (!(fcw & 1)) {
			*why = "x87 stack underflow with the invalid-operation "
			       "exception unmasked";
			return -EOPNOTSUPP;
		}
		x87_indefinite(kind, bytes, st->data);
	} else {
		sw = x87_convert(xs + XS_ST(0), kind, bytes, fcw, st->data);
		if (sw & 0x3f & ~fcw) {
			*why = "x87 store raising an unmasked exception";
			return -EOPNOTSUPP;
		}
	}
	mark(st, 0, bytes);
	fsw = (uint16_t)((fsw & ~0x0200u) | (sw & 0x0200u) | (sw & 0x7f));
	if (pop) {
		memcpy(tmp, xs + XS_ST(0), 16);
		memmove(xs + XS_ST(0), xs + XS_ST(1), 16 * 7);
		memcpy(xs + XS_ST(7), tmp, 16);
		xs[XS_FTW] &= (uint8_t) ~(1u << top);
		fsw = (uint16_t)((fsw & ~0x3800u) | (((top + 1) & 7) << 11));
	}
	memcpy(xs + XS_FSW, &fsw, 2);
	/* Last instruction and data pointers, opcode. */
	{
		uint16_t fop = (uint16_t)(((e->insn.opcode & 7) << 8) |
					  (e->insn.raw.modrm.mod << 6) |
					  (e->insn.raw.modrm.reg << 3) |
					  e->insn.raw.modrm.rm);
		uint64_t fip = e->s.regs.rip, fdp = st->lin;

		memcpy(xs + XS_FOP, &fop, 2);
		memcpy(xs + XS_FIP, &fip, 8);
		memcpy(xs + XS_FDP, &fdp, 8);
	}
	e->s.xs_dirty = true;
	return 0;
}

/* FXSAVE / FXSAVE64: the legacy region as the CPU writes it. */
static int build_fxsave(struct emu *e, struct emu_store *st, bool rex_w,
			const char **why)
{
	uint8_t *xs = vs_xs(&e->s);
	unsigned int i, nxmm = long_mode(&e->s) ? 16 : 8;

	if (!xs)
		return -EIO;
	if (st->lin & 15) {
		*why = "misaligned FXSAVE (#GP on the CPU)";
		return -EOPNOTSUPP;
	}
	st->len = 512;
	memcpy(st->data, xs, 512);
	mark(st, 0, 32);
	if (!rex_w) {
		/* 32-bit pointer format: FIP, FCS, FDP, FDS; the selectors
		 * and the reserved halves are written as 0 (FCS/FDS are
		 * deprecated and not kept by KVM). */
		memset(st->data + 12, 0, 4);
		memset(st->data + 20, 0, 4);
	}
	for (i = 0; i < 8; i++)
		mark(st, XS_ST(i), 10);
	mark(st, XS_XMM(0), 16 * nxmm);
	st->masked = true;
	return 0;
}

/* XSAVE / XSAVEOPT (standard format): RFBM = XCR0 & EDX:EAX. */
static int build_xsave(struct emu *e, struct emu_store *st, const char **why)
{
	uint8_t *xs = vs_xs(&e->s);
	uint64_t xcr0, rfbm, bv, xinuse;
	unsigned int i, nxmm = long_mode(&e->s) ? 16 : 8;

	if (!xs)
		return -EIO;
	vs_xcr0(&e->s, &xcr0);
	rfbm = xcr0 & (((uint64_t)(uint32_t)e->s.regs.rdx << 32) |
		       (uint32_t)e->s.regs.rax);
	if (rfbm & ~7ULL) {
		*why = "XSAVE of state components beyond x87/SSE/AVX";
		return -EOPNOTSUPP;
	}
	if (st->lin & 63) {
		*why = "misaligned XSAVE (#GP on the CPU)";
		return -EOPNOTSUPP;
	}
	st->len = (rfbm & 4) ? 832 : 520;
	memcpy(st->data, xs, st->len);
	if (rfbm & 1) {
		mark(st, 0, 24);
		for (i = 0; i < 8; i++)
			mark(st, XS_ST(i), 10);
	}
	if (rfbm & 6)
		mark(st, XS_MXCSR, 8);
	if (rfbm & 2)
		mark(st, XS_XMM(0), 16 * nxmm);
	if (rfbm & 4)
		mark(st, XS_YMMH(0), 256);
	/* XSTATE_BV: bits in RFBM say which components are in use. */
	memcpy(&xinuse, xs + XS_XSTATE_BV, 8);
	memcpy(&bv, st->old + XS_XSTATE_BV, 8);
	bv = (bv & ~rfbm) | (xinuse & rfbm);
	memcpy(st->data + XS_XSTATE_BV, &bv, 8);
	mark(st, XS_XSTATE_BV, 8);
	st->masked = true;
	return 0;
}

/* CMPXCHG8B/16B against the current memory (read under the lock). */
static int build_cmpxchg_wide(struct emu *e, struct emu_store *st,
			      const char **why)
{
	struct kvm_regs *r = &e->s.regs;
	unsigned int half = st->len / 2;
	uint64_t lo = 0, hi = 0, mask = half == 8 ? ~0ULL : 0xffffffffULL;

	if (half == 8 && (st->lin & 15)) {
		*why = "misaligned CMPXCHG16B (#GP on the CPU)";
		return -EOPNOTSUPP;
	}
	memcpy(&lo, st->old, half);
	memcpy(&hi, st->old + half, half);
	if (lo == (r->rax & mask) && hi == (r->rdx & mask)) {
		memcpy(st->data, &r->rbx, half);
		memcpy(st->data + half, &r->rcx, half);
		r->rflags |= RFLAGS_ZF;
	} else {
		/* The CPU writes the old value back: still a store. */
		memcpy(st->data, st->old, st->len);
		r->rax = half == 8 ? lo : (uint32_t)lo;
		r->rdx = half == 8 ? hi : (uint32_t)hi;
		r->rflags &= ~RFLAGS_ZF;
	}
	mark(st, 0, st->len);
	e->s.regs_dirty = true;
	return 0;
}

/* MASKMOVDQU, VMASKMOVPS/PD, VPMASKMOVD/Q: only selected elements. */
static int build_masked(struct emu *e, struct emu_store *st, unsigned int elem)
{
	ZydisRegister src[3];
	uint8_t m[32], v[32];
	unsigned int n = reg_sources(e, src, 3), i, k;
	int nm, nv;

	if (n < 2)
		return -EOPNOTSUPP;
	/* MASKMOVDQU src, mask; VMASKMOV* mask, src */
	if (e->insn.mnemonic == ZYDIS_MNEMONIC_MASKMOVDQU ||
	    e->insn.mnemonic == ZYDIS_MNEMONIC_VMASKMOVDQU) {
		nv = reg_bytes(e, src[0], v);
		nm = reg_bytes(e, src[1], m);
	} else {
		nm = reg_bytes(e, src[0], m);
		nv = reg_bytes(e, src[1], v);
	}
	if (nm < 0 || nv < 0)
		return -EIO;
	if (st->len > (unsigned int)nv)
		st->len = (uint32_t)nv;
	memcpy(st->data, v, st->len);
	for (i = 0; i < st->len; i += elem)
		if (m[i + elem - 1] & 0x80)
			for (k = 0; k < elem; k++)
				st->mask[i + k] = 1;
	st->masked = true;
	return 0;
}

/* Is the instruction one that KVM never finishes on a trapped page
 * (it spins in KVM_RUN instead)? Those are emulated when a kick finds a
 * vCPU sitting on one. */
static bool hangs_in_kvm(ZydisMnemonic m)
{
	return m == ZYDIS_MNEMONIC_SGDT || m == ZYDIS_MNEMONIC_SIDT ||
	       m == ZYDIS_MNEMONIC_SLDT || m == ZYDIS_MNEMONIC_STR ||
	       m == ZYDIS_MNEMONIC_SMSW;
}

/*
 * What the instruction stores: fills @st (address, length, data, mask)
 * and applies its register side effects to e->s. Returns 0, -ENOENT (it
 * writes no memory), -EOPNOTSUPP (*why says why) or -EIO.
 */
static int build_store(struct emu *e, struct emu_store *st, const char **why)
{
	const ZydisDecodedOperand *mem = find_op(e, true, true);
	ZydisRegister src[3];
	uint8_t b[32];
	uint64_t imm;
	unsigned int nsrc, size, idx;
	int n, ret;

	if (!mem)
		return -ENOENT;
	ret = mem_address(e, mem, &st->lin);
	if (ret) {
		*why = "memory operand form";
		return ret;
	}
	size = mem->size / 8;
	st->len = size;
	if (size > EMU_MAX)
		size = EMU_MAX;
	nsrc = reg_sources(e, src, 3);
	*why = "no user-space emulation for this instruction";
	/* With CR4.UMIP, SGDT & co. raise #GP at CPL > 0: never do them. */
	if (hangs_in_kvm(e->insn.mnemonic) && (e->s.sregs.cr4 & (1ULL << 11)) &&
	    (e->s.sregs.cs.selector & 3))
		return -ENOENT;

	switch (e->insn.mnemonic) {
	case ZYDIS_MNEMONIC_MOV:
	case ZYDIS_MNEMONIC_MOVNTI:
	case ZYDIS_MNEMONIC_MOVDIRI:
	case ZYDIS_MNEMONIC_MOVQ:
	case ZYDIS_MNEMONIC_MOVD:
	case ZYDIS_MNEMONIC_MOVSS:
	case ZYDIS_MNEMONIC_MOVSD:
	case ZYDIS_MNEMONIC_MOVLPS:
	case ZYDIS_MNEMONIC_MOVLPD:
	case ZYDIS_MNEMONIC_MOVDQU:
	case ZYDIS_MNEMONIC_MOVDQA:
	case ZYDIS_MNEMONIC_MOVAPS:
	case ZYDIS_MNEMONIC_MOVUPS:
	case ZYDIS_MNEMONIC_MOVAPD:
	case ZYDIS_MNEMONIC_MOVUPD:
	case ZYDIS_MNEMONIC_MOVNTDQ:
	case ZYDIS_MNEMONIC_MOVNTPS:
	case ZYDIS_MNEMONIC_MOVNTPD:
	case ZYDIS_MNEMONIC_MOVNTQ:
	case ZYDIS_MNEMONIC_MOVNTSD:
	case ZYDIS_MNEMONIC_MOVNTSS:
	case ZYDIS_MNEMONIC_VMOVQ:
	case ZYDIS_MNEMONIC_VMOVD:
	case ZYDIS_MNEMONIC_VMOVSS:
	case ZYDIS_MNEMONIC_VMOVSD:
	case ZYDIS_MNEMONIC_VMOVLPS:
	case ZYDIS_MNEMONIC_VMOVLPD:
	case ZYDIS_MNEMONIC_VMOVDQU:
	case ZYDIS_MNEMONIC_VMOVDQA:
	case ZYDIS_MNEMONIC_VMOVAPS:
	case ZYDIS_MNEMONIC_VMOVUPS:
	case ZYDIS_MNEMONIC_VMOVAPD:
	case ZYDIS_MNEMONIC_VMOVUPD:
	case ZYDIS_MNEMONIC_VMOVNTDQ:
	case ZYDIS_MNEMONIC_VMOVNTPS:
	case ZYDIS_MNEMONIC_VMOVNTPD:
		/* the low bytes of the register source */
		if (nsrc != 1)
			return -EOPNOTSUPP;
		n = reg_bytes(e, src[0], b);
		if (n < 0 || (unsigned int)n < size)
			return n < 0 ? n : -EOPNOTSUPP;
		if (e->insn.mnemonic == ZYDIS_MNEMONIC_MOV &&
		    ZydisRegisterGetClass(src[0]) == ZYDIS_REGCLASS_SEGMENT)
			return -EOPNOTSUPP;
		memcpy(st->data, b, size);
		break;
	case ZYDIS_MNEMONIC_MOVHPS:
	case ZYDIS_MNEMONIC_MOVHPD:
	case ZYDIS_MNEMONIC_VMOVHPS:
	case ZYDIS_MNEMONIC_VMOVHPD:
		if (nsrc != 1 || reg_bytes(e, src[0], b) < 16 || size != 8)
			return -EOPNOTSUPP;
		memcpy(st->data, b + 8, 8);
		break;
	case ZYDIS_MNEMONIC_PEXTRB:
	case ZYDIS_MNEMONIC_PEXTRW:
	case ZYDIS_MNEMONIC_PEXTRD:
	case ZYDIS_MNEMONIC_PEXTRQ:
	case ZYDIS_MNEMONIC_EXTRACTPS:
	case ZYDIS_MNEMONIC_VPEXTRB:
	case ZYDIS_MNEMONIC_VPEXTRW:
	case ZYDIS_MNEMONIC_VPEXTRD:
	case ZYDIS_MNEMONIC_VPEXTRQ:
	case ZYDIS_MNEMONIC_VEXTRACTPS:
		if (nsrc != 1 || reg_bytes(e, src[0], b) < 16 ||
		    imm_value(e, &imm) || !size || size > 8)
			return -EOPNOTSUPP;
		idx = (unsigned int)imm & (16 / size - 1);
		memcpy(st->data, b + idx * size, size);
		break;
	case ZYDIS_MNEMONIC_VEXTRACTF128:
	case ZYDIS_MNEMONIC_VEXTRACTI128:
		if (nsrc != 1 || reg_bytes(e, src[0], b) != 32 ||
		    imm_value(e, &imm) || size != 16)
			return -EOPNOTSUPP;
		memcpy(st->data, b + 16 * (imm & 1), 16);
		break;
	case ZYDIS_MNEMONIC_STMXCSR:
	case ZYDIS_MNEMONIC_VSTMXCSR:
		if (!vs_xs(&e->s) || size != 4)
			return -EIO;
		memcpy(st->data, vs_xs(&e->s) + XS_MXCSR, 4);
		break;
	case ZYDIS_MNEMONIC_FNSTCW:
	case ZYDIS_MNEMONIC_FNSTSW:
		if (!vs_xs(&e->s) || size != 2)
			return -EIO;
		memcpy(st->data,
		       vs_xs(&e->s) +
			       (e->insn.mnemonic == ZYDIS_MNEMONIC_FNSTCW ?
					XS_FCW :
					XS_FSW),
		       2);
		break;
	case ZYDIS_MNEMONIC_MOVBE:
		if (nsrc != 1 || reg_bytes(e, src[0], b) < (int)size)
			return -EOPNOTSUPP;
		for (idx = 0; idx < size; idx++)
			st->data[idx] = b[size - 1 - idx];
		break;
	case ZYDIS_MNEMONIC_SGDT:
	case ZYDIS_MNEMONIC_SIDT: {
		const struct kvm_dtable *t =
			e->insn.mnemonic == ZYDIS_MNEMONIC_SGDT ?
				&e->s.sregs.gdt :
				&e->s.sregs.idt;

		st->len = size = long_mode(&e->s) ? 10 : 6;
		memcpy(st->data, &t->limit, 2);
		memcpy(st->data + 2, &t->base, size - 2);
		break;
	}
	case ZYDIS_MNEMONIC_SLDT:
	case ZYDIS_MNEMONIC_STR:
	case ZYDIS_MNEMONIC_SMSW: {
		uint16_t v = e->insn.mnemonic == ZYDIS_MNEMONIC_SLDT ?
				     e->s.sregs.ldt.selector :
			     e->insn.mnemonic == ZYDIS_MNEMONIC_STR ?
				     e->s.sregs.tr.selector :
				     (uint16_t)e->s.sregs.cr0;

		st->len = size = 2;
		memcpy(st->data, &v, 2);
		break;
	}
	case ZYDIS_MNEMONIC_FST:
	case ZYDIS_MNEMONIC_FSTP:
		return build_x87(e, st, X87_FLOAT,
				 e->insn.mnemonic == ZYDIS_MNEMONIC_FSTP, why);
	case ZYDIS_MNEMONIC_FIST:
	case ZYDIS_MNEMONIC_FISTP:
		return build_x87(e, st, X87_INT,
				 e->insn.mnemonic == ZYDIS_MNEMONIC_FISTP, why);
	case ZYDIS_MNEMONIC_FISTTP:
		return build_x87(e, st, X87_TRUNC, true, why);
	case ZYDIS_MNEMONIC_FXSAVE:
	case ZYDIS_MNEMONIC_FXSAVE64:
		return build_fxsave(e, st,
				    e->insn.mnemonic == ZYDIS_MNEMONIC_FXSAVE64,
				    why);
	case ZYDIS_MNEMONIC_XSAVE:
	case ZYDIS_MNEMONIC_XSAVE64:
	case ZYDIS_MNEMONIC_XSAVEOPT:
	case ZYDIS_MNEMONIC_XSAVEOPT64:
		if (!st->needs_old) {
			st->needs_old = true;
			st->len = 832;
			return 0; /* called again once old is read */
		}
		return build_xsave(e, st, why);
	case ZYDIS_MNEMONIC_CMPXCHG16B:
	case ZYDIS_MNEMONIC_CMPXCHG8B:
		if (!st->needs_old) {
			st->needs_old = true;
			return 0;
		}
		return build_cmpxchg_wide(e, st, why);
	case ZYDIS_MNEMONIC_MASKMOVDQU:
	case ZYDIS_MNEMONIC_VMASKMOVDQU:
		return build_masked(e, st, 1);
	case ZYDIS_MNEMONIC_VMASKMOVPS:
	case ZYDIS_MNEMONIC_VPMASKMOVD:
		return build_masked(e, st, 4);
	case ZYDIS_MNEMONIC_VMASKMOVPD:
	case ZYDIS_MNEMONIC_VPMASKMOVQ:
		return build_masked(e, st, 8);
	default:
		return -EOPNOTSUPP;
	}
	mark(st, 0, size);
	return 0;
}

/* ---- pieces: linear store -> guest-physical ------------------------- */

#define EMU_MAX_PIECES (EMU_MAX / PAGE_SIZE + 2)

static int store_pieces(struct emu *e, const struct emu_store *st,
			struct guard_piece *p, unsigned int *np)
{
	uint64_t lin = st->lin;
	uint32_t off = 0, n;
	unsigned int k = 0;
	int ret;

	while (off < st->len) {
		uint64_t gpa;

		n = PAGE_SIZE - (uint32_t)(lin & (PAGE_SIZE - 1));
		if (n > st->len - off)
			n = st->len - off;
		ret = vs_translate(&e->s, lin, &gpa);
		if (ret)
			return ret;
		if (!spp_guest_mem_ptr(&e->g->mem, gpa, n))
			return -ENOENT; /* not guest RAM: a device */
		if (k && p[k - 1].gpa + p[k - 1].len == gpa) {
			p[k - 1].len += n;
		} else {
			p[k].gpa = gpa;
			p[k].len = n;
			p[k].data = st->data + off;
			p[k].mask = st->masked ? st->mask + off : NULL;
			k++;
		}
		off += n;
		lin += n;
	}
	*np = k;
	return 0;
}

static void read_pieces(struct spp_guard *g, const struct guard_piece *p,
			unsigned int n, uint8_t *out)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		memcpy(out, spp_guest_mem_ptr(&g->mem, p[i].gpa, p[i].len),
		       p[i].len);
		out += p[i].len;
	}
}

static bool touches_trapped(struct spp_guard *g, const struct guard_piece *p,
			    unsigned int n)
{
	unsigned int i;
	uint64_t gfn;

	for (i = 0; i < n; i++)
		for (gfn = p[i].gpa >> PAGE_SHIFT;
		     gfn <= (p[i].gpa + p[i].len - 1) >> PAGE_SHIFT; gfn++)
			if (guard_page_trapped(g, gfn))
				return true;
	return false;
}

int spp_guard_emulate(struct spp_guard *g, int vcpu_fd, struct kvm_run *run,
		      uint32_t vcpu, struct spp_event *ev_out,
		      struct spp_insn_report *rep)
{
	static __thread struct emu e;
	static __thread struct emu_store st;
	struct guard_piece p[EMU_MAX_PIECES];
	struct spp_event ev;
	const uint8_t *given = NULL;
	uint32_t ngiven = 0;
	const char *why = NULL;
	unsigned int np = 0;
	int ret;

	if (rep)
		memset(rep, 0, sizeof(*rep));
	if (!g || !run)
		return -EINVAL;
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION)
			return SPP_EXIT_NOT_MINE;
		if (run->emulation_failure.flags &
		    KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) {
			given = run->emulation_failure.insn_bytes;
			ngiven = run->emulation_failure.insn_size;
			if (ngiven > sizeof(run->emulation_failure.insn_bytes))
				ngiven = sizeof(
					run->emulation_failure.insn_bytes);
		}
	}
	memset(&e, 0, sizeof(e));
	memset(&st, 0, sizeof(st));
	e.g = g;
	e.s.fd = vcpu_fd;
	ret = decode_at_rip(&e, given, ngiven);
	if (ret == -ENOEXEC || ret == -EFAULT)
		return SPP_EXIT_NOT_MINE; /* not an instruction in guest RAM */
	if (ret)
		return ret;
	if (run->exit_reason != KVM_EXIT_INTERNAL_ERROR &&
	    !hangs_in_kvm(e.insn.mnemonic))
		return SPP_EXIT_NOT_MINE;

	pthread_mutex_lock(&g->commit_lock);
	ret = build_store(&e, &st, &why);
	if (!ret)
		ret = store_pieces(&e, &st, p, &np);
	if (!ret && st.needs_old) {
		if (st.len > EMU_MAX) {
			ret = -EOPNOTSUPP;
		} else {
			read_pieces(g, p, np, st.old);
			ret = build_store(&e, &st, &why);
		}
		if (!ret)
			ret = store_pieces(&e, &st, p, &np);
	}
	if (ret == -ENOENT || ret == -EFAULT ||
	    (!ret && run->exit_reason != KVM_EXIT_INTERNAL_ERROR &&
	     !touches_trapped(g, p, np))) {
		/* not a store into guest RAM (or, for a kick, not into a
		 * trapped page): the VMM's business */
		pthread_mutex_unlock(&g->commit_lock);
		return SPP_EXIT_NOT_MINE;
	}
	if (ret) {
		pthread_mutex_unlock(&g->commit_lock);
		describe(&e, rep, why ? why : "cannot read the vCPU's state");
		__atomic_add_fetch(&g->stats.unemulated, 1, __ATOMIC_RELAXED);
		return ret == -EOPNOTSUPP ? -EOPNOTSUPP : ret;
	}

	memset(&ev, 0, sizeof(ev));
	ev.vcpu = vcpu;
	ev.gpa = p[0].gpa;
	ev.len = st.len;
	ev.fragments = 0;
	/* What memory would hold: masked-off bytes keep their value. */
	{
		uint8_t cur[EMU_MAX];
		uint32_t i, n = st.len < SPP_STORE_MAX ? st.len : SPP_STORE_MAX;

		read_pieces(g, p, np, cur);
		for (i = 0; i < n; i++)
			ev.data[i] = !st.masked || st.mask[i] ? st.data[i] :
								cur[i];
	}
	e.s.regs.rip += e.insn.length;
	e.s.regs.rflags &= ~RFLAGS_RF;
	e.s.regs_dirty = true;
	ev.rip = e.s.regs.rip;
	ev.insn_rip = ev.rip - e.insn.length;
	ret = guard_finish_store(g, p, np, &ev,
				 st.masked || np > 1 || st.len > SPP_STORE_MAX,
				 vcpu_fd);
	pthread_mutex_unlock(&g->commit_lock);
	guard_vcpu_seen(g, vcpu);
	__atomic_add_fetch(&g->stats.emulated, 1, __ATOMIC_RELAXED);
	{
		int r = vs_flush(&e.s);

		if (r)
			return r;
	}
	if (ev_out)
		*ev_out = ev;
	return ret;
}

/* ---- the rest of a rep STOS/MOVS ------------------------------------- */

#define STRING_BATCH_MAX (64 * 1024) /* bytes per exit, then re-enter */

static bool is_string_store(ZydisMnemonic m)
{
	return m == ZYDIS_MNEMONIC_STOSB || m == ZYDIS_MNEMONIC_STOSW ||
	       m == ZYDIS_MNEMONIC_STOSD || m == ZYDIS_MNEMONIC_STOSQ ||
	       m == ZYDIS_MNEMONIC_MOVSB || m == ZYDIS_MNEMONIC_MOVSW ||
	       m == ZYDIS_MNEMONIC_MOVSD || m == ZYDIS_MNEMONIC_MOVSQ;
}

/* Host pointer of @n bytes at linear @lin if they are guest RAM on one
 * page (a one-entry cache of the last page). */
struct page_cache {
	uint64_t lin_page, gpa_page;
	bool valid;
};

static uint8_t *lin_ptr(struct emu *e, struct page_cache *c, uint64_t lin,
			uint32_t n, uint64_t *gpa)
{
	uint64_t page = lin & ~(PAGE_SIZE - 1);

	if ((lin & (PAGE_SIZE - 1)) + n > PAGE_SIZE)
		return NULL;
	if (!c->valid || c->lin_page != page) {
		if (vs_translate(&e->s, page, &c->gpa_page))
			return NULL;
		c->lin_page = page;
		c->valid = true;
	}
	*gpa = c->gpa_page + (lin & (PAGE_SIZE - 1));
	return spp_guest_mem_ptr(&e->g->mem, *gpa, n);
}

int guard_string_continue(struct spp_guard *g, int vcpu_fd, struct kvm_run *run,
			  uint32_t vcpu, uint64_t gpa, uint32_t len)
{
	static __thread struct emu e;
	const struct kvm_regs *sr = &run->s.regs.regs;
	struct page_cache dc = { 0 }, sc = { 0 };
	uint64_t amask, rcx, rdi, rsi, step, done = 0;
	unsigned int size;
	bool movs, df;
	int ret;

	/* Cheap filter on the registers KVM hands back with the exit: a
	 * string element leaves RCX > 0 and RDI one element past @gpa. */
	if (!(run->kvm_valid_regs & KVM_SYNC_X86_REGS) ||
	    !guard_string_maybe(sr->rcx, sr->rdi, sr->rflags, gpa, len))
		return 0;

	memset(&e, 0, sizeof(e));
	e.g = g;
	e.s.fd = vcpu_fd;
	if (decode_at_rip(&e, NULL, 0) || !is_string_store(e.insn.mnemonic) ||
	    !(e.insn.attributes &
	      (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPNE)) ||
	    e.insn.operand_width / 8 != len)
		return 0;
	/* RIP points at the instruction: KVM's element left it there. */
	ret = guard_complete_pending(vcpu_fd, run);
	if (ret)
		return ret;
	e.s.have_regs = false;
	ret = vs_regs(&e.s);
	if (ret)
		return ret;

	size = len;
	movs = e.insn.mnemonic == ZYDIS_MNEMONIC_MOVSB ||
	       e.insn.mnemonic == ZYDIS_MNEMONIC_MOVSW ||
	       e.insn.mnemonic == ZYDIS_MNEMONIC_MOVSD ||
	       e.insn.mnemonic == ZYDIS_MNEMONIC_MOVSQ;
	amask = e.insn.address_width == 64 ? ~0ULL :
		e.insn.address_width == 32 ? 0xffffffffULL :
					     0xffffULL;
	df = e.s.regs.rflags & RFLAGS_DF;
	step = df ? (uint64_t) - (int64_t)size : size;
	rcx = e.s.regs.rcx & amask;
	rdi = e.s.regs.rdi & amask;
	rsi = e.s.regs.rsi & amask;

	pthread_mutex_lock(&g->commit_lock);
	while (rcx && done < STRING_BATCH_MAX) {
		uint64_t dlin = seg_linear(&e, ZYDIS_REGISTER_ES, rdi);
		uint64_t dgpa, sgpa;
		struct spp_write_verdict v;
		struct guard_piece p;
		struct spp_event ev;
		uint8_t val[8];
		uint8_t *src;

		if (!lin_ptr(&e, &dc, dlin, size, &dgpa) ||
		    !guard_page_trapped(g, dgpa >> PAGE_SHIFT) ||
		    spp_access_check_write(g->acc, dgpa, size, &v) ||
		    (!v.allowed && g->policy == SPP_POLICY_STOP))
			break; /* KVM (or the CPU) does this element */
		if (movs) {
			ZydisRegister seg = ZYDIS_REGISTER_DS;
			uint64_t slin;

			if (e.insn.attributes & ZYDIS_ATTRIB_HAS_SEGMENT_FS)
				seg = ZYDIS_REGISTER_FS;
			else if (e.insn.attributes &
				 ZYDIS_ATTRIB_HAS_SEGMENT_GS)
				seg = ZYDIS_REGISTER_GS;
			slin = seg_linear(&e, seg, rsi);
			src = lin_ptr(&e, &sc, slin, size, &sgpa);
			if (!src)
				break;
			memcpy(val, src, size);
		} else {
			memcpy(val, &e.s.regs.rax, size);
		}
		/* one store of its own: judged, committed or dropped,
		 * reported as any other (it resumes at the instruction until
		 * the last element) */
		p = (struct guard_piece){ dgpa, size, val, NULL };
		memset(&ev, 0, sizeof(ev));
		ev.vcpu = vcpu;
		ev.gpa = dgpa;
		ev.len = size;
		memcpy(ev.data, val, size);
		ev.insn_rip = e.s.regs.rip;
		ev.rip = rcx == 1 ? e.s.regs.rip + e.insn.length : e.s.regs.rip;
		guard_finish_store(g, &p, 1, &ev, true, vcpu_fd);
		rdi = (rdi + step) & amask;
		if (movs)
			rsi = (rsi + step) & amask;
		rcx--;
		done += size;
	}
	pthread_mutex_unlock(&g->commit_lock);
	if (!done)
		return 0;
	__atomic_add_fetch(&g->stats.string_batches, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&g->stats.string_elements, done / size,
			   __ATOMIC_RELAXED);
	/* As the CPU leaves them: a 32-bit count or pointer write clears
	 * the upper half; a 16-bit one keeps it. */
	if (amask == 0xffff) {
		e.s.regs.rcx = (e.s.regs.rcx & ~amask) | rcx;
		e.s.regs.rdi = (e.s.regs.rdi & ~amask) | rdi;
		if (movs)
			e.s.regs.rsi = (e.s.regs.rsi & ~amask) | rsi;
	} else {
		e.s.regs.rcx = rcx;
		e.s.regs.rdi = rdi;
		if (movs)
			e.s.regs.rsi = rsi;
	}
	if (!rcx)
		e.s.regs.rip += e.insn.length;
	e.s.regs_dirty = true;
	return vs_flush(&e.s);
}

/* ---- read-modify-writes redone atomically ---------------------------- */

/*
 * @op applied to @dst and @src of @size bytes on the host's ALU, so the
 * flags are exactly what this CPU produces (as KVM's emulator does).
 * *@flags: in, the guest's RFLAGS (CF for nothing here); out, with the
 * arithmetic flags the operation defines replaced.
 */
#define RFLAGS_ARITH 0x8d5ULL

#define ALU_ASM(insn, sz, type, cons)                              \
	do {                                                       \
		type d_ = (type)dst, s_ = (type)src;               \
		__asm__ volatile("push %[fl]\n\tpopfq\n\t" insn    \
				 "\n\tpushfq\n\tpop %[fl]"         \
				 : [d] "+" cons(d_), [fl] "+r"(fl) \
				 : [s] cons(s_)                    \
				 : "cc");                          \
		dst = (uint64_t)d_;                                \
	} while (0)

#define ALU_SIZES(op)                                           \
	switch (size) {                                         \
	case 1:                                                 \
		ALU_ASM(op "b %b[s], %b[d]", 1, uint8_t, "q");  \
		break;                                          \
	case 2:                                                 \
		ALU_ASM(op "w %w[s], %w[d]", 2, uint16_t, "r"); \
		break;                                          \
	case 4:                                                 \
		ALU_ASM(op "l %k[s], %k[d]", 4, uint32_t, "r"); \
		break;                                          \
	default:                                                \
		ALU_ASM(op "q %q[s], %q[d]", 8, uint64_t, "r"); \
		break;                                          \
	}

static int alu(ZydisMnemonic m, unsigned int size, uint64_t dst, uint64_t src,
	       uint64_t *flags, uint64_t *out)
{
	uint64_t fl = (*flags & ~0x40000ULL) & ~RFLAGS_ARITH;

	fl |= 0x2;
	switch (m) {
	case ZYDIS_MNEMONIC_ADD:
	case ZYDIS_MNEMONIC_XADD:
		ALU_SIZES("add");
		break;
	case ZYDIS_MNEMONIC_SUB:
	case ZYDIS_MNEMONIC_CMP:
		ALU_SIZES("sub");
		break;
	case ZYDIS_MNEMONIC_AND:
		ALU_SIZES("and");
		break;
	case ZYDIS_MNEMONIC_OR:
		ALU_SIZES("or");
		break;
	case ZYDIS_MNEMONIC_XOR:
		ALU_SIZES("xor");
		break;
	case ZYDIS_MNEMONIC_INC:
		fl |= *flags & RFLAGS_CF; /* INC/DEC keep CF */
		src = 1;
		ALU_SIZES("add");
		fl = (fl & ~RFLAGS_CF) | (*flags & RFLAGS_CF);
		break;
	case ZYDIS_MNEMONIC_DEC:
		src = 1;
		ALU_SIZES("sub");
		fl = (fl & ~RFLAGS_CF) | (*flags & RFLAGS_CF);
		break;
	case ZYDIS_MNEMONIC_NEG:
		src = dst;
		dst = 0;
		ALU_SIZES("sub");
		break;
	case ZYDIS_MNEMONIC_NOT:
		dst = ~dst;
		fl = *flags;
		break;
	case ZYDIS_MNEMONIC_BTS:
	case ZYDIS_MNEMONIC_BTR:
	case ZYDIS_MNEMONIC_BTC: {
		uint64_t bit = 1ULL << (src & (size * 8 - 1));

		fl = (*flags & ~RFLAGS_CF) | ((dst & bit) ? RFLAGS_CF : 0);
		dst = m == ZYDIS_MNEMONIC_BTS ? dst | bit :
		      m == ZYDIS_MNEMONIC_BTR ? dst & ~bit :
						dst ^ bit;
		break;
	}
	default:
		return -EOPNOTSUPP;
	}
	if (m != ZYDIS_MNEMONIC_NOT && m != ZYDIS_MNEMONIC_BTS &&
	    m != ZYDIS_MNEMONIC_BTR && m != ZYDIS_MNEMONIC_BTC)
		fl = (*flags & ~RFLAGS_ARITH) | (fl & RFLAGS_ARITH);
	*flags = fl;
	*out = size == 8 ? dst : dst & ((1ULL << (size * 8)) - 1);
	return 0;
}

static bool is_rmw(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_XADD:
	case ZYDIS_MNEMONIC_XCHG:
	case ZYDIS_MNEMONIC_CMPXCHG:
	case ZYDIS_MNEMONIC_ADD:
	case ZYDIS_MNEMONIC_SUB:
	case ZYDIS_MNEMONIC_AND:
	case ZYDIS_MNEMONIC_OR:
	case ZYDIS_MNEMONIC_XOR:
	case ZYDIS_MNEMONIC_INC:
	case ZYDIS_MNEMONIC_DEC:
	case ZYDIS_MNEMONIC_NEG:
	case ZYDIS_MNEMONIC_NOT:
	case ZYDIS_MNEMONIC_BTS:
	case ZYDIS_MNEMONIC_BTR:
	case ZYDIS_MNEMONIC_BTC:
	case ZYDIS_MNEMONIC_ADC:
	case ZYDIS_MNEMONIC_SBB:
	case ZYDIS_MNEMONIC_CMPXCHG8B:
		return true;
	default:
		return false;
	}
}

/* Same operation on the same operands (prefixes aside)? */
static bool same_semantics(const struct emu *a, const struct emu *b)
{
	unsigned int i;

	if (a->insn.mnemonic != b->insn.mnemonic ||
	    a->insn.operand_width != b->insn.operand_width ||
	    a->insn.operand_count_visible != b->insn.operand_count_visible)
		return false;
	for (i = 0; i < a->insn.operand_count_visible; i++) {
		const ZydisDecodedOperand *x = &a->ops[i], *y = &b->ops[i];

		if (x->type != y->type || x->size != y->size)
			return false;
		if (x->type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    x->reg.value != y->reg.value)
			return false;
		if (x->type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
		    x->imm.value.u != y->imm.value.u)
			return false;
	}
	return true;
}

/*
 * The read-modify-write instruction that ends at RIP and wrote @p: decode
 * backwards (every start 1..15 bytes before RIP whose instruction is
 * exactly that long), keep RMWs whose memory operand is @p, and accept
 * them only if all such candidates mean the same thing. Returns 0 with
 * @e decoded, -ENOENT (not an RMW: a plain store) or -EAGAIN (ambiguous).
 */
static int decode_backwards(struct spp_guard *g, struct emu *e,
			    const struct guard_piece *p)
{
	static __thread struct emu cand;
	uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
	uint64_t rip_lin, lin, gpa;
	ZydisDecoder dec;
	unsigned int L, found = 0, avail = sizeof(buf);

	if (vs_regs(&e->s) || vs_sregs(&e->s) || !long_mode(&e->s))
		return -ENOENT;
	rip_lin = e->s.regs.rip;
	if (vs_read(g, &e->s, rip_lin - avail, buf, avail)) {
		avail = (unsigned int)(rip_lin & (PAGE_SIZE - 1));
		if (avail > sizeof(buf))
			avail = sizeof(buf);
		if (!avail || vs_read(g, &e->s, rip_lin - avail,
				      buf + sizeof(buf) - avail, avail))
			return -ENOENT;
	}
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64,
			 ZYDIS_STACK_WIDTH_64);
	for (L = 1; L <= avail; L++) {
		const ZydisDecodedOperand *mem;

		cand.s = e->s;
		cand.g = g;
		if (ZYAN_FAILED(ZydisDecoderDecodeFull(&dec,
						       buf + sizeof(buf) - L, L,
						       &cand.insn, cand.ops)) ||
		    cand.insn.length != L || !is_rmw(cand.insn.mnemonic))
			continue;
		mem = find_op(&cand, true, true);
		cand.s.regs.rip = rip_lin - L;
		if (!mem || mem->size / 8 != p->len ||
		    mem_address(&cand, mem, &lin) ||
		    vs_translate(&e->s, lin, &gpa) || gpa != p->gpa)
			continue;
		if (found && !same_semantics(&cand, e))
			return -EAGAIN;
		if (!found) {
			memcpy(e->bytes, buf + sizeof(buf) - L, L);
			e->nbytes = L;
			e->insn = cand.insn;
			memcpy(e->ops, cand.ops, sizeof(e->ops));
		}
		found++;
	}
	return found ? 0 : -ENOENT;
}

int guard_rmw_check(struct spp_guard *g, int vcpu_fd, struct kvm_run *run,
		    uint32_t vcpu, struct guard_piece *p, uint8_t *data,
		    struct spp_event *ev)
{
	static __thread struct emu e;
	uint64_t cur = 0, d = 0, flags, mask, newv, src = 0, r_after = 0;
	ZydisRegister regs[3];
	uint64_t *reg = NULL;
	unsigned int size = p->len, nreg;
	bool write_regs = false;
	int ret;

	if (!guard_rmw_conflict(g, vcpu, p->gpa >> PAGE_SHIFT))
		return 0; /* nobody wrote this page since KVM could read it */
	if (size > 8 || (size & (size - 1)))
		return 0;
	memset(&e, 0, sizeof(e));
	e.g = g;
	e.s.fd = vcpu_fd;
	if (run->kvm_valid_regs & KVM_SYNC_X86_REGS) {
		e.s.regs = run->s.regs.regs;
		e.s.have_regs = true;
	}
	ret = decode_backwards(g, &e, p);
	if (ret == -ENOENT)
		return 0; /* a plain store: last writer wins, as on hardware */
	if (ret) {
		__atomic_add_fetch(&g->stats.rmw_unsure, 1, __ATOMIC_RELAXED);
		return 0;
	}
	ev->insn_rip = e.s.regs.rip - e.insn.length;
	mask = size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
	memcpy(&cur, spp_guest_mem_ptr(&g->mem, p->gpa, size), size);
	memcpy(&d, data, size);
	flags = e.s.regs.rflags;
	nreg = reg_sources(&e, regs, 3);
	/* The register operand, if any (never the memory one); AH..BH are
	 * read but not redone. */
	if (nreg) {
		unsigned int shift;
		uint64_t *slot = gpr_of(&e.s.regs, regs[0], &shift);

		if (slot) {
			r_after = (*slot >> shift) & mask;
			if (!shift)
				reg = slot;
		}
	}

	switch (e.insn.mnemonic) {
	case ZYDIS_MNEMONIC_XADD:
		/* KVM: reg = old, d = old + src */
		if (!reg || cur == r_after)
			return 0;
		src = (d - r_after) & mask;
		alu(ZYDIS_MNEMONIC_ADD, size, cur, src, &flags, &newv);
		write_regs = true;
		break;
	case ZYDIS_MNEMONIC_XCHG:
		/* KVM: reg = old, d = the register's value before */
		if (!reg || cur == r_after)
			return 0;
		newv = d;
		write_regs = true;
		break;
	case ZYDIS_MNEMONIC_CMPXCHG: {
		uint64_t acc = e.s.regs.rax & mask;

		if (!(flags & RFLAGS_ZF)) {
			/* KVM failed the compare and wrote the old value
			 * back: never clobber what is there now. */
			newv = cur;
			break;
		}
		/* KVM succeeded: RAX holds what it compared with. */
		if (cur == acc)
			return 0;
		alu(ZYDIS_MNEMONIC_SUB, size, acc, cur, &flags, &newv);
		newv = cur; /* the compare fails now: memory stays */
		/* a 32- or 64-bit write clears the upper half */
		e.s.regs.rax = size >= 4 ? cur : (e.s.regs.rax & ~mask) | cur;
		e.s.regs_dirty = true;
		break;
	}
	case ZYDIS_MNEMONIC_ADC:
	case ZYDIS_MNEMONIC_SBB:
		/* the carry it used is gone from RFLAGS: cannot redo */
		__atomic_add_fetch(&g->stats.rmw_unsure, 1, __ATOMIC_RELAXED);
		return 0;
	case ZYDIS_MNEMONIC_CMPXCHG8B:
		/* KVM does it as one 8-byte write; same rules as CMPXCHG */
		if (!(flags & RFLAGS_ZF)) {
			newv = cur;
			break;
		}
		if (cur == ((e.s.regs.rdx << 32) | (uint32_t)e.s.regs.rax))
			return 0;
		newv = cur;
		e.s.regs.rax = (uint32_t)cur;
		e.s.regs.rdx = cur >> 32;
		flags &= ~RFLAGS_ZF;
		e.s.regs_dirty = true;
		break;
	default: {
		uint64_t imm;

		/* ADD/SUB/AND/OR/XOR/INC/DEC/NEG/NOT/BT*: src unchanged */
		if (!imm_value(&e, &imm))
			src = imm & mask;
		else if (reg)
			src = r_after;
		if (alu(e.insn.mnemonic, size, cur, src, &flags, &newv))
			return 0;
		if (newv == d)
			return 0;
		break;
	}
	}
	if (write_regs && reg) {
		*reg = size >= 4 ? cur : (*reg & ~mask) | cur;
	}
	if (e.insn.mnemonic != ZYDIS_MNEMONIC_XCHG &&
	    e.insn.mnemonic != ZYDIS_MNEMONIC_CMPXCHG8B)
		e.s.regs.rflags = (e.s.regs.rflags & ~RFLAGS_ARITH) |
				  (flags & RFLAGS_ARITH);
	memcpy(data, &newv, size);
	memcpy(ev->data, &newv, size);
	__atomic_add_fetch(&g->stats.rmw_redone, 1, __ATOMIC_RELAXED);
	if (write_regs || e.s.regs_dirty ||
	    e.insn.mnemonic != ZYDIS_MNEMONIC_CMPXCHG) {
		struct kvm_regs fresh;

		ret = guard_complete_pending(vcpu_fd, run);
		if (ret)
			return ret < 0 ? ret : 0;
		if (ioctl(vcpu_fd, KVM_GET_REGS, &fresh) < 0)
			return -errno;
		if (fresh.rip != e.s.regs.rip)
			return 0; /* not where we decoded: leave it */
		e.s.regs_dirty = true;
		return vs_flush(&e.s);
	}
	return 0;
}

/* ---- where a store KVM completed came from --------------------------- */

static void paging_of(const struct vstate *s, struct spp_x86_paging *pg)
{
	pg->cr0 = s->sregs.cr0;
	pg->cr3 = s->sregs.cr3;
	pg->cr4 = s->sregs.cr4;
	pg->efer = s->sregs.efer;
}

/* Read @len bytes at linear @lin through the guest's tables. */
static int walk_read(struct spp_guard *g, const struct spp_x86_paging *pg,
		     uint64_t lin, uint8_t *out, uint32_t len)
{
	while (len) {
		uint32_t n = PAGE_SIZE - (uint32_t)(lin & (PAGE_SIZE - 1));
		struct spp_x86_walk w;
		const uint8_t *p;
		int ret;

		if (n > len)
			n = len;
		ret = spp_x86_walk(&g->mem, pg, lin, &w);
		if (ret)
			return ret;
		p = spp_guest_mem_ptr(&g->mem, w.gpa, n);
		if (!p)
			return -EFAULT;
		memcpy(out, p, n);
		out += n;
		lin += n;
		len -= n;
	}
	return 0;
}

static bool on_walk(const struct spp_x86_walk *w, uint64_t gpa)
{
	unsigned int i;

	for (i = 0; i < w->levels; i++)
		if (w->entry_gpa[i] == gpa)
			return true;
	return false;
}

int guard_store_origin(struct spp_guard *g, int vcpu_fd,
		       const struct kvm_run *run, const struct guard_piece *p,
		       struct guard_origin *o)
{
	static __thread struct emu cand;
	uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
	struct spp_x86_paging pg;
	struct vstate s;
	ZydisDecoder dec;
	uint64_t rip;
	unsigned int L, avail = sizeof(buf);
	int ret;

	memset(o, 0, sizeof(*o));
	memset(&s, 0, sizeof(s));
	s.fd = vcpu_fd;
	if (run->kvm_valid_regs & KVM_SYNC_X86_REGS) {
		s.regs = run->s.regs.regs;
		s.have_regs = true;
	}
	if (run->kvm_valid_regs & KVM_SYNC_X86_SREGS) {
		s.sregs = run->s.regs.sregs;
		s.have_sregs = true;
	}
	ret = vs_regs(&s);
	if (!ret)
		ret = vs_sregs(&s);
	if (ret)
		return ret;
	if (!long_mode(&s))
		return -EOPNOTSUPP;
	paging_of(&s, &pg);
	rip = s.regs.rip;
	if (walk_read(g, &pg, rip - avail, buf, avail)) {
		/* the page before RIP's may be unmapped: what this one has */
		avail = (unsigned int)(rip & (PAGE_SIZE - 1));
		if (avail > sizeof(buf))
			avail = sizeof(buf);
		if (!avail || walk_read(g, &pg, rip - avail,
					buf + sizeof(buf) - avail, avail))
			return -EFAULT;
	}
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64,
			 ZYDIS_STACK_WIDTH_64);
	for (L = 1; L <= avail; L++) {
		const ZydisDecodedOperand *mem;
		struct spp_x86_walk w;
		bool misdirected;
		uint64_t lin;

		cand.g = g;
		cand.s = s;
		if (ZYAN_FAILED(ZydisDecoderDecodeFull(&dec,
						       buf + sizeof(buf) - L, L,
						       &cand.insn, cand.ops)) ||
		    cand.insn.length != L ||
		    is_string_store(cand.insn.mnemonic))
			continue;
		mem = find_op(&cand, true, true);
		if (!mem || mem->size / 8 != p->len)
			continue;
		cand.s.regs.rip = rip - L;
		if (mem_address(&cand, mem, &lin) ||
		    spp_x86_walk(&g->mem, &pg, lin, &w))
			continue;
		if (w.gpa == p->gpa)
			misdirected = false;
		else if (!((lin ^ p->gpa) & (PAGE_SIZE - 1)) &&
			 on_walk(&w, p->gpa))
			misdirected = true;
		else
			continue;
		if (!o->found) {
			o->found = true;
			o->insn_rip = rip - L;
			o->gpa = w.gpa;
			o->misdirected = misdirected;
			o->walk = w;
			continue;
		}
		if (o->gpa != w.gpa || o->misdirected != misdirected)
			return -EAGAIN; /* two readings disagree */
		o->insn_rip = 0; /* same store, but which instruction? */
	}
	return o->found ? 0 : -ENOENT;
}
