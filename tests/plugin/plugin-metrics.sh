#!/bin/bash
# plugin-metrics.sh: the plugin keeps metrics.textfile current: locked while its command runs, then the
# success with the bytes streamed into the job (counted across jobs), a failing command counted by
# reason; promtool accepts the file.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
p_init

p_start_rs0
PDIR=$T_DIR/prom
PROM=$PDIR/mongo-backup-rs0.prom
mkdir -p "$PDIR"
METRICS="metrics = { textfile = \"$PDIR/mongo-backup-%s.prom\"; };"
PROMTOOL=$(t_prombin promtool)

# val SERIES: the value of the sample whose name and labels are exactly SERIES (empty when absent).
val() {
	[ -f "$PROM" ] || return 0
	S=$1 awk '{ s = ENVIRON["S"] } index($0, s " ") == 1 { print substr($0, length(s) + 2) }' "$PROM"
}

# The backup command copies the textfile as it is while the command runs, then streams 100000 bytes.
printf '#!/bin/sh\ncp "%s" "%s"\nexec head -c 100000 /dev/zero\n' "$PROM" "$T_OUT/during.prom" >"$T_DIR/dump.sh"
chmod +x "$T_DIR/dump.sh"
t_config "$CONF" "$METRICS" "script = { backup = [ \"$T_DIR/dump.sh\" ]; };"

fd_run ok backup --cmd "$CMD" --out "$T_OUT/ok.data" --name nightly
fd_status_is ok 1 T "backup: the job ends T"
tap_like "$T_OUT/during.prom" "^mongo_backup_locked{set=\"rs0\",member=\"$H2\",job=\"nightly\\.[^\"]*\"} 1\$" \
	"while the command runs the file says locked, with the member and the job"
tap_is "$(val 'mongo_backup_locked{set="rs0"}')" 0 "after the job: unlocked"
tap_is "$(val 'mongo_backup_successes_total{set="rs0"}')" 1 "after the job: one success"
tap_is "$(val 'mongo_backup_last_run_streamed_bytes{set="rs0"}')" 100000 "the bytes the job streamed (100000)"
tap_is "$(val 'mongo_backup_streamed_bytes_total{set="rs0"}')" 100000 "the bytes streamed in all (100000)"
tap_ok "$([ -n "$(val 'mongo_backup_last_lock_duration_seconds{set="rs0"}')" ] && echo 0 || echo 1)" "the lock's duration"
if [ -n "$PROMTOOL" ]; then
	"$PROMTOOL" check metrics <"$PROM" >"$T_OUT/promtool.out" 2>&1
	tap_is "$?" 0 "promtool check metrics accepts the file" || tap_diag_file "$T_OUT/promtool.out"
else
	tap_skip "promtool check metrics accepts the file" "no promtool (tools/install-deps takes it out of Debian's prometheus package)"
fi

fd_run again backup --cmd "$CMD" --out "$T_OUT/again.data" --name nightly
fd_status_is again 1 T "a second backup: T"
tap_is "$(val 'mongo_backup_successes_total{set="rs0"}')" 2 "a second backup: two successes"
tap_is "$(val 'mongo_backup_streamed_bytes_total{set="rs0"}')" 200000 "a second backup: the bytes counted on (200000)"

printf '#!/bin/sh\necho partial\nexit 3\n' >"$T_DIR/bad.sh"
chmod +x "$T_DIR/bad.sh"
t_config "$CONF" "$METRICS" "script = { backup = [ \"$T_DIR/bad.sh\" ]; };"
fd_run bad backup --cmd "$CMD" --out "$T_OUT/bad.data" --name nightly
fd_status_is bad 1 f "a failing command: the job fails (f)"
tap_is "$(val 'mongo_backup_failures_total{set="rs0",reason="command"}')" 1 "a failing command: one failure, reason command"
tap_is "$(val 'mongo_backup_last_run_success{set="rs0"}')" 0 "a failing command: the last run failed"
tap_is "$(val 'mongo_backup_successes_total{set="rs0"}')" 2 "a failing command: the successes stay"
tap_is "$(val 'mongo_backup_locked{set="rs0"}')" 0 "a failing command: unlocked"
t_assert_unlocked "every member unlocked"

sim_stop
tap_done
