/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sim-harness.h: TAP output and a started mongo-rs-sim for the integration test programs. */
#ifndef SIM_HARNESS_H
#define SIM_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

/* ---- TAP ---- */

/* Print the plan "1..n". */
void tap_plan(int n);

/* Print "1..0 # SKIP why" and exit 0. */
void tap_skip_all(const char *why) __attribute__((noreturn));

/* One test point; returns cond so callers can chain diagnostics. */
bool tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One test point that cannot run here: "ok N # SKIP why". */
void tap_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A "# ..." diagnostic line on stdout. */
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ok() with "got X, want Y" diagnostics. */
bool tap_is_int(int64_t got, int64_t want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool tap_is_str(const char *got, const char *want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Exit status for main: 0 when every point passed and the count matched the plan. */
int tap_exit_status(void);

/* ---- the simulator ---- */

typedef struct sim sim;

/*
 * Write topology (libconfig text) into a fresh mktemp directory, start
 * $MBH_SIM --topology ... --ready-file ... --ctl ... --log ..., plus extra
 * (NULL-terminated, may be NULL) arguments, wait (bounded, checking that the
 * process lives) for the ready file.  Returns NULL and prints diagnostics on
 * failure.  Every started simulator is also killed at exit or on a fatal signal.
 */
sim *sim_start(const char *topology, const char *const *extra);

/* SIGTERM the simulator, reap it, remove the directory; returns its exit status or -1.  NULL-safe. */
int sim_stop(sim *s);

/* Still running? */
bool sim_alive(sim *s);

const char *sim_uri(const sim *s);       /* line 2 of the ready file */
const char *sim_ctl_path(const sim *s);  /* line 3 of the ready file */
const char *sim_dir(const sim *s);       /* the mktemp directory (topology, logs) */
const char *sim_stdout_first_line(sim *s);

/*
 * One control command (printf-style).  Returns 0 on a final "ok" line, -1 on
 * "error: ..." or a transport problem.  *out (if not NULL) receives the output
 * lines (without the final ok) or the error text; caller frees.
 */
int sim_ctl(sim *s, char **out, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The value of key= in `status` for member id (caller frees), NULL if absent. */
char *sim_status(sim *s, int id, const char *key);

/* status value as an integer, -1 when absent or not a number. */
long sim_status_long(sim *s, int id, const char *key);

/* "127.0.0.1:PORT" of member id (caller frees). */
char *sim_host(sim *s, int id);

/* mongodb://[userinfo@]HOST/?directConnection=true[&opts] for member id (caller frees). */
char *sim_direct_uri(sim *s, int id, const char *userinfo, const char *opts);

/* The seed URI with userinfo inserted and opts appended (caller frees). */
char *sim_seed_uri(sim *s, const char *userinfo, const char *opts);

/* Every member's lockCount is 0 (unlocks nothing; for the final assertion). */
bool sim_all_unlocked(sim *s);

/* Poll sim_status until key equals want (bounded by ms); true if it did. */
bool sim_wait_status(sim *s, int id, const char *key, const char *want, int ms);

/* ---- libmongoc helpers ---- */

/* A client for uri with error API 2 (server errors in domain MONGOC_ERROR_SERVER), NULL on a bad URI. */
mongoc_client_t *th_client(const char *uri);

/* Run a JSON command on db ("admin" when NULL); reply is always initialised. */
bool th_cmd(mongoc_client_t *c, const char *db, bson_t *reply, bson_error_t *err, const char *json);

/* Same with a read preference mode (primary, primaryPreferred...). */
bool th_cmd_rp(mongoc_client_t *c, const char *db, mongoc_read_mode_t mode, bson_t *reply, bson_error_t *err,
               const char *json);

/* Dotted-path lookups; false when absent or of another type. */
bool th_get_int(const bson_t *doc, const char *path, int64_t *out);      /* int32, int64 or double */
bool th_get_str(const bson_t *doc, const char *path, const char **out);
bool th_get_bool(const bson_t *doc, const char *path, bool *out);
bson_type_t th_type(const bson_t *doc, const char *path);               /* BSON_TYPE_EOD when absent */

/* Monotonic milliseconds. */
int64_t th_now_ms(void);

/* Wait for a few milliseconds (polling interval of bounded wait loops only). */
void th_pause_ms(int ms);

/* Silence libmongoc's log (auth failures, timeouts) unless MBH_TEST_VERBOSE is set. */
void th_quiet_mongoc_log(void);

/* Set a watchdog: after secs the program kills its simulators and exits 1. */
void th_watchdog(unsigned secs);

#endif
