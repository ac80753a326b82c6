/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cluster.c: a sharded cluster's online backup: discovery through mongos, the balancer, the parallel lock (cluster.h). */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include "cluster.h"
#include "cmdenv.h"
#include "crash.h"
#include "job.h"
#include "lock.h"
#include "mongoerr.h"
#include "release.h"
#include "run.h"
#include "scram_once.h"
#include "state.h"
#include "strv.h"
#include "testtime.h"
#include "timefmt.h"
#include "uri.h"
#include "watchdog.h"

/* One component: a replica set handled by its own job. */
typedef struct comp {
	mbh_config cfg;        /* the run's config, copied shallowly: this set's uri and state_dir */
	char *uri;             /* owned: the set's connection string (may hold the run's password) */
	char *dir;             /* owned: its state_dir, DIR/CLUSTER.cluster.d/SET (its own unlock claim) */
	mbh_job *job;
	size_t idx;            /* its line in the record */
	pthread_t th;
	bool started;
	int rc;                /* what its thread's step returned */
	mbh_error err;
	char *text;            /* --dry-run: its member table */
	struct gate *gate;     /* the lock: where its flow waits before the fsync lock */
	bool arrived;          /* its flow reached the gate (under gate->mu) */
	bool aborted;          /* ... and was sent back: another component failed first */
} comp;

/*
 * Where every component's lock flow waits, right before its fsync lock,
 * until all have arrived (then the balancer is stopped and the gate opened:
 * the locks go out together) or one has failed on its way (then the gate
 * aborts: nothing is locked anywhere).
 */
typedef struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t n, arrived, left; /* left: flows that ended without arriving (failed before the lock) */
	bool open, abort;
} gate;

/* mbh_job_params.before_lock: wait at the gate; -1 when it aborts. */
static int
gate_wait(void *ctx)
{
	comp *c = ctx;
	gate *g = c->gate;
	int rc;

	pthread_mutex_lock(&g->mu);
	c->arrived = true;
	g->arrived++;
	pthread_cond_broadcast(&g->cv);
	while (!g->open && !g->abort)
		pthread_cond_wait(&g->cv, &g->mu);
	rc = g->open ? 0 : -1;
	c->aborted = rc != 0;
	pthread_mutex_unlock(&g->mu);
	return rc;
}

struct mbh_cluster {
	const mbh_config *cfg;
	mbh_logger *log;
	char *job_name, *mode, *watchdog_path, *gate_path;
	int cancel_fd;
	mongoc_uri_t *uri;         /* the mongos's */
	mbh_scram_login *login;    /* with uri: one SCRAM key derivation for the mongos and every component */
	mongoc_client_t *client;
	char version[64];          /* buildInfo on the mongos */
	char *comp_dir;            /* DIR/CLUSTER.cluster.d */
	mbh_state *state;          /* the cluster's flock, while not NULL */
	mbh_cluster_rec *rec;
	comp *comps;
	size_t n;
	bool held;                 /* rec describes locks we hold */
	pthread_mutex_t unlock_mu; /* mbh_cluster_unlock from two threads (the plugin's unload beside the job's) */
	bool closing;              /* mbh_cluster_free began (under unlock_mu): comp_idle leaves the comps alone */
	int64_t pause_ms;          /* exact mode: the writes' pause, lock reply to unlock reply */
};

static void comp_idle(void *ctx);

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* See cluster.h. */
int
mbh_cluster_new(mbh_cluster **out, const mbh_cluster_params *p, mbh_error *err)
{
	mbh_cluster *cl;

	*out = NULL;
	if ((cl = calloc(1, sizeof(*cl))) == NULL || (cl->rec = calloc(1, sizeof(*cl->rec))) == NULL) {
		free(cl);
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	pthread_mutex_init(&cl->unlock_mu, NULL);
	cl->cfg = p->cfg;
	cl->log = p->log;
	cl->cancel_fd = p->cancel_fd;
	cl->job_name = strdup(p->job_name != NULL ? p->job_name : "");
	cl->mode = strdup(p->mode != NULL ? p->mode : "hooks");
	cl->watchdog_path = dup_or_null(p->watchdog_path);
	cl->gate_path = dup_or_null(p->gate_path);
	if (cl->job_name == NULL || cl->mode == NULL || (p->watchdog_path != NULL && cl->watchdog_path == NULL) ||
	    (p->gate_path != NULL && cl->gate_path == NULL)) {
		mbh_cluster_free(cl);
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	*out = cl;
	return 0;
}

/* See cluster.h. */
bool
mbh_cluster_fsync_gate(const char *version)
{
	static const int since[][3] = { { 4, 4, 25 }, { 5, 0, 22 }, { 6, 0, 11 }, { 7, 0, 2 } };
	int a = 0, b = 0, c = 0;
	size_t i;

	if (version == NULL || sscanf(version, "%d.%d.%d", &a, &b, &c) < 2)
		return false;
	if (a > 7 || (a == 7 && b >= 1))
		return true;
	for (i = 0; i < sizeof(since) / sizeof(since[0]); i++)
		if (a == since[i][0] && b == since[i][1])
			return c >= since[i][2];
	return false;
}

/* ---- the mongos ---------------------------------------------------------------------------------------- */

/* The mongos's URI and the run's SCRAM login (NULL: libmongoc authenticates), built once. */
static int
cluster_uri(mbh_cluster *cl, mbh_error *err)
{
	mbh_uri_settings us;

	if (cl->uri != NULL)
		return 0;
	mbh_config_uri_settings(cl->cfg, &us);
	if (mbh_uri_build(&cl->uri, &us, err) != 0)
		return -1;
	cl->login = mbh_scram_login_new(cl->uri);
	return 0;
}

static int
mongos_connect(mbh_cluster *cl, mbh_error *err)
{
	bson_error_t e;

	if (cl->client != NULL)
		return 0;
	if (cluster_uri(cl, err) != 0)
		return -1;
	if ((cl->client = mbh_scram_client_new(cl->uri, cl->login, &e)) == NULL)
		return mbh_mongo_client_error(err, &e);
	return 0;
}

/* One admin command {name: 1} through client (made from uri with login); reply always initialised (caller destroys it). */
static int
client_cmd(mongoc_client_t *client, const mongoc_uri_t *uri, mbh_scram_login *login, const char *name, bson_t *reply,
	   mbh_error *err)
{
	bson_t cmd = BSON_INITIALIZER;
	bson_error_t e;
	bool ok;

	BSON_APPEND_INT32(&cmd, name, 1);
	ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, reply, &e);
	bson_destroy(&cmd);
	if (!ok)
		return mbh_mongo_error_as(err, &e, uri, login, name, NULL);
	return 0;
}

/* One admin command on the mongos; reply always initialised (caller destroys it). */
static int
mongos_cmd(mbh_cluster *cl, const char *name, bson_t *reply, mbh_error *err)
{
	if (mongos_connect(cl, err) != 0) {
		bson_init(reply);
		return -1;
	}
	return client_cmd(cl->client, cl->uri, cl->login, name, reply, err);
}

/* See cluster.h. */
int
mbh_cluster_balancer_start(const mongoc_uri_t *uri, mbh_error *err)
{
	mongoc_client_t *client;
	bson_error_t e;
	bson_t reply;
	int rc;

	if ((client = mongoc_client_new_from_uri_with_error(uri, &e)) == NULL)
		return mbh_mongo_client_error(err, &e);
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	rc = client_cmd(client, uri, NULL, "balancerStart", &reply, err);
	bson_destroy(&reply);
	mongoc_client_destroy(client);
	return rc;
}

/* The balancer's mode ("full" or "off") into mode. */
static int
balancer_mode(mbh_cluster *cl, char *mode, size_t len, mbh_error *err)
{
	bson_t reply;
	bson_iter_t it;
	int rc = -1;

	if (mongos_cmd(cl, "balancerStatus", &reply, err) != 0)
		goto out;
	if (!bson_iter_init_find(&it, &reply, "mode") || !BSON_ITER_HOLDS_UTF8(&it)) {
		mbh_error_set(err, EX_PROTOCOL, "balancerStatus on the mongos: no mode in the reply");
		goto out;
	}
	snprintf(mode, len, "%s", bson_iter_utf8(&it, NULL));
	rc = 0;
out:
	bson_destroy(&reply);
	return rc;
}

/* balancerStop (it waits for a running round) or balancerStart. */
static int
balancer_set(mbh_cluster *cl, bool run, mbh_error *err)
{
	bson_t reply;
	int rc = mongos_cmd(cl, run ? "balancerStart" : "balancerStop", &reply, err);

	bson_destroy(&reply);
	if (rc == 0)
		mbh_logf(cl->log, MBH_LOG_INFO, "%s the balancer", run ? "started" : "stopped");
	return rc;
}

/* Add a component from its "SET/HOST,..." connection string. */
static int
add_component(mbh_cluster *cl, const char *name, const char *conn, mbh_error *err)
{
	mbh_cluster_comp *c;

	if (cl->rec->ncomps == MBH_CLUSTER_MAX_COMPONENTS)
		return mbh_error_set(err, EX_SOFTWARE, "the cluster has more than %d shards: not supported",
				     MBH_CLUSTER_MAX_COMPONENTS - 1);
	c = &cl->rec->comps[cl->rec->ncomps];
	memset(c, 0, sizeof(*c));
	if (strlen(name) >= sizeof(c->name) || strchr(name, ' ') != NULL || name[0] == '\0')
		return mbh_error_set(err, EX_PROTOCOL, "listShards: a shard's _id cannot be used ('%.40s')", name);
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (mbh_uri_parse_set_conn(conn, c->set, sizeof(c->set), c->hosts, sizeof(c->hosts), err) != 0)
		return mbh_error_prefix(err, "%s %s", strcmp(name, "config") == 0 ? "the config servers" : "shard", name);
	if (!mbh_state_set_name_ok(c->set))
		return mbh_error_set(err, EX_PROTOCOL, "component %s: its set name cannot name a record", name);
	c->lock_ms = -1;
	cl->rec->ncomps++;
	return 0;
}

/* listShards, getShardMap (the CSRS), balancerStatus, buildInfo: the record's components and facts. */
static int
read_cluster(mbh_cluster *cl, mbh_error *err)
{
	bson_t reply;
	bson_iter_t it, arr, doc, f;
	const char *id, *host;
	int rc = -1;

	cl->rec->ncomps = 0;
	if (mongos_cmd(cl, "getShardMap", &reply, err) != 0)
		goto out;
	if (!bson_iter_init_find(&it, &reply, "map") || !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &doc) ||
	    !bson_iter_find(&doc, "config") || !BSON_ITER_HOLDS_UTF8(&doc)) {
		mbh_error_set(err, EX_PROTOCOL, "getShardMap on the mongos: no map.config (the config servers)");
		goto out;
	}
	if (add_component(cl, "config", bson_iter_utf8(&doc, NULL), err) != 0)
		goto out;
	bson_destroy(&reply);
	if (mongos_cmd(cl, "listShards", &reply, err) != 0)
		goto out;
	if (!bson_iter_init_find(&it, &reply, "shards") || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr)) {
		mbh_error_set(err, EX_PROTOCOL, "listShards on the mongos: no shards array");
		goto out;
	}
	while (bson_iter_next(&arr)) {
		id = host = NULL;
		if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &doc))
			continue;
		while (bson_iter_next(&doc)) {
			if (strcmp(bson_iter_key(&doc), "_id") == 0 && BSON_ITER_HOLDS_UTF8(&doc))
				id = bson_iter_utf8(&doc, NULL);
			else if (strcmp(bson_iter_key(&doc), "host") == 0 && BSON_ITER_HOLDS_UTF8(&doc))
				host = bson_iter_utf8(&doc, NULL);
		}
		if (id == NULL || host == NULL) {
			mbh_error_set(err, EX_PROTOCOL, "listShards on the mongos: a shard without _id or host");
			goto out;
		}
		if (strcmp(id, "config") == 0) {
			mbh_error_set(err, EX_PROTOCOL, "listShards: a shard named \"config\" is not supported");
			goto out;
		}
		if (add_component(cl, id, host, err) != 0)
			goto out;
	}
	if (cl->rec->ncomps < 2) {
		mbh_error_set(err, EX_UNAVAILABLE, "the cluster has no shard (listShards is empty): nothing to back up");
		goto out;
	}
	bson_destroy(&reply);
	bson_init(&reply);
	if (balancer_mode(cl, cl->rec->balancer, sizeof(cl->rec->balancer), err) != 0)
		goto out;
	if (strcmp(cl->rec->balancer, "full") != 0 && strcmp(cl->rec->balancer, "off") != 0) {
		mbh_error_set(err, EX_PROTOCOL, "balancerStatus: unknown mode '%.20s'", cl->rec->balancer);
		goto out;
	}
	bson_destroy(&reply);
	cl->version[0] = '\0';
	if (mongos_cmd(cl, "buildInfo", &reply, err) != 0)
		goto out;
	if (bson_iter_init_find(&f, &reply, "version") && BSON_ITER_HOLDS_UTF8(&f))
		snprintf(cl->version, sizeof(cl->version), "%s", bson_iter_utf8(&f, NULL));
	rc = 0;
out:
	bson_destroy(&reply);
	return rc;
}

/* ---- the components -------------------------------------------------------------------------------------- */

static void
free_comps(mbh_cluster *cl)
{
	size_t i;

	for (i = 0; i < cl->n; i++) {
		mbh_job_free(cl->comps[i].job);
		if (cl->comps[i].uri != NULL)
			explicit_bzero(cl->comps[i].uri, strlen(cl->comps[i].uri));
		free(cl->comps[i].uri);
		free(cl->comps[i].dir);
		free(cl->comps[i].text);
	}
	free(cl->comps);
	cl->comps = NULL;
	cl->n = 0;
}

/* DIR/NAME.cluster.d, where the components keep their records. */
static int
set_comp_dir(mbh_cluster *cl, mbh_error *err)
{
	size_t n = strlen(cl->cfg->state_dir) + strlen(cl->rec->name) + sizeof(MBH_CLUSTER_SUFFIX) + 8;

	free(cl->comp_dir);
	if ((cl->comp_dir = malloc(n)) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	snprintf(cl->comp_dir, n, "%s/%s%s.d", cl->cfg->state_dir, cl->rec->name, MBH_CLUSTER_SUFFIX);
	return 0;
}

/* A job per component of the record, each with the run's config aimed at its set. */
static int
make_comps(mbh_cluster *cl, mbh_error *err)
{
	mbh_job_params jp;
	size_t i;

	free_comps(cl);
	if (set_comp_dir(cl, err) != 0 || cluster_uri(cl, err) != 0) /* the login the components share */
		return -1;
	if ((cl->comps = calloc(cl->rec->ncomps, sizeof(*cl->comps))) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	for (i = 0; i < cl->rec->ncomps; i++) {
		comp *c = &cl->comps[i];
		const mbh_cluster_comp *rc = &cl->rec->comps[i];

		cl->n++;
		c->idx = i;
		mbh_error_init(&c->err);
		if (mbh_uri_for_set(&c->uri, cl->cfg->uri, rc->set, rc->hosts, err) != 0)
			return -1;
		c->cfg = *cl->cfg;
		c->cfg.uri = c->uri;
		/* a directory each: a set's unlock claim is its directory's flock, and the unlocks go in parallel */
		if (asprintf(&c->dir, "%s/%s", cl->comp_dir, rc->set) < 0) {
			c->dir = NULL;
			return mbh_error_set(err, EX_OSERR, "out of memory");
		}
		c->cfg.state_dir = c->dir;
		/* online mode takes no snapshot: the cluster refuses a snapshot group before this */
		c->cfg.snapshot.create = c->cfg.snapshot.remove = NULL;
		memset(&jp, 0, sizeof(jp));
		jp.cfg = &c->cfg;
		jp.log = cl->log;
		jp.job_name = cl->job_name[0] != '\0' ? cl->job_name : NULL;
		jp.mode = cl->mode;
		jp.set_name = rc->set;
		jp.watchdog_path = cl->watchdog_path;
		jp.gate_path = cl->gate_path;
		jp.cancel_fd = cl->cancel_fd;
		jp.before_lock = gate_wait;
		jp.before_lock_ctx = c;
		jp.login = cl->login;
		jp.after_idle = comp_idle;
		jp.after_idle_ctx = cl;
		if (mbh_job_new(&c->job, &jp, err) != 0)
			return -1;
	}
	return 0;
}

/* Discover the cluster and make its components' jobs. */
static int
discover(mbh_cluster *cl, mbh_error *err)
{
	mbh_logf(cl->log, MBH_LOG_DEBUG, "discovering the sharded cluster");
	if (read_cluster(cl, err) != 0)
		return -1;
	snprintf(cl->rec->name, sizeof(cl->rec->name), "%s",
		 cl->cfg->cluster.name != NULL ? cl->cfg->cluster.name : cl->rec->comps[0].set);
	cl->rec->mode = cl->cfg->cluster.mode;
	mbh_logf(cl->log, MBH_LOG_DEBUG, "cluster %s: %zu shards, balancer %s, mongos %s", cl->rec->name,
		 cl->rec->ncomps - 1, cl->rec->balancer, cl->version[0] != '\0' ? cl->version : "of unknown version");
	return make_comps(cl, err);
}

/* "component NAME (set SET)" */
static void
comp_label(const mbh_cluster_comp *c, char *buf, size_t len)
{
	snprintf(buf, len, "component %s (set %s)", c->name, c->set);
}

/* The mode's refusal, before anything is touched; 0 when the mode can run. */
static int
mode_check(mbh_cluster *cl, mbh_error *err)
{
	if (cl->cfg->selection.policy == MBH_POLICY_MEMBER)
		return mbh_error_set(err, EX_CONFIG,
				     "selection.policy \"member\" names one member and a cluster needs one per shard and one "
				     "of the config servers: use selection.tags (tag the members to back up) instead");
	if (cl->cfg->cluster.mode == MBH_CLUSTER_EXACT) {
		if (!mbh_cluster_fsync_gate(cl->version))
			return mbh_error_set(err, EX_UNAVAILABLE,
					     "cluster.mode \"exact\" needs fsync lock through mongos (MongoDB 7.1, or 7.0.2, "
					     "6.0.11, 5.0.22, 4.4.25 in their series) and this cluster runs %s: use "
					     "cluster.mode = \"online\"",
					     cl->version[0] != '\0' ? cl->version : "an unknown version");
		if (cl->cfg->snapshot.create == NULL)
			return mbh_error_set(err, EX_CONFIG,
					     "cluster.mode \"exact\" needs snapshot mode (a snapshot group in the config: "
					     "every primary's data is snapshotted under the lock): add one, or use "
					     "cluster.mode = \"online\"");
		if (cl->cfg->snapshot.remove == NULL)
			return mbh_error_set(err, EX_CONFIG,
					     "cluster.mode \"exact\" needs snapshot.remove beside snapshot.create (every "
					     "snapshot is removed after the backup): add it");
		return 0;
	}
	if (cl->cfg->snapshot.create != NULL)
		return mbh_error_set(err, EX_CONFIG,
				     "cluster.mode \"online\" takes no snapshot group yet (the secondaries stay locked for "
				     "the copy): remove the snapshot group from the config");
	return 0;
}

/* ---- a step on every component at once ------------------------------------------------------------------ */

typedef enum step { STEP_CHOOSE, STEP_LOCK, STEP_UNLOCK } step;

typedef struct step_arg {
	comp *c;
	step s;
} step_arg;

static void *
step_thread(void *p)
{
	step_arg *a = p;
	comp *c = a->c;

	switch (a->s) {
	case STEP_CHOOSE:
		free(c->text);
		c->text = NULL;
		c->rc = mbh_job_dry_run(c->job, &c->text, &c->err);
		break;
	case STEP_LOCK:
		c->rc = mbh_job_lock(c->job, &c->err);
		pthread_mutex_lock(&c->gate->mu);
		if (!c->arrived) {
			c->gate->left++;
			pthread_cond_broadcast(&c->gate->cv);
		}
		pthread_mutex_unlock(&c->gate->mu);
		break;
	case STEP_UNLOCK:
		c->rc = mbh_job_unlock(c->job, &c->err);
		break;
	}
	return NULL;
}

/*
 * Start step s on the components selected by which (NULL = all), a thread
 * each; args holds cl->n entries and lives until join_step.  Without a
 * thread a step runs here, one after the other (slower, never skipped),
 * except the lock, which waits at a gate: that component fails instead.
 */
static void
start_step(mbh_cluster *cl, step s, const bool *which, step_arg *args)
{
	size_t i;

	for (i = 0; i < cl->n; i++) {
		comp *c = &cl->comps[i];

		c->started = false;
		if (which != NULL && !which[i])
			continue;
		mbh_error_init(&c->err);
		c->rc = 0;
		if (args != NULL) {
			args[i].c = c;
			args[i].s = s;
			c->started = pthread_create(&c->th, NULL, step_thread, &args[i]) == 0;
		}
		if (c->started)
			continue;
		if (s == STEP_LOCK) {
			c->rc = mbh_error_set(&c->err, EX_OSERR, "cannot start a thread for its lock; nothing was locked");
			pthread_mutex_lock(&c->gate->mu);
			c->gate->left++;
			pthread_mutex_unlock(&c->gate->mu);
		} else {
			step_arg one = { c, s };

			step_thread(&one);
		}
	}
}

static void
join_step(mbh_cluster *cl)
{
	size_t i;

	for (i = 0; i < cl->n; i++)
		if (cl->comps[i].started)
			pthread_join(cl->comps[i].th, NULL);
}

/* Run step s (not the lock) on the components selected by which (NULL = all) in parallel; wait for all. */
static void
run_step(mbh_cluster *cl, step s, const bool *which)
{
	step_arg *args = calloc(cl->n, sizeof(*args));

	start_step(cl, s, which, args);
	join_step(cl);
	free(args);
}

/* Has the caller's cancel descriptor turned readable (a signal to the program)? */
static bool
cancelled(const mbh_cluster *cl)
{
	struct pollfd pfd = { .fd = cl->cancel_fd, .events = POLLIN };

	return cl->cancel_fd >= 0 && poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP)) != 0;
}

/* ---- the record ----------------------------------------------------------------------------------------- */

static int
rec_name(const char *cluster, char *buf, size_t len)
{
	return snprintf(buf, len, "%s%s", cluster, MBH_CLUSTER_SUFFIX) >= (int)len ? -1 : 0;
}

static int
rec_put(mbh_cluster *cl, bool durable, mbh_error *err)
{
	char *text = NULL;
	int rc;

	if (mbh_cluster_rec_format(cl->rec, &text, err) != 0)
		return -1;
	rc = durable ? mbh_state_write_text(cl->state, text, err) : mbh_state_write_text_volatile(cl->state, text, err);
	free(text);
	return rc;
}

static int
rec_write(mbh_cluster *cl, mbh_error *err)
{
	return rec_put(cl, true, err);
}

/*
 * While exact mode's lock pauses the cluster's writes, as one set's snapshot
 * mode does: not fsynced (the run waits for no disk there).  The durable
 * intent (LOCKING, written before the lock) covers the lock; the death of
 * this process loses nothing; the SNAPSHOT record right after the unlock is
 * durable.
 */
static int
rec_write_locked(mbh_cluster *cl, mbh_error *err)
{
	return rec_put(cl, false, err);
}

/* Take the cluster's flock. */
static int
open_state(mbh_cluster *cl, const char *cluster, mbh_error *err)
{
	char name[160];

	if (cl->state != NULL)
		return 0;
	if (rec_name(cluster, name, sizeof(name)) != 0 || !mbh_state_set_name_ok(name))
		return mbh_error_set(err, EX_CONFIG, "the cluster name '%s' cannot name a record: set cluster.name",
				     cluster);
	return mbh_state_open(&cl->state, cl->cfg->state_dir, name, false, err);
}

static void
close_state(mbh_cluster *cl)
{
	mbh_state_free(cl->state);
	cl->state = NULL;
}

static void exact_dry_run(mbh_cluster *cl, FILE *f, mbh_error *err);

/* ---- --dry-run ------------------------------------------------------------------------------------------ */

/* See cluster.h. */
int
mbh_cluster_dry_run(mbh_cluster *cl, char **text, mbh_error *err)
{
	mbh_error mode_err;
	char *buf = NULL, label[300];
	size_t len = 0, i;
	FILE *f;
	int rc = -1;
	const comp *refused = NULL;

	*text = NULL;
	mbh_error_init(&mode_err);
	if (discover(cl, err) != 0)
		return -1;
	run_step(cl, STEP_CHOOSE, NULL);
	if ((f = open_memstream(&buf, &len)) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	fprintf(f, "cluster %s (%s mode): the config servers and %zu shards, mongos %s\n", cl->rec->name,
		cl->rec->mode == MBH_CLUSTER_EXACT ? "exact" : "online", cl->rec->ncomps - 1,
		cl->version[0] != '\0' ? cl->version : "of unknown version");
	fprintf(f, "balancer: %s (%s)\n", cl->rec->balancer,
		strcmp(cl->rec->balancer, "full") == 0 ? "would be stopped for the backup and started again after"
							: "not running: left off");
	for (i = 0; i < cl->n; i++) {
		const comp *c = &cl->comps[i];
		const mbh_cluster_comp *rc2 = &cl->rec->comps[c->idx];

		comp_label(rc2, label, sizeof(label));
		fprintf(f, "\n%s, hosts %s:\n", label, rc2->hosts);
		if (c->text != NULL)
			fputs(c->text, f);
		else
			fprintf(f, "cannot choose: %s\n", c->err.msg);
		if (c->rc != 0 && refused == NULL)
			refused = c;
	}
	fputc('\n', f);
	if (mode_check(cl, &mode_err) != 0) {
		fprintf(f, "refused: %s\n", mode_err.msg);
	} else if (cl->rec->mode == MBH_CLUSTER_EXACT) {
		/* exact mode locks the primaries through the mongos: the secondaries' verdicts above do not matter */
		refused = NULL;
		exact_dry_run(cl, f, &mode_err);
	} else if (refused != NULL) {
		comp_label(&cl->rec->comps[refused->idx], label, sizeof(label));
		fprintf(f, "refused: %s has no member to lock; nothing would be locked\n", label);
	} else {
		fputs("would lock:", f);
		for (i = 0; i < cl->n; i++)
			fprintf(f, " %s=%s", cl->rec->comps[i].name, mbh_job_chosen(cl->comps[i].job));
		fputc('\n', f);
	}
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	*text = buf;
	if (mode_err.code != 0) {
		*err = mode_err;
	} else if (refused != NULL) {
		*err = refused->err;
		comp_label(&cl->rec->comps[refused->idx], label, sizeof(label));
		mbh_error_prefix(err, "%s", label);
	} else {
		rc = 0;
	}
	return rc;
}

/* ---- lock and release ----------------------------------------------------------------------------------- */

/*
 * Release every component this process holds (in parallel), mark in the
 * record what is released (a component that is not held and has no record
 * of its own is released; one whose record stays waits for post), start
 * the balancer again if this run stopped it, and remove the record when
 * nothing is left.  The first failure is err.
 */
static int
release_all(mbh_cluster *cl, mbh_error *err)
{
	bool *which = calloc(cl->n, sizeof(*which)), present, left = false;
	mbh_state_rec crec;
	mbh_error e;
	char label[300];
	size_t i;
	int rc = 0;

	if (which == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	for (i = 0; i < cl->n; i++)
		which[i] = mbh_job_holds(cl->comps[i].job);
	MBH_CRASH("cluster-unlock-before");
	run_step(cl, STEP_UNLOCK, which);
	for (i = 0; i < cl->n; i++) {
		comp *c = &cl->comps[i];
		mbh_cluster_comp *r = &cl->rec->comps[c->idx];

		mbh_error_init(&e);
		present = false;
		if (which[i] && c->rc != 0) {
			if (rc == 0) {
				*err = c->err;
				comp_label(r, label, sizeof(label));
				mbh_error_prefix(err, "%s", label);
				rc = -1;
			}
			left = true;
			continue;
		}
		if (mbh_state_peek(c->dir, r->set, &crec, &present, &e) != 0 || present) {
			/* a lock that may or may not have been taken: post finds out with currentOp */
			left = true;
			continue;
		}
		r->state = MBH_COMP_RELEASED;
	}
	free(which);
	cl->held = false;
	/*
	 * Only a record that stays needs to say what is released: the
	 * components' own records are what keeps each unlock to one, and
	 * starting a running balancer again changes nothing.
	 */
	mbh_error_init(&e);
	if (left && rec_write(cl, &e) != 0)
		mbh_logf(cl->log, MBH_LOG_WARNING, "%s", e.msg);
	MBH_CRASH("cluster-unlocked");
	if (cl->rec->balancer_stopped) {
		mbh_error_init(&e);
		if (balancer_set(cl, true, &e) != 0) {
			mbh_logf(cl->log, MBH_LOG_ERROR, "cannot start the balancer again: %s", e.msg);
			if (rc == 0) {
				*err = e;
				mbh_error_prefix(err, "the balancer was left stopped (run mongo-postbackup to start it)");
				rc = -1;
			}
			left = true;
		} else {
			cl->rec->balancer_stopped = false;
			mbh_error_init(&e);
			if (left && rec_write(cl, &e) != 0)
				mbh_logf(cl->log, MBH_LOG_WARNING, "%s", e.msg);
		}
	}
	MBH_CRASH("cluster-balancer-started");
	if (!left) {
		mbh_error_init(&e);
		if (mbh_state_remove(cl->state, &e) != 0) {
			if (rc == 0) {
				*err = e;
				rc = -1;
			}
		}
	} else if (rc == 0) {
		rc = mbh_error_set(err, EX_TEMPFAIL, "cluster %s: a lock's outcome is unknown; run mongo-postbackup to "
				   "check and clear it", cl->rec->name);
	}
	return rc;
}

/* The wall clock, unix seconds (what records hold). */
static int64_t
wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* ---- exact mode: one fsync lock through the mongos, a snapshot of every primary --------------------------- */

/* fsyncUnlock through client (a mongos): *was_locked false when a component answers that it is not locked. */
static int
client_fsync_unlock(mongoc_client_t *client, bool *was_locked, bson_t *out, mbh_error *err)
{
	bson_t reply;
	bson_error_t e;
	bson_t *cmd = BCON_NEW("fsyncUnlock", BCON_INT32(1));
	bool ok = mongoc_client_command_simple(client, "admin", cmd, NULL, &reply, &e);
	int rc = 0;

	if (ok && out != NULL)
		bson_copy_to(&reply, out);

	*was_locked = true;
	if (!ok) {
		if (mbh_mongo_error_is_server(&e) && e.code != 13 && mbh_lock_is_not_locked_error(e.code, e.message))
			*was_locked = false;
		else
			rc = mbh_mongo_error(err, &e, client, "fsyncUnlock", "the mongos");
	}
	bson_destroy(&reply);
	bson_destroy(cmd);
	return rc;
}

/* See cluster.h. */
int
mbh_cluster_fsync_unlock(const mongoc_uri_t *uri, bool *was_locked, mbh_error *err)
{
	mongoc_client_t *client;
	bson_error_t e;
	int rc;

	*was_locked = false;
	if ((client = mongoc_client_new_from_uri_with_error(uri, &e)) == NULL)
		return mbh_mongo_client_error(err, &e);
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	rc = client_fsync_unlock(client, was_locked, NULL, err);
	mongoc_client_destroy(client);
	return rc;
}

/* The run's own unlock through the mongos, logged. */
static int
exact_unlock(mbh_cluster *cl, mbh_error *err)
{
	bool was_locked = false;
	bson_t reply = BSON_INITIALIZER;
	bson_iter_t it, raw, one;
	const mbh_cluster_comp *c;
	size_t i, n;

	if (mongos_connect(cl, err) != 0 || client_fsync_unlock(cl->client, &was_locked, &reply, err) != 0) {
		bson_destroy(&reply);
		mbh_error_prefix(err, "cannot unlock cluster %s through the mongos (run mongo-postbackup; its watchdog "
				 "unlocks it at the deadline)", cl->rec->name);
		return -1;
	}
	/* each primary's count must be one lower than our lock left it: anything else is someone else's lock */
	if (was_locked && bson_iter_init_find(&it, &reply, "raw") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
	    bson_iter_recurse(&it, &raw)) {
		while (bson_iter_next(&raw)) {
			n = strcspn(bson_iter_key(&raw), "/");
			for (i = 0, c = NULL; i < cl->rec->ncomps && c == NULL; i++)
				if (strlen(cl->rec->comps[i].set) == n &&
				    strncmp(cl->rec->comps[i].set, bson_iter_key(&raw), n) == 0)
					c = &cl->rec->comps[i];
			if (c == NULL || c->lock_count <= 0 || !BSON_ITER_HOLDS_DOCUMENT(&raw) ||
			    !bson_iter_recurse(&raw, &one) || !bson_iter_find(&one, "lockCount") ||
			    !BSON_ITER_HOLDS_NUMBER(&one))
				continue;
			if (bson_iter_as_int64(&one) != c->lock_count - 1)
				mbh_logf(cl->log, MBH_LOG_WARNING,
					 "component %s: fsyncUnlock left %s with lockCount %" PRId64 ", ours was %" PRId64
					 ": another fsync lock is held there (not ours: left alone)",
					 c->name, c->member, bson_iter_as_int64(&one), c->lock_count);
		}
	}
	bson_destroy(&reply);
	mbh_logf(cl->log, was_locked ? MBH_LOG_INFO : MBH_LOG_WARNING, "%s",
		 was_locked ? "unlocked every primary through the mongos"
			    : "fsyncUnlock through the mongos: a primary was not locked (released already)");
	return 0;
}

/* The current primary of component c ("host:port") into out. */
static int
set_primary(const mbh_cluster *cl, const comp *c, char *out, size_t len, mbh_error *err)
{
	mbh_uri_settings us;
	mongoc_uri_t *uri = NULL;
	mongoc_client_t *client = NULL;
	bson_error_t e;
	bson_t reply;
	bson_iter_t it;
	int rc = -1;

	bson_init(&reply);
	mbh_config_uri_settings(&c->cfg, &us);
	if (mbh_uri_build(&uri, &us, err) != 0)
		goto out;
	/* the run's login: the component's user document derives its keys once for the whole run */
	if ((client = mbh_scram_client_new(uri, cl->login, &e)) == NULL) {
		mbh_mongo_client_error(err, &e);
		goto out;
	}
	bson_destroy(&reply);
	if (client_cmd(client, uri, cl->login, "hello", &reply, err) != 0)
		goto out;
	if (!bson_iter_init_find(&it, &reply, "primary") || !BSON_ITER_HOLDS_UTF8(&it)) {
		mbh_error_set(err, EX_UNAVAILABLE, "no primary (exact mode locks every component's primary)");
		goto out;
	}
	snprintf(out, len, "%s", bson_iter_utf8(&it, NULL));
	rc = 0;
out:
	bson_destroy(&reply);
	if (client != NULL)
		mongoc_client_destroy(client);
	mongoc_uri_destroy(uri);
	return rc;
}

/* A record of component i as the single-set commands see it (for %h %p %s %j %S and MONGO_BACKUP_*). */
static void
comp_state_rec(const mbh_cluster *cl, size_t i, mbh_state_rec *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->set_name, sizeof(out->set_name), "%s", cl->rec->comps[i].set);
	snprintf(out->member, sizeof(out->member), "%s", cl->rec->comps[i].member);
	snprintf(out->job, sizeof(out->job), "%s", cl->rec->job);
	snprintf(out->snapshot, sizeof(out->snapshot), "%s", cl->rec->comps[i].snapshot);
}

/* One component's snapshot.create, on its own thread. */
typedef struct snap_job {
	mbh_cluster *cl;
	size_t i;
	pthread_mutex_t *mu; /* guards the record */
	pthread_t th;
	bool started;
	int rc;
	mbh_error err;
	char out[4096];
} snap_job;

/* snapshot.create printed its path: on record at once (post removes it, whatever happens next). */
static void
snap_printed(void *ctx, const char *printed)
{
	snap_job *sj = ctx;
	mbh_cluster_comp *r = &sj->cl->rec->comps[sj->i];
	char line[4096];
	mbh_error e;

	snprintf(line, sizeof(line), "%s", printed);
	if (r->snapshot[0] != '\0' || mbh_state_snapshot_printed(line) == NULL || strlen(line) > MBH_SNAPSHOT_MAX)
		return; /* on record already (said while it ran), or no path */
	pthread_mutex_lock(sj->mu);
	snprintf(r->snapshot, sizeof(r->snapshot), "%s", line);
	mbh_error_init(&e);
	if (rec_write_locked(sj->cl, &e) != 0)
		mbh_logf(sj->cl->log, MBH_LOG_WARNING, "%s", e.msg);
	pthread_mutex_unlock(sj->mu);
	MBH_CRASH("exact-snapshot-printed");
}

static void *
snap_thread(void *p)
{
	snap_job *sj = p;
	mbh_cluster *cl = sj->cl;
	const mbh_cluster_comp *r = &cl->rec->comps[sj->i];
	mbh_state_rec srec;
	mbh_cmd_env x;
	mbh_child *c = NULL;
	char **argv = NULL;
	int status = -1, rc;

	comp_state_rec(cl, sj->i, &srec);
	srec.snapshot[0] = '\0';
	mbh_cmd_env_fill(&x, &srec);
	sj->rc = -1;
	if (mbh_run_expand(&argv, (const char *const *)cl->cfg->snapshot.create, &x.vars, &sj->err) != 0 ||
	    mbh_child_spawn(&c, (const char *const *)argv, x.env, MBH_RUN_PIPE_STDOUT, &sj->err) != 0)
		goto out;
	rc = mbh_child_capture_line(c, mbh_seconds_ms(cl->cfg->snapshot.timeout), cl->cancel_fd, -1, sj->out,
				    sizeof(sj->out), snap_printed, sj, &status, &sj->err);
	/* a create that printed its line and ended at once: the line is read after its end, not while it ran */
	snap_printed(sj, sj->out);
	if (rc != 0)
		goto out;
	if (status != 0) {
		mbh_error_set(&sj->err, EX_TEMPFAIL, "snapshot.create (%s) of %s failed (exit %d)", argv[0], r->member,
			      status);
		goto out;
	}
	if (r->snapshot[0] == '\0') {
		mbh_error_set(&sj->err, EX_DATAERR, "snapshot.create (%s) of %s printed no absolute path on its first "
			      "line", argv[0], r->member);
		goto out;
	}
	sj->rc = 0;
out:
	mbh_child_free(c);
	mbh_strv_free(argv);
	return NULL;
}

/* snapshot.remove of component i's snapshot; cleared from the record when it worked. */
static int
snap_remove(mbh_cluster *cl, size_t i, mbh_error *err)
{
	mbh_cluster_comp *r = &cl->rec->comps[i];
	mbh_state_rec srec;
	mbh_cmd_env x;
	mbh_child *c = NULL;
	char **argv = NULL;
	mbh_error e;
	size_t k;
	int status = -1, rc = -1;

	if (cl->cfg->snapshot.remove == NULL)
		return mbh_error_set(err, EX_CONFIG, "the record names the snapshot %s but the config has no "
				     "snapshot.remove: use the config that made it, then run mongo-postbackup again",
				     r->snapshot);
	/* whoever removes a snapshot stops the command reading it first (the plugin's stream of it) */
	for (k = 0; k < cl->n; k++)
		if (cl->comps[k].idx == i && cl->comps[k].job != NULL)
			mbh_job_stop_command(cl->comps[k].job);
	comp_state_rec(cl, i, &srec);
	mbh_cmd_env_fill(&x, &srec);
	if (mbh_run_expand(&argv, (const char *const *)cl->cfg->snapshot.remove, &x.vars, err) != 0 ||
	    mbh_child_spawn(&c, (const char *const *)argv, x.env, 0, err) != 0)
		goto out;
	mbh_error_init(&e);
	if (mbh_child_wait(c, mbh_seconds_ms(cl->cfg->snapshot.timeout), -1, &status, &e) != 0 || status != 0) {
		mbh_error_set(err, EX_TEMPFAIL, "snapshot.remove (%s) of %s %s; it stays on record: run mongo-postbackup "
			      "again", argv[0], r->snapshot, status != 0 && e.code == 0 ? "failed" : "timed out");
		goto out;
	}
	mbh_logf(cl->log, MBH_LOG_INFO, "removed the snapshot %s (%s)", r->snapshot, r->name);
	r->snapshot[0] = '\0';
	if (rec_write(cl, err) != 0)
		goto out;
	MBH_CRASH("exact-snapshot-removed");
	rc = 0;
out:
	mbh_child_free(c);
	mbh_strv_free(argv);
	return rc;
}

/* Stop the watchdog the record names (its lock is released). */
static void
exact_stop_watchdog(mbh_cluster *cl)
{
	mbh_state_rec srec;

	memset(&srec, 0, sizeof(srec));
	srec.watchdog_pid = cl->rec->watchdog_pid;
	srec.watchdog_start = cl->rec->watchdog_start;
	mbh_release_stop_watchdog(cl->log, &srec);
	mbh_watchdog_reap(srec.watchdog_pid, 1000);
}

/*
 * Release whatever the record says exact mode holds (under the cluster's
 * flock): the mongos lock unless phase SNAPSHOT, the balancer, every
 * snapshot (each once: cleared from the record as it goes), the record.
 */
static int
exact_release(mbh_cluster *cl, mbh_error *err)
{
	mbh_error e;
	size_t i;
	int rc = 0;

	if (cl->rec->phase != MBH_PHASE_SNAPSHOT) {
		MBH_CRASH("exact-release-before");
		if (exact_unlock(cl, err) != 0)
			return -1;
		cl->rec->phase = MBH_PHASE_SNAPSHOT;
		for (i = 0; i < cl->rec->ncomps; i++)
			cl->rec->comps[i].state = MBH_COMP_RELEASED;
		if (rec_write(cl, err) != 0)
			return -1;
		MBH_CRASH("exact-release-unlocked");
	}
	exact_stop_watchdog(cl);
	if (cl->rec->balancer_stopped) {
		if (balancer_set(cl, true, err) != 0) {
			mbh_error_prefix(err, "nothing of cluster %s is locked but the balancer cannot be started again "
					 "(run mongo-postbackup again)", cl->rec->name);
			err->code = EX_TEMPFAIL;
			return -1;
		}
		cl->rec->balancer_stopped = false;
		if (rec_write(cl, err) != 0)
			return -1;
	}
	for (i = 0; i < cl->rec->ncomps; i++) {
		if (cl->rec->comps[i].snapshot[0] == '\0')
			continue;
		mbh_error_init(&e);
		if (snap_remove(cl, i, &e) != 0) {
			mbh_logf(cl->log, MBH_LOG_ERROR, "component %s: %s", cl->rec->comps[i].name, e.msg);
			if (rc == 0)
				*err = e;
			rc = -1;
		}
	}
	if (rc != 0)
		return -1;
	if (mbh_state_remove(cl->state, err) != 0)
		return -1;
	cl->held = false;
	mbh_logf(cl->log, MBH_LOG_INFO, "cluster %s: every snapshot removed, nothing locked", cl->rec->name);
	return 0;
}

/* --dry-run's last line in exact mode: every primary that the mongos would lock and snapshot.create would copy. */
static void
exact_dry_run(mbh_cluster *cl, FILE *f, mbh_error *err)
{
	char primary[262], label[300];
	size_t i;

	fputs("would lock through the mongos and snapshot:", f);
	for (i = 0; i < cl->n; i++) {
		if (set_primary(cl, &cl->comps[i], primary, sizeof(primary), err) != 0) {
			comp_label(&cl->rec->comps[i], label, sizeof(label));
			mbh_error_prefix(err, "%s", label);
			fprintf(f, "\nrefused: %s\n", err->msg);
			return;
		}
		fprintf(f, " %s=%s", cl->rec->comps[i].name, primary);
	}
	fputc('\n', f);
}

/* The lockCount of every component from the mongos's reply: all.raw {"SET/HOSTS": {lockCount}}. */
static int
exact_counts(mbh_cluster *cl, const bson_t *reply, mbh_error *err)
{
	bson_iter_t it, raw, one;
	size_t i, seen = 0, n;
	const char *key;

	if (!bson_iter_init(&it, reply) || !bson_iter_find_descendant(&it, "all.raw", &raw) ||
	    !BSON_ITER_HOLDS_DOCUMENT(&raw) || !bson_iter_recurse(&raw, &it))
		return mbh_error_set(err, EX_PROTOCOL, "fsync lock through the mongos: no all.raw in the reply");
	while (bson_iter_next(&it)) {
		key = bson_iter_key(&it);
		n = strcspn(key, "/");
		for (i = 0; i < cl->rec->ncomps; i++)
			if (strlen(cl->rec->comps[i].set) == n && strncmp(cl->rec->comps[i].set, key, n) == 0)
				break;
		if (i == cl->rec->ncomps || !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &one) ||
		    !bson_iter_find(&one, "lockCount") || !BSON_ITER_HOLDS_NUMBER(&one))
			continue;
		cl->rec->comps[i].lock_count = bson_iter_as_int64(&one);
		if (cl->rec->comps[i].lock_count > 1)
			mbh_logf(cl->log, MBH_LOG_WARNING, "component %s: lockCount %" PRId64 " after our lock on %s: another "
				 "fsync lock is held there (not ours: left alone)", cl->rec->comps[i].name,
				 cl->rec->comps[i].lock_count, cl->rec->comps[i].member);
		cl->rec->comps[i].state = MBH_COMP_LOCKED;
		cl->rec->comps[i].lock_ms = 0;
		seen++;
	}
	if (seen != cl->rec->ncomps)
		return mbh_error_set(err, EX_PROTOCOL, "fsync lock through the mongos locked %zu components, the cluster "
				     "has %zu (listShards changed?)", seen, cl->rec->ncomps);
	return 0;
}

/* The write pause's clock. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Exact mode's lock (see cluster.h), from the record's first intent on:
 * cl->state is flocked and the record (LOCKING) written.  Returns with the
 * snapshots taken and nothing locked (phase SNAPSHOT), or everything undone.
 */
static int
exact_lock(mbh_cluster *cl, mbh_error *err)
{
	mbh_config wcfg;
	mbh_watchdog *wd = NULL;
	snap_job *sj = NULL;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	bson_t *cmd = NULL, reply;
	bson_iter_t it;
	bson_error_t be;
	mbh_error e;
	char rname[160], primary[262], line[2048];
	bool locked = false;
	int64_t t_lock = 0;
	size_t i, used;
	int failed = -1;

	/* someone else's lock on a primary: currentOp on the mongos says fsyncLock while any is held */
	if (mongos_cmd(cl, "currentOp", &reply, err) != 0)
		goto undo;
	if (bson_iter_init_find(&it, &reply, "fsyncLock") && bson_iter_as_bool(&it)) {
		if (cl->cfg->lock.refuse_if_locked != 0) {
			mbh_error_set(err, EX_TEMPFAIL, "a primary of cluster %s is already fsync-locked by someone else "
				      "(currentOp on the mongos shows fsyncLock); find who holds it, or run with "
				      "--allow-locked to lock it once more; nothing was locked", cl->rec->name);
			goto undo;
		}
		mbh_logf(cl->log, MBH_LOG_WARNING, "a primary of cluster %s is already fsync-locked by someone else; "
			 "locking every primary once more", cl->rec->name);
	}
	bson_destroy(&reply);
	bson_init(&reply);
	/* every primary: the members the mongos will lock, named on record before it does */
	for (i = 0; i < cl->rec->ncomps; i++) {
		if (set_primary(cl, &cl->comps[i], primary, sizeof(primary), err) != 0) {
			comp_label(&cl->rec->comps[i], line, sizeof(line));
			mbh_error_prefix(err, "%s; nothing was locked", line);
			goto undo;
		}
		snprintf(cl->rec->comps[i].member, sizeof(cl->rec->comps[i].member), "%s", primary);
	}
	if (mbh_token_new(cl->rec->token, sizeof(cl->rec->token)) != 0) {
		mbh_error_set(err, EX_OSERR, "cannot make a lock token; nothing was locked");
		goto undo;
	}
	rec_name(cl->rec->name, rname, sizeof(rname));
	if (cl->watchdog_path != NULL) {
		wcfg = *cl->cfg;
		wcfg.cluster.balancer_uri = strcmp(cl->rec->balancer, "full") == 0 ? cl->cfg->uri : NULL;
		if (mbh_watchdog_spawn(&wd, cl->watchdog_path, err) != 0 ||
		    mbh_watchdog_send(wd, &wcfg, rname, cl->rec->token, err) != 0)
			goto undo;
		cl->rec->watchdog_pid = mbh_watchdog_pid(wd);
		cl->rec->watchdog_start = mbh_watchdog_starttime(wd);
	}
	if (rec_write(cl, err) != 0)
		goto undo;
	if (wd != NULL && mbh_watchdog_go_cluster(wd, cl->rec->deadline * 1000, err) != 0)
		goto undo;
	mbh_watchdog_free(wd);
	wd = NULL;
	MBH_CRASH("exact-intent");
	if (cancelled(cl)) {
		mbh_error_fail(err, MBH_ERR_CANCELLED, "cancelled before the lock; nothing was locked");
		goto undo;
	}
	/* the balancer as in online mode: no migration runs into the moment, started again iff it ran */
	if (strcmp(cl->rec->balancer, "full") == 0) {
		cl->rec->balancer_stopped = true;
		if (rec_write(cl, err) != 0 || balancer_set(cl, false, err) != 0) {
			mbh_error_prefix(err, "cannot stop the balancer; nothing was locked");
			goto undo;
		}
	}
	MBH_CRASH("exact-balancer-stopped");
	cmd = BCON_NEW("fsync", BCON_INT32(1), "lock", BCON_BOOL(true));
	bson_destroy(&reply);
	locked = true; /* in doubt from here: a reply lost on the way still leaves every primary locked */
	if (!mongoc_client_command_simple(cl->client, "admin", cmd, NULL, &reply, &be)) {
		mbh_mongo_error(err, &be, cl->client, "fsync lock", "the mongos");
		if (mbh_mongo_error_is_server(&be))
			locked = false; /* the mongos unlocks what it took before it fails */
		if (strstr(be.message, "DDL") != NULL)
			mbh_error_prefix(err, "a DDL operation runs in the cluster: try again when it has ended");
		mbh_error_prefix(err, "cluster %s: nothing is locked", cl->rec->name);
		goto undo;
	}
	t_lock = mono_ms();
	MBH_CRASH("exact-locked");
	if (exact_counts(cl, &reply, err) != 0)
		goto undo;
	cl->rec->phase = MBH_PHASE_LOCKED;
	if (rec_write_locked(cl, err) != 0)
		goto undo;
	/* re-check: the primaries locked are the ones on record (an election in between: refused) */
	for (i = 0; i < cl->rec->ncomps; i++) {
		if (set_primary(cl, &cl->comps[i], primary, sizeof(primary), err) != 0 ||
		    strcmp(primary, cl->rec->comps[i].member) != 0) {
			if (err->code == 0)
				mbh_error_set(err, EX_TEMPFAIL, "its primary changed from %s to %s during the lock",
					      cl->rec->comps[i].member, primary);
			comp_label(&cl->rec->comps[i], line, sizeof(line));
			mbh_error_prefix(err, "%s", line);
			goto undo;
		}
	}
	/* every primary's snapshot at once: the writes pause for the slowest */
	if ((sj = calloc(cl->rec->ncomps, sizeof(*sj))) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto undo;
	}
	for (i = 0; i < cl->rec->ncomps; i++) {
		sj[i].cl = cl;
		sj[i].i = i;
		sj[i].mu = &mu;
		mbh_error_init(&sj[i].err);
		sj[i].started = pthread_create(&sj[i].th, NULL, snap_thread, &sj[i]) == 0;
		if (!sj[i].started)
			snap_thread(&sj[i]);
	}
	for (i = 0; i < cl->rec->ncomps; i++)
		if (sj[i].started)
			pthread_join(sj[i].th, NULL);
	for (i = 0; i < cl->rec->ncomps && failed < 0; i++)
		if (sj[i].rc != 0)
			failed = (int)i;
	MBH_CRASH("exact-snapshots");
	/* unlock at once, whatever the snapshots did */
	if (exact_unlock(cl, err) != 0) {
		rec_write(cl, &e);
		free(sj);
		bson_destroy(cmd);
		bson_destroy(&reply);
		close_state(cl);
		return -1; /* the record stays: post or the watchdog unlocks, post removes the snapshots */
	}
	locked = false;
	cl->pause_ms = mono_ms() - t_lock;
	cl->rec->phase = MBH_PHASE_SNAPSHOT;
	for (i = 0; i < cl->rec->ncomps; i++)
		cl->rec->comps[i].state = MBH_COMP_RELEASED;
	if (rec_write(cl, err) != 0)
		goto undo;
	MBH_CRASH("exact-unlocked");
	if (failed >= 0) {
		*err = sj[failed].err;
		comp_label(&cl->rec->comps[failed], line, sizeof(line));
		mbh_error_prefix(err, "%s", line);
		goto undo;
	}
	exact_stop_watchdog(cl);
	if (cl->rec->balancer_stopped) {
		mbh_error_init(&e);
		if (balancer_set(cl, true, &e) != 0)
			mbh_logf(cl->log, MBH_LOG_ERROR, "cannot start the balancer again (mongo-postbackup will): %s", e.msg);
		else
			cl->rec->balancer_stopped = false;
		mbh_error_init(&e);
		if (rec_write(cl, &e) != 0)
			mbh_logf(cl->log, MBH_LOG_WARNING, "%s", e.msg);
	}
	used = (size_t)snprintf(line, sizeof(line), "cluster %s: writes paused %" PRId64 " ms; snapshots:", cl->rec->name,
				cl->pause_ms);
	for (i = 0; i < cl->rec->ncomps && used < sizeof(line); i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used, " %s=%s", cl->rec->comps[i].name,
					 cl->rec->comps[i].snapshot);
	mbh_logf(cl->log, MBH_LOG_INFO, "%s", line);
	cl->held = true;
	free(sj);
	bson_destroy(cmd);
	bson_destroy(&reply);
	return 0;
undo:
	/* nothing stays: the lock (if it may be held), the balancer, the snapshots made, the record */
	if (wd != NULL) {
		mbh_watchdog_free(wd); /* the pipe closed without go: it exits */
		wd = NULL;
	}
	mbh_error_init(&e);
	if (locked && exact_unlock(cl, &e) != 0) {
		mbh_logf(cl->log, MBH_LOG_ERROR, "%s", e.msg);
		rec_write(cl, &e);
		goto out;
	}
	cl->rec->phase = MBH_PHASE_SNAPSHOT;
	for (i = 0; i < cl->rec->ncomps; i++)
		cl->rec->comps[i].state = MBH_COMP_RELEASED;
	mbh_error_init(&e);
	if (exact_release(cl, &e) != 0) {
		mbh_logf(cl->log, MBH_LOG_ERROR, "%s", e.msg);
	} else {
		size_t n = strnlen(err->msg, sizeof(err->msg));

		snprintf(err->msg + n, sizeof(err->msg) - n, "; nothing is locked, no snapshot is left");
	}
out:
	free(sj);
	bson_destroy(cmd);
	bson_destroy(&reply);
	close_state(cl);
	return -1;
}

/* See cluster.h. */
int
mbh_cluster_lock(mbh_cluster *cl, mbh_error *err)
{
	mbh_cluster_rec old;
	mbh_error e;
	char *text = NULL, label[300], since[64], line[2048];
	bool present = false, go = false;
	int64_t first = INT64_MAX, last = 0, t;
	size_t i, used, nlocked = 0;
	step_arg *args = NULL;
	int failed = -1;
	gate g = { .n = 0 };

	if (cl->held)
		return mbh_error_set(err, EX_SOFTWARE, "this run already holds the cluster's locks");
	if (discover(cl, err) != 0 || mode_check(cl, err) != 0)
		return -1;
	if (open_state(cl, cl->rec->name, err) != 0)
		return -1;
	if (mbh_state_read_text(cl->state, &text, &present, err) != 0)
		goto fail;
	if (present) {
		mbh_error_init(&e);
		if (mbh_cluster_rec_parse(&old, text, &e) != 0) {
			mbh_error_set(err, EX_DATAERR, "%s: %s", mbh_state_path(cl->state), e.msg);
			goto fail;
		}
		mbh_fmt_time(old.since, since, sizeof(since));
		mbh_error_set(err, EX_TEMPFAIL,
			      "cluster %s is already locked by job %s (pid %ld on %s) since %s; run mongo-postbackup "
			      "first",
			      old.name, old.job[0] != '\0' ? old.job : "-", old.pid, old.hostname, since);
		goto fail;
	}
	/* the record first: whatever happens next, post knows every component and the balancer */
	cl->rec->phase = MBH_PHASE_LOCKING;
	cl->rec->since = wall_s();
	cl->rec->deadline = cl->rec->since + (mbh_seconds_ms(cl->cfg->lock.max_seconds) + 999) / 1000;
	cl->rec->pid = (long)getpid();
	if (gethostname(cl->rec->hostname, sizeof(cl->rec->hostname)) != 0)
		snprintf(cl->rec->hostname, sizeof(cl->rec->hostname), "unknown");
	cl->rec->hostname[sizeof(cl->rec->hostname) - 1] = '\0';
	snprintf(cl->rec->job, sizeof(cl->rec->job), "%s", cl->job_name);
	cl->rec->skew_ms = -1;
	cl->rec->balancer_stopped = false;
	if (rec_write(cl, err) != 0)
		goto fail;
	if (cl->rec->mode == MBH_CLUSTER_EXACT)
		return exact_lock(cl, err);
	/* the components' directories go below it (each made by its own state_open, 0700) */
	if (mkdir(cl->comp_dir, 0700) != 0 && errno != EEXIST) {
		mbh_error_set(err, EX_CANTCREAT, "cannot create %s: %s", cl->comp_dir, strerror(errno));
		goto undo;
	}
	MBH_CRASH("cluster-intent");
	/*
	 * Every component's flow up to its lock (discovery, choice, intent,
	 * watchdog, checks, freeze), in parallel, then the gate: one that fails
	 * on its way refuses the run before anything is locked or the balancer
	 * touched; when all are there, the balancer is stopped and the locks go
	 * out together.  At the deadline the watchdogs start the balancer again
	 * too, should nobody run the post-backup.
	 */
	memset(&g, 0, sizeof(g));
	g.n = cl->n;
	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cv, NULL);
	for (i = 0; i < cl->n; i++) {
		cl->comps[i].gate = &g;
		cl->comps[i].arrived = cl->comps[i].aborted = false;
		cl->comps[i].cfg.cluster.balancer_uri = strcmp(cl->rec->balancer, "full") == 0 ? cl->cfg->uri : NULL;
	}
	if ((args = calloc(cl->n, sizeof(*args))) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto undo;
	}
	start_step(cl, STEP_LOCK, NULL, args);
	pthread_mutex_lock(&g.mu);
	while (g.arrived + g.left < g.n)
		pthread_cond_wait(&g.cv, &g.mu);
	go = g.left == 0;
	pthread_mutex_unlock(&g.mu);
	if (go) {
		MBH_CRASH("cluster-chosen");
		if (cancelled(cl)) {
			mbh_error_fail(err, MBH_ERR_CANCELLED, "cancelled before the lock; nothing was locked");
			go = false;
		}
	}
	if (go && strcmp(cl->rec->balancer, "full") == 0) {
		cl->rec->balancer_stopped = true; /* on record before it is stopped: post starts it again */
		if (rec_write(cl, err) != 0 || (MBH_CRASH("cluster-balancer-record"), balancer_set(cl, false, err)) != 0) {
			mbh_error_prefix(err, "cannot stop the balancer; nothing was locked");
			go = false;
		}
	}
	if (go)
		MBH_CRASH("cluster-balancer-stopped");
	pthread_mutex_lock(&g.mu);
	if (go)
		g.open = true;
	else
		g.abort = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	join_step(cl);
	free(args);
	args = NULL;
	for (i = 0; i < cl->n; i++) {
		comp *c = &cl->comps[i];
		mbh_cluster_comp *r = &cl->rec->comps[c->idx];

		if (c->rc != 0) {
			/* the first that failed by itself, not one sent back from the gate */
			if (failed < 0 && !c->aborted)
				failed = (int)i;
			continue;
		}
		nlocked++;
		snprintf(r->member, sizeof(r->member), "%s", mbh_job_member(c->job));
		r->lock_count = mbh_job_lock_count(c->job);
		r->state = MBH_COMP_LOCKED;
		t = mbh_job_locked_ms(c->job);
		if (t < first)
			first = t;
		if (t > last)
			last = t;
	}
	cl->held = true;
	if (!go && err->code != 0)
		goto undo; /* the balancer or a cancel: every component was sent back */
	if (failed >= 0) {
		comp *c = &cl->comps[failed];

		*err = c->err;
		comp_label(&cl->rec->comps[c->idx], label, sizeof(label));
		mbh_error_prefix(err, "%s", label);
		goto undo;
	}
	if (nlocked < cl->n) {
		mbh_error_set(err, EX_SOFTWARE, "a component was sent back from its lock with no failure to say why");
		goto undo;
	}
	for (i = 0; i < cl->n; i++)
		cl->rec->comps[i].lock_ms = mbh_job_locked_ms(cl->comps[i].job) - first;
	cl->rec->skew_ms = last - first;
	cl->rec->phase = MBH_PHASE_LOCKED;
	if (rec_write(cl, err) != 0)
		goto undo;
	MBH_CRASH("cluster-locked");
	used = (size_t)snprintf(line, sizeof(line), "cluster %s locked (skew %" PRId64 " ms):", cl->rec->name,
				cl->rec->skew_ms);
	for (i = 0; i < cl->n && used < sizeof(line); i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used, " %s=%s (+%" PRId64 " ms)",
					 cl->rec->comps[i].name, cl->rec->comps[i].member, cl->rec->comps[i].lock_ms);
	mbh_logf(cl->log, MBH_LOG_INFO, "%s", line);
	pthread_mutex_destroy(&g.mu);
	pthread_cond_destroy(&g.cv);
	free(text);
	return 0;
undo:
	/* unlock what was locked at once, balancer restored, record removed (kept only for a lock in doubt) */
	mbh_error_init(&e);
	if (release_all(cl, &e) != 0) {
		mbh_logf(cl->log, MBH_LOG_ERROR, "%s", e.msg);
	} else if (nlocked > 0) {
		size_t n = strnlen(err->msg, sizeof(err->msg));

		snprintf(err->msg + n, sizeof(err->msg) - n, "; %s",
			 cl->rec->balancer[0] == 'f' ? "what was locked is unlocked again, the balancer is running again"
						     : "what was locked is unlocked again");
	}
	if (args != NULL) {
		join_step(cl);
		free(args);
	}
	if (g.n > 0) {
		pthread_mutex_destroy(&g.mu);
		pthread_cond_destroy(&g.cv);
	}
	free(text);
	close_state(cl);
	return -1;
fail:
	free(text);
	close_state(cl);
	return -1;
}

/* See cluster.h. */
int
mbh_cluster_unlock(mbh_cluster *cl, mbh_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&cl->unlock_mu);
	if (cl->held && cl->state != NULL) {
		if (cl->rec->mode == MBH_CLUSTER_EXACT)
			rc = exact_release(cl, err);
		else
			rc = release_all(cl, err);
		close_state(cl);
	}
	pthread_mutex_unlock(&cl->unlock_mu);
	return rc;
}

/* ---- --exec --------------------------------------------------------------------------------------------- */

/* See cluster.h. */
int
mbh_cluster_exec(mbh_cluster *cl, const char *const *templ, int *status, mbh_error *err)
{
	char env_cluster[200], env_job[200], env_skew[64], env_pause[64], *env_members = NULL, *env_snaps = NULL,
	     **argv = NULL;
	const char *env[7];
	mbh_run_vars vars;
	mbh_child *child = NULL;
	mbh_error run_err, unlock_err;
	bool expand = templ == NULL;
	size_t len = 0, i;
	FILE *f;
	int64_t left_ms, timeout_ms;
	int rc = -1;

	*status = EX_SOFTWARE;
	if (templ == NULL)
		templ = (const char *const *)cl->cfg->script.backup;
	if (templ == NULL || templ[0] == NULL)
		return mbh_error_set(err, EX_USAGE, "no command to run: give --exec -- CMD [ARGS...] or set "
				     "script.backup in the config");
	if (mbh_cluster_lock(cl, err) != 0)
		return -1;
	mbh_error_init(&run_err);
	snprintf(env_cluster, sizeof(env_cluster), "MONGO_BACKUP_CLUSTER=%s", cl->rec->name);
	snprintf(env_job, sizeof(env_job), "MONGO_BACKUP_JOB=%s", cl->rec->job);
	snprintf(env_skew, sizeof(env_skew), "MONGO_BACKUP_SKEW_MS=%" PRId64, cl->rec->skew_ms);
	if ((f = open_memstream(&env_members, &len)) != NULL) {
		fputs("MONGO_BACKUP_MEMBERS=", f);
		for (i = 0; i < cl->rec->ncomps; i++)
			fprintf(f, "%s%s=%s", i > 0 ? " " : "", cl->rec->comps[i].name, cl->rec->comps[i].member);
		if (fclose(f) != 0) {
			free(env_members);
			env_members = NULL;
		}
	}
	if (env_members == NULL) {
		mbh_error_set(&run_err, EX_OSERR, "out of memory");
		goto unlock;
	}
	env[0] = env_cluster;
	env[1] = env_members;
	env[2] = env_skew;
	env[3] = env_job;
	env[4] = NULL;
	if (cl->rec->mode == MBH_CLUSTER_EXACT) {
		/* the command reads the snapshots, never the live primaries */
		if ((f = open_memstream(&env_snaps, &len)) != NULL) {
			fputs("MONGO_BACKUP_SNAPSHOTS=", f);
			for (i = 0; i < cl->rec->ncomps; i++)
				fprintf(f, "%s%s=%s", i > 0 ? " " : "", cl->rec->comps[i].name, cl->rec->comps[i].snapshot);
			if (fclose(f) != 0) {
				free(env_snaps);
				env_snaps = NULL;
			}
		}
		if (env_snaps == NULL) {
			mbh_error_set(&run_err, EX_OSERR, "out of memory");
			goto unlock;
		}
		snprintf(env_pause, sizeof(env_pause), "MONGO_BACKUP_PAUSE_MS=%" PRId64, cl->pause_ms);
		env[4] = env_snaps;
		env[5] = env_pause;
		env[6] = NULL;
	}
	memset(&vars, 0, sizeof(vars));
	vars.host = "";
	vars.port = "";
	vars.set = cl->rec->name;
	vars.job = cl->rec->job;
	if (expand && mbh_run_expand(&argv, templ, &vars, &run_err) != 0)
		goto unlock;
	if (mbh_child_spawn(&child, expand ? (const char *const *)argv : templ, env, 0, &run_err) != 0)
		goto unlock;
	/* script.timeout, and the lock's deadline with the kill grace taken off (the watchdogs unlock then) */
	left_ms = cl->rec->deadline * 1000 - mbh_wall_ms() - mbh_kill_grace_ms();
	timeout_ms = left_ms > 1 ? left_ms : 1;
	if (cl->cfg->script.timeout > 0 && mbh_seconds_ms(cl->cfg->script.timeout) < timeout_ms)
		timeout_ms = mbh_seconds_ms(cl->cfg->script.timeout);
	if (cl->rec->mode == MBH_CLUSTER_EXACT) /* nothing is locked: the snapshots wait for it */
		timeout_ms = cl->cfg->script.timeout > 0 ? mbh_seconds_ms(cl->cfg->script.timeout) : 0;
	if (mbh_child_wait(child, timeout_ms, cl->cancel_fd, status, &run_err) != 0) {
		mbh_logf(cl->log, MBH_LOG_WARNING, "%s", run_err.msg);
		if (*status < 0)
			*status = EX_TEMPFAIL;
		mbh_error_init(&run_err);
	}
	MBH_CRASH("cluster-exec-ended");
unlock:
	mbh_child_free(child);
	mbh_strv_free(argv);
	free(env_members);
	free(env_snaps);
	mbh_error_init(&unlock_err);
	if (mbh_cluster_unlock(cl, &unlock_err) != 0) {
		*err = unlock_err;
		return -1;
	}
	if (run_err.code != 0) {
		*err = run_err;
		return -1;
	}
	rc = 0;
	return rc;
}

/* ---- post and status ------------------------------------------------------------------------------------ */

/* See cluster.h. */
int
mbh_cluster_find(const mbh_config *cfg, char *name, size_t namelen, bool *found, mbh_error *err)
{
	char rname[160], *text = NULL, *hit = NULL;
	struct dirent *de;
	size_t len, n = 0, sl = strlen(MBH_CLUSTER_SUFFIX ".state");
	bool present = false;
	DIR *d;

	*found = false;
	name[0] = '\0';
	if (cfg->cluster.name != NULL) {
		snprintf(name, namelen, "%s", cfg->cluster.name);
		if (rec_name(cfg->cluster.name, rname, sizeof(rname)) != 0)
			return mbh_error_set(err, EX_CONFIG, "cluster.name is too long");
		if (mbh_state_peek_text(cfg->state_dir, rname, &text, &present, err) != 0)
			return -1;
		free(text);
		*found = true;
		return 0;
	}
	if ((d = opendir(cfg->state_dir)) == NULL)
		return 0; /* no directory: no record (the single-set flow says the rest) */
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= sl || strcmp(de->d_name + len - sl, MBH_CLUSTER_SUFFIX ".state") != 0)
			continue;
		if (n++ == 0)
			hit = strndup(de->d_name, len - sl);
	}
	closedir(d);
	if (n > 1) {
		free(hit);
		return mbh_error_set(err, EX_USAGE, "%s holds the records of %zu clusters: set cluster.name to say which",
				     cfg->state_dir, n);
	}
	if (hit != NULL) {
		snprintf(name, namelen, "%s", hit);
		*found = true;
	}
	free(hit);
	return 0;
}

/* Read the cluster's record under its flock into cl->rec; *present false when there is none. */
static int
load_record(mbh_cluster *cl, const char *name, bool *present, mbh_error *err)
{
	char *text = NULL;
	int rc = -1;

	if (open_state(cl, name, err) != 0)
		return -1;
	if (mbh_state_read_text(cl->state, &text, present, err) != 0)
		goto out;
	if (*present && mbh_cluster_rec_parse(cl->rec, text, err) != 0) {
		mbh_error_prefix(err, "%s", mbh_state_path(cl->state));
		goto out;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

/* See cluster.h. */
int
mbh_cluster_post(mbh_cluster *cl, const char *name, mbh_error *err)
{
	char label[300], since[64];
	bool present = false, left = false;
	mbh_error e;
	size_t i;
	int rc = -1;

	if (load_record(cl, name, &present, err) != 0)
		goto out;
	if (!present) {
		mbh_logf(cl->log, MBH_LOG_INFO, "nothing to unlock for cluster %s", name);
		rc = 0;
		goto out;
	}
	if (cl->job_name[0] != '\0' && cl->rec->job[0] != '\0' && strcmp(cl->job_name, cl->rec->job) != 0) {
		mbh_fmt_time(cl->rec->since, since, sizeof(since));
		mbh_error_set(err, EX_TEMPFAIL,
			      "the locks of cluster %s belong to job %s (pid %ld on %s, since %s), not to job %s: left "
			      "alone; run mongo-postbackup without --job to release them anyway",
			      name, cl->rec->job, cl->rec->pid, cl->rec->hostname, since, cl->job_name);
		goto out;
	}
	if (cl->rec->mode == MBH_CLUSTER_EXACT) {
		rc = exact_release(cl, err);
		goto out;
	}
	if (make_comps(cl, err) != 0)
		goto out;
	/* each component through its own record: exactly one fsyncUnlock per lock, marked as it goes */
	for (i = 0; i < cl->n; i++) {
		mbh_cluster_comp *r = &cl->rec->comps[i];

		if (r->state == MBH_COMP_RELEASED)
			continue;
		mbh_error_init(&e);
		if (mbh_job_post(cl->comps[i].job, &e) != 0) {
			comp_label(r, label, sizeof(label));
			mbh_logf(cl->log, MBH_LOG_ERROR, "%s: %s", label, e.msg);
			if (!left) {
				*err = e;
				mbh_error_prefix(err, "%s", label);
			}
			left = true;
			continue;
		}
		r->state = MBH_COMP_RELEASED;
		if (rec_write(cl, err) != 0)
			goto out;
		MBH_CRASH("cluster-post-released");
	}
	if (left)
		goto out;
	if (cl->rec->balancer_stopped) {
		mbh_error_init(&e);
		if (balancer_set(cl, true, &e) != 0) {
			/* temporary, as an unreachable member is for one set: the record stays for the next post */
			mbh_error_set(err, EX_TEMPFAIL, "every lock of cluster %s is released but the balancer cannot be "
				      "started again (run mongo-postbackup again): %s", name, e.msg);
			goto out;
		}
		cl->rec->balancer_stopped = false;
		if (rec_write(cl, err) != 0)
			goto out;
	}
	MBH_CRASH("cluster-post-balancer");
	if (mbh_state_remove(cl->state, err) != 0)
		goto out;
	mbh_logf(cl->log, MBH_LOG_INFO, "released every lock of cluster %s", name);
	rc = 0;
out:
	close_state(cl);
	return rc;
}

/* The record without its flock (a run may hold it). */
static int
peek_record(mbh_cluster *cl, const char *name, bool *present, mbh_error *err)
{
	char rname[160], *text = NULL;
	int rc = -1;

	if (rec_name(name, rname, sizeof(rname)) != 0)
		return mbh_error_set(err, EX_CONFIG, "the cluster name '%s' is too long", name);
	if (mbh_state_peek_text(cl->cfg->state_dir, rname, &text, present, err) != 0)
		return -1;
	if (*present && mbh_cluster_rec_parse(cl->rec, text, err) == 0)
		rc = 0;
	else if (!*present)
		rc = 0;
	free(text);
	return rc;
}

/* See cluster.h. */
int
mbh_cluster_status(mbh_cluster *cl, const char *name, bool json, char **text, mbh_error *err)
{
	char *buf = NULL, *ctext = NULL, since[64], deadline[64], *js = NULL;
	bool present = false, stale = false;
	mbh_error e, stale_err;
	size_t len = 0, i;
	bson_t b, arr, doc, sub;
	bson_error_t be;
	FILE *f = NULL;
	char key[16];
	const char *kp;
	int rc = -1;

	*text = NULL;
	mbh_error_init(&stale_err);
	if (peek_record(cl, name, &present, err) != 0)
		return -1;
	if (present && make_comps(cl, err) != 0)
		return -1;
	bson_init(&b);
	if (!json && (f = open_memstream(&buf, &len)) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	if (!present) {
		if (json) {
			BSON_APPEND_UTF8(&b, "cluster", name);
			BSON_APPEND_BOOL(&b, "locked", false);
			bson_append_array_begin(&b, "components", -1, &arr);
			bson_append_array_end(&b, &arr);
		} else {
			fprintf(f, "nothing is locked for cluster %s\n", name);
		}
	} else if (json) {
		BSON_APPEND_UTF8(&b, "cluster", cl->rec->name);
		BSON_APPEND_BOOL(&b, "locked", true);
		BSON_APPEND_UTF8(&b, "mode", cl->rec->mode == MBH_CLUSTER_EXACT ? "exact" : "online");
		BSON_APPEND_UTF8(&b, "phase", mbh_state_phase_name(cl->rec->phase));
		BSON_APPEND_UTF8(&b, "balancer", cl->rec->balancer);
		BSON_APPEND_BOOL(&b, "balancer_stopped", cl->rec->balancer_stopped);
		BSON_APPEND_INT64(&b, "skew_ms", cl->rec->skew_ms);
		BSON_APPEND_INT64(&b, "since", cl->rec->since);
		BSON_APPEND_INT64(&b, "deadline", cl->rec->deadline);
		BSON_APPEND_INT64(&b, "pid", cl->rec->pid);
		BSON_APPEND_UTF8(&b, "host", cl->rec->hostname);
		if (cl->rec->job[0] != '\0')
			BSON_APPEND_UTF8(&b, "job", cl->rec->job);
		else
			BSON_APPEND_NULL(&b, "job");
	} else {
		mbh_fmt_time(cl->rec->since, since, sizeof(since));
		mbh_fmt_time(cl->rec->deadline, deadline, sizeof(deadline));
		fprintf(f, "cluster %s (%s mode): %s since %s by job %s (pid %ld on %s), deadline %s\n", cl->rec->name,
			cl->rec->mode == MBH_CLUSTER_EXACT ? "exact" : "online", mbh_state_phase_name(cl->rec->phase),
			since, cl->rec->job[0] != '\0' ? cl->rec->job : "-", cl->rec->pid, cl->rec->hostname, deadline);
		fprintf(f, "balancer:  was %s%s\n", cl->rec->balancer,
			cl->rec->balancer_stopped ? ", stopped by this backup (mongo-postbackup starts it again)" : "");
		if (cl->rec->skew_ms >= 0)
			fprintf(f, "skew:      %" PRId64 " ms between the first and the last lock\n", cl->rec->skew_ms);
	}
	if (present && json)
		bson_append_array_begin(&b, "components", -1, &arr);
	for (i = 0; present && i < cl->n; i++) {
		const mbh_cluster_comp *r = &cl->rec->comps[i];

		mbh_error_init(&e);
		free(ctext);
		ctext = NULL;
		if ((json ? mbh_job_status_json : mbh_job_status)(cl->comps[i].job, &ctext, &e) != 0) {
			if (ctext == NULL) {
				*err = e;
				goto out;
			}
			if (!stale) {
				stale_err = e;
				stale = true;
			}
		}
		if (json) {
			bson_uint32_to_string((uint32_t)i, &kp, key, sizeof(key));
			bson_append_document_begin(&arr, kp, -1, &doc);
			BSON_APPEND_UTF8(&doc, "name", r->name);
			BSON_APPEND_UTF8(&doc, "set", r->set);
			if (r->member[0] != '\0')
				BSON_APPEND_UTF8(&doc, "member", r->member);
			else
				BSON_APPEND_NULL(&doc, "member");
			BSON_APPEND_INT64(&doc, "lock_ms", r->lock_ms);
			BSON_APPEND_INT64(&doc, "lock_count", r->lock_count);
			BSON_APPEND_UTF8(&doc, "state", mbh_comp_state_name(r->state));
			if (r->snapshot[0] != '\0')
				BSON_APPEND_UTF8(&doc, "snapshot", r->snapshot); /* exact mode */
			if (bson_init_from_json(&sub, ctext, -1, &be)) {
				BSON_APPEND_DOCUMENT(&doc, "status", &sub);
				bson_destroy(&sub);
			} else {
				BSON_APPEND_NULL(&doc, "status");
			}
			bson_append_document_end(&arr, &doc);
		} else {
			fprintf(f, "\ncomponent %s (set %s): %s", r->name, r->set, mbh_comp_state_name(r->state));
			if (r->member[0] != '\0' && r->lock_ms >= 0)
				fprintf(f, " %s, lock time +%" PRId64 " ms, lockCount %" PRId64, r->member, r->lock_ms,
					r->lock_count);
			if (r->snapshot[0] != '\0')
				fprintf(f, ", snapshot %s", r->snapshot); /* exact mode */
			fprintf(f, "\n%s", ctext);
		}
	}
	if (present && json)
		bson_append_array_end(&b, &arr);
	if (json) {
		if ((js = bson_as_relaxed_extended_json(&b, NULL)) == NULL || asprintf(text, "%s\n", js) < 0) {
			*text = NULL;
			mbh_error_set(err, EX_OSERR, "cannot render the status as JSON");
			goto out;
		}
	} else {
		if (fclose(f) != 0 || buf == NULL) {
			f = NULL;
			mbh_error_set(err, EX_OSERR, "out of memory");
			goto out;
		}
		f = NULL;
		*text = buf;
		buf = NULL;
	}
	if (stale) {
		*err = stale_err;
		goto out;
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	free(ctext);
	bson_free(js);
	bson_destroy(&b);
	return rc;
}

/* Split "COMPONENT=HOST:PORT"; -1 when it is not one (an empty part, a port not in 1..65535). */
static int
held_arg(const char *arg, char *cname, size_t cnamelen, char *member, size_t memberlen)
{
	const char *eq = strchr(arg, '='), *colon;
	char *end;
	long port;

	if (eq == NULL || eq == arg || (size_t)(eq - arg) >= cnamelen || strlen(eq + 1) >= memberlen)
		return -1;
	colon = strrchr(eq + 1, ':');
	if (colon == NULL || colon == eq + 1 || colon[1] < '0' || colon[1] > '9')
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port < 1 || port > 65535)
		return -1;
	snprintf(cname, cnamelen, "%.*s", (int)(eq - arg), arg);
	snprintf(member, memberlen, "%s", eq + 1);
	return 0;
}

/* --check-held in exact mode: COMPONENT's snapshot of HOST:PORT exists on record (nothing is locked). */
static int
exact_check_held(const mbh_cluster_rec *rec, const char *name, const char *cname, const char *member,
		 const char *job, char *held, size_t heldlen, mbh_error *err)
{
	const mbh_cluster_comp *c = NULL;
	size_t i;

	for (i = 0; i < rec->ncomps && c == NULL; i++)
		if (strcmp(rec->comps[i].name, cname) == 0)
			c = &rec->comps[i];
	if (c == NULL)
		return mbh_error_set(err, EX_UNAVAILABLE, "%s %s has no snapshot: cluster %s has no component %s", cname,
				     member, name, cname);
	if (rec->phase != MBH_PHASE_SNAPSHOT || c->snapshot[0] == '\0' || strcmp(c->member, member) != 0)
		return mbh_error_set(err, EX_UNAVAILABLE, "%s %s has no snapshot for job %s: cluster %s (exact mode) is %s, "
				     "its snapshot of %s is %s", cname, member, job != NULL ? job : "-", name,
				     mbh_state_phase_name(rec->phase), c->member[0] != '\0' ? c->member : "-",
				     c->snapshot[0] != '\0' ? c->snapshot : "not taken");
	snprintf(held, heldlen, "%s %s is snapshotted for job %s: read %s", cname, member,
		 rec->job[0] != '\0' ? rec->job : "-", c->snapshot);
	return 0;
}

/* See cluster.h. */
int
mbh_cluster_check_held(const mbh_config *cfg, const char *name, const char *job, const char *arg, char *held,
		       size_t heldlen, mbh_error *err)
{
	char cname[sizeof(((mbh_cluster_comp *)0)->name)], member[sizeof(((mbh_cluster_comp *)0)->member)];
	char rname[160], what[600], *text = NULL, *dir = NULL;
	const mbh_cluster_comp *c = NULL;
	mbh_cluster_rec *rec = NULL;
	mbh_state_rec srec;
	bool present = false;
	size_t i;
	int rc = -1;

	held[0] = '\0';
	if (held_arg(arg, cname, sizeof(cname), member, sizeof(member)) != 0)
		return mbh_error_set(err, EX_USAGE, "--check-held wants COMPONENT=HOST:PORT (a shard's name or "
				     "\"config\", then the member), not '%s'", arg);
	snprintf(what, sizeof(what), "%s %s is not locked%s%s", cname, member, job != NULL ? " for job " : "",
		 job != NULL ? job : "");
	if (name == NULL || name[0] == '\0')
		return mbh_error_set(err, EX_UNAVAILABLE, "%s: no cluster's backup is recorded in %s", what,
				     cfg->state_dir);
	if (rec_name(name, rname, sizeof(rname)) != 0)
		return mbh_error_set(err, EX_CONFIG, "the cluster name '%s' is too long", name);
	if ((rec = calloc(1, sizeof(*rec))) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	if (mbh_state_peek_text(cfg->state_dir, rname, &text, &present, err) != 0)
		goto out;
	if (!present) {
		mbh_error_set(err, EX_UNAVAILABLE, "%s: nothing is locked for cluster %s (no record in %s)", what, name,
			      cfg->state_dir);
		goto out;
	}
	if (mbh_cluster_rec_parse(rec, text, err) != 0) {
		mbh_error_prefix(err, "%s/%s.state", cfg->state_dir, rname);
		goto out;
	}
	if (job != NULL && strcmp(rec->job, job) != 0) {
		mbh_error_set(err, EX_UNAVAILABLE, "%s: the locks of cluster %s are %s%s%s", what, name,
			      rec->job[0] != '\0' ? "job " : "", rec->job[0] != '\0' ? rec->job : "of no job",
			      rec->job[0] != '\0' ? "'s" : "");
		goto out;
	}
	if (rec->mode == MBH_CLUSTER_EXACT) {
		rc = exact_check_held(rec, name, cname, member, job, held, heldlen, err);
		goto out;
	}
	if (rec->phase != MBH_PHASE_LOCKED) {
		mbh_error_set(err, EX_UNAVAILABLE, "%s: cluster %s is %s, not LOCKED", what, name,
			      mbh_state_phase_name(rec->phase));
		goto out;
	}
	for (i = 0; i < rec->ncomps && c == NULL; i++)
		if (strcmp(rec->comps[i].name, cname) == 0)
			c = &rec->comps[i];
	if (c == NULL) {
		mbh_error_set(err, EX_UNAVAILABLE, "%s: cluster %s has no component %s", what, name, cname);
		goto out;
	}
	if (strcmp(c->member, member) != 0) {
		mbh_error_set(err, EX_UNAVAILABLE, "%s: the member of %s locked is %s", what, cname,
			      c->member[0] != '\0' ? c->member : "none (not chosen yet)");
		goto out;
	}
	if (c->state != MBH_COMP_LOCKED) {
		mbh_error_set(err, EX_UNAVAILABLE, "%s: its lock is %s", what, mbh_comp_state_name(c->state));
		goto out;
	}
	/* the component's own record is the lock's truth: its watchdog unlocks it at the deadline */
	if (asprintf(&dir, "%s/%s%s.d/%s", cfg->state_dir, name, MBH_CLUSTER_SUFFIX, c->set) < 0) {
		dir = NULL;
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	memset(&srec, 0, sizeof(srec));
	if (mbh_state_peek(dir, c->set, &srec, &present, err) != 0)
		goto out;
	if (!present || srec.phase != MBH_PHASE_LOCKED || strcmp(srec.member, member) != 0) {
		mbh_error_set(err, EX_UNAVAILABLE, "%s: the record of set %s in %s says %s%s%s", what, c->set, dir,
			      present ? mbh_state_phase_name(srec.phase) : "nothing is locked",
			      present ? " on " : "", present ? srec.member : "");
		goto out;
	}
	if (!mbh_state_guarded(&srec)) {
		mbh_error_set(err, EX_UNAVAILABLE, "%s: no watchdog guards its lock (pid %ld is not running): run "
			      "mongo-postbackup to release it", what, srec.watchdog_pid);
		goto out;
	}
	snprintf(held, heldlen, "%s %s is locked for job %s (lockCount %" PRId64 ")", cname, member,
		 rec->job[0] != '\0' ? rec->job : "-", srec.lock_count);
	rc = 0;
out:
	free(dir);
	free(text);
	free(rec);
	return rc;
}

/* ---- the plugin: one command per component, under the cluster's locks ---------------------------------- */

/* See cluster.h. */
const char *
mbh_cluster_name(const mbh_cluster *cl)
{
	return cl->rec->name;
}

/* See cluster.h. */
size_t
mbh_cluster_ncomps(const mbh_cluster *cl)
{
	return cl->held ? cl->n : 0;
}

/* See cluster.h. */
const mbh_cluster_comp *
mbh_cluster_comp_at(const mbh_cluster *cl, size_t i)
{
	return cl->held && i < cl->n ? &cl->rec->comps[cl->comps[i].idx] : NULL;
}

/* See cluster.h. */
mbh_job *
mbh_cluster_comp_job(mbh_cluster *cl, size_t i)
{
	return cl->held && i < cl->n ? cl->comps[i].job : NULL;
}

/* See cluster.h. */
int
mbh_cluster_comp_spawn(mbh_cluster *cl, size_t i, const char *const *templ, int flags, mbh_child **out,
		       mbh_error *err)
{
	const mbh_cluster_comp *r = mbh_cluster_comp_at(cl, i);
	char env_cluster[200], env_comp[200];
	const char *env[3] = { env_cluster, env_comp, NULL };
	char label[300];
	mbh_state_rec srec;
	int rc;

	*out = NULL;
	if (r == NULL)
		return mbh_error_set(err, EX_SOFTWARE, "no component %zu is locked", i);
	snprintf(env_cluster, sizeof(env_cluster), "MONGO_BACKUP_CLUSTER=%s", cl->rec->name);
	snprintf(env_comp, sizeof(env_comp), "MONGO_BACKUP_COMPONENT=%s", r->name);
	if (cl->rec->mode == MBH_CLUSTER_EXACT) {
		/* nothing is locked: the command reads the component's snapshot of its primary */
		comp_state_rec(cl, cl->comps[i].idx, &srec);
		rc = mbh_job_spawn_snapshot(cl->comps[i].job, &srec, templ, env, flags, out, err);
	} else {
		rc = mbh_job_spawn_held(cl->comps[i].job, templ, env, flags, out, err);
	}
	if (rc != 0) {
		comp_label(r, label, sizeof(label));
		return mbh_error_prefix(err, "%s", label);
	}
	return 0;
}

/* See cluster.h. */
int
mbh_cluster_unlock_async(mbh_cluster *cl, mbh_error *err)
{
	mbh_error e;
	size_t i;
	int rc = 0;

	for (i = 0; i < cl->n; i++) {
		mbh_error_init(&e);
		mbh_job_cancel(cl->comps[i].job);
		if (mbh_job_unlock_async(cl->comps[i].job, &e) != 0 && rc == 0) {
			*err = e;
			rc = -1;
		}
	}
	return rc;
}

/*
 * mbh_job_params.after_idle, on a component's helper thread: the idle rule
 * released that component while its stream's reader is away (Bacula waiting
 * for a volume); release the others now too, not when the reader comes back.
 * The balancer and the record follow with the owner's mbh_cluster_unlock.
 */
static void
comp_idle(void *ctx)
{
	mbh_cluster *cl = ctx;
	mbh_error e;

	mbh_error_init(&e);
	pthread_mutex_lock(&cl->unlock_mu);
	if (cl->held && !cl->closing) {
		mbh_logf(cl->log, MBH_LOG_ERROR, "cluster %s: a stream stalled (script.idle_timeout): unlocking every "
			 "component now", cl->rec->name);
		if (mbh_cluster_unlock_async(cl, &e) != 0)
			mbh_logf(cl->log, MBH_LOG_ERROR, "%s", e.msg);
	}
	pthread_mutex_unlock(&cl->unlock_mu);
}

/* See cluster.h. */
bool
mbh_cluster_unlock_wait(mbh_cluster *cl, int timeout_ms)
{
	size_t i;
	bool done = true;

	for (i = 0; i < cl->n; i++)
		if (!mbh_job_unlock_wait(cl->comps[i].job, cl->n > 0 ? timeout_ms / (int)cl->n : timeout_ms))
			done = false;
	return done;
}

/* See cluster.h. */
void
mbh_cluster_free(mbh_cluster *cl)
{
	if (cl == NULL)
		return;
	pthread_mutex_lock(&cl->unlock_mu);
	cl->closing = true; /* a component's helper thread is joined below: it must not be using the others */
	pthread_mutex_unlock(&cl->unlock_mu);
	free_comps(cl);
	close_state(cl);
	if (cl->client != NULL)
		mongoc_client_destroy(cl->client);
	mbh_scram_login_free(cl->login); /* after the components' jobs and the mongos's client */
	mongoc_uri_destroy(cl->uri);
	free(cl->comp_dir);
	free(cl->rec);
	free(cl->job_name);
	free(cl->mode);
	free(cl->watchdog_path);
	free(cl->gate_path);
	pthread_mutex_destroy(&cl->unlock_mu);
	free(cl);
}
