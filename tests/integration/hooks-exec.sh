#!/bin/bash
# hooks-exec.sh: mongo-prebackup --exec: lock, run the command (no shell) with the member in its
# environment, unlock on every path, exit with the command's status.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init

CONF=$T_DIR/rs0.conf
sim_start_pss
H2=$(sim_member_host 2)
P2=$(sim_member_port 2)

# after NAME: the common aftermath of every --exec run: nothing locked, no record, no watchdog left.
after() {
	t_assert_unlocked "$1: unlocked afterwards"
	t_assert_no_state "$1: no state record left"
}

# The URI comes from MONGO_BACKUP_URI (the file has none) so that the child's environment is tested.
CFG_URI=none t_config "$CONF"
export MONGO_BACKUP_URI="$SIM_URI"

t_run true "$MBH_PRE" -c "$CONF" --exec -- true
t_rc_is 0 "--exec -- true: exits 0" true
after "--exec -- true"
tap_like "$T_OUT/true.err" "locked $H2" "--exec -- true: says what it locked"
tap_like "$T_OUT/true.err" "unlocked $H2" "--exec -- true: says it unlocked"

t_run exit3 "$MBH_PRE" -c "$CONF" --exec -- sh -c 'exit 3'
t_rc_is 3 "--exec -- sh -c 'exit 3': exits 3" exit3
after "exit 3"

# What the command sees: the member, the set, the lock held; never the URI.
t_run env "$MBH_PRE" -c "$CONF" --exec -- sh -c 'env >"$1"; "$2" ctl "$3" status >"$4"' sh \
	"$T_OUT/child.env" "$MBH_SIM" "$SIM_CTL" "$T_OUT/child.status"
t_rc_is 0 "env: exits 0" env
tap_like "$T_OUT/child.env" "^MONGO_BACKUP_HOST=127\\.0\\.0\\.1\$" "env: MONGO_BACKUP_HOST=127.0.0.1"
tap_like "$T_OUT/child.env" "^MONGO_BACKUP_PORT=$P2\$" "env: MONGO_BACKUP_PORT=$P2 (the passive member)"
tap_like "$T_OUT/child.env" "^MONGO_BACKUP_SET=rs0\$" "env: MONGO_BACKUP_SET=rs0"
tap_ok "$(grep -q '^MONGO_BACKUP_URI=' "$T_OUT/child.env" && echo 1 || echo 0)" "env: no MONGO_BACKUP_URI in the command's environment"
tap_like "$T_OUT/child.status" "^id=2 .* lockCount=1 " "env: member 2 is locked while the command runs"
after env

# Arguments reach the command as they are: no shell in between.
t_run argv "$MBH_PRE" -c "$CONF" --exec -- /bin/sh -c 'printf "%s|" "$@" >"$0"' "$T_OUT/argv" 'a b' '$HOME' '*' ''
t_rc_is 0 "argv: exits 0" argv
tap_is "$(cat "$T_OUT/argv" 2>/dev/null)" 'a b|$HOME|*||' "argv: arguments are passed verbatim (no shell)"
after argv

t_run sig "$MBH_PRE" -c "$CONF" --exec -- sh -c 'kill -KILL $$'
t_rc_is 137 "command killed by SIGKILL: exits 128+9" sig
after "killed command"

t_run sigterm "$MBH_PRE" -c "$CONF" --exec -- sh -c 'kill -TERM $$'
t_rc_is 143 "command killed by SIGTERM: exits 128+15" sigterm
after "SIGTERMed command"

t_run nf "$MBH_PRE" -c "$CONF" --exec -- "$T_DIR/no-such-command"
tap_isnt "$T_RC" 0 "command not found: a failure ($T_RC)"
tap_like "$T_OUT/nf.err" "^mongo-prebackup: error: .*no-such-command" "command not found: an error line names the command"
after "command not found"

# SIGTERM / SIGINT to mongo-prebackup while the command runs: the command is stopped, the member unlocked.
for sig in TERM INT; do
	rm -f "$T_OUT/child.pid"
	"$MBH_PRE" -c "$CONF" --job "sig$sig" --exec -- sh -c 'echo $$ >"$1.tmp"; mv "$1.tmp" "$1"; exec sleep 300' sh \
		"$T_OUT/child.pid" </dev/null >"$T_OUT/bg$sig.out" 2>"$T_OUT/bg$sig.err" &
	PRE=$!
	t_bg_register "$PRE"
	n=0
	while [ ! -s "$T_OUT/child.pid" ] && kill -0 "$PRE" 2>/dev/null && [ "$n" -lt 1500 ]; do
		sleep 0.02
		n=$((n + 1))
	done
	CHILD=$(cat "$T_OUT/child.pid" 2>/dev/null)
	if [ -z "$CHILD" ]; then
		tap_fail "SIG$sig: the command started"
		t_kill "$PRE"
		continue
	fi
	t_remember .bg "$CHILD"
	t_note_watchdogs
	tap_is "$(sim_lockcount 2)" 1 "SIG$sig: member 2 is locked while the command runs"
	kill "-$sig" "$PRE"
	if t_pid_gone "$PRE" 1500; then
		wait "$PRE"
		rc=$?
		tap_isnt "$rc" 0 "SIG$sig to mongo-prebackup: it exits non-zero ($rc)"
	else
		tap_fail "SIG$sig to mongo-prebackup: it exits (within 30 s)"
		t_kill "$PRE"
	fi
	tap_ok "$(t_pid_gone "$CHILD" 250 && echo 0 || echo 1)" "SIG$sig: the command was stopped"
	kill -KILL "$CHILD" 2>/dev/null
	after "SIG$sig"
done

# No watchdog outlives an --exec run, however fast the command and however busy the machine: four
# loops of 50 runs side by side (own state dirs, --allow-locked since they share the member).
leaked() { pgrep -f -- "-c $CONF" 2>/dev/null; }
loops=""
for l in 1 2 3 4; do
	(
		f=0
		for i in $(seq 1 50); do
			"$MBH_PRE" -c "$CONF" --state-dir "$T_DIR/state-loop$l" --allow-locked -q --exec -- true \
				</dev/null >/dev/null 2>>"$T_OUT/many$l.err" || f=$((f + 1))
		done
		echo "$f" >"$T_OUT/many$l.fails"
	) &
	loops="$loops $!"
done
for p in $loops; do
	wait "$p"
done
fails=0
for f in "$T_OUT"/many*.fails; do
	fails=$((fails + $(cat "$f")))
done
tap_is "$fails" 0 "4 x 50 fast --exec runs: all exit 0"
n=0
while [ -n "$(leaked)" ] && [ "$n" -lt 250 ]; do
	sleep 0.02
	n=$((n + 1))
done
left=$(leaked | tr '\n' ' ')
tap_is "$left" "" "4 x 50 fast --exec runs: no watchdog process is left behind"
for p in $left; do
	tap_diag "leaked: $(ps -o pid=,ppid=,lstart=,args= -p "$p")"
	grep -E '^Sig(Cgt|Ign|Blk|Pnd)' "/proc/$p/status" | sed 's/^/#   /'
	t_is_ours "$p" && kill -TERM "$p"
done
t_assert_unlocked "4 x 50 fast --exec runs: unlocked"

unset MONGO_BACKUP_URI
sim_stop
tap_done
