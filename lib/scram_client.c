/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* scram_client.c: the client side of SCRAM (RFC 5802, RFC 7677, MongoDB's SHA-1 variant), keys derived with OpenSSL's PBKDF2. */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "scram_client.h"

#define MIN_ITERATIONS 4096 /* RFC 7677's floor; a server asking fewer is not to be helped */
#define SALT_MAX 128
#define MSG_MAX (1024 * 1024)
#define OP_MSG 2013

typedef struct cache_entry {
	struct cache_entry *next;
	mbh_scram_mech mech;
	char *user;
	uint8_t salt[SALT_MAX];
	size_t salt_len;
	uint32_t iterations;
	uint8_t client_key[MBH_SCRAM_HASH_MAX], server_key[MBH_SCRAM_HASH_MAX];
} cache_entry;

struct mbh_scram_cache {
	pthread_mutex_t mu; /* a cluster's components authenticate from their own threads */
	cache_entry *head;
	unsigned derivations;
};

static const EVP_MD *
mech_md(mbh_scram_mech mech)
{
	return mech == MBH_SCRAM_SHA256 ? EVP_sha256() : EVP_sha1();
}

/* See scram_client.h. */
mbh_scram_cache *
mbh_scram_cache_new(void)
{
	mbh_scram_cache *c = calloc(1, sizeof(mbh_scram_cache));

	if (c != NULL && pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		c = NULL;
	}
	return c;
}

/* See scram_client.h. */
void
mbh_scram_cache_free(mbh_scram_cache *c)
{
	cache_entry *e, *next;

	if (c == NULL)
		return;
	for (e = c->head; e != NULL; e = next) {
		next = e->next;
		free(e->user);
		OPENSSL_cleanse(e, sizeof(*e));
		free(e);
	}
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* See scram_client.h. */
unsigned
mbh_scram_cache_derivations(mbh_scram_cache *c)
{
	unsigned n;

	pthread_mutex_lock(&c->mu);
	n = c->derivations;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* mbh_scram_keys with c->mu held. */
static int
keys_locked(mbh_scram_cache *c, mbh_scram_mech mech, const char *user, const char *password, const uint8_t *salt,
	    size_t salt_len, uint32_t iterations, uint8_t *client_key, uint8_t *server_key, size_t *hlen,
	    mbh_error *err)
{
	const EVP_MD *md = mech_md(mech);
	uint8_t salted[MBH_SCRAM_HASH_MAX];
	unsigned int n = 0;
	cache_entry *e;
	int ok;

	*hlen = (size_t)EVP_MD_size(md);
	if (salt_len == 0 || salt_len > SALT_MAX)
		return mbh_error_set(err, EX_PROTOCOL, "SCRAM: the server's salt is %zu bytes long", salt_len);
	for (e = c->head; e != NULL; e = e->next)
		if (e->mech == mech && e->iterations == iterations && e->salt_len == salt_len &&
		    memcmp(e->salt, salt, salt_len) == 0 && strcmp(e->user, user) == 0) {
			memcpy(client_key, e->client_key, *hlen);
			memcpy(server_key, e->server_key, *hlen);
			return 0;
		}
	if ((e = calloc(1, sizeof(*e))) == NULL || (e->user = strdup(user)) == NULL) {
		free(e);
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	ok = PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iterations, md, (int)*hlen,
			       salted) == 1 &&
	     HMAC(md, salted, (int)*hlen, (const unsigned char *)"Client Key", 10, e->client_key, &n) != NULL &&
	     HMAC(md, salted, (int)*hlen, (const unsigned char *)"Server Key", 10, e->server_key, &n) != NULL;
	OPENSSL_cleanse(salted, sizeof(salted));
	if (!ok) {
		free(e->user);
		OPENSSL_cleanse(e, sizeof(*e));
		free(e);
		return mbh_error_set(err, EX_SOFTWARE, "SCRAM: the key derivation failed in OpenSSL");
	}
	e->mech = mech;
	memcpy(e->salt, salt, salt_len);
	e->salt_len = salt_len;
	e->iterations = iterations;
	e->next = c->head;
	c->head = e;
	c->derivations++;
	memcpy(client_key, e->client_key, *hlen);
	memcpy(server_key, e->server_key, *hlen);
	return 0;
}

/* See scram_client.h.  A second thread wanting the same keys waits for the first one's derivation. */
int
mbh_scram_keys(mbh_scram_cache *c, mbh_scram_mech mech, const char *user, const char *password, const uint8_t *salt,
	       size_t salt_len, uint32_t iterations, uint8_t *client_key, uint8_t *server_key, size_t *hlen,
	       mbh_error *err)
{
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = keys_locked(c, mech, user, password, salt, salt_len, iterations, client_key, server_key, hlen, err);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* See scram_client.h. */
void
mbh_scram_sha1_password(const char *user, const char *password, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d[16];
	unsigned int n = 0, i;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	out[0] = '\0';
	if (ctx == NULL)
		return;
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 && EVP_DigestUpdate(ctx, user, strlen(user)) == 1 &&
	    EVP_DigestUpdate(ctx, ":mongo:", 7) == 1 && EVP_DigestUpdate(ctx, password, strlen(password)) == 1 &&
	    EVP_DigestFinal_ex(ctx, d, &n) == 1 && n == 16) {
		for (i = 0; i < 16; i++) {
			out[2 * i] = hex[d[i] >> 4];
			out[2 * i + 1] = hex[d[i] & 15];
		}
		out[32] = '\0';
	}
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(d, sizeof(d));
}

/* See scram_client.h. */
bool
mbh_scram_password_is_plain(const char *password)
{
	const unsigned char *p;

	for (p = (const unsigned char *)password; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			return false;
	return true;
}

/* base64 of in[0..len) into a new string; NULL on no memory. */
static char *
b64_encode(const uint8_t *in, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/* Decode base64 in[0..len) into out (room for cap bytes); its length, or -1 when malformed or too long. */
static int
b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	uint8_t buf[SALT_MAX + 4];
	int n;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > sizeof(buf))
		return -1;
	if ((n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len)) < 0)
		return -1;
	if (in[len - 1] == '=')
		n--;
	if (in[len - 2] == '=')
		n--;
	if (n < 0 || (size_t)n > cap)
		return -1;
	memcpy(out, buf, (size_t)n);
	OPENSSL_cleanse(buf, sizeof(buf));
	return n;
}

/* user with '=' and ',' escaped as RFC 5802 says ("=3D", "=2C"); NULL on no memory. */
static char *
escape_user(const char *user)
{
	size_t n = strlen(user), i, o = 0;
	char *out = malloc(3 * n + 1);

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (user[i] == '=' || user[i] == ',') {
			memcpy(out + o, user[i] == '=' ? "=3D" : "=2C", 3);
			o += 3;
		} else {
			out[o++] = user[i];
		}
	}
	out[o] = '\0';
	return out;
}

/* See scram_client.h. */
int
mbh_scram_client_first(mbh_scram_conv *conv, mbh_scram_mech mech, const char *user, const char *nonce,
		       const char **client_first, mbh_error *err)
{
	char *esc = escape_user(user), *bare = NULL, *whole = NULL;
	size_t n;

	memset(conv, 0, sizeof(*conv));
	conv->mech = mech;
	if (esc != NULL && (bare = malloc(strlen(esc) + strlen(nonce) + 6 + 3)) != NULL) {
		n = (size_t)sprintf(bare, "n=%s,r=%s", esc, nonce);
		/* one buffer: "n,," then the bare message, which conv points into */
		memmove(bare + 3, bare, n + 1);
		memcpy(bare, "n,,", 3);
		whole = bare;
	}
	free(esc);
	if (whole == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	conv->client_first = whole;
	*client_first = whole;
	return 0;
}

/* The value of attribute "k=" in msg[0..len) (comma-separated), its length in *vlen; NULL when absent. */
static const char *
attr(const char *msg, size_t len, char k, size_t *vlen)
{
	const char *p = msg, *end = msg + len, *comma;

	while (p < end) {
		comma = memchr(p, ',', (size_t)(end - p));
		if (comma == NULL)
			comma = end;
		if (comma - p >= 2 && p[0] == k && p[1] == '=') {
			*vlen = (size_t)(comma - p - 2);
			return p + 2;
		}
		p = comma + 1;
	}
	return NULL;
}

/* See scram_client.h. */
int
mbh_scram_client_final(mbh_scram_conv *conv, mbh_scram_cache *cache, const char *user, const char *password,
		       const char *server_first, size_t len, mbh_error *err)
{
	const EVP_MD *md = mech_md(conv->mech);
	const char *bare = conv->client_first + 3 /* past "n,," */, *r, *s, *i, *mynonce;
	uint8_t salt[SALT_MAX], ck[MBH_SCRAM_HASH_MAX], sk[MBH_SCRAM_HASH_MAX], stored[MBH_SCRAM_HASH_MAX],
		sig[MBH_SCRAM_HASH_MAX], proof[MBH_SCRAM_HASH_MAX];
	size_t rlen, slen, ilen, mylen, k, hlen, alen;
	char ibuf[16], *end, *auth = NULL, *without_proof = NULL, *p64 = NULL;
	unsigned long iter;
	unsigned int n;
	int salt_len, rc = -1;

	if ((r = attr(server_first, len, 'r', &rlen)) == NULL || (s = attr(server_first, len, 's', &slen)) == NULL ||
	    (i = attr(server_first, len, 'i', &ilen)) == NULL || ilen == 0 || ilen >= sizeof(ibuf) ||
	    memchr(server_first, '\0', len) != NULL)
		return mbh_error_set(err, EX_PROTOCOL, "SCRAM: malformed server-first message");
	mynonce = attr(bare, strlen(bare), 'r', &mylen);
	if (rlen <= mylen || memcmp(r, mynonce, mylen) != 0)
		return mbh_error_set(err, EX_PROTOCOL, "SCRAM: the server's nonce does not extend ours");
	memcpy(ibuf, i, ilen);
	ibuf[ilen] = '\0';
	errno = 0;
	iter = strtoul(ibuf, &end, 10);
	if (*end != '\0' || errno != 0 || iter < MIN_ITERATIONS || iter > 10000000)
		return mbh_error_set(err, EX_PROTOCOL, "SCRAM: the server asks %s iterations (at least %d)", ibuf,
				     MIN_ITERATIONS);
	if ((salt_len = b64_decode(s, slen, salt, sizeof(salt))) <= 0)
		return mbh_error_set(err, EX_PROTOCOL, "SCRAM: malformed salt in the server-first message");
	if (mbh_scram_keys(cache, conv->mech, user, password, salt, (size_t)salt_len, (uint32_t)iter, ck, sk, &hlen,
			   err) != 0)
		goto out;
	/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
	if ((without_proof = malloc(rlen + 10)) == NULL ||
	    (auth = malloc(strlen(bare) + len + rlen + 16)) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	snprintf(without_proof, rlen + 10, "c=biws,r=%.*s", (int)rlen, r);
	alen = (size_t)sprintf(auth, "%s,%.*s,%s", bare, (int)len, server_first, without_proof);
	if (EVP_Digest(ck, hlen, stored, &n, md, NULL) != 1 ||
	    HMAC(md, stored, (int)hlen, (const unsigned char *)auth, alen, sig, &n) == NULL ||
	    HMAC(md, sk, (int)hlen, (const unsigned char *)auth, alen, conv->server_sig, &n) == NULL) {
		mbh_error_set(err, EX_SOFTWARE, "SCRAM: a hash failed in OpenSSL");
		goto out;
	}
	for (k = 0; k < hlen; k++)
		proof[k] = ck[k] ^ sig[k];
	conv->hlen = hlen;
	if ((p64 = b64_encode(proof, hlen)) == NULL ||
	    (conv->client_final = malloc(strlen(without_proof) + strlen(p64) + 4)) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	sprintf(conv->client_final, "%s,p=%s", without_proof, p64);
	rc = 0;
out:
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(sk, sizeof(sk));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(proof, sizeof(proof));
	free(without_proof);
	free(auth);
	free(p64);
	return rc;
}

/* See scram_client.h. */
int
mbh_scram_verify_server(const mbh_scram_conv *conv, const char *server_final, size_t len, mbh_error *err)
{
	uint8_t got[MBH_SCRAM_HASH_MAX + 4];
	const char *v;
	size_t vlen;
	int n;

	if (attr(server_final, len, 'e', &vlen) != NULL)
		return mbh_error_set(err, EX_NOPERM, "SCRAM: the server refused the proof (%.*s)",
				     (int)(vlen > 64 ? 64 : vlen), server_final + 2);
	if (conv->hlen == 0 || (v = attr(server_final, len, 'v', &vlen)) == NULL ||
	    (n = b64_decode(v, vlen, got, sizeof(got))) < 0 || (size_t)n != conv->hlen ||
	    CRYPTO_memcmp(got, conv->server_sig, conv->hlen) != 0)
		return mbh_error_set(err, EX_NOPERM,
				     "the server's SCRAM signature is wrong: it does not know this user's keys "
				     "(check that the connection string names the right servers)");
	return 0;
}

/* See scram_client.h. */
void
mbh_scram_conv_clear(mbh_scram_conv *conv)
{
	if (conv->client_first != NULL) {
		OPENSSL_cleanse(conv->client_first, strlen(conv->client_first));
		free(conv->client_first);
	}
	if (conv->client_final != NULL) {
		OPENSSL_cleanse(conv->client_final, strlen(conv->client_final));
		free(conv->client_final);
	}
	OPENSSL_cleanse(conv, sizeof(*conv));
}

/* ---- the conversation on a stream: OP_MSG commands ---- */

static void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Send cmd as an OP_MSG and read its reply into *reply (initialised on success). */
static int
run_cmd(mongoc_stream_t *stream, int32_t timeout_ms, int32_t request_id, const bson_t *cmd, bson_t *reply,
	mbh_error *err)
{
	uint8_t head[21], *body = NULL;
	bson_t view;
	size_t total = sizeof(head) + cmd->len;
	uint32_t rlen;
	ssize_t n;
	int rc = -1;

	bson_init(reply);
	put_le32(head, (uint32_t)total);
	put_le32(head + 4, (uint32_t)request_id);
	put_le32(head + 8, 0);
	put_le32(head + 12, OP_MSG);
	put_le32(head + 16, 0); /* flagBits */
	head[20] = 0;           /* section kind 0: the body */
	{
		mongoc_iovec_t iov[2] = { { .iov_base = head, .iov_len = sizeof(head) },
					  { .iov_base = (void *)bson_get_data(cmd), .iov_len = cmd->len } };
		if (mongoc_stream_writev(stream, iov, 2, timeout_ms) != (ssize_t)total)
			return mbh_error_set(err, EX_UNAVAILABLE, "SCRAM: cannot send to the server");
	}
	if (mongoc_stream_read(stream, head, 16, 16, timeout_ms) != 16)
		return mbh_error_set(err, EX_UNAVAILABLE, "SCRAM: no reply from the server");
	rlen = get_le32(head);
	if (rlen < 21 || rlen > MSG_MAX || get_le32(head + 12) != OP_MSG || get_le32(head + 8) != (uint32_t)request_id)
		return mbh_error_set(err, EX_PROTOCOL, "SCRAM: the server's reply is not an OP_MSG answer");
	if ((body = malloc(rlen - 16)) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	n = mongoc_stream_read(stream, body, rlen - 16, rlen - 16, timeout_ms);
	if (n != (ssize_t)(rlen - 16)) {
		mbh_error_set(err, EX_UNAVAILABLE, "SCRAM: the server's reply was cut short");
		goto out;
	}
	/* flagBits without checksum, then kind 0 and one document filling the rest */
	if ((get_le32(body) & 1) != 0 || body[4] != 0 || get_le32(body + 5) != rlen - 16 - 5 ||
	    !bson_init_static(&view, body + 5, rlen - 16 - 5) || !bson_validate(&view, 0, NULL)) {
		mbh_error_set(err, EX_PROTOCOL, "SCRAM: malformed reply from the server");
		goto out;
	}
	bson_destroy(reply);
	bson_copy_to(&view, reply); /* the caller's own copy: body is freed below */
	rc = 0;
out:
	free(body);
	return rc;
}

/* From a sasl reply: ok, conversationId, payload, done; or err. */
static int
sasl_reply(const bson_t *reply, int32_t *conv_id, const uint8_t **payload, uint32_t *plen, bool *done,
	   mbh_error *err)
{
	bson_iter_t it;
	bson_subtype_t sub;

	if (!bson_iter_init_find(&it, reply, "ok") || !bson_iter_as_bool(&it)) {
		int32_t code = bson_iter_init_find(&it, reply, "code") ? (int32_t)bson_iter_as_int64(&it) : 0;

		/* 18 AuthenticationFailed, 11 UserNotFound, 334 MechanismUnavailable: the credentials; anything else as said */
		if (code == 18 || code == 11 || code == 334)
			return mbh_error_set(err, EX_NOPERM, "%s", MBH_SCRAM_REFUSED);
		return mbh_error_set(err, EX_UNAVAILABLE, "SCRAM: the server refused the conversation (code %d)",
				     (int)code);
	}
	if (!bson_iter_init_find(&it, reply, "conversationId") || !BSON_ITER_HOLDS_NUMBER(&it))
		return mbh_error_set(err, EX_PROTOCOL, "SCRAM: no conversationId in the server's reply");
	*conv_id = (int32_t)bson_iter_as_int64(&it);
	if (!bson_iter_init_find(&it, reply, "payload") || !BSON_ITER_HOLDS_BINARY(&it))
		return mbh_error_set(err, EX_PROTOCOL, "SCRAM: no payload in the server's reply");
	bson_iter_binary(&it, &sub, plen, payload);
	*done = bson_iter_init_find(&it, reply, "done") && bson_iter_as_bool(&it);
	return 0;
}

/* See scram_client.h. */
int
mbh_scram_auth_stream(mongoc_stream_t *stream, int32_t timeout_ms, mbh_scram_cache *cache, mbh_scram_mech mech,
		      const char *source, const char *user, const char *password, mbh_error *err)
{
	mbh_scram_conv conv = { 0 };
	uint8_t raw[MBH_SCRAM_NONCE_LEN];
	char *nonce = NULL, hashed[33];
	const char *first, *pw = password;
	const uint8_t *payload;
	uint32_t plen;
	int32_t conv_id = 0;
	bson_t cmd, opts, reply = BSON_INITIALIZER;
	bool done = false;
	int rc = -1, step;

	/* SCRAM-SHA-256 wants the SASLprep'ed password; we do not implement SASLprep: libmongoc's path does */
	if (mech == MBH_SCRAM_SHA256 && !mbh_scram_password_is_plain(password))
		return mbh_error_set(err, EX_SOFTWARE, "SCRAM-SHA-256: the password needs SASLprep: "
				     "authenticate through libmongoc instead");
	if (mech == MBH_SCRAM_SHA1) {
		mbh_scram_sha1_password(user, password, hashed);
		pw = hashed;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		mbh_error_set(err, EX_OSERR, "SCRAM: no random bytes for the nonce");
		goto out;
	}
	if ((nonce = b64_encode(raw, sizeof(raw))) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	if (mbh_scram_client_first(&conv, mech, user, nonce, &first, err) != 0)
		goto out;
	bson_init(&cmd);
	BSON_APPEND_INT32(&cmd, "saslStart", 1);
	BSON_APPEND_UTF8(&cmd, "mechanism", mech == MBH_SCRAM_SHA256 ? "SCRAM-SHA-256" : "SCRAM-SHA-1");
	bson_append_binary(&cmd, "payload", 7, BSON_SUBTYPE_BINARY, (const uint8_t *)first, (uint32_t)strlen(first));
	BSON_APPEND_DOCUMENT_BEGIN(&cmd, "options", &opts);
	BSON_APPEND_BOOL(&opts, "skipEmptyExchange", true);
	bson_append_document_end(&cmd, &opts);
	BSON_APPEND_UTF8(&cmd, "$db", source);
	step = run_cmd(stream, timeout_ms, 1, &cmd, &reply, err);
	bson_destroy(&cmd);
	if (step != 0 || sasl_reply(&reply, &conv_id, &payload, &plen, &done, err) != 0)
		goto out;
	if (mbh_scram_client_final(&conv, cache, user, pw, (const char *)payload, plen, err) != 0)
		goto out;
	bson_init(&cmd);
	BSON_APPEND_INT32(&cmd, "saslContinue", 1);
	BSON_APPEND_INT32(&cmd, "conversationId", conv_id);
	bson_append_binary(&cmd, "payload", 7, BSON_SUBTYPE_BINARY, (const uint8_t *)conv.client_final,
			   (uint32_t)strlen(conv.client_final));
	BSON_APPEND_UTF8(&cmd, "$db", source);
	bson_destroy(&reply);
	step = run_cmd(stream, timeout_ms, 2, &cmd, &reply, err);
	bson_destroy(&cmd);
	if (step != 0 || sasl_reply(&reply, &conv_id, &payload, &plen, &done, err) != 0)
		goto out;
	if (mbh_scram_verify_server(&conv, (const char *)payload, plen, err) != 0)
		goto out;
	if (!done) { /* a server that ignores skipEmptyExchange: the empty last step */
		bson_init(&cmd);
		BSON_APPEND_INT32(&cmd, "saslContinue", 1);
		BSON_APPEND_INT32(&cmd, "conversationId", conv_id);
		bson_append_binary(&cmd, "payload", 7, BSON_SUBTYPE_BINARY, (const uint8_t *)"", 0);
		BSON_APPEND_UTF8(&cmd, "$db", source);
		bson_destroy(&reply);
		step = run_cmd(stream, timeout_ms, 3, &cmd, &reply, err);
		bson_destroy(&cmd);
		if (step != 0 || sasl_reply(&reply, &conv_id, &payload, &plen, &done, err) != 0)
			goto out;
		if (!done) {
			mbh_error_set(err, EX_PROTOCOL, "SCRAM: the server did not end the conversation");
			goto out;
		}
	}
	rc = 0;
out:
	bson_destroy(&reply);
	mbh_scram_conv_clear(&conv);
	OPENSSL_cleanse(hashed, sizeof(hashed));
	OPENSSL_cleanse(raw, sizeof(raw));
	free(nonce);
	return rc;
}
