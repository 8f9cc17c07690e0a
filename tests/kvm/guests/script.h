/* SPDX-License-Identifier: MIT */
/*
 * script.h - the "store script" shared by tests/kvm/guests/script.c and
 * the host tests that drive it.
 *
 * Each vCPU i reads its script at SCRIPT_ADDR(i) in the shared area and
 * runs the ops in order at CPL3, each store op as exactly one store
 * instruction of its width. A SYNC op ends the host's run; when the host
 * runs the VM again the vCPU starts its script over from op 0 (the host
 * may have rewritten it). Plain C, used by guest and host.
 */
#ifndef SPP_TEST_SCRIPT_H
#define SPP_TEST_SCRIPT_H

#include <stdint.h>

#include <spp/layout.h>

enum script_kind {
	OP_STORE8 = 1,
	OP_STORE16,
	OP_STORE32,
	OP_STORE64,
	OP_STORE128, /* movdqu of val (low) and val2 (high) */
	OP_MOVQ_XMM, /* movq %xmm0, m64 (66 0F D6): KVM cannot emulate it */
	OP_LOAD64, /* count loads of addr, addr + 8, ...; sum into hdr */
	OP_REP_STOSB, /* count bytes of (uint8_t)val */
	OP_HAMMER, /* store32 of 1, 2, 3, ... at addr until hdr->stop;
		      the last value stored is kept in hdr->progress */
	OP_SPIN, /* spin until hdr->stop (forever if the host never sets
		    it) */
	OP_SYNC, /* spp_guest_sync(val) */
	OP_EXIT, /* spp_guest_exit(val) */
	OP_TRIPLE_FAULT, /* needs CPL0: done by main() before CPL3 */
	OP_PROTECT, /* spp_guest_protect(addr, val): result into hdr->sum */
	OP_FNSAVE, /* fnsave m108: neither KVM nor spp emulates it */
	OP_XCHG64, /* xchg of val with the 8 bytes at addr */
	OP_LOCK_ADD32, /* lock add of (uint32_t)val to the dword at addr */
	OP_LOCK_XADD64, /* lock xadd of val to the qword at addr */
	OP_CMPXCHG64, /* lock cmpxchg of val into addr; count 0: expected is
			 the current value (succeeds), 1: its complement
			 (fails: the CPU writes the old value back) */
	OP_REP_MOVSB, /* count bytes from val2 (a source address) to addr */
	OP_MOVSS, /* movss of (uint32_t)val: an SSE store spp emulates */
	OP_VMOVDQU256, /* vmovdqu ymm of val, val2, ~val, ~val2 (AVX) */
};

struct script_op {
	uint64_t addr;
	uint64_t val;
	uint64_t val2;
	uint32_t kind;
	uint32_t count;
};

struct script {
	volatile uint64_t stop;
	volatile uint64_t sum;
	volatile uint64_t progress;
	volatile uint64_t cpl0_triple_fault; /* main() triple-faults at CPL0 */
	uint32_t nops;
	uint32_t pad;
	struct script_op ops[];
};

/*
 * Bytes a store op of @kind writes: its width, @count for rep stosb and
 * rep movsb; 0 for ops that store nothing of their own.
 */
static inline uint32_t script_store_len(uint32_t kind, uint32_t count)
{
	switch (kind) {
	case OP_STORE8:
		return 1;
	case OP_STORE16:
		return 2;
	case OP_STORE32:
	case OP_LOCK_ADD32:
	case OP_MOVSS:
		return 4;
	case OP_STORE64:
	case OP_MOVQ_XMM:
	case OP_XCHG64:
	case OP_LOCK_XADD64:
	case OP_CMPXCHG64:
		return 8;
	case OP_STORE128:
		return 16;
	case OP_VMOVDQU256:
		return 32;
	case OP_REP_STOSB:
	case OP_REP_MOVSB:
		return count;
	}
	return 0;
}

#define SCRIPT_SLOT_SIZE 0x10000ULL /* 64 KiB per vCPU */
#define SCRIPT_ADDR(i) (SPP_LAYOUT_SHARED + (uint64_t)(i)*SCRIPT_SLOT_SIZE)
#define SCRIPT_MAX_OPS \
	((SCRIPT_SLOT_SIZE - sizeof(struct script)) / sizeof(struct script_op))

#endif /* SPP_TEST_SCRIPT_H */
