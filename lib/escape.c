/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* escape.c: control characters and invalid UTF-8 in quoted user strings become \xNN. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

/*
 * The length of the UTF-8 sequence at s[0..len) that may be copied as it is,
 * or 0 when s[0] must be escaped (a control, DEL, a C1 control, a byte that
 * does not start a well-formed sequence: overlong forms, surrogates and code
 * points above U+10FFFF are not well-formed).
 */
static size_t
keep_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0x20 && c < 0x7f)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0; /* C0, DEL, a continuation byte, 0xc0/0xc1 (overlong) or above U+10FFFF */
	if (c < 0xe0) {
		n = 2;
		if (c == 0xc2)
			lo = 0xa0; /* U+0080..U+009F are the C1 controls */
	} else if (c < 0xf0) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/*
 * Write the escaped form of in[0..len) into out, as much as fits whole in
 * outlen bytes with the NUL (out may be NULL when outlen is 0), NUL-terminated
 * when outlen > 0.  Returns the length the whole result needs (without the NUL).
 */
static size_t
escape_into(const unsigned char *in, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, o = 0, written = 0, n;
	bool full = outlen == 0;

	while (i < len) {
		n = keep_len(in + i, len - i);
		if (!full && o + (n > 0 ? n : 4) >= outlen)
			full = true;
		if (!full && n > 0) {
			memcpy(out + o, in + i, n);
		} else if (!full) {
			out[o] = '\\';
			out[o + 1] = 'x';
			out[o + 2] = hex[in[i] >> 4];
			out[o + 3] = hex[in[i] & 0xf];
		}
		o += n > 0 ? n : 4;
		i += n > 0 ? n : 1;
		if (!full)
			written = o;
	}
	if (outlen > 0)
		out[written] = '\0';
	return o;
}

/* Escape into a caller's buffer; see escape.h. */
const char *
mbh_escape(const char *in, char *out, size_t outlen)
{
	if (out == NULL || outlen == 0)
		return "";
	escape_into((const unsigned char *)(in ? in : ""), in ? strlen(in) : 0, out, outlen);
	return out;
}

/* Escape into a new string; see escape.h. */
char *
mbh_escape_dup(const char *in, size_t len)
{
	size_t need;
	char *out;

	if (in == NULL)
		len = 0;
	if (len > (SIZE_MAX - 1) / 4)
		return NULL;
	need = escape_into((const unsigned char *)(in ? in : ""), len, NULL, 0);
	if ((out = malloc(need + 1)) == NULL)
		return NULL;
	escape_into((const unsigned char *)(in ? in : ""), len, out, need + 1);
	return out;
}

/* Does in[0..len) hold anything to escape? */
bool
mbh_escape_needed(const char *in, size_t len)
{
	size_t i = 0, n;

	while (in != NULL && i < len) {
		n = keep_len((const unsigned char *)in + i, len - i);
		if (n == 0)
			return true;
		i += n;
	}
	return false;
}
