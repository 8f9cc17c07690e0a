// SPDX-License-Identifier: MIT
/*
 * shim.c - libspp-qemu.so's ioctl(): QEMU's VM, vCPUs and memslots as the
 * guard needs them (see shim.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <spp/x86.h>

#include "kvm/kvm_ioctl.h"
#include "shim.h"

/* Newer than Debian 12's headers: KVM_SET_USER_MEMORY_REGION2 (6.8). */
struct shim_region2 {
	uint32_t slot;
	uint32_t flags;
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t guest_memfd_offset;
	uint32_t guest_memfd;
	uint32_t pad1;
	uint64_t pad2[14];
};
#define SHIM_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct shim_region2)
#define SHIM_CAP_DIRTY_LOG_RING 192
#define SHIM_CAP_DIRTY_LOG_RING_ACQ_REL 223
#define SHIM_CAP_GUEST_MEMFD 234
#define SHIM_CAP_EXIT_ON_EMULATION_FAILURE 204

struct shim shim = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.kvm_fd = -1,
	.vm_fd = -1,
};

/* The RAM slots the guard holds, as QEMU made them (to tell a flags
 * change from a new slot under an old id). */
struct shim_slot {
	uint32_t slot;
	uint64_t gpa, size, hva;
};
#define SHIM_MAX_SLOTS 256
static struct shim_slot slots[SHIM_MAX_SLOTS];
static unsigned int nslots;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

void shim_say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* one write: lines of several threads do not mix */
	if (write(STDERR_FILENO, "spp qemu: ", 10) < 0 ||
	    write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

long shim_ioctl(int fd, unsigned long req, void *arg)
{
	return syscall(SYS_ioctl, fd, req, arg);
}

/* -1 and errno from a negative errno; else @ret. */
static int fail(int neg)
{
	errno = -neg;
	return -1;
}

__attribute__((constructor)) static void shim_init(void)
{
	const char *hold = getenv("SPP_QEMU_HOLD");

	shim.control = getenv("SPP_QEMU_CONTROL");
	if (shim.control && !*shim.control)
		shim.control = NULL;
	shim.hold = hold && !strcmp(hold, "1");
	shim.started = !shim.hold;
}

/* ---- the VM ------------------------------------------------------------- */

int shim_control_open(void)
{
	struct spp_ctl *c;
	int ret;

	ret = spp_ctl_create(&c, shim.control, shim.g, &shim_ctl_ops, &shim);
	if (ret) {
		shim_say("control socket %s: %s", shim.control, strerror(-ret));
		return ret;
	}
	__atomic_store_n(&shim.ctl, c, __ATOMIC_RELEASE);
	return 0;
}

static const struct spp_guard_ops guard_ops = {
	.pause = shim_pause,
	.resume = shim_resume,
	.event = shim_event,
};

/* QEMU created VM @vm_fd on @kvm_fd: the guard and the control socket. */
static int vm_created(int kvm_fd, int vm_fd)
{
	struct kvm_enable_cap cap = {
		.cap = SHIM_CAP_EXIT_ON_EMULATION_FAILURE,
		.args = { 1 },
	};
	int nr, ret;

	nr = (int)shim_ioctl(vm_fd, KVM_CHECK_EXTENSION,
			     (void *)(long)KVM_CAP_NR_MEMSLOTS);
	if (nr <= 2 * SHIM_RESERVED_SLOTS) {
		shim_say("KVM offers %d memslots, spp needs more than %d", nr,
			 2 * SHIM_RESERVED_SLOTS);
		return -EOPNOTSUPP;
	}
	shim.nr_memslots = nr;
	shim.run_size = (int)shim_ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (shim.run_size < (int)sizeof(struct kvm_run)) {
		shim_say("KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
		return -EIO;
	}
	ret = spp_guard_create(&shim.g, vm_fd, &guard_ops, &shim);
	if (ret) {
		shim_say("cannot guard this VM: %s%s", strerror(-ret),
			 ret == -EOPNOTSUPP ?
				 " (KVM lacks read-only memslots)" :
				 "");
		return ret;
	}
	ret = spp_guard_set_slot_range(shim.g,
				       (uint32_t)nr - SHIM_RESERVED_SLOTS,
				       SHIM_RESERVED_SLOTS);
	if (ret) {
		shim_say("cannot reserve memslots: %s", strerror(-ret));
		goto fail_guard;
	}
	/* Stores KVM's emulator lacks come to spp instead of #UD (5.14+);
	 * without it they reach QEMU as an emulation failure. */
	if (shim_ioctl(vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		shim_say(
			"KVM_CAP_EXIT_ON_EMULATION_FAILURE unavailable: SSE/AVX "
			"stores into trapped pages will fail");
	shim.kvm_fd = kvm_fd;
	shim.vm_fd = vm_fd;
	/* With hold, the socket comes once QEMU runs its first vCPU: all of
	 * its RAM is mapped then, so a client can protect it at once. */
	if (!shim.hold) {
		ret = shim_control_open();
		if (ret) {
			shim.vm_fd = -1;
			goto fail_guard;
		}
	}
	return 0;

fail_guard:
	spp_guard_destroy(shim.g);
	shim.g = NULL;
	return ret;
}

__attribute__((destructor)) static void shim_exit(void)
{
	struct spp_ctl *c;

	pthread_mutex_lock(&shim.lock);
	c = shim.ctl;
	shim.ctl = NULL; /* shim_event() stops feeding it */
	pthread_mutex_unlock(&shim.lock);
	/* The guard stays: vCPU threads may still be inside it. */
	spp_ctl_destroy(c);
}

/* ---- vCPUs -------------------------------------------------------------- */

static struct shim_vcpu *vcpu_of(int fd)
{
	unsigned int i, n = __atomic_load_n(&shim.nvcpus, __ATOMIC_ACQUIRE);

	for (i = 0; i < n; i++)
		if (shim.vcpus[i]->fd == fd)
			return shim.vcpus[i];
	return NULL;
}

static void vcpu_created(int fd, unsigned long id)
{
	struct shim_vcpu *v;
	void *run;

	run = mmap(NULL, (size_t)shim.run_size, PROT_READ | PROT_WRITE,
		   MAP_SHARED, fd, 0);
	v = calloc(1, sizeof(*v));
	if (run == MAP_FAILED || !v || shim.nvcpus >= SHIM_MAX_VCPUS) {
		/* QEMU's own mmap of it would fail the same way */
		shim_say("vCPU %lu: cannot track it: its stores into trapped "
			 "pages reach QEMU as MMIO",
			 id);
		if (run != MAP_FAILED)
			munmap(run, (size_t)shim.run_size);
		free(v);
		return;
	}
	v->fd = fd;
	v->id = (uint32_t)id;
	v->run = run;
	pthread_mutex_lock(&shim.lock);
	shim.vcpus[shim.nvcpus] = v;
	__atomic_store_n(&shim.nvcpus, shim.nvcpus + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&shim.lock);
}

/* ---- memslots ----------------------------------------------------------- */

static struct shim_slot *slot_find(uint32_t slot)
{
	unsigned int i;

	for (i = 0; i < nslots; i++)
		if (slots[i].slot == slot)
			return &slots[i];
	return NULL;
}

static void slot_drop(struct shim_slot *s)
{
	*s = slots[--nslots];
}

/*
 * QEMU's KVM_SET_USER_MEMORY_REGION(2) for @slot: RAM slots (flags 0 or
 * dirty logging) go through the guard, everything else (ROM, pflash and
 * guest_memfd slots, which never trap here) straight to KVM.
 */
static int set_region(unsigned long req, void *arg, uint32_t slot,
		      uint32_t flags, uint64_t gpa, uint64_t size, uint64_t hva)
{
	struct shim_slot *s;
	int ret;

	pthread_mutex_lock(&slots_lock);
	s = slot_find(slot);
	if (s && size && s->gpa == gpa && s->size == size && s->hva == hva &&
	    !(flags & ~(uint32_t)KVM_MEM_LOG_DIRTY_PAGES)) {
		/* flags only: dirty logging on or off */
		ret = spp_guard_set_memory_flags(shim.g, slot, flags);
		goto out;
	}
	if (s) {
		/* deleted (or re-made, which KVM wants as delete + create) */
		ret = spp_guard_forget_memory(shim.g, slot);
		if (ret)
			goto out;
		slot_drop(s);
		if (!size)
			goto out;
	}
	ret = shim_ioctl(shim.vm_fd, req, arg) < 0 ? -errno : 0;
	if (ret || !size || (flags & ~(uint32_t)KVM_MEM_LOG_DIRTY_PAGES))
		goto out;
	if (nslots == SHIM_MAX_SLOTS) {
		shim_say(
			"slot %#x at %#llx: more than %d RAM slots, not guarded",
			slot, (unsigned long long)gpa, SHIM_MAX_SLOTS);
		goto out;
	}
	ret = spp_guard_add_memory_flags(shim.g, slot, gpa, size,
					 (void *)(uintptr_t)hva, flags);
	if (ret) {
		/* The slot is in KVM as QEMU asked: only unguarded. */
		shim_say("slot %#x at %#llx (+%#llx): not guarded: %s", slot,
			 (unsigned long long)gpa, (unsigned long long)size,
			 strerror(-ret));
		ret = 0;
		goto out;
	}
	slots[nslots++] = (struct shim_slot){ slot, gpa, size, hva };
out:
	pthread_mutex_unlock(&slots_lock);
	return ret ? fail(ret) : 0;
}

static bool slot_guarded(uint32_t slot)
{
	bool yes;

	pthread_mutex_lock(&slots_lock);
	yes = slot_find(slot) != NULL;
	pthread_mutex_unlock(&slots_lock);
	return yes;
}

/* ---- capabilities ------------------------------------------------------- */

/* What QEMU is told about @cap, given KVM's answer @real. */
static long check_extension(long cap, long real)
{
	switch (cap) {
	case KVM_CAP_NR_MEMSLOTS:
		/* the top ids are the guard's */
		return real > 2 * SHIM_RESERVED_SLOTS ?
			       real - SHIM_RESERVED_SLOTS :
			       real;
	case KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2:
		/* CLEAR_DIRTY_LOG's 64-page units do not fit pieces */
	case SHIM_CAP_DIRTY_LOG_RING:
	case SHIM_CAP_DIRTY_LOG_RING_ACQ_REL:
		/* the ring names the guard's hidden slot ids */
	case SHIM_CAP_GUEST_MEMFD:
		/* private memory cannot be mapped read-only */
		return 0;
	default:
		return real;
	}
}

static bool cap_hidden(uint32_t cap)
{
	return cap != KVM_CAP_NR_MEMSLOTS && !check_extension(cap, 1);
}

/* ---- guest resets ------------------------------------------------------- */

/*
 * QEMU's system reset writes the reset state into every vCPU (KVM_SET_SREGS
 * or KVM_SET_SREGS2, whose start is struct kvm_sregs): real mode, CS
 * f000:ffff0000. On the first vCPU that is a guest reset, and no other
 * write of QEMU's looks like it (it writes the registers back after a
 * monitor read, a migration, a debugger: a running guest is never at the
 * reset vector in real mode). The kernel-address rules then wait for the
 * kernel that boots next; the call returns before this vCPU runs again.
 */
#define SHIM_RESET_WAIT_MS 5000
/* CS after RESET or INIT: selector f000, base ffff0000 (the first fetch
 * is at ffff_fff0) until the first far jump loads a real-mode base. */
#define SHIM_RESET_CS_SEL 0xf000
#define SHIM_RESET_CS_BASE 0xffff0000u

static void sregs_written(struct shim_vcpu *v, const struct kvm_sregs *s)
{
	struct spp_ctl *c = __atomic_load_n(&shim.ctl, __ATOMIC_ACQUIRE);
	int ret;

	if (!c || v != shim.vcpus[0] || (s->cr0 & SPP_X86_CR0_PE) ||
	    s->cs.selector != SHIM_RESET_CS_SEL ||
	    s->cs.base != SHIM_RESET_CS_BASE)
		return;
	ret = spp_ctl_guest_reset(c, SHIM_RESET_WAIT_MS);
	if (ret)
		shim_say("the guest's reset: its kernel rules: %s",
			 strerror(-ret));
}

/* ---- the interposer ----------------------------------------------------- */

int ioctl(int fd, unsigned long req, ...)
{
	struct shim_vcpu *v;
	va_list ap;
	void *arg;
	long ret;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);

	/* the guard's own KVM calls (src/kvm/kvm_ioctl.h) */
	if (spp_kvm_ioctl_depth)
		return (int)shim_ioctl(fd, req, arg);

	if (req == KVM_RUN && shim.g && (v = vcpu_of(fd)))
		return shim_vcpu_run(v);
	if (!shim.control) {
		if (req == KVM_CREATE_VM)
			shim_say(
				"SPP_QEMU_CONTROL is not set: the guest is not "
				"guarded (docs/qemu.md)");
		return (int)shim_ioctl(fd, req, arg);
	}

	if ((req == KVM_SET_SREGS || req == KVM_SET_SREGS2) &&
	    (v = vcpu_of(fd))) {
		ret = shim_ioctl(fd, req, arg);
		if (!ret)
			sregs_written(v, arg);
		return (int)ret;
	}
	switch (req) {
	case KVM_CHECK_EXTENSION:
		ret = shim_ioctl(fd, req, arg);
		return ret < 0 ? -1 : (int)check_extension((long)arg, ret);
	case KVM_CREATE_VM:
		ret = shim_ioctl(fd, req, arg);
		if (ret < 0 || shim.vm_fd >= 0 || shim.g)
			return (int)ret; /* a second VM: not guarded */
		ret = vm_created(fd, (int)ret) ? (close((int)ret), -1) : ret;
		if (ret < 0)
			errno = EIO;
		return (int)ret;
	default:
		break;
	}
	if (fd != shim.vm_fd || fd < 0)
		return (int)shim_ioctl(fd, req, arg);

	switch (req) {
	case KVM_CREATE_VCPU:
		ret = shim_ioctl(fd, req, arg);
		if (ret >= 0)
			vcpu_created((int)ret, (unsigned long)arg);
		return (int)ret;
	case KVM_SET_USER_MEMORY_REGION: {
		struct kvm_userspace_memory_region *m = arg;

		return set_region(req, arg, m->slot, m->flags,
				  m->guest_phys_addr, m->memory_size,
				  m->userspace_addr);
	}
	case SHIM_SET_USER_MEMORY_REGION2: {
		struct shim_region2 *m = arg;

		return set_region(req, arg, m->slot, m->flags,
				  m->guest_phys_addr, m->memory_size,
				  m->userspace_addr);
	}
	case KVM_GET_DIRTY_LOG: {
		struct kvm_dirty_log *d = arg;

		if (!slot_guarded(d->slot))
			break;
		ret = spp_guard_get_dirty_log(shim.g, d->slot, d->dirty_bitmap);
		return ret ? fail((int)ret) : 0;
	}
	case KVM_CLEAR_DIRTY_LOG: {
		struct kvm_clear_dirty_log *d = arg;

		if (slot_guarded(d->slot))
			return fail(-EINVAL); /* its capability is hidden */
		break;
	}
	case KVM_ENABLE_CAP: {
		struct kvm_enable_cap *c = arg;

		if (cap_hidden(c->cap))
			return fail(-EINVAL);
		break;
	}
	default:
		break;
	}
	return (int)shim_ioctl(fd, req, arg);
}
