// SPDX-License-Identifier: MIT
/*
 * json.c - events as JSON Lines. The fields and their spelling are the
 * stable interface of docs/events.md: add fields, never change one.
 */
#include <inttypes.h>
#include <stdio.h>

#include "spp_cli.h"

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
	char data[2 * SPP_STORE_MAX + 1], insn_rip[24];
	uint32_t i, len = ev->len < SPP_STORE_MAX ? ev->len : SPP_STORE_MAX;
	static const char hex[] = "0123456789abcdef";

	for (i = 0; i < len; i++) {
		data[2 * i] = hex[ev->data[i] >> 4];
		data[2 * i + 1] = hex[ev->data[i] & 15];
	}
	data[2 * len] = 0;
	/* 0: the guard does not know it (KVM completed the store) */
	if (ev->insn_rip)
		snprintf(insn_rip, sizeof(insn_rip), "\"0x%" PRIx64 "\"",
			 ev->insn_rip);
	else
		snprintf(insn_rip, sizeof(insn_rip), "null");
	return snprintf(buf, size,
			"{\"type\":\"write\",\"seq\":%" PRIu64 ",\"time\":%.6f,"
			"\"vcpu\":%" PRIu32 ",\"gpa\":\"0x%" PRIx64 "\","
			"\"len\":%" PRIu32 ",\"data\":\"%s\","
			"\"page\":\"0x%" PRIx64 "\",\"subpage\":%u,"
			"\"subpage_gpa\":\"0x%" PRIx64 "\","
			"\"rip\":\"0x%" PRIx64 "\",\"insn_rip\":%s,"
			"\"fragments\":%" PRIu32 ","
			"\"verdict\":\"%s\"}\n",
			seq, t, ev->vcpu, ev->gpa, ev->len, data,
			ev->subpage_gpa & ~(uint64_t)0xfff, ev->subpage,
			ev->subpage_gpa, ev->rip, insn_rip, ev->fragments,
			spp_cli_verdict_name(ev->verdict));
}
