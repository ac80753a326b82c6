/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sim.h: the simulator's shared model (members, oplog, connections) and its module interfaces. */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <bson/bson.h>
#include <openssl/ssl.h>

#include "scram.h"
#include "wire.h"

/* Member states, numbered as the server's MemberState. */
enum {
	SIM_ST_STARTUP = 0,
	SIM_ST_PRIMARY = 1,
	SIM_ST_SECONDARY = 2,
	SIM_ST_RECOVERING = 3,
	SIM_ST_STARTUP2 = 5,
	SIM_ST_ARBITER = 7,
	SIM_ST_DOWN = 8
};

/* Privileges, as bits (roles expand to these). */
enum {
	SIM_ACT_RS_STATUS = 1u << 0,
	SIM_ACT_RS_CONFIG = 1u << 1,
	SIM_ACT_SERVER_STATUS = 1u << 2,
	SIM_ACT_INPROG = 1u << 3,
	SIM_ACT_BUILDINFO = 1u << 4,
	SIM_ACT_FSYNC = 1u << 5,
	SIM_ACT_UNLOCK = 1u << 6,
	SIM_ACT_STATE_CHANGE = 1u << 7,
	SIM_ACT_INSERT = 1u << 8,
	SIM_ACT_FIND = 1u << 9,
	SIM_ACT_GET_PARAMETER = 1u << 10,
	SIM_ACT_GET_LOG = 1u << 11,
	SIM_ACT_LIST_DATABASES = 1u << 12,
	SIM_ACT_HOST_INFO = 1u << 13,
	SIM_ACT_CMD_LINE_OPTS = 1u << 14,
	SIM_ACT_LIST_SHARDS = 1u << 15,
	SIM_ACT_GET_SHARD_MAP = 1u << 16,
	SIM_ACT_BALANCER_STATUS = 1u << 17,
	SIM_ACT_BALANCER = 1u << 18,       /* balancerStart, balancerStop */
	SIM_ACT_UPDATE = 1u << 19,
	SIM_ACT_REMOVE = 1u << 20,         /* delete */
	SIM_ACT_ALL = 0xffffffffu
};

/* What the process simulates (topology `role`). */
enum { SIM_ROLE_REPLSET = 0, SIM_ROLE_CONFIGSVR, SIM_ROLE_MONGOS };

/* A mongos's view of its cluster: the component simulators it reaches through their control
 * sockets (cmd_mongos.c), and the cluster-wide state a real cluster keeps on its config servers. */
typedef struct sim_cluster {
	char **shard_ctl;       /* one control socket per shard simulator, in listShards order */
	size_t n_shards;
	char *config_ctl;       /* the CSRS simulator's control socket */
	bool balancer_off;      /* balancerStop was run (mode "off") */
	bool in_round;          /* a balancer round / chunk migration runs (ctl migration start) */
	int64_t rounds;         /* numBalancerRounds */
	bool ddl_running;       /* a DDL operation is in progress (ctl ddl start) */
	char stall[64];         /* this component's fsync lock times out (ctl stall NAME) */
	char router_id[25];     /* this routers' process, stamped on every routed write (an ObjectId's hex) */
	int64_t next_seq;       /* the sequence number the next routed write that lands gets */
} sim_cluster;

/* One-shot fault actions for `arm`. */
enum { SIM_ARM_NONE = 0, SIM_ARM_ELECT, SIM_ARM_KILL, SIM_ARM_PARTITION };

typedef struct sim_optime {
	uint32_t t, i;      /* Timestamp(t, i) */
	int64_t term;
	int64_t wall_ms;
} sim_optime;

/* One oplog entry (noop, insert, update or delete). */
typedef struct sim_entry {
	sim_optime op;
	bool noop;
	char kind;          /* 'i' insert, 'u' update (doc = the whole new document), 'd' delete (doc = {_id}) */
	char *ns;           /* "db.coll" for inserts, NULL for noops */
	bson_t *doc;        /* the inserted document (with _id), or the noop's o */
	char *router;       /* a write routed by a mongos: the router's id (NULL: not routed) */
	int64_t seq;        /* ... and the router's sequence number for it */
} sim_entry;

typedef struct sim_counter {
	char name[48];
	uint64_t count;
} sim_counter;

/* A member's data directory (see datadir.c). */
typedef struct sim_datadir {
	char *path;         /* DIR/<_id>, NULL when not persisting */
	int data_fd;
	uint64_t records;
	uint64_t bytes;
	uint64_t hash;      /* FNV-1a 64 of the data file */
	sim_optime last;
} sim_datadir;

typedef struct sim_member {
	int id;
	int port;           /* the bound port */
	char addr[16];      /* the loopback address it listens on, "127.0.0.1" unless the topology says */
	char host[32];      /* "ADDR:PORT" */
	double priority;
	int votes;
	bool hidden, arbiter, build_indexes;
	int delay_secs;
	bson_t tags;
	int state;
	bool up, partitioned;
	int64_t lock_count;
	int lag_secs;
	int slow_ms;
	char slow_cmd[48];      /* slow_ms holds back only the replies to this command ("" = every reply) */
	int64_t frozen_until_ms;
	size_t applied;         /* oplog entries applied (prefix length) */
	int64_t start_ms;       /* for uptime */
	int64_t election_ms;
	bson_oid_t tv_process_id;  /* topologyVersion: one per (re)start of the member */
	int64_t tv_counter;
	sim_optime election_op;
	int listen_fd;          /* bound socket; listening only while up */
	char arm_cmd[48];
	int arm_action;
	sim_counter *counters;
	size_t n_counters;
	uint64_t held_ctl_writes;   /* ctl writes waiting for the lock to go */
	sim_datadir dd;
} sim_member;

typedef struct sim_user {
	char *name;
	char *db;
	bool has_sha1, has_sha256;
	bool x509;              /* MONGODB-X509: name = the client certificate's subject, db $external */
	sim_scram_creds sha1, sha256;
	uint32_t actions;
	bson_t *roles;          /* [{role, db}] as connectionStatus shows them (NULL: none) */
} sim_user;

/* A queued reply chunk, released at a given time (slow members). */
typedef struct sim_out {
	struct sim_out *next;
	int64_t release_ms;
	uint8_t *data;
	size_t len, off;
} sim_out;

enum { SIM_CONN_MEMBER = 1, SIM_CONN_CTL };

typedef struct sim_conn {
	struct sim_conn *next;
	int kind;
	int fd;
	int member;             /* index, for SIM_CONN_MEMBER */
	int64_t id;             /* connectionId */
	SSL *ssl;
	bool tls_done;
	bool want_write;        /* TLS needs POLLOUT to progress */
	uint8_t *in;
	size_t in_len, in_cap;
	sim_out *out_head, *out_tail;
	bool held;              /* a write waits for the member's fsync lock */
	bool redispatch;        /* the held request runs again (do not count it twice) */
	bson_t *op_body;        /* the held request, as $currentOp shows it (NULL: none) */
	char op_db[64];
	int64_t op_start_ms;
	bool awaiting;          /* held: an awaitable hello waiting for a topology change */
	int64_t await_until_ms; /* ... or for its maxAwaitTimeMS to run out */
	bool await_done;        /* the wait is over: answer at once */
	int64_t reply_delay_ms;  /* the next reply waits this long (a mongos's lock timeout) */
	int64_t retry_at_ms;    /* held: run the request again then (a routed write waits for a shard's lock) */
	void *route;            /* a mongos's routed request in progress (cmd_route.c), NULL: none */
	bool close_after_flush;
	bool dead;
	/* authentication */
	int user;               /* authenticated user index, -1 none */
	sim_scram_conv *conv;
	int conv_user_db_ok;
	int conv_step;          /* 0 none, 1 server-first sent, 2 server-final sent (no skip) */
	bool conv_skip_empty;
	char conv_db[64];
	char *cert_subject;     /* the verified client certificate's subject (RFC 2253), NULL: none */
} sim_conn;

typedef struct sim {
	char *topo_path;
	char *set_name;
	int max_wire;
	bool auth;
	int noop_interval_ms;
	int election_timeout_ms;     /* settings.electionTimeoutMillis */
	int64_t no_primary_since_ms; /* when the set last had a healthy primary (0: it has one) */
	char *data_dir;
	bool tls;
	char *tls_cert, *tls_key, *tls_ca;
	bool tls_require_client_cert;
	SSL_CTX *ssl_ctx;
	sim_member *members;
	size_t n_members;
	sim_user *users;
	size_t n_users;
	int config_version;
	int64_t term;
	int primary;            /* index or -1 */
	sim_entry *oplog;
	size_t n_oplog, cap_oplog;
	size_t *mutations;      /* the oplog positions of the updates and deletes, in order */
	size_t n_mutations, cap_mutations;
	sim_optime committed;
	int64_t next_noop_ms;
	sim_conn *conns;
	int64_t next_conn_id;
	int64_t accept_paused_until_ms;   /* out of descriptors: listeners rest until then */
	int32_t next_request_id;
	int ctl_fd;
	char *ctl_path;
	FILE *log;
	int verbose;
	char *seed_uri;
	volatile sig_atomic_t stop;
	int64_t start_ms;
	bson_oid_t replica_set_id;
	int role;               /* SIM_ROLE_* */
	char version[16];       /* buildInfo.version when the topology sets it ("" = the series default) */
	sim_cluster cluster;    /* SIM_ROLE_MONGOS only */
} sim;

/* One argument of a command, as the server's IDL declares it. */
typedef struct sim_arg {
	const char *name;
	const char *types;      /* accepted BSON types, by the server's names in its order ("bool,long,int"); NULL: any */
	bool required;
	bool checked;           /* type checked even when the command is not strict (hand-parsed by the server) */
	int min_wire, max_wire; /* known from / until this wire version (0: always / still) */
} sim_arg;

struct sim_cmd_entry;
typedef int (*sim_cmd_fn)(sim *s, sim_conn *c, const sim_msg *req, const bson_t *body, const char *db,
                          const char *name, bson_t *r);

/* One command: every fact about it in one place (commands.c's table). */
typedef struct sim_cmd_entry {
	const char *name;
	int min_wire, max_wire;  /* the server versions that have it (0: always / still) */
	bool admin_only;         /* only against the admin database */
	bool open;               /* needs no authentication */
	uint32_t action;         /* the privilege it takes (0: the handler checks) */
	int strict_wire;         /* unknown fields refused from this wire version on (0: never) */
	const sim_arg *args;
	sim_cmd_fn fn;
} sim_cmd_entry;

/* args.c */
bool sim_args_generic(const char *name);
const char *sim_bson_type_name(bson_type_t t);
int sim_args_check(const sim *s, const char *cmd, const sim_arg *args, int strict_wire, const bson_t *body,
                   bson_t *r);

/* saslprep.c */
char *sim_saslprep(const char *in);

/* util (loop.c) */
int64_t sim_now_ms(void);
void sim_logf(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* topology.c: parse FILE into s (members, users, settings).  Returns 0, or -1
 * with "FILE:LINE: message" in err. */
int sim_topology_load(sim *s, const char *path, char *err, size_t errlen);
void sim_topology_free(sim *s);
uint32_t sim_role_actions(const char *role, bool *known);
int sim_action_parse(const char *name, uint32_t *out);

/* rs.c: the replica-set model. */
void sim_rs_init(sim *s);
const char *sim_state_str(int state);
sim_optime sim_rs_optime(const sim *s, const sim_member *m);
bool sim_rs_reachable(const sim *s, int idx);
bool sim_rs_electable(const sim *s, int idx, int64_t now);
int sim_rs_write(sim *s, const char *ns, const bson_t *doc, bool noop);
int sim_rs_write_kind(sim *s, char kind, const char *ns, const bson_t *doc, const char *router, int64_t seq);
void sim_rs_elect(sim *s, int idx);
int sim_rs_best_electable(const sim *s, int exclude, int64_t now);
void sim_rs_stepdown(sim *s, int idx);
void sim_rs_kill(sim *s, int idx);
int sim_rs_revive(sim *s, int idx, char *err, size_t errlen);
void sim_rs_unlock_effects(sim *s, int idx);
void sim_rs_topology_changed(sim *s);
void sim_rs_tick(sim *s, int64_t now);
int64_t sim_rs_next_deadline(const sim *s, int64_t now);
void sim_rs_update_commit(sim *s);
int sim_rs_majority_vote_count(const sim *s);
int sim_rs_write_majority_count(const sim *s);
int sim_rs_voting_count(const sim *s);
int sim_rs_writable_voting_count(const sim *s);
int sim_rs_find_member(const sim *s, const char *spec);
void sim_rs_count(sim_member *m, const char *cmd);
void sim_rs_free(sim *s);

/* commands.c: answer one request.  Fills reply (initialised by the caller).
 * Returns 0 = reply ready, 1 = hold (write on a locked primary), 2 = no reply
 * (moreToCome), 3 = close the connection now (arm kill). */
int sim_cmd_dispatch(sim *s, sim_conn *c, const sim_msg *req, bson_t *reply);
void sim_cmd_error(bson_t *reply, int code, const char *code_name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* auth.c */
bool sim_auth_allowed(const sim *s, const sim_conn *c, const sim_cmd_entry *e);
bool sim_auth_has(const sim *s, const sim_conn *c, uint32_t actions);
void sim_auth_hello_extras(sim *s, sim_conn *c, const bson_t *req, bson_t *reply);
int sim_auth_sasl_start(sim *s, sim_conn *c, const bson_t *body, const char *db, bson_t *reply);
int sim_auth_sasl_continue(sim *s, sim_conn *c, const bson_t *body, bson_t *reply);
void sim_auth_conn_reset(sim_conn *c);
int sim_auth_x509(sim *s, sim_conn *c, const bson_t *body, const char *db, bson_t *reply);

/* loop.c */
int sim_loop_listen_member(sim *s, int idx, bool listen_now, int port, char *err, size_t errlen);
int sim_loop_run(sim *s);
void sim_loop_close_member_conns(sim *s, int idx);
void sim_loop_release_held(sim *s, int idx);
void sim_loop_retime_replies(sim *s, int idx, int64_t latest_ms);
void sim_loop_wake_hellos(sim *s);
int sim_tls_init(sim *s, char *err, size_t errlen);

/* ctl.c (a component simulator's control socket, a loopback Unix socket, answers within SIM_CTL_TIMEOUT_MS) */
#define SIM_CTL_TIMEOUT_MS 5000
int sim_ctl_call(const char *path, const char *line, int timeout_ms, char **answer, char *err, size_t errlen);
int sim_ctl_listen(sim *s, char *err, size_t errlen);
void sim_ctl_handle_line(sim *s, const char *line, char **out, size_t *outlen);
int sim_ctl_client(int argc, char **argv);

/* cmd_mongos.c: the mongos side (its ctl commands; its command handlers are in cmd.h). */
int sim_mongos_ctl(sim *s, int argc, char **argv, char **text, char *err, size_t errlen);
void sim_cluster_free(sim_cluster *cl);

/* routed.c: the shard side of writes and reads routed by a mongos, and their hex BSON encoding.
 * Its refusals, as the router reads them: */
#define SIM_ROUTED_LOCKED "the primary is fsync-locked"
#define SIM_ROUTED_NO_PRIMARY "Could not find host matching read preference { mode: \"primary\" } for set "
char *sim_hex_encode(const uint8_t *data, size_t len);
bson_t *sim_hex_decode(const char *hex);
int sim_routed_ctl(sim *s, int argc, char **argv, char **text, char *err, size_t errlen);

/* cmd_route.c: the mongos side (requests held for a shard are freed with their connection). */
void sim_route_free(sim_conn *c);

/* verify_cluster.c: `mongo-rs-sim verify --cluster ...` */
int sim_verify_cluster(int argc, char **argv);

/* datadir.c */
#define SIM_FNV_OFFSET 1469598103934665603ULL
uint64_t sim_fnv1a64(uint64_t h, const uint8_t *p, size_t n);
int sim_datadir_open(sim *s, sim_member *m, char *err, size_t errlen);
int sim_datadir_append(sim *s, sim_member *m, size_t from, size_t to);
void sim_datadir_close(sim_member *m);
int sim_datadir_verify(const char *dir);

/* One routed write found in a data directory: the router and its sequence number. */
typedef struct sim_dd_mark {
	char router[32];
	int64_t seq;
} sim_dd_mark;

/* What `verify` finds in a data directory copy. */
typedef struct sim_dd_info {
	unsigned long long records;
	unsigned long long last_t, last_i;
	sim_dd_mark *marks;     /* every routed write, in the file's order */
	size_t n_marks;
} sim_dd_info;

int sim_datadir_check(const char *dir, sim_dd_info *info, char *err, size_t errlen);
void sim_dd_info_free(sim_dd_info *info);

#endif
