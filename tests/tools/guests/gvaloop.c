// SPDX-License-Identifier: MIT
/*
 * gvaloop.c - vCPU 0 at CPL3 stores a counter into 0x10000290 (sub-page
 * 5 of 0x10000000) and 0x10000200 (sub-page 4) until a store to the
 * first does not land: then it checks that memory there still holds the
 * value before that store and that the neighbour's store of the same
 * round went through, prints "gvaloop: denied after N rounds, neighbour
 * ok" and exits 0 (status 1), or exits 1 (status 3) when either check
 * fails. For protect-gva through spp run's options and its control
 * socket (identity-mapped: the GVA is the GPA).
 */
#include <spp_guest.h>

#define TARGET 0x10000290ULL
#define NEIGHBOUR 0x10000200ULL

static void user_main(void *arg)
{
	uint64_t i, before;

	(void)arg;
	for (i = 1;; i++) {
		before = spp_guest_load64(TARGET);
		spp_guest_store64(NEIGHBOUR, i);
		spp_guest_store64(TARGET, i);
		if (spp_guest_load64(TARGET) == i) {
			spp_guest_pause();
			continue;
		}
		if (spp_guest_load64(TARGET) != before ||
		    spp_guest_load64(NEIGHBOUR) != i) {
			spp_guest_puts("gvaloop: the protected bytes changed "
				       "or the neighbour's store was lost\n");
			spp_guest_exit(1);
		}
		spp_guest_printf("gvaloop: denied after %lu rounds, "
				 "neighbour ok\n",
				 (unsigned long)i);
		spp_guest_exit(0);
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
