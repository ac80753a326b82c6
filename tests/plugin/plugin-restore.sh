#!/bin/bash
# plugin-restore.sh: a restore streams the saved bytes into script.restore (with the set, member and
# job of the backup), or writes them under `where` when there is no restore command; a restore
# command that fails, or stops reading, fails the job; a restore never locks anything.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
p_init

p_start_rs0
P2=$(sim_member_port 2)

head -c 2000003 /dev/urandom >"$T_DIR/payload"
printf '#!/bin/sh\nexec cat "%s"\n' "$T_DIR/payload" >"$T_DIR/dump.sh"
cat >"$T_DIR/restore.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$T_OUT/restore.argv"
env >"$T_OUT/restore.env"
exec cat >"$T_OUT/restored"
EOF
chmod +x "$T_DIR/dump.sh" "$T_DIR/restore.sh"

# A backup to restore from.
t_config "$CONF" "script = { backup = [ \"$T_DIR/dump.sh\" ]; restore = [ \"$T_DIR/restore.sh\", \"%s\", \"%h\", \"%p\", \"%j\" ]; };"
fd_run backup backup --cmd "$CMD" --out "$T_OUT/saved"
fd_status_is backup 1 T "the backup to restore from: T"
FNAME=$(fd_field backup 1 fname)
tap_is "$FNAME" "/@mongo/rs0/$H2/dump.sh" "the saved name"
fsyncs=$(sim_counter 2 fsync)

# ---------------------------------------------------------------- through script.restore
fd_run r1 restore --name restore-job --cmd "$CMD" --in "$T_OUT/saved" --fname "$FNAME" --where "$T_DIR/where"
fd_status_is r1 1 T "restore command: T"
tap_ok "$(cmp -s "$T_DIR/payload" "$T_OUT/restored" && echo 0 || echo 1)" "restore command: it got the stream, byte for byte"
tap_is "$(tr '\n' ' ' <"$T_OUT/restore.argv")" "rs0 127.0.0.1 $P2 restore-job.2026-01-01_00.00.00_01 " \
	"restore command: %s %h %p %j are the backup's set and member, and this job"
tap_like "$T_OUT/restore.env" "^MONGO_BACKUP_SET=rs0\$" "restore command: MONGO_BACKUP_SET"
tap_like "$T_OUT/restore.env" "^MONGO_BACKUP_HOST=127\\.0\\.0\\.1\$" "restore command: MONGO_BACKUP_HOST"
tap_like "$T_OUT/restore.env" "^MONGO_BACKUP_PORT=$P2\$" "restore command: MONGO_BACKUP_PORT"
tap_like "$T_OUT/restore.env" "^MONGO_BACKUP_WHERE=$T_DIR/where\$" "restore command: MONGO_BACKUP_WHERE"
tap_like "$T_OUT/r1.out" "^job 1: M_INFO: mongo-fd: restore.sh accepted 2000003 bytes \\(status 0\\)" \
	"restore command: the job log says how it ended"
tap_ok "$( [ ! -e "$T_DIR/where" ] && echo 0 || echo 1)" "restore command: nothing written under where"

# ---------------------------------------------------------------- failures
# rfails NAME SCRIPT-BODY ERE
rfails() {
	printf '#!/bin/sh\n%s\n' "$2" >"$T_DIR/$1.sh"
	chmod +x "$T_DIR/$1.sh"
	t_config "$T_DIR/$1.conf" "script = { restore = [ \"$T_DIR/$1.sh\" ]; };"
	fd_run "$1" restore --cmd "mongo: config=$T_DIR/$1.conf" --in "$T_OUT/saved" --fname "$FNAME" --where "$T_DIR/w"
	fd_status_is "$1" 1 f "$1: the restore job fails (f)"
	tap_like "$T_OUT/$1.out" "^job 1: M_FATAL: mongo-fd: $3" "$1: it says why"
}
rfails exit4 'cat >/dev/null; exit 4' 'the restore command exit4.sh exited with status 4: the restore failed'
rfails early 'exit 0' 'the restore command early.sh exited with status 0 after reading 0 of [0-9]+ bytes; the restore is incomplete'

# A command that exits 0 before reading all of a small stream (it fits in the pipe): how much it read.
head -c 20024 /dev/urandom >"$T_DIR/small"
rsmall() {
	printf '#!/bin/sh\n%s\n' "$2" >"$T_DIR/$1.sh"
	chmod +x "$T_DIR/$1.sh"
	t_config "$T_DIR/$1.conf" "script = { restore = [ \"$T_DIR/$1.sh\" ]; };"
	fd_run "$1" restore --cmd "mongo: config=$T_DIR/$1.conf" --in "$T_DIR/small" --fname "$FNAME"
	fd_status_is "$1" 1 f "$1: the restore job fails (f)"
	tap_like "$T_OUT/$1.out" "^job 1: M_FATAL: mongo-fd: the restore command $1.sh exited with status 0 after reading $3 of 20024 bytes; the restore is incomplete" \
		"$1: it says how much it read"
}
rsmall noread 'exit 0' 0
rsmall quarter 'dd bs=1 count=5006 of=/dev/null 2>/dev/null; exit 0' 5006

# A command that stops reading and stays: script.timeout bounds the writes too.
printf '#!/bin/sh\nexec sleep 60\n' >"$T_DIR/stuck.sh"
chmod +x "$T_DIR/stuck.sh"
t_config "$T_DIR/stuck.conf" "script = { restore = [ \"$T_DIR/stuck.sh\" ]; timeout = 3; };"
start=$(date +%s)
# (its 3 s, and the kill grace, count 250 ms in a test build, MBH_TEST_SECOND_MS)
MBH_TEST_SECOND_MS=250 T_TIMEOUT=40 fd_run stuck restore --cmd "mongo: config=$T_DIR/stuck.conf" --in "$T_OUT/saved" --fname "$FNAME"
fd_status_is stuck 1 f "stuck: the restore job fails (f)"
tap_ok "$([ $(($(date +%s) - start)) -lt 10 ] && echo 0 || echo 1)" "stuck: within script.timeout (3 s) and the kill grace"
tap_like "$T_OUT/stuck.out" "^job 1: M_FATAL: mongo-fd: the restore command stuck.sh did not finish within script.timeout \\(3 s\\)" \
	"stuck: it names the rule"
t_config "$T_DIR/nf.conf" "script = { restore = [ \"$T_DIR/no-such-restore\" ]; };"
fd_run nf restore --cmd "mongo: config=$T_DIR/nf.conf" --in "$T_OUT/saved" --fname "$FNAME"
fd_status_is nf 1 f "restore command not found: f"
tap_like "$T_OUT/nf.out" "^job 1: M_FATAL: mongo-fd: the restore command did not start: .*no-such-restore" \
	"restore command not found: named"

# ---------------------------------------------------------------- without script.restore: a file under where
t_config "$T_DIR/plain.conf" "script = { backup = [ \"$T_DIR/dump.sh\" ]; };"
fd_run r2 restore --cmd "mongo: config=$T_DIR/plain.conf" --in "$T_OUT/saved" --fname "$FNAME" --where "$T_DIR/where"
fd_status_is r2 1 T "where: T"
tap_ok "$(cmp -s "$T_DIR/payload" "$T_DIR/where$FNAME" && echo 0 || echo 1)" "where: the file is where + the saved name, byte for byte"
tap_is "$(stat -c %a "$T_DIR/where$FNAME" 2>/dev/null)" 600 "where: mode 0600"
tap_like "$T_OUT/r2.out" "wrote 2000003 bytes to $T_DIR/where$FNAME" "where: the job log names the file"
printf 'x' >"$T_DIR/blocker"
fd_run r3 restore --cmd "mongo: config=$T_DIR/plain.conf" --in "$T_OUT/saved" --fname "$FNAME" --where "$T_DIR/blocker"
fd_status_is r3 1 f "where under a plain file: f"
tap_like "$T_OUT/r3.out" "^job 1: M_FATAL: mongo-fd: cannot create $T_DIR/blocker$FNAME: " "where under a plain file: says why"

tap_is "$(sim_counter 2 fsync)" "$fsyncs" "restores sent no fsync"
t_assert_unlocked "restores: nothing locked"
sim_stop
tap_done
