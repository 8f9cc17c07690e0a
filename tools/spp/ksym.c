// SPDX-License-Identifier: MIT
/*
 * ksym.c - "spp ksym": a kernel's symbol table from its image (the
 * kallsyms tables of a bzImage, spp_ksym_load_image()) or from a
 * System.map or /proc/kallsyms (spp_ksym_load()); listed in System.map
 * format or asked for NAMEs (spp/ksym.h, docs/introspection.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <spp/ksym.h>

#include "spp_cli.h"

/* The table in System.map format ("\t[MODULE]" for module symbols). */
static int list(const struct spp_ksym_table *t)
{
	size_t i, n = spp_ksym_count(t);

	for (i = 0; i < n; i++) {
		const char *name, *mod;
		uint64_t a;
		char type;

		if (spp_ksym_at(t, i, &a, &type, &name, &mod))
			return SPP_CLI_ERROR;
		if (mod)
			printf("%016" PRIx64 " %c %s\t[%s]\n", a, type, name,
			       mod);
		else
			printf("%016" PRIx64 " %c %s\n", a, type, name);
	}
	return fflush(stdout) || ferror(stdout) ? SPP_CLI_ERROR : SPP_CLI_OK;
}

/* "NAME ADDR SIZE" for NAME[+OFF][/LEN]. */
static int lookup(const struct spp_ksym_table *t, const char *spec)
{
	uint64_t a, len;
	int ret = spp_ksym_parse_range(t, spec, &a, &len);

	/* a symbol without a known size: its address, size 0 */
	if (ret == -ENODATA && !strpbrk(spec, "+/"))
		ret = spp_ksym_lookup(t, spec, &a, &len);
	if (ret) {
		spp_cli_err("%s: %s", spec,
			    ret == -ENOENT   ? "no such symbol" :
			    ret == -ENOTUNIQ ? "several symbols of that name" :
			    ret == -EINVAL   ? "expected NAME[+OFF][/LEN]" :
			    ret == -ERANGE ? "OFF at or past the symbol's end" :
					     strerror(-ret));
		return SPP_CLI_ERROR;
	}
	printf("%s 0x%016" PRIx64 " %" PRIu64 "\n", spec, a, len);
	return SPP_CLI_OK;
}

int spp_cli_ksym(int argc, char **argv)
{
	struct spp_ksym_error err = { 0, NULL };
	struct spp_ksym_table *t = NULL;
	struct spp_run_opts o;
	const char *path;
	int first, i, ret, status = SPP_CLI_OK;

	ret = spp_cli_ksym_opts(argc, argv, &o, &first);
	if (ret)
		return ret;
	path = o.ksym_image ? o.ksym_image : o.ksym_map;
	ret = o.ksym_image ? spp_ksym_load_image(path, &t, &err) :
			     spp_ksym_load(path, &t, &err);
	if (ret) {
		if (err.line)
			spp_cli_err("%s:%u: %s", path, err.line, err.what);
		else
			spp_cli_err("%s: %s (%s)", path,
				    err.what ? err.what : "failed",
				    strerror(-ret));
		return SPP_CLI_ERROR;
	}
	if (first >= argc)
		status = list(t);
	for (i = first; i < argc; i++)
		if (lookup(t, argv[i]))
			status = SPP_CLI_ERROR;
	spp_ksym_destroy(t);
	return status;
}
