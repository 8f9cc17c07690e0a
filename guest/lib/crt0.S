/* SPDX-License-Identifier: MIT */
/*
 * crt0.S - entry of spp guest programs (spp/guest_abi.h).
 *
 * Entered at CPL0 in 64-bit mode with RDI = vCPU index, RSI = number of
 * vCPUs, RSP = this vCPU's stack top, interrupts off. vCPU 0 zeroes .bss
 * (8-byte aligned by guest.ld) and then sets bss_ready; the other vCPUs
 * wait for it. Every vCPU then calls main(vcpu, nvcpus) and exits with
 * its return value.
 */
	.section .text.start, "ax", @progbits
	.globl	_start
	.type	_start, @function
_start:
	cld
	xorl	%ebp, %ebp
	andq	$-16, %rsp		/* SysV: aligned before the call */
	movq	%rdi, %r12		/* vCPU index */
	movq	%rsi, %r13		/* number of vCPUs */
	testq	%rdi, %rdi
	jnz	2f

	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subq	%rdi, %rcx
	shrq	$3, %rcx
	xorl	%eax, %eax
	rep stosq
	movl	$1, %eax
	xchgl	%eax, bss_ready(%rip)	/* locked: orders the zeroing */
	jmp	3f

2:	pause
	cmpl	$0, bss_ready(%rip)
	je	2b

3:	movq	%r12, %rdi
	movq	%r13, %rsi
	call	main
	movl	%eax, %edi		/* exit value: main's int, 32 bits */
	call	spp_guest_exit
	ud2
	.size	_start, . - _start

	/* In .data, not .bss: it must not be zeroed by the loop above. */
	.data
	.balign	4
bss_ready:
	.long	0

	.section .note.GNU-stack, "", @progbits
