// SPDX-License-Identifier: MIT
/*
 * event_json.c - struct spp_event as the JSON object of docs/events.md
 * (spp/event_json.h). The fields and their spelling are a stable
 * interface: add fields, never change one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <spp/event_json.h>
#include <spp/ksym.h>
#include <spp/vector.h>

const char *spp_verdict_name(enum spp_verdict v)
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

struct out {
	char *buf;
	size_t size;
	size_t len; /* written, or that would have been */
};

/* snprintf at the end of @o, counting what did not fit. */
__attribute__((format(printf, 2, 3))) static void put(struct out *o,
						      const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (o->len < o->size)
		n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	else
		n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

/* How a field is written (SPP_EVENT_JSON_FIELDS' kinds). */
enum kind {
	U32,
	HEX,
	HEX_OR_NULL,
	BYTES,
	PAGE,
	VERDICT,
	CPU_U32,
	CPU_HEX,
	OLD_BYTES,
	BYTES_HEX,
	SYM,
};

static const struct field {
	const char *name;
	size_t off, size;
	enum kind kind;
} fields[] = {
#define FIELD(json, member, k)                      \
	{ json, offsetof(struct spp_event, member), \
	  sizeof(((const struct spp_event *)0)->member), k },
	SPP_EVENT_JSON_FIELDS(FIELD)
#undef FIELD
};

/* A 32- or 64-bit member of @ev as a u64 (every row's number). */
static uint64_t member(const struct spp_event *ev, const struct field *f)
{
	const char *p = (const char *)ev + f->off;
	uint32_t v32;
	uint64_t v64;

	if (f->size == sizeof(v32)) {
		memcpy(&v32, p, sizeof(v32));
		return v32;
	}
	memcpy(&v64, p, sizeof(v64));
	return v64;
}

static void put_field(struct out *o, const struct spp_event *ev,
		      const struct field *f, const struct spp_ksym_table *syms)
{
	static const char hex[] = "0123456789abcdef";
	char data[2 * SPP_STORE_MAX + 1];
	const uint8_t *bytes = (const uint8_t *)ev + f->off;
	enum kind kind = f->kind;
	char sym[160];
	uint32_t i, len;
	uint64_t v;

	if (kind == SYM && !syms)
		return; /* only with a symbol table */
	put(o, ",\"%s\":", f->name);
	switch (kind) {
	case CPU_U32:
	case CPU_HEX:
		if (!(ev->known & SPP_EVENT_CPU)) {
			put(o, "null");
			return;
		}
		kind = kind == CPU_U32 ? U32 : HEX;
		break;
	case OLD_BYTES:
		if (!(ev->known & SPP_EVENT_OLD)) {
			put(o, "null");
			return;
		}
		kind = BYTES;
		break;
	case BYTES_HEX:
		if (!(ev->known & SPP_EVENT_BYTES)) {
			put(o, "null");
			return;
		}
		kind = HEX;
		break;
	default:
		break;
	}
	v = kind == BYTES ? 0 : member(ev, f);
	switch (kind) {
	case U32:
		put(o, "%" PRIu64, v);
		break;
	case HEX_OR_NULL:
		/* 0: not known (e.g. KVM completed the store) */
		if (!v) {
			put(o, "null");
			break;
		}
		/* fall through */
	case HEX:
		put(o, "\"0x%" PRIx64 "\"", v);
		break;
	case PAGE:
		put(o, "\"0x%" PRIx64 "\"", (uint64_t)(v & SPP_PAGE_MASK));
		break;
	case VERDICT:
		put(o, "\"%s\"", spp_verdict_name((enum spp_verdict)v));
		break;
	case SYM:
		/* names are [A-Za-z0-9_.$] in practice: one a JSON string
		 * cannot hold as it is becomes null, as an unknown one */
		if (!v || spp_ksym_format(syms, v, sym, sizeof(sym)) <= 0) {
			put(o, "null");
			break;
		}
		for (i = 0; sym[i]; i++)
			if ((unsigned char)sym[i] < 0x20 ||
			    (unsigned char)sym[i] >= 0x7f || sym[i] == '"' ||
			    sym[i] == '\\')
				break;
		if (sym[i])
			put(o, "null");
		else
			put(o, "\"%s\"", sym);
		break;
	case BYTES:
		len = ev->len < SPP_STORE_MAX ? ev->len : SPP_STORE_MAX;
		for (i = 0; i < len; i++) {
			data[2 * i] = hex[bytes[i] >> 4];
			data[2 * i + 1] = hex[bytes[i] & 15];
		}
		data[2 * len] = 0;
		put(o, "\"%s\"", data);
		break;
	default: /* CPU_*, OLD_BYTES and BYTES_HEX became plain kinds above */
		break;
	}
}

int spp_event_json(const struct spp_event *ev, uint64_t seq, double time,
		   char *buf, size_t size)
{
	return spp_event_json_ksym(ev, seq, time, NULL, buf, size);
}

int spp_event_json_ksym(const struct spp_event *ev, uint64_t seq, double time,
			const struct spp_ksym_table *syms, char *buf,
			size_t size)
{
	struct out o = { buf, size, 0 };
	size_t i;

	if (!ev || (!buf && size))
		return -EINVAL;
	if (size)
		buf[0] = 0;
	put(&o, "{\"type\":\"write\",\"seq\":%" PRIu64 ",\"time\":%.6f", seq,
	    time);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		put_field(&o, ev, &fields[i], syms);
	put(&o, "}");
	return (int)o.len; /* at most a few hundred bytes */
}
