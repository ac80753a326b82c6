#!/bin/bash
# plugin-snapshot.sh: the plugin in snapshot mode, driven by the fake file daemon: the member is locked
# only while snapshot.create runs and unlocked before script.backup starts; script.backup gets %S and
# MONGO_BACKUP_SNAPSHOT; the stream is the snapshot's content; the snapshot is removed at the end of
# the stream, after a failed command and when create fails; the job log says each step.
# The snapshot script is the tests' cp -a stand-in (tests/integration/snapshot-cp.sh).
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
p_init

p_start_rs0
SNAP_CP=$top_srcdir/tests/integration/snapshot-cp.sh
SRC=$T_DIR/member-data
SNAPS=$T_DIR/snaps
mkdir -p "$SRC" "$SNAPS"
head -c 300007 /dev/urandom >"$SRC/collection.wt"
export SNAPTEST_LOG=$T_OUT/snap.log SNAPTEST_SIM=$MBH_SIM SNAPTEST_CTL=$SIM_CTL
: >"$SNAPTEST_LOG"

# The backup command: notes its argv, environment and the set's lockCounts, then streams the snapshot's file.
cat >"$T_DIR/dump.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$T_OUT/dump.argv"
env >"$T_OUT/dump.env"
"$MBH_SIM" ctl "$SIM_CTL" status >"$T_OUT/dump.status"
exec cat "\$1/collection.wt"
EOF
chmod +x "$T_DIR/dump.sh"

# snap_config BACKUP-SCRIPT: the config in snapshot mode.
snap_config() {
	t_config "$CONF" "script = { backup = [ \"$1\", \"%S\" ]; };
snapshot = { create = [ \"$SNAP_CP\", \"create\", \"$SRC\", \"$SNAPS\", \"%s-%j\" ];
             remove = [ \"$SNAP_CP\", \"remove\", \"%S\" ]; timeout = 10; };"
}
snaps_left() { find "$SNAPS" -mindepth 1 -maxdepth 1 | wc -l; }

# after NAME: nothing locked, no record, no snapshot, no watchdog left.
after() {
	t_assert_unlocked "$1: every member unlocked afterwards"
	t_assert_no_state "$1: no state record left"
	tap_is "$(snaps_left)" 0 "$1: no snapshot left"
	p_assert_no_watchdog "$1"
	rm -rf "${SNAPS:?}"/*
	: >"$SNAPTEST_LOG"
}

# ---------------------------------------------------------------- the normal path
snap_config "$T_DIR/dump.sh"
fd_run ok backup --cmd "$CMD" --out "$T_OUT/ok.data" --name nightly
fd_status_is ok 1 T "snapshot backup: the job ends T"
tap_is "$(fd_field ok 1 bytes)" 300007 "snapshot backup: 300007 bytes"
tap_ok "$(cmp -s "$SRC/collection.wt" "$T_OUT/ok.data" && echo 0 || echo 1)" \
	"snapshot backup: the stream is the snapshot's file, byte for byte"
tap_is "$(fd_count ok 1 M_FATAL)$(fd_count ok 1 M_ERROR)$(fd_count ok 1 M_WARNING)" 000 "snapshot backup: no error or warning"
snap=$(sed -n 1p "$T_OUT/dump.argv")
tap_like "$T_OUT/dump.argv" "^$SNAPS/rs0-nightly\\." "script.backup's %S is the path create printed ($snap)"
tap_like "$T_OUT/dump.env" "^MONGO_BACKUP_SNAPSHOT=$snap\$" "script.backup's environment has MONGO_BACKUP_SNAPSHOT"
tap_like "$SNAPTEST_LOG" "^status: .*2:1 " "the member is locked while snapshot.create runs"
tap_like "$T_OUT/dump.status" "^id=2 .* lockCount=0 " "the member is unlocked before script.backup starts"
tap_like "$T_OUT/ok.out" "^job 1: M_INFO: mongo-fd: snapshot $snap of $H2 taken in [0-9]+ ms, then unlocked at once" \
	"job log: the snapshot and the unlock right after it"
tap_like "$T_OUT/ok.out" "^job 1: M_INFO: mongo-fd: started .*dump\\.sh \\(pid [0-9]+\\) reading the snapshot $snap\$" \
	"job log: the command reads the snapshot"
tap_like "$T_OUT/ok.out" "^job 1: M_INFO: mongo-fd: removed the snapshot $snap" "job log: the snapshot removed"
tap_like "$T_OUT/ok.out" "^job 1: M_INFO: mongo-fd: 300007 bytes streamed from the snapshot $snap of $H2" \
	"job log: the bytes streamed from the snapshot"
tap_unlike "$T_OUT/ok.out" "was locked for" "job log: no lock held over the stream is claimed"
tap_like "$SNAPTEST_LOG" "^remove $snap " "snapshot.remove ran on that path"
after "snapshot backup"

# ---------------------------------------------------------------- the command fails: the snapshot still goes
printf '#!/bin/sh\necho partial\nexit 3\n' >"$T_DIR/fail.sh"
chmod +x "$T_DIR/fail.sh"
snap_config "$T_DIR/fail.sh"
fd_run fail backup --cmd "$CMD" --out "$T_OUT/fail.data"
fd_status_is fail 1 f "failing command: the job fails (f)"
tap_like "$T_OUT/fail.out" "^job 1: M_FATAL: mongo-fd: the backup command fail\\.sh exited with status 3" \
	"failing command: it says why"
tap_like "$T_OUT/fail.out" "removed the snapshot $SNAPS/" "failing command: the snapshot is removed"
after "failing command"

# ---------------------------------------------------------------- create fails: nothing stays locked or made
snap_config "$T_DIR/dump.sh"
rm -f "$T_OUT/dump.status"
SNAPTEST_FAULT=create-fail fd_run cfail backup --cmd "$CMD" --out "$T_OUT/cfail.data"
fd_status_is cfail 1 f "create fails: the job fails (f)"
tap_is "$(fd_count cfail 1 M_FATAL)" 1 "create fails: one fatal message"
tap_like "$T_OUT/cfail.out" "^job 1: M_FATAL: mongo-fd: unlocked $H2 again: snapshot\\.create" \
	"create fails: the message names snapshot.create and that the member was unlocked again"
tap_unlike "$T_OUT/cfail.out" "nothing was locked" "create fails: it never says nothing was locked (create ran under the lock)"
tap_like "$T_OUT/cfail.out" "unlocked $H2" "create fails: the member was unlocked again"
tap_ok "$([ -e "$T_OUT/dump.status" ] && echo 1 || echo 0)" "create fails: script.backup never ran"
after "create fails"

# ---------------------------------------------------------------- the job ends before the stream: the end of job removes it
fd_run early backup --cmd "$CMD" --out "$T_OUT/early.data" --skip-io
tap_like "$T_OUT/early.out" "M_WARNING: mongo-fd: the job ended with the snapshot of $H2 still there: removing it now" \
	"end of job before the stream: it says the snapshot is removed"
tap_like "$T_OUT/early.out" "removed the snapshot $SNAPS/" "end of job before the stream: it is removed"
after "end of job before the stream"

sim_stop
tap_done
