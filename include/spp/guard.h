/* SPDX-License-Identifier: MIT */
/*
 * spp/guard.h - sub-page write protection enforced on a KVM VM.
 *
 * A guard owns the memslots of the guest RAM regions it is given and the
 * permission store (spp/access.h) of that RAM. Pages that need trapping
 * live in KVM_MEM_READONLY memslots, so every guest write to them exits to
 * user space as KVM_EXIT_MMIO; spp_guard_handle_exit() checks the store,
 * writes the allowed bytes into guest memory, drops denied ones and
 * reports an event. Reads and all other pages never exit.
 *
 * Trapped pages: every protected page (map != SPP_ACCESS_FULL) and, to
 * keep page-crossing stores all or nothing, the page before a protected
 * page whose sub-page 0 is denied and the page after one whose sub-page 31
 * is denied (KVM's emulator writes the RAM half of a crossing store before
 * the MMIO half exits, so that half must trap too). Adjacent trapped pages
 * share one slot; near the memslot limit, trapped runs are merged with the
 * pages between them (those pages then trap and their writes are committed:
 * correct, only slower).
 *
 * Memslot changes happen between the embedder's pause() and resume()
 * callbacks: no vCPU is in KVM_RUN or in an exit handler meanwhile, so no
 * write lands unchecked and no vCPU sees RAM vanish. A SET returns only
 * after the new protection is in force.
 *
 * A VMM that owns its VM fd, memory and exit loop embeds a guard like this:
 *   spp_guard_create(&g, vm_fd, &ops, ctx);
 *   spp_guard_add_memory(g, slot, gpa, size, hva);  (the slot it created)
 *   spp_guard_set_access(g, req);
 *   ...in its exit loop, for KVM_EXIT_MMIO:
 *   ret = spp_guard_handle_exit(g, vcpu_fd, run, vcpu_index, &ev);
 *
 * Thread safety: handle_exit may run concurrently on several vCPU
 * threads; protection changes are serialised internally and wait for
 * running handlers through pause()/resume().
 */
#ifndef SPP_GUARD_H
#define SPP_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include <spp/access.h>
#include <spp/gva.h>

struct kvm_run;
struct spp_guard;

/* Bytes of a store an event carries (a 32-byte AVX store fits; longer
 * emulated stores such as FXSAVE report their full length with the first
 * SPP_STORE_MAX bytes). KVM splits stores into fragments of at most 8. */
#define SPP_STORE_MAX 64

/* What spp does with a write that touches a denied sub-page. */
enum spp_policy {
	SPP_POLICY_DENY, /* drop the store, report, go on */
	SPP_POLICY_LOG, /* commit the store anyway, report */
	SPP_POLICY_STOP, /* hold the store, return SPP_EXIT_STOP */
};

enum spp_verdict {
	SPP_VERDICT_ALLOWED, /* every touched sub-page writable */
	SPP_VERDICT_DENIED, /* dropped */
	SPP_VERDICT_LOGGED, /* denied sub-page, committed by policy LOG */
	SPP_VERDICT_STOPPED, /* denied sub-page, held by policy STOP */
};

/*
 * One trapped store: a whole guest store instruction's bytes, the KVM
 * fragments of a split store put back together.
 *
 * Extension rule (docs/design.md, "Public ABI"): the size of struct
 * spp_event never changes within ABI version SPP_0.x. A later field takes
 * the place of some of @reserved, which the library always fills with
 * zero, so a field's zero value must mean "not known" (or "none"); a
 * program built against an older header simply does not see it, and one
 * built against a newer header reads zero from an older library.
 * struct spp_guard_stats follows the same rule.
 */
struct spp_event {
	uint32_t vcpu;
	uint64_t gpa; /* first byte */
	uint32_t len;
	uint8_t data[SPP_STORE_MAX];
	uint64_t subpage_gpa; /* first denied sub-page (first touched if
				 allowed) */
	unsigned int subpage; /* its index 0..31 */
	uint64_t rip; /* RIP after the store: where the guest resumes */
	uint64_t insn_rip; /* the storing instruction's RIP where spp
			      knows it (emulated stores, rep strings, redone
			      RMWs, and KVM-completed stores whose backward
			      decode is unambiguous); 0 when unknown */
	uint32_t fragments; /* KVM exits this store took (0: emulated by
			       spp, see spp_guard_emulate()) */
	enum spp_verdict verdict;
	/* 0.2: */
	uint32_t known; /* SPP_EVENT_* bits: which of the fields below are
			   known (a zero bit: not known) */
	uint32_t cpl; /* the vCPU's privilege level at the store, 0..3
			 (SPP_EVENT_CPU) */
	uint64_t cr3; /* its CR3: the address space (SPP_EVENT_CPU) */
	uint8_t old[SPP_STORE_MAX]; /* the first min(len, SPP_STORE_MAX)
				       bytes the store overwrote, or would
				       have (SPP_EVENT_OLD) */
	/* 0.3: */
	uint64_t protected_bytes; /* the store was judged per byte (it
				     touched byte-protected sub-pages only,
				     spp_guard_protect_bytes()): bit i set =
				     byte i of data (i < SPP_STORE_MAX) is
				     protected; 0: none of them
				     (SPP_EVENT_BYTES) */
	uint64_t reserved[5]; /* zero: room for later fields */
};

/* spp_event.known: */
#define SPP_EVENT_CPU (1u << 0) /* cpl and cr3 */
#define SPP_EVENT_OLD (1u << 1) /* old */
#define SPP_EVENT_BYTES (1u << 2) /* protected_bytes */

/*
 * The fields of struct spp_event in its JSON object (docs/events.md,
 * written by spp_event_json() in spp/event_json.h), in order, one row
 * each: X(json name, member, kind). Kinds: U32 (a number; any 32-bit
 * member), HEX ("0x..." of a u64), HEX_OR_NULL (null when 0: not known),
 * BYTES (the member's first min(@len, SPP_STORE_MAX) bytes, hex), PAGE
 * (the page of a u64 address), VERDICT (its name); CPU_U32, CPU_HEX,
 * OLD_BYTES and BYTES_HEX are U32, HEX, BYTES and HEX that are null
 * unless @known has SPP_EVENT_CPU (SPP_EVENT_OLD, SPP_EVENT_BYTES); SYM
 * ("name+0xoff" of a u64 address in a kernel symbol table, null when 0
 * or not in it) is written only by spp_event_json_ksym() with a table.
 * The writer adds "type", "seq" and "time" before them. A new event
 * field is a member above and a row here (and
 * its producer fills it in); docs/events.md documents it.
 */
#define SPP_EVENT_JSON_FIELDS(X)             \
	X("vcpu", vcpu, U32)                 \
	X("gpa", gpa, HEX)                   \
	X("len", len, U32)                   \
	X("data", data, BYTES)               \
	X("old", old, OLD_BYTES)             \
	X("page", subpage_gpa, PAGE)         \
	X("subpage", subpage, U32)           \
	X("subpage_gpa", subpage_gpa, HEX)   \
	X("rip", rip, HEX)                   \
	X("insn_rip", insn_rip, HEX_OR_NULL) \
	X("insn_sym", insn_rip, SYM)         \
	X("cpl", cpl, CPU_U32)               \
	X("cr3", cr3, CPU_HEX)               \
	X("fragments", fragments, U32)       \
	X("verdict", verdict, VERDICT)       \
	X("protected_bytes", protected_bytes, BYTES_HEX)

struct spp_guard_ops {
	/*
	 * Stop every vCPU of the VM outside KVM_RUN and outside
	 * spp_guard_handle_exit() and return 0, or a negative errno. NULL:
	 * the VMM promises no vCPU runs while it changes protections.
	 */
	int (*pause)(void *ctx);
	/* Let the vCPUs run again. */
	void (*resume)(void *ctx);
	/*
	 * Called for every store that touched a denied sub-page (and, with
	 * spp_guard_set_report_allowed(), for allowed ones too), on the
	 * vCPU's thread, before the guest resumes. May be NULL.
	 */
	void (*event)(void *ctx, const struct spp_event *ev);
};

/* Counters since creation. */
struct spp_guard_stats {
	uint64_t exits; /* MMIO exits on trapped pages */
	uint64_t stores; /* stores they made up */
	uint64_t allowed;
	uint64_t denied; /* touched a denied sub-page (any policy) */
	uint64_t slot_changes; /* memslots created or deleted */
	uint32_t slots; /* memslots the guard holds now */
	uint32_t ro_slots;
	uint64_t trapped_pages; /* pages in read-only slots, over all
				 * address spaces (SMM's counts too) */
	uint64_t emulated; /* stores spp emulated (spp_guard_emulate) */
	uint64_t unemulated; /* stores it had to refuse (-EOPNOTSUPP) */
	uint64_t string_batches; /* rep STOS/MOVS finished in user space */
	uint64_t string_elements; /* elements those batches wrote */
	uint64_t rmw_redone; /* read-modify-writes redone atomically */
	uint64_t rmw_unsure; /* possibly raced RMWs spp could not redo
				(ADC/SBB, or an ambiguous decode) */
	uint64_t misdirected; /* stores KVM handed over at a paging-structure
				 entry's address, judged at their own */
	uint64_t walk_writes; /* accessed/dirty flags spp set in guest page
				 tables for walks KVM could not update */
	/* 0.3: */
	uint64_t fine_allowed; /* of allowed: stores into byte-protected
				  sub-pages that wrote no protected byte */
	uint64_t mmio_stores; /* stores KVM's emulator completed, collected
				 from KVM_EXIT_MMIO exits (stores =
				 mmio_stores + emulated + string_elements) */
	uint64_t mmio_rmw; /* of those, read-modify-writes by their
			      decoded instruction (lock add/xadd/cmpxchg,
			      inc, or, ...); 0 where the decode was
			      ambiguous */
	uint64_t reserved[5]; /* zero: room for later counters (the rule of
				 struct spp_event) */
};

/*
 * spp_guard_create() - a guard for the VM @vm_fd.
 * Checks KVM_CAP_READONLY_MEM (-EOPNOTSUPP without it) and reads
 * KVM_CAP_NR_MEMSLOTS; disables KVM_X86_QUIRK_SLOT_ZAP_ALL where the
 * kernel offers it (without that every slot change re-faults all guest
 * memory). @ops may be NULL. Returns 0, -EINVAL, -EOPNOTSUPP or -ENOMEM.
 */
int spp_guard_create(struct spp_guard **out, int vm_fd,
		     const struct spp_guard_ops *ops, void *ctx);

/* spp_guard_destroy() - free the guard; the memslots stay as they are. */
void spp_guard_destroy(struct spp_guard *g);

/*
 * spp_guard_set_slot_range() - memslot ids the guard may use for the
 * pieces of split regions: [@first, @first + @count). Default: every id
 * from 32 to KVM_CAP_NR_MEMSLOTS - 1. Returns 0, -EINVAL or -EBUSY (the
 * guard already uses ids outside the new range).
 */
int spp_guard_set_slot_range(struct spp_guard *g, uint32_t first,
			     uint32_t count);

/*
 * spp_guard_add_memory() - hand the guard the RAM region [@gpa, @gpa +
 * @size) that the VMM mapped as memslot @slot (flags 0) from host memory
 * @hva. The guard takes the slot over. 4 KiB alignment required.
 * Returns 0, -EINVAL or -EEXIST (overlaps a region), -ENOMEM.
 */
int spp_guard_add_memory(struct spp_guard *g, uint32_t slot, uint64_t gpa,
			 uint64_t size, void *hva);

/*
 * spp_guard_remove_memory() - give the region that starts at @gpa back.
 * Refused with -EBUSY while any page of it is protected (unprotect first);
 * otherwise the guard merges it back into one read-write memslot with the
 * id the VMM handed in and forgets it. -ENOENT if no such region.
 */
int spp_guard_remove_memory(struct spp_guard *g, uint64_t gpa);

/*
 * For a VMM whose memory map changes while the guest runs (QEMU: SeaBIOS's
 * PAM writes delete and re-create the RAM slots; x86 SMM mirrors RAM in
 * address space 1), the guard follows the VMM's memslot calls:
 *
 * spp_guard_add_memory() takes @slot with the address space in bits 16-31
 * as KVM does (0 or 1); a region of address space 1 mirrors RAM (it gets
 * the same trapped pages as address space 0, judged and committed through
 * the address space 0 region at the same address). Pages protected while
 * no memory was there trap as soon as the region comes.
 *
 * spp_guard_forget_memory() - the VMM deletes its memslot @slot (with the
 * address space bits): the guard deletes every memslot of that region in
 * KVM (vCPUs paused) and forgets it; protected pages keep their maps for
 * when memory comes back there (spp_access_trim_ram()). Returns 0,
 * -EINVAL, -ENOENT (no region with that slot: not the guard's) or -EIO
 * (KVM refused; the region stays).
 */
int spp_guard_forget_memory(struct spp_guard *g, uint32_t slot);

/*
 * spp_guard_add_memory_flags() - spp_guard_add_memory() for a slot the VMM
 * created with @flags (0 or KVM_MEM_LOG_DIRTY_PAGES): the pieces the guard
 * cuts it into get the same flags from the start. -EINVAL for other flags.
 */
int spp_guard_add_memory_flags(struct spp_guard *g, uint32_t slot, uint64_t gpa,
			       uint64_t size, void *hva, uint32_t flags);

/*
 * spp_guard_set_memory_flags() - the VMM changes the flags of its memslot
 * @slot: @flags is 0 or KVM_MEM_LOG_DIRTY_PAGES and goes to every piece of
 * the region. Returns 0, -EINVAL (other flags), -ENOENT or -EIO (KVM
 * refused; flags as before).
 */
int spp_guard_set_memory_flags(struct spp_guard *g, uint32_t slot,
			       uint32_t flags);

/*
 * spp_guard_get_dirty_log() - KVM_GET_DIRTY_LOG for the VMM's memslot
 * @slot: the logs of all its pieces merged into @bitmap (one bit per page
 * of the region, u64 words), plus the pages the guard wrote itself since
 * the last call (address space 0 only; both address spaces log into the
 * same RAM). Returns 0, -EINVAL, -ENOENT (no such region, or it does not
 * log dirty pages) or KVM's errno.
 */
int spp_guard_get_dirty_log(struct spp_guard *g, uint32_t slot,
			    uint64_t *bitmap);

/*
 * spp_guard_set_access() / spp_guard_get_access() - KVM_SUBPAGES_SET_ACCESS
 * and _GET_ACCESS on this VM, semantics as spp_access_set()/get() (npages
 * on success, all or nothing), plus -EIO if KVM refused a memslot change
 * (the guard then restores the previous slots and maps). A sub-page SET
 * makes writable loses its byte mask (spp_guard_protect_bytes()); one it
 * leaves denied keeps it, so SET of what GET read changes nothing.
 */
int spp_guard_set_access(struct spp_guard *g, const struct spp_subpage *req);
int spp_guard_get_access(struct spp_guard *g, struct spp_subpage *req);

/* spp_guard_set_range() - one @map for pages @gfn .. @gfn + @npages - 1;
 * errors as spp_access_set_bulk() plus -EIO. Byte masks as with SET. */
int spp_guard_set_range(struct spp_guard *g, uint64_t gfn, uint64_t npages,
			uint32_t map);

/*
 * spp_guard_protect_add() - only clear bits: page @gfn's map becomes
 * old & @map. What a guest may do to its own pages (memory guard use): add
 * protection, never remove it. A byte-protected sub-page whose bit @map
 * clears loses its byte mask (denied whole from now on); the others keep
 * theirs. Errors as spp_guard_set_range().
 */
int spp_guard_protect_add(struct spp_guard *g, uint64_t gfn, uint32_t map);

/*
 * Finer than the hardware: byte masks (an extension, off by default;
 * docs/introspection.md). The 128-byte sub-page stays the model of
 * record: a byte mask only refines a denied sub-page. A sub-page is
 * byte-protected when its map bit is clear and it has a byte mask; a
 * store that touches denied sub-pages, all of them byte-protected, is
 * judged per byte: if none of the bytes it writes is in a mask it is
 * allowed (committed, counted in allowed and fine_allowed, reported only
 * with spp_guard_set_report_allowed()); else it is denied and the policy
 * applies to its protected bytes: DENY commits the others and drops
 * those, LOG commits all, STOP holds the whole store. Such events have
 * SPP_EVENT_BYTES and protected_bytes. A store that touches a sub-page
 * denied whole is judged as without masks (the strict rule: no byte of
 * it under DENY). Pages without masks are judged as before.
 */

/* Most pages with byte masks at once, and the longest range of a call. */
#define SPP_GUARD_BYTES_MAX_PAGES 4096
#define SPP_GUARD_BYTES_MAX_LEN (SPP_SUBPAGE_MAX_PAGES * 4096ULL)

/*
 * spp_guard_protect_bytes() - protect exactly the @len bytes at @gpa.
 * Each sub-page the range touches: a writable one becomes denied (its
 * page traps) with a byte mask of the range's bytes in it; a
 * byte-protected one adds them to its mask; one denied whole stays so
 * (protection never gets weaker). Returns 0, or -EINVAL (NULL, @len 0 or
 * above SPP_GUARD_BYTES_MAX_LEN, the range beyond 2^48), -EFAULT (not
 * all guest RAM), -ENOSPC (more than SPP_GUARD_BYTES_MAX_PAGES pages
 * would have masks), -ENOMEM, -EIO (KVM refused a memslot change); on
 * error nothing changed.
 */
int spp_guard_protect_bytes(struct spp_guard *g, uint64_t gpa, uint64_t len);

/*
 * spp_guard_unprotect_bytes() - take the @len bytes at @gpa out of the
 * byte masks; a byte-protected sub-page whose mask becomes empty becomes
 * writable. Sub-pages denied whole and writable ones do not change (SET
 * owns them). Returns 0 or the errors of spp_guard_protect_bytes() but
 * -ENOSPC; on error nothing changed.
 */
int spp_guard_unprotect_bytes(struct spp_guard *g, uint64_t gpa, uint64_t len);

/*
 * spp_guard_get_bytes() - page @gfn's byte mask into @bits (bit b of
 * word b / 64: byte b of the page protected; all zero without a mask).
 * Returns the number of protected bytes (0: none), or -EINVAL (NULL).
 */
int spp_guard_get_bytes(struct spp_guard *g, uint64_t gfn,
			uint64_t bits[SPP_PAGE_SIZE / 64]);

/*
 * spp_guard_set_bytes() - in the sub-pages of @subpages of page @gfn, the
 * byte mask becomes exactly that of @bits (as spp_guard_get_bytes() gives
 * it; bits of other sub-pages are ignored): with bits such a sub-page is
 * byte-protected, without it is denied whole. Each must be denied (its
 * map bit clear). Neither the map nor the memslots change, so there is no
 * moment between the two states: what spp_guard_get_bytes() read before
 * a spp_guard_protect_add() dropped it can be put back on a sub-page
 * still denied. Returns 0 (also for @subpages 0, @bits then unread), or
 * -EINVAL (NULL, a sub-page of @subpages writable), -EFAULT (not guest
 * RAM), -ENOSPC (more than SPP_GUARD_BYTES_MAX_PAGES pages would have
 * masks) or -ENOMEM; on error nothing changed.
 */
int spp_guard_set_bytes(struct spp_guard *g, uint64_t gfn, uint32_t subpages,
			const uint64_t bits[SPP_PAGE_SIZE / 64]);

/* spp_guard_lookup() - the current map of page @gfn. */
uint32_t spp_guard_lookup(struct spp_guard *g, uint64_t gfn);

/* spp_guard_set_policy() - what to do with denied stores (default DENY).
 * Returns 0, or -EINVAL (NULL, an unknown policy: nothing changes). */
int spp_guard_set_policy(struct spp_guard *g, enum spp_policy policy);

/* spp_guard_policy() - the policy now (DENY for NULL). */
enum spp_policy spp_guard_policy(struct spp_guard *g);

/* Also report allowed stores to trapped pages through ops->event. */
void spp_guard_set_report_allowed(struct spp_guard *g, bool on);

/* Return codes of spp_guard_handle_exit(). */
enum spp_exit {
	SPP_EXIT_NOT_MINE = 0, /* not a trapped page: the VMM handles it */
	SPP_EXIT_HANDLED = 1, /* done: re-enter KVM_RUN */
	SPP_EXIT_STOP = 2, /* policy STOP: *ev holds the store, not applied */
	SPP_EXIT_AGAIN = 3, /* done, and @run now holds the next exit of the
			       same instruction (not ours): handle it before
			       re-entering */
};

/*
 * spp_guard_handle_exit() - resolve a KVM_EXIT_MMIO of vCPU @vcpu_fd
 * (index @vcpu for events) whose kvm_run is @run.
 * A write to a trapped page is judged as one store together with the
 * further fragments KVM splits the same instruction into: where a later
 * fragment could change the verdict, the guard collects them by
 * re-entering KVM_RUN with immediate_exit set (which completes pending
 * MMIO without running guest code). Allowed bytes go to guest memory and
 * are marked dirty; a store that touches a denied sub-page follows the
 * policy. A read of guest RAM (possible only while a slot is being
 * changed without pause()) is served from memory.
 * Fills *@ev (may be NULL) when it returns SPP_EXIT_HANDLED or
 * SPP_EXIT_STOP for a store. Returns an enum spp_exit value or a negative
 * errno (-EINVAL for a @run that is not an MMIO exit, or the errno of
 * KVM_RUN).
 */
int spp_guard_handle_exit(struct spp_guard *g, int vcpu_fd, struct kvm_run *run,
			  uint32_t vcpu, struct spp_event *ev);

/* An instruction spp could not emulate (spp_guard_emulate()). */
struct spp_insn_report {
	uint64_t rip;
	uint8_t bytes[15];
	uint8_t len;
	char text[96]; /* its disassembly (Intel syntax) */
	const char *why; /* static text: why it was not emulated */
};

/*
 * spp_guard_emulate() - finish in user space a store KVM cannot complete.
 * Call it for a vCPU whose @run shows
 *   - KVM_EXIT_INTERNAL_ERROR with suberror KVM_INTERNAL_ERROR_EMULATION
 *     (KVM's emulator lacks the instruction: SSE partial and scalar
 *     stores, AVX, x87, FXSAVE/XSAVE, CMPXCHG16B, ...), or
 *   - any other stop outside KVM_RUN, e.g. after a kick (KVM_EXIT_INTR):
 *     then only instructions that make KVM_RUN spin instead of exiting
 *     (SGDT, SIDT, SLDT, STR, SMSW into a trapped page) are taken.
 * The guard decodes the instruction at RIP (Zydis), reads the registers
 * it needs (KVM_GET_REGS/SREGS/XSAVE/XCRS), turns its linear address into
 * guest-physical pages (KVM_TRANSLATE), judges the store like any other
 * (every written sub-page writable), commits or drops it by policy,
 * applies the instruction's register effects (x87 pops, CMPXCHG16B's
 * RDX:RAX and ZF), advances RIP and reports an event (fragments 0,
 * insn_rip set). Policy STOP holds stores of at most SPP_STORE_MAX
 * contiguous bytes; longer or masked ones are dropped as under DENY.
 * Enable KVM_CAP_EXIT_ON_EMULATION_FAILURE on the VM, or KVM injects #UD
 * instead of exiting.
 * Returns SPP_EXIT_HANDLED, SPP_EXIT_STOP, SPP_EXIT_NOT_MINE (not a store
 * into guest RAM the guard owns: the VMM's business), -EOPNOTSUPP (a
 * store spp cannot emulate: @rep, if not NULL, names the instruction and
 * why) or another negative errno of a KVM call. Safe on any vCPU thread.
 */
int spp_guard_emulate(struct spp_guard *g, int vcpu_fd, struct kvm_run *run,
		      uint32_t vcpu, struct spp_event *ev,
		      struct spp_insn_report *rep);

/*
 * spp_guard_resolve_stop() - finish a store held by SPP_EXIT_STOP: judge
 * it again under the current maps (the caller may have changed them) and
 * commit it when allowed, drop it when still denied (as DENY does: a
 * store judged per byte commits its unprotected bytes). @commit forces the
 * commit. Returns the final verdict (SPP_VERDICT_ALLOWED, _DENIED or
 * _LOGGED) or -EINVAL (NULL, not a STOPPED event, @ev->len 0 or above
 * SPP_STORE_MAX, or [@ev->gpa, + @ev->len) not inside one guarded region;
 * nothing written).
 */
int spp_guard_resolve_stop(struct spp_guard *g, const struct spp_event *ev,
			   bool commit);

/*
 * spp_guard_get_dirty() - pages the guard wrote into guest memory itself:
 * those writes bypass KVM's dirty log. Sets bit k of @bitmap (a u64 array
 * of @npages bits) for each page @gfn + k written since the last call
 * with @clear; merge it with KVM_GET_DIRTY_LOG before migrating.
 * Returns 0, -EINVAL (NULL, @npages 0, a range beyond gfn 2^52), or
 * -EFAULT when the range is not guarded RAM; @bitmap is not written on
 * error.
 */
int spp_guard_get_dirty(struct spp_guard *g, uint64_t gfn, uint64_t npages,
			uint64_t *bitmap, bool clear);

/*
 * spp_guard_translate() - spp_gva_translate() on the guard's guest memory
 * (the regions it was given, address space 0), under its lock so that
 * memory does not change meanwhile: the guest-virtual range [@gva, +
 * @len) under the page tables @pg selects, as one guest-physical piece
 * per 4 KiB page. Every table entry is read through the one checked
 * gpa -> host path; guest tables are untrusted (spp/gva.h). Arguments,
 * results and errors as spp_gva_translate() (-EINVAL also for a NULL
 * @g).
 */
int spp_guard_translate(struct spp_guard *g, const struct spp_x86_paging *pg,
			uint64_t gva, uint64_t len,
			struct spp_gva_piece *pieces, size_t max, size_t *n,
			struct spp_gva_fault *fault);

/* spp_guard_stats() - counters; @out filled. */
void spp_guard_stats(struct spp_guard *g, struct spp_guard_stats *out);

/* spp_guard_access() - the permission store (read-only use). */
const struct spp_access *spp_guard_access(struct spp_guard *g);

#endif /* SPP_GUARD_H */
