// SPDX-License-Identifier: MIT
/*
 * fuzz_kallsyms.c - libFuzzer target: spp_ksym_parse_image() on arbitrary
 * bytes (bzImage headers, compressed payloads, kallsyms tables). It must
 * never crash or read outside the input (ASan); a failure must leave
 * *out untouched and say why; a success must give a table whose every
 * symbol lists and looks up. abort() otherwise.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <spp/ksym.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spp_ksym_table *t = (void *)0x1;
	struct spp_ksym_error err = { 0, NULL };
	size_t i, n;
	int ret;

	ret = spp_ksym_parse_image(data, size, &t, &err);
	if (ret) {
		if (ret > 0 || t != (void *)0x1 || !err.what)
			abort();
		return 0;
	}
	n = spp_ksym_count(t);
	if (!n)
		abort();
	for (i = 0; i < n; i++) {
		const char *name;
		uint64_t a;
		char type;

		if (spp_ksym_at(t, i, &a, &type, &name, NULL) || !name[0])
			abort();
		ret = spp_ksym_lookup(t, name, &a, NULL);
		if (ret && ret != -ENOTUNIQ)
			abort();
	}
	spp_ksym_destroy(t);
	return 0;
}
