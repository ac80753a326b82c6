#!/bin/bash
# plugin-faults.sh: the faults of issue 16 that a plugin job meets.  The record removed by hand
# mid-stream: the plugin unlocks anyway (it knows the member and the token) and says what became of
# the record.  The backup command stopped by lock.max_seconds (script.timeout far off): the message
# names lock.max_seconds, not script.timeout.  A config file readable by others whose uri holds a
# password: the job fails naming the chmod, and nothing is locked.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
p_init

p_start_rs0
SF=$T_STATE/rs0.state

after() {
	t_assert_unlocked "$1: every member unlocked"
	p_assert_no_watchdog "$1"
	sim_lockcounts | grep -q '[1-9]' && for m in 0 1 2; do sim_ctl unlock $m >/dev/null 2>&1; done
	rm -f "$SF"
}

# ---------------------------------------------------------------- the record removed mid-stream
# (it waits for the LOCKED record, written as it starts, then removes it and streams)
cat >"$T_DIR/rm.sh" <<EOF
#!/bin/sh
n=0
while ! grep -q '^phase=LOCKED' "$SF" 2>/dev/null && [ \$n -lt 100 ]; do sleep 0.05; n=\$((n + 1)); done
rm -f "$SF"
head -c 300000 /dev/zero
EOF
chmod +x "$T_DIR/rm.sh"
t_config "$CONF" "script = { backup = [ \"$T_DIR/rm.sh\" ]; };"
fd_run rm backup --cmd "$CMD" --out "$T_OUT/rm.data"
tap_is "$(fd_field rm 1 bytes)" 300000 "record removed mid-stream: the stream is whole (300000 bytes)"
tap_is "$(sim_lockcount 2)" 0 "record removed mid-stream: the plugin unlocked $H2 anyway"
tap_like "$T_OUT/rm.out" "^job 1: M_WARNING: mongo-fd: the record of the lock on $H2 .*rs0\\.state.* is gone" \
	"record removed mid-stream: the job log says the record was gone"
after "record removed mid-stream"

# ---------------------------------------------------------------- lock.max_seconds, not script.timeout
printf '#!/bin/sh\nprintf started\nexec sleep 300\n' >"$T_DIR/hang.sh"
chmod +x "$T_DIR/hang.sh"
# (its 5 s count 250 ms in a test build, MBH_TEST_SECOND_MS: the SIGTERM goes out a kill grace before the
# deadline, after 750 ms)
t_config "$CONF" "script = { backup = [ \"$T_DIR/hang.sh\" ]; timeout = 7200; };" "lock = { max_seconds = 5; };"
MBH_TEST_SECOND_MS=250 fd_run maxsec backup --cmd "$CMD"
fd_status_is maxsec 1 f "lock.max_seconds: the job fails (f)"
tap_like "$T_OUT/maxsec.out" "^job 1: M_FATAL: mongo-fd: the backup command hang.sh did not finish within lock.max_seconds \\(5 s\\)" \
	"lock.max_seconds: the message names the rule that acted"
tap_unlike "$T_OUT/maxsec.out" "script\\.timeout" "lock.max_seconds: script.timeout is not blamed"
after "lock.max_seconds"

# ---------------------------------------------------------------- a readable config with a password
URIPW=$(printf '%s' "$SIM_URI" | sed "s|^mongodb://|mongodb://backup:$T_PASS@|")
CFG_URI=$URIPW CFG_USER=none CFG_PWFILE=none t_config "$T_DIR/pw.conf" "script = { backup = [ \"$T_DIR/hang.sh\" ]; };"
chmod 0644 "$T_DIR/pw.conf"
fd_run pwconf backup --cmd "mongo: config=$T_DIR/pw.conf"
fd_status_is pwconf 1 f "config 0644 with a password in its uri: the job fails (f)"
tap_like "$T_OUT/pwconf.out" "^job 1: M_FATAL: mongo-fd: .*pw\\.conf: config file .*must not be readable by others \\(chmod 600 " \
	"config 0644 with a password in its uri: the message names the chmod"
after "config 0644"

sim_stop
tap_done
