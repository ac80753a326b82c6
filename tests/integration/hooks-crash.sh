#!/bin/bash
# hooks-crash.sh: no crash strands a lock.  At every named crash point of mongo-prebackup (hooks and
# --exec), mongo-postbackup and the watchdog, each of SIGKILL, SIGTERM and SIGINT (MBH_CRASH_AT=
# POINT:SIG, compiled in by --enable-crash-points); then mongo-postbackup (for the watchdog's points:
# after it had its chance at the deadline).  Afterwards every lockCount is 0, no member is frozen, the
# record is gone, no process of the run is left (watchdog, command), and a fresh round trip works.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init
T_TIMEOUT=30

CONF=$T_DIR/rs0.conf
SF=$T_STATE/rs0.state
# Every product process of this test runs (env -C) in RUN, and the watchdogs and commands they start
# inherit it: a process whose cwd is RUN is ours, whatever its pid, and nothing else is.
RUN=$(t_run_dir run) || { echo "Bail out! cannot make $T_DIR/run"; exit 1; }

# P, S, S: whichever secondary is chosen is electable, so it is frozen while locked.
t_topology "$T_DIR/topo.conf" '{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; }'
sim_start "$T_DIR/topo.conf" || { tap_fail "the simulator starts"; tap_done; exit 1; }
t_config "$CONF"

# pre NAME JOB [ARGS...] / post NAME [ARGS...]: run in RUN, output in $T_OUT/NAME.{out,err}.
pre() { t_run "$1" env -C "$RUN" "$MBH_PRE" -c "$CONF" --job "${@:2}"; }
post() { t_run "$1" env -C "$RUN" "$MBH_POST" -c "$CONF" "${@:2}"; }

# A build without the points runs straight through: then there is nothing to test.
MBH_CRASH_AT=pre-discovered:KILL pre probe probe 2>/dev/null
case $T_RC in
137) ;;
0)
	post probepost
	tap_skip_all "crash points not compiled in (configure --enable-crash-points)"
	;;
*)
	tap_fail "the probe run dies at pre-discovered or runs through"
	t_show probe
	tap_done
	exit 1
	;;
esac

# The command of the --exec cases: notes "PID STARTTIME", then runs SECONDS.
CMDPID=$T_OUT/cmd.pid
CMD=(sh -c 'echo "$$ $(sed "s/^.*) //" /proc/$$/stat | cut -d" " -f20)" >"$1.tmp"; mv "$1.tmp" "$1"; exec sleep "$2"' sh "$CMDPID")

# aftermath NAME WDPID WDSTART: the common checks after the crash and the clean-up.
aftermath() {
	local n=$1 left cpid cstart
	tap_is "$(sim_set_state)" "locked: frozen:" "$n: every lockCount is 0 and no member is left frozen"
	t_assert_no_state "$n: the record is gone"
	t_wait_no_procs_in "$RUN"
	left=$(t_procs_in "$RUN" | tr '\n' ' ')
	read -r cpid cstart 2>/dev/null <"$CMDPID"
	if [ -z "$left" ] && ! t_same_alive "$2" "$3" && ! t_same_alive "$cpid" "$cstart"; then
		tap_pass "$n: no process of the run is left (watchdog ${2:--}, command ${cpid:--})"
	else
		tap_fail "$n: no process of the run is left"
		for p in $left $2 $cpid; do
			t_diag_proc "$p"
		done
		for p in $left; do
			t_is_ours "$p" || [ "$p" = "$cpid" ] && kill -KILL "$p" 2>/dev/null
		done
	fi
	# a fresh run works: nothing stale blocks it
	pre "$n-again" "$n-again" --max-lock-seconds 30
	t_rc_is 0 "$n: a fresh pre-backup afterwards exits 0" "$n-again"
	tap_is "$(sim_lock_total)" 1 "$n: ... and locks one member"
	post "$n-again-post"
	t_rc_is 0 "$n: ... and its post-backup exits 0" "$n-again-post"
	tap_is "$(sim_lock_total):$([ -e "$SF" ] && echo record)" "0:" "$n: ... and unlocks it, leaving no record"
	t_wait_no_procs_in "$RUN"
}

# wd_of_record: "PID START" of the watchdog the record names (empty without a record).
wd_of_record() {
	[ -f "$SF" ] && echo "$(state_get "$SF" watchdog_pid) $(state_get "$SF" watchdog_start)"
}

# crash_pre POINT SIG [--exec SECONDS]: pre (or --exec) dies or is stopped at POINT; post cleans up.
crash_pre() {
	local pt=$1 sig=$2 n="$1:$2" wd ws want
	rm -f "$CMDPID"
	# (2>/dev/null: the shell's "Killed" notice, not the run's output)
	if [ "${3:-}" = --exec ]; then
		n="exec $n"
		MBH_CRASH_AT=$pt:$sig pre "$n" "c-$pt-$sig" --max-lock-seconds 30 --exec -- "${CMD[@]}" "$4" 2>/dev/null
	else
		MBH_CRASH_AT=$pt:$sig pre "$n" "c-$pt-$sig" --max-lock-seconds 30 2>/dev/null
	fi
	read -r wd ws <<<"$(wd_of_record)"
	case $sig in
	KILL) want=137 ;;
	*) want=signalled ;;
	esac
	if [ "$want" = 137 ]; then
		t_rc_is 137 "$n: the run died at the point" "$n"
	else
		# the front end's handler cancels the run: it ends by itself (its last word is an error, or
		# what it locked or unlocked), never dies of the signal
		tap_ok "$(tail -n 1 "$T_OUT/$n.err" | grep -Eq '^mongo-prebackup: (error: |(un)?locked )' && echo 0 || echo 1)" \
			"$n: the run ends by itself (exit $T_RC)" || t_show "$n"
	fi
	post "$n-post"
	t_rc_is 0 "$n: post-backup afterwards exits 0" "$n-post"
	aftermath "$n" "$wd" "$ws"
}

for pt in pre-discovered pre-watchdog pre-intent pre-frozen pre-locked pre-recorded; do
	for sig in KILL TERM INT; do
		crash_pre "$pt" "$sig"
	done
done
for sig in KILL TERM INT; do
	crash_pre pre-command "$sig" --exec 20
	crash_pre exec-ended "$sig" --exec 0.1
done

# post-backup stopped at its unlock: KILL leaves the record for the next post; TERM and INT are noted
# and the unlock finishes.
for sig in KILL TERM INT; do
	n="unlock-before:$sig"
	rm -f "$CMDPID"
	pre "$n-pre" "$n" --max-lock-seconds 30
	t_rc_is 0 "$n: pre-backup exits 0" "$n-pre"
	read -r wd ws <<<"$(wd_of_record)"
	MBH_CRASH_AT=unlock-before:$sig post "$n" 2>/dev/null
	if [ "$sig" = KILL ]; then
		t_rc_is 137 "$n: post-backup died at the point" "$n"
		post "$n-post2"
		t_rc_is 0 "$n: a second post-backup exits 0" "$n-post2"
	else
		t_rc_is 0 "$n: post-backup finishes the unlock and exits 0" "$n"
	fi
	aftermath "$n" "$wd" "$ws"
done

# The watchdog stopped at its own points (a lock of 2 s of 250 ms, MBH_TEST_SECOND_MS in a test build:
# it acts 500 ms after the lock, to the ms it was handed).  Whatever happens to it, a
# lock is never stranded silently: either the watchdog unlocked it, or --status says NOT RUNNING and
# fails; then post-backup releases it.
for pt in watchdog-go watchdog-fired watchdog-release; do
	for sig in KILL TERM INT; do
		n="$pt:$sig"
		rm -f "$CMDPID"
		MBH_CRASH_AT=$pt:$sig MBH_TEST_SECOND_MS=250 pre "$n-pre" "$n" --max-lock-seconds 2
		t_rc_is 0 "$n: pre-backup exits 0" "$n-pre"
		read -r wd ws <<<"$(wd_of_record)"
		# the watchdog ends (its point, or its work done) within a few seconds of the deadline
		k=0
		while t_same_alive "$wd" "$ws" && [ "$k" -lt 400 ]; do
			sleep 0.02
			k=$((k + 1))
		done
		if t_same_alive "$wd" "$ws"; then
			tap_fail "$n: the watchdog ($wd) ended within 8 s"
			t_diag_proc "$wd"
		else
			tap_pass "$n: the watchdog ($wd) ended"
		fi
		if [ "$sig" = KILL ]; then
			tap_is "$(sim_lock_total)" 1 "$n: the killed watchdog did not unlock (the point was reached)"
		fi
		if [ -e "$SF" ]; then
			post "$n-status" --status
			cat "$T_OUT/$n-status.out" "$T_OUT/$n-status.err" >"$T_OUT/$n-status.all"
			tap_ok "$([ "$T_RC" != 0 ] && grep -q 'NOT RUNNING' "$T_OUT/$n-status.all" && echo 0 || echo 1)" \
				"$n: the lock is left: --status fails ($T_RC) and says the watchdog is NOT RUNNING"
		else
			tap_is "$(sim_lock_total)" 0 "$n: the watchdog unlocked the member by itself"
		fi
		post "$n-post"
		t_rc_is 0 "$n: post-backup afterwards exits 0" "$n-post"
		aftermath "$n" "$wd" "$ws"
	done
done

sim_stop
tap_done
