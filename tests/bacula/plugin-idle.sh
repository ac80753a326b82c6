#!/bin/bash
# plugin-idle.sh: a stream that makes no progress ends the lock on script.idle_timeout, with real Bacula
# daemons: bacula-sd stopped (SIGSTOP) mid-stream stops reading, bacula-fd's send to it blocks and the
# plugin is asked for no more data (as when Bacula waits for a volume to be mounted).  The member is
# unlocked once the stream has been still for script.idle_timeout (not at lock.max_seconds), the
# command and the watchdog are gone, no record is left, the job log names the rule and the ways out
# (data spooling, snapshot mode), and once bacula-sd runs again the job fails.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/fdplugin.sh"
fp_init
tap_plan 12
SECONDS=0
MAX=120
IDLE=3

sim_start_pss
H2=$(sim_member_host 2)

# A command that never stops writing (1 MiB of random bytes, again and again: bacula-fd compresses what
# it sends to bacula-sd, so zeros would take minutes to fill the few MiB of socket buffers between
# them), its pid in cmd.pid once 1 MiB is out, and in last.ms when it last wrote a whole chunk: the
# stream's last progress is no earlier.
head -c 1048576 /dev/urandom >"$T_DIR/random.bin"
cat >"$T_DIR/flow.sh" <<EOF
#!/bin/sh
cat "$T_DIR/random.bin"
echo \$\$ >"$T_OUT/cmd.pid.tmp" && mv "$T_OUT/cmd.pid.tmp" "$T_OUT/cmd.pid"
while :; do
	cat "$T_DIR/random.bin" || exit 1
	date +%s%3N >"$T_OUT/last.tmp" && mv "$T_OUT/last.tmp" "$T_OUT/last.ms"
	sleep 0.01
done
EOF
chmod +x "$T_DIR/flow.sh"
fp_command_job flow "$MAX" "idle_timeout = $IDLE; "

unlocked2() { [ "$(sim_lockcount 2)" = 0 ]; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
LOG=$T_OUT/job.log

bacula_start || { echo "Bail out! the Bacula daemons do not start"; exit 1; }
JOB=$(fp_start_job mongo-flow)
fp_wait_file "$T_OUT/cmd.pid" 60
CMD_PID=$(cat "$T_OUT/cmd.pid" 2>/dev/null)
WD=$(state_get "$T_STATE/rs0.state" watchdog_pid)
tap_is "$(sim_lockcount 2)" 1 "member 2 is locked while the command streams (job ${JOB:-none})"

SD=$BACULA_SD_PID
kill -STOP "$SD"
t0=$(now_ms)
# still for IDLE s once the socket buffers are full
wait_for "the unlock on script.idle_timeout" $(((IDLE + 60) * 50)) unlocked2
t1=$(now_ms)
last=$(cat "$T_OUT/last.ms" 2>/dev/null)
tap_ok "$(unlocked2 && echo 0 || echo 1)" \
	"sd stopped: member 2 is unlocked ($((t1 - t0)) ms after SIGSTOP; lock.max_seconds $MAX s)"
took=$((t1 - ${last:-0}))
tap_ok "$([ "$took" -ge $((IDLE * 1000)) ] && [ "$took" -le $(((IDLE + 10) * 1000)) ] && echo 0 || echo 1)" \
	"sd stopped: ... $took ms after the command's last whole write: not before script.idle_timeout ($IDLE s), within 10 s of it"
tap_ok "$(kill -0 "$SD" 2>/dev/null && [ "$(sed 's/^.*) //' "/proc/$SD/stat" | cut -c1)" = T ] && echo 0 || echo 1)" \
	"sd stopped: ... while bacula-sd is still stopped"
tap_ok "$(t_pid_gone "$CMD_PID" 250 && echo 0 || echo 1)" "sd stopped: the backup command is gone"
t_assert_no_state "sd stopped: no state record left"
tap_ok "$(t_pid_gone "$WD" 250 && echo 0 || echo 1)" "sd stopped: the watchdog (pid ${WD:-none}) has exited"

kill -CONT "$SD"
bacula_wait_job "$JOB"
tap_ok $? "the job ends once bacula-sd runs again"
tap_is "$(bacula_job_status "$JOB")" f "the job fails (JobStatus f)" || bacula_diag_job "$JOB"
# (the director writes a job's messages to its log file as the job ends)
bacula_job_log "$JOB" >"$LOG"
tap_like "$LOG" "mongo-fd: .*made no progress for $IDLE s \\(script.idle_timeout\\) while $H2 was locked" \
	"the job log names the rule and the member" || bacula_diag_job "$JOB"
tap_like "$LOG" "mongo-fd: .*script.idle_timeout.*SpoolData = yes.*snapshot mode" \
	"the job log names the ways out (data spooling, snapshot mode)"
t_assert_unlocked "no member is locked at the end"

bacula_stop
tap_diag "elapsed: ${SECONDS} s"
tap_done
