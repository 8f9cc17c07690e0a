// SPDX-License-Identifier: MIT
/*
 * demo.c - the guest of "spp demo" (embedded in the spp binary).
 *
 * vCPU 0 switches to CPL3 and plays two scenes; the host (tools/spp/demo.c)
 * acts at each sync:
 *
 * scene 1, the KVM SPP selftest (page DEMO_PAGE1):
 *   sync(1)   host: map 0x0 (whole page write-protected)
 *   32 x store32(page + 128 * i, 0x99)          -> 32 events, all dropped
 *   sync(2)   host: page still zero? map 0xFFFFFFFF
 *   the same 32 stores                          -> land, no event
 *   sync(3)   host: the 0x99s are there?
 *
 * scene 2, a 128-byte structure (sub-page 5 of DEMO_PAGE2) between hot
 * counters in sub-pages 4 and 6:
 *   the guest fills the structure, sync(4)      host: deny sub-page 5
 *   DEMO_HOT_ROUNDS x (counter A++, counter B++) -> allowed, committed
 *   an attack: a 4-byte store into the structure, an 8-byte store
 *   straddling sub-pages 4 and 5, a byte at the structure's last byte
 *                                               -> 3 events, dropped
 *   the guest reads everything back and prints it
 *   sync(5)   host: checks the structure and its neighbours
 *   exit(0)
 */
#include <spp_guest.h>

#include "demo_guest.h"

static void stores(void)
{
	uint64_t i;

	for (i = 0; i < 32; i++)
		spp_guest_store32(DEMO_PAGE1 + 128 * i, 0x99);
}

static void scene2(void)
{
	uint64_t s = DEMO_PAGE2 + DEMO_STRUCT_OFF;
	uint64_t a = DEMO_PAGE2 + DEMO_HOT_A_OFF;
	uint64_t b = DEMO_PAGE2 + DEMO_HOT_B_OFF;
	unsigned int i;

	spp_guest_store32(s + DEMO_UID_OFF, DEMO_UID);
	spp_guest_store32(s + DEMO_GID_OFF, DEMO_UID);
	spp_guest_store64(s + DEMO_CAPS_OFF, DEMO_CAPS);
	spp_guest_store8(s + 127, DEMO_TAIL);
	spp_guest_sync(4);

	for (i = 0; i < DEMO_HOT_ROUNDS; i++) {
		spp_guest_store64(a, spp_guest_load64(a) + 1);
		spp_guest_store64(b, spp_guest_load64(b) + 1);
	}
	spp_guest_store32(s + DEMO_UID_OFF, 0); /* become root */
	spp_guest_store64(s - 4, 0); /* straddles sub-pages 4 and 5 */
	spp_guest_store8(s + 127, 0xff);

	spp_guest_printf("guest: counters A=%lu B=%lu, uid=%u gid=%u, "
			 "caps=0x%lx, bytes around the structure: %x %x\n",
			 spp_guest_load64(a), spp_guest_load64(b),
			 spp_guest_load32(s + DEMO_UID_OFF),
			 spp_guest_load32(s + DEMO_GID_OFF),
			 spp_guest_load64(s + DEMO_CAPS_OFF),
			 spp_guest_load32(s - 4), spp_guest_load8(s + 127));
	spp_guest_sync(5);
}

static void user_main(void *arg)
{
	unsigned int sync;

	(void)arg;
	/* scene 1, the KVM SPP selftest: the stores denied (the host set
	 * map 0 at sync 1), then allowed (map back to full at sync 2) */
	for (sync = 1; sync <= 2; sync++) {
		spp_guest_sync(sync);
		stores();
	}
	spp_guest_sync(3);
	scene2();
	spp_guest_exit(0);
}

int main(int vcpu, int nvcpus)
{
	(void)nvcpus;
	while (vcpu != 0) /* one vCPU plays the scenes */
		spp_guest_pause();
	spp_guest_enter_user(user_main, NULL);
}
