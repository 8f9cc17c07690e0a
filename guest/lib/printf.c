// SPDX-License-Identifier: MIT
/*
 * printf.c - spp_guest_printf(): a buffer on the stack, flushed through
 * spp_guest_puts() when full and at the end.
 */
#include <stdarg.h>
#include <stdbool.h>

#include <spp_guest.h>

struct out {
	char buf[128];
	unsigned int len;
	int total;
};

static void out_flush(struct out *o)
{
	o->buf[o->len] = '\0';
	spp_guest_puts(o->buf);
	o->len = 0;
}

static void out_char(struct out *o, char c)
{
	if (o->len == sizeof(o->buf) - 1)
		out_flush(o);
	o->buf[o->len++] = c;
	o->total++;
}

static void out_str(struct out *o, const char *s)
{
	if (!s)
		s = "(null)";
	while (*s)
		out_char(o, *s++);
}

static void out_num(struct out *o, uint64_t v, unsigned int base, bool neg)
{
	char digits[20];
	unsigned int n = 0;

	if (neg)
		out_char(o, '-');
	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n)
		out_char(o, digits[--n]);
}

int spp_guest_printf(const char *fmt, ...)
{
	struct out o = { .len = 0, .total = 0 };
	va_list ap;
	bool lng;
	int64_t sv;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			out_char(&o, *fmt);
			continue;
		}
		lng = false;
		if (fmt[1] == 'l') {
			lng = true;
			fmt++;
		}
		switch (*++fmt) {
		case 's':
			out_str(&o, va_arg(ap, const char *));
			break;
		case 'c':
			out_char(&o, (char)va_arg(ap, int));
			break;
		case 'd':
			sv = lng ? va_arg(ap, long) : va_arg(ap, int);
			out_num(&o, sv < 0 ? -(uint64_t)sv : (uint64_t)sv, 10,
				sv < 0);
			break;
		case 'u':
			out_num(&o,
				lng ? va_arg(ap, unsigned long) :
				      va_arg(ap, unsigned int),
				10, false);
			break;
		case 'x':
			out_num(&o,
				lng ? va_arg(ap, unsigned long) :
				      va_arg(ap, unsigned int),
				16, false);
			break;
		case 'p':
			out_str(&o, "0x");
			out_num(&o, (uintptr_t)va_arg(ap, void *), 16, false);
			break;
		case '%':
			out_char(&o, '%');
			break;
		case '\0':
			fmt--; /* a lone '%' at the end */
			break;
		default:
			out_char(&o, '%');
			out_char(&o, *fmt);
			break;
		}
	}
	va_end(ap);
	if (o.len)
		out_flush(&o);
	return o.total;
}
