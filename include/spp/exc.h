/* SPDX-License-Identifier: MIT */
/*
 * spp/exc.h - exception handling inside spp's guests: entry stubs, IDT
 * and the exception report.
 *
 * spp_exc_install() writes into guest memory
 *   - at SPP_LAYOUT_EXC_STUBS: one entry stub per vector 0..31, 16 bytes
 *     apart, and a common tail at offset SPP_EXC_COMMON_OFFSET;
 *   - at SPP_LAYOUT_IDT: 256 gates; vectors 0..31 are present 64-bit
 *     interrupt gates (type 0xE, DPL 0, selector SPP_X86_SEL_KCODE) to
 *     their stubs, NMI (2), #DF (8) and #MC (18) on IST1; vectors 32..255
 *     are not present, so an interrupt or `int n` there ends up as a #GP
 *     whose error code names the vector ((n << 3) | 2);
 *   - at SPP_LAYOUT_EXC_REPORT: every vCPU's report slot zeroed.
 *
 * When an exception hits vCPU i (TR = SPP_X86_SEL_TSS_AT(i)), its stub
 * stores a struct spp_exc_report at SPP_LAYOUT_EXC_REPORT_AT(i): vector,
 * error code (0 for vectors without one), the interrupt frame's rip, cs,
 * rflags, rsp and ss, CR2, count incremented, and magic written last.
 * Then it writes the report's GPA to SPP_LAYOUT_DOORBELL +
 * SPP_DOORBELL_EXCEPTION (one 8-byte store, an MMIO exit) and executes
 * `hlt` in a loop: a vCPU that reported an exception never continues.
 * The stub clobbers RAX, RDX and RDI; the other general registers still
 * hold the interrupted code's values when the doorbell exit arrives.
 *
 * Because the gates have DPL 0, `int3` / `int n` from CPL3 raise #GP
 * (error code (n << 3) | 2) rather than #BP.
 */
#ifndef SPP_EXC_H
#define SPP_EXC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <spp/guest_mem.h>
#include <spp/layout.h>
#include <spp/x86.h>

#define SPP_EXC_VECTORS 32 /* vectors with a stub: 0..31 */
#define SPP_EXC_STUB_STRIDE 16 /* bytes per stub */
#define SPP_EXC_COMMON_OFFSET 0x200 /* common tail, from the blob start */
#define SPP_EXC_IDT_GATES 256
#define SPP_EXC_GATE_SIZE 16
#define SPP_EXC_IDT_LIMIT (SPP_EXC_IDT_GATES * SPP_EXC_GATE_SIZE - 1)
#define SPP_EXC_GATE_TYPE_INTR 0xE /* 64-bit interrupt gate */

/* spp_exc_has_error_code() - whether the CPU pushes an error code for
 * @vector (8, 10-14, 17, 21, 29, 30). */
bool spp_exc_has_error_code(unsigned int vector);

/* spp_exc_ist() - the IST index of @vector's gate: 1 for NMI, #DF and
 * #MC, 0 (no stack switch beyond RSP0) otherwise. */
unsigned int spp_exc_ist(unsigned int vector);

/* spp_exc_stub_gpa() - guest address of @vector's stub; 0 for a vector
 * without one (>= SPP_EXC_VECTORS). */
uint64_t spp_exc_stub_gpa(unsigned int vector);

/* spp_exc_blob() - the machine code spp_exc_install() copies to
 * SPP_LAYOUT_EXC_STUBS, and its size in *@size (may be NULL). */
const uint8_t *spp_exc_blob(size_t *size);

/*
 * spp_exc_install() - write the stubs, the IDT and zeroed report slots
 * into @m (see above) and store the IDTR value (base SPP_LAYOUT_IDT,
 * limit SPP_EXC_IDT_LIMIT) in *@idtr. Returns 0, -EINVAL (NULL) or
 * -EFAULT (one of the three areas is not backed by one region of @m;
 * nothing written).
 */
int spp_exc_install(const struct spp_guest_mem *m, struct spp_x86_dtable *idtr);

/* spp_exc_report_gpa() - where vCPU @vcpu's stubs put their report;
 * 0 for @vcpu >= SPP_LAYOUT_MAX_VCPUS. */
uint64_t spp_exc_report_gpa(unsigned int vcpu);

/*
 * spp_exc_report_take() - read the report at @gpa (the EXCEPTION
 * doorbell's argument, or spp_exc_report_gpa()) into *@out and clear its
 * magic. Returns 1 when a complete report was there, 0 when none (magic
 * not set; *@out untouched), -EINVAL (NULL, or @gpa not one of the report
 * slots) or -EFAULT (not backed).
 */
int spp_exc_report_take(const struct spp_guest_mem *m, uint64_t gpa,
			struct spp_exc_report *out);

/* spp_exc_name() - "#PF", "#GP", ... for vectors 0..31, "NMI" for 2,
 * "reserved" for reserved ones, "interrupt" above 31. */
const char *spp_exc_name(unsigned int vector);

/*
 * spp_exc_format() - one line about @r, snprintf-style into @buf of @size
 * bytes, e.g. "#PF error 0x5 at rip 0x40006e cs 0x2b rsp 0x1fffe8 cr2
 * 0x1000". Returns what snprintf returns; -EINVAL for a NULL @r or a
 * NULL @buf with @size > 0 (NULL with @size 0 measures).
 */
int spp_exc_format(const struct spp_exc_report *r, char *buf, size_t size);

#endif /* SPP_EXC_H */
