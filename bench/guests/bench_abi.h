/* SPDX-License-Identifier: MIT */
/*
 * bench_abi.h - the command mailbox shared by bench/guests/bench.c and
 * the KVM benchmark (bench/bench_kvm.c). Plain C, used by guest and host.
 *
 * vCPU i reads its command at BENCH_CMD_ADDR(i). The host writes a
 * command with a new @seq and runs the VM; every vCPU whose command has a
 * new seq runs it at CPL3, then adds one to BENCH_DONE; the vCPU that
 * makes it reach the number of vCPUs given in the command syncs with the
 * seq (spp_guest_sync), the others spin until their seq changes.
 */
#ifndef SPP_BENCH_ABI_H
#define SPP_BENCH_ABI_H

#include <stdint.h>

#include <spp/layout.h>

enum bench_op {
	BENCH_NOP = 0,
	BENCH_STORE32, /* count x one 4-byte mov to addr + (k % n) * stride */
	BENCH_LOAD64, /* count x one 8-byte load of addr + (k % n) * stride */
	BENCH_REP_STOSB, /* count x rep stosb of len bytes at addr */
	BENCH_MEMSET, /* count x memset(addr, k, len) (guest library) */
	BENCH_HAMMER, /* store32 to addr (1, 2, ...) until stop is set */
	BENCH_EXIT,
};

struct bench_cmd {
	volatile uint64_t seq;
	uint64_t op;
	uint64_t addr;
	uint64_t count;
	uint64_t n; /* 0 or 1: always addr */
	uint64_t stride;
	uint64_t len;
	uint64_t nvcpus; /* vCPUs taking part in this command */
	volatile uint64_t stop; /* BENCH_HAMMER */
	volatile uint64_t progress; /* BENCH_HAMMER: stores so far */
	volatile uint64_t sum; /* BENCH_LOAD64 */
	volatile uint64_t tsc0, tsc1; /* guest TSC before and after */
};

#define BENCH_DONE_ADDR SPP_LAYOUT_SHARED /* uint64_t, atomic */
#define BENCH_CMD_STRIDE 0x1000ULL
#define BENCH_CMD_ADDR(i) \
	(SPP_LAYOUT_SHARED + 0x1000ULL + (uint64_t)(i)*BENCH_CMD_STRIDE)

#endif /* SPP_BENCH_ABI_H */
