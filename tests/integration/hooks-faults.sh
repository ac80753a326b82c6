#!/bin/bash
# hooks-faults.sh: the faults of issue 16 that the hooks programs meet.  A record touched by hand
# never strands a lock: removed while --exec holds the lock (the run unlocks anyway), made unreadable
# (a line added, a symbolic link) or edited to name another member (post refuses and says why, the
# watchdog unlocks the member it was handed at the deadline it was handed, someone else's lock is
# never touched).  A config file readable by others whose uri holds a password is refused like such
# a password_file (78, naming the chmod) by every mode of both programs.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init
T_TIMEOUT=40
# the lock's seconds, script.timeout and the kill grace count 250 ms here (MBH_TEST_SECOND_MS, test builds)
export MBH_TEST_SECOND_MS=250

CONF=$T_DIR/rs0.conf
SF=$T_STATE/rs0.state
# every product process runs in RUN (env -C), so t_procs_in finds whatever a run left behind
RUN=$(t_run_dir run) || { echo "Bail out! cannot make $T_DIR/run"; exit 1; }

# P, S, S (priority 0): member 2 is the one chosen.
sim_start_pss
# someone else's lock on member 1 beside ours on member 2 would stall majority writes: allowed here
t_config "$CONF" "lock = { allow_majority_stall = true; };"
H1=$(sim_member_host 1)
H2=$(sim_member_host 2)

pre() { t_run "$1" env -C "$RUN" "$MBH_PRE" -c "$CONF" "${@:2}"; }
post() { t_run "$1" env -C "$RUN" "$MBH_POST" -c "$CONF" "${@:2}"; }

# clean NAME: nothing locked or frozen, nothing of the run still running.
clean() {
	tap_is "$(sim_set_state)" "locked: frozen:" "$1: nothing is locked or frozen"
	t_assert_no_procs_in "$RUN" "$1"
	# whatever a failure left: the next case starts clean
	for m in 1 2; do
		while [ "$(sim_lockcount $m)" -gt 0 ] 2>/dev/null; do sim_ctl unlock $m >/dev/null || break; done
	done
	rm -f "$SF"
}

# wait_count M N SECONDS: wait until member M's lockCount is N (true) or SECONDS passed (false).
wait_count() {
	local n=0
	while [ "$(sim_lockcount "$1")" != "$2" ] && [ "$n" -lt $(($3 * 10)) ]; do
		sleep 0.1
		n=$((n + 1))
	done
	[ "$(sim_lockcount "$1")" = "$2" ]
}

# ---------------------------------------------------------------- --exec: the record removed under the lock
# (the command waits for the LOCKED record, written as it starts: up to 10 s, in 20 ms steps)
LOCKED_WAIT="n=0; until grep -qs '^phase=LOCKED' '$SF' || [ \$n -ge 500 ]; do sleep 0.02; n=\$((n + 1)); done"
pre exec-rm --exec -- sh -c "$LOCKED_WAIT; rm -f '$SF'; sleep 0.3"
t_rc_is 0 "--exec, record removed by hand under the lock: the run exits 0 (its command did)" exec-rm
tap_is "$(sim_lockcount 2)" 0 "--exec, record removed: the run unlocked its member anyway"
tap_like "$T_OUT/exec-rm.err" "record .*rs0\\.state.* (was removed|is gone)" "--exec, record removed: it says the record was gone"
clean "--exec, record removed"

# --exec: the record edited to name another member, which someone else has locked.
sim_ctl lock 1 >/dev/null
pre exec-edit --exec -- sh -c "$LOCKED_WAIT; sed -i 's/^member=.*/member=$H1/' '$SF'; sleep 0.3"
tap_is "$(sim_lockcount 2)" 0 "--exec, record edited to another member: the run unlocked its own member"
tap_is "$(sim_lockcount 1)" 1 "--exec, record edited: someone else's lock on member 1 is left alone"
sim_ctl unlock 1 >/dev/null
rm -f "$SF"
clean "--exec, record edited"

# ---------------------------------------------------------------- hooks: the record removed between pre and post
pre hooks-rm --job hooks-rm --max-lock-seconds 4
t_rc_is 0 "hooks, record removed: pre-backup exits 0" hooks-rm
dl=$(state_get "$SF" deadline)
rm -f "$SF"
post hooks-rm-post
tap_like "$T_OUT/hooks-rm-post.err" "nothing to unlock" "hooks, record removed: post finds nothing to unlock"
wait_count 2 0 $((dl - $(date +%s) + 4))
tap_is "$(sim_lockcount 2)" 0 "hooks, record removed: the watchdog unlocked member 2 at the deadline it was handed"
clean "hooks, record removed"

# ---------------------------------------------------------------- hooks: a line added by hand
# pre_then CASE EDIT: pre-backup (max_seconds 6: 1.5 s), then EDIT the record; post refuses with one line;
# the watchdog unlocks member 2 at the deadline it was handed.
pre_then() {
	local n=$1 dl wd ws
	pre "$n" --job "$n" --max-lock-seconds 6
	t_rc_is 0 "$n: pre-backup exits 0" "$n"
	dl=$(state_get "$SF" deadline)
	read -r wd ws <<<"$(state_get "$SF" watchdog_pid) $(state_get "$SF" watchdog_start)"
	eval "$2"
	post "$n-post"
	tap_isnt "$T_RC" 0 "$n: post refuses ($T_RC)"
	tap_is "$(wc -l <"$T_OUT/$n-post.err" | tr -d ' ')" 1 "$n: ... with one line"
	tap_like "$T_OUT/$n-post.err" "rs0\\.state" "$n: ... naming the record"
	tap_is "$(sim_lockcount 2)" 1 "$n: post did not unlock anything"
	wait_count 2 0 $((dl - $(date +%s) + 4))
	tap_is "$(sim_lockcount 2)" 0 "$n: the watchdog unlocked member 2 at its deadline (by $((dl + 4)), now $(date +%s))"
	tap_ok "$(t_same_alive "$wd" "$ws" && echo 1 || echo 0)" "$n: the watchdog ($wd) exited"
}

pre_then added "echo 'note=checked by hand' >>'$SF'"
t_rc_is 65 "a line added: post exits 65 (EX_DATAERR)"
tap_like "$T_OUT/added-post.err" "line [0-9]+: unknown key 'note'" "a line added: post says which line"
rm -f "$SF"
clean "a line added"

pre_then symlink "cp '$SF' '$T_DIR/copy.state' && ln -sf '$T_DIR/copy.state' '$SF'"
t_rc_is 77 "a symbolic link: post exits 77 (EX_NOPERM)"
rm -f "$SF" "$T_DIR/copy.state"
clean "a symbolic link"

# the member edited to another one (which someone else has locked): post must not unlock that one;
# it asks the watchdog, which was handed our member, to release ours now
sim_ctl lock 1 >/dev/null
pre edited --job edited --max-lock-seconds 60
t_rc_is 0 "member edited: pre-backup exits 0" edited
read -r wd ws <<<"$(state_get "$SF" watchdog_pid) $(state_get "$SF" watchdog_start)"
sed -i "s/^member=.*/member=$H1/" "$SF"
post edited-post
t_rc_is 65 "member edited: post exits 65 (EX_DATAERR)" edited-post
tap_is "$(wc -l <"$T_OUT/edited-post.err" | tr -d ' ')" 1 "member edited: ... with one line"
tap_like "$T_OUT/edited-post.err" "rs0\\.state: .*changed by hand.*watchdog \\(pid $wd\\).*asked to release it now: it has finished" \
	"member edited: post says the record was changed by hand and the watchdog was asked to release the lock"
tap_is "$(sim_lockcount 1)" 1 "member edited: someone else's lock on member 1 was never touched"
tap_is "$(sim_lockcount 2)" 0 "member edited: our member 2 is unlocked now, long before the deadline"
tap_ok "$(t_same_alive "$wd" "$ws" && echo 1 || echo 0)" "member edited: the watchdog ($wd) exited"
tap_like "$T_STATE/rs0.events" "$H2 .*at mongo-postbackup's request.*the watchdog unlocked it" \
	"member edited: the watchdog's event line says why it released early"
sim_ctl unlock 1 >/dev/null
rm -f "$SF"
clean "member edited"

# ---------------------------------------------------------------- --exec: the message names the rule that stopped it
t_config "$T_DIR/st.conf" "lock = { allow_majority_stall = true; };" "script = { timeout = 2; };"
t_run st env -C "$RUN" "$MBH_PRE" -c "$T_DIR/st.conf" --exec -- sleep 30
tap_like "$T_OUT/st.err" "script\\.timeout (= |\\()2 s" "--exec stopped by script.timeout: the message names script.timeout (2 s)"
tap_unlike "$T_OUT/st.err" "lock\\.max_seconds" "--exec stopped by script.timeout: lock.max_seconds is not blamed"
clean "--exec stopped by script.timeout"
# (5 s: the SIGTERM goes out a kill grace before the deadline, so the run, not the watchdog, stops it)
t_config "$T_DIR/ml.conf" "lock = { allow_majority_stall = true; max_seconds = 5; };" "script = { timeout = 7200; };"
t_run ml env -C "$RUN" "$MBH_PRE" -c "$T_DIR/ml.conf" --exec -- sleep 30
tap_like "$T_OUT/ml.err" "lock\\.max_seconds (= |\\()5 s" "--exec stopped at the lock's deadline: the message names lock.max_seconds (5 s)"
tap_unlike "$T_OUT/ml.err" "script\\.timeout" "--exec stopped at the lock's deadline: script.timeout is not blamed"
clean "--exec stopped at the lock's deadline"

# ---------------------------------------------------------------- a readable config holding a password
URIPW=$(printf '%s' "$SIM_URI" | sed "s|^mongodb://|mongodb://backup:$T_PASS@|")
CFG_URI=$URIPW CFG_USER=none CFG_PWFILE=none t_config "$T_DIR/pw.conf"
chmod 0644 "$T_DIR/pw.conf"
# refused NAME PROG ARGS...: exit 78, one line naming the chmod
refused() {
	t_run "$1" env -C "$RUN" "${@:2}"
	t_rc_is 78 "config 0644 with a password in its uri: $1 exits 78" "$1"
	tap_like "$T_OUT/$1.err" "pw\\.conf: config file .*must not be readable by others \\(chmod 600 .*pw\\.conf\\)" \
		"config 0644: $1 names the chmod"
}
refused check-config "$MBH_PRE" -c "$T_DIR/pw.conf" --check-config
refused dry-run "$MBH_PRE" -c "$T_DIR/pw.conf" --dry-run
refused pre "$MBH_PRE" -c "$T_DIR/pw.conf"
refused exec "$MBH_PRE" -c "$T_DIR/pw.conf" --exec -- true
refused post "$MBH_POST" -c "$T_DIR/pw.conf"
refused post-status "$MBH_POST" -c "$T_DIR/pw.conf" --status
tap_is "$(sim_lock_total)" 0 "config 0644: nothing was locked"
# in an @include'd file too; and 0600 is fine
printf '@include "pw.conf"\n' >"$T_DIR/main.conf"
chmod 0600 "$T_DIR/main.conf"
t_run include "$MBH_PRE" -c "$T_DIR/main.conf" --check-config
t_rc_is 78 "the uri with a password in an @include'd file of mode 0644: refused (78)" include
tap_like "$T_OUT/include.err" "pw\\.conf: config file .*\\(chmod 600 " "... naming that file and the chmod"
chmod 0600 "$T_DIR/pw.conf"
t_run ok600 "$MBH_PRE" -c "$T_DIR/pw.conf" --check-config
t_rc_is 0 "config 0600 with a password in its uri: accepted" ok600
CFG_PWFILE=none CFG_USER=none t_config "$T_DIR/nopw.conf"
chmod 0644 "$T_DIR/nopw.conf"
t_run nopw "$MBH_PRE" -c "$T_DIR/nopw.conf" --check-config
t_rc_is 0 "config 0644 without a password: accepted" nopw

sim_stop
tap_done
