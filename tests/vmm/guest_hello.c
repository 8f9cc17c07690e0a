// SPDX-License-Identifier: MIT
/*
 * guest_hello.c - a tiny freestanding x86-64 guest program, built at
 * build time as a static non-PIE ELF at 0x400000, loaded by test_elf_load.
 * It prints "hello" on the debug console (port 0xE9) and exits with value
 * 0 through the exit port (0xF4). It has text, read-only data, data and
 * bss, so the loader's copy and zero-fill both show.
 */
#include <stdint.h>

static const char msg[] = "hello\n";
volatile uint32_t guest_counter = 0x5350505F; /* data: "_PPS" */
volatile uint8_t guest_bss[8192]; /* bss: must read as zero */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

void _start(void);

__attribute__((noreturn)) void _start(void)
{
	const char *p;

	for (p = msg; *p; p++)
		outb(0xE9, (uint8_t)*p);
	guest_counter += guest_bss[0];
	outb(0xF4, 0);
	for (;;)
		__asm__ volatile("hlt");
}
