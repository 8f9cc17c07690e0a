// SPDX-License-Identifier: MIT
/*
 * fuzz_access.c - libFuzzer target: sequences of calls on a permission
 * store (spp/access.h) with an attached SPPT, checked against a dense
 * reference model after every call.
 *
 * The guest-physical universe is small: up to four RAM slots of 64 pages
 * (gfns 0-63, 64-127 - adjacent to the first - 160-223, and the last 64
 * pages below SPP_GFN_LIMIT), plus gfns outside RAM and near 2^64.
 * Invariants (abort() on violation):
 * - every call returns what the model predicts (value and errno);
 * - GET returns what SET stored; a failed GET writes no map;
 * - a failed call changes nothing (lookup and count equal the model);
 * - the SPPT holds spp_vector_from_map() of every map, and has exactly
 *   the tables of the 2 MiB blocks that hold a protected page;
 * - spp_access_memory() stays below a bound proportional to the
 *   protected pages.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <spp/access.h>
#include <spp/sppt.h>
#include <spp/vector.h>

#define SLOT_PAGES 64
#define NSLOTS 4
#define TOP_BASE (SPP_GFN_LIMIT - SLOT_PAGES)
#define NREF (256 + SLOT_PAGES) /* gfns 0-255 and the top slot */

static const uint64_t slot_base[NSLOTS] = { 0, 64, 160, TOP_BASE };

struct model {
	uint32_t ref[NREF];
	bool ram[NSLOTS];
};

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t byte(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint32_t u32(struct input *in)
{
	uint32_t v = byte(in);

	v |= (uint32_t)byte(in) << 8;
	v |= (uint32_t)byte(in) << 16;
	return v | (uint32_t)byte(in) << 24;
}

/* Index of @gfn in the model, -1 if the model has no such page. */
static int ref_idx(uint64_t gfn)
{
	if (gfn < 256)
		return (int)gfn;
	if (gfn >= TOP_BASE && gfn < SPP_GFN_LIMIT)
		return 256 + (int)(gfn - TOP_BASE);
	return -1;
}

static bool is_ram(const struct model *m, uint64_t gfn)
{
	int s;

	for (s = 0; s < NSLOTS; s++)
		if (m->ram[s] && gfn >= slot_base[s] &&
		    gfn < slot_base[s] + SLOT_PAGES)
			return true;
	return false;
}

/* What a range call returns: 0, -EINVAL (overflow) or -EFAULT. */
static int range_ret(const struct model *m, uint64_t gfn, uint64_t n)
{
	uint64_t k;

	if (gfn + n < gfn)
		return -EINVAL;
	for (k = 0; k < n; k++)
		if (!is_ram(m, gfn + k))
			return -EFAULT;
	return 0;
}

static uint64_t pick_gfn(struct input *in)
{
	uint8_t sel = byte(in), b = byte(in);

	switch (sel & 3) {
	case 0:
	case 1:
		return b; /* low slots and the gaps */
	case 2:
		return TOP_BASE + (b % (SLOT_PAGES + 16)); /* past the limit */
	default:
		return b & 1 ? UINT64_MAX - (b >> 1) : (uint64_t)b << 40;
	}
}

static uint32_t pick_map(struct input *in)
{
	uint8_t b = byte(in);

	switch (b & 3) {
	case 0:
		return SPP_ACCESS_FULL;
	case 1:
		return 0;
	case 2:
		return ~(1u << (b >> 3));
	default:
		return u32(in);
	}
}

static void check(const struct model *m, const struct spp_access *acc,
		  const struct spp_sppt *sppt)
{
	uint64_t count = 0, vec;
	size_t tables = 1, bound;
	bool low = false, top = false;
	int i;

	for (i = 0; i < NREF; i++) {
		uint64_t gfn = i < 256 ? (uint64_t)i : TOP_BASE + (i - 256);
		uint32_t map = m->ref[i];
		int ret;

		if (spp_access_lookup(acc, gfn) != map)
			abort();
		if (map != SPP_ACCESS_FULL) {
			count++;
			if (i < 256)
				low = true;
			else
				top = true;
		}
		ret = spp_sppt_get_vector(sppt, gfn, &vec);
		if (ret == -ENOENT) {
			if (map != SPP_ACCESS_FULL)
				abort();
		} else if (ret || vec != spp_vector_from_map(map)) {
			abort();
		}
	}
	if (spp_access_count(acc) != count)
		abort();
	/* root, plus levels 3, 2 and 1 for each block with protection */
	tables += (low ? 3 : 0) + (top ? 3 : 0);
	if (spp_sppt_table_count(sppt) != tables)
		abort();
	/*
	 * The hash table (12 bytes a slot, 64 slots at least) shrinks once
	 * it is 1/16 full: fewer than 16 slots per protected page.
	 */
	bound = 2048 + 16 * 12 * count;
	if (spp_access_memory(acc) > bound)
		abort();
}

static void set_model(struct model *m, uint64_t gfn, uint64_t n,
		      const uint32_t *maps, uint32_t fill)
{
	uint64_t k;

	for (k = 0; k < n; k++) {
		int i = ref_idx(gfn + k);

		if (i < 0)
			abort(); /* succeeded outside RAM */
		m->ref[i] = maps ? maps[k] : fill;
	}
}

static void op(struct input *in, struct model *m, struct spp_access *acc)
{
	uint8_t code = byte(in);
	union {
		struct spp_subpage req;
		uint8_t raw[sizeof(struct spp_subpage) +
			    (SPP_SUBPAGE_MAX_PAGES + 8) * sizeof(uint32_t)];
	} u;
	struct spp_subpage *req = &u.req;
	int s = code >> 5 & 3, ret, want;
	uint64_t gfn, n, k;
	uint32_t map;

	switch (code % 5) {
	case 0: /* add RAM */
		ret = spp_access_add_ram(acc, slot_base[s] << 12,
					 SLOT_PAGES << 12);
		if (ret != (m->ram[s] ? -EEXIST : 0))
			abort();
		m->ram[s] = true;
		break;
	case 1: /* remove RAM */
		want = m->ram[s] ? 0 : -ENOENT;
		for (k = 0; !want && k < SLOT_PAGES; k++)
			if (m->ref[ref_idx(slot_base[s] + k)] !=
			    SPP_ACCESS_FULL)
				want = -EBUSY;
		if (spp_access_remove_ram(acc, slot_base[s] << 12,
					  SLOT_PAGES << 12) != want)
			abort();
		if (!want)
			m->ram[s] = false;
		break;
	case 2: /* KVM-shaped SET */
	case 3: /* KVM-shaped GET */
		gfn = pick_gfn(in);
		n = byte(in);
		n = n >= 250 ? SPP_SUBPAGE_MAX_PAGES - 2 + (n - 250) : n % 24;
		req->gfn_base = gfn;
		req->npages = (uint32_t)n;
		req->flags = (code & 0x80) && (byte(in) & 1) ? 1 : 0;
		for (k = 0; k < n; k++)
			req->access_map[k] = code % 5 == 2 ? pick_map(in) :
							     0xdeadbeef;
		if (req->flags || n > SPP_SUBPAGE_MAX_PAGES)
			want = -EINVAL;
		else if (!n)
			want = 0;
		else
			want = range_ret(m, gfn, n);
		if (code % 5 == 2) {
			ret = spp_access_set(acc, req);
			if (ret != (want ? want : (int)n))
				abort();
			if (!want)
				set_model(m, gfn, n, req->access_map, 0);
			break;
		}
		ret = spp_access_get(acc, req);
		if (ret != (want ? want : (int)n))
			abort();
		for (k = 0; k < n; k++) {
			uint32_t v = want ? 0xdeadbeef :
					    m->ref[ref_idx(gfn + k)];

			if (req->access_map[k] != v)
				abort();
		}
		break;
	default: /* set_range */
		gfn = pick_gfn(in);
		n = byte(in);
		n = n >= 192 ? (n - 192) * 4 : n % 24; /* up to 252 pages */
		map = pick_map(in);
		want = n ? range_ret(m, gfn, n) : 0;
		if (spp_access_set_range(acc, gfn, n, map) != want)
			abort();
		if (!want)
			set_model(m, gfn, n, NULL, map);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct spp_access *acc;
	struct spp_sppt *sppt;
	struct model m;
	int i;

	for (i = 0; i < NREF; i++)
		m.ref[i] = SPP_ACCESS_FULL;
	memset(m.ram, 0, sizeof(m.ram));
	if (spp_access_create(&acc) ||
	    spp_sppt_create(&sppt, SPP_SPPT_DEFAULT_BASE,
			    SPP_SPPT_DEFAULT_MAXPHYADDR) ||
	    spp_access_attach_sppt(acc, sppt))
		abort();
	while (in.n) {
		op(&in, &m, acc);
		check(&m, acc, sppt);
	}
	/* unprotect and remove everything: must leave no table behind */
	for (i = 0; i < NSLOTS; i++) {
		if (!m.ram[i])
			continue;
		if (spp_access_set_range(acc, slot_base[i], SLOT_PAGES,
					 SPP_ACCESS_FULL) ||
		    spp_access_remove_ram(acc, slot_base[i] << 12,
					  SLOT_PAGES << 12))
			abort();
	}
	if (spp_access_count(acc) || spp_sppt_table_count(sppt) != 1)
		abort();
	spp_access_attach_sppt(acc, NULL);
	spp_sppt_destroy(sppt);
	spp_access_destroy(acc);
	return 0;
}
