/* SPDX-License-Identifier: MIT */
/*
 * spp/ctl.h - the control socket: a server on a UNIX socket that lets
 * another process protect and unprotect sub-pages of a running guest,
 * read maps, statistics and held stores, change the policy and receive
 * the guard's events. Any VMM that embeds a guard starts one on it:
 * "spp run --control SOCKET" (the built-in VMM) and the QEMU shim do.
 *
 * Protocol (docs/control.md): line-delimited JSON in QMP's habits, so
 * QMP client libraries can talk to it: a greeting {"QMP": ...}, the
 * negotiation {"execute": "qmp_capabilities"}, then requests
 * {"execute": NAME, "arguments": {...}, "id": ANY} answered by
 * {"return": ..., "id": ANY} or {"error": {"class": ..., "desc": ...},
 * "id": ANY}, and events {"event": NAME, "data": ..., "timestamp": ...}.
 * A malformed request gets an error reply and changes nothing; the
 * connection stays usable.
 *
 * Every protection goes through the guard (spp_guard_set_access() and
 * friends), which refuses anything outside guest RAM; the embedder's
 * ops->protectable may refuse more (its system area). A client that
 * disconnects changes nothing: its protections stay.
 *
 * Threads: spp_ctl_create() starts one server thread that serves every
 * client with poll(); spp_ctl_event() may be called from any thread
 * (vCPU threads) concurrently and never blocks; the ops are called on
 * the server thread only.
 */
#ifndef SPP_CTL_H
#define SPP_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <spp/guard.h>
#include <spp/gva.h>

struct spp_ctl;
struct spp_ksym_table;

/* Clients served at once; one more gets an error line and is closed. */
#define SPP_CTL_MAX_CLIENTS 16
/* The longest request line in bytes (without its '\n'); a longer one
 * gets an error reply and is skipped up to its newline. */
#define SPP_CTL_LINE_MAX (1u << 20)
/* Maps in one set-access / get-access (KVM_SUBPAGES_SET_ACCESS's limit
 * in the KVM series). */
#define SPP_CTL_MAX_PAGES 512
/* Held stores one query-held lists at most. */
#define SPP_CTL_MAX_HELD 64
/* Kernel-address rules (protect-symbol, protect-gva) kept at once. */
#define SPP_CTL_MAX_RULES 64
/* 4 KiB virtual pages one such rule may span (256 KiB). */
#define SPP_CTL_RULE_MAX_PAGES 64
/* How soon the server retries pending rules, in milliseconds (doubled
 * after each round in which none took, up to 5 times this). */
#define SPP_CTL_RETRY_MS 200

/*
 * What the kernel-address commands need of a vCPU, read while it is
 * paused (KVM_GET_SREGS, KVM_GET_MSRS). A zero field is "not known".
 */
struct spp_ctl_vcpu_state {
	struct spp_x86_paging paging; /* CR0, CR3, CR4, EFER */
	uint64_t lstar; /* MSR_LSTAR: Linux sets it to entry_SYSCALL_64 once
			   it is up; 0 before (or not read) */
	uint64_t idt_base; /* the IDTR base */
	uint64_t reserved[4]; /* zero */
};

/* What the embedder answers for; every member may be NULL. Called on the
 * server thread, one call at a time. */
struct spp_ctl_ops {
	/*
	 * May pages [@gfn, @gfn + @npages) be protected? 0, or -EPERM (or
	 * -EFAULT: not guest RAM) with *@why set to static text that the
	 * error reply carries. NULL: every page of guest RAM may.
	 */
	int (*protectable)(void *ctx, uint64_t gfn, uint64_t npages,
			   const char **why);
	/*
	 * Stores held under policy STOP (SPP_EXIT_STOP, verdict STOPPED):
	 * copy up to @n into @evs and return how many, or a negative errno.
	 * NULL: query-held answers "not supported by this VMM".
	 */
	int (*held)(void *ctx, struct spp_event *evs, unsigned int n);
	/*
	 * Finish vCPU @vcpu's held store: commit it (@commit) or judge it
	 * again under the current maps (spp_guard_resolve_stop()), and let
	 * the vCPU go on. Returns the final enum spp_verdict, -ENOENT (no
	 * store held on that vCPU) or another negative errno.
	 */
	int (*resolve)(void *ctx, uint32_t vcpu, bool commit);
	/* "start": let the vCPUs run (an embedder that holds them until a
	 * client has configured protections). 0 or a negative errno. */
	int (*start)(void *ctx);
	/*
	 * The state of vCPU @vcpu (an index: 0 is the first vCPU the VMM
	 * created) into *@st, read while that vCPU is paused (outside
	 * KVM_RUN); fields the VMM cannot read stay 0. Returns 0, -ENOENT
	 * (no such vCPU yet) or a negative errno. NULL: protect-gva and
	 * protect-symbol answer "not supported by this VMM".
	 */
	int (*vcpu_state)(void *ctx, uint32_t vcpu,
			  struct spp_ctl_vcpu_state *st);
};

/*
 * spp_ctl_create() - listen on the UNIX socket @path for clients that
 * control guard @g, and start the server thread.
 * The socket is created mode 0600. Its directory must exist, be owned by
 * this user (effective uid) and not be writable by group or others:
 * otherwise -EPERM (spp_ctl_private_path() makes such a directory). An
 * existing socket at @path is -EADDRINUSE while something listens on it,
 * and replaced when nothing does (a stale socket of a process that
 * died); any other file there is -EEXIST. A client whose peer uid is
 * neither ours nor root is refused.
 * @ops (may be NULL) and @ctx are kept until spp_ctl_destroy().
 * Returns 0 (*@out set), -EINVAL (NULL @out, @path or @g, an empty
 * @path), -ENAMETOOLONG (@path does not fit a sockaddr_un), -EPERM,
 * -EADDRINUSE, -EEXIST, -ENOENT (no such directory), -ENOMEM, or the
 * negative errno of socket(), bind(), listen() or eventfd(). Nothing is
 * left behind on error.
 */
int spp_ctl_create(struct spp_ctl **out, const char *path, struct spp_guard *g,
		   const struct spp_ctl_ops *ops, void *ctx);

/*
 * spp_ctl_event() - report the store @ev to every client that enabled
 * events: {"event": "SPP_VIOLATION" (verdict denied, logged, stopped) or
 * "SPP_ALLOWED" (allowed stores, which the guard reports with
 * spp_guard_set_report_allowed()), "data": the object of spp_event_json()
 * ...}. Safe from any thread, concurrently; never blocks on a client: a
 * client whose queue is full loses the event, and is told how many it
 * lost (an SPP_EVENTS_LOST event) once its queue has room again. NULL
 * @c or @ev: nothing.
 */
void spp_ctl_event(struct spp_ctl *c, const struct spp_event *ev);

/*
 * spp_ctl_set_symbols() - give the server the kernel symbol table @t
 * (spp/ksym.h: from spp_ksym_load() of a System.map or /proc/kallsyms, or
 * any other source of the same table): protect-symbol resolves names in
 * it, and events then carry "insn_sym". The ctl owns @t from now on
 * (destroyed with the ctl or the next table) and sets its KASLR slide
 * itself; the caller must not use it any more. @t NULL drops the table.
 * Pending symbol rules are tried again with the new table. Safe from any
 * thread. Returns 0 or -EINVAL (@c NULL; @t is then not taken).
 */
int spp_ctl_set_symbols(struct spp_ctl *c, struct spp_ksym_table *t);

/*
 * spp_ctl_guest_reset() - the VMM reset the guest (its first vCPU is back
 * at the reset vector): every applied kernel-address rule (protect-symbol,
 * protect-gva) gives back the sub-pages it denied, as unprotect-rule
 * does, and waits, pending, for the kernel that boots next
 * (whose KASLR slide and page tables may differ: the old pages may hold
 * anything now). Each such rule is announced as SPP_RULE_PENDING; pending
 * rules are retried at the full rate. Protections set by guest-physical
 * address are not rules and stay, sub-pages a rule denied too included
 * (a rule gives back only what it turned from writable to denied and no
 * address protection claimed since; docs/control.md). The server thread
 * does it; the call waits for that, at most @timeout_ms. Any thread but
 * the server's (the ops run there). Returns 0, -ETIMEDOUT (it happens later) or -EINVAL
 * (NULL @c, negative @timeout_ms).
 */
int spp_ctl_guest_reset(struct spp_ctl *c, int timeout_ms);

/*
 * spp_ctl_destroy() - send subscribers a last {"event": "SHUTDOWN",
 * "data": {"guest": false, "reason": "spp-exit", "stats": ...}} with
 * the guard's counters, flush every client's queue (at most a second in
 * all), close the clients and the socket, unlink it, join the server
 * thread, free everything. Protections stay as they are. NULL: nothing. No
 * spp_ctl_event() may run concurrently or after.
 */
void spp_ctl_destroy(struct spp_ctl *c);

/*
 * spp_ctl_private_path() - make a private directory for a control socket
 * (mode 0700, named spp-XXXXXX, in $XDG_RUNTIME_DIR when that is set and
 * an absolute path, else in /tmp) and write "DIR/control" into @buf
 * (@size bytes). Returns 0, -EINVAL (NULL @buf), -ENAMETOOLONG (@buf or
 * a sockaddr_un too small: nothing created) or the negative errno of
 * mkdtemp(). The caller removes the directory (spp_ctl_private_remove())
 * after spp_ctl_destroy().
 */
int spp_ctl_private_path(char *buf, size_t size);

/* spp_ctl_private_remove() - unlink @path (if still there) and remove its
 * directory as spp_ctl_private_path() made it. Returns 0 or -errno. */
int spp_ctl_private_remove(const char *path);

#endif /* SPP_CTL_H */
