/* SPDX-License-Identifier: MIT */
/*
 * spp/spp.h - libspp: sub-page (128-byte) write protection for KVM guests.
 *
 * Umbrella header of the core model (no KVM needed):
 *   spp/vector.h  constants, access map <-> SPP vector
 *   spp/access.h  the per-guest permission store, KVM-shaped SET/GET,
 *                 the write check
 *   spp/sppt.h    the Sub-Page Permission Table in hardware format
 *   spp/walk.h    the hardware decision for one access
 */
#ifndef SPP_SPP_H
#define SPP_SPP_H

#include <spp/vector.h>
#include <spp/access.h>
#include <spp/sppt.h>
#include <spp/walk.h>

/* spp_version() - the library version, "MAJOR.MINOR.PATCH". */
const char *spp_version(void);

#endif /* SPP_SPP_H */
