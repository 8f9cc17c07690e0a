// SPDX-License-Identifier: MIT
/*
 * event_json.c - struct spp_event as the JSON object of docs/events.md
 * (spp/event_json.h). The fields and their spelling are a stable
 * interface: add fields, never change one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include <spp/event_json.h>
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

int spp_event_json(const struct spp_event *ev, uint64_t seq, double time,
		   char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	char data[2 * SPP_STORE_MAX + 1];
	struct out o = { buf, size, 0 };
	uint32_t i, len;

	if (!ev || (!buf && size))
		return -EINVAL;
	if (size)
		buf[0] = 0;
	len = ev->len < SPP_STORE_MAX ? ev->len : SPP_STORE_MAX;
	for (i = 0; i < len; i++) {
		data[2 * i] = hex[ev->data[i] >> 4];
		data[2 * i + 1] = hex[ev->data[i] & 15];
	}
	data[2 * len] = 0;
	put(&o,
	    "{\"type\":\"write\",\"seq\":%" PRIu64 ",\"time\":%.6f,"
	    "\"vcpu\":%" PRIu32 ",\"gpa\":\"0x%" PRIx64 "\",\"len\":%" PRIu32
	    ",\"data\":\"%s\",\"page\":\"0x%" PRIx64 "\",\"subpage\":%u,"
	    "\"subpage_gpa\":\"0x%" PRIx64 "\",\"rip\":\"0x%" PRIx64 "\",",
	    seq, time, ev->vcpu, ev->gpa, ev->len, data,
	    (uint64_t)(ev->subpage_gpa & SPP_PAGE_MASK), ev->subpage,
	    ev->subpage_gpa, ev->rip);
	/* 0: the guard does not know it (KVM completed the store) */
	if (ev->insn_rip)
		put(&o, "\"insn_rip\":\"0x%" PRIx64 "\",", ev->insn_rip);
	else
		put(&o, "\"insn_rip\":null,");
	put(&o, "\"fragments\":%" PRIu32 ",\"verdict\":\"%s\"}", ev->fragments,
	    spp_verdict_name(ev->verdict));
	return (int)o.len; /* at most a few hundred bytes */
}
