// SPDX-License-Identifier: MIT
/*
 * test_kvm_insn.c - every class of store instruction on a protected page
 * (issue: every store instruction, string stores in one exit).
 *
 * The guest tests/kvm/guests/insn.c runs each case of insn.h on an
 * unprotected page and on a protected page's allowed and denied
 * sub-pages and compares memory, registers, flags and x87/SSE/AVX state
 * itself; this side checks the run ends where it should (no internal
 * error, no hang), the guest's verdict, the guard's exits for the
 * allowed run and the events of the denied run (count, address, length,
 * bytes). One TAP case per instruction; cases whose CPU feature the VM
 * lacks are listed as a TAP comment and not run.
 *
 * Argument: the insn guest ELF. Without /dev/kvm: one TAP skip.
 */
#include <errno.h>
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

#include "guests/insn.h"
#include "kvm_test.h"

static const struct {
	const char *name;
	uint32_t len, a_off, d_off, features, setup;
	uint64_t rcx;
	uint32_t max_exits, d_events, d_event_off;
} cases[] = {
#define INSN_ROW(name, len, a, d, f, s, rcx, mx, de, deo) \
	{ #name, len, a, d, f, s, rcx, mx, de, deo },
	INSN_CASES(INSN_ROW)
#undef INSN_ROW
};

static struct spp_vm *vm;
static struct insn_box *box;
static uint8_t pattern[INSN_REGION];

static void *gptr(uint64_t gpa, uint64_t len)
{
	return spp_guest_mem_ptr(spp_vm_mem(vm), gpa, len);
}

static const char *status_name(uint32_t s)
{
	static const char *const names[] = {
		[INSN_OK] = "ok",
		[INSN_BAD_MEM_ALLOWED] = "allowed run: memory differs",
		[INSN_BAD_REG_ALLOWED] = "allowed run: CPU state differs",
		[INSN_BAD_MEM_DENIED] = "denied run: protected memory changed",
		[INSN_BAD_REG_DENIED] = "denied run: CPU state differs",
	};

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static void run_to(uint64_t sync)
{
	struct spp_vm_result res;

	spp_kt_run_expect(vm, SPP_VM_SYNC, &res);
	if (res.value != sync)
		fail_msg(
			"run ended with sync 0x%llx (%s), expected sync 0x%llx",
			(unsigned long long)res.value, res.detail,
			(unsigned long long)sync);
}

static uint64_t guard_exits(void)
{
	struct spp_guard_stats st;

	spp_guard_stats(spp_vm_guard(vm), &st);
	return st.exits;
}

/* The first denied sub-page a store of @len bytes at @gpa touches. */
static unsigned int first_denied(uint64_t gpa, uint32_t len)
{
	uint64_t a;

	for (a = gpa; a < gpa + len; a++) {
		uint64_t page = (a - INSN_P) >> 12;
		uint32_t map = page == 0 ? INSN_MAP0 :
			       page == 1 ? INSN_MAP1 :
					   0xffffffffu;

		if (!(map & (1u << ((a >> 7) & 31))))
			return (unsigned int)((a >> 7) & 31);
	}
	return 32;
}

static void test_case(void **state)
{
	unsigned int k = (unsigned int)(uintptr_t)*state;
	const struct insn_result *r = &box->res[k];
	uint32_t want_events = cases[k].d_events ? cases[k].d_events : 1;
	uint64_t want_gpa =
		INSN_P +
		(cases[k].d_event_off ? cases[k].d_event_off : cases[k].d_off);
	uint64_t exits;
	uint32_t n;

	memcpy(gptr(INSN_P, INSN_REGION), pattern, INSN_REGION);
	box->next = k;
	spp_kt_events_reset();
	exits = guard_exits();
	run_to(INSN_SYNC_ALLOWED(k));
	exits = guard_exits() - exits;
	if (spp_kt_nevents)
		fail_msg("allowed run reported %zu events (first at 0x%llx)",
			 spp_kt_nevents,
			 (unsigned long long)spp_kt_events[0].gpa);
	if (cases[k].max_exits && exits > cases[k].max_exits)
		fail_msg("allowed run took %llu exits, at most %u wanted",
			 (unsigned long long)exits, cases[k].max_exits);
	print_message("# %s: allowed run took %llu exits\n", cases[k].name,
		      (unsigned long long)exits);

	run_to(INSN_SYNC_DENIED(k));
	if (r->status != INSN_OK)
		fail_msg("%s: %s at 0x%x: want 0x%llx, got 0x%llx",
			 cases[k].name, status_name(r->status), r->detail,
			 (unsigned long long)r->want,
			 (unsigned long long)r->got);
	if (spp_kt_nevents != want_events)
		fail_msg("denied run reported %zu events, want %u",
			 spp_kt_nevents, want_events);
	assert_int_equal(spp_kt_events[0].vcpu, 0);
	assert_int_equal(spp_kt_events[0].gpa, want_gpa);
	assert_int_equal(spp_kt_events[0].len, cases[k].len);
	assert_int_equal(spp_kt_events[0].verdict, SPP_VERDICT_DENIED);
	assert_int_equal(spp_kt_events[0].subpage,
			 first_denied(want_gpa, cases[k].len));
	n = cases[k].len < 64 ? cases[k].len : 64;
	if (cases[k].setup & INSN_CMP_NO_FPTRS)
		n = 6; /* FCW FSW FTW; the rest is pointers and masked bytes */
	if (!cases[k].d_event_off)
		assert_memory_equal(spp_kt_events[0].data, r->ref, n);
}

static int setup_vm(const char *guest)
{
	struct spp_vm_config cfg = {
		.nvcpus = 1,
		.policy = SPP_POLICY_DENY,
		.console = spp_kt_on_console,
		.event = spp_kt_on_event,
	};
	struct spp_vm_result res;
	struct spp_guard *g;
	uint64_t i;

	int ret = spp_vm_create(&vm, &cfg);

	if (!ret)
		ret = spp_vm_load_elf_file(vm, guest);
	if (ret) {
		fprintf(stderr, "insn: VM: %s\n", strerror(-ret));
		return -1;
	}
	box = gptr(INSN_BOX, sizeof(*box));
	for (i = 0; i < INSN_REGION; i++)
		pattern[i] = (uint8_t)(i * 7 + (i >> 8) + 0x5a);
	box->next = INSN_NCASES;
	if (spp_vm_run(vm, SPP_KT_RUN_TIMEOUT_MS, &res) ||
	    res.reason != SPP_VM_SYNC || res.value != INSN_SYNC_READY) {
		fprintf(stderr, "insn guest did not start: %s\n", res.detail);
		return -1;
	}
	g = spp_vm_guard(vm);
	if (spp_guard_set_range(g, INSN_P >> 12, 1, INSN_MAP0) ||
	    spp_guard_set_range(g, (INSN_P >> 12) + 1, 1, INSN_MAP1)) {
		fprintf(stderr, "insn: cannot protect the region\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct CMUnitTest tests[INSN_NCASES];
	const char *guest;
	size_t n = 0, k;
	int ret;

	if (spp_kt_no_kvm("test_kvm_insn"))
		return 0;
	guest = spp_kt_guest(argc, argv, "guest_insn");
	if (!guest) {
		fprintf(stderr, "usage: test_kvm_insn .../guest_insn\n");
		return 2;
	}
	if (setup_vm(guest)) {
		fprintf(stderr, "test_kvm_insn: VM setup failed\n");
		return 1;
	}
	for (k = 0; k < INSN_NCASES; k++) {
		uint32_t missing = cases[k].features & ~box->features;

		if (missing) {
			printf("# %s not run: the VM's CPU lacks feature bits "
			       "0x%x\n",
			       cases[k].name, missing);
			continue;
		}
		tests[n] = (struct CMUnitTest){
			.name = cases[k].name,
			.test_func = test_case,
			.initial_state = (void *)(uintptr_t)k,
		};
		n++;
	}
	if (getenv("SPP_TEST_FILTER"))
		cmocka_set_test_filter(getenv("SPP_TEST_FILTER"));
	ret = _cmocka_run_group_tests("insn", tests, n, NULL, NULL);
	spp_vm_destroy(vm);
	return ret;
}
