#!/bin/bash
# hooks-job.sh: hooks mode in a real Bacula job, as the README shows it: RunScript Before
# `mongo-prebackup -c CONF --job %j`, RunScript After (RunsOnSuccess and RunsOnFailure) `mongo-postbackup
# -c CONF --job %j`, and a FileSet with the locked member's data directory, on a simulated replica set
# whose primary takes writes throughout.  The job ends T, its restore is a whole copy of the member at
# lock time, and nothing stays locked.  When the pre-backup fails (no eligible member; the member held
# by another tool) the job ends f, the reason is in the job's log, and the job locks and unlocks
# nothing; when the job breaks after the lock, the post-backup (RunsOnFailure) still unlocks.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/baculalib.sh"
t_init
bacula_init
tap_plan 45
SECONDS=0

# ---- the replica set: primary, electable secondary, passive secondary (the one auto picks), data dirs
DATA=$T_DIR/data
mkdir "$DATA"
TOPO_NOOP_MS=200 sim_start_pss --data-dir "$DATA"
H2=$(sim_member_host 2)

CONF=$T_DIR/rs0.conf
t_config "$CONF" 'lock = { max_seconds = 300; };'
# no member carries this tag: the pre-backup must find no eligible member
NOONE=$T_DIR/rs0-noone.conf
t_config "$NOONE" 'lock = { max_seconds = 300; };' 'selection = { tags = { dc = "nowhere"; }; };'

# verify_dir DIR: run `mongo-rs-sim verify DIR`; sets VERIFY_RC, VERIFY_OUT, VERIFY_RECORDS, VERIFY_OPTIME.
verify_dir() {
	VERIFY_OUT=$(timeout -k 2 30 "$MBH_SIM" verify "$1" 2>&1)
	VERIFY_RC=$?
	VERIFY_RECORDS=$(printf '%s\n' "$VERIFY_OUT" | sed -n 's/^ok records=\([0-9]*\) .*/\1/p' | head -n 1)
	VERIFY_OPTIME=$(printf '%s\n' "$VERIFY_OUT" | sed -n 's/^ok .*last_optime=\([0-9]*:[0-9]*\).*/\1/p' | head -n 1)
}

# records DIR: the record count of a whole data directory (empty when it is not whole).
records() {
	verify_dir "$1"
	echo "$VERIFY_RECORDS"
}

# live_records DIR: the record count of a directory that is being written (the primary's): verify
# reads it file by file and can catch it between two writes, so retry (bounded, 10 s) until it is whole.
live_records() {
	local deadline=$((SECONDS + 10)) r
	while [ "$SECONDS" -lt "$deadline" ]; do
		r=$(records "$1")
		[ -n "$r" ] && { echo "$r"; return 0; }
		sleep 0.02
	done
	return 1
}

# wait_records DIR N [SECONDS]: wait (bounded by time, default 15 s, polling) until DIR holds at least N records.
wait_records() {
	local deadline=$((SECONDS + ${3:-15})) r
	while [ "$SECONDS" -lt "$deadline" ]; do
		r=$(records "$1")
		[ -n "$r" ] && [ "$r" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# ---- the Bacula jobs.  Besides the README's two RunScripts, the hooks job runs `mongo-rs-sim ctl status`
# once after the pre-backup and once before the post-backup (scripts of one kind run in the order
# written), so its log shows the set as the file daemon starts and stops reading the member.
STATUS_CMD="$MBH_SIM ctl $SIM_CTL status"
# runscript WHEN COMMAND: one client RunScript; the After ones run on success and on failure.
runscript() {
	echo "  RunScript {"
	echo "    RunsWhen = $1"
	echo "    RunsOnClient = yes"
	if [ "$1" = Before ]; then
		echo "    FailJobOnError = yes"
	else
		echo "    RunsOnSuccess = yes"
		echo "    RunsOnFailure = yes"
	fi
	echo "    Command = \"$2\""
	echo "  }"
}
# hooks_job NAME CONFIG [BEFORE [AFTER]]: the README's job; BEFORE runs right after the pre-backup
# and AFTER right before the post-backup, when given.
hooks_job() {
	echo "Job {"
	echo "  Name = \"$1\""
	echo "  JobDefs = \"t-defs\""
	echo "  FileSet = \"mongo-member2\""
	runscript Before "$MBH_PRE -c $2 --job %j"
	[ -z "${3:-}" ] || runscript Before "$3"
	[ -z "${4:-}" ] || runscript After "$4"
	runscript After "$MBH_POST -c $2 --job %j"
	echo "}"
}
{
	cat <<EOF
FileSet {
  Name = "mongo-member2"
  Include {
    Options {
      signature = MD5
    }
    File = "$DATA/2"
  }
}
EOF
	hooks_job mongo-hooks "$CONF" "$STATUS_CMD" "$STATUS_CMD"
	hooks_job mongo-noone "$NOONE"
	# the job fails after the lock was taken (a later Before script fails)
	hooks_job mongo-fails "$CONF" "/bin/sh -c 'echo the backup breaks after the lock; exit 3'"
} >"$BACULA_ETC/jobs.conf"

# the file daemon's environment is the test's plus what it asks for (the RunScripts inherit it)
BACULA_FD_ENV=(MBH_TEST_FD_ENV=hooks-job)
if ! bacula_start; then
	echo "Bail out! the Bacula daemons do not start"
	exit 1
fi
tap_pass "bacula-sd, bacula-fd and bacula-dir listen on 127.0.0.1:$BACULA_SD_PORT, :$BACULA_FD_PORT, :$BACULA_DIR_PORT"
tap_ok "$(tr '\0' '\n' <"/proc/$BACULA_FD_PID/environ" 2>/dev/null | grep -qx 'MBH_TEST_FD_ENV=hooks-job' && echo 0 || echo 1)" \
	"bacula-fd runs with the environment the test chose (BACULA_FD_ENV)"

# ---- a writer keeps the primary busy from before the first job to the end (bounded: 120 s)
R0=$(live_records "$DATA/0")
bacula_writer_start
wait_records "$DATA/0" $((${R0:-0} + 20))
tap_ok $? "the writer is writing to the primary"

# ---- case 1: the job as the README shows it
JOB=$(bacula_run_job mongo-hooks)
tap_ok $? "job mongo-hooks runs to its end (JobId ${JOB:-none})"
JOBLOG=$T_OUT/job-hooks.log
bacula_job_log "$JOB" >"$JOBLOG"
tap_is "$(bacula_job_status "$JOB")" T "the job ends with JobStatus T" || bacula_diag_job "$JOB"
tap_like "$JOBLOG" "ClientBeforeJob: .*locked $H2 .*for job mongo-hooks\." \
	"ClientBeforeJob: mongo-prebackup locked the passive member $H2 for this job (%j)"
tap_like "$JOBLOG" "ClientBeforeJob: id=2 .* lockCount=1 " \
	"ClientBeforeJob: member 2 is locked when the file daemon starts reading"
LOCK_OPTIME=$(sed -n 's/.*ClientBeforeJob: id=2 .* optime=\([0-9]*:[0-9]*\) .*/\1/p' "$JOBLOG" | head -n 1)
AFTER_OPTIME=$(sed -n 's/.*ClientAfterJob: id=2 .* optime=\([0-9]*:[0-9]*\) .*/\1/p' "$JOBLOG" | head -n 1)
tap_like "$JOBLOG" "ClientAfterJob: id=2 .* lockCount=1 " \
	"ClientAfterJob: member 2 is still locked when the file daemon has read everything"
tap_is "$AFTER_OPTIME" "$LOCK_OPTIME" "member 2's optime did not move while its files were read"
tap_like "$JOBLOG" "ClientAfterJob: .*unlocked $H2 " "ClientAfterJob: mongo-postbackup unlocked $H2"
FILES=$(bacula_sql "SELECT JobFiles || ' ' || JobErrors FROM Job WHERE JobId = $((JOB));")
tap_ok "$([ "${FILES%% *}" -gt 1 ] 2>/dev/null && echo 0 || echo 1)" "the job saved the member's files (JobFiles=${FILES%% *})"
tap_is "${FILES#* }" 0 "the job had no errors (JobErrors=0, not 'OK -- with warnings')"
t_assert_unlocked "after the job no member is locked (ctl status)"
t_assert_no_state "after the job no state record is left"

# ---- the restore: a whole copy of member 2 as it was at lock time, though the primary kept writing
WHERE=$T_DIR/where
RJOB=$(bacula_restore "$JOB" "$WHERE")
tap_ok $? "the restore of job $JOB runs to its end (JobId ${RJOB:-none})"
tap_is "$(bacula_job_status "$RJOB")" T "the restore ends with JobStatus T" || bacula_diag_job "$RJOB"
verify_dir "$WHERE$DATA/2"
COPY_RECORDS=$VERIFY_RECORDS
tap_is "$VERIFY_RC" 0 "mongo-rs-sim verify: the restored copy of member 2 is whole" || tap_diag "$VERIFY_OUT"
tap_is "$VERIFY_OPTIME" "$LOCK_OPTIME" "the restored copy ends at the optime member 2 had while locked"
P_RECORDS=$(live_records "$DATA/0")
tap_ok "$([ -n "$COPY_RECORDS" ] && [ -n "$P_RECORDS" ] && [ "$P_RECORDS" -gt "$COPY_RECORDS" ] && echo 0 || echo 1)" \
	"the primary took writes after the lock (${P_RECORDS:-?} records, the copy ${COPY_RECORDS:-?})"
wait_records "$DATA/2" "$P_RECORDS"
tap_ok $? "after the unlock member 2 applies the writes again"

# ---- case 2: the pre-backup finds no member it may lock: the job fails, says why, locks nothing
JOB2=$(bacula_run_job mongo-noone)
tap_ok $? "job mongo-noone runs to its end (JobId ${JOB2:-none})"
JOBLOG2=$T_OUT/job-noone.log
bacula_job_log "$JOB2" >"$JOBLOG2"
tap_is "$(bacula_job_status "$JOB2")" f "the job ends with JobStatus f (fatal)" || bacula_diag_job "$JOB2"
tap_like "$JOBLOG2" "ClientBeforeJob: .*no member of rs0 can be locked" \
	"ClientBeforeJob: the pre-backup's reason is in the job's log"
tap_like "$JOBLOG2" "ClientBeforeJob returned non-zero status=69" \
	"the job's log has the pre-backup's exit status 69 (EX_UNAVAILABLE)"
tap_like "$JOBLOG2" "Termination: +\*\*\* Backup Error \*\*\*" "the job's report says Backup Error"
tap_ok "$(grep -q 'ClientAfterJob' "$JOBLOG2" && echo 0 || echo 1)" \
	"the After script (RunsOnFailure = yes) ran" || tap_diag_file "$JOBLOG2"
tap_unlike "$JOBLOG2" "ClientAfterJob returned non-zero" "the post-backup exits 0 when nothing was locked"
FILES2=$(bacula_sql "SELECT JobFiles FROM Job WHERE JobId = $((JOB2));")
tap_is "$FILES2" 0 "the failed job saved no file"
t_assert_unlocked "after the failed job no member is locked (ctl status)"
t_assert_no_state "after the failed job no state record is left"

# ---- case 3: the job fails after the member was locked: RunsOnFailure = yes still unlocks it
JOB4=$(bacula_run_job mongo-fails)
tap_ok $? "job mongo-fails runs to its end (JobId ${JOB4:-none})"
JOBLOG4=$T_OUT/job-fails.log
bacula_job_log "$JOB4" >"$JOBLOG4"
tap_is "$(bacula_job_status "$JOB4")" f "a job that breaks after the lock ends with JobStatus f" || bacula_diag_job "$JOB4"
tap_like "$JOBLOG4" "ClientBeforeJob: .*locked $H2 " "ClientBeforeJob: the pre-backup locked $H2 first"
tap_like "$JOBLOG4" "ClientAfterJob: .*unlocked $H2 " "ClientAfterJob: the post-backup (RunsOnFailure = yes) unlocked it"
t_assert_unlocked "after the broken job no member is locked (ctl status)"
t_assert_no_state "after the broken job no state record is left"

# ---- case 4: another tool holds an fsync lock on the passive member.  The pre-backup refuses (that
# member is held by someone else: 75; or, were the electable one chosen instead, locking it too would
# stall majority writes: 69), the job fails, and the post-backup (RunsOnFailure) leaves that lock alone.
sim_ctl lock 2 >/dev/null
tap_ok $? "another tool fsync-locks member 2 (ctl lock 2)"
JOB3=$(bacula_run_job mongo-hooks)
tap_ok $? "job mongo-hooks runs to its end again (JobId ${JOB3:-none})"
JOBLOG3=$T_OUT/job-refused.log
bacula_job_log "$JOB3" >"$JOBLOG3"
tap_is "$(bacula_job_status "$JOB3")" f "with the set held by someone else the job ends with JobStatus f" || bacula_diag_job "$JOB3"
tap_like "$JOBLOG3" "ClientBeforeJob: mongo-prebackup: error: " "ClientBeforeJob: the pre-backup's one-line reason is in the job's log"
tap_like "$JOBLOG3" "ClientBeforeJob returned non-zero status=(69|75)" \
	"the job's log has the pre-backup's exit status (69 or 75)"
tap_is "$(sim_lockcounts)" "0:0 1:0 2:1" "only the other tool's lock is held after the job (the job locked nothing, unlocked nothing)"
t_assert_no_state "after the refused job no state record is left"
sim_ctl unlock 2 >/dev/null
t_assert_unlocked "after the other tool unlocks, no member is locked"

# ---- the end: writer, daemons, simulator, all by pid
bacula_writer_stop
bacula_stop
tap_ok "$([ -z "$(t_alive_entries .bacula)" ] && echo 0 || echo 1)" "the Bacula daemons stopped on SIGTERM"
tap_diag "elapsed: ${SECONDS} s"
tap_done
