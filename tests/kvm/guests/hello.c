// SPDX-License-Identifier: MIT
/*
 * hello.c - the smallest spp guest: one line on the console, exit 7.
 * Runs at CPL0 (no switch to user mode).
 */
#include <spp_guest.h>

int main(int vcpu, int nvcpus)
{
	(void)vcpu;
	(void)nvcpus;
	spp_guest_puts("hello from the guest\n");
	return 7;
}
