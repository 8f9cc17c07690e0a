// SPDX-License-Identifier: MIT
/*
 * exc.c - exception stubs, IDT and reports in guest memory (spp/exc.h).
 * The stub machine code comes from exc_stubs.S, assembled into libspp.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <spp/exc.h>
#include <spp/guest_abi.h>

#include "exc_blob.h"

/* The assembler's numbers are the layout's numbers. */
_Static_assert(EXC_BLOB_STUB_STRIDE == SPP_EXC_STUB_STRIDE, "stride");
_Static_assert(EXC_BLOB_NSTUBS == SPP_EXC_VECTORS, "stub count");
_Static_assert(EXC_BLOB_COMMON == SPP_EXC_COMMON_OFFSET &&
		       EXC_BLOB_COMMON >=
			       EXC_BLOB_NSTUBS * EXC_BLOB_STUB_STRIDE,
	       "common tail offset");
_Static_assert(EXC_BLOB_REPORT == SPP_LAYOUT_EXC_REPORT, "report base");
_Static_assert((1ULL << EXC_BLOB_REPORT_SHIFT) ==
		       SPP_LAYOUT_EXC_REPORT_AT(1) -
			       SPP_LAYOUT_EXC_REPORT_AT(0),
	       "report stride");
_Static_assert(EXC_BLOB_VCPU_MASK + 1 == SPP_LAYOUT_MAX_VCPUS &&
		       (SPP_LAYOUT_MAX_VCPUS & (SPP_LAYOUT_MAX_VCPUS - 1)) == 0,
	       "vCPU count: a power of two");
_Static_assert(SPP_LAYOUT_EXC_REPORT_AT(SPP_LAYOUT_MAX_VCPUS) <=
		       SPP_LAYOUT_EXC_REPORT + SPP_LAYOUT_EXC_REPORT_SIZE,
	       "report slots fit the report page");
_Static_assert(sizeof(struct spp_exc_report) <= (1ULL << EXC_BLOB_REPORT_SHIFT),
	       "report fits its slot");
_Static_assert(EXC_BLOB_SEL_TSS0 == SPP_X86_SEL_TSS_AT(0) &&
		       (1 << EXC_BLOB_SEL_TSS_SHIFT) ==
			       SPP_X86_SEL_TSS_AT(1) - SPP_X86_SEL_TSS_AT(0),
	       "TSS selectors");
_Static_assert(EXC_BLOB_DOORBELL ==
		       SPP_LAYOUT_DOORBELL + SPP_DOORBELL_EXCEPTION,
	       "doorbell");
_Static_assert(EXC_BLOB_MAGIC == SPP_EXC_REPORT_MAGIC, "magic");
_Static_assert(
	EXC_REP_MAGIC == offsetof(struct spp_exc_report, magic) &&
		EXC_REP_VECTOR == offsetof(struct spp_exc_report, vector) &&
		EXC_REP_ERROR == offsetof(struct spp_exc_report, error_code) &&
		EXC_REP_RIP == offsetof(struct spp_exc_report, rip) &&
		EXC_REP_CS == offsetof(struct spp_exc_report, cs) &&
		EXC_REP_RFLAGS == offsetof(struct spp_exc_report, rflags) &&
		EXC_REP_RSP == offsetof(struct spp_exc_report, rsp) &&
		EXC_REP_SS == offsetof(struct spp_exc_report, ss) &&
		EXC_REP_CR2 == offsetof(struct spp_exc_report, cr2) &&
		EXC_REP_COUNT == offsetof(struct spp_exc_report, count),
	"report field offsets");
_Static_assert(SPP_EXC_IDT_GATES *SPP_EXC_GATE_SIZE <= SPP_LAYOUT_IDT_SIZE,
	       "IDT size");

/* The blob, from exc_stubs.S. */
extern const uint8_t spp_exc_blob_start[] __attribute__((visibility("hidden")));
extern const uint8_t spp_exc_blob_end[] __attribute__((visibility("hidden")));

/* Bits 8, 10-14, 17, 21, 29, 30. */
#define ERROR_CODE_VECTORS 0x60227D00u

bool spp_exc_has_error_code(unsigned int vector)
{
	return vector < SPP_EXC_VECTORS && (ERROR_CODE_VECTORS >> vector) & 1;
}

unsigned int spp_exc_ist(unsigned int vector)
{
	return vector == 2 || vector == 8 || vector == 18;
}

uint64_t spp_exc_stub_gpa(unsigned int vector)
{
	if (vector >= SPP_EXC_VECTORS)
		return 0;
	return SPP_LAYOUT_EXC_STUBS + (uint64_t)vector * SPP_EXC_STUB_STRIDE;
}

const uint8_t *spp_exc_blob(size_t *size)
{
	if (size)
		*size = (size_t)(spp_exc_blob_end - spp_exc_blob_start);
	return spp_exc_blob_start;
}

/* One 16-byte 64-bit gate: offset 15:0, selector, IST, type/DPL/P,
 * offset 31:16, offset 63:32, reserved. */
static void gate_encode(uint8_t *g, uint64_t offset, unsigned int ist)
{
	uint8_t attr = SPP_EXC_GATE_TYPE_INTR | (0 << 5) |
		       (1 << 7); /* DPL 0, P */
	unsigned int i;

	memset(g, 0, SPP_EXC_GATE_SIZE);
	g[0] = (uint8_t)offset;
	g[1] = (uint8_t)(offset >> 8);
	g[2] = (uint8_t)SPP_X86_SEL_KCODE;
	g[3] = (uint8_t)(SPP_X86_SEL_KCODE >> 8);
	g[4] = (uint8_t)(ist & 7);
	g[5] = attr;
	g[6] = (uint8_t)(offset >> 16);
	g[7] = (uint8_t)(offset >> 24);
	for (i = 0; i < 4; i++)
		g[8 + i] = (uint8_t)(offset >> (32 + 8 * i));
}

int spp_exc_install(const struct spp_guest_mem *m, struct spp_x86_dtable *idtr)
{
	uint8_t *stubs, *idt, *reports;
	size_t size;
	const uint8_t *blob = spp_exc_blob(&size);
	unsigned int v;

	if (!m || !idtr)
		return -EINVAL;
	if (size > SPP_LAYOUT_EXC_STUBS_SIZE)
		return -EINVAL; /* cannot happen: checked by the tests */
	stubs = spp_guest_mem_ptr(m, SPP_LAYOUT_EXC_STUBS,
				  SPP_LAYOUT_EXC_STUBS_SIZE);
	idt = spp_guest_mem_ptr(m, SPP_LAYOUT_IDT, SPP_LAYOUT_IDT_SIZE);
	reports = spp_guest_mem_ptr(m, SPP_LAYOUT_EXC_REPORT,
				    SPP_LAYOUT_EXC_REPORT_SIZE);
	if (!stubs || !idt || !reports)
		return -EFAULT;

	/* Code, then int3 up to the end of the stub pages. */
	memcpy(stubs, blob, size);
	memset(stubs + size, 0xCC, SPP_LAYOUT_EXC_STUBS_SIZE - size);

	memset(idt, 0, SPP_LAYOUT_IDT_SIZE);
	for (v = 0; v < SPP_EXC_VECTORS; v++)
		gate_encode(idt + v * SPP_EXC_GATE_SIZE, spp_exc_stub_gpa(v),
			    spp_exc_ist(v));

	memset(reports, 0, SPP_LAYOUT_EXC_REPORT_SIZE);

	idtr->base = SPP_LAYOUT_IDT;
	idtr->limit = SPP_EXC_IDT_LIMIT;
	return 0;
}

uint64_t spp_exc_report_gpa(unsigned int vcpu)
{
	if (vcpu >= SPP_LAYOUT_MAX_VCPUS)
		return 0;
	return SPP_LAYOUT_EXC_REPORT_AT(vcpu);
}

int spp_exc_report_take(const struct spp_guest_mem *m, uint64_t gpa,
			struct spp_exc_report *out)
{
	struct spp_exc_report *r;
	uint64_t off = gpa - SPP_LAYOUT_EXC_REPORT;

	if (!m || !out || gpa < SPP_LAYOUT_EXC_REPORT ||
	    off % SPP_LAYOUT_EXC_REPORT_STRIDE ||
	    off / SPP_LAYOUT_EXC_REPORT_STRIDE >= SPP_LAYOUT_MAX_VCPUS)
		return -EINVAL;
	r = spp_guest_mem_ptr(m, gpa, sizeof(*r));
	if (!r)
		return -EFAULT;
	if (r->magic != SPP_EXC_REPORT_MAGIC)
		return 0;
	*out = *r;
	r->magic = 0;
	return 1;
}

static const char *const names[SPP_EXC_VECTORS] = {
	"#DE",	    "#DB",
	"NMI",	    "#BP",
	"#OF",	    "#BR",
	"#UD",	    "#NM",
	"#DF",	    "coprocessor segment overrun",
	"#TS",	    "#NP",
	"#SS",	    "#GP",
	"#PF",	    "reserved",
	"#MF",	    "#AC",
	"#MC",	    "#XM",
	"#VE",	    "#CP",
	"reserved", "reserved",
	"reserved", "reserved",
	"reserved", "reserved",
	"#HV",	    "#VC",
	"#SX",	    "reserved",
};

const char *spp_exc_name(unsigned int vector)
{
	return vector < SPP_EXC_VECTORS ? names[vector] : "interrupt";
}

int spp_exc_format(const struct spp_exc_report *r, char *buf, size_t size)
{
	int n;

	if (!r || (!buf && size))
		return -EINVAL;
	n = snprintf(
		buf, size,
		"%s (vector %llu) error 0x%llx at rip 0x%llx cs 0x%llx "
		"rflags 0x%llx rsp 0x%llx ss 0x%llx",
		spp_exc_name(r->vector < 256 ? (unsigned int)r->vector : 256),
		(unsigned long long)r->vector,
		(unsigned long long)r->error_code, (unsigned long long)r->rip,
		(unsigned long long)r->cs, (unsigned long long)r->rflags,
		(unsigned long long)r->rsp, (unsigned long long)r->ss);
	if (n >= 0 && r->vector == 14) {
		size_t used = (size_t)n < size ? (size_t)n : size;
		int k = snprintf(buf ? buf + used : NULL,
				 size > used ? size - used : 0, " cr2 0x%llx",
				 (unsigned long long)r->cr2);

		n = k < 0 ? k : n + k;
	}
	return n;
}
