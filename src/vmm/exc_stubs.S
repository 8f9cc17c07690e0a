/* SPDX-License-Identifier: MIT */
/*
 * exc_stubs.S - the guest's exception entry code, assembled into libspp
 * as read-only data; spp_exc_install() copies it to SPP_LAYOUT_EXC_STUBS.
 *
 * Position independent and without relocations: jumps stay inside the
 * blob, every guest address is an absolute constant (exc_blob.h).
 *
 * Stub v (at 16 * v, padded with int3) pushes a 0 error code unless the
 * CPU pushed one, pushes v and jumps to the common tail. The tail (at
 * 0x200) runs on the exception stack with
 *	0(%rsp) vector, 8 error code, 16 rip, 24 cs, 32 rflags, 40 rsp, 48 ss
 * finds this vCPU's report slot from TR (vCPU i has TR = 0x30 + 16 i),
 * stores the report with magic last, rings the EXCEPTION doorbell with
 * the report's GPA and halts for good. It clobbers RAX, RDX and RDI; every
 * other register keeps the interrupted code's value for the host to read.
 */
#include "exc_blob.h"

	.section .rodata.spp_exc_blob, "a", @progbits
	.balign	16
	.globl	spp_exc_blob_start
	.hidden	spp_exc_blob_start
	.globl	spp_exc_blob_end
	.hidden	spp_exc_blob_end

.macro	STUB vec, has_error
	.org	\vec * EXC_BLOB_STUB_STRIDE, 0xcc
	.if	\has_error == 0
	pushq	$0
	.endif
	pushq	$\vec
	jmp	common
.endm

spp_exc_blob_start:
	STUB	0, 0		/* #DE */
	STUB	1, 0		/* #DB */
	STUB	2, 0		/* NMI */
	STUB	3, 0		/* #BP */
	STUB	4, 0		/* #OF */
	STUB	5, 0		/* #BR */
	STUB	6, 0		/* #UD */
	STUB	7, 0		/* #NM */
	STUB	8, 1		/* #DF */
	STUB	9, 0		/* coprocessor segment overrun */
	STUB	10, 1		/* #TS */
	STUB	11, 1		/* #NP */
	STUB	12, 1		/* #SS */
	STUB	13, 1		/* #GP */
	STUB	14, 1		/* #PF */
	STUB	15, 0		/* reserved */
	STUB	16, 0		/* #MF */
	STUB	17, 1		/* #AC */
	STUB	18, 0		/* #MC */
	STUB	19, 0		/* #XM */
	STUB	20, 0		/* #VE */
	STUB	21, 1		/* #CP */
	STUB	22, 0
	STUB	23, 0
	STUB	24, 0
	STUB	25, 0
	STUB	26, 0
	STUB	27, 0
	STUB	28, 0		/* #HV */
	STUB	29, 1		/* #VC */
	STUB	30, 1		/* #SX */
	STUB	31, 0

	.org	EXC_BLOB_COMMON, 0xcc
common:
	/* RDI = SPP_LAYOUT_EXC_REPORT_AT((TR - 0x30) / 16) */
	xorl	%eax, %eax
	str	%ax
	movzwl	%ax, %eax
	subl	$EXC_BLOB_SEL_TSS0, %eax
	shrl	$EXC_BLOB_SEL_TSS_SHIFT, %eax
	andl	$EXC_BLOB_VCPU_MASK, %eax
	shll	$EXC_BLOB_REPORT_SHIFT, %eax
	leaq	EXC_BLOB_REPORT(%rax), %rdi

	movq	0(%rsp), %rax
	movq	%rax, EXC_REP_VECTOR(%rdi)
	movq	8(%rsp), %rax
	movq	%rax, EXC_REP_ERROR(%rdi)
	movq	16(%rsp), %rax
	movq	%rax, EXC_REP_RIP(%rdi)
	movq	24(%rsp), %rax
	movq	%rax, EXC_REP_CS(%rdi)
	movq	32(%rsp), %rax
	movq	%rax, EXC_REP_RFLAGS(%rdi)
	movq	40(%rsp), %rax
	movq	%rax, EXC_REP_RSP(%rdi)
	movq	48(%rsp), %rax
	movq	%rax, EXC_REP_SS(%rdi)
	movq	%cr2, %rax
	movq	%rax, EXC_REP_CR2(%rdi)
	incq	EXC_REP_COUNT(%rdi)
	movabsq	$EXC_BLOB_MAGIC, %rax
	movq	%rax, EXC_REP_MAGIC(%rdi)	/* last: the report is complete */

	movabsq	$EXC_BLOB_DOORBELL, %rdx
	movq	%rdi, (%rdx)			/* one 8-byte store: exit */
1:	hlt
	jmp	1b
spp_exc_blob_end:

	.section .note.GNU-stack, "", @progbits
