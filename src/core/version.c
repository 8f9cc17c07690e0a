// SPDX-License-Identifier: MIT
/* version.c - the library version string. */
#include <spp/spp.h>

#ifndef SPP_VERSION_STRING
#error "SPP_VERSION_STRING must come from the build"
#endif

const char *spp_version(void)
{
	return SPP_VERSION_STRING;
}
