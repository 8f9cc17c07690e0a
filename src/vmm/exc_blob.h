/* SPDX-License-Identifier: MIT */
/*
 * exc_blob.h - constants shared by the exception stub code (exc_stubs.S)
 * and exc.c. Plain numbers, so the assembler can use them; exc.c checks
 * every one against spp/layout.h, spp/x86.h and spp/guest_abi.h at
 * compile time.
 */
#ifndef SPP_EXC_BLOB_H
#define SPP_EXC_BLOB_H

#define EXC_BLOB_STUB_STRIDE 16 /* stub v at blob offset 16 * v */
#define EXC_BLOB_NSTUBS 32
#define EXC_BLOB_COMMON 0x200 /* the common tail, after the stubs */

#define EXC_BLOB_REPORT 0x6000 /* SPP_LAYOUT_EXC_REPORT */
#define EXC_BLOB_REPORT_SHIFT 8 /* log2 SPP_LAYOUT_EXC_REPORT_STRIDE */
#define EXC_BLOB_VCPU_MASK 7 /* SPP_LAYOUT_MAX_VCPUS - 1 */
#define EXC_BLOB_SEL_TSS0 0x30 /* SPP_X86_SEL_TSS_AT(0) */
#define EXC_BLOB_SEL_TSS_SHIFT 4 /* log2 of the TSS selector stride */
#define EXC_BLOB_DOORBELL 0xFFFFFF028 /* doorbell + SPP_DOORBELL_EXCEPTION */
#define EXC_BLOB_MAGIC 0x5450524F50584345 /* SPP_EXC_REPORT_MAGIC */

/* Byte offsets in struct spp_exc_report. */
#define EXC_REP_MAGIC 0
#define EXC_REP_VECTOR 8
#define EXC_REP_ERROR 16
#define EXC_REP_RIP 24
#define EXC_REP_CS 32
#define EXC_REP_RFLAGS 40
#define EXC_REP_RSP 48
#define EXC_REP_SS 56
#define EXC_REP_CR2 64
#define EXC_REP_COUNT 72

#endif /* SPP_EXC_BLOB_H */
