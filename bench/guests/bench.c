// SPDX-License-Identifier: MIT
/*
 * bench.c - the guest of the KVM benchmark: runs the host's commands
 * (bench_abi.h) at CPL3, each store as exactly one store instruction.
 */
#include <spp_guest.h>

#include "bench_abi.h"

static void rep_stosb(uint64_t addr, uint8_t v, uint64_t len)
{
	__asm__ volatile("rep stosb"
			 : "+D"(addr), "+c"(len)
			 : "a"(v)
			 : "memory");
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

static void run_cmd(struct bench_cmd *c)
{
	uint64_t k, j = 0, n = c->n ? c->n : 1, sum = 0;

	switch (c->op) {
	case BENCH_STORE32:
		for (k = 0; k < c->count; k++) {
			spp_guest_store32(c->addr + j * c->stride, (uint32_t)k);
			if (++j == n)
				j = 0;
		}
		break;
	case BENCH_LOAD64:
		for (k = 0; k < c->count; k++) {
			sum += spp_guest_load64(c->addr + j * c->stride);
			if (++j == n)
				j = 0;
		}
		c->sum = sum;
		break;
	case BENCH_REP_STOSB:
		for (k = 0; k < c->count; k++)
			rep_stosb(c->addr, (uint8_t)k, c->len);
		break;
	case BENCH_MEMSET:
		for (k = 0; k < c->count; k++)
			memset((void *)c->addr, (int)k, c->len);
		break;
	case BENCH_HAMMER:
		for (k = 1; !c->stop; k++) {
			spp_guest_store32(c->addr, (uint32_t)k);
			c->progress = k;
		}
		break;
	case BENCH_EXIT:
		spp_guest_exit(0);
	}
}

static void user_main(void *arg)
{
	struct bench_cmd *c = arg;
	volatile uint64_t *done = (volatile uint64_t *)BENCH_DONE_ADDR;
	uint64_t seen = 0;

	for (;;) {
		while (c->seq == seen)
			__asm__ volatile("pause" ::: "memory");
		seen = c->seq;
		c->tsc0 = rdtsc();
		run_cmd(c);
		c->tsc1 = rdtsc();
		if (__atomic_add_fetch(done, 1, __ATOMIC_SEQ_CST) >=
		    (c->nvcpus ? c->nvcpus : 1))
			spp_guest_sync(seen);
	}
}

int main(int vcpu, int nvcpus)
{
	(void)nvcpus;
	spp_guest_enter_user(user_main, (void *)BENCH_CMD_ADDR(vcpu));
}
