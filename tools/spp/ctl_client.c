// SPDX-License-Identifier: MIT
/*
 * ctl_client.c - the client side of the control socket (spp/ctl.h,
 * docs/control.md) for "spp ctl" and "spp qemu": connect and negotiate,
 * lines with timeouts, requests and their replies, the data of an event
 * line.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "spp_cli.h"

volatile sig_atomic_t spp_cli_conn_interrupted;

void spp_cli_conn_on_signal(int sig)
{
	(void)sig;
	spp_cli_conn_interrupted = 1;
}

char *spp_cli_conn_line(struct spp_cli_conn *c, int ms)
{
	for (;;) {
		char *nl = c->buf ? memchr(c->buf, '\n', c->len) : NULL, *s;
		struct pollfd p = { c->fd, POLLIN, 0 };
		ssize_t n;

		if (nl) {
			size_t k = (size_t)(nl - c->buf);

			s = strndup(c->buf, k);
			memmove(c->buf, nl + 1, c->len - k - 1);
			c->len -= k + 1;
			return s;
		}
		if (c->cap - c->len < 4096) {
			char *b = realloc(c->buf, c->cap + 65536);

			if (!b)
				return NULL;
			c->buf = b;
			c->cap += 65536;
		}
		if (spp_cli_conn_interrupted)
			return NULL;
		n = poll(&p, 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n <= 0) {
			c->eof = true;
			return NULL;
		}
		c->len += (size_t)n;
	}
}

int spp_cli_conn_send(struct spp_cli_conn *c, const char *s)
{
	size_t n = strlen(s), done = 0;

	while (done < n + 1) {
		const char *p = done < n ? s + done : "\n";
		size_t k = done < n ? n - done : 1;
		ssize_t w = send(c->fd, p, k, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)w;
	}
	return 0;
}

json_t *spp_cli_conn_reply(struct spp_cli_conn *c, char **raw)
{
	for (;;) {
		char *s = spp_cli_conn_line(c, SPP_CLI_CONN_TIMEOUT_MS);
		json_t *v;

		if (!s) {
			spp_cli_err("no reply (connection closed or timed "
				    "out)");
			return NULL;
		}
		v = json_loads(s, 0, NULL);
		if (!v) {
			spp_cli_err("not JSON from the server: %.200s", s);
			free(s);
			return NULL;
		}
		if (json_object_get(v, "event")) {
			if (c->on_event)
				c->on_event(c->ctx, s, v);
			json_decref(v);
			free(s);
			continue;
		}
		if (raw)
			*raw = s;
		else
			free(s);
		return v;
	}
}

json_t *spp_cli_conn_request(struct spp_cli_conn *c, const char *req)
{
	json_t *v, *r, *e;
	int err;

	err = spp_cli_conn_send(c, req);
	if (err) {
		spp_cli_err("cannot send: %s", strerror(-err));
		return NULL;
	}
	v = spp_cli_conn_reply(c, NULL);
	if (!v)
		return NULL;
	r = json_object_get(v, "return");
	if (r) {
		json_incref(r);
		json_decref(v);
		return r;
	}
	e = json_object_get(v, "error");
	spp_cli_err("%s%s", c->what ? c->what : "",
		    e ? json_string_value(json_object_get(e, "desc")) :
			"a reply that is no reply");
	json_decref(v);
	return NULL;
}

json_t *spp_cli_conn_requestf(struct spp_cli_conn *c, const char *name,
			      json_t *args)
{
	json_t *req =
		json_pack("{s:s,s:o*}", "execute", name, "arguments", args);
	char *s = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_t *r = s ? spp_cli_conn_request(c, s) : NULL;

	if (!s)
		spp_cli_err("out of memory");
	free(s);
	json_decref(req);
	return r;
}

int spp_cli_conn_connect(struct spp_cli_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(c->fd);
		c->fd = -1;
		return err;
	}
	return 0;
}

int spp_cli_conn_open(struct spp_cli_conn *c, const char *path)
{
	json_t *v, *r;
	char *g;
	int err;

	if (c->fd < 0) {
		err = spp_cli_conn_connect(c, path);
		if (err) {
			spp_cli_err("%s: %s", path, strerror(-err));
			return err;
		}
	}
	/* the greeting (or the server's refusal), then the negotiation */
	g = spp_cli_conn_line(c, SPP_CLI_CONN_TIMEOUT_MS);
	v = g ? json_loads(g, 0, NULL) : NULL;
	free(g);
	if (!json_object_get(v, "QMP")) {
		json_t *e = json_object_get(v, "error");

		spp_cli_err("%s: %s", path,
			    e ? json_string_value(json_object_get(e, "desc")) :
				"no greeting: not spp's control socket");
		json_decref(v);
		spp_cli_conn_close(c);
		return -EPROTO;
	}
	json_decref(v);
	r = spp_cli_conn_request(c, "{\"execute\":\"qmp_capabilities\"}");
	if (!r) {
		spp_cli_conn_close(c);
		return -EPROTO;
	}
	json_decref(r);
	return 0;
}

void spp_cli_conn_close(struct spp_cli_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->eof = false;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

bool spp_cli_event_data(const char *line, const char **p, size_t *n)
{
	const char *d = strstr(line, ",\"data\":"), *t = NULL, *q;

	for (q = line; (q = strstr(q, ",\"timestamp\":")) != NULL; q++)
		t = q;
	if (!d || !t || t < d)
		return false;
	*p = d + 8;
	*n = (size_t)(t - *p);
	return true;
}
