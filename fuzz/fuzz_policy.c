// SPDX-License-Identifier: MIT
/*
 * fuzz_policy.c - libFuzzer target: the policy file of "spp run"
 * (tools/spp/options.c) on arbitrary text. The input becomes the file
 * (a memfd, opened by its /proc/self/fd path) of
 *   spp run --mem 512M --policy FILE guest.elf
 * so read_policy(), check_rules() and compute_pages() all run. It must
 * never crash or leak (ASan/LSan), must return 0 or SPP_CLI_USAGE, and
 * on success every protected page must lie in the rules' RAM window,
 * sorted and unique.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <spp/layout.h>
#include <spp/vector.h>

#include "spp_cli.h"

#define MEM (512ULL << 20)

/* options.c prints its errors through this (common.c in the real spp):
 * the fuzzer keeps quiet. */
void spp_cli_err(const char *fmt, ...)
{
	(void)fmt;
}

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char a0[] = "run", a1[] = "--mem", a2[] = "512M", a3[] = "--policy",
	     a5[] = "guest.elf";
	char *argv[] = { a0, a1, a2, a3, path, a5, NULL };
	struct spp_run_opts o;
	size_t i;
	int ret;

	if (fd < 0) {
		fd = memfd_create("policy", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) ||
	    (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	ret = spp_cli_run_opts(6, argv, &o);
	if (ret && ret != SPP_CLI_USAGE)
		abort();
	if (!ret) {
		if (o.mem != MEM || !o.guest || strcmp(o.guest, "guest.elf"))
			abort();
		for (i = 0; i < o.npages; i++) {
			const struct spp_page *p = &o.pages[i];

			if (p->gpa & (SPP_PAGE_SIZE - 1) ||
			    p->gpa < SPP_LAYOUT_SYS_END ||
			    p->gpa >= spp_layout_pt_base(MEM) ||
			    (i && p->gpa <= o.pages[i - 1].gpa))
				abort();
		}
	}
	spp_cli_run_opts_free(&o);
	return 0;
}
