#!/bin/bash
# hooks-snapshot-btrfs.sh: snapshot mode on a real btrfs filesystem (a loop device, as root) with the
# shipped conf/scripts/snapshot-btrfs: the locked member's data directory is a subvolume, a writer keeps
# the primary busy; mongo-prebackup snapshots and unlocks at once (lockCount 0 while the record says
# SNAPSHOT); the backup copies the snapshot and `mongo-rs-sim verify` says it is whole; mongo-postbackup
# deletes the snapshot.  The same through --exec.  Skipped, saying why, where the machine refuses loop
# devices or mounts (hooks-snapshot.sh runs every path with a cp -a stand-in).
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/sim-harness.sh"

t_btrfs_needs
t_init
T_TIMEOUT=60

WRITER=""
# btrfs_cleanup: stop what holds files on the mount, unmount and detach what this test made, then the rest.
btrfs_cleanup() {
	local rc=$?
	[ -z "$WRITER" ] || { kill -TERM "$WRITER" 2>/dev/null; wait "$WRITER" 2>/dev/null; }
	sim_stop >/dev/null 2>&1
	t_btrfs_unmount
	(exit "$rc")
	t_cleanup
}
trap btrfs_cleanup EXIT

# ---- a btrfs filesystem on a loop device
t_btrfs_mount

DATA=$MNT/data
SNAPS=$MNT/snapshots
SNAP_BTRFS=$top_srcdir/conf/scripts/snapshot-btrfs
CONF=$T_DIR/rs0.conf
SF=$T_STATE/rs0.state
mkdir "$DATA" "$SNAPS" "$DATA/0" "$DATA/1"
# member 2, the one that gets locked, keeps its dbPath on a subvolume of its own
btrfs subvolume create "$DATA/2" >/dev/null
tap_ok $? "btrfs on $LOOP mounted; member 2's data directory is a subvolume"

TOPO_NOOP_MS=200 t_topology "$T_DIR/topo.conf" \
	'{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
sim_start "$T_DIR/topo.conf" --data-dir "$DATA" || { tap_fail "the simulator starts"; tap_done; exit 1; }
H2=$(sim_member_host 2)
sim_ctl write 200 >/dev/null
simt_wait_records "$DATA/2" 200
tap_ok $? "member 2 holds 200 records on the subvolume"
t_config "$CONF" \
	"snapshot = { create = [ \"$SNAP_BTRFS\", \"create\", \"$DATA/2\", \"$SNAPS\", \"%s-%j\" ];
	  remove = [ \"$SNAP_BTRFS\", \"remove\", \"%S\" ]; timeout = 30; };"

# A bounded writer keeps the primary busy through everything below.
(
	i=0
	while [ "$i" -lt 3000 ]; do
		"$MBH_SIM" ctl "$SIM_CTL" write 1 >/dev/null 2>&1 || exit 0
		i=$((i + 1))
	done
) &
WRITER=$!
before=$(simt_records "$DATA/0")
simt_wait_records "$DATA/0" $((before + 10))
tap_ok $? "the writer keeps the primary busy"

# ---- hooks mode
t_run pre "$MBH_PRE" -c "$CONF" --job nightly
t_rc_is 0 "pre: exits 0" pre
SNAP=$(state_get "$SF" snapshot)
tap_is "$(state_get "$SF" phase)" SNAPSHOT "pre: the record says SNAPSHOT"
tap_like "$T_OUT/pre.err" "snapshot $SNAPS/rs0-nightly of $H2 taken" "pre: snapshot-btrfs printed the snapshot's path"
tap_is "$(sim_lockcount 2)" 0 "pre: member 2 is unlocked (lockCount 0) while the record says SNAPSHOT"
tap_is "$(state_get "$SF" lock_count)" 1 "pre: the lock it took returned lockCount 1"
tap_is "$(btrfs property get -ts "$SNAP" ro 2>/dev/null)" "ro=true" "the snapshot is a read-only btrfs subvolume"
W=$(sim_lock_window_ms 2)
tap_ok "$([ "$W" -ge 0 ] && [ "$W" -le 1000 ] && echo 0 || echo 1)" "the lock lasted $W ms by the simulator's clock (lock to unlock, 1 ms resolution)"
simt_verify "$SNAP"
AT_SNAP=$VERIFY_RECORDS
tap_is "$VERIFY_RC" 0 "mongo-rs-sim verify: the snapshot is whole ($VERIFY_OUT)"
simt_tree_sum "$SNAP" >"$T_DIR/snap.before"
simt_wait_records "$DATA/2" $((AT_SNAP + 20))
tap_ok $? "member 2 applies the writer's writes again after the snapshot"
cp -a "$SNAP" "$T_DIR/backup"
tap_ok $? "the backup copies the snapshot"
simt_verify "$T_DIR/backup"
tap_is "$VERIFY_RC:$VERIFY_RECORDS" "0:$AT_SNAP" "mongo-rs-sim verify on the copy: whole, as of the snapshot"
simt_tree_sum "$SNAP" >"$T_DIR/snap.after"
if cmp -s "$T_DIR/snap.before" "$T_DIR/snap.after"; then s=0; else s=1; fi
tap_ok "$s" "the snapshot did not change while the member went on writing"
t_run status "$MBH_POST" -c "$CONF" --status
tap_like "$T_OUT/status.out" "^snapshot: +$SNAP\$" "--status shows the snapshot"
t_run post "$MBH_POST" -c "$CONF" --job nightly
t_rc_is 0 "post: exits 0" post
tap_ok "$([ ! -e "$SNAP" ] && echo 0 || echo 1)" "post: the snapshot is deleted"
tap_is "$(btrfs subvolume list "$MNT" 2>/dev/null | grep -c " path snapshots/")" 0 "post: no subvolume left under $SNAPS"
t_assert_no_state "post: no record"
t_assert_unlocked "post: nothing locked"

# ---- --exec: lock, snapshot, unlock, CMD copies the snapshot, remove
t_run exec "$MBH_PRE" -c "$CONF" --job ex --exec -- sh -c \
	'"$1" ctl "$2" status >"$3"; echo "$MONGO_BACKUP_SNAPSHOT" >"$4"; cp -a "$MONGO_BACKUP_SNAPSHOT" "$5"' sh \
	"$MBH_SIM" "$SIM_CTL" "$T_OUT/exec.status" "$T_OUT/exec.snap" "$T_DIR/exec-backup"
t_rc_is 0 "--exec: exits 0" exec
tap_like "$T_OUT/exec.status" "^id=2 .* lockCount=0 " "--exec: member 2 is unlocked while the command copies"
simt_verify "$T_DIR/exec-backup"
tap_is "$VERIFY_RC" 0 "--exec: mongo-rs-sim verify on the command's copy: whole ($VERIFY_OUT)"
ES=$(cat "$T_OUT/exec.snap" 2>/dev/null)
tap_ok "$([ -n "$ES" ] && [ ! -e "$ES" ] && echo 0 || echo 1)" "--exec: the snapshot ($ES) is deleted afterwards"
W=$(sim_lock_window_ms 2)
tap_ok "$([ "$W" -ge 0 ] && [ "$W" -le 1000 ] && echo 0 || echo 1)" "--exec: the lock lasted $W ms by the simulator's clock"
t_assert_no_state "--exec: no record"
t_assert_unlocked "--exec: nothing locked"

# ---- snapshot-btrfs create fails (not a subvolume): unlocked again, nothing left
t_config "$T_DIR/bad.conf" \
	"snapshot = { create = [ \"$SNAP_BTRFS\", \"create\", \"$DATA/0\", \"$SNAPS\", \"%s-%j\" ];
	  remove = [ \"$SNAP_BTRFS\", \"remove\", \"%S\" ]; timeout = 30; };"
t_run bad "$MBH_PRE" -c "$T_DIR/bad.conf" --job bad
t_rc_is 75 "create on a directory that is no subvolume: exits 75" bad
tap_like "$T_OUT/bad.err" "^mongo-prebackup: error: unlocked $H2 again: snapshot\\.create \\(.*snapshot-btrfs\\) failed \\(exit 1\\)\$" \
	"  the error says create failed and the member is unlocked"
tap_like "$T_OUT/bad.err" "^ERROR: " "  btrfs's own message says why"
t_assert_unlocked "  nothing locked"
t_assert_no_state "  no record"
tap_is "$(ls "$SNAPS" | wc -l)" 0 "  nothing left in $SNAPS"

# ---- snapshot-btrfs remove deletes snapshots only, and is idempotent
t_run refuse "$SNAP_BTRFS" remove "$DATA/2"
t_rc_is 65 "snapshot-btrfs remove refuses a subvolume that is not a read-only snapshot" refuse
tap_ok "$([ -f "$DATA/2/MANIFEST" ] && echo 0 || echo 1)" "  and member 2's data is still there"
t_run gone "$SNAP_BTRFS" remove "$SNAPS/no-such-snapshot"
t_rc_is 0 "snapshot-btrfs remove of a path that is gone: exits 0" gone
t_run rel "$SNAP_BTRFS" remove "snapshots/x"
t_rc_is 65 "snapshot-btrfs remove of a relative path: exits 65" rel

kill -TERM "$WRITER" 2>/dev/null
wait "$WRITER" 2>/dev/null
WRITER=""
sim_stop
tap_is $? 0 "the simulator exits 0"
tap_done
