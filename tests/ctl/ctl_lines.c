// SPDX-License-Identifier: MIT
/*
 * ctl_lines.c - the tests' reader of the control socket's lines
 * (ctl_lines.h).
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl_lines.h"

static double mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

char *spp_ctl_line(struct spp_ctl_lines *r, int fd, int timeout_ms)
{
	double end = mono_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *nl = NULL, *l;
		ssize_t n;
		int left;

		if (r->buf)
			nl = memchr(r->buf + r->start, '\n', r->len - r->start);
		if (nl) {
			/* no memmove per line: a burst of events would
			 * cost the square of its size */
			l = strndup(r->buf + r->start,
				    (size_t)(nl - r->buf) - r->start);
			assert_non_null(l);
			r->start = (size_t)(nl - r->buf) + 1;
			if (r->start == r->len)
				r->start = r->len = 0;
			return l;
		}
		left = (int)(end - mono_ms());
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return NULL;
		if (r->start) { /* a partial line: to the front, once */
			memmove(r->buf, r->buf + r->start, r->len - r->start);
			r->len -= r->start;
			r->start = 0;
		}
		if (r->cap - r->len < 65536) {
			r->cap = r->cap ? r->cap * 2 : 1 << 16;
			r->buf = realloc(r->buf, r->cap);
			assert_non_null(r->buf);
		}
		n = read(fd, r->buf + r->len, r->cap - r->len);
		if (n <= 0)
			return NULL;
		r->len += (size_t)n;
	}
}

void spp_ctl_lines_free(struct spp_ctl_lines *r)
{
	free(r->buf);
	r->buf = NULL;
	r->start = 0;
	r->len = 0;
	r->cap = 0;
}
