// SPDX-License-Identifier: MIT
/*
 * spp_exec.c - fork/exec the spp command with its output in temporary
 * files, for the end-to-end tests of tests/tools.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "spp_exec.h"

static int tmp_fd(void)
{
	char path[] = "/tmp/spp-test-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static char *read_all(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ssize_t n;

	assert_non_null(buf);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[len] = 0;
	return buf;
}

void spp_exec_sig(const char *spp, const char *const *args,
		  const char *const *env, int sig, unsigned int signal_after_ms,
		  struct spp_out *o)
{
	const char *argv[64];
	int out = tmp_fd(), err = tmp_fd(), status;
	size_t n = 0;
	pid_t pid;

	argv[n++] = spp;
	while (args && args[n - 1] && n < 63)
		argv[n] = args[n - 1], n++;
	argv[n] = NULL;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(devnull, STDIN_FILENO);
		dup2(out, STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(spp, (char *const *)argv);
		_exit(127);
	}
	if (signal_after_ms) {
		struct timespec ts = { signal_after_ms / 1000,
				       (long)(signal_after_ms % 1000) *
					       1000000L },
				tick = { 0, 10 * 1000000L };
		struct stat st;
		int waited;

		/* The guest is running (it printed) before the clock starts:
		 * a loaded machine or an ASan build may take seconds to get
		 * there, and a signal before spp watches for it kills it. */
		for (waited = 0; waited < 3000; waited++) {
			if (fstat(out, &st) == 0 && st.st_size > 0)
				break;
			nanosleep(&tick, NULL);
		}
		nanosleep(&ts, NULL);
		kill(pid, sig);
	}
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	o->status = WIFEXITED(status) ? WEXITSTATUS(status) :
					128 + WTERMSIG(status);
	o->out = read_all(out);
	o->err = read_all(err);
	close(out);
	close(err);
	/* what a failing test shows */
	fprintf(stderr, "# spp");
	for (size_t i = 1; argv[i]; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr,
		"\n#   exit %d\n#   stdout: %.2000s\n#   stderr: %.2000s\n",
		o->status, o->out, o->err);
}

void spp_out_free(struct spp_out *o)
{
	free(o->out);
	free(o->err);
	o->out = o->err = NULL;
}

size_t spp_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

bool spp_line(const char *s, size_t i, char *buf, size_t size)
{
	const char *e;

	while (i--) {
		s = strchr(s, '\n');
		if (!s)
			return false;
		s++;
	}
	e = strchr(s, '\n');
	if (!e || (size_t)(e - s) >= size)
		return false;
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = 0;
	return true;
}

bool spp_has_line(const char *s, const char *needle)
{
	return strstr(s, needle) != NULL;
}

size_t spp_count(const char *s, const char *needle)
{
	size_t n = 0;

	while ((s = strstr(s, needle))) {
		n++;
		s += strlen(needle);
	}
	return n;
}

char *spp_tmpfile(const char *text)
{
	char *path = strdup("/tmp/spp-test-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

char *spp_tmpfile_bytes(const void *data, size_t len)
{
	char *path = strdup("/tmp/spp-test-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

char *spp_slurp(const char *path)
{
	int fd = open(path, O_RDONLY);
	char *s;

	assert_true(fd >= 0);
	s = read_all(fd);
	close(fd);
	return s;
}
