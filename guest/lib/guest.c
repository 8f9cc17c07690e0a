// SPDX-License-Identifier: MIT
/*
 * guest.c - doorbell calls and the switch to CPL3 (spp_guest.h).
 */
#include <spp_guest.h>
#include <spp/x86.h>

void spp_guest_putc(char c)
{
	spp_guest_doorbell(SPP_DOORBELL_PUTC, (uint8_t)c);
}

void spp_guest_puts(const char *s)
{
	char chunk[256];
	size_t len = strlen(s);

	/* The host reads at most SPP_PUTS_MAX bytes, NUL included. */
	while (len >= SPP_PUTS_MAX) {
		memcpy(chunk, s, sizeof(chunk) - 1);
		chunk[sizeof(chunk) - 1] = '\0';
		spp_guest_doorbell(SPP_DOORBELL_PUTS, (uintptr_t)chunk);
		s += sizeof(chunk) - 1;
		len -= sizeof(chunk) - 1;
	}
	if (len)
		spp_guest_doorbell(SPP_DOORBELL_PUTS, (uintptr_t)s);
}

void spp_guest_exit(uint64_t v)
{
	/* The host ends the run; should it resume us, ask again. */
	for (;;)
		spp_guest_doorbell(SPP_DOORBELL_EXIT, v);
}

void spp_guest_sync(uint64_t v)
{
	spp_guest_doorbell(SPP_DOORBELL_SYNC, v);
}

int spp_guest_protect(const volatile void *addr, uint32_t map)
{
	volatile struct spp_protect_req req = {
		.gpa = (uintptr_t)addr,
		.map = map,
		.result = SPP_GUEST_PROTECT_NO_ANSWER,
	};

	spp_guest_doorbell(SPP_DOORBELL_PROTECT, (uintptr_t)&req);
	return req.result;
}

/*
 * First function at CPL3. Entered by iretq with RSP = 8 mod 16, as if
 * called, and with @fn and @arg still in RDI and RSI.
 */
static __attribute__((noreturn, used)) void user_entry(void (*fn)(void *),
						       void *arg)
{
	fn(arg);
	spp_guest_exit(SPP_GUEST_EXIT_USER_RETURNED);
}

void spp_guest_enter_user(void (*fn)(void *), void *arg)
{
	/*
	 * The iretq frame: SS, RSP, RFLAGS, CS, RIP. The CPL3 stack starts
	 * just below the current one, aligned like a function entry; its
	 * "return address" slot is never used.
	 */
	__asm__ volatile(
		"movl %[ds], %%eax\n\t"
		"movl %%eax, %%ds\n\t"
		"movl %%eax, %%es\n\t"
		"movq %%rsp, %%rax\n\t"
		"andq $-16, %%rax\n\t"
		"subq $8, %%rax\n\t"
		"pushq %[ss]\n\t"
		"pushq %%rax\n\t"
		"pushq %[rflags]\n\t"
		"pushq %[cs]\n\t"
		"pushq %[rip]\n\t"
		"iretq"
		:
		: [ds] "i"(SPP_X86_SEL_UDATA), [ss] "i"(SPP_X86_SEL_UDATA),
		  [rflags] "i"(SPP_X86_RFLAGS_INIT),
		  [cs] "i"(SPP_X86_SEL_UCODE), [rip] "i"(user_entry), "D"(fn),
		  "S"(arg)
		: "rax", "memory");
	__builtin_unreachable();
}
