/* SPDX-License-Identifier: MIT */
/*
 * stress.h - the control block shared by tests/kvm/guests/stress.c and
 * tests/kvm/test_kvm_stress.c.
 *
 * Every vCPU i runs @iters rounds at CPL3. Round n (1..iters):
 *   incq  P0 + 128 * i          own word in an allowed sub-page of P0
 *   movq  n -> P0 + 128 * (8 + i)   a sub-page the host never allows
 *   movq  n -> P0 + 128 * (16 + i)  a sub-page the host toggles
 *   incq  P1 + 128 * (1 + i)    own word in an allowed sub-page of P1, a
 *                               page the host protects and unprotects
 *   movq  n -> P1 + 128 * (20 + i)  denied while P1 is protected
 *   incq  P2 + 128 * i          the page after P1: trapped while P1's
 *                               sub-page 31 is denied, plain RAM otherwise
 *   incq  PLAIN + 8 * i         a page that never traps
 *   done[i] = n
 * then it spins with `pause` until the host ends the run. The incq words
 * are each vCPU's own, so at the end each must equal @iters exactly.
 */
#ifndef SPP_TEST_STRESS_H
#define SPP_TEST_STRESS_H

#include <stdint.h>

#include <spp/layout.h>

#define STRESS_CTL SPP_LAYOUT_SHARED
#define STRESS_P0 SPP_LAYOUT_SELFTEST_PAGE
#define STRESS_P1 (SPP_LAYOUT_SELFTEST_PAGE + 0x4000)
#define STRESS_P2 (STRESS_P1 + 0x1000)
#define STRESS_PLAIN (SPP_LAYOUT_SELFTEST_PAGE + 0x10000)
#define STRESS_MAX_VCPUS 4

struct stress_ctl {
	volatile uint64_t iters;
	volatile uint64_t done[STRESS_MAX_VCPUS];
};

#endif /* SPP_TEST_STRESS_H */
