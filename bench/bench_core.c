// SPDX-License-Identifier: MIT
/*
 * bench_core.c - speed of the core model: SET, GET and the write check.
 *
 * Usage: bench_core [TRIALS]   (default 7)
 * Prints the machine, then a Markdown table: median, min and max over
 * the trials of each figure. Run through bench/run-core, which builds a
 * release build first.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <spp/spp.h>

#define NPAGES (1u << 20) /* 1 M pages = 4 GiB of protected memory */
#define CHUNK SPP_SUBPAGE_MAX_PAGES
#define NCHECKS (1u << 22)
#define MAX_TRIALS 64

static volatile uint64_t sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_core: %s: %s\n", what, strerror(-err));
	exit(1);
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct fixture {
	struct spp_access *acc;
	struct spp_sppt *sppt;
	struct spp_subpage *req;
};

static void fixture_init(struct fixture *f, int with_sppt, int reserve)
{
	int ret = spp_access_create(&f->acc);

	if (!ret) /* 1 TiB guest */
		ret = spp_access_add_ram(f->acc, 0, 1ULL << 40);
	if (!ret && reserve)
		ret = spp_access_reserve(f->acc, NPAGES);
	if (ret)
		die("store", ret);
	f->sppt = NULL;
	if (with_sppt) {
		ret = spp_sppt_create(&f->sppt, SPP_SPPT_DEFAULT_BASE,
				      SPP_SPPT_DEFAULT_MAXPHYADDR);
		if (!ret)
			ret = spp_access_attach_sppt(f->acc, f->sppt);
		if (ret)
			die("sppt", ret);
	}
	f->req = malloc(sizeof(*f->req) + CHUNK * sizeof(uint32_t));
	if (!f->req)
		die("malloc", -ENOMEM);
}

static void fixture_fini(struct fixture *f)
{
	spp_access_attach_sppt(f->acc, NULL);
	spp_sppt_destroy(f->sppt);
	spp_access_destroy(f->acc);
	free(f->req);
}

/* SET 1 M pages in 512-page calls, @stride pages apart; pages/s. */
static double bench_set(struct fixture *f, uint64_t stride)
{
	uint32_t i, k;
	double t0 = now();

	for (i = 0; i < NPAGES; i += CHUNK) {
		int ret;

		f->req->gfn_base = (uint64_t)i * stride;
		f->req->npages = stride == 1 ? CHUNK : 1;
		f->req->flags = 0;
		for (k = 0; k < f->req->npages; k++)
			f->req->access_map[k] = 0x55555555u ^ (i + k);
		if (stride != 1) {
			/* one page per call would measure the call: use bulk */
			for (k = 0; k < CHUNK; k++) {
				uint32_t map = 0x55555555u ^ (i + k);

				ret = spp_access_set_bulk(
					f->acc, (uint64_t)(i + k) * stride, 1,
					&map);
				if (ret)
					die("set", ret);
			}
			continue;
		}
		ret = spp_access_set(f->acc, f->req);
		if (ret != CHUNK)
			die("set", ret < 0 ? ret : -EIO);
	}
	return NPAGES / (now() - t0);
}

static double bench_get(struct fixture *f)
{
	uint32_t i;
	uint64_t acc = 0;
	double t0 = now();

	for (i = 0; i < NPAGES; i += CHUNK) {
		f->req->gfn_base = i;
		f->req->npages = CHUNK;
		f->req->flags = 0;
		if (spp_access_get(f->acc, f->req) != CHUNK)
			die("get", -EIO);
		acc += f->req->access_map[i % CHUNK];
	}
	sink = acc;
	return NPAGES / (now() - t0);
}

/* ns per spp_access_check_write() of 1..8 bytes at random places of
 * the first @span pages (protected or not). */
static double bench_check(struct fixture *f, uint64_t span)
{
	static uint64_t gpa[4096];
	static uint32_t len[4096];
	struct spp_write_verdict v;
	uint64_t acc = 0;
	uint32_t i;
	double t0;

	for (i = 0; i < 4096; i++) {
		gpa[i] = (rnd() % span) << 12 | (rnd() & 0xFFF);
		len[i] = 1u << (rnd() % 4);
	}
	t0 = now();
	for (i = 0; i < NCHECKS; i++) {
		spp_access_check_write(f->acc, gpa[i & 4095], len[i & 4095],
				       &v);
		acc += v.allowed;
	}
	sink = acc;
	return (now() - t0) * 1e9 / NCHECKS;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One table row; values are divided by @scale before printing. */
static void row(const char *what, const char *unit, double scale, double *v,
		int n, const char *target)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("| %s | %.2f %s | %.2f | %.2f | %s |\n", what, v[n / 2] / scale,
	       unit, v[0] / scale, v[n - 1] / scale, target);
}

/* ms per MiB to write 32 MiB of fresh (@again: already touched) memory:
 * what growing the store's table costs beyond the store's own work. */
static double first_touch(int again)
{
	size_t sz = 32u << 20;
	char *p = mmap(NULL, sz, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double t0;

	if (p == MAP_FAILED)
		return -1;
	if (again)
		memset(p, 1, sz);
	t0 = now();
	memset(p, 2, sz);
	t0 = (now() - t0) * 1e3 / 32;
	munmap(p, sz);
	return t0;
}

static void machine(void)
{
	char line[256], model[256] = "unknown";
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10)) {
			char *p = strchr(line, ':');

			if (p) {
				snprintf(model, sizeof(model), "%s", p + 2);
				model[strcspn(model, "\n")] = 0;
			}
			break;
		}
	}
	if (f)
		fclose(f);
	printf("machine: %s, %ld CPUs online; libspp %s\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), spp_version());
	printf("first touch of fresh anonymous memory: %.2f ms/MiB "
	       "(re-touch %.3f ms/MiB)\n\n",
	       first_touch(0), first_touch(1));
}

int main(int argc, char **argv)
{
	double set_c[MAX_TRIALS], set_cs[MAX_TRIALS], set_s[MAX_TRIALS],
		set_r[MAX_TRIALS], set_u[MAX_TRIALS], get_c[MAX_TRIALS],
		chk_p[MAX_TRIALS], chk_u[MAX_TRIALS], mem_c[MAX_TRIALS],
		mem_s[MAX_TRIALS];
	int trials = argc > 1 ? atoi(argv[1]) : 7, t;

	if (trials < 1 || trials > MAX_TRIALS) {
		fprintf(stderr, "usage: bench_core [TRIALS 1..%d]\n",
			MAX_TRIALS);
		return 2;
	}
	machine();
	for (t = 0; t < trials; t++) {
		struct fixture f;

		fprintf(stderr, "bench_core: trial %d/%d\n", t + 1, trials);
		fixture_init(&f, 0, 0);
		set_c[t] = bench_set(&f, 1);
		set_u[t] = bench_set(&f, 1); /* same pages again: updates */
		mem_c[t] = (double)spp_access_memory(f.acc) / (1 << 20);
		get_c[t] = bench_get(&f);
		chk_p[t] = bench_check(&f, NPAGES);
		chk_u[t] = bench_check(&f, 1ULL << 28); /* mostly unprotected */
		fixture_fini(&f);

		fixture_init(&f, 0, 1);
		set_r[t] = bench_set(&f, 1);
		fixture_fini(&f);

		fixture_init(&f, 1, 0);
		set_cs[t] = bench_set(&f, 1);
		fixture_fini(&f);

		fixture_init(&f, 0, 0);
		set_s[t] = bench_set(&f, 256); /* one page per MiB of 1 TiB */
		mem_s[t] = (double)spp_access_memory(f.acc) / (1 << 20);
		fixture_fini(&f);
	}
	printf("| figure (1 M pages, 1 TiB guest) | median | min | max | target |\n");
	printf("|---|---|---|---|---|\n");
	row("SET, contiguous, 512-page calls, fresh store", "M pages/s", 1e6,
	    set_c, trials, ">= 5 M pages/s");
	row("SET, contiguous, store reserved for 1 M pages", "M pages/s", 1e6,
	    set_r, trials, ">= 5 M pages/s");
	row("SET, contiguous, pages already protected", "M pages/s", 1e6, set_u,
	    trials, "");
	row("SET, contiguous, fresh store + SPPT", "M pages/s", 1e6, set_cs,
	    trials, "");
	row("SET, scattered (1 per MiB), bulk", "M pages/s", 1e6, set_s, trials,
	    "");
	row("GET, contiguous, 512-page calls", "M pages/s", 1e6, get_c, trials,
	    "");
	row("write check, protected pages", "ns", 1, chk_p, trials, "<= 50 ns");
	row("write check, mostly unprotected", "ns", 1, chk_u, trials,
	    "<= 50 ns");
	row("store memory, contiguous", "MiB", 1, mem_c, trials, "");
	row("store memory, scattered", "MiB", 1, mem_s, trials, "");
	return 0;
}
