#!/bin/bash
# plugin-concurrent.sh: two plugin-mode jobs for two replica sets run at once in one bacula-fd: both end
# T, each stream is exactly its own command's bytes, each job log speaks of its own set only, and both
# sets are unlocked afterwards.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/fdplugin.sh"
fp_init
tap_plan 15
SECONDS=0

TOPO_SET=rs1 t_topology "$T_DIR/rs1.topo" '{ port = 0; state = "PRIMARY"; }, { port = 0; priority = 0.0; }, { port = 0; }'
sim_start "$T_DIR/rs1.topo" || { echo "Bail out! simulator rs1 does not start"; exit 1; }
CTL1=$SIM_CTL
URI1=$SIM_URI
H1=$(sim_member_host 1)
TOPO_SET=rs0 t_topology "$T_DIR/rs0.topo" '{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
sim_start "$T_DIR/rs0.topo" || { echo "Bail out! simulator rs0 does not start"; exit 1; }
CTL0=$SIM_CTL
H2=$(sim_member_host 2)

# Each command waits (bounded) until both have started, so the two jobs really overlap, then streams
# 8 MiB of its own bytes (a copy kept to compare).
for s in rs0 rs1; do
	head -c 8388608 /dev/urandom >"$T_DIR/$s.payload"
	cat >"$T_DIR/$s.sh" <<EOF
#!/bin/sh
touch "$T_OUT/\$MONGO_BACKUP_SET.started"
n=0
while [ ! -e "$T_OUT/rs0.started" ] || [ ! -e "$T_OUT/rs1.started" ]; do
	sleep 0.05; n=\$((n + 1)); [ \$n -lt 600 ] || break
done
[ -e "$T_OUT/rs0.started" ] && [ -e "$T_OUT/rs1.started" ] && touch "$T_OUT/\$MONGO_BACKUP_SET.overlapped"
exec cat "$T_DIR/$s.payload"
EOF
	chmod +x "$T_DIR/$s.sh"
done
t_config "$T_DIR/rs0.conf" "script = { backup = [ \"$T_DIR/rs0.sh\" ]; };"
CFG_URI=$URI1 t_config "$T_DIR/rs1.conf" "script = { backup = [ \"$T_DIR/rs1.sh\" ]; };"
{
	fp_fileset rs0 "mongo: config=$T_DIR/rs0.conf"
	fp_job mongo-rs0 rs0
	fp_fileset rs1 "mongo: config=$T_DIR/rs1.conf"
	fp_job mongo-rs1 rs1
} >"$BACULA_ETC/jobs.conf"
bacula_start || { echo "Bail out! the Bacula daemons do not start"; exit 1; }
tap_pass "the Bacula daemons listen on 127.0.0.1"

t0=$SECONDS
JOBS=$(fp_start_job mongo-rs0 mongo-rs1 | tr '\n' ' ')
set -- $JOBS
J0=${1:-0}
J1=${2:-0}
tap_ok "$([ "$J0" != 0 ] && [ "$J1" != 0 ] && echo 0 || echo 1)" "both jobs are queued at once (JobIds $J0 $J1)"
bacula_wait_job "$J0" && bacula_wait_job "$J1"
tap_ok $? "both jobs run to their end ($((SECONDS - t0)) s)"
tap_is "$(bacula_job_status "$J0")$(bacula_job_status "$J1")" TT "both jobs end with JobStatus T" ||
	{ bacula_diag_job "$J0"; bacula_diag_job "$J1"; }
tap_ok "$([ -e "$T_OUT/rs0.overlapped" ] && [ -e "$T_OUT/rs1.overlapped" ] && echo 0 || echo 1)" \
	"the two backup commands ran at the same time"
tap_is "$(fp_job_field "$J0" JobBytes) $(fp_job_field "$J1" JobBytes)" "8388608 8388608" "each job saved its 8 MiB"
bacula_job_log "$J0" >"$T_OUT/rs0.log"
bacula_job_log "$J1" >"$T_OUT/rs1.log"
tap_like "$T_OUT/rs0.log" "mongo-fd: locked $H2 \\(lockCount 1\\) for job mongo-rs0\\." "job rs0: locked rs0's passive member"
tap_like "$T_OUT/rs1.log" "mongo-fd: locked $H1 \\(lockCount 1\\) for job mongo-rs1\\." "job rs1: locked rs1's passive member"
tap_is "$(grep -c -e "mongo-fd: .*$H1" -e 'mongo-rs1\.' "$T_OUT/rs0.log")" 0 "job rs0's log says nothing of rs1"
tap_is "$(grep -c -e "mongo-fd: .*$H2" -e 'mongo-rs0\.' "$T_OUT/rs1.log")" 0 "job rs1's log says nothing of rs0"

# Both streams byte for byte: restore both (no restore command: the files land under where).
RJ=$(bacula_restore "$J0" "$T_DIR/w0")
R0=$?
RJ1=$(bacula_restore "$J1" "$T_DIR/w1")
R1=$?
tap_ok "$([ "$R0" = 0 ] && [ "$R1" = 0 ] && [ "$(bacula_job_status "$RJ")$(bacula_job_status "$RJ1")" = TT ] && echo 0 || echo 1)" \
	"both restores end T (JobIds $RJ $RJ1)"
tap_ok "$(cmp -s "$T_DIR/rs0.payload" "$T_DIR/w0/@mongo/rs0/$H2/rs0.sh" &&
	cmp -s "$T_DIR/rs1.payload" "$T_DIR/w1/@mongo/rs1/$H1/rs1.sh" && echo 0 || echo 1)" \
	"each restored file is exactly its own command's bytes"
tap_is "$(SIM_CTL=$CTL0 sim_lock_total)+$(SIM_CTL=$CTL1 sim_lock_total)" "0+0" "both sets are unlocked afterwards"
tap_is "$(ls "$T_STATE"/*.state 2>/dev/null | tr '\n' ' ')" "" "no state record is left"

bacula_stop
tap_ok "$([ -z "$(t_alive_entries .bacula)" ] && echo 0 || echo 1)" "the Bacula daemons stopped on SIGTERM"
tap_diag "elapsed: ${SECONDS} s"
tap_done
