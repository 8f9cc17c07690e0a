// SPDX-License-Identifier: MIT
/*
 * test_guest_elfs.c - the guest programs built with the guest library
 * (tests/kvm/guests, paths in argv) are what spp's VMM expects: static
 * ET_EXEC ELF64 images whose PT_LOAD segments sit at p_paddr == p_vaddr
 * >= SPP_LAYOUT_LOAD_BASE, entry in the executable segment, accepted by
 * spp_elf_load() with the bytes in the right places and .bss zeroed.
 * With Zydis, .text is disassembled and every store to the MMIO doorbell
 * page must be one 8-byte `mov` (the guest ABI's rule). One test case per
 * guest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spp/elf_load.h>
#include <spp/layout.h>

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>
#endif

#define RAM SPP_LAYOUT_RAM_MIN /* 16 MiB: guests are small */
#define FILL 0xA5

static unsigned char *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*size = (size_t)n;
	}
	fclose(f);
	return buf;
}

#ifdef HAVE_ZYDIS

/* The .text section of @img, found through the section headers. */
static const Elf64_Shdr *find_text(const unsigned char *img, size_t size)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Shdr *sh, *str;
	unsigned int i;

	assert_true(eh->e_shoff + eh->e_shnum * sizeof(*sh) <= size);
	assert_true(eh->e_shstrndx < eh->e_shnum);
	sh = (const Elf64_Shdr *)(img + eh->e_shoff);
	str = &sh[eh->e_shstrndx];
	for (i = 0; i < eh->e_shnum; i++) {
		assert_true(sh[i].sh_name < str->sh_size);
		if (!strcmp((const char *)img + str->sh_offset + sh[i].sh_name,
			    ".text"))
			return &sh[i];
	}
	return NULL;
}

static bool caller_saved(ZydisRegister r)
{
	return r == ZYDIS_REGISTER_RAX || r == ZYDIS_REGISTER_RCX ||
	       r == ZYDIS_REGISTER_RDX || r == ZYDIS_REGISTER_RSI ||
	       r == ZYDIS_REGISTER_RDI ||
	       (r >= ZYDIS_REGISTER_R8 && r <= ZYDIS_REGISTER_R11);
}

/*
 * Walk .text linearly, tracking registers loaded with a constant; every
 * memory write whose address is such a constant inside the doorbell page
 * must be a 64-bit register `mov`. Returns the doorbell stores seen.
 */
static unsigned int check_doorbell_stores(const unsigned char *img, size_t size)
{
	const Elf64_Shdr *text = find_text(img, size);
	ZydisDecodedInstruction in;
	ZydisDecodedOperand op[ZYDIS_MAX_OPERAND_COUNT];
	uint64_t val[ZYDIS_REGISTER_MAX_VALUE + 1];
	bool known[ZYDIS_REGISTER_MAX_VALUE + 1];
	unsigned int found = 0, k;
	ZydisDecoder dec;
	size_t off;

	assert_non_null(text);
	assert_true(text->sh_offset + text->sh_size <= size);
	assert_true(ZYAN_SUCCESS(ZydisDecoderInit(
		&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)));
	memset(known, 0, sizeof(known));
	for (off = 0; off < text->sh_size; off += in.length) {
		const unsigned char *p = img + text->sh_offset + off;

		if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(
			    &dec, p, text->sh_size - off, &in, op))) {
			in.length = 1; /* padding between functions */
			continue;
		}
		for (k = 0; k < in.operand_count_visible; k++) {
			uint64_t addr;

			if (op[k].type != ZYDIS_OPERAND_TYPE_MEMORY ||
			    !(op[k].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
				continue;
			if (op[k].mem.base == ZYDIS_REGISTER_NONE)
				addr = (uint64_t)op[k].mem.disp.value;
			else if (known[ZydisRegisterGetLargestEnclosing(
					 ZYDIS_MACHINE_MODE_LONG_64,
					 op[k].mem.base)] &&
				 op[k].mem.index == ZYDIS_REGISTER_NONE)
				addr = val[ZydisRegisterGetLargestEnclosing(
					       ZYDIS_MACHINE_MODE_LONG_64,
					       op[k].mem.base)] +
				       (uint64_t)op[k].mem.disp.value;
			else
				continue;
			if (addr < SPP_LAYOUT_DOORBELL ||
			    addr >= SPP_LAYOUT_DOORBELL +
					    SPP_LAYOUT_DOORBELL_SIZE)
				continue;
			assert_int_equal(in.mnemonic, ZYDIS_MNEMONIC_MOV);
			assert_int_equal(op[k].size, 64);
			assert_int_equal(op[1 - k].type,
					 ZYDIS_OPERAND_TYPE_REGISTER);
			found++;
		}
		/* Register tracking. */
		if (in.mnemonic == ZYDIS_MNEMONIC_RET ||
		    in.mnemonic == ZYDIS_MNEMONIC_JMP) {
			memset(known, 0, sizeof(known));
			continue;
		}
		if (in.mnemonic == ZYDIS_MNEMONIC_CALL)
			for (k = 0; k <= ZYDIS_REGISTER_MAX_VALUE; k++)
				if (caller_saved((ZydisRegister)k))
					known[k] = false;
		for (k = 0; k < in.operand_count; k++) {
			ZydisRegister r;

			if (op[k].type != ZYDIS_OPERAND_TYPE_REGISTER ||
			    !(op[k].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
				continue;
			r = ZydisRegisterGetLargestEnclosing(
				ZYDIS_MACHINE_MODE_LONG_64, op[k].reg.value);
			if (r == ZYDIS_REGISTER_NONE)
				continue;
			known[r] = false;
			if (in.mnemonic == ZYDIS_MNEMONIC_MOV && k == 0 &&
			    op[1].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
			    op[0].size >= 32) {
				known[r] = true;
				val[r] = op[0].size == 32 ?
						 (uint32_t)op[1].imm.value.u :
						 op[1].imm.value.u;
			}
		}
	}
	return found;
}

#endif /* HAVE_ZYDIS */

static void check_guest(void **state)
{
	const char *path = *state;
	struct spp_guest_mem mem;
	struct spp_elf_info info;
	const Elf64_Ehdr *eh;
	const Elf64_Phdr *ph;
	unsigned char *img, *ram;
	bool entry_ok = false;
	unsigned int i, nload = 0;
	size_t size = 0;

	img = read_file(path, &size);
	assert_non_null(img);
	assert_true(size >= sizeof(*eh));
	eh = (const Elf64_Ehdr *)img;

	/* The headers as the guest library promises them. */
	assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
	assert_int_equal(eh->e_ident[EI_CLASS], ELFCLASS64);
	assert_int_equal(eh->e_type, ET_EXEC);
	assert_int_equal(eh->e_machine, EM_X86_64);
	assert_int_equal(eh->e_phentsize, sizeof(*ph));
	assert_true(eh->e_phoff + eh->e_phnum * sizeof(*ph) <= size);
	ph = (const Elf64_Phdr *)(img + eh->e_phoff);
	for (i = 0; i < eh->e_phnum; i++) {
		assert_int_not_equal(ph[i].p_type, PT_INTERP);
		assert_int_not_equal(ph[i].p_type, PT_DYNAMIC);
		if (ph[i].p_type != PT_LOAD)
			continue;
		nload++;
		assert_true(ph[i].p_paddr == ph[i].p_vaddr);
		assert_true(ph[i].p_vaddr >= SPP_LAYOUT_LOAD_BASE);
		assert_true(ph[i].p_vaddr + ph[i].p_memsz <= RAM);
		assert_true(ph[i].p_filesz <= ph[i].p_memsz);
		assert_int_equal(ph[i].p_vaddr & (SPP_PAGE_SIZE - 1), 0);
		if ((ph[i].p_flags & PF_X) && eh->e_entry >= ph[i].p_vaddr &&
		    eh->e_entry < ph[i].p_vaddr + ph[i].p_memsz)
			entry_ok = true;
		/* W^X: the link script gives no segment both. */
		assert_false((ph[i].p_flags & PF_X) && (ph[i].p_flags & PF_W));
	}
	assert_true(nload >= 1);
	assert_true(entry_ok);
	/* _start comes first in .text, at the load base. */
	assert_true(eh->e_entry == SPP_LAYOUT_LOAD_BASE);

	/* The loader accepts it and places every byte. */
	ram = malloc(RAM);
	assert_non_null(ram);
	memset(ram, FILL, RAM);
	spp_guest_mem_init(&mem);
	assert_int_equal(spp_guest_mem_add(&mem, 0, RAM, ram), 0);
	assert_int_equal(spp_elf_load(&mem, RAM, img, size, &info), 0);
	assert_true(info.entry == eh->e_entry);
	assert_true(info.lowest >= SPP_LAYOUT_LOAD_BASE);
	assert_true(info.end <= RAM);
	assert_int_equal(info.nsegments, nload);
	for (i = 0; i < eh->e_phnum; i++) {
		uint64_t k;

		if (ph[i].p_type != PT_LOAD)
			continue;
		assert_memory_equal(ram + ph[i].p_paddr, img + ph[i].p_offset,
				    ph[i].p_filesz);
		for (k = ph[i].p_filesz; k < ph[i].p_memsz; k++)
			assert_int_equal(ram[ph[i].p_paddr + k], 0);
	}
	/* Nothing below the load base was touched. */
	for (i = 0; i < SPP_LAYOUT_LOAD_BASE; i += 4096)
		assert_int_equal(ram[i], FILL);

	free(ram);
#ifdef HAVE_ZYDIS
	/* At least the EXIT doorbell; all of them single 8-byte movs. */
	assert_true(check_doorbell_stores(img, size) >= 1);
#endif
	free(img);
}

int main(int argc, char **argv)
{
	struct CMUnitTest *tests;
	int i, ret;

	if (argc < 2) {
		printf("1..0 # SKIP no guest programs given\n");
		return 0;
	}
	tests = calloc((size_t)argc - 1, sizeof(*tests));
	if (!tests)
		return 1;
	for (i = 1; i < argc; i++) {
		tests[i - 1].name = argv[i];
		tests[i - 1].test_func = check_guest;
		tests[i - 1].initial_state = argv[i];
	}
	ret = _cmocka_run_group_tests("guest_elfs", tests, (size_t)argc - 1,
				      NULL, NULL);
	free(tests);
	return ret;
}
