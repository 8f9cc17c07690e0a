// SPDX-License-Identifier: MIT
/*
 * script.c - runs the host's store script (script.h) at CPL3, one per vCPU.
 */
#include <spp_guest.h>

#include "script.h"

static void store128(uint64_t addr, uint64_t lo, uint64_t hi)
{
	uint64_t v[2] = { lo, hi };

	__asm__ volatile("movdqu (%1), %%xmm0\n\tmovdqu %%xmm0, (%0)"
			 :
			 : "r"(addr), "r"(v)
			 : "xmm0", "memory");
}

static void movq_xmm(uint64_t addr, uint64_t val)
{
	__asm__ volatile("movq %1, %%xmm0\n\tmovq %%xmm0, (%0)"
			 :
			 : "r"(addr), "r"(val)
			 : "xmm0", "memory");
}

static void run_op(struct script *s, const struct script_op *op)
{
	uint64_t i, sum = 0;

	switch (op->kind) {
	case OP_STORE8:
		spp_guest_store8(op->addr, (uint8_t)op->val);
		break;
	case OP_STORE16:
		spp_guest_store16(op->addr, (uint16_t)op->val);
		break;
	case OP_STORE32:
		spp_guest_store32(op->addr, (uint32_t)op->val);
		break;
	case OP_STORE64:
		spp_guest_store64(op->addr, op->val);
		break;
	case OP_STORE128:
		store128(op->addr, op->val, op->val2);
		break;
	case OP_MOVQ_XMM:
		movq_xmm(op->addr, op->val);
		break;
	case OP_LOAD64:
		for (i = 0; i < op->count; i++)
			sum += spp_guest_load64(op->addr + 8 * (i % 512));
		s->sum += sum;
		break;
	case OP_REP_STOSB:
		spp_guest_rep_stosb(op->addr, (uint8_t)op->val, op->count);
		break;
	case OP_HAMMER:
		for (i = 1; !s->stop; i++) {
			spp_guest_store32(op->addr, (uint32_t)i);
			s->progress = i;
		}
		break;
	case OP_SPIN:
		while (!s->stop)
			spp_guest_pause();
		break;
	case OP_SYNC:
		spp_guest_sync(op->val);
		break;
	case OP_XCHG64: {
		uint64_t v = op->val;

		__asm__ volatile("xchgq %0, (%1)"
				 : "+r"(v)
				 : "r"(op->addr)
				 : "memory");
		break;
	}
	case OP_LOCK_ADD32:
		__asm__ volatile("lock addl %1, (%0)"
				 :
				 : "r"(op->addr), "r"((uint32_t)op->val)
				 : "memory", "cc");
		break;
	case OP_LOCK_XADD64: {
		uint64_t v = op->val;

		__asm__ volatile("lock xaddq %0, (%1)"
				 : "+r"(v)
				 : "r"(op->addr)
				 : "memory", "cc");
		break;
	}
	case OP_CMPXCHG64: {
		uint64_t old = spp_guest_load64(op->addr);

		if (op->count)
			old = ~old;
		__asm__ volatile("lock cmpxchgq %2, (%1)"
				 : "+a"(old)
				 : "r"(op->addr), "r"(op->val)
				 : "memory", "cc");
		break;
	}
	case OP_REP_MOVSB: {
		uint64_t d = op->addr, src = op->val2, n = op->count;

		__asm__ volatile("rep movsb"
				 : "+D"(d), "+S"(src), "+c"(n)
				 :
				 : "memory");
		break;
	}
	case OP_MOVSS:
		__asm__ volatile("movd %1, %%xmm1\n\tmovss %%xmm1, (%0)"
				 :
				 : "r"(op->addr), "r"((uint32_t)op->val)
				 : "xmm1", "memory");
		break;
	case OP_VMOVDQU256: {
		uint64_t v[4] = { op->val, op->val2, ~op->val, ~op->val2 };

		__asm__ volatile("vmovdqu (%1), %%ymm2\n\tvmovdqu %%ymm2, (%0)"
				 :
				 : "r"(op->addr), "r"(v)
				 : "xmm2", "memory");
		break;
	}
	case OP_FNSAVE:
		__asm__ volatile("fnsave (%0)" : : "r"(op->addr) : "memory");
		break;
	case OP_PROTECT:
		s->sum = (uint64_t)(int64_t)spp_guest_protect(
			(const volatile void *)op->addr, (uint32_t)op->val);
		break;
	case OP_EXIT:
		spp_guest_exit(op->val);
	default:
		spp_guest_exit(0x7F); /* a script the guest does not know */
	}
}

static void user_main(void *arg)
{
	struct script *s = arg;
	uint32_t k;

	for (;;)
		for (k = 0; k < s->nops && k < SCRIPT_MAX_OPS; k++)
			run_op(s, &s->ops[k]);
}

int main(int vcpu, int nvcpus)
{
	struct script *s = (struct script *)SCRIPT_ADDR(vcpu);
	static const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) no_idt = { 0, 0 };

	(void)nvcpus;
	if (s->cpl0_triple_fault) {
		/* No IDT: #UD cannot be delivered -> #GP -> #DF -> shutdown. */
		__asm__ volatile("lidt %0\n\tud2" : : "m"(no_idt));
	}
	spp_guest_enter_user(user_main, s);
}
