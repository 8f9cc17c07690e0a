/* SPDX-License-Identifier: MIT */
/*
 * spp/guest_abi.h - the contract between spp's VMM and guest programs.
 *
 * Shared by host and guest code: plain C, no host headers beyond
 * <stdint.h>. Guests include it with -ffreestanding. docs/guest-abi.md
 * describes the whole contract (entry state, memory, exceptions).
 *
 * Guest -> host calls go through the MMIO doorbell: an 8-byte write of an
 * argument to SPP_LAYOUT_DOORBELL + SPP_DOORBELL_<OP>. The doorbell page
 * has no memslot, so the write exits to spp at any CPL, with no port I/O
 * (which faults at CPL3 on some hosts). Ports 0xE9 (console) and 0xF4
 * (exit) work too where port I/O does.
 */
#ifndef SPP_GUEST_ABI_H
#define SPP_GUEST_ABI_H

#include <stdint.h>

#include <spp/layout.h>

/* Doorbell offsets: write the argument with one 8-byte store. */
#define SPP_DOORBELL_PUTC 0x00 /* arg: a byte for the console */
#define SPP_DOORBELL_PUTS \
	0x08 /* arg: GPA of a NUL-terminated string
				  (at most SPP_PUTS_MAX bytes) */
#define SPP_DOORBELL_EXIT \
	0x10 /* arg: v; ends the run with status
				  (v << 1) | 1, as port 0xF4 */
#define SPP_DOORBELL_SYNC \
	0x18 /* arg: a value; the run returns to the
				  host (SPP_VM_SYNC), the guest continues
				  when the host runs the VM again */
#define SPP_DOORBELL_PROTECT \
	0x20 /* arg: GPA of a struct spp_protect_req;
				     the guest adds protection to one of
				     its pages (can never remove any) */
#define SPP_DOORBELL_EXCEPTION \
	0x28 /* arg: GPA of a struct spp_exc_report;
				       used by spp's exception stubs */

#define SPP_PUTS_MAX 4096

/* Argument of SPP_DOORBELL_PROTECT: the page's map becomes old & @map. */
struct spp_protect_req {
	uint64_t gpa; /* any address in the page */
	uint32_t map; /* bit i clear = deny sub-page i */
	int32_t result; /* written by the host: 0 or a negative errno */
};

/* Entry state: RDI = vCPU index, RSI = number of vCPUs, RSP = that vCPU's
 * stack top (SPP_GUEST_STACK_TOP(i)), CPL 0, interrupts off. */
#define SPP_GUEST_STACK_PER_VCPU 0x20000ULL /* 128 KiB */
#define SPP_GUEST_STACK_TOP(i) \
	(SPP_LAYOUT_STACK_TOP - (uint64_t)(i)*SPP_GUEST_STACK_PER_VCPU)

#endif /* SPP_GUEST_ABI_H */
