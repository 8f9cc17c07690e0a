// SPDX-License-Identifier: MIT
/*
 * spin.c - prints "spinning\n" and spins at CPL3 forever, storing into
 * SPIN_PAGE now and then: for --timeout and signal tests.
 */
#include <spp_guest.h>

#define SPIN_PAGE 0x10000000ULL

static void user_main(void *arg)
{
	uint64_t i;

	(void)arg;
	spp_guest_puts("spinning\n");
	for (i = 0;; i++) {
		if (!(i & 0xfffff))
			spp_guest_store64(SPIN_PAGE, i);
		spp_guest_pause();
	}
}

int main(int vcpu, int nvcpus)
{
	(void)nvcpus;
	if (vcpu)
		for (;;)
			spp_guest_pause();
	spp_guest_enter_user(user_main, NULL);
}
