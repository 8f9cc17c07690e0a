// SPDX-License-Identifier: MIT
/*
 * fault.c - a guest that faults at CPL3: it reads the GDT, a
 * supervisor-only page, which raises #PF (vector 14) with error code 5
 * (present, user, read) and CR2 = SPP_LAYOUT_GDT. spp's exception stub
 * reports it through the EXCEPTION doorbell. Should the read succeed, the
 * guest exits with FAULT_MISSED instead.
 */
#include <spp_guest.h>

#define FAULT_MISSED 0x4D

static void user_main(void *arg)
{
	(void)arg;
	spp_guest_puts("fault: reading the GDT from CPL3\n");
	spp_guest_load64(SPP_LAYOUT_GDT);
	spp_guest_exit(FAULT_MISSED);
}

int main(int vcpu, int nvcpus)
{
	(void)nvcpus;
	if (vcpu != 0)
		return 0;
	spp_guest_enter_user(user_main, NULL);
}
