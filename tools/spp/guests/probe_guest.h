/* SPDX-License-Identifier: MIT */
/* probe_guest.h - the mailbox of the "spp info" probe guest (probe.c). */
#ifndef SPP_PROBE_GUEST_H
#define SPP_PROBE_GUEST_H

#include <stdint.h>

#include <spp/layout.h>

#define PROBE_MBOX SPP_LAYOUT_SHARED
#define PROBE_READY 0x50524f4245ULL /* sync value */

enum { PROBE_LOOP = 1, PROBE_USER = 2, PROBE_EXIT = 3 };

struct probe_mbox {
	uint64_t cmd;
	uint64_t iters;
};

#endif /* SPP_PROBE_GUEST_H */
