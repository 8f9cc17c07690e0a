/* SPDX-License-Identifier: MIT */
/*
 * atomic.h - the atomic counter guest (guests/atomic.c) and its host test
 * (test_kvm_atomic.c). Every vCPU does box.iterations rounds of: lock
 * xadd +1 on xadd_ctr (adding up the old values it gets back), a lock
 * cmpxchg loop +1 on cas_ctr, an xchg spin lock around a plain +1 of
 * locked_ctr, lock inc of inc_ctr and lock add 3 of add_ctr. The counters
 * live in writable sub-pages of a page the host protects.
 */
#ifndef SPP_TEST_ATOMIC_H
#define SPP_TEST_ATOMIC_H

#include <stdint.h>

#include <spp/layout.h>

#define ATOMIC_BOX SPP_LAYOUT_SHARED
#define ATOMIC_PAGE (SPP_LAYOUT_SHARED + 0x40000ULL)
#define ATOMIC_MAP 0x7fffffffu /* sub-page 31 denied: the page traps */

struct atomic_counters {
	uint64_t xadd_ctr;
	uint64_t pad0[15];
	uint64_t cas_ctr; /* next sub-page */
	uint64_t pad1[15];
	uint32_t lock;
	uint32_t pad2;
	uint64_t locked_ctr;
	uint64_t pad3[14];
	uint32_t inc_ctr;
	uint32_t pad4;
	uint64_t add_ctr;
};

struct atomic_box {
	volatile uint64_t iterations;
	volatile uint64_t xadd_sum[SPP_LAYOUT_MAX_VCPUS];
	volatile uint64_t done[SPP_LAYOUT_MAX_VCPUS];
};

#endif /* SPP_TEST_ATOMIC_H */
