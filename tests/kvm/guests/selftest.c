// SPDX-License-Identifier: MIT
/*
 * selftest.c - the KVM SPP selftest scene, at CPL3.
 *
 * vCPU 0 switches to CPL3 and then:
 *   sync(1)                  host: protect sub-pages of the selftest page
 *   32 x store32(page + 128 * i, 0x99)
 *   sync(2)                  host: check the page, change the maps
 *   the same 32 stores
 *   sync(3)                  host: check again
 *   exit(0)
 * Every store is one 4-byte `mov`, so each is one trapped write on a
 * protected page. Other vCPUs (if any) exit at once with 0.
 */
#include <spp_guest.h>

#define SUBPAGE_SIZE 128
#define SUBPAGES 32

static void stores(void)
{
	uint64_t i;

	for (i = 0; i < SUBPAGES; i++)
		spp_guest_store32(SPP_LAYOUT_SELFTEST_PAGE + SUBPAGE_SIZE * i,
				  0x99);
}

static void user_main(void *arg)
{
	(void)arg;
	spp_guest_sync(1);
	stores();
	spp_guest_sync(2);
	stores();
	spp_guest_sync(3);
	spp_guest_exit(0);
}

int main(int vcpu, int nvcpus)
{
	(void)nvcpus;
	if (vcpu != 0)
		return 0;
	spp_guest_enter_user(user_main, NULL);
}
