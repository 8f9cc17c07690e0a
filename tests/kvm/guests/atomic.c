// SPDX-License-Identifier: MIT
/*
 * atomic.c - every vCPU hammers the counters of atomic.h at CPL3 with
 * locked read-modify-writes; vCPU 0 exits once all are done.
 */
#include <spp_guest.h>

#include "atomic.h"

static int nvcpus_total;

static uint64_t xadd(volatile uint64_t *p, uint64_t v)
{
	__asm__ volatile("lock xaddq %0, %1" : "+r"(v), "+m"(*p) : : "memory");
	return v;
}

static int cas(volatile uint64_t *p, uint64_t old, uint64_t new)
{
	uint8_t ok;

	__asm__ volatile("lock cmpxchgq %3, %1\n\tsete %0"
			 : "=q"(ok), "+m"(*p), "+a"(old)
			 : "r"(new)
			 : "memory", "cc");
	return ok;
}

static uint32_t xchg(volatile uint32_t *p, uint32_t v)
{
	__asm__ volatile("xchgl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
	return v;
}

static void user_main(void *arg)
{
	struct atomic_box *box = (struct atomic_box *)ATOMIC_BOX;
	volatile struct atomic_counters *c =
		(volatile struct atomic_counters *)ATOMIC_PAGE;
	uint64_t i, n = box->iterations, sum = 0, v;
	int vcpu = (int)(uintptr_t)arg, k;

	for (i = 0; i < n; i++) {
		sum += xadd(&c->xadd_ctr, 1);
		do
			v = c->cas_ctr;
		while (!cas(&c->cas_ctr, v, v + 1));
		while (xchg(&c->lock, 1))
			spp_guest_pause();
		c->locked_ctr = c->locked_ctr + 1;
		xchg(&c->lock, 0);
		__asm__ volatile("lock incl %0"
				 : "+m"(c->inc_ctr)
				 :
				 : "memory");
		__asm__ volatile("lock addq $3, %0"
				 : "+m"(c->add_ctr)
				 :
				 : "memory");
	}
	box->xadd_sum[vcpu] = sum;
	box->done[vcpu] = 1;
	if (vcpu)
		for (;;)
			spp_guest_pause();
	for (k = 0; k < nvcpus_total; k++)
		while (!box->done[k])
			spp_guest_pause();
	spp_guest_exit(0);
}

int main(int vcpu, int nvcpus)
{
	nvcpus_total = nvcpus;
	spp_guest_enter_user(user_main, (void *)(uintptr_t)vcpu);
}
