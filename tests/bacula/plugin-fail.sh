#!/bin/bash
# plugin-fail.sh: plugin-mode jobs that must fail in a real Bacula job, never end "OK": the backup
# command exits non-zero (JobStatus f, the reason in the job log, the member unlocked), and the lock is
# refused because someone else holds an fsync lock (f, the reason, nothing locked by the job).
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/fdplugin.sh"
fp_init
tap_plan 17
SECONDS=0

sim_start_pss
H2=$(sim_member_host 2)

printf '#!/bin/sh\nprintf "half a backup"\necho "dump failed: disk full" >&2\nexit 3\n' >"$T_DIR/fails.sh"
printf '#!/bin/sh\nprintf "a whole backup"\n' >"$T_DIR/works.sh"
chmod +x "$T_DIR/fails.sh" "$T_DIR/works.sh"
t_config "$T_DIR/fails.conf" "script = { backup = [ \"$T_DIR/fails.sh\" ]; };"
t_config "$T_DIR/works.conf" "script = { backup = [ \"$T_DIR/works.sh\" ]; };"
{
	fp_fileset fails "mongo: config=$T_DIR/fails.conf"
	fp_job mongo-fails fails
	fp_fileset works "mongo: config=$T_DIR/works.conf"
	fp_job mongo-works works
} >"$BACULA_ETC/jobs.conf"
bacula_start || { echo "Bail out! the Bacula daemons do not start"; exit 1; }
tap_pass "the Bacula daemons listen on 127.0.0.1"

# ---- case 3: the backup command fails
t0=$SECONDS
JOB=$(bacula_run_job mongo-fails)
tap_ok $? "job mongo-fails runs to its end (JobId ${JOB:-none}, $((SECONDS - t0)) s)"
LOG=$T_OUT/fails.log
bacula_job_log "$JOB" >"$LOG"
tap_is "$(bacula_job_status "$JOB")" f "a failing backup command: JobStatus f" || bacula_diag_job "$JOB"
tap_like "$LOG" "Fatal error: .*mongo-fd: the backup command fails.sh exited with status 3; the backup is incomplete; see its error output with: mongo-prebackup -c [^ ]+ --exec >/dev/null" \
	"the job log has the reason as a fatal error, with what to do"
tap_like "$LOG" "Termination: +\\*\\*\\* Backup Error \\*\\*\\*" "the job report says Backup Error"
tap_like "$LOG" "mongo-fd: locked $H2 \\(lockCount 1\\)" "the member was locked first"
tap_like "$LOG" "mongo-fd: unlocked $H2 \\(lockCount now 0\\)" "the job log shows the unlock"
t_assert_unlocked "after the failed job no member is locked"
t_assert_no_state "after the failed job no state record is left"

# ---- case 5: someone else holds an fsync lock on the member the job would lock
sim_ctl lock 2 >/dev/null
tap_ok $? "another tool fsync-locks member 2 (ctl lock 2)"
t0=$SECONDS
JOB2=$(bacula_run_job mongo-works)
tap_ok $? "job mongo-works runs to its end (JobId ${JOB2:-none}, $((SECONDS - t0)) s)"
LOG2=$T_OUT/refused.log
bacula_job_log "$JOB2" >"$LOG2"
tap_is "$(bacula_job_status "$JOB2")" f "a refused lock: JobStatus f" || bacula_diag_job "$JOB2"
tap_like "$LOG2" "Fatal error: .*mongo-fd: nothing was locked: " "the job log has the reason as a fatal error"
tap_is "$(fp_job_field "$JOB2" JobFiles)" 0 "the refused job saved no file"
tap_is "$(sim_lockcounts)" "0:0 1:0 2:1" "only the other tool's lock is held (the job locked and unlocked nothing)"
t_assert_no_state "after the refused job no state record is left"
sim_ctl unlock 2 >/dev/null

bacula_stop
tap_ok "$([ -z "$(t_alive_entries .bacula)" ] && echo 0 || echo 1)" "the Bacula daemons stopped on SIGTERM"
tap_diag "elapsed: ${SECONDS} s"
tap_done
