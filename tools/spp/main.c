// SPDX-License-Identifier: MIT
/*
 * spp - run guests under sub-page write protection.
 *
 * Commands: "run" (run.c), "ctl" (ctl.c), "ksym" (ksym.c), "demo" (demo.c on KVM; the core-model demo
 * below without KVM), "info" (info.c), "check", which answers one
 * write-check question with the core model, and "help". The command
 * table at the end is the one place that names them: handler, usage,
 * help. Each takes -h/--help; numbers go through spp_cli_parse_number()
 * (options.c). The files of this command are listed in spp_cli.h;
 * docs/spp.1 is its manual.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spp/spp.h>
#include <spp/vector.h>

#include "spp_cli.h"

static int cmd_check(int argc, char **argv)
{
	struct spp_write_verdict v;
	struct spp_access *acc;
	uint64_t gpa, len, map;
	int ret;

	if (argc != 4) {
		spp_cli_err("expected GPA LEN MAP");
		return SPP_CLI_USAGE;
	}
	if (spp_cli_parse_number(argv[1], 0, &gpa)) {
		spp_cli_err("bad GPA '%s' (%s)", argv[1],
			    spp_cli_number_help(argv[1]));
		return SPP_CLI_USAGE;
	}
	if (spp_cli_parse_number(argv[2], SPP_CLI_NUM_SIZE, &len) || !len ||
	    len > SPP_PAGE_SIZE) {
		spp_cli_err("bad LEN '%s' (1..%llu)", argv[2], SPP_PAGE_SIZE);
		return SPP_CLI_USAGE;
	}
	if (spp_cli_parse_number(argv[3], 0, &map)) {
		spp_cli_err("bad MAP '%s' (%s)", argv[3],
			    spp_cli_number_help(argv[3]));
		return SPP_CLI_USAGE;
	}
	if (map > UINT32_MAX) {
		spp_cli_err("bad MAP '%s' (32 bits)", argv[3]);
		return SPP_CLI_USAGE;
	}
	if (gpa >= (1ULL << SPP_GPA_BITS) - SPP_PAGE_SIZE) {
		spp_cli_err("GPA '%s' beyond the %u-bit space", argv[1],
			    SPP_GPA_BITS);
		return SPP_CLI_USAGE;
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
		spp_cli_err("%s", strerror(-ret));
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
		spp_cli_err("%s: %s", what, strerror(-ret));
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
		denied += !demo_write(acc, page + SPP_SUBPAGE_SIZE * i, 4,
				      "0x99 into sub-page");
	printf("  -> %u of %u stores denied\n", denied, SPP_SUBPAGES_PER_PAGE);
	req.map[0] = SPP_ACCESS_FULL;
	die_on(spp_access_set(acc, &req.h), "SET_ACCESS");
	printf("  SET_ACCESS map 0x%08x (unprotect)\n", SPP_ACCESS_FULL);
	for (i = denied = 0; i < SPP_SUBPAGES_PER_PAGE; i++) {
		struct spp_write_verdict v;

		die_on(spp_access_check_write(acc, page + SPP_SUBPAGE_SIZE * i,
					      4, &v),
		       "check");
		denied += !v.allowed;
	}
	printf("  -> the same %u stores: %u denied\n\n", SPP_SUBPAGES_PER_PAGE,
	       denied);

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

/* The demo with @args (and @flags, spp_cli_rerun_in_vm()) inside the KVM
 * test VM: its exit status, or -1 with the reason in @why. */
static int demo_in_vm(const char *const *args, unsigned int flags, char *why,
		      size_t n)
{
	return spp_cli_rerun_in_vm(args, flags,
				   "spp: no /dev/kvm here: running the demo "
				   "inside the KVM test VM (scripts/kvm-vm, "
				   "~15 s to boot)",
				   why, n);
}

static int cmd_demo(int argc, char **argv)
{
	static const char *const args[] = { "demo", NULL };
	static const char *const args_linux[] = { "demo", "--linux", NULL };
	char why[512], why_vm[200];
	bool linux_scene = false;
	int ret, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return SPP_CLI_HELP;
		if (strcmp(argv[i], "--linux")) {
			spp_cli_err(
				"unknown argument '%s' (spp demo [--linux])",
				argv[i]);
			return SPP_CLI_USAGE;
		}
		linux_scene = true;
	}
	if (linux_scene) {
		if (spp_cli_kvm_usable(why, sizeof(why)))
			return spp_cli_demo_linux();
		ret = demo_in_vm(args_linux, SPP_CLI_VM_NESTED, why_vm,
				 sizeof(why_vm));
		if (ret >= 0)
			return ret;
		spp_cli_err("%s, and no KVM test VM (%s): demo --linux needs "
			    "KVM",
			    why, why_vm);
		return SPP_CLI_ERROR;
	}
	if (spp_cli_kvm_usable(why, sizeof(why))) {
		ret = spp_cli_demo_kvm();
		if (ret >= 0)
			return ret;
		snprintf(why, sizeof(why), "KVM refused the demo VM");
	} else {
		ret = demo_in_vm(args, 0, why_vm, sizeof(why_vm));
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

	(void)argc;
	(void)argv;
	if (spp_cli_kvm_usable(why, sizeof(why)))
		return spp_cli_info();
	printf("spp version:       %s\n", spp_version());
	printf("/dev/kvm:          unusable here (%s)\n", why);
	fflush(stdout);
	ret = spp_cli_rerun_in_vm(args, 0,
				  "spp: running spp info inside the KVM test "
				  "VM (scripts/kvm-vm, ~15 s to boot):",
				  why_vm, sizeof(why_vm));
	if (ret >= 0)
		return ret;
	printf("KVM test VM:       not used (%s)\n", why_vm);
	return SPP_CLI_ERROR;
}

static int cmd_help(int argc, char **argv);

/*
 * The commands of spp: the one place that names them. @args follows the
 * name in "usage: spp NAME ARGS" and in spp --help, where @summary stands
 * beside it; @help (or @help_fn) is the rest of NAME --help. @operands:
 * how many arguments main() lets through to @run after refusing options
 * and taking -h/--help itself; -1: @run parses its own (and returns
 * SPP_CLI_HELP for -h/--help).
 */
static const struct command {
	const char *name;
	const char *args;
	const char *summary;
	int (*run)(int argc, char **argv);
	int operands;
	const char *help;
	void (*help_fn)(FILE *f);
} commands[] = {
	{ "run", SPP_CLI_RUN_ARGS, "run a guest under protection rules",
	  spp_cli_run, -1, NULL, spp_cli_run_help },
	{ "qemu", SPP_CLI_QEMU_ARGS,
	  "start QEMU with spp guarding its guest\n"
	  "(an unmodified qemu-system-x86_64 on KVM)",
	  spp_cli_qemu, -1, NULL, spp_cli_qemu_help },
	{ "ctl", "SOCKET COMMAND [ARGS]",
	  "control a running spp run or spp qemu\n"
	  "(protect, unprotect, get, stats, events ...)",
	  spp_cli_ctl, -1, NULL, spp_cli_ctl_help },
	{ "demo", "[--linux]",
	  "the KVM SPP selftest scene and a guarded\n"
	  "128-byte structure, on a built-in guest",
	  cmd_demo, -1,
	  "Run a built-in guest and play two scenes, checking each step:\n"
	  "the KVM SPP selftest (a page with map 0, 32 stores denied,\n"
	  "then unprotected) and a guarded 128-byte structure beside hot\n"
	  "data. Without KVM the scenes play on the core model.\n"
	  "--linux: the kernel-structure scene instead: this machine's\n"
	  "kernel and the build tree's initramfs under spp qemu,\n"
	  "modprobe_path and core_pattern protected by name (symbols\n"
	  "from the kernel image), root's sysctl writes denied, then\n"
	  "logged (needs KVM or the KVM test VM). Exit status 0 when\n"
	  "every check passed, 10 otherwise.\n",
	  NULL },
	{ "info", "", "what this host's KVM offers spp", cmd_info, 0,
	  "What this host's KVM offers spp: /dev/kvm, the API version,\n"
	  "read-only memslots, memslot and vCPU limits, whether guest\n"
	  "CPL0 code runs natively, the time of an exit round trip.\n"
	  "Exit status 0, or 10 without usable KVM.\n",
	  NULL },
	{ "check", "GPA LEN MAP",
	  "would a LEN-byte write at GPA be allowed\n"
	  "on a page whose 32-bit write map is MAP?",
	  cmd_check, 3,
	  "Answer with the core model alone (no KVM) whether a LEN-byte\n"
	  "write at GPA is allowed on a page whose 32-bit write map is\n"
	  "MAP (bit i set = sub-page i writable). Numbers: 0x for hex,\n"
	  "otherwise decimal; LEN (1..4096) may end in K.\n"
	  "  spp check 0x10000290 4 0xffffffdf   ->  denied: sub-page 5 ...\n",
	  NULL },
	{ "ksym", SPP_CLI_KSYM_ARGS,
	  "a kernel's symbols from its image (no -dbg\n"
	  "package) or System.map: list, look up",
	  spp_cli_ksym, -1, NULL, spp_cli_ksym_help },
	{ "help", "[COMMAND]", "this text, or the help of COMMAND", cmd_help, 1,
	  "Print the help of spp, or of COMMAND (run, qemu, ctl, demo,\n"
	  "info, check, ksym, help) as COMMAND --help does.\n",
	  NULL },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))
#define SUMMARY_COL 22 /* where a command's summary starts in spp --help */

static void usage(FILE *f)
{
	size_t i;

	fputs("usage: spp [-h|--help] [-V|--version] COMMAND [ARGS]\n"
	      "\n"
	      "Sub-page (128-byte) write protection for KVM guests.\n"
	      "\n"
	      "commands:\n",
	      f);
	for (i = 0; i < NCOMMANDS; i++) {
		const struct command *c = &commands[i];
		const char *s = c->summary, *nl;
		int n = fprintf(f, "  %s%s%s", c->name, *c->args ? " " : "",
				c->args);

		fprintf(f, "%*s", n > SUMMARY_COL - 2 ? 2 : SUMMARY_COL - n,
			"");
		while ((nl = strchr(s, '\n'))) {
			fprintf(f, "%.*s\n%*s", (int)(nl - s), s, SUMMARY_COL,
				"");
			s = nl + 1;
		}
		fprintf(f, "%s\n", s);
	}
	fputs("\n"
	      "Every command takes -h/--help. Numbers: 0x for hex, otherwise\n"
	      "decimal; sizes take K, M, G or T (spp(1), NUMBERS).\n"
	      "Without /dev/kvm, the spp of a build tree runs demo and info in\n"
	      "the source tree's KVM test VM (scripts/kvm-vm) if it is set up.\n"
	      "See spp(1).\n",
	      f);
}

/* NAME --help: the usage line, then the command's own text. */
static void command_help(const struct command *c, FILE *f)
{
	fprintf(f, "usage: spp %s%s%s\n\n", c->name, *c->args ? " " : "",
		c->args);
	if (c->help_fn)
		c->help_fn(f);
	else
		fputs(c->help, f);
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/*
 * The arguments of a command that takes no options but -h/--help and at
 * most c->operands operands. Returns -1 to go on, otherwise the exit
 * status (help printed, or one error line).
 */
static int simple_args(const struct command *c, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			command_help(c, stdout);
			return SPP_CLI_OK;
		}
	}
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1]) {
			spp_cli_err("unknown option '%s' (try spp help %s)",
				    argv[i], c->name);
			return SPP_CLI_USAGE;
		}
	}
	if (argc - 1 > c->operands) {
		spp_cli_err("unexpected argument '%s'", argv[c->operands + 1]);
		return SPP_CLI_USAGE;
	}
	return -1;
}

static int cmd_help(int argc, char **argv)
{
	const struct command *c;
	char names[100];
	size_t i, len = 0;

	if (argc < 2) {
		usage(stdout);
		return SPP_CLI_OK;
	}
	c = find_command(argv[1]);
	if (!c) {
		for (i = 0; i < NCOMMANDS && len < sizeof(names); i++)
			len += (size_t)snprintf(names + len,
						sizeof(names) - len, "%s%s",
						i ? ", " : "",
						commands[i].name);
		spp_cli_err("unknown command '%s' (%s)", argv[1], names);
		return SPP_CLI_USAGE;
	}
	command_help(c, stdout);
	return SPP_CLI_OK;
}

int main(int argc, char **argv)
{
	const struct command *c;
	int ret;

	if (argc < 2) {
		usage(stderr);
		return SPP_CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return SPP_CLI_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("spp %s\n", spp_version());
		return SPP_CLI_OK;
	}
	c = find_command(argv[1]);
	if (!c) {
		spp_cli_err("unknown command '%s' (try spp help)", argv[1]);
		return SPP_CLI_USAGE;
	}
	spp_cli_command = c->name;
	if (c->operands >= 0) {
		ret = simple_args(c, argc - 1, argv + 1);
		if (ret >= 0)
			return ret;
	}
	ret = c->run(argc - 1, argv + 1);
	if (ret == SPP_CLI_HELP) {
		command_help(c, stdout);
		return SPP_CLI_OK;
	}
	return ret;
}
