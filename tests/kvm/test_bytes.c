// SPDX-License-Identifier: MIT
/*
 * test_bytes.c - byte masks finer than the hardware
 * (spp_guard_protect_bytes(), src/kvm/bytemask.c), no KVM needed.
 *
 * The mask set on its own, then the guard's API and judge on fabricated
 * KVM_EXIT_MMIO stores on the fake VM of fake_vm.h (its ioctl() answers
 * the guard's few VM ioctls; KVM_RUN on the vCPU fd: "instruction
 * complete"), as bench/bench_guard.c does. What KVM itself
 * does with such stores is tests/kvm/test_kvm_bytes.c's business; here
 * the judge, the commit byte by byte, events, counters, the rules with
 * SET and bad input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/kvm.h>

#include <spp/guard.h>

#include "fake_vm.h"
#include "kvm/bytemask.h"

#define RAM_SIZE (32ULL << 20)
#define PAGE 0x100000ULL
#define GFN (PAGE >> 12)
#define PTR (PAGE + 5 * 128 + 16) /* an 8-byte pointer in sub-page 5 */

/* ---- the mask set ------------------------------------------------------- */

static void set_bytes(void *ctx, uint64_t gfn, uint64_t *bits)
{
	(void)ctx;
	spp_bytemask_set(bits, (uint32_t)(gfn & 0xfff), 3, true);
}

static void clear_all(void *ctx, uint64_t gfn, uint64_t *bits)
{
	(void)ctx;
	(void)gfn;
	memset(bits, 0, SPP_BYTEMASK_WORDS * sizeof(*bits));
}

static void test_mask_set(void **state)
{
	struct spp_bytemask m = { NULL, 0 }, a, b;
	const uint64_t *bits;

	(void)state;
	assert_null(spp_bytemask_find(&m, 7));
	assert_false(spp_bytemask_any(&m, 0, 100));
	assert_int_equal(spp_bytemask_edit(&m, 10, 4, set_bytes, NULL, 100, &a),
			 0);
	assert_int_equal(a.n, 4);
	assert_int_equal(spp_bytemask_edit(&a, 2, 3, set_bytes, NULL, 100, &b),
			 0);
	assert_int_equal(b.n, 7); /* 2 3 4 10 11 12 13, sorted */
	assert_int_equal(b.pages[0].gfn, 2);
	assert_int_equal(b.pages[3].gfn, 10);
	bits = spp_bytemask_find(&b, 12);
	assert_non_null(bits);
	assert_int_equal(bits[0], 7ULL << 12);
	assert_int_equal(spp_bytemask_subpages(bits), 1);
	assert_true(spp_bytemask_any(&b, 5, 6));
	assert_false(spp_bytemask_any(&b, 5, 5));
	assert_null(spp_bytemask_find(&b, 9));
	/* the old set does not change; too many pages: nothing */
	assert_int_equal(a.n, 4);
	spp_bytemask_release(&b);
	assert_int_equal(spp_bytemask_edit(&a, 0, 2, set_bytes, NULL, 5, &b),
			 -ENOSPC);
	assert_null(b.pages);
	assert_int_equal(spp_bytemask_edit(&a, 0, 0, set_bytes, NULL, 5, &b),
			 -EINVAL);
	/* pages left clear go */
	assert_int_equal(spp_bytemask_edit(&a, 11, 2, clear_all, NULL, 5, &b),
			 0);
	assert_int_equal(b.n, 2);
	assert_non_null(spp_bytemask_find(&b, 10));
	assert_non_null(spp_bytemask_find(&b, 13));
	assert_null(spp_bytemask_find(&b, 11));
	spp_bytemask_release(&b);
	/* the last sub-page, across a word */
	{
		uint64_t w[SPP_BYTEMASK_WORDS] = { 0 };
		uint64_t d[SPP_BYTEMASK_WORDS] = { 0 };

		spp_bytemask_set(w, 4090, 6, true);
		assert_int_equal(spp_bytemask_subpages(w), 1u << 31);
		assert_int_equal(w[63], 0x3fULL << 58);
		spp_bytemask_set(w, 4092, 2, false);
		assert_int_equal(w[63], 0x33ULL << 58);
		/* copied by sub-page: only 31's words, 0's stay */
		d[0] = 1;
		d[62] = 7;
		spp_bytemask_copy(d, w, 1u << 31);
		assert_int_equal(d[0], 1);
		assert_int_equal(d[62], w[62]);
		assert_int_equal(d[63], 0x33ULL << 58);
		spp_bytemask_copy(d, w, 0);
		assert_int_equal(d[0], 1);
	}
	spp_bytemask_release(&a);
}

/* ---- the guard ---------------------------------------------------------- */

struct fixture {
	struct spp_guard *g;
	uint8_t *ram;
	struct kvm_run run;
	struct spp_event ev[16];
	size_t nev;
};

static void on_event(void *ctx, const struct spp_event *ev)
{
	struct fixture *f = ctx;

	if (f->nev < 16)
		f->ev[f->nev] = *ev;
	f->nev++;
}

static int setup(void **state)
{
	static const struct spp_guard_ops ops = { .event = on_event };
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	spp_fake_vm_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	spp_fake_vcpu_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(spp_fake_vm_fd >= 0 && spp_fake_vcpu_fd >= 0);
	f->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->ram != MAP_FAILED);
	assert_int_equal(spp_guard_create(&f->g, spp_fake_vm_fd, &ops, f), 0);
	assert_int_equal(spp_guard_add_memory(f->g, 0, 0, RAM_SIZE, f->ram), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	spp_guard_destroy(f->g);
	munmap(f->ram, RAM_SIZE);
	close(spp_fake_vm_fd);
	close(spp_fake_vcpu_fd);
	free(f);
	return 0;
}

/* One guest store of @len bytes of @data at @gpa, as KVM hands it over
 * (fragments of at most 8 bytes); the guard's return of the first exit. */
static int store(struct fixture *f, uint64_t gpa, const void *data,
		 uint32_t len)
{
	memset(&f->run, 0, sizeof(f->run));
	f->run.exit_reason = KVM_EXIT_MMIO;
	f->run.mmio.is_write = 1;
	f->run.mmio.phys_addr = gpa;
	f->run.mmio.len = len;
	memcpy(f->run.mmio.data, data, len);
	return spp_guard_handle_exit(f->g, spp_fake_vcpu_fd, &f->run, 0, NULL);
}

static void fill(struct fixture *f, uint8_t v)
{
	memset(f->ram + PAGE, v, 4096);
}

static const uint8_t ones[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };

/* 8 bytes in the middle of a sub-page: its other 120 bytes stay free. */
static void test_pointer(void **state)
{
	struct fixture *f = *state;
	struct spp_guard_stats st;
	uint64_t bits[SPP_PAGE_SIZE / 64];
	uint32_t k;

	assert_int_equal(spp_guard_protect_bytes(f->g, PTR, 8), 0);
	assert_int_equal(spp_guard_lookup(f->g, GFN), ~(1u << 5));
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 8);
	assert_int_equal(bits[(5 * 128 + 16) / 64], 0xffULL << 16);
	spp_guard_stats(f->g, &st);
	assert_int_equal(st.trapped_pages, 1); /* sub-page 5: no neighbours */
	fill(f, 0);
	/* every byte of the sub-page but the pointer's, 8 at a time */
	for (k = 0; k < 128; k += 8) {
		if (k == 16)
			continue;
		assert_int_equal(store(f, PAGE + 5 * 128 + k, ones, 8),
				 SPP_EXIT_HANDLED);
	}
	assert_int_equal(f->nev, 0);
	for (k = 0; k < 128; k++)
		assert_int_equal(f->ram[PAGE + 5 * 128 + k],
				 k >= 16 && k < 24 ? 0 : 1);
	spp_guard_stats(f->g, &st);
	assert_int_equal(st.allowed, 15);
	assert_int_equal(st.fine_allowed, 15);
	assert_int_equal(st.denied, 0);
	/* the pointer: denied, reported, memory as it was */
	assert_int_equal(store(f, PTR, "\xef\xbe\xad\xde\x00\x00\xff\xff", 8),
			 SPP_EXIT_HANDLED);
	assert_int_equal(f->nev, 1);
	assert_int_equal(f->ev[0].verdict, SPP_VERDICT_DENIED);
	assert_int_equal(f->ev[0].gpa, PTR);
	assert_int_equal(f->ev[0].len, 8);
	assert_int_equal(f->ev[0].subpage, 5);
	assert_int_equal(f->ev[0].subpage_gpa, PAGE + 5 * 128);
	assert_true(f->ev[0].known & SPP_EVENT_BYTES);
	assert_int_equal(f->ev[0].protected_bytes, 0xff);
	for (k = 0; k < 8; k++)
		assert_int_equal(f->ram[PTR + k], 0);
	spp_guard_stats(f->g, &st);
	assert_int_equal(st.denied, 1);
	assert_int_equal(st.fine_allowed, 15);
}

/* A store over pointer and neighbours: only the neighbours' bytes land. */
static void test_straddle(void **state)
{
	static const uint8_t v[8] = { 0x11, 0x22, 0x33, 0x44,
				      0x55, 0x66, 0x77, 0x88 };
	struct fixture *f = *state;
	uint32_t k;

	assert_int_equal(spp_guard_protect_bytes(f->g, PTR, 8), 0);
	fill(f, 0xee);
	/* 4 bytes before the pointer, its first 4 */
	assert_int_equal(store(f, PTR - 4, v, 8), SPP_EXIT_HANDLED);
	for (k = 0; k < 4; k++)
		assert_int_equal(f->ram[PTR - 4 + k], v[k]);
	for (k = 4; k < 8; k++)
		assert_int_equal(f->ram[PTR - 4 + k], 0xee);
	assert_int_equal(f->nev, 1);
	assert_int_equal(f->ev[0].verdict, SPP_VERDICT_DENIED);
	assert_int_equal(f->ev[0].protected_bytes, 0xf0);
	assert_memory_equal(f->ev[0].data, v, 8);
	/* its last 2 and 6 after it, 2 + 6 */
	assert_int_equal(store(f, PTR + 6, v, 8), SPP_EXIT_HANDLED);
	assert_int_equal(f->ram[PTR + 6], 0xee);
	assert_int_equal(f->ram[PTR + 7], 0xee);
	for (k = 2; k < 8; k++)
		assert_int_equal(f->ram[PTR + 6 + k], v[k]);
	assert_int_equal(f->ev[1].protected_bytes, 0x03);
	/* 16 bytes (two fragments) over all of it and beyond */
	fill(f, 0xee);
	{
		uint8_t w[16];

		memset(w, 0x5a, sizeof(w));
		assert_int_equal(store(f, PTR - 4, w, 8), SPP_EXIT_HANDLED);
		/* KVM's second fragment comes as its own exit here (no KVM
		 * collects it): judged on its own */
		assert_int_equal(store(f, PTR + 4, w, 8), SPP_EXIT_HANDLED);
	}
	for (k = 0; k < 16; k++)
		assert_int_equal(f->ram[PTR - 4 + k],
				 k >= 4 && k < 12 ? 0xee : 0x5a);
	/* across into the writable sub-page 6: per byte as well */
	fill(f, 0xee);
	assert_int_equal(spp_guard_protect_bytes(f->g, PAGE + 6 * 128 - 2, 1),
			 0);
	assert_int_equal(store(f, PAGE + 6 * 128 - 4, v, 8), SPP_EXIT_HANDLED);
	for (k = 0; k < 8; k++)
		assert_int_equal(f->ram[PAGE + 6 * 128 - 4 + k],
				 k == 2 ? 0xee : v[k]);
}

/* A store that also touches a sub-page denied whole: the strict rule. */
static void test_whole_subpage_wins(void **state)
{
	struct fixture *f = *state;
	uint32_t k;

	assert_int_equal(spp_guard_protect_bytes(f->g, PTR, 8), 0);
	assert_int_equal(spp_guard_protect_add(f->g, GFN, ~(1u << 6)), 0);
	assert_int_equal(spp_guard_lookup(f->g, GFN), ~(3u << 5));
	fill(f, 0);
	assert_int_equal(store(f, PAGE + 6 * 128 - 4, ones, 8),
			 SPP_EXIT_HANDLED);
	for (k = 0; k < 8; k++)
		assert_int_equal(f->ram[PAGE + 6 * 128 - 4 + k], 0);
	assert_int_equal(f->nev, 1);
	/* the strict verdict's: the first denied sub-page, 5 */
	assert_int_equal(f->ev[0].subpage, 5);
	assert_false(f->ev[0].known & SPP_EVENT_BYTES);
	assert_int_equal(f->ev[0].protected_bytes, 0);
	/* sub-page 5 kept its mask: still free beside the pointer */
	assert_int_equal(store(f, PAGE + 5 * 128, ones, 8), SPP_EXIT_HANDLED);
	assert_int_equal(f->ram[PAGE + 5 * 128], 1);
	assert_int_equal(f->nev, 1);
	/* and protect_bytes never weakens sub-page 6 */
	assert_int_equal(spp_guard_protect_bytes(f->g, PAGE + 6 * 128, 8), 0);
	assert_int_equal(store(f, PAGE + 6 * 128 + 64, ones, 8),
			 SPP_EXIT_HANDLED);
	assert_int_equal(f->ram[PAGE + 6 * 128 + 64], 0);
	assert_int_equal(f->nev, 2);
}

static void test_policies(void **state)
{
	static const uint8_t v[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct fixture *f = *state;
	struct spp_event held;
	uint32_t k;

	assert_int_equal(spp_guard_protect_bytes(f->g, PTR, 8), 0);
	/* log: all of it lands, reported as logged with its bytes */
	assert_int_equal(spp_guard_set_policy(f->g, SPP_POLICY_LOG), 0);
	fill(f, 0);
	assert_int_equal(store(f, PTR - 4, v, 8), SPP_EXIT_HANDLED);
	assert_memory_equal(f->ram + PTR - 4, v, 8);
	assert_int_equal(f->ev[0].verdict, SPP_VERDICT_LOGGED);
	assert_int_equal(f->ev[0].protected_bytes, 0xf0);
	/* stop: all of it held */
	assert_int_equal(spp_guard_set_policy(f->g, SPP_POLICY_STOP), 0);
	fill(f, 0);
	memset(&f->run, 0, sizeof(f->run));
	f->run.exit_reason = KVM_EXIT_MMIO;
	f->run.mmio.is_write = 1;
	f->run.mmio.phys_addr = PTR - 4;
	f->run.mmio.len = 8;
	memcpy(f->run.mmio.data, v, 8);
	assert_int_equal(spp_guard_handle_exit(f->g, spp_fake_vcpu_fd, &f->run,
					       0, &held),
			 SPP_EXIT_STOP);
	assert_int_equal(held.verdict, SPP_VERDICT_STOPPED);
	for (k = 0; k < 8; k++)
		assert_int_equal(f->ram[PTR - 4 + k], 0);
	/* left denied: resolved as DENY does, the free half lands */
	assert_int_equal(spp_guard_resolve_stop(f->g, &held, false),
			 SPP_VERDICT_DENIED);
	for (k = 0; k < 8; k++)
		assert_int_equal(f->ram[PTR - 4 + k], k < 4 ? v[k] : 0);
	/* a store of free bytes only is not held */
	assert_int_equal(store(f, PTR + 8, v, 8), SPP_EXIT_HANDLED);
	assert_memory_equal(f->ram + PTR + 8, v, 8);
	/* unprotected meanwhile: all of the held store lands */
	assert_int_equal(spp_guard_unprotect_bytes(f->g, PTR, 8), 0);
	assert_int_equal(spp_guard_resolve_stop(f->g, &held, false),
			 SPP_VERDICT_ALLOWED);
	assert_memory_equal(f->ram + PTR - 4, v, 8);
	assert_int_equal(spp_guard_set_policy(f->g, SPP_POLICY_DENY), 0);
}

/* SET and protect_add against byte masks; unprotecting. */
static void test_rules_with_set(void **state)
{
	struct fixture *f = *state;
	uint64_t bits[SPP_PAGE_SIZE / 64];
	struct spp_guard_stats st;

	assert_int_equal(spp_guard_protect_bytes(f->g, PTR, 8), 0);
	assert_int_equal(spp_guard_protect_bytes(f->g, PAGE + 4000, 4), 0);
	assert_int_equal(spp_guard_lookup(f->g, GFN), ~(1u << 5 | 1u << 31));
	/* protect_add of another sub-page: the masks stay */
	assert_int_equal(spp_guard_protect_add(f->g, GFN, ~(1u << 9)), 0);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 12);
	/* protect_add of sub-page 31 whole: its mask goes, 5's stays */
	assert_int_equal(spp_guard_protect_add(f->g, GFN, ~(1u << 31)), 0);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 8);
	assert_int_equal(spp_guard_lookup(f->g, GFN),
			 ~(1u << 5 | 1u << 9 | 1u << 31));
	/* SET of what GET reads changes nothing */
	assert_int_equal(spp_guard_set_range(f->g, GFN, 1,
					     spp_guard_lookup(f->g, GFN)),
			 0);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 8);
	/* SET making sub-page 5 writable drops its mask: denied again, it
	 * is denied whole */
	assert_int_equal(spp_guard_set_range(f->g, GFN, 1, SPP_ACCESS_FULL), 0);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 0);
	assert_int_equal(spp_guard_set_range(f->g, GFN, 1, ~(1u << 5)), 0);
	fill(f, 0);
	assert_int_equal(store(f, PAGE + 5 * 128, ones, 8), SPP_EXIT_HANDLED);
	assert_int_equal(f->ram[PAGE + 5 * 128], 0); /* denied whole now */
	/* unprotect_bytes leaves a sub-page denied whole alone */
	assert_int_equal(spp_guard_unprotect_bytes(f->g, PAGE + 5 * 128, 128),
			 0);
	assert_int_equal(spp_guard_lookup(f->g, GFN), ~(1u << 5));
	assert_int_equal(spp_guard_set_range(f->g, GFN, 1, SPP_ACCESS_FULL), 0);
	/* two ranges in a sub-page, taken out one by one */
	assert_int_equal(spp_guard_protect_bytes(f->g, PAGE + 5 * 128, 2), 0);
	assert_int_equal(spp_guard_protect_bytes(f->g, PTR, 8), 0);
	assert_int_equal(spp_guard_unprotect_bytes(f->g, PTR, 8), 0);
	assert_int_equal(spp_guard_lookup(f->g, GFN), ~(1u << 5));
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 2);
	assert_int_equal(spp_guard_unprotect_bytes(f->g, PAGE, 4096), 0);
	assert_int_equal(spp_guard_lookup(f->g, GFN), SPP_ACCESS_FULL);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 0);
	spp_guard_stats(f->g, &st);
	assert_int_equal(st.trapped_pages, 0);
	/* a range across a page boundary: two pages */
	assert_int_equal(spp_guard_protect_bytes(f->g, PAGE + 4092, 8), 0);
	assert_int_equal(spp_guard_lookup(f->g, GFN), ~(1u << 31));
	assert_int_equal(spp_guard_lookup(f->g, GFN + 1), ~1u);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN + 1, bits), 4);
	fill(f, 0);
	f->ram[PAGE + 4096] = 0;
	f->ram[PAGE + 4097] = 0;
	/* a page-crossing store over both: the free bytes land */
	assert_int_equal(store(f, PAGE + 4090, ones, 8), SPP_EXIT_HANDLED);
	assert_int_equal(f->ram[PAGE + 4091], 1);
	assert_int_equal(f->ram[PAGE + 4092], 0);
	assert_int_equal(f->ram[PAGE + 4097], 0);
	assert_int_equal(f->ev[f->nev - 1].protected_bytes, 0xfc);
	assert_int_equal(spp_guard_set_range(f->g, GFN, 2, SPP_ACCESS_FULL), 0);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN + 1, bits), 0);
}

/* spp_guard_set_bytes(): a mask set aside and put back on a sub-page
 * that stayed denied; never on a writable one. */
static void test_set_bytes(void **state)
{
	struct fixture *f = *state;
	uint64_t saved[SPP_PAGE_SIZE / 64], bits[SPP_PAGE_SIZE / 64];
	uint64_t zero[SPP_PAGE_SIZE / 64] = { 0 };

	assert_int_equal(spp_guard_protect_bytes(f->g, PTR, 8), 0);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, saved), 8);
	/* denied whole: the mask goes, the sub-page's other bytes too */
	assert_int_equal(spp_guard_protect_add(f->g, GFN, ~(1u << 5)), 0);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 0);
	fill(f, 0);
	assert_int_equal(store(f, PAGE + 5 * 128, ones, 8), SPP_EXIT_HANDLED);
	assert_int_equal(f->ram[PAGE + 5 * 128], 0);
	assert_int_equal(f->nev, 1);
	/* put back: byte-protected again, the map as it was */
	assert_int_equal(spp_guard_set_bytes(f->g, GFN, 1u << 5, saved), 0);
	assert_int_equal(spp_guard_lookup(f->g, GFN), ~(1u << 5));
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 8);
	assert_memory_equal(bits, saved, sizeof(bits));
	assert_int_equal(store(f, PAGE + 5 * 128, ones, 8), SPP_EXIT_HANDLED);
	assert_int_equal(f->ram[PAGE + 5 * 128], 1);
	assert_int_equal(f->nev, 1);
	assert_int_equal(store(f, PTR, ones, 8), SPP_EXIT_HANDLED);
	assert_int_equal(f->ram[PTR], 0);
	assert_int_equal(f->nev, 2);
	/* bits outside @subpages are ignored; none: denied whole */
	assert_int_equal(spp_guard_set_bytes(f->g, GFN, 1u << 5, zero), 0);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 0);
	assert_int_equal(spp_guard_lookup(f->g, GFN), ~(1u << 5));
	assert_int_equal(spp_guard_set_bytes(f->g, GFN, 1u << 5, saved), 0);
	/* bad input: nothing changes */
	assert_int_equal(spp_guard_set_bytes(f->g, GFN, 1u << 5 | 1u << 6,
					     saved),
			 -EINVAL); /* sub-page 6 is writable */
	assert_int_equal(spp_guard_set_bytes(NULL, GFN, 1u << 5, saved),
			 -EINVAL);
	assert_int_equal(spp_guard_set_bytes(f->g, GFN, 1u << 5, NULL),
			 -EINVAL);
	assert_int_equal(spp_guard_set_bytes(f->g, RAM_SIZE >> 12, 1, saved),
			 -EFAULT);
	assert_int_equal(spp_guard_set_bytes(f->g, GFN, 0, zero), 0);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 8);
	assert_memory_equal(bits, saved, sizeof(bits));
	assert_int_equal(spp_guard_lookup(f->g, GFN), ~(1u << 5));
}

/* Bad input and the limits: nothing changes. */
static void test_bad_input(void **state)
{
	struct fixture *f = *state;
	uint64_t bits[SPP_PAGE_SIZE / 64], before[SPP_PAGE_SIZE / 64];
	uint64_t k;

	assert_int_equal(spp_guard_protect_bytes(f->g, PTR, 8), 0);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, before), 8);
	assert_int_equal(spp_guard_protect_bytes(NULL, PTR, 8), -EINVAL);
	assert_int_equal(spp_guard_unprotect_bytes(NULL, PTR, 8), -EINVAL);
	assert_int_equal(spp_guard_get_bytes(NULL, GFN, bits), -EINVAL);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, NULL), -EINVAL);
	assert_int_equal(spp_guard_protect_bytes(f->g, PTR, 0), -EINVAL);
	assert_int_equal(spp_guard_unprotect_bytes(f->g, PTR, 0), -EINVAL);
	assert_int_equal(spp_guard_protect_bytes(f->g, PTR,
						 SPP_GUARD_BYTES_MAX_LEN + 1),
			 -EINVAL);
	assert_int_equal(spp_guard_protect_bytes(f->g, UINT64_MAX - 3, 8),
			 -EINVAL);
	assert_int_equal(spp_guard_protect_bytes(f->g, 1ULL << 48, 8), -EINVAL);
	/* partly beyond RAM: -EFAULT, the RAM part untouched too */
	assert_int_equal(spp_guard_protect_bytes(f->g, RAM_SIZE - 4, 8),
			 -EFAULT);
	assert_int_equal(spp_guard_lookup(f->g, (RAM_SIZE >> 12) - 1),
			 SPP_ACCESS_FULL);
	assert_int_equal(spp_guard_unprotect_bytes(f->g, RAM_SIZE - 4, 8),
			 -EFAULT);
	/* the page limit: the page above and 4095 more, then one more */
	for (k = 0; k < SPP_GUARD_BYTES_MAX_PAGES / 512; k++)
		assert_int_equal(spp_guard_protect_bytes(
					 f->g, (8ULL << 20) + k * (2ULL << 20),
					 k == 7 ? (2ULL << 20) - 4096 :
						  2ULL << 20),
				 0);
	assert_int_equal(spp_guard_protect_bytes(f->g, PTR + 64, 1), 0);
	assert_int_equal(spp_guard_protect_bytes(f->g, PAGE + 8192, 1),
			 -ENOSPC);
	assert_int_equal(spp_guard_lookup(f->g, GFN + 2), SPP_ACCESS_FULL);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN + 2, bits), 0);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 9);
	assert_int_equal(spp_guard_unprotect_bytes(f->g, PTR + 64, 1), 0);
	assert_int_equal(spp_guard_get_bytes(f->g, GFN, bits), 8);
	assert_memory_equal(bits, before, sizeof(bits));
	assert_int_equal(spp_guard_lookup(f->g, GFN), ~(1u << 5));
}

/* Pages without masks: the hardware's rule, no per-byte fields. */
static void test_default_unchanged(void **state)
{
	struct fixture *f = *state;
	struct spp_guard_stats st;

	assert_int_equal(spp_guard_set_range(f->g, GFN, 1, ~(1u << 5)), 0);
	fill(f, 0);
	assert_int_equal(store(f, PAGE + 5 * 128 + 64, ones, 4),
			 SPP_EXIT_HANDLED);
	assert_int_equal(f->ram[PAGE + 5 * 128 + 64], 0);
	assert_int_equal(f->nev, 1);
	assert_int_equal(f->ev[0].known & SPP_EVENT_BYTES, 0);
	assert_int_equal(f->ev[0].protected_bytes, 0);
	spp_guard_stats(f->g, &st);
	assert_int_equal(st.fine_allowed, 0);
	/* masks elsewhere do not change that */
	assert_int_equal(spp_guard_protect_bytes(f->g, PAGE + 8192 + 16, 8), 0);
	assert_int_equal(store(f, PAGE + 5 * 128 + 64, ones, 4),
			 SPP_EXIT_HANDLED);
	assert_int_equal(f->ram[PAGE + 5 * 128 + 64], 0);
	assert_int_equal(f->ev[1].known & SPP_EVENT_BYTES, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mask_set),
		cmocka_unit_test_setup_teardown(test_pointer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_straddle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_subpage_wins, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_policies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rules_with_set, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_set_bytes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_default_unchanged, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
