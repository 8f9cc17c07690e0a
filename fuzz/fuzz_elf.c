// SPDX-License-Identifier: MIT
/*
 * fuzz_elf.c - libFuzzer target: spp_elf_load() on arbitrary bytes into
 * a 16 MiB guest (SPP_LAYOUT_RAM_MIN). It must never crash or read
 * outside the input (ASan), and a call that fails must leave guest
 * memory untouched and *info unwritten; a call that succeeds must
 * describe segments inside the program window and write nothing outside
 * [lowest, end). abort() otherwise. Guest RAM holds a fill pattern, so
 * "untouched" is a memcmp of 16 MiB per input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <spp/elf_load.h>
#include <spp/guest_mem.h>
#include <spp/layout.h>

#define RAM SPP_LAYOUT_RAM_MIN

static uint8_t *ram;
static struct spp_guest_mem mem;
#define FILL 0xa5

static uint8_t pattern[1 << 16];

/* Whether all of guest RAM still holds the fill pattern. */
static int untouched(void)
{
	size_t i;

	for (i = 0; i < RAM; i += sizeof(pattern))
		if (memcmp(ram + i, pattern, sizeof(pattern)))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spp_elf_info info, poison;
	int ret;

	if (!ram) {
		ram = aligned_alloc(4096, RAM);
		if (!ram)
			abort();
		memset(ram, FILL, RAM);
		memset(pattern, FILL, sizeof(pattern));
		spp_guest_mem_init(&mem);
		if (spp_guest_mem_add(&mem, 0, RAM, ram))
			abort();
	}
	memset(&poison, 0xa5, sizeof(poison));
	info = poison;
	ret = spp_elf_load(&mem, RAM, data, size, &info);
	if (ret) {
		if (ret > 0 || memcmp(&info, &poison, sizeof(info)))
			abort();
		if (!untouched())
			abort();
		return 0;
	}
	if (!info.nsegments || info.nsegments > SPP_ELF_MAX_SEGMENTS ||
	    info.lowest < SPP_LAYOUT_LOAD_BASE || info.end <= info.lowest ||
	    info.end > spp_layout_pt_base(RAM) || info.entry < info.lowest ||
	    info.entry >= info.end)
		abort();
	/* restore what the image wrote for the next input */
	memset(ram + info.lowest, FILL, info.end - info.lowest);
	if (!untouched())
		abort(); /* wrote outside [lowest, end) */
	return 0;
}
