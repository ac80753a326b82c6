/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* metrics.h: the Prometheus textfile of one replica set: render it from the record and the counters, write it atomically. */
#ifndef MBH_METRICS_H
#define MBH_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "log.h"
#include "state.h"

/*
 * Every mode (pre, post, --exec, the plugin, the watchdog) calls
 * mbh_metrics_note at each change; the file is rendered whole each time from
 * two durable sources read under one flock:
 *   DIR/SET.state    the lock record: whether a member is locked (LOCKING
 *                    counts: the lock may be taken), since when, until when,
 *                    the snapshot.  Never remembered here, so a file written
 *                    after the intent and before the record goes says
 *                    "locked" whatever crashes in between.
 *   DIR/SET.metrics  the counters and the last run's figures (mode 0600, its
 *                    own file, never the record, never a secret).
 * Both files are replaced by rename from a temporary file in their directory
 * (never a half file; fsync when metrics.fsync).  Nothing here fails a run:
 * a file that cannot be written is one warning per mbh_metrics (per run).
 */

/* Why a run failed: a fixed set, so the failures series stay few. */
typedef enum mbh_metrics_reason {
	MBH_METRICS_FAIL_LOCK = 0,   /* no lock taken: discovery, choice, refusal, the lock itself */
	MBH_METRICS_FAIL_COMMAND,    /* the backup command failed, timed out or could not start */
	MBH_METRICS_FAIL_CANCELLED,  /* cancelled (a signal, Bacula's cancel) */
	MBH_METRICS_FAIL_UNLOCK,     /* the unlock (or the snapshot's removal) failed */
	MBH_METRICS_FAIL_STREAM,     /* the plugin's stream into the job failed */
	MBH_METRICS_FAIL_N
} mbh_metrics_reason;

/* The label value of a reason ("lock", "command", ...). */
const char *mbh_metrics_reason_name(mbh_metrics_reason r);

typedef enum mbh_metrics_kind {
	MBH_METRICS_CHANGED = 0, /* the record changed (intent written, snapshot taken or removed): render */
	MBH_METRICS_RELEASED,    /* a lock was released: lock duration from `since`; by_watchdog counts */
	MBH_METRICS_SUCCESS,     /* a run ended well: `since` = its start, bytes streamed */
	MBH_METRICS_FAILURE      /* a run failed for `reason`: `since` = its start, bytes streamed */
} mbh_metrics_kind;

typedef struct mbh_metrics_event {
	mbh_metrics_kind kind;
	mbh_metrics_reason reason; /* FAILURE */
	double since;              /* unix seconds: the lock's start (RELEASED), the run's (SUCCESS, FAILURE); 0 = unknown */
	bool by_watchdog;          /* RELEASED by the watchdog at the deadline */
	int64_t bytes;             /* SUCCESS, FAILURE: bytes streamed into the job; -1 = nothing streamed (not the plugin) */
} mbh_metrics_event;

/* What DIR/SET.metrics holds. */
typedef struct mbh_metrics_counters {
	uint64_t successes;
	uint64_t failures[MBH_METRICS_FAIL_N];
	uint64_t watchdog_unlocks;
	uint64_t streamed_bytes;
	double last_success;       /* unix seconds; 0 = never */
	double last_run;           /* when the last run ended; 0 = never */
	int last_run_ok;           /* 1 success, 0 failure, -1 no run yet */
	double last_run_duration;  /* seconds, -1 = unknown */
	double last_lock_duration; /* seconds, -1 = unknown */
	int64_t last_run_bytes;    /* -1 = the last run streamed nothing */
} mbh_metrics_counters;

/* Where one run writes, and whether it warned already (one per run; no globals). */
typedef struct mbh_metrics {
	const char *textfile;  /* borrowed; NULL = metrics off; "%s" in it stands for the set's name */
	const char *state_dir; /* borrowed */
	bool fsync;
	mbh_logger *log;       /* borrowed; may be NULL */
	atomic_bool warned;    /* a run's threads (the plugin's job and Bacula's cancel) share it */
} mbh_metrics;

/* Point m at cfg's settings (borrowed: cfg must outlive m).  No I/O. */
void mbh_metrics_init(mbh_metrics *m, const mbh_config *cfg, mbh_logger *lg);

/*
 * Apply ev to DIR/SET.metrics and rewrite the textfile from it and the
 * record, both under a flock on DIR/SET.metrics.  Metrics off: nothing.
 * Never fails: a warning (once per m) when a file cannot be read or written.
 */
void mbh_metrics_note(mbh_metrics *m, const char *set, const mbh_metrics_event *ev);

/*
 * mbh_metrics_note after mbh_release of rec: RELEASED (the lock's duration
 * from rec->since) when it released the lock, else CHANGED (the record may
 * have changed all the same); by_watchdog: the release was the watchdog's.
 */
void mbh_metrics_note_release(mbh_metrics *m, const mbh_state_rec *rec, bool released, bool by_watchdog);

/* Pure: counters with nothing counted yet. */
void mbh_metrics_counters_init(mbh_metrics_counters *c);

/* Pure: apply ev (at unix time now) to c. */
void mbh_metrics_apply(mbh_metrics_counters *c, const mbh_metrics_event *ev, double now);

/* Pure: the counters file's text ("name value" lines) into buf; bytes written or -1 when too small. */
int mbh_metrics_counters_format(const mbh_metrics_counters *c, char *buf, size_t len);

/* Pure: parse that text; unknown names are skipped (a newer version's), a bad value is EX_DATAERR "line N: ...". */
int mbh_metrics_counters_parse(mbh_metrics_counters *c, const char *text, mbh_error *err);

/*
 * Pure: escape a label value for the text exposition format: backslash,
 * double quote and newline as \\ \" \n; other control characters and bytes
 * that are not UTF-8 as the text \xNN (mbh_escape), its backslash escaped.
 * Caller frees; NULL on no memory.
 */
char *mbh_metrics_label_escape(const char *value);

/*
 * Pure: the whole textfile (HELP and TYPE lines, every series) for set, from
 * the record (rec when present; rec_ok = false: unreadable, reported as
 * locked by an unknown member) and c.  Caller frees *out.
 */
int mbh_metrics_render(char **out, const char *set, const mbh_state_rec *rec, bool present, bool rec_ok,
		       const mbh_metrics_counters *c, mbh_error *err);

/*
 * Replace path with text: a temporary file beside it (".NAME.XXXXXX", which
 * the textfile collector ignores), mode 0644, fsync when durable, rename,
 * fsync of the directory when durable.  On failure path is untouched and the
 * temporary file gone (EX_CANTCREAT naming path).
 */
int mbh_metrics_write_file(const char *path, const char *text, bool durable, mbh_error *err);

/* The textfile's path for set: "%s" in templ replaced by it.  Caller frees; NULL on no memory. */
char *mbh_metrics_path(const char *templ, const char *set);

#endif
