#!/bin/bash
# plugin-job.sh: plugin mode in a real Bacula job.  A FileSet line `Plugin = "mongo: config=..."`;
# the backup command tars the locked member's data directory while the primary takes writes; the
# job ends T with one file /@mongo/SET/MEMBER/SCRIPT holding exactly the command's bytes; the job log
# shows the member and why, the lock and lockCount, the unlock, bytes and seconds; a restore streams
# the same bytes into the restore command, whose copy `mongo-rs-sim verify` finds whole and as of the
# lock; nothing stays locked.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/fdplugin.sh"
fp_init
tap_plan 24
SECONDS=0

DATA=$T_DIR/data
mkdir "$DATA"
TOPO_NOOP_MS=200 sim_start_pss --data-dir "$DATA"
H2=$(sim_member_host 2)

# The backup command: the locked member's data directory as a tar stream (a copy kept to compare), with
# the member's state just before and just after.  The restore command: the stream unpacked under where.
cat >"$T_DIR/tar-member.sh" <<EOF
#!/bin/sh
id=\$("$MBH_SIM" ctl "$SIM_CTL" status | sed -n "s/^id=\\([0-9]*\\) host=\$MONGO_BACKUP_HOST:\$MONGO_BACKUP_PORT .*/\\1/p")
[ -n "\$id" ] || { echo "no member \$MONGO_BACKUP_HOST:\$MONGO_BACKUP_PORT" >&2; exit 2; }
"$MBH_SIM" ctl "$SIM_CTL" status >"$T_OUT/before.status"
tar -C "$DATA/\$id" -cf - . | tee "$T_OUT/backup.tar"
rc=\$?
"$MBH_SIM" ctl "$SIM_CTL" status >"$T_OUT/after.status"
exit \$rc
EOF
chmod +x "$T_DIR/tar-member.sh"
fp_write_untar "$T_DIR/untar.sh"
CONF=$T_DIR/rs0.conf
t_config "$CONF" 'lock = { max_seconds = 300; };' \
	"script = { backup = [ \"$T_DIR/tar-member.sh\" ]; restore = [ \"$T_DIR/untar.sh\" ]; timeout = 120; };"
{
	fp_fileset mongo-rs0 "mongo: config=$CONF"
	fp_job mongo-plugin mongo-rs0
} >"$BACULA_ETC/jobs.conf"
bacula_start || { echo "Bail out! the Bacula daemons do not start"; exit 1; }
tap_pass "bacula-sd, bacula-fd (with mongo-fd.so) and bacula-dir listen on 127.0.0.1"

# A writer keeps the primary busy from before the job until after the restore (bounded: 120 s).
bacula_writer_start

# ---- the backup
t0=$SECONDS
JOB=$(bacula_run_job mongo-plugin)
tap_ok $? "job mongo-plugin runs to its end (JobId ${JOB:-none}, $((SECONDS - t0)) s)"
LOG=$T_OUT/job.log
bacula_job_log "$JOB" >"$LOG"
tap_is "$(bacula_job_status "$JOB")" T "the job ends with JobStatus T" || bacula_diag_job "$JOB"
tap_is "$(fp_job_field "$JOB" JobFiles) $(fp_job_field "$JOB" JobErrors)" "1 0" "one file, no errors (not 'OK -- with warnings')"
SIZE=$(stat -c %s "$T_OUT/backup.tar" 2>/dev/null)
tap_is "$(fp_job_field "$JOB" JobBytes)" "$SIZE" "JobBytes is the size of the command's output ($SIZE)"
tap_is "$(bacula_sql "SELECT Path.Path || File.Filename FROM File JOIN Path USING (PathId) WHERE File.JobId = $((JOB));" 2>/dev/null ||
	bacula_sql "SELECT Path.Path || Filename.Name FROM File JOIN Path USING (PathId) JOIN Filename USING (FilenameId) WHERE File.JobId = $((JOB));")" \
	"/@mongo/rs0/$H2/tar-member.sh" "the catalog has one file, /@mongo/rs0/$H2/tar-member.sh"
tap_like "$LOG" "mongo-fd: chose $H2 \\(priority 0.*\\), best of 2 eligible members" "job log: the member chosen and why"
tap_like "$LOG" "mongo-fd: locked $H2 \\(lockCount 1\\) for job mongo-plugin\\." "job log: the lock, its lockCount, the job (%j)"
tap_like "$LOG" "mongo-fd: unlocked $H2 \\(lockCount now 0\\)" "job log: the unlock"
tap_like "$LOG" "mongo-fd: $H2 was locked for [0-9.]+ s; $SIZE bytes streamed" "job log: seconds locked and bytes streamed"
tap_like "$T_OUT/before.status" "^id=2 .* lockCount=1 " "member 2 is locked when the command starts"
LOCK_OPTIME=$(sed -n 's/^id=2 .* optime=\([0-9]*:[0-9]*\) .*/\1/p' "$T_OUT/before.status")
tap_is "$(sed -n 's/^id=2 .* optime=\([0-9]*:[0-9]*\) .*/\1/p' "$T_OUT/after.status")" "$LOCK_OPTIME" \
	"member 2's optime did not move while the command read it"
t_assert_unlocked "after the job no member is locked"
t_assert_no_state "after the job no state record is left"

# ---- the restore through the restore command
fp_restore_verify "$JOB" "member 2"
RLOG=$T_OUT/restore.log
bacula_job_log "$RJOB" >"$RLOG"
tap_like "$RLOG" "mongo-fd: untar.sh accepted $SIZE bytes \\(status 0\\)" "restore log: the restore command accepted the stream"
tap_is "$(printf '%s\n' "$VERIFY_OUT" | sed -n 's/^ok .*last_optime=\([0-9]*:[0-9]*\).*/\1/p' | head -n 1)" "$LOCK_OPTIME" \
	"the restored copy ends at the optime member 2 had while locked"
tap_ok "$( [ ! -e "$WHERE/@mongo" ] && echo 0 || echo 1)" "with a restore command nothing is written as a file under where"
t_assert_unlocked "after the restore no member is locked"
tap_is "$(grep -c ':' "$T_STATE/rs0.events" 2>/dev/null || echo 0)" 0 "the watchdog never had to act"

bacula_writer_stop
bacula_stop
tap_ok "$([ -z "$(t_alive_entries .bacula)" ] && echo 0 || echo 1)" "the Bacula daemons stopped on SIGTERM"
tap_diag "elapsed: ${SECONDS} s"
tap_done
