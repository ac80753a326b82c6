#!/bin/bash
# plugin-sdfail.sh: the end of the stream ends the lock, however it ends, with real Bacula daemons:
# bacula-sd killed mid-stream (bacula-fd: "Network send error to SD", the file closed before its end)
# and bacula-fd stopped gracefully mid-stream (SIGTERM, as a package upgrade does) each leave the
# member unlocked within seconds, not at lock.max_seconds, with the command gone and no record left.
# (What the job log says is asserted with the fake file daemon: tests/plugin/plugin-stream.sh.)
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/fdplugin.sh"
fp_init
tap_plan 12
SECONDS=0
MAX=120

sim_start_pss
H2=$(sim_member_host 2)

# A command that never stops writing (64 KiB every 50 ms), its pid in cmd.pid once 1 MiB is out.
cat >"$T_DIR/flow.sh" <<EOF
#!/bin/sh
head -c 1048576 /dev/zero
echo \$\$ >"$T_OUT/cmd.pid.tmp" && mv "$T_OUT/cmd.pid.tmp" "$T_OUT/cmd.pid"
while :; do
	head -c 65536 /dev/zero || exit 1
	sleep 0.05
done
EOF
chmod +x "$T_DIR/flow.sh"
fp_command_job flow "$MAX"

unlocked2() { [ "$(sim_lockcount 2)" = 0 ]; }

# ---------------------------------------------------------------- the storage daemon dies mid-stream
bacula_start || { echo "Bail out! the Bacula daemons do not start"; exit 1; }
JOB=$(fp_start_job mongo-flow)
fp_wait_file "$T_OUT/cmd.pid" 60
CMD_PID=$(cat "$T_OUT/cmd.pid" 2>/dev/null)
tap_is "$(sim_lockcount 2)" 1 "sd killed: member 2 is locked while the command streams (job ${JOB:-none})"
{ kill -KILL "$BACULA_SD_PID"; wait "$BACULA_SD_PID"; } 2>/dev/null
t0=$SECONDS
wait_for "the unlock after the sd died" 1500 unlocked2
took=$((SECONDS - t0))
tap_ok "$(unlocked2 && [ "$took" -le 20 ] && echo 0 || echo 1)" \
	"sd killed: the member is unlocked within seconds (${took} s; lock.max_seconds $MAX)"
tap_ok "$(t_pid_gone "$CMD_PID" 250 && echo 0 || echo 1)" "sd killed: the backup command is gone"
t_assert_no_state "sd killed: no state record left"
# (the director waits for the dead storage daemon for minutes: the job's messages reach its log only
# then, so what bacula-fd did is read from the member and the processes)
tap_ok "$(kill -0 "$BACULA_FD_PID" 2>/dev/null && echo 0 || echo 1)" "sd killed: bacula-fd still runs"
bacula_stop

# ---------------------------------------------------------------- bacula-fd stopped (SIGTERM) mid-stream
rm -f "$T_OUT/cmd.pid"
bacula_start || { echo "Bail out! the Bacula daemons do not start again"; exit 1; }
JOB=$(fp_start_job mongo-flow)
fp_wait_file "$T_OUT/cmd.pid" 60
CMD_PID=$(cat "$T_OUT/cmd.pid" 2>/dev/null)
t_note_watchdogs
WD=$(state_get "$T_STATE/rs0.state" watchdog_pid)
tap_is "$(sim_lockcount 2)" 1 "fd SIGTERM: member 2 is locked while the command streams (job ${JOB:-none})"
t0=$SECONDS
kill -TERM "$BACULA_FD_PID"
t_pid_gone "$BACULA_FD_PID" 1000
wait "$BACULA_FD_PID" 2>/dev/null
tap_ok "$(unlocked2 && echo 0 || echo 1)" \
	"fd SIGTERM: unlocked by the time bacula-fd has exited ($((SECONDS - t0)) s; lock.max_seconds $MAX)"
tap_ok "$([ $((SECONDS - t0)) -le 20 ] && echo 0 || echo 1)" "fd SIGTERM: bacula-fd exits within seconds"
tap_ok "$(t_pid_gone "$CMD_PID" 250 && echo 0 || echo 1)" "fd SIGTERM: the backup command is gone"
t_assert_no_state "fd SIGTERM: no state record left"
tap_ok "$(t_pid_gone "$WD" 250 && echo 0 || echo 1)" "fd SIGTERM: the watchdog (pid ${WD:-none}) has exited"
t_assert_unlocked "no member is locked at the end"

bacula_stop
tap_diag "elapsed: ${SECONDS} s"
tap_done
