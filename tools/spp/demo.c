// SPDX-License-Identifier: MIT
/*
 * demo.c - "spp demo" on real KVM: runs the built-in demo guest
 * (guests/demo.c, embedded) and plays, at its syncs, the KVM SPP selftest
 * scene and a guarded 128-byte structure next to hot data, checking and
 * printing what happens.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spp/spp.h>
#include <spp/guest_mem.h>
#include <spp/vector.h>
#include <spp/vm.h>

#include "guests/demo_guest.h"
#include "spp_cli.h"

#define MAX_EVENTS 64
#define RUN_TIMEOUT_MS 120000

struct demo {
	struct spp_vm *vm;
	pthread_mutex_t lock;
	struct spp_event ev[MAX_EVENTS];
	double t[MAX_EVENTS]; /* seconds since the VM was created */
	size_t nev;
	double t0;
	unsigned int failed;
};

static void on_event(void *ctx, const struct spp_event *ev)
{
	struct demo *d = ctx;

	pthread_mutex_lock(&d->lock);
	if (d->nev < MAX_EVENTS) {
		d->ev[d->nev] = *ev;
		d->t[d->nev] = spp_cli_now() - d->t0;
	}
	d->nev++;
	pthread_mutex_unlock(&d->lock);
}

static void on_console(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	printf("  %.*s", (int)len, buf);
	fflush(stdout);
}

static void check(struct demo *d, bool ok, const char *what)
{
	printf("  -> %s: %s\n", what, ok ? "yes" : "NO (unexpected)");
	d->failed += !ok;
}

/* Run to the next sync @want (or the exit when @want is 0). */
static int run_to(struct demo *d, uint64_t want)
{
	struct spp_vm_result res;

	if (spp_vm_run(d->vm, RUN_TIMEOUT_MS, &res)) {
		printf("spp demo: spp_vm_run failed\n");
		return -1;
	}
	if (want ? res.reason == SPP_VM_SYNC && res.value == want :
		   res.reason == SPP_VM_EXIT) {
		if (!want)
			printf("  guest exited with status %d\n", res.status);
		return 0;
	}
	printf("spp demo: the guest ended unexpectedly: %s (%s)\n",
	       spp_vm_reason_name(res.reason), res.detail);
	return -1;
}

static int set_map(struct demo *d, uint64_t page, uint32_t map)
{
	int ret = spp_guard_set_range(spp_vm_guard(d->vm),
				      page >> SPP_PAGE_SHIFT, 1, map);

	printf("  SET_ACCESS gfn 0x%" PRIx64 " map 0x%08" PRIx32 "\n",
	       page >> SPP_PAGE_SHIFT, map);
	if (ret < 0)
		printf("spp demo: SET_ACCESS: %s\n", strerror(-ret));
	return ret < 0 ? -1 : 0;
}

static void print_event(struct demo *d, size_t i)
{
	char buf[512];

	spp_cli_event_json(buf, sizeof(buf), &d->ev[i], i + 1, d->t[i]);
	printf("     %s", buf);
}

static uint8_t *mem(struct demo *d, uint64_t gpa, uint64_t len)
{
	return spp_guest_mem_ptr(spp_vm_mem(d->vm), gpa, len);
}

static int scene1(struct demo *d)
{
	uint8_t *page = mem(d, DEMO_PAGE1, SPP_PAGE_SIZE);
	bool ok = true;
	size_t i;

	printf("scene 1: the KVM SPP selftest, page 0x%llx\n", DEMO_PAGE1);
	if (!page || run_to(d, 1) || set_map(d, DEMO_PAGE1, 0))
		return -1;
	printf("  guest (CPL3): %u x store32(0x%llx + %llu * i, 0x99), "
	       "one per sub-page\n",
	       SPP_SUBPAGES_PER_PAGE, DEMO_PAGE1, SPP_SUBPAGE_SIZE);
	if (run_to(d, 2))
		return -1;
	printf("  %zu events (JSON Lines, as spp run --events writes them):\n",
	       d->nev);
	for (i = 0; i < d->nev && i < MAX_EVENTS; i++) {
		uint32_t v;

		memcpy(&v, d->ev[i].data, 4);
		ok &= d->ev[i].gpa == DEMO_PAGE1 + SPP_SUBPAGE_SIZE * i &&
		      d->ev[i].len == 4 && v == 0x99 && d->ev[i].subpage == i &&
		      d->ev[i].verdict == SPP_VERDICT_DENIED;
		if (i < 2 || i + 2 >= d->nev)
			print_event(d, i);
		else if (i == 2)
			printf("     ... %zu more ...\n", d->nev - 4);
	}
	check(d, d->nev == SPP_SUBPAGES_PER_PAGE && ok,
	      "32 events, sub-pages 0..31, 4 bytes of 0x99 each, denied");
	for (i = 0; i < SPP_PAGE_SIZE && !page[i]; i++)
		;
	check(d, i == SPP_PAGE_SIZE, "the page is still all zero");

	d->nev = 0;
	if (set_map(d, DEMO_PAGE1, SPP_ACCESS_FULL))
		return -1;
	printf("  guest: the same 32 stores\n");
	if (run_to(d, 3))
		return -1;
	for (i = 0, ok = true; i < SPP_SUBPAGES_PER_PAGE; i++) {
		uint32_t v;

		memcpy(&v, page + SPP_SUBPAGE_SIZE * i, 4);
		ok &= v == 0x99;
	}
	check(d, d->nev == 0, "no event");
	check(d, ok, "the 32 values 0x99 are in memory");
	printf("\n");
	return 0;
}

static int scene2(struct demo *d)
{
	const uint64_t s = DEMO_PAGE2 + DEMO_STRUCT_OFF;
	uint8_t *page = mem(d, DEMO_PAGE2, SPP_PAGE_SIZE);
	uint8_t before[SPP_PAGE_SIZE];
	struct spp_guard_stats st0, st1;
	uint64_t a, b, caps;
	uint32_t uid, gid;
	bool ok;
	size_t i;

	printf("scene 2: a 128-byte structure (sub-page %d of page 0x%llx, "
	       "0x%llx..0x%llx)\n"
	       "         between hot counters in sub-pages 4 and 6\n",
	       DEMO_STRUCT_SUBPAGE, DEMO_PAGE2, (unsigned long long)s,
	       (unsigned long long)s + 127);
	d->nev = 0;
	if (!page || run_to(d, 4))
		return -1;
	memcpy(&uid, page + DEMO_STRUCT_OFF + DEMO_UID_OFF, 4);
	memcpy(&caps, page + DEMO_STRUCT_OFF + DEMO_CAPS_OFF, 8);
	printf("  the guest filled the structure: uid %u, caps 0x%" PRIx64 "\n",
	       uid, caps);
	memcpy(before, page, sizeof(before));
	if (set_map(d, DEMO_PAGE2, ~(1u << DEMO_STRUCT_SUBPAGE)))
		return -1;
	printf("    (deny sub-page %d only: the rest of the page stays "
	       "writable)\n",
	       DEMO_STRUCT_SUBPAGE);
	printf("  guest: %d x (counter A++ at 0x%llx, counter B++ at "
	       "0x%llx),\n"
	       "         then uid = 0, an 8-byte store at 0x%llx straddling "
	       "sub-pages 4 and 5,\n"
	       "         and 0xff into the structure's last byte\n",
	       DEMO_HOT_ROUNDS, DEMO_PAGE2 + DEMO_HOT_A_OFF,
	       DEMO_PAGE2 + DEMO_HOT_B_OFF, (unsigned long long)s - 4);
	spp_guard_stats(spp_vm_guard(d->vm), &st0);
	if (run_to(d, 5))
		return -1;
	spp_guard_stats(spp_vm_guard(d->vm), &st1);
	printf("  event stream:\n");
	for (i = 0; i < d->nev && i < MAX_EVENTS; i++)
		print_event(d, i);
	ok = d->nev == 3 && d->ev[0].gpa == s && d->ev[0].len == 4 &&
	     d->ev[1].gpa == s - 4 && d->ev[1].len == 8 &&
	     d->ev[1].subpage == DEMO_STRUCT_SUBPAGE &&
	     d->ev[2].gpa == s + 127 && d->ev[2].len == 1;
	for (i = 0; i < d->nev && i < MAX_EVENTS; i++)
		ok &= d->ev[i].verdict == SPP_VERDICT_DENIED;
	check(d, ok, "3 denied stores: uid, the straddling store, last byte");
	check(d, st1.allowed - st0.allowed == 2 * DEMO_HOT_ROUNDS,
	      "the 32 counter stores trapped (same page) and committed");
	memcpy(&a, page + DEMO_HOT_A_OFF, 8);
	memcpy(&b, page + DEMO_HOT_B_OFF, 8);
	memcpy(&uid, page + DEMO_STRUCT_OFF + DEMO_UID_OFF, 4);
	memcpy(&gid, page + DEMO_STRUCT_OFF + DEMO_GID_OFF, 4);
	check(d, a == DEMO_HOT_ROUNDS && b == DEMO_HOT_ROUNDS,
	      "counters A and B both 16");
	check(d,
	      !memcmp(before + DEMO_STRUCT_OFF, page + DEMO_STRUCT_OFF,
		      SPP_SUBPAGE_SIZE) &&
		      uid == DEMO_UID && gid == DEMO_UID,
	      "the structure is intact (uid 1000, last byte 0x5a)");
	check(d,
	      !memcmp(before + DEMO_STRUCT_OFF - 4, page + s - 4 - DEMO_PAGE2,
		      4),
	      "the 4 bytes of sub-page 4 the straddling store covered are "
	      "untouched");
	for (i = 0, ok = true; i < SPP_PAGE_SIZE; i++)
		if ((i < DEMO_HOT_A_OFF || i >= DEMO_HOT_A_OFF + 8) &&
		    (i < DEMO_HOT_B_OFF || i >= DEMO_HOT_B_OFF + 8))
			ok &= before[i] == page[i];
	check(d, ok, "nothing else on the page changed");
	return 0;
}

int spp_cli_demo_kvm(void)
{
	struct demo d;
	struct spp_vm_config cfg = {
		.console = on_console,
		.event = on_event,
		.ctx = &d,
	};
	int ret;

	memset(&d, 0, sizeof(d));
	d.t0 = spp_cli_now();
	pthread_mutex_init(&d.lock, NULL);
	ret = spp_vm_create(&d.vm, &cfg);
	if (ret) {
		spp_cli_err("cannot create a KVM VM: %s", strerror(-ret));
		pthread_mutex_destroy(&d.lock);
		return -1;
	}
	ret = spp_vm_load_elf(d.vm, spp_demo_guest, spp_demo_guest_size);
	if (ret) {
		spp_cli_err("loading the demo guest: %s", strerror(-ret));
		spp_vm_destroy(d.vm);
		pthread_mutex_destroy(&d.lock);
		return SPP_CLI_ERROR;
	}
	printf("spp %s demo: sub-page write protection on KVM, from user "
	       "space\n\n",
	       spp_version());
	ret = scene1(&d);
	if (!ret)
		ret = scene2(&d);
	if (!ret)
		ret = run_to(&d, 0);
	spp_vm_destroy(d.vm);
	pthread_mutex_destroy(&d.lock);
	if (ret || d.failed) {
		printf("\nspp demo: %u check(s) failed\n", d.failed);
		return SPP_CLI_ERROR;
	}
	printf("\nEvery check passed. Run your own guest: spp run --protect "
	       "GPA:MAP --events - GUEST.elf\n");
	return SPP_CLI_OK;
}
