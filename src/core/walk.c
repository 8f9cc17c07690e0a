// SPDX-License-Identifier: MIT
/*
 * walk.c - the hardware decision for one guest access (see spp/walk.h for
 * the order of the checks and where it comes from).
 */
#include <errno.h>
#include <stddef.h>

#include <spp/vector.h>
#include <spp/walk.h>

/* Qualification of an EPT violation for @in (bits 0..8 and 12). */
static uint64_t eptv_qualification(const struct spp_walk_input *in)
{
	uint64_t q = 0;

	switch (in->type) {
	case SPP_ACCESS_READ:
		q |= SPP_EPTV_READ;
		break;
	case SPP_ACCESS_WRITE:
		q |= SPP_EPTV_WRITE;
		break;
	case SPP_ACCESS_FETCH:
		q |= SPP_EPTV_FETCH;
		break;
	}
	if (in->ept.read)
		q |= SPP_EPTV_READABLE;
	if (in->ept.write)
		q |= SPP_EPTV_WRITABLE;
	if (in->ept.exec)
		q |= SPP_EPTV_EXECUTABLE;
	if (in->origin == SPP_ORIGIN_LINEAR)
		q |= SPP_EPTV_GLA_VALID | SPP_EPTV_GLA_XLATE;
	else if (in->origin == SPP_ORIGIN_PAGE_WALK)
		q |= SPP_EPTV_GLA_VALID;
	if (in->nmi_unblocking)
		q |= SPP_QUAL_NMI_UNBLOCK;
	return q;
}

static void decide(const struct spp_walk_input *in, struct spp_walk_result *r,
		   enum spp_walk_outcome outcome, enum spp_walk_path path)
{
	r->outcome = outcome;
	r->path = path;
	r->exit_reason = 0;
	r->exit_qualification = 0;
	switch (outcome) {
	case SPP_WALK_ALLOWED:
		break;
	case SPP_WALK_EPT_VIOLATION:
		r->exit_reason = SPP_EXIT_EPT_VIOLATION;
		r->exit_qualification = eptv_qualification(in);
		break;
	case SPP_WALK_SPP_MISS:
	case SPP_WALK_SPP_MISCONFIG:
		r->exit_reason = SPP_EXIT_SPP_EVENT;
		if (outcome == SPP_WALK_SPP_MISS)
			r->exit_qualification |= SPP_QUAL_SPP_MISS;
		if (in->nmi_unblocking)
			r->exit_qualification |= SPP_QUAL_NMI_UNBLOCK;
		break;
	}
}

static bool input_valid(const struct spp_walk_input *in)
{
	uint64_t above;

	if (in->maxphyaddr < 36 || in->maxphyaddr > 52)
		return false;
	if (in->type > SPP_ACCESS_FETCH || in->origin > SPP_ORIGIN_PHYSICAL ||
	    in->ept.size > SPP_EPT_1G)
		return false;
	if (in->ept.write && !in->ept.read)
		return false; /* write-only EPT entry: EPT misconfiguration */
	above = ~((1ULL << in->maxphyaddr) - 1);
	if (in->spp_enabled && ((in->spptp & 0xFFF) || (in->spptp & above)))
		return false;
	return true;
}

/* Non-ineligibility path of an access, or SPP_PATH_SPPT when eligible. */
static enum spp_walk_path classify(const struct spp_walk_input *in)
{
	if (in->type != SPP_ACCESS_WRITE)
		return SPP_PATH_NOT_WRITE;
	if (in->ept.write)
		return SPP_PATH_EPT_WRITABLE;
	if (!in->spp_enabled)
		return SPP_PATH_CONTROL_OFF;
	if (in->ept.size != SPP_EPT_4K)
		return SPP_PATH_LARGE_PAGE;
	if (!in->ept.spp)
		return SPP_PATH_NO_SPP_BIT;
	if (!in->ept.read)
		return SPP_PATH_NOT_READABLE;
	if (in->origin != SPP_ORIGIN_LINEAR)
		return SPP_PATH_NOT_LINEAR;
	return SPP_PATH_SPPT;
}

int spp_walk(const struct spp_walk_input *in, struct spp_walk_result *out)
{
	struct spp_walk_result r = { 0 };
	uint64_t above, table, entry = 0;
	enum spp_walk_path path;
	int level, ret;

	if (!in || !out || !input_valid(in))
		return -EINVAL;
	r.subpage = spp_subpage_index(in->gpa);
	path = classify(in);
	switch (path) {
	case SPP_PATH_NOT_WRITE: {
		bool ok = in->type == SPP_ACCESS_READ ? in->ept.read :
							in->ept.exec;

		decide(in, &r, ok ? SPP_WALK_ALLOWED : SPP_WALK_EPT_VIOLATION,
		       path);
		*out = r;
		return 0;
	}
	case SPP_PATH_EPT_WRITABLE:
		decide(in, &r, SPP_WALK_ALLOWED, path);
		*out = r;
		return 0;
	case SPP_PATH_SPPT:
		break;
	default:
		decide(in, &r, SPP_WALK_EPT_VIOLATION, path);
		*out = r;
		return 0;
	}
	if (!in->read)
		return -EINVAL;

	above = ~((1ULL << in->maxphyaddr) - 1) & ~SPP_SPPTE_RSVD_HIGH;
	table = in->spptp;
	for (level = 4; level >= 1; level--) {
		unsigned int idx =
			(unsigned int)(in->gpa >> (12 + 9 * (level - 1))) & 511;

		ret = in->read(in->read_ctx, table + 8ULL * idx, &entry);
		if (ret)
			return ret < 0 ? ret : -EFAULT;
		r.level = level;
		r.entry = entry;
		if (level == 1)
			break;
		if (!(entry & SPP_SPPTE_PRESENT)) {
			decide(in, &r, SPP_WALK_SPP_MISS, path);
			*out = r;
			return 0;
		}
		if (entry &
		    (SPP_SPPTE_RSVD_LOW | SPP_SPPTE_RSVD_HIGH | above)) {
			decide(in, &r, SPP_WALK_SPP_MISCONFIG, path);
			*out = r;
			return 0;
		}
		table = entry & ~0xFFFULL;
	}
	if (entry & SPP_VECTOR_RESERVED)
		decide(in, &r, SPP_WALK_SPP_MISCONFIG, path);
	else if ((entry >> (2 * r.subpage)) & 1)
		decide(in, &r, SPP_WALK_ALLOWED, path);
	else
		decide(in, &r, SPP_WALK_EPT_VIOLATION, path);
	*out = r;
	return 0;
}

const char *spp_walk_outcome_name(enum spp_walk_outcome outcome)
{
	switch (outcome) {
	case SPP_WALK_ALLOWED:
		return "allowed";
	case SPP_WALK_EPT_VIOLATION:
		return "ept-violation";
	case SPP_WALK_SPP_MISS:
		return "spp-miss";
	case SPP_WALK_SPP_MISCONFIG:
		return "spp-misconfig";
	}
	return "?";
}

const char *spp_walk_path_name(enum spp_walk_path path)
{
	switch (path) {
	case SPP_PATH_NOT_WRITE:
		return "not-write";
	case SPP_PATH_EPT_WRITABLE:
		return "ept-writable";
	case SPP_PATH_CONTROL_OFF:
		return "control-off";
	case SPP_PATH_LARGE_PAGE:
		return "large-page";
	case SPP_PATH_NO_SPP_BIT:
		return "no-spp-bit";
	case SPP_PATH_NOT_READABLE:
		return "not-readable";
	case SPP_PATH_NOT_LINEAR:
		return "not-linear";
	case SPP_PATH_SPPT:
		return "sppt";
	}
	return "?";
}
