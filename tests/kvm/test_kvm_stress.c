// SPDX-License-Identifier: MIT
/*
 * test_kvm_stress.c - several vCPUs hammer protected, toggled and plain
 * words (guests/stress.h) while the host changes maps in a loop.
 *
 * Asserted, for 2 and 4 vCPUs:
 *  - exact counters: each vCPU's `incq` words (in an allowed sub-page of a
 *    protected page, in a page that is protected and unprotected all the
 *    time, in that page's neighbour that traps only while it is protected,
 *    and in plain RAM) end at exactly the number of rounds it ran: no
 *    store lost or doubled by the guard or by a memslot change;
 *  - no protected write lands: a sub-page that is always denied never
 *    changes, and a toggled one keeps its value from the moment SET
 *    returns until the next SET starts;
 *  - no deadlock: everything runs against a deadline; a watchdog ends the
 *    program with a failure (instead of a hang) if any call never returns.
 *
 * SPP_STRESS_ITERS sets the rounds per vCPU (default 1500; a long run:
 * SPP_STRESS_ITERS=200000, see docs/reliability.md). Argument: the guest
 * ELF files (guest_stress is used).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <spp/spp.h>
#include <spp/guest_mem.h>
#include <spp/vm.h>

#include "guests/stress.h"
#include "kvm_test.h"

#define GFN0 (STRESS_P0 >> 12)
#define GFN1 (STRESS_P1 >> 12)
/* P0: counters (0..7) writable, 8..15 always denied, 16..23 toggled */
#define MAP0_DENY 0xFF0000FFu
#define MAP0_ALLOW 0xFFFF00FFu
/* P1 protected: only its counter sub-pages 1..8 writable; sub-page 31 is
 * denied, so P2 traps too while P1 is protected */
#define MAP1 0x000001FEu

static const char *guest_stress;
static unsigned long long iters = 1500;
static unsigned int watchdog_s;
static double test_start; /* written by the test, read by the watchdog */
static bool wd_quit;
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;

static void sleep_us(unsigned int us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000L };

	nanosleep(&ts, NULL);
}

/* Fails the program instead of letting a deadlock hang it: no test may
 * take longer than watchdog_s. */
static void *watchdog(void *arg)
{
	double start;

	(void)arg;
	do {
		sleep(1);
		pthread_mutex_lock(&wd_lock);
		start = test_start;
		if (wd_quit) {
			pthread_mutex_unlock(&wd_lock);
			return NULL;
		}
		pthread_mutex_unlock(&wd_lock);
	} while (spp_kt_now_s() - start < watchdog_s);
	fprintf(stderr, "test_kvm_stress: no progress for %u s: deadlock?\n",
		watchdog_s);
	printf("not ok 99 - watchdog: deadlock or hang\n");
	fflush(stdout);
	_exit(1);
}

struct runner {
	struct spp_vm *vm;
	struct spp_vm_result res;
	int ret;
	int finished; /* the run ended (atomic) */
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;

	r->ret = spp_vm_run(r->vm, (unsigned int)watchdog_s * 1000, &r->res);
	__atomic_store_n(&r->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * A look at guest RAM while vCPUs run: the guest and the guard write it
 * concurrently, on purpose (tests/kvm/tsan.supp names this function).
 */
static uint64_t peek_guest_word(struct spp_vm *vm, uint64_t gpa)
{
	volatile uint64_t *p = spp_guest_mem_ptr(spp_vm_mem(vm), gpa, 8);

	assert_non_null((void *)p);
	return *p;
}

static void stress(unsigned int nvcpus)
{
	struct spp_vm_config cfg = { .nvcpus = nvcpus,
				     .console = spp_kt_on_console };
	struct runner r = { 0 };
	struct stress_ctl *ctl;
	struct spp_guard *g;
	struct spp_guard_stats st;
	uint64_t snap0[STRESS_MAX_VCPUS], snap1[STRESS_MAX_VCPUS];
	unsigned long long rounds = 0, landed = 0;
	double start = spp_kt_now_s(), deadline = start + watchdog_s - 30;
	unsigned int i, k;
	bool all_done = false;
	pthread_t t;

	pthread_mutex_lock(&wd_lock);
	test_start = start;
	pthread_mutex_unlock(&wd_lock);
	assert_non_null(guest_stress);
	r.vm = spp_kt_vm_create(&cfg, guest_stress);
	g = spp_vm_guard(r.vm);
	ctl = spp_guest_mem_ptr(spp_vm_mem(r.vm), STRESS_CTL, sizeof(*ctl));
	assert_non_null(ctl);
	ctl->iters = iters;
	assert_int_equal(spp_guard_set_range(g, GFN0, 1, MAP0_DENY), 0);
	assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);

	/* until every vCPU is done, the run ends early (a failure reported
	 * below) or the deadline passes */
	while (!all_done && spp_kt_now_s() < deadline &&
	       !__atomic_load_n(&r.finished, __ATOMIC_ACQUIRE)) {
		/* protected phase: from SET's return to the next SET */
		assert_int_equal(spp_guard_set_range(g, GFN0, 1, MAP0_DENY), 0);
		assert_int_equal(spp_guard_set_range(g, GFN1, 1, MAP1), 0);
		for (i = 0; i < nvcpus; i++) {
			snap0[i] = peek_guest_word(r.vm,
						   STRESS_P0 + 128 * (16 + i));
			snap1[i] = peek_guest_word(r.vm,
						   STRESS_P1 + 128 * (20 + i));
		}
		sleep_us(1500);
		all_done = true;
		for (i = 0; i < nvcpus; i++) {
			assert_int_equal(
				peek_guest_word(r.vm,
						STRESS_P0 + 128 * (16 + i)),
				snap0[i]);
			assert_int_equal(
				peek_guest_word(r.vm,
						STRESS_P1 + 128 * (20 + i)),
				snap1[i]);
			assert_int_equal(
				peek_guest_word(r.vm,
						STRESS_P0 + 128 * (8 + i)),
				0);
			if (ctl->done[i] != iters)
				all_done = false;
		}
		/* open phase */
		assert_int_equal(spp_guard_set_range(g, GFN0, 1, MAP0_ALLOW),
				 0);
		assert_int_equal(
			spp_guard_set_range(g, GFN1, 1, SPP_ACCESS_FULL), 0);
		sleep_us(1500);
		/* a store lands in the opened sub-page (waiting up to 200 ms
		 * for one, unless the vCPUs are done) */
		for (k = 0; k < 200; k++) {
			unsigned int changed = 0;

			for (i = 0; i < nvcpus; i++)
				if (peek_guest_word(
					    r.vm, STRESS_P0 + 128 * (16 + i)) !=
				    snap0[i])
					changed++;
			if (changed || all_done ||
			    __atomic_load_n(&r.finished, __ATOMIC_ACQUIRE)) {
				landed += changed;
				break;
			}
			sleep_us(1000);
		}
		rounds++;
	}
	spp_vm_interrupt(r.vm);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(r.ret, 0);
	if (r.res.reason != SPP_VM_INTERRUPTED)
		fail_msg("run ended with %s (%s)",
			 spp_vm_reason_name(r.res.reason), r.res.detail);
	for (i = 0; i < nvcpus; i++) {
		if (ctl->done[i] != iters)
			fail_msg("vCPU %u: %llu of %llu rounds by the deadline",
				 i, (unsigned long long)ctl->done[i], iters);
		assert_int_equal(peek_guest_word(r.vm, STRESS_P0 + 128 * i),
				 iters);
		assert_int_equal(peek_guest_word(r.vm,
						 STRESS_P1 + 128 * (1 + i)),
				 iters);
		assert_int_equal(peek_guest_word(r.vm, STRESS_P2 + 128 * i),
				 iters);
		assert_int_equal(peek_guest_word(r.vm, STRESS_PLAIN + 8 * i),
				 iters);
		assert_int_equal(
			peek_guest_word(r.vm, STRESS_P0 + 128 * (8 + i)), 0);
	}
	spp_guard_stats(g, &st);
	/* every round's always-denied store was seen and dropped */
	assert_true(st.denied >= nvcpus * iters);
	assert_true(landed > 0); /* the toggle really opened the sub-page */
	printf("# %u vCPUs x %llu rounds: %llu host toggle rounds, %llu exits,"
	       " %llu denied, %llu slot changes, %.1f s\n",
	       nvcpus, iters, rounds, (unsigned long long)st.exits,
	       (unsigned long long)st.denied,
	       (unsigned long long)st.slot_changes, spp_kt_now_s() - start);
	spp_vm_destroy(r.vm);
}

static void test_stress_2_vcpus(void **state)
{
	(void)state;
	stress(2);
}

static void test_stress_4_vcpus(void **state)
{
	(void)state;
	stress(4);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stress_2_vcpus),
		cmocka_unit_test(test_stress_4_vcpus),
	};
	pthread_t w;
	int ret;

	if (spp_kt_no_kvm("test_kvm_stress"))
		return 0;
	guest_stress = spp_kt_guest(argc, argv, "guest_stress");
	if (getenv("SPP_STRESS_ITERS"))
		iters = strtoull(getenv("SPP_STRESS_ITERS"), NULL, 0);
	if (!iters)
		iters = 1;
	/* CI: ~10-45 s per test in the TCG VM (also under valgrind, TSan) */
	watchdog_s = (unsigned int)(iters / 10 + 120);
	test_start = spp_kt_now_s();
	if (pthread_create(&w, NULL, watchdog, NULL))
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	pthread_mutex_lock(&wd_lock);
	wd_quit = true;
	pthread_mutex_unlock(&wd_lock);
	pthread_join(w, NULL);
	return ret;
}
