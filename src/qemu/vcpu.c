// SPDX-License-Identifier: MIT
/*
 * vcpu.c - QEMU's KVM_RUN under the guard, and the pause protocol.
 *
 * The gate: a vCPU thread passes it before KVM_RUN and leaves it when the
 * call returns to QEMU; shim.active counts the threads inside. pause()
 * raises shim.pausing, kicks every thread inside (immediate_exit and
 * SIGUSR1, QEMU's own kick, again every few ms so no kick is lost) and
 * waits until none is left; threads that come to the gate meanwhile wait
 * there. QEMU's kicks still work at the gate: a thread waiting there
 * returns EINTR to QEMU as soon as immediate_exit is set, so QEMU's own
 * pause (monitor "stop", reset, exit) never waits for spp.
 *
 * Exits are handled inside the call with SIGUSR1 blocked: the guard
 * completes pending MMIO with immediate_exit itself, so a kick that came
 * meanwhile must arrive after, on the way back into KVM_RUN, where it
 * makes the call return EINTR to QEMU as KVM would. A kick whose handler
 * ran before the block (between KVM_RUN's return and here) is already in
 * immediate_exit, which the guard leaves set: the same EINTR.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "shim.h"
#include "util/clock.h"

/* How often a waiting thread looks at immediate_exit, a pausing one
 * kicks again. */
#define SHIM_POLL_MS 2

static void wait_a_while(void)
{
	struct timespec t;

	spp_clock_deadline(&t, SHIM_POLL_MS);
	pthread_cond_timedwait(&shim.cond, &shim.lock, &t);
}

static bool kicked(const struct shim_vcpu *v)
{
	return __atomic_load_n(&v->run->immediate_exit, __ATOMIC_ACQUIRE);
}

/* Into the gate (shim.lock held): wait while paused, before "start", or
 * while the vCPU holds a store. -EINTR: QEMU kicked it meanwhile. */
static int gate_enter(struct shim_vcpu *v)
{
	bool counted = false;

	while (shim.pausing || !shim.started || v->held) {
		if (!shim.started && !counted) {
			shim.waiting++;
			counted = true;
			pthread_cond_broadcast(&shim.cond);
		}
		if (kicked(v)) {
			if (counted)
				shim.waiting--;
			return -EINTR;
		}
		wait_a_while();
	}
	if (counted)
		shim.waiting--;
	v->in_gate = true;
	shim.active++;
	return 0;
}

static void gate_leave(struct shim_vcpu *v)
{
	v->in_gate = false;
	shim.active--;
	if (shim.pausing && !shim.active)
		pthread_cond_broadcast(&shim.cond);
}

int shim_pause(void *ctx)
{
	pid_t pid = getpid();
	unsigned int i;

	(void)ctx;
	pthread_mutex_lock(&shim.lock);
	shim.pausing++;
	while (shim.active) {
		for (i = 0; i < shim.nvcpus; i++) {
			struct shim_vcpu *v = shim.vcpus[i];

			if (!v->in_gate || !v->tid)
				continue;
			__atomic_store_n(&v->run->immediate_exit, 1,
					 __ATOMIC_RELEASE);
			syscall(SYS_tgkill, pid, v->tid, SIGUSR1);
		}
		wait_a_while();
	}
	pthread_mutex_unlock(&shim.lock);
	return 0;
}

void shim_resume(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&shim.lock);
	shim.pausing--;
	pthread_cond_broadcast(&shim.cond);
	pthread_mutex_unlock(&shim.lock);
}

void shim_event(void *ctx, const struct spp_event *ev)
{
	(void)ctx;
	/* shim.ctl goes NULL once, at exit; destroy waits for no caller
	 * only in the sense that QEMU has paused its vCPUs by then. */
	spp_ctl_event(__atomic_load_n(&shim.ctl, __ATOMIC_ACQUIRE), ev);
}

/* One exit, with SIGUSR1 blocked. SPP_EXIT_HANDLED: re-enter KVM_RUN;
 * SPP_EXIT_STOP: the store is held; SPP_EXIT_NOT_MINE: QEMU's. */
static int handle(struct shim_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct spp_insn_report rep;
	struct spp_event ev;
	int ret;

	for (;;) {
		switch (run->exit_reason) {
		case KVM_EXIT_MMIO:
			ret = spp_guard_handle_exit(shim.g, v->fd, run, v->id,
						    &ev);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			if (run->internal.suberror !=
			    KVM_INTERNAL_ERROR_EMULATION)
				return SPP_EXIT_NOT_MINE;
			memset(&rep, 0, sizeof(rep));
			ret = spp_guard_emulate(shim.g, v->fd, run, v->id, &ev,
						&rep);
			if (ret == -EOPNOTSUPP) {
				shim_say("vCPU %u: a store into a trapped page "
					 "at rip %#llx spp cannot emulate: %s "
					 "(%s)",
					 v->id, (unsigned long long)rep.rip,
					 rep.text, rep.why ? rep.why : "");
				return SPP_EXIT_NOT_MINE;
			}
			break;
		default:
			return SPP_EXIT_NOT_MINE;
		}
		if (ret < 0) {
			shim_say("vCPU %u: guard: %s", v->id, strerror(-ret));
			return SPP_EXIT_NOT_MINE;
		}
		if (ret == SPP_EXIT_STOP) {
			pthread_mutex_lock(&shim.lock);
			v->held_ev = ev;
			v->held = true;
			pthread_mutex_unlock(&shim.lock);
			return ret;
		}
		if (ret != SPP_EXIT_AGAIN)
			return ret;
		/* @run holds the next exit of the same instruction */
	}
}

int shim_vcpu_run(struct shim_vcpu *v)
{
	sigset_t ipi, old;
	int ret = 0, err = 0, h;

	if (!v->tid)
		v->tid = (pid_t)syscall(SYS_gettid);
	if (shim.hold && !__atomic_load_n(&shim.ctl, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&shim.lock);
		if (!shim.ctl && shim_control_open()) {
			/* spp qemu would wait for it in vain */
			pthread_mutex_unlock(&shim.lock);
			exit(1);
		}
		pthread_mutex_unlock(&shim.lock);
	}
	sigemptyset(&ipi);
	sigaddset(&ipi, SIGUSR1);
	pthread_mutex_lock(&shim.lock);
	for (;;) {
		err = -gate_enter(v);
		if (err)
			break;
		pthread_mutex_unlock(&shim.lock);
		ret = (int)shim_ioctl(v->fd, KVM_RUN, NULL);
		err = ret < 0 ? errno : 0;
		h = SPP_EXIT_NOT_MINE;
		if (!ret) {
			pthread_sigmask(SIG_BLOCK, &ipi, &old);
			h = handle(v);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
		pthread_mutex_lock(&shim.lock);
		gate_leave(v);
		if (h == SPP_EXIT_NOT_MINE)
			break;
		/* handled or held: back in, unless a pause or QEMU's kick
		 * wants the thread (KVM_RUN would say EINTR at once) */
		if (kicked(v)) {
			ret = -1;
			err = EINTR;
			break;
		}
	}
	pthread_mutex_unlock(&shim.lock);
	if (err) {
		errno = err;
		return -1;
	}
	return ret;
}
