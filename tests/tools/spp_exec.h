/* SPDX-License-Identifier: MIT */
/*
 * spp_exec.h - run the built spp command and capture what it does, for
 * the end-to-end tests of tests/tools.
 */
#ifndef SPP_TEST_EXEC_H
#define SPP_TEST_EXEC_H

#include <stdbool.h>
#include <stddef.h>

struct spp_out {
	int status; /* exit status, or 128 + signal */
	char *out; /* stdout, NUL-terminated */
	char *err; /* stderr */
};

/*
 * spp_exec() - run @spp with the NULL-terminated @args (without argv[0])
 * and environment additions @env ("NAME=value", NULL-terminated, may be
 * NULL); when @signal_after_ms > 0, send @sig that long after spp's
 * first output on stdout (the guest runs; at most 30 s of waiting for
 * it). Fails the test on any setup error.
 */
void spp_exec_sig(const char *spp, const char *const *args,
		  const char *const *env, int sig, unsigned int signal_after_ms,
		  struct spp_out *o);

static inline void spp_exec(const char *spp, const char *const *args,
			    struct spp_out *o)
{
	spp_exec_sig(spp, args, 0, 0, 0, o);
}

void spp_out_free(struct spp_out *o);

/* Number of lines of @s; the @i-th line (0-based) into @buf. */
size_t spp_lines(const char *s);
bool spp_line(const char *s, size_t i, char *buf, size_t size);

/* Whether @s has a line that contains @needle. */
bool spp_has_line(const char *s, const char *needle);

/* Number of occurrences of @needle in @s. */
size_t spp_count(const char *s, const char *needle);

/* Write @text to a new temporary file; returns its path (free it). */
char *spp_tmpfile(const char *text);

/* The same for @len bytes of any value. */
char *spp_tmpfile_bytes(const void *data, size_t len);

/* The whole file @path as a string (free it). */
char *spp_slurp(const char *path);

#endif /* SPP_TEST_EXEC_H */
