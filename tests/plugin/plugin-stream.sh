#!/bin/bash
# plugin-stream.sh: the stream is over when bacula-fd says so, and then the lock is over too: a file
# closed before the command's end (the storage daemon failed) stops the command and unlocks at once; a
# stream that makes no progress for script.idle_timeout (Bacula waiting for a volume) does the same
# while bacula-fd is away; SIGTERM of the file daemon (unloadPlugin with the job still running)
# unlocks before it exits; a cancel while the lock command waits returns at once; a command that
# writes nothing fails the job unless script.allow_empty says so.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
p_init

p_start_rs0

# A command that streams 200 KB, then hangs (its pid in cmd.pid as it starts, in hang.pid once it has
# written them).
cat >"$T_DIR/hang.sh" <<EOF
#!/bin/sh
echo \$\$ >"$T_OUT/cmd.pid.tmp" && mv "$T_OUT/cmd.pid.tmp" "$T_OUT/cmd.pid"
head -c 204800 /dev/zero
echo \$\$ >"$T_OUT/hang.pid.tmp" && mv "$T_OUT/hang.pid.tmp" "$T_OUT/hang.pid"
exec sleep 300
EOF
printf '#!/bin/sh\nexit 0\n' >"$T_DIR/empty.sh"
chmod +x "$T_DIR/hang.sh" "$T_DIR/empty.sh"

# ms_since START_NS
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ---------------------------------------------------------------- the file closed before the end
t_config "$CONF" "lock = { max_seconds = 60; };" "script = { backup = [ \"$T_DIR/hang.sh\" ]; };"
start=$(date +%s%N)
fd_run early backup --cmd "$CMD" --close-after 65536
ms=$(ms_since "$start")
fd_status_is early 1 f "closed early: the job fails (f)"
tap_ok "$([ "$ms" -lt 10000 ] && echo 0 || echo 1)" "closed early: the job ends at once (${ms} ms, lock.max_seconds 60)"
tap_like "$T_OUT/early.out" "^job 1: M_FATAL: mongo-fd: the stream of hang.sh was closed after [0-9]+ bytes, before its end" \
	"closed early: the job log says the stream was cut"
tap_like "$T_OUT/early.out" "unlocked $H2 \\(lockCount now 0\\)" "closed early: the job log shows the unlock"
tap_ok "$(t_pid_gone "$(cat "$T_OUT/cmd.pid" 2>/dev/null)" 50 && echo 0 || echo 1)" "closed early: the command is gone"
p_assert_clean "closed early"

# ---------------------------------------------------------------- no progress for script.idle_timeout
# (its 2 s count 250 ms in a test build, MBH_TEST_SECOND_MS: 500 ms; bacula-fd is away 3 s, six times that)
rm -f "$T_OUT/hang.pid" "$T_OUT/cmd.pid"
t_config "$CONF" "lock = { max_seconds = 60; };" "script = { backup = [ \"$T_DIR/hang.sh\" ]; idle_timeout = 2; };"
MBH_TEST_SECOND_MS=250 fd_bg idle backup --cmd "$CMD" --pause-after 65536 --pause-ms 3000
wait_for "cmd.pid" 500 test -s "$T_OUT/cmd.pid"
tap_is "$(sim_lockcount 2)" 1 "idle: member 2 is locked while the stream starts"
start=$(date +%s%N)
unlocked2() { [ "$(sim_lockcount 2)" = 0 ]; }
wait_for "the unlock" 300 unlocked2
ms=$(ms_since "$start")
tap_ok "$([ "$(sim_lockcount 2)" = 0 ] && [ "$ms" -lt 2500 ] && echo 0 || echo 1)" \
	"idle: unlocked while bacula-fd is away (${ms} ms after the stream stopped; script.idle_timeout 2 s of 250 ms)"
tap_ok "$(kill -0 "$FD_PID" 2>/dev/null && echo 0 || echo 1)" "idle: ... before bacula-fd comes back"
wait "$FD_PID"
T_RC=$?
fd_status_is idle 1 f "idle: the job fails (f)"
tap_like "$T_OUT/idle.out" "^job 1: M_(ERROR|FATAL): mongo-fd: .*no progress for 2 s \\(script.idle_timeout\\)" \
	"idle: the job log names the rule"
tap_like "$T_OUT/idle.out" "spool.*snapshot mode" "idle: ... and the alternatives (Bacula's data spooling, snapshot mode)"
tap_ok "$(t_pid_gone "$(cat "$T_OUT/cmd.pid" 2>/dev/null)" 50 && echo 0 || echo 1)" "idle: the command is gone"
p_assert_clean idle

# ---------------------------------------------------------------- SIGTERM: bacula-fd stops gracefully mid-stream
rm -f "$T_OUT/hang.pid"
t_config "$CONF" "lock = { max_seconds = 60; };" "script = { backup = [ \"$T_DIR/hang.sh\" ]; };"
fd_bg term backup --cmd "$CMD"
wait_for "hang.pid" 500 test -s "$T_OUT/hang.pid"
t_note_watchdogs
tap_is "$(sim_lockcount 2)" 1 "SIGTERM: member 2 is locked while the command streams"
start=$(date +%s%N)
kill -TERM "$FD_PID"
wait "$FD_PID"
ms=$(ms_since "$start")
tap_is "$(sim_lockcount 2)" 0 "SIGTERM: unlocked by the time the file daemon has exited (${ms} ms; lock.max_seconds 60)"
tap_ok "$([ "$ms" -lt 10000 ] && echo 0 || echo 1)" "SIGTERM: the file daemon exits at once"
tap_ok "$(t_pid_gone "$(cat "$T_OUT/hang.pid" 2>/dev/null)" 50 && echo 0 || echo 1)" "SIGTERM: the command is gone"
wait_for "no watchdog" 250 test -z "$(pgrep -f -- "mongo-backup-watchdog.*$T_STATE")"
p_assert_clean SIGTERM

# ---------------------------------------------------------------- a cancel while the lock command waits
# (the member answers at its usual pace again once the cancel has returned: the unlock after it is not
# what this case measures, and at 3 s a command it would take 15 s)
sim_ctl slow 2 3000 >/dev/null
fd_bg locking backup --cmd "$CMD" --cancel-at-ms 300
cancelled() { grep -q "^job 1: cancel returned after" "$T_OUT/locking.out"; }
wait_for "the cancel's return" 500 cancelled
sim_ctl slow 2 0 >/dev/null
wait "$FD_PID"
cms=$(sed -n 's/^job 1: cancel returned after \([0-9]*\) ms$/\1/p' "$T_OUT/locking.out")
tap_ok "$([ -n "$cms" ] && [ "$cms" -lt 1000 ] && echo 0 || echo 1)" \
	"cancel while the member answers slowly: CancelCommand returns at once (${cms:-?} ms; the member answers in 3 s)"
fd_status_is locking 1 A "cancel while locking: the job is cancelled (A)"
p_assert_clean "cancel while locking"

# ---------------------------------------------------------------- the lock's deadline is the rule that acts
rm -f "$T_OUT/hang.pid" "$T_OUT/cmd.pid"
# (its 5 s count 250 ms in a test build, MBH_TEST_SECOND_MS: the SIGTERM goes out after 750 ms)
t_config "$CONF" "lock = { max_seconds = 5; };" "script = { backup = [ \"$T_DIR/hang.sh\" ]; timeout = 7200; };"
MBH_TEST_SECOND_MS=250 fd_run deadline backup --cmd "$CMD"
fd_status_is deadline 1 f "lock.max_seconds before script.timeout: the job fails (f)"
tap_like "$T_OUT/deadline.out" "^job 1: M_FATAL: mongo-fd: the backup command hang.sh did not finish within lock.max_seconds \\(5 s\\)" \
	"lock.max_seconds before script.timeout: the message names lock.max_seconds"
tap_unlike "$T_OUT/deadline.out" "script.timeout" "lock.max_seconds before script.timeout: ... not script.timeout"
p_assert_clean "lock.max_seconds"

# ---------------------------------------------------------------- a command that writes nothing
t_config "$CONF" "script = { backup = [ \"$T_DIR/empty.sh\" ]; };"
fd_run empty backup --cmd "$CMD"
fd_status_is empty 1 f "empty stream: the job fails (f)"
tap_like "$T_OUT/empty.out" "^job 1: M_FATAL: mongo-fd: the backup command empty.sh wrote nothing.*script.allow_empty" \
	"empty stream: the job log says so and names script.allow_empty"
p_assert_clean "empty stream"
t_config "$CONF" "script = { backup = [ \"$T_DIR/empty.sh\" ]; allow_empty = true; };"
fd_run empty_ok backup --cmd "$CMD"
fd_status_is empty_ok 1 T "empty stream with script.allow_empty = true: T"
p_assert_clean "empty stream allowed"

sim_stop
tap_done
