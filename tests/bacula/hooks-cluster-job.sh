#!/bin/bash
# hooks-cluster-job.sh: a sharded cluster backed up in hooks mode by real Bacula daemons, with the
# jobs of conf/bacula-cluster-hooks-job.conf: one director, one storage daemon, and three file daemons
# standing for the hosts of shard sh0, shard sh1 and the config servers (CSRS) of a simulated 2-shard
# cluster.  A lock job (Admin, Priority 10) runs `mongo-prebackup -c CLUSTER.conf --job MongoCluster`
# on the director; one backup job per component (Priority 11, concurrent) checks that its member is
# locked for that run (conf/scripts/cluster-lock-held.sh) and reads the member's files on its own
# client; an unlock job (Admin, Priority 12) runs `mongo-postbackup -c CLUSTER.conf --job MongoCluster`.
# The director starts a job of a higher Priority number only once every job of a lower one has
# ended, whatever their status, so the lock is held while every component job reads and released
# after the last one, on every path: the whole run, started by their Schedule (whose scheduler
# queues jobs of one time in Priority order); a component job that fails; one that is cancelled; a
# lock that is refused (the component jobs then fail, saving nothing).  Case 0 shows why the order is
# not a RunScript Console of one cluster job: Bacula does not let it run jobs.
# Skipped, saying so, while mongo-prebackup takes the mongos for a replica set (no cluster hooks).
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/baculalib.sh"
# shellcheck source=../integration/sim-cluster.sh
. "$top_srcdir/tests/integration/sim-cluster.sh"
t_init
bacula_init
SECONDS=0

# ---- the cluster: shards sh0 and sh1 and the CSRS, each P-S-S with the passive member 2 (the member
# the product chooses, passive first), their members' data files under $DATA/<component>/<id>
DATA=$T_DIR/data
TOPO=$T_DIR/topo
mkdir "$DATA" "$TOPO"
PSS='{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
TOPO_SET=shard t_topology "$TOPO/shard.conf" "$PSS"
TOPO_SET=csrs t_topology "$TOPO/config.conf" "$PSS" 'role = "configsvr";'
TOPO_SET=mongos t_topology "$TOPO/mongos.conf" '{ port = 0; }' 'role = "mongos";'
if ! SIMC_DATA_DIR=$DATA simc_start 2 "$TOPO/mongos.conf" "$TOPO/shard.conf" "$TOPO/config.conf"; then
	echo "Bail out! the simulated cluster does not start"
	exit 1
fi
read -r CTL_SH0 CTL_SH1 <<<"$SIMC_SHARD_CTLS"
CONF=$T_DIR/cluster.conf
CFG_URI=$SIMC_URI t_config "$CONF" 'lock = { max_seconds = 300; };'
RUN=MongoCluster # the --job of the lock and the unlock: one name, so the unlock releases that run's lock

# ---- the product must know clusters: a mongo-prebackup that treats the mongos as a replica set
# (replSetGetConfig is no mongos command) has no cluster hooks yet; that is a skip, said as it is.
DRY=$("$MBH_PRE" -c "$CONF" --dry-run 2>&1)
DRY_RC=$?
if [ "$DRY_RC" != 0 ] && printf '%s\n' "$DRY" | grep -Eq "replSetGetConfig.*(no such command|code 59)|not a replica set"; then
	tap_skip_all "mongo-prebackup has no sharded-cluster hooks yet: its --dry-run on the mongos URI says: $(printf '%s\n' "$DRY" | head -n 1)"
fi
tap_plan 78

tap_is "$DRY_RC" 0 "mongo-prebackup --dry-run on the mongos URI succeeds" || tap_diag "$DRY"
# the members the component jobs read: member 2 of each (passive first)
H_CFG=$(SIM_CTL=$SIMC_CONFIG_CTL sim_member_host 2)
H_SH0=$(SIM_CTL=$CTL_SH0 sim_member_host 2)
H_SH1=$(SIM_CTL=$CTL_SH1 sim_member_host 2)
tap_ok "$(printf '%s\n' "$DRY" | grep -qF "$H_SH0" && printf '%s\n' "$DRY" | grep -qF "$H_SH1" &&
	printf '%s\n' "$DRY" | grep -qF "$H_CFG" && echo 0 || echo 1)" \
	"the dry run names the member of each component the jobs read ($H_CFG, $H_SH0, $H_SH1)" || tap_diag "$DRY"
ALL_LOCKED="csrs:0:0,1:0,2:1 sh0:0:0,1:0,2:1 sh1:0:0,1:0,2:1"
NONE_LOCKED="csrs:0:0,1:0,2:0 sh0:0:0,1:0,2:0 sh1:0:0,1:0,2:0"
balancer_mode() { simc_ctl "$SIMC_CTL" balancer | sed -n 's/.*mode=\([a-z]*\).*/\1/p'; }
tap_is "$(balancer_mode)" full "the balancer runs before the backup"

# ---- what the component jobs show in their logs: every member's lock count and the balancer, as the
# file daemon starts reading and once it has read everything (their client RunScripts run this).  With
# an argument (the job's name), the script first meets the other component jobs of the run: it waits
# (bounded, 30 s) until all three are in their client scripts, and says whether they were.
LOCKS=$T_DIR/locks.sh
BARRIER=$T_DIR/barrier
cat >"$LOCKS" <<EOF
#!/bin/bash
# written by $(basename "$0"): the cluster's lock counts and balancer, for the job's log
top_srcdir='$top_srcdir' MBH_SIM='$MBH_SIM'
. "\$top_srcdir/tests/integration/sim-cluster.sh"
SIMC_CONFIG_CTL='$SIMC_CONFIG_CTL' SIMC_SHARD_CTLS='$SIMC_SHARD_CTLS' SIMC_SHARD_NAMES='$SIMC_SHARD_NAMES'
if [ -n "\${1:-}" ]; then
	: >'$BARRIER'/"\$1"
	n=0
	while [ "\$(ls '$BARRIER' | wc -l)" -lt 3 ] && [ "\$n" -lt 1500 ]; do
		sleep 0.02
		n=\$((n + 1))
	done
	echo "component jobs running together: \$(ls '$BARRIER' | wc -l)"
fi
echo "locks: \$(simc_locks) balancer: \$(simc_ctl '$SIMC_CTL' balancer)"
# member 2's optime in each component: it must not move while the member is read
for c in config:'$SIMC_CONFIG_CTL' sh0:'$CTL_SH0' sh1:'$CTL_SH1'; do
	printf '%s:%s ' "\${c%%:*}" "\$(simc_ctl "\${c#*:}" status | awk '{ for (i = 1; i <= NF; i++) if (\$i == "id=2") m = 1
		for (i = 1; i <= NF && m; i++) if (\$i ~ /^optime=/) { print substr(\$i, 8); exit } }')"
done | sed 's/^/optimes: /; s/ \$//'
echo
EOF
chmod +x "$LOCKS"
CHECK=$top_srcdir/conf/scripts/cluster-lock-held.sh
# the director's RunScripts find the build's mongo-postbackup
export MONGO_POSTBACKUP=$MBH_POST

# ---- the jobs (the snippet's, with the test's paths)
# runscript WHERE WHEN COMMAND: one RunScript; WHERE client or director; After ones run on failure too.
runscript() {
	echo "  RunScript {"
	echo "    RunsWhen = $2"
	echo "    RunsOnClient = $([ "$1" = client ] && echo yes || echo no)"
	if [ "$2" = Before ]; then
		echo "    FailJobOnError = yes"
	else
		echo "    RunsOnSuccess = yes"
		echo "    RunsOnFailure = yes"
	fi
	echo "    Command = \"$3\""
	echo "  }"
}
# admin_job NAME PRIORITY COMMAND: the lock or the unlock job: its one script runs on the director.
admin_job() {
	echo "Job {"
	echo "  Name = \"$1\""
	echo "  JobDefs = \"t-defs\""
	echo "  Type = Admin"
	echo "  Schedule = \"t-cluster\""
	echo "  Priority = $2"
	runscript director Before "$3"
	echo "}"
}
# component_job NAME CLIENT COMPONENT MEMBER [CLIENT-BEFORE]: a component's backup at Priority 11: the
# lock check on the director, then (test only) the lock counts on the client before and after reading;
# CLIENT-BEFORE, when given, is one more client script after those counts (and the job is on no Schedule).
component_job() {
	echo "Job {"
	echo "  Name = \"$1\""
	echo "  JobDefs = \"t-defs\""
	[ -n "${5:-}" ] || echo "  Schedule = \"t-cluster\""
	echo "  Client = $2"
	echo "  FileSet = \"member-$3\""
	echo "  Priority = 11"
	runscript director Before "$CHECK $CONF $RUN $3 $4"
	runscript client Before "$LOCKS $1"
	[ -z "${5:-}" ] || runscript client Before "$5"
	runscript client After "$LOCKS"
	echo "}"
}
{
	# the Schedule of the run (written just before the director starts: see below)
	echo "@$BACULA_ETC/schedule.conf"
	for c in config:config sh0:sh0 sh1:sh1; do
		cat <<EOF
FileSet {
  Name = "member-${c%%:*}"
  Include {
    Options {
      signature = MD5
    }
    File = "$DATA/${c#*:}/2"
  }
}
EOF
	done
	admin_job cl-lock 10 "$MBH_PRE -c $CONF --job $RUN"
	component_job config-backup cfg-fd config "$H_CFG"
	component_job sh0-backup sh0-fd sh0 "$H_SH0"
	component_job sh1-backup sh1-fd sh1 "$H_SH1"
	admin_job cl-unlock 12 "$MBH_POST -c $CONF --job $RUN"
	# the failure paths: sh1's job breaks after its check; sh0's job waits to be cancelled
	component_job sh1-breaks sh1-fd sh1 "$H_SH1" "/bin/sh -c 'echo the backup of sh1 breaks; exit 3'"
	component_job sh0-slow sh0-fd sh0 "$H_SH0" "/bin/sh -c ': >$T_DIR/sh0-slow.started; sleep 8'"
	# why not one cluster job whose RunScript Console starts the component jobs: Bacula refuses it
	cat <<EOF
Job {
  Name = "console-run"
  JobDefs = "t-defs"
  Type = Admin
  RunScript {
    RunsWhen = Before
    RunsOnClient = no
    FailJobOnError = yes
    Console = "run job=sh0-backup yes"
  }
}
EOF
} >"$BACULA_ETC/jobs.conf"

# the shipped snippet, with the few resources it names, is a config this director accepts (-t)
SNIP=$T_DIR/snippet
mkdir "$SNIP"
: >"$SNIP/query.sql"
sqlite3 "$SNIP/bacula.db" <"$BACULA_SCHEMA"
{
	cat <<EOF
Director { Name = s-dir; DIRport = 9; DirAddress = 127.0.0.1; QueryFile = "$SNIP/query.sql"; WorkingDirectory = "$SNIP"; PidDirectory = "$SNIP"; Password = "x"; Messages = Standard; Maximum Concurrent Jobs = 10 }
Catalog { Name = MyCatalog; dbname = "bacula"; dbuser = ""; dbpassword = "" }
Messages { Name = Standard; console = all }
Storage { Name = File1; Address = 127.0.0.1; SDPort = 9; Password = "x"; Device = d; Media Type = File; Maximum Concurrent Jobs = 10 }
Pool { Name = File; Pool Type = Backup }
EOF
	for c in mongo-cfg-fd mongo-sh0-fd mongo-sh1-fd; do
		echo "Client { Name = $c; Address = 127.0.0.1; Password = \"x\"; Catalog = MyCatalog }"
	done
	echo "@$top_srcdir/conf/bacula-cluster-hooks-job.conf"
} >"$SNIP/bacula-dir.conf"
SOUT=$(timeout -k 2 30 env "${BACULA_RUN_ENV[@]}" "$BACULA_DIR_BIN" -t -c "$SNIP/bacula-dir.conf" 2>&1 </dev/null)
tap_ok $? "bacula-dir $BACULA_VERSION accepts conf/bacula-cluster-hooks-job.conf (-t)" || tap_diag "$SOUT"

COMPONENTS=(config-backup sh0-backup sh1-backup)
SCHEDULED=(cl-lock "${COMPONENTS[@]}" cl-unlock)
declare -A LOCK_OPTIME
# writers keep both shards' primaries busy through the whole test (bounded: 120 s)
SIM_CTL=$CTL_SH0 bacula_writer_start
SIM_CTL=$CTL_SH1 bacula_writer_start
rm -rf "$BARRIER" && mkdir "$BARRIER"
# The Schedule runs the five jobs at this minute, at once: the director's scheduler still runs a
# job whose time came less than 60 s ago when it starts.  Within the first 30 s of a minute, so that
# the director has started before that minute is over.
[ "$((10#$(date +%S)))" -le 30 ] || sleep $((61 - 10#$(date +%S)))
cat >"$BACULA_ETC/schedule.conf" <<EOF
Schedule {
  Name = "t-cluster"
  Run = Full hourly at 0:$(date +%M)
}
EOF

BACULA_EXTRA_FDS=(cfg-fd sh0-fd sh1-fd)
if ! bacula_start; then
	echo "Bail out! the Bacula daemons do not start"
	exit 1
fi
tap_pass "one director, one storage daemon and file daemons t-fd, cfg-fd, sh0-fd, sh1-fd listen (:$BACULA_DIR_PORT, :$BACULA_SD_PORT, :$BACULA_FD_PORT, :${BACULA_FD_PORTS[cfg-fd]}, :${BACULA_FD_PORTS[sh0-fd]}, :${BACULA_FD_PORTS[sh1-fd]})"

# run_cluster JOB...: queue the jobs in one console session, in this order (the Schedule's order);
# IDS[JOB] is each one's JobId; then wait for each to end.
declare -A IDS
run_cluster() {
	local j cmds=() ids out i=0
	IDS=()
	rm -rf "$BARRIER" && mkdir "$BARRIER" || return 1
	for j in "$@"; do
		cmds+=("run job=$j yes")
	done
	out=$(bacula_console "${cmds[@]}")
	read -r -a ids <<<"$(printf '%s\n' "$out" | sed -n 's/.*Job queued\. JobId=\([0-9][0-9]*\).*/\1/p' | tr '\n' ' ')"
	if [ "${#ids[@]}" != "$#" ]; then
		bacula_diag "bacula: not every job was queued:" "$out"
		return 1
	fi
	for j in "$@"; do
		IDS[$j]=${ids[i]}
		i=$((i + 1))
	done
	for j in "$@"; do
		bacula_wait_job "${IDS[$j]}" || return 1
	done
}

# jobs_sql WHAT JOB...: one value (e.g. MIN(StartTime)) over the jobs' catalog rows
jobs_sql() {
	local w=$1 j list=""
	shift
	for j in "$@"; do
		list="$list${list:+,}${IDS[$j]}"
	done
	bacula_sql "SELECT $w FROM Job WHERE JobId IN ($list);"
}

# log_of JOB NAME: the job's log in $T_OUT/NAME.log (its path printed)
log_of() {
	bacula_job_log "${IDS[$1]}" >"$T_OUT/$2.log"
	echo "$T_OUT/$2.log"
}

# assert_released WHAT: nothing locked, the balancer running again, no record left
assert_released() {
	tap_is "$(simc_locks)" "$NONE_LOCKED" "$1: no member of the cluster is locked"
	tap_is "$(balancer_mode)" full "$1: the balancer runs again"
	tap_is "$(find "$T_STATE" -name '*.state' | wc -l)" 0 "$1: no state record is left"
}

# ---- case 1: the whole run, as the Schedule starts it: find the five jobs in the catalog (bounded,
# 60 s), then wait for each to end
IDS=()
n=0
while [ "$n" -lt 600 ]; do
	for j in "${SCHEDULED[@]}"; do
		IDS[$j]=$(bacula_sql "SELECT MIN(JobId) FROM Job WHERE Name = '$j';")
	done
	[ -z "${IDS[cl-unlock]}" ] || break
	sleep 0.1
	n=$((n + 1))
done
rc=0
for j in "${SCHEDULED[@]}"; do
	[ -n "${IDS[$j]}" ] && bacula_wait_job "${IDS[$j]}" || rc=1
done
tap_ok "$rc" "the Schedule runs the lock job, the three component jobs and the unlock job to their ends" ||
	tap_diag "JobIds: $(for j in "${SCHEDULED[@]}"; do printf '%s=%s ' "$j" "${IDS[$j]}"; done)"
tap_is "$(jobs_sql "COUNT(*) || ' ' || (MAX(strftime('%s', SchedTime)) - MIN(strftime('%s', SchedTime)) <= 1)" "${SCHEDULED[@]}")" "5 1" \
	"the Schedule queued the five jobs at one time (within a second)"
# the scheduler queues the jobs of one time in Priority order: the lock job first, the unlock job last
tap_ok "$([ "${IDS[cl-lock]}" -lt "$(jobs_sql "MIN(JobId)" "${COMPONENTS[@]}")" ] &&
	[ "$(jobs_sql "MAX(JobId)" "${COMPONENTS[@]}")" -lt "${IDS[cl-unlock]}" ] && echo 0 || echo 1)" \
	"the Schedule queued cl-lock first and cl-unlock last (JobIds $(for j in "${SCHEDULED[@]}"; do printf '%s ' "${IDS[$j]}"; done))"
tap_is "$(bacula_job_status "${IDS[cl-lock]}")" T "cl-lock (Priority 10) ends T" || bacula_diag_job "${IDS[cl-lock]}"
for j in "${COMPONENTS[@]}"; do
	L=$(log_of "$j" "$j")
	tap_is "$(bacula_job_status "${IDS[$j]}")" T "$j (Priority 11) ends T" || bacula_diag_job "${IDS[$j]}"
	tap_like "$L" "BeforeJob: .* is locked for job $RUN" "$j: the director's check found its member locked for this run"
	tap_like "$L" "ClientBeforeJob: component jobs running together: 3" "$j: its client script met the other two component jobs running"
	tap_like "$L" "ClientBeforeJob: locks: $ALL_LOCKED balancer: mode=off" \
		"$j: as its client starts reading, every chosen member is locked and the balancer is off"
	tap_like "$L" "ClientAfterJob: locks: $ALL_LOCKED balancer: mode=off" \
		"$j: when its client has read everything, the locks still hold"
	comp=${j%-backup}
	O1=$(sed -n "s/.*ClientBeforeJob: optimes: .*\\<$comp:\\([0-9:]*\\).*/\\1/p" "$L" | head -n 1)
	O2=$(sed -n "s/.*ClientAfterJob: optimes: .*\\<$comp:\\([0-9:]*\\).*/\\1/p" "$L" | head -n 1)
	tap_ok "$([ -n "$O1" ] && [ "$O1" = "$O2" ] && echo 0 || echo 1)" \
		"$j: its member's optime did not move while its files were read ($O1, then $O2)"
	LOCK_OPTIME[$comp]=$O1
	F=$(bacula_sql "SELECT JobFiles || ' ' || JobErrors FROM Job WHERE JobId = ${IDS[$j]};")
	tap_ok "$([ "${F%% *}" -gt 1 ] 2>/dev/null && [ "${F#* }" = 0 ] && echo 0 || echo 1)" \
		"$j saved its member's files without errors (JobFiles JobErrors: $F)"
done
tap_is "$(bacula_job_status "${IDS[cl-unlock]}")" T "cl-unlock (Priority 12) ends T" || bacula_diag_job "${IDS[cl-unlock]}"
# the order, from the catalog's times (seconds): the component jobs start after the lock job ended,
# and the unlock starts after the last ended
LOCK_END=$(jobs_sql "strftime('%s', EndTime)" cl-lock)
C_START=$(jobs_sql "MIN(strftime('%s', StartTime))" "${COMPONENTS[@]}")
C_END=$(jobs_sql "MAX(strftime('%s', EndTime))" "${COMPONENTS[@]}")
UNLOCK_START=$(jobs_sql "strftime('%s', StartTime)" cl-unlock)
tap_ok "$([ "$LOCK_END" -le "$C_START" ] 2>/dev/null && echo 0 || echo 1)" \
	"the component jobs start after the lock job ended ($LOCK_END <= $C_START)"
tap_ok "$([ "$C_END" -le "$UNLOCK_START" ] 2>/dev/null && echo 0 || echo 1)" \
	"the unlock job starts after the last component job ended ($C_END <= $UNLOCK_START)"
assert_released "after the run"

# the restore of one shard: a whole copy of its locked member
WHERE=$T_DIR/where
RJOB=$(BACULA_CLIENT=sh0-fd bacula_restore "${IDS[sh0-backup]}" "$WHERE")
tap_is "$(bacula_job_status "$RJOB")" T "the restore of sh0's backup ends T" || bacula_diag_job "$RJOB"
VOUT=$(timeout -k 2 30 "$MBH_SIM" verify "$WHERE$DATA/sh0/2" 2>&1)
tap_ok $? "mongo-rs-sim verify: the restored copy of sh0's member 2 is whole" || tap_diag "$VOUT"
tap_is "$(printf '%s\n' "$VOUT" | sed -n 's/^ok .*last_optime=\([0-9]*:[0-9]*\).*/\1/p')" "${LOCK_OPTIME[sh0]}" \
	"the restored copy ends at the optime sh0's member 2 had while locked"
COPY_RECORDS=$(printf '%s\n' "$VOUT" | sed -n 's/^ok records=\([0-9]*\) .*/\1/p')
# the primary is being written: verify can catch it between two writes, so retry (bounded, 10 s)
P_RECORDS=""
for _ in $(seq 200); do
	P_RECORDS=$(timeout -k 2 30 "$MBH_SIM" verify "$DATA/sh0/0" 2>/dev/null | sed -n 's/^ok records=\([0-9]*\) .*/\1/p')
	[ -n "$P_RECORDS" ] && break
	sleep 0.05
done
tap_ok "$([ -n "$COPY_RECORDS" ] && [ -n "$P_RECORDS" ] && [ "$P_RECORDS" -gt "$COPY_RECORDS" ] && echo 0 || echo 1)" \
	"sh0's primary took writes during and after the lock (${P_RECORDS:-?} records, the copy ${COPY_RECORDS:-?})"

# ---- case 0: a RunScript Console cannot start the component jobs (nor wait for them)
N0=$(bacula_sql "SELECT COUNT(*) FROM Job WHERE Name = 'sh0-backup';")
CJ=$(bacula_run_job console-run)
tap_is "$(bacula_job_status "$CJ")" E "case 0: a job whose RunScript Console says 'run job=sh0-backup' ends E" || bacula_diag_job "$CJ"
tap_is "$(bacula_sql "SELECT COUNT(*) FROM Job WHERE Name = 'sh0-backup';")" "$N0" "case 0: and sh0-backup was not queued"

# ---- case 2: a component job fails after its check: the others end T, the unlock still runs
run_cluster cl-lock config-backup sh0-backup sh1-breaks cl-unlock
tap_ok $? "case 2: the five jobs run to their ends"
tap_is "$(bacula_job_status "${IDS[cl-lock]}")" T "case 2: cl-lock ends T"
L=$(log_of sh1-breaks sh1-breaks)
tap_is "$(bacula_job_status "${IDS[sh1-breaks]}")" f "case 2: the broken job sh1-breaks ends f" || bacula_diag_job "${IDS[sh1-breaks]}"
tap_like "$L" "ClientBeforeJob: the backup of sh1 breaks" "case 2: it broke after its check, with its member locked"
tap_is "$(jobs_sql "GROUP_CONCAT(JobStatus, '')" config-backup sh0-backup)" TT "case 2: the other component jobs end T"
tap_is "$(bacula_job_status "${IDS[cl-unlock]}")" T "case 2: cl-unlock ends T" || bacula_diag_job "${IDS[cl-unlock]}"
assert_released "case 2"

# ---- case 3: a component job is cancelled while it runs: the unlock runs after it
rm -rf "$BARRIER" && mkdir "$BARRIER"
out=$(bacula_console "run job=cl-lock yes" "run job=config-backup yes" "run job=sh0-slow yes" "run job=sh1-backup yes" "run job=cl-unlock yes")
read -r -a Q <<<"$(printf '%s\n' "$out" | sed -n 's/.*Job queued\. JobId=\([0-9][0-9]*\).*/\1/p' | tr '\n' ' ')"
tap_is "${#Q[@]}" 5 "case 3: the five jobs are queued" || tap_diag "$out"
IDS=([cl-lock]=${Q[0]} [config-backup]=${Q[1]} [sh0-slow]=${Q[2]} [sh1-backup]=${Q[3]} [cl-unlock]=${Q[4]})
n=0
while [ ! -e "$T_DIR/sh0-slow.started" ] && [ "$n" -lt 1500 ]; do
	sleep 0.02
	n=$((n + 1))
done
tap_ok "$([ -e "$T_DIR/sh0-slow.started" ] && echo 0 || echo 1)" "case 3: sh0-slow runs (its client script started)"
tap_is "$(simc_locks)" "$ALL_LOCKED" "case 3: while it runs, every chosen member is locked"
bacula_cancel "${IDS[sh0-slow]}" >/dev/null
for j in cl-lock config-backup sh0-slow sh1-backup cl-unlock; do
	bacula_wait_job "${IDS[$j]}" || tap_diag "case 3: $j did not end"
done
tap_is "$(bacula_job_status "${IDS[sh0-slow]}")" A "case 3: sh0-slow ends A (cancelled)" || bacula_diag_job "${IDS[sh0-slow]}"
tap_is "$(jobs_sql "GROUP_CONCAT(JobStatus, '')" cl-lock config-backup sh1-backup)" TTT "case 3: the lock job and the other component jobs end T"
tap_is "$(bacula_job_status "${IDS[cl-unlock]}")" T "case 3: cl-unlock ends T" || bacula_diag_job "${IDS[cl-unlock]}"
assert_released "case 3"

# ---- case 4: the lock is refused (another tool holds sh1's passive member): the lock job fails, every
# component job's check fails before its client reads anything, the unlock runs and leaves that lock alone
simc_ctl "$CTL_SH1" lock 2 >/dev/null
tap_ok $? "case 4: another tool fsync-locks sh1's member 2"
run_cluster cl-lock "${COMPONENTS[@]}" cl-unlock
tap_ok $? "case 4: the five jobs run to their ends"
L=$(log_of cl-lock refused-lock)
# a director-side Before script that fails ends the job E (9.6 and 15 alike); a client-side one f
tap_is "$(bacula_job_status "${IDS[cl-lock]}")" E "case 4: cl-lock ends E (its script failed)" || bacula_diag_job "${IDS[cl-lock]}"
tap_like "$L" "BeforeJob: mongo-prebackup: error: " "case 4: the pre-backup's reason is in the lock job's log"
for j in "${COMPONENTS[@]}"; do
	L=$(log_of "$j" "refused-$j")
	tap_is "$(bacula_job_status "${IDS[$j]}")" E "case 4: $j ends E (its check failed)" || bacula_diag_job "${IDS[$j]}"
	tap_like "$L" "BeforeJob: mongo-postbackup: error: .* is not locked for job $RUN" "case 4: $j: the check says its member is not locked"
	tap_is "$(bacula_sql "SELECT JobFiles FROM Job WHERE JobId = ${IDS[$j]};")" 0 "case 4: $j saved no file"
done
tap_is "$(bacula_job_status "${IDS[cl-unlock]}")" T "case 4: cl-unlock ends T (nothing to release)" || bacula_diag_job "${IDS[cl-unlock]}"
tap_is "$(simc_locks)" "csrs:0:0,1:0,2:0 sh0:0:0,1:0,2:0 sh1:0:0,1:0,2:1" "case 4: only the other tool's lock is held"
tap_is "$(balancer_mode)" full "case 4: the balancer runs"
simc_ctl "$CTL_SH1" unlock 2 >/dev/null
tap_is "$(simc_locks)" "$NONE_LOCKED" "case 4: after the other tool unlocks, nothing is locked"

bacula_writer_stop
bacula_stop
tap_ok "$([ -z "$(t_alive_entries .bacula)" ] && echo 0 || echo 1)" "the Bacula daemons stopped on SIGTERM"
tap_diag "elapsed: ${SECONDS} s"
tap_done
