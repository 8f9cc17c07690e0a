/* SPDX-License-Identifier: MIT */
/*
 * spp/elf_load.h - load a static guest program into guest memory.
 *
 * Accepts exactly one kind of file: a static, non-PIE ELF64 x86-64
 * executable (ELFCLASS64, ELFDATA2LSB, EV_CURRENT, EM_X86_64, ET_EXEC,
 * no PT_INTERP / PT_DYNAMIC), e.g. built with
 *   gcc -ffreestanding -fno-pic -nostdlib -static -no-pie \
 *       -Wl,-Ttext-segment=0x400000
 * (-Ttext-segment sets the image base. -Wl,-Ttext=0x400000 instead puts
 * the segment holding the ELF headers at 0x3FF000, in spp's low area,
 * and such a file is refused with -ERANGE.)
 *
 * Guests are identity mapped, so each PT_LOAD segment is placed at its
 * physical address p_paddr, which must equal p_vaddr. Every segment must
 * lie in the program window of spp/layout.h: [SPP_LAYOUT_LOAD_BASE,
 * spp_layout_pt_base(ram_size)) - above the spp-owned low area, below the
 * page tables at the top of RAM.
 *
 * The image is only read, from a memory buffer; every header and segment
 * is checked before the first guest byte is written, so a call that fails
 * leaves guest memory untouched, and no input can make it read outside
 * the buffer.
 */
#ifndef SPP_ELF_LOAD_H
#define SPP_ELF_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include <spp/guest_mem.h>

/* Most PT_LOAD segments (with p_memsz > 0) one image may have. */
#define SPP_ELF_MAX_SEGMENTS 64

struct spp_elf_info {
	uint64_t entry; /* e_entry: the first guest RIP */
	uint64_t lowest; /* lowest loaded GPA */
	uint64_t end; /* one past the highest loaded GPA (p_paddr + p_memsz) */
	unsigned int nsegments; /* PT_LOAD segments loaded */
};

/*
 * spp_elf_load() - load the ELF @image (@size bytes) into guest memory @m
 * of a guest with @ram_size bytes of RAM (a valid size, see
 * spp_layout_ram_valid()), and describe it in *@info.
 *
 * For each PT_LOAD segment: copy p_filesz bytes from p_offset to GPA
 * p_paddr, zero the rest up to p_memsz. Segments with p_memsz 0 are
 * ignored. Bytes of guest memory outside the segments are not touched.
 *
 * Returns 0, or (nothing written, *@info untouched):
 * -EINVAL   @m, @image or @info NULL, @ram_size invalid; or the file is
 *           position independent or dynamically linked (ET_DYN, PT_INTERP
 *           or PT_DYNAMIC): rebuild with -static -no-pie;
 * -ENOEXEC  not a little-endian ELF64 x86-64 executable: shorter than the
 *           ELF header, bad magic, class, data encoding, version, machine,
 *           or e_type other than ET_EXEC / ET_DYN;
 * -EBADMSG  malformed: e_phentsize != sizeof(Elf64_Phdr), no program
 *           header (e_phnum 0 or PN_XNUM), program headers or segment
 *           bytes (p_offset + p_filesz) beyond the file or overflowing,
 *           p_filesz > p_memsz, overlapping segments, no loadable
 *           segment, or e_entry not inside a loaded executable (PF_X)
 *           segment;
 * -E2BIG    more than SPP_ELF_MAX_SEGMENTS loadable segments;
 * -ERANGE   a segment that does not fit the guest: p_paddr != p_vaddr,
 *           p_paddr + p_memsz overflowing, or not inside the program
 *           window (outside RAM, in the low area or in the page tables);
 * -EFAULT   a segment inside the window but not backed by one region of
 *           @m.
 */
int spp_elf_load(const struct spp_guest_mem *m, uint64_t ram_size,
		 const void *image, size_t size, struct spp_elf_info *info);

#endif /* SPP_ELF_LOAD_H */
