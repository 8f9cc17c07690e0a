// SPDX-License-Identifier: MIT
/*
 * selfprot.c - a guest that protects pages of its own (doorbell PROTECT),
 * for the summary tests of "spp run" (tests/tools/test_tools_run.c).
 *
 * vCPU 0, at CPL0: protects sub-page 5 of SELF_PAGE and all of
 * SELF_IDLE_PAGE, then makes one-byte stores: 3 into sub-page 0 of
 * SELF_PAGE (allowed), 2 into its sub-page 5 (denied) and 1 into
 * HOST_PAGE (which the tests protect with --protect HOST_PAGE:0x0).
 * Prints "selfprot: protect N N" with both results (0 when granted) and
 * exits with value 0 (status 1).
 */
#include <spp_guest.h>

#define HOST_PAGE 0x10000000ULL
#define SELF_PAGE 0x10003000ULL
#define SELF_IDLE_PAGE 0x10005000ULL

int main(int vcpu, int nvcpus)
{
	int a, b;

	(void)nvcpus;
	if (vcpu)
		for (;;)
			spp_guest_pause();
	a = spp_guest_protect((const volatile void *)SELF_PAGE, ~(1u << 5));
	b = spp_guest_protect((const volatile void *)SELF_IDLE_PAGE, 0);
	spp_guest_store8(SELF_PAGE, 1);
	spp_guest_store8(SELF_PAGE + 1, 2);
	spp_guest_store8(SELF_PAGE + 2, 3);
	spp_guest_store8(SELF_PAGE + 5 * 128, 4);
	spp_guest_store8(SELF_PAGE + 5 * 128 + 127, 5);
	spp_guest_store8(HOST_PAGE, 6);
	spp_guest_printf("selfprot: protect %d %d\n", a, b);
	spp_guest_exit(0);
}
