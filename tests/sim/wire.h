/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* wire.h: MongoDB wire-protocol framing for the simulator (OP_QUERY, OP_REPLY, OP_MSG). */
#ifndef SIM_WIRE_H
#define SIM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#define SIM_OP_REPLY 1
#define SIM_OP_QUERY 2004
#define SIM_OP_COMPRESSED 2012
#define SIM_OP_MSG 2013

#define SIM_MSG_CHECKSUM_PRESENT 0x1u
#define SIM_MSG_MORE_TO_COME 0x2u
#define SIM_MSG_EXHAUST_ALLOWED 0x10000u

/* The largest message the simulator accepts (maxMessageSizeBytes). */
#define SIM_MAX_MESSAGE 48000000

/* One decoded request.  body is the command document: for OP_QUERY the query
 * document; for OP_MSG the kind-0 document with every kind-1 sequence folded in
 * as an array under its identifier.  Owned; release with sim_msg_clean. */
typedef struct sim_msg {
	int32_t request_id;
	int32_t response_to;
	int32_t opcode;
	uint32_t flags;          /* OP_QUERY flags or OP_MSG flagBits */
	char ns[256];            /* OP_QUERY fullCollectionName, "" for OP_MSG */
	bson_t body;
	bool has_body;
} sim_msg;

/*
 * Total length announced by the header at buf, or 0 if fewer than 4 bytes are
 * there.  Lengths < 16 or > SIM_MAX_MESSAGE return -1 (close the connection).
 */
int64_t sim_wire_frame_len(const uint8_t *buf, size_t len);

/*
 * Decode exactly one complete message of len bytes (len == frame length).
 * Returns 0, or -1 with a one-line reason in errbuf for anything malformed:
 * bad lengths, unknown opcode, truncated or invalid BSON, a section overrunning
 * the message, unknown section kind, reserved flag bits, a checksum flag
 * without 4 trailing bytes, zero or two kind-0 sections, duplicate fields.
 * Never reads outside buf.  On -1 *out is clean (nothing to free).
 */
int sim_wire_decode(sim_msg *out, const uint8_t *buf, size_t len, char *errbuf, size_t errlen);

/* Release what sim_wire_decode allocated.  Safe on a zeroed or cleaned msg. */
void sim_msg_clean(sim_msg *m);

/*
 * Encode the reply to req: OP_REPLY (responseFlags 0, cursorID 0,
 * startingFrom 0, numberReturned 1) when req was OP_QUERY, otherwise OP_MSG
 * with flagBits 0 and exactly one kind-0 section.  responseTo = req->request_id.
 * Returns a malloc'd buffer (caller frees) and its length in *outlen.
 */
uint8_t *sim_wire_encode_reply(const sim_msg *req, int32_t request_id, const bson_t *doc, size_t *outlen);

/* Encode a request (for tests and the fuzzer's seeds): OP_MSG with one kind-0 section. */
uint8_t *sim_wire_encode_msg(int32_t request_id, uint32_t flags, const bson_t *body, size_t *outlen);

/*
 * Additions (not used by the server):
 * sim_wire_encode_msg appends a CRC-32C when flags has SIM_MSG_CHECKSUM_PRESENT;
 * sim_wire_decode verifies a present checksum with sim_wire_crc32c.
 * sim_wire_encode_query builds an OP_QUERY (numberToSkip 0, numberToReturn -1).
 * Every encoder returns NULL (and *outlen 0) when the frame would exceed
 * SIM_MAX_MESSAGE or memory runs out.
 * sim_wire_decode checks every element itself (bounds, UTF-8 of keys, kind-1
 * identifiers and string values, nesting at most 100 deep) before
 * bson_validate, which in libbson 1.23 lets non-UTF-8 string values through.
 * Duplicate keys inside one document are not rejected here; only a kind-1
 * identifier that repeats a body key (or another identifier) is.
 * Note: bson_t is 128-byte aligned (BSON_EXTRA_ALIGN), so a sim_msg must live
 * on the stack, in static storage or in aligned_alloc(128, ...) memory, not in
 * plain malloc memory (UBSan reports misaligned access).
 */
uint32_t sim_wire_crc32c(const uint8_t *buf, size_t len);
uint8_t *sim_wire_encode_query(int32_t request_id, uint32_t flags, const char *ns, const bson_t *query,
                               size_t *outlen);

#endif
