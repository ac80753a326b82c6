#!/bin/bash
# plugin-cancel-partition.sh: a plugin-mode job cancelled from bconsole while its lock command waits on
# a partitioned member (the fsync ran, its reply does not come: `arm 2 fsync partition`), with real
# Bacula daemons: bconsole's cancel returns at once (not after the lock's network wait), and once the
# partition heals the lock that was taken is undone: lockCount 0, the job ends A, the watchdog gone, no
# record left, the backup command never started.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/fdplugin.sh"
fp_init
tap_plan 11
SECONDS=0
CANCEL_MAX_MS=5000 # the lock's own wait on the member is 120 s (socketTimeoutMS): far beyond this

sim_start_pss
fp_hang_job 600
now_ms() { echo $(($(date +%s%N) / 1000000)); }
locked2() { [ "$(sim_lockcount 2)" = 1 ]; }
unlocked2() { [ "$(sim_lockcount 2)" = 0 ]; }

bacula_start || { echo "Bail out! the Bacula daemons do not start"; exit 1; }
sim_ctl arm 2 fsync partition >/dev/null
JOB=$(fp_start_job mongo-hang)
wait_for "the fsync lock on member 2" 3000 locked2
tap_ok "$(locked2 && [ "$(sim_status_field 2 partitioned)" = 1 ] && echo 0 || echo 1)" \
	"member 2 took the lock and is partitioned before replying (job ${JOB:-none})"
WD=$(state_get "$T_STATE/rs0.state" watchdog_pid)
t_note_watchdogs
sleep 1 # the lock command is in flight: its reply is held back by the partition

t0=$(now_ms)
bacula_cancel "$JOB" >"$T_OUT/cancel.out"
crc=$?
cms=$(($(now_ms) - t0))
tap_ok "$([ "$crc" = 0 ] && [ "$cms" -le "$CANCEL_MAX_MS" ] && echo 0 || echo 1)" \
	"bconsole's cancel returns at once while the lock command waits on the partitioned member (${cms} ms; bound ${CANCEL_MAX_MS} ms)"
tap_like "$T_OUT/cancel.out" "Job \"mongo-hang[^\"]*\" marked to be cancel" "bconsole says the job is marked to be cancelled"
tap_is "$(sim_lockcount 2)" 1 "... the member is still locked while it is partitioned (nothing can reach it)"

sleep 1
sim_ctl heal 2 >/dev/null
t1=$(now_ms)
wait_for "the unlock after the partition healed" 1500 unlocked2
tap_ok "$(unlocked2 && echo 0 || echo 1)" "once the partition heals the member is unlocked ($(($(now_ms) - t1)) ms after the heal)"
bacula_wait_job "$JOB"
tap_ok $? "the cancelled job ends"
tap_is "$(bacula_job_status "$JOB")" A "the job ends with JobStatus A (canceled)" || bacula_diag_job "$JOB"
tap_ok "$(t_pid_gone "$WD" 250 && echo 0 || echo 1)" "the watchdog (pid ${WD:-none}) has exited"
t_assert_no_state "no state record left"
tap_ok "$([ ! -e "$T_OUT/hang.pid" ] && echo 0 || echo 1)" "the backup command never ran to its output"
t_assert_unlocked "no member is locked at the end"

bacula_stop
tap_diag "elapsed: ${SECONDS} s"
tap_done
