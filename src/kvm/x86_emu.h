/* SPDX-License-Identifier: MIT */
/*
 * x86_emu.h - the x86 store decoder/emulator of the kvm layer.
 *
 * Given a vCPU's register state (plain structs: the KVM_GET_REGS and
 * KVM_GET_SREGS layouts, no file descriptor), a small table of accessors
 * for what it may need on demand (instruction bytes at a linear address,
 * the XSAVE image, XCR0) and the instruction, it decodes (Zydis) and
 * computes what the instruction stores: linear address, length, bytes,
 * byte mask, and the register, flag and x87/SSE state changes the CPU
 * makes. It also recomputes a read-modify-write against a newer memory
 * value (spp_x86_emu_rmw_redo). It never judges, writes guest memory or
 * talks to KVM: that is the guard's (emulate.c), which depends on this
 * module and not the other way round.
 *
 * One table in x86_emu.c, one row per mnemonic, says for each
 * instruction how its store is computed, whether KVM spins on it, whether
 * it is a string store and whether (and how) it is a read-modify-write.
 *
 * Internal to libspp; not installed.
 */
#ifndef SPP_X86_EMU_H
#define SPP_X86_EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include <Zydis/Zydis.h>

#pragma GCC visibility push(hidden)

/* Most bytes one emulated store writes (XSAVE with AVX state). */
#define SPP_X86_EMU_MAX 1024

/* Byte offsets in the XSAVE image (standard format; its legacy region
 * is the FXSAVE layout). */
#define SPP_XS_FCW 0
#define SPP_XS_FSW 2
#define SPP_XS_FTW 4
#define SPP_XS_FOP 6
#define SPP_XS_FIP 8
#define SPP_XS_FDP 16
#define SPP_XS_MXCSR 24
#define SPP_XS_ST(i) (32 + 16 * (i))
#define SPP_XS_XMM(i) (160 + 16 * (i))
#define SPP_XS_XSTATE_BV 512
#define SPP_XS_YMMH(i) (576 + 16 * (i))

#define SPP_RFLAGS_CF (1ULL << 0)
#define SPP_RFLAGS_ZF (1ULL << 6)
#define SPP_RFLAGS_DF (1ULL << 10)
#define SPP_RFLAGS_RF (1ULL << 16)
/* CF, PF, AF, ZF, SF, OF */
#define SPP_RFLAGS_ARITH 0x8d5ULL

/* What a row of the table says about an instruction (spp_x86_emu.flags). */
enum {
	SPP_X86_EMU_STORE = 1 << 0, /* spp_x86_emu_store() computes it */
	SPP_X86_EMU_HANGS = 1 << 1, /* KVM spins on it on a trapped page */
	SPP_X86_EMU_STRING = 1 << 2, /* STOS/MOVS */
	SPP_X86_EMU_STRING_SRC = 1 << 3, /* ... MOVS: reads [rSI] */
	SPP_X86_EMU_RMW = 1 << 4, /* reads, modifies, writes memory */
};

/* The segment registers, in the encoding's order. */
enum spp_x86_seg {
	SPP_X86_ES,
	SPP_X86_CS,
	SPP_X86_SS,
	SPP_X86_DS,
	SPP_X86_FS,
	SPP_X86_GS,
};

/* The register state the emulator reads and changes. */
struct spp_x86_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	bool regs_dirty; /* set when the emulator changed regs */
	bool xs_dirty; /* set when it changed the XSAVE image */
};

/*
 * What the emulator asks of its caller, each only when an instruction
 * needs it (@ctx is spp_x86_emu.ctx).
 */
struct spp_x86_emu_ops {
	/* Read @len bytes of guest memory at linear address @lin: 0 or a
	 * negative errno. Only spp_x86_emu_decode() reads (the
	 * instruction's bytes when none are given). */
	int (*read)(void *ctx, uint64_t lin, void *buf, uint32_t len);
	/* The vCPU's XSAVE image (struct kvm_xsave's region, standard
	 * format), which the emulator may change (it then sets
	 * state.xs_dirty); NULL when it cannot be had. */
	uint8_t *(*xsave)(void *ctx);
	/* XCR0 (x87 | SSE, 3, when it cannot be had). */
	uint64_t (*xcr0)(void *ctx);
};

/* One emulator run: the state, the accessors, the decoded instruction. */
struct spp_x86_emu {
	struct spp_x86_state s;
	const struct spp_x86_emu_ops *ops;
	void *ctx;
	/* Filled by the decoders: */
	uint64_t rip_lin; /* linear address of the instruction */
	uint8_t bytes[ZYDIS_MAX_INSTRUCTION_LENGTH];
	uint32_t nbytes;
	unsigned int flags; /* SPP_X86_EMU_* of its table row; 0: none */
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand opnd[ZYDIS_MAX_OPERAND_COUNT];
};

/* What one instruction stores (spp_x86_emu_store). */
struct spp_x86_store {
	uint64_t lin;
	uint32_t len;
	uint8_t data[SPP_X86_EMU_MAX];
	uint8_t mask[SPP_X86_EMU_MAX];
	bool masked; /* only bytes i with mask[i] are written */
	/* Set by a first call: read @len bytes at @lin into @old (under the
	 * caller's lock) and call again; data depends on them. */
	bool needs_old;
	uint8_t old[SPP_X86_EMU_MAX];
};

/* A rep STOS/MOVS (spp_x86_emu_string). */
struct spp_x86_string {
	unsigned int size; /* element bytes */
	bool movs; /* copies from src_seg:rSI */
	uint64_t amask; /* address-size mask of rCX, rSI, rDI */
	enum spp_x86_seg src_seg;
};

/*
 * spp_x86_long_mode() - whether @s is in 64-bit mode (EFER.LMA and CS.L).
 */
bool spp_x86_long_mode(const struct spp_x86_state *s);

/*
 * spp_x86_linear() - the linear address of offset @off in segment @seg:
 * the base added except for ES/CS/SS/DS in 64-bit mode, truncated to 32
 * bits outside it. Limits are not checked.
 */
uint64_t spp_x86_linear(const struct spp_x86_state *s, enum spp_x86_seg seg,
			uint64_t off);

/*
 * spp_x86_emu_decode() - decode the instruction at e->s's RIP in the
 * mode e->s selects: its bytes are @given when @ngiven covers the
 * longest instruction, else read through e->ops->read (up to the end of
 * RIP's page when the next one cannot be read). e->s.regs and e->s.sregs
 * must be filled. Returns 0, -ENOEXEC (not an instruction) or the read's
 * negative errno.
 */
int spp_x86_emu_decode(struct spp_x86_emu *e, const uint8_t *given,
		       uint32_t ngiven);

/*
 * spp_x86_emu_decode64() - decode @bytes as one 64-bit-mode instruction
 * at RIP @rip that is exactly @len bytes long (backward decoding tries
 * every start before a known end). e->s.regs.rip becomes @rip. Returns 0
 * or -ENOEXEC (not an instruction of exactly that length).
 */
int spp_x86_emu_decode64(struct spp_x86_emu *e, const uint8_t *bytes,
			 uint32_t len, uint64_t rip);

/*
 * spp_x86_emu_dest() - the decoded instruction's written memory operand:
 * linear address into @lin and size in bytes into @len (either may be
 * NULL). Returns 0, -ENOENT (it writes no explicit memory operand) or
 * -EOPNOTSUPP (a form without one address: VSIB scatter, MIB).
 */
int spp_x86_emu_dest(const struct spp_x86_emu *e, uint64_t *lin, uint32_t *len);

/*
 * spp_x86_emu_store() - what the decoded instruction stores: fills @st
 * (address, length, data, mask) and applies its side effects to e->s
 * (registers, flags; x87 state in the XSAVE image). Does not advance RIP.
 * When it returns 0 with st->needs_old newly set, the caller reads the
 * st->len bytes at st->lin into st->old and calls it again with the same
 * @st. Returns 0, -ENOENT (it writes no memory, or would fault),
 * -EOPNOTSUPP (*@why says why) or -EIO (the XSAVE image is missing).
 */
int spp_x86_emu_store(struct spp_x86_emu *e, struct spp_x86_store *st,
		      const char **why);

/*
 * spp_x86_emu_string() - for a decoded rep STOS/MOVS whose element is
 * @len bytes: fills @out and returns 0; -ENOENT for anything else.
 */
int spp_x86_emu_string(const struct spp_x86_emu *e, uint32_t len,
		       struct spp_x86_string *out);

/*
 * spp_x86_emu_rmw_redo() - the decoded read-modify-write, executed with
 * e->s as KVM left it after computing @kvm_new (the @size bytes it
 * stored, @size 1, 2, 4 or 8) from a memory value that is now @cur:
 * what it stores when redone against @cur goes to *@newv, and e->s gets
 * the registers and flags it leaves (regs_dirty set when they must be
 * written back). Returns 0 (redo: store *@newv), 1 (KVM's result stands:
 * nothing to do), -EAGAIN (cannot be redone: ADC/SBB, whose carry in is
 * gone) or -EOPNOTSUPP (not a read-modify-write of this kind).
 */
int spp_x86_emu_rmw_redo(struct spp_x86_emu *e, unsigned int size, uint64_t cur,
			 uint64_t kvm_new, uint64_t *newv);

/*
 * spp_x86_emu_same() - whether two decoded instructions do the same
 * operation on the same operands (prefixes aside).
 */
bool spp_x86_emu_same(const struct spp_x86_emu *a, const struct spp_x86_emu *b);

/*
 * spp_x86_emu_format() - the decoded instruction in Intel syntax into
 * @buf (@size bytes, NUL-terminated); "" when nothing is decoded.
 */
void spp_x86_emu_format(const struct spp_x86_emu *e, char *buf, size_t size);

#pragma GCC visibility pop

#endif /* SPP_X86_EMU_H */
