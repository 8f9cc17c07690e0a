// SPDX-License-Identifier: MIT
/*
 * test_kvm_chaos.c - guests that execute random bytes.
 *
 * Each seed makes one VM (32 MiB, one vCPU, policy DENY) with a protected
 * page T (sub-pages 0..15 denied, filled with a pattern) and runs one of
 *  - a valid ELF whose only segment is 4 KiB of random bytes, entered at
 *    CPL0 with the VMM's entry state;
 *  - guests/chaos.c jumping into 4 KiB of random bytes at CPL0, or
 *  - at CPL3,
 * with RAX..R15 mostly pointing into T and its neighbours, so random
 * stores hit the protected page. Asserted for every seed:
 *  - spp_vm_run() returns 0 within the run timeout plus a margin, with a
 *    known reason and a detail line (exception, halt, shutdown, internal
 *    error, unhandled exit, timeout, ...): spp neither crashes nor hangs;
 *  - the denied half of T is byte for byte unchanged, T's map is what the
 *    host set, and every denied store was reported (events == denied);
 *  - the VM still works: a second run returns in time, T can be
 *    unprotected and protected again.
 *
 * SPP_CHAOS_SEEDS (default 300) and SPP_CHAOS_SEED (first seed, default 1)
 * choose the seeds; a failure names the seed to rerun alone.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <spp/spp.h>
#include <spp/guest_mem.h>
#include <spp/vm.h>

#include "guests/chaos.h"
#include "kvm_test.h"

#define RAM (32ULL << 20)
#define T_GFN (CHAOS_TARGET >> 12)
#define T_MAP 0xFFFF0000u /* sub-pages 0..15 denied */
#define RUN_MS 300
#define MARGIN_S 20

static const char *guest_chaos;
static unsigned long long nseeds = 300, first_seed = 1;

static uint64_t rng;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* A static ELF64: one RWX PT_LOAD of random code at SPP_LAYOUT_LOAD_BASE. */
static size_t random_elf(uint8_t *buf, size_t code_size)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(*eh));
	size_t off = 0x1000;

	memset(buf, 0, off);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = SPP_LAYOUT_LOAD_BASE + rnd() % 256;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	ph->p_type = PT_LOAD;
	ph->p_flags = PF_R | PF_W | PF_X;
	ph->p_offset = off;
	ph->p_vaddr = ph->p_paddr = SPP_LAYOUT_LOAD_BASE;
	ph->p_filesz = ph->p_memsz = code_size;
	ph->p_align = 0x1000;
	fill_random(buf + off, code_size);
	return off + code_size;
}

/* Mostly addresses in T and the pages around it; some anything. */
static uint64_t random_reg(void)
{
	switch (rnd() % 8) {
	case 0:
		return rnd();
	case 1:
		return rnd() % 4096;
	case 2:
		return CHAOS_TARGET - 4096 + rnd() % (3 * 4096);
	default:
		return CHAOS_TARGET + rnd() % 4096;
	}
}

static unsigned int outcomes[SPP_VM_ERROR + 1];
static unsigned int kinds_run[3];

static void one_seed(unsigned long long seed)
{
	static uint8_t elf[0x2000];
	struct spp_vm_config cfg = { .ram_size = RAM,
				     .event = spp_kt_on_event };
	uint8_t pattern[4096];
	struct spp_vm_result res;
	struct spp_guard_stats st;
	struct spp_guard *g;
	struct spp_vm *vm;
	unsigned int kind, i;
	uint8_t *t;
	double t0;
	int ret;

	rng = seed * 0x2545F4914F6CDD1DULL;
	kind = (unsigned int)(seed % 3);
	kinds_run[kind]++;
	vm = spp_kt_vm_create(&cfg, NULL);
	if (kind == 0) {
		size_t n = random_elf(elf, 0x1000);

		ret = spp_vm_load_elf(vm, elf, n);
		if (ret)
			fail_msg("seed %llu: random ELF refused: %d", seed,
				 ret);
	} else {
		struct chaos_ctl *c;

		assert_int_equal(spp_vm_load_elf_file(vm, guest_chaos), 0);
		c = spp_guest_mem_ptr(spp_vm_mem(vm), CHAOS_CTL, sizeof(*c));
		assert_non_null(c);
		c->cpl = kind == 2 ? 3 : 0;
		for (i = 0; i < CHAOS_NREGS; i++)
			c->regs[i] = random_reg();
		c->entry = CHAOS_CODE + rnd() % 256;
		t = spp_guest_mem_ptr(spp_vm_mem(vm), CHAOS_CODE,
				      CHAOS_CODE_SIZE);
		assert_non_null(t);
		fill_random(t, CHAOS_CODE_SIZE);
	}
	g = spp_vm_guard(vm);
	t = spp_guest_mem_ptr(spp_vm_mem(vm), CHAOS_TARGET, 4096);
	assert_non_null(t);
	fill_random(pattern, sizeof(pattern));
	memcpy(t, pattern, sizeof(pattern));
	assert_int_equal(spp_guard_set_range(g, T_GFN, 1, T_MAP), 0);

	t0 = spp_kt_now_s();
	ret = spp_vm_run(vm, RUN_MS, &res);
	if (ret || res.reason > SPP_VM_ERROR || !res.detail[0] ||
	    spp_kt_now_s() - t0 > RUN_MS / 1000.0 + MARGIN_S)
		fail_msg("seed %llu (kind %u): run returned %d, reason %d "
			 "(%s) after %.1f s",
			 seed, kind, ret, res.reason, res.detail,
			 spp_kt_now_s() - t0);
	outcomes[res.reason]++;
	if (getenv("SPP_CHAOS_VERBOSE"))
		printf("# seed %llu kind %u: %s: %s\n", seed, kind,
		       spp_vm_reason_name(res.reason), res.detail);

	/* the protection held and the books balance */
	if (memcmp(t, pattern, 2048))
		fail_msg("seed %llu (kind %u): a denied sub-page of T changed",
			 seed, kind);
	assert_int_equal(spp_guard_lookup(g, T_GFN), T_MAP);
	spp_guard_stats(g, &st);
	if (st.denied != spp_kt_events_count())
		fail_msg("seed %llu: %llu denied stores, %llu events", seed,
			 (unsigned long long)st.denied,
			 (unsigned long long)spp_kt_events_count());
	/* the VM still answers and its protections can still change */
	t0 = spp_kt_now_s();
	assert_int_equal(spp_vm_run(vm, 50, &res), 0);
	if (res.reason > SPP_VM_ERROR || spp_kt_now_s() - t0 > MARGIN_S)
		fail_msg("seed %llu: second run: reason %d after %.1f s", seed,
			 res.reason, spp_kt_now_s() - t0);
	if (memcmp(t, pattern, 2048))
		fail_msg("seed %llu: T changed in the second run", seed);
	assert_int_equal(spp_guard_set_range(g, T_GFN, 1, SPP_ACCESS_FULL), 0);
	assert_int_equal(spp_guard_lookup(g, T_GFN), SPP_ACCESS_FULL);
	assert_int_equal(spp_guard_set_range(g, T_GFN, 1, T_MAP), 0);
	spp_vm_destroy(vm);
}

static void test_random_code(void **state)
{
	unsigned long long s, denied_runs = 0;
	unsigned int r;
	double t0 = spp_kt_now_s();

	(void)state;
	assert_non_null(guest_chaos);
	for (s = first_seed; s < first_seed + nseeds; s++) {
		one_seed(s);
		if (spp_kt_events_count())
			denied_runs++;
	}
	printf("# %llu seeds from %llu (ELF/CPL0 %u, CPL0 %u, CPL3 %u) in "
	       "%.1f s; %llu runs had denied stores; outcomes:",
	       nseeds, first_seed, kinds_run[0], kinds_run[1], kinds_run[2],
	       spp_kt_now_s() - t0, denied_runs);
	for (r = 0; r <= SPP_VM_ERROR; r++)
		if (outcomes[r])
			printf(" %s %u", spp_vm_reason_name(r), outcomes[r]);
	printf("\n");
	/* the registers did steer random stores into T */
	if (nseeds >= 30)
		assert_true(denied_runs > 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_code),
	};
	if (spp_kt_no_kvm("test_kvm_chaos"))
		return 0;
	guest_chaos = spp_kt_guest(argc, argv, "guest_chaos");
	if (getenv("SPP_CHAOS_SEEDS"))
		nseeds = strtoull(getenv("SPP_CHAOS_SEEDS"), NULL, 0);
	if (getenv("SPP_CHAOS_SEED"))
		first_seed = strtoull(getenv("SPP_CHAOS_SEED"), NULL, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
