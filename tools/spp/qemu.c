// SPDX-License-Identifier: MIT
/*
 * qemu.c - "spp qemu [OPTIONS] -- QEMU [ARGS...]": QEMU with spp's
 * preload library (src/qemu, docs/qemu.md).
 *
 * spp starts QEMU with LD_PRELOAD=libspp-qemu.so, SPP_QEMU_CONTROL (the
 * control socket) and SPP_QEMU_HOLD=1: QEMU sets its machine up as
 * always, its vCPUs wait at their first KVM_RUN, and the shim opens the
 * socket then. spp connects as a client like any other (docs/control.md),
 * sets the policy and the rules' maps, subscribes to events and sends
 * "start"; then it writes the events to --events and waits for QEMU. The
 * socket stays open for other clients (spp ctl, an engine). QEMU's
 * stdin, stdout, stderr, monitor and exit status are its own; SIGINT
 * reaches it from the terminal, SIGTERM and SIGHUP sent to spp are passed
 * on.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <spp/ctl.h>
#include <spp/ksym.h>
#include <spp/vector.h>

#include "spp_cli.h"

#ifndef SPP_BUILD_DIR
#define SPP_BUILD_DIR ""
#endif
#ifndef SPP_LIBDIR
#define SPP_LIBDIR "/usr/local/lib"
#endif

#define SHIM_NAME "libspp-qemu.so"

static volatile sig_atomic_t pass_on; /* a signal for QEMU */

static void on_signal(int sig)
{
	pass_on = sig;
}

/* The preload library: $SPP_QEMU_SHIM, the build tree's (for the spp of
 * a build tree), or the installed one. */
static int find_shim(char *buf, size_t n)
{
	const char *env = getenv("SPP_QEMU_SHIM");
	char exe[PATH_MAX];
	ssize_t len;

	if (env && *env) {
		snprintf(buf, n, "%s", env);
		return access(buf, R_OK) ?
			       (spp_cli_err("SPP_QEMU_SHIM '%s': %s", env,
					    strerror(errno)),
				-1) :
			       0;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0 && *SPP_BUILD_DIR) {
		exe[len] = 0;
		if (!strncmp(exe, SPP_BUILD_DIR "/",
			     strlen(SPP_BUILD_DIR "/"))) {
			snprintf(buf, n, "%s/src/qemu/" SHIM_NAME,
				 SPP_BUILD_DIR);
			if (!access(buf, R_OK))
				return 0;
		}
	}
	snprintf(buf, n, "%s/" SHIM_NAME, SPP_LIBDIR);
	if (!access(buf, R_OK))
		return 0;
	spp_cli_err("cannot find %s (installed with libspp; or set "
		    "SPP_QEMU_SHIM)",
		    SHIM_NAME);
	return -1;
}

/* QEMU with the shim in its environment; never returns. */
static void exec_qemu(struct spp_run_opts *o, const char *shim,
		      const char *control)
{
	const char *old = getenv("LD_PRELOAD");
	char *pre;

	if (asprintf(&pre, "%s%s%s", shim, old && *old ? ":" : "",
		     old ? old : "") < 0)
		_exit(127);
	setenv("LD_PRELOAD", pre, 1);
	setenv("SPP_QEMU_CONTROL", control, 1);
	setenv("SPP_QEMU_HOLD", "1", 1);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	execvp(o->qemu_argv[0], o->qemu_argv);
	spp_cli_err("cannot run '%s': %s", o->qemu_argv[0], strerror(errno));
	_exit(127);
}

/* QEMU's exit status as a shell reports it. */
static int qemu_status(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct session {
	struct spp_run_opts *o;
	pid_t pid;
	int status; /* QEMU's wait status once reaped */
	bool reaped;
	FILE *events; /* NULL: none */
	json_t *stats; /* the last counters (SHUTDOWN, query-stats) */
	uint64_t nevents;
};

/* Reap QEMU if it ended; true then. */
static bool qemu_ended(struct session *s, bool block)
{
	pid_t r;

	if (s->reaped)
		return true;
	do
		r = waitpid(s->pid, &s->status, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == s->pid)
		s->reaped = true;
	return s->reaped;
}

/* End QEMU (a failed set-up): SIGTERM, after 5 s SIGKILL. */
static void qemu_kill(struct session *s)
{
	int i;

	if (s->reaped)
		return;
	kill(s->pid, SIGTERM);
	for (i = 0; i < 50 && !qemu_ended(s, false); i++)
		usleep(100000);
	if (!s->reaped) {
		kill(s->pid, SIGKILL);
		qemu_ended(s, true);
	}
}

/* A rule's state as the socket gives it (docs/control.md), one line on
 * stderr: "spp qemu: WHAT: applied to page 0x.. (map 0x..), ...". */
static void say_rule(const char *what, json_t *r)
{
	json_t *pages = json_object_get(r, "pages"), *p;
	size_t i;

	if (strcmp(json_string_value(json_object_get(r, "state")) ?: "",
		   "applied")) {
		fprintf(stderr, "spp qemu: %s: pending (%s)\n", what,
			json_string_value(json_object_get(r, "why")) ?: "?");
		return;
	}
	fprintf(stderr, "spp qemu: %s: applied: %s +%" JSON_INTEGER_FORMAT,
		what, json_string_value(json_object_get(r, "gva")) ?: "?",
		json_integer_value(json_object_get(r, "len")));
	json_array_foreach(pages, i, p) fprintf(
		stderr, "%s page %s map 0x%08" PRIx64, i ? "," : ";",
		json_string_value(json_object_get(p, "gpa")) ?: "?",
		(uint64_t)json_integer_value(json_object_get(p, "map")));
	fputc('\n', stderr);
}

/* The name a rule has in messages: its option as given. */
static const char *rule_what(const struct session *s, json_int_t id)
{
	if (id >= 1 && (size_t)id <= s->o->nkaddrs)
		return s->o->kaddrs[id - 1].origin;
	return "a rule";
}

/* One event line from the socket: its data to --events, counters kept. */
static void on_event(void *ctx, const char *line, json_t *v)
{
	struct session *s = ctx;
	const char *name = json_string_value(json_object_get(v, "event"));
	const char *data;
	size_t n;

	if (!name)
		return;
	if (!strcmp(name, "SHUTDOWN")) {
		json_t *st =
			json_object_get(json_object_get(v, "data"), "stats");

		if (st) {
			json_decref(s->stats);
			s->stats = json_incref(st);
		}
		return;
	}
	if (!strcmp(name, "SPP_RULE_APPLIED") ||
	    !strcmp(name, "SPP_RULE_PENDING")) { /* taken, or reset */
		json_t *d = json_object_get(v, "data");

		if (!s->o->quiet)
			say_rule(rule_what(s,
					   json_integer_value(
						   json_object_get(d, "id"))),
				 d);
		return;
	}
	if (!strcmp(name, "SPP_EVENTS_LOST")) {
		spp_cli_err("%" JSON_INTEGER_FORMAT " events lost (not written "
			    "in time)",
			    json_integer_value(json_object_get(
				    json_object_get(v, "data"), "count")));
		return;
	}
	if (strcmp(name, "SPP_VIOLATION") && strcmp(name, "SPP_ALLOWED"))
		return;
	s->nevents++;
	if (s->events && spp_cli_event_data(line, &data, &n)) {
		fprintf(s->events, "%.*s\n", (int)n, data);
		fflush(s->events);
	}
}

/* Wait for QEMU's socket: it appears once QEMU runs its first vCPU. */
static int wait_socket(struct session *s, struct spp_cli_conn *c,
		       const char *path)
{
	double t0 = spp_cli_now();
	bool told = false;
	int err;

	for (;;) {
		err = spp_cli_conn_connect(c, path);
		if (!err)
			return 0;
		if (err != -ENOENT && err != -ECONNREFUSED) {
			spp_cli_err("%s: %s", path, strerror(-err));
			return -1;
		}
		if (qemu_ended(s, false)) {
			spp_cli_err("QEMU ended before it ran the guest "
				    "(status %d)",
				    qemu_status(s->status));
			return -1;
		}
		if (pass_on) {
			kill(s->pid, pass_on);
			pass_on = 0;
		}
		if (!told && spp_cli_now() - t0 > 20) {
			spp_cli_err("waiting for QEMU to start the guest (with "
				    "-S: 'cont' in its monitor)");
			told = true;
		}
		usleep(20000);
	}
}

/* The rules' pages, in set-access batches of consecutive pages. */
static int apply_pages(struct session *s, struct spp_cli_conn *c)
{
	const struct spp_run_opts *o = s->o;
	char what[64];
	size_t i = 0, k;

	while (i < o->npages) {
		json_t *maps = json_array(), *r;
		uint64_t gfn = o->pages[i].gpa >> SPP_PAGE_SHIFT;

		for (k = 0; i + k < o->npages && k < SPP_CTL_MAX_PAGES &&
			    o->pages[i + k].gpa >> SPP_PAGE_SHIFT == gfn + k;
		     k++)
			json_array_append_new(
				maps, json_integer(o->pages[i + k].map));
		snprintf(what, sizeof(what),
			 "page 0x%" PRIx64 "%s: ", o->pages[i].gpa,
			 k > 1 ? " and on" : "");
		c->what = what;
		r = spp_cli_conn_requestf(c, "set-access",
					  json_pack("{s:I,s:o}", "gfn",
						    (json_int_t)gfn, "maps",
						    maps));
		c->what = NULL;
		if (!r)
			return -1;
		json_decref(r);
		i += k;
	}
	/* --protect-bytes: after the maps */
	for (i = 0; i < o->nrules; i++) {
		const struct spp_rule *b = &o->rules[i];
		json_t *r;

		if (!b->bytes)
			continue;
		snprintf(what, sizeof(what), "%s: ", b->origin);
		c->what = what;
		r = spp_cli_conn_requestf(c, "protect-bytes",
					  json_pack("{s:I,s:I}", "gpa",
						    (json_int_t)b->gpa, "len",
						    (json_int_t)b->len));
		c->what = NULL;
		if (!r)
			return -1;
		json_decref(r);
	}
	return 0;
}

/* The kernel's symbols: --system-map FILE (a map or the kernel image),
 * else the image QEMU boots (-kernel FILE) when a --protect-symbol needs
 * them; NULL: none. *@from_kernel says it is the latter. */
static const char *symbols_file(const struct spp_run_opts *o, bool *from_kernel)
{
	size_t i;
	bool need = false;

	*from_kernel = false;
	if (o->system_map)
		return o->system_map;
	for (i = 0; i < o->nkaddrs; i++)
		need |= o->kaddrs[i].symbol != NULL;
	if (!need || !o->qemu_argv)
		return NULL;
	for (i = 0; o->qemu_argv[i]; i++) {
		const char *a = o->qemu_argv[i];

		if (a[0] == '-' && a[1] == '-')
			a++;
		if (!strcmp(a, "-kernel") && o->qemu_argv[i + 1]) {
			*from_kernel = true;
			return o->qemu_argv[i + 1];
		}
		if (!strncmp(a, "-kernel=", 8)) {
			*from_kernel = true;
			return a + 8;
		}
	}
	return NULL;
}

/* --system-map (or -kernel), --protect-symbol, --protect-gva: the table,
 * then the rules in order (the socket numbers them 1, 2, ... as spp sends
 * them first); they wait for the guest kernel, which has not run yet. */
static int apply_kaddrs(struct session *s, struct spp_cli_conn *c)
{
	const struct spp_run_opts *o = s->o;
	char path[PATH_MAX];
	bool from_kernel;
	const char *file = symbols_file(o, &from_kernel);
	const char *opt = from_kernel ? "-kernel" : "--system-map";
	size_t i;
	json_t *r;

	if (file) {
		char what[64];

		if (!realpath(file, path)) {
			spp_cli_err("%s '%s': %s", opt, file, strerror(errno));
			return -1;
		}
		snprintf(what, sizeof(what), "%s: ", opt);
		c->what = what;
		r = spp_cli_conn_requestf(c, "set-symbols",
					  json_pack("{s:s}", "path", path));
		c->what = NULL;
		if (!r)
			return -1;
		if (from_kernel && !o->quiet)
			fprintf(stderr,
				"spp qemu: kernel symbols from -kernel %s "
				"(its kallsyms: %" JSON_INTEGER_FORMAT
				" symbols)\n",
				file,
				json_integer_value(
					json_object_get(r, "symbols")));
		json_decref(r);
	}
	for (i = 0; i < o->nkaddrs; i++) {
		const struct spp_kaddr *k = &o->kaddrs[i];
		char what[256], gva[24];

		snprintf(what, sizeof(what), "%s: ", k->origin);
		snprintf(gva, sizeof(gva), "0x%" PRIx64, k->gva);
		c->what = what;
		r = k->symbol ?
			    spp_cli_conn_requestf(c, "protect-symbol",
						  json_pack("{s:s}", "symbol",
							    k->symbol)) :
			    spp_cli_conn_requestf(
				    c, "protect-gva",
				    json_pack("{s:s,s:I}", "gva", gva, "len",
					      (json_int_t)k->len));
		c->what = NULL;
		if (!r)
			return -1;
		if (!o->quiet)
			say_rule(k->origin, r);
		json_decref(r);
	}
	return 0;
}

/* The --protect-symbol names in the --system-map table (or the -kernel
 * image's), before QEMU starts: a typo is a usage error, not a rule that
 * waits forever. */
static int check_symbols(const struct spp_run_opts *o)
{
	struct spp_ksym_error ke = { 0, NULL };
	struct spp_ksym_table *t = NULL;
	bool from_kernel;
	const char *file = symbols_file(o, &from_kernel);
	const char *opt = from_kernel ? "-kernel" : "--system-map";
	size_t i;
	int ret = 0;

	for (i = 0; i < o->nkaddrs && !file; i++)
		if (o->kaddrs[i].symbol) {
			spp_cli_err("%s: needs --system-map FILE (or QEMU's "
				    "-kernel FILE)",
				    o->kaddrs[i].origin);
			return -1;
		}
	if (!file)
		return 0;
	ret = spp_ksym_load_any(file, &t, &ke);
	if (ret) {
		if (ke.line)
			spp_cli_err("%s '%s': line %u: %s", opt, file, ke.line,
				    ke.what);
		else
			spp_cli_err("%s '%s': %s", opt, file,
				    ke.what ? ke.what : strerror(-ret));
		return -1;
	}
	for (i = 0; i < o->nkaddrs && !ret; i++) {
		uint64_t a, n;

		if (!o->kaddrs[i].symbol)
			continue;
		ret = spp_ksym_parse_range(t, o->kaddrs[i].symbol, &a, &n);
		if (ret)
			spp_cli_err(
				"%s: %s", o->kaddrs[i].origin,
				ret == -ENOENT ?
					"no such symbol in the map" :
				ret == -ENOTUNIQ ?
					"the name is not unique in the map" :
				ret == -ENODATA ?
					"its size is unknown: give /LEN" :
				ret == -ERANGE ?
					"the offset is past the symbol's end" :
					"expected NAME[+OFF][/LEN]");
		else if (((a + n - 1) >> SPP_PAGE_SHIFT) -
				 (a >> SPP_PAGE_SHIFT) >=
			 SPP_CTL_RULE_MAX_PAGES) {
			spp_cli_err("%s: %" PRIu64 " bytes span more than %u "
				    "pages",
				    o->kaddrs[i].origin, n,
				    SPP_CTL_RULE_MAX_PAGES);
			ret = -1;
		}
	}
	spp_ksym_destroy(t);
	return ret ? -1 : 0;
}

/* Policy, maps, events, start: the guest's first instruction comes after. */
static int configure(struct session *s, struct spp_cli_conn *c)
{
	json_t *r;

	r = spp_cli_conn_requestf(c, "set-policy",
				  json_pack("{s:s}", "policy",
					    spp_cli_policy_name(s->o->policy)));
	if (!r)
		return -1;
	json_decref(r);
	if (apply_pages(s, c))
		return -1;
	/* events first: SPP_RULE_APPLIED may come as soon as it starts */
	r = spp_cli_conn_requestf(c, "events",
				  s->o->events_all ?
					  json_pack("{s:b,s:b}", "enable", 1,
						    "allowed", 1) :
					  json_pack("{s:b}", "enable", 1));
	if (!r)
		return -1;
	json_decref(r);
	if (apply_kaddrs(s, c))
		return -1;
	r = spp_cli_conn_requestf(c, "start", NULL);
	if (!r)
		return -1;
	json_decref(r);
	return 0;
}

static uint64_t stat_u64(json_t *st, const char *k)
{
	return (uint64_t)json_integer_value(json_object_get(st, k));
}

static void summary(struct session *s)
{
	json_t *st = s->stats;

	if (s->o->stats) {
		json_t *out = json_pack("{s:i,s:O*,s:I}", "qemu_status",
					qemu_status(s->status), "stats", st,
					"events", (json_int_t)s->nevents);
		char *line = out ? json_dumps(out, JSON_COMPACT) : NULL;

		if (line)
			fprintf(stderr, "%s\n", line);
		free(line);
		json_decref(out);
		return;
	}
	if (s->o->quiet)
		return;
	if (!st) {
		fprintf(stderr,
			"spp qemu: QEMU ended (status %d) without final "
			"counters\n",
			qemu_status(s->status));
		return;
	}
	fprintf(stderr,
		"spp qemu: QEMU ended (status %d); %" PRIu64
		" stores to trapped pages: %" PRIu64 " allowed, %" PRIu64
		" denied; %" PRIu64 " trapped pages at the end\n",
		qemu_status(s->status), stat_u64(st, "stores"),
		stat_u64(st, "allowed"), stat_u64(st, "denied"),
		stat_u64(st, "trapped_pages"));
}

int spp_cli_qemu(int argc, char **argv)
{
	char shim[PATH_MAX], control[PATH_MAX], why[256];
	struct spp_cli_conn c = { .fd = -1 };
	struct session s = { 0 };
	struct spp_run_opts o;
	struct sigaction sa = { .sa_handler = on_signal };
	bool private = false;
	int ret;

	ret = spp_cli_qemu_opts(argc, argv, &o);
	if (ret)
		return ret;
	s.o = &o;
	if (check_symbols(&o)) {
		ret = SPP_CLI_USAGE;
		goto out;
	}
	if (find_shim(shim, sizeof(shim))) {
		ret = SPP_CLI_ERROR;
		goto out;
	}
	if (!spp_cli_kvm_usable(why, sizeof(why))) {
		char why_vm[200];

		/* The build tree's spp: QEMU runs inside the KVM test VM,
		 * which sees this machine's files (read-only but for the
		 * source tree). */
		ret = spp_cli_rerun_in_vm((const char *const *)argv,
					  SPP_CLI_VM_NESTED,
					  "spp qemu: no /dev/kvm here: running "
					  "QEMU inside the KVM test VM "
					  "(scripts/kvm-vm, ~15 s to boot)",
					  why_vm, sizeof(why_vm));
		if (ret >= 0)
			goto out;
		spp_cli_err("%s, and no KVM test VM (%s): spp qemu needs KVM",
			    why, why_vm);
		ret = SPP_CLI_ERROR;
		goto out;
	}
	if (o.control) {
		snprintf(control, sizeof(control), "%s", o.control);
	} else {
		ret = spp_ctl_private_path(control, sizeof(control));
		if (ret) {
			spp_cli_err("cannot make a private directory for the "
				    "control socket: %s",
				    strerror(-ret));
			ret = SPP_CLI_ERROR;
			goto out;
		}
		private = true;
		fprintf(stderr, "spp qemu: control socket %s\n", control);
	}
	if (o.events) {
		s.events = strcmp(o.events, "-") ? fopen(o.events, "we") :
						   stdout;
		if (!s.events) {
			spp_cli_err("--events '%s': %s", o.events,
				    strerror(errno));
			ret = SPP_CLI_USAGE;
			goto out;
		}
	}
	fflush(stdout);
	fflush(stderr);
	s.pid = fork();
	if (s.pid < 0) {
		spp_cli_err("fork: %s", strerror(errno));
		ret = SPP_CLI_ERROR;
		goto out;
	}
	if (!s.pid)
		exec_qemu(&o, shim, control);
	/* SIGINT comes to QEMU from the terminal itself */
	signal(SIGINT, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	c.on_event = on_event;
	c.ctx = &s;
	if (wait_socket(&s, &c, control) || spp_cli_conn_open(&c, control) ||
	    configure(&s, &c)) {
		/* the guest has not run: nothing of it is lost */
		qemu_kill(&s);
		ret = SPP_CLI_USAGE;
		goto out;
	}
	/* Events until QEMU closes the socket (it exits). */
	while (!c.eof) {
		char *line = spp_cli_conn_line(&c, 200);
		json_t *v;

		if (pass_on) {
			kill(s.pid, pass_on);
			pass_on = 0;
		}
		if (!line) {
			if (!c.eof && qemu_ended(&s, false))
				break;
			continue;
		}
		v = json_loads(line, 0, NULL);
		if (v && json_object_get(v, "event"))
			on_event(&s, line, v);
		json_decref(v);
		free(line);
	}
	qemu_ended(&s, true);
	summary(&s);
	ret = qemu_status(s.status);
out:
	spp_cli_conn_close(&c);
	if (s.events && s.events != stdout)
		fclose(s.events);
	json_decref(s.stats);
	if (private)
		spp_ctl_private_remove(control);
	spp_cli_run_opts_free(&o);
	return ret;
}
