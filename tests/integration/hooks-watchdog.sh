#!/bin/bash
# hooks-watchdog.sh: a lock never outlives lock.max_seconds: the detached watchdog unlocks, clears the
# record and says so in DIR/SET.events; mongo-postbackup stops the watchdog when it unlocks.  A watchdog
# without its releaser beside it (the program it becomes to unlock) locks nothing.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init

CONF=$T_DIR/rs0.conf
SF=$T_STATE/rs0.state
EV=$T_STATE/rs0.events

sim_start_pss
H2=$(sim_member_host 2)

# The lock's seconds last 250 ms here (MBH_TEST_SECOND_MS, test builds): 2 s of max_seconds are 500 ms,
# room for the checks while the member is locked, and the watchdog, handed its deadline to the ms, acts
# on it then (~0.5 s a check, not the 2 to 3 whole seconds of the record's deadline).
export MBH_TEST_SECOND_MS=250

# watchdog_fires NAME [PRE-ARGS...]: pre, then wait (bounded) for the watchdog pid to exit on its own.
watchdog_fires() {
	local name=$1 wd dl now
	shift
	t_run "$name" "$MBH_PRE" -c "$CONF" --job "$name" "$@"
	t_rc_is 0 "$name: pre exits 0" "$name"
	tap_is "$(sim_lockcount 2)" 1 "$name: member 2 is locked"
	wd=$(state_get "$SF" watchdog_pid)
	dl=$(state_get "$SF" deadline)
	now=$(date +%s)
	if [ -n "$dl" ] && [ "$dl" -ge "$now" ] && [ "$dl" -le $((now + 3)) ]; then
		tap_pass "$name: the record's deadline is max_seconds away ($dl)"
	else
		tap_fail "$name: the record's deadline is max_seconds away"
		tap_diag "  deadline=$dl now=$now"
	fi
	tap_ok "$(t_is_ours "$wd" && echo 0 || echo 1)" "$name: the watchdog ($wd) runs"
	tap_ok "$(t_pid_gone "$wd" 1500 && echo 0 || echo 1)" "$name: the watchdog exits by itself (within 30 s)"
	t_assert_unlocked "$name: the watchdog unlocked the member"
	t_assert_no_state "$name: the watchdog removed the record"
	tap_like "$EV" "$H2" "$name: $EV has a line naming the member"
	t_run "$name-post" "$MBH_POST" -c "$CONF"
	t_rc_is 0 "$name: post afterwards exits 0" "$name-post"
	tap_like "$T_OUT/$name-post.err" "nothing to unlock" "$name: post afterwards says nothing to unlock"
	t_assert_unlocked "$name: still unlocked"
}

t_config "$CONF"
watchdog_fires opt --max-lock-seconds 2
lines1=$(wc -l <"$EV" 2>/dev/null)
t_config "$CONF" 'lock = { max_seconds = 2; };'
watchdog_fires cfg
tap_is "$(wc -l <"$EV" 2>/dev/null)" "$((lines1 + 1))" "events: one more line for the second expiry"
tap_unlike "$EV" "$T_PASS" "events: no password"

# post stops the watchdog
t_config "$CONF"
t_run pre "$MBH_PRE" -c "$CONF" --job keep
t_rc_is 0 "post kills the watchdog: pre exits 0" pre
WD=$(state_get "$SF" watchdog_pid)
tap_ok "$(t_is_ours "$WD" && echo 0 || echo 1)" "post kills the watchdog: the watchdog ($WD) runs"
tap_is "$(awk '{ print $7 }' "/proc/$WD/stat" 2>/dev/null)" 0 "post kills the watchdog: the watchdog has no controlling terminal"
tap_isnt "$(ps -o sid= -p "$WD" 2>/dev/null | tr -d ' ')" "$(ps -o sid= -p $$ | tr -d ' ')" "post kills the watchdog: the watchdog is in its own session"
t_run post "$MBH_POST" -c "$CONF"
t_rc_is 0 "post kills the watchdog: post exits 0" post
tap_ok "$(t_pid_gone "$WD" 250 && echo 0 || echo 1)" "post kills the watchdog: its pid is gone"
t_assert_unlocked "post kills the watchdog: unlocked"

# Bacula reads the hook's output through a pipe until EOF: the watchdog must not hold it open.
timeout -k 5 20 sh -c '"$1" -c "$2" --job pipe 2>&1 | cat >"$3"' sh "$MBH_PRE" "$CONF" "$T_OUT/pipe.out"
rc=$?
t_note_watchdogs
tap_is "$rc" 0 "pipe: pre's output pipe reaches EOF at once although the watchdog runs (no hang)"
tap_like "$T_OUT/pipe.out" "locked $H2" "pipe: the output came through the pipe"
WD=$(state_get "$SF" watchdog_pid)
# (fd 0 is the settings pipe until the watchdog has read "go" from it: wait for that, bounded)
fd0_null() { [ "$(readlink "/proc/$WD/fd/0" 2>/dev/null)" = /dev/null ]; }
wait_for "the watchdog's fd 0 on /dev/null" 250 fd0_null
for fd in 0 1 2; do
	tgt=$(readlink "/proc/$WD/fd/$fd" 2>/dev/null)
	tap_is "$tgt" /dev/null "pipe: the watchdog's fd $fd is /dev/null"
done
t_run pipepost "$MBH_POST" -c "$CONF"
t_rc_is 0 "pipe: post exits 0" pipepost

# A watchdog unlocks only the lock it guards: its record was cleared by hand and a new run locked since.
# The first watchdog is stopped (SIGSTOP) meanwhile, so that the new run has locked before it can act on
# its deadline however slow the machine is; let go, it finds its deadline passed and the new record.
t_run old "$MBH_PRE" -c "$CONF" --job old --max-lock-seconds 4
t_rc_is 0 "stale watchdog: the first pre exits 0" old
WD=$(state_get "$SF" watchdog_pid)
t_note_watchdogs
kill -STOP "$WD"
tap_is "$(sim_lockcount 2)" 1 "stale watchdog: the first watchdog is stopped before its deadline (1 s)"
sim_ctl unlock 2 >/dev/null
rm -f "$SF"
t_run new "$MBH_PRE" -c "$CONF" --job new
t_rc_is 0 "stale watchdog: a second pre (the record gone) exits 0" new
lines2=$(wc -l <"$EV" 2>/dev/null)
kill -CONT "$WD"
tap_ok "$(t_pid_gone "$WD" 1500 && echo 0 || echo 1)" "stale watchdog: the first watchdog ends at its deadline"
tap_is "$(sim_lockcount 2)" 1 "stale watchdog: the second run's lock is left alone"
tap_like "$SF" "new" "stale watchdog: the second run's record is left alone"
tap_is "$(wc -l <"$EV" 2>/dev/null)" "$lines2" "stale watchdog: no events line for a lock it did not unlock"
t_run newpost "$MBH_POST" -c "$CONF"
t_rc_is 0 "stale watchdog: post for the second run exits 0" newpost
t_assert_unlocked "stale watchdog: unlocked"

# A watchdog whose releaser is missing could never unlock: nothing is locked, and the error names it.
mkdir -p "$T_DIR/lone"
cp "$MONGO_BACKUP_WATCHDOG" "$T_DIR/lone/mongo-backup-watchdog"
fsyncs=$(sim_counter 2 fsync)
MONGO_BACKUP_WATCHDOG=$T_DIR/lone/mongo-backup-watchdog MONGO_BACKUP_GATE=$(dirname "$MONGO_BACKUP_WATCHDOG")/mongo-backup-gate \
	t_run lone "$MBH_PRE" -c "$CONF" --job lone
t_rc_is 69 "no releaser: pre exits 69" lone
tap_like "$T_OUT/lone.err" "its releaser $T_DIR/lone/mongo-backup-watchdog-release: No such file or directory" \
	"  the error names it"
tap_is "$(sim_counter 2 fsync)" "$fsyncs" "  no fsync lock was sent"
t_assert_no_state "  no record"

sim_stop
tap_done
