#!/bin/bash
# metrics-node-exporter.sh: Debian's real node exporter, its textfile collector pointed at the metrics
# directory (on a free loopback port, stopped by pid), serves what the runs write: the lock after a
# pre-backup; after the post-backup no lock and the success; a run killed mid-lock still locked, then
# the watchdog's unlock.  Skipped where the exporter is missing.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"

EXPORTER=$(t_prombin prometheus-node-exporter)
[ -n "$EXPORTER" ] || tap_skip_all "no prometheus-node-exporter (tools/install-deps takes it out of Debian's package)"
command -v curl >/dev/null 2>&1 || tap_skip_all "no curl"
t_init

CONF=$T_DIR/rs0.conf
SF=$T_STATE/rs0.state
PDIR=$T_DIR/prom
mkdir -p "$PDIR"
METRICS="metrics = { textfile = \"$PDIR/mongo-backup-%s.prom\"; };"

sim_start_pss
H2=$(sim_member_host 2)

# The exporter with only the textfile collector, on a port the system says is free (tried again if
# another process takes it first).
NE_PID=""
NE_URL=""
for try in 1 2 3 4 5; do
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$EXPORTER" --web.listen-address="127.0.0.1:$port" --collector.disable-defaults --collector.textfile \
		--collector.textfile.directory="$PDIR" >"$T_OUT/exporter.log" 2>&1 &
	NE_PID=$!
	t_bg_register "$NE_PID"
	if wait_for "the node exporter on port $port" 250 curl -fsS -o /dev/null "http://127.0.0.1:$port/metrics" &&
		kill -0 "$NE_PID" 2>/dev/null; then
		NE_URL="http://127.0.0.1:$port/metrics"
		break
	fi
	kill "$NE_PID" 2>/dev/null
	wait "$NE_PID" 2>/dev/null
	NE_PID=""
done
[ -n "$NE_URL" ] || { tap_fail "the node exporter starts"; tap_diag_file "$T_OUT/exporter.log"; sim_stop; tap_done; exit 1; }
tap_diag "$("$EXPORTER" --version 2>&1 | head -n 1) on $NE_URL"

# scrape NAME: the exporter's /metrics into $T_OUT/NAME.scrape.
scrape() {
	curl -fsS "$NE_URL" >"$T_OUT/$1.scrape" 2>"$T_OUT/$1.curl"
	tap_is "$?" 0 "$1: the exporter answers" || tap_diag_file "$T_OUT/$1.curl"
	tap_like "$T_OUT/$1.scrape" '^node_textfile_scrape_error 0$' "$1: the textfile collector read the file without error"
}
# scraped NAME SERIES: the value of SERIES (the exporter orders the labels by name) in that scrape.
scraped() {
	S=$2 awk '{ s = ENVIRON["S"] } index($0, s " ") == 1 { print substr($0, length(s) + 2) }' "$T_OUT/$1.scrape"
}

t_config "$CONF" "$METRICS"
t_run pre "$MBH_PRE" -c "$CONF" --job Nightly
t_rc_is 0 "pre exits 0" pre
scrape pre
tap_is "$(scraped pre "mongo_backup_locked{job=\"Nightly\",member=\"$H2\",set=\"rs0\"}")" 1 "pre: the exporter serves the lock"
# (the exporter prints floats: 1.796504618e+09)
tap_is "$(awk -v v="$(scraped pre "mongo_backup_lock_deadline_timestamp_seconds{job=\"Nightly\",member=\"$H2\",set=\"rs0\"}")" \
	'BEGIN { if (v != "") printf "%d", v }')" "$(state_get "$SF" deadline)" "pre: and the watchdog's deadline"

t_run post "$MBH_POST" -c "$CONF"
t_rc_is 0 "post exits 0" post
scrape post
tap_is "$(scraped post "mongo_backup_locked{job=\"Nightly\",member=\"$H2\",set=\"rs0\"}")" "" "post: the lock's series is gone"
tap_is "$(scraped post 'mongo_backup_locked{set="rs0"}')" 0 "post: locked 0"
tap_is "$(scraped post 'mongo_backup_successes_total{set="rs0"}')" 1 "post: the success is counted"
tap_ok "$(awk -v t="$(scraped post 'mongo_backup_last_success_timestamp_seconds{set="rs0"}')" -v n="$(date +%s)" \
	'BEGIN { exit !(t > n - 60 && t <= n + 1) }' && echo 0 || echo 1)" "post: the last success is now"

# A run killed while it holds the lock; the watchdog ends the lock at lock.max_seconds (6 s of 250 ms in
# a test build, MBH_TEST_SECOND_MS: 1.5 s, room for a scrape while it is held).
t_config "$CONF" "$METRICS" 'lock = { max_seconds = 6; };'
MBH_TEST_SECOND_MS=250 "$MBH_PRE" -c "$CONF" --job killed --exec -- sleep 60 </dev/null >"$T_OUT/killed.out" 2>&1 &
KPID=$!
t_bg_register "$KPID"
wait_for "the LOCKED record" 500 grep -qs '^phase=LOCKED' "$SF"
WD=$(state_get "$SF" watchdog_pid)
kill -KILL "$KPID" 2>/dev/null
wait "$KPID" 2>/dev/null
scrape killed
tap_is "$(scraped killed "mongo_backup_locked{job=\"killed\",member=\"$H2\",set=\"rs0\"}")" 1 \
	"killed: the exporter still serves the lock"
tap_ok "$(t_pid_gone "$WD" 1500 && echo 0 || echo 1)" "killed: the watchdog ends at the deadline"
t_assert_unlocked "killed: the watchdog unlocked the member"
scrape watchdog
tap_is "$(scraped watchdog 'mongo_backup_locked{set="rs0"}')" 0 "watchdog: the exporter serves locked 0"
tap_is "$(scraped watchdog 'mongo_backup_watchdog_unlocks_total{set="rs0"}')" 1 "watchdog: and the watchdog's unlock"

kill "$NE_PID" 2>/dev/null
wait "$NE_PID" 2>/dev/null
tap_ok "$(t_pid_gone "$NE_PID" 250 && echo 0 || echo 1)" "the node exporter is stopped (pid $NE_PID)"
sim_stop
tap_done
