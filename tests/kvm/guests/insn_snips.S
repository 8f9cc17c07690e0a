/* SPDX-License-Identifier: MIT */
/*
 * insn_snips.S - the store instructions of the insn test (insn.h) and the
 * trampoline that runs one with a given register state.
 *
 * Every snippet stores through RBX (string ones through RDI = RBX, RSI =
 * the source) and returns; registers other than the ones it stores or
 * the instruction itself changes are left alone.
 */
	.text

/*
 * void insn_run(const struct insn_state *in, struct insn_state *out,
 *		 void (*fn)(void), void *target, int xsave)
 * Loads in's x87/SSE/AVX state (XRSTOR with all components, or FXRSTOR),
 * RFLAGS and general registers (RBX = target, RSP untouched), calls fn,
 * and saves the same into out.
 */
	.globl	insn_run
	.type	insn_run, @function
insn_run:
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsi, run_out(%rip)
	movq	%rdx, run_fn(%rip)
	movq	%rcx, run_target(%rip)
	movl	%r8d, run_xsave(%rip)
	testl	%r8d, %r8d
	jz	1f
	movl	$-1, %eax
	movl	$-1, %edx
	xrstor	192(%rdi)
	jmp	2f
1:	fxrstor	192(%rdi)
2:	pushq	128(%rdi)
	popfq
	movq	0(%rdi), %rax
	movq	8(%rdi), %rcx
	movq	16(%rdi), %rdx
	movq	run_target(%rip), %rbx
	movq	40(%rdi), %rbp
	movq	48(%rdi), %rsi
	movq	64(%rdi), %r8
	movq	72(%rdi), %r9
	movq	80(%rdi), %r10
	movq	88(%rdi), %r11
	movq	96(%rdi), %r12
	movq	104(%rdi), %r13
	movq	112(%rdi), %r14
	movq	120(%rdi), %r15
	movq	56(%rdi), %rdi
	call	*run_fn(%rip)
	pushfq
	pushq	%rax
	movq	run_out(%rip), %rax
	movq	%rcx, 8(%rax)
	movq	%rdx, 16(%rax)
	movq	%rbx, 24(%rax)
	movq	%rbp, 40(%rax)
	movq	%rsi, 48(%rax)
	movq	%rdi, 56(%rax)
	movq	%r8, 64(%rax)
	movq	%r9, 72(%rax)
	movq	%r10, 80(%rax)
	movq	%r11, 88(%rax)
	movq	%r12, 96(%rax)
	movq	%r13, 104(%rax)
	movq	%r14, 112(%rax)
	movq	%r15, 120(%rax)
	popq	%rcx
	movq	%rcx, 0(%rax)
	popq	%rcx
	movq	%rcx, 128(%rax)
	movq	%rsp, 32(%rax)
	cld
	movq	%rax, %rdi
	cmpl	$0, run_xsave(%rip)
	je	3f
	movl	$-1, %eax
	movl	$-1, %edx
	xsave	192(%rdi)
	jmp	4f
3:	fxsave	192(%rdi)
4:	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	ret
	.size	insn_run, . - insn_run

#define SNIP(name) \
	.globl snip_##name; .type snip_##name, @function; snip_##name:
#define END ret

SNIP(mov64)		movq %rax, (%rbx); END
SNIP(movdqu)		movdqu %xmm0, (%rbx); END
SNIP(lock_cmpxchg8b)	xchgq %rbx, %r8; lock cmpxchg8b (%r8); xchgq %rbx, %r8; END

/* 66 0F D6 /r: movq xmm -> m64 */
SNIP(movq_d6)		.byte 0x66, 0x0f, 0xd6, 0x03; END
/* 66 REX.W 0F 7E /r: movq xmm1 -> m64 */
SNIP(movq_7e_w)		.byte 0x66, 0x48, 0x0f, 0x7e, 0x0b; END
SNIP(movd_7e)		movd %xmm1, (%rbx); END
SNIP(movss)		movss %xmm2, (%rbx); END
SNIP(movsd)		movsd %xmm3, (%rbx); END
SNIP(movlps)		movlps %xmm4, (%rbx); END
SNIP(movhps)		movhps %xmm5, (%rbx); END
SNIP(movlpd)		movlpd %xmm6, (%rbx); END
SNIP(movhpd)		movhpd %xmm7, (%rbx); END
SNIP(pextrb)		pextrb $5, %xmm6, (%rbx); END
SNIP(pextrw)		pextrw $3, %xmm6, (%rbx); END
SNIP(pextrd)		pextrd $2, %xmm7, (%rbx); END
SNIP(pextrq)		pextrq $1, %xmm7, (%rbx); END
SNIP(extractps)		extractps $3, %xmm5, (%rbx); END
SNIP(stmxcsr)		stmxcsr (%rbx); END
SNIP(movq_cross_subpage) .byte 0x66, 0x0f, 0xd6, 0x1b; END
SNIP(movsd_cross_page)	movsd %xmm2, (%rbx); END

SNIP(fstp_m64)		fstpl (%rbx); END
SNIP(fst_m32)		fsts (%rbx); END
SNIP(fstp_m80)		fstpt (%rbx); END
SNIP(fst_m32_overflow)	fld %st(2); fstps (%rbx); END
SNIP(fistp_m32)		fistpl (%rbx); END
SNIP(fist_m16_invalid)	fists (%rbx); END
SNIP(fistp_m64)		fistpll (%rbx); END
SNIP(fisttp_m32)	fisttpl (%rbx); END
SNIP(fnstsw)		fnstsw (%rbx); END
SNIP(fnstcw)		fnstcw (%rbx); END
SNIP(fxsave)		fxsave (%rbx); END
SNIP(fxsave64)		fxsave64 (%rbx); END
SNIP(fxsave_cross)	fxsave64 (%rbx); END
SNIP(xsave)		movl $7, %eax; xorl %edx, %edx; xsave (%rbx); END

SNIP(vmovdqu_x)		vmovdqu %xmm0, (%rbx); END
SNIP(vmovdqu_y)		vmovdqu %ymm1, (%rbx); END
SNIP(vmovaps_y)		vmovaps %ymm2, (%rbx); END
SNIP(vmovntdq_y)	vmovntdq %ymm3, (%rbx); END
SNIP(vmovd)		vmovd %xmm4, (%rbx); END
SNIP(vmovq)		vmovq %xmm5, (%rbx); END
SNIP(vmovss)		vmovss %xmm6, (%rbx); END
SNIP(vmovsd)		vmovsd %xmm7, (%rbx); END
SNIP(vmovhps)		vmovhps %xmm0, (%rbx); END
SNIP(vpextrb)		vpextrb $9, %xmm1, (%rbx); END
SNIP(vextractf128)	vextractf128 $1, %ymm2, (%rbx); END
SNIP(vextracti128)	vextracti128 $1, %ymm3, (%rbx); END
SNIP(vmaskmovps_y)	vmaskmovps %ymm4, %ymm8, (%rbx); END
SNIP(vmovdqu_y_cross_page) vmovdqu %ymm5, (%rbx); END
SNIP(vmovdqu_y_cross_subpage) vmovdqu %ymm6, (%rbx); END

SNIP(lock_cmpxchg16b)	xchgq %rbx, %r8; lock cmpxchg16b (%r8); xchgq %rbx, %r8; END
SNIP(lock_cmpxchg16b_fail) xchgq %rbx, %r8; lock cmpxchg16b (%r8); xchgq %rbx, %r8; END
SNIP(movbe_m16)		movbew %ax, (%rbx); END
SNIP(movbe_m32)		movbel %ecx, (%rbx); END
SNIP(movbe_m64)		movbeq %rdx, (%rbx); END
SNIP(sgdt)		sgdt (%rbx); END
SNIP(sidt)		sidt (%rbx); END
SNIP(sldt)		sldt (%rbx); END
SNIP(str)		str (%rbx); END
SNIP(smsw)		smsw (%rbx); END

SNIP(rep_stosb_128)	movq %rbx, %rdi; rep stosb; END
SNIP(rep_stosq_cross_page) movq %rbx, %rdi; rep stosq; END
SNIP(rep_stosb_df)	movq %rbx, %rdi; rep stosb; cld; END
SNIP(rep_stosw_into_denied) movq %rbx, %rdi; rep stosw; END
SNIP(rep_movsb)		movq %rbx, %rdi; rep movsb; END
SNIP(rep_movsq_df)	movq %rbx, %rdi; rep movsq; cld; END
SNIP(rep_movsd_cross_page) movq %rbx, %rdi; rep movsl; END

	.data
	.balign	8
run_out:	.quad	0
run_fn:		.quad	0
run_target:	.quad	0
run_xsave:	.long	0

	.section .note.GNU-stack, "", @progbits
