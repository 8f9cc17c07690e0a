/* SPDX-License-Identifier: MIT */
/*
 * ctl_lines.h - the tests' reader of the control socket's lines
 * (docs/control.md: one JSON object a line), shared by tests/ctl/test_ctl.c
 * and the nested-QEMU tests' client (tests/qemu/qemu_ctl.c).
 *
 * Built into a static library by tests/ctl/meson.build (ctl_lines_dep);
 * a lack of memory fails the running cmocka test.
 */
#ifndef SPP_CTL_LINES_H
#define SPP_CTL_LINES_H

#include <stddef.h>

/* What has been read from a socket and not yet returned as a line.
 * Zero-initialised: empty; spp_ctl_lines_free() releases it. */
struct spp_ctl_lines {
	char *buf;
	size_t start; /* of the first byte not yet returned */
	size_t len, cap;
};

/*
 * spp_ctl_line() - the next line read from @fd through @r (malloc'ed,
 * without its '\n'), or NULL when none is complete @timeout_ms from now
 * or at EOF or a read error (what was read of a partial line stays in
 * @r).
 */
char *spp_ctl_line(struct spp_ctl_lines *r, int fd, int timeout_ms);

/* spp_ctl_lines_free() - releases @r's buffer; @r is empty again. */
void spp_ctl_lines_free(struct spp_ctl_lines *r);

#endif
