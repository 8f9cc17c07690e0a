// SPDX-License-Identifier: MIT
/*
 * demo_linux.c - "spp demo --linux": the kernel-structure scene
 * (docs/introspection.md, "The scene") on a real Linux guest: this
 * machine's kernel ($SPP_KVM_VM_VMLINUZ in the KVM test VM, else
 * /boot/vmlinuz-$(uname -r)) and the build tree's initramfs
 * (tests/qemu/initramfs.cpio.gz, guest program "scene") under spp qemu,
 * modprobe_path and core_pattern protected by name, symbols from the
 * kernel image. Each step printed with its check, as "spp demo" does.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spp/ksym.h>
#include <spp/spp.h>

#include "spp_cli.h"

#ifndef SPP_BUILD_DIR
#define SPP_BUILD_DIR ""
#endif

#define BOOT_TIMEOUT_MS 180000
#define CMD_TIMEOUT_MS 60000
#define SCENE_NO_BOOT (-2) /* play(): the guest never came up */

struct scene {
	pid_t pid;
	int in, out; /* the guest console: to it, from it */
	char buf[8192];
	size_t len;
	struct spp_cli_conn c;
	unsigned int failed;
};

static void check(struct scene *s, bool ok, const char *what)
{
	printf("  -> %s: %s\n", what, ok ? "yes" : "NO (unexpected)");
	fflush(stdout);
	s->failed += !ok;
}

/* The next console line starting with @prefix into @line, within @ms. */
static int console_expect(struct scene *s, const char *prefix, char *line,
			  size_t size, int ms)
{
	double end = spp_cli_now() + ms / 1000.0;

	for (;;) {
		char *nl = memchr(s->buf, '\n', s->len);
		struct pollfd p = { .fd = s->out, .events = POLLIN };
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - s->buf);
			bool hit;

			*nl = 0;
			if (l && s->buf[l - 1] == '\r')
				s->buf[l - 1] = 0;
			hit = !strncmp(s->buf, prefix, strlen(prefix));
			if (hit && size) {
				size_t m = strlen(s->buf) < size - 1 ?
						   strlen(s->buf) :
						   size - 1;

				memcpy(line, s->buf, m);
				line[m] = 0;
			}
			memmove(s->buf, nl + 1, s->len - l - 1);
			s->len -= l + 1;
			if (hit)
				return 0;
			continue;
		}
		if (s->len == sizeof(s->buf))
			s->len = 0; /* a line too long to matter */
		if (spp_cli_now() > end)
			return -ETIMEDOUT;
		if (poll(&p, 1, 200) <= 0)
			continue;
		n = read(s->out, s->buf + s->len, sizeof(s->buf) - s->len);
		if (n <= 0)
			return -EPIPE;
		s->len += (size_t)n;
	}
}

/* A command to the guest program and its "OK ..."/"ERR ..." answer. */
static int guest(struct scene *s, const char *cmd, char *reply, size_t size)
{
	char l[512];
	int r;

	printf("  guest# %s\n", cmd);
	fflush(stdout);
	if (dprintf(s->in, "%s\n", cmd) < 0)
		return -EPIPE;
	while (!(r = console_expect(s, "", l, sizeof(l), CMD_TIMEOUT_MS)))
		if (!strncmp(l, "OK", 2) || !strncmp(l, "ERR", 3)) {
			if (size) {
				size_t m = strlen(l) < size - 1 ? strlen(l) :
								  size - 1;

				memcpy(reply, l, m);
				reply[m] = 0;
			}
			return 0;
		}
	printf("spp demo: the guest did not answer '%s'\n", cmd);
	return r;
}

/* The SPP_VIOLATION events of the next 2 s: printed, their verdicts
 * checked against @verdict; how many. */
static unsigned int events(struct scene *s, const char *verdict)
{
	double end = spp_cli_now() + 2;
	unsigned int n = 0, bad = 0;

	while (spp_cli_now() < end) {
		char *l = spp_cli_conn_line(&s->c, 200);
		json_t *v, *d;

		if (!l)
			continue;
		v = json_loads(l, 0, NULL);
		free(l);
		d = json_object_get(v, "data");
		if (!strcmp(json_string_value(json_object_get(v, "event")) ?:
									     "",
			    "SPP_VIOLATION")) {
			const char *sym = json_string_value(
				json_object_get(d, "insn_sym"));

			if (n < 2)
				printf("  event: %s store of %" JSON_INTEGER_FORMAT
				       " byte(s) at gpa %s by %s\n",
				       json_string_value(json_object_get(d, "verdict")) ?:
					       "?",
				       json_integer_value(
					       json_object_get(d, "len")),
				       json_string_value(json_object_get(d, "gpa")) ?:
					       "?",
				       sym ?: "?");
			bad += strcmp(json_string_value(json_object_get(d, "verdict")) ?:
					      "",
				      verdict) != 0;
			n++;
		}
		json_decref(v);
	}
	if (n > 2)
		printf("  ... %u events in all\n", n);
	return bad ? 0 : n;
}

static const char *const targets[][2] = {
	{ "modprobe_path", "/proc/sys/kernel/modprobe" },
	{ "core_pattern", "/proc/sys/kernel/core_pattern" },
};

static int play(struct scene *s, const char *sock)
{
	char cmd[700], reply[512], orig[2][512];
	double end = spp_cli_now() + 120;
	json_t *r = NULL, *rule;
	size_t i, k;

	if (console_expect(s, "SPP-SCENE ready", reply, sizeof(reply),
			   BOOT_TIMEOUT_MS)) {
		printf("spp demo: the guest did not come up\n");
		return SCENE_NO_BOOT;
	}
	printf("\n2. The guest is up (busybox as root, /bin/scene).\n");
	while (spp_cli_conn_open(&s->c, sock))
		if (spp_cli_now() > end)
			return -1;
	json_decref(spp_cli_conn_requestf(&s->c, "events",
					  json_pack("{s:b}", "enable", 1)));
	for (;;) {
		bool all = true;

		r = spp_cli_conn_requestf(&s->c, "query-rules", NULL);
		if (!r)
			return -1;
		json_array_foreach(json_object_get(r, "rules"), i, rule) all &=
			!strcmp(json_string_value(json_object_get(rule, "state")) ?:
					"",
				"applied");
		if (all || spp_cli_now() > end)
			break;
		json_decref(r);
		usleep(500000);
	}
	json_array_foreach(json_object_get(r, "rules"), i, rule)
	{
		json_t *p;

		printf("  rule %s: %s at %s +%" JSON_INTEGER_FORMAT,
		       json_string_value(json_object_get(rule, "symbol")) ?:
									    "?",
		       json_string_value(json_object_get(rule, "state")) ?: "?",
		       json_string_value(json_object_get(rule, "gva")) ?: "?",
		       json_integer_value(json_object_get(rule, "len")));
		json_array_foreach(json_object_get(rule, "pages"), k, p)
		{
			uint64_t map = (uint64_t)json_integer_value(
				json_object_get(p, "map"));

			printf("%s page %s map 0x%08" PRIx64, k ? "," : ";",
			       json_string_value(json_object_get(p, "gpa")) ?:
									      "?",
			       map);
		}
		printf("\n");
	}
	json_decref(r);
	check(s, true, "both rules applied once the kernel was up");

	printf("\n3. Policy deny: root in the guest writes the sysctls.\n");
	for (i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd), "get %s", targets[i][1]);
		if (guest(s, cmd, orig[i], sizeof(orig[i])))
			return -1;
		printf("  %s\n", orig[i]);
		snprintf(cmd, sizeof(cmd), "put %s /tmp/x", targets[i][1]);
		if (guest(s, cmd, reply, sizeof(reply)))
			return -1;
		check(s, events(s, "denied") > 0,
		      "denied and reported, with the storing function");
		snprintf(cmd, sizeof(cmd), "get %s", targets[i][1]);
		if (guest(s, cmd, reply, sizeof(reply)))
			return -1;
		printf("  %s\n", reply);
		check(s, !strcmp(reply, orig[i]), "the value is unchanged");
	}

	printf("\n4. Policy log: the same writes land and are reported.\n");
	json_decref(spp_cli_conn_requestf(&s->c, "set-policy",
					  json_pack("{s:s}", "policy", "log")));
	for (i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd), "put %s /tmp/x", targets[i][1]);
		if (guest(s, cmd, reply, sizeof(reply)))
			return -1;
		check(s, events(s, "logged") > 0, "reported as logged");
		snprintf(cmd, sizeof(cmd), "get %s", targets[i][1]);
		if (guest(s, cmd, reply, sizeof(reply)))
			return -1;
		printf("  %s\n", reply);
		check(s, !strcmp(reply, "OK text=/tmp/x"), "the write landed");
		snprintf(cmd, sizeof(cmd), "put %s %s", targets[i][1],
			 orig[i] + strlen("OK text="));
		if (guest(s, cmd, reply, sizeof(reply)))
			return -1;
		events(s, "logged"); /* the restoring write's, not shown */
	}
	spp_cli_conn_close(&s->c);
	guest(s, "quit", reply, sizeof(reply));
	return 0;
}

/*
 * One boot of the scene: spp qemu with the rules for @spec in a child,
 * its console on pipes, play() on it, QEMU ended and reaped. Returns
 * play()'s result (SCENE_NO_BOOT: the guest never came up) or
 * SPP_CLI_ERROR when the boot could not be started.
 */
static int boot_and_play(const char *exe, const char *kernel,
			 const char *initrd, char spec[2][64], struct scene *s)
{
	char sock[600], dir[] = "/tmp/spp-demo-XXXXXX";
	int to[2], from[2], status = 0, ret;
	size_t i;

	if (!mkdtemp(dir))
		return SPP_CLI_ERROR;
	if (pipe(to)) {
		rmdir(dir);
		return SPP_CLI_ERROR;
	}
	if (pipe(from)) {
		close(to[0]);
		close(to[1]);
		rmdir(dir);
		return SPP_CLI_ERROR;
	}
	snprintf(sock, sizeof(sock), "%s/control", dir);
	fflush(stdout);
	s->pid = fork();
	if (s->pid < 0) {
		close(to[0]);
		close(to[1]);
		close(from[0]);
		close(from[1]);
		rmdir(dir);
		return SPP_CLI_ERROR;
	}
	if (!s->pid) {
		const char *argv[] = {
			exe,
			"qemu",
			"--control",
			sock,
			"--protect-symbol",
			spec[0],
			"--protect-symbol",
			spec[1],
			"--",
			"qemu-system-x86_64",
			"-enable-kvm",
			"-cpu",
			"host",
			"-m",
			"256",
			"-nodefaults",
			"-no-reboot",
			"-display",
			"none",
			"-serial",
			"stdio",
			"-kernel",
			kernel,
			"-initrd",
			initrd,
			"-append",
			"console=ttyS0 panic=-1 quiet spp.test=scene",
			NULL
		};

		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[1]);
		close(from[0]);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	s->in = to[1];
	s->out = from[0];
	ret = play(s, sock);
	close(s->in);
	for (i = 0; i < 300; i++) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid)
			break;
		usleep(100000);
	}
	if (i == 300) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, &status, 0);
	}
	close(s->out);
	unlink(sock);
	rmdir(dir);
	return ret;
}

int spp_cli_demo_linux(void)
{
	char kernel[512], initrd[600], exe[600];
	const char *k = getenv("SPP_KVM_VM_VMLINUZ");
	struct spp_ksym_error ke = { 0, NULL };
	struct spp_ksym_table *t = NULL;
	struct scene s = { .c = { .fd = -1 } };
	char spec[2][64];
	struct utsname u;
	int ret;
	ssize_t n;
	size_t i;

	if (k && *k) {
		snprintf(kernel, sizeof(kernel), "%s", k);
	} else {
		uname(&u);
		snprintf(kernel, sizeof(kernel), "/boot/vmlinuz-%s", u.release);
	}
	snprintf(initrd, sizeof(initrd), "%s/tests/qemu/initramfs.cpio.gz",
		 SPP_BUILD_DIR);
	if (!*SPP_BUILD_DIR || access(initrd, R_OK)) {
		spp_cli_err("demo --linux: no initramfs %s (the build tree's; "
			    "needs busybox-static and cpio)",
			    initrd);
		return SPP_CLI_ERROR;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return SPP_CLI_ERROR;
	exe[n] = 0;
	printf("spp %s demo --linux: the kernel-structure scene on a real "
	       "Linux guest\n\n",
	       spp_version());
	printf("1. The kernel's symbols from its image %s (no System.map):\n",
	       kernel);
	ret = spp_ksym_load_image(kernel, &t, &ke);
	if (ret) {
		spp_cli_err("demo --linux: %s: %s", kernel,
			    ke.what ?: strerror(-ret));
		return SPP_CLI_ERROR;
	}
	for (i = 0; i < 2; i++) {
		uint64_t a = 0, size = 0;

		if (spp_ksym_lookup(t, targets[i][0], &a, &size)) {
			spp_cli_err("demo --linux: %s: no %s", kernel,
				    targets[i][0]);
			spp_ksym_destroy(t);
			return SPP_CLI_ERROR;
		}
		/* the string's first sub-page: its path cannot change
		 * without it; the rest of the symbol may share a sub-page
		 * with data the kernel writes (docs/introspection.md) */
		snprintf(spec[i], sizeof(spec[i]), "%s/%u", targets[i][0],
			 (unsigned int)(128 - (a & 127)));
		printf("  %s at 0x%" PRIx64 ", %" PRIu64 " bytes: protect %s "
		       "(its first sub-page)\n",
		       targets[i][0], a, size, spec[i]);
	}
	printf("  spp qemu --protect-symbol %s --protect-symbol %s -- "
	       "qemu-system-x86_64 -kernel %s ...\n",
	       spec[0], spec[1], kernel);
	spp_ksym_destroy(t);
	ret = boot_and_play(exe, kernel, initrd, spec, &s);
	if (ret == SCENE_NO_BOOT) {
		/* A nested guest under the TCG test VM is now and then reset
		 * while it boots (docs/introspection.md): once more, and say
		 * so. */
		printf("spp demo: booting the guest once more\n");
		memset(&s, 0, sizeof(s));
		s.c.fd = -1;
		ret = boot_and_play(exe, kernel, initrd, spec, &s);
	}
	if (ret) {
		printf("\nspp demo --linux: the scene did not finish\n");
		return SPP_CLI_ERROR;
	}
	printf("\n%s\n",
	       s.failed ? "Some checks FAILED." : "Every check passed.");
	return s.failed ? SPP_CLI_ERROR : SPP_CLI_OK;
}
