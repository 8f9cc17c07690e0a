// SPDX-License-Identifier: MIT
/*
 * json.c - spp's JSON: a small writer (objects, arrays, escaped strings,
 * numbers) for the --stats summary, and the event lines: the object of
 * libspp's spp_event_json() (spp/event_json.h, the one place the event
 * fields are spelled) and a newline.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include <spp/event_json.h>
#include <spp/vector.h>

#include "spp_cli.h"

void spp_cli_json_file(struct spp_cli_json *j, FILE *f)
{
	*j = (struct spp_cli_json){ .f = f };
}

void spp_cli_json_buf(struct spp_cli_json *j, char *buf, size_t size)
{
	*j = (struct spp_cli_json){ .buf = buf, .size = size };
	if (size)
		buf[0] = 0;
}

/* Bytes as they are, into the file or (as snprintf) the buffer. */
__attribute__((format(printf, 2, 3))) static void put(struct spp_cli_json *j,
						      const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (j->f)
		n = vfprintf(j->f, fmt, ap);
	else if (j->len < j->size)
		n = vsnprintf(j->buf + j->len, j->size - j->len, fmt, ap);
	else
		n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		j->len += (size_t)n;
}

/* The ',' before a value and its "key": (none inside an array). */
static void key(struct spp_cli_json *j, const char *k)
{
	if (j->comma)
		put(j, ",");
	if (k)
		put(j, "\"%s\":", k);
	j->comma = true;
}

void spp_cli_json_open(struct spp_cli_json *j, const char *k, char bracket)
{
	key(j, k);
	put(j, "%c", bracket);
	j->comma = false;
}

void spp_cli_json_close(struct spp_cli_json *j, char bracket)
{
	put(j, "%c", bracket);
	j->comma = true;
}

int spp_cli_json_end(struct spp_cli_json *j)
{
	put(j, "\n");
	return (int)j->len;
}

void spp_cli_json_str(struct spp_cli_json *j, const char *k, const char *s)
{
	key(j, k);
	put(j, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			put(j, "\\%c", c);
		else if (c < 0x20)
			put(j, "\\u%04x", c);
		else
			put(j, "%c", c);
	}
	put(j, "\"");
}

void spp_cli_json_u64(struct spp_cli_json *j, const char *k, uint64_t v)
{
	key(j, k);
	put(j, "%" PRIu64, v);
}

void spp_cli_json_hex(struct spp_cli_json *j, const char *k, uint64_t v)
{
	key(j, k);
	put(j, "\"0x%" PRIx64 "\"", v);
}

void spp_cli_json_raw(struct spp_cli_json *j, const char *k, const char *fmt,
		      ...)
{
	char v[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	key(j, k);
	put(j, "%s", v);
}

int spp_cli_event_json(char *buf, size_t size, const struct spp_event *ev,
		       uint64_t seq, double t)
{
	int n = spp_event_json(ev, seq, t, buf, size);

	/* the line's '\n', as snprintf would append it */
	if (n >= 0 && (size_t)n + 1 < size) {
		buf[n] = '\n';
		buf[n + 1] = 0;
	} else if (n >= 0 && (size_t)n < size) {
		buf[n] = 0; /* no room for the '\n': cut as snprintf */
	}
	return n < 0 ? n : n + 1;
}
