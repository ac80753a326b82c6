# fdplugin.sh: what the plugin-mode end-to-end tests share, on top of baculalib.sh: the built
# mongo-fd.so in the file daemon's Plugin Directory, FileSets and Jobs with a Plugin line, starting a
# job without waiting for it, and the simulator's member table.  Source it from bash:
#   . "$top_srcdir/tests/bacula/fdplugin.sh"
# SPDX-License-Identifier: AGPL-3.0-or-later

top_builddir=${top_builddir:-$(pwd)}
top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=baculalib.sh
. "$top_srcdir/tests/bacula/baculalib.sh"

MBH_PLUGIN=${MBH_PLUGIN:-$top_builddir/plugin/.libs/mongo-fd.so}
MONGO_BACKUP_WATCHDOG=${MONGO_BACKUP_WATCHDOG:-$top_builddir/watchdog/mongo-backup-watchdog}
export MBH_PLUGIN MONGO_BACKUP_WATCHDOG

# fp_init: simlib's t_init, baculalib's bacula_init, the plugin copied into the Plugin Directory and
# bacula-fd told where the build tree's watchdog is.  Skips the test (TAP) when Bacula is missing,
# the plugin is not built, or it was built with sanitizers (an ASan mongo-fd.so cannot be loaded by
# Debian's bacula-fd, which is built without them).
fp_init() {
	t_init
	[ "${MBH_SANITIZERS:-no}" != yes ] ||
		tap_skip_all "mongo-fd.so is built with sanitizers; Debian's bacula-fd cannot load it"
	[ -f "$MBH_PLUGIN" ] || tap_skip_all "$MBH_PLUGIN is not built"
	[ -x "$MONGO_BACKUP_WATCHDOG" ] || tap_skip_all "$MONGO_BACKUP_WATCHDOG is not built"
	bacula_init
	bacula_add_plugin "$MBH_PLUGIN" || { echo "Bail out! cannot copy $MBH_PLUGIN"; exit 1; }
	# shellcheck disable=SC2034 # read by bacula_start
	BACULA_FD_ENV=(MONGO_BACKUP_WATCHDOG="$MONGO_BACKUP_WATCHDOG" MONGOC_DISABLE_SHM=1)
}

# fp_fileset NAME PLUGIN-STRING: a FileSet with one Plugin line (MD5 signatures, as sites use).
fp_fileset() {
	cat <<EOF
FileSet {
  Name = "$1"
  Include {
    Options {
      signature = MD5
    }
    Plugin = "$2"
  }
}
EOF
}

# fp_job NAME FILESET: a backup Job of the base JobDefs with that FileSet.
fp_job() {
	cat <<EOF
Job {
  Name = "$1"
  JobDefs = "t-defs"
  FileSet = "$2"
}
EOF
}

# fp_command_job NAME MAX [SCRIPT-SETTINGS]: $T_DIR/rs0.conf with lock.max_seconds = MAX and
# script.backup = $T_DIR/NAME.sh (and SCRIPT-SETTINGS in the script group, e.g. "idle_timeout = 3;"),
# and the jobs: a FileSet NAME whose plugin reads it, and its Job mongo-NAME.
fp_command_job() {
	t_config "$T_DIR/rs0.conf" "lock = { max_seconds = $2; };" "script = { backup = [ \"$T_DIR/$1.sh\" ]; ${3:-}};"
	{
		fp_fileset "$1" "mongo: config=$T_DIR/rs0.conf"
		fp_job "mongo-$1" "$1"
	} >"$BACULA_ETC/jobs.conf"
}

# fp_hang_job MAX: fp_command_job hang MAX with $T_DIR/hang.sh: 1 MiB, then it hangs with the lock
# held (its pid in $T_OUT/hang.pid once the bytes are out).
fp_hang_job() {
	cat >"$T_DIR/hang.sh" <<EOF
#!/bin/sh
head -c 1048576 /dev/zero
echo \$\$ >"$T_OUT/hang.pid.tmp" && mv "$T_OUT/hang.pid.tmp" "$T_OUT/hang.pid"
exec sleep 300
EOF
	chmod +x "$T_DIR/hang.sh"
	fp_command_job hang "$1"
}

# fp_start_job NAME...: queue the jobs in one console session without waiting; prints their JobIds.
fp_start_job() {
	local cmds=() n
	for n in "$@"; do
		cmds+=("run job=$n yes")
	done
	bacula_console "${cmds[@]}" | sed -n 's/.*Job queued\. JobId=\([0-9][0-9]*\).*/\1/p'
}

# fp_wait_file FILE [SECONDS]: wait (bounded, default 30 s) until FILE exists and is not empty.
fp_wait_file() {
	local deadline=$((SECONDS + ${2:-30}))
	while [ ! -s "$1" ] && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.02
	done
	[ -s "$1" ]
}

# fp_job_field JOBID COLUMN: one column of the job's catalog row (JobFiles, JobBytes, JobErrors, ...).
fp_job_field() {
	bacula_sql "SELECT $2 FROM Job WHERE JobId = $(($1));"
}

# fp_member_id HOST:PORT: the simulator's _id of that member (for its data directory DATA/<_id>).
fp_member_id() {
	sim_ctl status | sed -n "s/^id=\\([0-9]*\\) host=$1 .*/\\1/p"
}

# fp_write_untar PATH: the restore command (script.restore) fp_restore_verify expects: it keeps the
# stream in $T_OUT/restore.tar and unpacks it under where, in SET-PORT.
fp_write_untar() {
	cat >"$1" <<EOF
#!/bin/sh
mkdir -p "\$MONGO_BACKUP_WHERE/\$MONGO_BACKUP_SET-\$MONGO_BACKUP_PORT" || exit 1
tee "$T_OUT/restore.tar" | tar -C "\$MONGO_BACKUP_WHERE/\$MONGO_BACKUP_SET-\$MONGO_BACKUP_PORT" -xf -
EOF
	chmod +x "$1"
}

# fp_restore_verify JOBID WHAT: restore that backup (its restore command writes $T_OUT/restore.tar and
# unpacks it under where) and check it: the restore runs and ends T, its stream is the backup
# command's ($T_OUT/backup.tar) byte for byte, and `mongo-rs-sim verify` finds the copy of member 2
# whole (WHAT names the copy).  Four checks; sets RJOB, WHERE and VERIFY_OUT.
fp_restore_verify() {
	local rc
	WHERE=$T_DIR/where
	RJOB=$(bacula_restore "$1" "$WHERE")
	tap_ok $? "the restore of job $1 runs to its end (JobId ${RJOB:-none})"
	tap_is "$(bacula_job_status "$RJOB")" T "the restore ends with JobStatus T" || bacula_diag_job "$RJOB"
	tap_ok "$(cmp -s "$T_OUT/backup.tar" "$T_OUT/restore.tar" && echo 0 || echo 1)" \
		"the restore command got the backup command's bytes, byte for byte"
	VERIFY_OUT=$(timeout -k 2 30 "$MBH_SIM" verify "$WHERE/rs0-$(sim_member_port 2)" 2>&1)
	rc=$?
	tap_is "$rc" 0 "mongo-rs-sim verify: the restored copy of $2 is whole" || tap_diag "$VERIFY_OUT"
}
