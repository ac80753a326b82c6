#!/bin/bash
# hooks-metrics.sh: metrics.textfile is kept current by pre, post, --exec, a failure and the watchdog;
# a run killed while it holds the lock leaves a file that still says locked; counters survive from
# run to run; an unwritable directory is one warning and never a failed backup; promtool accepts the file.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init

CONF=$T_DIR/rs0.conf
SF=$T_STATE/rs0.state
PDIR=$T_DIR/prom
PROM=$PDIR/mongo-backup-rs0.prom
mkdir -p "$PDIR"
METRICS="metrics = { textfile = \"$PDIR/mongo-backup-%s.prom\"; };"
PROMTOOL=$(t_prombin promtool)

DATA=$T_DIR/data
SNAPS=$T_DIR/snaps
mkdir "$DATA" "$SNAPS"
sim_start_pss --data-dir "$DATA"
H0=$(sim_member_host 0)
H2=$(sim_member_host 2)

# val SERIES: the value of the sample whose name and labels are exactly SERIES (empty when absent).
val() {
	[ -f "$PROM" ] || return 0
	S=$1 awk '{ s = ENVIRON["S"] } index($0, s " ") == 1 { print substr($0, length(s) + 2) }' "$PROM"
}
LOCKED_FREE='mongo_backup_locked{set="rs0"}'
locked_by() { echo "mongo_backup_locked{set=\"rs0\",member=\"$H2\",job=\"$1\"}"; }
failures() { val "mongo_backup_failures_total{set=\"rs0\",reason=\"$1\"}"; }

# jf NAME KEY: field KEY of the JSON object mongo-postbackup --status --json printed in run NAME
# (Python's repr: True, None, 'text'); "INVALID" when the output is not one JSON object.
jf() {
	/usr/bin/python3 -c 'import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print(d[sys.argv[2]] if isinstance(d[sys.argv[2]], str) else repr(d[sys.argv[2]]))
except Exception:
    print("INVALID")' "$T_OUT/$1.out" "$2"
}

# promcheck NAME: promtool check metrics accepts the file (skipped where promtool is missing).
promcheck() {
	if [ -z "$PROMTOOL" ]; then
		tap_skip "$1: promtool check metrics" "no promtool: tools/install-deps takes it out of Debian's prometheus package"
		return
	fi
	"$PROMTOOL" check metrics <"$PROM" >"$T_OUT/promtool.out" 2>&1
	tap_is "$?" 0 "$1: promtool check metrics accepts the file" || tap_diag_file "$T_OUT/promtool.out"
}

# no_temp NAME: nothing but the textfile in its directory (no half file, no temporary file left).
no_temp() {
	tap_is "$(ls -A "$PDIR" | tr '\n' ' ')" "mongo-backup-rs0.prom " "$1: only the textfile in its directory"
}

t_config "$CONF" "$METRICS"

# ---- --status --json with nothing recorded
t_run js0 "$MBH_POST" -c "$CONF" --status --json
t_rc_is 0 "--status --json, nothing locked: exits 0" js0
tap_is "$(jf js0 set):$(jf js0 locked):$(jf js0 phase):$(jf js0 member):$(jf js0 stale)" "rs0:False:None:None:False" \
	"--status --json, nothing locked: set, locked false, phase and member null"
t_run jsnostatus "$MBH_POST" -c "$CONF" --json
t_rc_is 64 "--json without --status: usage error" jsnostatus

# ---- pre: locked, with its set, member and job; when it started and when the watchdog ends it
t_run pre "$MBH_PRE" -c "$CONF" --job Nightly
t_rc_is 0 "pre exits 0" pre
tap_is "$(sim_lockcount 2)" 1 "pre: member 2 is locked"
tap_is "$(val "$(locked_by Nightly)")" 1 "pre: the file says locked, with set, member and job"
tap_is "$(val "mongo_backup_lock_start_timestamp_seconds{set=\"rs0\",member=\"$H2\",job=\"Nightly\"}")" \
	"$(state_get "$SF" since)" "pre: the lock's start is the record's"
tap_is "$(val "mongo_backup_lock_deadline_timestamp_seconds{set=\"rs0\",member=\"$H2\",job=\"Nightly\"}")" \
	"$(state_get "$SF" deadline)" "pre: the watchdog's deadline is the record's"
tap_is "$(val "$LOCKED_FREE")" "" "pre: no 'unlocked' sample beside it"
tap_like "$PROM" '^# TYPE mongo_backup_locked gauge$' "pre: TYPE lines"
tap_like "$PROM" '^# HELP mongo_backup_locked ' "pre: HELP lines"
tap_unlike "$PROM" "$T_PASS" "pre: no password in the file"
tap_is "$(stat -c %a "$PROM")" 644 "pre: the file is 0644 (the exporter reads it)"
promcheck pre
no_temp pre
t_run js1 "$MBH_POST" -c "$CONF" --status --json
t_rc_is 0 "--status --json, locked: exits 0" js1
tap_is "$(jf js1 locked):$(jf js1 phase):$(jf js1 member):$(jf js1 job):$(jf js1 lock_count):$(jf js1 mode)" \
	"True:LOCKED:$H2:Nightly:1:hooks" "--status --json, locked: the lock, its member, job, lockCount and mode"
tap_is "$(jf js1 since):$(jf js1 deadline):$(jf js1 watchdog_pid):$(jf js1 watchdog_running):$(jf js1 stale)" \
	"$(state_get "$SF" since):$(state_get "$SF" deadline):$(state_get "$SF" watchdog_pid):True:False" \
	"--status --json, locked: since, deadline and the running watchdog, as recorded"
tap_unlike "$T_OUT/js1.out" "$T_PASS" "--status --json: no password"

# ---- post: unlocked, the success recorded
t_run post "$MBH_POST" -c "$CONF" --job Nightly
t_rc_is 0 "post exits 0" post
t_assert_unlocked "post: unlocked"
tap_is "$(val "$LOCKED_FREE")" 0 "post: the file says unlocked"
tap_is "$(val 'mongo_backup_successes_total{set="rs0"}')" 1 "post: one success"
tap_is "$(val 'mongo_backup_last_run_success{set="rs0"}')" 1 "post: the last run succeeded"
ls=$(val 'mongo_backup_last_success_timestamp_seconds{set="rs0"}')
now=$(date +%s)
tap_ok "$(awk -v t="$ls" -v n="$now" 'BEGIN { exit !(t > n - 60 && t <= n + 1) }' && echo 0 || echo 1)" \
	"post: the last success is now ($ls)"
tap_ok "$([ -n "$(val 'mongo_backup_last_lock_duration_seconds{set="rs0"}')" ] && echo 0 || echo 1)" "post: the lock's duration"
tap_ok "$([ -n "$(val 'mongo_backup_last_run_duration_seconds{set="rs0"}')" ] && echo 0 || echo 1)" "post: the run's duration"
promcheck post

# ---- --exec: a command that succeeds, one that fails
t_run exec-ok "$MBH_PRE" -c "$CONF" --job exec --exec -- sh -c 'grep -q "^mongo_backup_locked{.*} 1$" "$1"' sh "$PROM"
t_rc_is 0 "--exec: exits 0, and its command saw the file say locked" exec-ok
tap_is "$(val "$LOCKED_FREE")" 0 "--exec: unlocked afterwards"
tap_is "$(val 'mongo_backup_successes_total{set="rs0"}')" 2 "--exec: the success counter went on from post's (2)"
t_run exec-fail "$MBH_PRE" -c "$CONF" --job exec --exec -- false
t_rc_is 1 "--exec of a failing command exits with its status" exec-fail
tap_is "$(failures command)" 1 "--exec: one failure, reason command"
tap_is "$(val 'mongo_backup_last_run_success{set="rs0"}')" 0 "--exec: the last run failed"
tap_is "$(val 'mongo_backup_successes_total{set="rs0"}')" 2 "--exec: the successes stay"
tap_is "$(val "$LOCKED_FREE")" 0 "--exec: unlocked after the failure"

# ---- a lock that fails: counted, nothing locked
t_config "$CONF" "$METRICS" "selection = { policy = \"member\"; member = \"$H0\"; };"
t_run lockfail "$MBH_PRE" -c "$CONF" --job refused
tap_isnt "$T_RC" 0 "lock failure: pre fails (the member is the primary)"
tap_is "$(failures lock)" 1 "lock failure: one failure, reason lock"
tap_is "$(val "$LOCKED_FREE")" 0 "lock failure: the file says unlocked"
t_assert_unlocked "lock failure: nothing locked"

# ---- the watchdog unlocks: it says so in the file
# (its 2 s count 250 ms in a test build, MBH_TEST_SECOND_MS: 500 ms, and the watchdog acts on them to the ms)
t_config "$CONF" "$METRICS" 'lock = { max_seconds = 2; };'
MBH_TEST_SECOND_MS=250 t_run wd "$MBH_PRE" -c "$CONF" --job late
t_rc_is 0 "watchdog: pre exits 0" wd
WD=$(state_get "$SF" watchdog_pid)
tap_is "$(val "$(locked_by late)")" 1 "watchdog: locked meanwhile"
tap_ok "$(t_pid_gone "$WD" 1500 && echo 0 || echo 1)" "watchdog: it exits by itself (within 30 s)"
t_assert_unlocked "watchdog: it unlocked the member"
tap_is "$(val "$LOCKED_FREE")" 0 "watchdog: the file says unlocked"
tap_is "$(val 'mongo_backup_watchdog_unlocks_total{set="rs0"}')" 1 "watchdog: one watchdog unlock"
tap_is "$(val 'mongo_backup_successes_total{set="rs0"}')" 2 "watchdog: the counters of the runs before are kept"
promcheck watchdog

# ---- SIGKILL while the lock is held: the file still says locked
t_config "$CONF" "$METRICS"
"$MBH_PRE" -c "$CONF" --job killed --exec -- sleep 30 </dev/null >"$T_OUT/kill.out" 2>&1 &
KPID=$!
t_bg_register "$KPID"
wait_for "the LOCKED record" 500 grep -qs '^phase=LOCKED' "$SF"
kill -KILL "$KPID" 2>/dev/null
wait "$KPID" 2>/dev/null
tap_is "$(sim_lockcount 2)" 1 "SIGKILL: the member is still locked"
tap_is "$(val "$(locked_by killed)")" 1 "SIGKILL: the file still says locked"
KWD=$(state_get "$SF" watchdog_pid)
kill -STOP "$KWD" 2>/dev/null
t_run jskilled "$MBH_POST" -c "$CONF" --status --json
tap_is "$(jf jskilled locked):$(jf jskilled job):$(jf jskilled command_running)" "True:killed:True" \
	"--status --json after SIGKILL: locked by job killed, its command still running"
kill -KILL "$KWD" 2>/dev/null
wait_for "the watchdog's end" 250 sh -c '! kill -0 "$1" 2>/dev/null || grep -q "^State:.*Z" "/proc/$1/status"' sh "$KWD"
t_run jsstale "$MBH_POST" -c "$CONF" --status --json
t_rc_is 69 "--status --json with no watchdog: exits 69" jsstale
tap_is "$(jf jsstale watchdog_running):$(jf jsstale stale)" "False:True" "--status --json with no watchdog: stale, and still one JSON object"
t_run kpost "$MBH_POST" -c "$CONF"
t_rc_is 0 "SIGKILL: post exits 0" kpost
tap_is "$(val "$LOCKED_FREE")" 0 "SIGKILL: after post the file says unlocked"

# ---- a crash right after the lock, before the LOCKED record: the intent already says locked
MBH_CRASH_AT=pre-locked:KILL t_run crash "$MBH_PRE" -c "$CONF" --job crashed 2>/dev/null
if [ "$T_RC" = 137 ]; then
	tap_is "$(sim_lockcount 2)" 1 "crash at pre-locked: the member is locked"
	tap_is "$(val "$(locked_by crashed)")" 1 "crash at pre-locked: the file says locked"
else
	tap_skip "crash at pre-locked: the member is locked" "crash points not compiled in (configure --enable-crash-points)"
	tap_skip "crash at pre-locked: the file says locked" "crash points not compiled in"
fi
t_run cpost "$MBH_POST" -c "$CONF"
t_rc_is 0 "crash at pre-locked: post exits 0" cpost
tap_is "$(val "$LOCKED_FREE")" 0 "crash at pre-locked: after post the file says unlocked"

# ---- a job name with quotes, a backslash: escaped, the file still valid
t_run weird "$MBH_PRE" -c "$CONF" --job 'we"ird\job'
t_rc_is 0 "odd job name: pre exits 0" weird
tap_is "$(val "mongo_backup_locked{set=\"rs0\",member=\"$H2\",job=\"we\\\"ird\\\\job\"}")" 1 \
	"odd job name: the label value is escaped (\\\" and \\\\)"
promcheck "odd job name"
t_run jsweird "$MBH_POST" -c "$CONF" --status --json
tap_is "$(jf jsweird job)" 'we"ird\job' "--status --json: an odd job name, a valid JSON string"
t_run weirdpost "$MBH_POST" -c "$CONF"
t_rc_is 0 "odd job name: post exits 0" weirdpost

# ---- an unwritable metrics directory: one warning, the backup goes on, the unlock too
ok_before=$(val 'mongo_backup_successes_total{set="rs0"}')
: >"$T_DIR/afile"
t_config "$CONF" "metrics = { textfile = \"$T_DIR/afile/mongo-backup-%s.prom\"; };"
t_run bad-pre "$MBH_PRE" -c "$CONF" --job bad
t_rc_is 0 "unwritable: pre exits 0" bad-pre
tap_is "$(sim_lockcount 2)" 1 "unwritable: the member is locked"
tap_is "$(grep -c 'metrics: ' "$T_OUT/bad-pre.err")" 1 "unwritable: pre warns once"
t_run bad-post "$MBH_POST" -c "$CONF"
t_rc_is 0 "unwritable: post exits 0" bad-post
t_assert_unlocked "unwritable: unlocked"
tap_is "$(grep -c 'metrics: ' "$T_OUT/bad-post.err")" 1 "unwritable: post warns once"
t_run bad-exec "$MBH_PRE" -c "$CONF" --exec -- true
t_rc_is 0 "unwritable: --exec exits 0" bad-exec
tap_is "$(grep -c 'metrics: ' "$T_OUT/bad-exec.err")" 1 "unwritable: --exec warns once (several writes)"

# ---- snapshot mode: unlocked at once, the snapshot shown until post removes it
SNAP_CP=$top_srcdir/tests/integration/snapshot-cp.sh
t_config "$CONF" "$METRICS" \
	"snapshot = { create = [ \"$SNAP_CP\", \"create\", \"$DATA/2\", \"$SNAPS\", \"%s-%j\" ];
	  remove = [ \"$SNAP_CP\", \"remove\", \"%S\" ]; timeout = 10; };"
t_run snap "$MBH_PRE" -c "$CONF" --job snap
t_rc_is 0 "snapshot: pre exits 0" snap
t_assert_unlocked "snapshot: the member is unlocked once the snapshot is taken"
tap_is "$(val "$LOCKED_FREE")" 0 "snapshot: the file says unlocked"
tap_is "$(val "mongo_backup_snapshot_present{set=\"rs0\",member=\"$H2\",job=\"snap\"}")" 1 "snapshot: the file shows the snapshot"
tap_is "$(val "mongo_backup_snapshot_timestamp_seconds{set=\"rs0\",member=\"$H2\",job=\"snap\"}")" \
	"$(state_get "$SF" snapshot_since)" "snapshot: taken when the record says"
promcheck snapshot
t_run jssnap "$MBH_POST" -c "$CONF" --status --json
tap_is "$(jf jssnap locked):$(jf jssnap phase):$(jf jssnap snapshot):$(jf jssnap snapshot_since):$(jf jssnap stale)" \
	"False:SNAPSHOT:$(state_get "$SF" snapshot):$(state_get "$SF" snapshot_since):False" \
	"--status --json, snapshot mode: unlocked, the snapshot and when it was taken"
t_run snappost "$MBH_POST" -c "$CONF"
t_rc_is 0 "snapshot: post exits 0" snappost
tap_is "$(val 'mongo_backup_snapshot_present{set="rs0"}')" 0 "snapshot: after post the file says no snapshot"
tap_is "$(val 'mongo_backup_successes_total{set="rs0"}')" "$((ok_before + 3))" \
	"snapshot: post counted a success, after the two counted while the file could not be written"

# ---- metrics off (the default): no file, no counters
rm -rf "$PDIR"/*
t_config "$CONF"
t_run off "$MBH_PRE" -c "$CONF" --exec -- true
t_rc_is 0 "off: --exec exits 0" off
tap_is "$(ls -A "$PDIR")" "" "off: no textfile"

sim_stop
tap_done
