/* SPDX-License-Identifier: MIT */
/*
 * guard_priv.h - the guard's state, shared by guard.c (memslots, MMIO
 * exits) and emulate.c (stores spp finishes in user space). Not installed.
 */
#ifndef SPP_GUARD_PRIV_H
#define SPP_GUARD_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <spp/guard.h>

#include "x86_walk.h"
#include <spp/guest_mem.h>

struct kvm_run;

#include "bytemask.h"
#include "slots.h"

#ifndef KVM_X86_QUIRK_SLOT_ZAP_ALL
#define KVM_X86_QUIRK_SLOT_ZAP_ALL (1 << 7)
#endif

#define GUARD_FIRST_SLOT 32
/*
 * Slots are cut at every 64 MiB (while more than half of the memslot ids
 * are free): KVM's cost of deleting and creating a slot grows with its
 * size, and a deleted slot's pages must fault in again, so a protection
 * change should re-create a bounded piece of RAM, not a whole region.
 */
#define GUARD_SLOT_CHUNK (64ULL << (20 - SPP_PAGE_SHIFT))
#define GUARD_SEQ_BUCKETS 1024
#define GUARD_SEQ_VCPUS 256
#define GUARD_SEQ_BUCKET(gfn) ((gfn) & (GUARD_SEQ_BUCKETS - 1))
#define PAGE_SHIFT SPP_PAGE_SHIFT
#define PAGE_SIZE SPP_PAGE_SIZE

struct guard_region {
	uint64_t gfn;
	uint64_t npages;
	uint8_t *hva;
	uint32_t vmm_slot; /* the id the VMM handed in (with its address
			      space in bits 16-31, as KVM takes it) */
	uint32_t as_id; /* KVM address space: 0, or 1 for x86 SMM (a
			   mirror: no guest_mem, no RAM of its own) */
	uint32_t flags; /* KVM_MEM_LOG_DIRTY_PAGES of the VMM's slot,
			   given to every piece */
	bool vmm_id_busy; /* a piece holds the VMM's id (only this region
			     ever uses it: the VMM may reuse it) */
	struct spp_slot *slots; /* sorted, contiguous, cover the region */
	size_t nslots;
	size_t cap; /* allocated entries of slots (grows geometrically) */
	uint64_t *dirty; /* pages the guard wrote, one bit each */
};

struct spp_guard {
	int vm_fd;
	struct spp_guard_ops ops;
	void *ctx;
	pthread_mutex_t lock; /* protection changes */
	pthread_mutex_t commit_lock; /* writes into trapped pages */
	struct spp_access *acc;
	struct guard_region *regions; /* sorted by gfn */
	size_t nregions;
	struct spp_guest_mem mem; /* the same regions: gpa -> host pointer */
	uint32_t *free_ids; /* stack of unused memslot ids */
	size_t nfree;
	uint32_t id_first, id_count;
	uint32_t nr_memslots;
	/* Byte masks (spp_guard_protect_bytes()): replaced whole, under
	 * lock and commit_lock; judges read them under commit_lock. */
	struct spp_bytemask bytes;
	enum spp_policy policy;
	bool report_allowed;
	bool sync_regs; /* KVM_CAP_SYNC_REGS covers the GPRs */
	bool sync_sregs; /* ...and the segment and control registers */
	struct spp_guard_stats stats;
	/*
	 * Conflict detection for read-modify-writes (emulate.c): every
	 * commit bumps commit_seq and stamps its pages' bucket; a vCPU's
	 * stamp is commit_seq when it last left the guard. A store whose
	 * page bucket is newer than its vCPU's stamp may have been computed
	 * by KVM from a value another vCPU has overwritten since.
	 */
	uint64_t commit_seq;
	uint64_t page_seq[GUARD_SEQ_BUCKETS];
	uint64_t vcpu_seq[GUARD_SEQ_VCPUS];
};

/*
 * Everything declared from here on is the library's own: hidden, so the
 * exit path calls it directly (and may inline it) instead of through the
 * PLT of a symbol a program could interpose.
 */
#pragma GCC visibility push(hidden)

/* One contiguous guest-physical piece of a store and its bytes. */
struct guard_piece {
	uint64_t gpa;
	uint32_t len;
	const uint8_t *data;
	const uint8_t *mask; /* NULL: every byte is written; else byte i is
				written iff mask[i] */
};

/*
 * guard_complete_pending() - KVM_RUN with immediate_exit: completes the
 * pending MMIO of the last exit without running guest code. Returns 0
 * once the instruction is done (-EINTR from KVM), SPP_EXIT_AGAIN when
 * KVM produced another exit of it into @run, or a negative errno.
 * A kick the VMM's signal handler gave the thread before (immediate_exit
 * already 1) stays set: the VMM's next KVM_RUN returns EINTR as it
 * expects. QEMU kicks once per pause, so clearing it would lose a
 * "stop" for good.
 */
int guard_complete_pending(int vcpu_fd, struct kvm_run *run);

/* Whether page @gfn lies in a read-only (trapping) memslot. */
bool guard_page_trapped(struct spp_guard *g, uint64_t gfn);

/* Write @n pieces into guest memory and mark their pages dirty (the
 * caller holds g->commit_lock). */
void guard_write_pieces(struct spp_guard *g, const struct guard_piece *p,
			unsigned int n);

/* The longest store the guard judges (spp's emulator's longest) and the
 * most pieces it comes in. */
#define GUARD_STORE_MAX 1024
#define GUARD_MAX_PIECES 16

/* A store judged per byte (byte masks, spp_guard_protect_bytes()). */
struct guard_fine {
	bool on; /* judged per byte; prot is valid */
	uint64_t prot[GUARD_STORE_MAX / 64]; /* bit k: byte k of the store
						(its pieces in order) is
						protected */
};

/* Judge @n pieces under the strict rule, or per byte where every denied
 * sub-page they touch is byte-protected (then @f->on); fills ev->verdict,
 * subpage_gpa, subpage, and protected_bytes for a per-byte verdict (only
 * written bytes count for masked pieces). @f may be NULL. */
void guard_judge_pieces(struct spp_guard *g, const struct guard_piece *p,
			unsigned int n, struct spp_event *ev,
			struct guard_fine *f);

/* Count, judge, apply the policy (commit under it), report; returns the
 * spp_exit value for the caller. @no_hold: policy STOP cannot hold this
 * store (it is not one contiguous piece of at most SPP_STORE_MAX bytes):
 * drop it as under DENY. Caller holds g->commit_lock. */
int guard_finish_store(struct spp_guard *g, const struct guard_piece *p,
		       unsigned int n, struct spp_event *ev, bool no_hold,
		       int vcpu_fd);

/* RIP of the vCPU into ev->rip, and its CPL and CR3 where the sync regs
 * hold them (the rest is fetched for reported stores only). */
void guard_fetch_rip(int vcpu_fd, const struct kvm_run *run,
		     struct spp_event *ev);

/*
 * Add @n to a counter only ever changed under g->commit_lock: a plain
 * load and store (readers load it atomically), no locked instruction on
 * the exit path.
 */
static inline void guard_count(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

/* The vCPU leaves the guard: stamp it (caller need not hold a lock). */
static inline void guard_vcpu_seen(struct spp_guard *g, uint32_t vcpu)
{
	if (vcpu < GUARD_SEQ_VCPUS)
		__atomic_store_n(&g->vcpu_seq[vcpu],
				 __atomic_load_n(&g->commit_seq,
						 __ATOMIC_ACQUIRE),
				 __ATOMIC_RELEASE);
}

/*
 * Whether another vCPU committed to page @gfn since @vcpu last left the
 * guard (so guard_rmw_check() has something to check): the cheap test,
 * inline on the exit path.
 */
static inline bool guard_rmw_conflict(struct spp_guard *g, uint32_t vcpu,
				      uint64_t gfn)
{
	return vcpu >= GUARD_SEQ_VCPUS ||
	       g->page_seq[GUARD_SEQ_BUCKET(gfn)] >
		       __atomic_load_n(&g->vcpu_seq[vcpu], __ATOMIC_ACQUIRE);
}

/*
 * guard_rmw_check() - before the single-piece store @p (bytes @data,
 * which it may rewrite) of vCPU @vcpu is judged: if another vCPU
 * committed to its page since this vCPU last left the guard and the
 * instruction was a read-modify-write, redo it against current memory
 * (new data; registers and flags fixed through KVM_SET_REGS). Caller
 * holds g->commit_lock. Returns 0 or a negative errno.
 */
int guard_rmw_check(struct spp_guard *g, int vcpu_fd, struct kvm_run *run,
		    uint32_t vcpu, struct guard_piece *p, uint8_t *data,
		    struct spp_event *ev);

/*
 * guard_string_continue() - after vCPU @vcpu's store of @len bytes at
 * @gpa: if it sits on a rep STOS/MOVS whose previous element that was,
 * do its following elements here while they are on trapped pages, each
 * judged, committed or dropped and reported as a store of its own (a
 * denied one under policy STOP is left to KVM, which then stops), and
 * update RCX/RSI/RDI/RIP as the CPU would. Returns 0, SPP_EXIT_AGAIN
 * (@run holds a new exit) or a negative errno.
 */
int guard_string_continue(struct spp_guard *g, int vcpu_fd, struct kvm_run *run,
			  uint32_t vcpu, uint64_t gpa, uint32_t len);

/*
 * The cheap filter of guard_string_continue(), inline on the exit path,
 * on the registers KVM hands back with the exit (@rcx, @rdi, @rflags):
 * a string element leaves RCX > 0 and RDI one element past @gpa.
 */
static inline bool guard_string_maybe(uint64_t rcx, uint64_t rdi,
				      uint64_t rflags, uint64_t gpa,
				      uint32_t len)
{
	bool df = rflags & (1ULL << 10);

	return rcx && !(((df ? rdi + len : rdi - len) ^ gpa) & (PAGE_SIZE - 1));
}

/*
 * guard_event_init() - the one place an event starts: every field zero
 * (unknown), then the store's vCPU, first byte, length, the first
 * min(@len, SPP_STORE_MAX) of @data (NULL: none yet) and the KVM exits
 * it took (0: spp emulated it). A new event field gets its default here;
 * whoever knows its value sets it before guard_finish_store().
 */
static inline void guard_event_init(struct spp_event *ev, uint32_t vcpu,
				    uint64_t gpa, uint32_t len,
				    const uint8_t *data, uint32_t fragments)
{
	memset(ev, 0, sizeof(*ev));
	ev->vcpu = vcpu;
	ev->gpa = gpa;
	ev->len = len;
	ev->fragments = fragments;
	if (data)
		memcpy(ev->data, data,
		       len < SPP_STORE_MAX ? len : SPP_STORE_MAX);
}

/* What guard_store_origin() found out about a store. */
struct guard_origin {
	bool found;
	bool misdirected; /* KVM wrote it to a paging-structure entry */
	uint64_t insn_rip; /* 0: several instructions fit */
	bool rmw; /* that one instruction reads, modifies, writes (only
		     with insn_rip) */
	uint64_t gpa; /* where the instruction stores */
	struct spp_x86_walk walk; /* its translation, entries top first */
};

/*
 * guard_store_origin() - the instruction that ends at RIP and made the
 * single-piece store @p, decoded backwards (every start 1..15 bytes
 * before RIP whose instruction is exactly that long and writes @p->len
 * bytes of memory), with its address translated through the guest's
 * tables (x86_walk.h). A store is @o->misdirected when its own address
 * translates elsewhere, has @p's page offset and @p is an entry of that
 * translation: KVM emulated the instruction after the CPU's page walk
 * faulted on a paging structure in a read-only slot and took the
 * faulting entry's address for the store's (docs/kvm.md). Registers
 * come from @run's sync area where KVM filled it, else from @vcpu_fd.
 * Returns 0 with @o filled, -ENOENT (no instruction fits), -EAGAIN
 * (readings disagree on the address), -EOPNOTSUPP (not in long mode) or
 * another negative errno from reading state. No KVM state changes.
 */
int guard_store_origin(struct spp_guard *g, int vcpu_fd,
		       const struct kvm_run *run, const struct guard_piece *p,
		       struct guard_origin *o);

#pragma GCC visibility pop

#endif /* SPP_GUARD_PRIV_H */
