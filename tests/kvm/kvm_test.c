// SPDX-License-Identifier: MIT
/*
 * kvm_test.c - helpers shared by the kvm test programs (kvm_test.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/kvm.h>

#include <spp/guest_mem.h>

#include "kvm_test.h"

bool spp_kt_no_kvm(const char *prog)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	const char *why;

	if (fd >= 0) {
		close(fd);
		return false;
	}
	why = strerror(errno);
	printf("1..0 # SKIP no /dev/kvm: %s\n", why);
	fprintf(stderr,
		"%s: SKIPPED: no /dev/kvm: %s (tests/run runs the kvm suite "
		"in a VM then, see docs/testing.md)\n",
		prog, why);
	return true;
}

const char *spp_kt_guest(int argc, char **argv, const char *name)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *b = strrchr(argv[i], '/');

		if (!strcmp(b ? b + 1 : argv[i], name))
			return argv[i];
	}
	return NULL;
}

struct spp_event spp_kt_events[SPP_KT_MAX_EVENTS];
size_t spp_kt_nevents;
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;

void spp_kt_on_event(void *ctx, const struct spp_event *ev)
{
	(void)ctx;
	pthread_mutex_lock(&ev_lock);
	if (spp_kt_nevents < SPP_KT_MAX_EVENTS)
		spp_kt_events[spp_kt_nevents] = *ev;
	spp_kt_nevents++;
	pthread_mutex_unlock(&ev_lock);
}

void spp_kt_events_reset(void)
{
	pthread_mutex_lock(&ev_lock);
	spp_kt_nevents = 0;
	pthread_mutex_unlock(&ev_lock);
}

size_t spp_kt_events_count(void)
{
	size_t n;

	pthread_mutex_lock(&ev_lock);
	n = spp_kt_nevents;
	pthread_mutex_unlock(&ev_lock);
	return n;
}

void spp_kt_on_console(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	fprintf(stderr, "guest: %.*s", (int)len, buf);
}

struct spp_vm *spp_kt_vm_create(const struct spp_vm_config *cfg,
				const char *guest)
{
	struct spp_vm *vm = NULL;

	assert_int_equal(spp_vm_create(&vm, cfg), 0);
	if (guest)
		assert_int_equal(spp_vm_load_elf_file(vm, guest), 0);
	spp_kt_events_reset();
	return vm;
}

struct spp_vm *spp_kt_vm_new(const char *guest, unsigned int nvcpus,
			     enum spp_policy policy)
{
	struct spp_vm_config cfg = {
		.nvcpus = nvcpus,
		.policy = policy,
		.console = spp_kt_on_console,
		.event = spp_kt_on_event,
	};

	assert_non_null(guest);
	return spp_kt_vm_create(&cfg, guest);
}

void spp_kt_run_expect(struct spp_vm *vm, enum spp_vm_reason reason,
		       struct spp_vm_result *res)
{
	struct spp_vm_result r;

	if (!res)
		res = &r;
	assert_int_equal(spp_vm_run(vm, SPP_KT_RUN_TIMEOUT_MS, res), 0);
	if (res->reason != reason)
		fail_msg("run ended with %s (%s), expected %s",
			 spp_vm_reason_name(res->reason), res->detail,
			 spp_vm_reason_name(reason));
}

void *spp_kt_gptr(struct spp_vm *vm, uint64_t gpa, uint64_t len)
{
	void *p = spp_guest_mem_ptr(spp_vm_mem(vm), gpa, len);

	assert_non_null(p);
	return p;
}

double spp_kt_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void spp_kt_guarded_vm(int *kvm, int *vm, void **ram, struct spp_guard **g,
		       uint32_t slot, uint64_t gpa, uint64_t size)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
	};

	*kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	assert_true(*kvm >= 0);
	*vm = ioctl(*kvm, KVM_CREATE_VM, 0);
	assert_true(*vm >= 0);
	*ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(*ram != MAP_FAILED);
	r.userspace_addr = (uint64_t)(uintptr_t)*ram;
	assert_int_equal(ioctl(*vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	assert_int_equal(spp_guard_create(g, *vm, NULL, NULL), 0);
	assert_int_equal(spp_guard_add_memory(*g, slot, gpa, size, *ram), 0);
}

void spp_kt_guarded_vm_free(int kvm, int vm, void *ram, struct spp_guard *g,
			    uint64_t size)
{
	spp_guard_destroy(g);
	close(vm);
	close(kvm);
	munmap(ram, size);
}
