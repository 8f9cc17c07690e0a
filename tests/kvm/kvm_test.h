/* SPDX-License-Identifier: MIT */
/*
 * kvm_test.h - what the kvm test programs (tests/kvm/test_kvm_*.c)
 * share: the skip without /dev/kvm, finding guest programs among the
 * arguments, an event collector and console for the VM's callbacks, and
 * VM helpers that fail the running cmocka test on an error.
 *
 * Built into each test program with kvm_test.c (tests/kvm/meson.build).
 */
#ifndef SPP_KVM_TEST_H
#define SPP_KVM_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <spp/vm.h>

/* How long spp_kt_run_expect() lets a run take. */
#define SPP_KT_RUN_TIMEOUT_MS 120000

/*
 * spp_kt_no_kvm() - true when /dev/kvm cannot be opened read-write; then
 * it has printed the TAP plan "1..0 # SKIP no /dev/kvm: <why>" (a skip of
 * the whole program; cmocka's skip() would count as a failure) and a line
 * naming @prog on stderr, and main() should return 0.
 */
bool spp_kt_no_kvm(const char *prog);

/*
 * spp_kt_guest() - the argument among @argv[1..@argc-1] whose file name
 * (after the last '/') is @name ("guest_hello"), or NULL.
 */
const char *spp_kt_guest(int argc, char **argv, const char *name);

/*
 * The event collector: spp_kt_on_event as spp_vm_config.event appends
 * each event to spp_kt_events (the first SPP_KT_MAX_EVENTS) and counts
 * all in spp_kt_nevents, under a lock, from the vCPU threads. Read them
 * once the run has ended; reset between runs with spp_kt_events_reset().
 */
#define SPP_KT_MAX_EVENTS 8192
extern struct spp_event spp_kt_events[SPP_KT_MAX_EVENTS];
extern size_t spp_kt_nevents;

void spp_kt_on_event(void *ctx, const struct spp_event *ev);
void spp_kt_events_reset(void);
/* The count so far, also while vCPUs run. */
size_t spp_kt_events_count(void);

/* spp_vm_config.console: the guest's bytes on stderr after "guest: ". */
void spp_kt_on_console(void *ctx, const char *buf, size_t len);

/*
 * spp_kt_vm_create() - a VM made from @cfg with @guest (an ELF file;
 * NULL: none yet) loaded; events reset. Fails the test on an error.
 */
struct spp_vm *spp_kt_vm_create(const struct spp_vm_config *cfg,
				const char *guest);

/* spp_kt_vm_new() - the same for @nvcpus vCPUs under @policy, the
 * console on stderr and events to the collector. */
struct spp_vm *spp_kt_vm_new(const char *guest, unsigned int nvcpus,
			     enum spp_policy policy);

/*
 * spp_kt_run_expect() - run @vm (SPP_KT_RUN_TIMEOUT_MS at most) and fail
 * the test, naming what happened, unless the run ends with @reason. The
 * result goes to @res (may be NULL).
 */
void spp_kt_run_expect(struct spp_vm *vm, enum spp_vm_reason reason,
		       struct spp_vm_result *res);

/* spp_kt_gptr() - the host's view of guest [@gpa, @gpa + @len); fails
 * the test where that is not all RAM. */
void *spp_kt_gptr(struct spp_vm *vm, uint64_t gpa, uint64_t len);

/*
 * spp_kt_guarded_vm() - a KVM VM without vCPUs whose RAM, @size bytes of
 * fresh anonymous memory at guest-physical @gpa, is memslot @slot handed
 * to a new guard (no ops): *@kvm, *@vm, *@ram, *@g. For tests of the
 * guard's and the control socket's API. Fails the test on an error;
 * spp_kt_guarded_vm_free() undoes it.
 */
void spp_kt_guarded_vm(int *kvm, int *vm, void **ram, struct spp_guard **g,
		       uint32_t slot, uint64_t gpa, uint64_t size);
void spp_kt_guarded_vm_free(int kvm, int vm, void *ram, struct spp_guard *g,
			    uint64_t size);

/* spp_kt_now_s() - CLOCK_MONOTONIC in seconds. */
double spp_kt_now_s(void);

#endif /* SPP_KVM_TEST_H */
