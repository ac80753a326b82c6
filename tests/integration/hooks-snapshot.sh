#!/bin/bash
# hooks-snapshot.sh: snapshot mode on every path, with a cp -a stand-in for the snapshot script
# (tests/integration/snapshot-cp.sh; hooks-snapshot-btrfs.sh does the same with real btrfs):
# pre-backup locks, snapshots, unlocks at once and records SNAPSHOT; post-backup removes the snapshot;
# --exec runs the command against the snapshot; --status and --dry-run; every failure of create and
# remove; a crash (SIGKILL, crash points) between every two steps, finished by mongo-postbackup or the
# watchdog.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/sim-harness.sh"
t_init
T_TIMEOUT=60

CONF=$T_DIR/rs0.conf
SF=$T_STATE/rs0.state
DATA=$T_DIR/data
SNAPS=$T_DIR/snaps
SNAP_CP=$top_srcdir/tests/integration/snapshot-cp.sh
export SNAPTEST_LOG=$T_DIR/snap.log
mkdir "$DATA" "$SNAPS"

TOPO_NOOP_MS=200 t_topology "$T_DIR/topo.conf" \
	'{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
sim_start "$T_DIR/topo.conf" --data-dir "$DATA" || { tap_fail "the simulator starts"; tap_done; exit 1; }
export SNAPTEST_SIM=$MBH_SIM SNAPTEST_CTL=$SIM_CTL
H2=$(sim_member_host 2)
P2=$(sim_member_port 2)
sim_ctl write 30 >/dev/null

# snap_config [LINE...]: the config with a snapshot group (snapshot.timeout $SNAP_TIMEOUT, default 10:
# roomy for a sanitizer build on a busy machine; the cases that hang set 3).
snap_config() {
	t_config "$CONF" \
		"snapshot = { create = [ \"$SNAP_CP\", \"create\", \"$DATA/2\", \"$SNAPS\", \"%s-%j\" ];
		  remove = [ \"$SNAP_CP\", \"remove\", \"%S\" ]; timeout = ${SNAP_TIMEOUT:-10}; };" "$@"
}
snap_config

# snaps_left: how many snapshots are in $SNAPS.
snaps_left() { find "$SNAPS" -mindepth 1 -maxdepth 1 | wc -l; }

# clean NAME: nothing locked, no record, no snapshot left (asserted), then a clean slate for the next case.
clean() {
	t_assert_unlocked "$1: nothing is locked"
	t_assert_no_state "$1: no record"
	tap_is "$(snaps_left)" 0 "$1: no snapshot left"
	rm -rf "${SNAPS:?}"/* "$SF"
	: >"$SNAPTEST_LOG"
}

# ---- --dry-run says whether snapshot mode is on and which commands will run
t_run dry "$MBH_PRE" -c "$CONF" --dry-run --job nightly
t_rc_is 0 "dry run: exits 0" dry
tap_like "$T_OUT/dry.out" "^snapshot mode: on" "dry run: snapshot mode is on"
tap_like "$T_OUT/dry.out" "^  create: .*snapshot-cp\\.sh create $DATA/2 $SNAPS rs0-nightly\$" \
	"dry run: the create command, expanded for the chosen member and the job"
tap_like "$T_OUT/dry.out" "^  remove: .*snapshot-cp\\.sh remove %S\$" "dry run: the remove command, %S left as it is"
t_config "$T_DIR/plain.conf"
t_run dryplain "$MBH_PRE" -c "$T_DIR/plain.conf" --dry-run
tap_like "$T_OUT/dryplain.out" "^snapshot mode: off" "dry run without a snapshot group: snapshot mode is off"

# ---- hooks mode: pre leaves SNAPSHOT recorded and the member unlocked; the backup reads the snapshot
t_run pre "$MBH_PRE" -c "$CONF" --job nightly.1
t_rc_is 0 "pre: exits 0" pre
tap_is "$(state_get "$SF" phase)" SNAPSHOT "pre: the record says SNAPSHOT"
SNAP=$(state_get "$SF" snapshot)
tap_ok "$([ -n "$SNAP" ] && [ -d "$SNAP" ] && echo 0 || echo 1)" "pre: the record names the snapshot ($SNAP), which exists"
tap_is "$(sim_lockcount 2)" 0 "pre: the member is unlocked right after the snapshot (lockCount 0 while SNAPSHOT is recorded)"
tap_like "$SNAPTEST_LOG" "^status: .*id=2:1 " "create ran while member 2 was locked"
tap_like "$SNAPTEST_LOG" "^create .* env SNAPSHOT= JOB=nightly\\.1 HOST=127\\.0\\.0\\.1 PORT=$P2 SET=rs0\$" \
	"create saw the member, the set and the job in its environment"
tap_is "$(state_get "$SF" watchdog_pid)" 0 "pre: the SNAPSHOT record names no watchdog (nothing is locked)"
tap_like "$T_OUT/pre.err" "snapshot $SNAP of $H2 taken in [0-9]+ ms, then unlocked at once \\(lockCount 1\\); job nightly\\.1\$" \
	"pre: says it took the snapshot and unlocked"
t_run status "$MBH_POST" -c "$CONF" --status
t_rc_is 0 "--status: exits 0 (a SNAPSHOT record needs no watchdog)" status
tap_like "$T_OUT/status.out" "^phase: +SNAPSHOT\$" "--status: the phase"
tap_like "$T_OUT/status.out" "^snapshot: +$SNAP\$" "--status: the snapshot"
tap_like "$T_OUT/status.out" "^taken: .*\\([0-9]+ s ago\\)\$" "--status: its age"
tap_like "$T_OUT/status.out" "^job: +nightly\\.1\$" "--status: the job"
tap_like "$T_OUT/status.out" "^member: +$H2 \\(unlocked" "--status: the member, unlocked"
AT_SNAP=$(simt_records "$SNAP")
sim_ctl write 40 >/dev/null
simt_wait_records "$DATA/2" $((AT_SNAP + 40))
tap_ok $? "the member applies writes again while the snapshot is kept"
cp -a "$SNAP" "$T_DIR/backup"
simt_verify "$T_DIR/backup"
tap_is "$VERIFY_RC:$VERIFY_RECORDS" "0:$AT_SNAP" "the backup of the snapshot verifies whole, as of the snapshot"
t_run again "$MBH_PRE" -c "$CONF" --job nightly.2
t_rc_is 75 "pre while a snapshot is recorded: exits 75" again
tap_like "$T_OUT/again.err" "still has the snapshot $SNAP of job nightly\\.1.*run mongo-postbackup first" \
	"pre while a snapshot is recorded: names it and what to do"
t_run other "$MBH_POST" -c "$CONF" --job other
t_rc_is 75 "post of another job: exits 75, the snapshot is left alone" other
tap_ok "$([ -d "$SNAP" ] && [ -f "$SF" ] && echo 0 || echo 1)" "post of another job: snapshot and record stay"
t_run post "$MBH_POST" -c "$CONF" --job nightly.1
t_rc_is 0 "post: exits 0" post
tap_like "$T_OUT/post.err" "removed the snapshot $SNAP" "post: says it removed the snapshot"
tap_like "$SNAPTEST_LOG" "^remove $SNAP env SNAPSHOT=$SNAP JOB=nightly\\.1 " "post: remove got %S and MONGO_BACKUP_SNAPSHOT"
t_run post2 "$MBH_POST" -c "$CONF" --job nightly.1
tap_like "$T_OUT/post2.err" "nothing to unlock" "post again: nothing to do (idempotent)"
clean "hooks"

# ---- --exec: lock, snapshot, unlock, run CMD against the snapshot, remove
t_run exec "$MBH_PRE" -c "$CONF" --job ex --exec -- sh -c \
	'echo "$MONGO_BACKUP_SNAPSHOT" >"$1"; "$2" ctl "$3" status >"$4"; cp -a "$MONGO_BACKUP_SNAPSHOT" "$5"' sh \
	"$T_OUT/exec.snap" "$MBH_SIM" "$SIM_CTL" "$T_OUT/exec.status" "$T_DIR/exec-backup"
t_rc_is 0 "--exec: exits 0" exec
ES=$(cat "$T_OUT/exec.snap" 2>/dev/null)
tap_like "$T_OUT/exec.snap" "^$SNAPS/rs0-ex-[0-9]+\$" "--exec: the command gets MONGO_BACKUP_SNAPSHOT"
tap_like "$T_OUT/exec.status" "^id=2 .* lockCount=0 " "--exec: the member is unlocked while the command runs"
simt_verify "$T_DIR/exec-backup"
tap_is "$VERIFY_RC" 0 "--exec: the command's copy of the snapshot verifies whole"
tap_like "$SNAPTEST_LOG" "^remove $ES " "--exec: the snapshot is removed afterwards"
clean "--exec"
t_config "$CONF" \
	"snapshot = { create = [ \"$SNAP_CP\", \"create\", \"$DATA/2\", \"$SNAPS\", \"%s-%j\" ];
	  remove = [ \"$SNAP_CP\", \"remove\", \"%S\" ]; timeout = 10; };" \
	"script = { backup = [ \"/bin/sh\", \"-c\", \"test -f \\\"\$1/MANIFEST\\\" && echo \\\"\$1\\\" >$T_OUT/sb.arg && exit 3\", \"sh\", \"%S\" ]; };"
t_run execsb "$MBH_PRE" -c "$CONF" --job sb --exec
t_rc_is 3 "--exec with script.backup: %S expanded, the command's status (3) is the exit status" execsb
tap_like "$T_OUT/sb.arg" "^$SNAPS/rs0-sb-[0-9]+\$" "--exec with script.backup: %S is the snapshot's path"
clean "--exec with script.backup"
snap_config

# ---- create fails: unlock, a clear error, nothing left
t_run cfail env SNAPTEST_FAULT=create-fail "$MBH_PRE" -c "$CONF" --job cf
t_rc_is 75 "create fails: exits 75" cfail
tap_like "$T_OUT/cfail.err" "^mongo-prebackup: error: unlocked $H2 again: snapshot\\.create \\(.*\\) failed \\(exit 3\\)\$" \
	"create fails: one error line, what failed and that the member is unlocked"
clean "create fails"

t_run cfail2 env SNAPTEST_FAULT=create-fail-after "$MBH_PRE" -c "$CONF" --job cf2
t_rc_is 75 "create fails after making the snapshot: exits 75" cfail2
tap_like "$SNAPTEST_LOG" "^remove $SNAPS/rs0-cf2-1 " "create fails after making the snapshot: what it printed is removed"
clean "create fails after making the snapshot"

t_run cgarbage env SNAPTEST_FAULT=create-garbage "$MBH_PRE" -c "$CONF" --job cg
t_rc_is 78 "create prints a relative path: exits 78" cgarbage
tap_like "$T_OUT/cgarbage.err" "printed no usable path .*'relative/snapshot'" "create prints a relative path: the error quotes it"
clean "create prints a relative path"

t_run cempty env SNAPTEST_FAULT=create-empty "$MBH_PRE" -c "$CONF" --job ce
t_rc_is 78 "create prints nothing: exits 78" cempty
clean "create prints nothing"

t_config "$T_DIR/missing.conf" "snapshot = { create = [ \"$T_DIR/no-such-script\" ]; remove = [ \"$SNAP_CP\", \"remove\", \"%S\" ]; timeout = 3; };"
t_run cmissing "$MBH_PRE" -c "$T_DIR/missing.conf" --job cm
t_rc_is 69 "create cannot be run: exits 69" cmissing
tap_like "$T_OUT/cmissing.err" "snapshot\\.create: cannot run $T_DIR/no-such-script" "create cannot be run: the error names it"
clean "create cannot be run"

# ---- create hangs past snapshot.timeout: killed, counted as a failure, the member unlocked
# (its 3 s, and the kill grace, count 250 ms seconds in a test build, MBH_TEST_SECOND_MS)
SNAP_TIMEOUT=3 snap_config
rm -f "$T_OUT/create.pid"
s=$(date +%s)
MBH_TEST_SECOND_MS=250 t_run chang env SNAPTEST_FAULT=create-hang SNAPTEST_PIDFILE="$T_OUT/create.pid" \
	"$MBH_PRE" -c "$CONF" --job ch
e=$(date +%s)
t_rc_is 75 "create hangs: exits 75" chang
tap_ok "$([ $((e - s)) -le 8 ] && echo 0 || echo 1)" "create hangs: stopped at snapshot.timeout (3 s) plus the kill grace ($((e - s)) s)"
tap_like "$T_OUT/chang.err" "snapshot\\.create \\(.*\\) timed out after 3 s \\(snapshot\\.timeout\\) and was killed" \
	"create hangs: the error says it timed out and was killed"
tap_ok "$(t_pid_gone "$(cat "$T_OUT/create.pid" 2>/dev/null)" 50 && echo 0 || echo 1)" "create hangs: the create process is gone"
clean "create hangs"

MBH_TEST_SECOND_MS=250 t_run chang2 env SNAPTEST_FAULT=create-hang-after "$MBH_PRE" -c "$CONF" --job ch2
t_rc_is 75 "create hangs after printing a path: exits 75" chang2
tap_like "$SNAPTEST_LOG" "^remove $SNAPS/rs0-ch2-1 " "create hangs after printing a path: that snapshot is removed"
clean "create hangs after printing a path"
snap_config

# ---- remove fails or hangs: the snapshot and its record stay; post finishes later
t_run rpre "$MBH_PRE" -c "$CONF" --job rf
t_rc_is 0 "remove fails: pre exits 0" rpre
RS=$(state_get "$SF" snapshot)
t_run rfail env SNAPTEST_FAULT=remove-fail "$MBH_POST" -c "$CONF"
t_rc_is 75 "remove fails: post exits 75" rfail
tap_like "$T_OUT/rfail.err" "snapshot\\.remove \\(.*\\) of $RS failed \\(exit 5\\); the snapshot and its record stay" \
	"remove fails: the error says what stays"
tap_ok "$([ -d "$RS" ] && [ "$(state_get "$SF" phase)" = SNAPSHOT ] && echo 0 || echo 1)" "remove fails: snapshot and SNAPSHOT record kept"
SNAP_TIMEOUT=3 snap_config
s=$(date +%s)
MBH_TEST_SECOND_MS=250 t_run rhang env SNAPTEST_FAULT=remove-hang "$MBH_POST" -c "$CONF"
e=$(date +%s)
snap_config
t_rc_is 75 "remove hangs: post exits 75" rhang
tap_ok "$([ $((e - s)) -le 8 ] && echo 0 || echo 1)" "remove hangs: bounded by snapshot.timeout ($((e - s)) s)"
tap_like "$T_OUT/rhang.err" "timed out after 3 s" "remove hangs: the error says it timed out"
rm -rf "$RS"
t_run rgone "$MBH_POST" -c "$CONF"
t_rc_is 0 "the snapshot vanished meanwhile: post exits 0 (remove is idempotent)" rgone
clean "remove fails"

t_run xrfail env SNAPTEST_FAULT=remove-fail "$MBH_PRE" -c "$CONF" --job xr --exec -- true
t_rc_is 75 "--exec, remove fails: exits 75" xrfail
tap_is "$(state_get "$SF" phase)" SNAPSHOT "--exec, remove fails: the SNAPSHOT record stays for post"
t_run xrpost "$MBH_POST" -c "$CONF"
t_rc_is 0 "--exec, remove fails: post removes it afterwards" xrpost
clean "--exec, remove fails"

# ---- a SNAPSHOT record and a config without snapshot.remove; --forget of a SNAPSHOT record
t_run npre "$MBH_PRE" -c "$CONF" --job nr
NS=$(state_get "$SF" snapshot)
t_run npost "$MBH_POST" -c "$T_DIR/plain.conf"
t_rc_is 78 "post with a config without snapshot.remove: exits 78" npost
tap_like "$T_OUT/npost.err" "names the snapshot $NS, but .* has no snapshot\\.remove" "  and says why"
t_run forget "$MBH_POST" -c "$CONF" --forget
t_rc_is 0 "--forget of a SNAPSHOT record: exits 0" forget
tap_like "$T_OUT/forget.err" "FORGOT the record of the snapshot $NS .*remove it by hand" "--forget: says the snapshot stays"
tap_ok "$([ -d "$NS" ] && [ ! -e "$SF" ] && echo 0 || echo 1)" "--forget: record gone, snapshot kept"
rm -rf "$NS"
clean "--forget"

# ---- crashes between the steps, finished by mongo-postbackup
t_run probe env MBH_CRASH_AT=pre-discovered:KILL "$MBH_PRE" -c "$CONF" --job probe
if [ "$T_RC" != 137 ]; then
	"$MBH_POST" -c "$CONF" </dev/null >/dev/null 2>&1
	rm -rf "${SNAPS:?}"/*
	tap_skip_rest=1
	tap_diag "crash points are not compiled in (configure --enable-crash-points): their cases are skipped"
else
	tap_skip_rest=0
fi
rm -f "$SF"

# crash NAME POINT PHASE LOCKED: pre dies (SIGKILL) at POINT; the record is PHASE and member 2's lockCount LOCKED.
crash() {
	local name=$1 point=$2 phase=$3 locked=$4
	t_run "$name" env MBH_CRASH_AT="$point:KILL" "$MBH_PRE" -c "$CONF" --job "$name"
	t_rc_is 137 "$name: pre dies at $point" "$name"
	tap_is "$(state_get "$SF" phase)" "$phase" "$name: the record says $phase"
	tap_is "$(sim_lockcount 2)" "$locked" "$name: member 2's lockCount is $locked"
}
if [ "$tap_skip_rest" = 0 ]; then
	# create has ended: its path went on record as it printed it
	crash c-created pre-snapshot-created LOCKED 1
	tap_is "$(snaps_left):$([ -n "$(state_get "$SF" snapshot)" ] && echo named)" 1:named \
		"c-created: the snapshot exists and the record names it"
	t_run c-created-post "$MBH_POST" -c "$CONF"
	t_rc_is 0 "c-created: post exits 0" c-created-post
	tap_like "$T_OUT/c-created-post.err" "removed the snapshot" "c-created: post removed the snapshot"
	clean "c-created"

	crash c-recorded pre-snapshot-recorded LOCKED 1
	tap_ok "$([ -n "$(state_get "$SF" snapshot)" ] && echo 0 || echo 1)" "c-recorded: the LOCKED record names the snapshot"
	t_run c-recorded-post "$MBH_POST" -c "$CONF"
	t_rc_is 0 "c-recorded: post exits 0" c-recorded-post
	tap_like "$T_OUT/c-recorded-post.err" "unlocked $H2" "c-recorded: post unlocked the member"
	tap_like "$T_OUT/c-recorded-post.err" "removed the snapshot" "c-recorded: and removed the snapshot"
	clean "c-recorded"

	crash c-unlocked pre-snapshot-unlocked SNAPSHOT 0
	t_run c-unlocked-post "$MBH_POST" -c "$CONF"
	t_rc_is 0 "c-unlocked: post exits 0" c-unlocked-post
	clean "c-unlocked"

	t_run c-exec env MBH_CRASH_AT=exec-ended:KILL "$MBH_PRE" -c "$CONF" --job c-exec --exec -- true
	t_rc_is 137 "c-exec: --exec dies after its command" c-exec
	tap_is "$(state_get "$SF" phase)" SNAPSHOT "c-exec: the record says SNAPSHOT"
	t_run c-exec-post "$MBH_POST" -c "$CONF"
	t_rc_is 0 "c-exec: post exits 0" c-exec-post
	clean "c-exec"

	# the watchdog at the lock's deadline with a snapshot recorded: it unlocks and leaves the
	# snapshot's record (SNAPSHOT) to mongo-postbackup
	# (5 s of 400 ms in a test build, MBH_TEST_SECOND_MS: 2 s, room for the checks before it fires)
	SNAP_TIMEOUT=4 snap_config "lock = { max_seconds = 5; };"
	MBH_TEST_SECOND_MS=400 crash c-watchdog pre-snapshot-recorded LOCKED 1
	WD=$(state_get "$SF" watchdog_pid)
	tap_ok "$(t_pid_gone "$WD" 500 && echo 0 || echo 1)" "c-watchdog: the watchdog fires and exits"
	tap_is "$(sim_lockcount 2):$(state_get "$SF" phase)" "0:SNAPSHOT" "c-watchdog: it unlocked; the record says SNAPSHOT"
	tap_like "$T_STATE/rs0.events" "the watchdog unlocked it; its snapshot stays for mongo-postbackup" \
		"c-watchdog: its event line says the snapshot stays"
	tap_is "$(snaps_left)" 1 "c-watchdog: the snapshot is still there (the backup may be reading it)"
	t_run c-watchdog-post "$MBH_POST" -c "$CONF"
	t_rc_is 0 "c-watchdog: post exits 0" c-watchdog-post
	clean "c-watchdog"
	snap_config
fi

# ---- SIGKILL while create runs: create dies with it; post unlocks
rm -f "$T_OUT/create.pid"
SNAP_TIMEOUT=30 snap_config
env SNAPTEST_FAULT=create-hang SNAPTEST_PIDFILE="$T_OUT/create.pid" \
	"$MBH_PRE" -c "$CONF" --job kc </dev/null >"$T_OUT/kc.out" 2>"$T_OUT/kc.err" &
PRE=$!
t_bg_register "$PRE"
if wait_for "create started" 1500 test -s "$T_OUT/create.pid"; then
	CP=$(cat "$T_OUT/create.pid")
	kill -KILL "$PRE"
	wait "$PRE" 2>/dev/null
	tap_ok "$(t_pid_gone "$CP" 250 && echo 0 || echo 1)" "SIGKILL during create: the create command dies with the run"
	tap_is "$(state_get "$SF" phase):$(sim_lockcount 2)" "LOCKING:1" "SIGKILL during create: LOCKING record, member locked"
	t_run kc-post "$MBH_POST" -c "$CONF"
	t_rc_is 0 "SIGKILL during create: post exits 0" kc-post
	clean "SIGKILL during create"
else
	tap_fail "SIGKILL during create: create started"
	t_kill "$PRE"
fi

# ---- SIGKILL during create after it printed its path: the record names the snapshot (and create),
# so post unlocks, and removes what create made
rm -f "$T_OUT/createp.pid" "$T_OUT/createp.pid.printed"
env SNAPTEST_FAULT=create-hang-after SNAPTEST_PIDFILE="$T_OUT/createp.pid" \
	"$MBH_PRE" -c "$CONF" --job kp </dev/null >"$T_OUT/kp.out" 2>"$T_OUT/kp.err" &
PRE=$!
t_bg_register "$PRE"
if wait_for "create printed its path" 1500 test -e "$T_OUT/createp.pid.printed"; then
	# the run reads the line within milliseconds; give it up to 2 s, then kill it anyway
	wait_for "the record names the snapshot" 100 grep -q '^snapshot=' "$SF"
	CP=$(cat "$T_OUT/createp.pid")
	kill -KILL "$PRE"
	wait "$PRE" 2>/dev/null
	tap_ok "$(t_pid_gone "$CP" 250 && echo 0 || echo 1)" "SIGKILL after create printed: create dies with the run"
	tap_is "$(snaps_left)" 1 "SIGKILL after create printed: the snapshot it made is there"
	tap_like "$SF" "^snapshot=$SNAPS/rs0-kp" "SIGKILL after create printed: the record names it"
	tap_is "$(state_get "$SF" phase):$(sim_lockcount 2)" "LOCKED:1" "SIGKILL after create printed: LOCKED record, member locked"
	t_run kp-post "$MBH_POST" -c "$CONF"
	t_rc_is 0 "SIGKILL after create printed: post exits 0" kp-post
	tap_like "$T_OUT/kp-post.err" "removed the snapshot $SNAPS/rs0-kp" "SIGKILL after create printed: post removed the snapshot"
	clean "SIGKILL after create printed"
else
	tap_fail "SIGKILL after create printed: create printed its path"
	t_kill "$PRE"
fi
snap_config

# ---- SIGKILL / SIGTERM of --exec while its command reads the snapshot
for sig in KILL TERM; do
	rm -f "$T_OUT/cmd.pid"
	"$MBH_PRE" -c "$CONF" --job "x$sig" --exec -- sh -c 'echo $$ >"$1.tmp"; mv "$1.tmp" "$1"; exec sleep 300' sh \
		"$T_OUT/cmd.pid" </dev/null >"$T_OUT/x$sig.out" 2>"$T_OUT/x$sig.err" &
	PRE=$!
	t_bg_register "$PRE"
	if wait_for "the command started" 1500 test -s "$T_OUT/cmd.pid"; then
		CMD=$(cat "$T_OUT/cmd.pid")
		t_run "x$sig-status" "$MBH_POST" -c "$CONF" --status
		tap_like "$T_OUT/x$sig-status.out" "^command: +pid $CMD \\(running\\)" "SIG$sig of --exec: --status shows the command reading the snapshot"
		tap_is "$(sim_lockcount 2)" 0 "SIG$sig of --exec: the member is unlocked while the command runs"
		kill "-$sig" "$PRE"
		wait "$PRE" 2>/dev/null
		tap_ok "$(t_pid_gone "$CMD" 250 && echo 0 || echo 1)" "SIG$sig of --exec: the command is gone"
		if [ "$sig" = KILL ]; then
			tap_is "$(state_get "$SF" phase)" SNAPSHOT "SIGKILL of --exec: the SNAPSHOT record stays"
			t_run "x$sig-post" "$MBH_POST" -c "$CONF"
			t_rc_is 0 "SIGKILL of --exec: post exits 0" "x$sig-post"
		else
			tap_like "$T_OUT/x$sig.err" "removed the snapshot" "SIGTERM of --exec: it removes the snapshot itself"
		fi
		clean "SIG$sig of --exec"
	else
		tap_fail "SIG$sig of --exec: the command started"
		t_kill "$PRE"
	fi
done

sim_stop
tap_done
