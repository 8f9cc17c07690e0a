/* SPDX-License-Identifier: MIT */
/*
 * qemu_ctl.h - a small client of spp's control socket (docs/control.md)
 * for the nested-QEMU tests: requests, replies and events as jansson
 * values; every call asserts (cmocka) what it must.
 */
#ifndef SPP_QEMU_CTL_H
#define SPP_QEMU_CTL_H

#include <jansson.h>
#include <stdint.h>

#include "ctl_lines.h"

struct ctl {
	int fd;
	struct spp_ctl_lines in;
	json_t *events; /* the event objects received, in order */
};

/* ms, CLOCK_MONOTONIC. */
double now_ms(void);
/* Connect, read the greeting, negotiate capabilities. */
struct ctl *ctl_open(const char *path);
void ctl_close(struct ctl *c);
/* The next line (malloc'd), or NULL after @timeout_ms or at EOF. */
char *ctl_line(struct ctl *c, int timeout_ms);
/* Send @text (one line) and return the reply object, or NULL when there
 * is none within @timeout_ms (or it is not JSON): no test failure, for
 * diagnostics. Events met on the way are kept in c->events. */
json_t *ctl_try(struct ctl *c, const char *text, int timeout_ms);
/* Send @text (one line); the reply object (return or error); events on
 * the way go to c->events. No reply within 15 s fails the test. */
json_t *ctl_raw(struct ctl *c, const char *text);
/* A request that must succeed: its "return" value (the caller's ref). */
json_t *ctl_ok(struct ctl *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A request that must fail: its error desc (a static copy). */
const char *ctl_err(struct ctl *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A query-stats counter (every event queued before it is read too). */
uint64_t ctl_stat(struct ctl *c, const char *name);
/* get-access of the page of @gpa. */
uint32_t ctl_map(struct ctl *c, uint64_t gpa);
/* protect, checked with get-access. */
void ctl_protect(struct ctl *c, uint64_t gpa, uint32_t map);
/* A hex-string event field. */
uint64_t hexstr(json_t *v);

#endif
