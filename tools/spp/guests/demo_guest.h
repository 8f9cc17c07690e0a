/* SPDX-License-Identifier: MIT */
/*
 * demo_guest.h - what the demo guest (demo.c) and "spp demo" (../demo.c)
 * agree on: pages, offsets, values.
 */
#ifndef SPP_DEMO_GUEST_H
#define SPP_DEMO_GUEST_H

#include <spp/layout.h>

#define DEMO_PAGE1 SPP_LAYOUT_SELFTEST_PAGE
#define DEMO_PAGE2 (SPP_LAYOUT_SELFTEST_PAGE + 0x2000)

#define DEMO_STRUCT_SUBPAGE 5
#define DEMO_STRUCT_OFF (128 * DEMO_STRUCT_SUBPAGE) /* 0x280 */
#define DEMO_HOT_A_OFF (DEMO_STRUCT_OFF - 16) /* sub-page 4 */
#define DEMO_HOT_B_OFF (DEMO_STRUCT_OFF + 128) /* sub-page 6 */
#define DEMO_HOT_ROUNDS 16

/* the structure: a credential, say */
#define DEMO_UID_OFF 0
#define DEMO_GID_OFF 4
#define DEMO_CAPS_OFF 8
#define DEMO_UID 1000
#define DEMO_CAPS 0x3000ULL
#define DEMO_TAIL 0x5a

#endif /* SPP_DEMO_GUEST_H */
