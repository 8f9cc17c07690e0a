// SPDX-License-Identifier: MIT
/*
 * guard.c - sub-page write protection on a KVM VM through read-only
 * memslots (see spp/guard.h for the model).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include <spp/guard.h>
#include <spp/guest_mem.h>

#include "guard_priv.h"
#include "kvm_ioctl.h"
#include "slots.h"

static struct guard_region *region_of(struct spp_guard *g, uint64_t gpa,
				      uint64_t len);

__thread int spp_kvm_ioctl_depth;

/* ---- memslots --------------------------------------------------------- */

/* The low 16 bits of a slot id: the id within its address space. */
#define SLOT_ID(slot) ((slot)&0xffffu)

/*
 * KVM deletes a slot's dirty log with the slot: before a piece of a
 * region that logs dirty pages goes, its log is kept in the region's own
 * bits (r->dirty), which spp_guard_get_dirty_log() merges, so a page the
 * guest dirtied is reported although the guard re-cut its piece since.
 */
static int keep_dirty_log(struct spp_guard *g, struct guard_region *r,
			  const struct spp_slot *s)
{
	uint64_t *bm = calloc((s->npages + 63) / 64, sizeof(*bm)), k, at;
	struct kvm_dirty_log d = {
		.slot = s->id | r->as_id << 16,
		.dirty_bitmap = bm,
	};
	int ret;

	if (!bm)
		return -ENOMEM;
	ret = spp_kvm_ioctl(g->vm_fd, KVM_GET_DIRTY_LOG, &d);
	for (k = 0; ret >= 0 && k < s->npages; k++) {
		if (!(bm[k / 64] & (1ULL << (k % 64))))
			continue;
		at = s->gfn - r->gfn + k;
		__atomic_or_fetch(&r->dirty[at / 64], 1ULL << (at % 64),
				  __ATOMIC_RELAXED);
	}
	free(bm);
	return ret < 0 ? ret : 0;
}

static int kvm_set_slot(struct spp_guard *g, struct guard_region *r,
			const struct spp_slot *s, bool remove)
{
	struct kvm_userspace_memory_region m = {
		.slot = s->id | r->as_id << 16,
		.flags = remove ? 0 : (s->ro ? KVM_MEM_READONLY : 0) | r->flags,
		.guest_phys_addr = s->gfn << PAGE_SHIFT,
		.memory_size = remove ? 0 : s->npages << PAGE_SHIFT,
		.userspace_addr =
			(uint64_t)(uintptr_t)(r->hva + ((s->gfn - r->gfn)
							<< PAGE_SHIFT)),
	};
	int ret;

	if (remove && (r->flags & KVM_MEM_LOG_DIRTY_PAGES)) {
		ret = keep_dirty_log(g, r, s);
		if (ret)
			return ret;
	}
	ret = spp_kvm_ioctl(g->vm_fd, KVM_SET_USER_MEMORY_REGION, &m);
	if (ret < 0)
		return ret;
	if (s->id == SLOT_ID(r->vmm_slot))
		r->vmm_id_busy = !remove;
	__atomic_add_fetch(&g->stats.slot_changes, 1, __ATOMIC_RELAXED);
	return 0;
}

/*
 * Memslot ids: the guard's own come from one stack; the id the VMM handed
 * in goes back to its region only, never to another region or address
 * space (the VMM may take it again once it deletes its slot).
 */
static void id_put(struct spp_guard *g, const struct guard_region *r,
		   uint32_t id)
{
	if (id != SLOT_ID(r->vmm_slot))
		g->free_ids[g->nfree++] = id;
}

static bool id_get(struct spp_guard *g, const struct guard_region *r,
		   uint32_t *id)
{
	if (!r->vmm_id_busy) {
		*id = SLOT_ID(r->vmm_slot);
		return true;
	}
	if (!g->nfree)
		return false;
	*id = g->free_ids[--g->nfree];
	return true;
}

static bool same_slot(const struct spp_slot *a, const struct spp_slot *b)
{
	return a->gfn == b->gfn && a->npages == b->npages && a->ro == b->ro;
}

/* Whether @s of @set (n entries) has an equal twin in @other; its id. */
static bool find_twin(const struct spp_slot *s, const struct spp_slot *other,
		      size_t n, uint32_t *id)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (same_slot(s, &other[i])) {
			if (id)
				*id = other[i].id;
			return true;
		}
	}
	return false;
}

/*
 * Replace the @n_old slots @old (in KVM now) by the @n_new slots @new:
 * slots present in both stay untouched, the others are deleted, then
 * created (KVM refuses overlapping slots). Assigns ids to @new. On failure
 * puts the old slots back (best effort) and returns the KVM errno.
 */
static int swap_slots(struct spp_guard *g, struct guard_region *r,
		      const struct spp_slot *old, size_t n_old,
		      struct spp_slot *new, size_t n_new)
{
	size_t i, j, nfree0 = g->nfree;
	int ret = 0;

	for (i = 0; i < n_new; i++)
		if (!find_twin(&new[i], old, n_old, &new[i].id))
			new[i].id = UINT32_MAX;
	for (i = 0; i < n_old; i++) {
		if (find_twin(&old[i], new, n_new, NULL))
			continue;
		ret = kvm_set_slot(g, r, &old[i], true);
		if (ret)
			goto undo_deletes;
		id_put(g, r, old[i].id);
	}
	for (j = 0; j < n_new; j++) {
		if (new[j].id != UINT32_MAX)
			continue;
		if (!id_get(g, r, &new[j].id)) {
			ret = -ENOSPC;
			goto undo_creates;
		}
		ret = kvm_set_slot(g, r, &new[j], false);
		if (ret) {
			id_put(g, r, new[j].id);
			new[j].id = UINT32_MAX;
			goto undo_creates;
		}
	}
	return 0;

undo_creates:
	while (j--) {
		if (find_twin(&new[j], old, n_old, NULL))
			continue;
		kvm_set_slot(g, r, &new[j], true);
		id_put(g, r, new[j].id);
	}
	i = n_old;
undo_deletes:
	while (i--) {
		if (find_twin(&old[i], new, n_new, NULL))
			continue;
		kvm_set_slot(g, r, &old[i], false);
	}
	g->nfree = nfree0;
	return ret;
}

/* ---- trapped pages ------------------------------------------------------ */

/* The maps as they will be after the pending update: an overlay. */
struct overlay {
	const struct spp_access *acc;
	uint64_t gfn, n;
	const uint32_t *maps; /* NULL: @fill for all */
	uint32_t fill;
};

static uint32_t overlay_map(const struct overlay *o, uint64_t gfn)
{
	if (gfn - o->gfn < o->n)
		return o->maps ? o->maps[gfn - o->gfn] : o->fill;
	return spp_access_lookup(o->acc, gfn);
}

/* A page traps if it is protected, or if a store crossing into a
 * neighbour's denied edge sub-page could start or end on it. */
static bool overlay_trapped(void *ctx, uint64_t gfn)
{
	const struct overlay *o = ctx;

	if (overlay_map(o, gfn) != SPP_ACCESS_FULL)
		return true;
	if (gfn + 1 < SPP_GFN_LIMIT && !(overlay_map(o, gfn + 1) & 1))
		return true;
	if (gfn && !(overlay_map(o, gfn - 1) & (1u << 31)))
		return true;
	return false;
}

struct pending {
	struct guard_region *r;
	struct spp_slot_plan plan;
	struct spp_slot *old; /* copy of the replaced slots */
	bool applied;
};

static void pending_release(struct pending *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		spp_slot_plan_release(&p[i].plan);
		free(p[i].old);
	}
	free(p);
}

/*
 * Put the planned slots into the region's array (after KVM took them) and
 * the stats with them: in place and O(changed slots) but for one memmove;
 * room was reserved before the change, so this cannot fail.
 */
static void region_commit_plan(struct spp_guard *g, struct pending *p)
{
	struct spp_slot_tally old = { 0 }, new = { 0 };
	struct guard_region *r = p->r;

	spp_slots_tally(p->old, p->plan.count, &old);
	spp_slots_tally(p->plan.slots, p->plan.nslots, &new);
	spp_slots_apply(&r->slots, &r->nslots, &r->cap, &p->plan);
	g->stats.slots += (uint32_t)(new.slots - old.slots);
	g->stats.ro_slots += (uint32_t)(new.ro - old.ro);
	g->stats.trapped_pages += new.trapped - old.trapped;
}

static int guard_pause(struct spp_guard *g)
{
	return g->ops.pause ? g->ops.pause(g->ctx) : 0;
}

static void guard_resume(struct spp_guard *g)
{
	if (g->ops.resume)
		g->ops.resume(g->ctx);
}

/* Count every slot again: after adding or removing a region only. */
static void count_slots(struct spp_guard *g)
{
	struct spp_slot_tally t = { 0 };
	size_t i;

	for (i = 0; i < g->nregions; i++)
		spp_slots_tally(g->regions[i].slots, g->regions[i].nslots, &t);
	g->stats.slots = (uint32_t)t.slots;
	g->stats.ro_slots = (uint32_t)t.ro;
	g->stats.trapped_pages = t.trapped;
}

/* What a map change leaves of the byte masks of its pages. */
struct keep_bytes {
	const struct overlay *o;
	uint32_t keep;
};

/* Byte masks survive in the sub-pages of @keep the new map denies. */
static void keep_bytes_edit(void *ctx, uint64_t gfn, uint64_t *bits)
{
	const struct keep_bytes *k = ctx;
	uint32_t stay = k->keep & ~overlay_map(k->o, gfn);
	unsigned int i;

	for (i = 0; i < SPP_SUBPAGES_PER_PAGE; i++) {
		if (stay & (1u << i))
			continue;
		bits[2 * i] = 0;
		bits[2 * i + 1] = 0;
	}
}

/* Put @nb in place of the byte masks; @nb gets the old ones. */
static void swap_bytes(struct spp_guard *g, struct spp_bytemask *nb)
{
	struct spp_bytemask old;

	pthread_mutex_lock(&g->commit_lock);
	old = g->bytes;
	g->bytes = *nb;
	pthread_mutex_unlock(&g->commit_lock);
	*nb = old;
}

/*
 * Change maps of @gfn .. @gfn + @n - 1 and the memslots with them, all or
 * nothing. With @masks, byte masks of those pages stay only in sub-pages
 * of @keep that the new maps deny; without, the caller sees to them.
 * Called with g->lock held.
 */
static int update(struct spp_guard *g, uint64_t gfn, uint64_t n,
		  const uint32_t *maps, uint32_t fill, bool masks,
		  uint32_t keep)
{
	struct overlay o = { g->acc, gfn, n, maps, fill };
	struct keep_bytes kb = { &o, keep };
	struct spp_bytemask nb = { NULL, 0 };
	bool bytes = false;
	struct pending *p;
	uint64_t lo, hi;
	size_t np = 0, i;
	int ret;

	if (!n)
		return 0;
	if (gfn + n < gfn)
		return -EINVAL;
	if (!spp_access_is_ram(g->acc, gfn, n))
		return -EFAULT;
	if (masks && spp_bytemask_any(&g->bytes, gfn, n)) {
		/* the masks as they will be, ready before anything changes */
		ret = spp_bytemask_edit(&g->bytes, gfn, n, keep_bytes_edit, &kb,
					SIZE_MAX, &nb);
		if (ret)
			return ret;
		bytes = true;
	}

	/* Plan every region the trapped window [gfn-1, gfn+n+1) touches. */
	lo = gfn ? gfn - 1 : 0;
	hi = gfn + n + 1;
	p = calloc(g->nregions, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (i = 0; i < g->nregions; i++) {
		struct guard_region *r = &g->regions[i];
		uint64_t a = lo > r->gfn ? lo : r->gfn;
		uint64_t b = hi < r->gfn + r->npages ? hi : r->gfn + r->npages;

		if (a >= b)
			continue;
		p[np].r = r;
		ret = spp_slots_plan(r->slots, r->nslots, a, b, overlay_trapped,
				     &o, g->nfree, &p[np].plan);
		if (!ret && g->nfree + p[np].plan.count >
				    p[np].plan.nslots + g->id_count / 2)
			ret = spp_slots_split(&p[np].plan, GUARD_SLOT_CHUNK,
					      g->nfree + p[np].plan.count -
						      p[np].plan.nslots -
						      g->id_count / 2);
		/*
		 * Past that budget no new cuts, but the ones there stay while
		 * ids are free: joining the chunks next to each change would
		 * grow a slot KVM re-creates by 64 MiB per change (measured:
		 * 20-50 ms per scattered SET once slots reach GiBs).
		 */
		if (!ret && g->nfree + p[np].plan.count > p[np].plan.nslots)
			ret = spp_slots_keep_cuts(&p[np].plan,
						  r->slots + p[np].plan.first,
						  p[np].plan.count,
						  GUARD_SLOT_CHUNK,
						  g->nfree + p[np].plan.count -
							  p[np].plan.nslots);
		if (ret)
			goto out;
		p[np].old = malloc(p[np].plan.count * sizeof(*p[np].old));
		if (!p[np].old) {
			np++;
			ret = -ENOMEM;
			goto out;
		}
		memcpy(p[np].old, r->slots + p[np].plan.first,
		       p[np].plan.count * sizeof(*p[np].old));
		np++;
		/* Room for the result now: committing it cannot fail. */
		ret = spp_slots_reserve(&r->slots, &r->cap,
					r->nslots - p[np - 1].plan.count +
						p[np - 1].plan.nslots);
		if (ret)
			goto out;
	}

	ret = guard_pause(g);
	if (ret)
		goto out;
	for (i = 0; i < np && !ret; i++) {
		ret = swap_slots(g, p[i].r, p[i].old, p[i].plan.count,
				 p[i].plan.slots, p[i].plan.nslots);
		p[i].applied = !ret;
	}
	if (!ret)
		ret = maps ? spp_access_set_bulk(g->acc, gfn, n, maps) :
			     spp_access_set_range(g->acc, gfn, n, fill);
	if (!ret) {
		for (i = 0; i < np; i++)
			region_commit_plan(g, &p[i]);
		/* after the maps: a writable sub-page's stale mask is moot */
		if (bytes)
			swap_bytes(g, &nb);
	} else {
		/* Undo the slot swaps that went through. */
		for (i = np; i--;)
			if (p[i].applied)
				swap_slots(g, p[i].r, p[i].plan.slots,
					   p[i].plan.nslots, p[i].old,
					   p[i].plan.count);
		if (ret != -ENOMEM)
			ret = -EIO;
	}
	guard_resume(g);
out:
	pending_release(p, np);
	spp_bytemask_release(&nb);
	return ret;
}

/* ---- public: setup ---------------------------------------------------- */

int spp_guard_create(struct spp_guard **out, int vm_fd,
		     const struct spp_guard_ops *ops, void *ctx)
{
	struct spp_guard *g;
	int nr, quirks, ret;

	if (!out || vm_fd < 0)
		return -EINVAL;
	if (spp_kvm_ioctl_val(vm_fd, KVM_CHECK_EXTENSION,
			      KVM_CAP_READONLY_MEM) <= 0)
		return -EOPNOTSUPP;
	nr = spp_kvm_ioctl_val(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	if (nr <= GUARD_FIRST_SLOT)
		return -EOPNOTSUPP;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	ret = spp_access_create(&g->acc);
	if (ret) {
		free(g);
		return ret;
	}
	g->vm_fd = vm_fd;
	if (ops)
		g->ops = *ops;
	g->ctx = ctx;
	g->nr_memslots = (uint32_t)nr;
	spp_guest_mem_init(&g->mem);
	pthread_mutex_init(&g->lock, NULL);
	pthread_mutex_init(&g->commit_lock, NULL);
	ret = spp_guard_set_slot_range(g, GUARD_FIRST_SLOT,
				       (uint32_t)nr - GUARD_FIRST_SLOT);
	if (ret) {
		spp_guard_destroy(g);
		return ret;
	}
	/* The GPRs come with every exit: rep strings are spotted for free. */
	ret = spp_kvm_ioctl_val(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	g->sync_regs = ret > 0 && (ret & KVM_SYNC_X86_REGS);
	/* ...and the control registers: where a store came from is
	 * checked through the guest's page tables (guard_store_origin). */
	g->sync_sregs = g->sync_regs && (ret & KVM_SYNC_X86_SREGS);
	/* Without this, every slot deletion makes all guest memory re-fault
	 * (measured); kernels before 6.12 have no such quirk. */
	quirks = spp_kvm_ioctl_val(vm_fd, KVM_CHECK_EXTENSION,
				   KVM_CAP_DISABLE_QUIRKS2);
	if (quirks > 0 && (quirks & KVM_X86_QUIRK_SLOT_ZAP_ALL)) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_DISABLE_QUIRKS2,
			.args = { KVM_X86_QUIRK_SLOT_ZAP_ALL },
		};

		/* best effort */
		(void)spp_kvm_ioctl(vm_fd, KVM_ENABLE_CAP, &cap);
	}
	*out = g;
	return 0;
}

void spp_guard_destroy(struct spp_guard *g)
{
	size_t i;

	if (!g)
		return;
	for (i = 0; i < g->nregions; i++) {
		free(g->regions[i].slots);
		free(g->regions[i].dirty);
	}
	free(g->regions);
	free(g->free_ids);
	spp_bytemask_release(&g->bytes);
	spp_access_destroy(g->acc);
	pthread_mutex_destroy(&g->lock);
	pthread_mutex_destroy(&g->commit_lock);
	free(g);
}

static bool id_in_use(const struct spp_guard *g, uint32_t id)
{
	size_t i, k;

	for (i = 0; i < g->nregions; i++)
		for (k = 0; k < g->regions[i].nslots; k++)
			if (g->regions[i].slots[k].id == id)
				return true;
	return false;
}

int spp_guard_set_slot_range(struct spp_guard *g, uint32_t first,
			     uint32_t count)
{
	uint32_t *ids, id;
	size_t i, k, n = 0;

	if (!g || !count || first >= g->nr_memslots ||
	    count > g->nr_memslots - first)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	/* Every id in use must be inside the new range or a VMM slot id. */
	for (i = 0; i < g->nregions; i++) {
		for (k = 0; k < g->regions[i].nslots; k++) {
			id = g->regions[i].slots[k].id;
			if ((id < first || id - first >= count) &&
			    id != SLOT_ID(g->regions[i].vmm_slot)) {
				pthread_mutex_unlock(&g->lock);
				return -EBUSY;
			}
		}
	}
	ids = malloc(count * sizeof(*ids));
	if (!ids) {
		pthread_mutex_unlock(&g->lock);
		return -ENOMEM;
	}
	/* Lowest ids on top of the stack. */
	for (id = first + count; id-- > first;)
		if (!id_in_use(g, id))
			ids[n++] = id;
	free(g->free_ids);
	g->free_ids = ids;
	g->nfree = n;
	g->id_first = first;
	g->id_count = count;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static struct guard_region *region_by_slot(struct spp_guard *g, uint32_t slot)
{
	size_t i;

	for (i = 0; i < g->nregions; i++)
		if (g->regions[i].vmm_slot == slot)
			return &g->regions[i];
	return NULL;
}

/* Whether [@gfn, @gfn + @n) overlaps a region of address space @as. */
static bool region_overlaps(const struct spp_guard *g, uint32_t as,
			    uint64_t gfn, uint64_t n)
{
	size_t i;

	for (i = 0; i < g->nregions; i++) {
		const struct guard_region *r = &g->regions[i];

		if (r->as_id == as && r->gfn < gfn + n &&
		    gfn < r->gfn + r->npages)
			return true;
	}
	return false;
}

/*
 * Bring a region's slots in line with the maps (pages protected while it
 * had no memory, kept by spp_guard_forget_memory()). Called with g->lock
 * held and the vCPUs paused; on failure the region is one read-write slot
 * as the VMM made it.
 */
static int region_sync(struct spp_guard *g, struct guard_region *r)
{
	struct overlay o = { g->acc, 0, 0, NULL, 0 };
	struct pending p = { .r = r };
	int ret;

	ret = spp_slots_plan(r->slots, r->nslots, r->gfn, r->gfn + r->npages,
			     overlay_trapped, &o, g->nfree, &p.plan);
	if (ret)
		return ret;
	if (p.plan.nslots == p.plan.count && p.plan.nslots == 1 &&
	    !p.plan.slots[0].ro) {
		spp_slot_plan_release(&p.plan);
		return 0; /* nothing traps */
	}
	p.old = malloc(p.plan.count * sizeof(*p.old));
	ret = p.old ? spp_slots_reserve(&r->slots, &r->cap,
					r->nslots - p.plan.count +
						p.plan.nslots) :
		      -ENOMEM;
	if (!ret) {
		memcpy(p.old, r->slots + p.plan.first,
		       p.plan.count * sizeof(*p.old));
		ret = swap_slots(g, r, p.old, p.plan.count, p.plan.slots,
				 p.plan.nslots);
	}
	if (!ret)
		region_commit_plan(g, &p);
	spp_slot_plan_release(&p.plan);
	free(p.old);
	return ret;
}

/* Delete every memslot of @r in KVM (vCPUs paused). On failure the
 * deleted ones are created again (best effort). */
static int region_delete_slots(struct spp_guard *g, struct guard_region *r)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < r->nslots && !ret; i++)
		ret = kvm_set_slot(g, r, &r->slots[i], true);
	if (ret)
		while (i-- > 1)
			kvm_set_slot(g, r, &r->slots[i - 1], false);
	return ret;
}

/* Forget region @r (its memslots are gone from KVM): ids back, RAM and
 * guest_mem entries dropped. Called with g->lock held, vCPUs paused. */
static void region_drop(struct spp_guard *g, struct guard_region *r)
{
	size_t i;

	for (i = 0; i < r->nslots; i++)
		id_put(g, r, r->slots[i].id);
	if (!r->as_id) {
		spp_guest_mem_remove(&g->mem, r->gfn << PAGE_SHIFT,
				     r->npages << PAGE_SHIFT);
		/* Protected pages stay registered: their maps hold when
		 * RAM comes back (cannot fail but for -ENOMEM, after which
		 * the pages simply stay RAM). */
		spp_access_trim_ram(g->acc, r->gfn << PAGE_SHIFT,
				    r->npages << PAGE_SHIFT);
	}
	free(r->slots);
	free(r->dirty);
	i = (size_t)(r - g->regions);
	memmove(r, r + 1, (g->nregions - i - 1) * sizeof(*r));
	g->nregions--;
	count_slots(g);
}

int spp_guard_add_memory(struct spp_guard *g, uint32_t slot, uint64_t gpa,
			 uint64_t size, void *hva)
{
	return spp_guard_add_memory_flags(g, slot, gpa, size, hva, 0);
}

int spp_guard_add_memory_flags(struct spp_guard *g, uint32_t slot, uint64_t gpa,
			       uint64_t size, void *hva, uint32_t flags)
{
	struct guard_region *regions, *r;
	uint32_t *ids, as = slot >> 16;
	size_t k;
	int ret;

	if (!g || !hva || !size || ((gpa | size) & (PAGE_SIZE - 1)) ||
	    (flags & ~(uint32_t)KVM_MEM_LOG_DIRTY_PAGES) ||
	    ((uintptr_t)hva & (PAGE_SIZE - 1)) || as > 1 ||
	    gpa >= (1ULL << SPP_GPA_BITS) ||
	    size > (1ULL << SPP_GPA_BITS) - gpa)
		return -EINVAL;
	if (SLOT_ID(slot) >= g->id_first &&
	    SLOT_ID(slot) - g->id_first < g->id_count)
		return -EINVAL; /* the guard's own ids */
	pthread_mutex_lock(&g->lock);
	ret = -EEXIST;
	if (region_by_slot(g, slot) ||
	    region_overlaps(g, as, gpa >> PAGE_SHIFT, size >> PAGE_SHIFT))
		goto out;
	/* vCPU threads read the region array (region_of() on every exit):
	 * even growing it, which may move it, waits for them. */
	ret = guard_pause(g);
	if (ret)
		goto out;
	ret = -ENOMEM;
	regions = realloc(g->regions, (g->nregions + 1) * sizeof(*regions));
	if (!regions)
		goto resume;
	g->regions = regions;
	ids = realloc(g->free_ids, (g->id_count + 1) * sizeof(*ids));
	if (!ids)
		goto resume;
	g->free_ids = ids;
	ret = 0;
	if (!as) {
		ret = spp_access_merge_ram(g->acc, gpa, size);
		if (ret)
			goto resume;
		ret = spp_guest_mem_add(&g->mem, gpa, size, hva);
		if (ret) {
			spp_access_trim_ram(g->acc, gpa, size);
			goto resume;
		}
	}
	for (k = 0; k < g->nregions && g->regions[k].gfn < gpa >> PAGE_SHIFT;
	     k++)
		;
	memmove(&g->regions[k + 1], &g->regions[k],
		(g->nregions - k) * sizeof(*g->regions));
	r = &g->regions[k];
	memset(r, 0, sizeof(*r));
	r->gfn = gpa >> PAGE_SHIFT;
	r->npages = size >> PAGE_SHIFT;
	r->hva = hva;
	r->vmm_slot = slot;
	r->as_id = as;
	r->flags = flags;
	r->vmm_id_busy = true;
	r->slots = calloc(1, sizeof(*r->slots));
	r->dirty = calloc((r->npages + 63) / 64, sizeof(*r->dirty));
	r->cap = 1;
	r->nslots = 1;
	g->nregions++;
	if (!r->slots || !r->dirty) {
		ret = -ENOMEM;
		r->nslots = 0;
		region_drop(g, r);
		goto resume;
	}
	r->slots[0] =
		(struct spp_slot){ SLOT_ID(slot), r->gfn, r->npages, false };
	count_slots(g);
	/* Pages protected before this memory came (a VMM re-creating a
	 * slot) trap at once. */
	ret = region_sync(g, r);
	if (ret) {
		r->nslots = 0; /* the VMM's slot stays as it made it */
		region_drop(g, r);
		ret = ret == -ENOMEM ? ret : -EIO;
	}
resume:
	guard_resume(g);
out:
	pthread_mutex_unlock(&g->lock);
	return ret;
}

/* Any protected page in @r? */
static bool region_protected(const struct spp_guard *g,
			     const struct guard_region *r)
{
	uint64_t k;

	if (r->as_id)
		return false;
	for (k = 0; k < r->npages; k++)
		if (spp_access_lookup(g->acc, r->gfn + k) != SPP_ACCESS_FULL)
			return true;
	return false;
}

int spp_guard_remove_memory(struct spp_guard *g, uint64_t gpa)
{
	struct guard_region *r = NULL;
	struct spp_slot whole;
	size_t i;
	int ret;

	if (!g)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	for (i = 0; i < g->nregions; i++)
		if (g->regions[i].gfn << PAGE_SHIFT == gpa &&
		    !g->regions[i].as_id)
			r = &g->regions[i];
	ret = -ENOENT;
	if (!r)
		goto out;
	ret = -EBUSY;
	if (region_protected(g, r))
		goto out;
	whole = (struct spp_slot){ SLOT_ID(r->vmm_slot), r->gfn, r->npages,
				   false };
	ret = guard_pause(g);
	if (ret)
		goto out;
	/* The VMM's id may be in use for a piece: free all first. */
	ret = region_delete_slots(g, r);
	if (!ret) {
		ret = kvm_set_slot(g, r, &whole, false);
		if (ret)
			for (i = 0; i < r->nslots; i++)
				kvm_set_slot(g, r, &r->slots[i], false);
	}
	if (ret) {
		guard_resume(g);
		ret = -EIO;
		goto out;
	}
	/* The pieces are gone from KVM: region_drop() gives their ids back
	 * (all but the VMM's, which the whole slot holds now). */
	region_drop(g, r);
	guard_resume(g);
out:
	pthread_mutex_unlock(&g->lock);
	return ret;
}

int spp_guard_forget_memory(struct spp_guard *g, uint32_t slot)
{
	struct guard_region *r;
	int ret;

	if (!g)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	r = region_by_slot(g, slot);
	ret = -ENOENT;
	if (!r)
		goto out;
	ret = guard_pause(g);
	if (ret)
		goto out;
	ret = region_delete_slots(g, r);
	if (!ret)
		region_drop(g, r);
	else
		ret = -EIO;
	guard_resume(g);
out:
	pthread_mutex_unlock(&g->lock);
	return ret;
}

int spp_guard_set_memory_flags(struct spp_guard *g, uint32_t slot,
			       uint32_t flags)
{
	struct guard_region *r;
	uint32_t old;
	size_t i, k;
	int ret = 0;

	if (!g || (flags & ~(uint32_t)KVM_MEM_LOG_DIRTY_PAGES))
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	r = region_by_slot(g, slot);
	if (!r) {
		ret = -ENOENT;
		goto out;
	}
	if (r->flags == flags)
		goto out;
	old = r->flags;
	r->flags = flags;
	/* A flags-only change of an existing slot: KVM keeps its mappings,
	 * no pause needed (as when the VMM itself changes them). */
	for (i = 0; i < r->nslots && !ret; i++)
		ret = kvm_set_slot(g, r, &r->slots[i], false);
	if (ret) {
		r->flags = old;
		for (k = 0; k + 1 < i; k++)
			kvm_set_slot(g, r, &r->slots[k], false);
		ret = -EIO;
	}
out:
	pthread_mutex_unlock(&g->lock);
	return ret;
}

/* OR @n bits of @src (from bit 0) into @dst from bit @at. */
static void bits_or(uint64_t *dst, uint64_t at, const uint64_t *src, uint64_t n)
{
	uint64_t k;

	for (k = 0; k < n; k++)
		if (src[k / 64] & (1ULL << (k % 64)))
			dst[(at + k) / 64] |= 1ULL << ((at + k) % 64);
}

int spp_guard_get_dirty_log(struct spp_guard *g, uint32_t slot,
			    uint64_t *bitmap)
{
	struct guard_region *r;
	uint64_t *tmp = NULL, words;
	size_t i;
	int ret = 0;

	if (!g || !bitmap)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	r = region_by_slot(g, slot);
	if (!r) {
		ret = -ENOENT;
		goto out;
	}
	if (!(r->flags & KVM_MEM_LOG_DIRTY_PAGES)) {
		ret = -ENOENT; /* KVM's answer for a slot without logging */
		goto out;
	}
	words = (r->npages + 63) / 64;
	tmp = calloc(words, sizeof(*tmp));
	if (!tmp) {
		ret = -ENOMEM;
		goto out;
	}
	memset(bitmap, 0, words * sizeof(*bitmap));
	for (i = 0; i < r->nslots; i++) {
		const struct spp_slot *sl = &r->slots[i];
		struct kvm_dirty_log d = {
			.slot = sl->id | r->as_id << 16,
			.dirty_bitmap = tmp,
		};

		memset(tmp, 0, (sl->npages + 63) / 64 * sizeof(*tmp));
		ret = spp_kvm_ioctl(g->vm_fd, KVM_GET_DIRTY_LOG, &d);
		if (ret < 0)
			goto out;
		ret = 0;
		bits_or(bitmap, sl->gfn - r->gfn, tmp, sl->npages);
	}
	/* And the region's own bits: what the guard wrote itself (kept with
	 * the address space 0 region: both logs feed the same RAM, one of
	 * them suffices) and the logs of pieces it deleted since. */
	pthread_mutex_lock(&g->commit_lock);
	for (i = 0; i < words; i++)
		bitmap[i] |=
			__atomic_exchange_n(&r->dirty[i], 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&g->commit_lock);
out:
	pthread_mutex_unlock(&g->lock);
	free(tmp);
	return ret;
}

/* ---- public: protections ---------------------------------------------- */

int spp_guard_set_access(struct spp_guard *g, const struct spp_subpage *req)
{
	int ret;

	if (!g || !req || req->flags || req->npages > SPP_SUBPAGE_MAX_PAGES)
		return -EINVAL;
	if (!req->npages)
		return 0;
	pthread_mutex_lock(&g->lock);
	ret = update(g, req->gfn_base, req->npages, req->access_map, 0, true,
		     ~0u);
	pthread_mutex_unlock(&g->lock);
	return ret ? ret : (int)req->npages;
}

int spp_guard_get_access(struct spp_guard *g, struct spp_subpage *req)
{
	int ret;

	if (!g)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	ret = spp_access_get(g->acc, req);
	pthread_mutex_unlock(&g->lock);
	return ret;
}

int spp_guard_set_range(struct spp_guard *g, uint64_t gfn, uint64_t npages,
			uint32_t map)
{
	int ret;

	if (!g)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	ret = update(g, gfn, npages, NULL, map, true, ~0u);
	pthread_mutex_unlock(&g->lock);
	return ret;
}

int spp_guard_translate(struct spp_guard *g, const struct spp_x86_paging *pg,
			uint64_t gva, uint64_t len,
			struct spp_gva_piece *pieces, size_t max, size_t *n,
			struct spp_gva_fault *fault)
{
	int ret;

	if (!g)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	ret = spp_gva_translate(&g->mem, pg, gva, len, pieces, max, n, fault);
	pthread_mutex_unlock(&g->lock);
	return ret;
}

int spp_guard_protect_add(struct spp_guard *g, uint64_t gfn, uint32_t map)
{
	const uint64_t *bits;
	uint32_t now;
	int ret;

	if (!g)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	now = spp_access_lookup(g->acc, gfn);
	bits = spp_bytemask_find(&g->bytes, gfn);
	/* a byte-protected sub-page asked for whole changes too */
	if ((now & map) != now ||
	    (bits && (spp_bytemask_subpages(bits) & ~map)))
		ret = update(g, gfn, 1, NULL, now & map, true, map);
	else
		ret = spp_access_is_ram(g->acc, gfn, 1) ? 0 : -EFAULT;
	pthread_mutex_unlock(&g->lock);
	return ret;
}

/* ---- public: byte masks ------------------------------------------------ */

/* One byte-mask change: the range, and the pages' new maps. */
struct bytes_change {
	struct spp_guard *g;
	uint64_t gpa, end; /* [gpa, end) */
	uint64_t gfn; /* maps[0]'s page */
	uint32_t *maps;
	bool on;
};

static void bytes_edit(void *ctx, uint64_t gfn, uint64_t *bits)
{
	struct bytes_change *c = ctx;
	uint64_t page = gfn << PAGE_SHIFT;
	uint64_t lo = c->gpa > page ? c->gpa : page;
	uint64_t hi = c->end < page + PAGE_SIZE ? c->end : page + PAGE_SIZE;
	uint32_t map = spp_access_lookup(c->g->acc, gfn);
	uint32_t fine = spp_bytemask_subpages(bits), bit;
	unsigned int s;

	for (s = spp_subpage_index(lo); s <= spp_subpage_index(hi - 1); s++) {
		uint64_t a = page + s * SPP_SUBPAGE_SIZE,
			 b = a + SPP_SUBPAGE_SIZE;

		a = a > lo ? a : lo;
		b = b < hi ? b : hi;
		bit = 1u << s;
		if (!(fine & bit) && !(map & bit))
			continue; /* denied whole: SET's, not ours */
		if (!c->on && !(fine & bit))
			continue; /* writable: nothing to take out */
		spp_bytemask_set(bits, (uint32_t)(a - page), (uint32_t)(b - a),
				 c->on);
		if (c->on)
			map &= ~bit;
		else if (!(bits[2 * s] | bits[2 * s + 1]))
			map |= bit; /* its last protected byte went */
	}
	c->maps[gfn - c->gfn] = map;
}

static int bytes_change(struct spp_guard *g, uint64_t gpa, uint64_t len,
			bool on)
{
	struct bytes_change c = {
		g, gpa, gpa + len, gpa >> PAGE_SHIFT, NULL, on
	};
	struct spp_bytemask nb;
	uint64_t n, k;
	bool maps = false;
	int ret;

	if (!g || !len || len > SPP_GUARD_BYTES_MAX_LEN ||
	    gpa >= 1ULL << SPP_GPA_BITS || len > (1ULL << SPP_GPA_BITS) - gpa)
		return -EINVAL;
	n = ((gpa + len - 1) >> PAGE_SHIFT) - c.gfn + 1;
	c.maps = malloc(n * sizeof(*c.maps));
	if (!c.maps)
		return -ENOMEM;
	pthread_mutex_lock(&g->lock);
	ret = -EFAULT;
	if (!spp_access_is_ram(g->acc, c.gfn, n))
		goto out;
	ret = spp_bytemask_edit(&g->bytes, c.gfn, n, bytes_edit, &c,
				on ? SPP_GUARD_BYTES_MAX_PAGES : SIZE_MAX, &nb);
	if (ret)
		goto out;
	for (k = 0; k < n; k++)
		maps |= c.maps[k] != spp_access_lookup(g->acc, c.gfn + k);
	/*
	 * Never a moment in which a sub-page is denied whole that should
	 * not be: masks before a sub-page is denied (a writable sub-page's
	 * mask is moot), after it is writable again.
	 */
	if (on)
		swap_bytes(g, &nb);
	if (maps)
		ret = update(g, c.gfn, n, c.maps, 0, false, 0);
	if (on == !!ret)
		swap_bytes(g, &nb); /* on: undo; off: done */
	spp_bytemask_release(&nb);
out:
	pthread_mutex_unlock(&g->lock);
	free(c.maps);
	return ret;
}

int spp_guard_protect_bytes(struct spp_guard *g, uint64_t gpa, uint64_t len)
{
	return bytes_change(g, gpa, len, true);
}

int spp_guard_unprotect_bytes(struct spp_guard *g, uint64_t gpa, uint64_t len)
{
	return bytes_change(g, gpa, len, false);
}

/* spp_guard_set_bytes(): the sub-pages' words of the new bits. */
struct bytes_set {
	uint32_t subpages;
	const uint64_t *bits;
};

static void bytes_set_edit(void *ctx, uint64_t gfn, uint64_t *bits)
{
	const struct bytes_set *b = ctx;

	(void)gfn;
	spp_bytemask_copy(bits, b->bits, b->subpages);
}

int spp_guard_set_bytes(struct spp_guard *g, uint64_t gfn, uint32_t subpages,
			const uint64_t bits[SPP_PAGE_SIZE / 64])
{
	struct bytes_set b = { subpages, bits };
	struct spp_bytemask nb;
	int ret;

	if (!g)
		return -EINVAL;
	if (!subpages)
		return 0;
	if (!bits)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	if (!spp_access_is_ram(g->acc, gfn, 1))
		ret = -EFAULT;
	else if (spp_access_lookup(g->acc, gfn) & subpages)
		ret = -EINVAL;
	else
		ret = spp_bytemask_edit(&g->bytes, gfn, 1, bytes_set_edit, &b,
					SPP_GUARD_BYTES_MAX_PAGES, &nb);
	if (!ret) {
		swap_bytes(g, &nb); /* the maps stay: denied either way */
		spp_bytemask_release(&nb);
	}
	pthread_mutex_unlock(&g->lock);
	return ret;
}

int spp_guard_get_bytes(struct spp_guard *g, uint64_t gfn,
			uint64_t bits[SPP_PAGE_SIZE / 64])
{
	const uint64_t *b;
	unsigned int i;
	int n = 0;

	if (!g || !bits)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	b = spp_bytemask_find(&g->bytes, gfn);
	for (i = 0; i < SPP_BYTEMASK_WORDS; i++) {
		bits[i] = b ? b[i] : 0;
		n += __builtin_popcountll(bits[i]);
	}
	pthread_mutex_unlock(&g->lock);
	return n;
}

uint32_t spp_guard_lookup(struct spp_guard *g, uint64_t gfn)
{
	return g ? spp_access_lookup(g->acc, gfn) : SPP_ACCESS_FULL;
}

int spp_guard_set_policy(struct spp_guard *g, enum spp_policy policy)
{
	if (!g || (unsigned int)policy > SPP_POLICY_STOP)
		return -EINVAL;
	g->policy = policy;
	return 0;
}

enum spp_policy spp_guard_policy(struct spp_guard *g)
{
	return g ? __atomic_load_n(&g->policy, __ATOMIC_RELAXED) :
		   SPP_POLICY_DENY;
}

void spp_guard_set_report_allowed(struct spp_guard *g, bool on)
{
	if (g)
		g->report_allowed = on;
}

const struct spp_access *spp_guard_access(struct spp_guard *g)
{
	return g ? g->acc : NULL;
}

void spp_guard_stats(struct spp_guard *g, struct spp_guard_stats *out)
{
	if (!g || !out)
		return;
	memset(out, 0, sizeof(*out)); /* reserved stays zero */
	pthread_mutex_lock(&g->lock);
	out->exits = __atomic_load_n(&g->stats.exits, __ATOMIC_RELAXED);
	out->stores = __atomic_load_n(&g->stats.stores, __ATOMIC_RELAXED);
	out->allowed = __atomic_load_n(&g->stats.allowed, __ATOMIC_RELAXED);
	out->denied = __atomic_load_n(&g->stats.denied, __ATOMIC_RELAXED);
	out->slot_changes =
		__atomic_load_n(&g->stats.slot_changes, __ATOMIC_RELAXED);
	out->slots = g->stats.slots;
	out->ro_slots = g->stats.ro_slots;
	out->trapped_pages = g->stats.trapped_pages;
	out->emulated = __atomic_load_n(&g->stats.emulated, __ATOMIC_RELAXED);
	out->unemulated =
		__atomic_load_n(&g->stats.unemulated, __ATOMIC_RELAXED);
	out->string_batches =
		__atomic_load_n(&g->stats.string_batches, __ATOMIC_RELAXED);
	out->string_elements =
		__atomic_load_n(&g->stats.string_elements, __ATOMIC_RELAXED);
	out->rmw_redone =
		__atomic_load_n(&g->stats.rmw_redone, __ATOMIC_RELAXED);
	out->rmw_unsure =
		__atomic_load_n(&g->stats.rmw_unsure, __ATOMIC_RELAXED);
	out->misdirected =
		__atomic_load_n(&g->stats.misdirected, __ATOMIC_RELAXED);
	out->walk_writes =
		__atomic_load_n(&g->stats.walk_writes, __ATOMIC_RELAXED);
	out->fine_allowed =
		__atomic_load_n(&g->stats.fine_allowed, __ATOMIC_RELAXED);
	out->mmio_stores =
		__atomic_load_n(&g->stats.mmio_stores, __ATOMIC_RELAXED);
	out->mmio_rmw = __atomic_load_n(&g->stats.mmio_rmw, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&g->lock);
}

/* ---- exits ------------------------------------------------------------ */

static struct guard_region *region_of(struct spp_guard *g, uint64_t gpa,
				      uint64_t len)
{
	uint64_t gfn = gpa >> PAGE_SHIFT, last = (gpa + len - 1) >> PAGE_SHIFT;
	size_t i;

	for (i = 0; i < g->nregions; i++) {
		struct guard_region *r = &g->regions[i];

		if (!r->as_id && gfn - r->gfn < r->npages &&
		    last - r->gfn < r->npages)
			return r;
	}
	return NULL;
}

/* Host pointer of [@gpa, @gpa + @len) through the one checked
 * translation, spp_guest_mem_ptr(); also its region for the dirty log. */
static uint8_t *guest_ptr(struct spp_guard *g, uint64_t gpa, uint64_t len,
			  struct guard_region **rp)
{
	uint8_t *p = spp_guest_mem_ptr(&g->mem, gpa, len);

	if (p && rp)
		*rp = region_of(g, gpa, len);
	return p;
}

/*
 * Verdict of every sub-page [gpa, gpa + len) touches: 1 all writable,
 * -1 all denied, 0 mixed.
 */
static int window_verdict(const struct spp_access *acc, uint64_t gpa,
			  uint32_t len)
{
	struct spp_write_verdict v;

	if (spp_access_check_write(acc, gpa, len, &v))
		return 0; /* cannot say: collect the whole store */
	if (v.allowed)
		return 1;
	return v.subpages_denied == v.subpages_touched ? -1 : 0;
}

struct piece {
	uint64_t gpa;
	uint32_t len;
};

struct store {
	struct piece piece[GUARD_MAX_PIECES];
	unsigned int npieces;
	uint8_t data[SPP_STORE_MAX];
	uint32_t len;
	uint32_t fragments;
};

static int store_add(struct store *s, const struct kvm_run *run)
{
	uint32_t len = run->mmio.len;

	if (len > 8 || s->len + len > SPP_STORE_MAX)
		return -E2BIG;
	if (s->npieces &&
	    s->piece[s->npieces - 1].gpa + s->piece[s->npieces - 1].len ==
		    run->mmio.phys_addr)
		s->piece[s->npieces - 1].len += len;
	else
		s->piece[s->npieces++] =
			(struct piece){ run->mmio.phys_addr, len };
	memcpy(s->data + s->len, run->mmio.data, len);
	s->len += len;
	s->fragments++;
	return 0;
}

/* Could KVM still owe fragments of the instruction after this one? */
static bool may_continue(const struct kvm_run *run)
{
	return run->mmio.len == 8 ||
	       ((run->mmio.phys_addr + run->mmio.len) & (PAGE_SIZE - 1)) == 0;
}

int guard_complete_pending(int vcpu_fd, struct kvm_run *run)
{
	uint8_t kicked = run->immediate_exit;
	int r;

	run->immediate_exit = 1;
	r = spp_kvm_ioctl_val(vcpu_fd, KVM_RUN, 0);
	run->immediate_exit = kicked;
	if (r == -EINTR)
		return 0;
	if (r < 0)
		return r;
	return SPP_EXIT_AGAIN;
}

bool guard_page_trapped(struct spp_guard *g, uint64_t gfn)
{
	struct guard_region *r = region_of(g, gfn << PAGE_SHIFT, 1);
	size_t lo = 0, hi;

	if (!r)
		return false;
	hi = r->nslots;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct spp_slot *sl = &r->slots[mid];

		if (gfn < sl->gfn)
			hi = mid;
		else if (gfn - sl->gfn >= sl->npages)
			lo = mid + 1;
		else
			return sl->ro;
	}
	return false;
}

/*
 * A denied store again, per byte, when every denied sub-page it touches
 * is byte-protected: fills @f and the event and returns true; false (the
 * strict verdict stands) as soon as it meets a sub-page denied whole.
 * Only on denied stores while byte masks exist.
 */
static bool judge_fine(struct spp_guard *g, const struct guard_piece *p,
		       unsigned int n, struct spp_event *ev,
		       struct guard_fine *f)
{
	uint64_t gfn = UINT64_MAX, at = 0;
	const uint64_t *bits = NULL;
	uint32_t map = SPP_ACCESS_FULL, fine = 0, k;
	unsigned int i, s;
	bool any = false;

	memset(f->prot, 0, sizeof(f->prot));
	for (i = 0; i < n; at += p[i].len, i++) {
		if (at + p[i].len > GUARD_STORE_MAX || n > GUARD_MAX_PIECES)
			return false; /* never: longer than spp's stores */
		for (k = 0; k < p[i].len; k++) {
			uint64_t gpa = p[i].gpa + k;
			uint32_t off = (uint32_t)(gpa & (PAGE_SIZE - 1));

			if (p[i].mask && !p[i].mask[k])
				continue;
			if (gpa >> PAGE_SHIFT != gfn) {
				gfn = gpa >> PAGE_SHIFT;
				map = spp_access_lookup(g->acc, gfn);
				bits = spp_bytemask_find(&g->bytes, gfn);
				fine = bits ? spp_bytemask_subpages(bits) : 0;
			}
			s = spp_subpage_index(gpa);
			if (map & (1u << s))
				continue;
			if (!(fine & (1u << s)))
				return false; /* denied whole */
			if (!(bits[off / 64] & (1ULL << (off % 64))))
				continue;
			f->prot[(at + k) / 64] |= 1ULL << ((at + k) % 64);
			if (!any) {
				ev->subpage_gpa = gpa & ~(SPP_SUBPAGE_SIZE - 1);
				ev->subpage = s;
				any = true;
			}
		}
	}
	f->on = true;
	if (!any) {
		ev->verdict = SPP_VERDICT_ALLOWED;
		ev->subpage_gpa = p[0].gpa & ~(SPP_SUBPAGE_SIZE - 1);
		ev->subpage = spp_subpage_index(p[0].gpa);
	}
	ev->protected_bytes = f->prot[0];
	ev->known |= SPP_EVENT_BYTES;
	return true;
}

void guard_judge_pieces(struct spp_guard *g, const struct guard_piece *p,
			unsigned int n, struct spp_event *ev,
			struct guard_fine *f)
{
	unsigned int i;
	uint32_t k;

	if (f)
		f->on = false;
	ev->verdict = SPP_VERDICT_ALLOWED;
	ev->subpage_gpa = p[0].gpa & ~(SPP_SUBPAGE_SIZE - 1);
	ev->subpage = spp_subpage_index(p[0].gpa);
	if (n == 1 && !p[0].mask) {
		/* KVM's own stores: one check, no mask walk. */
		struct spp_write_verdict v;

		if (!spp_access_check_write(g->acc, p[0].gpa, p[0].len, &v) &&
		    !v.allowed) {
			ev->verdict = SPP_VERDICT_DENIED;
			ev->subpage_gpa = v.denied_gpa;
			ev->subpage = v.denied_subpage;
			goto denied;
		}
		return;
	}
	for (i = 0; i < n; i++) {
		struct spp_write_verdict v;

		for (k = 0; k < p[i].len; k++) {
			uint32_t run = 1;

			if (p[i].mask && !p[i].mask[k])
				continue;
			if (!p[i].mask)
				run = p[i].len - k;
			else
				while (k + run < p[i].len && p[i].mask[k + run])
					run++;
			if (!spp_access_check_write(g->acc, p[i].gpa + k, run,
						    &v) &&
			    !v.allowed) {
				ev->verdict = SPP_VERDICT_DENIED;
				ev->subpage_gpa = v.denied_gpa;
				ev->subpage = v.denied_subpage;
				goto denied;
			}
			k += run - 1;
		}
	}
	return;
denied:
	/* finer than the hardware: only where the first denied sub-page
	 * has a byte mask (one look-up when masks exist elsewhere) */
	if (f && g->bytes.n) {
		const uint64_t *bits = spp_bytemask_find(
			&g->bytes, ev->subpage_gpa >> PAGE_SHIFT);
		struct spp_event strict;

		if (!bits ||
		    !(bits[2 * ev->subpage] | bits[2 * ev->subpage + 1]))
			return;
		strict = *ev;
		if (!judge_fine(g, p, n, ev, f)) {
			*ev = strict;
			f->on = false;
		}
	}
}

/* One write, as one access where it is naturally aligned (so a vCPU
 * reading it meanwhile never sees it torn). */
static void write_bytes(uint8_t *dst, const uint8_t *src, uint32_t len)
{
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	if (len == 8 && !((uintptr_t)dst & 7)) {
		memcpy(&v64, src, 8);
		__atomic_store_n((uint64_t *)dst, v64, __ATOMIC_RELAXED);
	} else if (len == 4 && !((uintptr_t)dst & 3)) {
		memcpy(&v32, src, 4);
		__atomic_store_n((uint32_t *)dst, v32, __ATOMIC_RELAXED);
	} else if (len == 2 && !((uintptr_t)dst & 1)) {
		memcpy(&v16, src, 2);
		__atomic_store_n((uint16_t *)dst, v16, __ATOMIC_RELAXED);
	} else {
		memcpy(dst, src, len);
	}
}

/* Page @gfn of region @r was written by the guard, as commit @seq. */
static void mark_written(struct spp_guard *g, struct guard_region *r,
			 uint64_t gfn, uint64_t seq)
{
	uint64_t b = gfn - r->gfn, bit = 1ULL << (b % 64);
	uint64_t w = __atomic_load_n(&r->dirty[b / 64], __ATOMIC_RELAXED);

	g->page_seq[GUARD_SEQ_BUCKET(gfn)] = seq;
	/* The dirty log changes only under commit_lock. */
	if (!(w & bit))
		__atomic_store_n(&r->dirty[b / 64], w | bit, __ATOMIC_RELAXED);
}

void guard_write_pieces(struct spp_guard *g, const struct guard_piece *p,
			unsigned int n)
{
	unsigned int i;
	uint64_t seq = __atomic_load_n(&g->commit_seq, __ATOMIC_RELAXED) + 1;
	uint32_t k;

	for (i = 0; i < n; i++) {
		struct guard_region *r;
		uint8_t *dst = guest_ptr(g, p[i].gpa, p[i].len, &r);
		uint64_t gfn;

		if (!dst)
			continue;
		if (!p[i].mask) {
			write_bytes(dst, p[i].data, p[i].len);
		} else {
			for (k = 0; k < p[i].len; k++)
				if (p[i].mask[k])
					dst[k] = p[i].data[k];
		}
		for (gfn = p[i].gpa >> PAGE_SHIFT;
		     gfn <= (p[i].gpa + p[i].len - 1) >> PAGE_SHIFT; gfn++)
			mark_written(g, r, gfn, seq);
	}
	/*
	 * Published only now, after the bytes: a vCPU that leaves the guard
	 * stamped with this commit (guard_vcpu_seen) must find them in
	 * memory when KVM next reads it, else its read-modify-write rests on
	 * the old value without guard_rmw_conflict() seeing it. Only changed
	 * under g->commit_lock: no locked instruction.
	 */
	__atomic_store_n(&g->commit_seq, seq, __ATOMIC_RELEASE);
}

/*
 * The CPU's page-walk writes for a store whose origin is known: the
 * accessed flags on its walk and the leaf's dirty flag, whatever the maps
 * of those pages say (SPP does not apply to paging-structure updates) and
 * never reported. Caller holds commit_lock.
 */
static void guard_walk_writes(struct spp_guard *g, const struct guard_origin *o)
{
	uint64_t seq = __atomic_load_n(&g->commit_seq, __ATOMIC_RELAXED) + 1;
	unsigned int i, changed;

	changed = spp_x86_walk_set_ad(&g->mem, &o->walk, true);
	if (!changed)
		return;
	guard_count(&g->stats.walk_writes,
		    (uint64_t)__builtin_popcount(changed));
	for (i = 0; i < o->walk.levels; i++) {
		struct guard_region *r;

		/* only the tables written: a stamp makes RMWs recheck */
		if ((changed & (1u << i)) &&
		    guest_ptr(g, o->walk.entry_gpa[i], 8, &r))
			mark_written(g, r, o->walk.entry_gpa[i] >> PAGE_SHIFT,
				     seq);
	}
	/* after the bytes, as in guard_write_pieces() */
	__atomic_store_n(&g->commit_seq, seq, __ATOMIC_RELEASE);
}

/* CPL and CR3 from @s into @ev. SS's DPL is the CPL on VMX and SVM
 * alike (KVM reports the CPL there). */
static void event_cpu(struct spp_event *ev, const struct kvm_sregs *s)
{
	ev->cpl = s->ss.dpl & 3;
	ev->cr3 = s->cr3;
	ev->known |= SPP_EVENT_CPU;
}

void guard_fetch_rip(int vcpu_fd, const struct kvm_run *run,
		     struct spp_event *ev)
{
	struct kvm_regs regs;

	if (run && (run->kvm_valid_regs & KVM_SYNC_X86_REGS))
		ev->rip = run->s.regs.regs.rip;
	else if (vcpu_fd >= 0 && !spp_kvm_ioctl(vcpu_fd, KVM_GET_REGS, &regs))
		ev->rip = regs.rip;
	if (run && (run->kvm_valid_regs & KVM_SYNC_X86_SREGS))
		event_cpu(ev, &run->s.regs.sregs);
}

/* The bytes the pieces are about to overwrite (the first SPP_STORE_MAX)
 * into ev->old; before they are written, for reported stores only. */
static void event_old(struct spp_guard *g, const struct guard_piece *p,
		      unsigned int n, struct spp_event *ev)
{
	uint32_t at = 0, k;
	unsigned int i;

	for (i = 0; i < n && at < SPP_STORE_MAX; i++) {
		uint8_t *src = guest_ptr(g, p[i].gpa, p[i].len, NULL);

		k = p[i].len < SPP_STORE_MAX - at ? p[i].len :
						    SPP_STORE_MAX - at;
		if (!src)
			return; /* not RAM: no old bytes */
		memcpy(ev->old + at, src, k);
		at += k;
	}
	ev->known |= SPP_EVENT_OLD;
}

/* DENY of a store judged per byte: commit its unprotected bytes (its
 * pieces fit: judge_fine() said so). */
static void write_unprotected(struct spp_guard *g, const struct guard_piece *p,
			      unsigned int n, const struct guard_fine *f)
{
	struct guard_piece q[GUARD_MAX_PIECES];
	uint8_t m[GUARD_STORE_MAX];
	uint32_t at = 0, k;
	unsigned int i;

	for (i = 0; i < n; at += p[i].len, i++) {
		q[i] = p[i];
		q[i].mask = m + at;
		for (k = 0; k < p[i].len; k++)
			m[at + k] = (!p[i].mask || p[i].mask[k]) &&
				    !(f->prot[(at + k) / 64] &
				      (1ULL << ((at + k) % 64)));
	}
	guard_write_pieces(g, q, n);
}

int guard_finish_store(struct spp_guard *g, const struct guard_piece *p,
		       unsigned int n, struct spp_event *ev, bool no_hold,
		       int vcpu_fd)
{
	int ret = SPP_EXIT_HANDLED;
	struct guard_fine f;
	bool report;

	guard_judge_pieces(g, p, n, ev, &f);
	guard_count(&g->stats.stores, 1);
	report = (ev->verdict != SPP_VERDICT_ALLOWED || g->report_allowed) &&
		 g->ops.event;
	if (report) {
		/* only reported stores pay for the fields an engine acts on */
		event_old(g, p, n, ev);
		if (!(ev->known & SPP_EVENT_CPU) && vcpu_fd >= 0) {
			struct kvm_sregs sregs;

			if (!spp_kvm_ioctl(vcpu_fd, KVM_GET_SREGS, &sregs))
				event_cpu(ev, &sregs);
		}
	}
	if (ev->verdict == SPP_VERDICT_ALLOWED) {
		guard_count(&g->stats.allowed, 1);
		if (f.on)
			guard_count(&g->stats.fine_allowed, 1);
		guard_write_pieces(g, p, n);
	} else {
		guard_count(&g->stats.denied, 1);
		if (g->policy == SPP_POLICY_LOG) {
			ev->verdict = SPP_VERDICT_LOGGED;
			guard_write_pieces(g, p, n);
		} else if (g->policy == SPP_POLICY_STOP && !no_hold) {
			ev->verdict = SPP_VERDICT_STOPPED;
			ret = SPP_EXIT_STOP;
		} else if (f.on) {
			write_unprotected(g, p, n, &f);
		}
	}
	if (report) {
		if (!ev->rip)
			guard_fetch_rip(vcpu_fd, NULL, ev);
		g->ops.event(g->ctx, ev);
	}
	return ret;
}

/* The pieces of a store KVM handed over in fragments. */
static unsigned int store_pieces(const struct store *s, struct guard_piece *p)
{
	uint32_t off = 0;
	unsigned int i;

	for (i = 0; i < s->npieces; i++) {
		p[i] = (struct guard_piece){ s->piece[i].gpa, s->piece[i].len,
					     s->data + off, NULL };
		off += s->piece[i].len;
	}
	return s->npieces;
}

int spp_guard_handle_exit(struct spp_guard *g, int vcpu_fd, struct kvm_run *run,
			  uint32_t vcpu, struct spp_event *ev_out)
{
	struct guard_piece pieces[GUARD_MAX_PIECES];
	struct guard_origin org;
	struct spp_event ev;
	struct store s;
	bool have_origin, lost;
	unsigned int np;
	uint8_t *p;
	int ret = SPP_EXIT_HANDLED, v, fin;

	if (!g || !run || run->exit_reason != KVM_EXIT_MMIO || !run->mmio.len ||
	    run->mmio.len > 8)
		return -EINVAL;
	p = guest_ptr(g, run->mmio.phys_addr, run->mmio.len, NULL);
	if (!p)
		return SPP_EXIT_NOT_MINE;
	if (!run->mmio.is_write) {
		memcpy(run->mmio.data, p, run->mmio.len);
		return SPP_EXIT_HANDLED;
	}

	s.npieces = 0;
	s.len = 0;
	s.fragments = 0;
	store_add(&s, run);
	/*
	 * Collect the rest of a split store when it could change the verdict
	 * or the event: a fragment ending at a page boundary (the next page's
	 * part may be anywhere), an 8-byte one whose next 8 bytes would be
	 * judged differently, and any fragment that will be reported (one
	 * event per store, not per fragment). An allowed, unreported 8-byte
	 * fragment inside a uniformly writable window needs nothing more: a
	 * continuation would be allowed on its own too. KVM_RUN with
	 * immediate_exit completes the pending MMIO and returns the next
	 * fragment's exit, or -EINTR without running guest code once the
	 * instruction is done.
	 */
	v = 1;
	if (may_continue(run) &&
	    (run->mmio.phys_addr & (PAGE_SIZE - 1)) + 16 <= PAGE_SIZE) {
		/* The rest of a 16-byte store stays on this page. */
		v = window_verdict(g->acc, run->mmio.phys_addr, 16);
		if (v < 0 || g->report_allowed)
			v = 0;
	} else if (may_continue(run)) {
		/* It may go on to the next page, which can be anywhere. */
		v = 0;
	}
	while (v == 0 && may_continue(run)) {
		int r = guard_complete_pending(vcpu_fd, run);

		if (!r)
			break; /* the instruction is complete */
		if (r < 0) {
			ret = r;
			break;
		}
		if (run->exit_reason != KVM_EXIT_MMIO || !run->mmio.is_write ||
		    !guest_ptr(g, run->mmio.phys_addr, run->mmio.len, NULL) ||
		    store_add(&s, run)) {
			ret = SPP_EXIT_AGAIN; /* someone else's exit */
			break;
		}
	}

	guard_event_init(&ev, vcpu, s.piece[0].gpa, s.len, s.data, s.fragments);
	np = store_pieces(&s, pieces);
	/*
	 * Which instruction made the store, and did KVM put it where that
	 * instruction stores? After a page walk faulted on guest page tables
	 * in a trapped page, KVM's emulator may hand over the store at the
	 * faulting entry's address instead (docs/kvm.md): judge and commit it
	 * at its own address.
	 */
	have_origin = ret == SPP_EXIT_HANDLED && np == 1 &&
		      !guard_store_origin(g, vcpu_fd, run, &pieces[0], &org);
	if (have_origin) {
		ev.insn_rip = org.insn_rip;
		if (org.misdirected) {
			pieces[0].gpa = org.gpa;
			ev.gpa = org.gpa;
		}
	}
	/* A misdirected store whose own address is no RAM of ours: not ours
	 * to write, neither there nor into the page table. */
	lost = have_origin && org.misdirected &&
	       !guest_ptr(g, org.gpa, s.len, NULL);
	pthread_mutex_lock(&g->commit_lock);
	guard_count(&g->stats.exits, s.fragments);
	if (have_origin) {
		guard_walk_writes(g, &org);
		if (org.misdirected)
			guard_count(&g->stats.misdirected, 1);
	}
	fin = SPP_EXIT_HANDLED;
	if (!lost) {
		if (ret == SPP_EXIT_HANDLED && np == 1 && s.len <= 16 &&
		    guard_rmw_conflict(g, vcpu, pieces[0].gpa >> PAGE_SHIFT)) {
			fin = guard_rmw_check(g, vcpu_fd, run, vcpu, &pieces[0],
					      s.data, &ev);
			if (fin < 0)
				ret = fin;
		}
		if (run->kvm_valid_regs & KVM_SYNC_X86_REGS)
			guard_fetch_rip(vcpu_fd, run, &ev);
		fin = guard_finish_store(g, pieces, np, &ev, ret < 0 || np != 1,
					 vcpu_fd);
		guard_count(&g->stats.mmio_stores, 1);
		if (have_origin && org.rmw)
			guard_count(&g->stats.mmio_rmw, 1);
	}
	pthread_mutex_unlock(&g->commit_lock);
	if (fin == SPP_EXIT_STOP && ret != SPP_EXIT_AGAIN)
		ret = SPP_EXIT_STOP;
	/*
	 * A rep STOS/MOVS goes on at RIP: do its following elements here
	 * rather than one exit each.
	 */
	if (!lost && ret == SPP_EXIT_HANDLED && np == 1 && s.len <= 8 &&
	    (run->kvm_valid_regs & KVM_SYNC_X86_REGS) &&
	    guard_string_maybe(run->s.regs.regs.rcx, run->s.regs.regs.rdi,
			       run->s.regs.regs.rflags, pieces[0].gpa, s.len)) {
		fin = guard_string_continue(g, vcpu_fd, run, vcpu,
					    pieces[0].gpa, s.len);
		if (fin)
			ret = fin;
	}
	if (g->sync_regs)
		run->kvm_valid_regs |= KVM_SYNC_X86_REGS;
	if (g->sync_sregs)
		run->kvm_valid_regs |= KVM_SYNC_X86_SREGS;
	/* KVM can only read memory for this vCPU's next store from now on */
	guard_vcpu_seen(g, vcpu);
	if (ev_out)
		*ev_out = ev;
	return ret;
}

int spp_guard_resolve_stop(struct spp_guard *g, const struct spp_event *ev,
			   bool commit_anyway)
{
	struct guard_fine f;
	struct guard_piece p;
	struct spp_event e;

	if (!g || !ev || ev->verdict != SPP_VERDICT_STOPPED || !ev->len ||
	    ev->len > SPP_STORE_MAX)
		return -EINVAL;
	e = *ev;
	p = (struct guard_piece){ e.gpa, e.len, e.data, NULL };
	pthread_mutex_lock(&g->lock);
	if (!guest_ptr(g, e.gpa, e.len, NULL)) {
		/* not a store the guard can have held */
		pthread_mutex_unlock(&g->lock);
		return -EINVAL;
	}
	pthread_mutex_lock(&g->commit_lock);
	guard_judge_pieces(g, &p, 1, &e, &f);
	if (e.verdict == SPP_VERDICT_DENIED && commit_anyway)
		e.verdict = SPP_VERDICT_LOGGED;
	if (e.verdict != SPP_VERDICT_DENIED)
		guard_write_pieces(g, &p, 1);
	else if (f.on)
		write_unprotected(g, &p, 1, &f);
	pthread_mutex_unlock(&g->commit_lock);
	pthread_mutex_unlock(&g->lock);
	return (int)e.verdict;
}

int spp_guard_get_dirty(struct spp_guard *g, uint64_t gfn, uint64_t npages,
			uint64_t *bitmap, bool clear)
{
	struct guard_region *r;
	uint64_t k;

	/* gfn << PAGE_SHIFT must not wrap into a region */
	if (!g || !bitmap || !npages || gfn + npages < gfn ||
	    gfn + npages > UINT64_MAX >> PAGE_SHIFT)
		return -EINVAL;
	r = region_of(g, gfn << PAGE_SHIFT, npages << PAGE_SHIFT);
	if (!r)
		return -EFAULT;
	memset(bitmap, 0, (npages + 63) / 64 * sizeof(*bitmap));
	/* Commits set dirty bits under commit_lock without locked
	 * instructions: harvest under it too. */
	pthread_mutex_lock(&g->commit_lock);
	for (k = 0; k < npages; k++) {
		uint64_t i = gfn - r->gfn + k, bit = 1ULL << (i % 64);
		uint64_t old = clear ? __atomic_fetch_and(&r->dirty[i / 64],
							  ~bit,
							  __ATOMIC_RELAXED) :
				       __atomic_load_n(&r->dirty[i / 64],
						       __ATOMIC_RELAXED);

		if (old & bit)
			bitmap[k / 64] |= 1ULL << (k % 64);
	}
	pthread_mutex_unlock(&g->commit_lock);
	return 0;
}
