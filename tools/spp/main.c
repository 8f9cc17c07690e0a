// SPDX-License-Identifier: MIT
/*
 * spp - run guests under sub-page write protection.
 *
 * Commands: "run" (run.c), "demo" (demo.c on KVM; the core-model demo
 * below without KVM), "info" (info.c), "check", which answers one
 * write-check question with the core model, and "help". Each takes
 * -h/--help; numbers go through spp_cli_parse_number() (options.c). The
 * files of this command are listed in spp_cli.h; docs/spp.1 is its
 * manual.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spp/spp.h>

#include "spp_cli.h"

#define EXIT_USAGE SPP_CLI_USAGE

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spp [-h|--help] [-V|--version] COMMAND [ARGS]\n"
		"\n"
		"Sub-page (128-byte) write protection for KVM guests.\n"
		"\n"
		"commands:\n"
		"  run [OPTIONS] GUEST.elf  run a guest under protection rules\n"
		"  demo                the KVM SPP selftest scene and a guarded\n"
		"                      128-byte structure, on a built-in guest\n"
		"  info                what this host's KVM offers spp\n"
		"  check GPA LEN MAP   would a LEN-byte write at GPA be allowed\n"
		"                      on a page whose 32-bit write map is MAP?\n"
		"  help [COMMAND]      this text, or the help of COMMAND\n"
		"\n"
		"Every command takes -h/--help. Numbers: 0x for hex, otherwise\n"
		"decimal; sizes take K, M, G or T (spp(1), NUMBERS).\n"
		"Without /dev/kvm, the spp of a build tree runs demo and info in\n"
		"the source tree's KVM test VM (scripts/kvm-vm) if it is set up.\n"
		"See spp(1).\n");
}

static void demo_usage(FILE *f)
{
	fprintf(f,
		"usage: spp demo\n"
		"\n"
		"Run a built-in guest and play two scenes, checking each step:\n"
		"the KVM SPP selftest (a page with map 0, 32 stores denied,\n"
		"then unprotected) and a guarded 128-byte structure beside hot\n"
		"data. Without KVM the scenes play on the core model. Exit\n"
		"status 0 when every check passed, 10 otherwise.\n");
}

static void info_usage(FILE *f)
{
	fprintf(f,
		"usage: spp info\n"
		"\n"
		"What this host's KVM offers spp: /dev/kvm, the API version,\n"
		"read-only memslots, memslot and vCPU limits, whether guest\n"
		"CPL0 code runs natively, the time of an exit round trip.\n"
		"Exit status 0, or 10 without usable KVM.\n");
}

static void check_usage(FILE *f)
{
	fprintf(f,
		"usage: spp check GPA LEN MAP\n"
		"\n"
		"Answer with the core model alone (no KVM) whether a LEN-byte\n"
		"write at GPA is allowed on a page whose 32-bit write map is\n"
		"MAP (bit i set = sub-page i writable). Numbers: 0x for hex,\n"
		"otherwise decimal; LEN (1..4096) may end in K.\n"
		"  spp check 0x10000290 4 0xffffffdf   ->  denied: sub-page 5 ...\n");
}

static void help_usage(FILE *f)
{
	fprintf(f,
		"usage: spp help [COMMAND]\n"
		"\n"
		"Print the help of spp, or of COMMAND (run, demo, info, check,\n"
		"help) as COMMAND --help does.\n");
}

/*
 * The arguments of a command that takes none but -h/--help (@n of them
 * are its own: check's three numbers). Returns -1 to go on, otherwise
 * the exit status (help printed, or one error line).
 */
static int simple_args(const char *cmd, int argc, char **argv, int n,
		       void (*help)(FILE *))
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			help(stdout);
			return 0;
		}
	}
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr,
				"spp %s: unknown option '%s' (try spp help "
				"%s)\n",
				cmd, argv[i], cmd);
			return EXIT_USAGE;
		}
	}
	if (argc - 1 > n) {
		fprintf(stderr, "spp %s: unexpected argument '%s'\n", cmd,
			argv[n + 1]);
		return EXIT_USAGE;
	}
	return -1;
}

static int cmd_check(int argc, char **argv)
{
	struct spp_write_verdict v;
	struct spp_access *acc;
	uint64_t gpa, len, map;
	int ret;

	ret = simple_args("check", argc, argv, 3, check_usage);
	if (ret >= 0)
		return ret;
	if (argc != 4) {
		fprintf(stderr, "spp check: expected GPA LEN MAP\n");
		return EXIT_USAGE;
	}
	if (spp_cli_parse_number(argv[1], 0, &gpa)) {
		fprintf(stderr, "spp check: bad GPA '%s' (%s)\n", argv[1],
			spp_cli_number_help(argv[1]));
		return EXIT_USAGE;
	}
	if (spp_cli_parse_number(argv[2], SPP_CLI_NUM_SIZE, &len) || !len ||
	    len > SPP_PAGE_SIZE) {
		fprintf(stderr, "spp check: bad LEN '%s' (1..4096)\n", argv[2]);
		return EXIT_USAGE;
	}
	if (spp_cli_parse_number(argv[3], 0, &map)) {
		fprintf(stderr, "spp check: bad MAP '%s' (%s)\n", argv[3],
			spp_cli_number_help(argv[3]));
		return EXIT_USAGE;
	}
	if (map > UINT32_MAX) {
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
		return SPP_CLI_ERROR;
	}
	if (v.allowed)
		printf("allowed (%u sub-pages)\n", v.subpages_touched);
	else
		printf("denied: sub-page %u at 0x%" PRIx64 "\n",
		       v.denied_subpage, v.denied_gpa);
	return 0;
}

static void die_on(int ret, const char *what)
{
	if (ret < 0) {
		fprintf(stderr, "spp demo: %s: %s\n", what, strerror(-ret));
		exit(SPP_CLI_ERROR);
	}
}

/* One model write: check it, print it as an event line, count it. */
static bool demo_write(struct spp_access *acc, uint64_t gpa, uint32_t len,
		       const char *what)
{
	struct spp_write_verdict v;

	die_on(spp_access_check_write(acc, gpa, len, &v), "check");
	if (v.allowed)
		printf("  write %-26s gpa=0x%08" PRIx64 " len=%u  allowed\n",
		       what, gpa, len);
	else
		printf("  write %-26s gpa=0x%08" PRIx64
		       " len=%u  DENIED (sub-page %u at 0x%" PRIx64 ")\n",
		       what, gpa, len, v.denied_subpage, v.denied_gpa);
	return v.allowed;
}

int spp_cli_demo_model(void)
{
	const uint64_t page = 0x10000000, gfn = page >> SPP_PAGE_SHIFT;
	struct {
		struct spp_subpage h;
		uint32_t map[1];
	} req = { { .gfn_base = gfn, .npages = 1 }, { 0 } };
	struct spp_walk_result wr;
	struct spp_access *acc;
	struct spp_sppt *sppt;
	unsigned int i, denied = 0;
	uint64_t vec;
	int ret;

	printf("spp %s demo on the core model (no guest runs: no KVM)\n\n",
	       spp_version());
	die_on(spp_access_create(&acc), "create");
	die_on(spp_access_add_ram(acc, 0, 512ULL << 20), "add RAM");
	die_on(spp_sppt_create(&sppt, SPP_SPPT_DEFAULT_BASE,
			       SPP_SPPT_DEFAULT_MAXPHYADDR),
	       "create SPPT");
	die_on(spp_access_attach_sppt(acc, sppt), "attach SPPT");

	printf("scene 1: the KVM SPP selftest, page 0x%" PRIx64 "\n", page);
	ret = spp_access_set(acc, &req.h);
	die_on(ret, "SET_ACCESS");
	printf("  SET_ACCESS gfn 0x%" PRIx64 " map 0x%08x -> %d page(s)\n", gfn,
	       req.map[0], ret);
	for (i = 0; i < SPP_SUBPAGES_PER_PAGE; i++)
		denied += !demo_write(acc, page + 128 * i, 4,
				      "0x99 into sub-page");
	printf("  -> %u of 32 stores denied\n", denied);
	req.map[0] = SPP_ACCESS_FULL;
	die_on(spp_access_set(acc, &req.h), "SET_ACCESS");
	printf("  SET_ACCESS map 0xffffffff (unprotect)\n");
	for (i = denied = 0; i < SPP_SUBPAGES_PER_PAGE; i++) {
		struct spp_write_verdict v;

		die_on(spp_access_check_write(acc, page + 128 * i, 4, &v),
		       "check");
		denied += !v.allowed;
	}
	printf("  -> the same 32 stores: %u denied\n\n", denied);

	printf("scene 2: a 128-byte structure (sub-page 5) beside hot data\n");
	req.map[0] = ~(1u << 5);
	die_on(spp_access_set(acc, &req.h), "SET_ACCESS");
	die_on(spp_sppt_get_vector(sppt, gfn, &vec), "SPPT");
	printf("  map 0x%08x, SPPT leaf vector 0x%016" PRIx64
	       ", SPPTP 0x%" PRIx64 "\n",
	       req.map[0], vec, spp_sppt_spptp(sppt));
	demo_write(acc, page + 0x100, 8, "hot data, sub-page 2");
	demo_write(acc, page + 0x278, 8, "hot data, end of sub-page 4");
	demo_write(acc, page + 0x290, 4, "structure field");
	demo_write(acc, page + 0x27c, 8, "straddling into it");
	demo_write(acc, page + 0x300, 8, "right after it");
	{
		struct spp_walk_input in = {
			.spp_enabled = true,
			.spptp = spp_sppt_spptp(sppt),
			.maxphyaddr = spp_sppt_maxphyaddr(sppt),
			.read = spp_sppt_read,
			.read_ctx = sppt,
			.ept = { .read = true, .spp = true },
			.gpa = page + 0x290,
			.type = SPP_ACCESS_WRITE,
		};

		die_on(spp_walk(&in, &wr), "walk");
		printf("  hardware model for the field write: %s, exit %u, "
		       "qualification 0x%" PRIx64 "\n",
		       spp_walk_outcome_name(wr.outcome), wr.exit_reason,
		       wr.exit_qualification);
	}
	spp_access_attach_sppt(acc, NULL);
	spp_sppt_destroy(sppt);
	spp_access_destroy(acc);
	return 0;
}

static int cmd_demo(int argc, char **argv)
{
	static const char *const args[] = { "demo", NULL };
	char why[512], why_vm[200];
	int ret;

	ret = simple_args("demo", argc, argv, 0, demo_usage);
	if (ret >= 0)
		return ret;
	if (spp_cli_kvm_usable(why, sizeof(why))) {
		ret = spp_cli_demo_kvm();
		if (ret >= 0)
			return ret;
		snprintf(why, sizeof(why), "KVM refused the demo VM");
	} else {
		ret = spp_cli_rerun_in_vm(
			args,
			"spp: no /dev/kvm here: running the demo inside the "
			"KVM test VM (scripts/kvm-vm, ~15 s to boot)",
			why_vm, sizeof(why_vm));
		if (ret >= 0)
			return ret;
		strncat(why,
			"; no KVM test VM: ", sizeof(why) - strlen(why) - 1);
		strncat(why, why_vm, sizeof(why) - strlen(why) - 1);
	}
	fprintf(stderr,
		"spp: cannot run guests (%s): playing the demo on the core "
		"model instead\n",
		why);
	return spp_cli_demo_model();
}

static int cmd_info(int argc, char **argv)
{
	static const char *const args[] = { "info", NULL };
	char why[256], why_vm[256];
	int ret;

	ret = simple_args("info", argc, argv, 0, info_usage);
	if (ret >= 0)
		return ret;
	if (spp_cli_kvm_usable(why, sizeof(why)))
		return spp_cli_info();
	printf("spp version:       %s\n", spp_version());
	printf("/dev/kvm:          unusable here (%s)\n", why);
	fflush(stdout);
	ret = spp_cli_rerun_in_vm(args,
				  "spp: running spp info inside the KVM test "
				  "VM (scripts/kvm-vm, ~15 s to boot):",
				  why_vm, sizeof(why_vm));
	if (ret >= 0)
		return ret;
	printf("KVM test VM:       not used (%s)\n", why_vm);
	return SPP_CLI_ERROR;
}

static int cmd_help(int argc, char **argv);

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	void (*usage)(FILE *f);
} commands[] = {
	{ "run", spp_cli_run, spp_cli_run_usage },
	{ "demo", cmd_demo, demo_usage },
	{ "info", cmd_info, info_usage },
	{ "check", cmd_check, check_usage },
	{ "help", cmd_help, help_usage },
};

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int cmd_help(int argc, char **argv)
{
	const struct command *c;
	int ret;

	ret = simple_args("help", argc, argv, 1, help_usage);
	if (ret >= 0)
		return ret;
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	c = find_command(argv[1]);
	if (!c) {
		fprintf(stderr,
			"spp help: unknown command '%s' (run, demo, info, "
			"check, help)\n",
			argv[1]);
		return EXIT_USAGE;
	}
	c->usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("spp %s\n", spp_version());
		return 0;
	}
	c = find_command(argv[1]);
	if (c)
		return c->run(argc - 1, argv + 1);
	fprintf(stderr, "spp: unknown command '%s' (try spp help)\n", argv[1]);
	return EXIT_USAGE;
}
