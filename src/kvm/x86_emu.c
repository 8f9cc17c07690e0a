// SPDX-License-Identifier: MIT
/*
 * x86_emu.c - the x86 store decoder/emulator (x86_emu.h): Zydis decodes,
 * the table below says what each instruction does, the build_* functions
 * compute its store.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <spp/vector.h>
#include <spp/x86.h>

#include "x86_emu.h"

#define CR4_UMIP (1ULL << 11)
#define PAGE_SIZE SPP_PAGE_SIZE

/* ---- the table ------------------------------------------------------ */

/* How the store of an instruction is computed (build_store). */
enum store_kind {
	ST_NONE, /* not emulated in user space */
	ST_REG, /* the low bytes of its register source */
	ST_REG_HIGH, /* bytes 8..15 of its XMM source (MOVHPS) */
	ST_EXTRACT, /* element imm of its XMM source (PEXTR*) */
	ST_EXTRACT128, /* half imm of its YMM source */
	ST_XS_FIELD, /* @arg2 bytes at offset @arg of the XSAVE image */
	ST_MOVBE, /* its register source byte-swapped */
	ST_DTABLE, /* GDTR (@arg 0) or IDTR (1) */
	ST_SYSREG16, /* LDTR (@arg 0), TR (1) or CR0 (2) selector/word */
	ST_X87, /* FST & co: x87_kind @arg, pop @arg2 */
	ST_FXSAVE, /* @arg: 64-bit pointer format */
	ST_XSAVE,
	ST_CMPXCHG_WIDE, /* CMPXCHG8B/16B */
	ST_MASKED, /* element size @arg, mask byte (or dword...) top bit */
};

/* How spp_x86_emu_rmw_redo() redoes a read-modify-write. */
enum rmw_kind {
	RMW_NONE,
	RMW_ALU, /* memory = alu(memory, source); the source unchanged */
	RMW_XADD,
	RMW_XCHG,
	RMW_CMPXCHG,
	RMW_CMPXCHG8B,
	RMW_CARRY, /* ADC/SBB: the carry in is gone, cannot redo */
};

/* The operation on the host's ALU (alu()). */
enum alu_op {
	ALU_NONE,
	ALU_ADD,
	ALU_SUB,
	ALU_AND,
	ALU_OR,
	ALU_XOR,
	ALU_INC,
	ALU_DEC,
	ALU_NEG,
	ALU_NOT,
	ALU_BTS,
	ALU_BTR,
	ALU_BTC,
};

enum x87_kind { X87_FLOAT, X87_INT, X87_TRUNC };

struct row {
	ZydisMnemonic m;
	uint8_t store; /* enum store_kind */
	uint8_t flags; /* SPP_X86_EMU_* beyond _STORE (set by the kind) */
	uint8_t rmw; /* enum rmw_kind */
	uint8_t alu; /* enum alu_op */
	uint16_t arg, arg2;
};

#define M(x) ZYDIS_MNEMONIC_##x
#define STORE(x, kind)                                       \
	{                                                    \
		M(x), ST_##kind, 0, RMW_NONE, ALU_NONE, 0, 0 \
	}
#define STORE_ARG(x, kind, a, b)                             \
	{                                                    \
		M(x), ST_##kind, 0, RMW_NONE, ALU_NONE, a, b \
	}
#define HANG(x, kind, a)                                       \
	{                                                      \
		M(x), ST_##kind, SPP_X86_EMU_HANGS, 0, 0, a, 0 \
	}
#define RMW(x, kind, op)                                                   \
	{                                                                  \
		M(x), ST_NONE, SPP_X86_EMU_RMW, RMW_##kind, ALU_##op, 0, 0 \
	}
#define STRING(x, f)                                                \
	{                                                           \
		M(x), ST_NONE, SPP_X86_EMU_STRING | (f), 0, 0, 0, 0 \
	}

/*
 * Every instruction spp knows something about. A new store instruction
 * is one row here (and one row in tests/emu/test_x86_emu.c).
 */
static const struct row table[] = {
	/* plain stores of a register's low bytes */
	STORE(MOV, REG),
	STORE(MOVNTI, REG),
	STORE(MOVDIRI, REG),
	STORE(MOVQ, REG),
	STORE(MOVD, REG),
	STORE(MOVSS, REG),
	STORE(MOVLPS, REG),
	STORE(MOVLPD, REG),
	STORE(MOVDQU, REG),
	STORE(MOVDQA, REG),
	STORE(MOVAPS, REG),
	STORE(MOVUPS, REG),
	STORE(MOVAPD, REG),
	STORE(MOVUPD, REG),
	STORE(MOVNTDQ, REG),
	STORE(MOVNTPS, REG),
	STORE(MOVNTPD, REG),
	STORE(MOVNTQ, REG),
	STORE(MOVNTSD, REG),
	STORE(MOVNTSS, REG),
	STORE(VMOVQ, REG),
	STORE(VMOVD, REG),
	STORE(VMOVSS, REG),
	STORE(VMOVSD, REG),
	STORE(VMOVLPS, REG),
	STORE(VMOVLPD, REG),
	STORE(VMOVDQU, REG),
	STORE(VMOVDQA, REG),
	STORE(VMOVAPS, REG),
	STORE(VMOVUPS, REG),
	STORE(VMOVAPD, REG),
	STORE(VMOVUPD, REG),
	STORE(VMOVNTDQ, REG),
	STORE(VMOVNTPS, REG),
	STORE(VMOVNTPD, REG),
	STORE(MOVBE, MOVBE),
	STORE(MOVHPS, REG_HIGH),
	STORE(MOVHPD, REG_HIGH),
	STORE(VMOVHPS, REG_HIGH),
	STORE(VMOVHPD, REG_HIGH),
	STORE(PEXTRB, EXTRACT),
	STORE(PEXTRW, EXTRACT),
	STORE(PEXTRD, EXTRACT),
	STORE(PEXTRQ, EXTRACT),
	STORE(EXTRACTPS, EXTRACT),
	STORE(VPEXTRB, EXTRACT),
	STORE(VPEXTRW, EXTRACT),
	STORE(VPEXTRD, EXTRACT),
	STORE(VPEXTRQ, EXTRACT),
	STORE(VEXTRACTPS, EXTRACT),
	STORE(VEXTRACTF128, EXTRACT128),
	STORE(VEXTRACTI128, EXTRACT128),
	/* control and status words */
	STORE_ARG(STMXCSR, XS_FIELD, SPP_XS_MXCSR, 4),
	STORE_ARG(VSTMXCSR, XS_FIELD, SPP_XS_MXCSR, 4),
	STORE_ARG(FNSTCW, XS_FIELD, SPP_XS_FCW, 2),
	STORE_ARG(FNSTSW, XS_FIELD, SPP_XS_FSW, 2),
	/* x87 stores */
	STORE_ARG(FST, X87, X87_FLOAT, 0),
	STORE_ARG(FSTP, X87, X87_FLOAT, 1),
	STORE_ARG(FIST, X87, X87_INT, 0),
	STORE_ARG(FISTP, X87, X87_INT, 1),
	STORE_ARG(FISTTP, X87, X87_TRUNC, 1),
	/* state saves */
	STORE_ARG(FXSAVE, FXSAVE, 0, 0),
	STORE_ARG(FXSAVE64, FXSAVE, 1, 0),
	STORE(XSAVE, XSAVE),
	STORE(XSAVE64, XSAVE),
	STORE(XSAVEOPT, XSAVE),
	STORE(XSAVEOPT64, XSAVE),
	/* masked stores: element size */
	STORE_ARG(MASKMOVDQU, MASKED, 1, 0),
	STORE_ARG(VMASKMOVDQU, MASKED, 1, 0),
	STORE_ARG(VMASKMOVPS, MASKED, 4, 0),
	STORE_ARG(VPMASKMOVD, MASKED, 4, 0),
	STORE_ARG(VMASKMOVPD, MASKED, 8, 0),
	STORE_ARG(VPMASKMOVQ, MASKED, 8, 0),
	/* descriptor-table and system registers: KVM spins on these */
	HANG(SGDT, DTABLE, 0),
	HANG(SIDT, DTABLE, 1),
	HANG(SLDT, SYSREG16, 0),
	HANG(STR, SYSREG16, 1),
	HANG(SMSW, SYSREG16, 2),
	/* compare-exchanges against current memory */
	STORE(CMPXCHG16B, CMPXCHG_WIDE),
	{ M(CMPXCHG8B), ST_CMPXCHG_WIDE, SPP_X86_EMU_RMW, RMW_CMPXCHG8B,
	  ALU_NONE, 0, 0 },
	/* read-modify-writes KVM does, redone when memory moved under it */
	RMW(XADD, XADD, ADD),
	RMW(XCHG, XCHG, NONE),
	RMW(CMPXCHG, CMPXCHG, SUB),
	RMW(ADD, ALU, ADD),
	RMW(SUB, ALU, SUB),
	RMW(AND, ALU, AND),
	RMW(OR, ALU, OR),
	RMW(XOR, ALU, XOR),
	RMW(INC, ALU, INC),
	RMW(DEC, ALU, DEC),
	RMW(NEG, ALU, NEG),
	RMW(NOT, ALU, NOT),
	RMW(BTS, ALU, BTS),
	RMW(BTR, ALU, BTR),
	RMW(BTC, ALU, BTC),
	RMW(ADC, CARRY, NONE),
	RMW(SBB, CARRY, NONE),
	/* string stores the guard continues; MOVSD is also SSE's scalar
	 * store (a REG store: the string form has no register source) */
	STRING(STOSB, 0),
	STRING(STOSW, 0),
	STRING(STOSD, 0),
	STRING(STOSQ, 0),
	STRING(MOVSB, SPP_X86_EMU_STRING_SRC),
	STRING(MOVSW, SPP_X86_EMU_STRING_SRC),
	{ M(MOVSD), ST_REG, SPP_X86_EMU_STRING | SPP_X86_EMU_STRING_SRC, 0, 0,
	  0, 0 },
	STRING(MOVSQ, SPP_X86_EMU_STRING_SRC),
};

#undef M
#undef STORE
#undef STORE_ARG
#undef HANG
#undef RMW
#undef STRING

/* mnemonic -> 1 + index in table (0: no row), built once */
static uint8_t row_index[ZYDIS_MNEMONIC_MAX_VALUE + 1];
static pthread_once_t row_once = PTHREAD_ONCE_INIT;

static void build_index(void)
{
	size_t i;

	_Static_assert(sizeof(table) / sizeof(table[0]) < 255,
		       "row_index holds uint8_t");
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		row_index[table[i].m] = (uint8_t)(i + 1);
}

static const struct row *row_of(const ZydisDecodedInstruction *insn)
{
	unsigned int i;

	pthread_once(&row_once, build_index);
	if ((unsigned int)insn->mnemonic > ZYDIS_MNEMONIC_MAX_VALUE)
		return NULL;
	i = row_index[insn->mnemonic];
	if (!i)
		return NULL;
	return &table[i - 1];
}

static unsigned int row_flags(const struct row *r)
{
	if (!r)
		return 0;
	return r->flags | (r->store != ST_NONE ? SPP_X86_EMU_STORE : 0);
}

/* ---- state ---------------------------------------------------------- */

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

bool spp_x86_long_mode(const struct spp_x86_state *s)
{
	return (s->sregs.efer & SPP_X86_EFER_LMA) && s->sregs.cs.l;
}

static uint64_t seg_base(const struct spp_x86_state *s, enum spp_x86_seg seg)
{
	const struct kvm_sregs *sr = &s->sregs;

	if (spp_x86_long_mode(s)) {
		if (seg == SPP_X86_FS)
			return sr->fs.base;
		if (seg == SPP_X86_GS)
			return sr->gs.base;
		return 0;
	}
	switch (seg) {
	case SPP_X86_ES:
		return sr->es.base;
	case SPP_X86_CS:
		return sr->cs.base;
	case SPP_X86_SS:
		return sr->ss.base;
	case SPP_X86_FS:
		return sr->fs.base;
	case SPP_X86_GS:
		return sr->gs.base;
	default:
		return sr->ds.base;
	}
}

uint64_t spp_x86_linear(const struct spp_x86_state *s, enum spp_x86_seg seg,
			uint64_t off)
{
	uint64_t a = seg_base(s, seg) + off;

	return spp_x86_long_mode(s) ? a : a & 0xffffffff;
}

static enum spp_x86_seg seg_of(ZydisRegister r)
{
	switch (r) {
	case ZYDIS_REGISTER_ES:
		return SPP_X86_ES;
	case ZYDIS_REGISTER_CS:
		return SPP_X86_CS;
	case ZYDIS_REGISTER_SS:
		return SPP_X86_SS;
	case ZYDIS_REGISTER_FS:
		return SPP_X86_FS;
	case ZYDIS_REGISTER_GS:
		return SPP_X86_GS;
	default:
		return SPP_X86_DS;
	}
}

static uint8_t *xsave_of(struct spp_x86_emu *e)
{
	return e->ops && e->ops->xsave ? e->ops->xsave(e->ctx) : NULL;
}

/* ---- decoding ------------------------------------------------------- */

static int decode(struct spp_x86_emu *e, ZydisMachineMode mode,
		  ZydisStackWidth width)
{
	ZydisDecoder dec;

	if (ZYAN_FAILED(ZydisDecoderInit(&dec, mode, width)) ||
	    ZYAN_FAILED(ZydisDecoderDecodeFull(&dec, e->bytes, e->nbytes,
					       &e->insn, e->opnd)))
		return -ENOEXEC;
	e->flags = row_flags(row_of(&e->insn));
	return 0;
}

int spp_x86_emu_decode(struct spp_x86_emu *e, const uint8_t *given,
		       uint32_t ngiven)
{
	const struct kvm_sregs *sr = &e->s.sregs;
	ZydisMachineMode mode;
	ZydisStackWidth width;
	uint32_t n = sizeof(e->bytes);
	int ret;

	e->flags = 0;
	memset(&e->insn, 0, sizeof(e->insn));
	if (spp_x86_long_mode(&e->s)) {
		mode = ZYDIS_MACHINE_MODE_LONG_64;
		width = ZYDIS_STACK_WIDTH_64;
		e->rip_lin = e->s.regs.rip;
	} else {
		bool lma = sr->efer & SPP_X86_EFER_LMA;

		if (sr->cs.db) {
			mode = lma ? ZYDIS_MACHINE_MODE_LONG_COMPAT_32 :
				     ZYDIS_MACHINE_MODE_LEGACY_32;
			width = ZYDIS_STACK_WIDTH_32;
		} else {
			mode = lma ? ZYDIS_MACHINE_MODE_LONG_COMPAT_16 :
				     ZYDIS_MACHINE_MODE_LEGACY_16;
			width = ZYDIS_STACK_WIDTH_16;
		}
		e->rip_lin = (sr->cs.base + e->s.regs.rip) & 0xffffffff;
	}
	if (given && ngiven >= sizeof(e->bytes)) {
		memcpy(e->bytes, given, sizeof(e->bytes));
	} else {
		/* Up to the end of the next page at most: stop early where
		 * the page after RIP's cannot be read. */
		uint32_t first =
			PAGE_SIZE - (uint32_t)(e->rip_lin & (PAGE_SIZE - 1));

		if (!e->ops || !e->ops->read)
			return -EFAULT;
		if (e->ops->read(e->ctx, e->rip_lin, e->bytes, n)) {
			n = first < n ? first : n;
			ret = e->ops->read(e->ctx, e->rip_lin, e->bytes, n);
			if (ret)
				return ret;
		}
	}
	e->nbytes = n;
	return decode(e, mode, width);
}

int spp_x86_emu_decode64(struct spp_x86_emu *e, const uint8_t *bytes,
			 uint32_t len, uint64_t rip)
{
	ZydisDecoderContext ctx;
	ZydisDecoder dec;

	if (!len || len > sizeof(e->bytes))
		return -ENOEXEC;
	if (ZYAN_FAILED(ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64,
					 ZYDIS_STACK_WIDTH_64)) ||
	    ZYAN_FAILED(ZydisDecoderDecodeInstruction(&dec, &ctx, bytes, len,
						      &e->insn)) ||
	    e->insn.length != len)
		return -ENOEXEC; /* most starts: no operands decoded */
	if (ZYAN_FAILED(ZydisDecoderDecodeOperands(
		    &dec, &ctx, &e->insn, e->opnd, e->insn.operand_count)))
		return -ENOEXEC;
	memcpy(e->bytes, bytes, len);
	e->nbytes = len;
	e->rip_lin = rip;
	e->s.regs.rip = rip;
	e->flags = row_flags(row_of(&e->insn));
	return 0;
}

void spp_x86_emu_format(const struct spp_x86_emu *e, char *buf, size_t size)
{
	ZydisFormatter f;

	if (!size)
		return;
	buf[0] = 0;
	if (e->insn.length &&
	    ZYAN_SUCCESS(ZydisFormatterInit(&f, ZYDIS_FORMATTER_STYLE_INTEL)))
		ZydisFormatterFormatInstruction(&f, &e->insn, e->opnd,
						e->insn.operand_count_visible,
						buf, size, e->s.regs.rip, NULL);
}

bool spp_x86_emu_same(const struct spp_x86_emu *a, const struct spp_x86_emu *b)
{
	unsigned int i;

	if (a->insn.mnemonic != b->insn.mnemonic ||
	    a->insn.operand_width != b->insn.operand_width ||
	    a->insn.operand_count_visible != b->insn.operand_count_visible)
		return false;
	for (i = 0; i < a->insn.operand_count_visible; i++) {
		const ZydisDecodedOperand *x = &a->opnd[i], *y = &b->opnd[i];

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

/* ---- operands ------------------------------------------------------- */

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
static int reg_bytes(struct spp_x86_emu *e, ZydisRegister r, uint8_t *out)
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
		xs = xsave_of(e);
		if (!xs || id < 0 || id > 7)
			return -EIO;
		/* MMn is physical x87 register n; the image is in ST order. */
		memcpy(out,
		       xs + SPP_XS_ST((id - ((xs[SPP_XS_FSW + 1] >> 3) & 7)) &
				      7),
		       8);
		return 8;
	case ZYDIS_REGCLASS_XMM:
	case ZYDIS_REGCLASS_YMM:
		xs = xsave_of(e);
		if (!xs || id < 0 || id > 15)
			return -EIO;
		memcpy(out, xs + SPP_XS_XMM(id), 16);
		if (c == ZYDIS_REGCLASS_XMM)
			return 16;
		memcpy(out + 16, xs + SPP_XS_YMMH(id), 16);
		return 32;
	default:
		return -EOPNOTSUPP;
	}
}

static uint64_t gpr_value(const struct spp_x86_emu *e, ZydisRegister r)
{
	unsigned int shift;
	/* gpr_of() only finds the slot; nothing is written through it */
	const uint64_t *slot = gpr_of((struct kvm_regs *)&e->s.regs, r, &shift);
	unsigned int bits;
	uint64_t v;

	if (!slot)
		return 0;
	v = *slot >> shift;
	bits = ZydisRegisterGetWidth(ZYDIS_MACHINE_MODE_LONG_64, r);
	return bits >= 64 ? v : v & ((1ULL << bits) - 1);
}

static const ZydisDecodedOperand *find_op(const struct spp_x86_emu *e, bool mem,
					  bool write)
{
	unsigned int i;

	for (i = 0; i < e->insn.operand_count; i++) {
		const ZydisDecodedOperand *op = &e->opnd[i];

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

/* Linear address of memory operand @op. */
static int mem_address(const struct spp_x86_emu *e,
		       const ZydisDecodedOperand *op, uint64_t *lin)
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
	*lin = spp_x86_linear(&e->s, seg_of(op->mem.segment), a);
	return 0;
}

int spp_x86_emu_dest(const struct spp_x86_emu *e, uint64_t *lin, uint32_t *len)
{
	const ZydisDecodedOperand *mem = find_op(e, true, true);
	uint64_t a;
	int ret;

	if (!mem)
		return -ENOENT;
	ret = mem_address(e, mem, &a);
	if (ret)
		return ret;
	if (lin)
		*lin = a;
	if (len)
		*len = mem->size / 8;
	return 0;
}

static int imm_value(const struct spp_x86_emu *e, uint64_t *v)
{
	unsigned int i;

	for (i = 0; i < e->insn.operand_count; i++)
		if (e->opnd[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
			*v = e->opnd[i].imm.value.u;
			return 0;
		}
	return -EOPNOTSUPP;
}

/* The explicit register source operands, in order. */
static unsigned int reg_sources(const struct spp_x86_emu *e, ZydisRegister *r,
				unsigned int max)
{
	unsigned int i, n = 0;

	for (i = 0; i < e->insn.operand_count_visible && n < max; i++)
		if (e->opnd[i].type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    (e->opnd[i].actions & ZYDIS_OPERAND_ACTION_MASK_READ))
			r[n++] = e->opnd[i].reg.value;
	return n;
}

/* ---- computing the store -------------------------------------------- */

static void mark(struct spp_x86_store *st, uint32_t off, uint32_t n)
{
	memset(st->mask + off, 1, n);
}

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
static int build_x87(struct spp_x86_emu *e, struct spp_x86_store *st,
		     enum x87_kind kind, bool pop, const char **why)
{
	uint8_t *xs = xsave_of(e);
	uint16_t fcw, fsw, sw;
	unsigned int top, bytes = st->len;
	uint8_t tmp[16];

	if (!xs)
		return -EIO;
	memcpy(&fcw, xs + SPP_XS_FCW, 2);
	memcpy(&fsw, xs + SPP_XS_FSW, 2);
	top = (fsw >> 11) & 7;
	if (!(xs[SPP_XS_FTW] & (1u << top))) {
		/* stack underflow: invalid operation, stack fault */
		sw = 0x41;
		if (!(fcw & 1)) {
			*why = "x87 stack underflow with the invalid-operation "
			       "exception unmasked";
			return -EOPNOTSUPP;
		}
		x87_indefinite(kind, bytes, st->data);
	} else {
		sw = x87_convert(xs + SPP_XS_ST(0), kind, bytes, fcw, st->data);
		if (sw & 0x3f & ~fcw) {
			*why = "x87 store raising an unmasked exception";
			return -EOPNOTSUPP;
		}
	}
	mark(st, 0, bytes);
	fsw = (uint16_t)((fsw & ~0x0200u) | (sw & 0x0200u) | (sw & 0x7f));
	if (pop) {
		memcpy(tmp, xs + SPP_XS_ST(0), 16);
		memmove(xs + SPP_XS_ST(0), xs + SPP_XS_ST(1), 16 * 7);
		memcpy(xs + SPP_XS_ST(7), tmp, 16);
		xs[SPP_XS_FTW] &= (uint8_t) ~(1u << top);
		fsw = (uint16_t)((fsw & ~0x3800u) | (((top + 1) & 7) << 11));
	}
	memcpy(xs + SPP_XS_FSW, &fsw, 2);
	/* Last instruction and data pointers, opcode. */
	{
		uint16_t fop = (uint16_t)(((e->insn.opcode & 7) << 8) |
					  (e->insn.raw.modrm.mod << 6) |
					  (e->insn.raw.modrm.reg << 3) |
					  e->insn.raw.modrm.rm);
		uint64_t fip = e->s.regs.rip, fdp = st->lin;

		memcpy(xs + SPP_XS_FOP, &fop, 2);
		memcpy(xs + SPP_XS_FIP, &fip, 8);
		memcpy(xs + SPP_XS_FDP, &fdp, 8);
	}
	e->s.xs_dirty = true;
	return 0;
}

/* FXSAVE / FXSAVE64: the legacy region as the CPU writes it. */
static int build_fxsave(struct spp_x86_emu *e, struct spp_x86_store *st,
			bool rex_w, const char **why)
{
	uint8_t *xs = xsave_of(e);
	unsigned int i, nxmm = spp_x86_long_mode(&e->s) ? 16 : 8;

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
		mark(st, SPP_XS_ST(i), 10);
	mark(st, SPP_XS_XMM(0), 16 * nxmm);
	st->masked = true;
	return 0;
}

/* XSAVE / XSAVEOPT (standard format): RFBM = XCR0 & EDX:EAX. */
static int build_xsave(struct spp_x86_emu *e, struct spp_x86_store *st,
		       const char **why)
{
	uint8_t *xs = xsave_of(e);
	uint64_t xcr0, rfbm, bv, xinuse;
	unsigned int i, nxmm = spp_x86_long_mode(&e->s) ? 16 : 8;

	if (!xs)
		return -EIO;
	xcr0 = e->ops && e->ops->xcr0 ? e->ops->xcr0(e->ctx) : 3;
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
			mark(st, SPP_XS_ST(i), 10);
	}
	if (rfbm & 6)
		mark(st, SPP_XS_MXCSR, 8);
	if (rfbm & 2)
		mark(st, SPP_XS_XMM(0), 16 * nxmm);
	if (rfbm & 4)
		mark(st, SPP_XS_YMMH(0), 256);
	/* XSTATE_BV: bits in RFBM say which components are in use. */
	memcpy(&xinuse, xs + SPP_XS_XSTATE_BV, 8);
	memcpy(&bv, st->old + SPP_XS_XSTATE_BV, 8);
	bv = (bv & ~rfbm) | (xinuse & rfbm);
	memcpy(st->data + SPP_XS_XSTATE_BV, &bv, 8);
	mark(st, SPP_XS_XSTATE_BV, 8);
	st->masked = true;
	return 0;
}

/* CMPXCHG8B/16B against the current memory (read under the lock). */
static int build_cmpxchg_wide(struct spp_x86_emu *e, struct spp_x86_store *st,
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
		r->rflags |= SPP_RFLAGS_ZF;
	} else {
		/* The CPU writes the old value back: still a store. */
		memcpy(st->data, st->old, st->len);
		r->rax = half == 8 ? lo : (uint32_t)lo;
		r->rdx = half == 8 ? hi : (uint32_t)hi;
		r->rflags &= ~SPP_RFLAGS_ZF;
	}
	mark(st, 0, st->len);
	e->s.regs_dirty = true;
	return 0;
}

/* MASKMOVDQU, VMASKMOVPS/PD, VPMASKMOVD/Q: only selected elements. */
static int build_masked(struct spp_x86_emu *e, struct spp_x86_store *st,
			unsigned int elem)
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

int spp_x86_emu_store(struct spp_x86_emu *e, struct spp_x86_store *st,
		      const char **why)
{
	const struct row *r = row_of(&e->insn);
	const ZydisDecodedOperand *mem = find_op(e, true, true);
	ZydisRegister src[3];
	uint8_t b[32], *xs;
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
	if (size > SPP_X86_EMU_MAX)
		size = SPP_X86_EMU_MAX;
	nsrc = reg_sources(e, src, 3);
	*why = "no user-space emulation for this instruction";
	if (!r)
		return -EOPNOTSUPP;
	/* With CR4.UMIP, SGDT & co. raise #GP at CPL > 0: never do them. */
	if ((r->flags & SPP_X86_EMU_HANGS) && (e->s.sregs.cr4 & CR4_UMIP) &&
	    (e->s.sregs.cs.selector & 3))
		return -ENOENT;

	switch (r->store) {
	case ST_REG:
		n = nsrc == 1 ? reg_bytes(e, src[0], b) : -EOPNOTSUPP;
		if (n < 0 || (unsigned int)n < size)
			return n < 0 ? n : -EOPNOTSUPP;
		memcpy(st->data, b, size);
		break;
	case ST_REG_HIGH:
		if (nsrc != 1 || reg_bytes(e, src[0], b) < 16 || size != 8)
			return -EOPNOTSUPP;
		memcpy(st->data, b + 8, 8);
		break;
	case ST_EXTRACT:
		if (nsrc != 1 || reg_bytes(e, src[0], b) < 16 ||
		    imm_value(e, &imm) || !size || size > 8)
			return -EOPNOTSUPP;
		idx = (unsigned int)imm & (16 / size - 1);
		memcpy(st->data, b + idx * size, size);
		break;
	case ST_EXTRACT128:
		if (nsrc != 1 || reg_bytes(e, src[0], b) != 32 ||
		    imm_value(e, &imm) || size != 16)
			return -EOPNOTSUPP;
		memcpy(st->data, b + 16 * (imm & 1), 16);
		break;
	case ST_XS_FIELD:
		xs = xsave_of(e);
		if (!xs || size != r->arg2)
			return -EIO;
		memcpy(st->data, xs + r->arg, size);
		break;
	case ST_MOVBE:
		if (nsrc != 1 || reg_bytes(e, src[0], b) < (int)size)
			return -EOPNOTSUPP;
		for (idx = 0; idx < size; idx++)
			st->data[idx] = b[size - 1 - idx];
		break;
	case ST_DTABLE: {
		const struct kvm_dtable *t = r->arg ? &e->s.sregs.idt :
						      &e->s.sregs.gdt;

		st->len = size = spp_x86_long_mode(&e->s) ? 10 : 6;
		memcpy(st->data, &t->limit, 2);
		memcpy(st->data + 2, &t->base, size - 2);
		break;
	}
	case ST_SYSREG16: {
		uint16_t v = r->arg == 0 ? e->s.sregs.ldt.selector :
			     r->arg == 1 ? e->s.sregs.tr.selector :
					   (uint16_t)e->s.sregs.cr0;

		st->len = size = 2;
		memcpy(st->data, &v, 2);
		break;
	}
	case ST_X87:
		return build_x87(e, st, (enum x87_kind)r->arg, r->arg2, why);
	case ST_FXSAVE:
		return build_fxsave(e, st, r->arg, why);
	case ST_XSAVE:
		if (!st->needs_old) {
			st->needs_old = true;
			st->len = 832;
			return 0; /* called again once old is read */
		}
		return build_xsave(e, st, why);
	case ST_CMPXCHG_WIDE:
		if (!st->needs_old) {
			st->needs_old = true;
			return 0;
		}
		return build_cmpxchg_wide(e, st, why);
	case ST_MASKED:
		return build_masked(e, st, r->arg);
	default:
		return -EOPNOTSUPP;
	}
	mark(st, 0, size);
	return 0;
}

int spp_x86_emu_string(const struct spp_x86_emu *e, uint32_t len,
		       struct spp_x86_string *out)
{
	if (!(e->flags & SPP_X86_EMU_STRING) ||
	    !(e->insn.attributes &
	      (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPNE)) ||
	    e->insn.operand_width / 8 != len)
		return -ENOENT;
	out->size = len;
	out->movs = e->flags & SPP_X86_EMU_STRING_SRC;
	out->amask = e->insn.address_width == 64 ? ~0ULL :
		     e->insn.address_width == 32 ? 0xffffffffULL :
						   0xffffULL;
	out->src_seg = SPP_X86_DS;
	if (e->insn.attributes & ZYDIS_ATTRIB_HAS_SEGMENT_FS)
		out->src_seg = SPP_X86_FS;
	else if (e->insn.attributes & ZYDIS_ATTRIB_HAS_SEGMENT_GS)
		out->src_seg = SPP_X86_GS;
	return 0;
}

/* ---- read-modify-writes redone -------------------------------------- */

/*
 * @op applied to @dst and @src of @size bytes on the host's ALU, so the
 * flags are exactly what this CPU produces (as KVM's emulator does).
 * *@flags: in, the guest's RFLAGS; out, with the arithmetic flags the
 * operation defines replaced.
 */
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

static int alu(enum alu_op op, unsigned int size, uint64_t dst, uint64_t src,
	       uint64_t *flags, uint64_t *out)
{
	uint64_t fl = (*flags & ~0x40000ULL) & ~SPP_RFLAGS_ARITH;
	bool bit_op = false;

	fl |= 0x2;
	switch (op) {
	case ALU_ADD:
		ALU_SIZES("add");
		break;
	case ALU_SUB:
		ALU_SIZES("sub");
		break;
	case ALU_AND:
		ALU_SIZES("and");
		break;
	case ALU_OR:
		ALU_SIZES("or");
		break;
	case ALU_XOR:
		ALU_SIZES("xor");
		break;
	case ALU_INC:
		fl |= *flags & SPP_RFLAGS_CF; /* INC/DEC keep CF */
		src = 1;
		ALU_SIZES("add");
		fl = (fl & ~SPP_RFLAGS_CF) | (*flags & SPP_RFLAGS_CF);
		break;
	case ALU_DEC:
		src = 1;
		ALU_SIZES("sub");
		fl = (fl & ~SPP_RFLAGS_CF) | (*flags & SPP_RFLAGS_CF);
		break;
	case ALU_NEG:
		src = dst;
		dst = 0;
		ALU_SIZES("sub");
		break;
	case ALU_NOT:
		dst = ~dst;
		fl = *flags;
		bit_op = true;
		break;
	case ALU_BTS:
	case ALU_BTR:
	case ALU_BTC: {
		uint64_t bit = 1ULL << (src & (size * 8 - 1));

		fl = (*flags & ~SPP_RFLAGS_CF) |
		     ((dst & bit) ? SPP_RFLAGS_CF : 0);
		dst = op == ALU_BTS ? dst | bit :
		      op == ALU_BTR ? dst & ~bit :
				      dst ^ bit;
		bit_op = true;
		break;
	}
	default:
		return -EOPNOTSUPP;
	}
	if (!bit_op)
		fl = (*flags & ~SPP_RFLAGS_ARITH) | (fl & SPP_RFLAGS_ARITH);
	*flags = fl;
	*out = size == 8 ? dst : dst & ((1ULL << (size * 8)) - 1);
	return 0;
}

int spp_x86_emu_rmw_redo(struct spp_x86_emu *e, unsigned int size, uint64_t cur,
			 uint64_t kvm_new, uint64_t *newv)
{
	const struct row *r = row_of(&e->insn);
	struct kvm_regs *regs = &e->s.regs;
	uint64_t d = kvm_new, flags, mask, src = 0, r_after = 0, v = 0;
	ZydisRegister rs[3];
	uint64_t *reg = NULL;
	bool write_reg = false;

	if (!r || !(r->flags & SPP_X86_EMU_RMW) || !size || size > 8 ||
	    (size & (size - 1)))
		return -EOPNOTSUPP;
	mask = size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
	cur &= mask;
	d &= mask;
	flags = regs->rflags;
	/* The register operand, if any (never the memory one); AH..BH are
	 * read but not redone. */
	if (reg_sources(e, rs, 3)) {
		unsigned int shift;
		uint64_t *slot = gpr_of(regs, rs[0], &shift);

		if (slot) {
			r_after = (*slot >> shift) & mask;
			if (!shift)
				reg = slot;
		}
	}

	switch (r->rmw) {
	case RMW_XADD:
		/* KVM: reg = old, d = old + src */
		if (!reg || cur == r_after)
			return 1;
		src = (d - r_after) & mask;
		alu(r->alu, size, cur, src, &flags, &v);
		write_reg = true;
		break;
	case RMW_XCHG:
		/* KVM: reg = old, d = the register's value before */
		if (!reg || cur == r_after)
			return 1;
		v = d;
		write_reg = true;
		break;
	case RMW_CMPXCHG: {
		uint64_t acc = regs->rax & mask;

		if (!(flags & SPP_RFLAGS_ZF)) {
			/* KVM failed the compare and wrote the old value
			 * back: never clobber what is there now. */
			*newv = cur;
			return 0;
		}
		/* KVM succeeded: RAX holds what it compared with. */
		if (cur == acc)
			return 1;
		alu(r->alu, size, acc, cur, &flags, &v);
		v = cur; /* the compare fails now: memory stays */
		/* a 32- or 64-bit write clears the upper half */
		regs->rax = size >= 4 ? cur : (regs->rax & ~mask) | cur;
		break;
	}
	case RMW_CARRY:
		/* the carry it used is gone from RFLAGS: cannot redo */
		return -EAGAIN;
	case RMW_CMPXCHG8B:
		/* KVM does it as one 8-byte write; same rules as CMPXCHG */
		if (!(flags & SPP_RFLAGS_ZF)) {
			v = cur;
			break;
		}
		if (cur == ((regs->rdx << 32) | (uint32_t)regs->rax))
			return 1;
		v = cur;
		regs->rax = (uint32_t)cur;
		regs->rdx = cur >> 32;
		flags &= ~SPP_RFLAGS_ZF;
		break;
	case RMW_ALU: {
		uint64_t imm;

		/* ADD/SUB/AND/OR/XOR/INC/DEC/NEG/NOT/BT*: src unchanged */
		if (!imm_value(e, &imm))
			src = imm & mask;
		else if (reg)
			src = r_after;
		if (alu(r->alu, size, cur, src, &flags, &v))
			return -EOPNOTSUPP;
		if (v == d)
			return 1;
		break;
	}
	default:
		return -EOPNOTSUPP;
	}
	if (write_reg)
		*reg = size >= 4 ? cur : (*reg & ~mask) | cur;
	/* XCHG changes no flag, CMPXCHG8B only ZF */
	if (r->rmw == RMW_CMPXCHG8B)
		regs->rflags = (regs->rflags & ~SPP_RFLAGS_ZF) |
			       (flags & SPP_RFLAGS_ZF);
	else if (r->rmw != RMW_XCHG)
		regs->rflags = (regs->rflags & ~SPP_RFLAGS_ARITH) |
			       (flags & SPP_RFLAGS_ARITH);
	e->s.regs_dirty = true;
	*newv = v;
	return 0;
}
