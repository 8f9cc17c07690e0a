// SPDX-License-Identifier: MIT
/*
 * chaos.c - runs host-written random bytes (chaos.h) at CPL0 or CPL3,
 * with general registers the host chose (mostly pointers into a
 * protected page, so random stores hit it).
 */
#include <spp_guest.h>

#include "chaos.h"

_Static_assert(__builtin_offsetof(struct chaos_ctl, regs) == 8, "regs");
_Static_assert(__builtin_offsetof(struct chaos_ctl, entry) == 128, "entry");

__attribute__((noreturn)) static void jump(void *arg)
{
	(void)arg;
	__asm__ volatile("mov %0, %%r15\n\t"
			 "mov 8(%%r15), %%rax\n\t"
			 "mov 16(%%r15), %%rbx\n\t"
			 "mov 24(%%r15), %%rcx\n\t"
			 "mov 32(%%r15), %%rdx\n\t"
			 "mov 40(%%r15), %%rsi\n\t"
			 "mov 48(%%r15), %%rdi\n\t"
			 "mov 56(%%r15), %%rbp\n\t"
			 "mov 64(%%r15), %%r8\n\t"
			 "mov 72(%%r15), %%r9\n\t"
			 "mov 80(%%r15), %%r10\n\t"
			 "mov 88(%%r15), %%r11\n\t"
			 "mov 96(%%r15), %%r12\n\t"
			 "mov 104(%%r15), %%r13\n\t"
			 "mov 112(%%r15), %%r14\n\t"
			 "pushq 128(%%r15)\n\t"
			 "mov 120(%%r15), %%r15\n\t"
			 "ret"
			 :
			 : "i"(CHAOS_CTL)
			 : "memory");
	__builtin_unreachable();
}

int main(int vcpu, int nvcpus)
{
	const struct chaos_ctl *c = (const struct chaos_ctl *)CHAOS_CTL;

	(void)nvcpus;
	if (vcpu != 0)
		for (;;)
			spp_guest_pause();
	if (c->cpl == 3)
		spp_guest_enter_user(jump, 0);
	jump(0);
}
