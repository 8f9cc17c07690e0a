/* SPDX-License-Identifier: MIT */
/*
 * spp/walk.h - what an SPP-capable CPU does with one guest access.
 *
 * A pure model of the hardware decision (SDM "sub-page write permissions
 * for EPT"; the Bochs model and the KVM series' spp_kvm.txt agree on it):
 * given the EPT leaf state of the access, the SPPT pointer and a way to
 * read SPPT memory, return whether the access proceeds, raises an EPT
 * violation (exit 48) or an SPP-related event (exit 66: miss or
 * misconfiguration), with the exit qualification the CPU would report.
 *
 * Decision order (first match wins):
 *   1. not a data write       -> ordinary EPT rules (R for reads, X for
 *                                fetches), SPPT not consulted;
 *   2. EPT writable           -> allowed, SPP ignored;
 *   3. SPP control off        -> EPT violation;
 *   4. 2 MiB / 1 GiB leaf     -> EPT violation (bit 61 exists only in PTEs);
 *   5. EPT PTE bit 61 clear   -> EPT violation;
 *   6. EPT not readable       -> EPT violation (not eligible);
 *   7. page-walk access (incl. A/D updates) or an access without a linear
 *      address               -> EPT violation (not eligible);
 *   8. SPPT walk, levels 4..2: bit 0 clear -> SPP miss; else reserved
 *      bits 11:1, 63:52 or 51:MAXPHYADDR set -> SPP misconfiguration;
 *      level 1 (the vector): any odd bit -> misconfiguration; bit 2i of
 *      sub-page i set -> allowed, clear -> EPT violation.
 * A not-present entry is a miss even when it has reserved bits set.
 */
#ifndef SPP_WALK_H
#define SPP_WALK_H

#include <stdbool.h>
#include <stdint.h>

/* Basic VM-exit reasons. */
#define SPP_EXIT_EPT_VIOLATION 48
#define SPP_EXIT_SPP_EVENT 66

/* EPT-violation exit qualification bits. */
#define SPP_EPTV_READ (1ULL << 0) /* the access was a data read */
#define SPP_EPTV_WRITE (1ULL << 1) /* the access was a data write */
#define SPP_EPTV_FETCH (1ULL << 2) /* the access was an instruction fetch */
#define SPP_EPTV_READABLE (1ULL << 3) /* accumulated EPT R */
#define SPP_EPTV_WRITABLE (1ULL << 4) /* accumulated EPT W */
#define SPP_EPTV_EXECUTABLE (1ULL << 5) /* accumulated EPT X */
#define SPP_EPTV_GLA_VALID (1ULL << 7) /* guest-linear-address field valid */
#define SPP_EPTV_GLA_XLATE \
	(1ULL << 8) /* access to the translation of the GLA
					  (0: access to a paging structure) */
#define SPP_QUAL_NMI_UNBLOCK (1ULL << 12) /* NMI unblocking due to IRET */

/* SPP-event (exit 66) qualification: bit 11 = 1 miss, 0 misconfiguration. */
#define SPP_QUAL_SPP_MISS (1ULL << 11)

/* Reserved bits of a present non-leaf SPPT entry, before MAXPHYADDR. */
#define SPP_SPPTE_RSVD_LOW 0x0000000000000FFEULL /* bits 11:1 */
#define SPP_SPPTE_RSVD_HIGH 0xFFF0000000000000ULL /* bits 63:52 */
#define SPP_SPPTE_PRESENT 1ULL

enum spp_access_type {
	SPP_ACCESS_READ,
	SPP_ACCESS_WRITE, /* data write, also the write of an RMW */
	SPP_ACCESS_FETCH,
};

enum spp_access_origin {
	SPP_ORIGIN_LINEAR, /* translation of a guest linear address */
	SPP_ORIGIN_PAGE_WALK, /* guest paging structure, incl. A/D updates */
	SPP_ORIGIN_PHYSICAL, /* no linear address (PDPTE load, PML, ...) */
};

enum spp_ept_size {
	SPP_EPT_4K,
	SPP_EPT_2M,
	SPP_EPT_1G,
};

/* EPT state of the translation: rights accumulated over all levels. */
struct spp_ept_leaf {
	bool read;
	bool write;
	bool exec;
	bool spp; /* bit 61 of the EPT PTE ("sub-page write permissions") */
	enum spp_ept_size size;
};

/* Reads the 8-byte SPPT entry at physical address @pa into *@entry;
 * returns 0 or a negative errno when @pa is not readable table memory. */
typedef int (*spp_walk_read_fn)(void *ctx, uint64_t pa, uint64_t *entry);

struct spp_walk_input {
	bool spp_enabled; /* secondary control bit 23 */
	uint64_t spptp; /* VMCS field 0x2030 */
	unsigned int maxphyaddr; /* 36..52 */
	spp_walk_read_fn read;
	void *read_ctx;
	struct spp_ept_leaf ept;
	uint64_t gpa;
	enum spp_access_type type;
	enum spp_access_origin origin;
	bool nmi_unblocking; /* reported as qualification bit 12 */
};

enum spp_walk_outcome {
	SPP_WALK_ALLOWED,
	SPP_WALK_EPT_VIOLATION, /* exit 48 */
	SPP_WALK_SPP_MISS, /* exit 66, qualification bit 11 = 1 */
	SPP_WALK_SPP_MISCONFIG, /* exit 66, qualification bit 11 = 0 */
};

/* Why the SPPT was or was not consulted (decision steps 1..8 above). */
enum spp_walk_path {
	SPP_PATH_NOT_WRITE, /* read or fetch: ordinary EPT rules */
	SPP_PATH_EPT_WRITABLE, /* write allowed by EPT, SPP ignored */
	SPP_PATH_CONTROL_OFF,
	SPP_PATH_LARGE_PAGE,
	SPP_PATH_NO_SPP_BIT,
	SPP_PATH_NOT_READABLE,
	SPP_PATH_NOT_LINEAR, /* page walk, A/D update or no linear address */
	SPP_PATH_SPPT, /* eligible: the SPPT decided */
};

struct spp_walk_result {
	enum spp_walk_outcome outcome;
	enum spp_walk_path path;
	uint32_t exit_reason; /* 0 when allowed, else 48 or 66 */
	uint64_t exit_qualification;
	int level; /* SPPT level (4..1) of the deciding entry, 0 if none */
	uint64_t entry; /* value of that entry */
	unsigned int subpage; /* GPA bits 11:7 */
};

/*
 * spp_walk() - decide one access as an SPP-capable CPU would.
 * @in:  the access and the machine state; @in->read is called only for an
 *       eligible write, once per SPPT level visited (4 at most).
 * @out: filled on success.
 * Returns 0, -EINVAL for NULL arguments, a MAXPHYADDR outside 36..52, an
 * SPPTP with bits 11:0 or bits above MAXPHYADDR set (VM entry would fail),
 * or a write-only EPT leaf (an EPT misconfiguration, not modelled here), or
 * the negative errno of @in->read. Nothing is written to *@out on error.
 */
int spp_walk(const struct spp_walk_input *in, struct spp_walk_result *out);

/* Name of an outcome or path for messages ("allowed", "spp-miss", ...). */
const char *spp_walk_outcome_name(enum spp_walk_outcome outcome);
const char *spp_walk_path_name(enum spp_walk_path path);

#endif /* SPP_WALK_H */
