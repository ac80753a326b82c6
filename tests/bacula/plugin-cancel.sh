#!/bin/bash
# plugin-cancel.sh: a plugin-mode job cancelled from bconsole while its backup command streams: JobStatus
# A, the command is gone, the member is unlocked at once (not at lock.max_seconds), no record is left.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/fdplugin.sh"
fp_init
tap_plan 11
SECONDS=0

sim_start_pss
H2=$(sim_member_host 2)

fp_hang_job 600
bacula_start || { echo "Bail out! the Bacula daemons do not start"; exit 1; }
tap_pass "the Bacula daemons listen on 127.0.0.1"

JOB=$(fp_start_job mongo-hang)
tap_ok "$([ -n "$JOB" ] && echo 0 || echo 1)" "job mongo-hang is queued (JobId ${JOB:-none})"
fp_wait_file "$T_OUT/hang.pid" 60
CMD_PID=$(cat "$T_OUT/hang.pid" 2>/dev/null)
tap_is "$(sim_lockcount 2)" 1 "member 2 is locked while the command streams (pid ${CMD_PID:-none})"
t0=$(date +%s%N)
bacula_cancel "$JOB" >"$T_OUT/cancel.out"
bacula_wait_job "$JOB"
tap_ok $? "the cancelled job ends ($((($(date +%s%N) - t0) / 1000000)) ms after the cancel)"
LOG=$T_OUT/job.log
bacula_job_log "$JOB" >"$LOG"
tap_is "$(bacula_job_status "$JOB")" A "the job ends with JobStatus A (canceled)" || bacula_diag_job "$JOB"
# bacula-fd may drop a message sent at the very moment the job turns canceled (seen once in a fresh
# Debian root: "cancel received" missing, the lines of the unlock it caused present)
tap_like "$LOG" "mongo-fd: (cancel received: stopping the command and unlocking|killed the command still running under the lock)" \
	"the job log says what the cancel does"
tap_like "$LOG" "mongo-fd: unlocked $H2 \\(lockCount now 0\\)" "the job log shows the unlock"
tap_ok "$(t_pid_gone "$CMD_PID" 250 && echo 0 || echo 1)" "the backup command is gone"
t_assert_unlocked "after the cancel no member is locked"
t_assert_no_state "after the cancel no state record is left"

bacula_stop
tap_ok "$([ -z "$(t_alive_entries .bacula)" ] && echo 0 || echo 1)" "the Bacula daemons stopped on SIGTERM"
tap_diag "elapsed: ${SECONDS} s"
tap_done
