/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* args.c: command arguments checked as a server's IDL parser checks them (types, required, unknown fields). */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* Arguments every command accepts (the server's generic_argument.idl, api v1 and unstable). */
static const char *const generic_args[] = {
	"apiVersion", "apiStrict", "apiDeprecationErrors", "$db", "maxTimeMS", "readConcern", "writeConcern", "lsid",
	"clientOperationKey", "txnNumber", "autocommit", "startTransaction", "stmtId", "comment", "$readPreference",
	"$clusterTime", "$audit", "$client", "$configServerState", "allowImplicitCollectionCreation", "$oplogQueryData",
	"$queryOptions", "$replData", "databaseVersion", "shardVersion", "tracking_info", "coordinator", "maxTimeMSOpOnly",
	"$configTime", "$topologyTime", "txnRetryCounter", "mayBypassWriteBlocking", "$tenant", "expectPrefix", NULL};

bool sim_args_generic(const char *name)
{
	for (const char *const *g = generic_args; *g; g++)
		if (strcmp(*g, name) == 0)
			return true;
	return false;
}

/* The server's typeName() of a BSON type. */
const char *sim_bson_type_name(bson_type_t t)
{
	switch (t) {
	case BSON_TYPE_DOUBLE: return "double";
	case BSON_TYPE_UTF8: return "string";
	case BSON_TYPE_DOCUMENT: return "object";
	case BSON_TYPE_ARRAY: return "array";
	case BSON_TYPE_BINARY: return "binData";
	case BSON_TYPE_UNDEFINED: return "undefined";
	case BSON_TYPE_OID: return "objectId";
	case BSON_TYPE_BOOL: return "bool";
	case BSON_TYPE_DATE_TIME: return "date";
	case BSON_TYPE_NULL: return "null";
	case BSON_TYPE_REGEX: return "regex";
	case BSON_TYPE_DBPOINTER: return "dbPointer";
	case BSON_TYPE_CODE: return "javascript";
	case BSON_TYPE_SYMBOL: return "symbol";
	case BSON_TYPE_CODEWSCOPE: return "javascriptWithScope";
	case BSON_TYPE_INT32: return "int";
	case BSON_TYPE_TIMESTAMP: return "timestamp";
	case BSON_TYPE_INT64: return "long";
	case BSON_TYPE_DECIMAL128: return "decimal";
	case BSON_TYPE_MINKEY: return "minKey";
	case BSON_TYPE_MAXKEY: return "maxKey";
	default: return "unknown";
	}
}

/* Is type t in the comma-separated list of type names? */
static bool type_listed(const char *types, bson_type_t t)
{
	const char *name = sim_bson_type_name(t);
	size_t nl = strlen(name);

	for (const char *p = types; *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == nl && strncmp(p, name, l) == 0)
			return true;
		if (!e)
			break;
		p = e + 1;
	}
	return false;
}

/* "[a, b, c]" from "a,b,c". */
static void types_shown(const char *types, char *buf, size_t cap)
{
	size_t n = 0;

	n += (size_t)snprintf(buf + n, cap - n, "[");
	for (const char *p = types; *p && n < cap; p++)
		n += (size_t)snprintf(buf + n, cap - n, *p == ',' ? ", " : "%c", *p);
	if (n < cap)
		snprintf(buf + n, cap - n, "]");
}

static const sim_arg *find_arg(const sim_arg *args, const char *name, int wire)
{
	for (const sim_arg *a = args; a && a->name; a++)
		if (strcmp(a->name, name) == 0 && wire >= a->min_wire && (!a->max_wire || wire <= a->max_wire))
			return a;
	return NULL;
}

/* Check body against the command's argument specification for this wire version.  0, or -1 with
 * the server's error in r (40415 unknown field, 40413 duplicate, 14 wrong type, 40414 missing). */
int sim_args_check(const sim *s, const char *cmd, const sim_arg *args, int strict_wire, const bson_t *body, bson_t *r)
{
	bson_iter_t it;
	const char *seen[32];
	size_t n_seen = 0;
	bool first = true;
	bool strict = strict_wire > 0 && s->max_wire >= strict_wire;

	if (!bson_iter_init(&it, body))
		return 0;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		const sim_arg *a;
		bson_type_t t = bson_iter_type(&it);

		if (first) {
			first = false;
			continue;   /* the command's own field */
		}
		if (sim_args_generic(k))
			continue;
		a = find_arg(args, k, s->max_wire);
		if (!a) {
			if (strict) {
				sim_cmd_error(r, 40415, "Location40415", "BSON field '%s.%s' is an unknown field.", cmd, k);
				return -1;
			}
			continue;
		}
		if (strict) {
			for (size_t i = 0; i < n_seen; i++)
				if (strcmp(seen[i], k) == 0) {
					sim_cmd_error(r, 40413, "Location40413", "BSON field '%s.%s' is a duplicate field", cmd, k);
					return -1;
				}
			if (n_seen < sizeof seen / sizeof seen[0])
				seen[n_seen++] = a->name;
		}
		/* The IDL parser skips null and undefined: the field counts as absent. */
		if (!a->types || t == BSON_TYPE_NULL || t == BSON_TYPE_UNDEFINED)
			continue;
		if ((strict || a->checked) && !type_listed(a->types, t)) {
			if (strchr(a->types, ',')) {
				char shown[160];

				types_shown(a->types, shown, sizeof shown);
				sim_cmd_error(r, 14, "TypeMismatch", "BSON field '%s.%s' is the wrong type '%s', expected types '%s'",
				              cmd, k, sim_bson_type_name(t), shown);
			} else {
				sim_cmd_error(r, 14, "TypeMismatch", "BSON field '%s.%s' is the wrong type '%s', expected type '%s'",
				              cmd, k, sim_bson_type_name(t), a->types);
			}
			return -1;
		}
	}
	for (const sim_arg *a = args; a && a->name; a++) {
		bson_iter_t f;

		if (!a->required || s->max_wire < a->min_wire || (a->max_wire && s->max_wire > a->max_wire))
			continue;
		if (!bson_iter_init_find(&f, body, a->name) || BSON_ITER_HOLDS_NULL(&f) ||
		    bson_iter_type(&f) == BSON_TYPE_UNDEFINED) {
			sim_cmd_error(r, 40414, "Location40414", "BSON field '%s.%s' is missing but a required field", cmd,
			              a->name);
			return -1;
		}
	}
	return 0;
}
