// SPDX-License-Identifier: MIT
/*
 * elf_load.c - static non-PIE ELF64 x86-64 loader: validate everything,
 * then copy.
 *
 * Headers are copied out of the image with memcpy (the buffer need not be
 * aligned). Every offset and size from the file is checked with overflow
 * checks before use.
 */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <spp/elf_load.h>
#include <spp/layout.h>

struct seg {
	uint64_t gpa, filesz, memsz, offset;
	bool exec;
	void *host;
};

static int check_ehdr(const Elf64_Ehdr *eh, size_t size)
{
	uint64_t tab_size, tab_end;

	if (memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return -ENOEXEC;
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_ident[EI_VERSION] != EV_CURRENT ||
	    eh->e_version != EV_CURRENT || eh->e_machine != EM_X86_64)
		return -ENOEXEC;
	if (eh->e_type == ET_DYN)
		return -EINVAL;
	if (eh->e_type != ET_EXEC)
		return -ENOEXEC;
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phnum == PN_XNUM)
		return -EBADMSG;
	if (__builtin_mul_overflow((uint64_t)eh->e_phnum,
				   (uint64_t)eh->e_phentsize, &tab_size) ||
	    __builtin_add_overflow(eh->e_phoff, tab_size, &tab_end) ||
	    tab_end > size)
		return -EBADMSG;
	return 0;
}

/* Check one PT_LOAD header against the file and the guest window. */
static int check_load(const Elf64_Phdr *ph, size_t size, uint64_t win_lo,
		      uint64_t win_hi, struct seg *s)
{
	uint64_t file_end, end;

	if (ph->p_filesz > ph->p_memsz)
		return -EBADMSG;
	if (__builtin_add_overflow(ph->p_offset, ph->p_filesz, &file_end) ||
	    file_end > size)
		return -EBADMSG;
	if (ph->p_paddr != ph->p_vaddr)
		return -ERANGE;
	if (__builtin_add_overflow(ph->p_paddr, ph->p_memsz, &end))
		return -ERANGE;
	if (ph->p_paddr < win_lo || end > win_hi)
		return -ERANGE;
	*s = (struct seg){
		.gpa = ph->p_paddr,
		.filesz = ph->p_filesz,
		.memsz = ph->p_memsz,
		.offset = ph->p_offset,
		.exec = !!(ph->p_flags & PF_X),
	};
	return 0;
}

int spp_elf_load(const struct spp_guest_mem *m, uint64_t ram_size,
		 const void *image, size_t size, struct spp_elf_info *info)
{
	struct seg segs[SPP_ELF_MAX_SEGMENTS];
	const unsigned char *img = image;
	struct spp_elf_info out;
	unsigned int i, j, n = 0;
	bool entry_ok = false;
	Elf64_Ehdr eh;
	int ret;

	if (!m || !image || !info || !spp_layout_ram_valid(ram_size))
		return -EINVAL;
	if (size < sizeof(eh))
		return -ENOEXEC;
	memcpy(&eh, img, sizeof(eh));
	ret = check_ehdr(&eh, size);
	if (ret)
		return ret;

	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh.e_phoff + (uint64_t)i * sizeof(ph),
		       sizeof(ph));
		if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
			return -EINVAL;
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0) {
			/* Still refuse a PT_LOAD whose file part is bogus. */
			if (ph.p_type == PT_LOAD && ph.p_filesz)
				return -EBADMSG;
			continue;
		}
		if (n == SPP_ELF_MAX_SEGMENTS)
			return -E2BIG;
		ret = check_load(&ph, size, SPP_LAYOUT_LOAD_BASE,
				 spp_layout_pt_base(ram_size), &segs[n]);
		if (ret)
			return ret;
		n++;
	}
	if (!n)
		return -EBADMSG;

	/* Pairwise overlap (n <= 64) and the entry point. */
	out = (struct spp_elf_info){ .entry = eh.e_entry,
				     .lowest = UINT64_MAX };
	for (i = 0; i < n; i++) {
		const struct seg *a = &segs[i];

		for (j = 0; j < i; j++) {
			const struct seg *b = &segs[j];

			if (a->gpa < b->gpa + b->memsz &&
			    b->gpa < a->gpa + a->memsz)
				return -EBADMSG;
		}
		if (a->exec && eh.e_entry >= a->gpa &&
		    eh.e_entry - a->gpa < a->memsz)
			entry_ok = true;
		if (a->gpa < out.lowest)
			out.lowest = a->gpa;
		if (a->gpa + a->memsz > out.end)
			out.end = a->gpa + a->memsz;
	}
	if (!entry_ok)
		return -EBADMSG;

	/* Every segment must be backed by guest memory. */
	for (i = 0; i < n; i++) {
		segs[i].host = spp_guest_mem_ptr(m, segs[i].gpa, segs[i].memsz);
		if (!segs[i].host)
			return -EFAULT;
	}

	/* Commit: cannot fail. */
	for (i = 0; i < n; i++) {
		memcpy(segs[i].host, img + segs[i].offset, segs[i].filesz);
		memset((char *)segs[i].host + segs[i].filesz, 0,
		       segs[i].memsz - segs[i].filesz);
	}
	out.nsegments = n;
	*info = out;
	return 0;
}
