/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* topology.c: replSetGetConfig + replSetGetStatus replies -> the member table (config order). */
#include "autoconfig.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "mongoerr.h"
#include "topology.h"

/* Read a number the server may send as int32, int64 or double; -1 if the field has another type. */
static int
iter_number(const bson_iter_t *it, double *out)
{
	switch (bson_iter_type(it)) {
	case BSON_TYPE_INT32:
		*out = bson_iter_int32(it);
		return 0;
	case BSON_TYPE_INT64:
		*out = (double)bson_iter_int64(it);
		return 0;
	case BSON_TYPE_DOUBLE:
		*out = bson_iter_double(it);
		return isfinite(*out) ? 0 : -1;
	default:
		return -1;
	}
}

/* A whole number in [min, max] from int32/int64/double (a double must be integral). */
static int
iter_int64(const bson_iter_t *it, int64_t min, int64_t max, int64_t *out)
{
	double d;

	if (bson_iter_type(it) == BSON_TYPE_INT64) {
		*out = bson_iter_int64(it);
	} else {
		if (iter_number(it, &d) != 0 || d != floor(d) || d < -9.2e18 || d > 9.2e18)
			return -1;
		*out = (int64_t)d;
	}
	return *out >= min && *out <= max ? 0 : -1;
}

/* Booleans: the server sends bool, but numbers are accepted as truth values. */
static int
iter_bool(const bson_iter_t *it, bool *out)
{
	double d;

	if (bson_iter_type(it) == BSON_TYPE_BOOL) {
		*out = bson_iter_bool(it);
		return 0;
	}
	if (iter_number(it, &d) != 0)
		return -1;
	*out = d != 0;
	return 0;
}

/* A date (ms since epoch) from a BSON date, or from a Timestamp's seconds. */
static int
iter_date_ms(const bson_iter_t *it, int64_t *out)
{
	uint32_t ts, inc;

	if (BSON_ITER_HOLDS_DATE_TIME(it)) {
		*out = bson_iter_date_time(it);
		return 0;
	}
	if (BSON_ITER_HOLDS_TIMESTAMP(it)) {
		bson_iter_timestamp(it, &ts, &inc);
		*out = (int64_t)ts * 1000;
		return 0;
	}
	return -1;
}

static char *
dup_utf8(const bson_iter_t *it)
{
	return strdup(bson_iter_utf8(it, NULL));
}

/* Parse one members[] entry of replSetGetConfig into m. */
static int
parse_config_member(mbh_member *m, const bson_iter_t *member_it, size_t index, mbh_error *err)
{
	bson_iter_t it, tags;
	const char *key;
	int64_t n;
	double d;
	bool have_id = false, have_priority = false;
	size_t ntags = 0;

	if (!BSON_ITER_HOLDS_DOCUMENT(member_it) || !bson_iter_recurse(member_it, &it))
		return mbh_error_set(err, EX_PROTOCOL, "replSetGetConfig: config.members[%zu] is not a document", index);
	m->votes = 1;
	m->priority = 1;
	m->build_indexes = true;
	while (bson_iter_next(&it)) {
		key = bson_iter_key(&it);
		if (strcmp(key, "_id") == 0) {
			if (iter_int64(&it, 0, 1000000, &n) != 0)
				goto bad;
			m->id = (int)n;
			have_id = true;
		} else if (strcmp(key, "host") == 0) {
			if (!BSON_ITER_HOLDS_UTF8(&it))
				goto bad;
			free(m->host);
			if ((m->host = dup_utf8(&it)) == NULL)
				return mbh_error_set(err, EX_OSERR, "out of memory");
		} else if (strcmp(key, "priority") == 0) {
			if (iter_number(&it, &d) != 0 || d < 0)
				goto bad;
			m->priority = d;
			have_priority = true;
		} else if (strcmp(key, "votes") == 0) {
			if (iter_int64(&it, 0, 1000, &n) != 0)
				goto bad;
			m->votes = (int)n;
		} else if (strcmp(key, "hidden") == 0) {
			if (iter_bool(&it, &m->hidden) != 0)
				goto bad;
		} else if (strcmp(key, "arbiterOnly") == 0) {
			if (iter_bool(&it, &m->arbiter) != 0)
				goto bad;
		} else if (strcmp(key, "buildIndexes") == 0) {
			if (iter_bool(&it, &m->build_indexes) != 0)
				goto bad;
		} else if (strcmp(key, "secondaryDelaySecs") == 0 || strcmp(key, "slaveDelay") == 0) {
			/* slaveDelay is the name before MongoDB 5.0 */
			if (iter_int64(&it, 0, INT64_MAX / 1000, &m->delay_secs) != 0)
				goto bad;
		} else if (strcmp(key, "tags") == 0) {
			if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &tags))
				goto bad;
			while (bson_iter_next(&tags))
				ntags++;
			if (ntags == 0)
				continue;
			if ((m->tags = calloc(ntags, sizeof(*m->tags))) == NULL)
				return mbh_error_set(err, EX_OSERR, "out of memory");
			bson_iter_recurse(&it, &tags);
			while (bson_iter_next(&tags) && m->ntags < ntags) {
				if (!BSON_ITER_HOLDS_UTF8(&tags))
					return mbh_error_set(err, EX_PROTOCOL,
							     "replSetGetConfig: config.members[%zu].tags.%s is not a string",
							     index, bson_iter_key(&tags));
				m->tags[m->ntags].key = strdup(bson_iter_key(&tags));
				m->tags[m->ntags].value = dup_utf8(&tags);
				m->ntags++;
				if (m->tags[m->ntags - 1].key == NULL || m->tags[m->ntags - 1].value == NULL)
					return mbh_error_set(err, EX_OSERR, "out of memory");
			}
		}
	}
	if (!have_id)
		return mbh_error_set(err, EX_PROTOCOL, "replSetGetConfig: config.members[%zu] has no _id", index);
	if (m->host == NULL)
		return mbh_error_set(err, EX_PROTOCOL, "replSetGetConfig: config.members[%zu] has no host", index);
	if (m->arbiter && !have_priority)
		m->priority = 0;
	return 0;
bad:
	return mbh_error_set(err, EX_PROTOCOL, "replSetGetConfig: config.members[%zu].%s has a bad value or type", index,
			     key);
}

/* Fill the status fields of the member whose host (or _id) matches one replSetGetStatus members[] entry. */
static int
parse_status_member(mbh_topology *t, const bson_iter_t *member_it, size_t index, mbh_error *err)
{
	bson_iter_t it;
	const char *key, *name = NULL;
	int64_t id = -1, n, health = -1, state = -1, optime_ms = 0;
	double d;
	const char *state_str = NULL, *sync = NULL;
	mbh_member *m = NULL;
	size_t i;

	if (!BSON_ITER_HOLDS_DOCUMENT(member_it) || !bson_iter_recurse(member_it, &it))
		return mbh_error_set(err, EX_PROTOCOL, "replSetGetStatus: members[%zu] is not a document", index);
	while (bson_iter_next(&it)) {
		key = bson_iter_key(&it);
		if (strcmp(key, "_id") == 0) {
			if (iter_int64(&it, 0, 1000000, &id) != 0)
				goto bad;
		} else if (strcmp(key, "name") == 0) {
			if (!BSON_ITER_HOLDS_UTF8(&it))
				goto bad;
			name = bson_iter_utf8(&it, NULL);
		} else if (strcmp(key, "health") == 0) {
			if (iter_number(&it, &d) != 0)
				goto bad;
			health = d >= 1 ? 1 : 0;
		} else if (strcmp(key, "state") == 0) {
			if (iter_int64(&it, 0, 100, &n) != 0)
				goto bad;
			state = n;
		} else if (strcmp(key, "stateStr") == 0) {
			if (!BSON_ITER_HOLDS_UTF8(&it))
				goto bad;
			state_str = bson_iter_utf8(&it, NULL);
		} else if (strcmp(key, "optimeDate") == 0) {
			if (iter_date_ms(&it, &optime_ms) != 0)
				goto bad;
		} else if (strcmp(key, "optime") == 0 && optime_ms == 0) {
			/* {ts: Timestamp, t: term}; optimeDate, when present, wins */
			bson_iter_t sub;
			if (BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &sub) &&
			    bson_iter_find(&sub, "ts") && BSON_ITER_HOLDS_TIMESTAMP(&sub))
				iter_date_ms(&sub, &optime_ms);
		} else if (strcmp(key, "syncSourceHost") == 0 || strcmp(key, "syncingTo") == 0) {
			if (!BSON_ITER_HOLDS_UTF8(&it))
				goto bad;
			sync = bson_iter_utf8(&it, NULL);
		}
	}
	if (name == NULL && id < 0)
		return mbh_error_set(err, EX_PROTOCOL, "replSetGetStatus: members[%zu] has neither name nor _id", index);
	if (state < 0)
		return mbh_error_set(err, EX_PROTOCOL, "replSetGetStatus: members[%zu] has no state", index);
	for (i = 0; i < t->nmembers && m == NULL; i++)
		if (name != NULL && strcmp(t->members[i].host, name) == 0)
			m = &t->members[i];
	for (i = 0; i < t->nmembers && m == NULL; i++)
		if (name == NULL && t->members[i].id == id)
			m = &t->members[i];
	if (m == NULL)
		return 0; /* a member the config no longer has: ignore it */
	/* the self entry has health too, but older servers may omit it: a reported state means reachable */
	m->health = health >= 0 ? (int)health : 1;
	m->state = (int)state;
	free(m->state_str);
	m->state_str = strdup(state_str != NULL ? state_str : "UNKNOWN");
	m->optime_ms = optime_ms;
	free(m->sync_source);
	m->sync_source = strdup(sync != NULL ? sync : "");
	if (m->state_str == NULL || m->sync_source == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	return 0;
bad:
	return mbh_error_set(err, EX_PROTOCOL, "replSetGetStatus: members[%zu].%s has a bad value or type", index, key);
}

/* Build the table from the replies. */
int
mbh_topology_from_replies(mbh_topology **out, const bson_t *config_reply, const bson_t *status_reply, mbh_error *err)
{
	mbh_topology *t = NULL;
	bson_iter_t it, cfg, members;
	const char *status_set = NULL;
	int64_t n;
	size_t count = 0, i;
	int voting = 0, voting_data = 0, majority, rc = -1;
	bool have_wmc = false;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	t->primary = -1;

	/* replSetGetConfig: {config: {_id, version, members: [...]}, ok: 1} */
	if (!bson_iter_init_find(&it, config_reply, "config") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
	    !bson_iter_recurse(&it, &cfg)) {
		mbh_error_set(err, EX_PROTOCOL, "replSetGetConfig: the reply has no config document");
		goto out;
	}
	while (bson_iter_next(&cfg)) {
		if (strcmp(bson_iter_key(&cfg), "_id") == 0) {
			if (!BSON_ITER_HOLDS_UTF8(&cfg) || (t->set_name = dup_utf8(&cfg)) == NULL ||
			    t->set_name[0] == '\0') {
				mbh_error_set(err, EX_PROTOCOL, "replSetGetConfig: config._id is not a set name");
				goto out;
			}
		} else if (strcmp(bson_iter_key(&cfg), "version") == 0) {
			if (iter_int64(&cfg, INT64_MIN, INT64_MAX, &t->config_version) != 0) {
				mbh_error_set(err, EX_PROTOCOL, "replSetGetConfig: config.version is not a number");
				goto out;
			}
		} else if (strcmp(bson_iter_key(&cfg), "members") == 0) {
			if (!BSON_ITER_HOLDS_ARRAY(&cfg) || !bson_iter_recurse(&cfg, &members)) {
				mbh_error_set(err, EX_PROTOCOL, "replSetGetConfig: config.members is not an array");
				goto out;
			}
			while (bson_iter_next(&members))
				count++;
			if (count == 0)
				break;
			if ((t->members = calloc(count, sizeof(*t->members))) == NULL) {
				mbh_error_set(err, EX_OSERR, "out of memory");
				goto out;
			}
			bson_iter_recurse(&cfg, &members);
			while (bson_iter_next(&members) && t->nmembers < count) {
				mbh_member *m = &t->members[t->nmembers++];
				/* until replSetGetStatus says otherwise: down */
				m->health = 0;
				m->state = MBH_RS_UNKNOWN;
				if (parse_config_member(m, &members, t->nmembers - 1, err) != 0)
					goto out;
			}
		}
	}
	if (t->set_name == NULL) {
		mbh_error_set(err, EX_PROTOCOL, "replSetGetConfig: config has no _id (set name)");
		goto out;
	}
	if (t->nmembers == 0) {
		mbh_error_set(err, EX_PROTOCOL, "replSetGetConfig: config has no members");
		goto out;
	}
	for (i = 0; i < t->nmembers; i++) {
		t->members[i].state_str = strdup("UNKNOWN");
		t->members[i].sync_source = strdup("");
		if (t->members[i].state_str == NULL || t->members[i].sync_source == NULL) {
			mbh_error_set(err, EX_OSERR, "out of memory");
			goto out;
		}
	}

	/* replSetGetStatus: {set, date, writeMajorityCount, members: [...], ok: 1} */
	if (!bson_iter_init(&it, status_reply)) {
		mbh_error_set(err, EX_PROTOCOL, "replSetGetStatus: the reply is not a document");
		goto out;
	}
	while (bson_iter_next(&it)) {
		const char *key = bson_iter_key(&it);

		if (strcmp(key, "set") == 0) {
			if (!BSON_ITER_HOLDS_UTF8(&it)) {
				mbh_error_set(err, EX_PROTOCOL, "replSetGetStatus: set is not a string");
				goto out;
			}
			status_set = bson_iter_utf8(&it, NULL);
		} else if (strcmp(key, "date") == 0) {
			if (iter_date_ms(&it, &t->date_ms) != 0) {
				mbh_error_set(err, EX_PROTOCOL, "replSetGetStatus: date is not a date");
				goto out;
			}
		} else if (strcmp(key, "writeMajorityCount") == 0) {
			if (iter_int64(&it, 0, 1000, &n) != 0) {
				mbh_error_set(err, EX_PROTOCOL, "replSetGetStatus: writeMajorityCount is not a count");
				goto out;
			}
			t->write_majority_count = (int)n;
			have_wmc = true;
		} else if (strcmp(key, "members") == 0) {
			if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &members)) {
				mbh_error_set(err, EX_PROTOCOL, "replSetGetStatus: members is not an array");
				goto out;
			}
			i = 0;
			while (bson_iter_next(&members))
				if (parse_status_member(t, &members, i++, err) != 0)
					goto out;
		}
	}
	if (status_set == NULL) {
		mbh_error_set(err, EX_PROTOCOL, "replSetGetStatus: the reply has no set name");
		goto out;
	}
	if (strcmp(status_set, t->set_name) != 0) {
		mbh_error_set(err, EX_PROTOCOL, "replSetGetStatus names set %s but replSetGetConfig names %s", status_set,
			      t->set_name);
		goto out;
	}
	for (i = 0; i < t->nmembers; i++) {
		const mbh_member *m = &t->members[i];

		if (m->state == MBH_RS_PRIMARY && m->health == 1 && t->primary < 0)
			t->primary = (int)i;
		if (m->votes > 0) {
			voting++;
			if (!m->arbiter)
				voting_data++;
		}
	}
	if (!have_wmc) {
		/* as the server computes it: a majority of voters, but no more than the data-bearing voters */
		majority = voting / 2 + 1;
		t->write_majority_count = majority < voting_data ? majority : voting_data;
	}
	*out = t;
	t = NULL;
	rc = 0;
out:
	mbh_topology_free(t);
	return rc;
}

/* Run one admin command with primaryPreferred; the reply is always initialised. */
static int
run_admin(mongoc_client_t *client, const mongoc_uri_t *uri, mbh_scram_login *login, uint32_t server_id,
	  const char *command, bson_t *reply, mbh_error *err)
{
	mongoc_read_prefs_t *prefs = mongoc_read_prefs_new(MONGOC_READ_PRIMARY_PREFERRED);
	bson_t *cmd = BCON_NEW(command, BCON_INT32(1));
	bson_error_t e;
	bool ok;
	int rc = 0;

	if (server_id != 0)
		ok = mongoc_client_command_simple_with_server_id(client, "admin", cmd, prefs, server_id, reply, &e);
	else
		ok = mongoc_client_command_simple(client, "admin", cmd, prefs, reply, &e);
	if (!ok)
		rc = uri != NULL ? mbh_mongo_error_as(err, &e, uri, login, command, NULL)
				 : mbh_mongo_error(err, &e, client, command, NULL);
	bson_destroy(cmd);
	mongoc_read_prefs_destroy(prefs);
	return rc;
}

/* Fetch both replies and build the table. */
int
mbh_topology_fetch(mbh_topology **out, mongoc_client_t *client, const mongoc_uri_t *uri, mbh_scram_login *login,
		   mbh_error *err)
{
	return mbh_topology_fetch_from(out, client, uri, login, 0, err);
}

/* The same from one member (server_id from the client's topology; 0 = primaryPreferred). */
int
mbh_topology_fetch_from(mbh_topology **out, mongoc_client_t *client, const mongoc_uri_t *uri,
			mbh_scram_login *login, uint32_t server_id, mbh_error *err)
{
	bson_t config_reply, status_reply;
	int rc = -1;

	*out = NULL;
	bson_init(&status_reply);
	if (run_admin(client, uri, login, server_id, "replSetGetConfig", &config_reply, err) != 0)
		goto out;
	bson_destroy(&status_reply);
	if (run_admin(client, uri, login, server_id, "replSetGetStatus", &status_reply, err) != 0)
		goto out;
	rc = mbh_topology_from_replies(out, &config_reply, &status_reply, err);
out:
	bson_destroy(&config_reply);
	bson_destroy(&status_reply);
	return rc;
}

/* Lag behind the primary, or behind the newest healthy data-bearing member when there is none. */
int64_t
mbh_topology_lag_seconds(const mbh_topology *t, size_t i)
{
	int64_t ref = 0, lag;
	size_t j;

	if (i >= t->nmembers)
		return 0;
	if (t->primary >= 0)
		ref = t->members[t->primary].optime_ms;
	if (ref == 0)
		for (j = 0; j < t->nmembers; j++)
			if (t->members[j].health == 1 && !t->members[j].arbiter && t->members[j].optime_ms > ref)
				ref = t->members[j].optime_ms;
	lag = (ref - t->members[i].optime_ms) / 1000;
	return lag > 0 ? lag : 0;
}

/*
 * The discovery client's server id for host_port if its topology shows it as
 * a secondary, else 0 (hidden and delayed members are never in hello).
 */
static uint32_t
client_secondary(mongoc_client_t *client, const char *host_port)
{
	mongoc_server_description_t **sds;
	const mongoc_host_list_t *h;
	size_t n = 0, i;
	uint32_t id = 0;

	if (client == NULL || (sds = mongoc_client_get_server_descriptions(client, &n)) == NULL)
		return 0;
	for (i = 0; i < n && id == 0; i++) {
		h = mongoc_server_description_host(sds[i]);
		if (h != NULL && strcasecmp(h->host_and_port, host_port) == 0 &&
		    strcmp(mongoc_server_description_type(sds[i]), "RSSecondary") == 0)
			id = mongoc_server_description_id(sds[i]);
	}
	mongoc_server_descriptions_destroy_all(sds, n);
	return id;
}

/* A session to one member: over the client when it can, else direct. */
int
mbh_topology_session(mbh_lock_session **out, mongoc_client_t *client, const mongoc_uri_t *uri,
		     mbh_scram_login *login, const char *host_port, bool *shared, mbh_error *err)
{
	uint32_t id = client_secondary(client, host_port);

	*out = NULL;
	*shared = id != 0;
	if (id != 0)
		return mbh_lock_session_new_shared(out, client, id, host_port, uri, login, err);
	if (uri == NULL)
		return mbh_error_set(err, EX_SOFTWARE, "no connection to %s", host_port);
	return mbh_lock_session_new(out, uri, host_port, login, err);
}

/* currentOp on one member: is it fsync-locked (by anyone)? */
int
mbh_topology_ask_fsync(void *asker, const mbh_member *m, bool *locked, mbh_error *err)
{
	const mbh_fsync_asker *a = asker;
	mbh_lock_session *s = NULL;
	bool shared;
	int rc;

	*locked = false;
	rc = mbh_topology_session(&s, a->client, a->uri, a->login, m->host, &shared, err);
	if (rc == 0)
		rc = mbh_lock_is_fsync_locked(s, locked, err);
	mbh_lock_session_free(s);
	return rc;
}

/* Free the table; NULL is fine. */
void
mbh_topology_free(mbh_topology *t)
{
	size_t i, k;

	if (t == NULL)
		return;
	for (i = 0; i < t->nmembers; i++) {
		mbh_member *m = &t->members[i];

		free(m->host);
		for (k = 0; k < m->ntags; k++) {
			free(m->tags[k].key);
			free(m->tags[k].value);
		}
		free(m->tags);
		free(m->state_str);
		free(m->sync_source);
		free(m->fsync_error);
	}
	free(t->members);
	free(t->set_name);
	free(t);
}
