// SPDX-License-Identifier: MIT
/*
 * qemu_test.c - the nested-guest harness of tests/qemu/ (qemu_test.h).
 */
#include "qemu_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QT_LINE_MAX 16384
#define QT_CMD_TIMEOUT_MS 30000
#define QT_QMP_TIMEOUT_MS 30000
#define QT_MAX_ARGS 128

struct qemu_test {
	struct qemu_test_opts o;
	char name[64];
	char dir[256];
	pid_t pid;
	bool exited;
	int status;
	int in_fd; /* QEMU's stdin: the guest's serial input */
	int out_fd; /* QEMU's stdout: the guest's serial output */
	int log_fd; /* console.log */
	int qmp_fd;
	double t0;
	int retries;
	/* Console bytes read but not yet returned as lines. */
	char buf[2 * QT_LINE_MAX];
	size_t len;
	bool eof;
	char line[QT_LINE_MAX];
	char marker[QT_LINE_MAX];
	char qbuf[QT_LINE_MAX];
	size_t qlen;
};

/* The last started QEMU, until stopped: what qemu_test_explain() shows. */
static struct qemu_test *current;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# qemu_test: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static bool readable(const char *path)
{
	return path && *path && access(path, R_OK) == 0;
}

const char *qemu_test_kernel(void)
{
	static char boot[300];
	const char *k = getenv("SPP_QEMU_KERNEL");
	struct utsname u;

	if (k && *k)
		return k;
	k = getenv("SPP_KVM_VM_VMLINUZ");
	if (readable(k))
		return k;
	if (uname(&u) == 0) {
		snprintf(boot, sizeof(boot), "/boot/vmlinuz-%s", u.release);
		if (readable(boot))
			return boot;
	}
	return NULL;
}

const char *qemu_test_initrd(void)
{
	const char *i = getenv("SPP_QEMU_INITRD");

	return readable(i) ? i : NULL;
}

static const char *qemu_bin(const struct qemu_test_opts *o)
{
	const char *b = o && o->qemu ? o->qemu : getenv("SPP_QEMU");

	return b && *b ? b : "qemu-system-x86_64";
}

/* Is @prog runnable: a path, or found on PATH? */
static bool on_path(const char *prog)
{
	char p[1024];
	const char *path = getenv("PATH");

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(p, sizeof(p), "%.*s/%s", (int)n, path, prog);
		if (access(p, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

bool qemu_test_unavailable(const char *prog, const struct qemu_test_opts *o)
{
	char why[512];
	const char *k = o && o->kernel ? o->kernel : qemu_test_kernel();
	const char *i = o && o->initrd ? o->initrd : qemu_test_initrd();
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		snprintf(why, sizeof(why), "no /dev/kvm: %s", strerror(errno));
	else if (!on_path(qemu_bin(o)))
		snprintf(why, sizeof(why), "no %s", qemu_bin(o));
	else if (!readable(k))
		snprintf(why, sizeof(why),
			 "no guest kernel (SPP_QEMU_KERNEL, SPP_KVM_VM_VMLINUZ "
			 "or /boot/vmlinuz-RELEASE): %s",
			 k ? k : "none");
	else if (!readable(i))
		snprintf(why, sizeof(why),
			 "no initramfs (SPP_QEMU_INITRD; built by meson when "
			 "busybox-static and cpio are installed): %s",
			 i ? i : "none");
	else {
		close(fd);
		return false;
	}
	if (fd >= 0)
		close(fd);
	printf("1..0 # SKIP %s\n", why);
	fflush(stdout);
	fprintf(stderr, "%s: SKIPPED, no nested guest here: %s\n", prog, why);
	return true;
}

const char *qemu_test_marker_line(const struct qemu_test *q)
{
	return q->marker;
}

int qemu_test_retries(const struct qemu_test *q)
{
	return q->retries;
}

pid_t qemu_test_pid(const struct qemu_test *q)
{
	return q->pid;
}

const char *qemu_test_dir(const struct qemu_test *q)
{
	return q->dir;
}

double qemu_test_elapsed_ms(const struct qemu_test *q)
{
	return now_ms() - q->t0;
}

/* Read what the console has, waiting until @deadline; 0 when something
 * came, -ETIMEDOUT, or -EPIPE at the end. */
static int fill(struct qemu_test *q, double deadline)
{
	struct pollfd p = { .fd = q->out_fd, .events = POLLIN };
	ssize_t n;
	int left = (int)(deadline - now_ms());

	if (q->eof)
		return -EPIPE;
	if (left < 0)
		left = 0;
	n = poll(&p, 1, left);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ETIMEDOUT;
	n = read(q->out_fd, q->buf + q->len, sizeof(q->buf) - q->len - 1);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0) {
		q->eof = true;
		return -EPIPE;
	}
	if (write(q->log_fd, q->buf + q->len, (size_t)n) != n)
		diag("console.log: %s", strerror(errno));
	q->len += (size_t)n;
	return 0;
}

/* The next console line into q->line (no CR/LF), waiting until
 * @deadline. At the end, a last partial line is still a line. */
static int next_line(struct qemu_test *q, double deadline)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		size_t n = nl ? (size_t)(nl - q->buf) : q->len;
		int r;

		if (nl || n >= QT_LINE_MAX - 1 || (q->eof && n)) {
			if (n >= QT_LINE_MAX - 1)
				n = QT_LINE_MAX - 1;
			memcpy(q->line, q->buf, n);
			q->line[n] = 0;
			/* Drop CRs and NULs the serial line adds. */
			size_t w = 0;

			for (size_t i = 0; i < n; i++)
				if (q->line[i] != '\r' && q->line[i])
					q->line[w++] = q->line[i];
			q->line[w] = 0;
			n += nl && n < QT_LINE_MAX - 1 ? 1 : 0;
			memmove(q->buf, q->buf + n, q->len - n);
			q->len -= n;
			return 0;
		}
		r = fill(q, deadline);
		if (r < 0)
			return r;
	}
}

int qemu_test_expect(struct qemu_test *q, const char *regex, int timeout_ms,
		     const char **line)
{
	double deadline = now_ms() + timeout_ms;
	regex_t re;
	int r;

	if (regcomp(&re, regex, REG_EXTENDED | REG_NOSUB)) {
		diag("bad regex '%s'", regex);
		return -EINVAL;
	}
	for (;;) {
		r = next_line(q, deadline);
		if (r < 0)
			break;
		if (regexec(&re, q->line, 0, NULL, 0) == 0) {
			if (line)
				*line = q->line;
			break;
		}
	}
	regfree(&re);
	return r;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int qemu_test_send(struct qemu_test *q, const char *text)
{
	int r = write_all(q->in_fd, text, strlen(text));

	if (!r)
		r = write_all(q->in_fd, "\n", 1);
	if (r) {
		diag("%s: the guest's console refused '%s': %s", q->name, text,
		     strerror(-r));
		qemu_test_explain();
	}
	return r;
}

int qemu_test_cmd(struct qemu_test *q, const char *cmd, char *reply,
		  size_t size)
{
	const char *l;
	int r = qemu_test_send(q, cmd);

	if (r)
		return r;
	r = qemu_test_expect(q, "^(OK|ERR|SKIP)( |$)", QT_CMD_TIMEOUT_MS, &l);
	if (r) {
		diag("no reply to '%s': %s", cmd, strerror(-r));
		return r;
	}
	if (reply && size)
		snprintf(reply, size, "%s", l);
	if (!strncmp(l, "OK", 2))
		return 0;
	if (!strncmp(l, "SKIP", 4))
		return 1;
	diag("'%s': %s", cmd, l);
	return -EBADMSG;
}

/* The next QMP line into q->line, until @deadline. */
static int qmp_line(struct qemu_test *q, double deadline)
{
	for (;;) {
		char *nl = memchr(q->qbuf, '\n', q->qlen);
		struct pollfd p = { .fd = q->qmp_fd, .events = POLLIN };
		int left = (int)(deadline - now_ms());
		ssize_t n;

		if (nl) {
			n = nl - q->qbuf;
			memcpy(q->line, q->qbuf, (size_t)n);
			q->line[n] = 0;
			if (n && q->line[n - 1] == '\r')
				q->line[n - 1] = 0;
			memmove(q->qbuf, nl + 1, q->qlen - (size_t)n - 1);
			q->qlen -= (size_t)n + 1;
			return 0;
		}
		if (q->qlen >= sizeof(q->qbuf) - 1)
			return -E2BIG;
		n = poll(&p, 1, left > 0 ? left : 0);
		if (n == 0)
			return -ETIMEDOUT;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		n = read(q->qmp_fd, q->qbuf + q->qlen,
			 sizeof(q->qbuf) - q->qlen - 1);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		q->qlen += (size_t)n;
	}
}

/* Send @json and read lines up to the "return" or "error" one. */
static int qmp_exec(struct qemu_test *q, const char *json, char *reply,
		    size_t size)
{
	double deadline = now_ms() + QT_QMP_TIMEOUT_MS;
	int r = write_all(q->qmp_fd, json, strlen(json));

	if (!r)
		r = write_all(q->qmp_fd, "\n", 1);
	while (!r) {
		r = qmp_line(q, deadline);
		if (r)
			break;
		if (strstr(q->line, "\"event\"") &&
		    !strstr(q->line, "\"return\""))
			continue;
		if (reply && size)
			snprintf(reply, size, "%s", q->line);
		if (strstr(q->line, "\"return\""))
			return 0;
		if (strstr(q->line, "\"error\"")) {
			diag("QMP %s: %s", json, q->line);
			return -EBADMSG;
		}
	}
	diag("QMP %s: %s", json, strerror(-r));
	if (r == -ETIMEDOUT)
		qemu_test_explain(); /* QEMU stuck: its threads say where */
	return r;
}

static int qmp_connect(struct qemu_test *q)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	double deadline = now_ms() + QT_QMP_TIMEOUT_MS;
	int fd, r;

	if (snprintf(a.sun_path, sizeof(a.sun_path), "%s/qmp.sock", q->dir) >=
	    (int)sizeof(a.sun_path)) {
		diag("QMP socket path too long: %s/qmp.sock", q->dir);
		return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		if ((errno != ENOENT && errno != ECONNREFUSED) ||
		    now_ms() > deadline) {
			r = -errno;
			close(fd);
			diag("QMP connect %s: %s", a.sun_path, strerror(-r));
			return r;
		}
		usleep(50000);
	}
	q->qmp_fd = fd;
	q->qlen = 0;
	r = qmp_line(q, deadline); /* the greeting */
	if (!r && !strstr(q->line, "\"QMP\""))
		r = -EPROTO;
	if (!r)
		r = qmp_exec(q, "{\"execute\": \"qmp_capabilities\"}", NULL, 0);
	if (r) {
		close(fd);
		q->qmp_fd = -1;
	}
	return r;
}

int qemu_test_qmp(struct qemu_test *q, const char *cmd, char *reply,
		  size_t size)
{
	char json[1024];
	int r;

	if (q->qmp_fd < 0) {
		r = qmp_connect(q);
		if (r)
			return r;
	}
	if (cmd[0] == '{')
		snprintf(json, sizeof(json), "%s", cmd);
	else
		snprintf(json, sizeof(json), "{\"execute\": \"%s\"}", cmd);
	return qmp_exec(q, json, reply, size);
}

static bool reap(struct qemu_test *q, int options)
{
	int st;
	pid_t r;

	if (q->exited)
		return true;
	do
		r = waitpid(q->pid, &st, options);
	while (r < 0 && errno == EINTR);
	if (r == q->pid) {
		q->exited = true;
		q->status = st;
	} else if (r < 0) {
		q->exited = true; /* not ours any more */
		q->status = -1;
	}
	return q->exited;
}

void qemu_test_explain(void)
{
	struct qemu_test *q = current;

	if (!q)
		return;
	/* one that is on its way out (threads exiting, a zombie) is reaped
	 * within moments */
	for (int i = 0; i < 20 && !reap(q, WNOHANG); i++)
		usleep(100000);
	if (!reap(q, WNOHANG)) {
		char cmd[400];

		diag("%s: QEMU (pid %d) still runs; its threads (state, "
		     "where in the kernel):",
		     q->name, (int)q->pid);
		snprintf(cmd, sizeof(cmd),
			 "for t in /proc/%d/task/*; do echo \"# qemu_test:   "
			 "$(cat $t/comm) $(cut -d' ' -f3 $t/stat) "
			 "$(cat $t/wchan)\"; done >&2",
			 (int)q->pid);
		if (system(cmd) < 0)
			diag("(no thread list)");
	} else if (q->status == -1)
		diag("%s: QEMU is gone (not our child any more)", q->name);
	else if (WIFSIGNALED(q->status))
		diag("%s: QEMU died of signal %d (%s)", q->name,
		     WTERMSIG(q->status), strsignal(WTERMSIG(q->status)));
	else
		diag("%s: QEMU exited with status %d", q->name,
		     WEXITSTATUS(q->status));
	qemu_test_print_tail(q, 30);
}

int qemu_test_wait_exit(struct qemu_test *q, int timeout_ms, int *status)
{
	double deadline = now_ms() + timeout_ms;

	while (!reap(q, WNOHANG)) {
		int r = next_line(q, now_ms() + 100 < deadline ?
					     now_ms() + 100 :
					     deadline);

		if (r == -ETIMEDOUT && now_ms() >= deadline)
			return -ETIMEDOUT;
		if (r == -EPIPE)
			usleep(10000);
	}
	if (status)
		*status = q->status;
	return 0;
}

static void print_file_tail(const char *path, const char *what, int n)
{
	char cmd[600];
	FILE *f;
	char l[1024];

	snprintf(cmd, sizeof(cmd), "tail -n %d '%s' 2>/dev/null", n, path);
	f = popen(cmd, "r");
	if (!f)
		return;
	fprintf(stderr, "# ---- %s (last %d lines) ----\n", what, n);
	while (fgets(l, sizeof(l), f)) {
		l[strcspn(l, "\r\n")] = 0;
		fprintf(stderr, "#   %s\n", l);
	}
	fprintf(stderr, "# ---- end of %s ----\n", what);
	pclose(f);
}

void qemu_test_print_tail(const struct qemu_test *q, int n)
{
	char p[300];

	snprintf(p, sizeof(p), "%s/console.log", q->dir);
	print_file_tail(p, "guest console", n);
	snprintf(p, sizeof(p), "%s/qemu.log", q->dir);
	print_file_tail(p, "QEMU stderr", 10);
}

static void rm_dir(const char *dir)
{
	static const char *const files[] = { "console.log", "qemu.log",
					     "qmp.sock" };
	char p[300];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
}

int qemu_test_stop(struct qemu_test *q)
{
	int st;

	if (!q)
		return 0;
	if (!reap(q, WNOHANG)) {
		double deadline = now_ms() + 5000;

		kill(-q->pid, SIGTERM);
		while (!reap(q, WNOHANG) && now_ms() < deadline)
			usleep(20000);
		if (!reap(q, WNOHANG)) {
			diag("%s: QEMU (pid %d) ignored SIGTERM for 5 s: "
			     "SIGKILL",
			     q->name, (int)q->pid);
			kill(-q->pid, SIGKILL);
			reap(q, 0);
			q->status = -1;
		}
	}
	if (current == q)
		current = NULL;
	/* Whatever else of the process group is left (a prefix's QEMU). */
	kill(-q->pid, SIGKILL);
	st = q->status;
	close(q->in_fd);
	close(q->out_fd);
	close(q->log_fd);
	if (q->qmp_fd >= 0)
		close(q->qmp_fd);
	if (getenv("SPP_QEMU_KEEP") && !strcmp(getenv("SPP_QEMU_KEEP"), "1"))
		diag("%s: kept %s", q->name, q->dir);
	else
		rm_dir(q->dir);
	free(q);
	return st;
}

/* Commas in QEMU option values are doubled. */
static void qemu_path(char *out, size_t size, const char *pfx, const char *p,
		      const char *sfx)
{
	size_t w = snprintf(out, size, "%s", pfx);

	for (; *p && w + 2 < size; p++) {
		out[w++] = *p;
		if (*p == ',')
			out[w++] = ',';
	}
	snprintf(out + w, size - w, "%s", sfx);
}

static struct qemu_test *spawn(const struct qemu_test_opts *o)
{
	struct qemu_test *q = calloc(1, sizeof(*q));
	const char *argv[QT_MAX_ARGS];
	char mem[16], smp[16], append[2048], qmp[400], log[300];
	const char *tmp = getenv("TMPDIR");
	int in[2], out[2], n = 0;

	if (!q)
		return NULL;
	q->o = *o;
	q->qmp_fd = -1;
	snprintf(q->name, sizeof(q->name), "%s", o->name ? o->name : o->prog);
	snprintf(q->dir, sizeof(q->dir), "%s/spp-qemu.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(q->dir)) {
		diag("mkdtemp %s: %s", q->dir, strerror(errno));
		free(q);
		return NULL;
	}
	snprintf(log, sizeof(log), "%s/console.log", q->dir);
	q->log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (q->log_fd < 0 || pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		diag("console: %s", strerror(errno));
		rm_dir(q->dir);
		free(q);
		return NULL;
	}
	for (const char *const *p = o->prefix; p && *p; p++)
		argv[n++] = *p;
	argv[n++] = qemu_bin(o);
	snprintf(mem, sizeof(mem), "%u", o->mem_mib ? o->mem_mib : 256);
	snprintf(smp, sizeof(smp), "%u", o->smp ? o->smp : 1);
	snprintf(append, sizeof(append),
		 "console=ttyS0 %spanic=-1 quiet spp.test=%s%s%s%s%s%s",
		 o->kaslr ? "" : "nokaslr ", o->prog,
		 o->args ? " spp.args=" : "", o->args ? o->args : "",
		 o->smp > 1 && *QEMU_TEST_SMP_APPEND ? " " : "",
		 o->smp > 1 ? QEMU_TEST_SMP_APPEND : "", o->append ? " " : "");
	if (o->append)
		snprintf(append + strlen(append),
			 sizeof(append) - strlen(append), "%s", o->append);
	qemu_path(qmp, sizeof(qmp), "unix:", q->dir,
		  "/qmp.sock,server=on,wait=off");
	const char *fixed[] = {
		"-enable-kvm", "-cpu",	   "host",	  "-m",	     mem,
		"-smp",	       smp,	   "-nodefaults", "-kernel", o->kernel,
		"-initrd",     o->initrd,  "-append",	  append,    "-serial",
		"stdio",       "-display", "none",	  "-qmp",    qmp
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		argv[n++] = fixed[i];
	if (!o->reboot)
		argv[n++] = "-no-reboot";
	for (const char *const *p = o->qemu_args;
	     p && *p && n < QT_MAX_ARGS - 1; p++)
		argv[n++] = *p;
	argv[n] = NULL;

	q->t0 = now_ms();
	q->pid = fork();
	if (q->pid < 0) {
		diag("fork: %s", strerror(errno));
		rm_dir(q->dir);
		free(q);
		return NULL;
	}
	if (q->pid == 0) {
		char qlog[300];
		int fd;

		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(qlog, sizeof(qlog), "%s/qemu.log", q->dir);
		fd = open(qlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(fd, 2) < 0)
			_exit(126);
		for (const char *const *e = o->env; e && *e; e++)
			putenv((char *)*e);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(q->pid, q->pid);
	close(in[0]);
	close(out[1]);
	q->in_fd = in[1];
	q->out_fd = out[0];
	/* a QEMU that went makes a write fail with EPIPE, not kill the test
	 * before it says what happened */
	signal(SIGPIPE, SIG_IGN);
	current = q;
	return q;
}

/* One line "nested guest NAME (smp N): WHAT, retried" in the retry log. */
static void log_retry(const struct qemu_test *q, const char *what)
{
	const char *log = getenv("SPP_QEMU_RETRY_LOG");
	FILE *f;

	if (!log || !*log)
		log = getenv("SPP_KVM_VM_RETRY_LOG");
	if (!log || !*log)
		return;
	f = fopen(log, "a");
	if (!f) {
		diag("retry log %s: %s", log, strerror(errno));
		return;
	}
	fprintf(f, "nested guest %s (smp %u): %s, retried\n", q->name,
		q->o.smp ? q->o.smp : 1, what);
	fclose(f);
}

void qemu_test_hung(const struct qemu_test *q, const char *what)
{
	diag("%s: %s (hung, retried); console tail:", q->name, what);
	qemu_test_print_tail(q, 20);
	log_retry(q, what);
}

/* Once: nested guests in the kvm-vm on single-threaded TCG hang now and
 * then (an interrupt delivered twice, docs/testing.md). */
static void warn_single_tcg(void)
{
	static bool warned;
	const char *vm = getenv("SPP_KVM_VM"), *accel;

	accel = getenv("SPP_KVM_VM_ACCEL");
	if (warned || !vm || strcmp(vm, "1") ||
	    (accel && strstr(accel, "thread=multi")))
		return;
	warned = true;
	diag("the kvm-vm runs single-threaded TCG: nested guests hang now "
	     "and then there (docs/testing.md); "
	     "SPP_KVM_VM_ACCEL=tcg,thread=multi avoids it");
}

struct qemu_test *qemu_test_start(const struct qemu_test_opts *opts)
{
	struct qemu_test_opts o = { 0 };
	const char *env = getenv("SPP_QEMU_BOOT_TIMEOUT");
	int timeout_ms;

	warn_single_tcg();
	if (opts)
		o = *opts;
	if (!o.prog)
		o.prog = "wptest";
	if (!o.kernel)
		o.kernel = qemu_test_kernel();
	if (!o.initrd)
		o.initrd = qemu_test_initrd();
	if (!o.marker)
		o.marker = "^SPP-INIT ";
	if (!o.kernel || !o.initrd) {
		diag("no guest kernel or initramfs");
		return NULL;
	}
	timeout_ms = o.boot_timeout_ms;
	if (!timeout_ms)
		timeout_ms = env && atoi(env) > 0 ? atoi(env) * 1000 : 90000;

	for (int attempt = 0; attempt < (o.no_retry ? 1 : 2); attempt++) {
		struct qemu_test *q = spawn(&o);
		const char *l;
		int r, st;

		if (!q)
			return NULL;
		r = qemu_test_expect(q, o.marker, timeout_ms, &l);
		if (r == 0) {
			snprintf(q->marker, sizeof(q->marker), "%s", l);
			q->retries = attempt;
			return q;
		}
		if (r != -ETIMEDOUT) {
			bool reset;

			reap(q, 0);
			st = q->status;
			/* exit 0 before the marker: the guest reset while it
			 * booted (-no-reboot), as a hung boot it is retried */
			reset = st >= 0 && WIFEXITED(st) && !WEXITSTATUS(st) &&
				attempt == 0 && !o.no_retry;
			diag("%s: QEMU ended (%s, wait status 0x%x) before the "
			     "marker /%s/%s; console tail:",
			     q->name, strerror(-r), st, o.marker,
			     reset ? " (a reset at boot, attempt 1 of 2)" : "");
			qemu_test_print_tail(q, 30);
			if (!reset) {
				qemu_test_stop(q);
				return NULL;
			}
			log_retry(q, "reset at boot (QEMU exited 0)");
			diag("%s: starting QEMU again", q->name);
			qemu_test_stop(q);
			continue;
		}
		diag("%s: no /%s/ on the console within %d s (hung boot, "
		     "attempt %d of 2); console tail:",
		     q->name, o.marker, timeout_ms / 1000, attempt + 1);
		qemu_test_print_tail(q, 20);
		qemu_test_print_cpu(q, 2);
		if (attempt == 0 && !o.no_retry) {
			char what[64];

			snprintf(what, sizeof(what), "hung boot after %d s",
				 timeout_ms / 1000);
			log_retry(q, what);
			diag("%s: starting QEMU again", q->name);
		}
		qemu_test_stop(q);
	}
	diag("%s: the nested guest hung at boot%s", o.name ? o.name : o.prog,
	     o.no_retry ? "" : " twice");
	return NULL;
}

/* ---- a guest that stopped answering: where its vCPU is ---------------- */

/* The kernel's text start when booted nokaslr (x86-64). */
#define QT_KERNEL_TEXT 0xffffffff81000000ull

/*
 * The text symbol at or before the guest's kernel address @a as
 * "name+0xoff" into @out, from this machine's /proc/kallsyms: only when
 * the guest boots this very kernel (no $SPP_QEMU_KERNEL), nokaslr, so
 * this kernel's KASLR slide is all that differs. Empty when unknown.
 */
static void ksym_name(uint64_t a, char *out, size_t size)
{
	const char *k = getenv("SPP_QEMU_KERNEL");
	unsigned long long v, text = 0, best = 0;
	char l[256], name[200], bname[200] = "", t;
	FILE *f;

	out[0] = 0;
	if ((k && *k) || a < QT_KERNEL_TEXT)
		return;
	f = fopen("/proc/kallsyms", "r");
	if (!f)
		return;
	/* _text comes first; the rest is sorted by address only roughly */
	while (fgets(l, sizeof(l), f)) {
		if (sscanf(l, "%llx %c %199s", &v, &t, name) != 3)
			continue;
		if (!strcmp(name, "_text")) {
			text = v;
			continue;
		}
		if (!text || (t != 't' && t != 'T'))
			continue;
		v = v - text + QT_KERNEL_TEXT;
		if (v <= a && v > best) {
			best = v;
			snprintf(bname, sizeof(bname), "%s", name);
		}
	}
	fclose(f);
	if (text && best && a - best < 0x10000)
		snprintf(out, size, "%s+%#llx", bname,
			 (unsigned long long)(a - best));
}

/* HMP @cmd's output (JSON-escaped, in one line) into @out. */
static int hmp(struct qemu_test *q, const char *cmd, char *out, size_t size)
{
	char json[256];

	snprintf(json, sizeof(json),
		 "{\"execute\":\"human-monitor-command\",\"arguments\":"
		 "{\"command-line\":\"%s\"}}",
		 cmd);
	return qemu_test_qmp(q, json, out, size);
}

/* The hex number after @key in @s, or 0. */
static uint64_t reg_of(const char *s, const char *key)
{
	const char *p = strstr(s, key);

	return p ? strtoull(p + strlen(key), NULL, 16) : 0;
}

int qemu_test_print_cpu(struct qemu_test *q, int samples)
{
	static char out[QT_LINE_MAX];
	uint64_t rip = 0, rsp = 0, w[64];
	char sym[240], cmd[64];
	unsigned int n = 0;
	const char *p;
	int r, i, found = 0;
	FILE *f;

	/* QEMU's state (a stopped VM says why: "internal-error"), and the
	 * lines of its stderr that say why, beyond the tail */
	if (!qemu_test_qmp(q, "query-status", out, sizeof(out)))
		fprintf(stderr, "# QMP query-status: %.200s\n", out);
	snprintf(out, sizeof(out), "%s/qemu.log", q->dir);
	f = fopen(out, "r");
	while (f && fgets(out, sizeof(out), f))
		if (strstr(out, "spp qemu:") || strstr(out, "internal error") ||
		    strstr(out, "emulation failure") || strstr(out, "RIP="))
			fprintf(stderr, "# QEMU: %.300s", out);
	if (f)
		fclose(f);
	for (i = 0; i < samples; i++) {
		uint64_t rfl;

		if (i)
			usleep(500000);
		r = hmp(q, "info registers", out, sizeof(out));
		if (r)
			return r;
		rip = reg_of(out, "RIP=");
		rsp = reg_of(out, "RSP=");
		rfl = reg_of(out, "RFL=");
		p = strstr(out, "CPL=");
		ksym_name(rip, sym, sizeof(sym));
		fprintf(stderr,
			"# vCPU 0: RIP %#llx %s RFLAGS %#llx (IF=%d) CPL %c "
			"RSP %#llx\n",
			(unsigned long long)rip, sym, (unsigned long long)rfl,
			!!(rfl & 0x200), p ? p[4] : '?',
			(unsigned long long)rsp);
	}
	if (rip < QT_KERNEL_TEXT)
		return 0;
	/* the stack: an interrupt frame RIP, CS 0x10, RFLAGS, RSP, SS 0x18
	 * of kernel code interrupted with IF clear */
	snprintf(cmd, sizeof(cmd), "x /64gx %#llx", (unsigned long long)rsp);
	if (hmp(q, cmd, out, sizeof(out)))
		return 0;
	for (p = out; n < 64 && (p = strstr(p, ": 0x"));) {
		char *end;

		p += 2;
		while (n < 64 && !strncmp(p, "0x", 2)) {
			w[n++] = strtoull(p, &end, 16);
			p = end;
			while (*p == ' ')
				p++;
		}
	}
	for (i = 0; i + 4 < (int)n; i++) {
		if (w[i] < QT_KERNEL_TEXT || w[i + 1] != 0x10 ||
		    (w[i + 2] & 0x202) != 0x2 || w[i + 4] != 0x18)
			continue;
		ksym_name(w[i], sym, sizeof(sym));
		fprintf(stderr,
			"# an interrupt frame on the stack: RIP %#llx %s "
			"RFLAGS %#llx - pushed with interrupts off: an "
			"interrupt delivered twice by the test VM's "
			"single-threaded TCG (docs/testing.md; "
			"SPP_KVM_VM_ACCEL=tcg,thread=multi)\n",
			(unsigned long long)w[i], sym,
			(unsigned long long)w[i + 2]);
		found = 1;
	}
	for (i = 0; i < (int)n && !found; i++) {
		ksym_name(w[i], sym, sizeof(sym));
		if (*sym)
			fprintf(stderr, "# stack %#llx %s\n",
				(unsigned long long)w[i], sym);
	}
	fflush(stderr);
	return found;
}
