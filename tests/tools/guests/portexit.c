// SPDX-License-Identifier: MIT
/*
 * portexit.c - QEMU's debug ports at CPL0: "port console\n" out of port
 * 0xE9, then value 21 out of port 0xF4 (isa-debug-exit): status 43.
 */
#include <spp_guest.h>

static void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

int main(int vcpu, int nvcpus)
{
	const char *s = "port console\n";

	(void)nvcpus;
	if (vcpu)
		for (;;)
			spp_guest_pause();
	while (*s)
		outb(SPP_LAYOUT_PORT_CONSOLE, (uint8_t)*s++);
	outb(SPP_LAYOUT_PORT_EXIT, 21);
	return 0x7f; /* not reached */
}
