// SPDX-License-Identifier: MIT
/*
 * wptest - the nested guest's test program (run by the initramfs's /init
 * as root, static): one locked 4 KiB page, its guest-physical address
 * from /proc/self/pagemap, and commands on the console that store into
 * it with a given class of instruction. The protocol is in wptest.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <unistd.h>

#include <cpuid.h>

#include "wptest.h"

static uint8_t *page;
static uint64_t page_gpa;

/* The guest-physical address of @p (mapped, locked), or 0. */
static uint64_t gpa_of(const void *p)
{
	uint64_t ent = 0;
	uintptr_t va = (uintptr_t)p;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &ent, sizeof(ent), (off_t)(va / 4096 * 8)) !=
	    (ssize_t)sizeof(ent))
		ent = 0;
	close(fd);
	if (!(ent >> 63 & 1))
		return 0;
	return (ent & ((1ULL << 55) - 1)) * 4096 + (va & 4095);
}

static int reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* hammer: one thread per CPU, pinned, for a while. */
struct hammer {
	pthread_t t;
	int cpu, ran_on;
	double secs;
	uint64_t n;
};

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	volatile uint64_t *t = (uint64_t *)(page + WPT_HAMMER_T(h->cpu));
	volatile uint64_t *c = (uint64_t *)(page + WPT_HAMMER_C(h->cpu));
	volatile uint64_t *a = (uint64_t *)(page + WPT_HAMMER_A(h->cpu));
	struct timespec t0, now;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(h->cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	h->ran_on = sched_getcpu();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		uint64_t v = ++h->n;

		*t = v;
		*c = v;
		*a = v;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 <
		 h->secs);
	return NULL;
}

static int hammer(double secs)
{
	struct hammer h[WPT_HAMMER_CPUS];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char out[256];
	size_t w = 0;

	if (cpus > WPT_HAMMER_CPUS)
		cpus = WPT_HAMMER_CPUS;
	for (long i = 0; i < cpus; i++) {
		h[i] = (struct hammer){ .cpu = (int)i, .secs = secs };
		if (pthread_create(&h[i].t, NULL, hammer_thread, &h[i]))
			return reply("ERR pthread_create");
	}
	for (long i = 0; i < cpus; i++) {
		pthread_join(h[i].t, NULL);
		w += (size_t)snprintf(out + w, sizeof(out) - w,
				      " cpu%ld=%d:%llu", i, h[i].ran_on,
				      (unsigned long long)h[i].n);
	}
	return reply("OK hammer%s", out);
}

static bool have_avx(void)
{
	unsigned int a, b, c, d;
	uint32_t lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return false;
	if (!(c & bit_AVX) || !(c & bit_OSXSAVE))
		return false;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	(void)hi;
	return (lo & 6) == 6; /* XMM and YMM state enabled by the OS */
}

static int reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	return 0;
}

/* Parse the @n numbers after the command word; false on a bad line. */
static bool numbers(char **save, uint64_t *v, int n, bool hex)
{
	for (int i = 0; i < n; i++) {
		char *t = strtok_r(NULL, " \t", save), *end;

		if (!t)
			return false;
		errno = 0;
		v[i] = strtoull(t, &end, hex && i > 0 ? 16 : 0);
		if (errno || *end)
			return false;
	}
	return strtok_r(NULL, " \t", save) == NULL;
}

static bool in_page(uint64_t off, uint64_t len)
{
	return off <= WPT_PAGE_SIZE && len <= WPT_PAGE_SIZE - off;
}

static void fill_pattern(uint8_t *buf, enum wpt_pattern p, size_t len)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = wpt_pattern(p, (unsigned int)k);
}

static void do_store(int width, uint64_t off, uint64_t val)
{
	uint8_t *p = page + off;

	switch (width) {
	case 1:
		__asm__ volatile("movb %b1, %0" : "=m"(*p) : "q"(val));
		break;
	case 2:
		__asm__ volatile("movw %w1, %0"
				 : "=m"(*(uint16_t *)p)
				 : "r"(val));
		break;
	case 4:
		__asm__ volatile("movl %k1, %0"
				 : "=m"(*(uint32_t *)p)
				 : "r"(val));
		break;
	default:
		__asm__ volatile("movq %1, %0"
				 : "=m"(*(uint64_t *)p)
				 : "r"(val));
		break;
	}
}

static int command(char *line, bool avx)
{
	static uint8_t src[WPT_PAGE_SIZE];
	static char hex[2 * WPT_DUMP_MAX + 1];
	char *save, *w = strtok_r(line, " \t", &save);
	uint64_t v[3];

	if (!w) {
		reply("ERR empty");
	} else if (!strcmp(w, "fill") || !strcmp(w, "rep")) {
		if (!numbers(&save, v, 3, false) || !in_page(v[0], v[1]) ||
		    v[2] > 255)
			return reply("ERR usage: %s OFF LEN BYTE", w);
		if (*w == 'f') {
			volatile uint8_t *p = page + v[0];

			for (uint64_t k = 0; k < v[1]; k++)
				p[k] = (uint8_t)v[2];
		} else {
			void *d = page + v[0];
			uint64_t n = v[1];

			__asm__ volatile("rep stosb"
					 : "+D"(d), "+c"(n)
					 : "a"(v[2])
					 : "memory");
		}
		reply("OK %s", w);
	} else if (!strncmp(w, "store", 5) && strlen(w) == 6 &&
		   strchr("1248", w[5])) {
		int width = w[5] - '0';

		if (!numbers(&save, v, 2, true) || !in_page(v[0], width))
			return reply("ERR usage: %s OFF HEX", w);
		do_store(width, v[0], v[1]);
		reply("OK %s", w);
	} else if (!strcmp(w, "sse")) {
		if (!numbers(&save, v, 1, false) || !in_page(v[0], 16))
			return reply("ERR usage: sse OFF");
		fill_pattern(src, WPT_PAT_SSE, 16);
		__asm__ volatile("movdqu (%0), %%xmm0\n\t"
				 "movdqu %%xmm0, (%1)"
				 :
				 : "r"(src), "r"(page + v[0])
				 : "xmm0", "memory");
		reply("OK sse");
	} else if (!strcmp(w, "avx")) {
		if (!numbers(&save, v, 1, false) || !in_page(v[0], 32))
			return reply("ERR usage: avx OFF");
		if (!avx)
			return reply("SKIP noavx");
		fill_pattern(src, WPT_PAT_AVX, 32);
		__asm__ volatile("vmovdqu (%0), %%ymm0\n\t"
				 "vmovdqu %%ymm0, (%1)\n\t"
				 "vzeroupper"
				 :
				 : "r"(src), "r"(page + v[0])
				 : "xmm0", "memory");
		reply("OK avx");
	} else if (!strcmp(w, "movs")) {
		if (!numbers(&save, v, 2, false) || !in_page(v[0], v[1]))
			return reply("ERR usage: movs OFF LEN");
		fill_pattern(src, WPT_PAT_MOVS, v[1]);
		void *d = page + v[0];
		const void *s = src;
		uint64_t n = v[1];

		__asm__ volatile("rep movsb"
				 : "+D"(d), "+S"(s), "+c"(n)
				 :
				 : "memory");
		reply("OK movs");
	} else if (!strcmp(w, "xadd")) {
		if (!numbers(&save, v, 2, true) || !in_page(v[0], 8))
			return reply("ERR usage: xadd OFF HEX");
		uint64_t x = v[1];

		__asm__ volatile("lock xaddq %0, %1"
				 : "+r"(x), "+m"(*(uint64_t *)(page + v[0]))
				 :
				 : "memory", "cc");
		reply("OK old=0x%llx", (unsigned long long)x);
	} else if (!strcmp(w, "cmpxchg")) {
		if (!numbers(&save, v, 3, true) || !in_page(v[0], 8))
			return reply("ERR usage: cmpxchg OFF OLD NEW");
		uint64_t a = v[1];
		uint8_t zf;

		__asm__ volatile("lock cmpxchgq %3, %1\n\tsetz %2"
				 : "+a"(a), "+m"(*(uint64_t *)(page + v[0])),
				   "=q"(zf)
				 : "r"(v[2])
				 : "memory", "cc");
		reply("OK zf=%u old=0x%llx", zf, (unsigned long long)a);
	} else if (!strcmp(w, "read")) {
		int fds[2];
		ssize_t n;

		if (!numbers(&save, v, 2, false) || !in_page(v[0], v[1]))
			return reply("ERR usage: read OFF LEN");
		fill_pattern(src, WPT_PAT_READ, v[1]);
		if (pipe(fds))
			return reply("ERR pipe: %s", strerror(errno));
		n = write(fds[1], src, v[1]);
		if (n == (ssize_t)v[1])
			n = v[1] ? read(fds[0], page + v[0], v[1]) : 0;
		else
			n = -1;
		close(fds[0]);
		close(fds[1]);
		if (n < 0)
			return reply("ERR read: %s", strerror(errno));
		reply("OK n=%zd", n);
	} else if (!strcmp(w, "memcpy")) {
		if (!numbers(&save, v, 2, false) || !in_page(v[0], v[1]))
			return reply("ERR usage: memcpy OFF LEN");
		fill_pattern(src, WPT_PAT_MEMCPY, v[1]);
		/* Through a volatile pointer: glibc's, not an inlined copy. */
		void *(*volatile cp)(void *, const void *, size_t) = memcpy;

		cp(page + v[0], src, v[1]);
		reply("OK memcpy");
	} else if (!strcmp(w, "dump")) {
		if (!numbers(&save, v, 2, false) || !in_page(v[0], v[1]) ||
		    v[1] > WPT_DUMP_MAX)
			return reply("ERR usage: dump OFF LEN (LEN <= %u)",
				     WPT_DUMP_MAX);
		for (uint64_t k = 0; k < v[1]; k++)
			sprintf(hex + 2 * k, "%02x", page[v[0] + k]);
		hex[2 * v[1]] = 0;
		reply("OK %s", hex);
	} else if (!strcmp(w, "cpu")) {
		cpu_set_t set;

		if (!numbers(&save, v, 1, false) || v[0] >= CPU_SETSIZE)
			return reply("ERR usage: cpu N");
		CPU_ZERO(&set);
		CPU_SET(v[0], &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			return reply("ERR cpu %llu: %s",
				     (unsigned long long)v[0], strerror(errno));
		sched_yield();
		reply("OK cpu=%d", sched_getcpu());
	} else if (!strcmp(w, "where")) {
		reply("OK cpu=%d", sched_getcpu());
	} else if (!strcmp(w, "hammer")) {
		if (!numbers(&save, v, 1, false) || !v[0] || v[0] > 600)
			return reply("ERR usage: hammer SECS");
		hammer((double)v[0]);
	} else if (!strcmp(w, "ksym")) {
		char *name = strtok_r(NULL, " \t", &save), l[256];
		unsigned long long a = 0;
		FILE *f;

		if (!name || strtok_r(NULL, " \t", &save))
			return reply("ERR usage: ksym NAME");
		f = fopen("/proc/kallsyms", "r");
		if (!f)
			return reply("ERR kallsyms: %s", strerror(errno));
		while (fgets(l, sizeof(l), f)) {
			char t, s[200];

			if (sscanf(l, "%llx %c %199s", &a, &t, s) == 3 &&
			    !strcmp(s, name))
				break;
			a = 0;
		}
		fclose(f);
		if (!a)
			return reply("ERR ksym %s: not found (or hidden)",
				     name);
		reply("OK addr=0x%llx", a);
	} else if (!strcmp(w, "ksymat")) {
		/* the symbol holding a kernel address and the next one */
		char *arg = strtok_r(NULL, " \t", &save), l[256],
		     best[200] = "";
		unsigned long long want, a, ba = 0, next = ~0ULL;
		FILE *f;

		if (!arg || strtok_r(NULL, " \t", &save))
			return reply("ERR usage: ksymat ADDR");
		want = strtoull(arg, NULL, 0);
		f = fopen("/proc/kallsyms", "r");
		if (!f)
			return reply("ERR kallsyms: %s", strerror(errno));
		while (fgets(l, sizeof(l), f)) {
			char t, sname[200];

			if (sscanf(l, "%llx %c %199s", &a, &t, sname) != 3 ||
			    t == 'a' || t == 'A' || strchr(l, '['))
				continue;
			if (a <= want && a >= ba) {
				ba = a;
				snprintf(best, sizeof(best), "%s", sname);
			} else if (a > want && a < next) {
				next = a;
				/* the kernel's own symbols come sorted: the
				 * rest (modules) is not near it */
				if (ba)
					break;
			}
		}
		fclose(f);
		if (!best[0] || next == ~0ULL)
			return reply("ERR ksymat 0x%llx: not found", want);
		reply("OK name=%s addr=0x%llx next=0x%llx", best, ba, next);
	} else if (!strcmp(w, "putfile")) {
		/* putfile PATH TEXT: write TEXT (no blanks) into PATH */
		char *path = strtok_r(NULL, " \t", &save);
		char *text = strtok_r(NULL, " \t", &save);
		ssize_t n;
		int fd;

		if (!path || !text || strtok_r(NULL, " \t", &save))
			return reply("ERR usage: putfile PATH TEXT");
		fd = open(path, O_WRONLY);
		if (fd < 0)
			return reply("ERR %s: %s", path, strerror(errno));
		n = write(fd, text, strlen(text));
		close(fd);
		if (n < 0)
			return reply("ERR write %s: %s", path, strerror(errno));
		reply("OK n=%zd", n);
	} else if (!strcmp(w, "getfile")) {
		/* getfile PATH: its first line */
		char *path = strtok_r(NULL, " \t", &save), l[256] = "";
		FILE *f;

		if (!path || strtok_r(NULL, " \t", &save))
			return reply("ERR usage: getfile PATH");
		f = fopen(path, "r");
		if (!f)
			return reply("ERR %s: %s", path, strerror(errno));
		if (!fgets(l, sizeof(l), f))
			l[0] = 0;
		fclose(f);
		l[strcspn(l, "\n")] = 0;
		reply("OK text=%s", l);
	} else if (!strcmp(w, "page")) {
		reply("OK page=0x%llx", (unsigned long long)page_gpa);
	} else {
		reply("ERR unknown command '%s'", w);
	}
	return 0;
}

int main(void)
{
	struct termios t;
	char line[512];
	bool avx = have_avx();

	/* No echo of the commands on the console, no CR in the replies. */
	if (!tcgetattr(0, &t)) {
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		t.c_oflag &= ~(tcflag_t)ONLCR;
		tcsetattr(0, TCSANOW, &t);
	}
	page = aligned_alloc(WPT_PAGE_SIZE, WPT_PAGE_SIZE);
	if (!page || mlock(page, WPT_PAGE_SIZE)) {
		printf("SPP-WPTEST ERR no page: %s\n", strerror(errno));
		return 1;
	}
	memset(page, 0, WPT_PAGE_SIZE);
	page_gpa = gpa_of(page);
	if (!page_gpa) {
		printf("SPP-WPTEST ERR no pagemap entry\n");
		return 1;
	}
	printf("SPP-WPTEST page=0x%llx cpus=%ld avx=%d\n",
	       (unsigned long long)page_gpa, sysconf(_SC_NPROCESSORS_ONLN),
	       avx);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!strcmp(line, "quit")) {
			reply("OK bye");
			return 0;
		}
		command(line, avx);
	}
	return 0;
}
