#!/bin/bash
# hooks-defects.sh: the defects of issue 7 that strand a lock or mislead the operator, one case each:
# (4) a read-only state directory, (5) --exec losing its log pipe, (7) SIGKILL of --exec while its
# command copies, (8) overlong job names; and the weaker ones: a wrong set name, --forget, --exec
# without a command (script.backup), SIGTERM while locking.  The watchdog's own defects (1, 6, firing
# early) are in hooks-defects-watchdog.sh.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init
T_TIMEOUT=30

CONF=$T_DIR/rs0.conf
SF=$T_STATE/rs0.state
# every product process runs in RUN (env -C), so t_procs_in finds whatever a run left behind
RUN=$(t_run_dir run) || { echo "Bail out! cannot make $T_DIR/run"; exit 1; }

# a mount of this test (the read-only state directory), undone before the temp dir goes
MNT=""
mnt_cleanup() {
	[ -n "$MNT" ] || return 0
	mount -o remount,rw "$MNT" 2>/dev/null
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	MNT=""
}
trap 'rc=$?; mnt_cleanup; (exit $rc); t_cleanup' EXIT

sim_start_pss
t_config "$CONF"
H2=$(sim_member_host 2)
P2=$(sim_member_port 2)

# pre NAME [ARGS...] / post NAME [ARGS...]: run in RUN, output in $T_OUT/NAME.{out,err}.
pre() { t_run "$1" env -C "$RUN" "$MBH_PRE" -c "$CONF" "${@:2}"; }
post() { t_run "$1" env -C "$RUN" "$MBH_POST" -c "$CONF" "${@:2}"; }

# clean NAME [SET]: the set is left clean: nothing locked or frozen, no record, nothing of ours running.
clean() {
	tap_is "$(sim_set_state)" "locked: frozen:" "$1: nothing is locked or frozen"
	t_assert_no_state "$1: no record is left" "${2:-rs0}"
	t_assert_no_procs_in "$RUN" "$1"
}

# wd_of_record: "PID START" of the watchdog the record names.
wd_of_record() { echo "$(state_get "$SF" watchdog_pid) $(state_get "$SF" watchdog_start)"; }

# wait_file FILE [TRIES]: wait (20 ms steps, default 10 s) until FILE is not empty.
wait_file() {
	local n=0
	while [ ! -s "$1" ] && [ "$n" -lt "${2:-500}" ]; do
		sleep 0.02
		n=$((n + 1))
	done
	[ -s "$1" ]
}

# ---- 8. job names: 127 bytes are stored whole and post with the same name finds them; 128 are refused
J127=$(printf 'j%.0s' $(seq 1 127))
J128=$(printf 'j%.0s' $(seq 1 128))
pre j128 --job "$J128"
t_rc_is 64 "job name of 128 bytes: pre-backup exits 64" j128
tap_like "$T_OUT/j128.err" "job name .*128 bytes" "job name of 128 bytes: the error says how long it is"
clean "job name of 128 bytes"
pre j127 --job "$J127"
t_rc_is 0 "job name of 127 bytes: pre-backup exits 0" j127
tap_is "$(state_get "$SF" job)" "$J127" "job name of 127 bytes: recorded whole"
post j127post --job "$J127"
t_rc_is 0 "job name of 127 bytes: post-backup with the same --job exits 0" j127post
clean "job name of 127 bytes"

# ---- 5. --exec whose log pipe closes early (| head -n1): SIGPIPE must not cost the unlock
# (head is gone once it has the first line, the lock's; the command outlives it by far)
timeout -k 5 30 env -C "$RUN" "$MBH_PRE" -c "$CONF" --job pipe --exec -- sleep 0.5 2>&1 </dev/null |
	head -n1 >"$T_OUT/pipe.head"
rcs=("${PIPESTATUS[@]}")
tap_is "${rcs[0]}" 0 "--exec | head -n1: pre-backup exits 0 by itself (not 141 of SIGPIPE)"
tap_like "$T_OUT/pipe.head" "^mongo-prebackup: " "--exec | head -n1: head got the first line"
clean "--exec | head -n1"

# ---- 7. SIGKILL of --exec while its command copies: no copy after the unlock.  The command copies in
# the foreground and in a background subshell of its own process group (which no parent-death signal
# reaches); each copy step appends the time.  Whoever unlocks (post-backup, or the watchdog at the
# deadline) must kill the whole group first: the last line copied precedes the fsyncUnlock.
COPY=$T_OUT/copy
CMDPID=$T_OUT/cmd.pid
COPIER=(sh -c 'echo "$$ $(sed "s/^.*) //" /proc/$$/stat | cut -d" " -f20)" >"$1.tmp"; mv "$1.tmp" "$1"
	copy() { while :; do date +%s.%N >>"$2"; sleep 0.01; done; }
	copy "$@" & copy "$@"' sh "$CMDPID" "$COPY")
for who in post watchdog; do
	n="SIGKILL of --exec, then $who"
	rm -f "$COPY" "$CMDPID"
	# (the lock's seconds count 250 ms in a test build, MBH_TEST_SECOND_MS: the watchdog's 6 are 1.5 s)
	mls=30
	[ "$who" = watchdog ] && mls=6
	MBH_TEST_SECOND_MS=250 env -C "$RUN" "$MBH_PRE" -c "$CONF" --job "copy-$who" --max-lock-seconds "$mls" --exec -- "${COPIER[@]}" \
		</dev/null >"$T_OUT/copy-$who.out" 2>"$T_OUT/copy-$who.err" &
	PRE=$!
	t_bg_register "$PRE"
	if ! wait_file "$CMDPID" || ! wait_file "$COPY"; then
		tap_fail "$n: the command started copying"
		t_kill "$PRE"
		continue
	fi
	read -r cpid cstart <"$CMDPID"
	t_note_watchdogs
	sleep 0.2
	kill -KILL "$PRE"
	wait "$PRE" 2>/dev/null
	# the command's own process dies with its parent (PR_SET_PDEATHSIG)
	k=0
	while t_same_alive "$cpid" "$cstart" && [ "$k" -lt 50 ]; do
		sleep 0.02
		k=$((k + 1))
	done
	tap_ok "$(t_same_alive "$cpid" "$cstart" && echo 1 || echo 0)" "$n: the command ($cpid) died with its parent within 1 s"
	# ... and is reaped, as a normal init does at once: then only the group id ties the copier to it
	k=0
	while [ -e "/proc/$cpid" ] && [ "$k" -lt 250 ]; do
		sleep 0.02
		k=$((k + 1))
	done
	if [ "$who" = post ]; then
		post "copy-post"
		t_rc_is 0 "$n: post-backup exits 0" copy-post
	else
		k=0
		while [ -e "$SF" ] && [ "$k" -lt 500 ]; do
			sleep 0.02
			k=$((k + 1))
		done
		t_assert_no_state "$n: the watchdog released the lock at the deadline"
	fi
	sleep 0.3
	unl=$(sim_unlock_time 2)
	last=$(sort -n "$COPY" | tail -n 1)
	if [ -n "$unl" ] && [ -n "$last" ] && awk -v a="$last" -v b="$unl" 'BEGIN { exit !(a < b) }'; then
		tap_pass "$n: the last copy step ($last) came before the unlock ($unl)"
	else
		tap_fail "$n: the last copy step came before the unlock"
		tap_diag "  last copy step: ${last:-none}  unlock: ${unl:-none}  copy steps after it: $(awk -v b="$unl" '$1 >= b' "$COPY" | wc -l)"
	fi
	clean "$n"
done

# ---- 4. a read-only state directory: unlocking never depends on writing it
ROST=$T_DIR/rostate
mkdir -m 0700 "$ROST"
if [ "$(id -u)" != 0 ]; then
	why="not root (mount needs it)"
elif ! mount -t tmpfs -o mode=0700,size=1m tmpfs "$ROST" 2>"$T_OUT/mount.err"; then
	why="cannot mount a tmpfs: $(head -n 1 "$T_OUT/mount.err")"
else
	why=""
	MNT=$ROST
fi
rosf=$ROST/rs0.state
if [ -n "$why" ]; then
	for c in "post unlocks" "post exits 73" "post says what to do" "watchdog unlocks"; do
		tap_skip "read-only state dir: $c" "$why"
	done
else
	pre ro --job ro --state-dir "$ROST"
	t_rc_is 0 "read-only state dir: pre-backup exits 0" ro
	read -r wd ws <<<"$(echo "$(state_get "$rosf" watchdog_pid) $(state_get "$rosf" watchdog_start)")"
	mount -o remount,ro "$ROST"
	post ropost --state-dir "$ROST"
	tap_is "$(sim_lockcount 2)" 0 "read-only state dir: post unlocks the member"
	t_rc_is 73 "read-only state dir: post exits 73 (the record cannot be removed)" ropost
	tap_like "$T_OUT/ropost.err" "^mongo-postbackup: error: .*unlocked.*record stays.*rs0\\.state.*remove" \
		"read-only state dir: post says the member is unlocked, the record stays, and what to do"
	k=0
	while t_same_alive "$wd" "$ws" && [ "$k" -lt 250 ]; do
		sleep 0.02
		k=$((k + 1))
	done
	tap_ok "$(t_same_alive "$wd" "$ws" && echo 1 || echo 0)" "read-only state dir: post stopped the watchdog ($wd)"
	mount -o remount,rw "$ROST"
	post ropost2 --state-dir "$ROST"
	t_rc_is 0 "read-only state dir, writable again: post clears the stale record" ropost2
	tap_ok "$([ -e "$rosf" ] && echo 1 || echo 0)" "read-only state dir, writable again: no record"

	# the watchdog unlocks at the deadline although it cannot touch the record (4 s of 250 ms, in a test
	# build: MBH_TEST_SECOND_MS)
	MBH_TEST_SECOND_MS=250 pre rowd --job rowd --state-dir "$ROST" --max-lock-seconds 4
	t_rc_is 0 "read-only state dir, watchdog: pre-backup exits 0" rowd
	dl=$(state_get "$rosf" deadline)
	mount -o remount,ro "$ROST"
	while [ "$(sim_lockcount 2)" != 0 ] && [ "$(date +%s)" -le $((dl + 4)) ]; do
		sleep 0.1
	done
	tap_is "$(sim_lockcount 2)" 0 "read-only state dir: the watchdog unlocks at the deadline (by $((dl + 4)), now $(date +%s))"
	mount -o remount,rw "$ROST"
	post rowdpost --state-dir "$ROST"
	t_rc_is 0 "read-only state dir, writable again: post clears the watchdog's stale record" rowdpost
	tap_ok "$([ -e "$rosf" ] && echo 1 || echo 0)" "read-only state dir, writable again: no record after the watchdog"
	mnt_cleanup
fi
clean "read-only state dir"

# ---- a wrong set name: "nothing to unlock" for it, and say which record there is
pre ws --job ws
t_rc_is 0 "wrong set: pre-backup exits 0" ws
post wsset --set rsX
t_rc_is 0 "wrong set (--set rsX): post-backup exits 0" wsset
tap_like "$T_OUT/wsset.err" "nothing to unlock for rsX" "wrong set (--set rsX): says nothing to unlock for rsX"
tap_like "$T_OUT/wsset.err" "^mongo-postbackup: warning: .*replica set rs0 .*$H2" "wrong set (--set rsX): a warning names the rs0 record and its member"
post wsuri --uri "${SIM_URI/replicaSet=rs0/replicaSet=rsX}"
t_rc_is 0 "wrong set (replicaSet=rsX): post-backup exits 0" wsuri
tap_like "$T_OUT/wsuri.err" "nothing to unlock for rsX" "wrong set (replicaSet=rsX): says nothing to unlock for rsX"
tap_like "$T_OUT/wsuri.err" "^mongo-postbackup: warning: .*replica set rs0 .*$H2" "wrong set (replicaSet=rsX): a warning names the rs0 record and its member"
tap_is "$(sim_lockcount 2)" 1 "wrong set: the rs0 lock is left alone"
post wspost
t_rc_is 0 "wrong set: post-backup for rs0 exits 0" wspost
clean "wrong set"

# ---- --forget: refused while the member answers; discards the record (loudly) once it is gone
pre fg --job fg
t_rc_is 0 "--forget: pre-backup exits 0" fg
read -r wd ws <<<"$(wd_of_record)"
post fg1 --forget
t_rc_is 75 "--forget while the member answers: refused (75)" fg1
tap_like "$T_OUT/fg1.err" "answers.*mongo-postbackup" "--forget while the member answers: says to run mongo-postbackup"
tap_ok "$([ -e "$SF" ] && [ "$(sim_lockcount 2)" = 1 ] && echo 0 || echo 1)" "--forget while the member answers: record and lock untouched"
sim_ctl kill 2 >/dev/null
post fg2 --forget
t_rc_is 0 "--forget after the member is gone: exits 0" fg2
tap_like "$T_OUT/fg2.err" "^mongo-postbackup: warning: FORGOT .*$H2" "--forget: a loud warning names what was discarded"
t_assert_no_state "--forget: the record is discarded"
k=0
while t_same_alive "$wd" "$ws" && [ "$k" -lt 250 ]; do
	sleep 0.02
	k=$((k + 1))
done
tap_ok "$(t_same_alive "$wd" "$ws" && echo 1 || echo 0)" "--forget: the watchdog ($wd) is stopped"
sim_ctl revive 2 >/dev/null
clean "--forget (member revived)"

# ---- --exec without a command runs script.backup of the config, escapes expanded
line='script = { backup = [ "/bin/sh", "-c", "echo \"$1 $2 $MONGO_BACKUP_HOST $MONGO_BACKUP_PORT\" >\"$3\"; \"$4\" ctl \"$5\" status >\"$3.status\"", "sh", "%h", "%p", "@OUT@", "@SIM@", "@CTL@" ]; };'
line=${line//@OUT@/$T_OUT/script.args}
line=${line//@SIM@/$MBH_SIM}
t_config "$T_DIR/script.conf" "${line//@CTL@/$SIM_CTL}"
t_run sb env -C "$RUN" "$MBH_PRE" -c "$T_DIR/script.conf" --job sb --exec
t_rc_is 0 "--exec without a command: exits 0" sb
tap_is "$(cat "$T_OUT/script.args" 2>/dev/null)" "127.0.0.1 $P2 127.0.0.1 $P2" "--exec without a command: script.backup ran with %h %p expanded"
tap_like "$T_OUT/script.args.status" "^id=2 .* lockCount=1 " "--exec without a command: it ran under the lock"
clean "--exec without a command"

# ---- SIGTERM while locking: the command never starts (crash points stop the run there)
MBH_CRASH_AT=pre-discovered:KILL pre probe --job probe 2>/dev/null
if [ "$T_RC" != 137 ]; then
	[ "$T_RC" = 0 ] && post probepost
	for pt in pre-frozen pre-locked; do
		tap_skip "SIGTERM at $pt: the command is not started" "crash points not compiled in"
	done
else
	for pt in pre-frozen pre-locked; do
		rm -f "$T_OUT/started"
		MBH_CRASH_AT=$pt:TERM pre "term-$pt" --job "term-$pt" --exec -- touch "$T_OUT/started"
		t_rc_is 75 "SIGTERM at $pt: pre-backup exits 75" "term-$pt"
		tap_ok "$([ -e "$T_OUT/started" ] && echo 1 || echo 0)" "SIGTERM at $pt: the command is not started"
		clean "SIGTERM at $pt"
	done
fi

sim_stop
tap_done
