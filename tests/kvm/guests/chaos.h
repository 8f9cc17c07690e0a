/* SPDX-License-Identifier: MIT */
/*
 * chaos.h - the control block of tests/kvm/guests/chaos.c, filled by
 * tests/kvm/test_kvm_chaos.c before the first run.
 *
 * vCPU 0 loads RAX..R14 from @regs (R15 last), then jumps to @entry (in
 * the CHAOS_CODE area the host filled with random bytes) at CPL0, or at
 * CPL3 when @cpl is 3. Other vCPUs spin. RSP stays the vCPU's stack.
 */
#ifndef SPP_TEST_CHAOS_H
#define SPP_TEST_CHAOS_H

#include <stdint.h>

#include <spp/layout.h>

#define CHAOS_CTL SPP_LAYOUT_SHARED
#define CHAOS_CODE (SPP_LAYOUT_SHARED + 0x1000)
#define CHAOS_CODE_SIZE 0x1000ULL
#define CHAOS_TARGET 0x800000ULL /* the protected page (8 MiB) */

/* rax rbx rcx rdx rsi rdi rbp r8 .. r15 */
#define CHAOS_NREGS 15

struct chaos_ctl {
	uint64_t cpl;
	uint64_t regs[CHAOS_NREGS]; /* offsets 8 .. 120 */
	uint64_t entry; /* offset 128 */
};

#endif /* SPP_TEST_CHAOS_H */
