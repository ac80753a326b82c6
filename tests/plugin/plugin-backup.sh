#!/bin/bash
# plugin-backup.sh: a plugin backup against the simulated set: the command's bytes exactly, the job log
# (member and why, lock and lockCount, unlock, bytes, seconds), the member locked only while the
# command runs; every failure (command status, signal, missing command, timeout, refused lock) is a
# failed job with the member unlocked; estimate never locks; the unlock safety nets.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
p_init

p_start_rs0
H1=$(sim_member_host 1)
P2=$(sim_member_port 2)

# A payload that is not a multiple of the 64 KiB reads, and a script that checks the lock while it runs.
head -c 1048583 /dev/urandom >"$T_DIR/payload"
cat >"$T_DIR/dump.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$T_OUT/dump.argv"
env >"$T_OUT/dump.env"
"$MBH_SIM" ctl "$SIM_CTL" status >"$T_OUT/dump.status"
exec cat "$T_DIR/payload"
EOF
chmod +x "$T_DIR/dump.sh"

# after NAME: nothing locked, no record, no watchdog left.
after() {
	t_assert_unlocked "$1: every member unlocked afterwards"
	t_assert_no_state "$1: no state record left"
	p_assert_no_watchdog "$1"
}

# ---------------------------------------------------------------- the normal path
t_config "$CONF" "script = { backup = [ \"$T_DIR/dump.sh\", \"%h\", \"%p\", \"%s\", \"%j\" ]; };"
fd_run ok backup --cmd "$CMD" --out "$T_OUT/ok.data" --name nightly
fd_status_is ok 1 T "backup: the job ends T"
tap_is "$(fd_field ok 1 files)" 1 "backup: one file"
tap_is "$(fd_field ok 1 bytes)" 1048583 "backup: 1048583 bytes"
tap_ok "$(cmp -s "$T_DIR/payload" "$T_OUT/ok.data" && echo 0 || echo 1)" "backup: the stream is the command's output, byte for byte"
tap_is "$(fd_field ok 1 fname)" "/@mongo/rs0/$H2/dump.sh" "backup: the file is /@mongo/SET/MEMBER/SCRIPT"
tap_is "$(fd_count ok 1 M_FATAL)$(fd_count ok 1 M_ERROR)$(fd_count ok 1 M_WARNING)" 000 "backup: no error or warning"
tap_like "$T_OUT/ok.out" "^job 1: M_INFO: mongo-fd: chose $H2 \\(priority 0.*\\), best of 2 eligible members" \
	"job log: the member chosen and why"
tap_like "$T_OUT/ok.out" "^job 1: M_INFO: mongo-fd: locked $H2 \\(lockCount 1\\) for job nightly\\.[0-9_.-]+; the watchdog unlocks at " \
	"job log: the lock, its lockCount and the job"
tap_like "$T_OUT/ok.out" "^job 1: M_INFO: mongo-fd: unlocked $H2 \\(lockCount now 0\\)" "job log: the unlock"
tap_like "$T_OUT/ok.out" "^job 1: M_INFO: mongo-fd: $H2 was locked for [0-9]+\\.[0-9]{3} s; 1048583 bytes streamed" \
	"job log: the seconds locked and the bytes streamed"
tap_is "$(tr '\n' ' ' <"$T_OUT/dump.argv")" "127.0.0.1 $P2 rs0 nightly.2026-01-01_00.00.00_01 " \
	"the command's argv: %h %p %s %j expanded"
tap_like "$T_OUT/dump.env" "^MONGO_BACKUP_HOST=127\\.0\\.0\\.1\$" "the command's environment: MONGO_BACKUP_HOST"
tap_like "$T_OUT/dump.env" "^MONGO_BACKUP_PORT=$P2\$" "the command's environment: MONGO_BACKUP_PORT"
tap_like "$T_OUT/dump.env" "^MONGO_BACKUP_SET=rs0\$" "the command's environment: MONGO_BACKUP_SET"
tap_like "$T_OUT/dump.env" "^MONGO_BACKUP_JOB=nightly\\." "the command's environment: MONGO_BACKUP_JOB"
tap_like "$T_OUT/dump.status" "^id=2 .* lockCount=1 " "the member is locked while the command runs"
after backup

# job= and member= from the plugin string
fd_run named backup --cmd "$CMD:job=rs0-weekly:member=$H1" --out "$T_OUT/named.data"
fd_status_is named 1 T "member=H1 job=rs0-weekly: T"
tap_is "$(fd_field named 1 fname)" "/@mongo/rs0/$H1/dump.sh" "member=: that member was locked"
tap_like "$T_OUT/named.out" "locked $H1 \\(lockCount 1\\) for job rs0-weekly;" "job=: the name recorded and logged"
tap_like "$T_OUT/dump.status" "^id=1 .* lockCount=1 " "member=: member 1 locked while the command runs"
after "member="

# ---------------------------------------------------------------- the command fails
# fails NAME SCRIPT-BODY ERE: the job fails (f) with an M_FATAL matching ERE; nothing stays locked.
fails() {
	printf '#!/bin/sh\n%s\n' "$2" >"$T_DIR/$1.sh"
	chmod +x "$T_DIR/$1.sh"
	t_config "$CONF" "script = { backup = [ \"$T_DIR/$1.sh\" ]; };"
	fd_run "$1" backup --cmd "$CMD" --out "$T_OUT/$1.data"
	fd_status_is "$1" 1 f "$1: the job fails (f)"
	tap_is "$(fd_count "$1" 1 M_FATAL)" 1 "$1: one fatal message"
	tap_like "$T_OUT/$1.out" "^job 1: M_FATAL: mongo-fd: $3" "$1: it says why"
	tap_like "$T_OUT/$1.out" "unlocked $H2 \\(lockCount now 0\\)" "$1: the job log shows the unlock"
	after "$1"
}
fails exit3 'printf partial; exit 3' \
	'the backup command exit3.sh exited with status 3; the backup is incomplete; see its error output with: mongo-prebackup -c [^ ]+ --exec >/dev/null$'
fails killed 'printf partial; kill -KILL $$' 'the backup command killed.sh was killed by signal 9'
fails silent-exit 'exit 1' 'the backup command silent-exit.sh exited with status 1'
t_config "$CONF" "script = { backup = [ \"$T_DIR/no-such-script\" ]; };"
fd_run notfound backup --cmd "$CMD"
fd_status_is notfound 1 f "command not found: the job fails (f)"
tap_like "$T_OUT/notfound.out" "^job 1: M_FATAL: mongo-fd: the backup command did not start: cannot run .*no-such-script.*; the member was unlocked again" \
	"command not found: the message names it"
after "command not found"

# The command waits for the lock in the gate program (beside the watchdog; MONGO_BACKUP_GATE): one that
# is not there fails the job before anything is locked, naming it.
t_config "$CONF" "script = { backup = [ \"$T_DIR/dump.sh\" ]; };"
before=$(($(sim_counter 1 fsync) + $(sim_counter 2 fsync)))
MONGO_BACKUP_GATE=$T_DIR/no-such-gate fd_run nogate backup --cmd "$CMD"
fd_status_is nogate 1 f "gate program missing: the job fails (f)"
tap_like "$T_OUT/nogate.out" "^job 1: M_FATAL: mongo-fd: .*: its gate program $T_DIR/no-such-gate: No such file or directory" \
	"gate program missing: the message names it"
tap_is "$(($(sim_counter 1 fsync) + $(sim_counter 2 fsync)))" "$before" "gate program missing: no fsync lock was sent"
after "gate program missing"

# script.timeout: a command that never ends is stopped, the job fails, the member is unlocked.
printf '#!/bin/sh\necho $$ >"%s"\nprintf started\nexec sleep 300\n' "$T_OUT/hang.pid" >"$T_DIR/hang.sh"
chmod +x "$T_DIR/hang.sh"
# (its 2 s, and the kill grace, count 250 ms in a test build, MBH_TEST_SECOND_MS)
t_config "$CONF" "script = { backup = [ \"$T_DIR/hang.sh\" ]; timeout = 2; };"
start=$(date +%s)
MBH_TEST_SECOND_MS=250 fd_run timeout backup --cmd "$CMD"
took=$(($(date +%s) - start))
fd_status_is timeout 1 f "script.timeout: the job fails (f)"
tap_like "$T_OUT/timeout.out" "^job 1: M_FATAL: mongo-fd: the backup command hang.sh did not finish within script.timeout \\(2 s\\)" \
	"script.timeout: it says so"
tap_ok "$( [ "$took" -le 12 ] && echo 0 || echo 1)" "script.timeout: the job ends soon after (${took} s)"
tap_ok "$(t_pid_gone "$(cat "$T_OUT/hang.pid" 2>/dev/null)" 250 && echo 0 || echo 1)" "script.timeout: the command is gone"
after timeout

# ---------------------------------------------------------------- the lock is refused
t_config "$CONF" "script = { backup = [ \"$T_DIR/dump.sh\" ]; };"
sim_ctl lock 2 >/dev/null
rm -f "$T_OUT/dump.argv"
fd_run refused backup --cmd "$CMD" --out "$T_OUT/refused.data"
fd_status_is refused 1 f "someone else's lock: the job fails (f)"
tap_like "$T_OUT/refused.out" "^job 1: M_FATAL: mongo-fd: nothing was locked: $H2 is already fsync-locked by someone else" \
	"someone else's lock: the reason"
tap_is "$(sim_lockcount 2)" 1 "someone else's lock: still only their lock on member 2"
tap_ok "$( [ ! -s "$T_OUT/refused.data" ] && echo 0 || echo 1)" "someone else's lock: no data streamed"
tap_ok "$( [ ! -e "$T_OUT/dump.argv" ] && echo 0 || echo 1)" \
	"someone else's lock: the command (forked before the lock, waiting at its gate) never ran"
t_assert_no_state "someone else's lock: no record"
sim_ctl unlock 2 >/dev/null
t_assert_unlocked "someone else's lock: unlocked once they unlock"

# ---------------------------------------------------------------- estimate never locks
before=$(($(sim_counter 1 fsync) + $(sim_counter 2 fsync)))
fd_run est estimate --cmd "$CMD" -- console -- estimate --cmd "$CMD:member=$H1"
fd_status_is est 0 T "estimate: T"
tap_is "$(($(sim_counter 1 fsync) + $(sim_counter 2 fsync)))" "$before" "estimate and console: no fsync sent"
tap_ok "$( [ ! -e "$T_STATE/rs0.state" ] && echo 0 || echo 1)" "estimate: nothing recorded"

# ---------------------------------------------------------------- the safety nets
# The daemon fails between startBackupFile and IO_OPEN: EndBackupJob unlocks.
fd_run noio backup --cmd "$CMD" --skip-io
fd_status_is noio 1 f "no stream (the storage daemon went away): the job fails"
tap_like "$T_OUT/noio.out" "M_WARNING: mongo-fd: the job ended with $H2 still locked: unlocking it now" \
	"no stream: EndBackupJob says it unlocks"
after "no stream"
# ... and without EndBackupJob either: freePlugin unlocks.
fd_run noend backup --cmd "$CMD" --skip-io --skip-endjob
tap_like "$T_OUT/noend.out" "unlocked $H2 \\(lockCount now 0\\)" "no EndBackupJob: freePlugin unlocks"
after "no EndBackupJob"

# A command that writes in small pieces with pauses (like a dump tool): every IO_READ but the last
# returns a full buffer, as bpipe's fread does (bacula-fd makes a record, a signature update and a
# network write per IO_READ, so short reads cost CPU per byte).
cat >"$T_DIR/trickle.sh" <<'EOF'
#!/bin/sh
i=0
while [ $i -lt 40 ]; do
	head -c 5000 /dev/zero
	sleep 0.005
	i=$((i + 1))
done
EOF
chmod +x "$T_DIR/trickle.sh"
t_config "$CONF" "script = { backup = [ \"$T_DIR/trickle.sh\" ]; };"
fd_run trickle backup --cmd "$CMD"
fd_status_is trickle 1 T "trickle: T"
tap_is "$(fd_field trickle 1 bytes)" 200000 "trickle: 200000 bytes"
tap_is "$(sed -n 's/^job 1: reads=\([0-9]*\) short=\([0-9]*\)$/\1 \2/p' "$T_OUT/trickle.out")" "4 1" \
	"trickle: 4 IO_READs, only the last one short (full 64 KiB buffers)"
after "trickle"
t_config "$CONF" "script = { backup = [ \"$T_DIR/dump.sh\" ]; };"

# Two Plugin= lines in one job, run in turn: each locks, streams and unlocks.
fd_run twice backup --cmd "$CMD" --cmd "$CMD:member=$H1" --out "$T_OUT/twice.data"
fd_status_is twice 1 T "two Plugin= lines: T"
tap_is "$(fd_field twice 1 files)" 2 "two Plugin= lines: two files"
tap_is "$(grep -c 'M_INFO: mongo-fd: unlocked' "$T_OUT/twice.out")" 2 "two Plugin= lines: two unlocks"
cat "$T_DIR/payload" "$T_DIR/payload" >"$T_OUT/twice.want"
tap_ok "$(cmp -s "$T_OUT/twice.want" "$T_OUT/twice.data" && echo 0 || echo 1)" "two Plugin= lines: both streams whole"
after "two Plugin= lines"

sim_stop
tap_done
