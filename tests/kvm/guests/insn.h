/* SPDX-License-Identifier: MIT */
/*
 * insn.h - the instruction-class table shared by tests/kvm/guests/insn.c
 * (the guest) and tests/kvm/test_kvm_insn.c (the host).
 *
 * For each case the guest runs one store instruction (with the same
 * registers every time) four times at CPL3:
 *   U@a  into the unprotected reference region at allowed offset a,
 *   P@a  into the protected region at a (an allowed sub-page),
 *   U@d  into the reference region at denied offset d,
 *   P@d  into the protected region at d (a denied sub-page).
 * It compares memory, general registers, flags and the x87/SSE/AVX state
 * of P@a with U@a (must be equal), and checks that P@d left the
 * protected region unchanged with registers equal to U@d. It syncs after
 * P@a (SYNC_ALLOWED(k)) and after P@d (SYNC_DENIED(k)) so the host can
 * check the guard's events and exits of each run.
 *
 * Regions: three pages each. Protected region maps (set by the host):
 * page 0 = INSN_MAP0 (sub-pages 0-15 and 31 writable), page 1 =
 * INSN_MAP1 (sub-pages 0-7 and 16-23), page 2 unprotected.
 */
#ifndef SPP_TEST_INSN_H
#define SPP_TEST_INSN_H

#include <stdint.h>

#include <spp/layout.h>

#define INSN_BOX SPP_LAYOUT_SHARED
#define INSN_U (SPP_LAYOUT_SHARED + 0x10000ULL)
#define INSN_P (SPP_LAYOUT_SHARED + 0x20000ULL)
#define INSN_SRC (SPP_LAYOUT_SHARED + 0x30000ULL) /* rep movs source */
#define INSN_REGION 0x3000ULL
#define INSN_MAP0 0x8000FFFFu
#define INSN_MAP1 0x00FF00FFu

#define INSN_SYNC_READY 1
#define INSN_SYNC_ALLOWED(k) (0x1000 + (k))
#define INSN_SYNC_DENIED(k) (0x2000 + (k))

/* CPU features a case needs (box.features, found by the guest at CPL0). */
enum {
	INSN_F_SSE41 = 1 << 0,
	INSN_F_AVX = 1 << 1, /* CR4.OSXSAVE and XCR0.AVX */
	INSN_F_AVX2 = 1 << 2,
	INSN_F_XSAVE = 1 << 3,
	INSN_F_MOVBE = 1 << 4,
	INSN_F_CX16 = 1 << 5,
	INSN_F_SSE3 = 1 << 6,
};

/* Case setup flags. */
enum {
	INSN_SET_RDXRAX = 1 << 0, /* RDX:RAX = the 16 bytes at the target */
	INSN_SET_EDXEAX = 1 << 1, /* EDX:EAX = the 8 bytes at the target */
	INSN_SET_DF = 1 << 2, /* run with RFLAGS.DF = 1 */
	/* The stored image's x87 FOP/FIP/FDP (bytes 6-23) are not
	 * compared: they are the last x87 instruction's, and a hypervisor
	 * that does not keep them across its own FPU use (QEMU TCG) stores
	 * different ones natively and in KVM's XSAVE image. */
	INSN_CMP_NO_FPTRS = 1 << 3,
};

/*
 * The cases: X(name, len, a_off, d_off, features, setup, rcx, max_exits,
 * d_events, d_event_off). The guest's snippet for case N is snip_N
 * (insn_snips.S). len = bytes the instruction stores (its event's length);
 * rcx = RCX for string cases (0: the default pattern); max_exits = most
 * guard exits P@a may take (0: no limit); d_events = events P@d must
 * report (0 means 1); d_event_off = the first event's offset (0: d_off).
 * Offsets: page 0 allows 0x000-0x7ff and 0xf80-0xfff, page 1 allows
 * 0x1000-0x13ff and 0x1800-0x1bff.
 */
#define F_SSE41 INSN_F_SSE41
#define F_AVX INSN_F_AVX
#define F_AVX2 (INSN_F_AVX | INSN_F_AVX2)
#define F_XSAVE INSN_F_XSAVE
#define INSN_CASES(X)                                                         \
	/* stores KVM emulates itself (controls) */                           \
	X(mov64, 8, 0x108, 0x908, 0, 0, 0, 0, 0, 0)                           \
	X(movdqu, 16, 0x110, 0x910, 0, 0, 0, 0, 0, 0)                         \
	X(lock_cmpxchg8b, 8, 0x118, 0x918, 0, INSN_SET_EDXEAX, 0, 0, 0, 0)    \
	/* SSE partial and scalar stores */                                   \
	X(movq_d6, 8, 0x100, 0x900, 0, 0, 0, 0, 0, 0)                         \
	X(movq_7e_w, 8, 0x103, 0x903, 0, 0, 0, 0, 0, 0)                       \
	X(movd_7e, 4, 0x104, 0x904, 0, 0, 0, 0, 0, 0)                         \
	X(movss, 4, 0x10c, 0x90c, 0, 0, 0, 0, 0, 0)                           \
	X(movsd, 8, 0x110, 0x910, 0, 0, 0, 0, 0, 0)                           \
	X(movlps, 8, 0x118, 0x918, 0, 0, 0, 0, 0, 0)                          \
	X(movhps, 8, 0x120, 0x920, 0, 0, 0, 0, 0, 0)                          \
	X(movlpd, 8, 0x128, 0x928, 0, 0, 0, 0, 0, 0)                          \
	X(movhpd, 8, 0x130, 0x930, 0, 0, 0, 0, 0, 0)                          \
	X(pextrb, 1, 0x137, 0x937, F_SSE41, 0, 0, 0, 0, 0)                    \
	X(pextrw, 2, 0x13a, 0x93a, F_SSE41, 0, 0, 0, 0, 0)                    \
	X(pextrd, 4, 0x13c, 0x93c, F_SSE41, 0, 0, 0, 0, 0)                    \
	X(pextrq, 8, 0x140, 0x940, F_SSE41, 0, 0, 0, 0, 0)                    \
	X(extractps, 4, 0x148, 0x948, F_SSE41, 0, 0, 0, 0, 0)                 \
	X(stmxcsr, 4, 0x150, 0x950, 0, 0, 0, 0, 0, 0)                         \
	X(movq_cross_subpage, 8, 0x07c, 0x7fc, 0, 0, 0, 0, 0, 0)              \
	X(movsd_cross_page, 8, 0xffc, 0x1ffc, 0, 0, 0, 0, 0, 0)               \
	/* x87 */                                                             \
	X(fstp_m64, 8, 0x100, 0x900, 0, 0, 0, 0, 0, 0)                        \
	X(fst_m32, 4, 0x104, 0x904, 0, 0, 0, 0, 0, 0)                         \
	X(fstp_m80, 10, 0x106, 0x906, 0, 0, 0, 0, 0, 0)                       \
	X(fst_m32_overflow, 4, 0x110, 0x910, 0, 0, 0, 0, 0, 0)                \
	X(fistp_m32, 4, 0x114, 0x914, 0, 0, 0, 0, 0, 0)                       \
	X(fist_m16_invalid, 2, 0x118, 0x918, 0, 0, 0, 0, 0, 0)                \
	X(fistp_m64, 8, 0x120, 0x920, 0, 0, 0, 0, 0, 0)                       \
	X(fisttp_m32, 4, 0x128, 0x928, INSN_F_SSE3, 0, 0, 0, 0, 0)            \
	X(fnstsw, 2, 0x12c, 0x92c, 0, 0, 0, 0, 0, 0)                          \
	X(fnstcw, 2, 0x12e, 0x92e, 0, 0, 0, 0, 0, 0)                          \
	X(fxsave, 512, 0x200, 0xa00, 0, INSN_CMP_NO_FPTRS, 0, 0, 0, 0)        \
	X(fxsave64, 512, 0x400, 0xc00, 0, INSN_CMP_NO_FPTRS, 0, 0, 0, 0)      \
	X(fxsave_cross, 512, 0x600, 0x700, 0, INSN_CMP_NO_FPTRS, 0, 0, 0, 0)  \
	X(xsave, 832, 0x040, 0x880, F_AVX, INSN_CMP_NO_FPTRS, 0, 0, 0, 0)     \
	/* AVX */                                                             \
	X(vmovdqu_x, 16, 0x101, 0x901, F_AVX, 0, 0, 0, 0, 0)                  \
	X(vmovdqu_y, 32, 0x121, 0x921, F_AVX, 0, 0, 0, 0, 0)                  \
	X(vmovaps_y, 32, 0x140, 0x940, F_AVX, 0, 0, 0, 0, 0)                  \
	X(vmovntdq_y, 32, 0x160, 0x960, F_AVX, 0, 0, 0, 0, 0)                 \
	X(vmovd, 4, 0x184, 0x984, F_AVX, 0, 0, 0, 0, 0)                       \
	X(vmovq, 8, 0x188, 0x988, F_AVX, 0, 0, 0, 0, 0)                       \
	X(vmovss, 4, 0x190, 0x990, F_AVX, 0, 0, 0, 0, 0)                      \
	X(vmovsd, 8, 0x198, 0x998, F_AVX, 0, 0, 0, 0, 0)                      \
	X(vmovhps, 8, 0x1a0, 0x9a0, F_AVX, 0, 0, 0, 0, 0)                     \
	X(vpextrb, 1, 0x1a9, 0x9a9, F_AVX, 0, 0, 0, 0, 0)                     \
	X(vextractf128, 16, 0x1b0, 0x9b0, F_AVX, 0, 0, 0, 0, 0)               \
	X(vextracti128, 16, 0x1c0, 0x9c0, F_AVX2, 0, 0, 0, 0, 0)              \
	X(vmaskmovps_y, 32, 0x1e0, 0x9e0, F_AVX, 0, 0, 0, 0, 0)               \
	X(vmovdqu_y_cross_page, 32, 0xff0, 0x1ff0, F_AVX, 0, 0, 0, 0, 0)      \
	X(vmovdqu_y_cross_subpage, 32, 0x070, 0x7f0, F_AVX, 0, 0, 0, 0, 0)    \
	/* the rest of the failure list */                                    \
	X(lock_cmpxchg16b, 16, 0x100, 0x900, INSN_F_CX16, INSN_SET_RDXRAX, 0, \
	  0, 0, 0)                                                            \
	X(lock_cmpxchg16b_fail, 16, 0x110, 0x910, INSN_F_CX16, 0, 0, 0, 0, 0) \
	X(movbe_m16, 2, 0x122, 0x922, INSN_F_MOVBE, 0, 0, 0, 0, 0)            \
	X(movbe_m32, 4, 0x124, 0x924, INSN_F_MOVBE, 0, 0, 0, 0, 0)            \
	X(movbe_m64, 8, 0x128, 0x928, INSN_F_MOVBE, 0, 0, 0, 0, 0)            \
	X(sgdt, 10, 0x130, 0x930, 0, 0, 0, 0, 0, 0)                           \
	X(sidt, 10, 0x140, 0x940, 0, 0, 0, 0, 0, 0)                           \
	X(sldt, 2, 0x150, 0x950, 0, 0, 0, 0, 0, 0)                            \
	X(str, 2, 0x152, 0x952, 0, 0, 0, 0, 0, 0)                             \
	X(smsw, 2, 0x154, 0x954, 0, 0, 0, 0, 0, 0)                            \
	/* string stores: rcx elements, finished in user space */             \
	X(rep_stosb_128, 1, 0x100, 0x900, 0, 0, 128, 2, 128, 0)               \
	X(rep_stosq_cross_page, 8, 0xf80, 0x1380, 0, 0, 32, 2, 16, 0x1400)    \
	X(rep_stosb_df, 1, 0x17f, 0x97f, 0, INSN_SET_DF, 300, 0, 300, 0)      \
	X(rep_stosw_into_denied, 2, 0x700, 0x780, 0, 0, 128, 2, 64, 0x800)    \
	X(rep_movsb, 1, 0x100, 0x900, 0, 0, 200, 2, 200, 0)                   \
	X(rep_movsq_df, 8, 0x7f8, 0xf78, 0, INSN_SET_DF, 40, 0, 40, 0)        \
	X(rep_movsd_cross_page, 4, 0xfc0, 0x13c0, 0, 0, 48, 2, 32, 0x1400)

enum {
#define INSN_ENUM(name, ...) INSN_CASE_##name,
	INSN_CASES(INSN_ENUM)
#undef INSN_ENUM
		INSN_NCASES
};

enum insn_status {
	INSN_OK = 0,
	INSN_BAD_MEM_ALLOWED, /* P@a memory differs from U@a at detail */
	INSN_BAD_REG_ALLOWED, /* P@a state differs: detail = where */
	INSN_BAD_MEM_DENIED, /* P@d changed the protected region */
	INSN_BAD_REG_DENIED, /* P@d state differs from U@d */
};

struct insn_result {
	uint32_t status;
	uint32_t detail; /* byte offset, or register index / state offset */
	uint64_t want, got;
	uint8_t ref[64]; /* U@d: the first bytes the store wrote */
};

#define INSN_MAX_CASES 128

struct insn_box {
	volatile uint32_t next; /* case the guest runs next (host sets) */
	volatile uint32_t features;
	volatile uint64_t xcr0;
	struct insn_result res[INSN_MAX_CASES];
};

/* State the snippet runs with / leaves (insn_snips.S). Register order
 * rax rcx rdx rbx rsp rbp rsi rdi r8-r15; xarea is an XSAVE (or FXSAVE)
 * image. */
struct insn_state {
	uint64_t gpr[16];
	uint64_t rflags;
	uint64_t pad[7];
	uint8_t xarea[4096] __attribute__((aligned(64)));
};

#endif /* SPP_TEST_INSN_H */
