/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* state.h: the lock state file of one replica set: flock, atomic write, parse, validate. */
#ifndef MBH_STATE_H
#define MBH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/*
 * Files, for a replica set named SET in directory DIR (mode 0700, created):
 *   DIR/SET.lock   empty; flock()ed for the whole of every run (invariant 4).
 *   DIR/SET.state  the record below, mode 0600, replaced atomically
 *                  (temp file, fsync, rename, fsync DIR), opened O_NOFOLLOW.
 * The record never holds a password.
 */
#define MBH_TOKEN_LEN 32

typedef enum mbh_phase {
	MBH_PHASE_LOCKING = 1, /* intent: the fsync lock may or may not have been taken */
	MBH_PHASE_LOCKED = 2,  /* the lock is held; lock_count is what the server returned */
	MBH_PHASE_SNAPSHOT = 3 /* snapshot mode: unlocked again; the snapshot `snapshot` exists until removed */
} mbh_phase;

/* Longest snapshot path a record holds (a record line is at most 1023 bytes). */
#define MBH_SNAPSHOT_MAX 1000

/* Longest job name a record holds (bytes): a longer one is refused, never cut (mbh_state_job_name_check). */
#define MBH_JOB_NAME_MAX 127

typedef struct mbh_state_rec {
	char set_name[128];
	char member[262];        /* host:port */
	mbh_phase phase;
	int64_t lock_count;      /* returned by our fsync lock; 0 while LOCKING */
	int64_t since;           /* unix seconds when the intent was written */
	int64_t deadline;        /* unix seconds when the watchdog unlocks (rounded up); 0 = none */
	/*
	 * Never in the file: the deadline to the ms, as the run that locked and
	 * its watchdog (handed it) act on it; 0 in a record read from the file,
	 * whose deadline then counts whole seconds (mbh_state_deadline_ms).
	 */
	int64_t deadline_ms;
	long pid;                /* the process that locked */
	char hostname[256];      /* where that process ran */
	char job[MBH_JOB_NAME_MAX + 1]; /* Bacula job name/id or "" */
	char mode[16];           /* "hooks", "exec" or "plugin" */
	long watchdog_pid;       /* 0 = none */
	uint64_t watchdog_start; /* /proc/PID/stat starttime of the watchdog, against pid reuse */
	bool frozen;             /* we sent replSetFreeze and must undo it */
	char token[MBH_TOKEN_LEN + 1]; /* random, hex: ties the run, its watchdog and this record together */
	long command_pid;        /* the command run under the lock (its process group); 0 = none */
	uint64_t command_start;  /* its /proc starttime, against pid reuse */
	char snapshot[MBH_SNAPSHOT_MAX + 1]; /* snapshot mode: the path snapshot.create printed; "" = none */
	int64_t snapshot_since;  /* unix seconds when it was made; 0 with no snapshot */
} mbh_state_rec;

typedef struct mbh_state mbh_state;

/*
 * Open DIR/SET.lock (creating DIR 0700 if needed) and take an exclusive flock.
 * wait=false: if another run holds it, fail with MBH_ERR_SET_BUSY (EX_TEMPFAIL)
 * "another run for SET holds DIR/SET.lock (pid N)" (pid read from the record
 * when there is one).
 * A DIR that is a symlink, not ours or group/other-writable fails with
 * EX_NOPERM; creation failures with EX_CANTCREAT.  Caller owns *out.
 */
int mbh_state_open(mbh_state **out, const char *dir, const char *set_name, bool wait, mbh_error *err);

/* Read the record.  *present=false (and 0 returned) when there is none; a corrupt file fails with EX_DATAERR naming the path. */
int mbh_state_read(mbh_state *st, mbh_state_rec *out, bool *present, mbh_error *err);

/*
 * Read DIR/SET.state without taking the flock (for --status while a run
 * holds it): the record is replaced by rename, so this sees a whole record.
 * Same results as mbh_state_read.
 */
int mbh_state_peek(const char *dir, const char *set_name, mbh_state_rec *out, bool *present, mbh_error *err);

/* Replace the record atomically and durably. */
int mbh_state_write(mbh_state *st, const mbh_state_rec *rec, mbh_error *err);

/*
 * Replace the record atomically but not durably (no fsync): the new record
 * survives the death of this process, not a crash of the machine, which may
 * bring back the one before.  For a step that a durable write follows at once
 * and that must not wait for the disk (snapshot mode, under the lock).
 */
int mbh_state_write_volatile(mbh_state *st, const mbh_state_rec *rec, mbh_error *err);

/* Remove the record (durably); no record is not an error. */
int mbh_state_remove(mbh_state *st, mbh_error *err);

/*
 * The unlock claim: an exclusive flock on DIR itself (no file to create, so
 * it works on a read-only filesystem), held only while one member is being
 * unlocked.  Whoever unlocks (post, the run, the watchdog) takes it, then
 * re-reads the record, so one lock gets one fsyncUnlock.  Waits up to
 * timeout_ms, then EX_TEMPFAIL.  *out_fd is released with mbh_state_unclaim.
 */
int mbh_state_claim(int *out_fd, const char *dir, int timeout_ms, mbh_error *err);
void mbh_state_unclaim(int fd);

/* The names of the sets with a record (SET.state) in DIR; a missing DIR is an empty list.  Free with mbh_strv_free. */
int mbh_state_list(char ***out, const char *dir, mbh_error *err);

/* Remove DIR/SET.state (durably) without holding the run's flock: for whoever holds the unlock claim. */
int mbh_state_unlink(const char *dir, const char *set_name, mbh_error *err);

/*
 * Replace DIR/SET.state (SET = rec->set_name) atomically and durably without
 * holding the run's flock: for whoever holds the unlock claim (a release that
 * leaves a snapshot's record behind).  Errors as mbh_state_write.
 */
int mbh_state_put(const char *dir, const mbh_state_rec *rec, mbh_error *err);

/*
 * A record of another kind kept in the same files and with the same
 * guarantees (a cluster's: cluster.h, opened with mbh_state_open under the
 * name "CLUSTER.cluster"): its text, read under the flock, peeked without it
 * (dir and name as for mbh_state_open), or replaced atomically and durably.
 * *text is malloc'ed (caller frees), NULL when there is no record.
 * mbh_state_list leaves such records ("*.cluster.state") out.
 */
int mbh_state_read_text(mbh_state *st, char **text, bool *present, mbh_error *err);
int mbh_state_peek_text(const char *dir, const char *name, char **text, bool *present, mbh_error *err);
int mbh_state_write_text(mbh_state *st, const char *text, mbh_error *err);
/* The same without the fsyncs: for what is written while writes wait on a lock (a durable intent covers it). */
int mbh_state_write_text_volatile(mbh_state *st, const char *text, mbh_error *err);

/* Path of the state file, for messages.  Borrowed. */
const char *mbh_state_path(const mbh_state *st);

/*
 * Release the flock and free.  NULL is fine.
 */
void mbh_state_free(mbh_state *st);

/* Pure: may s name a set (it becomes a file name in DIR: a safe alphabet, 1 to 127 bytes, not "." or "..")? */
bool mbh_state_set_name_ok(const char *s);

/*
 * Does rec's watchdog still guard its lock: a watchdog pid recorded, and that
 * process (same start time: not a reused pid) alive, a zombie not counting.
 * Reads /proc; the one rule for --status's "stale" and for --check-held.
 */
bool mbh_state_guarded(const mbh_state_rec *rec);

/* Pure: the deadline the lock ends at, unix ms: rec's deadline_ms when set, else its deadline's second. */
int64_t mbh_state_deadline_ms(const mbh_state_rec *rec);

/* "LOCKING", "LOCKED", "SNAPSHOT" ("?" for anything else). */
const char *mbh_state_phase_name(mbh_phase phase);

/*
 * Pure: is s a snapshot path a record may hold: absolute, at most
 * MBH_SNAPSHOT_MAX bytes, no control character, not "/" itself and no "."
 * or ".." component (a remove command is handed it).
 */
bool mbh_state_snapshot_path_ok(const char *s);

/*
 * What snapshot.create printed: its first line (buf is cut there, a
 * trailing CR dropped) when mbh_state_snapshot_path_ok takes it, else NULL.
 */
const char *mbh_state_snapshot_printed(char *buf);

/*
 * Pure: the one rule for job names, wherever one comes from (--job, the
 * plugin string, the job API): the record holds it whole and a log prints it
 * on one line, so at most MBH_JOB_NAME_MAX bytes, no control character,
 * valid UTF-8.  Returns 0, or -1 with why set to what is wrong and what to do,
 * to follow "the job name" ("is 128 bytes long; at most 127 fit in the state
 * record: use ...").
 */
int mbh_state_job_name_check(const char *name, char *why, size_t whylen);

/*
 * Pure: render rec as the file's text ("key=value\n" lines; snapshot and
 * snapshot_since only when there is a snapshot), ending with its seal: a
 * checksum of the lines before it, so that a record edited by hand is told
 * from one we wrote.  Returns bytes written or -1 if len is too small or rec
 * is invalid (phase SNAPSHOT needs a snapshot).
 */
int mbh_state_format(const mbh_state_rec *rec, char *buf, size_t len);

/* How the parse of a record whose seal does not match begins. */
#define MBH_STATE_EDITED "the record was changed by hand (its seal no longer matches it)"

/*
 * Pure: parse the file's text; unknown keys, missing keys or bad values fail
 * with EX_DATAERR "line N: ...".  snapshot and snapshot_since are optional,
 * but phase SNAPSHOT needs a snapshot.  A seal (optional: records of earlier
 * versions have none) that does not match fails with MBH_ERR_RECORD_EDITED
 * (EX_DATAERR), the message starting with MBH_STATE_EDITED; *out then holds
 * what the record says, which is not to be trusted (only to find its
 * watchdog).
 */
int mbh_state_parse(mbh_state_rec *out, const char *text, mbh_error *err);

/* Is a the record of the same lock as want (token, or member+since+pid for records without one)? */
bool mbh_state_same_lock(const mbh_state_rec *a, const mbh_state_rec *want);

#endif
