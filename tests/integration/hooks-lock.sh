#!/bin/bash
# hooks-lock.sh: the lock protocol of mongo-prebackup / mongo-postbackup against the simulator:
# round trip with lockCount, the state file, --status, unreachable and revived members, someone
# else's lock, a member elected at the lock, freezing, a second and concurrent pre-backups.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init

CONF=$T_DIR/rs0.conf
SF=$T_STATE/rs0.state
P='{ port = 0; state = "PRIMARY"; }'
S='{ port = 0; }'
S0='{ port = 0; priority = 0.0; }'

# ---- set A: primary, electable, passive: the passive (member 2) is the choice
t_topology "$T_DIR/a.conf" "$P, $S, $S0"
sim_start "$T_DIR/a.conf" || { tap_fail "the simulator starts"; tap_done; exit 1; }
t_config "$CONF"
H2=$(sim_member_host 2)

t_run pre1 "$MBH_PRE" -c "$CONF" --job J1
t_rc_is 0 "pre: exits 0" pre1
tap_is "$(sim_lockcounts)" "0:0 1:0 2:1" "pre: the passive member is locked once, nothing else"
tap_like "$T_OUT/pre1.err" "^mongo-prebackup: .*locked $H2 \\(lockCount 1\\) for job J1" "pre: says locked $H2 (lockCount 1) for job J1"
tap_is "$(stat -c %a "$SF" 2>/dev/null)" 600 "pre: the state file exists with mode 0600"
tap_is "$(stat -c %a "$T_STATE" 2>/dev/null)" 700 "pre: the state dir has mode 0700"
tap_like "$SF" "$H2" "pre: the state file names the member"
tap_like "$SF" "J1" "pre: the state file names the job"
tap_unlike "$SF" "$T_PASS" "pre: the state file holds no password"
PID1=$(state_get "$SF" pid)
WD1=$(state_get "$SF" watchdog_pid)
tap_ok "$(t_is_ours "$WD1" && echo 0 || echo 1)" "pre: a watchdog ($WD1) is running"
tap_is "$(wc -c <"$T_OUT/pre1.out")" 0 "pre: nothing on stdout in hooks mode"

t_run status1 "$MBH_POST" -c "$CONF" --status
t_rc_is 0 "--status: exits 0" status1
cat "$T_OUT/status1.out" "$T_OUT/status1.err" >"$T_OUT/status1.all"
tap_like "$T_OUT/status1.all" "rs0" "--status: names the set"
tap_like "$T_OUT/status1.all" "$H2" "--status: names the member"
tap_like "$T_OUT/status1.all" "J1" "--status: names the job"
tap_like "$T_OUT/status1.all" "LOCKED" "--status: shows the phase"
tap_like "$T_OUT/status1.all" "(^|[^0-9])$PID1([^0-9]|$)" "--status: shows the pid"
tap_is "$(sim_lockcount 2)" 1 "--status: changes nothing"

t_run pre2 "$MBH_PRE" -c "$CONF" --job J2
t_rc_is 75 "second pre while locked: exits 75" pre2
tap_like "$T_OUT/pre2.err" "J1" "second pre: the message names the holder's job"
tap_like "$T_OUT/pre2.err" "(^|[^0-9])$PID1([^0-9]|$)" "second pre: the message names the holder's pid"
tap_is "$(sim_lockcounts)" "0:0 1:0 2:1" "second pre: the lockCount is unchanged"
tap_like "$SF" "J1" "second pre: the record is still J1's"

t_run post1 "$MBH_POST" -c "$CONF" --job J1
t_rc_is 0 "post: exits 0" post1
tap_like "$T_OUT/post1.err" "unlocked $H2 \\(lockCount now 0\\)" "post: says unlocked $H2 (lockCount now 0)"
t_assert_unlocked "post: lockCount back to 0"
t_assert_no_state "post: the state file is gone"
t_pid_gone "$WD1" 250
tap_ok "$(t_is_ours "$WD1" && echo 1 || echo 0)" "post: the watchdog is gone"

t_run post2 "$MBH_POST" -c "$CONF"
t_rc_is 0 "post with nothing to unlock: exits 0" post2
tap_like "$T_OUT/post2.err" "nothing to unlock for rs0" "post with nothing to unlock: says nothing to unlock for rs0"
t_run status2 "$MBH_POST" -c "$CONF" --status
t_rc_is 0 "--status with nothing locked: exits 0" status2
cat "$T_OUT/status2.out" "$T_OUT/status2.err" >"$T_OUT/status2.all"
tap_like "$T_OUT/status2.all" "nothing is locked for rs0" "--status: nothing is locked for rs0"

# ---- the locked member dies: post keeps the record (75); revived, it is unlocked: post clears
t_run pre3 "$MBH_PRE" -c "$CONF" --job J3
t_rc_is 0 "pre (kill case): exits 0" pre3
WD3=$(state_get "$SF" watchdog_pid)
sim_ctl kill 2 >/dev/null
t_run post3 "$MBH_POST" -c "$CONF" --job J3
t_rc_is 75 "post, member killed: exits 75" post3
tap_like "$T_OUT/post3.err" "cannot reach $H2" "post, member killed: says cannot reach $H2"
tap_ok "$([ -f "$SF" ] && echo 0 || echo 1)" "post, member killed: the record is kept"
sim_ctl revive 2 >/dev/null
t_run post4 "$MBH_POST" -c "$CONF" --job J3
t_rc_is 0 "post, member revived: exits 0" post4
tap_like "$T_OUT/post4.err" "no longer locked" "post, member revived: warns it was no longer locked"
tap_like "$T_OUT/post4.err" "^mongo-postbackup: warning: " "post, member revived: as a warning line"
t_assert_no_state "post, member revived: the record is cleared"
t_assert_unlocked "post, member revived: nothing locked"
t_pid_gone "$WD3" 250
tap_ok "$(t_is_ours "$WD3" && echo 1 || echo 0)" "post, member revived: the watchdog is gone"

# ---- someone else's lock on the member that would be chosen
sim_ctl lock 2 >/dev/null
t_run pre5 "$MBH_PRE" -c "$CONF" --job J5
t_rc_is 75 "foreign lock: pre refuses with 75" pre5
tap_like "$T_OUT/pre5.err" "lock" "foreign lock: the message says the member is locked"
tap_is "$(sim_lockcounts)" "0:0 1:0 2:1" "foreign lock: their lock is left alone (lockCount 1)"
t_assert_no_state "foreign lock: no state record left"
t_run pre6 "$MBH_PRE" -c "$CONF" --job J6 --allow-locked
t_rc_is 0 "foreign lock --allow-locked: pre exits 0" pre6
tap_is "$(sim_lockcount 2)" 2 "foreign lock --allow-locked: lockCount 2"
tap_is "$(state_get "$SF" lock_count)" 2 "foreign lock --allow-locked: the record holds lock_count=2"
t_run post6 "$MBH_POST" -c "$CONF"
t_rc_is 0 "foreign lock --allow-locked: post exits 0" post6
tap_is "$(sim_lockcount 2)" 1 "foreign lock --allow-locked: post takes only our lock (lockCount 1)"
tap_like "$T_OUT/post6.err" "lockCount now 1" "foreign lock --allow-locked: post says lockCount now 1"
t_assert_no_state "foreign lock --allow-locked: no record left"
sim_ctl unlock 2 >/dev/null
t_assert_unlocked "foreign lock: the foreign lock released by its owner"

# ---- someone locks on top of ours: post takes only ours and warns about the count
t_run pre10 "$MBH_PRE" -c "$CONF" --job J10
t_rc_is 0 "lock on top: pre exits 0" pre10
sim_ctl lock 2 >/dev/null
t_run post10 "$MBH_POST" -c "$CONF"
t_rc_is 0 "lock on top: post exits 0" post10
tap_like "$T_OUT/post10.err" "^mongo-postbackup: warning: .*lockCount" "lock on top: a warning about the unexpected lockCount"
tap_is "$(sim_lockcount 2)" 1 "lock on top: the other lock is left (lockCount 1)"
t_assert_no_state "lock on top: the record is cleared"
sim_ctl unlock 2 >/dev/null

# ---- --quiet and --verbose
t_run preq "$MBH_PRE" -c "$CONF" -q --job Q
t_rc_is 0 "--quiet: pre exits 0" preq
tap_is "$(wc -c <"$T_OUT/preq.err")" 0 "--quiet: pre prints nothing on success"
t_run postq "$MBH_POST" -c "$CONF" --quiet
t_rc_is 0 "--quiet: post exits 0" postq
tap_is "$(wc -c <"$T_OUT/postq.err")" 0 "--quiet: post prints nothing on success"
t_run prev "$MBH_PRE" -c "$CONF" -v --job V
tap_like "$T_OUT/prev.err" "^mongo-prebackup: debug: " "--verbose: debug lines"
t_run postv "$MBH_POST" -c "$CONF" --verbose
tap_like "$T_OUT/postv.err" "^mongo-postbackup: debug: " "--verbose: post too"
t_assert_unlocked "--quiet/--verbose: unlocked"

# ---- concurrent pre-backups: exactly one wins
pids=""
for i in 1 2 3 4; do
	timeout -k 5 "$T_TIMEOUT" "$MBH_PRE" -c "$CONF" --job "C$i" </dev/null >"$T_OUT/conc$i.out" 2>"$T_OUT/conc$i.err" &
	pids="$pids $!"
	t_bg_register "$!"
done
wins=0
losses=0
others=""
i=0
for p in $pids; do
	i=$((i + 1))
	wait "$p"
	rc=$?
	case $rc in
	0) wins=$((wins + 1)) ;;
	75) losses=$((losses + 1)) ;;
	*) others="$others C$i:$rc" ;;
	esac
done
t_note_watchdogs
tap_is "$wins/$losses$others" "1/3" "4 concurrent pre-backups: exactly one exits 0, the others 75"
tap_is "$(sim_lock_total)" 1 "4 concurrent pre-backups: lockCount exactly 1"
t_run post7 "$MBH_POST" -c "$CONF"
t_rc_is 0 "concurrent: post exits 0" post7
t_assert_unlocked "concurrent: all unlocked"
sim_stop

# ---- set B: primary and two electable secondaries: the chosen one (member 1) is frozen
t_topology "$T_DIR/b.conf" "$P, $S, $S"
sim_start "$T_DIR/b.conf" || { tap_fail "the simulator starts (set B)"; tap_done; exit 1; }
t_config "$CONF"
H1=$(sim_member_host 1)
t_run pre8 "$MBH_PRE" -c "$CONF" --job J8
t_rc_is 0 "electable: pre exits 0" pre8
tap_is "$(sim_lockcounts)" "0:0 1:1 2:0" "electable: member 1 is locked"
tap_is "$(sim_status_field 1 frozen)" 1 "electable: member 1 is frozen while locked"
tap_is "$(sim_counter 1 replSetFreeze)" 1 "electable: one replSetFreeze was sent"
t_run post8 "$MBH_POST" -c "$CONF"
t_rc_is 0 "electable: post exits 0" post8
tap_is "$(sim_status_field 1 frozen)" 0 "electable: post unfreezes member 1"
tap_is "$(sim_counter 1 replSetFreeze)" 2 "electable: post sent replSetFreeze again (0 seconds)"
t_assert_unlocked "electable: unlocked"

# the member is elected after it was chosen, before the freeze: a primary refuses replSetFreeze
fs0=$(sim_counter 1 fsync)
sim_ctl arm 1 replSetFreeze elect >/dev/null
RD=$(t_run_dir pre9f)
env -C "$RD" "$MBH_PRE" -c "$CONF" --job J9f </dev/null >"$T_OUT/pre9f.out" 2>"$T_OUT/pre9f.err"
T_RC=$?
tap_is "$T_RC" 75 "elected before the freeze: exit 75 (temporary: run again)"
tap_is "$(sim_status_field 1 state)" PRIMARY "elected before the freeze: member 1 is primary now (the arm fired)"
tap_like "$T_OUT/pre9f.err" "cannot freeze $H1.*primary" "elected before the freeze: the message names the member and says primary"
tap_is "$(sim_counter 1 fsync)" "$fs0" "elected before the freeze: no fsync lock was sent to it"
t_assert_unlocked "elected before the freeze: nothing is locked"
t_assert_no_state "elected before the freeze: no state left"
tap_ok "$(t_wait_no_procs_in "$RD" && echo 0 || echo 1)" "elected before the freeze: no watchdog or other process of the run is left"
sim_ctl elect 0 >/dev/null

# the member becomes primary right at the lock
sim_ctl arm 1 fsync elect >/dev/null
t_run pre9 "$MBH_PRE" -c "$CONF" --job J9
tap_isnt "$T_RC" 0 "elected at the lock: pre fails"
tap_is "$T_RC" 75 "elected at the lock: exit 75"
tap_is "$(sim_status_field 1 state)" PRIMARY "elected at the lock: member 1 is primary now (the arm fired)"
tap_like "$T_OUT/pre9.err" "primary" "elected at the lock: the message says primary"
t_assert_unlocked "elected at the lock: lockCount back to 0"
tap_is "$(sim_status_field 1 frozen)" 0 "elected at the lock: not left frozen"
t_assert_no_state "elected at the lock: no state left"
t_run dry9 "$MBH_PRE" -c "$CONF" --dry-run
tap_ok "$(awk -v h="$H1" '$1 == h' "$T_OUT/dry9.out" | grep -q CHOSEN && echo 1 || echo 0)" "elected at the lock: the new primary is not chosen afterwards"

# ---- a post-backup right after the pre-backup always gets the flock: the watchdog the pre-backup
# forked must not keep a copy of it (it closes it before the pre-backup goes on)
bad=0
for i in $(seq 1 25); do
	"$MBH_PRE" -c "$CONF" -q --job "quick$i" </dev/null >/dev/null 2>>"$T_OUT/quick.err" || bad=$((bad + 1))
	"$MBH_POST" -c "$CONF" -q --job "quick$i" </dev/null >/dev/null 2>>"$T_OUT/quick.err" || bad=$((bad + 1))
done
tap_is "$bad" 0 "25 x pre then post at once: every run exits 0" || tap_diag_file "$T_OUT/quick.err" "their errors"
t_assert_unlocked "25 x pre then post at once: unlocked"
sim_stop

tap_done
