// SPDX-License-Identifier: MIT
/*
 * run.c - "spp run": check everything, then run the guest on the built-in
 * VMM under the protection rules, stream events, print the summary and
 * exit with the guest's status or one of spp's own (spp_cli.h).
 *
 * Signals: SIGINT, SIGTERM and SIGHUP are blocked in every thread and
 * taken by a watcher thread with sigwait(), which calls
 * spp_vm_interrupt() - the VM stops cleanly, the summary is printed and
 * spp exits with SPP_CLI_INTERRUPTED. The run goes in slices of at most
 * a second, so a signal that arrives between two spp_vm_run() calls is
 * seen too, and the progress line needs no thread of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spp/spp.h>
#include <spp/ctl.h>
#include <spp/elf_load.h>
#include <spp/guest_mem.h>
#include <spp/layout.h>
#include <spp/vector.h>
#include <spp/vm.h>

#include "spp_cli.h"

#define SLICE_MS 1000
#define PROGRESS_S 5 /* seconds between progress lines */
#define HOT_SUBPAGES 5
#define TEXT_PAGES 16 /* protected pages listed in the text summary */
#define JSON_PAGES 1024 /* all pages in --stats up to this many */

struct counts {
	uint64_t allowed, denied;
};

/*
 * A trapped page that saw a store or is protected: every store is counted
 * once, on the page of its subpage_gpa. At the end of the run the table
 * keeps the protected pages (by a rule, or by the guest itself through
 * the doorbell's PROTECT) and the unprotected ones (trapped neighbours)
 * are summed up in run_state.other (finish_counts()).
 */
struct page_stat {
	uint64_t gpa;
	uint32_t map; /* the rules' map; the guard's at the end of the run */
	bool rule; /* protected by a rule (else only by the guest) */
	struct counts sub[SPP_SUBPAGES_PER_PAGE];
};

struct run_state {
	const struct spp_run_opts *o;
	FILE *events; /* NULL: none */
	FILE *console;
	double t0;

	pthread_mutex_t lock;
	uint64_t seq; /* events written */
	struct page_stat *pages; /* sorted by gpa */
	size_t npages, cap;
	struct counts other; /* trapped neighbour pages */
	bool events_failed;

	struct spp_vm *vm;
	struct spp_ctl *ctl; /* --control, or NULL */
	atomic_int signo; /* a signal asked to stop */
	atomic_bool quit;
};

/* The index of page @gpa in s->pages, or where it would go (*@found
 * false). */
static size_t page_find(const struct run_state *s, uint64_t gpa, bool *found)
{
	size_t lo = 0, hi = s->npages;

	gpa &= SPP_PAGE_MASK;
	*found = false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->pages[mid].gpa == gpa) {
			*found = true;
			return mid;
		}
		if (s->pages[mid].gpa < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Page @gpa's entry, added (zeroed, not a rule's) if it is new; NULL
 * when out of memory. */
static struct page_stat *page_get(struct run_state *s, uint64_t gpa)
{
	bool found;
	size_t i = page_find(s, gpa, &found);

	if (found)
		return &s->pages[i];
	if (s->npages == s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 16;
		struct page_stat *n = realloc(s->pages, ncap * sizeof(*n));

		if (!n)
			return NULL;
		s->pages = n;
		s->cap = ncap;
	}
	memmove(&s->pages[i + 1], &s->pages[i],
		(s->npages - i) * sizeof(*s->pages));
	s->npages++;
	memset(&s->pages[i], 0, sizeof(s->pages[i]));
	s->pages[i].gpa = gpa & SPP_PAGE_MASK;
	s->pages[i].map = SPP_ACCESS_FULL;
	return &s->pages[i];
}

/* The rules' pages, before the run. */
static int init_counts(struct run_state *s)
{
	const struct spp_run_opts *o = s->o;
	size_t i;

	for (i = 0; i < o->npages; i++) {
		struct page_stat *p = page_get(s, o->pages[i].gpa);

		if (!p) {
			spp_cli_err("out of memory");
			return SPP_CLI_ERROR;
		}
		p->map = o->pages[i].map;
		p->rule = true;
	}
	return 0;
}

static int add_protected(void *ctx, uint64_t gfn, uint32_t map)
{
	struct page_stat *p = page_get(ctx, gfn << SPP_PAGE_SHIFT);

	(void)map;
	return p ? 0 : -ENOMEM;
}

/*
 * After the run, with every vCPU parked: add the pages the guest
 * protected that saw no store, take each page's map from the guard, and
 * move the counts of unprotected pages (trapped neighbours) into
 * s->other. (A store that found no memory for its page's entry was
 * counted there at once.)
 */
static void finish_counts(struct run_state *s, struct spp_guard *g)
{
	size_t i, k, sp;

	if (spp_access_for_each(spp_guard_access(g), add_protected, s))
		spp_cli_err("out of memory: the summary lacks pages");
	for (i = k = 0; i < s->npages; i++) {
		struct page_stat *p = &s->pages[i];

		p->map = spp_guard_lookup(g, p->gpa >> SPP_PAGE_SHIFT);
		if (p->rule || p->map != SPP_ACCESS_FULL) {
			if (k != i)
				s->pages[k] = *p;
			k++;
			continue;
		}
		for (sp = 0; sp < SPP_SUBPAGES_PER_PAGE; sp++) {
			s->other.allowed += p->sub[sp].allowed;
			s->other.denied += p->sub[sp].denied;
		}
	}
	s->npages = k;
}

static void on_event(void *ctx, const struct spp_event *ev)
{
	struct run_state *s = ctx;
	bool allowed = ev->verdict == SPP_VERDICT_ALLOWED;
	struct page_stat *p;
	struct counts *c;
	char buf[512];
	int n;

	pthread_mutex_lock(&s->lock);
	p = page_get(s, ev->subpage_gpa);
	c = p ? &p->sub[ev->subpage] : &s->other;
	if (allowed)
		c->allowed++;
	else
		c->denied++;
	if (s->events && (!allowed || s->o->events_all)) {
		n = spp_cli_event_json(buf, sizeof(buf), ev, ++s->seq,
				       spp_cli_now() - s->t0);
		if (n > 0 && (size_t)n < sizeof(buf) &&
		    (fputs(buf, s->events) == EOF || fflush(s->events)))
			s->events_failed = true;
	}
	pthread_mutex_unlock(&s->lock);
	spp_ctl_event(s->ctl, ev); /* NULL: no --control */
}

static void on_console(void *ctx, const char *buf, size_t len)
{
	struct run_state *s = ctx;

	fwrite(buf, 1, len, s->console);
	fflush(s->console);
}

/* ---- signals ------------------------------------------------------------ */

static void watched_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR2); /* from main: the watcher should end */
}

static void *signal_watcher(void *arg)
{
	struct run_state *s = arg;
	sigset_t set;
	int sig;

	watched_signals(&set);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (sig == SIGUSR2) {
			if (atomic_load(&s->quit))
				return NULL;
			continue;
		}
		atomic_store(&s->signo, sig);
		spp_vm_interrupt(s->vm);
	}
}

/* ---- input checks --------------------------------------------------------- */

static int read_guest(const char *path, void **buf, size_t *size)
{
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		spp_cli_err("cannot read guest '%s': %s", path,
			    strerror(errno));
		return SPP_CLI_USAGE;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		spp_cli_err("guest '%s' is not a regular file", path);
		close(fd);
		return SPP_CLI_USAGE;
	}
	if (st.st_size > (off_t)SPP_LAYOUT_RAM_MAX) {
		spp_cli_err("guest '%s' is too big", path);
		close(fd);
		return SPP_CLI_USAGE;
	}
	*size = (size_t)st.st_size;
	*buf = malloc(*size + 1);
	if (!*buf) {
		close(fd);
		spp_cli_err("out of memory");
		return SPP_CLI_ERROR;
	}
	n = read(fd, *buf, *size);
	close(fd);
	if (n != (ssize_t)*size) {
		spp_cli_err("cannot read guest '%s': %s", path,
			    n < 0 ? strerror(errno) : "short read");
		free(*buf);
		*buf = NULL;
		return SPP_CLI_USAGE;
	}
	return 0;
}

static const char *elf_error(int e)
{
	switch (e) {
	case -ENOEXEC:
		return "not an ELF64 x86-64 executable";
	case -EINVAL:
		return "position independent or dynamically linked (build "
		       "with -static -no-pie)";
	case -EBADMSG:
		return "malformed ELF file";
	case -E2BIG:
		return "too many loadable segments";
	case -ERANGE:
	case -EFAULT:
		return "a segment lies outside the program area (link at "
		       "0x400000 and keep below the page tables; "
		       "docs/guest-abi.md)";
	}
	return strerror(-e);
}

/* Load the ELF into scratch memory that only reserves address space, so
 * every error shows before KVM is touched. */
static int check_elf(const char *path, const void *buf, size_t size,
		     uint64_t mem)
{
	struct spp_guest_mem m;
	struct spp_elf_info info;
	void *ram;
	int ret;

	ram = mmap(NULL, mem, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED) {
		spp_cli_err("cannot reserve %" PRIu64 " MiB: %s", mem >> 20,
			    strerror(errno));
		return SPP_CLI_ERROR;
	}
	spp_guest_mem_init(&m);
	ret = spp_guest_mem_add(&m, 0, mem, ram);
	if (!ret)
		ret = spp_elf_load(&m, mem, buf, size, &info);
	spp_guest_mem_remove(&m, 0, mem);
	munmap(ram, mem);
	if (ret) {
		spp_cli_err("guest '%s': %s", path, elf_error(ret));
		return SPP_CLI_USAGE;
	}
	return 0;
}

/*
 * Whether --events @path can be written, checked before KVM is touched
 * without creating or truncating anything: open_events() does that only
 * once the guest is about to run.
 */
static int check_events(const char *path)
{
	struct stat st;
	char *dir, *slash;
	bool ok;
	int err;

	if (!strcmp(path, "-"))
		return 0;
	if (!stat(path, &st)) {
		if (S_ISDIR(st.st_mode))
			errno = EISDIR;
		else if (!faccessat(AT_FDCWD, path, W_OK, AT_EACCESS))
			return 0;
	} else if (errno == ENOENT) {
		/* a new file: its directory must take it */
		dir = strdup(path);
		if (!dir) {
			spp_cli_err("out of memory");
			return SPP_CLI_ERROR;
		}
		slash = strrchr(dir, '/');
		if (!slash)
			strcpy(dir, ".");
		else if (slash == dir)
			slash[1] = 0;
		else
			*slash = 0;
		ok = !faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS);
		err = errno;
		free(dir);
		if (ok)
			return 0;
		errno = err;
	}
	spp_cli_err("--events '%s': %s", path, strerror(errno));
	return SPP_CLI_USAGE;
}

/* Open --events now that the guest is about to run. */
static int open_events(struct run_state *s)
{
	const char *path = s->o->events;

	if (!path)
		return 0;
	if (!strcmp(path, "-")) {
		s->events = stdout;
		s->console = stderr;
		return 0;
	}
	s->events = fopen(path, "we");
	if (!s->events) {
		spp_cli_err("--events '%s': %s", path, strerror(errno));
		return SPP_CLI_USAGE;
	}
	return 0;
}

/* ---- protections ---------------------------------------------------------- */

/* Runs of consecutive pages with one map become one SET. */
static int apply_pages(struct spp_guard *g, const struct spp_run_opts *o)
{
	size_t i = 0;

	while (i < o->npages) {
		size_t k = i + 1;
		int ret;

		while (k < o->npages && o->pages[k].map == o->pages[i].map &&
		       o->pages[k].gpa == o->pages[k - 1].gpa + SPP_PAGE_SIZE)
			k++;
		ret = spp_guard_set_range(g, o->pages[i].gpa >> SPP_PAGE_SHIFT,
					  k - i, o->pages[i].map);
		if (ret < 0) {
			spp_cli_err("protecting 0x%" PRIx64 " (%zu pages): %s",
				    o->pages[i].gpa, k - i, strerror(-ret));
			return SPP_CLI_ERROR;
		}
		i = k;
	}
	/* --protect-bytes: after the maps, which would drop byte masks */
	for (i = 0; i < o->nrules; i++) {
		const struct spp_rule *r = &o->rules[i];
		int ret;

		if (!r->bytes)
			continue;
		ret = spp_guard_protect_bytes(g, r->gpa, r->len);
		if (ret < 0) {
			spp_cli_err("%s: %s", r->origin, strerror(-ret));
			return SPP_CLI_ERROR;
		}
	}
	return 0;
}

/* --protect-gva: through vCPU 0's page tables (the VMM's identity map
 * unless the guest changed them: it has not run yet), the sub-pages each
 * piece touches denied on its page, checked as rules are first. */
static int apply_gvas(struct run_state *s)
{
	const struct spp_run_opts *o = s->o;
	struct spp_guard *g = spp_vm_guard(s->vm);
	size_t i, k, n;

	for (i = 0; i < o->nkaddrs; i++) {
		struct spp_gva_piece p[SPP_CTL_RULE_MAX_PAGES];
		struct spp_ctl_vcpu_state st;
		struct spp_gva_fault f = { 0 };
		int ret = spp_vm_vcpu_state(s->vm, 0, &st);

		if (!ret)
			ret = spp_guard_translate(g, &st.paging,
						  o->kaddrs[i].gva,
						  o->kaddrs[i].len, p,
						  SPP_CTL_RULE_MAX_PAGES, &n,
						  &f);
		if (ret) {
			spp_cli_err("%s: 0x%" PRIx64 " does not translate: %s",
				    o->kaddrs[i].origin,
				    ret == -EFAULT ? f.gva : o->kaddrs[i].gva,
				    ret == -EFAULT ? "not mapped to guest RAM" :
						     strerror(-ret));
			return SPP_CLI_USAGE;
		}
		for (k = 0; k < n; k++)
			if (spp_layout_protectable(
				    p[k].gpa, p[k].gpa + p[k].len, o->mem) !=
			    SPP_LAYOUT_PROTECTABLE) {
				spp_cli_err("%s: gpa 0x%" PRIx64 " is not "
					    "protectable (RULES)",
					    o->kaddrs[i].origin, p[k].gpa);
				return SPP_CLI_USAGE;
			}
		for (k = 0; k < n; k++) {
			uint64_t page = p[k].gpa & SPP_PAGE_MASK;
			unsigned int a = (unsigned int)(p[k].gpa - page) /
					 SPP_SUBPAGE_SIZE,
				     b = (unsigned int)(p[k].gpa + p[k].len -
							1 - page) /
					 SPP_SUBPAGE_SIZE;
			uint32_t t = (uint32_t)(((2ULL << b) - 1) &
						~((1ULL << a) - 1));

			ret = spp_guard_protect_add(g, page >> SPP_PAGE_SHIFT,
						    ~t);
			if (ret) {
				spp_cli_err("%s: %s", o->kaddrs[i].origin,
					    strerror(-ret));
				return SPP_CLI_ERROR;
			}
		}
	}
	return 0;
}

/* The control socket's check of a protection: the rules' check
 * (spp_layout_protectable(), as for --protect and the guest's PROTECT). */
static int ctl_protectable(void *ctx, uint64_t gfn, uint64_t npages,
			   const char **why)
{
	const struct run_state *s = ctx;

	switch (spp_layout_protectable(gfn << SPP_PAGE_SHIFT,
				       (gfn + npages) << SPP_PAGE_SHIFT,
				       s->o->mem)) {
	case SPP_LAYOUT_PROTECTABLE:
		return 0;
	case SPP_LAYOUT_BEYOND_RAM:
		*why = "beyond guest RAM (--mem)";
		return -EFAULT;
	case SPP_LAYOUT_SYSTEM_AREA:
		*why = "in spp's system area below 1 MiB";
		return -EPERM;
	case SPP_LAYOUT_PAGE_TABLES:
		*why = "in the guest page tables at the top of RAM";
		return -EPERM;
	}
	*why = "refused";
	return -EPERM;
}

/* The control socket's protect-gva: the VM's vCPU registers. */
static int ctl_vcpu_state(void *ctx, uint32_t vcpu,
			  struct spp_ctl_vcpu_state *st)
{
	const struct run_state *s = ctx;

	return spp_vm_vcpu_state(s->vm, vcpu, st);
}

/* --control: the server on the guard, before the guest runs. */
static int open_control(struct run_state *s)
{
	static const struct spp_ctl_ops ops = {
		.protectable = ctl_protectable,
		.vcpu_state = ctl_vcpu_state,
	};
	const char *path = s->o->control;
	int ret;

	if (!path)
		return 0;
	ret = spp_ctl_create(&s->ctl, path, spp_vm_guard(s->vm), &ops, s);
	if (!ret)
		return 0;
	spp_cli_err("--control '%s': %s%s", path, strerror(-ret),
		    ret == -EPERM      ? " (its directory must be ours and not "
					 "writable by group or others)" :
		    ret == -EADDRINUSE ? " (another spp serves it)" :
					 "");
	return SPP_CLI_USAGE;
}

/* ---- summary ---------------------------------------------------------------- */

struct hot {
	size_t page;
	unsigned int sp;
	uint64_t total, denied;
};

static int hot_cmp(const void *a, const void *b)
{
	const struct hot *x = a, *y = b;

	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	/* a tie: the sub-page with denied stores first */
	if (x->denied != y->denied)
		return x->denied < y->denied ? 1 : -1;
	if (x->page != y->page)
		return x->page < y->page ? -1 : 1;
	return x->sp < y->sp ? -1 : x->sp > y->sp;
}

/* The HOT_SUBPAGES busiest sub-pages into @h; returns how many. */
static size_t hottest(const struct run_state *s, struct hot *h)
{
	size_t n = 0, i;

	for (i = 0; i < s->npages * SPP_SUBPAGES_PER_PAGE; i++) {
		size_t page = i / SPP_SUBPAGES_PER_PAGE;
		unsigned int sp = (unsigned int)(i % SPP_SUBPAGES_PER_PAGE);
		const struct counts *c = &s->pages[page].sub[sp];
		struct hot x = { page, sp, c->allowed + c->denied, c->denied };

		if (!x.total)
			continue;
		if (n < HOT_SUBPAGES) {
			h[n++] = x;
		} else if (hot_cmp(&x, &h[n - 1]) < 0) {
			h[n - 1] = x;
		} else {
			continue;
		}
		qsort(h, n, sizeof(*h), hot_cmp);
	}
	return n;
}

static struct counts page_counts(const struct run_state *s, size_t p)
{
	struct counts c = { 0, 0 };
	unsigned int k;

	for (k = 0; k < SPP_SUBPAGES_PER_PAGE; k++) {
		c.allowed += s->pages[p].sub[k].allowed;
		c.denied += s->pages[p].sub[k].denied;
	}
	return c;
}

static const char *outcome_name(enum spp_vm_reason r)
{
	switch (r) {
	case SPP_VM_EXIT:
		return "exit";
	case SPP_VM_STOPPED:
		return "stopped";
	case SPP_VM_TIMEOUT:
		return "timeout";
	case SPP_VM_INTERRUPTED:
		return "interrupted";
	case SPP_VM_ERROR:
		return "error";
	default:
		return "crash";
	}
}

static int exit_code(const struct spp_vm_result *res)
{
	switch (res->reason) {
	case SPP_VM_EXIT:
		return res->status;
	case SPP_VM_STOPPED:
		return SPP_CLI_STOPPED;
	case SPP_VM_TIMEOUT:
		return SPP_CLI_TIMEOUT;
	case SPP_VM_INTERRUPTED:
		return SPP_CLI_INTERRUPTED;
	case SPP_VM_ERROR:
	case SPP_VM_SYNC: /* never ends a run of spp run */
		return SPP_CLI_ERROR;
	default:
		return SPP_CLI_CRASH;
	}
}

/* The --stats summary: one JSON line on stderr (docs/spp.1, --stats). */
static void summary_json(const struct run_state *s,
			 const struct spp_vm_result *res,
			 const struct spp_guard_stats *gs, double t)
{
	const struct spp_run_opts *o = s->o;
	struct hot h[HOT_SUBPAGES];
	size_t n = hottest(s, h), i, guest = 0;
	bool all = s->npages <= JSON_PAGES;
	struct spp_cli_json j;

	for (i = 0; i < s->npages; i++)
		guest += !s->pages[i].rule;

	spp_cli_json_file(&j, stderr);
	spp_cli_json_open(&j, NULL, '{');
	spp_cli_json_str(&j, "type", "summary");
	spp_cli_json_str(&j, "spp", spp_version());
	spp_cli_json_str(&j, "guest", o->guest);
	spp_cli_json_str(&j, "outcome", outcome_name(res->reason));
	spp_cli_json_str(&j, "reason", spp_vm_reason_name(res->reason));
	spp_cli_json_raw(&j, "exit_code", "%d", exit_code(res) & 0xff);
	if (res->reason == SPP_VM_EXIT)
		spp_cli_json_raw(&j, "guest_status", "%d", res->status);
	else
		spp_cli_json_raw(&j, "guest_status", "null");
	spp_cli_json_str(&j, "detail", res->detail);
	spp_cli_json_raw(&j, "time", "%.6f", t);
	spp_cli_json_u64(&j, "vcpus", o->vcpus);
	spp_cli_json_u64(&j, "mem", o->mem);
	spp_cli_json_str(&j, "policy", spp_cli_policy_name(o->policy));
	spp_cli_json_u64(&j, "exits", gs->exits);
	spp_cli_json_u64(&j, "stores", gs->stores);
	spp_cli_json_u64(&j, "allowed", gs->allowed);
	spp_cli_json_u64(&j, "denied", gs->denied);
	spp_cli_json_u64(&j, "events", s->seq);
	spp_cli_json_u64(&j, "slot_changes", gs->slot_changes);
	spp_cli_json_u64(&j, "trapped_pages", gs->trapped_pages);
	spp_cli_json_u64(&j, "protected_pages", s->npages);
	spp_cli_json_u64(&j, "guest_protected_pages", guest);
	spp_cli_json_u64(&j, "other_allowed", s->other.allowed);
	spp_cli_json_u64(&j, "other_denied", s->other.denied);
	spp_cli_json_u64(&j, "emulated", gs->emulated);
	spp_cli_json_u64(&j, "string_batches", gs->string_batches);
	spp_cli_json_u64(&j, "string_elements", gs->string_elements);
	spp_cli_json_u64(&j, "rmw_redone", gs->rmw_redone);
	spp_cli_json_u64(&j, "misdirected", gs->misdirected);
	spp_cli_json_u64(&j, "walk_writes", gs->walk_writes);
	spp_cli_json_u64(&j, "fine_allowed", gs->fine_allowed);
	spp_cli_json_raw(&j, "pages_truncated", "%s", all ? "false" : "true");
	spp_cli_json_open(&j, "pages", '[');
	for (i = 0; i < s->npages; i++) {
		struct counts c = page_counts(s, i);

		if (!all && !c.allowed && !c.denied)
			continue;
		spp_cli_json_open(&j, NULL, '{');
		spp_cli_json_hex(&j, "gpa", s->pages[i].gpa);
		spp_cli_json_raw(&j, "map", "\"0x%08" PRIx32 "\"",
				 s->pages[i].map);
		spp_cli_json_u64(&j, "allowed", c.allowed);
		spp_cli_json_u64(&j, "denied", c.denied);
		spp_cli_json_str(&j, "source",
				 s->pages[i].rule ? "rules" : "guest");
		spp_cli_json_close(&j, '}');
	}
	spp_cli_json_close(&j, ']');
	spp_cli_json_open(&j, "hot_subpages", '[');
	for (i = 0; i < n; i++) {
		const struct counts *c = &s->pages[h[i].page].sub[h[i].sp];
		uint64_t page = s->pages[h[i].page].gpa;

		spp_cli_json_open(&j, NULL, '{');
		spp_cli_json_hex(&j, "gpa",
				 page + (uint64_t)SPP_SUBPAGE_SIZE * h[i].sp);
		spp_cli_json_hex(&j, "page", page);
		spp_cli_json_u64(&j, "subpage", h[i].sp);
		spp_cli_json_u64(&j, "allowed", c->allowed);
		spp_cli_json_u64(&j, "denied", c->denied);
		spp_cli_json_close(&j, '}');
	}
	spp_cli_json_close(&j, ']');
	spp_cli_json_close(&j, '}');
	spp_cli_json_end(&j);
}

static void summary_text(const struct run_state *s,
			 const struct spp_guard_stats *gs, double t)
{
	const struct spp_run_opts *o = s->o;
	struct hot h[HOT_SUBPAGES];
	size_t n = hottest(s, h), i, shown = 0;

	fprintf(stderr,
		"spp: %.2f s, %u vCPU%s, %" PRIu64 "M, policy %s: %" PRIu64
		" exits for trapped writes, %" PRIu64 " stores: %" PRIu64
		" allowed, %" PRIu64 " denied\n",
		t, o->vcpus, o->vcpus == 1 ? "" : "s", o->mem >> 20,
		spp_cli_policy_name(o->policy), gs->exits, gs->stores,
		gs->allowed, gs->denied);
	for (i = 0; i < s->npages && shown < TEXT_PAGES; i++) {
		struct counts c = page_counts(s, i);

		if (s->npages > TEXT_PAGES && !c.allowed && !c.denied)
			continue;
		fprintf(stderr,
			"spp:   page 0x%" PRIx64 " map 0x%08" PRIx32
			"%s: %" PRIu64 " allowed, %" PRIu64 " denied\n",
			s->pages[i].gpa, s->pages[i].map,
			s->pages[i].rule ? "" : " (guest)", c.allowed,
			c.denied);
		shown++;
	}
	if (s->npages > shown)
		fprintf(stderr,
			"spp:   (%zu more protected pages; --stats lists "
			"them)\n",
			s->npages - shown);
	if (s->other.allowed || s->other.denied)
		fprintf(stderr,
			"spp:   neighbour pages (trapped, unprotected): "
			"%" PRIu64 " allowed, %" PRIu64 " denied\n",
			s->other.allowed, s->other.denied);
	if (gs->misdirected)
		fprintf(stderr,
			"spp: warning: KVM handed over %" PRIu64
			" store%s at guest page-table entries (page tables on "
			"trapped pages): spp wrote them where they belong, but "
			"loads through those tables may have read wrong values "
			"(docs/kvm.md)\n",
			gs->misdirected, gs->misdirected == 1 ? "" : "s");
	if (n) {
		fprintf(stderr, "spp: hottest sub-pages:");
		for (i = 0; i < n; i++) {
			const struct counts *c =
				&s->pages[h[i].page].sub[h[i].sp];

			fprintf(stderr,
				"%s 0x%" PRIx64 " (#%u) %" PRIu64
				" allowed/%" PRIu64 " denied",
				i ? "," : "",
				s->pages[h[i].page].gpa +
					(uint64_t)SPP_SUBPAGE_SIZE * h[i].sp,
				h[i].sp, c->allowed, c->denied);
		}
		fputc('\n', stderr);
	}
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	case SIGHUP:
		return "SIGHUP";
	}
	return "a signal";
}

static void outcome_line(const struct run_state *s,
			 const struct spp_vm_result *res, double t)
{
	const struct spp_run_opts *o = s->o;
	int sig = atomic_load(&s->signo);

	switch (res->reason) {
	case SPP_VM_EXIT:
		if (!o->quiet && !o->stats)
			fprintf(stderr,
				"spp: guest exited with status %d (value %d)\n",
				res->status, res->status >> 1);
		break;
	case SPP_VM_STOPPED:
		fprintf(stderr,
			"spp: stopped on a violation: vCPU %u, %u-byte store "
			"at 0x%" PRIx64 " into denied sub-page %u "
			"(rip 0x%" PRIx64 ")\n",
			res->event.vcpu, res->event.len, res->event.gpa,
			res->event.subpage, res->event.rip);
		break;
	case SPP_VM_TIMEOUT:
		fprintf(stderr, "spp: timeout after %.1f s (--timeout)\n", t);
		break;
	case SPP_VM_INTERRUPTED:
		fprintf(stderr, "spp: interrupted by %s\n", signal_name(sig));
		break;
	case SPP_VM_ERROR:
		fprintf(stderr, "spp: error: %s\n", res->detail);
		break;
	default:
		fprintf(stderr, "spp: guest crashed (%s) on vCPU %u: %s\n",
			spp_vm_reason_name(res->reason), res->vcpu,
			res->detail);
		break;
	}
}

/* The progress line of tick @secs (a multiple of PROGRESS_S). */
static void progress_line(struct spp_guard *g, unsigned int secs)
{
	struct spp_guard_stats gs;

	spp_guard_stats(g, &gs);
	fprintf(stderr,
		"spp: %lu s: %" PRIu64 " exits for trapped writes, %" PRIu64
		" stores (%" PRIu64 " allowed, %" PRIu64 " denied)\n",
		(unsigned long)secs, gs.exits, gs.stores, gs.allowed,
		gs.denied);
}

/* ---- the run ------------------------------------------------------------------ */

static void run_loop(struct run_state *s, struct spp_vm_result *res)
{
	const struct spp_run_opts *o = s->o;
	bool progress = o->progress || isatty(STDERR_FILENO);
	double deadline = s->t0 + o->timeout_ms / 1000.0;
	unsigned int tick = PROGRESS_S; /* seconds the next line is for */

	for (;;) {
		unsigned int slice = SLICE_MS;
		double now = spp_cli_now();

		if (atomic_load(&s->signo)) {
			memset(res, 0, sizeof(*res));
			res->reason = SPP_VM_INTERRUPTED;
			snprintf(res->detail, sizeof(res->detail),
				 "interrupted");
			return;
		}
		if (o->timeout_ms) {
			double left = deadline - now;

			if (left <= 0) {
				memset(res, 0, sizeof(*res));
				res->reason = SPP_VM_TIMEOUT;
				snprintf(res->detail, sizeof(res->detail),
					 "timeout after %.3f s",
					 o->timeout_ms / 1000.0);
				return;
			}
			if (left * 1000 < slice)
				slice = (unsigned int)(left * 1000) + 1;
		}
		if (spp_vm_run(s->vm, slice, res)) {
			memset(res, 0, sizeof(*res));
			res->reason = SPP_VM_ERROR;
			snprintf(res->detail, sizeof(res->detail),
				 "spp_vm_run failed");
			return;
		}
		if (progress && spp_cli_now() >= s->t0 + tick) {
			/* Named by its tick, an integer: a slice that ends
			 * late (a loaded host) must not turn "5 s" into
			 * "6 s", nor float rounding into "4 s". */
			progress_line(spp_vm_guard(s->vm), tick);
			tick += PROGRESS_S;
		}
		if (res->reason == SPP_VM_TIMEOUT || res->reason == SPP_VM_SYNC)
			continue; /* a slice ended, or a guest sync: go on */
		return;
	}
}

static int run_guest(struct run_state *s, const void *image, size_t size)
{
	const struct spp_run_opts *o = s->o;
	struct spp_vm_config cfg = {
		.ram_size = o->mem,
		.nvcpus = o->vcpus,
		.policy = o->policy,
		.console = on_console,
		.event = on_event,
		.ctx = s,
	};
	struct spp_guard_stats gs;
	struct spp_vm_result res;
	pthread_t watcher;
	sigset_t set, old;
	int ret;
	double t;

	/* Before the VM exists: its vCPU threads inherit the mask. */
	watched_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	ret = spp_vm_create(&s->vm, &cfg);
	if (ret) {
		spp_cli_err("KVM unavailable: %s%s", strerror(-ret),
			    ret == -ENOENT ?
				    " (no /dev/kvm; docs/testing.md shows "
				    "a VM that has one)" :
				    "");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return SPP_CLI_ERROR;
	}
	ret = spp_vm_load_elf(s->vm, image, size);
	if (ret) {
		spp_cli_err("loading the guest: %s", elf_error(ret));
		spp_vm_destroy(s->vm);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return SPP_CLI_ERROR;
	}
	spp_guard_set_report_allowed(spp_vm_guard(s->vm), true);
	ret = apply_pages(spp_vm_guard(s->vm), o);
	if (!ret)
		ret = apply_gvas(s);
	if (!ret)
		ret = open_control(s);
	if (!ret)
		ret = open_events(s);
	if (ret) {
		spp_ctl_destroy(s->ctl);
		s->ctl = NULL;
		spp_vm_destroy(s->vm);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return ret;
	}
	if (pthread_create(&watcher, NULL, signal_watcher, s)) {
		spp_cli_err("cannot start the signal thread");
		spp_ctl_destroy(s->ctl);
		s->ctl = NULL;
		spp_vm_destroy(s->vm);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return SPP_CLI_ERROR;
	}

	s->t0 = spp_cli_now();
	run_loop(s, &res);
	t = spp_cli_now() - s->t0;

	atomic_store(&s->quit, true);
	pthread_kill(watcher, SIGUSR2);
	pthread_join(watcher, NULL);
	/* every vCPU is parked: no event comes any more; the last one to
	 * control clients is SHUTDOWN with the final counters */
	spp_ctl_destroy(s->ctl);
	s->ctl = NULL;
	spp_guard_stats(spp_vm_guard(s->vm), &gs);
	finish_counts(s, spp_vm_guard(s->vm));
	spp_vm_destroy(s->vm);
	s->vm = NULL;
	/* The mask stays: a signal from now on must not kill spp before it
	 * has printed the summary and exited with SPP_CLI_INTERRUPTED. */

	if (s->events_failed)
		spp_cli_err("writing events to '%s' failed", o->events);
	outcome_line(s, &res, t);
	if (o->stats)
		summary_json(s, &res, &gs, t);
	else if (!o->quiet)
		summary_text(s, &gs, t);
	return exit_code(&res);
}

int spp_cli_run(int argc, char **argv)
{
	struct spp_run_opts o;
	struct run_state s;
	void *image = NULL;
	size_t size = 0;
	int ret;

	ret = spp_cli_run_opts(argc, argv, &o);
	if (ret) {
		spp_cli_run_opts_free(&o);
		return ret; /* SPP_CLI_HELP: main.c prints it */
	}
	memset(&s, 0, sizeof(s));
	s.o = &o;
	s.console = stdout;
	pthread_mutex_init(&s.lock, NULL);
	ret = read_guest(o.guest, &image, &size);
	if (!ret)
		ret = check_elf(o.guest, image, size, o.mem);
	if (!ret && o.events)
		ret = check_events(o.events);
	if (!ret)
		ret = init_counts(&s);
	if (!ret)
		ret = run_guest(&s, image, size);
	if (s.events && s.events != stdout && fclose(s.events)) {
		spp_cli_err("--events '%s': %s", o.events, strerror(errno));
		if (!ret)
			ret = SPP_CLI_ERROR;
	}
	free(s.pages);
	free(image);
	pthread_mutex_destroy(&s.lock);
	spp_cli_run_opts_free(&o);
	return ret;
}
