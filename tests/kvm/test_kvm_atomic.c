// SPDX-License-Identifier: MIT
/*
 * test_kvm_atomic.c - locked read-modify-writes on a protected page stay
 * atomic across vCPUs (guests/atomic.h).
 *
 * KVM's emulator does the read and the compare of a locked instruction on
 * a trapped page itself and hands user space only the write, so two vCPUs
 * can both add 1 to the same old value. The guard redoes such writes
 * against current memory (src/kvm/emulate.c). With 2 and 4 vCPUs doing
 * SPP_ATOMIC_ITERS rounds each (default 1500), every counter must be
 * exact, and the old values lock xadd returned must be 0 .. N-1 (their
 * sum is checked).
 *
 * Argument: the atomic guest ELF. Without /dev/kvm: one TAP skip.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <spp/spp.h>
#include <spp/guest_mem.h>
#include <spp/vm.h>

#include "guests/atomic.h"
#include "kvm_test.h"

static const char *guest;
static uint64_t iters = 1500;

static void run_counters(unsigned int nvcpus)
{
	struct spp_vm_config cfg = { .nvcpus = nvcpus };
	struct spp_guard_stats st;
	struct spp_vm_result res;
	struct atomic_counters *c;
	struct atomic_box *box;
	struct spp_vm *vm = NULL;
	uint64_t total = iters * nvcpus, sum = 0;
	unsigned int i;

	vm = spp_kt_vm_create(&cfg, guest);
	box = spp_guest_mem_ptr(spp_vm_mem(vm), ATOMIC_BOX, sizeof(*box));
	c = spp_guest_mem_ptr(spp_vm_mem(vm), ATOMIC_PAGE, sizeof(*c));
	assert_non_null(box);
	assert_non_null(c);
	box->iterations = iters;
	assert_int_equal(spp_guard_set_range(spp_vm_guard(vm),
					     ATOMIC_PAGE >> 12, 1, ATOMIC_MAP),
			 0);
	assert_int_equal(spp_vm_run(vm, 600000, &res), 0);
	if (res.reason != SPP_VM_EXIT || res.status != 1)
		fail_msg("run ended with %s (%s)",
			 spp_vm_reason_name(res.reason), res.detail);
	spp_guard_stats(spp_vm_guard(vm), &st);
	print_message("# %u vCPUs x %llu rounds: %llu trapped stores, %llu "
		      "read-modify-writes redone, %llu unsure; %llu completed "
		      "by KVM, %llu of them read-modify-writes\n",
		      nvcpus, (unsigned long long)iters,
		      (unsigned long long)st.stores,
		      (unsigned long long)st.rmw_redone,
		      (unsigned long long)st.rmw_unsure,
		      (unsigned long long)st.mmio_stores,
		      (unsigned long long)st.mmio_rmw);
	for (i = 0; i < nvcpus; i++)
		sum += box->xadd_sum[i];
	assert_int_equal(c->xadd_ctr, total);
	assert_int_equal(c->cas_ctr, total);
	assert_int_equal(c->locked_ctr, total);
	assert_int_equal(c->inc_ctr, total);
	assert_int_equal(c->add_ctr, 3 * total);
	assert_int_equal(c->lock, 0);
	/* each old value 0 .. total-1 returned exactly once */
	assert_int_equal(sum, total * (total - 1) / 2);
	assert_int_equal(st.rmw_unsure, 0);
	/* the classes add up; the counters are read-modify-writes KVM
	 * completed, and the guard decoded them as such */
	assert_int_equal(st.stores,
			 st.mmio_stores + st.emulated + st.string_elements);
	assert_true(st.mmio_rmw >= total);
	assert_true(st.mmio_rmw <= st.mmio_stores);
	spp_vm_destroy(vm);
}

static void test_counters_2_vcpus(void **state)
{
	(void)state;
	run_counters(2);
}

static void test_counters_4_vcpus(void **state)
{
	(void)state;
	run_counters(4);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_2_vcpus),
		cmocka_unit_test(test_counters_4_vcpus),
	};

	if (spp_kt_no_kvm("test_kvm_atomic"))
		return 0;
	guest = spp_kt_guest(argc, argv, "guest_atomic");
	if (!guest) {
		fprintf(stderr, "usage: test_kvm_atomic .../guest_atomic\n");
		return 2;
	}
	if (getenv("SPP_ATOMIC_ITERS"))
		iters = strtoull(getenv("SPP_ATOMIC_ITERS"), NULL, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
