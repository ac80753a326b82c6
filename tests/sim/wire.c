/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* wire.c: bounded decoding and encoding of OP_QUERY, OP_REPLY and OP_MSG frames. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define HDR_LEN 16

/*
 * Deepest nesting accepted in any document.  libbson's validator recurses
 * once per level, so an unchecked 48 MB message of nested documents could
 * exhaust the stack; mongod refuses deep nesting too.
 */
#define SIM_WIRE_MAX_DEPTH 100

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

/* Little-endian int32 at p (caller checked 4 bytes are there). */
static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int32_t
get_i32(const uint8_t *p)
{
	uint32_t u = get_u32(p);
	int32_t v;

	memcpy(&v, &u, sizeof v);
	return v;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v & 0xff);
	p[1] = (uint8_t)((v >> 8) & 0xff);
	p[2] = (uint8_t)((v >> 16) & 0xff);
	p[3] = (uint8_t)((v >> 24) & 0xff);
}

static void
put_i32(uint8_t *p, int32_t v)
{
	uint32_t u;

	memcpy(&u, &v, sizeof u);
	put_u32(p, u);
}

/* Compute the CRC-32C (Castagnoli, reflected 0x82F63B78) of buf. */
uint32_t
sim_wire_crc32c(const uint8_t *buf, size_t len)
{
	uint32_t crc = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < len; i++) {
		crc ^= buf[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return crc ^ 0xffffffffu;
}

/* UTF-8 check of a string that may hold NUL bytes (BSON strings are length-prefixed). */
static bool
utf8_ok(const char *s, size_t len, bool allow_nul)
{
	return s != NULL && bson_utf8_validate(s, len, allow_nul);
}

/*
 * Walk every element: bounds (bson_iter_next), UTF-8 of keys and of every
 * string-like value, and nesting depth (*why names the first problem).  bson_validate alone is not enough
 * with libbson 1.23: its walker stops at a non-UTF-8 string value without
 * reporting it, so such a document "validates".  Returns 0 or -1.
 */
static int
walk_doc(const bson_t *doc, int depth, const char **why)
{
	bson_iter_t it;
	bson_t sub;
	const uint8_t *data;
	uint32_t len;
	uint32_t slen;
	const char *str;
	const char *opts;
	const char *key;
	const bson_oid_t *oid;

	*why = "nested too deep";
	if (depth > SIM_WIRE_MAX_DEPTH)
		return -1;
	*why = "corrupt BSON";
	if (!bson_iter_init(&it, doc))
		return -1;
	while (bson_iter_next(&it)) {
		key = bson_iter_key(&it);
		*why = "a key that is not UTF-8";
		if (!utf8_ok(key, strlen(key), false))
			return -1;
		*why = "a string that is not UTF-8";
		switch (bson_iter_type(&it)) {
		case BSON_TYPE_DOCUMENT:
		case BSON_TYPE_ARRAY:
			data = NULL;
			if (BSON_ITER_HOLDS_DOCUMENT(&it))
				bson_iter_document(&it, &len, &data);
			else
				bson_iter_array(&it, &len, &data);
			if (data == NULL || !bson_init_static(&sub, data, len) || walk_doc(&sub, depth + 1, why) != 0)
				return -1;
			break;
		case BSON_TYPE_UTF8:
			str = bson_iter_utf8(&it, &slen);
			if (!utf8_ok(str, slen, true))
				return -1;
			break;
		case BSON_TYPE_SYMBOL:
			str = bson_iter_symbol(&it, &slen);
			if (!utf8_ok(str, slen, true))
				return -1;
			break;
		case BSON_TYPE_CODE:
			str = bson_iter_code(&it, &slen);
			if (!utf8_ok(str, slen, true))
				return -1;
			break;
		case BSON_TYPE_CODEWSCOPE:
			data = NULL;
			str = bson_iter_codewscope(&it, &slen, &len, &data);
			if (!utf8_ok(str, slen, true) || data == NULL || !bson_init_static(&sub, data, len) ||
			    walk_doc(&sub, depth + 1, why) != 0)
				return -1;
			break;
		case BSON_TYPE_DBPOINTER:
			str = NULL;
			bson_iter_dbpointer(&it, &slen, &str, &oid);
			if (!utf8_ok(str, slen, true))
				return -1;
			break;
		case BSON_TYPE_REGEX:
			opts = NULL;
			str = bson_iter_regex(&it, &opts);
			if (str == NULL || opts == NULL || !utf8_ok(str, strlen(str), false) ||
			    !utf8_ok(opts, strlen(opts), false))
				return -1;
			break;
		default:
			break;
		}
	}
	/* bson_iter_next stops early on corruption and records where in err_off. */
	*why = "corrupt BSON";
	if (it.err_off != 0)
		return -1;
	return 0;
}

/*
 * Read one BSON document at buf[*pos] that must end at or before end.
 * On success *doc is a static view into buf and *pos is past it.
 */
static int
read_doc(bson_t *doc, const uint8_t *buf, size_t *pos, size_t end, const char *what, char *errbuf,
         size_t errlen)
{
	int32_t dlen;
	size_t off = 0;
	const char *why = "";

	if (end < *pos || end - *pos < 4) {
		set_err(errbuf, errlen, "truncated %s: no room for the BSON length", what);
		return -1;
	}
	dlen = get_i32(buf + *pos);
	if (dlen < 5) {
		set_err(errbuf, errlen, "invalid %s: BSON length %d is below 5", what, (int)dlen);
		return -1;
	}
	if ((size_t)dlen > end - *pos) {
		set_err(errbuf, errlen, "truncated %s: BSON length %d overruns the %zu bytes left", what,
		        (int)dlen, end - *pos);
		return -1;
	}
	if (!bson_init_static(doc, buf + *pos, (size_t)dlen)) {
		set_err(errbuf, errlen, "invalid %s: BSON is not terminated", what);
		return -1;
	}
	if (walk_doc(doc, 1, &why) != 0) {
		set_err(errbuf, errlen, "invalid %s: %s", what, why);
		return -1;
	}
	if (!bson_validate(doc, BSON_VALIDATE_UTF8, &off)) {
		set_err(errbuf, errlen, "invalid %s: BSON fails validation at offset %zu", what, off);
		return -1;
	}
	*pos += (size_t)dlen;
	return 0;
}

/* OP_QUERY: flags, cstring ns, skip, return, query, optional returnFieldsSelector. */
static int
decode_query(sim_msg *out, const uint8_t *buf, size_t len, char *errbuf, size_t errlen)
{
	size_t pos = HDR_LEN;
	const uint8_t *nul;
	size_t nslen;
	bson_t query;
	bson_t selector;

	if (len - pos < 4) {
		set_err(errbuf, errlen, "truncated OP_QUERY: no flags");
		return -1;
	}
	out->flags = get_u32(buf + pos);
	pos += 4;
	nul = memchr(buf + pos, '\0', len - pos);
	if (nul == NULL) {
		set_err(errbuf, errlen, "invalid OP_QUERY: unterminated fullCollectionName");
		return -1;
	}
	nslen = (size_t)(nul - (buf + pos));
	if (nslen >= sizeof out->ns) {
		set_err(errbuf, errlen, "invalid OP_QUERY: fullCollectionName longer than %zu bytes",
		        sizeof out->ns - 1);
		return -1;
	}
	memcpy(out->ns, buf + pos, nslen);
	out->ns[nslen] = '\0';
	pos += nslen + 1;
	if (len - pos < 8) {
		set_err(errbuf, errlen, "truncated OP_QUERY: no numberToSkip/numberToReturn");
		return -1;
	}
	pos += 8; /* numberToSkip, numberToReturn: commands ignore them */
	if (read_doc(&query, buf, &pos, len, "OP_QUERY query", errbuf, errlen) != 0)
		return -1;
	if (pos < len && read_doc(&selector, buf, &pos, len, "OP_QUERY returnFieldsSelector", errbuf,
	                          errlen) != 0)
		return -1;
	if (pos != len) {
		set_err(errbuf, errlen, "invalid OP_QUERY: %zu trailing bytes", len - pos);
		return -1;
	}
	bson_copy_to(&query, &out->body);
	out->has_body = true;
	return 0;
}

/*
 * Walk the kind-1 section at buf[pos] (kind byte already consumed) bounded by
 * end.  Sets *ident, *docs and *docs_end; every document is validated.
 */
static int
read_sequence(const uint8_t *buf, size_t *pos, size_t end, const char **ident, size_t *docs,
              size_t *docs_end, char *errbuf, size_t errlen)
{
	int32_t size;
	size_t sec_end;
	const uint8_t *nul;
	size_t p;
	bson_t doc;

	if (end - *pos < 4) {
		set_err(errbuf, errlen, "truncated OP_MSG: kind-1 section has no size");
		return -1;
	}
	size = get_i32(buf + *pos);
	if (size < 5) {
		set_err(errbuf, errlen, "invalid OP_MSG: kind-1 section size %d is below 5", (int)size);
		return -1;
	}
	if ((size_t)size > end - *pos) {
		set_err(errbuf, errlen, "invalid OP_MSG: kind-1 section of %d bytes overruns the message",
		        (int)size);
		return -1;
	}
	sec_end = *pos + (size_t)size;
	p = *pos + 4;
	nul = memchr(buf + p, '\0', sec_end - p);
	if (nul == NULL) {
		set_err(errbuf, errlen, "invalid OP_MSG: unterminated kind-1 identifier");
		return -1;
	}
	if (nul == buf + p) {
		set_err(errbuf, errlen, "invalid OP_MSG: empty kind-1 identifier");
		return -1;
	}
	/* The identifier becomes a key of the body, so it must be UTF-8 like any key. */
	if (!bson_utf8_validate((const char *)(buf + p), (size_t)(nul - (buf + p)), false)) {
		set_err(errbuf, errlen, "invalid OP_MSG: kind-1 identifier is not UTF-8");
		return -1;
	}
	*ident = (const char *)(buf + p);
	p = (size_t)(nul - buf) + 1;
	*docs = p;
	while (p < sec_end) {
		if (read_doc(&doc, buf, &p, sec_end, "OP_MSG kind-1 document", errbuf, errlen) != 0)
			return -1;
	}
	*docs_end = sec_end;
	*pos = sec_end;
	return 0;
}

/* Append the documents of one (already validated) sequence to body as ident: [...]. */
static int
fold_sequence(bson_t *body, const char *ident, const uint8_t *buf, size_t docs, size_t docs_end,
              char *errbuf, size_t errlen)
{
	bson_iter_t it;
	bson_t arr;
	bson_t doc;
	char keybuf[16];
	const char *key;
	uint32_t i = 0;
	size_t p = docs;
	bool ok = true;

	if (bson_iter_init_find(&it, body, ident)) {
		set_err(errbuf, errlen, "invalid OP_MSG: kind-1 identifier \"%s\" is already in the body",
		        ident);
		return -1;
	}
	if (!bson_append_array_begin(body, ident, -1, &arr)) {
		set_err(errbuf, errlen, "OP_MSG: cannot fold kind-1 section \"%s\"", ident);
		return -1;
	}
	while (p < docs_end) {
		/* Lengths were checked by read_sequence. */
		uint32_t dlen = get_u32(buf + p);

		if (ok && bson_init_static(&doc, buf + p, dlen)) {
			bson_uint32_to_string(i, &key, keybuf, sizeof keybuf);
			ok = bson_append_document(&arr, key, -1, &doc);
		} else {
			ok = false;
		}
		p += dlen;
		i++;
	}
	if (!bson_append_array_end(body, &arr) || !ok) {
		set_err(errbuf, errlen, "OP_MSG: cannot fold kind-1 section \"%s\"", ident);
		return -1;
	}
	return 0;
}

/* OP_MSG: flagBits, sections, optional CRC-32C. */
static int
decode_msg(sim_msg *out, const uint8_t *buf, size_t len, char *errbuf, size_t errlen)
{
	size_t pos = HDR_LEN;
	size_t end = len;
	uint32_t flags;
	bson_t body0;
	size_t body_pos = 0;
	int nbody = 0;
	const char *ident;
	size_t docs;
	size_t docs_end;
	uint8_t kind;
	int ret = -1;

	if (len - pos < 4) {
		set_err(errbuf, errlen, "truncated OP_MSG: no flagBits");
		return -1;
	}
	flags = get_u32(buf + pos);
	pos += 4;
	if ((flags & 0xfffcu) != 0) {
		set_err(errbuf, errlen, "invalid OP_MSG: reserved flagBits 0x%08x set", (unsigned)flags);
		return -1;
	}
	if ((flags & 0xffff0000u & ~SIM_MSG_EXHAUST_ALLOWED) != 0) {
		set_err(errbuf, errlen, "invalid OP_MSG: unknown optional flagBits 0x%08x set",
		        (unsigned)flags);
		return -1;
	}
	/*
	 * A present checksum is verified as CRC-32C over everything before it,
	 * as mongod does.  libmongoc 1.23 never sends one.
	 */
	if ((flags & SIM_MSG_CHECKSUM_PRESENT) != 0) {
		if (end - pos < 4) {
			set_err(errbuf, errlen, "invalid OP_MSG: checksumPresent without 4 checksum bytes");
			return -1;
		}
		end -= 4;
		if (sim_wire_crc32c(buf, end) != get_u32(buf + end)) {
			set_err(errbuf, errlen, "invalid OP_MSG: CRC-32C checksum mismatch");
			return -1;
		}
	}
	out->flags = flags;

	/* Pass 1: structure and validation of every document. */
	while (pos < end) {
		kind = buf[pos++];
		if (kind == 0) {
			if (nbody > 0) {
				set_err(errbuf, errlen, "invalid OP_MSG: more than one kind-0 section");
				return -1;
			}
			body_pos = pos;
			if (read_doc(&body0, buf, &pos, end, "OP_MSG body", errbuf, errlen) != 0)
				return -1;
			nbody++;
		} else if (kind == 1) {
			if (read_sequence(buf, &pos, end, &ident, &docs, &docs_end, errbuf, errlen) != 0)
				return -1;
		} else {
			set_err(errbuf, errlen, "invalid OP_MSG: unknown section kind %u", (unsigned)kind);
			return -1;
		}
	}
	if (nbody == 0) {
		set_err(errbuf, errlen, "invalid OP_MSG: no kind-0 section");
		return -1;
	}

	/* Pass 2: the body, then each sequence folded in, in message order. */
	if (!bson_init_static(&body0, buf + body_pos, get_u32(buf + body_pos))) {
		set_err(errbuf, errlen, "invalid OP_MSG body");
		return -1;
	}
	bson_copy_to(&body0, &out->body);
	out->has_body = true;
	pos = HDR_LEN + 4;
	while (pos < end) {
		kind = buf[pos++];
		if (kind == 0) {
			pos += get_u32(buf + pos);
			continue;
		}
		if (read_sequence(buf, &pos, end, &ident, &docs, &docs_end, errbuf, errlen) != 0)
			goto out;
		if (fold_sequence(&out->body, ident, buf, docs, docs_end, errbuf, errlen) != 0)
			goto out;
	}
	ret = 0;
out:
	return ret;
}

/* Total frame length announced at buf: 0 = need more bytes, -1 = unacceptable. */
int64_t
sim_wire_frame_len(const uint8_t *buf, size_t len)
{
	int32_t n;

	if (buf == NULL || len < 4)
		return 0;
	n = get_i32(buf);
	if (n < HDR_LEN || n > SIM_MAX_MESSAGE)
		return -1;
	return (int64_t)n;
}

/* Decode one whole frame into out (overwritten; clean on failure). */
int
sim_wire_decode(sim_msg *out, const uint8_t *buf, size_t len, char *errbuf, size_t errlen)
{
	int64_t flen;
	int ret = -1;

	memset(out, 0, sizeof *out);
	set_err(errbuf, errlen, "%s", "");
	if (buf == NULL || len < HDR_LEN) {
		set_err(errbuf, errlen, "truncated message: %zu bytes, a header needs 16", len);
		goto out;
	}
	flen = sim_wire_frame_len(buf, len);
	if (flen < 0) {
		set_err(errbuf, errlen, "invalid messageLength %d (must be 16..%d)", (int)get_i32(buf),
		        SIM_MAX_MESSAGE);
		goto out;
	}
	if ((size_t)flen != len) {
		set_err(errbuf, errlen, "messageLength %d does not match the %zu bytes given", (int)flen, len);
		goto out;
	}
	out->request_id = get_i32(buf + 4);
	out->response_to = get_i32(buf + 8);
	out->opcode = get_i32(buf + 12);
	switch (out->opcode) {
	case SIM_OP_QUERY:
		ret = decode_query(out, buf, len, errbuf, errlen);
		break;
	case SIM_OP_MSG:
		ret = decode_msg(out, buf, len, errbuf, errlen);
		break;
	default:
		set_err(errbuf, errlen, "unsupported opCode %d", (int)out->opcode);
		break;
	}
out:
	if (ret != 0)
		sim_msg_clean(out);
	return ret;
}

/* Release the body; the msg is zeroed afterwards. */
void
sim_msg_clean(sim_msg *m)
{
	if (m == NULL)
		return;
	if (m->has_body)
		bson_destroy(&m->body);
	memset(m, 0, sizeof *m);
}

/* Allocate a frame of total bytes and fill its header. */
static uint8_t *
new_frame(size_t total, int32_t request_id, int32_t response_to, int32_t opcode)
{
	uint8_t *p;

	if (total > SIM_MAX_MESSAGE)
		return NULL;
	p = calloc(1, total);
	if (p == NULL)
		return NULL;
	put_i32(p, (int32_t)total);
	put_i32(p + 4, request_id);
	put_i32(p + 8, response_to);
	put_i32(p + 12, opcode);
	return p;
}

/* OP_REPLY to an OP_QUERY, OP_MSG otherwise; NULL on allocation failure or oversize. */
uint8_t *
sim_wire_encode_reply(const sim_msg *req, int32_t request_id, const bson_t *doc, size_t *outlen)
{
	uint8_t *p = NULL;
	int32_t response_to = req != NULL ? req->request_id : 0;
	size_t total;

	*outlen = 0;
	if (doc == NULL)
		return NULL;
	if (req != NULL && req->opcode == SIM_OP_QUERY) {
		/* responseFlags, cursorID, startingFrom, numberReturned, the document */
		total = HDR_LEN + 4 + 8 + 4 + 4 + (size_t)doc->len;
		p = new_frame(total, request_id, response_to, SIM_OP_REPLY);
		if (p == NULL)
			return NULL;
		put_i32(p + HDR_LEN + 16, 1);
		memcpy(p + HDR_LEN + 20, bson_get_data(doc), doc->len);
	} else {
		total = HDR_LEN + 4 + 1 + (size_t)doc->len;
		p = new_frame(total, request_id, response_to, SIM_OP_MSG);
		if (p == NULL)
			return NULL;
		/* flagBits 0 (never checksumPresent: libmongoc 1.23 crashes on it), kind 0 */
		memcpy(p + HDR_LEN + 5, bson_get_data(doc), doc->len);
	}
	*outlen = total;
	return p;
}

/* An OP_MSG request with one kind-0 section; a CRC-32C is appended when flags ask for one. */
uint8_t *
sim_wire_encode_msg(int32_t request_id, uint32_t flags, const bson_t *body, size_t *outlen)
{
	uint8_t *p;
	size_t crc = (flags & SIM_MSG_CHECKSUM_PRESENT) != 0 ? 4 : 0;
	size_t total;

	*outlen = 0;
	if (body == NULL)
		return NULL;
	total = HDR_LEN + 4 + 1 + (size_t)body->len + crc;
	p = new_frame(total, request_id, 0, SIM_OP_MSG);
	if (p == NULL)
		return NULL;
	put_u32(p + HDR_LEN, flags);
	memcpy(p + HDR_LEN + 5, bson_get_data(body), body->len);
	if (crc != 0)
		put_u32(p + total - 4, sim_wire_crc32c(p, total - 4));
	*outlen = total;
	return p;
}

/* An OP_QUERY request (numberToSkip 0, numberToReturn -1), as libmongoc sends its handshake. */
uint8_t *
sim_wire_encode_query(int32_t request_id, uint32_t flags, const char *ns, const bson_t *query,
                      size_t *outlen)
{
	uint8_t *p;
	size_t nslen;
	size_t total;

	*outlen = 0;
	if (ns == NULL || query == NULL)
		return NULL;
	nslen = strlen(ns);
	total = HDR_LEN + 4 + nslen + 1 + 8 + (size_t)query->len;
	p = new_frame(total, request_id, 0, SIM_OP_QUERY);
	if (p == NULL)
		return NULL;
	put_u32(p + HDR_LEN, flags);
	memcpy(p + HDR_LEN + 4, ns, nslen + 1);
	put_i32(p + HDR_LEN + 4 + nslen + 1, 0);
	put_i32(p + HDR_LEN + 4 + nslen + 5, -1);
	memcpy(p + HDR_LEN + 4 + nslen + 9, bson_get_data(query), query->len);
	*outlen = total;
	return p;
}
