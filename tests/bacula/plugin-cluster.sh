#!/bin/bash
# plugin-cluster.sh: plugin mode on a sharded cluster in a real Bacula job.  A FileSet line
# `Plugin = "mongo: config=..."` whose config names a mongos (a simulated CSRS and two shards): the
# job locks one secondary per component with the balancer stopped, and stores one file per component,
# /@mongo/CLUSTER/COMPONENT/MEMBER/SCRIPT, each the tar of that component's locked member made while
# every chosen member was locked; after it, everything is unlocked and the balancer runs again.  A
# restore of one shard (that one file selected) streams exactly its bytes into the restore command for
# that shard, and `mongo-rs-sim verify` finds the restored copy whole; so does a restore of all three.
# Then exact mode (cluster.mode "exact"): one job snapshots every primary (cp -a) under one lock through
# the mongos and stores each component's tar of its snapshot while nothing is locked; the three copies
# are whole and of one moment (verify --cluster) and every snapshot is removed after.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/fdplugin.sh"
# shellcheck source=../integration/sim-cluster.sh
. "$top_srcdir/tests/integration/sim-cluster.sh"
fp_init
tap_plan 39
SECONDS=0

# shellcheck disable=SC2034 # read by t_config
T_PASS=backup-pw # the cluster topologies' user
UNLOCKED="csrs:0:0,1:0,2:0 sh0:0:0,1:0,2:0 sh1:0:0,1:0,2:0"
DATA=$T_DIR/data
SIMC_DATA_DIR=$DATA simc_start 2 || { echo "Bail out! the simulated cluster does not start"; exit 1; }
read -r -a SHARD_CTLS <<<"$SIMC_SHARD_CTLS"
CREC=$T_STATE/csrs.cluster.state
balancer_mode() { simc_ctl "$SIMC_CTL" balancer | sed -n 's/^mode=\([^ ]*\).*/\1/p'; }

# The backup command: the locked member's data directory of its component as a tar stream (a copy kept
# to compare), with every set's lock count and the balancer as it starts.  The restore command: the
# stream unpacked under where, in COMPONENT/, with its arguments and environment kept.
cat >"$T_DIR/tar-comp.sh" <<EOF
#!/bin/bash
c=\$MONGO_BACKUP_COMPONENT
case \$c in
config) ctl=$SIMC_CONFIG_CTL dir=$DATA/config ;;
sh0) ctl=${SHARD_CTLS[0]} dir=$DATA/sh0 ;;
sh1) ctl=${SHARD_CTLS[1]} dir=$DATA/sh1 ;;
*) echo "unknown component \$c" >&2; exit 2 ;;
esac
id=\$("$MBH_SIM" ctl "\$ctl" status | sed -n "s/^id=\\([0-9]*\\) host=\$MONGO_BACKUP_HOST:\$MONGO_BACKUP_PORT .*/\\1/p")
[ -n "\$id" ] || { echo "no member \$MONGO_BACKUP_HOST:\$MONGO_BACKUP_PORT in \$c" >&2; exit 2; }
{ for s in $SIMC_CONFIG_CTL $SIMC_SHARD_CTLS; do echo "locked:\$("$MBH_SIM" ctl "\$s" status | grep -c 'lockCount=1')"; done
  "$MBH_SIM" ctl "$SIMC_CTL" balancer; } >"$T_OUT/\$c.state"
tar -C "\$dir/\$id" -cf - . | tee "$T_OUT/backup.\$c.tar"
EOF
cat >"$T_DIR/untar-comp.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$T_OUT/restore.\$MONGO_BACKUP_COMPONENT.argv"
mkdir -p "\$MONGO_BACKUP_WHERE/\$MONGO_BACKUP_COMPONENT" || exit 1
tee "$T_OUT/restore.\$MONGO_BACKUP_COMPONENT.tar" | tar -C "\$MONGO_BACKUP_WHERE/\$MONGO_BACKUP_COMPONENT" -xf -
EOF
chmod +x "$T_DIR/tar-comp.sh" "$T_DIR/untar-comp.sh"
CONF=$T_DIR/cluster.conf
CFG_URI=$SIMC_URI t_config "$CONF" 'lock = { max_seconds = 300; };' \
	"script = { backup = [ \"$T_DIR/tar-comp.sh\" ]; restore = [ \"$T_DIR/untar-comp.sh\", \"%s\", \"%h\", \"%p\" ]; timeout = 120; };"
# exact mode: snapshot.create copies the primary's data directory, script.backup tars the snapshot (%S)
SNAPS=$T_DIR/snaps
mkdir -p "$SNAPS"
cat >"$T_DIR/snap.sh" <<EOF
#!/bin/bash
set -eu
echo "\$*" >>"$T_OUT/snap.log"
case \$1 in
create)
	case \$4 in csrs) ctl=$SIMC_CONFIG_CTL; dir=config ;; sh0) ctl=${SHARD_CTLS[0]}; dir=sh0 ;;
	sh1) ctl=${SHARD_CTLS[1]}; dir=sh1 ;; *) exit 64 ;; esac
	id=\$("$MBH_SIM" ctl "\$ctl" status | sed -n "s/^id=\([0-9]*\) host=\$2:\$3 .*/\1/p")
	[ -n "\$id" ] || exit 65
	cp -a "$DATA/\$dir/\$id" "$SNAPS/\$dir.\$\$"
	echo "$SNAPS/\$dir.\$\$"
	;;
remove) rm -rf "\$2" ;;
*) exit 64 ;;
esac
EOF
cat >"$T_DIR/tar-snap.sh" <<EOF
#!/bin/bash
"$MBH_SIM" ctl "$SIMC_CTL" members >"$T_OUT/exact.\$MONGO_BACKUP_COMPONENT.locks"
tar -C "\$1" -cf - . | tee "$T_OUT/exact.\$MONGO_BACKUP_COMPONENT.tar"
EOF
chmod +x "$T_DIR/snap.sh" "$T_DIR/tar-snap.sh"
ECONF=$T_DIR/exact.conf
CFG_URI=$SIMC_URI t_config "$ECONF" 'cluster = { mode = "exact"; };' \
	"script = { backup = [ \"$T_DIR/tar-snap.sh\", \"%S\" ]; timeout = 120; };" \
	"snapshot = { create = [ \"$T_DIR/snap.sh\", \"create\", \"%h\", \"%p\", \"%s\" ]; remove = [ \"$T_DIR/snap.sh\", \"remove\", \"%S\" ]; timeout = 60; };"
{
	fp_fileset mongo-cluster "mongo: config=$CONF"
	fp_job mongo-cluster mongo-cluster
	fp_fileset mongo-exact "mongo: config=$ECONF"
	fp_job mongo-exact mongo-exact
} >"$BACULA_ETC/jobs.conf"
bacula_start || { echo "Bail out! the Bacula daemons do not start"; exit 1; }
tap_pass "bacula-sd, bacula-fd (with mongo-fd.so) and bacula-dir listen on 127.0.0.1"

# ---- the backup
t0=$SECONDS
JOB=$(bacula_run_job mongo-cluster)
tap_ok $? "job mongo-cluster runs to its end (JobId ${JOB:-none}, $((SECONDS - t0)) s)"
LOG=$T_OUT/job.log
bacula_job_log "$JOB" >"$LOG"
tap_is "$(bacula_job_status "$JOB")" T "the job ends with JobStatus T" || bacula_diag_job "$JOB"
tap_is "$(fp_job_field "$JOB" JobFiles) $(fp_job_field "$JOB" JobErrors)" "3 0" \
	"three files (the config servers and two shards), no errors"
SIZE=$(cat "$T_OUT"/backup.*.tar 2>/dev/null | wc -c)
tap_is "$(fp_job_field "$JOB" JobBytes)" "$SIZE" "JobBytes is the size of the three commands' output ($SIZE)"
FILES=$(bacula_sql "SELECT Path.Path || File.Filename FROM File JOIN Path USING (PathId) WHERE File.JobId = $((JOB)) ORDER BY 1;" 2>/dev/null ||
	bacula_sql "SELECT Path.Path || Filename.Name FROM File JOIN Path USING (PathId) JOIN Filename USING (FilenameId) WHERE File.JobId = $((JOB)) ORDER BY 1;")
printf '%s\n' "$FILES" >"$T_OUT/catalog"
tap_is "$(grep -cE '^/@mongo/csrs/(config|sh0|sh1)/127\.0\.0\.1:[0-9]+/tar-comp\.sh$' "$T_OUT/catalog") $(cut -d/ -f4 "$T_OUT/catalog" | tr '\n' ' ')" \
	"3 config sh0 sh1 " "the catalog has /@mongo/csrs/COMPONENT/MEMBER/tar-comp.sh for config, sh0 and sh1" || tap_diag "$FILES"
for c in config sh0 sh1; do
	tap_is "$(grep -c '^locked:1$' "$T_OUT/$c.state" 2>/dev/null)" 3 \
		"while $c's command ran, each of the three sets had one member locked"
done
tap_is "$(cat "$T_OUT"/*.state | grep -c '^mode=off ')" 3 "... and the balancer was off for all three"
tap_like "$LOG" 'mongo-fd: cluster csrs locked \(skew [0-9]+ ms\): config=127\.0\.0\.1:[0-9]+ \(\+[0-9]+ ms\) sh0=.* sh1=' \
	"job log: the cluster's locks, each member's lock time and the skew"
tap_like "$LOG" 'mongo-fd: cluster csrs was locked for [0-9.]+ s; '"$SIZE"' bytes streamed; every lock released after the last component' \
	"job log: seconds locked, bytes streamed, every lock released after the last component"
tap_is "$(simc_locks)" "$UNLOCKED" "after the job no member is locked"
tap_is "$(balancer_mode)" full "after the job the balancer runs again"
tap_ok "$([ ! -e "$CREC" ] && [ -z "$(find "$T_STATE/csrs.cluster.d" -name '*.state' 2>/dev/null)" ] && echo 0 || echo 1)" \
	"after the job no cluster record and no component record is left"

# ---- the restore of one shard: its file alone selected
SH1=$(grep '^/@mongo/csrs/sh1/' "$T_OUT/catalog")
WHERE=$T_DIR/where
out=$(bacula_console "restore jobid=$((JOB)) client=$BACULA_CLIENT restoreclient=$BACULA_CLIENT where=$WHERE file=$SH1 yes")
RJOB=$(printf '%s\n' "$out" | bacula_queued_jobid)
[ -n "$RJOB" ] && bacula_wait_job "$RJOB" >/dev/null
tap_ok "$([ -n "$RJOB" ] && echo 0 || echo 1)" "the restore of $SH1 alone runs to its end (JobId ${RJOB:-none})" ||
	tap_diag "$out"
tap_is "$(bacula_job_status "$RJOB")" T "the restore ends with JobStatus T" || bacula_diag_job "$RJOB"
tap_is "$(fp_job_field "$RJOB" JobFiles)" 1 "the restore restored one file"
tap_ok "$(cmp -s "$T_OUT/backup.sh1.tar" "$T_OUT/restore.sh1.tar" && echo 0 || echo 1)" \
	"the restore command got sh1's backup command's bytes, byte for byte"
tap_ok "$([ ! -e "$T_OUT/restore.sh0.tar" ] && [ ! -e "$T_OUT/restore.config.tar" ] && echo 0 || echo 1)" \
	"nothing of config or sh0 was restored"
M=${SH1#/@mongo/csrs/sh1/}
M=${M%/tar-comp.sh}
tap_is "$(tr '\n' ' ' <"$T_OUT/restore.sh1.argv" 2>/dev/null)" "sh1 ${M%:*} ${M##*:} " \
	"the restore command got the shard and its member at the backup (%s %h %p)"
VERIFY_OUT=$(timeout -k 2 30 "$MBH_SIM" verify "$WHERE/sh1" 2>&1)
tap_is "$?" 0 "mongo-rs-sim verify: the restored copy of sh1 is whole" || tap_diag "$VERIFY_OUT"

# ---- the restore of all three
rm -f "$T_OUT"/restore.*.tar
RALL=$(bacula_restore "$JOB" "$T_DIR/where-all")
tap_ok $? "the restore of every file of job $JOB runs to its end (JobId ${RALL:-none})"
tap_is "$(bacula_job_status "$RALL") $(fp_job_field "$RALL" JobFiles)" "T 3" "the restore of all ends T with three files" ||
	bacula_diag_job "$RALL"
for c in config sh0 sh1; do
	set=$c
	[ "$c" = config ] && set=csrs
	tap_ok "$(cmp -s "$T_OUT/backup.$c.tar" "$T_OUT/restore.$c.tar" &&
		timeout -k 2 30 "$MBH_SIM" verify "$T_DIR/where-all/$c" >/dev/null 2>&1 && echo 0 || echo 1)" \
		"restore of all: $c's stream went to the restore command for $c, byte for byte, and the copy of $set is whole"
done
tap_is "$(simc_locks)" "$UNLOCKED" "after the restores no member is locked"

# ---- exact mode: one job, every primary snapshotted at one moment, each file from its snapshot
t0=$SECONDS
EJOB=$(bacula_run_job mongo-exact)
tap_ok $? "job mongo-exact (cluster.mode exact) runs to its end (JobId ${EJOB:-none}, $((SECONDS - t0)) s)"
bacula_job_log "$EJOB" >"$T_OUT/exact.log"
tap_is "$(bacula_job_status "$EJOB") $(fp_job_field "$EJOB" JobFiles) $(fp_job_field "$EJOB" JobErrors)" "T 3 0" \
	"exact: JobStatus T, three files, no errors" || bacula_diag_job "$EJOB"
EFILES=$(bacula_sql "SELECT Path.Path || File.Filename FROM File JOIN Path USING (PathId) WHERE File.JobId = $((EJOB)) ORDER BY 1;" 2>/dev/null ||
	bacula_sql "SELECT Path.Path || Filename.Name FROM File JOIN Path USING (PathId) JOIN Filename USING (FilenameId) WHERE File.JobId = $((EJOB)) ORDER BY 1;")
named=0
for c in config sh0 sh1; do
	set=$c
	[ "$c" = config ] && set=csrs
	p=$(sed -n "s/^create \([^ ]*\) \([0-9]*\) $set\$/\1:\2/p" "$T_OUT/snap.log")
	printf '%s\n' "$EFILES" | grep -qx "/@mongo/csrs/$c/$p/tar-snap.sh" && named=$((named + 1))
done
tap_is "$named" 3 "exact: the catalog names each component's file after the primary that was snapshotted" || tap_diag "$EFILES"
tap_is "$(cat "$T_OUT"/exact.*.locks 2>/dev/null | grep -c 'lockCount=[1-9]') $(find "$T_OUT" -name 'exact.*.locks' | wc -l)" "0 3" \
	"exact: nothing was locked while each of the three commands streamed"
args=()
for c in config sh0 sh1; do
	mkdir -p "$T_DIR/ecopy/$c"
	tar -C "$T_DIR/ecopy/$c" -xf "$T_OUT/exact.$c.tar" 2>/dev/null
	args+=("$c=$T_DIR/ecopy/$c")
done
VERIFY_OUT=$(timeout -k 2 60 "$MBH_SIM" verify --cluster "${args[@]}" 2>&1)
tap_is "$?" 0 "exact: verify --cluster on the three stored streams: exit 0" || tap_diag "$VERIFY_OUT"
printf '%s\n' "$VERIFY_OUT" >"$T_OUT/exact.verify"
tap_like "$T_OUT/exact.verify" '^cluster: one moment: ' "exact: ... one moment"
tap_like "$T_OUT/exact.log" 'mongo-fd: cluster csrs: snapshots held for [0-9.]+ s; [0-9]+ bytes streamed; every snapshot removed after the last component' \
	"exact: job log: every snapshot removed after the last component"
tap_is "$(find "$SNAPS" -mindepth 1 -maxdepth 1 | wc -l) $(grep -c '^create ' "$T_OUT/snap.log") $(grep -c '^remove ' "$T_OUT/snap.log")" "0 3 3" \
	"exact: three snapshots made, each removed once, none left"
tap_ok "$([ ! -e "$CREC" ] && echo 0 || echo 1)" "exact: no cluster record left"
tap_is "$(simc_locks) $(balancer_mode)" "$UNLOCKED full" "exact: nothing locked and the balancer runs after the job"

bacula_stop
tap_ok "$([ -z "$(t_alive_entries .bacula)" ] && echo 0 || echo 1)" "the Bacula daemons stopped on SIGTERM"
tap_diag "elapsed: ${SECONDS} s"
tap_done
