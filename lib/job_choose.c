/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* job_choose.c: a job's discovery of the set, its choice of member and its session to it. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <sysexits.h>

#include "hostid.h"
#include "jobint.h"
#include "log.h"
#include "mongoerr.h"
#include "scram_once.h"
#include "uri.h"

/* Build the URI once. */
int
mbh_job_uri(mbh_job *j, mbh_error *err)
{
	mbh_uri_settings us;

	if (j->uri != NULL)
		return 0;
	mbh_config_uri_settings(j->cfg, &us);
	if (mbh_uri_build(&j->uri, &us, err) != 0)
		return -1;
	/* NULL: libmongoc authenticates (see scram_once.h) */
	j->login = mbh_scram_login_holds(j->shared_login, j->uri) ? j->shared_login : mbh_scram_login_new(j->uri);
	return 0;
}

/* Every required tag is in the member's hello "tags". */
static bool
hello_has_tags(const bson_t *hello, const mbh_config *cfg)
{
	bson_iter_t it, tag;
	size_t k;

	for (k = 0; k < cfg->selection.ntags; k++) {
		if (!bson_iter_init_find(&it, hello, "tags") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
		    !bson_iter_recurse(&it, &tag) || !bson_iter_find(&tag, cfg->selection.tags[k].key) ||
		    !BSON_ITER_HOLDS_UTF8(&tag) || strcmp(bson_iter_utf8(&tag, NULL), cfg->selection.tags[k].value) != 0)
			return false;
	}
	return true;
}

/*
 * The visible secondary that will probably be locked, guessed from the
 * unauthenticated hello of each member: the forced member, else a passive
 * (priority 0) secondary before the others, with the required tags, the
 * freshest lastWrite first.  Discovery then asks that member, and the lock
 * reuses its authenticated connection (one SCRAM conversation fewer; with
 * libmongoc's own authentication, one key derivation fewer, ~20 ms).
 * 0 = no guess.  A wrong guess (say a hidden member is chosen) only costs
 * that second conversation.
 */
static uint32_t
likely_member(mbh_job *j)
{
	mongoc_server_description_t **sds = NULL;
	const mongoc_host_list_t *h;
	const bson_t *hello;
	bson_iter_t it, lw;
	size_t n = 0, i;
	uint32_t best = 0;
	int64_t best_write = -1, write;
	int best_score = -1, score;

	if ((sds = mongoc_client_get_server_descriptions(j->client, &n)) == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		if (strcmp(mongoc_server_description_type(sds[i]), "RSSecondary") != 0 ||
		    (h = mongoc_server_description_host(sds[i])) == NULL)
			continue;
		if (j->cfg->selection.policy == MBH_POLICY_MEMBER) {
			if (j->cfg->selection.member != NULL && strcasecmp(h->host_and_port, j->cfg->selection.member) == 0)
				best = mongoc_server_description_id(sds[i]);
			continue;
		}
		hello = mongoc_server_description_hello_response(sds[i]);
		if (!hello_has_tags(hello, j->cfg))
			continue;
		score = bson_iter_init_find(&it, hello, "passive") && bson_iter_as_bool(&it) ? 1 : 0;
		write = bson_iter_init_find(&it, hello, "lastWrite") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
				bson_iter_recurse(&it, &lw) && bson_iter_find(&lw, "lastWriteDate") &&
				BSON_ITER_HOLDS_DATE_TIME(&lw)
			? bson_iter_date_time(&lw)
			: 0;
		if (score > best_score || (score == best_score && write > best_write)) {
			best = mongoc_server_description_id(sds[i]);
			best_score = score;
			best_write = write;
		}
	}
	mongoc_server_descriptions_destroy_all(sds, n);
	return best;
}

/*
 * The discovery client (made once) and its first scan (every member's
 * hello, no authentication yet).  Its failure is the one to report: a
 * second try inside libmongoc's 5 s cooldown would only say "No servers yet
 * eligible for rescan".  *sd: a server it found (caller destroys).
 */
static int
first_scan(mbh_job *j, mongoc_server_description_t **sd, mbh_error *err)
{
	mongoc_read_prefs_t *prefs;
	bson_error_t e;

	if (j->client == NULL) {
		/* it may authenticate to several members: the run's login derives the key once */
		if ((j->client = mbh_scram_client_new(j->uri, j->login, &e)) == NULL)
			return mbh_mongo_client_error(err, &e);
	}
	prefs = mongoc_read_prefs_new(MONGOC_READ_PRIMARY_PREFERRED);
	*sd = mongoc_client_select_server(j->client, false, prefs, &e);
	mongoc_read_prefs_destroy(prefs);
	if (*sd == NULL)
		return mbh_mongo_error_as(err, &e, j->uri, j->login, "hello", NULL);
	return 0;
}

/* See job.h. */
int
mbh_job_is_mongos(mbh_job *j, bool *is_mongos, mbh_error *err)
{
	mongoc_server_description_t *sd;

	struct timespec now;

	*is_mongos = false;
	clock_gettime(CLOCK_REALTIME, &now);
	j->t_begin = (double)now.tv_sec + now.tv_nsec / 1e9; /* a failure here is the run's: its metrics start now */
	if (mbh_job_uri(j, err) != 0)
		return -1;
	/* a connection string naming its replica set is one: no question to ask */
	if (mongoc_uri_get_replica_set(j->uri) != NULL)
		return 0;
	if (first_scan(j, &sd, err) != 0)
		return -1;
	*is_mongos = strcmp(mongoc_server_description_type(sd), "Mongos") == 0;
	mongoc_server_description_destroy(sd);
	return 0;
}

/* Connect for discovery and read the member table. */
int
mbh_job_discover(mbh_job *j, mbh_topology **out, mbh_error *err)
{
	mongoc_server_description_t *sd;
	mbh_error e2;
	uint32_t id;

	*out = NULL;
	if (mbh_job_uri(j, err) != 0)
		return -1;
	mbh_logf(j->log, MBH_LOG_DEBUG, "discovering the replica set");
	if (first_scan(j, &sd, err) != 0)
		return -1;
	mongoc_server_description_destroy(sd);
	id = likely_member(j);
	if (id != 0) {
		mbh_error_init(&e2);
		if (mbh_topology_fetch_from(out, j->client, j->uri, j->login, id, &e2) != 0)
			mbh_logf(j->log, MBH_LOG_DEBUG, "asking the likely member failed (%s); asking the primary", e2.msg);
	}
	if (*out == NULL && mbh_topology_fetch(out, j->client, j->uri, j->login, err) != 0)
		return -1;
	snprintf(j->set, sizeof(j->set), "%s", (*out)->set_name);
	mbh_logf(j->log, MBH_LOG_DEBUG, "replica set %s: %zu members, config version %lld", (*out)->set_name,
		(*out)->nmembers, (long long)(*out)->config_version);
	return 0;
}

/* See jobint.h. */
int
mbh_job_ask_fsync(void *job, const mbh_member *m, bool *locked, mbh_error *err)
{
	mbh_job *j = job;
	mbh_fsync_asker asker = { j->client, j->uri, j->login };
	int rc = mbh_topology_ask_fsync(&asker, m, locked, err);

	mbh_logf(j->log, MBH_LOG_DEBUG, "asked %s with currentOp: %s", m->host,
		 rc != 0 ? "no answer" : *locked ? "fsync-locked" : "not fsync-locked");
	return rc;
}

/* Choose the member with the options of the config. */
int
mbh_job_choose(mbh_job *j, mbh_topology *t, bool all, mbh_selection **out, mbh_error *err)
{
	mbh_select_opts o;
	char **local = NULL;
	int rc;

	memset(&o, 0, sizeof(o));
	o.policy = j->cfg->selection.policy;
	o.member = j->cfg->selection.member;
	o.max_lag_seconds = j->cfg->selection.max_lag_seconds;
	o.allow_delayed = j->cfg->selection.allow_delayed > 0;
	o.tags = j->cfg->selection.tags;
	o.ntags = j->cfg->selection.ntags;
	o.allow_majority_stall = j->cfg->lock.allow_majority_stall > 0;
	o.allow_locked = j->cfg->lock.refuse_if_locked == 0;
	o.ask_fsync = mbh_job_ask_fsync;
	o.ask_ctx = j;
	o.all_verdicts = all;
	if (o.policy == MBH_POLICY_LOCAL) {
		if ((local = mbh_host_names()) == NULL)
			return mbh_error_set(err, EX_OSERR, "out of memory");
		o.local_hosts = (const char *const *)local;
	}
	rc = mbh_select(out, t, &o, err);
	mbh_strv_free(local);
	return rc;
}

/* The member session for the lock: see mbh_topology_session (one connection, one SCRAM conversation when it can). */
int
mbh_job_open_session(mbh_job *j, const char *host_port, mbh_error *err)
{
	bool shared = false;
	int rc;

	rc = mbh_topology_session(&j->session, j->client, j->uri, j->login, host_port, &shared, err);
	mbh_logf(j->log, MBH_LOG_DEBUG, "locking %s over %s", host_port,
		 shared ? "the discovery connection" : "a direct connection");
	return rc;
}

/*
 * Which set post/status act on: --set, else the URI's replicaSet=, else the
 * only record in the state directory.  *found=false when none.
 */
int
mbh_job_resolve_set(mbh_job *j, bool *found, mbh_error *err)
{
	const char *rs;
	char **sets = NULL;
	size_t n = 0;
	int rc = -1;

	*found = false;
	if (j->set_override != NULL) {
		snprintf(j->set, sizeof(j->set), "%s", j->set_override);
		*found = true;
		return 0;
	}
	if (j->cfg->uri != NULL) {
		if (mbh_job_uri(j, err) != 0)
			return -1;
		rs = mongoc_uri_get_replica_set(j->uri);
		if (rs != NULL && rs[0] != '\0') {
			snprintf(j->set, sizeof(j->set), "%s", rs);
			*found = true;
			return 0;
		}
	}
	if (mbh_state_list(&sets, j->cfg->state_dir, err) != 0)
		return -1;
	while (sets[n] != NULL)
		n++;
	if (n > 1) {
		mbh_error_set(err, EX_USAGE,
			      "%s holds the state of several replica sets (%s, %s%s): name one with --set or "
			      "replicaSet= in the URI",
			      j->cfg->state_dir, sets[0], sets[1], n > 2 ? ", ..." : "");
		goto out;
	}
	if (n == 1) {
		snprintf(j->set, sizeof(j->set), "%s", sets[0]);
		*found = true;
	}
	rc = 0;
out:
	mbh_strv_free(sets);
	return rc;
}
