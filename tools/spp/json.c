// SPDX-License-Identifier: MIT
/*
 * json.c - spp's JSON: a small writer (objects, arrays, escaped strings,
 * numbers) and the event lines built with it. The fields and their
 * spelling are the stable interface of docs/events.md: add fields, never
 * change one.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

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

const char *spp_cli_verdict_name(enum spp_verdict v)
{
	switch (v) {
	case SPP_VERDICT_ALLOWED:
		return "allowed";
	case SPP_VERDICT_DENIED:
		return "denied";
	case SPP_VERDICT_LOGGED:
		return "logged";
	case SPP_VERDICT_STOPPED:
		return "stopped";
	}
	return "?";
}

int spp_cli_event_json(char *buf, size_t size, const struct spp_event *ev,
		       uint64_t seq, double t)
{
	char data[2 * SPP_STORE_MAX + 1];
	uint32_t i, len = ev->len < SPP_STORE_MAX ? ev->len : SPP_STORE_MAX;
	static const char hex[] = "0123456789abcdef";
	struct spp_cli_json j;

	for (i = 0; i < len; i++) {
		data[2 * i] = hex[ev->data[i] >> 4];
		data[2 * i + 1] = hex[ev->data[i] & 15];
	}
	data[2 * len] = 0;
	spp_cli_json_buf(&j, buf, size);
	spp_cli_json_open(&j, NULL, '{');
	spp_cli_json_str(&j, "type", "write");
	spp_cli_json_u64(&j, "seq", seq);
	spp_cli_json_raw(&j, "time", "%.6f", t);
	spp_cli_json_u64(&j, "vcpu", ev->vcpu);
	spp_cli_json_hex(&j, "gpa", ev->gpa);
	spp_cli_json_u64(&j, "len", ev->len);
	spp_cli_json_str(&j, "data", data);
	spp_cli_json_hex(&j, "page", ev->subpage_gpa & SPP_PAGE_MASK);
	spp_cli_json_u64(&j, "subpage", ev->subpage);
	spp_cli_json_hex(&j, "subpage_gpa", ev->subpage_gpa);
	spp_cli_json_hex(&j, "rip", ev->rip);
	/* 0: the guard does not know it (KVM completed the store) */
	if (ev->insn_rip)
		spp_cli_json_hex(&j, "insn_rip", ev->insn_rip);
	else
		spp_cli_json_raw(&j, "insn_rip", "null");
	spp_cli_json_u64(&j, "fragments", ev->fragments);
	spp_cli_json_str(&j, "verdict", spp_cli_verdict_name(ev->verdict));
	spp_cli_json_close(&j, '}');
	return spp_cli_json_end(&j);
}
