#!/bin/bash
# plugin-fdkill.sh: bacula-fd is SIGKILLed while a plugin-mode job streams: the backup command dies with
# it, the lock outlives it, and the watchdog program unlocks the member at lock.max_seconds, removes
# the record and says so in the state directory's events file.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/fdplugin.sh"
fp_init
tap_plan 10
SECONDS=0
MAX=5
# the lock's seconds count 500 ms in a test build (MBH_TEST_SECOND_MS, read by the plugin in bacula-fd
# and handed on to the watchdog): 2.5 s, room for the checks while it is held
export MBH_TEST_SECOND_MS=500

sim_start_pss
H2=$(sim_member_host 2)

fp_hang_job "$MAX"
bacula_start || { echo "Bail out! the Bacula daemons do not start"; exit 1; }
tap_pass "the Bacula daemons listen on 127.0.0.1"

JOB=$(fp_start_job mongo-hang)
fp_wait_file "$T_OUT/hang.pid" 60
CMD_PID=$(cat "$T_OUT/hang.pid" 2>/dev/null)
t_note_watchdogs
WD=$(state_get "$T_STATE/rs0.state" watchdog_pid)
tap_is "$(sim_lockcount 2)" 1 "job ${JOB:-none}: member 2 is locked while the command streams"
tap_ok "$(t_is_ours "$WD" && echo 0 || echo 1)" "the watchdog (pid ${WD:-none}) guards the lock"
{ kill -KILL "$BACULA_FD_PID"; wait "$BACULA_FD_PID"; } 2>/dev/null
killed=$SECONDS
tap_ok "$(t_pid_gone "$CMD_PID" 250 && echo 0 || echo 1)" "the backup command dies with bacula-fd"
tap_is "$(sim_lockcount 2)" 1 "the lock outlives bacula-fd"
tap_ok "$(t_pid_gone "$WD" $(((MAX + 15) * 50)) && echo 0 || echo 1)" "the watchdog unlocks and exits"
tap_ok "$([ $((SECONDS - killed)) -le $((MAX + 3)) ] && echo 0 || echo 1)" \
	"... by lock.max_seconds ($MAX s; $((SECONDS - killed)) s after the kill)"
t_assert_unlocked "no member is locked afterwards"
t_assert_no_state "no state record is left"
tap_like "$T_STATE/rs0.events" "$H2 .*outlived lock.max_seconds; the watchdog unlocked it" \
	"the events file says the watchdog unlocked $H2"

bacula_stop
tap_diag "elapsed: ${SECONDS} s"
tap_done
