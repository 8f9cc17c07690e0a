// SPDX-License-Identifier: MIT
/*
 * emulate.c - the guard's side of the stores spp finishes in user space
 * (see spp/guard.h); x86_emu.c decodes and computes them:
 *
 *  - instructions KVM's emulator cannot complete on a trapped page (SSE
 *    partial stores, AVX, x87, FXSAVE/XSAVE, CMPXCHG16B, MOVBE, SGDT...):
 *    spp_guard_emulate();
 *  - the rest of a rep STOS/MOVS after KVM did one element:
 *    guard_string_continue();
 *  - locked read-modify-writes redone against current memory when another
 *    vCPU's store came between KVM's read and its write: guard_rmw_check();
 *  - where a store KVM completed came from (its instruction, a store KVM
 *    misdirected to a page-table entry): guard_store_origin().
 *
 * Policy lives here: what to emulate, judging and committing under the
 * commit lock, the vCPU's state through KVM_GET/SET_REGS, _SREGS, _XSAVE,
 * KVM_GET_XCRS and KVM_TRANSLATE (linear -> guest-physical), then host
 * pointers through the guard's one checked translation.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <linux/kvm.h>

#include "guard_priv.h"
#include "kvm_ioctl.h"
#include "x86_emu.h"

/* ---- the vCPU's state, fetched on demand --------------------------- */

struct emu {
	struct spp_x86_emu x; /* x.ctx points back here */
	struct spp_guard *g;
	int fd;
	uint64_t xcr0;
	bool have_regs, have_sregs, have_xs, have_xcr0;
	struct kvm_xsave xs; /* last: emu_init() leaves its 4 KiB alone */
};

/* KVM_GET_REGS and, with @sregs, KVM_GET_SREGS, each unless already had. */
static int vs_fetch(struct emu *e, bool sregs)
{
	int ret = 0;

	if (!e->have_regs)
		ret = spp_kvm_ioctl(e->fd, KVM_GET_REGS, &e->x.s.regs);
	if (!ret)
		e->have_regs = true;
	if (!ret && sregs && !e->have_sregs) {
		ret = spp_kvm_ioctl(e->fd, KVM_GET_SREGS, &e->x.s.sregs);
		e->have_sregs = !ret;
	}
	return ret < 0 ? ret : 0;
}

static int vs_flush(struct emu *e)
{
	struct spp_x86_state *s = &e->x.s;
	int ret;

	if (s->xs_dirty) {
		ret = spp_kvm_ioctl(e->fd, KVM_SET_XSAVE, &e->xs);
		if (ret < 0)
			return ret;
	}
	if (s->regs_dirty) {
		ret = spp_kvm_ioctl(e->fd, KVM_SET_REGS, &s->regs);
		if (ret < 0)
			return ret;
	}
	s->xs_dirty = s->regs_dirty = false;
	return 0;
}

/* Linear -> guest-physical for one page, through the guest's tables. */
static int vs_translate(struct emu *e, uint64_t lin, uint64_t *gpa)
{
	struct kvm_translation t;
	int ret;

	*gpa = 0; /* -O3 cannot see that -errno is never 0 */
	memset(&t, 0, sizeof(t));
	t.linear_address = lin;
	ret = spp_kvm_ioctl(e->fd, KVM_TRANSLATE, &t);
	if (ret < 0)
		return ret;
	if (!t.valid)
		return -EFAULT;
	*gpa = t.physical_address;
	return 0;
}

/*
 * Read @len bytes of guest RAM at linear @lin, each page translated to
 * guest-physical by @xlate(@ctx, ...): KVM_TRANSLATE or a software walk.
 */
static int read_linear(struct spp_guard *g,
		       int (*xlate)(void *ctx, uint64_t lin, uint64_t *gpa),
		       void *ctx, uint64_t lin, void *buf, uint32_t len)
{
	uint8_t *out = buf;

	while (len) {
		uint32_t n = PAGE_SIZE - (uint32_t)(lin & (PAGE_SIZE - 1));
		const uint8_t *p;
		uint64_t gpa;
		int ret;

		if (n > len)
			n = len;
		ret = xlate(ctx, lin, &gpa);
		if (ret)
			return ret;
		p = spp_guest_mem_ptr(&g->mem, gpa, n);
		if (!p)
			return -EFAULT;
		memcpy(out, p, n);
		out += n;
		lin += n;
		len -= n;
	}
	return 0;
}

static int vs_xlate(void *ctx, uint64_t lin, uint64_t *gpa)
{
	return vs_translate(ctx, lin, gpa);
}

/* The emulator's read: through KVM_TRANSLATE. */
static int vs_read(void *ctx, uint64_t lin, void *buf, uint32_t len)
{
	struct emu *e = ctx;

	return read_linear(e->g, vs_xlate, e, lin, buf, len);
}

static uint8_t *vs_xs(void *ctx)
{
	struct emu *e = ctx;

	if (!e->have_xs) {
		if (spp_kvm_ioctl(e->fd, KVM_GET_XSAVE, &e->xs) < 0)
			return NULL;
		e->have_xs = true;
	}
	return (uint8_t *)e->xs.region;
}

static uint64_t vs_xcr0(void *ctx)
{
	struct emu *e = ctx;
	struct kvm_xcrs x;
	uint32_t i;

	if (!e->have_xcr0) {
		memset(&x, 0, sizeof(x));
		e->xcr0 = 3; /* x87 | SSE: what FXSAVE covers */
		if (!spp_kvm_ioctl(e->fd, KVM_GET_XCRS, &x))
			for (i = 0; i < x.nr_xcrs && i < KVM_MAX_XCRS; i++)
				if (x.xcrs[i].xcr == 0)
					e->xcr0 = x.xcrs[i].value;
		e->have_xcr0 = true;
	}
	return e->xcr0;
}

static const struct spp_x86_emu_ops vcpu_ops = {
	.read = vs_read,
	.xsave = vs_xs,
	.xcr0 = vs_xcr0,
};

/* A fresh run on vCPU @vcpu_fd, with the sync registers of @run if any. */
static void emu_init(struct emu *e, struct spp_guard *g, int vcpu_fd,
		     const struct kvm_run *run, bool sregs)
{
	/* everything but the XSAVE image, fetched (have_xs) before use */
	memset(e, 0, offsetof(struct emu, xs));
	e->g = g;
	e->fd = vcpu_fd;
	e->x.ops = &vcpu_ops;
	e->x.ctx = e;
	if (run && (run->kvm_valid_regs & KVM_SYNC_X86_REGS)) {
		e->x.s.regs = run->s.regs.regs;
		e->have_regs = true;
	}
	if (sregs && run && (run->kvm_valid_regs & KVM_SYNC_X86_SREGS)) {
		e->x.s.sregs = run->s.regs.sregs;
		e->have_sregs = true;
	}
}

/* Registers and segments, then the instruction at RIP. */
static int decode_at_rip(struct emu *e, const uint8_t *given, uint32_t ngiven)
{
	int ret = vs_fetch(e, true);

	if (!ret)
		ret = spp_x86_emu_decode(&e->x, given, ngiven);
	return ret;
}

static void describe(const struct emu *e, struct spp_insn_report *rep,
		     const char *why)
{
	if (!rep)
		return;
	memset(rep, 0, sizeof(*rep));
	rep->rip = e->x.s.regs.rip;
	rep->len = e->x.insn.length ? e->x.insn.length : (uint8_t)e->x.nbytes;
	if (rep->len > sizeof(rep->bytes))
		rep->len = sizeof(rep->bytes);
	memcpy(rep->bytes, e->x.bytes, rep->len);
	rep->why = why;
	spp_x86_emu_format(&e->x, rep->text, sizeof(rep->text));
}

/* ---- pieces: linear store -> guest-physical ------------------------- */

#define EMU_MAX_PIECES (SPP_X86_EMU_MAX / PAGE_SIZE + 2)
_Static_assert(SPP_X86_EMU_MAX <= GUARD_STORE_MAX &&
		       EMU_MAX_PIECES <= GUARD_MAX_PIECES,
	       "the guard judges every store spp emulates per byte");

static int store_pieces(struct emu *e, const struct spp_x86_store *st,
			struct guard_piece *p, unsigned int *np)
{
	uint64_t lin = st->lin;
	uint32_t off = 0, n;
	unsigned int k = 0;
	int ret;

	while (off < st->len) {
		uint64_t gpa;

		n = PAGE_SIZE - (uint32_t)(lin & (PAGE_SIZE - 1));
		if (n > st->len - off)
			n = st->len - off;
		ret = vs_translate(e, lin, &gpa);
		if (ret)
			return ret;
		if (!spp_guest_mem_ptr(&e->g->mem, gpa, n))
			return -ENOENT; /* not guest RAM: a device */
		if (k && p[k - 1].gpa + p[k - 1].len == gpa) {
			p[k - 1].len += n;
		} else {
			p[k].gpa = gpa;
			p[k].len = n;
			p[k].data = st->data + off;
			p[k].mask = st->masked ? st->mask + off : NULL;
			k++;
		}
		off += n;
		lin += n;
	}
	*np = k;
	return 0;
}
static void read_pieces(struct spp_guard *g, const struct guard_piece *p,
			unsigned int n, uint8_t *out)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		memcpy(out, spp_guest_mem_ptr(&g->mem, p[i].gpa, p[i].len),
		       p[i].len);
		out += p[i].len;
	}
}

static bool touches_trapped(struct spp_guard *g, const struct guard_piece *p,
			    unsigned int n)
{
	unsigned int i;
	uint64_t gfn;

	for (i = 0; i < n; i++)
		for (gfn = p[i].gpa >> PAGE_SHIFT;
		     gfn <= (p[i].gpa + p[i].len - 1) >> PAGE_SHIFT; gfn++)
			if (guard_page_trapped(g, gfn))
				return true;
	return false;
}

int spp_guard_emulate(struct spp_guard *g, int vcpu_fd, struct kvm_run *run,
		      uint32_t vcpu, struct spp_event *ev_out,
		      struct spp_insn_report *rep)
{
	static __thread struct emu e;
	static __thread struct spp_x86_store st;
	struct guard_piece p[EMU_MAX_PIECES];
	struct spp_event ev;
	const uint8_t *given = NULL;
	uint32_t ngiven = 0;
	const char *why = NULL;
	unsigned int np = 0;
	int ret;

	if (rep)
		memset(rep, 0, sizeof(*rep));
	if (!g || !run)
		return -EINVAL;
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION)
			return SPP_EXIT_NOT_MINE;
		if (run->emulation_failure.flags &
		    KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) {
			given = run->emulation_failure.insn_bytes;
			ngiven = run->emulation_failure.insn_size;
			if (ngiven > sizeof(run->emulation_failure.insn_bytes))
				ngiven = sizeof(
					run->emulation_failure.insn_bytes);
		}
	}
	emu_init(&e, g, vcpu_fd, NULL, false);
	memset(&st, 0, sizeof(st));
	ret = decode_at_rip(&e, given, ngiven);
	if (ret == -ENOEXEC || ret == -EFAULT)
		return SPP_EXIT_NOT_MINE; /* not an instruction in guest RAM */
	if (ret)
		return ret;
	if (run->exit_reason != KVM_EXIT_INTERNAL_ERROR &&
	    !(e.x.flags & SPP_X86_EMU_HANGS))
		return SPP_EXIT_NOT_MINE;

	pthread_mutex_lock(&g->commit_lock);
	ret = spp_x86_emu_store(&e.x, &st, &why);
	if (!ret)
		ret = store_pieces(&e, &st, p, &np);
	if (!ret && st.needs_old) {
		if (st.len > SPP_X86_EMU_MAX) {
			ret = -EOPNOTSUPP;
		} else {
			read_pieces(g, p, np, st.old);
			ret = spp_x86_emu_store(&e.x, &st, &why);
		}
		if (!ret)
			ret = store_pieces(&e, &st, p, &np);
	}
	if (ret == -ENOENT || ret == -EFAULT ||
	    (!ret && run->exit_reason != KVM_EXIT_INTERNAL_ERROR &&
	     !touches_trapped(g, p, np))) {
		/* not a store into guest RAM (or, for a kick, not into a
		 * trapped page): the VMM's business */
		pthread_mutex_unlock(&g->commit_lock);
		return SPP_EXIT_NOT_MINE;
	}
	if (ret) {
		pthread_mutex_unlock(&g->commit_lock);
		describe(&e, rep, why ? why : "cannot read the vCPU's state");
		__atomic_add_fetch(&g->stats.unemulated, 1, __ATOMIC_RELAXED);
		return ret == -EOPNOTSUPP ? -EOPNOTSUPP : ret;
	}

	guard_event_init(&ev, vcpu, p[0].gpa, st.len, NULL, 0);
	/* What memory would hold: masked-off bytes keep their value. */
	{
		uint8_t cur[SPP_X86_EMU_MAX];
		uint32_t i, n = st.len < SPP_STORE_MAX ? st.len : SPP_STORE_MAX;

		read_pieces(g, p, np, cur);
		for (i = 0; i < n; i++)
			ev.data[i] = !st.masked || st.mask[i] ? st.data[i] :
								cur[i];
	}
	e.x.s.regs.rip += e.x.insn.length;
	e.x.s.regs.rflags &= ~SPP_RFLAGS_RF;
	e.x.s.regs_dirty = true;
	ev.rip = e.x.s.regs.rip;
	ev.insn_rip = ev.rip - e.x.insn.length;
	ret = guard_finish_store(g, p, np, &ev,
				 st.masked || np > 1 || st.len > SPP_STORE_MAX,
				 vcpu_fd);
	pthread_mutex_unlock(&g->commit_lock);
	guard_vcpu_seen(g, vcpu);
	__atomic_add_fetch(&g->stats.emulated, 1, __ATOMIC_RELAXED);
	{
		int r = vs_flush(&e);

		if (r)
			return r;
	}
	if (ev_out)
		*ev_out = ev;
	return ret;
}

/* ---- the rest of a rep STOS/MOVS ------------------------------------- */

#define STRING_BATCH_MAX (64 * 1024) /* bytes per exit, then re-enter */

/* Host pointer of @n bytes at linear @lin if they are guest RAM on one
 * page (a one-entry cache of the last page). */
struct page_cache {
	uint64_t lin_page, gpa_page;
	bool valid;
};

static uint8_t *lin_ptr(struct emu *e, struct page_cache *c, uint64_t lin,
			uint32_t n, uint64_t *gpa)
{
	uint64_t page = lin & ~(PAGE_SIZE - 1);

	if ((lin & (PAGE_SIZE - 1)) + n > PAGE_SIZE)
		return NULL;
	if (!c->valid || c->lin_page != page) {
		if (vs_translate(e, page, &c->gpa_page))
			return NULL;
		c->lin_page = page;
		c->valid = true;
	}
	*gpa = c->gpa_page + (lin & (PAGE_SIZE - 1));
	return spp_guest_mem_ptr(&e->g->mem, *gpa, n);
}

int guard_string_continue(struct spp_guard *g, int vcpu_fd, struct kvm_run *run,
			  uint32_t vcpu, uint64_t gpa, uint32_t len)
{
	static __thread struct emu e;
	const struct kvm_regs *sr = &run->s.regs.regs;
	struct page_cache dc = { 0 }, sc = { 0 };
	struct spp_x86_string str;
	uint64_t amask, rcx, rdi, rsi, step, done = 0;
	unsigned int size;
	bool movs, df;
	int ret;

	/* Cheap filter on the registers KVM hands back with the exit: a
	 * string element leaves RCX > 0 and RDI one element past @gpa. */
	if (!(run->kvm_valid_regs & KVM_SYNC_X86_REGS) ||
	    !guard_string_maybe(sr->rcx, sr->rdi, sr->rflags, gpa, len))
		return 0;

	emu_init(&e, g, vcpu_fd, NULL, false);
	if (decode_at_rip(&e, NULL, 0) || spp_x86_emu_string(&e.x, len, &str))
		return 0;
	/* RIP points at the instruction: KVM's element left it there. */
	ret = guard_complete_pending(vcpu_fd, run);
	if (ret)
		return ret;
	e.have_regs = false;
	ret = vs_fetch(&e, false);
	if (ret)
		return ret;

	size = str.size;
	movs = str.movs;
	amask = str.amask;
	df = e.x.s.regs.rflags & SPP_RFLAGS_DF;
	step = df ? (uint64_t) - (int64_t)size : size;
	rcx = e.x.s.regs.rcx & amask;
	rdi = e.x.s.regs.rdi & amask;
	rsi = e.x.s.regs.rsi & amask;

	pthread_mutex_lock(&g->commit_lock);
	while (rcx && done < STRING_BATCH_MAX) {
		uint64_t dlin = spp_x86_linear(&e.x.s, SPP_X86_ES, rdi);
		uint64_t dgpa, sgpa;
		struct spp_write_verdict v;
		struct guard_piece p;
		struct spp_event ev;
		uint8_t val[8];
		uint8_t *src;

		if (!lin_ptr(&e, &dc, dlin, size, &dgpa) ||
		    !guard_page_trapped(g, dgpa >> PAGE_SHIFT) ||
		    spp_access_check_write(g->acc, dgpa, size, &v) ||
		    (!v.allowed && g->policy == SPP_POLICY_STOP))
			break; /* KVM (or the CPU) does this element */
		if (movs) {
			uint64_t slin;

			slin = spp_x86_linear(&e.x.s, str.src_seg, rsi);
			src = lin_ptr(&e, &sc, slin, size, &sgpa);
			if (!src)
				break;
			memcpy(val, src, size);
		} else {
			memcpy(val, &e.x.s.regs.rax, size);
		}
		/* one store of its own: judged, committed or dropped,
		 * reported as any other (it resumes at the instruction until
		 * the last element) */
		p = (struct guard_piece){ dgpa, size, val, NULL };
		guard_event_init(&ev, vcpu, dgpa, size, val, 0);
		ev.insn_rip = e.x.s.regs.rip;
		ev.rip = rcx == 1 ? e.x.s.regs.rip + e.x.insn.length :
				    e.x.s.regs.rip;
		guard_finish_store(g, &p, 1, &ev, true, vcpu_fd);
		rdi = (rdi + step) & amask;
		if (movs)
			rsi = (rsi + step) & amask;
		rcx--;
		done += size;
	}
	pthread_mutex_unlock(&g->commit_lock);
	if (!done)
		return 0;
	__atomic_add_fetch(&g->stats.string_batches, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&g->stats.string_elements, done / size,
			   __ATOMIC_RELAXED);
	/* As the CPU leaves them: a 32-bit count or pointer write clears
	 * the upper half; a 16-bit one keeps it. */
	if (amask == 0xffff) {
		e.x.s.regs.rcx = (e.x.s.regs.rcx & ~amask) | rcx;
		e.x.s.regs.rdi = (e.x.s.regs.rdi & ~amask) | rdi;
		if (movs)
			e.x.s.regs.rsi = (e.x.s.regs.rsi & ~amask) | rsi;
	} else {
		e.x.s.regs.rcx = rcx;
		e.x.s.regs.rdi = rdi;
		if (movs)
			e.x.s.regs.rsi = rsi;
	}
	if (!rcx)
		e.x.s.regs.rip += e.x.insn.length;
	e.x.s.regs_dirty = true;
	return vs_flush(&e);
}

/* ---- read-modify-writes redone atomically ---------------------------- */

/*
 * The read-modify-write instruction that ends at RIP and wrote @p: decode
 * backwards (every start 1..15 bytes before RIP whose instruction is
 * exactly that long), keep RMWs whose memory operand is @p, and accept
 * them only if all such candidates mean the same thing. Returns 0 with
 * e->x's instruction decoded (e->x.s.regs.rip stays RIP), -ENOENT (not
 * an RMW: a plain store) or -EAGAIN (ambiguous).
 */
static int decode_backwards(struct emu *e, const struct guard_piece *p)
{
	static __thread struct spp_x86_emu cand;
	uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
	uint64_t rip_lin, lin, gpa;
	unsigned int L, found = 0, avail = sizeof(buf);

	if (vs_fetch(e, true) || !spp_x86_long_mode(&e->x.s))
		return -ENOENT;
	rip_lin = e->x.s.regs.rip;
	if (vs_read(e, rip_lin - avail, buf, avail)) {
		avail = (unsigned int)(rip_lin & (PAGE_SIZE - 1));
		if (avail > sizeof(buf))
			avail = sizeof(buf);
		if (!avail || vs_read(e, rip_lin - avail,
				      buf + sizeof(buf) - avail, avail))
			return -ENOENT;
	}
	for (L = 1; L <= avail; L++) {
		uint32_t len;

		cand.s = e->x.s;
		if (spp_x86_emu_decode64(&cand, buf + sizeof(buf) - L, L,
					 rip_lin - L) ||
		    !(cand.flags & SPP_X86_EMU_RMW))
			continue;
		if (spp_x86_emu_dest(&cand, &lin, &len) || len != p->len ||
		    vs_translate(e, lin, &gpa) || gpa != p->gpa)
			continue;
		if (found && !spp_x86_emu_same(&cand, &e->x))
			return -EAGAIN;
		if (!found) {
			memcpy(e->x.bytes, cand.bytes, L);
			e->x.nbytes = L;
			e->x.flags = cand.flags;
			e->x.insn = cand.insn;
			memcpy(e->x.opnd, cand.opnd, sizeof(e->x.opnd));
		}
		found++;
	}
	return found ? 0 : -ENOENT;
}

int guard_rmw_check(struct spp_guard *g, int vcpu_fd, struct kvm_run *run,
		    uint32_t vcpu, struct guard_piece *p, uint8_t *data,
		    struct spp_event *ev)
{
	static __thread struct emu e;
	uint64_t cur = 0, d = 0, newv = 0;
	unsigned int size = p->len;
	int ret;

	if (!guard_rmw_conflict(g, vcpu, p->gpa >> PAGE_SHIFT))
		return 0; /* nobody wrote this page since KVM could read it */
	if (size > 8 || (size & (size - 1)))
		return 0;
	emu_init(&e, g, vcpu_fd, run, false);
	ret = decode_backwards(&e, p);
	if (ret == -ENOENT)
		return 0; /* a plain store: last writer wins, as on hardware */
	if (ret) {
		__atomic_add_fetch(&g->stats.rmw_unsure, 1, __ATOMIC_RELAXED);
		return 0;
	}
	ev->insn_rip = e.x.s.regs.rip - e.x.insn.length;
	memcpy(&cur, spp_guest_mem_ptr(&g->mem, p->gpa, size), size);
	memcpy(&d, data, size);
	ret = spp_x86_emu_rmw_redo(&e.x, size, cur, d, &newv);
	if (ret == -EAGAIN)
		__atomic_add_fetch(&g->stats.rmw_unsure, 1, __ATOMIC_RELAXED);
	if (ret)
		return 0; /* KVM's store stands */
	memcpy(data, &newv, size);
	memcpy(ev->data, &newv, size);
	__atomic_add_fetch(&g->stats.rmw_redone, 1, __ATOMIC_RELAXED);
	if (e.x.s.regs_dirty) {
		struct kvm_regs fresh;

		ret = guard_complete_pending(vcpu_fd, run);
		if (ret)
			return ret < 0 ? ret : 0;
		ret = spp_kvm_ioctl(vcpu_fd, KVM_GET_REGS, &fresh);
		if (ret < 0)
			return ret;
		if (fresh.rip != e.x.s.regs.rip)
			return 0; /* not where we decoded: leave it */
		return vs_flush(&e);
	}
	return 0;
}

/* ---- where a store KVM completed came from --------------------------- */

static void paging_of(const struct spp_x86_state *s, struct spp_x86_paging *pg)
{
	pg->cr0 = s->sregs.cr0;
	pg->cr3 = s->sregs.cr3;
	pg->cr4 = s->sregs.cr4;
	pg->efer = s->sregs.efer;
}

struct walk_ctx {
	struct spp_guard *g;
	const struct spp_x86_paging *pg;
};

static int walk_xlate(void *ctx, uint64_t lin, uint64_t *gpa)
{
	const struct walk_ctx *c = ctx;
	struct spp_x86_walk w;
	int ret = spp_x86_walk(&c->g->mem, c->pg, lin, &w);

	if (!ret)
		*gpa = w.gpa;
	return ret;
}

/* Read @len bytes at linear @lin through the guest's tables. */
static int walk_read(struct spp_guard *g, const struct spp_x86_paging *pg,
		     uint64_t lin, uint8_t *out, uint32_t len)
{
	struct walk_ctx c = { g, pg };

	return read_linear(g, walk_xlate, &c, lin, out, len);
}

static bool on_walk(const struct spp_x86_walk *w, uint64_t gpa)
{
	unsigned int i;

	for (i = 0; i < w->levels; i++)
		if (w->entry_gpa[i] == gpa)
			return true;
	return false;
}

/*
 * One reading of the bytes before RIP: the @L-byte instruction ending at
 * @rip, if it is no string instruction and writes @p->len bytes at an
 * address whose translation is @p's (@misdirected false) or has @p's page
 * offset and @p among its entries (@misdirected true). 0 or -ENOENT.
 */
static int origin_read(struct spp_guard *g, const struct spp_x86_paging *pg,
		       const struct spp_x86_state *s, struct spp_x86_emu *cand,
		       const uint8_t *buf, unsigned int L, uint64_t rip,
		       const struct guard_piece *p, struct spp_x86_walk *w,
		       bool *misdirected)
{
	uint64_t lin;
	uint32_t len;

	cand->s = *s;
	cand->s.regs.rip = rip - L; /* what decode64 sets */
	cand->rip_lin = rip - L;
	/* @buf NULL: @cand holds the decoded instruction already */
	if ((buf &&
	     spp_x86_emu_decode64(cand, buf + ZYDIS_MAX_INSTRUCTION_LENGTH - L,
				  L, rip - L)) ||
	    (cand->flags & SPP_X86_EMU_STRING) ||
	    spp_x86_emu_dest(cand, &lin, &len) || len != p->len ||
	    spp_x86_walk(&g->mem, pg, lin, w))
		return -ENOENT;
	if (w->gpa == p->gpa)
		*misdirected = false;
	else if (!((lin ^ p->gpa) & (PAGE_SIZE - 1)) && on_walk(w, p->gpa))
		*misdirected = true;
	else
		return -ENOENT;
	return 0;
}

/* origin_read() of the one instruction a cached reading decoded. */
static int origin_try(struct spp_guard *g, const struct spp_x86_paging *pg,
		      const struct spp_x86_state *s, struct spp_x86_emu *ins,
		      unsigned int L, uint64_t rip, const struct guard_piece *p,
		      struct guard_origin *o)
{
	if (origin_read(g, pg, s, ins, NULL, L, rip, p, &o->walk,
			&o->misdirected))
		return -ENOENT;
	o->found = true;
	o->insn_rip = rip - L;
	o->rmw = ins->flags & SPP_X86_EMU_RMW;
	o->gpa = o->walk.gpa;
	return 0;
}

/*
 * Per vCPU thread: where its last store's instruction started, for the
 * bytes and address space it was found in. A loop storing into trapped
 * pages finds it again with one decode instead of fifteen.
 */
struct origin_cache {
	bool valid;
	unsigned int avail, len;
	uint64_t rip, cr3;
	uint8_t bytes[ZYDIS_MAX_INSTRUCTION_LENGTH];
	struct spp_x86_emu ins; /* that instruction, decoded */
};

static __thread struct origin_cache oc;

int guard_store_origin(struct spp_guard *g, int vcpu_fd,
		       const struct kvm_run *run, const struct guard_piece *p,
		       struct guard_origin *o)
{
	static __thread struct spp_x86_emu cand;
	static __thread struct spp_x86_state st;
	uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH] = { 0 };
	struct spp_x86_paging pg;
	uint64_t rip;
	unsigned int L, avail = sizeof(buf);
	int ret = 0;

	memset(o, 0, sizeof(*o));
	/* The registers from the exit's sync area, else from the vCPU. */
	if (run->kvm_valid_regs & KVM_SYNC_X86_REGS)
		st.regs = run->s.regs.regs;
	else
		ret = spp_kvm_ioctl(vcpu_fd, KVM_GET_REGS, &st.regs);
	if (ret >= 0 && (run->kvm_valid_regs & KVM_SYNC_X86_SREGS))
		st.sregs = run->s.regs.sregs;
	else if (ret >= 0)
		ret = spp_kvm_ioctl(vcpu_fd, KVM_GET_SREGS, &st.sregs);
	if (ret < 0)
		return ret;
	if (!spp_x86_long_mode(&st))
		return -EOPNOTSUPP;
	paging_of(&st, &pg);
	rip = st.regs.rip;
	if (walk_read(g, &pg, rip - avail, buf, avail)) {
		/* the page before RIP's may be unmapped: what this one has */
		avail = (unsigned int)(rip & (PAGE_SIZE - 1));
		if (avail > sizeof(buf))
			avail = sizeof(buf);
		if (!avail || walk_read(g, &pg, rip - avail,
					buf + sizeof(buf) - avail, avail))
			return -EFAULT;
	}
	/* The same bytes at the same RIP as this thread's last store: the
	 * instruction found then, if it reads the same way now. */
	if (oc.valid && oc.rip == rip && oc.cr3 == pg.cr3 &&
	    oc.avail == avail && !memcmp(oc.bytes, buf, sizeof(buf)) &&
	    !origin_try(g, &pg, &st, &oc.ins, oc.len, rip, p, o))
		return 0;
	oc.valid = false;
	memset(o, 0, sizeof(*o));
	for (L = 1; L <= avail; L++) {
		struct spp_x86_walk w;
		bool misdirected;

		if (origin_read(g, &pg, &st, &cand, buf, L, rip, p, &w,
				&misdirected))
			continue;
		if (!o->found) {
			o->found = true;
			o->insn_rip = rip - L;
			o->gpa = w.gpa;
			o->misdirected = misdirected;
			o->walk = w;
			o->rmw = cand.flags & SPP_X86_EMU_RMW;
			oc.ins = cand;
			continue;
		}
		if (o->gpa != w.gpa || o->misdirected != misdirected)
			return -EAGAIN; /* two readings disagree */
		o->insn_rip = 0; /* same store, but which instruction? */
		o->rmw = false;
	}
	if (o->found && o->insn_rip) {
		oc.valid = true;
		oc.rip = rip;
		oc.cr3 = pg.cr3;
		oc.avail = avail;
		oc.len = (unsigned int)(rip - o->insn_rip);
		memcpy(oc.bytes, buf, sizeof(buf));
	}
	return o->found ? 0 : -ENOENT;
}
