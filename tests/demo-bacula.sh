#!/bin/bash
# demo-bacula.sh: `make demo-bacula` — plugin mode in real Bacula daemons on loopback: a simulated
# 3-member set whose primary takes writes, a FileSet line `Plugin = "mongo: config=..."` with the
# shipped example scripts (dump-copy.sh as script.backup, untar-restore.sh as script.restore), the
# job's log, a restore, `mongo-rs-sim verify` of the restored copy, and proof nothing is left locked.
# The Bacula is the system's, or with `make demo-bacula BACULA=15` (BACULA_SERIES=15) Bacula 15.0.3 as
# tools/install-deps unpacks it (tests/bacula/baculalib.sh).
# SPDX-License-Identifier: AGPL-3.0-or-later
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
. "$top_srcdir/tests/bacula/fdplugin.sh"

if [ -t 1 ]; then bold=$(printf '\033[1m'); plain=$(printf '\033[0m'); else bold=""; plain=""; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
die() { echo "demo-bacula: $*" >&2; exit "${2:-70}"; }

for p in "$MBH_SIM" "$MBH_PLUGIN" "$MONGO_BACKUP_WATCHDOG"; do
	[ -e "$p" ] || die "$p is not built: run make first" 69
done
[ "${MBH_SANITIZERS:-no}" != yes ] || die "mongo-fd.so is built with sanitizers: Debian's bacula-fd cannot load it" 69
bacula_choose || die "$BACULA_WHY" 69

# simlib's temp dir and cleanup (daemons, writer and simulator are stopped by pid at exit); its TAP
# lines are not the demo's business.
t_init >/dev/null
bacula_init >/dev/null
bacula_add_plugin "$MBH_PLUGIN" || die "cannot copy $MBH_PLUGIN"
# shellcheck disable=SC2034 # read by bacula_start
BACULA_FD_ENV=(MONGO_BACKUP_WATCHDOG="$MONGO_BACKUP_WATCHDOG" MONGOC_DISABLE_SHM=1)
SECONDS=0

say "a simulated replica set with data directories (tests/sim/topologies/demo.conf)"
DATA=$T_DIR/data
sim_start "$top_srcdir/tests/sim/topologies/demo.conf" --data-dir "$DATA" || die "the simulator does not start" 69
echo "seed list: $SIM_URI"
sim_ctl status

say "the plugin-mode config: conf/mongo-backup-plugin.conf.example with this set, and the shipped scripts"
password=$(sed -n 's/.*name *= *"backup"; *password *= *"\([^"]*\)".*/\1/p' "$top_srcdir/tests/sim/topologies/demo.conf" | head -n 1)
t_secret "$T_DIR/rs0.secret" "$password"
# dump-copy.sh needs the member's dbPath; here every member's is DATA/<_id>, found from its port.
cat >"$T_DIR/dump-member.sh" <<EOF
#!/bin/sh
id=\$("$MBH_SIM" ctl "$SIM_CTL" status | sed -n "s/^id=\\([0-9]*\\) host=\$MONGO_BACKUP_HOST:\$MONGO_BACKUP_PORT .*/\\1/p")
exec "$top_srcdir/conf/scripts/dump-copy.sh" - "$DATA/\$id"
EOF
chmod +x "$T_DIR/dump-member.sh"
sed -e "s|^uri = .*|uri = \"$SIM_URI\";|" \
	-e "s|/etc/mongo-backup/rs0.secret|$T_DIR/rs0.secret|" \
	-e "s|policy = \"local\";|policy = \"auto\";|" \
	-e "s|^state_dir = .*|state_dir = \"$T_STATE\";|" \
	-e "s|\"/usr/local/lib/mongo-backup/dump-copy.sh\", \"-\", \"/var/lib/mongodb\"|\"$T_DIR/dump-member.sh\"|" \
	-e "s|/usr/local/lib/mongo-backup/untar-restore.sh|$top_srcdir/conf/scripts/untar-restore.sh|" \
	"$top_srcdir/conf/mongo-backup-plugin.conf.example" | grep -v '^ *#' | grep -v '^$' >"$T_DIR/rs0.conf"
cat "$T_DIR/rs0.conf"
"$MBH_PRE" -c "$T_DIR/rs0.conf" --dry-run

{
	fp_fileset MongoRS0-plugin "mongo: config=$T_DIR/rs0.conf"
	fp_job MongoRS0-plugin MongoRS0-plugin
} >"$BACULA_ETC/jobs.conf"
say "the Bacula resources: FileSet and Job (the rest is tests/bacula/baculalib.sh's)"
cat "$BACULA_ETC/jobs.conf"
bacula_start || die "the Bacula daemons do not start" 69
echo "$BACULA_ABOUT"
echo "bacula-dir :$BACULA_DIR_PORT, bacula-sd :$BACULA_SD_PORT, bacula-fd :$BACULA_FD_PORT (mongo-fd.so in its Plugin Directory)"

# A writer keeps the primary busy until the end.
sim_ctl write 100 >/dev/null
bacula_writer_start

say "run job=MongoRS0-plugin: the job's log"
JOB=$(bacula_run_job MongoRS0-plugin) || die "the backup job did not end"
bacula_job_log "$JOB" | grep -E 'mongo-fd:|Termination:|FD Bytes Written:|Elapsed time:'
[ "$(bacula_job_status "$JOB")" = T ] || die "the backup job ended with JobStatus $(bacula_job_status "$JOB")"
echo "catalog: $(bacula_sql "SELECT 'JobId=' || JobId || ' JobStatus=' || JobStatus || ' JobFiles=' || JobFiles || ' JobBytes=' || JobBytes FROM Job WHERE JobId = $JOB;")"
MEMBER=$(bacula_job_log "$JOB" | sed -n 's/.*mongo-fd: locked \([^ ]*\) .*/\1/p' | head -n 1)
MID=$(fp_member_id "$MEMBER")
sim_ctl status

say "restore jobid=$JOB where=$T_DIR/restore: the stream goes into untar-restore.sh"
RJOB=$(bacula_restore "$JOB" "$T_DIR/restore") || die "the restore job did not end"
bacula_job_log "$RJOB" | grep -E 'mongo-fd:|Termination:'
[ "$(bacula_job_status "$RJOB")" = T ] || die "the restore job ended with JobStatus $(bacula_job_status "$RJOB")"
COPY=$T_DIR/restore/rs0-${MEMBER%:*}-${MEMBER##*:}

say "mongo-rs-sim verify: the restored copy, and the member and the primary now"
copy=$("$MBH_SIM" verify "$COPY") || die "the restored copy is not whole: $copy"
echo "restored copy of $MEMBER: $copy"
echo "member $MEMBER now:      $("$MBH_SIM" verify "$DATA/$MID")"
bacula_writer_stop
echo "the copy is whole: the member's files as of its lock, while the primary kept taking writes"

say "afterwards"
sim_ctl status
[ "$(sim_lock_total)" = 0 ] || die "a member is still locked"
[ ! -e "$T_STATE/rs0.state" ] || die "a state record is left"
echo "nothing is left locked: every member reports lockCount=0, and no state record is left (${SECONDS} s)"
