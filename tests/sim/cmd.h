/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cmd.h: what the command files (commands.c and cmd_*.c) share inside the simulator; commands.c's
   cmd_table is the one place of command facts, these are the handlers and helpers it calls. */
#ifndef SIM_CMD_H
#define SIM_CMD_H

#include "sim.h"

/* A growing list of owned documents (an aggregation's stream). */
typedef struct doc_list {
	bson_t **v;
	size_t n, cap;
} doc_list;

/* commands.c: argument helpers, the shell form of a document, the Unauthorized reply */
bool truthy(const bson_iter_t *it);
bool get_number(const bson_t *b, const char *key, double *out);
void shell_doc(const bson_t *b, bool array, char *buf, size_t cap);
void not_authorized(bson_t *r, const char *db, const bson_t *body);

/* cmd_hello.c */
void append_optime(bson_t *b, const char *key, const sim_optime *op);
int visible_primary(const sim *s, int idx);
void build_hello(sim *s, sim_conn *c, const bson_t *req, bool hello_name, bson_t *r);
const char *server_version(const sim *s, int32_t v[4]);
void build_buildinfo(sim *s, bson_t *r);
void build_server_status(sim *s, sim_conn *c, bson_t *r);

/* cmd_repl.c */
void build_status(sim *s, sim_conn *c, bson_t *r);
void build_config(sim *s, bson_t *r);
void cmd_freeze(sim *s, sim_conn *c, const bson_t *body, const char *name, bson_t *r);
void cmd_stepdown(sim *s, sim_conn *c, const bson_t *body, const char *name, bson_t *r);

/* cmd_fsync.c */
void cmd_fsync(sim *s, sim_conn *c, const bson_t *body, bson_t *r);
void cmd_fsync_unlock(sim *s, sim_conn *c, bson_t *r);
void collect_ops(sim *s, sim_conn *c, const bson_t *body, const char *db, bool all_users, bool idle,
		 doc_list *l);
void cmd_current_op(sim *s, sim_conn *c, const bson_t *body, bool locked, bson_t *r);

/* cmd_mongos.c: what a mongos answers (the cluster through the component simulators). */
void build_mongos_hello(sim *s, sim_conn *c, const bson_t *req, bool hello_name, bson_t *r);
void cmd_list_shards(sim *s, bson_t *r);
void cmd_get_shard_map(sim *s, bson_t *r);
void cmd_balancer_status(sim *s, bson_t *r);
int cmd_balancer_start_stop(sim *s, bool start, bson_t *r);
void cmd_mongos_fsync(sim *s, sim_conn *c, const bson_t *body, bson_t *r);
void cmd_mongos_fsync_unlock(sim *s, bson_t *r);
void cmd_mongos_current_op(sim *s, sim_conn *c, const bson_t *body, bson_t *r);

/* cmd_route.c: insert, update, delete and find through a mongos, each document on the shard its _id
 * hashes to. */
size_t sim_route_shard(const sim_cluster *cl, const bson_iter_t *id);
int cmd_mongos_write(sim *s, sim_conn *c, const bson_t *body, const char *db, const char *kind, bson_t *r);
void cmd_mongos_find(sim *s, sim_conn *c, const bson_t *body, const char *db, bson_t *r);
void cmd_mongos_aggregate(sim *s, sim_conn *c, const bson_t *body, const char *db, bson_t *r);

/* cmd_data.c */
int cmd_insert(sim *s, sim_conn *c, const bson_t *body, const char *db, bson_t *r);
int sim_data_insert_one(sim *s, const sim_member *m, const char *ns, const bson_t *d, int32_t index, bson_t *errors,
                        const char *router, int64_t seq);
const bson_t *sim_data_next(const sim *s, const sim_member *m, const char *ns, const bson_t *filter, size_t *k);
bool matches(const bson_t *doc, const bson_t *filter);
bool value_eq(const bson_iter_t *a, const bson_iter_t *b);
void cmd_find(sim *s, sim_conn *c, const sim_msg *req, const bson_t *body, const char *db, bson_t *r);
void docs_push(doc_list *l, bson_t *d);
void docs_clear(doc_list *l);
void cmd_aggregate(sim *s, sim_conn *c, const sim_msg *req, const bson_t *body, const char *db, bson_t *r);
int sim_aggregate_args(const bson_t *body, const char **coll, bson_iter_t *st, bson_t *r);
void sim_aggregate_run(sim *s, sim_conn *c, const bson_t *body, const char *db, const char *coll, bson_iter_t *stages,
                       doc_list *src, bson_t *r);

/* cmd_update.c: update and delete (one statement each, on the primary m; router/seq stamp the entries
 * of a routed statement, *seqs counts them) */
typedef struct sim_write_result {
	int32_t n, n_modified;
	int32_t seqs;           /* oplog entries written (each routed one used one sequence number) */
	bson_t upserted;        /* [{index, _id}] */
	bson_t errors;          /* writeErrors */
} sim_write_result;
void sim_write_result_init(sim_write_result *w);
void sim_write_result_clear(sim_write_result *w);
void sim_write_result_reply(const sim_write_result *w, bool update, bson_t *r);
int sim_data_update_stmt(sim *s, const sim_member *m, const char *ns, const bson_t *stmt, int32_t index,
                         sim_write_result *w, const char *router, int64_t seq);
int sim_data_delete_stmt(sim *s, const sim_member *m, const char *ns, const bson_t *stmt, int32_t index,
                         sim_write_result *w, const char *router, int64_t seq);
int cmd_update(sim *s, sim_conn *c, const bson_t *body, const char *db, bool update, bson_t *r);

/* cmd_admin.c */
void cmd_connection_status(sim *s, sim_conn *c, const bson_t *body, bson_t *r);
void cmd_get_parameter(sim *s, const bson_t *body, bson_t *r);
void cmd_get_log(const bson_t *body, bson_t *r);
void cmd_list_databases(sim *s, sim_conn *c, const bson_t *body, bson_t *r);
void cmd_get_cmd_line_opts(sim *s, sim_conn *c, bson_t *r);
void cmd_host_info(sim *s, sim_conn *c, bson_t *r);
void cmd_get_nonce(bson_t *r);

#endif
