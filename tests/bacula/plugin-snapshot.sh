#!/bin/bash
# plugin-snapshot.sh: plugin mode with a snapshot group in a real Bacula job, on the filesystem that
# SNAPSHOT_FS names (plugin-snapshot-btrfs.sh is this scenario with SNAPSHOT_FS=btrfs):
#   cp     (the default) the tests' cp -a stand-in copies member 2's data directory;
#   btrfs  the shipped conf/scripts/snapshot-btrfs on a real btrfs filesystem (a loop device, as root;
#          skipped, saying why, where the machine refuses loop devices or mounts), member 2's data
#          directory a subvolume; the command must read a read-only snapshot and no subvolume may stay.
# A writer keeps the primary busy; mongo-fd.so locks member 2 only while snapshot.create runs and
# unlocks it before the backup command tars the snapshot (%S); the job ends T with the snapshot's
# bytes; the job log shows the snapshot, the unlock right after it, the bytes streamed from it and its
# removal; a restore through the restore command gives a copy that `mongo-rs-sim verify` finds whole;
# no snapshot, lock or record is left.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/fdplugin.sh"

# ---- what differs by filesystem: the snapshot program, where the data lives, the extra checks
SNAPSHOT_FS=${SNAPSHOT_FS:-cp}
case $SNAPSHOT_FS in
cp)
	fp_init
	tap_plan 23
	DATA=$T_DIR/data
	SNAPS=$T_DIR/snaps
	mkdir "$DATA" "$SNAPS"
	SNAP_PROG=$top_srcdir/tests/integration/snapshot-cp.sh
	SNAP_TIMEOUT=60
	LOCK_MAX_MS=10000 # the lock lasts the copy of a small data directory
	JOBNAME=mongo-snapshot
	PROBE_RO=""
	FS_WHAT="the cp -a copy"
	;;
btrfs)
	t_btrfs_needs
	fp_init
	# the daemons, the writer and the simulator first (they hold files on the mount), then the mount
	# and the loop device this test made, then simlib's cleanup of the temp dir
	btrfs_bacula_cleanup() {
		local rc=$?
		trap - EXIT
		bacula_stop_all
		sim_stop >/dev/null 2>&1
		t_btrfs_unmount
		(exit "$rc")
		t_cleanup
	}
	trap btrfs_bacula_cleanup EXIT
	t_btrfs_mount
	tap_plan 26
	DATA=$MNT/data
	SNAPS=$MNT/snapshots
	mkdir "$DATA" "$SNAPS" "$DATA/0" "$DATA/1"
	# member 2, the one that gets locked, keeps its dbPath on a subvolume of its own
	btrfs subvolume create "$DATA/2" >/dev/null
	tap_ok $? "btrfs on $LOOP mounted; member 2's data directory is a subvolume"
	SNAP_PROG=$top_srcdir/conf/scripts/snapshot-btrfs
	SNAP_TIMEOUT=30
	LOCK_MAX_MS=1000 # a btrfs snapshot takes milliseconds
	JOBNAME=mongo-btrfs
	PROBE_RO="btrfs property get -ts \"\$1\" ro >\"$T_OUT/snapshot.ro\" 2>&1"
	FS_WHAT="the btrfs snapshot"
	;;
*)
	echo "Bail out! SNAPSHOT_FS=$SNAPSHOT_FS: use cp or btrfs"
	exit 1
	;;
esac
SECONDS=0

TOPO_NOOP_MS=200 sim_start_pss --data-dir "$DATA"
H2=$(sim_member_host 2)

# The backup command: the snapshot (its path in $1) as a tar stream (a copy kept to compare), with the
# set's state (and on btrfs the snapshot's read-only property) as it starts.  The restore command: the
# stream unpacked under where.
cat >"$T_DIR/tar-snapshot.sh" <<EOF
#!/bin/sh
"$MBH_SIM" ctl "$SIM_CTL" status >"$T_OUT/before.status"
echo "\$1 \$MONGO_BACKUP_SNAPSHOT" >"$T_OUT/snapshot.arg"
$PROBE_RO
tar -C "\$1" -cf - . | tee "$T_OUT/backup.tar"
EOF
chmod +x "$T_DIR/tar-snapshot.sh"
fp_write_untar "$T_DIR/untar.sh"
CONF=$T_DIR/rs0.conf
t_config "$CONF" 'lock = { max_seconds = 300; };' \
	"script = { backup = [ \"$T_DIR/tar-snapshot.sh\", \"%S\" ]; restore = [ \"$T_DIR/untar.sh\" ]; timeout = 120; };" \
	"snapshot = { create = [ \"$SNAP_PROG\", \"create\", \"$DATA/2\", \"$SNAPS\", \"%s-%j\" ];
	              remove = [ \"$SNAP_PROG\", \"remove\", \"%S\" ]; timeout = $SNAP_TIMEOUT; };"
{
	fp_fileset mongo-rs0 "mongo: config=$CONF"
	fp_job "$JOBNAME" mongo-rs0
} >"$BACULA_ETC/jobs.conf"
bacula_start || { echo "Bail out! the Bacula daemons do not start"; exit 1; }
tap_pass "bacula-sd, bacula-fd (with mongo-fd.so) and bacula-dir listen on 127.0.0.1"

# A writer keeps the primary busy from before the job until after the restore (bounded: 120 s).
bacula_writer_start
sim_ctl write 100 >/dev/null
tap_ok $? "the writer and 100 more writes keep the primary busy"

# ---- the backup
t0=$SECONDS
JOB=$(bacula_run_job "$JOBNAME")
tap_ok $? "job $JOBNAME runs to its end (JobId ${JOB:-none}, $((SECONDS - t0)) s)"
LOG=$T_OUT/job.log
bacula_job_log "$JOB" >"$LOG"
tap_is "$(bacula_job_status "$JOB")" T "the job ends with JobStatus T" || bacula_diag_job "$JOB"
tap_is "$(fp_job_field "$JOB" JobFiles) $(fp_job_field "$JOB" JobErrors)" "1 0" "one file, no errors"
SIZE=$(stat -c %s "$T_OUT/backup.tar" 2>/dev/null)
tap_is "$(fp_job_field "$JOB" JobBytes)" "$SIZE" "JobBytes is the size of the command's output ($SIZE)"
SNAP="" SNAPENV=""
[ -f "$T_OUT/snapshot.arg" ] && read -r SNAP SNAPENV <"$T_OUT/snapshot.arg"
case $SNAP in
"$SNAPS"/rs0-"$JOBNAME".*) [ "$SNAP" = "$SNAPENV" ]; tap_ok $? "the command got the snapshot's path as %S and MONGO_BACKUP_SNAPSHOT ($SNAP)" ;;
*) tap_fail "the command got the snapshot's path as %S and MONGO_BACKUP_SNAPSHOT (got '$SNAP')" ;;
esac
[ "$SNAPSHOT_FS" != btrfs ] ||
	tap_is "$(cat "$T_OUT/snapshot.ro" 2>/dev/null)" "ro=true" "the command read a read-only btrfs snapshot"
tap_like "$LOG" "mongo-fd: snapshot $SNAP of $H2 taken in [0-9]+ ms, then unlocked at once \\(lockCount 1\\)" \
	"job log: the snapshot, taken under the lock, then the unlock"
tap_like "$LOG" "mongo-fd: started .*tar-snapshot\\.sh \\(pid [0-9]+\\) reading the snapshot $SNAP" \
	"job log: the command reads the snapshot"
tap_like "$LOG" "mongo-fd: $SIZE bytes streamed from the snapshot $SNAP of $H2" "job log: the bytes streamed from the snapshot"
tap_like "$LOG" "mongo-fd: removed the snapshot $SNAP" "job log: the snapshot removed"
tap_like "$T_OUT/before.status" "^id=2 .* lockCount=0 " "member 2 is unlocked when the command starts"
W=$(sim_lock_window_ms 2)
tap_ok "$([ "$W" -ge 0 ] && [ "$W" -le "$LOCK_MAX_MS" ] && echo 0 || echo 1)" \
	"the lock lasted $W ms by the simulator's clock (lock to unlock; bound $LOCK_MAX_MS ms)"
tap_ok "$([ -n "$SNAP" ] && [ -z "$(find "$SNAPS" -mindepth 1 -maxdepth 1)" ] && echo 0 || echo 1)" \
	"the snapshot is gone after the job ($SNAPS is empty)"
[ "$SNAPSHOT_FS" != btrfs ] ||
	tap_is "$(btrfs subvolume list "$MNT" 2>/dev/null | grep -c " path snapshots/")" 0 "no subvolume left under $SNAPS"
t_assert_unlocked "after the job no member is locked"
t_assert_no_state "after the job no state record is left"

# ---- the restore through the restore command
fp_restore_verify "$JOB" "$FS_WHAT"
t_assert_unlocked "after the restore no member is locked"
tap_is "$(grep -c ':' "$T_STATE/rs0.events" 2>/dev/null || echo 0)" 0 "the watchdog never had to act"

bacula_writer_stop
bacula_stop
tap_ok "$([ -z "$(t_alive_entries .bacula)" ] && echo 0 || echo 1)" "the Bacula daemons stopped on SIGTERM"
tap_diag "elapsed: ${SECONDS} s"
tap_done
