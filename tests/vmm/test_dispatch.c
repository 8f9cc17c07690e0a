// SPDX-License-Identifier: MIT
/*
 * test_dispatch.c - the VMM's exit dispatch (src/vmm/vm_priv.h) and its
 * devices (doorbell, ports), without KVM: a VM structure with no vCPU
 * threads and a hand-made kvm_run, fed to spp_vmm_dispatch().
 *
 * Checked: registration errors; handlers asked in registration order,
 * only for their exit reason and range, with the offset in it; PASS goes
 * on, AGAIN dispatches the new exit, an exit nobody takes ends the run as
 * UNHANDLED with the texts users see; the doorbell's operations, unknown
 * offsets and non-8-byte accesses; the console and exit ports; PROTECT
 * refusals written back to the guest's request.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <spp/guest_abi.h>
#include <spp/guest_mem.h>
#include <spp/layout.h>

#include "vmm/vm_priv.h"

#define RAM_GPA SPP_LAYOUT_LOAD_BASE /* a little RAM, for PUTS/PROTECT */
#define RAM_LEN 0x2000

struct fx {
	struct spp_vm vm;
	struct spp_vcpu v;
	union {
		struct kvm_run run;
		uint8_t bytes[8192]; /* port data after the structure */
	} r;
	uint8_t ram[RAM_LEN] __attribute__((aligned(4096)));
	char console[64];
	size_t console_len;
	char calls[16]; /* which test handlers ran, in order */
	uint64_t offs[16];
	size_t ncalls;
};

static void capture(void *ctx, const char *buf, size_t len)
{
	struct fx *f = ctx;

	assert_true(f->console_len + len < sizeof(f->console));
	memcpy(f->console + f->console_len, buf, len);
	f->console_len += len;
}

static int setup(void **state)
{
	struct fx *f = NULL;

	/* aligned as struct fx's RAM wants */
	assert_int_equal(posix_memalign((void **)&f, 4096, sizeof(*f)), 0);
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->vm.lock, NULL);
	pthread_cond_init(&f->vm.cond, NULL);
	f->vm.ram_size = SPP_LAYOUT_RAM_MIN;
	f->vm.cfg.console = capture;
	f->vm.cfg.ctx = f;
	spp_guest_mem_init(&f->vm.mem);
	assert_int_equal(
		spp_guest_mem_add(&f->vm.mem, RAM_GPA, RAM_LEN, f->ram), 0);
	f->v.vm = &f->vm;
	f->v.index = 3;
	f->v.fd = -1; /* no vCPU: its RIP reads as 0 */
	f->v.run = &f->r.run;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	pthread_cond_destroy(&f->vm.cond);
	pthread_mutex_destroy(&f->vm.lock);
	free(f);
	return 0;
}

/* The run's result so far (reason -1: none), and a fresh run. */
static struct spp_vm_result take(struct fx *f)
{
	struct spp_vm_result r = f->vm.result;

	if (!f->vm.ended)
		r.reason = (enum spp_vm_reason) - 1;
	memset(&f->vm.result, 0, sizeof(f->vm.result));
	f->vm.ended = false;
	f->vm.have_held = false;
	f->console_len = 0;
	f->ncalls = 0;
	return r;
}

static void mmio(struct fx *f, uint64_t gpa, uint32_t len, bool write,
		 uint64_t val)
{
	memset(&f->r.run, 0, sizeof(f->r.run));
	f->r.run.exit_reason = KVM_EXIT_MMIO;
	f->r.run.mmio.phys_addr = gpa;
	f->r.run.mmio.len = len;
	f->r.run.mmio.is_write = write;
	memcpy(f->r.run.mmio.data, &val, sizeof(val));
	spp_vmm_dispatch(&f->v);
}

static void port(struct fx *f, uint16_t p, bool out, const char *data)
{
	memset(&f->r.run, 0, sizeof(f->r.run));
	f->r.run.exit_reason = KVM_EXIT_IO;
	f->r.run.io.port = p;
	f->r.run.io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
	f->r.run.io.size = 1;
	f->r.run.io.count = (uint32_t)strlen(data);
	f->r.run.io.data_offset = sizeof(f->r.run);
	memcpy(f->r.bytes + sizeof(f->r.run), data, strlen(data));
	spp_vmm_dispatch(&f->v);
}

static void doorbell(struct fx *f, uint64_t off, uint64_t arg)
{
	mmio(f, SPP_LAYOUT_DOORBELL + off, 8, true, arg);
}

static void assert_result(struct fx *f, enum spp_vm_reason reason,
			  const char *detail)
{
	struct spp_vm_result r = take(f);

	if (r.reason != reason || strcmp(r.detail, detail))
		fail_msg("result %d \"%s\", want %d \"%s\"", r.reason, r.detail,
			 reason, detail);
	assert_int_equal(r.vcpu, 3);
}

/* ---- test handlers: record the call, answer per their context ---------- */

static enum spp_vmm_ret record(struct spp_vcpu *v, uint64_t off, void *ctx)
{
	struct fx *f = (struct fx *)((char *)v - offsetof(struct fx, v));
	const char *how = ctx; /* "<letter><answer>": P, D or A */

	f->calls[f->ncalls] = how[0];
	f->offs[f->ncalls++] = off;
	if (how[1] == 'A') {
		v->run->exit_reason = KVM_EXIT_HLT;
		return SPP_VMM_AGAIN;
	}
	return how[1] == 'P' ? SPP_VMM_PASS : SPP_VMM_DONE;
}

static void reg(struct fx *f, uint32_t reason, uint64_t base, uint64_t size,
		const char *how)
{
	struct spp_vmm_handler h = { how,  reason, base,
				     size, record, (void *)how };

	assert_int_equal(spp_vmm_register(&f->vm, &h), 0);
}

static void test_register_bad(void **state)
{
	struct fx *f = *state;
	struct spp_vmm_handler h = { "x", KVM_EXIT_MMIO, 0, 0, NULL, NULL };
	unsigned int i;

	assert_int_equal(spp_vmm_register(&f->vm, &h), -EINVAL); /* no fn */
	h.fn = record;
	h.exit_reason = KVM_EXIT_HLT;
	h.size = 1; /* a range only for MMIO and IO */
	assert_int_equal(spp_vmm_register(&f->vm, &h), -EINVAL);
	h.exit_reason = KVM_EXIT_MMIO;
	h.base = UINT64_MAX; /* wraps */
	h.size = 2;
	assert_int_equal(spp_vmm_register(&f->vm, &h), -EINVAL);
	assert_int_equal(f->vm.nhandlers, 0);
	h.base = 0;
	for (i = 0; i < SPP_VMM_MAX_HANDLERS; i++)
		assert_int_equal(spp_vmm_register(&f->vm, &h), 0);
	assert_int_equal(spp_vmm_register(&f->vm, &h), -ENOSPC);
}

static void test_order_ranges(void **state)
{
	struct fx *f = *state;

	reg(f, KVM_EXIT_MMIO, 0, 0, "aP"); /* every MMIO exit, passes */
	reg(f, KVM_EXIT_IO, 0x80, 4, "bD");
	reg(f, KVM_EXIT_MMIO, 0x1000, 0x1000, "cD");
	reg(f, KVM_EXIT_MMIO, 0x1000, 0x2000, "dD"); /* behind c */

	mmio(f, 0x1800, 4, true, 0);
	assert_int_equal(f->ncalls, 2);
	assert_memory_equal(f->calls, "ac", 2);
	assert_int_equal(f->offs[0], 0);
	assert_int_equal(f->offs[1], 0x800);
	assert_int_equal(take(f).reason, (enum spp_vm_reason) - 1);

	mmio(f, 0x2800, 4, true, 0); /* beyond c: d */
	assert_int_equal(f->ncalls, 2);
	assert_memory_equal(f->calls, "ad", 2);
	assert_int_equal(f->offs[1], 0x1800);
	take(f);

	port(f, 0x83, true, "x");
	assert_int_equal(f->ncalls, 1);
	assert_int_equal(f->calls[0], 'b');
	assert_int_equal(f->offs[0], 3);
	take(f);

	/* nobody's: the texts of spp_vm_result.detail */
	mmio(f, 0x3000, 4, true, 0);
	assert_int_equal(f->ncalls, 1); /* a, who passed */
	assert_result(f, SPP_VM_UNHANDLED, "write to unmapped GPA 0x3000");
	mmio(f, 0x3000, 4, false, 0);
	assert_result(f, SPP_VM_UNHANDLED, "read of unmapped GPA 0x3000");
	port(f, 0x84, true, "x");
	assert_int_equal(f->ncalls, 0);
	assert_result(f, SPP_VM_UNHANDLED, "port 0x84");
	f->r.run.exit_reason = KVM_EXIT_DEBUG;
	spp_vmm_dispatch(&f->v);
	assert_result(f, SPP_VM_UNHANDLED, "KVM exit reason 4");
}

static void test_again(void **state)
{
	struct fx *f = *state;
	struct spp_vm_result r;

	reg(f, KVM_EXIT_MMIO, 0, 0, "aA"); /* done, and the next exit: HLT */
	reg(f, KVM_EXIT_MMIO, 0, 0, "bD"); /* not asked */
	reg(f, KVM_EXIT_HLT, 0, 0, "cD");
	mmio(f, 0x1000, 4, true, 0);
	assert_int_equal(f->ncalls, 2);
	assert_memory_equal(f->calls, "ac", 2);
	r = take(f);
	assert_int_equal(r.reason, (enum spp_vm_reason) - 1);
}

/* ---- devices ------------------------------------------------------------ */

static void test_doorbell(void **state)
{
	struct fx *f = *state;
	struct spp_vm_result r;
	char buf[64];

	assert_int_equal(spp_vmm_devices_init(&f->vm), 0);
	doorbell(f, SPP_DOORBELL_PUTC, 'x' | 0x100);
	assert_int_equal(f->console_len, 1);
	assert_int_equal(f->console[0], 'x');
	assert_int_equal(take(f).reason, (enum spp_vm_reason) - 1);

	strcpy((char *)f->ram + 16, "hello");
	doorbell(f, SPP_DOORBELL_PUTS, RAM_GPA + 16);
	assert_int_equal(f->console_len, 5);
	assert_memory_equal(f->console, "hello", 5);
	take(f);
	f->ram[RAM_LEN - 2] = 'a'; /* no NUL before the end of RAM */
	f->ram[RAM_LEN - 1] = 'b';
	doorbell(f, SPP_DOORBELL_PUTS, RAM_GPA + RAM_LEN - 2);
	snprintf(buf, sizeof(buf), "PUTS string at 0x%llx leaves RAM",
		 (unsigned long long)(RAM_GPA + RAM_LEN - 2));
	assert_result(f, SPP_VM_UNHANDLED, buf);

	doorbell(f, SPP_DOORBELL_EXIT, 0x103);
	r = f->vm.result;
	assert_int_equal(r.status, 7);
	assert_result(f, SPP_VM_EXIT, "guest exit 7");
	doorbell(f, SPP_DOORBELL_SYNC, 42);
	r = f->vm.result;
	assert_int_equal(r.value, 42);
	assert_result(f, SPP_VM_SYNC, "sync 42");
	doorbell(f, SPP_DOORBELL_EXCEPTION, 0x1234);
	assert_result(f, SPP_VM_EXCEPTION, "bad exception report at 0x1234");

	/* offsets without an operation, accesses that are not 8-byte
	 * writes */
	doorbell(f, 0x30, 0);
	r = f->vm.result;
	assert_int_equal(r.addr, 0x30);
	assert_result(f, SPP_VM_UNHANDLED, "unknown doorbell offset 0x30");
	doorbell(f, 0x04, 0);
	assert_result(f, SPP_VM_UNHANDLED, "unknown doorbell offset 0x4");
	mmio(f, SPP_LAYOUT_DOORBELL + SPP_DOORBELL_EXIT, 4, true, 1);
	assert_result(f, SPP_VM_UNHANDLED, "write to unmapped GPA 0xffffff010");
	mmio(f, SPP_LAYOUT_DOORBELL, 8, false, 0);
	assert_result(f, SPP_VM_UNHANDLED, "read of unmapped GPA 0xffffff000");
}

static void test_doorbell_protect(void **state)
{
	struct fx *f = *state;
	struct spp_protect_req *req = (struct spp_protect_req *)f->ram;

	assert_int_equal(spp_vmm_devices_init(&f->vm), 0);
	req->gpa = 0x1000; /* spp's system area */
	req->map = 0;
	doorbell(f, SPP_DOORBELL_PROTECT, RAM_GPA);
	assert_int_equal(req->result, -EPERM);
	req->gpa = SPP_LAYOUT_RAM_MIN; /* beyond RAM */
	doorbell(f, SPP_DOORBELL_PROTECT, RAM_GPA);
	assert_int_equal(req->result, -EFAULT);
	req->gpa = RAM_GPA + 5; /* protectable: the guard's answer (none) */
	doorbell(f, SPP_DOORBELL_PROTECT, RAM_GPA);
	assert_int_equal(req->result, -EINVAL);
	assert_int_equal(take(f).reason, (enum spp_vm_reason) - 1);
	doorbell(f, SPP_DOORBELL_PROTECT, RAM_GPA + RAM_LEN - 4);
	assert_result(f, SPP_VM_UNHANDLED,
		      "PROTECT request at 0x401ffc leaves RAM");
}

static void test_ports(void **state)
{
	struct fx *f = *state;
	struct spp_vm_result r;

	assert_int_equal(spp_vmm_devices_init(&f->vm), 0);
	port(f, SPP_LAYOUT_PORT_CONSOLE, true, "ab");
	assert_int_equal(f->console_len, 2);
	assert_memory_equal(f->console, "ab", 2);
	assert_int_equal(take(f).reason, (enum spp_vm_reason) - 1);
	port(f, SPP_LAYOUT_PORT_CONSOLE, false, "a");
	assert_result(f, SPP_VM_UNHANDLED, "port 0xe9");
	port(f, SPP_LAYOUT_PORT_EXIT, true, "\x05");
	r = f->vm.result;
	assert_int_equal(r.status, 11);
	assert_result(f, SPP_VM_EXIT, "guest exit 11");
	port(f, SPP_LAYOUT_PORT_EXIT, false, "\x05");
	assert_result(f, SPP_VM_UNHANDLED, "port 0xf4");
}

static void test_first_result_wins(void **state)
{
	struct fx *f = *state;

	assert_int_equal(spp_vmm_devices_init(&f->vm), 0);
	doorbell(f, SPP_DOORBELL_SYNC, 1);
	doorbell(f, SPP_DOORBELL_SYNC, 2);
	assert_result(f, SPP_VM_SYNC, "sync 1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_bad, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_order_ranges, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doorbell, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doorbell_protect, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_result_wins, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
