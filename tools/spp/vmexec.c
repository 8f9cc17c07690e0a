// SPDX-License-Identifier: MIT
/*
 * vmexec.c - where this machine has no /dev/kvm, the spp of a build tree
 * can run itself inside the source tree's KVM test VM (scripts/kvm-vm,
 * docs/testing.md): a QEMU VM with a real /dev/kvm that sees the host's
 * files. meson bakes SPP_SOURCE_DIR and SPP_BUILD_DIR into the binary; an
 * installed copy (outside SPP_BUILD_DIR) never does this.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spp_cli.h"

#ifndef SPP_SOURCE_DIR
#define SPP_SOURCE_DIR ""
#endif
#ifndef SPP_BUILD_DIR
#define SPP_BUILD_DIR ""
#endif

bool spp_cli_kvm_usable(char *why, size_t n)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, n, "/dev/kvm: %s", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

/* Run @argv, wait, return its exit status (or -1). Quiet: its stdout and
 * stderr go to /dev/null. */
static int run_wait(char *const argv[], bool quiet)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0) {
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
			}
		}
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int spp_cli_rerun_in_vm(const char *const *args, unsigned int flags,
			const char *announce, char *why, size_t n)
{
	char exe[PATH_MAX], run[PATH_MAX], check[PATH_MAX];
	const char *argv[512];
	size_t k = 0, i;
	ssize_t len;
	int ret;

	if (getenv("SPP_KVM_VM")) {
		snprintf(why, n, "already inside the KVM test VM");
		return -1;
	}
	if (getenv("SPP_NO_KVM_VM")) {
		snprintf(why, n, "SPP_NO_KVM_VM is set");
		return -1;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len < 0) {
		snprintf(why, n, "/proc/self/exe: %s", strerror(errno));
		return -1;
	}
	exe[len] = 0;
	if (!*SPP_BUILD_DIR ||
	    strncmp(exe, SPP_BUILD_DIR "/", strlen(SPP_BUILD_DIR "/"))) {
		snprintf(why, n, "not the spp of a build tree");
		return -1;
	}
	snprintf(run, sizeof(run), "%s/scripts/kvm-vm/run", SPP_SOURCE_DIR);
	snprintf(check, sizeof(check), "%s/scripts/kvm-vm/check",
		 SPP_SOURCE_DIR);
	if (access(run, X_OK) || access(check, X_OK)) {
		snprintf(why, n, "no scripts/kvm-vm in %s", SPP_SOURCE_DIR);
		return -1;
	}
	{
		char *const cargv[] = { check, NULL };

		if (run_wait(cargv, true) != 0) {
			snprintf(why, n,
				 "the KVM test VM is not set up "
				 "(scripts/kvm-vm/setup)");
			return -1;
		}
	}
	if (flags & SPP_CLI_VM_NESTED)
		setenv("SPP_KVM_VM_ACCEL", "tcg,thread=multi", 0);
	argv[k++] = run;
	argv[k++] = "--share";
	argv[k++] = SPP_SOURCE_DIR;
	argv[k++] = "--";
	argv[k++] = exe;
	for (i = 0; args[i] && k < sizeof(argv) / sizeof(argv[0]) - 1; i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	fflush(stdout);
	fprintf(stderr, "%s\n", announce);
	fflush(stderr);
	ret = run_wait((char *const *)argv, false);
	if (ret < 0 || ret == 124 || ret == 125) {
		snprintf(why, n, "the KVM test VM failed (status %d)", ret);
		return -1;
	}
	return ret;
}
