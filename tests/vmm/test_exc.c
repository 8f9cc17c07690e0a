// SPDX-License-Identifier: MIT
/*
 * test_exc.c - exception stubs and IDT (spp/exc.h): the gates decoded
 * back from guest memory, each stub's push sequence, and - with Zydis -
 * the whole stub blob disassembled and checked instruction by
 * instruction, including the report offsets, the magic-last order and
 * the doorbell store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <spp/exc.h>
#include <spp/guest_abi.h>
#include <spp/layout.h>

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>
#endif

#define RAM SPP_LAYOUT_RAM_MIN
#define FILL 0xA5

static unsigned char *ram;
static struct spp_guest_mem mem;

static int setup(void **state)
{
	(void)state;
	ram = malloc(RAM);
	if (!ram)
		return -1;
	memset(ram, FILL, RAM);
	spp_guest_mem_init(&mem);
	return spp_guest_mem_add(&mem, 0, RAM, ram);
}

static int teardown(void **state)
{
	(void)state;
	free(ram);
	return 0;
}

static bool expect_error_code(unsigned int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 ||
	       v == 29 || v == 30;
}

static void test_tables(void **state)
{
	unsigned int v;

	(void)state;
	for (v = 0; v < 300; v++) {
		assert_int_equal(spp_exc_has_error_code(v),
				 v < 32 && expect_error_code(v));
		assert_int_equal(spp_exc_ist(v),
				 v == 2 || v == 8 || v == 18 ? 1 : 0);
		if (v < 32)
			assert_true(spp_exc_stub_gpa(v) ==
				    SPP_LAYOUT_EXC_STUBS + 16ULL * v);
		else
			assert_true(spp_exc_stub_gpa(v) == 0);
	}
	assert_string_equal(spp_exc_name(14), "#PF");
	assert_string_equal(spp_exc_name(13), "#GP");
	assert_string_equal(spp_exc_name(2), "NMI");
	assert_string_equal(spp_exc_name(40), "interrupt");
	for (v = 0; v < SPP_LAYOUT_MAX_VCPUS; v++)
		assert_true(spp_exc_report_gpa(v) ==
			    SPP_LAYOUT_EXC_REPORT_AT(v));
	assert_true(spp_exc_report_gpa(SPP_LAYOUT_MAX_VCPUS) == 0);
}

static void test_install(void **state)
{
	struct spp_x86_dtable idtr = { 0, 0 };
	const uint8_t *blob, *idt;
	size_t size, i;
	unsigned int v;

	(void)state;
	blob = spp_exc_blob(&size);
	assert_true(size > SPP_EXC_COMMON_OFFSET);
	assert_true(size <= SPP_LAYOUT_EXC_STUBS_SIZE);

	assert_int_equal(spp_exc_install(&mem, &idtr), 0);
	assert_true(idtr.base == SPP_LAYOUT_IDT);
	assert_int_equal(idtr.limit, 256 * 16 - 1);

	/* Stub pages: the blob, then int3. */
	assert_memory_equal(ram + SPP_LAYOUT_EXC_STUBS, blob, size);
	for (i = size; i < SPP_LAYOUT_EXC_STUBS_SIZE; i++)
		assert_int_equal(ram[SPP_LAYOUT_EXC_STUBS + i], 0xCC);
	/* Reports zeroed. */
	for (i = 0; i < SPP_LAYOUT_EXC_REPORT_SIZE; i++)
		assert_int_equal(ram[SPP_LAYOUT_EXC_REPORT + i], 0);
	/* Nothing else touched around them. */
	assert_int_equal(ram[SPP_LAYOUT_IDT - 1], FILL);
	assert_int_equal(ram[SPP_LAYOUT_IDT + SPP_LAYOUT_IDT_SIZE], FILL);
	assert_int_equal(ram[SPP_LAYOUT_EXC_STUBS + SPP_LAYOUT_EXC_STUBS_SIZE],
			 FILL);

	/* Every gate decoded back. */
	idt = ram + SPP_LAYOUT_IDT;
	for (v = 0; v < 256; v++) {
		const uint8_t *g = idt + 16 * v;
		uint64_t off = (uint64_t)g[0] | (uint64_t)g[1] << 8 |
			       (uint64_t)g[6] << 16 | (uint64_t)g[7] << 24 |
			       (uint64_t)g[8] << 32 | (uint64_t)g[9] << 40 |
			       (uint64_t)g[10] << 48 | (uint64_t)g[11] << 56;
		uint16_t sel = (uint16_t)(g[2] | g[3] << 8);

		if (v >= 32) {
			for (i = 0; i < 16; i++)
				assert_int_equal(g[i], 0);
			continue;
		}
		assert_true(off == SPP_LAYOUT_EXC_STUBS + 16ULL * v);
		assert_int_equal(sel, SPP_X86_SEL_KCODE);
		assert_int_equal(g[4] & 7, spp_exc_ist(v));
		assert_int_equal(g[4] >> 3, 0);
		assert_int_equal(g[5] & 0xF, 0xE); /* interrupt gate */
		assert_int_equal((g[5] >> 4) & 1, 0); /* system */
		assert_int_equal((g[5] >> 5) & 3, 0); /* DPL 0 */
		assert_int_equal(g[5] >> 7, 1); /* present */
		for (i = 12; i < 16; i++)
			assert_int_equal(g[i], 0);
	}
}

/* Each stub starts with [push 0] push v, then a jmp; stride 16. */
static void test_stub_bytes(void **state)
{
	const uint8_t *blob = spp_exc_blob(NULL);
	unsigned int v;

	(void)state;
	for (v = 0; v < 32; v++) {
		const uint8_t *s = blob + 16 * v;

		if (!expect_error_code(v)) {
			assert_int_equal(s[0], 0x6A); /* push imm8 */
			assert_int_equal(s[1], 0);
			s += 2;
		}
		assert_int_equal(s[0], 0x6A);
		assert_int_equal(s[1], v);
		assert_true(s[2] == 0xE9 || s[2] == 0xEB); /* jmp */
	}
}

static void test_install_errors(void **state)
{
	struct spp_guest_mem small;
	struct spp_x86_dtable idtr = { 0x1234, 0x56 };
	unsigned char *low;

	(void)state;
	assert_int_equal(spp_exc_install(NULL, &idtr), -EINVAL);
	assert_int_equal(spp_exc_install(&mem, NULL), -EINVAL);

	/* Backs the IDT and the reports but not the second stub page. */
	low = malloc(0x8000);
	assert_non_null(low);
	memset(low, FILL, 0x8000);
	spp_guest_mem_init(&small);
	assert_int_equal(spp_guest_mem_add(&small, 0, 0x8000, low), 0);
	assert_int_equal(spp_exc_install(&small, &idtr), -EFAULT);
	assert_true(idtr.base == 0x1234 && idtr.limit == 0x56);
	for (size_t i = 0; i < 0x8000; i++)
		assert_int_equal(low[i], FILL);
	free(low);
}

static void test_report_take(void **state)
{
	struct spp_exc_report r, out;
	uint64_t gpa = spp_exc_report_gpa(2);
	struct spp_guest_mem none;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.vector = 14;
	r.error_code = 5;
	r.rip = 0x400123;
	r.cs = SPP_X86_SEL_UCODE;
	r.cr2 = 0x1000;
	r.count = 1;
	r.magic = SPP_EXC_REPORT_MAGIC;
	memcpy(ram + gpa, &r, sizeof(r));

	assert_int_equal(spp_exc_report_take(&mem, gpa, &out), 1);
	assert_memory_equal(&out, &r, sizeof(r));
	assert_true(((struct spp_exc_report *)(ram + gpa))->magic == 0);
	memset(&out, 0x5A, sizeof(out));
	assert_int_equal(spp_exc_report_take(&mem, gpa, &out), 0);
	assert_int_equal(((uint8_t *)&out)[0], 0x5A);

	assert_int_equal(spp_exc_report_take(NULL, gpa, &out), -EINVAL);
	assert_int_equal(spp_exc_report_take(&mem, gpa, NULL), -EINVAL);
	assert_int_equal(spp_exc_report_take(&mem, gpa + 8, &out), -EINVAL);
	assert_int_equal(spp_exc_report_take(&mem, SPP_LAYOUT_IDT, &out),
			 -EINVAL);
	assert_int_equal(spp_exc_report_take(
				 &mem,
				 SPP_LAYOUT_EXC_REPORT_AT(SPP_LAYOUT_MAX_VCPUS),
				 &out),
			 -EINVAL);
	spp_guest_mem_init(&none);
	assert_int_equal(spp_exc_report_take(&none, gpa, &out), -EFAULT);
}

static void test_format(void **state)
{
	struct spp_exc_report r;
	char buf[256], small[8];
	int n;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.vector = 14;
	r.error_code = 5;
	r.rip = 0x40006e;
	r.cs = 0x2b;
	r.cr2 = 0x1000;
	n = spp_exc_format(&r, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_non_null(strstr(buf, "#PF"));
	assert_non_null(strstr(buf, "error 0x5"));
	assert_non_null(strstr(buf, "rip 0x40006e"));
	assert_non_null(strstr(buf, "cr2 0x1000"));
	/* Truncated: full length returned, buffer terminated. */
	assert_int_equal(spp_exc_format(&r, small, sizeof(small)), n);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	r.vector = 13;
	spp_exc_format(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "#GP"));
	assert_null(strstr(buf, "cr2"));
}

#ifdef HAVE_ZYDIS

struct insn {
	ZydisDecodedInstruction i;
	ZydisDecodedOperand op[ZYDIS_MAX_OPERAND_COUNT];
	uint64_t addr; /* guest address */
};

static void decode(const ZydisDecoder *dec, const uint8_t *blob, size_t size,
		   size_t off, struct insn *in)
{
	assert_true(off < size);
	assert_true(ZYAN_SUCCESS(ZydisDecoderDecodeFull(
		dec, blob + off, size - off, &in->i, in->op)));
	in->addr = SPP_LAYOUT_EXC_STUBS + off;
	/* Position independent: nothing RIP-relative but branches. */
	for (unsigned int k = 0; k < in->i.operand_count_visible; k++)
		if (in->op[k].type == ZYDIS_OPERAND_TYPE_MEMORY)
			assert_int_not_equal(in->op[k].mem.base,
					     ZYDIS_REGISTER_RIP);
}

static uint64_t branch_target(const struct insn *in)
{
	ZyanU64 t = 0;

	assert_int_equal(in->op[0].type, ZYDIS_OPERAND_TYPE_IMMEDIATE);
	assert_true(ZYAN_SUCCESS(
		ZydisCalcAbsoluteAddress(&in->i, &in->op[0], in->addr, &t)));
	return t;
}

static void assert_push_imm(const struct insn *in, uint64_t v)
{
	assert_int_equal(in->i.mnemonic, ZYDIS_MNEMONIC_PUSH);
	assert_int_equal(in->i.operand_width, 64);
	assert_int_equal(in->op[0].type, ZYDIS_OPERAND_TYPE_IMMEDIATE);
	assert_true(in->op[0].imm.value.u == v);
}

static void test_zydis_stubs(void **state)
{
	ZydisDecoder dec;
	struct insn in;
	size_t size, off;
	const uint8_t *blob = spp_exc_blob(&size);
	unsigned int v;

	(void)state;
	assert_true(ZYAN_SUCCESS(ZydisDecoderInit(
		&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)));
	for (v = 0; v < 32; v++) {
		off = 16 * v;
		if (!expect_error_code(v)) {
			decode(&dec, blob, size, off, &in);
			assert_push_imm(&in, 0);
			off += in.i.length;
		}
		decode(&dec, blob, size, off, &in);
		assert_push_imm(&in, v);
		off += in.i.length;
		decode(&dec, blob, size, off, &in);
		assert_int_equal(in.i.mnemonic, ZYDIS_MNEMONIC_JMP);
		assert_true(branch_target(&in) ==
			    SPP_LAYOUT_EXC_STUBS + SPP_EXC_COMMON_OFFSET);
		off += in.i.length;
		/* Padding up to the next stub: int3 only. */
		for (; off < 16 * (v + 1); off++)
			assert_int_equal(blob[off], 0xCC);
	}
	for (off = 16 * 32; off < SPP_EXC_COMMON_OFFSET; off++)
		assert_int_equal(blob[off], 0xCC);
}

static bool is_reg(const ZydisDecodedOperand *op, ZydisRegister r)
{
	return op->type == ZYDIS_OPERAND_TYPE_REGISTER && op->reg.value == r;
}

static bool is_mem(const ZydisDecodedOperand *op, ZydisRegister base,
		   int64_t disp)
{
	return op->type == ZYDIS_OPERAND_TYPE_MEMORY && op->mem.base == base &&
	       op->mem.index == ZYDIS_REGISTER_NONE &&
	       (op->mem.disp.has_displacement ? op->mem.disp.value : 0) == disp;
}

/*
 * The common tail, instruction by instruction: find the report slot from
 * TR, copy the frame, CR2, count, magic last, doorbell, hlt loop.
 */
static void test_zydis_common(void **state)
{
	static const struct {
		unsigned int frame; /* rsp offset */
		unsigned int field; /* report offset */
	} copies[] = {
		{ 0, offsetof(struct spp_exc_report, vector) },
		{ 8, offsetof(struct spp_exc_report, error_code) },
		{ 16, offsetof(struct spp_exc_report, rip) },
		{ 24, offsetof(struct spp_exc_report, cs) },
		{ 32, offsetof(struct spp_exc_report, rflags) },
		{ 40, offsetof(struct spp_exc_report, rsp) },
		{ 48, offsetof(struct spp_exc_report, ss) },
	};
	ZydisDecoder dec;
	struct insn in;
	size_t size, off = SPP_EXC_COMMON_OFFSET;
	const uint8_t *blob = spp_exc_blob(&size);
	uint64_t hlt_addr;
	unsigned int k;

#define NEXT()                                      \
	do {                                        \
		decode(&dec, blob, size, off, &in); \
		off += in.i.length;                 \
	} while (0)
#define EXPECT(mn)                                     \
	do {                                           \
		NEXT();                                \
		assert_int_equal(in.i.mnemonic, (mn)); \
	} while (0)

	(void)state;
	assert_true(ZYAN_SUCCESS(ZydisDecoderInit(
		&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)));

	/* eax = TR; eax = (eax - 0x30) >> 4 & 7 << 8; rdi = 0x6000 + rax */
	EXPECT(ZYDIS_MNEMONIC_XOR);
	EXPECT(ZYDIS_MNEMONIC_STR);
	assert_true(is_reg(&in.op[0], ZYDIS_REGISTER_AX));
	EXPECT(ZYDIS_MNEMONIC_MOVZX);
	EXPECT(ZYDIS_MNEMONIC_SUB);
	assert_true(in.op[1].imm.value.u == SPP_X86_SEL_TSS_AT(0));
	EXPECT(ZYDIS_MNEMONIC_SHR);
	assert_true(in.op[1].imm.value.u == 4);
	EXPECT(ZYDIS_MNEMONIC_AND);
	assert_true(in.op[1].imm.value.u == SPP_LAYOUT_MAX_VCPUS - 1);
	EXPECT(ZYDIS_MNEMONIC_SHL);
	assert_true((1ULL << in.op[1].imm.value.u) ==
		    SPP_LAYOUT_EXC_REPORT_STRIDE);
	EXPECT(ZYDIS_MNEMONIC_LEA);
	assert_true(is_reg(&in.op[0], ZYDIS_REGISTER_RDI));
	assert_true(
		is_mem(&in.op[1], ZYDIS_REGISTER_RAX, SPP_LAYOUT_EXC_REPORT));

	/* The frame, field by field, through rax. */
	for (k = 0; k < sizeof(copies) / sizeof(copies[0]); k++) {
		EXPECT(ZYDIS_MNEMONIC_MOV);
		assert_true(is_reg(&in.op[0], ZYDIS_REGISTER_RAX));
		assert_true(
			is_mem(&in.op[1], ZYDIS_REGISTER_RSP, copies[k].frame));
		EXPECT(ZYDIS_MNEMONIC_MOV);
		assert_true(
			is_mem(&in.op[0], ZYDIS_REGISTER_RDI, copies[k].field));
		assert_int_equal(in.op[0].size, 64);
		assert_true(is_reg(&in.op[1], ZYDIS_REGISTER_RAX));
	}

	/* CR2, count, magic (last store to the report). */
	EXPECT(ZYDIS_MNEMONIC_MOV);
	assert_true(is_reg(&in.op[0], ZYDIS_REGISTER_RAX));
	assert_true(is_reg(&in.op[1], ZYDIS_REGISTER_CR2));
	EXPECT(ZYDIS_MNEMONIC_MOV);
	assert_true(is_mem(&in.op[0], ZYDIS_REGISTER_RDI,
			   offsetof(struct spp_exc_report, cr2)));
	EXPECT(ZYDIS_MNEMONIC_INC);
	assert_true(is_mem(&in.op[0], ZYDIS_REGISTER_RDI,
			   offsetof(struct spp_exc_report, count)));
	assert_int_equal(in.op[0].size, 64);
	EXPECT(ZYDIS_MNEMONIC_MOV);
	assert_true(is_reg(&in.op[0], ZYDIS_REGISTER_RAX));
	assert_true(in.op[1].imm.value.u == SPP_EXC_REPORT_MAGIC);
	EXPECT(ZYDIS_MNEMONIC_MOV);
	assert_true(is_mem(&in.op[0], ZYDIS_REGISTER_RDI,
			   offsetof(struct spp_exc_report, magic)));
	assert_int_equal(in.op[0].size, 64);

	/* Doorbell: one 8-byte mov of the report address. */
	EXPECT(ZYDIS_MNEMONIC_MOV);
	assert_true(is_reg(&in.op[0], ZYDIS_REGISTER_RDX));
	assert_true(in.op[1].imm.value.u ==
		    SPP_LAYOUT_DOORBELL + SPP_DOORBELL_EXCEPTION);
	EXPECT(ZYDIS_MNEMONIC_MOV);
	assert_true(is_mem(&in.op[0], ZYDIS_REGISTER_RDX, 0));
	assert_int_equal(in.op[0].size, 64);
	assert_true(is_reg(&in.op[1], ZYDIS_REGISTER_RDI));

	/* hlt; jmp back to the hlt - and that is the end of the blob. */
	EXPECT(ZYDIS_MNEMONIC_HLT);
	hlt_addr = in.addr;
	EXPECT(ZYDIS_MNEMONIC_JMP);
	assert_true(branch_target(&in) == hlt_addr);
	assert_int_equal(off, size);
#undef EXPECT
#undef NEXT
}

#else /* !HAVE_ZYDIS */

static void test_zydis_stubs(void **state)
{
	(void)state;
	skip(); /* built without libzydis-dev */
}

static void test_zydis_common(void **state)
{
	(void)state;
	skip();
}

#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_install),
		cmocka_unit_test(test_stub_bytes),
		cmocka_unit_test(test_install_errors),
		cmocka_unit_test(test_report_take),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_zydis_stubs),
		cmocka_unit_test(test_zydis_common),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
