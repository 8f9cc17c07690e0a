/* SPDX-License-Identifier: MIT */
/*
 * spp_guest.h - the guest side of spp's guest ABI (spp/guest_abi.h): a
 * small freestanding library for test guests that spp's VMM runs.
 *
 * A guest program provides
 *   int main(int vcpu, int nvcpus);
 * and links with libspp_guest and guest/guest.ld (installed as an SDK:
 * pkg-config spp-guest, docs/guest-abi.md). The library's _start (CPL0,
 * 64-bit, interrupts off, RSP = that vCPU's stack top) zeroes .bss on
 * vCPU 0 while the other vCPUs wait, calls main() on every vCPU and passes
 * its return value to spp_guest_exit().
 *
 * Guests are identity mapped: a pointer is its own guest-physical address.
 * Every call to the host is one 8-byte store to the MMIO doorbell (an exit
 * at any CPL), so everything here but spp_guest_enter_user() works at CPL0
 * and at CPL3 alike.
 */
#ifndef SPP_GUEST_H
#define SPP_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include <spp/guest_abi.h>
#include <spp/layout.h>

/*
 * Exit value when a function given to spp_guest_enter_user() returns
 * (exit status (0xEE << 1) | 1 = 0x1DD).
 */
#define SPP_GUEST_EXIT_USER_RETURNED 0xEE

/* Result of spp_guest_protect() when the host did not answer. */
#define SPP_GUEST_PROTECT_NO_ANSWER (-38) /* -ENOSYS */

/* The guest program's entry point, called by _start on every vCPU. */
int main(int vcpu, int nvcpus);

/* --- doorbell ----------------------------------------------------------- */

/*
 * spp_guest_doorbell() - one 8-byte store of @arg to the doorbell at
 * offset @op (SPP_DOORBELL_*). The "memory" clobber orders it after every
 * earlier store of the guest, so the host sees what the argument points to.
 */
static inline void spp_guest_doorbell(uint64_t op, uint64_t arg)
{
	__asm__ volatile("movq %0, (%1)"
			 :
			 : "r"(arg), "r"(SPP_LAYOUT_DOORBELL + op)
			 : "memory");
}

/* spp_guest_putc() - one byte to the console. */
void spp_guest_putc(char c);

/*
 * spp_guest_puts() - the NUL-terminated string @s to the console, as is
 * (no newline added). Strings longer than SPP_PUTS_MAX - 1 bytes go out
 * in pieces.
 */
void spp_guest_puts(const char *s);

/*
 * spp_guest_printf() - formatted output through spp_guest_puts().
 * Conversions: %s %c %d %u %x %ld %lu %lx %p %%, nothing else (no width,
 * no flags). Returns the number of bytes written.
 */
int spp_guest_printf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* spp_guest_exit() - end the run with status (@v << 1) | 1. */
__attribute__((noreturn)) void spp_guest_exit(uint64_t v);

/*
 * spp_guest_sync() - return to the host with @v (SPP_VM_SYNC); continues
 * when the host runs the VM again.
 */
void spp_guest_sync(uint64_t v);

/*
 * spp_guest_protect() - add protection to the page holding @addr: its map
 * becomes old & @map (bit i clear = deny writes to sub-page i). Returns 0
 * or the host's negative errno.
 */
int spp_guest_protect(const volatile void *addr, uint32_t map);

/*
 * spp_guest_enter_user() - continue the calling vCPU at CPL3 with fn(arg).
 * Call at CPL0 only. CS/SS become SPP_X86_SEL_UCODE/UDATA, DS/ES
 * SPP_X86_SEL_UDATA, RFLAGS 0x3002 (IOPL 3, IF 0); fn runs on the current
 * stack (below the caller's frame). @fn must not return: if it does, the
 * run ends with spp_guest_exit(SPP_GUEST_EXIT_USER_RETURNED).
 */
__attribute__((noreturn)) void spp_guest_enter_user(void (*fn)(void *),
						    void *arg);

/* spp_guest_cpl() - the current privilege level (CS.RPL). */
static inline unsigned int spp_guest_cpl(void)
{
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}

/* --- stores of one exact instruction, for trapping tests ----------------- */

/* Each emits exactly one `mov` of that width to @addr (a GVA == GPA). */
static inline void spp_guest_store8(uint64_t addr, uint8_t v)
{
	__asm__ volatile("movb %b1, (%0)" : : "r"(addr), "q"(v) : "memory");
}

static inline void spp_guest_store16(uint64_t addr, uint16_t v)
{
	__asm__ volatile("movw %w1, (%0)" : : "r"(addr), "r"(v) : "memory");
}

static inline void spp_guest_store32(uint64_t addr, uint32_t v)
{
	__asm__ volatile("movl %k1, (%0)" : : "r"(addr), "r"(v) : "memory");
}

static inline void spp_guest_store64(uint64_t addr, uint64_t v)
{
	__asm__ volatile("movq %q1, (%0)" : : "r"(addr), "r"(v) : "memory");
}

/* Loads of one exact instruction (reads never trap; for checking). */
static inline uint8_t spp_guest_load8(uint64_t addr)
{
	uint8_t v;

	__asm__ volatile("movb (%1), %b0" : "=q"(v) : "r"(addr) : "memory");
	return v;
}

static inline uint32_t spp_guest_load32(uint64_t addr)
{
	uint32_t v;

	__asm__ volatile("movl (%1), %k0" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

static inline uint64_t spp_guest_load64(uint64_t addr)
{
	uint64_t v;

	__asm__ volatile("movq (%1), %q0" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

/* spp_guest_rep_stosb() - one `rep stosb`: @len bytes of @byte at @addr. */
static inline void spp_guest_rep_stosb(uint64_t addr, uint8_t byte,
				       uint64_t len)
{
	__asm__ volatile("rep stosb"
			 : "+D"(addr), "+c"(len)
			 : "a"(byte)
			 : "memory");
}

/*
 * spp_guest_atomic_add() - one `lock xadd`: *@p += @v, returns the old
 * value. Usable as a counter shared by vCPUs and the host.
 */
static inline uint64_t spp_guest_atomic_add(volatile uint64_t *p, uint64_t v)
{
	__asm__ volatile("lock xaddq %0, %1" : "+r"(v), "+m"(*p) : : "memory");
	return v;
}

/* spp_guest_pause() - spin-wait hint. */
static inline void spp_guest_pause(void)
{
	__asm__ volatile("pause" : : : "memory");
}

/* --- freestanding string functions (the compiler may call them too) ----- */

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif /* SPP_GUEST_H */
