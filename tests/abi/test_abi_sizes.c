// SPDX-License-Identifier: MIT
/*
 * test_abi_sizes.c - the public structs keep their sizes (docs/design.md,
 * "Public ABI"). A change here is a change of libspp's ABI: if it is
 * meant, update the table, the version node in src/libspp.map and the
 * release notes; if not, this test caught it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <spp/spp.h>
#include <spp/elf_load.h>
#include <spp/guard.h>
#include <spp/guest_abi.h>
#include <spp/guest_mem.h>
#include <spp/vm.h>

struct abi_size {
	const char *name;
	size_t size, expected;
};

#define ABI(type, n)                   \
	{                              \
#type, sizeof(type), n \
	}

static void test_struct_sizes(void **state)
{
	const struct abi_size t[] = {
		ABI(struct spp_subpage, 16),
		ABI(struct spp_write_verdict, 40),
		ABI(struct spp_ept_leaf, 8),
		ABI(struct spp_walk_input, 72),
		ABI(struct spp_walk_result, 48),
		ABI(struct spp_event, 256),
		ABI(struct spp_guard_ops, 24),
		ABI(struct spp_guard_stats, 184),
		ABI(struct spp_insn_report, 128),
		ABI(struct spp_guest_mem_region, 24),
		ABI(struct spp_guest_mem, 1544),
		ABI(struct spp_vm_config, 40),
		ABI(struct spp_vm_result, 584),
		ABI(struct spp_exc_report, 80),
		ABI(struct spp_protect_req, 16),
		ABI(struct spp_elf_info, 32),
		ABI(struct spp_ctl_vcpu_state, 80),
	};
	size_t i, bad = 0;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].size == t[i].expected)
			continue;
		print_error("%s: %zu bytes, the ABI has %zu\n", t[i].name,
			    t[i].size, t[i].expected);
		bad++;
	}
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_struct_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
