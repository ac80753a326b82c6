/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* scram.c: the server side of SCRAM-SHA-1 and SCRAM-SHA-256 on OpenSSL 3. */
#include "autoconfig.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "scram.h"

#define SCRAM_MAX_MSG 4096     /* libmongoc caps SASL payloads at 4096 bytes too */
#define SCRAM_MAX_ITER 10000000 /* keeps a hostile or mistaken config from hanging the loop */

enum conv_state { CONV_STARTED, CONV_DONE };

struct sim_scram_conv {
	sim_scram_mech mech;
	enum conv_state state;
	bool known;              /* false: unknown user, the proof always fails */
	bool authenticated;
	char gs2[4];             /* "n,," or "y,," as the client sent it */
	char *user;              /* unescaped */
	char *client_first_bare;
	char *server_first;
	char *nonce;             /* client nonce + server nonce */
	sim_scram_creds creds;
};

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Write a one-line reason; errbuf may be NULL. */
static void
set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

static const EVP_MD *
mech_md(sim_scram_mech mech)
{
	return mech == SIM_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

static size_t
mech_hash_len(sim_scram_mech mech)
{
	return mech == SIM_SCRAM_SHA1 ? 20 : 32;
}

/* The salt length libmongoc 1.23 insists on: hash length minus 4. */
static size_t
mech_salt_len(sim_scram_mech mech)
{
	return mech == SIM_SCRAM_SHA1 ? 16 : 28;
}

static bool
mech_valid(sim_scram_mech mech)
{
	return mech == SIM_SCRAM_SHA1 || mech == SIM_SCRAM_SHA256;
}

static bool
is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* base64 of len bytes as a malloc'd NUL-terminated string, or NULL. */
static char *
b64_encode(const uint8_t *in, size_t len)
{
	char *out;

	if (len > INT_MAX / 2)
		return NULL;
	out = malloc(4 * ((len + 2) / 3) + 1);
	if (out == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

static bool
is_b64_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
	       ch == '/';
}

/*
 * Strict base64 decode of in[0..len) into out (room for max bytes): length a
 * multiple of 4, only the alphabet, at most two '=' at the end.  Returns the
 * decoded length or -1.
 */
static int
b64_decode(uint8_t *out, size_t max, const char *in, size_t len)
{
	uint8_t tmp[3 * (SCRAM_MAX_MSG / 4) + 3];
	size_t pad = 0;
	size_t i;
	int n;

	if (len == 0 || len % 4 != 0 || len > SCRAM_MAX_MSG)
		return -1;
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	if (pad == 1 && in[len - 2] == '=')
		return -1;
	for (i = 0; i < len - pad; i++) {
		if (!is_b64_char(in[i]))
			return -1;
	}
	n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -1;
	n -= (int)pad;
	if ((size_t)n > max)
		return -1;
	memcpy(out, tmp, (size_t)n);
	OPENSSL_cleanse(tmp, sizeof tmp);
	return n;
}

/* A NUL-terminated copy of in[0..len), or NULL. */
static char *
dup_n(const char *in, size_t len)
{
	char *p = malloc(len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, in, len);
	p[len] = '\0';
	return p;
}

/* RFC 5802 "printable": 0x21..0x7e except ','. */
static bool
nonce_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
			return false;
	}
	return true;
}

/* Unescape a saslname ("=2C" -> ',', "=3D" -> '='); NULL if malformed or empty. */
static char *
unescape_user(const char *s, size_t len)
{
	char *out;
	size_t i;
	size_t o = 0;

	if (len == 0)
		return NULL;
	out = malloc(len + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] == '=') {
			if (len - i >= 3 && s[i + 1] == '2' && s[i + 2] == 'C')
				out[o++] = ',';
			else if (len - i >= 3 && s[i + 1] == '3' && s[i + 2] == 'D')
				out[o++] = '=';
			else
				goto bad;
			i += 2;
		} else if (s[i] == ',' || s[i] == '\0') {
			goto bad;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* Every byte of a SCRAM message must be non-NUL printable-ish text. */
static bool
msg_bytes_ok(const char *s, size_t len)
{
	return len > 0 && len <= SCRAM_MAX_MSG && memchr(s, '\0', len) == NULL;
}

/* Parse "X=" at s[*pos]; on success the value spans [*val, *val + *vlen) up to the next ',' or end. */
static bool
next_attr(const char *s, size_t len, size_t *pos, char key, const char **val, size_t *vlen)
{
	const char *comma;
	size_t p = *pos;

	if (len - p < 2 || s[p] != key || s[p + 1] != '=')
		return false;
	p += 2;
	comma = memchr(s + p, ',', len - p);
	*val = s + p;
	*vlen = comma != NULL ? (size_t)(comma - (s + p)) : len - p;
	*pos = p + *vlen;
	return true;
}

/* Parse "SCRAM-SHA-1" / "SCRAM-SHA-256". */
int
sim_scram_mech_parse(const char *name, sim_scram_mech *out)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "SCRAM-SHA-1") == 0) {
		*out = SIM_SCRAM_SHA1;
		return 0;
	}
	if (strcmp(name, "SCRAM-SHA-256") == 0) {
		*out = SIM_SCRAM_SHA256;
		return 0;
	}
	return -1;
}

/* The wire name of mech, or "unknown". */
const char *
sim_scram_mech_name(sim_scram_mech mech)
{
	switch (mech) {
	case SIM_SCRAM_SHA1:
		return "SCRAM-SHA-1";
	case SIM_SCRAM_SHA256:
		return "SCRAM-SHA-256";
	}
	return "unknown";
}

/* Derive StoredKey and ServerKey; a caller salt may be any length 1..28 (RFC vectors use 16). */
int
sim_scram_derive(sim_scram_creds *out, sim_scram_mech mech, const char *user, const char *password,
                 const uint8_t *salt, size_t salt_len, int iterations)
{
	uint8_t salted[32];
	uint8_t client_key[32];
	uint8_t md5[16];
	char hexpw[33];
	char *md5_in = NULL;
	const char *pw;
	size_t pwlen;
	size_t hlen;
	unsigned int outlen = 0;
	size_t ulen;
	size_t plen;
	size_t i;
	int ret = -1;

	memset(out, 0, sizeof *out);
	if (!mech_valid(mech) || user == NULL || password == NULL)
		goto out;
	if (iterations < 4096 || iterations > SCRAM_MAX_ITER)
		goto out;
	hlen = mech_hash_len(mech);
	out->mech = mech;
	out->iterations = iterations;
	out->key_len = hlen;
	if (salt == NULL) {
		out->salt_len = mech_salt_len(mech);
		if (RAND_bytes(out->salt, (int)out->salt_len) != 1)
			goto out;
	} else {
		if (salt_len == 0 || salt_len > sizeof out->salt)
			goto out;
		memcpy(out->salt, salt, salt_len);
		out->salt_len = salt_len;
	}

	if (mech == SIM_SCRAM_SHA1) {
		/* MongoDB's SCRAM-SHA-1 password is HEX(MD5(user ":mongo:" password)). */
		ulen = strlen(user);
		plen = strlen(password);
		if (ulen > SCRAM_MAX_MSG || plen > SCRAM_MAX_MSG)
			goto out;
		md5_in = malloc(ulen + 7 + plen + 1);
		if (md5_in == NULL)
			goto out;
		memcpy(md5_in, user, ulen);
		memcpy(md5_in + ulen, ":mongo:", 7);
		memcpy(md5_in + ulen + 7, password, plen);
		if (EVP_Digest(md5_in, ulen + 7 + plen, md5, &outlen, EVP_md5(), NULL) != 1 || outlen != 16)
			goto out;
		for (i = 0; i < 16; i++) {
			hexpw[2 * i] = "0123456789abcdef"[md5[i] >> 4];
			hexpw[2 * i + 1] = "0123456789abcdef"[md5[i] & 0xf];
		}
		hexpw[32] = '\0';
		pw = hexpw;
		pwlen = 32;
	} else {
		/* ASCII passwords only: SASLprep of other text is not done. */
		pw = password;
		pwlen = strlen(password);
		if (pwlen > SCRAM_MAX_MSG)
			goto out;
	}

	if (PKCS5_PBKDF2_HMAC(pw, (int)pwlen, out->salt, (int)out->salt_len, iterations, mech_md(mech),
	                      (int)hlen, salted) != 1)
		goto out;
	if (HMAC(mech_md(mech), salted, (int)hlen, (const unsigned char *)"Client Key", 10, client_key,
	         &outlen) == NULL || outlen != hlen)
		goto out;
	if (EVP_Digest(client_key, hlen, out->stored_key, &outlen, mech_md(mech), NULL) != 1 ||
	    outlen != hlen)
		goto out;
	if (HMAC(mech_md(mech), salted, (int)hlen, (const unsigned char *)"Server Key", 10, out->server_key,
	         &outlen) == NULL || outlen != hlen)
		goto out;
	ret = 0;
out:
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(client_key, sizeof client_key);
	OPENSSL_cleanse(hexpw, sizeof hexpw);
	if (md5_in != NULL) {
		OPENSSL_cleanse(md5_in, strlen(user) + 7 + strlen(password));
		free(md5_in);
	}
	if (ret != 0)
		memset(out, 0, sizeof *out);
	return ret;
}

/*
 * Credentials for an unknown user: a salt derived from the name (so repeated
 * attempts see the same salt, as with a real user) and keys that no proof can
 * match because the conversation is marked unknown.
 */
static void
fake_creds(sim_scram_creds *out, sim_scram_mech mech, const char *user)
{
	uint8_t h[32];
	unsigned int hl = 0;
	static const char tag[] = "mongo-rs-sim fake salt:";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	memset(out, 0, sizeof *out);
	memset(h, 0, sizeof h);
	if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, tag, sizeof tag - 1) == 1 &&
	    EVP_DigestUpdate(ctx, mech == SIM_SCRAM_SHA1 ? "1:" : "256:", mech == SIM_SCRAM_SHA1 ? 2 : 4) == 1 &&
	    EVP_DigestUpdate(ctx, user, strlen(user)) == 1)
		EVP_DigestFinal_ex(ctx, h, &hl);
	EVP_MD_CTX_free(ctx);
	out->mech = mech;
	out->salt_len = mech_salt_len(mech);
	memcpy(out->salt, h, out->salt_len);
	out->iterations = mech == SIM_SCRAM_SHA1 ? 10000 : 15000;
	out->key_len = mech_hash_len(mech);
}

/* Free a conversation; NULL is fine. */
void
sim_scram_conv_free(sim_scram_conv *c)
{
	if (c == NULL)
		return;
	free(c->user);
	free(c->client_first_bare);
	free(c->server_first);
	free(c->nonce);
	OPENSSL_cleanse(&c->creds, sizeof c->creds);
	free(c);
}

/* client-first -> server-first; see scram.h. */
int
sim_scram_start(sim_scram_conv **out, sim_scram_mech mech, const char *client_first, size_t len,
                sim_scram_lookup lookup, void *ctx, const char *server_nonce, char **server_first,
                char *errbuf, size_t errlen)
{
	sim_scram_conv *c = NULL;
	const sim_scram_creds *creds = NULL;
	const char *bare;
	size_t blen;
	size_t pos = 0;
	const char *val;
	size_t vlen;
	const char *cnonce;
	size_t cnlen;
	char snonce_buf[33];
	const char *snonce;
	size_t snlen;
	uint8_t rnd[18];
	char *salt64 = NULL;
	char *sf = NULL;
	size_t sflen;
	int n;
	int ret = -1;

	*out = NULL;
	*server_first = NULL;
	if (!mech_valid(mech)) {
		set_err(errbuf, errlen, "unsupported SCRAM mechanism");
		goto out;
	}
	if (client_first == NULL || !msg_bytes_ok(client_first, len)) {
		set_err(errbuf, errlen, "SCRAM client-first is empty, too long or contains NUL");
		goto out;
	}
	/* gs2 header: no channel binding ("n") or client supports but thinks server does not ("y"), no authzid. */
	if (len >= 2 && client_first[0] == 'p' && client_first[1] == '=') {
		set_err(errbuf, errlen, "SCRAM channel binding is not supported");
		goto out;
	}
	if (len < 3 || (client_first[0] != 'n' && client_first[0] != 'y') || client_first[1] != ',' ||
	    client_first[2] != ',') {
		set_err(errbuf, errlen, "SCRAM client-first must start with \"n,,\" (no authzid)");
		goto out;
	}
	bare = client_first + 3;
	blen = len - 3;
	if (!next_attr(bare, blen, &pos, 'n', &val, &vlen)) {
		set_err(errbuf, errlen, "SCRAM client-first: expected n=<user> (m= extensions are refused)");
		goto out;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		set_err(errbuf, errlen, "out of memory");
		goto out;
	}
	c->mech = mech;
	c->state = CONV_STARTED;
	memcpy(c->gs2, client_first, 3);
	c->user = unescape_user(val, vlen);
	if (c->user == NULL) {
		set_err(errbuf, errlen, "SCRAM client-first: empty or badly escaped user name");
		goto out;
	}
	if (pos >= blen || bare[pos] != ',') {
		set_err(errbuf, errlen, "SCRAM client-first: expected ,r=<nonce>");
		goto out;
	}
	pos++;
	if (!next_attr(bare, blen, &pos, 'r', &cnonce, &cnlen) || !nonce_valid(cnonce, cnlen)) {
		set_err(errbuf, errlen, "SCRAM client-first: missing or invalid client nonce");
		goto out;
	}
	/* Extensions after the nonce must at least look like attributes; they are ignored. */
	while (pos < blen) {
		size_t p2 = pos + 1;

		if (bare[pos] != ',' || p2 >= blen || !is_alpha(bare[p2]) ||
		    !next_attr(bare, blen, &p2, bare[p2], &val, &vlen)) {
			set_err(errbuf, errlen, "SCRAM client-first: malformed extension");
			goto out;
		}
		pos = p2;
	}

	if (server_nonce != NULL) {
		snonce = server_nonce;
		snlen = strlen(server_nonce);
		if (snlen > 256 || !nonce_valid(snonce, snlen)) {
			set_err(errbuf, errlen, "invalid server nonce");
			goto out;
		}
	} else {
		if (RAND_bytes(rnd, sizeof rnd) != 1) {
			set_err(errbuf, errlen, "RAND_bytes failed");
			goto out;
		}
		EVP_EncodeBlock((unsigned char *)snonce_buf, rnd, sizeof rnd);
		snonce = snonce_buf;
		snlen = strlen(snonce_buf);
	}

	c->client_first_bare = dup_n(bare, blen);
	c->nonce = malloc(cnlen + snlen + 1);
	if (c->client_first_bare == NULL || c->nonce == NULL) {
		set_err(errbuf, errlen, "out of memory");
		goto out;
	}
	memcpy(c->nonce, cnonce, cnlen);
	memcpy(c->nonce + cnlen, snonce, snlen);
	c->nonce[cnlen + snlen] = '\0';

	if (lookup != NULL)
		creds = lookup(ctx, c->user, mech);
	if (creds != NULL && creds->mech == mech && creds->key_len == mech_hash_len(mech) &&
	    creds->salt_len >= 1 && creds->salt_len <= sizeof creds->salt && creds->iterations >= 4096) {
		c->creds = *creds;
		c->known = true;
	} else {
		fake_creds(&c->creds, mech, c->user);
		c->known = false;
	}

	salt64 = b64_encode(c->creds.salt, c->creds.salt_len);
	if (salt64 == NULL) {
		set_err(errbuf, errlen, "out of memory");
		goto out;
	}
	sflen = 2 + strlen(c->nonce) + 3 + strlen(salt64) + 3 + 11 + 1;
	sf = malloc(sflen);
	if (sf == NULL) {
		set_err(errbuf, errlen, "out of memory");
		goto out;
	}
	n = snprintf(sf, sflen, "r=%s,s=%s,i=%d", c->nonce, salt64, c->creds.iterations);
	if (n < 0 || (size_t)n >= sflen) {
		set_err(errbuf, errlen, "server-first does not fit");
		goto out;
	}
	c->server_first = dup_n(sf, (size_t)n);
	if (c->server_first == NULL) {
		set_err(errbuf, errlen, "out of memory");
		goto out;
	}
	*server_first = sf;
	sf = NULL;
	*out = c;
	c = NULL;
	ret = 0;
out:
	free(salt64);
	free(sf);
	sim_scram_conv_free(c);
	return ret;
}

/* client-final -> server-final; 1 = proof right, 0 = wrong, -1 = malformed. */
int
sim_scram_finish(sim_scram_conv *c, const char *client_final, size_t len, char **server_final, char *errbuf,
                 size_t errlen)
{
	const char *val;
	size_t vlen;
	size_t pos = 0;
	size_t without_proof_len = 0;
	char *cb64 = NULL;
	char *auth = NULL;
	size_t alen;
	uint8_t proof[32];
	uint8_t sig[32];
	uint8_t key[32];
	uint8_t stored[32];
	unsigned int outlen = 0;
	size_t hlen;
	size_t i;
	int n;
	char *sf = NULL;
	char *v64 = NULL;
	int ret = -1;

	*server_final = NULL;
	if (c == NULL || c->state != CONV_STARTED) {
		set_err(errbuf, errlen, "SCRAM conversation is not waiting for client-final");
		return -1;
	}
	c->state = CONV_DONE; /* one attempt per conversation, whatever happens */
	hlen = c->creds.key_len;
	if (client_final == NULL || !msg_bytes_ok(client_final, len)) {
		set_err(errbuf, errlen, "SCRAM client-final is empty, too long or contains NUL");
		goto out;
	}
	if (!next_attr(client_final, len, &pos, 'c', &val, &vlen)) {
		set_err(errbuf, errlen, "SCRAM client-final: expected c=<channel binding>");
		goto out;
	}
	cb64 = b64_encode((const uint8_t *)c->gs2, 3);
	if (cb64 == NULL) {
		set_err(errbuf, errlen, "out of memory");
		goto out;
	}
	if (vlen != strlen(cb64) || memcmp(val, cb64, vlen) != 0) {
		set_err(errbuf, errlen, "SCRAM client-final: channel binding does not match the gs2 header");
		goto out;
	}
	if (pos >= len || client_final[pos] != ',') {
		set_err(errbuf, errlen, "SCRAM client-final: expected ,r=<nonce>");
		goto out;
	}
	pos++;
	if (!next_attr(client_final, len, &pos, 'r', &val, &vlen)) {
		set_err(errbuf, errlen, "SCRAM client-final: expected r=<nonce>");
		goto out;
	}
	if (vlen != strlen(c->nonce) || memcmp(val, c->nonce, vlen) != 0) {
		set_err(errbuf, errlen, "SCRAM client-final: nonce does not match");
		goto out;
	}
	/* Skip extensions; the proof must be the last attribute. */
	for (;;) {
		if (pos >= len || client_final[pos] != ',') {
			set_err(errbuf, errlen, "SCRAM client-final: missing p=<proof>");
			goto out;
		}
		without_proof_len = pos;
		pos++;
		if (len - pos >= 2 && client_final[pos] == 'p' && client_final[pos + 1] == '=')
			break;
		if (len - pos < 2 || !is_alpha(client_final[pos]) || client_final[pos + 1] != '=' ||
		    !next_attr(client_final, len, &pos, client_final[pos], &val, &vlen)) {
			set_err(errbuf, errlen, "SCRAM client-final: malformed attribute");
			goto out;
		}
	}
	if (!next_attr(client_final, len, &pos, 'p', &val, &vlen) || pos != len) {
		set_err(errbuf, errlen, "SCRAM client-final: p=<proof> must come last");
		goto out;
	}
	n = b64_decode(proof, sizeof proof, val, vlen);
	if (n < 0 || (size_t)n != hlen) {
		set_err(errbuf, errlen, "SCRAM client-final: proof is not base64 of %zu bytes", hlen);
		goto out;
	}

	/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
	alen = strlen(c->client_first_bare) + 1 + strlen(c->server_first) + 1 + without_proof_len;
	auth = malloc(alen + 1);
	if (auth == NULL) {
		set_err(errbuf, errlen, "out of memory");
		goto out;
	}
	n = snprintf(auth, alen + 1, "%s,%s,%.*s", c->client_first_bare, c->server_first, (int)without_proof_len,
	             client_final);
	if (n < 0 || (size_t)n != alen) {
		set_err(errbuf, errlen, "SCRAM AuthMessage does not fit");
		goto out;
	}

	if (!c->known) {
		set_err(errbuf, errlen, "Authentication failed.");
		ret = 0;
		goto out;
	}
	if (HMAC(mech_md(c->mech), c->creds.stored_key, (int)hlen, (const unsigned char *)auth, alen, sig,
	         &outlen) == NULL || outlen != hlen) {
		set_err(errbuf, errlen, "HMAC failed");
		goto out;
	}
	for (i = 0; i < hlen; i++)
		key[i] = proof[i] ^ sig[i];
	if (EVP_Digest(key, hlen, stored, &outlen, mech_md(c->mech), NULL) != 1 || outlen != hlen) {
		set_err(errbuf, errlen, "digest failed");
		goto out;
	}
	if (CRYPTO_memcmp(stored, c->creds.stored_key, hlen) != 0) {
		set_err(errbuf, errlen, "Authentication failed.");
		ret = 0;
		goto out;
	}
	if (HMAC(mech_md(c->mech), c->creds.server_key, (int)hlen, (const unsigned char *)auth, alen, sig,
	         &outlen) == NULL || outlen != hlen) {
		set_err(errbuf, errlen, "HMAC failed");
		goto out;
	}
	v64 = b64_encode(sig, hlen);
	if (v64 == NULL) {
		set_err(errbuf, errlen, "out of memory");
		goto out;
	}
	sf = malloc(strlen(v64) + 3);
	if (sf == NULL) {
		set_err(errbuf, errlen, "out of memory");
		goto out;
	}
	memcpy(sf, "v=", 2);
	memcpy(sf + 2, v64, strlen(v64) + 1);
	c->authenticated = true;
	*server_final = sf;
	sf = NULL;
	ret = 1;
out:
	OPENSSL_cleanse(key, sizeof key);
	OPENSSL_cleanse(sig, sizeof sig);
	free(cb64);
	free(auth);
	free(v64);
	free(sf);
	return ret;
}

/* The authenticated user (borrowed) after a successful finish, else NULL. */
const char *
sim_scram_user(const sim_scram_conv *c)
{
	return c != NULL && c->authenticated ? c->user : NULL;
}
