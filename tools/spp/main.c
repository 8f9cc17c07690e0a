// SPDX-License-Identifier: MIT
/*
 * spp - run guests under sub-page write protection.
 *
 * Until the KVM layer lands this command only knows --help, --version and
 * "check", which answers one write-check question with the core model.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spp/spp.h>

#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spp [--help] [--version] COMMAND [ARGS]\n"
		"\n"
		"Sub-page (128-byte) write protection for KVM guests.\n"
		"\n"
		"commands:\n"
		"  check GPA LEN MAP   would a LEN-byte write at GPA be allowed\n"
		"                      on a page whose 32-bit write map is MAP?\n"
		"                      (bit i = sub-page i writable; hex or dec)\n"
		"\n"
		"Running guests (spp run, spp demo, spp info) is not built yet.\n");
}

/* Parse a whole unsigned number (0x.. hex or decimal) into *@out. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	struct spp_write_verdict v;
	struct spp_access *acc;
	uint64_t gpa, len, map;
	int ret;

	if (argc != 4) {
		fprintf(stderr, "spp check: expected GPA LEN MAP\n");
		return EXIT_USAGE;
	}
	if (parse_u64(argv[1], &gpa)) {
		fprintf(stderr, "spp check: bad GPA '%s'\n", argv[1]);
		return EXIT_USAGE;
	}
	if (parse_u64(argv[2], &len) || !len || len > SPP_PAGE_SIZE) {
		fprintf(stderr, "spp check: bad LEN '%s' (1..4096)\n", argv[2]);
		return EXIT_USAGE;
	}
	if (parse_u64(argv[3], &map) || map > UINT32_MAX) {
		fprintf(stderr, "spp check: bad MAP '%s' (32 bits)\n", argv[3]);
		return EXIT_USAGE;
	}
	if (gpa >= (1ULL << SPP_GPA_BITS) - SPP_PAGE_SIZE) {
		fprintf(stderr, "spp check: GPA '%s' beyond the 48-bit space\n",
			argv[1]);
		return EXIT_USAGE;
	}
	ret = spp_access_create(&acc);
	if (!ret)
		ret = spp_access_add_ram(acc, gpa & SPP_PAGE_MASK,
					 2 * SPP_PAGE_SIZE);
	if (!ret)
		ret = spp_access_set_range(acc, gpa >> SPP_PAGE_SHIFT, 2,
					   (uint32_t)map);
	if (!ret)
		ret = spp_access_check_write(acc, gpa, (uint32_t)len, &v);
	spp_access_destroy(acc);
	if (ret) {
		fprintf(stderr, "spp check: %s\n", strerror(-ret));
		return 1;
	}
	if (v.allowed)
		printf("allowed (%u sub-pages)\n", v.subpages_touched);
	else
		printf("denied: sub-page %u at 0x%" PRIx64 "\n",
		       v.denied_subpage, v.denied_gpa);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("spp %s\n", spp_version());
		return 0;
	}
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 1, argv + 1);
	fprintf(stderr, "spp: unknown command '%s' (try --help)\n", argv[1]);
	return EXIT_USAGE;
}
