// SPDX-License-Identifier: MIT
/*
 * probe.c - the guest of "spp info": spins a register loop as often as
 * the host asks, first at CPL0, then at CPL3, so the host can time both.
 * On hosts where KVM runs guest CPL0 code by emulation (kvm_pvm), CPL0 is
 * about 1000 times slower than CPL3.
 *
 * Protocol (struct probe_mbox at SPP_LAYOUT_SHARED): the guest syncs;
 * the host writes cmd and iters, runs the VM again and times it until
 * the next sync.
 */
#include <spp_guest.h>

#include "probe_guest.h"

static void spin(uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		__asm__ volatile("" : "+r"(i));
}

/* Returns when the host asks for CPL3. */
static void serve(void)
{
	volatile struct probe_mbox *m = (void *)PROBE_MBOX;

	for (;;) {
		spp_guest_sync(PROBE_READY);
		switch (m->cmd) {
		case PROBE_LOOP:
			spin(m->iters);
			break;
		case PROBE_USER:
			return;
		default:
			spp_guest_exit(0);
		}
	}
}

static void user_main(void *arg)
{
	(void)arg;
	serve();
	spp_guest_exit(0);
}

int main(int vcpu, int nvcpus)
{
	(void)nvcpus;
	if (vcpu != 0)
		for (;;)
			spp_guest_pause();
	serve();
	spp_guest_enter_user(user_main, NULL);
}
