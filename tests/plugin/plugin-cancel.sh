#!/bin/bash
# plugin-cancel.sh: a cancel from the daemon's second thread mid-stream kills the command and unlocks at
# once; a cancel during the lock leaves nothing locked and starts nothing; a file daemon that dies
# mid-stream (SIGKILL) leaves the unlock to the watchdog at lock.max_seconds.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
p_init

p_start_rs0

# A command that streams 200 KB, then hangs (its pid in hang.pid).
cat >"$T_DIR/hang.sh" <<EOF
#!/bin/sh
echo \$\$ >"$T_OUT/hang.pid.tmp" && mv "$T_OUT/hang.pid.tmp" "$T_OUT/hang.pid"
head -c 204800 /dev/zero
exec sleep 300
EOF
chmod +x "$T_DIR/hang.sh"

# ---------------------------------------------------------------- cancel mid-stream
t_config "$CONF" "script = { backup = [ \"$T_DIR/hang.sh\" ]; };"
start=$(date +%s%N)
fd_run mid backup --cmd "$CMD" --cancel-after 65536
ms=$((($(date +%s%N) - start) / 1000000))
fd_status_is mid 1 A "cancel mid-stream: the job is cancelled (A)"
tap_is "$(fd_count mid 1 M_FATAL)" 0 "cancel mid-stream: no fatal message (a cancel is not a failure)"
tap_like "$T_OUT/mid.out" "^job 1: M_INFO: mongo-fd: cancel received: stopping the command and unlocking" \
	"cancel mid-stream: the job log says what the cancel does"
tap_like "$T_OUT/mid.out" "unlocked $H2 \\(lockCount now 0\\)" "cancel mid-stream: the job log shows the unlock"
tap_ok "$(t_pid_gone "$(cat "$T_OUT/hang.pid" 2>/dev/null)" 50 && echo 0 || echo 1)" "cancel mid-stream: the command is gone"
tap_ok "$( [ "$ms" -lt 10000 ] && echo 0 || echo 1)" "cancel mid-stream: the job ends at once (${ms} ms)"
p_assert_clean "cancel mid-stream"

# ---------------------------------------------------------------- cancel while locking
rm -f "$T_OUT/hang.pid"
# (only the fsync reply is held back: the cancel lands while the lock is being taken, not in discovery)
sim_ctl slow 2 700 fsync >/dev/null
fd_run locking backup --cmd "$CMD" --cancel-at-ms 400
sim_ctl slow 2 0 >/dev/null
fd_status_is locking 1 A "cancel while locking: the job is cancelled (A)"
tap_is "$(fd_count locking 1 M_FATAL)" 0 "cancel while locking: no fatal message"
tap_ok "$( [ ! -e "$T_OUT/hang.pid" ] && echo 0 || echo 1)" "cancel while locking: the command never started"
tap_is "$(fd_field locking 1 bytes)" 0 "cancel while locking: nothing streamed"
p_assert_clean "cancel while locking"

# ---------------------------------------------------------------- the file daemon dies mid-stream
rm -f "$T_OUT/hang.pid"
# (the 4 s lock counts 300 ms seconds in a test build, MBH_TEST_SECOND_MS: 1.2 s, room for the checks;
# the watchdog acts on it to the ms)
t_config "$CONF" "script = { backup = [ \"$T_DIR/hang.sh\" ]; };" "lock = { max_seconds = 4; };"
MBH_TEST_SECOND_MS=300 fd_bg killed backup --cmd "$CMD"
n=0
while [ ! -s "$T_OUT/hang.pid" ] && [ "$n" -lt 1500 ]; do
	sleep 0.02
	n=$((n + 1))
done
t_note_watchdogs
WD=$(state_get "$T_STATE/rs0.state" watchdog_pid)
tap_is "$(sim_lockcount 2)" 1 "SIGKILL: member 2 is locked while the command streams"
kill -KILL "$FD_PID"
wait "$FD_PID" 2>/dev/null
killed_at=$(date +%s)
tap_ok "$(t_pid_gone "$(cat "$T_OUT/hang.pid" 2>/dev/null)" 250 && echo 0 || echo 1)" \
	"SIGKILL: the command dies with the file daemon"
tap_is "$(sim_lockcount 2)" 1 "SIGKILL: the lock outlives the file daemon (the watchdog holds the record)"
tap_ok "$(t_pid_gone "$WD" 1000 && echo 0 || echo 1)" "SIGKILL: the watchdog ($WD) unlocks and exits within 20 s"
tap_ok "$( [ $(($(date +%s) - killed_at)) -le 8 ] && echo 0 || echo 1)" "SIGKILL: ... by lock.max_seconds (4 s)"
tap_like "$T_STATE/rs0.events" "$H2" "SIGKILL: the watchdog says so in rs0.events"
p_assert_clean SIGKILL

sim_stop
tap_done
