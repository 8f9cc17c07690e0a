// SPDX-License-Identifier: MIT
/*
 * sweep.c - stores into every sub-page of two pages, for the tests of
 * "spp run" (tests/tools/test_tools_run.c).
 *
 * vCPU 0, at CPL3: one byte 0xAA at the first and at the last byte of
 * each of the 64 sub-pages of SWEEP_PAGE and SWEEP_PAGE + 4 KiB (128
 * one-byte stores, in address order), then reads them back and prints
 *   "sweep: N of 128 stores landed\n"
 * and exits with value 0 (status 1). Every other vCPU first makes one
 * 4-byte store at SWEEP_VCPU_PAGE + 128 * vcpu, then waits; vCPU 0
 * waits for those before its own stores.
 */
#include <spp_guest.h>

#define SWEEP_PAGE 0x10000000ULL
#define SWEEP_VCPU_PAGE 0x10010000ULL

static volatile uint64_t done;

static void user_main(void *arg)
{
	uint64_t nvcpus = (uint64_t)(uintptr_t)arg, a;
	unsigned int landed = 0;

	while (done + 1 < nvcpus)
		spp_guest_pause();
	for (a = SWEEP_PAGE; a < SWEEP_PAGE + 0x2000; a += 128) {
		spp_guest_store8(a, 0xAA);
		spp_guest_store8(a + 127, 0xAA);
	}
	for (a = SWEEP_PAGE; a < SWEEP_PAGE + 0x2000; a += 128)
		landed += (spp_guest_load8(a) == 0xAA) +
			  (spp_guest_load8(a + 127) == 0xAA);
	spp_guest_printf("sweep: %u of 128 stores landed\n", landed);
	spp_guest_exit(0);
}

static void other_main(void *arg)
{
	uint64_t vcpu = (uint64_t)(uintptr_t)arg;

	spp_guest_store32(SWEEP_VCPU_PAGE + 128 * vcpu, 0x11 * (uint32_t)vcpu);
	spp_guest_atomic_add(&done, 1);
	for (;;)
		spp_guest_pause();
}

int main(int vcpu, int nvcpus)
{
	if (vcpu)
		spp_guest_enter_user(other_main, (void *)(uintptr_t)vcpu);
	spp_guest_enter_user(user_main, (void *)(uintptr_t)nvcpus);
}
