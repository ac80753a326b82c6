/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* run.h: run the backup/restore command: argv (no shell), environment, timeout, cancel. */
#ifndef MBH_RUN_H
#define MBH_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

typedef struct mbh_child mbh_child;

/*
 * The kill grace: a command stopped with SIGTERM (a timeout, a cancel) gets
 * SIGKILL this long after.  Whoever stops a command by a deadline sends the
 * SIGTERM this much early (mbh_kill_grace_ms: in ms, as testtime.h counts).
 */
#define MBH_KILL_GRACE_S 2
int64_t mbh_kill_grace_ms(void);

/* Values for the %-escapes of a command template. */
typedef struct mbh_run_vars {
	const char *host; /* %h */
	const char *port; /* %p */
	const char *set;  /* %s */
	const char *job;  /* %j */
	const char *snapshot; /* %S: the path snapshot.create printed; NULL = no snapshot */
} mbh_run_vars;

/*
 * Expand a NULL-terminated argv template: %h %p %s %j %S and %% ; any other
 * escape fails with EX_CONFIG "unknown escape %x in ...".  An unset value is
 * empty, except %S: without a snapshot it fails with EX_CONFIG.  Caller owns
 * *out (free with mbh_strv_free).
 */
int mbh_run_expand(char ***out, const char *const *templ, const mbh_run_vars *vars, mbh_error *err);

/*
 * Pure: check a template's escapes without expanding it (for the config):
 * the same EX_CONFIG errors as mbh_run_expand.  *uses_snapshot (may be NULL)
 * tells whether it uses %S.
 */
int mbh_run_check(const char *const *templ, bool *uses_snapshot, mbh_error *err);

#define MBH_RUN_PIPE_STDOUT 0x1 /* the child's stdout is a pipe read with mbh_child_stdout_fd */
#define MBH_RUN_PIPE_STDIN  0x2 /* the child's stdin is a pipe written with mbh_child_stdin_fd */
#define MBH_RUN_GATED       0x4 /* forked and set up, but it execs only at mbh_child_open_gate */

/*
 * Start argv[0] (PATH search, no shell) in its own process group; it gets
 * SIGKILL when the calling thread ends (PR_SET_PDEATHSIG).  Its
 * environment is ours minus every MONGO_BACKUP_* variable (they may hold
 * secrets), plus set_env ("NAME=value" strings, may be NULL).  A command that
 * cannot be executed fails here with EX_UNAVAILABLE (not found: EX_CONFIG is
 * not used) naming it.  Caller owns *out.
 */
int mbh_child_spawn(mbh_child **out, const char *const *argv, const char *const *set_env, int flags, mbh_error *err);

/*
 * mbh_child_spawn with MBH_RUN_GATED, the child waiting at the gate in the
 * gate program via (watchdog/mongo-backup-gate, installed beside the
 * watchdog) instead of in a fork of this process: the fork execs it at
 * once, before the step the gate waits for, so the exec after the gate
 * starts from that small process, not from a copy of the host (bacula-fd,
 * whose copy takes milliseconds to tear down).  Same process group, parent-
 * death signal, environment, pid and errors; a gate program that cannot run
 * is EX_UNAVAILABLE naming it (said here when it is missing).  via NULL:
 * mbh_child_spawn.
 */
int mbh_child_spawn_via(mbh_child **out, const char *via, const char *const *argv, const char *const *set_env,
			int flags, mbh_error *err);

/*
 * MBH_RUN_GATED: let the child exec now (it was forked, its descriptors,
 * group and signals set, and it waits for this), then wait for the exec's
 * outcome: EX_UNAVAILABLE naming the command when it cannot run (the child
 * is reaped).  A gated child freed or killed before this never runs
 * anything, and dies by itself when its parent thread ends.  0 when the
 * child is not gated (or no longer).  Lets a caller pay for the fork before
 * a step whose window should hold only the exec (the lock).
 */
int mbh_child_open_gate(mbh_child *c, mbh_error *err);

/*
 * mbh_child_open_gate in two halves, so that the caller's own work overlaps
 * the child's exec: release lets it exec (fails only when it is gone: it is
 * killed, EX_OSERR), exec_result then waits for the outcome (as open_gate;
 * 0 at once when there is nothing to wait for).
 */
int mbh_child_release(mbh_child *c, mbh_error *err);
int mbh_child_exec_result(mbh_child *c, mbh_error *err);

int mbh_child_stdout_fd(const mbh_child *c); /* -1 without MBH_RUN_PIPE_STDOUT; borrowed */
int mbh_child_stdin_fd(const mbh_child *c);  /* -1 without MBH_RUN_PIPE_STDIN; borrowed; close with mbh_child_close_stdin */
void mbh_child_close_stdin(mbh_child *c);
long mbh_child_pid(const mbh_child *c);

/*
 * MBH_RUN_PIPE_STDIN keeps a copy of the pipe's read end, so that what the
 * child left unread can be counted: bytes written to its stdin and not read
 * (yet), even after it has exited (until mbh_child_free); -1 without it.
 * The copy also means that a child that is gone gives its writer no EPIPE:
 * write with mbh_child_feed, which watches for that.
 */
long long mbh_child_stdin_unread(const mbh_child *c);

/*
 * Write all of buf to the child's stdin (made non-blocking), waiting while
 * the pipe is full; *written = the bytes that went in.  0 when all did; MBH_FEED_GONE when the child has
 * exited (not reaped), MBH_FEED_TIMEOUT at deadline_ms (CLOCK_MONOTONIC ms,
 * 0 = none), MBH_FEED_CANCELLED when cancel_fd (>= 0) turns readable: in
 * those three cases nothing is said and some of buf may have been written
 * (mbh_child_stdin_unread tells what was read); -1 on another error (err
 * set).  The child is not signalled.
 */
#define MBH_FEED_GONE 1
#define MBH_FEED_TIMEOUT 2
#define MBH_FEED_CANCELLED 3
int mbh_child_feed(mbh_child *c, const char *buf, size_t len, size_t *written, int64_t deadline_ms, int cancel_fd,
		   mbh_error *err);

/* CLOCK_MONOTONIC now, in milliseconds (the clock of every deadline here). */
int64_t mbh_now_ms(void);

/*
 * Wait for the child to end without polling (pidfd + poll), and without
 * reaping it (its process group id stays ours until mbh_child_reap).
 * timeout_ms 0 = none; on timeout the group gets SIGTERM, then SIGKILL the
 * kill grace later, and this fails with MBH_ERR_TIMED_OUT (EX_TEMPFAIL) "...
 * timed out after N s" (or "N ms" when it is no whole second).  If a
 * cancel fd (>= 0) becomes readable the child is stopped the same way and
 * this fails with MBH_ERR_CANCELLED (EX_TEMPFAIL) "... cancelled".
 */
int mbh_child_await(mbh_child *c, int64_t timeout_ms, int cancel_fd, int cancel_fd2, mbh_error *err);

/* Reap an ended child: *status = its exit code, or 128+signal. */
int mbh_child_reap(mbh_child *c, int *status, mbh_error *err);

/* mbh_child_await with one cancel fd, then mbh_child_reap (the status is filled on a timeout too). */
int mbh_child_wait(mbh_child *c, int64_t timeout_ms, int cancel_fd, int *status, mbh_error *err);

/*
 * For a child started with MBH_RUN_PIPE_STDOUT: read its stdout until it
 * ends (the first len-1 bytes are kept in buf, NUL-terminated; more is read
 * and dropped; what is still in the pipe when it exits is read, a descendant
 * holding the pipe open is not waited for), then reap it: *status = its exit
 * code, or 128+signal.  timeout_ms (0 = none) and the cancel fds work as in
 * mbh_child_await (SIGTERM, SIGKILL the kill grace later, EX_TEMPFAIL "...
 * timed out after N s" / "... cancelled"); buf then holds what it printed
 * before.
 */
int mbh_child_capture(mbh_child *c, int64_t timeout_ms, int cancel_fd, int cancel_fd2, char *buf, size_t len,
		      int *status, mbh_error *err);

/*
 * mbh_child_capture, calling on_line(ctx, buf) once, while the child still
 * runs, as soon as buf holds its whole first line (buf is all it printed so
 * far, NUL-terminated): what it says can be acted on before it ends (the
 * path snapshot.create prints goes on record at once).
 */
typedef void (*mbh_run_line_fn)(void *ctx, const char *printed);
int mbh_child_capture_line(mbh_child *c, int64_t timeout_ms, int cancel_fd, int cancel_fd2, char *buf, size_t len,
			   mbh_run_line_fn on_line, void *ctx, int *status, mbh_error *err);

/* Send sig to the child's process group (if not reaped yet). */
void mbh_child_kill(mbh_child *c, int sig);

/* SIGKILL the child's group and wait up to timeout_ms until it has ended (not reaped). */
void mbh_child_kill_wait(mbh_child *c, int timeout_ms);

/*
 * SIGKILL the process group pgid of a command someone else started (a
 * recorded one), unless its leader's pid now names another process (start
 * is the leader's start time; starttime(pid) reads it: mbh_proc_starttime).
 * A group whose leader is gone is killed too: what is left of it (a
 * pipeline, a copy in the background) is the command's, since the kernel
 * reuses no pid while its process group exists.  Waits up to timeout_ms
 * until no process of the group runs.  Returns whether anything was left.
 */
bool mbh_run_kill_group(long pgid, uint64_t start, uint64_t (*starttime)(long), int timeout_ms);

/* A pidfd (close-on-exec) for pid, readable once it has ended; -1 with errno when the kernel has none. */
int mbh_pidfd_open(long pid);

/* Kill (SIGKILL) and reap a child that is still running, close pipes, free.  NULL is fine. */
void mbh_child_free(mbh_child *c);

#endif
