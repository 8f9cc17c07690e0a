/* SPDX-License-Identifier: MIT */
/*
 * spp/ksym.h - a Linux kernel's symbol table: names <-> addresses.
 *
 * Reads the two text formats the kernel produces, one symbol a line:
 *
 *   ADDR TYPE NAME              System.map (nm -n of vmlinux)
 *   ADDR TYPE NAME\t[MODULE]    /proc/kallsyms (module symbols)
 *
 * ADDR is hexadecimal (an optional 0x is accepted), TYPE one letter (nm's
 * type: T/t text, D/d data, B/b bss, R/r read-only, A/a absolute, ...),
 * fields separated by blanks. Empty lines are skipped, and so are
 * undefined symbols without an address ("U name", "w name").
 *
 * Addresses: each symbol keeps its address from the file (the link-time
 * address for System.map). A table also has a slide (0 at first) that
 * every lookup adds and every reverse lookup subtracts: with KASLR the
 * running kernel is the linked one moved by that slide
 * (spp_ksym_find_slide()). /proc/kallsyms read inside the running guest
 * already holds runtime addresses: its slide stays 0.
 *
 * Sizes: neither format has them. A symbol's size here is the distance to
 * the next symbol at a higher address, an estimate (padding and alignment
 * count as part of it; of aliases at one address each gets the same
 * size). Absolute symbols (A/a) are no locations: they have size 0 and
 * never answer an address -> name query. The highest symbol's size is
 * unknown (0), and so is that of a symbol 1 GiB or more below the next:
 * a kernel image is at most 1 GiB, so such a gap lies between address
 * ranges (per-cpu offsets near 0 and the image; the image and modules).
 *
 * Names are not unique in a real map (local symbols of different files:
 * hundreds of them). The table keeps them all; looking one up by name
 * returns -ENOTUNIQ unless its copies all have one address or exactly one
 * of them is global (upper-case type), the one a link would pick.
 *
 * A third source is the kernel image itself (spp_ksym_parse_image()): a
 * kernel built with CONFIG_KALLSYMS carries its symbol table, compressed,
 * in tables the running kernel reads /proc/kallsyms from. spp decodes
 * them from the bzImage a guest boots (or an uncompressed vmlinux), so
 * no System.map and no -dbg package is needed (docs/introspection.md,
 * "Where the symbols come from"). Addresses are the link-time ones, as in
 * System.map; per-cpu symbols are absolute (type A), as /proc/kallsyms
 * shows them.
 *
 * A table does not change after loading except for its slide; lookups may
 * run concurrently, spp_ksym_set_slide() needs exclusive access.
 */
#ifndef SPP_KSYM_H
#define SPP_KSYM_H

#include <stddef.h>
#include <stdint.h>

struct spp_ksym_table;

/* Why a parse or load failed, for a message "FILE:LINE: WHAT". */
struct spp_ksym_error {
	unsigned int line; /* 1-based line at fault; 0 = the input as a whole */
	const char *what; /* static text, never NULL after a failure */
};

/*
 * spp_ksym_parse() - build a table from the text @buf of @len bytes
 * (need not end in a newline or a NUL; the table copies what it keeps).
 * Returns 0 with the table in *@out, or:
 *  -EINVAL  a malformed line (@err->line names it), a NUL byte, NULL
 *           @buf (with @len > 0) or @out;
 *  -ENODATA no symbol at all; Debian's stub System.map (its one line
 *           says the real map is in the linux-image-VERSION-dbg package);
 *           a /proc/kallsyms whose addresses are all 0 (kptr_restrict
 *           hides them from the reader);
 *  -ENOMEM.
 * @err (may be NULL) is filled on failure only; *@out is untouched then.
 */
int spp_ksym_parse(const char *buf, size_t len, struct spp_ksym_table **out,
		   struct spp_ksym_error *err);

/*
 * spp_ksym_load() - spp_ksym_parse() of the file at @path (also
 * /proc/kallsyms, whose size stat() does not tell). Errors as
 * spp_ksym_parse(), plus -errno of open()/read() and -EFBIG for a file
 * over 256 MiB (a System.map is about 10 MB).
 */
int spp_ksym_load(const char *path, struct spp_ksym_table **out,
		  struct spp_ksym_error *err);

/*
 * spp_ksym_parse_image() - build a table from the kallsyms tables inside
 * a kernel image: @buf of @len bytes is an x86 bzImage (boot protocol
 * 2.08 or later; payload compressed with xz, zstd or gzip) or an
 * uncompressed kernel (vmlinux, or any blob holding the tables). Every
 * byte is untrusted: offsets are bounds-checked, the decompressed size is
 * capped at 512 MiB. The tables are found by their structure, not by
 * their order (which changed between kernels): the 256-entry token index
 * whose steps are the lengths of the token strings, the markers of every
 * 256th name in the compressed names just before them, the symbol count,
 * and the sorted offsets from the relative base (CONFIG_KALLSYMS_BASE_
 * RELATIVE, with or without absolute per-cpu symbols). A kernel with
 * fewer than 513 symbols is not recognised. Returns 0 with the table in
 * *@out, or:
 *  -EINVAL     a malformed image: a bzImage whose payload lies outside
 *              it, a corrupt compressed stream, decoded names that run
 *              out of the table or hold control characters;
 *  -ENODATA    no kallsyms tables found (a kernel without
 *              CONFIG_KALLSYMS, not a kernel at all);
 *  -EOPNOTSUPP a payload compressed otherwise (bzip2, lzma, lzo, lz4),
 *              or a kernel without CONFIG_KALLSYMS_BASE_RELATIVE;
 *  -EFBIG      a payload that would decompress beyond 512 MiB;
 *  -ENOMEM.
 * @err (may be NULL) says why (line 0) on failure only; *@out is
 * untouched then. Decompressing takes about a second and as much memory
 * as the uncompressed kernel (60-70 MB for Debian's), freed on return.
 */
int spp_ksym_parse_image(const void *buf, size_t len,
			 struct spp_ksym_table **out,
			 struct spp_ksym_error *err);

/*
 * spp_ksym_load_image() - spp_ksym_parse_image() of the file at @path
 * (e.g. /boot/vmlinuz-VERSION, what "qemu -kernel" boots), mapped
 * read-only. Errors as spp_ksym_parse_image(), plus -errno of
 * open()/fstat()/mmap() and -EFBIG for a file over 1 GiB.
 */
int spp_ksym_load_image(const char *path, struct spp_ksym_table **out,
			struct spp_ksym_error *err);

/*
 * spp_ksym_load_any() - a table from the file at @path, whichever of the
 * three sources it is: a kernel image (an ELF file, an x86 bzImage, or
 * any file with a NUL byte in its first KiB) as spp_ksym_load_image(),
 * anything else (System.map, a copy of /proc/kallsyms, /proc/kallsyms
 * itself) as spp_ksym_load(). For a user who has "the kernel" and should
 * not have to say which kind of file it is. Errors as those two, plus
 * -errno of open()/read() of the first KiB.
 */
int spp_ksym_load_any(const char *path, struct spp_ksym_table **out,
		      struct spp_ksym_error *err);

/*
 * spp_ksym_at() - symbol @i of the table in address order (0 <= @i <
 * spp_ksym_count(); aliases at one address globals first), to list a
 * table, e.g. as a System.map: its address with the slide added, its
 * type letter, its name and its module (NULL for the kernel itself);
 * pointers into the table, valid until it is destroyed. Any output may
 * be NULL. Returns 0, -EINVAL (@t NULL) or -ENOENT (@i out of range;
 * nothing written).
 */
int spp_ksym_at(const struct spp_ksym_table *t, size_t i, uint64_t *addr,
		char *type, const char **name, const char **module);

/* spp_ksym_destroy() - free the table; NULL is fine. */
void spp_ksym_destroy(struct spp_ksym_table *t);

/* spp_ksym_count() - how many symbols the table holds (0 for NULL). */
size_t spp_ksym_count(const struct spp_ksym_table *t);

/*
 * spp_ksym_lookup() - the address (slide applied) and the estimated size
 * of symbol @name; @size may be NULL, *@size is 0 when unknown. Returns
 * 0, -EINVAL (NULL), -ENOENT (no such symbol) or -ENOTUNIQ (several
 * symbols of that name at different addresses, none the one global).
 * Nothing is written on error.
 */
int spp_ksym_lookup(const struct spp_ksym_table *t, const char *name,
		    uint64_t *addr, uint64_t *size);

/*
 * spp_ksym_resolve() - the symbol holding address @addr (a runtime
 * address: the slide is subtracted): the highest located symbol at or
 * below it, with @addr no further than its size (a global of several
 * aliases at one address wins). *@name points into the table (valid until
 * it is destroyed), *@off is @addr - symbol. Either may be NULL.
 * Returns 0, -EINVAL (@t NULL) or -ENOENT (below the first symbol, or at
 * or past the end of the highest one).
 */
int spp_ksym_resolve(const struct spp_ksym_table *t, uint64_t addr,
		     const char **name, uint64_t *off);

/*
 * spp_ksym_format() - "name+0xoff" (just "name" at offset 0) of @addr
 * into @buf of @len bytes, NUL-terminated, as an event's rip is shown.
 * Returns the length written (without the NUL); errors as
 * spp_ksym_resolve(), -EINVAL for NULL @buf, -ENOSPC when @len is too
 * small (@buf then holds nothing usable).
 */
int spp_ksym_format(const struct spp_ksym_table *t, uint64_t addr, char *buf,
		    size_t len);

/*
 * spp_ksym_parse_range() - the byte range named by @spec,
 * "NAME[+OFF][/LEN]" (OFF and LEN decimal or 0x hex, LEN > 0): *@addr =
 * NAME's address (slide applied) + OFF; *@len = LEN, by default the rest
 * of the symbol from OFF on (its size - OFF). Returns 0; -EINVAL (a
 * malformed @spec, LEN 0, the range wrapping past 2^64); -ENOENT or
 * -ENOTUNIQ (the name, as spp_ksym_lookup()); -ENODATA (no LEN and the
 * symbol's size unknown); -ERANGE (no LEN and OFF at or past the
 * symbol's end). Nothing is written on error.
 */
int spp_ksym_parse_range(const struct spp_ksym_table *t, const char *spec,
			 uint64_t *addr, uint64_t *len);

/*
 * spp_ksym_find_slide() - the KASLR slide: symbol @name's runtime address
 * @runtime (e.g. MSR_LSTAR for entry_SYSCALL_64, the IDTR base for
 * idt_table) minus its address in the table, modulo 2^64, into *@slide.
 * Independent of the slide set now. Returns 0; -EINVAL (NULL, or @runtime
 * at another offset within its 4 KiB page than the symbol: the kernel
 * moves by whole pages, so the map is not this kernel's or the symbol is
 * wrong); -ENOENT, -ENOTUNIQ as spp_ksym_lookup().
 */
int spp_ksym_find_slide(const struct spp_ksym_table *t, const char *name,
			uint64_t runtime, uint64_t *slide);

/*
 * spp_ksym_set_slide() - from now on every address the table answers is
 * the file's plus @slide (mod 2^64), and addresses it is asked about are
 * taken to include it. @slide must be a multiple of 4 KiB. Returns 0 or
 * -EINVAL (NULL, misaligned: the slide unchanged).
 */
int spp_ksym_set_slide(struct spp_ksym_table *t, uint64_t slide);

/* spp_ksym_slide() - the slide now (0 for NULL). */
uint64_t spp_ksym_slide(const struct spp_ksym_table *t);

#endif /* SPP_KSYM_H */
