/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_sim_scram.c: the simulator's SCRAM server against the spec vectors and a client written here. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "scram.h"
#include "tap.h"

/* The creds the lookup hands out: one user per mechanism table. */
struct users {
	const char *name;
	sim_scram_creds creds;
	int calls;
	char last[64];
};

static const sim_scram_creds *
lookup(void *ctx, const char *user, sim_scram_mech mech)
{
	struct users *u = ctx;

	u->calls++;
	snprintf(u->last, sizeof u->last, "%s", user);
	if (strcmp(user, u->name) == 0 && u->creds.mech == mech)
		return &u->creds;
	return NULL;
}

static size_t
b64_dec(uint8_t *out, const char *in)
{
	size_t len = strlen(in);
	int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);

	if (n < 0)
		return 0;
	if (len >= 1 && in[len - 1] == '=')
		n--;
	if (len >= 2 && in[len - 2] == '=')
		n--;
	return (size_t)n;
}

/*
 * A minimal SCRAM client: from client-first-bare and server-first, computes
 * client-final (with c=cb64) into out and the expected "v=..." into expect_v.
 */
static int
client_final(char *out, size_t outlen, char *expect_v, size_t vlen, sim_scram_mech mech, const char *user,
             const char *password, const char *bare, const char *server_first, const char *cb64)
{
	const EVP_MD *md = mech == SIM_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
	size_t hlen = mech == SIM_SCRAM_SHA1 ? 20 : 32;
	char nonce[256];
	char salt64[128];
	uint8_t salt[128];
	size_t salt_len;
	int iter;
	char pw[256];
	uint8_t md5[16];
	unsigned int ol;
	uint8_t salted[32], ck[32], sk[32], stored[32], sig[32], proof[32], ssig[32];
	char without[512];
	char auth[1024];
	char b64[64];
	const char *r, *s, *i;
	size_t k;

	r = strstr(server_first, "r=");
	s = strstr(server_first, ",s=");
	i = strstr(server_first, ",i=");
	if (r != server_first || s == NULL || i == NULL || s < r || i < s)
		return -1;
	snprintf(nonce, sizeof nonce, "%.*s", (int)(s - r - 2), r + 2);
	snprintf(salt64, sizeof salt64, "%.*s", (int)(i - s - 3), s + 3);
	iter = (int)strtol(i + 3, NULL, 10);
	salt_len = b64_dec(salt, salt64);
	if (mech == SIM_SCRAM_SHA1) {
		char in[256];

		snprintf(in, sizeof in, "%s:mongo:%s", user, password);
		EVP_Digest(in, strlen(in), md5, &ol, EVP_md5(), NULL);
		for (k = 0; k < 16; k++)
			snprintf(pw + 2 * k, 3, "%02x", md5[k]);
	} else {
		snprintf(pw, sizeof pw, "%s", password);
	}
	PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, (int)salt_len, iter, md, (int)hlen, salted);
	HMAC(md, salted, (int)hlen, (const unsigned char *)"Client Key", 10, ck, &ol);
	HMAC(md, salted, (int)hlen, (const unsigned char *)"Server Key", 10, sk, &ol);
	EVP_Digest(ck, hlen, stored, &ol, md, NULL);
	if (snprintf(without, sizeof without, "c=%s,r=%s", cb64, nonce) >= (int)sizeof without ||
	    snprintf(auth, sizeof auth, "%s,%s,%s", bare, server_first, without) >= (int)sizeof auth)
		return -1;
	HMAC(md, stored, (int)hlen, (const unsigned char *)auth, strlen(auth), sig, &ol);
	for (k = 0; k < hlen; k++)
		proof[k] = ck[k] ^ sig[k];
	HMAC(md, sk, (int)hlen, (const unsigned char *)auth, strlen(auth), ssig, &ol);
	EVP_EncodeBlock((unsigned char *)b64, proof, (int)hlen);
	if (snprintf(out, outlen, "%s,p=%s", without, b64) >= (int)outlen)
		return -1;
	EVP_EncodeBlock((unsigned char *)b64, ssig, (int)hlen);
	if (snprintf(expect_v, vlen, "v=%s", b64) >= (int)vlen)
		return -1;
	return 0;
}

/* Start a conversation from a C string; returns sim_scram_start's result. */
static int
start(sim_scram_conv **c, sim_scram_mech mech, const char *cf, struct users *u, const char *snonce, char **sf)
{
	char err[256];

	return sim_scram_start(c, mech, cf, strlen(cf), lookup, u, snonce, sf, err, sizeof err);
}

static int
finish(sim_scram_conv *c, const char *cfin, char **sfin)
{
	char err[256];

	return sim_scram_finish(c, cfin, strlen(cfin), sfin, err, sizeof err);
}

/*
 * The MongoDB auth spec's SHA-1 conversation (its server nonce is
 * Ho+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE; RFC 5802's 3rfcNHYJY1ZVvWVs7j belongs to
 * a different salt and password) and RFC 7677's SHA-256 one.
 */
static void
test_vectors(void)
{
	struct users u = { .name = "user" };
	uint8_t salt[32];
	size_t sl;
	sim_scram_conv *c = NULL;
	char *sf = NULL;
	char *sfin = NULL;
	char *sf2 = NULL;
	int r;

	sl = b64_dec(salt, "rQ9ZY3MntBeuP3E1TDVC4w==");
	ok(sl == 16 && sim_scram_derive(&u.creds, SIM_SCRAM_SHA1, "user", "pencil", salt, sl, 10000) == 0,
	   "SHA-1 vector: derive with the spec salt and i=10000");
	r = start(&c, SIM_SCRAM_SHA1, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &u, "Ho+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE", &sf);
	ok(r == 0 && sf != NULL &&
	       strcmp(sf, "r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000") == 0,
	   "SHA-1 vector: server-first is the spec's (%s)", sf ? sf : "NULL");
	r = finish(c, "c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY=", &sfin);
	ok(r == 1, "SHA-1 vector: the spec proof is accepted");
	ok(sfin != NULL && strcmp(sfin, "v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=") == 0, "SHA-1 vector: server-final is the spec's");
	ok(sim_scram_user(c) != NULL && strcmp(sim_scram_user(c), "user") == 0, "SHA-1 vector: user is authenticated");
	sim_scram_conv_free(c);
	free(sf);
	free(sfin);
	c = NULL;
	sf = sfin = NULL;

	sl = b64_dec(salt, "W22ZaJ0SNY7soEsUEjb6gQ==");
	ok(sl == 16 && sim_scram_derive(&u.creds, SIM_SCRAM_SHA256, "user", "pencil", salt, sl, 4096) == 0,
	   "SHA-256 vector: derive with the RFC 7677 16-byte salt and i=4096");
	r = start(&c, SIM_SCRAM_SHA256, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &u, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", &sf);
	ok(r == 0 && sf != NULL &&
	       strcmp(sf, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") == 0,
	   "SHA-256 vector: server-first is the RFC's");
	r = finish(c, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	           &sfin);
	ok(r == 1, "SHA-256 vector: the RFC proof is accepted");
	ok(sfin != NULL && strcmp(sfin, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") == 0,
	   "SHA-256 vector: server-final is the RFC's");
	r = finish(c, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	           &sf2);
	ok(r == -1 && sf2 == NULL, "a second client-final on a finished conversation is refused");
	sim_scram_conv_free(c);
	free(sf);
	free(sfin);
	c = NULL;
	sfin = NULL;
	sf = NULL;

	/* Wrong proof: one character of the RFC proof changed. */
	start(&c, SIM_SCRAM_SHA256, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &u, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", &sf);
	r = finish(c, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	           &sfin);
	ok(r == 0 && sfin == NULL && sim_scram_user(c) == NULL, "a wrong proof fails authentication (0), no server-final");
	sim_scram_conv_free(c);
	free(sf);
}

/* Full exchanges with random salts and nonces, the client computed above. */
static void
test_client(sim_scram_mech mech, const char *user, const char *escaped, const char *gs2, const char *cb64)
{
	struct users u = { .name = user };
	sim_scram_conv *c = NULL;
	char *sf = NULL;
	char *sfin = NULL;
	char cf[256], bare[256], cfin[512], expect[128];
	char nonce[64];
	uint8_t rnd[18];
	int r;
	const char *name = sim_scram_mech_name(mech);

	ok(sim_scram_derive(&u.creds, mech, user, "s3cret pass,=", NULL, 0, 4096) == 0, "%s %s: derive random", name, gs2);
	RAND_bytes(rnd, sizeof rnd);
	EVP_EncodeBlock((unsigned char *)nonce, rnd, sizeof rnd);
	snprintf(bare, sizeof bare, "n=%s,r=%s", escaped, nonce);
	snprintf(cf, sizeof cf, "%s%s", gs2, bare);
	r = start(&c, mech, cf, &u, NULL, &sf);
	ok(r == 0 && strcmp(u.last, user) == 0 && strncmp(sf + 2, nonce, strlen(nonce)) == 0 &&
	       strlen(sf) > strlen(nonce) + 2 + 4,
	   "%s %s: server-first extends the client nonce (lookup saw \"%s\")", name, gs2, u.last);
	client_final(cfin, sizeof cfin, expect, sizeof expect, mech, user, "s3cret pass,=", bare, sf, cb64);
	r = finish(c, cfin, &sfin);
	ok(r == 1 && sfin != NULL && strcmp(sfin, expect) == 0, "%s %s: client proof accepted, server signature right",
	   name, gs2);
	ok(sim_scram_user(c) != NULL && strcmp(sim_scram_user(c), user) == 0, "%s %s: authenticated user", name, gs2);
	sim_scram_conv_free(c);
	free(sf);
	free(sfin);
}

/* A wrong password computed by the real client is refused with 0. */
static void
test_wrong_password(sim_scram_mech mech)
{
	struct users u = { .name = "backup" };
	sim_scram_conv *c = NULL;
	char *sf = NULL;
	char *sfin = NULL;
	char cfin[512], expect[128];

	sim_scram_derive(&u.creds, mech, "backup", "right", NULL, 0, 4096);
	start(&c, mech, "n,,n=backup,r=abcdefghijkl", &u, NULL, &sf);
	client_final(cfin, sizeof cfin, expect, sizeof expect, mech, "backup", "wrong", "n=backup,r=abcdefghijkl", sf,
	             "biws");
	ok(finish(c, cfin, &sfin) == 0 && sfin == NULL, "%s: wrong password => 0", sim_scram_mech_name(mech));
	sim_scram_conv_free(c);
	free(sf);
}

/* Unknown users get a stable fake salt of the right length and always fail. */
static void
test_unknown_user(sim_scram_mech mech)
{
	struct users u = { .name = "backup" };
	sim_scram_conv *c = NULL;
	char *sf1 = NULL, *sf2 = NULL, *sfin = NULL;
	char cfin[512], expect[128], salt64[64];
	uint8_t salt[64];
	const char *s, *i;
	size_t want = mech == SIM_SCRAM_SHA1 ? 16 : 28;

	sim_scram_derive(&u.creds, mech, "backup", "pw", NULL, 0, 4096);
	start(&c, mech, "n,,n=nobody,r=nonce1", &u, "S1", &sf1);
	sim_scram_conv_free(c);
	c = NULL;
	ok(start(&c, mech, "n,,n=nobody,r=nonce1", &u, "S1", &sf2) == 0 && sf1 != NULL && strcmp(sf1, sf2) == 0,
	   "%s: unknown user gets a plausible, deterministic server-first", sim_scram_mech_name(mech));
	s = strstr(sf2, ",s=");
	i = strstr(sf2, ",i=");
	snprintf(salt64, sizeof salt64, "%.*s", (int)(i - s - 3), s + 3);
	ok(b64_dec(salt, salt64) == want, "%s: fake salt is %zu bytes", sim_scram_mech_name(mech), want);
	client_final(cfin, sizeof cfin, expect, sizeof expect, mech, "nobody", "pw", "n=nobody,r=nonce1", sf2, "biws");
	ok(finish(c, cfin, &sfin) == 0 && sfin == NULL, "%s: unknown user => 0", sim_scram_mech_name(mech));
	sim_scram_conv_free(c);
	free(sf1);
	free(sf2);
}

/* Malformed client-first messages are -1 with a reason. */
static void
test_bad_first(void)
{
	static const struct {
		const char *msg;
		const char *why;
	} cases[] = {
		{ "", "empty" },
		{ "p=tls-unique,,n=user,r=abc", "channel binding p=" },
		{ "n,a=admin,n=user,r=abc", "authzid" },
		{ "x,,n=user,r=abc", "unknown gs2 flag" },
		{ "n,,r=abc", "no user" },
		{ "n,,n=us=er,r=abc", "bad escape" },
		{ "n,,n=us=2,r=abc", "truncated escape" },
		{ "n,,n=,r=abc", "empty user" },
		{ "n,,n=user", "no nonce" },
		{ "n,,n=user,r=", "empty nonce" },
		{ "n,,m=ext,n=user,r=abc", "reserved m= extension" },
		{ "n,,n=user,r=abc,", "trailing comma" },
	};
	struct users u = { .name = "user" };
	sim_scram_conv *c;
	char *sf;
	char err[256];
	size_t k;
	int r;

	sim_scram_derive(&u.creds, SIM_SCRAM_SHA256, "user", "pencil", NULL, 0, 4096);
	for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		err[0] = '\0';
		c = (sim_scram_conv *)1;
		sf = (char *)1;
		r = sim_scram_start(&c, SIM_SCRAM_SHA256, cases[k].msg, strlen(cases[k].msg), lookup, &u, NULL, &sf, err,
		                    sizeof err);
		ok(r == -1 && c == NULL && sf == NULL && err[0] != '\0', "client-first %s => -1 (%s)", cases[k].why, err);
	}
	/* An embedded NUL must not be read past. */
	r = sim_scram_start(&c, SIM_SCRAM_SHA256, "n,,n=user\0,r=abc", 16, lookup, &u, NULL, &sf, err, sizeof err);
	ok(r == -1, "client-first with an embedded NUL => -1 (%s)", err);
}

/* Malformed client-final messages are -1. */
static void
test_bad_final(void)
{
	static const struct {
		const char *msg;
		const char *why;
	} cases[] = {
		{ "c=eSws,r=abcSRV,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "c= of y,, after n,," },
		{ "c=biws,r=abc,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "nonce without the server part" },
		{ "c=biws,r=abcSRVx,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "nonce extended" },
		{ "c=biws,r=abcSRV", "no proof" },
		{ "c=biws,r=abcSRV,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,x=1", "proof not last" },
		{ "c=biws,r=abcSRV,p=AAAA", "proof of the wrong length" },
		{ "c=biws,r=abcSRV,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!=", "proof not base64" },
		{ "r=abcSRV,c=biws,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "attributes out of order" },
	};
	struct users u = { .name = "user" };
	sim_scram_conv *c = NULL;
	char *sf = NULL, *sfin;
	char err[256];
	size_t k;
	int r;

	sim_scram_derive(&u.creds, SIM_SCRAM_SHA256, "user", "pencil", NULL, 0, 4096);
	for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		start(&c, SIM_SCRAM_SHA256, "n,,n=user,r=abc", &u, "SRV", &sf);
		err[0] = '\0';
		sfin = (char *)1;
		r = sim_scram_finish(c, cases[k].msg, strlen(cases[k].msg), &sfin, err, sizeof err);
		ok(r == -1 && sfin == NULL && err[0] != '\0', "client-final %s => -1 (%s)", cases[k].why, err);
		sim_scram_conv_free(c);
		free(sf);
		c = NULL;
		sf = NULL;
	}
	/* y,, header: c= must be base64("y,,") */
	start(&c, SIM_SCRAM_SHA256, "y,,n=user,r=abc", &u, "SRV", &sf);
	r = finish(c, "c=biws,r=abcSRV,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &sfin);
	ok(r == -1, "client-final c=biws after a y,, header => -1");
	sim_scram_conv_free(c);
	free(sf);
	ok(sim_scram_finish(NULL, "c=biws", 6, &sfin, err, sizeof err) == -1, "finish without a conversation => -1");
}

/* Key derivation rules. */
static void
test_derive(void)
{
	sim_scram_creds a, b;
	uint8_t salt[29] = { 0 };
	sim_scram_mech m;

	ok(sim_scram_derive(&a, SIM_SCRAM_SHA256, "u", "p", NULL, 0, 4095) == -1, "SHA-256: 4095 iterations refused");
	ok(sim_scram_derive(&a, SIM_SCRAM_SHA1, "u", "p", NULL, 0, 1) == -1, "SHA-1: 1 iteration refused");
	ok(sim_scram_derive(&a, SIM_SCRAM_SHA1, "u", "p", NULL, 0, 4096) == 0 && a.salt_len == 16 && a.key_len == 20 &&
	       a.iterations == 4096,
	   "SHA-1: random salt is 16 bytes, keys 20");
	ok(sim_scram_derive(&b, SIM_SCRAM_SHA256, "u", "p", NULL, 0, 15000) == 0 && b.salt_len == 28 && b.key_len == 32,
	   "SHA-256: random salt is 28 bytes, keys 32");
	ok(sim_scram_derive(&b, SIM_SCRAM_SHA1, "u", "p", NULL, 0, 4096) == 0 && memcmp(a.salt, b.salt, 16) != 0,
	   "two random salts differ");
	ok(sim_scram_derive(&a, SIM_SCRAM_SHA256, "u", "p", salt, 0, 4096) == -1, "a caller salt of 0 bytes is refused");
	ok(sim_scram_derive(&a, SIM_SCRAM_SHA256, "u", "p", salt, 29, 4096) == -1, "a caller salt of 29 bytes is refused");
	ok(sim_scram_derive(&a, (sim_scram_mech)7, "u", "p", NULL, 0, 4096) == -1, "an unknown mechanism is refused");
	ok(sim_scram_mech_parse("SCRAM-SHA-1", &m) == 0 && m == SIM_SCRAM_SHA1 &&
	       sim_scram_mech_parse("SCRAM-SHA-256", &m) == 0 && m == SIM_SCRAM_SHA256 &&
	       sim_scram_mech_parse("PLAIN", &m) == -1 && sim_scram_mech_parse("scram-sha-1", &m) == -1,
	   "mechanism names parse exactly");
	ok(strcmp(sim_scram_mech_name(SIM_SCRAM_SHA1), "SCRAM-SHA-1") == 0 &&
	       strcmp(sim_scram_mech_name(SIM_SCRAM_SHA256), "SCRAM-SHA-256") == 0,
	   "mechanism names print");
}

int
main(void)
{
	tap_init();
	test_vectors();
	test_client(SIM_SCRAM_SHA1, "backup", "backup", "n,,", "biws");
	test_client(SIM_SCRAM_SHA256, "backup", "backup", "n,,", "biws");
	test_client(SIM_SCRAM_SHA256, "a,b=c", "a=2Cb=3Dc", "n,,", "biws");
	test_client(SIM_SCRAM_SHA1, "a,b=c", "a=2Cb=3Dc", "y,,", "eSws");
	test_wrong_password(SIM_SCRAM_SHA1);
	test_wrong_password(SIM_SCRAM_SHA256);
	test_unknown_user(SIM_SCRAM_SHA1);
	test_unknown_user(SIM_SCRAM_SHA256);
	test_bad_first();
	test_bad_final();
	test_derive();
	return tap_done();
}
