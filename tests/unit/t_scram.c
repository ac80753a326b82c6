/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_scram.c: the SCRAM client against RFC 5802's, RFC 7677's and MongoDB's published conversations; the key cache. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/scram_client.h"
#include "tap.h"

typedef struct vector {
	const char *name;
	mbh_scram_mech mech;
	const char *user, *password, *nonce, *client_first, *server_first, *client_final, *server_final;
} vector;

static const vector vectors[] = {
	{ "RFC 5802 (SCRAM-SHA-1, the password as is)", MBH_SCRAM_SHA1, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL",
	  "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	  "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	  "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	  "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=" },
	{ "RFC 7677 (SCRAM-SHA-256)", MBH_SCRAM_SHA256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO",
	  "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" },
	/* MongoDB's SCRAM-SHA-1: the password is the hex MD5 of "user:mongo:pencil" (hashed by the test below) */
	{ "MongoDB SCRAM-SHA-1 (hashed password)", MBH_SCRAM_SHA1, "user", NULL, "fyko+d2lbbFgONRv9qkxdawL",
	  "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	  "r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000",
	  "c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY=",
	  "v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=" },
};

/* One vector through a conversation; the server-final tampered with when tamper. */
static void
run_vector(const vector *v, mbh_scram_cache *cache)
{
	mbh_scram_conv conv;
	mbh_error err = { 0 };
	char hashed[33], bad[128];
	const char *first, *pw = v->password;
	char name[160];

	if (pw == NULL) {
		mbh_scram_sha1_password(v->user, "pencil", hashed);
		is_str(hashed, "1c33006ec1ffd90f9cadcbcc0e118200", "MongoDB's SCRAM-SHA-1 password: hex MD5 of user:mongo:pw");
		pw = hashed;
	}
	ok(mbh_scram_client_first(&conv, v->mech, v->user, v->nonce, &first, &err) == 0, "%s: client-first", v->name);
	is_str(first, v->client_first, "client-first message");
	snprintf(name, sizeof(name), "%s: client-final (the proof)", v->name);
	ok(mbh_scram_client_final(&conv, cache, v->user, pw, v->server_first, strlen(v->server_first), &err) == 0,
	   "%s: server-first accepted", v->name);
	is_str(conv.client_final, v->client_final, name);
	ok(mbh_scram_verify_server(&conv, v->server_final, strlen(v->server_final), &err) == 0,
	   "%s: the right server signature is accepted", v->name);
	/* one bit off in the signature's first base64 character */
	snprintf(bad, sizeof(bad), "%s", v->server_final);
	bad[strcspn(bad, "=") + 1] ^= 1;
	ok(mbh_scram_verify_server(&conv, bad, strlen(bad), &err) != 0 && err.code == EX_NOPERM,
	   "%s: a wrong server signature is refused (EX_NOPERM)", v->name);
	ok(mbh_scram_verify_server(&conv, "v=", 2, &err) != 0, "%s: an empty signature is refused", v->name);
	ok(mbh_scram_verify_server(&conv, "e=other-error", 13, &err) != 0 && err.code == EX_NOPERM,
	   "%s: a server error is refused", v->name);
	mbh_scram_conv_clear(&conv);
}

int
main(void)
{
	mbh_scram_cache *cache = mbh_scram_cache_new();
	mbh_scram_conv conv;
	mbh_error err = { 0 };
	uint8_t ck1[MBH_SCRAM_HASH_MAX], sk1[MBH_SCRAM_HASH_MAX], ck2[MBH_SCRAM_HASH_MAX], sk2[MBH_SCRAM_HASH_MAX];
	const uint8_t salt_a[] = "salt-a", salt_b[] = "salt-b";
	const char *first;
	size_t i, h1, h2;

	tap_init();
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		run_vector(&vectors[i], cache);
	is_int(mbh_scram_cache_derivations(cache), 3, "three vectors, three derivations");
	run_vector(&vectors[1], cache);
	is_int(mbh_scram_cache_derivations(cache), 3, "the same (mechanism, user, salt, iterations) again: no derivation");

	/* the cache's key: each part of it matters */
	ok(mbh_scram_keys(cache, MBH_SCRAM_SHA256, "u", "pw", salt_a, 6, 4096, ck1, sk1, &h1, &err) == 0 && h1 == 32,
	   "SHA-256 keys are 32 bytes");
	is_int(mbh_scram_cache_derivations(cache), 4, "a new user: derived");
	ok(mbh_scram_keys(cache, MBH_SCRAM_SHA256, "u", "pw", salt_a, 6, 4096, ck2, sk2, &h2, &err) == 0 &&
	   memcmp(ck1, ck2, 32) == 0 && memcmp(sk1, sk2, 32) == 0, "reused keys are the derived ones");
	is_int(mbh_scram_cache_derivations(cache), 4, "same key: reused");
	mbh_scram_keys(cache, MBH_SCRAM_SHA256, "u", "pw", salt_b, 6, 4096, ck2, sk2, &h2, &err);
	ok(mbh_scram_cache_derivations(cache) == 5 && memcmp(ck1, ck2, 32) != 0, "another salt: derived, other keys");
	mbh_scram_keys(cache, MBH_SCRAM_SHA256, "u", "pw", salt_a, 6, 4097, ck2, sk2, &h2, &err);
	is_int(mbh_scram_cache_derivations(cache), 6, "other iterations: derived");
	mbh_scram_keys(cache, MBH_SCRAM_SHA1, "u", "pw", salt_a, 6, 4096, ck2, sk2, &h2, &err);
	ok(mbh_scram_cache_derivations(cache) == 7 && h2 == 20, "other mechanism: derived, 20-byte keys");
	mbh_scram_keys(cache, MBH_SCRAM_SHA256, "v", "pw", salt_a, 6, 4096, ck2, sk2, &h2, &err);
	is_int(mbh_scram_cache_derivations(cache), 7 + 1, "other user: derived");

	/* hostile server-first messages */
	mbh_scram_client_first(&conv, MBH_SCRAM_SHA256, "a=b,c", "abc", &first, &err);
	is_str(first, "n,,n=a=3Db=2Cc,r=abc", "the user name is escaped (= and ,)");
	ok(mbh_scram_client_final(&conv, cache, "u", "pw", "r=xyzdef,s=c2FsdA==,i=4096", 26, &err) != 0 &&
	   err.code == EX_PROTOCOL, "a server nonce that does not extend ours is refused");
	ok(mbh_scram_client_final(&conv, cache, "u", "pw", "r=abcdef,s=c2FsdA==,i=1", 23, &err) != 0 &&
	   err.code == EX_PROTOCOL, "fewer than 4096 iterations is refused");
	ok(mbh_scram_client_final(&conv, cache, "u", "pw", "r=abcdef,s=c2Fsd,i=4096", 23, &err) != 0,
	   "a malformed salt is refused");
	ok(mbh_scram_client_final(&conv, cache, "u", "pw", "r=abcdef,i=4096", 15, &err) != 0,
	   "no salt is refused");
	ok(mbh_scram_verify_server(&conv, "v=AAAA", 6, &err) != 0, "no proof computed: any signature is refused");
	mbh_scram_conv_clear(&conv);

	ok(mbh_scram_password_is_plain("pencil ~!"), "printable ASCII needs no SASLprep");
	ok(!mbh_scram_password_is_plain("p\xc3\xa9ncil") && !mbh_scram_password_is_plain("a\tb"),
	   "non-ASCII or a control character needs SASLprep");
	/* no SASLprep here: such a password is refused before any I/O (the stream is never touched) */
	ok(mbh_scram_auth_stream(NULL, 1000, cache, MBH_SCRAM_SHA256, "admin", "u", "p\xc3\xa9ncil", &err) != 0 &&
	   err.code == EX_SOFTWARE, "SCRAM-SHA-256 with a password needing SASLprep: left to libmongoc (%s)", err.msg);
	mbh_scram_cache_free(cache);
	return tap_done();
}
