/* SPDX-License-Identifier: MIT */
/*
 * spp/event_json.h - a guard event (struct spp_event, spp/guard.h) as the
 * one-line JSON object of docs/events.md ("type": "write"). The one place
 * that spells the fields: "spp run --events", "spp demo" and the control
 * socket's events (spp/ctl.h) all write it, from the field table
 * SPP_EVENT_JSON_FIELDS in spp/guard.h: adding an event field touches
 * spp/guard.h (member and row) and its producer in src/kvm.
 */
#ifndef SPP_EVENT_JSON_H
#define SPP_EVENT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <spp/guard.h>

struct spp_ksym_table;

/*
 * spp_event_json() - write @ev into @buf as one JSON object, without a
 * newline: {"type":"write","seq":@seq,"time":@time,"vcpu":...,
 * "verdict":...} with the fields, order and spelling of docs/events.md
 * (@time in seconds with six decimals). snprintf's semantics: at most
 * @size bytes including the terminating NUL are written (@buf may be NULL
 * when @size is 0), and the return value is the length of the whole
 * object, even if it did not fit. Returns -EINVAL for a NULL @ev, or a
 * NULL @buf with @size not 0 (nothing written). Never fails otherwise;
 * thread-safe.
 */
int spp_event_json(const struct spp_event *ev, uint64_t seq, double time,
		   char *buf, size_t size);

/*
 * spp_event_json_ksym() - spp_event_json() plus the fields of kind SYM
 * (SPP_EVENT_JSON_FIELDS: "insn_sym") resolved in the kernel symbol table
 * @syms (spp/ksym.h: "name+0xoff", null where the address is unknown or
 * in no symbol). @syms NULL: exactly spp_event_json(), without those
 * fields. Reads @syms only: no spp_ksym_set_slide() may run concurrently.
 * Returns as spp_event_json().
 */
int spp_event_json_ksym(const struct spp_event *ev, uint64_t seq, double time,
			const struct spp_ksym_table *syms, char *buf,
			size_t size);

/* spp_verdict_name() - "allowed", "denied", "logged", "stopped", or "?"
 * for a value outside enum spp_verdict. Static text. */
const char *spp_verdict_name(enum spp_verdict v);

#endif /* SPP_EVENT_JSON_H */
