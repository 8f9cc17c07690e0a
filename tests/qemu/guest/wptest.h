/* SPDX-License-Identifier: MIT */
/*
 * wptest.h - what the nested guest's wptest program and the tests that
 * drive it (tests/qemu/) agree on: the bytes of the commands that store a
 * fixed pattern, and the limits of the protocol.
 *
 * The protocol (one command line in, one reply line out, on the guest's
 * console; docs/testing.md, "Nested QEMU guests"):
 *
 *   SPP-WPTEST page=0x<gpa> cpus=<n> avx=<0|1>   once, when ready
 *   fill OFF LEN BYTE       byte stores, one at a time      OK fill
 *   store{1,2,4,8} OFF HEX  one mov of that width           OK storeN
 *   sse OFF                 movdqu xmm, 16 pattern bytes    OK sse
 *   avx OFF                 vmovdqu ymm, 32 pattern bytes   OK avx | SKIP noavx
 *   rep OFF LEN BYTE        rep stosb                       OK rep
 *   movs OFF LEN            rep movsb of pattern bytes      OK movs
 *   xadd OFF HEX            lock xadd, 8 bytes              OK old=0x<old>
 *   cmpxchg OFF OLD NEW     lock cmpxchg, 8 bytes           OK zf=<0|1> old=0x<v>
 *   read OFF LEN            read() from a pipe (the kernel's
 *                           copy_to_user) of pattern bytes  OK n=<bytes read>
 *   memcpy OFF LEN          glibc memcpy of pattern bytes   OK memcpy
 *   dump OFF LEN            the page bytes, in hex          OK <hex>
 *   cpu N                   move to CPU N (sched_setaffinity) OK cpu=<N>
 *   where                   the CPU it runs on              OK cpu=<n>
 *   page                    the page again                  OK page=0x<gpa>
 *   hammer SECS             one thread per CPU (up to 4), pinned,
 *                           for SECS s storing 8-byte counters
 *                           1, 2, ... to WPT_HAMMER_T, _C and _A
 *                           of its CPU                      OK hammer cpu0=<ran on>:<count> ...
 *   ksym NAME               a kernel symbol's address from
 *                           /proc/kallsyms (root: not hidden) OK addr=0x<va>
 *   ksymat ADDR             the symbol holding kernel address
 *                           ADDR, and the next one's address  OK name=<n> addr=0x<a> next=0x<b>
 *   putfile PATH TEXT       write TEXT (no blanks) to PATH   OK n=<written>
 *   getfile PATH            PATH's first line               OK text=<line>
 *   quit                    exit (init powers off)          OK bye
 *
 * Numbers are C literals (strtoull base 0: 0x.. hex, else decimal); HEX
 * and OLD/NEW are hex with or without 0x. Anything wrong: ERR <why>.
 * OFF + LEN must stay within the 4 KiB page; dump takes at most
 * WPT_DUMP_MAX bytes.
 */
#ifndef SPP_QEMU_WPTEST_H
#define SPP_QEMU_WPTEST_H

#include <stdint.h>

#define WPT_PAGE_SIZE 4096u
#define WPT_DUMP_MAX 1024u

/* hammer's offsets for CPU i: a sub-page each (T: the test toggles it,
 * C: kept denied, A: kept writable). */
#define WPT_HAMMER_CPUS 4
#define WPT_HAMMER_T(i) (0x200u + 0x80u * (i))
#define WPT_HAMMER_C(i) (0x800u + 0x80u * (i))
#define WPT_HAMMER_A(i) (0xc00u + 0x80u * (i))

/* The pattern commands' byte K: distinct per command class. */
enum wpt_pattern {
	WPT_PAT_SSE = 0x10,
	WPT_PAT_AVX = 0x40,
	WPT_PAT_MOVS = 0x70,
	WPT_PAT_READ = 0xa0,
	WPT_PAT_MEMCPY = 0xd0,
};

static inline uint8_t wpt_pattern(enum wpt_pattern p, unsigned int k)
{
	return (uint8_t)(p + k * 7u + (k >> 5));
}

#endif
