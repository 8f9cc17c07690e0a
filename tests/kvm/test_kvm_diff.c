// SPDX-License-Identifier: MIT
/*
 * test_kvm_diff.c - differential test: a guest's random stores under spp
 * against the core model, store by store.
 *
 * Each batch gives four adjacent pages random maps, fills them and their
 * neighbours with random bytes, and has the guest (at CPL3) run ~1000
 * random stores: mov of 1, 2, 4, 8 bytes, movdqu, rep stosb and rep movsb
 * of 1..16 bytes at every alignment, crossing sub-pages and pages; xchg,
 * lock add, lock xadd and lock cmpxchg (succeeding and failing) at their
 * natural alignment; and stores KVM cannot emulate, which spp does
 * (movss; vmovdqu ymm where the VM has AVX). The core model predicts
 * memory and the event list; both must match exactly.
 *
 * SPP_DIFF_SEED (default 1) and SPP_DIFF_STORES (default 100000) choose
 * the run; a failure prints the seed, the batch and the first differing
 * store with the maps it ran under.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <spp/spp.h>
#include <spp/guest_mem.h>
#include <spp/vm.h>

#include "guests/script.h"
#include "kvm_test.h"

#define BASE SPP_LAYOUT_SELFTEST_PAGE /* first protected page */
#define NPROT 4
#define SPAN_LO (BASE - 4096) /* one unprotected page each side */
#define SPAN_LEN ((NPROT + 2) * 4096)
#define BATCH 1000

static const char *guest_script;

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static uint32_t random_map(void)
{
	switch (rnd() % 5) {
	case 0:
		return SPP_ACCESS_FULL;
	case 1:
		return 0;
	case 2:
		return ~(1u << (rnd() % 32));
	default:
		return (uint32_t)rnd();
	}
}

#define SRC_ADDR (SPP_LAYOUT_SHARED + 0x180000ULL) /* rep movsb source */
#define SRC_LEN 4096

static const uint32_t kinds[] = {
	OP_STORE8,    OP_STORE16, OP_STORE32,	 OP_STORE64,	 OP_STORE128,
	OP_REP_STOSB, OP_XCHG64,  OP_LOCK_ADD32, OP_LOCK_XADD64, OP_CMPXCHG64,
	OP_REP_MOVSB, OP_MOVSS,	  OP_VMOVDQU256,
};
static unsigned int nkinds = sizeof(kinds) / sizeof(kinds[0]);
static const uint8_t *src_block; /* the host's view of SRC_ADDR */

static uint32_t op_len(const struct script_op *op)
{
	return script_store_len(op->kind, op->count);
}

struct expect {
	uint64_t gpa;
	uint32_t len;
	uint32_t op; /* index of the store in the batch */
};

/* Apply one store to @shadow as spp must; record the expected events. */
static void predict(const struct spp_access *model, const struct script_op *op,
		    uint32_t k, uint8_t *shadow, struct expect *exp,
		    size_t *nexp)
{
	uint8_t bytes[32], *cur = shadow + (op->addr - SPAN_LO);
	uint32_t len = op_len(op), i;
	struct spp_write_verdict v;
	uint64_t q[4] = { op->val, op->val2, ~op->val, ~op->val2 }, old = 0;

	if (op->kind == OP_REP_STOSB || op->kind == OP_REP_MOVSB) {
		/* each element is its own store */
		for (i = 0; i < len; i++) {
			uint64_t gpa = op->addr + i;

			spp_access_check_write(model, gpa, 1, &v);
			if (v.allowed)
				shadow[gpa - SPAN_LO] =
					op->kind == OP_REP_STOSB ?
						(uint8_t)op->val :
						src_block[op->val2 - SRC_ADDR +
							  i];
			else
				exp[(*nexp)++] = (struct expect){ gpa, 1, k };
		}
		return;
	}
	memcpy(bytes, q, sizeof(q));
	memcpy(&old, cur, len < 8 ? len : 8);
	switch (op->kind) {
	case OP_LOCK_ADD32: {
		uint32_t n = (uint32_t)old + (uint32_t)op->val;

		memcpy(bytes, &n, 4);
		break;
	}
	case OP_LOCK_XADD64: {
		uint64_t n = old + op->val;

		memcpy(bytes, &n, 8);
		break;
	}
	case OP_CMPXCHG64:
		if (op->count) /* fails: the old value is written back */
			memcpy(bytes, &old, 8);
		break;
	}
	spp_access_check_write(model, op->addr, len, &v);
	if (v.allowed)
		memcpy(shadow + (op->addr - SPAN_LO), bytes, len);
	else
		exp[(*nexp)++] = (struct expect){ op->addr, len, k };
}

static void report(uint64_t seed, unsigned int batch, const uint32_t *maps,
		   const struct script_op *op, uint32_t k, const char *what)
{
	unsigned int p;

	fprintf(stderr,
		"diff: seed %" PRIu64 " batch %u store %u: %s\n"
		"      kind %u at 0x%" PRIx64 " len %u value 0x%" PRIx64
		"\n      maps:",
		seed, batch, k, what, op->kind, op->addr, op_len(op), op->val);
	for (p = 0; p < NPROT; p++)
		fprintf(stderr, " 0x%08x", maps[p]);
	fprintf(stderr, "\n      rerun: SPP_DIFF_SEED=%" PRIu64 "\n", seed);
}

static void test_random_stores_match_model(void **state)
{
	uint64_t seed = getenv("SPP_DIFF_SEED") ?
				strtoull(getenv("SPP_DIFF_SEED"), NULL, 0) :
				1;
	uint64_t total = getenv("SPP_DIFF_STORES") ?
				 strtoull(getenv("SPP_DIFF_STORES"), NULL, 0) :
				 100000;
	struct spp_vm_config cfg = { .event = spp_kt_on_event };
	static uint8_t shadow[SPAN_LEN];
	static struct expect exp[SPP_KT_MAX_EVENTS];
	struct spp_access *model;
	struct spp_vm *vm;
	struct script *s;
	uint8_t *mem, *src;
	uint64_t done = 0;
	unsigned int batch;
	size_t i;

	(void)state;
	rng = seed * 0x9E3779B97F4A7C15ULL + 1;
	assert_non_null(guest_script);
	vm = spp_kt_vm_create(&cfg, guest_script);
	assert_int_equal(spp_access_create(&model), 0);
	assert_int_equal(spp_access_add_ram(model, 0, 1ULL << 30), 0);
	s = spp_guest_mem_ptr(spp_vm_mem(vm), SCRIPT_ADDR(0), SCRIPT_SLOT_SIZE);
	mem = spp_guest_mem_ptr(spp_vm_mem(vm), SPAN_LO, SPAN_LEN);
	src = spp_guest_mem_ptr(spp_vm_mem(vm), SRC_ADDR, SRC_LEN);
	assert_non_null(s);
	assert_non_null(mem);
	assert_non_null(src);
	for (i = 0; i < SRC_LEN; i++)
		src[i] = (uint8_t)rnd();
	src_block = src;
	if (!(spp_vm_xcr0(vm) & 4))
		nkinds--; /* vmovdqu ymm: only where the VM has AVX */

	for (batch = 0; done < total; batch++) {
		uint32_t maps[NPROT], k, n = BATCH;
		struct spp_vm_result res;
		size_t nexp = 0;

		if (total - done < n)
			n = (uint32_t)(total - done);
		for (i = 0; i < NPROT; i++) {
			maps[i] = random_map();
			assert_int_equal(spp_guard_set_range(spp_vm_guard(vm),
							     (BASE >> 12) + i,
							     1, maps[i]),
					 0);
			assert_int_equal(spp_access_set_range(model,
							      (BASE >> 12) + i,
							      1, maps[i]),
					 0);
		}
		for (i = 0; i < SPAN_LEN; i++)
			mem[i] = (uint8_t)rnd();
		memcpy(shadow, mem, SPAN_LEN);

		s->nops = 0;
		s->stop = 0;
		for (k = 0; k < n; k++) {
			struct script_op *op = &s->ops[k];
			uint32_t len;

			op->kind = kinds[rnd() % nkinds];
			op->count = op->kind == OP_REP_STOSB ||
						    op->kind == OP_REP_MOVSB ?
					    1 + (uint32_t)(rnd() % 16) :
				    op->kind == OP_CMPXCHG64 ?
					    (uint32_t)(rnd() % 2) :
					    0;
			len = op_len(op);
			/* anywhere in the span, any alignment, often right
			 * at a sub-page or page edge */
			op->addr = SPAN_LO + rnd() % (SPAN_LEN - len + 1);
			if (rnd() % 3 == 0) {
				uint64_t edge = (op->addr & ~127ULL) + 128;

				if (edge - len / 2 >= SPAN_LO &&
				    edge - len / 2 + len <= SPAN_LO + SPAN_LEN)
					op->addr = edge - len / 2 - (rnd() % 2);
				if (op->addr < SPAN_LO)
					op->addr = SPAN_LO;
			}
			if (op->kind >= OP_XCHG64 && op->kind <= OP_CMPXCHG64)
				op->addr &= ~(uint64_t)(len - 1); /* aligned */
			op->val = rnd();
			op->val2 = op->kind == OP_REP_MOVSB ?
					   SRC_ADDR + rnd() % (SRC_LEN - 16) :
					   rnd();
			predict(model, op, k, shadow, exp, &nexp);
			s->nops++;
		}
		s->ops[s->nops++] =
			(struct script_op){ 0, batch, 0, OP_SYNC, 0 };

		spp_kt_events_reset();
		assert_int_equal(spp_vm_run(vm, 600000, &res), 0);
		if (res.reason != SPP_VM_SYNC || res.value != batch)
			fail_msg("seed %" PRIu64 " batch %u: run ended with %s "
				 "(%s)",
				 seed, batch, spp_vm_reason_name(res.reason),
				 res.detail);

		/* events first: they name the store that went wrong */
		for (i = 0; i < nexp && i < spp_kt_nevents; i++) {
			if (spp_kt_events[i].gpa == exp[i].gpa &&
			    spp_kt_events[i].len == exp[i].len &&
			    spp_kt_events[i].verdict == SPP_VERDICT_DENIED)
				continue;
			report(seed, batch, maps, &s->ops[exp[i].op], exp[i].op,
			       "event differs from the model");
			fail();
		}
		if (spp_kt_nevents != nexp) {
			fprintf(stderr,
				"diff: seed %" PRIu64 " batch %u: %zu events, "
				"model %zu\n",
				seed, batch, spp_kt_nevents, nexp);
			fail();
		}
		for (i = 0; i < SPAN_LEN; i++) {
			if (mem[i] == shadow[i])
				continue;
			/* the last store that touched byte i */
			for (k = n; k-- > 0;) {
				const struct script_op *op = &s->ops[k];

				if (SPAN_LO + i - op->addr < op_len(op))
					break;
			}
			if (k < n)
				report(seed, batch, maps, &s->ops[k], k,
				       "memory differs from the model");
			fail_msg("byte 0x%" PRIx64 ": 0x%02x, model 0x%02x",
				 (uint64_t)(SPAN_LO + i), mem[i], shadow[i]);
		}
		done += n;
	}
	print_message("# diff: %" PRIu64 " stores in %u batches, seed %" PRIu64
		      ", all as the model predicts\n",
		      done, batch, seed);
	spp_access_destroy(model);
	spp_vm_destroy(vm);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_stores_match_model),
	};
	if (spp_kt_no_kvm("test_kvm_diff"))
		return 0;
	guest_script = spp_kt_guest(argc, argv, "guest_script");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
