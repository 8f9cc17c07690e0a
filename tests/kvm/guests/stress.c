// SPDX-License-Identifier: MIT
/*
 * stress.c - every vCPU hammers protected, toggled and plain words at CPL3
 * (stress.h) while the host changes the maps under it.
 */
#include <spp_guest.h>

#include "stress.h"

static inline void incq(uint64_t addr)
{
	__asm__ volatile("incq (%0)" : : "r"(addr) : "memory");
}

static void user_main(void *arg)
{
	struct stress_ctl *c = (struct stress_ctl *)STRESS_CTL;
	uint64_t i = (uint64_t)arg, n, iters = c->iters;

	for (n = 1; n <= iters; n++) {
		incq(STRESS_P0 + 128 * i);
		spp_guest_store64(STRESS_P0 + 128 * (8 + i), n);
		spp_guest_store64(STRESS_P0 + 128 * (16 + i), n);
		incq(STRESS_P1 + 128 * (1 + i));
		spp_guest_store64(STRESS_P1 + 128 * (20 + i), n);
		incq(STRESS_P2 + 128 * i);
		incq(STRESS_PLAIN + 8 * i);
		c->done[i] = n;
	}
	for (;;)
		spp_guest_pause();
}

int main(int vcpu, int nvcpus)
{
	(void)nvcpus;
	if (vcpu >= STRESS_MAX_VCPUS)
		for (;;)
			spp_guest_pause();
	spp_guest_enter_user(user_main, (void *)(uint64_t)vcpu);
}
