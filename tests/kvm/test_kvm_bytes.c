// SPDX-License-Identifier: MIT
/*
 * test_kvm_bytes.c - byte masks finer than the hardware
 * (spp_guard_protect_bytes()) on real KVM guests.
 *
 * One 8-byte "pointer" in the middle of sub-page 5 of a page is protected
 * by byte; the store-script guest (guests/script.h) stores at CPL3 around
 * and over it with every kind of store that reaches the guard: KVM's own
 * (mov of 1..8 bytes, movdqu in two fragments), those spp emulates (movq
 * from XMM, movss), rep stosb/movsb element by element, and locked
 * read-modify-writes. After each run the whole page is compared byte by
 * byte with a model (the store's bytes, but the pointer's under DENY),
 * and the events with the stores that touched the pointer: the other 120
 * bytes of the sub-page are written and never reported. Policies LOG and
 * STOP, and the default 128-byte mode on a page without masks.
 *
 * Arguments: the guest ELF files (matched by name). Without /dev/kvm the
 * program reports one TAP skip (docs/testing.md).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <spp/spp.h>
#include <spp/vm.h>

#include "guests/script.h"
#include "kvm_test.h"

#define PAGE SPP_LAYOUT_SELFTEST_PAGE
#define GFN (PAGE >> 12)
#define SUB (PAGE + 5 * 128)
#define PTR (SUB + 48) /* bytes 48..55 of sub-page 5: one cache line */
#define SRC (PAGE + 8192) /* an unprotected source for rep movsb */

static const char *guest_script;

struct scene {
	struct spp_vm *vm;
	struct script *s;
	uint8_t *page; /* the host's view of PAGE */
	uint8_t model[4096]; /* what PAGE must hold */
	bool log; /* policy LOG: the pointer's bytes land too */
};

static void scene_new(struct scene *sc, enum spp_policy policy)
{
	memset(sc, 0, sizeof(*sc));
	sc->vm = spp_kt_vm_new(guest_script, 1, policy);
	sc->s = spp_kt_gptr(sc->vm, SCRIPT_ADDR(0), SCRIPT_SLOT_SIZE);
	sc->page = spp_kt_gptr(sc->vm, PAGE, 4096);
	sc->log = policy == SPP_POLICY_LOG;
	/* a pattern, so a byte written with its old value would not pass */
	for (unsigned int k = 0; k < 4096; k++)
		sc->page[k] = sc->model[k] = (uint8_t)(k * 7 + 3);
	assert_int_equal(spp_guard_protect_bytes(spp_vm_guard(sc->vm), PTR, 8),
			 0);
	sc->s->nops = 0;
}

/* A store op, and what it does to the model. */
static void op(struct scene *sc, uint32_t kind, uint64_t addr, uint64_t val,
	       uint64_t val2, uint32_t count)
{
	uint8_t bytes[256];
	uint32_t len = script_store_len(kind, count), k;

	assert_true(sc->s->nops < SCRIPT_MAX_OPS);
	sc->s->ops[sc->s->nops++] =
		(struct script_op){ addr, val, val2, kind, count };
	if (!len)
		return;
	assert_true(len <= sizeof(bytes) && addr >= PAGE &&
		    addr + len <= PAGE + 4096);
	switch (kind) {
	case OP_STORE128:
		memcpy(bytes, &val, 8);
		memcpy(bytes + 8, &val2, 8);
		break;
	case OP_REP_STOSB:
		memset(bytes, (uint8_t)val, len);
		break;
	case OP_REP_MOVSB:
		memcpy(bytes, spp_kt_gptr(sc->vm, val2, len), len);
		break;
	case OP_LOCK_XADD64: {
		uint64_t old;

		memcpy(&old, sc->model + (addr - PAGE), 8);
		old += val;
		memcpy(bytes, &old, 8);
		break;
	}
	case OP_LOCK_ADD32: {
		uint32_t old;

		memcpy(&old, sc->model + (addr - PAGE), 4);
		old += (uint32_t)val;
		memcpy(bytes, &old, 4);
		break;
	}
	case OP_CMPXCHG64:
		assert_int_equal(count, 0); /* succeeds: the new value */
		/* fall through */
	default:
		memcpy(bytes, &val, 8);
		break;
	}
	for (k = 0; k < len; k++)
		if (sc->log || addr + k < PTR || addr + k >= PTR + 8)
			sc->model[addr + k - PAGE] = bytes[k];
}

/* Run the script to its SYNC; the page must be the model, byte by byte. */
static void run(struct scene *sc)
{
	struct spp_vm_result res;
	unsigned int k;

	sc->s->stop = 0;
	op(sc, OP_SYNC, 0, 1, 0, 0);
	spp_kt_run_expect(sc->vm, SPP_VM_SYNC, &res);
	for (k = 0; k < 4096; k++)
		if (sc->page[k] != sc->model[k])
			fail_msg("byte 0x%x of the page: 0x%02x, want 0x%02x",
				 k, sc->page[k], sc->model[k]);
	sc->s->nops = 0;
}

/* Event @i: a store of @len at @gpa that touched the protected bytes
 * @prot (bit i: byte i of the store). */
static void event_is(size_t i, uint64_t gpa, uint32_t len, uint64_t prot,
		     enum spp_verdict verdict)
{
	const struct spp_event *e = &spp_kt_events[i];

	assert_true(i < spp_kt_nevents);
	assert_int_equal(e->gpa, gpa);
	assert_int_equal(e->len, len);
	assert_int_equal(e->verdict, verdict);
	assert_int_equal(e->subpage, 5);
	assert_int_equal(e->subpage_gpa, SUB);
	assert_true(e->known & SPP_EVENT_BYTES);
	assert_int_equal(e->protected_bytes, prot);
}

static void test_pointer_alone(void **state)
{
	struct scene sc;
	struct spp_guard_stats st;
	uint64_t k;

	(void)state;
	scene_new(&sc, SPP_POLICY_DENY);
	assert_int_equal(spp_guard_lookup(spp_vm_guard(sc.vm), GFN),
			 ~(1u << 5));
	/* the other 120 bytes of the sub-page, 8 and 1 at a time */
	for (k = 0; k < 128; k += 8)
		if (SUB + k != PTR)
			op(&sc, OP_STORE64, SUB + k, 0x0101010101010101 * k, 0,
			   0);
	op(&sc, OP_STORE8, PTR - 1, 0xa1, 0, 0);
	op(&sc, OP_STORE8, PTR + 8, 0xa2, 0, 0);
	op(&sc, OP_STORE32, SUB + 124, 0xa3a3a3a3, 0, 0);
	run(&sc);
	assert_int_equal(spp_kt_nevents, 0);
	spp_guard_stats(spp_vm_guard(sc.vm), &st);
	assert_int_equal(st.denied, 0);
	assert_int_equal(st.fine_allowed, 18);
	/* the pointer itself: 8, 4 and 1 bytes */
	op(&sc, OP_STORE64, PTR, 0xdeadbeefcafef00d, 0, 0);
	op(&sc, OP_STORE32, PTR + 4, 0x12345678, 0, 0);
	op(&sc, OP_STORE8, PTR + 7, 0x99, 0, 0);
	run(&sc);
	assert_int_equal(spp_kt_nevents, 3);
	event_is(0, PTR, 8, 0xff, SPP_VERDICT_DENIED);
	event_is(1, PTR + 4, 4, 0xf, SPP_VERDICT_DENIED);
	event_is(2, PTR + 7, 1, 0x1, SPP_VERDICT_DENIED);
	assert_int_equal(spp_kt_events[0].cpl, 3);
	spp_guard_stats(spp_vm_guard(sc.vm), &st);
	assert_int_equal(st.denied, 3);
	spp_vm_destroy(sc.vm);
}

static void test_straddling_stores(void **state)
{
	struct scene sc;

	(void)state;
	scene_new(&sc, SPP_POLICY_DENY);
	op(&sc, OP_STORE64, PTR - 4, 0x1111111122222222, 0, 0);
	op(&sc, OP_STORE64, PTR + 4, 0x3333333344444444, 0, 0);
	op(&sc, OP_STORE16, PTR - 1, 0x5566, 0, 0);
	/* movdqu: KVM hands it over in two 8-byte fragments */
	op(&sc, OP_STORE128, PTR - 4, 0x0102030405060708, 0x090a0b0c0d0e0f10,
	   0);
	/* movq from XMM and movss: KVM cannot, spp emulates them */
	op(&sc, OP_MOVQ_XMM, PTR - 2, 0x7172737475767778, 0, 0);
	op(&sc, OP_MOVSS, PTR + 6, 0x81828384, 0, 0);
	run(&sc);
	assert_int_equal(spp_kt_nevents, 6);
	event_is(0, PTR - 4, 8, 0xf0, SPP_VERDICT_DENIED);
	event_is(1, PTR + 4, 8, 0x0f, SPP_VERDICT_DENIED);
	event_is(2, PTR - 1, 2, 0x2, SPP_VERDICT_DENIED);
	event_is(3, PTR - 4, 16, 0x0ff0, SPP_VERDICT_DENIED);
	event_is(4, PTR - 2, 8, 0xfc, SPP_VERDICT_DENIED);
	assert_int_equal(spp_kt_events[4].fragments, 0);
	event_is(5, PTR + 6, 4, 0x3, SPP_VERDICT_DENIED);
	spp_vm_destroy(sc.vm);
}

static void test_string_stores(void **state)
{
	uint8_t *src;
	struct scene sc;
	size_t k;

	(void)state;
	scene_new(&sc, SPP_POLICY_DENY);
	src = spp_kt_gptr(sc.vm, SRC, 64);
	for (k = 0; k < 64; k++)
		src[k] = (uint8_t)(0xc0 + k);
	/* the whole sub-page, then sub-pages 4 and 5, then a copy over it */
	op(&sc, OP_REP_STOSB, SUB, 0xab, 0, 128);
	op(&sc, OP_REP_STOSB, SUB - 128, 0xcd, 0, 256);
	op(&sc, OP_REP_MOVSB, PTR - 12, 0, SRC, 32);
	run(&sc);
	/* one event per element on the pointer, 8 per instruction */
	assert_int_equal(spp_kt_nevents, 24);
	for (k = 0; k < 24; k++)
		event_is(k, PTR + k % 8, 1, 0x1, SPP_VERDICT_DENIED);
	spp_vm_destroy(sc.vm);
}

static void test_read_modify_writes(void **state)
{
	struct scene sc;

	(void)state;
	scene_new(&sc, SPP_POLICY_DENY);
	op(&sc, OP_LOCK_XADD64, PTR, 5, 0, 0); /* on it: denied */
	op(&sc, OP_LOCK_XADD64, PTR + 8, 5, 0, 0); /* beside it: lands */
	op(&sc, OP_LOCK_ADD32, PTR - 4, 0x01010101, 0, 0);
	op(&sc, OP_XCHG64, PTR + 4, 0x5151515162626262, 0, 0); /* half on */
	op(&sc, OP_CMPXCHG64, PTR, 0x7777777777777777, 0, 0);
	run(&sc);
	assert_int_equal(spp_kt_nevents, 3);
	event_is(0, PTR, 8, 0xff, SPP_VERDICT_DENIED);
	event_is(1, PTR + 4, 8, 0x0f, SPP_VERDICT_DENIED);
	event_is(2, PTR, 8, 0xff, SPP_VERDICT_DENIED);
	spp_vm_destroy(sc.vm);
}

static void test_policy_log(void **state)
{
	struct scene sc;

	(void)state;
	scene_new(&sc, SPP_POLICY_LOG);
	op(&sc, OP_STORE64, PTR - 4, 0x1111111122222222, 0, 0);
	op(&sc, OP_STORE64, PTR + 8, 0x3333333344444444, 0, 0);
	op(&sc, OP_REP_STOSB, PTR + 6, 0xee, 0, 4);
	run(&sc);
	/* all of it landed; the stores on the pointer reported, logged */
	assert_int_equal(spp_kt_nevents, 3);
	event_is(0, PTR - 4, 8, 0xf0, SPP_VERDICT_LOGGED);
	event_is(1, PTR + 6, 1, 0x1, SPP_VERDICT_LOGGED);
	event_is(2, PTR + 7, 1, 0x1, SPP_VERDICT_LOGGED);
	spp_vm_destroy(sc.vm);
}

static void test_policy_stop(void **state)
{
	struct spp_vm_result res;
	struct scene sc;
	uint64_t v;

	(void)state;
	scene_new(&sc, SPP_POLICY_STOP);
	sc.s->ops[0] = (struct script_op){ PTR + 8, 0x4242424242424242, 0,
					   OP_STORE64, 0 };
	sc.s->ops[1] = (struct script_op){ PTR - 4, 0x1111111122222222, 0,
					   OP_STORE64, 0 };
	sc.s->ops[2] = (struct script_op){ 0, 1, 0, OP_SYNC, 0 };
	sc.s->nops = 3;
	/* the store beside it lands; the one half on it stops the run */
	spp_kt_run_expect(sc.vm, SPP_VM_STOPPED, &res);
	assert_int_equal(res.event.gpa, PTR - 4);
	assert_int_equal(res.event.verdict, SPP_VERDICT_STOPPED);
	assert_int_equal(res.event.protected_bytes, 0xf0);
	memcpy(&v, sc.page + (PTR + 8 - PAGE), 8);
	assert_int_equal(v, 0x4242424242424242);
	assert_memory_equal(sc.page + (PTR - 4 - PAGE),
			    sc.model + (PTR - 4 - PAGE), 8); /* held */
	spp_vm_destroy(sc.vm);
}

/* Without masks the page is the hardware's. */
static void test_default_mode(void **state)
{
	struct spp_guard *g;
	uint64_t bits[SPP_PAGE_SIZE / 64];
	struct scene sc;
	struct {
		struct spp_subpage h;
		uint32_t map[1];
	} req = { { .gfn_base = GFN, .npages = 1 }, { ~(1u << 5) } };

	(void)state;
	scene_new(&sc, SPP_POLICY_DENY);
	g = spp_vm_guard(sc.vm);
	/* SET makes sub-page 5 writable (its mask goes), then denies it */
	assert_int_equal(spp_guard_set_range(g, GFN, 1, SPP_ACCESS_FULL), 0);
	assert_int_equal(spp_guard_set_access(g, &req.h), 1);
	assert_int_equal(spp_guard_get_bytes(g, GFN, bits), 0);
	sc.s->ops[0] = (struct script_op){ SUB + 8, 0x4242424242424242, 0,
					   OP_STORE64, 0 };
	sc.s->ops[1] = (struct script_op){ 0, 1, 0, OP_SYNC, 0 };
	sc.s->nops = 2;
	spp_kt_run_expect(sc.vm, SPP_VM_SYNC, NULL);
	/* the whole sub-page denied: nothing landed */
	assert_memory_equal(sc.page, sc.model, 4096);
	assert_int_equal(spp_kt_nevents, 1);
	assert_int_equal(spp_kt_events[0].verdict, SPP_VERDICT_DENIED);
	assert_int_equal(spp_kt_events[0].known & SPP_EVENT_BYTES, 0);
	spp_vm_destroy(sc.vm);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pointer_alone),
		cmocka_unit_test(test_straddling_stores),
		cmocka_unit_test(test_string_stores),
		cmocka_unit_test(test_read_modify_writes),
		cmocka_unit_test(test_policy_log),
		cmocka_unit_test(test_policy_stop),
		cmocka_unit_test(test_default_mode),
	};

	if (spp_kt_no_kvm("test_kvm_bytes"))
		return 0;
	guest_script = spp_kt_guest(argc, argv, "guest_script");
	if (getenv("SPP_TEST_FILTER"))
		cmocka_set_test_filter(getenv("SPP_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
