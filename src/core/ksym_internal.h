/* SPDX-License-Identifier: MIT */
/*
 * ksym_internal.h - how src/core/kallsyms.c hands ksym.c the symbols it
 * decoded from a kernel image (not installed; "spp_ksymtab_", not
 * "spp_ksym_", so that libspp.map's spp_ksym_* does not export it).
 */
#ifndef SPP_CORE_KSYM_INTERNAL_H
#define SPP_CORE_KSYM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <spp/ksym.h>

/* One decoded symbol: @name is an offset into the pool. */
struct spp_ksymtab_entry {
	uint64_t addr;
	size_t name;
	char type;
};

/*
 * spp_ksymtab_new() - a table of the @n symbols @e (any order), with
 * the semantics of spp_ksym_parse() (sizes are distances, absolute
 * symbols have none). @pool holds the NUL-terminated names and becomes
 * the table's (freed on failure too); every @e[i].name must be below
 * @pool_len and its name end in a NUL before @pool_len (checked: -EINVAL).
 * Returns 0 with the table in *@out, -EINVAL, -ENODATA (no symbol) or
 * -ENOMEM; @err as spp_ksym_parse() (line 0).
 */
int spp_ksymtab_new(char *pool, size_t pool_len,
		    const struct spp_ksymtab_entry *e, size_t n,
		    struct spp_ksym_table **out, struct spp_ksym_error *err);

#endif /* SPP_CORE_KSYM_INTERNAL_H */
