/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* saslprep.c: SASLprep (RFC 4013) of SCRAM-SHA-256 passwords, with ICU's StringPrep profile. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <unicode/usprep.h>
#include <unicode/ustring.h>

#include "sim.h"

/* SASLprep of UTF-8 in (a stored string: unassigned code points refused).  Returns a malloc'd
 * UTF-8 string, or NULL when in is not valid UTF-8 or holds prohibited characters. */
char *sim_saslprep(const char *in)
{
	UErrorCode st = U_ZERO_ERROR;
	UStringPrepProfile *prof;
	UChar *src = NULL, *dst = NULL;
	int32_t slen = 0, dlen, olen = 0;
	char *out = NULL;
	bool ascii = true;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++)
		if (*p >= 0x80 || *p < 0x20 || *p == 0x7f)
			ascii = false;
	if (ascii)
		return strdup(in);   /* printable ASCII maps to itself */
	if (!(prof = usprep_openByType(USPREP_RFC4013_SASLPREP, &st)) || U_FAILURE(st))
		return NULL;
	u_strFromUTF8(NULL, 0, &slen, in, -1, &st);
	if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
		goto out;
	st = U_ZERO_ERROR;
	if (!(src = calloc((size_t)slen + 1, sizeof *src)))
		goto out;
	u_strFromUTF8(src, slen + 1, NULL, in, -1, &st);
	if (U_FAILURE(st))
		goto out;
	dlen = slen * 4 + 16;
	if (!(dst = calloc((size_t)dlen, sizeof *dst)))
		goto out;
	dlen = usprep_prepare(prof, src, slen, dst, dlen, USPREP_DEFAULT, NULL, &st);
	if (U_FAILURE(st))
		goto out;
	u_strToUTF8(NULL, 0, &olen, dst, dlen, &st);
	if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
		goto out;
	st = U_ZERO_ERROR;
	if (!(out = calloc((size_t)olen + 1, 1)))
		goto out;
	u_strToUTF8(out, olen + 1, NULL, dst, dlen, &st);
	if (U_FAILURE(st)) {
		free(out);
		out = NULL;
	}
out:
	if (src) {
		OPENSSL_cleanse(src, (size_t)slen * sizeof *src);
		free(src);
	}
	if (dst) {
		OPENSSL_cleanse(dst, (size_t)(slen * 4 + 16) * sizeof *dst);
		free(dst);
	}
	usprep_close(prof);
	return out;
}
