/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_scram_once.c: a handshake without speculativeAuthenticate, every other message untouched (TAP). */
#include "autoconfig.h"

#include <stdint.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "scram_once.h"
#include "tap.h"

#define OP_QUERY 2004
#define OP_MSG 2013

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A handshake as libmongoc 1.23's scanner sends it: name first, speculativeAuthenticate among the rest. */
static bson_t *
handshake(const char *name, bool speculative)
{
	bson_t *b = bson_new(), spec;

	BSON_APPEND_INT32(b, name, 1);
	BSON_APPEND_BOOL(b, "helloOk", true);
	BSON_APPEND_UTF8(b, "saslSupportedMechs", "admin.backup");
	if (speculative) {
		BSON_APPEND_DOCUMENT_BEGIN(b, "speculativeAuthenticate", &spec);
		BSON_APPEND_INT32(&spec, "saslStart", 1);
		BSON_APPEND_UTF8(&spec, "mechanism", "SCRAM-SHA-256");
		BSON_APPEND_UTF8(&spec, "db", "admin");
		bson_append_document_end(b, &spec);
	}
	BSON_APPEND_UTF8(b, "after", "kept");
	return b;
}

/* An OP_QUERY on admin.$cmd (trailer bytes after the document: a returnFieldsSelector) into buf. */
static size_t
op_query(uint8_t *buf, const bson_t *doc, const uint8_t *trailer, size_t tlen)
{
	size_t n = 16;

	put32(buf + 4, 77);
	put32(buf + 8, 0);
	put32(buf + 12, OP_QUERY);
	put32(buf + n, 4);
	n += 4;
	memcpy(buf + n, "admin.$cmd", 11);
	n += 11;
	put32(buf + n, 0);
	put32(buf + n + 4, (uint32_t)-1);
	n += 8;
	memcpy(buf + n, bson_get_data(doc), doc->len);
	n += doc->len;
	memcpy(buf + n, trailer, tlen);
	n += tlen;
	put32(buf, (uint32_t)n);
	return n;
}

/* An OP_MSG with the body (kind 0) and flags. */
static size_t
op_msg(uint8_t *buf, const bson_t *doc, uint32_t flags)
{
	size_t n = 16;

	put32(buf + 4, 78);
	put32(buf + 8, 0);
	put32(buf + 12, OP_MSG);
	put32(buf + n, flags);
	n += 4;
	buf[n++] = 0;
	memcpy(buf + n, bson_get_data(doc), doc->len);
	n += doc->len;
	put32(buf, (uint32_t)n);
	return n;
}

/* The document at off of msg, as a static bson_t (false when it does not parse). */
static bool
doc_at(const uint8_t *msg, size_t len, size_t off, bson_t *out)
{
	return off + 4 <= len && get32(msg + off) <= len - off && bson_init_static(out, msg + off, get32(msg + off));
}

static void
test_op_query(void)
{
	uint8_t buf[2048], *out = NULL;
	const uint8_t trailer[5] = { 5, 0, 0, 0, 0 }; /* an empty returnFieldsSelector */
	bson_t *with = handshake("isMaster", true), *without = handshake("isMaster", false), got;
	size_t len = op_query(buf, with, trailer, sizeof(trailer)), out_len = 0, at = 16 + 4 + 11 + 8;

	ok(mbh_hello_strip_speculative(buf, len, &out, &out_len), "OP_QUERY isMaster with speculativeAuthenticate: rewritten");
	is_int((long)out_len, (long)(len - with->len + without->len), "OP_QUERY: shorter by the field exactly");
	is_int((long)get32(out), (long)out_len, "OP_QUERY: the header's messageLength is the new length");
	ok(memcmp(out + 4, buf + 4, at - 4) == 0, "OP_QUERY: requestID, opCode, flags, collection, skip, return kept");
	ok(doc_at(out, out_len, at, &got) && bson_equal(&got, without),
	   "OP_QUERY: the document is the same without speculativeAuthenticate, in the same order");
	ok(memcmp(out + out_len - sizeof(trailer), trailer, sizeof(trailer)) == 0, "OP_QUERY: the bytes after it kept");
	bson_free(out);
	bson_destroy(with);
	bson_destroy(without);
}

static void
test_op_msg(void)
{
	uint8_t buf[2048], *out = NULL;
	bson_t *with = handshake("hello", true), *without = handshake("hello", false), got;
	size_t len = op_msg(buf, with, 0), out_len = 0;

	ok(mbh_hello_strip_speculative(buf, len, &out, &out_len), "OP_MSG hello with speculativeAuthenticate: rewritten");
	ok(out_len == len - with->len + without->len && get32(out) == out_len && doc_at(out, out_len, 21, &got) &&
	   bson_equal(&got, without), "OP_MSG: the body without the field, the length fixed");
	bson_free(out);
	out = NULL;
	len = op_msg(buf, with, 1);
	ok(!mbh_hello_strip_speculative(buf, len, &out, &out_len) && out == NULL,
	   "OP_MSG with a checksum: left alone (its checksum would no longer match)");
	bson_destroy(with);
	bson_destroy(without);
}

static void
test_left_alone(void)
{
	uint8_t buf[2048], *out = NULL;
	bson_t *plain = handshake("hello", false), *cmd = bson_new();
	size_t len, out_len = 0;

	len = op_query(buf, plain, (const uint8_t *)"", 0);
	ok(!mbh_hello_strip_speculative(buf, len, &out, &out_len) && out == NULL,
	   "a hello without speculativeAuthenticate: left alone");
	BSON_APPEND_INT32(cmd, "saslStart", 1);
	BSON_APPEND_UTF8(cmd, "speculativeAuthenticate", "not a hello");
	len = op_msg(buf, cmd, 0);
	ok(!mbh_hello_strip_speculative(buf, len, &out, &out_len) && out == NULL,
	   "another command, even with that key: left alone");
	len = op_msg(buf, plain, 0);
	put32(buf, (uint32_t)len + 1);
	ok(!mbh_hello_strip_speculative(buf, len, &out, &out_len) && out == NULL,
	   "a header length that is not the message's: left alone");
	len = op_query(buf, plain, (const uint8_t *)"", 0);
	put32(buf + 12, 2012); /* OP_COMPRESSED */
	ok(!mbh_hello_strip_speculative(buf, len, &out, &out_len) && out == NULL, "another opcode: left alone");
	len = op_msg(buf, plain, 0);
	put32(buf + 21, 1000); /* the body claims more than the message holds */
	ok(!mbh_hello_strip_speculative(buf, len, &out, &out_len) && out == NULL, "a document longer than the message: left alone");
	ok(!mbh_hello_strip_speculative(buf, 10, &out, &out_len) && out == NULL, "shorter than a header: left alone");
	bson_destroy(plain);
	bson_destroy(cmd);
}

int
main(void)
{
	tap_init();
	test_op_query();
	test_op_msg();
	test_left_alone();
	return tap_done();
}
