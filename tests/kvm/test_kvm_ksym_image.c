// SPDX-License-Identifier: MIT
/*
 * test_kvm_ksym_image.c - the symbol table spp decodes from a kernel
 * image (spp_ksym_load_image()) against the truth: /proc/kallsyms of that
 * very kernel, running. Only inside the test VM (scripts/kvm-vm), which
 * names the image it booted in $SPP_KVM_VM_VMLINUZ and runs the command
 * as root with kptr_restrict 0; elsewhere it skips as a whole. The VM
 * boots with KASLR, so the runtime addresses are the image's moved by
 * one slide (found from _text), per-cpu (absolute) ones not at all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <spp/ksym.h>

static const char *image;

static void test_against_proc_kallsyms(void **state)
{
	struct spp_ksym_table *img = NULL, *run = NULL;
	struct spp_ksym_error err = { 0, NULL };
	static const char *const named[] = { "modprobe_path", "core_pattern",
					     "entry_SYSCALL_64", "idt_table" };
	uint64_t text, slide, a, b;
	size_t i, n, core = 0, compared = 0;
	int ret;

	(void)state;
	ret = spp_ksym_load_image(image, &img, &err);
	if (ret)
		print_message("# %s: %s\n", image, err.what);
	assert_int_equal(ret, 0);
	ret = spp_ksym_load("/proc/kallsyms", &run, &err);
	if (ret)
		print_message("# /proc/kallsyms: %s\n", err.what);
	assert_int_equal(ret, 0);
	assert_int_equal(spp_ksym_lookup(run, "_text", &text, NULL), 0);
	assert_int_equal(spp_ksym_find_slide(img, "_text", text, &slide), 0);
	print_message("# %s: %zu symbols, KASLR slide 0x%llx\n", image,
		      spp_ksym_count(img), (unsigned long long)slide);
	/* the kernel's own symbols, one for one */
	n = spp_ksym_count(run);
	for (i = 0; i < n; i++) {
		const char *mod;

		assert_int_equal(spp_ksym_at(run, i, NULL, NULL, NULL, &mod),
				 0);
		core += !mod;
	}
	assert_int_equal(core, spp_ksym_count(img));
	/* a sample of about 1000, and the recipes' symbols */
	n = spp_ksym_count(img);
	for (i = 0; i < n; i += n / 1000 + 1) {
		const char *name;
		char type;

		assert_int_equal(spp_ksym_at(img, i, &a, &type, &name, NULL),
				 0);
		if (spp_ksym_lookup(img, name, &a, NULL) ||
		    spp_ksym_lookup(run, name, &b, NULL))
			continue; /* a name several symbols have */
		if (type != 'A' && type != 'a')
			a += slide;
		if (a != b)
			print_message("# %s: image 0x%llx, running 0x%llx\n",
				      name, (unsigned long long)a,
				      (unsigned long long)b);
		assert_int_equal(a, b);
		compared++;
	}
	print_message("# %zu sampled symbols at their running addresses\n",
		      compared);
	assert_true(compared > 900);
	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		assert_int_equal(spp_ksym_lookup(img, named[i], &a, NULL), 0);
		assert_int_equal(spp_ksym_lookup(run, named[i], &b, NULL), 0);
		assert_int_equal(a + slide, b);
	}
	spp_ksym_destroy(img);
	spp_ksym_destroy(run);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_proc_kallsyms),
	};

	image = getenv("SPP_KVM_VM_VMLINUZ");
	if (!image || !*image) {
		printf("1..0 # SKIP not in the test VM (no SPP_KVM_VM_VMLINUZ: "
		       "the running kernel's image is unknown)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
