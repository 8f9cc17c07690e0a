// SPDX-License-Identifier: MIT
/*
 * sppt.c - the Sub-Page Permission Table in hardware format.
 *
 * Each table is one 4 KiB aligned page of 512 u64 entries plus a little
 * bookkeeping (its level and how many entries are "in use": present
 * children for levels 4..2, protected vectors for level 1). Table k of
 * the table address space has physical address base + 4096 * k; the
 * root is table 0. Tables are allocated only in prepare (into a spare
 * pool that the following commit uses up), so a commit never fails;
 * tables a commit leaves empty are freed at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <spp/sppt.h>
#include <spp/walk.h>

#include "core.h"

#define TABLE_SIZE 4096

struct sppt_table {
	uint64_t *e;
	uint32_t used;
	int level;
	size_t idx;
};

struct spp_sppt {
	uint64_t base;
	unsigned int maxphyaddr;
	uint64_t max_tables; /* that fit below 2^maxphyaddr */
	struct sppt_table **tabs; /* by index; NULL = free index */
	size_t tabs_cap;
	size_t hiwater; /* indices ever handed out */
	size_t *free_idx;
	size_t nfree;
	size_t live;
	struct sppt_table **pool;
	size_t npool, pool_cap;
};

static unsigned int level_index(uint64_t gfn, int level)
{
	return (unsigned int)((gfn >> (9 * (level - 1))) & 511);
}

static uint64_t table_pa(const struct spp_sppt *s, const struct sppt_table *t)
{
	return s->base + (uint64_t)t->idx * TABLE_SIZE;
}

static struct sppt_table *table_of_entry(const struct spp_sppt *s,
					 uint64_t entry)
{
	uint64_t idx = ((entry & ~0xFFFULL) - s->base) / TABLE_SIZE;

	return s->tabs[idx];
}

static struct sppt_table *table_alloc(void)
{
	struct sppt_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->e = aligned_alloc(TABLE_SIZE, TABLE_SIZE);
	if (!t->e) {
		free(t);
		return NULL;
	}
	return t;
}

static void table_free(struct sppt_table *t)
{
	if (t) {
		free(t->e);
		free(t);
	}
}

int spp_sppt_create(struct spp_sppt **out, uint64_t base,
		    unsigned int maxphyaddr)
{
	struct spp_sppt *s;
	uint64_t limit;

	if (!out || (base & 0xFFF) || maxphyaddr < 36 || maxphyaddr > 52)
		return -EINVAL;
	limit = 1ULL << maxphyaddr;
	if (base >= limit)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base = base;
	s->maxphyaddr = maxphyaddr;
	s->max_tables = (limit - base) / TABLE_SIZE;
	s->tabs_cap = 64;
	s->tabs = calloc(s->tabs_cap, sizeof(*s->tabs));
	s->free_idx = calloc(s->tabs_cap, sizeof(*s->free_idx));
	s->pool_cap = 16;
	s->pool = calloc(s->pool_cap, sizeof(*s->pool));
	if (s->tabs && s->free_idx && s->pool)
		s->tabs[0] = table_alloc();
	if (!s->tabs || !s->tabs[0]) {
		spp_sppt_destroy(s);
		return -ENOMEM;
	}
	memset(s->tabs[0]->e, 0, TABLE_SIZE);
	s->tabs[0]->level = 4;
	s->hiwater = 1;
	s->live = 1;
	*out = s;
	return 0;
}

void spp_sppt_destroy(struct spp_sppt *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->hiwater; i++)
		table_free(s->tabs[i]);
	for (i = 0; i < s->npool; i++)
		table_free(s->pool[i]);
	free(s->tabs);
	free(s->free_idx);
	free(s->pool);
	free(s);
}

uint64_t spp_sppt_spptp(const struct spp_sppt *s)
{
	return s ? s->base : 0;
}

unsigned int spp_sppt_maxphyaddr(const struct spp_sppt *s)
{
	return s ? s->maxphyaddr : 0;
}

bool spp_sppt_is_empty(const struct spp_sppt *s)
{
	return s->live == 1;
}

int spp_sppt_read(void *ctx, uint64_t pa, uint64_t *entry)
{
	const struct spp_sppt *s = ctx;
	uint64_t idx;

	if (!s || !entry || (pa & 7) || pa < s->base)
		return -EFAULT;
	idx = (pa - s->base) / TABLE_SIZE;
	if (idx >= s->hiwater || !s->tabs[idx])
		return -EFAULT;
	*entry = s->tabs[idx]->e[(pa & 0xFFF) / 8];
	return 0;
}

/* The table of @level on @gfn's path, or NULL where the path ends. */
static struct sppt_table *lookup(const struct spp_sppt *s, uint64_t gfn,
				 int level)
{
	struct sppt_table *t = s->tabs[0];
	int l;

	for (l = 4; l > level; l--) {
		uint64_t e = t->e[level_index(gfn, l)];

		if (!(e & SPP_SPPTE_PRESENT))
			return NULL;
		t = table_of_entry(s, e);
	}
	return t;
}

int spp_sppt_get_vector(const struct spp_sppt *s, uint64_t gfn,
			uint64_t *vector)
{
	struct sppt_table *leaf;

	if (!s || !vector || gfn >= SPP_GFN_LIMIT)
		return -EINVAL;
	leaf = lookup(s, gfn, 1);
	if (!leaf)
		return -ENOENT;
	*vector = leaf->e[level_index(gfn, 1)];
	return 0;
}

/* Whether a page of [gfn, gfn + n) gets a protected map from @src. */
static bool src_protects(const struct spp_map_src *src, uint64_t k, uint64_t n)
{
	uint64_t i;

	if (!src->maps)
		return src->fill != SPP_ACCESS_FULL;
	for (i = 0; i < n; i++)
		if (src->maps[k + i] != SPP_ACCESS_FULL)
			return true;
	return false;
}

static int check_range(const struct spp_sppt *s, uint64_t gfn, uint64_t n,
		       const struct spp_map_src *src)
{
	if (!s || !src)
		return -EINVAL;
	if (gfn >= SPP_GFN_LIMIT || n > SPP_GFN_LIMIT - gfn)
		return -EINVAL;
	return 0;
}

/*
 * Grow every array that a commit creating @need tables may touch: the
 * index table, the free-index stack (room for every index ever handed
 * out) and the pool.
 */
static int reserve_slots(struct spp_sppt *s, size_t need)
{
	size_t fresh = need > s->nfree ? need - s->nfree : 0;
	size_t cap;

	if (s->hiwater + fresh > s->max_tables)
		return -ENOMEM;
	if (s->hiwater + fresh > s->tabs_cap) {
		struct sppt_table **tabs;
		size_t *fi;

		cap = s->tabs_cap;
		while (cap < s->hiwater + fresh)
			cap *= 2;
		fi = realloc(s->free_idx, cap * sizeof(*fi));
		if (!fi)
			return -ENOMEM;
		s->free_idx = fi;
		tabs = realloc(s->tabs, cap * sizeof(*tabs));
		if (!tabs)
			return -ENOMEM;
		memset(tabs + s->tabs_cap, 0,
		       (cap - s->tabs_cap) * sizeof(*tabs));
		s->tabs = tabs;
		s->tabs_cap = cap;
	}
	if (s->npool + need > s->pool_cap) {
		struct sppt_table **pool;

		cap = s->pool_cap;
		while (cap < s->npool + need)
			cap *= 2;
		pool = realloc(s->pool, cap * sizeof(*pool));
		if (!pool)
			return -ENOMEM;
		s->pool = pool;
		s->pool_cap = cap;
	}
	return 0;
}

int spp_sppt_prepare_src(struct spp_sppt *s, uint64_t gfn, uint64_t npages,
			 const struct spp_map_src *src)
{
	uint64_t end = gfn + npages, b, new_l3 = UINT64_MAX,
		 new_l2 = UINT64_MAX;
	size_t need = 0, have;
	int ret;

	ret = check_range(s, gfn, npages, src);
	if (ret)
		return ret;
	/* Count the tables that do not exist yet, per 2 MiB block. */
	for (b = gfn; b < end; b = (b | 511) + 1) {
		uint64_t bend = (b | 511) + 1 < end ? (b | 511) + 1 : end;

		if (!src_protects(src, b - gfn, bend - b))
			continue;
		if (lookup(s, b, 1))
			continue;
		need++; /* the leaf */
		if (!lookup(s, b, 2) && new_l2 != (b >> 18)) {
			need++;
			new_l2 = b >> 18;
			if (!lookup(s, b, 3) && new_l3 != (b >> 27)) {
				need++;
				new_l3 = b >> 27;
			}
		}
	}
	ret = reserve_slots(s, need);
	if (ret)
		return ret;
	for (have = s->npool; have < need; have++) {
		struct sppt_table *t = table_alloc();

		if (!t) {
			while (s->npool)
				table_free(s->pool[--s->npool]);
			return -ENOMEM;
		}
		s->pool[s->npool++] = t;
	}
	return 0;
}

/* Link a pool table under @parent's entry @i as a table of @level. */
static struct sppt_table *link_new(struct spp_sppt *s,
				   struct sppt_table *parent, unsigned int i,
				   int level)
{
	struct sppt_table *t = s->pool[--s->npool];
	uint64_t fill = level == 1 ? SPP_VECTOR_FULL : 0;
	unsigned int k;

	t->idx = s->nfree ? s->free_idx[--s->nfree] : s->hiwater++;
	t->level = level;
	t->used = 0;
	for (k = 0; k < SPP_SPPT_ENTRIES; k++)
		t->e[k] = fill;
	s->tabs[t->idx] = t;
	s->live++;
	parent->e[i] = table_pa(s, t) | SPP_SPPTE_PRESENT;
	parent->used++;
	return t;
}

/* The leaf of @gfn, creating missing tables from the pool. */
static struct sppt_table *leaf_create(struct spp_sppt *s, uint64_t gfn)
{
	struct sppt_table *t = s->tabs[0];
	int l;

	for (l = 4; l > 1; l--) {
		unsigned int i = level_index(gfn, l);

		if (t->e[i] & SPP_SPPTE_PRESENT)
			t = table_of_entry(s, t->e[i]);
		else
			t = link_new(s, t, i, l - 1);
	}
	return t;
}

static void table_release(struct spp_sppt *s, struct sppt_table *t)
{
	s->tabs[t->idx] = NULL;
	s->free_idx[s->nfree++] = t->idx;
	s->live--;
	table_free(t);
}

/* Free the leaf of @gfn (now unused) and every parent left empty. */
static void leaf_release(struct spp_sppt *s, uint64_t gfn)
{
	struct sppt_table *path[5];
	int l;

	path[4] = s->tabs[0];
	for (l = 4; l > 1; l--)
		path[l - 1] =
			table_of_entry(s, path[l]->e[level_index(gfn, l)]);
	for (l = 1; l < 4; l++) {
		if (path[l]->used)
			break;
		path[l + 1]->e[level_index(gfn, l + 1)] = 0;
		path[l + 1]->used--;
		table_release(s, path[l]);
	}
}

/* First gfn after the absent subtree that holds @gfn (none: 0). */
static uint64_t skip_absent(const struct spp_sppt *s, uint64_t gfn)
{
	int l;

	for (l = 3; l >= 1; l--)
		if (!lookup(s, gfn, l))
			return (gfn | ((1ULL << (9 * l)) - 1)) + 1;
	return 0;
}

void spp_sppt_commit_src(struct spp_sppt *s, uint64_t gfn, uint64_t npages,
			 const struct spp_map_src *src)
{
	uint64_t end = gfn + npages, b;

	for (b = gfn; b < end;) {
		uint64_t bend = (b | 511) + 1 < end ? (b | 511) + 1 : end;
		struct sppt_table *leaf = lookup(s, b, 1);
		uint64_t g;

		if (!leaf && !src_protects(src, b - gfn, bend - b)) {
			/* Nothing to clear, nothing to set: skip ahead. */
			uint64_t next = src->maps ? bend : skip_absent(s, b);

			b = next < end ? next : end;
			continue;
		}
		if (!leaf)
			leaf = leaf_create(s, b);
		for (g = b; g < bend; g++) {
			uint64_t v = spp_vector_from_map(
				spp_map_src_at(src, g - gfn));
			uint64_t *e = &leaf->e[level_index(g, 1)];

			if (*e == v)
				continue;
			if (*e == SPP_VECTOR_FULL)
				leaf->used++;
			else if (v == SPP_VECTOR_FULL)
				leaf->used--;
			*e = v;
		}
		if (!leaf->used)
			leaf_release(s, b);
		b = bend;
	}
}

int spp_sppt_prepare(struct spp_sppt *s, uint64_t gfn, uint64_t npages,
		     const uint32_t *maps)
{
	struct spp_map_src src = { .maps = maps };

	if (!maps && npages)
		return -EINVAL;
	return spp_sppt_prepare_src(s, gfn, npages, &src);
}

void spp_sppt_commit(struct spp_sppt *s, uint64_t gfn, uint64_t npages,
		     const uint32_t *maps)
{
	struct spp_map_src src = { .maps = maps };

	if (s && (maps || !npages))
		spp_sppt_commit_src(s, gfn, npages, &src);
}

int spp_sppt_set(struct spp_sppt *s, uint64_t gfn, uint64_t npages,
		 const uint32_t *maps)
{
	int ret = spp_sppt_prepare(s, gfn, npages, maps);

	if (!ret)
		spp_sppt_commit(s, gfn, npages, maps);
	return ret;
}

static int visit(const struct spp_sppt *s, const struct sppt_table *t,
		 spp_sppt_table_fn fn, void *ctx)
{
	unsigned int i;
	int ret;

	ret = fn(ctx, table_pa(s, t), t->level, t->e);
	if (ret || t->level == 1)
		return ret;
	for (i = 0; i < SPP_SPPT_ENTRIES; i++) {
		if (!(t->e[i] & SPP_SPPTE_PRESENT))
			continue;
		ret = visit(s, table_of_entry(s, t->e[i]), fn, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

int spp_sppt_for_each_table(const struct spp_sppt *s, spp_sppt_table_fn fn,
			    void *ctx)
{
	if (!s || !fn)
		return -EINVAL;
	return visit(s, s->tabs[0], fn, ctx);
}

size_t spp_sppt_table_count(const struct spp_sppt *s)
{
	return s ? s->live : 0;
}

size_t spp_sppt_memory(const struct spp_sppt *s)
{
	if (!s)
		return 0;
	return sizeof(*s) +
	       s->tabs_cap * (sizeof(*s->tabs) + sizeof(*s->free_idx)) +
	       s->pool_cap * sizeof(*s->pool) +
	       (s->live + s->npool) * (TABLE_SIZE + sizeof(struct sppt_table));
}
