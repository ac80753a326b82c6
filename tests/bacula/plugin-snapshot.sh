#!/bin/bash
# plugin-snapshot.sh: plugin mode with a snapshot group in a real Bacula job.  The member is locked
# only while snapshot.create (the tests' cp -a stand-in) copies its data directory, and unlocked before
# the backup command tars the snapshot (%S); the job ends T with the snapshot's bytes; the job log shows
# the snapshot, the unlock right after it, the bytes streamed from it and its removal; a restore
# through the restore command gives a copy that `mongo-rs-sim verify` finds whole; no snapshot, lock
# or record is left.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/fdplugin.sh"
fp_init
tap_plan 21
SECONDS=0

DATA=$T_DIR/data
SNAPS=$T_DIR/snaps
mkdir "$DATA" "$SNAPS"
TOPO_NOOP_MS=200 sim_start_pss --data-dir "$DATA"
H2=$(sim_member_host 2)
SNAP_CP=$top_srcdir/tests/integration/snapshot-cp.sh

# The backup command: the snapshot (its path in $1) as a tar stream (a copy kept to compare), with the
# set's state as it starts.  The restore command: the stream unpacked under where.
cat >"$T_DIR/tar-snapshot.sh" <<EOF
#!/bin/sh
"$MBH_SIM" ctl "$SIM_CTL" status >"$T_OUT/before.status"
echo "\$1 \$MONGO_BACKUP_SNAPSHOT" >"$T_OUT/snapshot.arg"
tar -C "\$1" -cf - . | tee "$T_OUT/backup.tar"
EOF
chmod +x "$T_DIR/tar-snapshot.sh"
fp_write_untar "$T_DIR/untar.sh"
CONF=$T_DIR/rs0.conf
t_config "$CONF" 'lock = { max_seconds = 300; };' \
	"script = { backup = [ \"$T_DIR/tar-snapshot.sh\", \"%S\" ]; restore = [ \"$T_DIR/untar.sh\" ]; timeout = 120; };" \
	"snapshot = { create = [ \"$SNAP_CP\", \"create\", \"$DATA/2\", \"$SNAPS\", \"%s-%j\" ];
	              remove = [ \"$SNAP_CP\", \"remove\", \"%S\" ]; timeout = 60; };"
{
	fp_fileset mongo-rs0 "mongo: config=$CONF"
	fp_job mongo-snapshot mongo-rs0
} >"$BACULA_ETC/jobs.conf"
bacula_start || { echo "Bail out! the Bacula daemons do not start"; exit 1; }
tap_pass "bacula-sd, bacula-fd (with mongo-fd.so) and bacula-dir listen on 127.0.0.1"

# A writer keeps the primary busy from before the job until after the restore (bounded: 120 s).
bacula_writer_start

# ---- the backup
t0=$SECONDS
JOB=$(bacula_run_job mongo-snapshot)
tap_ok $? "job mongo-snapshot runs to its end (JobId ${JOB:-none}, $((SECONDS - t0)) s)"
LOG=$T_OUT/job.log
bacula_job_log "$JOB" >"$LOG"
tap_is "$(bacula_job_status "$JOB")" T "the job ends with JobStatus T" || bacula_diag_job "$JOB"
tap_is "$(fp_job_field "$JOB" JobFiles) $(fp_job_field "$JOB" JobErrors)" "1 0" "one file, no errors"
SIZE=$(stat -c %s "$T_OUT/backup.tar" 2>/dev/null)
tap_is "$(fp_job_field "$JOB" JobBytes)" "$SIZE" "JobBytes is the size of the command's output ($SIZE)"
SNAP="" SNAPENV=""
[ -f "$T_OUT/snapshot.arg" ] && read -r SNAP SNAPENV <"$T_OUT/snapshot.arg"
case $SNAP in
"$SNAPS"/rs0-mongo-snapshot.*) [ "$SNAP" = "$SNAPENV" ]; tap_ok $? "the command got the snapshot's path as %S and MONGO_BACKUP_SNAPSHOT ($SNAP)" ;;
*) tap_fail "the command got the snapshot's path as %S and MONGO_BACKUP_SNAPSHOT (got '$SNAP')" ;;
esac
tap_like "$LOG" "mongo-fd: snapshot $SNAP of $H2 taken in [0-9]+ ms, then unlocked at once \\(lockCount 1\\)" \
	"job log: the snapshot, taken under the lock, then the unlock"
tap_like "$LOG" "mongo-fd: started .*tar-snapshot\\.sh \\(pid [0-9]+\\) reading the snapshot $SNAP" \
	"job log: the command reads the snapshot"
tap_like "$LOG" "mongo-fd: $SIZE bytes streamed from the snapshot $SNAP of $H2" "job log: the bytes streamed from the snapshot"
tap_like "$LOG" "mongo-fd: removed the snapshot $SNAP" "job log: the snapshot removed"
tap_like "$T_OUT/before.status" "^id=2 .* lockCount=0 " "member 2 is unlocked when the command starts"
tap_ok "$([ -z "$(find "$SNAPS" -mindepth 1 -maxdepth 1)" ] && echo 0 || echo 1)" "the snapshot is gone after the job"
t_assert_unlocked "after the job no member is locked"
t_assert_no_state "after the job no state record is left"

# ---- the restore through the restore command
fp_restore_verify "$JOB" "the snapshot"
t_assert_unlocked "after the restore no member is locked"
tap_is "$(grep -c ':' "$T_STATE/rs0.events" 2>/dev/null || echo 0)" 0 "the watchdog never had to act"

bacula_writer_stop
bacula_stop
tap_ok "$([ -z "$(t_alive_entries .bacula)" ] && echo 0 || echo 1)" "the Bacula daemons stopped on SIGTERM"
tap_diag "elapsed: ${SECONDS} s"
tap_done
