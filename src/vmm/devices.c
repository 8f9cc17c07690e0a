// SPDX-License-Identifier: MIT
/*
 * devices.c - the guest's devices of the built-in VMM: the doorbell page
 * (one operation per offset, spp/guest_abi.h) and the console and exit
 * ports, each an exit handler (vm_priv.h).
 */
#include <errno.h>
#include <string.h>

#include <spp/exc.h>
#include <spp/guest_abi.h>
#include <spp/guest_mem.h>
#include <spp/layout.h>

#include "vm_priv.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void console(struct spp_vm *vm, const char *buf, size_t len)
{
	if (vm->cfg.console && len)
		vm->cfg.console(vm->cfg.ctx, buf, len);
}

static void guest_exit(struct spp_vcpu *v, uint64_t v8)
{
	int status = (int)SPP_LAYOUT_EXIT_STATUS(v8 & 0xff);

	spp_vmm_end(v,
		    &(struct spp_vm_result){ .reason = SPP_VM_EXIT,
					     .status = status },
		    "guest exit %d", status);
}

/* ---- the doorbell: an operation per offset ----------------------------- */

static void doorbell_putc(struct spp_vcpu *v, uint64_t arg)
{
	char c = (char)arg;

	console(v->vm, &c, 1);
}

static void doorbell_puts(struct spp_vcpu *v, uint64_t gpa)
{
	struct spp_vm *vm = v->vm;
	size_t n;

	for (n = 0; n < SPP_PUTS_MAX; n++) {
		const char *c = spp_guest_mem_ptr(&vm->mem, gpa + n, 1);

		if (!c) {
			spp_vmm_unhandled(v, gpa,
					  "PUTS string at 0x%llx leaves RAM",
					  (unsigned long long)gpa);
			return;
		}
		if (!*c)
			break;
	}
	console(vm, spp_guest_mem_ptr(&vm->mem, gpa, n ? n : 1), n);
}

static void doorbell_exit(struct spp_vcpu *v, uint64_t arg)
{
	guest_exit(v, arg);
}

static void doorbell_sync(struct spp_vcpu *v, uint64_t arg)
{
	spp_vmm_end(v,
		    &(struct spp_vm_result){ .reason = SPP_VM_SYNC,
					     .value = arg },
		    "sync %llu", (unsigned long long)arg);
}

static void doorbell_protect(struct spp_vcpu *v, uint64_t gpa)
{
	struct spp_vm *vm = v->vm;
	struct spp_protect_req *req =
		spp_guest_mem_ptr(&vm->mem, gpa, sizeof(*req));
	struct spp_protect_req copy;
	int ret;

	if (!req) {
		spp_vmm_unhandled(v, gpa,
				  "PROTECT request at 0x%llx leaves RAM",
				  (unsigned long long)gpa);
		return;
	}
	memcpy(&copy, req, sizeof(copy));
	/* What a host rule may not protect, a guest may not either: the
	 * same check as the CLI's (spp_layout_protectable), the whole page. */
	switch (spp_layout_protectable(copy.gpa & ~(SPP_PAGE_SIZE - 1),
				       (copy.gpa | (SPP_PAGE_SIZE - 1)) + 1,
				       vm->ram_size)) {
	case SPP_LAYOUT_PROTECTABLE:
		break;
	case SPP_LAYOUT_BEYOND_RAM:
		copy.result = -EFAULT;
		memcpy(&req->result, &copy.result, sizeof(copy.result));
		return;
	default:
		copy.result = -EPERM;
		memcpy(&req->result, &copy.result, sizeof(copy.result));
		return;
	}
	spp_vmm_call_begin(v);
	ret = spp_guard_protect_add(vm->guard, copy.gpa >> SPP_PAGE_SHIFT,
				    copy.map);
	spp_vmm_call_end(v);
	copy.result = ret;
	memcpy(&req->result, &copy.result, sizeof(copy.result));
}

static void doorbell_exception(struct spp_vcpu *v, uint64_t gpa)
{
	struct spp_vm_result r = { .reason = SPP_VM_EXCEPTION };

	/* The report must be this vCPU's slot, complete (magic last). */
	if (gpa == spp_exc_report_gpa(v->index) &&
	    spp_exc_report_take(&v->vm->mem, gpa, &r.exc) == 1) {
		char text[sizeof(r.detail)];

		r.rip = r.exc.rip;
		spp_exc_format(&r.exc, text, sizeof(text));
		spp_vmm_end(v, &r, "%s", text);
	} else {
		spp_vmm_end(v, &r, "bad exception report at 0x%llx",
			    (unsigned long long)gpa);
	}
}

/* The doorbell's operations by offset / 8 (all offsets are 8-aligned). */
static void (*const doorbell_ops[])(struct spp_vcpu *v, uint64_t arg) = {
	[SPP_DOORBELL_PUTC / 8] = doorbell_putc,
	[SPP_DOORBELL_PUTS / 8] = doorbell_puts,
	[SPP_DOORBELL_EXIT / 8] = doorbell_exit,
	[SPP_DOORBELL_SYNC / 8] = doorbell_sync,
	[SPP_DOORBELL_PROTECT / 8] = doorbell_protect,
	[SPP_DOORBELL_EXCEPTION / 8] = doorbell_exception,
};

/* Any 8-byte write into the doorbell page; other accesses are not ours. */
static enum spp_vmm_ret doorbell(struct spp_vcpu *v, uint64_t off, void *ctx)
{
	struct kvm_run *run = v->run;
	uint64_t arg;

	(void)ctx;
	if (!run->mmio.is_write || run->mmio.len != 8)
		return SPP_VMM_PASS;
	memcpy(&arg, run->mmio.data, 8);
	if (off % 8 == 0 && off / 8 < ARRAY_SIZE(doorbell_ops) &&
	    doorbell_ops[off / 8])
		doorbell_ops[off / 8](v, arg);
	else
		spp_vmm_unhandled(v, off, "unknown doorbell offset 0x%llx",
				  (unsigned long long)off);
	return SPP_VMM_DONE;
}

/* ---- ports -------------------------------------------------------------- */

static enum spp_vmm_ret port_console(struct spp_vcpu *v, uint64_t off,
				     void *ctx)
{
	struct kvm_run *run = v->run;

	(void)off;
	(void)ctx;
	if (run->io.direction != KVM_EXIT_IO_OUT)
		return SPP_VMM_PASS;
	console(v->vm, (const char *)run + run->io.data_offset,
		(size_t)run->io.size * run->io.count);
	return SPP_VMM_DONE;
}

static enum spp_vmm_ret port_exit(struct spp_vcpu *v, uint64_t off, void *ctx)
{
	struct kvm_run *run = v->run;

	(void)off;
	(void)ctx;
	if (run->io.direction != KVM_EXIT_IO_OUT)
		return SPP_VMM_PASS;
	guest_exit(v, ((const uint8_t *)run + run->io.data_offset)[0]);
	return SPP_VMM_DONE;
}

int spp_vmm_devices_init(struct spp_vm *vm)
{
	static const struct spp_vmm_handler devices[] = {
		{ "doorbell", KVM_EXIT_MMIO, SPP_LAYOUT_DOORBELL,
		  SPP_LAYOUT_DOORBELL_SIZE, doorbell, NULL },
		{ "console port", KVM_EXIT_IO, SPP_LAYOUT_PORT_CONSOLE, 1,
		  port_console, NULL },
		{ "exit port", KVM_EXIT_IO, SPP_LAYOUT_PORT_EXIT, 1, port_exit,
		  NULL },
	};
	size_t i;
	int ret = 0;

	for (i = 0; i < ARRAY_SIZE(devices) && !ret; i++)
		ret = spp_vmm_register(vm, &devices[i]);
	return ret;
}
