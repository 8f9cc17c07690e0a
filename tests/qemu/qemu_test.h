/* SPDX-License-Identifier: MIT */
/*
 * qemu_test.h - boot a nested Linux guest in real QEMU on real KVM and
 * talk to it: its console (a pipe, line by line, with timeouts) and its
 * QMP monitor. For the test programs of tests/qemu/ (a static library,
 * tests/qemu/meson.build) and bench/qemu.
 *
 * The guest is a kernel (qemu_test_kernel()) and the project's initramfs
 * (tests/qemu/guest/: busybox, /init, wptest, idle, spin, bench); /init
 * prints "SPP-INIT test=NAME ..." and runs the program NAME given as
 * spp.test=NAME on the kernel command line, then powers off. QEMU runs
 * with -enable-kvm -cpu host -nodefaults -no-reboot -serial stdio
 * -display none and a QMP socket in a private temporary directory, which
 * also keeps the console log (console.log) and QEMU's stderr (qemu.log).
 *
 * A boot that hangs (no marker line within the boot timeout) is killed,
 * its console tail printed, and QEMU started once more; each such retry
 * appends a line to $SPP_QEMU_RETRY_LOG (else $SPP_KVM_VM_RETRY_LOG) if
 * set. A second hang fails.
 *
 * Environment: SPP_QEMU (the QEMU binary), SPP_QEMU_KERNEL (the guest
 * kernel), SPP_QEMU_INITRD (the initramfs; meson sets it for the tests),
 * SPP_QEMU_BOOT_TIMEOUT (seconds, default 90), SPP_QEMU_KEEP=1 (keep the
 * temporary directory; its path is printed).
 *
 * Functions that can fail return 0 or a negative errno: -ETIMEDOUT (no
 * answer in time), -EPIPE (QEMU's console closed: it exited), -EBADMSG
 * (the guest or QMP answered with an error).
 */
#ifndef SPP_QEMU_TEST_H
#define SPP_QEMU_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct qemu_test_opts {
	/* Put before QEMU's argv (e.g. {"spp", "qemu", "--", NULL}); the
	 * process group of argv[0] is the one stopped. NULL: none. */
	const char *const *prefix;
	/* NULL: $SPP_QEMU, else "qemu-system-x86_64" (from PATH). */
	const char *qemu;
	/* NULL: qemu_test_kernel(), qemu_test_initrd(). */
	const char *kernel;
	const char *initrd;
	/* The guest program (spp.test=), NULL: "wptest"; its arguments
	 * (spp.args=A,B: no spaces), NULL: none. */
	const char *prog;
	const char *args;
	/* More kernel command line, or NULL. */
	const char *append;
	/* Boot with KASLR (no "nokaslr" on the command line). Under
	 * single-threaded TCG in the test VM such boots hang most of the
	 * time; multi-threaded TCG (tests/run's qemu suites) boots them
	 * (docs/introspection.md, "KASLR in the test VM"). */
	bool kaslr;
	/* More QEMU arguments, NULL-terminated, or NULL. */
	const char *const *qemu_args;
	/* "NAME=VALUE" for QEMU's environment (e.g. LD_PRELOAD=...),
	 * NULL-terminated, or NULL. */
	const char *const *env;
	/* The boot is up at the first console line matching this POSIX
	 * extended regex; NULL: "^SPP-INIT ". */
	const char *marker;
	/* vCPUs (0: 1); more than one adds QEMU_TEST_SMP_APPEND to the
	 * kernel command line. */
	unsigned int smp;
	/* MiB (0: 256). */
	unsigned int mem_mib;
	/* Let the guest reboot (leave out -no-reboot): QMP system_reset
	 * then resets instead of ending QEMU. */
	bool reboot;
	/* ms; 0: $SPP_QEMU_BOOT_TIMEOUT s, else 90 s. */
	int boot_timeout_ms;
	/* A hung boot fails at once, without the retry (surveys of how
	 * often boots hang, tests/qemu/qemu_boot_survey.c). */
	bool no_retry;
	/* For messages and the retry log; NULL: the program. */
	const char *name;
};

/* Kernel options every multi-vCPU boot gets. None: no L2 option made
 * -smp 2 reliable in the kvm-vm; multi-threaded TCG in the VM did (10/10,
 * docs/testing.md "Multi-vCPU nested guests"). */
#define QEMU_TEST_SMP_APPEND ""

struct qemu_test;

/* The guest kernel: $SPP_QEMU_KERNEL, else $SPP_KVM_VM_VMLINUZ (set by
 * scripts/kvm-vm/run: the VM's own kernel), else
 * /boot/vmlinuz-$(uname -r) if readable; NULL if none. */
const char *qemu_test_kernel(void);
/* The initramfs: $SPP_QEMU_INITRD if it names a readable file, or NULL. */
const char *qemu_test_initrd(void);

/*
 * qemu_test_unavailable() - true when no nested guest can run here (no
 * usable /dev/kvm, no QEMU, no kernel or initramfs for @o, which may be
 * NULL); then it has printed the TAP plan "1..0 # SKIP <why>" and a loud
 * line naming @prog on stderr, and main() should return 0.
 */
bool qemu_test_unavailable(const char *prog, const struct qemu_test_opts *o);

/*
 * qemu_test_start() - start QEMU and wait for the marker line, with one
 * retry of a hung boot (above) or of a boot the guest reset before the
 * marker (QEMU exits 0 under -no-reboot), counted alike. NULL on failure,
 * having printed why and the console tail on stderr. @o may be NULL
 * (wptest, defaults).
 */
struct qemu_test *qemu_test_start(const struct qemu_test_opts *o);

/* The console line that matched the marker. */
const char *qemu_test_marker_line(const struct qemu_test *q);
/* How many failed boots qemu_test_start() retried (0 or 1). */
int qemu_test_retries(const struct qemu_test *q);
/* The process started (argv[0] of the prefix, or QEMU). */
pid_t qemu_test_pid(const struct qemu_test *q);
/* The private directory: console.log, qemu.log, qmp.sock. */
const char *qemu_test_dir(const struct qemu_test *q);
/* ms since QEMU started. */
double qemu_test_elapsed_ms(const struct qemu_test *q);

/*
 * qemu_test_expect() - read console lines until one matches @regex
 * (POSIX extended), for at most @timeout_ms; @line (may be NULL) then
 * points at it (without the line end) until the next call on @q.
 */
int qemu_test_expect(struct qemu_test *q, const char *regex, int timeout_ms,
		     const char **line);

/* qemu_test_send() - write @text and a newline to the guest's console. */
int qemu_test_send(struct qemu_test *q, const char *text);

/*
 * qemu_test_cmd() - send the command line @cmd and read its reply: the
 * next line starting "OK", "ERR" or "SKIP" (30 s at most); the reply
 * goes to @reply (may be NULL) without the line end. Returns 0 for OK,
 * 1 for SKIP, -EBADMSG for ERR.
 */
int qemu_test_cmd(struct qemu_test *q, const char *cmd, char *reply,
		  size_t size);

/*
 * qemu_test_qmp() - run a QMP command: @cmd is a command name ("stop",
 * "cont", "system_reset", "query-status") or a whole JSON object. The
 * first call connects and negotiates capabilities. The "return" line (or
 * the "error" one) goes to @reply (may be NULL); events are skipped.
 * Returns 0 on "return", -EBADMSG on "error".
 */
int qemu_test_qmp(struct qemu_test *q, const char *cmd, char *reply,
		  size_t size);

/*
 * qemu_test_wait_exit() - wait up to @timeout_ms for QEMU to exit by
 * itself (the guest powered off), reading the console meanwhile; its
 * wait status goes to @status (may be NULL).
 */
int qemu_test_wait_exit(struct qemu_test *q, int timeout_ms, int *status);

/*
 * qemu_test_hung() - for a guest that hung after qemu_test_start() (a
 * reboot after system_reset, a guest that stopped answering within the
 * test's own timeout): print @what and the console tail and count it in
 * the retry log (above) as "nested guest NAME (smp N): @what, retried";
 * the caller then starts again.
 */
void qemu_test_hung(const struct qemu_test *q, const char *what);

/* qemu_test_print_tail() - the last @n console lines and QEMU's stderr,
 * on stderr, each line after "# ". */
void qemu_test_print_tail(const struct qemu_test *q, int n);

/*
 * qemu_test_print_cpu() - for a guest that stopped answering: QEMU's
 * run state (QMP query-status: "internal-error" when KVM or the shim
 * gave up on an instruction), the lines of QEMU's stderr that say why
 * ("spp qemu:", "KVM internal error", its register dump's RIP), vCPU 0's
 * RIP, RFLAGS and CPL from QEMU's monitor (HMP "info registers" over
 * QMP), sampled @samples times 500 ms apart (a RIP that stays in one
 * function: the guest spins), named with this machine's /proc/kallsyms
 * when the guest runs the same kernel (the kvm-vm's $SPP_KVM_VM_VMLINUZ,
 * booted nokaslr), and the kernel stack scanned for an interrupt frame
 * pushed while interrupts were off (RFLAGS.IF clear: an interrupt
 * delivered twice by the test VM's single-threaded TCG, docs/testing.md).
 * Prints on stderr, each line after "# "; returns 1 when that frame was
 * found, 0 when not, -errno when QEMU's monitor did not answer.
 */
int qemu_test_print_cpu(struct qemu_test *q, int samples);

/*
 * qemu_test_explain() - after a failed request (console, QMP, control
 * socket): whether the last started QEMU still runs or how it ended, the
 * console tail and QEMU's stderr, on stderr. Nothing without one.
 */
void qemu_test_explain(void);

/*
 * qemu_test_stop() - end QEMU if it still runs (SIGTERM to its process
 * group, after 5 s SIGKILL), reap it, remove the directory (unless
 * SPP_QEMU_KEEP=1) and free @q. Returns QEMU's wait status (-1 when it
 * had to be killed). NULL does nothing.
 */
int qemu_test_stop(struct qemu_test *q);

#endif
