/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* routed.c: the shard side of what a simulated mongos routes to a shard (the control commands
   `routed-write` and `routed-find`, run on the set's current primary) and the hex BSON they carry. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "cmd.h"

char *sim_hex_encode(const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *out = malloc(2 * len + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A BSON document from its hex form; NULL when it is not valid BSON. */
bson_t *sim_hex_decode(const char *hex)
{
	size_t n = strlen(hex);
	uint8_t *buf;
	bson_t *b = NULL;

	if (n == 0 || n % 2 || !(buf = malloc(n / 2)))
		return NULL;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			goto out;
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	b = bson_new_from_data(buf, n / 2);
	if (b && !bson_validate(b, BSON_VALIDATE_NONE, NULL)) {
		bson_destroy(b);
		b = NULL;
	}
out:
	free(buf);
	return b;
}

/* "HEX\n" of a document, malloc'd. */
static char *hex_line(const bson_t *b)
{
	char *hex = sim_hex_encode(bson_get_data(b), b->len), *line = NULL;

	if (hex && asprintf(&line, "%s\n", hex) < 0)
		line = NULL;
	free(hex);
	return line;
}

/* The primary a routed request runs on, or -1 with the reason in err. */
static int routed_primary(sim *s, char *err, size_t errlen)
{
	if (s->primary < 0 || !sim_rs_reachable(s, s->primary)) {
		snprintf(err, errlen, "%s%s", SIM_ROUTED_NO_PRIMARY, s->set_name);
		return -1;
	}
	return s->primary;
}

/*
 * routed-write insert|update|delete NS ROUTER SEQ HEX: one statement (a document to insert, an update's
 * {q, u, upsert, multi}, a delete's {q, limit}) on the primary, each oplog entry it writes stamped with
 * the router's id and the sequence numbers from SEQ on; prints the hex of {n, nModified, [upserted],
 * [writeErrors], seqs: how many numbers it used}.  A locked primary takes nothing and answers
 * SIM_ROUTED_LOCKED: the router holds the client's request and asks again.
 * routed-find NS [HEX-FILTER]: every matching document the primary has, one hex line each.
 * -2 = not one of these.
 */
int sim_routed_ctl(sim *s, int argc, char **argv, char **text, char *err, size_t errlen)
{
	bool write = strcmp(argv[0], "routed-write") == 0;
	bson_t *arg = NULL;
	int p, rc = -1;

	*text = NULL;
	if (!write && strcmp(argv[0], "routed-find") != 0)
		return -2;
	if (write ? argc != 6 : argc < 2 || argc > 3) {
		snprintf(err, errlen, "usage: %s",
		         write ? "routed-write insert|update|delete NS ROUTER SEQ HEX" : "routed-find NS [HEX-FILTER]");
		return -1;
	}
	if ((p = routed_primary(s, err, errlen)) < 0)
		return -1;
	if ((write || argc == 3) && !(arg = sim_hex_decode(argv[write ? 5 : 2]))) {
		snprintf(err, errlen, "%s: the document is not hex BSON", argv[0]);
		return -1;
	}
	if (write) {
		bson_t result = BSON_INITIALIZER;
		sim_write_result w;
		char *end, *kind = argv[1];
		long long seq = strtoll(argv[4], &end, 10);
		const sim_member *m = &s->members[p];
		int n;

		sim_write_result_init(&w);
		if (*end || seq < 1) {
			snprintf(err, errlen, "routed-write: SEQ must be a positive number");
		} else if (strcmp(kind, "insert") != 0 && strcmp(kind, "update") != 0 && strcmp(kind, "delete") != 0) {
			snprintf(err, errlen, "routed-write: insert, update or delete, not '%s'", kind);
		} else if (m->lock_count > 0) {
			snprintf(err, errlen, "%s", SIM_ROUTED_LOCKED);
		} else {
			if (kind[0] == 'i') {
				if ((n = sim_data_insert_one(s, m, argv[2], arg, 0, &w.errors, argv[3], seq)) > 0)
					w.n = w.seqs = n;
			} else if (kind[0] == 'u') {
				sim_data_update_stmt(s, m, argv[2], arg, 0, &w, argv[3], seq);
			} else {
				sim_data_delete_stmt(s, m, argv[2], arg, 0, &w, argv[3], seq);
			}
			sim_write_result_reply(&w, kind[0] == 'u', &result);
			BSON_APPEND_INT32(&result, "seqs", w.seqs);
			rc = (*text = hex_line(&result)) ? 0 : -1;
		}
		bson_destroy(&result);
		sim_write_result_clear(&w);
	} else {
		size_t len = 0, cap = 0;
		const bson_t *doc;

		rc = 0;
		for (size_t k = 0; rc == 0 && (doc = sim_data_next(s, &s->members[p], argv[1], arg, &k));) {
			char *line = hex_line(doc);
			size_t l = line ? strlen(line) : 0;

			if (line && len + l + 1 > cap) {
				char *nt = realloc(*text, cap = 2 * (len + l + 1));

				if (nt)
					*text = nt;
				else {
					free(line);
					line = NULL;
				}
			}
			if (!line) {
				snprintf(err, errlen, "out of memory");
				rc = -1;
				break;
			}
			memcpy(*text + len, line, l + 1);
			len += l;
			free(line);
		}
		if (rc != 0) {
			free(*text);
			*text = NULL;
		}
	}
	if (arg)
		bson_destroy(arg);
	return rc;
}
