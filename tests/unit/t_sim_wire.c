/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_sim_wire.c: the simulator's wire codec: round trips, kind-1 folding and malformed frames. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "tap.h"

/* A growable byte buffer to build frames by hand. */
struct buf {
	uint8_t b[8192];
	size_t n;
};

static void
put_bytes(struct buf *b, const void *p, size_t len)
{
	if (b->n + len > sizeof b->b)
		abort();
	memcpy(b->b + b->n, p, len);
	b->n += len;
}

static void
put_u8(struct buf *b, uint8_t v)
{
	put_bytes(b, &v, 1);
}

static void
put_i32_at(uint8_t *p, int32_t v)
{
	uint32_t u = (uint32_t)v;

	p[0] = (uint8_t)u;
	p[1] = (uint8_t)(u >> 8);
	p[2] = (uint8_t)(u >> 16);
	p[3] = (uint8_t)(u >> 24);
}

static void
put_i32(struct buf *b, int32_t v)
{
	uint8_t t[4];

	put_i32_at(t, v);
	put_bytes(b, t, 4);
}

static int32_t
get_i32_at(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static void
put_doc(struct buf *b, const bson_t *d)
{
	put_bytes(b, bson_get_data(d), d->len);
}

/* Header with a placeholder length; fix_len() patches it. */
static void
header(struct buf *b, int32_t id, int32_t opcode)
{
	b->n = 0;
	put_i32(b, 0);
	put_i32(b, id);
	put_i32(b, 0);
	put_i32(b, opcode);
}

static void
fix_len(struct buf *b)
{
	put_i32_at(b->b, (int32_t)b->n);
}

/* Start of a kind-1 section; returns its offset for end_seq(). */
static size_t
begin_seq(struct buf *b, const char *ident)
{
	size_t at;

	put_u8(b, 1);
	at = b->n;
	put_i32(b, 0);
	put_bytes(b, ident, strlen(ident) + 1);
	return at;
}

static void
end_seq(struct buf *b, size_t at)
{
	put_i32_at(b->b + at, (int32_t)(b->n - at));
}

/* Decode from an exact-size heap copy so ASan sees any read past the end. */
static int
decode(sim_msg *m, const uint8_t *bytes, size_t len, char *err, size_t errlen)
{
	uint8_t *copy = malloc(len ? len : 1);
	int r;

	memcpy(copy, bytes, len);
	r = sim_wire_decode(m, copy, len, err, errlen);
	free(copy);
	return r;
}

/* A malformed frame must give -1, a reason and a clean msg. */
static void
expect_fail(const char *name, const uint8_t *bytes, size_t len)
{
	sim_msg m;
	char err[256] = "";
	int r;

	memset(&m, 0x5a, sizeof m);
	r = decode(&m, bytes, len, err, sizeof err);
	ok(r == -1 && err[0] != '\0' && !m.has_body, "malformed: %s => -1 (%s)", name, err);
	if (r == 0)
		sim_msg_clean(&m);
}

static bool
same_doc(const bson_t *a, const bson_t *b)
{
	return a->len == b->len && memcmp(bson_get_data(a), bson_get_data(b), a->len) == 0;
}

/* OP_QUERY in, OP_REPLY out. */
static void
test_query_roundtrip(void)
{
	bson_t *q = BCON_NEW("isMaster", BCON_INT32(1), "helloOk", BCON_BOOL(true));
	bson_t *reply = BCON_NEW("ok", BCON_DOUBLE(1.0), "ismaster", BCON_BOOL(true));
	sim_msg m;
	char err[256];
	size_t n = 0;
	size_t rn = 0;
	uint8_t *f = sim_wire_encode_query(42, 4, "admin.$cmd", q, &n);
	uint8_t *r;
	int rc;

	ok(f != NULL && sim_wire_frame_len(f, n) == (int64_t)n, "OP_QUERY: frame_len reads the header");
	rc = decode(&m, f, n, err, sizeof err);
	ok(rc == 0 && m.opcode == SIM_OP_QUERY && m.request_id == 42 && m.response_to == 0 && m.flags == 4 &&
	       strcmp(m.ns, "admin.$cmd") == 0 && m.has_body && same_doc(&m.body, q),
	   "OP_QUERY: decoded header, flags, ns and query");
	r = sim_wire_encode_reply(&m, 7, reply, &rn);
	ok(r != NULL && rn == 16 + 20 + reply->len && get_i32_at(r) == (int32_t)rn && get_i32_at(r + 4) == 7 &&
	       get_i32_at(r + 8) == 42 && get_i32_at(r + 12) == SIM_OP_REPLY,
	   "OP_REPLY: header length, requestID, responseTo = request's id, opCode 1");
	ok(r != NULL && get_i32_at(r + 16) == 0 && get_i32_at(r + 20) == 0 && get_i32_at(r + 24) == 0 &&
	       get_i32_at(r + 28) == 0 && get_i32_at(r + 32) == 1 && memcmp(r + 36, bson_get_data(reply), reply->len) == 0,
	   "OP_REPLY: responseFlags 0, cursorID 0, startingFrom 0, numberReturned 1, the document");
	free(r);
	sim_msg_clean(&m);
	sim_msg_clean(&m);
	ok(!m.has_body, "sim_msg_clean twice is safe");
	free(f);

	/* An optional returnFieldsSelector is accepted and ignored. */
	{
		struct buf b;
		bson_t *sel = BCON_NEW("x", BCON_INT32(1));

		header(&b, 5, SIM_OP_QUERY);
		put_i32(&b, 0);
		put_bytes(&b, "admin.$cmd", 11);
		put_i32(&b, 0);
		put_i32(&b, -1);
		put_doc(&b, q);
		put_doc(&b, sel);
		fix_len(&b);
		rc = decode(&m, b.b, b.n, err, sizeof err);
		ok(rc == 0 && same_doc(&m.body, q), "OP_QUERY: returnFieldsSelector accepted, body is the query");
		sim_msg_clean(&m);
		put_u8(&b, 0);
		fix_len(&b);
		expect_fail("OP_QUERY trailing byte after the selector", b.b, b.n);
		bson_destroy(sel);
	}
	bson_destroy(q);
	bson_destroy(reply);
}

/* OP_MSG in, OP_MSG out. */
static void
test_msg_roundtrip(void)
{
	bson_t *body = BCON_NEW("ping", BCON_INT32(1), "$db", "admin");
	bson_t *reply = BCON_NEW("ok", BCON_DOUBLE(1.0));
	sim_msg m, m2;
	char err[256];
	size_t n = 0, rn = 0;
	uint8_t *f = sim_wire_encode_msg(99, 0, body, &n);
	uint8_t *r;
	int rc;

	rc = decode(&m, f, n, err, sizeof err);
	ok(rc == 0 && m.opcode == SIM_OP_MSG && m.request_id == 99 && m.flags == 0 && m.ns[0] == '\0' &&
	       same_doc(&m.body, body),
	   "OP_MSG: decoded requestID, flagBits, empty ns and body");
	r = sim_wire_encode_reply(&m, 100, reply, &rn);
	ok(r != NULL && rn == 16 + 5 + reply->len && get_i32_at(r) == (int32_t)rn && get_i32_at(r + 4) == 100 &&
	       get_i32_at(r + 8) == 99 && get_i32_at(r + 12) == SIM_OP_MSG,
	   "OP_MSG reply: length, requestID, responseTo = request's id, opCode 2013");
	ok(r != NULL && get_i32_at(r + 16) == 0 && r[20] == 0 && memcmp(r + 21, bson_get_data(reply), reply->len) == 0,
	   "OP_MSG reply: flagBits 0 and exactly one kind-0 section holding the document");
	rc = decode(&m2, r, rn, err, sizeof err);
	ok(rc == 0 && m2.response_to == 99 && same_doc(&m2.body, reply), "OP_MSG reply decodes back to the document");
	sim_msg_clean(&m2);
	free(r);
	sim_msg_clean(&m);
	free(f);

	f = sim_wire_encode_msg(1, SIM_MSG_MORE_TO_COME, body, &n);
	rc = decode(&m, f, n, err, sizeof err);
	ok(rc == 0 && m.flags == SIM_MSG_MORE_TO_COME, "OP_MSG: moreToCome is passed through");
	sim_msg_clean(&m);
	free(f);
	f = sim_wire_encode_msg(1, SIM_MSG_EXHAUST_ALLOWED, body, &n);
	rc = decode(&m, f, n, err, sizeof err);
	ok(rc == 0 && m.flags == SIM_MSG_EXHAUST_ALLOWED, "OP_MSG: exhaustAllowed (bit 16) is accepted");
	sim_msg_clean(&m);
	free(f);

	f = sim_wire_encode_msg(1, SIM_MSG_CHECKSUM_PRESENT, body, &n);
	rc = decode(&m, f, n, err, sizeof err);
	ok(rc == 0 && n == 16 + 5 + body->len + 4 && same_doc(&m.body, body),
	   "OP_MSG: a correct CRC-32C checksum is accepted");
	sim_msg_clean(&m);
	f[n - 1] ^= 0x40;
	expect_fail("checksum mismatch", f, n);
	free(f);

	/* sim_wire_encode_reply with an OP_MSG request never sets checksumPresent, even if the request had it. */
	ok(sim_wire_crc32c((const uint8_t *)"123456789", 9) == 0xe3069283u, "CRC-32C check value of \"123456789\"");
	bson_destroy(body);
	bson_destroy(reply);
}

/* Kind-1 document sequences are folded into the body as arrays. */
static void
test_kind1(void)
{
	bson_t *body = BCON_NEW("insert", "coll", "$db", "db");
	bson_t *d1 = BCON_NEW("_id", BCON_INT32(1));
	bson_t *d2 = BCON_NEW("_id", BCON_INT32(2), "s", "two");
	bson_t *u1 = BCON_NEW("q", "{", "}", "u", "{", "$set", "{", "x", BCON_INT32(1), "}", "}");
	bson_t *expect1 = BCON_NEW("insert", "coll", "$db", "db", "documents", "[", "{", "_id", BCON_INT32(1), "}", "{",
	                           "_id", BCON_INT32(2), "s", "two", "}", "]");
	bson_t *expect2 = BCON_NEW("insert", "coll", "$db", "db", "documents", "[", "{", "_id", BCON_INT32(1), "}", "]",
	                           "updates", "[", "{", "q", "{", "}", "u", "{", "$set", "{", "x", BCON_INT32(1), "}",
	                           "}", "}", "]");
	bson_t *expect0 = BCON_NEW("insert", "coll", "$db", "db", "documents", "[", "]");
	struct buf b;
	size_t at, at2;
	sim_msg m;
	char err[256];
	int rc;

	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	at = begin_seq(&b, "documents");
	put_doc(&b, d1);
	put_doc(&b, d2);
	end_seq(&b, at);
	fix_len(&b);
	rc = decode(&m, b.b, b.n, err, sizeof err);
	ok(rc == 0 && bson_equal(&m.body, expect1), "kind-1: one sequence of two documents folded as an array");
	sim_msg_clean(&m);

	/* The sequence may come before the body. */
	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	at = begin_seq(&b, "documents");
	put_doc(&b, d1);
	put_doc(&b, d2);
	end_seq(&b, at);
	put_u8(&b, 0);
	put_doc(&b, body);
	fix_len(&b);
	rc = decode(&m, b.b, b.n, err, sizeof err);
	ok(rc == 0 && bson_equal(&m.body, expect1), "kind-1: a sequence before the kind-0 section folds the same");
	sim_msg_clean(&m);

	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	at = begin_seq(&b, "documents");
	put_doc(&b, d1);
	end_seq(&b, at);
	at2 = begin_seq(&b, "updates");
	put_doc(&b, u1);
	end_seq(&b, at2);
	fix_len(&b);
	rc = decode(&m, b.b, b.n, err, sizeof err);
	ok(rc == 0 && bson_equal(&m.body, expect2), "kind-1: two sequences folded in order");
	sim_msg_clean(&m);

	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	at = begin_seq(&b, "documents");
	end_seq(&b, at);
	fix_len(&b);
	rc = decode(&m, b.b, b.n, err, sizeof err);
	ok(rc == 0 && bson_equal(&m.body, expect0), "kind-1: a sequence of zero documents is an empty array");
	sim_msg_clean(&m);

	/* Duplicates. */
	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, expect0);
	at = begin_seq(&b, "documents");
	put_doc(&b, d1);
	end_seq(&b, at);
	fix_len(&b);
	expect_fail("kind-1 identifier already a body field", b.b, b.n);

	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	at = begin_seq(&b, "documents");
	put_doc(&b, d1);
	end_seq(&b, at);
	at = begin_seq(&b, "documents");
	put_doc(&b, d2);
	end_seq(&b, at);
	fix_len(&b);
	expect_fail("two kind-1 sections with the same identifier", b.b, b.n);

	/* Structure of the section itself. */
	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	at = begin_seq(&b, "documents");
	put_doc(&b, d1);
	end_seq(&b, at);
	put_i32_at(b.b + at, (int32_t)(b.n - at + 10));
	fix_len(&b);
	expect_fail("kind-1 section size overruns the message", b.b, b.n);

	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	at = begin_seq(&b, "documents");
	put_doc(&b, d1);
	end_seq(&b, at);
	put_i32_at(b.b + at, (int32_t)(b.n - at - 2)); /* the document overruns its section */
	put_u8(&b, 0);
	put_u8(&b, 0);
	fix_len(&b);
	expect_fail("document overruns its kind-1 section", b.b, b.n);

	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	put_u8(&b, 1);
	put_i32(&b, 3);
	fix_len(&b);
	expect_fail("kind-1 section size below 5", b.b, b.n);

	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	put_u8(&b, 1);
	put_i32(&b, 8);
	put_bytes(&b, "docu", 4);
	fix_len(&b);
	expect_fail("unterminated kind-1 identifier", b.b, b.n);

	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	at = begin_seq(&b, "");
	put_doc(&b, d1);
	end_seq(&b, at);
	fix_len(&b);
	expect_fail("empty kind-1 identifier", b.b, b.n);

	/* Found by the fuzzer: the identifier becomes a key, so it must be UTF-8. */
	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	at = begin_seq(&b, "\x96\x90" "cuments");
	put_doc(&b, d1);
	end_seq(&b, at);
	fix_len(&b);
	expect_fail("kind-1 identifier that is not UTF-8", b.b, b.n);

	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	put_u8(&b, 1);
	put_bytes(&b, "\x10\0", 2);
	fix_len(&b);
	expect_fail("kind-1 section truncated inside its size", b.b, b.n);

	bson_destroy(body);
	bson_destroy(d1);
	bson_destroy(d2);
	bson_destroy(u1);
	bson_destroy(expect0);
	bson_destroy(expect1);
	bson_destroy(expect2);
}

/* Header-level rules and sim_wire_frame_len. */
static void
test_lengths(void)
{
	bson_t *body = BCON_NEW("ping", BCON_INT32(1));
	struct buf b;
	uint8_t small[4];
	size_t n = 0;
	uint8_t *f = sim_wire_encode_msg(1, 0, body, &n);

	ok(sim_wire_frame_len(f, 3) == 0, "frame_len: fewer than 4 bytes => 0 (need more)");
	put_i32_at(small, 15);
	ok(sim_wire_frame_len(small, 4) == -1, "frame_len: length 15 => -1");
	put_i32_at(small, SIM_MAX_MESSAGE + 1);
	ok(sim_wire_frame_len(small, 4) == -1, "frame_len: length above the maximum => -1");
	put_i32_at(small, -5);
	ok(sim_wire_frame_len(small, 4) == -1, "frame_len: negative length => -1");
	put_i32_at(small, SIM_MAX_MESSAGE);
	ok(sim_wire_frame_len(small, 4) == SIM_MAX_MESSAGE, "frame_len: the maximum itself is accepted");

	expect_fail("truncated header (10 bytes)", f, 10);
	expect_fail("empty input", f, 0);
	memcpy(b.b, f, n);
	b.n = n;
	put_i32_at(b.b, 12);
	expect_fail("messageLength 12 < 16", b.b, b.n);
	put_i32_at(b.b, SIM_MAX_MESSAGE + 1);
	expect_fail("messageLength above the maximum", b.b, b.n);
	put_i32_at(b.b, (int32_t)n + 1);
	expect_fail("messageLength larger than the bytes given", b.b, b.n);
	put_i32_at(b.b, (int32_t)n - 1);
	expect_fail("messageLength smaller than the bytes given", b.b, b.n);
	put_i32_at(b.b, 16);
	expect_fail("OP_MSG of a bare header", b.b, 16);
	put_i32_at(b.b, 18);
	expect_fail("OP_MSG truncated inside flagBits", b.b, 18);

	/* Unknown opcodes, OP_COMPRESSED included. */
	memcpy(b.b, f, n);
	put_i32_at(b.b + 12, SIM_OP_COMPRESSED);
	expect_fail("OP_COMPRESSED (2012)", b.b, n);
	put_i32_at(b.b + 12, SIM_OP_REPLY);
	expect_fail("OP_REPLY as a request", b.b, n);
	put_i32_at(b.b + 12, 2010);
	expect_fail("unknown opcode 2010", b.b, n);
	free(f);
	bson_destroy(body);
}

/* Frames whose BSON or OP_MSG layout is wrong. */
static void
test_malformed(void)
{
	bson_t *body = BCON_NEW("ping", BCON_INT32(1), "$db", "admin");
	struct buf b;
	size_t n = 0;
	uint8_t *f;
	sim_msg m;
	char err[256];
	size_t k;
	int rc;
	/* { "\xff\xfe": 1 } : a key that is not UTF-8 */
	static const uint8_t bad_key[] = { 13, 0, 0, 0, 0x10, 0xff, 0xfe, 0, 1, 0, 0, 0, 0 };
	/* { "a": <type 0x55> 1 } : an unknown element type */
	static const uint8_t bad_type[] = { 12, 0, 0, 0, 0x55, 'a', 0, 1, 0, 0, 0, 0 };
	/* { "a": "\xc3" } : a string value that is not UTF-8 */
	static const uint8_t bad_str[] = { 14, 0, 0, 0, 0x02, 'a', 0, 2, 0, 0, 0, 0xc3, 0, 0 };
	/* declared length 12, but the element needs more */
	static const uint8_t bad_inner[] = { 12, 0, 0, 0, 0x02, 'a', 0, 20, 0, 0, 0, 0 };
	/* not terminated by a NUL byte */
	static const uint8_t bad_term[] = { 12, 0, 0, 0, 0x10, 'a', 0, 1, 0, 0, 0, 7 };
	static const uint8_t tiny[] = { 4, 0, 0, 0 };
	/* { "a": { "b": "\xff" } } : the bad string one level down */
	static const uint8_t nested_str[] = { 22, 0, 0, 0, 0x03, 'a', 0, 14, 0, 0, 0, 0x02, 'b', 0, 2, 0, 0, 0, 0xff, 0, 0, 0 };
	static const struct {
		const uint8_t *doc;
		size_t len;
		const char *name;
		const char *want;
	} docs[] = {
		{ bad_key, sizeof bad_key, "body with a non-UTF-8 key", "key that is not UTF-8" },
		{ bad_type, sizeof bad_type, "body with an unknown type byte", "corrupt BSON" },
		{ bad_str, sizeof bad_str, "body with a non-UTF-8 string", "string that is not UTF-8" },
		{ bad_inner, sizeof bad_inner, "body whose element overruns the document", "corrupt BSON" },
		{ bad_term, sizeof bad_term, "body not NUL-terminated", "not terminated" },
		{ tiny, sizeof tiny, "body with BSON length 4", "below 5" },
		{ nested_str, sizeof nested_str, "body with a non-UTF-8 string in a subdocument", "string that is not UTF-8" },
	};

	for (k = 0; k < sizeof docs / sizeof docs[0]; k++) {
		header(&b, 1, SIM_OP_MSG);
		put_i32(&b, 0);
		put_u8(&b, 0);
		put_bytes(&b, docs[k].doc, docs[k].len);
		fix_len(&b);
		err[0] = '\0';
		rc = decode(&m, b.b, b.n, err, sizeof err);
		ok(rc == -1 && strstr(err, docs[k].want) != NULL && !m.has_body, "malformed: %s => -1 (%s)", docs[k].name,
		   err);
	}

	/* The same bad key in a kind-1 document and in an OP_QUERY. */
	header(&b, 1, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	{
		size_t at = begin_seq(&b, "documents");

		put_bytes(&b, bad_key, sizeof bad_key);
		end_seq(&b, at);
	}
	fix_len(&b);
	expect_fail("kind-1 document with a non-UTF-8 key", b.b, b.n);
	header(&b, 1, SIM_OP_QUERY);
	put_i32(&b, 0);
	put_bytes(&b, "admin.$cmd", 11);
	put_i32(&b, 0);
	put_i32(&b, -1);
	put_bytes(&b, bad_type, sizeof bad_type);
	fix_len(&b);
	expect_fail("OP_QUERY with an unknown type byte", b.b, b.n);

	/* BSON whose declared length overruns the message. */
	f = sim_wire_encode_msg(1, 0, body, &n);
	memcpy(b.b, f, n);
	put_i32_at(b.b + 21, (int32_t)body->len + 8);
	expect_fail("BSON declared length overruns the message", b.b, n);
	/* A truncated message: the frame ends inside the body. */
	memcpy(b.b, f, n);
	put_i32_at(b.b, (int32_t)n - 6);
	expect_fail("truncated BSON (frame ends inside the body)", b.b, n - 6);

	/* Sections. */
	memcpy(b.b, f, n);
	b.b[20] = 2;
	expect_fail("unknown section kind 2", b.b, n);
	header(&b, 1, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	put_u8(&b, 0);
	put_doc(&b, body);
	fix_len(&b);
	expect_fail("two kind-0 sections", b.b, b.n);
	header(&b, 1, SIM_OP_MSG);
	put_i32(&b, 0);
	{
		size_t at = begin_seq(&b, "documents");

		put_doc(&b, body);
		end_seq(&b, at);
	}
	fix_len(&b);
	expect_fail("no kind-0 section (only kind-1)", b.b, b.n);
	header(&b, 1, SIM_OP_MSG);
	put_i32(&b, 0);
	fix_len(&b);
	expect_fail("no sections at all", b.b, b.n);
	header(&b, 1, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	fix_len(&b);
	expect_fail("kind-0 byte with no document", b.b, b.n);

	/* Flags. */
	memcpy(b.b, f, n);
	put_i32_at(b.b + 16, 0x4);
	expect_fail("reserved flag bit 2", b.b, n);
	put_i32_at(b.b + 16, 0x8000);
	expect_fail("reserved flag bit 15", b.b, n);
	put_i32_at(b.b + 16, 0x20000);
	expect_fail("unknown optional flag bit 17", b.b, n);
	header(&b, 1, SIM_OP_MSG);
	put_i32(&b, 1);
	put_u8(&b, 0);
	put_u8(&b, 0);
	fix_len(&b);
	expect_fail("checksumPresent with only 2 trailing bytes", b.b, b.n);
	memcpy(b.b, f, n);
	put_i32_at(b.b + 16, 1);
	expect_fail("checksumPresent without a checksum (last 4 body bytes taken)", b.b, n);
	free(f);

	/* OP_QUERY layout. */
	header(&b, 1, SIM_OP_QUERY);
	put_i32(&b, 0);
	put_bytes(&b, "admin.$cmdadmin.$cmd", 20);
	fix_len(&b);
	expect_fail("unterminated fullCollectionName", b.b, b.n);
	header(&b, 1, SIM_OP_QUERY);
	put_i32(&b, 0);
	for (k = 0; k < 300; k++)
		put_u8(&b, 'a');
	put_u8(&b, 0);
	put_i32(&b, 0);
	put_i32(&b, -1);
	put_doc(&b, body);
	fix_len(&b);
	expect_fail("fullCollectionName of 300 bytes", b.b, b.n);
	header(&b, 1, SIM_OP_QUERY);
	put_i32(&b, 0);
	put_bytes(&b, "admin.$cmd", 11);
	put_i32(&b, 0);
	fix_len(&b);
	expect_fail("OP_QUERY without numberToReturn", b.b, b.n);
	header(&b, 1, SIM_OP_QUERY);
	put_u8(&b, 0);
	fix_len(&b);
	expect_fail("OP_QUERY truncated inside flags", b.b, b.n);
	header(&b, 1, SIM_OP_QUERY);
	put_i32(&b, 0);
	put_bytes(&b, "admin.$cmd", 11);
	put_i32(&b, 0);
	put_i32(&b, -1);
	fix_len(&b);
	expect_fail("OP_QUERY without a query document", b.b, b.n);

	/* A NULL errbuf is allowed. */
	rc = sim_wire_decode(&m, b.b, b.n, NULL, 0);
	ok(rc == -1 && !m.has_body, "a NULL errbuf is accepted");
	bson_destroy(body);
}

/* Nesting depth is bounded before libbson's recursive validator runs. */
static void
test_depth(void)
{
	bson_t docs[160];
	bson_t *top;
	size_t n = 0;
	uint8_t *f;
	sim_msg m;
	char err[256];
	int depth;
	int rc;

	for (depth = 50; depth <= 150; depth += 100) {
		int i;

		bson_init(&docs[depth]);
		for (i = depth - 1; i >= 1; i--) {
			bson_init(&docs[i]);
			bson_append_document(&docs[i], "a", 1, &docs[i + 1]);
			bson_destroy(&docs[i + 1]);
		}
		top = &docs[1];
		f = sim_wire_encode_msg(1, 0, top, &n);
		rc = decode(&m, f, n, err, sizeof err);
		if (depth == 50)
			ok(rc == 0, "a document nested 50 deep is accepted");
		else
			ok(rc == -1, "a document nested 150 deep is refused (%s)", err);
		sim_msg_clean(&m);
		free(f);
		bson_destroy(top);
	}
}

/* Every truncation and every single-byte corruption of a valid frame is survived. */
static void
test_mutations(void)
{
	bson_t *body = BCON_NEW("insert", "c", "$db", "d", "n", "{", "x", "[", BCON_INT32(1), "s", "]", "}");
	bson_t *d1 = BCON_NEW("_id", BCON_INT32(1));
	struct buf b, t;
	size_t at, len, k;
	sim_msg m;
	char err[256];
	int fails = 0;
	int v;

	header(&b, 3, SIM_OP_MSG);
	put_i32(&b, 0);
	put_u8(&b, 0);
	put_doc(&b, body);
	at = begin_seq(&b, "documents");
	put_doc(&b, d1);
	put_doc(&b, d1);
	end_seq(&b, at);
	fix_len(&b);
	for (len = 0; len < b.n; len++) {
		memcpy(t.b, b.b, b.n);
		if (len >= 4)
			put_i32_at(t.b, (int32_t)len);
		/* Cut exactly after the kind-0 section, the frame is whole and valid. */
		if ((decode(&m, t.b, len, err, sizeof err) == 0) != (len == at - 1))
			fails++;
		sim_msg_clean(&m);
	}
	ok(fails == 0, "every truncation of a kind-1 frame (%zu lengths) => -1, but the one at a section boundary", b.n);
	for (k = 0; k < b.n; k++) {
		for (v = 0; v < 256; v += 17) {
			memcpy(t.b, b.b, b.n);
			t.b[k] = (uint8_t)v;
			if (decode(&m, t.b, b.n, err, sizeof err) == 0) {
				size_t rn;
				uint8_t *r = sim_wire_encode_reply(&m, 1, &m.body, &rn);

				free(r);
			}
			sim_msg_clean(&m);
		}
	}
	ok(true, "single-byte corruptions of every position decode or fail without a crash");
	bson_destroy(body);
	bson_destroy(d1);
}

int
main(void)
{
	tap_init();
	test_query_roundtrip();
	test_msg_roundtrip();
	test_kind1();
	test_lengths();
	test_malformed();
	test_depth();
	test_mutations();
	return tap_done();
}
