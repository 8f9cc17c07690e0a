// SPDX-License-Identifier: MIT
/*
 * qemu_ctl.c - the control-socket client of the nested-QEMU tests
 * (qemu_ctl.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "qemu_ctl.h"
#include "qemu_test.h"

double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

char *ctl_line(struct ctl *c, int timeout_ms)
{
	return spp_ctl_line(&c->in, c->fd, timeout_ms);
}

json_t *ctl_try(struct ctl *c, const char *text, int timeout_ms)
{
	size_t len = strlen(text);

	if (!c || write(c->fd, text, len) != (ssize_t)len ||
	    write(c->fd, "\n", 1) != 1)
		return NULL;
	for (;;) {
		char *l = ctl_line(c, timeout_ms);
		json_t *v;

		if (!l)
			return NULL;
		v = json_loads(l, 0, NULL);
		free(l);
		if (!v)
			return NULL;
		if (json_object_get(v, "event")) {
			json_array_append_new(c->events, v);
			continue;
		}
		return v;
	}
}

/* Send @text (one line) and return the reply object (return or error);
 * events met on the way are kept in c->events. */
json_t *ctl_raw(struct ctl *c, const char *text)
{
	json_t *v = ctl_try(c, text, 15000);

	if (!v) {
		fprintf(stderr,
			"# control socket: no reply (or not JSON) to %s: "
			"%s\n",
			text, strerror(errno));
		qemu_test_explain();
		fail_msg("control socket: no reply (or not JSON) to %s", text);
	}
	return v;
}

/* A request that must succeed: its "return" value (the caller's). */
json_t *ctl_ok(struct ctl *c, const char *fmt, ...)
{
	char text[4096];
	json_t *v, *ret;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	v = ctl_raw(c, text);
	ret = json_object_get(v, "return");
	if (!ret) {
		char *s = json_dumps(v, JSON_COMPACT);

		fail_msg("control socket: %s -> %s", text, s);
	}
	json_incref(ret);
	json_decref(v);
	return ret;
}

/* A request that must fail: its error desc (static copy). */
const char *ctl_err(struct ctl *c, const char *fmt, ...)
{
	static char desc[512];
	char text[4096];
	json_t *v, *e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	v = ctl_raw(c, text);
	e = json_object_get(v, "error");
	if (!e || !json_is_string(json_object_get(e, "desc"))) {
		char *s = json_dumps(v, JSON_COMPACT);

		fail_msg("control socket: %s should fail -> %s", text, s);
	}
	snprintf(desc, sizeof(desc), "%s",
		 json_string_value(json_object_get(e, "desc")));
	json_decref(v);
	printf("# %s -> error: %s\n", text, desc);
	return desc;
}

struct ctl *ctl_open(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct ctl *c = calloc(1, sizeof(*c));
	json_t *r;
	char *l;

	assert_non_null(c);
	c->events = json_array();
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)))
		fail_msg("connect %s: %s", path, strerror(errno));
	l = ctl_line(c, 10000);
	assert_non_null(l);
	assert_non_null(strstr(l, "\"QMP\""));
	free(l);
	r = ctl_ok(c, "{\"execute\":\"qmp_capabilities\"}");
	json_decref(r);
	return c;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	close(c->fd);
	json_decref(c->events);
	spp_ctl_lines_free(&c->in);
	free(c);
}

/* A query-stats counter (also: every event queued before is read). */
uint64_t ctl_stat(struct ctl *c, const char *name)
{
	json_t *r = ctl_ok(c, "{\"execute\":\"query-stats\"}");
	json_t *v = json_object_get(r, name);
	uint64_t n;

	assert_true(json_is_integer(v));
	n = (uint64_t)json_integer_value(v);
	json_decref(r);
	return n;
}

uint32_t ctl_map(struct ctl *c, uint64_t gpa)
{
	json_t *r = ctl_ok(c,
			   "{\"execute\":\"get-access\",\"arguments\":"
			   "{\"gfn\":%" PRIu64 ",\"npages\":1}}",
			   gpa >> 12);
	json_t *m = json_array_get(json_object_get(r, "maps"), 0);
	uint32_t map;

	assert_true(json_is_integer(m));
	map = (uint32_t)json_integer_value(m);
	json_decref(r);
	return map;
}

void ctl_protect(struct ctl *c, uint64_t gpa, uint32_t map)
{
	json_t *r = ctl_ok(c,
			   "{\"execute\":\"protect\",\"arguments\":"
			   "{\"gpa\":%" PRIu64 ",\"map\":%" PRIu32 "}}",
			   gpa, map);

	assert_int_equal(json_integer_value(json_object_get(r, "pages")), 1);
	json_decref(r);
	assert_int_equal(ctl_map(c, gpa), map);
}

uint64_t hexstr(json_t *v)
{
	assert_true(json_is_string(v));
	return strtoull(json_string_value(v), NULL, 16);
}
