#!/bin/bash
# plugin-cluster.sh: a sharded cluster in plugin mode (a simulated CSRS and three shards behind two
# mongos): one backup command locks the whole cluster and makes one file per component,
# /@mongo/CLUSTER/COMPONENT/MEMBER/SCRIPT, each the output of script.backup run for that component's
# locked member while every chosen member is locked and the balancer is off; every lock is released
# and the balancer started again after; a component's command failing fails the job and releases every
# lock; a cancel mid-stream releases every lock; a restore of one component and of all, through
# script.restore (the component and its member in %s %h %p and the environment) or under where.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
# shellcheck source=../integration/sim-cluster.sh
. "$top_srcdir/tests/integration/sim-cluster.sh"
p_init

T_PASS=backup-pw # the cluster topologies' user
UNLOCKED="csrs:0:0,1:0,2:0 sh0:0:0,1:0,2:0 sh1:0:0,1:0,2:0 sh2:0:0,1:0,2:0"
simc_start 3 || { tap_fail "a CSRS, three shards and the routers start"; tap_done; exit 1; }
CONF=$T_DIR/cluster.conf
CMD="mongo: config=$CONF"
CREC=$T_STATE/csrs.cluster.state
SEEN=$T_OUT/seen
mkdir -p "$SEEN"
all_unlocked() { [ "$(simc_locks)" = "$UNLOCKED" ]; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
balancer_mode() { simc_ctl "$SIMC_CTL" balancer | sed -n 's/^mode=\([^ ]*\).*/\1/p'; }

# dump.sh: what each component's command saw (its argv, environment, every set's locks and the
# balancer), then a payload that names the component; FAIL_COMPONENT makes that one exit 3 and
# SLOW_COMPONENT that one stream slowly.
cat >"$T_DIR/dump.sh" <<EOF
#!/bin/bash
c=\$MONGO_BACKUP_COMPONENT
printf '%s\n' "\$@" >"$SEEN/\$c.argv"
env | grep '^MONGO_BACKUP_' | sort >"$SEEN/\$c.env"
{ echo "csrs:\$("$MBH_SIM" ctl "$SIMC_CONFIG_CTL" status | grep -c 'lockCount=1')"
  for s in $SIMC_SHARD_CTLS; do echo "shard:\$("$MBH_SIM" ctl "\$s" status | grep -c 'lockCount=1')"; done
  "$MBH_SIM" ctl "$SIMC_CTL" balancer
  echo "records=\$(find "$T_STATE/csrs.cluster.d" -name '*.state' | wc -l) balancer_stopped=\$(grep -c '^balancer_stopped=1' "$T_STATE/csrs.cluster.state")"; } >"$SEEN/\$c.state"
[ -f "$T_DIR/fail.\$c" ] && exit 3
[ -f "$T_DIR/hang.\$c" ] && { head -c 100000 /dev/zero; echo \$\$ >"$T_OUT/hang.pid"; exec sleep 300; }
if [ -f "$T_DIR/slow.\$c" ]; then
	for i in \$(seq 1 600); do head -c 65536 /dev/zero; sleep 0.05; done
	exit 0
fi
for i in \$(seq 1 2000); do echo "component \$c member \$MONGO_BACKUP_HOST:\$MONGO_BACKUP_PORT set \$MONGO_BACKUP_SET line \$i"; done
EOF
cat >"$T_DIR/restore.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$T_OUT/restore.\$MONGO_BACKUP_COMPONENT.argv"
env | grep '^MONGO_BACKUP_' | sort >"$T_OUT/restore.\$MONGO_BACKUP_COMPONENT.env"
exec cat >"$T_OUT/restored.\$MONGO_BACKUP_COMPONENT"
EOF
chmod +x "$T_DIR/dump.sh" "$T_DIR/restore.sh"
CFG_URI=$SIMC_URI t_config "$CONF" \
	"script = { backup = [ \"$T_DIR/dump.sh\", \"%s\", \"%h\", \"%p\", \"%j\" ]; restore = [ \"$T_DIR/restore.sh\", \"%s\", \"%h\", \"%p\" ]; };"

# clean NAME: the aftermath: nothing locked, the balancer running, no record, no watchdog.
clean() {
	tap_is "$(simc_locks)" "$UNLOCKED" "$1: every member is unlocked"
	tap_is "$(balancer_mode)" full "$1: the balancer runs again"
	tap_ok "$([ ! -e "$CREC" ] && [ -z "$(find "$T_STATE/csrs.cluster.d" -name '*.state' 2>/dev/null)" ] && echo 0 || echo 1)" \
		"$1: no cluster record and no component record left"
	p_assert_no_watchdog "$1"
}

# ---------------------------------------------------------------- backup
mkdir -p "$T_OUT/files"
fd_run backup backup --name cluster-job --cmd "$CMD" --out-dir "$T_OUT/files"
fd_status_is backup 1 T "backup: T"
tap_is "$(fd_field backup 1 files)" 4 "backup: four files (the config servers and three shards)"
tap_is "$(fd_count backup 1 M_FATAL)$(fd_count backup 1 M_ERROR)" 00 "backup: no fatal and no error message"
for c in config sh0 sh1 sh2; do
	set=$c
	[ "$c" = config ] && set=csrs
	tap_is "$(grep -c "^job 1: file /@mongo/csrs/$c/127\\.0\\.0\\.1:[0-9]*/dump\\.sh bytes=[1-9][0-9]*$" "$T_OUT/backup.out")" 1 \
		"backup: one file for $c, /@mongo/csrs/$c/MEMBER/dump.sh"
	f=$(find "$T_OUT/files" -name "@mongo_csrs_${c}_*" | head -n 1)
	member=$(sed -n "s|^job 1: file /@mongo/csrs/$c/\\([^/]*\\)/dump.sh .*|\\1|p" "$T_OUT/backup.out")
	tap_is "$(sort -u <(cut -d' ' -f1-6 "$f"))" "component $c member $member set $set" \
		"backup: $c's file holds $c's command's output, run for its locked member $member (set $set)"
	tap_is "$(wc -l <"$f" | tr -d ' ')" 2000 "backup: $c's file is whole"
	tap_is "$(tr '\n' ' ' <"$SEEN/$c.argv")" "$set ${member%:*} ${member##*:} cluster-job.2026-01-01_00.00.00_01 " \
		"backup: $c's command: %s %h %p %j are its set, its locked member and the job"
	tap_like "$SEEN/$c.env" "^MONGO_BACKUP_CLUSTER=csrs\$" "backup: $c's command: MONGO_BACKUP_CLUSTER"
	tap_like "$SEEN/$c.env" "^MONGO_BACKUP_HOST=${member%:*}\$" "backup: $c's command: MONGO_BACKUP_HOST"
	tap_like "$SEEN/$c.env" "^MONGO_BACKUP_PORT=${member##*:}\$" "backup: $c's command: MONGO_BACKUP_PORT"
	tap_is "$(grep -c ':1$' "$SEEN/$c.state")" 4 "backup: while $c's command ran, each of the four sets had one lock"
	tap_like "$SEEN/$c.state" '^mode=off ' "backup: ... and the balancer was off"
	tap_like "$SEEN/$c.state" '^records=4 balancer_stopped=1$' \
		"backup: ... with the cluster's record (balancer_stopped=1) and the four components' records on disk"
done
tap_unlike "$T_OUT/backup.out" 'backup-pw' "backup: no password in the job log"
tap_like "$T_OUT/backup.out" '^job 1: M_INFO: mongo-fd: cluster csrs locked \(skew [0-9]+ ms\): config=' \
	"backup: the job log gives the skew and each member's lock time"
tap_like "$T_OUT/backup.out" '^job 1: M_INFO: mongo-fd: cluster csrs was locked for [0-9.]+ s; [0-9]+ bytes streamed; every lock released after the last' \
	"backup: the job log says every lock was released after the last component's stream"
clean backup

# ---------------------------------------------------------------- restore: one component, then all
declare -A FILE MEMBER
for c in config sh0 sh1 sh2; do
	FILE[$c]=$(find "$T_OUT/files" -name "@mongo_csrs_${c}_*")
	MEMBER[$c]=$(sed -n "s|^job 1: file /@mongo/csrs/$c/\([^/]*\)/dump.sh .*|\1|p" "$T_OUT/backup.out")
done
fname() { echo "/@mongo/csrs/$1/${MEMBER[$1]}/dump.sh"; }
fd_run r1 restore --name restore-job --cmd "$CMD" --in "${FILE[sh1]}" --fname "$(fname sh1)" --where "$T_DIR/where"
fd_status_is r1 1 T "restore of one shard (sh1): T"
tap_ok "$(cmp -s "${FILE[sh1]}" "$T_OUT/restored.sh1" && echo 0 || echo 1)" "restore of sh1: script.restore got its stream, byte for byte"
tap_is "$(find "$T_OUT" -maxdepth 1 -name 'restored.*' | wc -l | tr -d ' ')" 1 "restore of sh1: nothing else restored"
tap_is "$(tr '\n' ' ' <"$T_OUT/restore.sh1.argv")" "sh1 ${MEMBER[sh1]%:*} ${MEMBER[sh1]##*:} " \
	"restore of sh1: %s %h %p are the component and its member at the backup"
tap_like "$T_OUT/restore.sh1.env" '^MONGO_BACKUP_CLUSTER=csrs$' "restore of sh1: MONGO_BACKUP_CLUSTER"
tap_like "$T_OUT/restore.sh1.env" '^MONGO_BACKUP_COMPONENT=sh1$' "restore of sh1: MONGO_BACKUP_COMPONENT"
tap_like "$T_OUT/restore.sh1.env" "^MONGO_BACKUP_PORT=${MEMBER[sh1]##*:}\$" "restore of sh1: MONGO_BACKUP_PORT"
tap_is "$(simc_locks)" "$UNLOCKED" "restore: nothing locked"
rm -f "$T_OUT"/restored.* "$T_OUT"/restore.*.argv
args=()
for c in config sh0 sh1 sh2; do
	args+=(${args[0]:+--} restore --cmd "$CMD" --in "${FILE[$c]}" --fname "$(fname "$c")")
done
fd_run rall "${args[@]}"
for i in 1 2 3 4; do
	fd_status_is rall "$i" T "restore of all: job $i T"
done
for c in config sh0 sh1 sh2; do
	tap_ok "$(cmp -s "${FILE[$c]}" "$T_OUT/restored.$c" && echo 0 || echo 1)" "restore of all: $c's stream into script.restore for $c"
	tap_is "$(head -n 1 "$T_OUT/restore.$c.argv")" "$c" "restore of all: $c's command has %s = $c"
done
# without script.restore: each file under where (safefile's rules)
CFG_URI=$SIMC_URI t_config "$T_DIR/where.conf" "script = { backup = [ \"$T_DIR/dump.sh\" ]; };"
fd_run rw restore --cmd "mongo: config=$T_DIR/where.conf" --in "${FILE[sh0]}" --fname "$(fname sh0)" --where "$T_DIR/where"
fd_status_is rw 1 T "restore under where: T"
tap_ok "$(cmp -s "${FILE[sh0]}" "$T_DIR/where$(fname sh0)" && echo 0 || echo 1)" \
	"restore under where: sh0's file is where/@mongo/csrs/sh0/MEMBER/dump.sh, byte for byte"
tap_is "$(stat -c %a "$T_DIR/where$(fname sh0)")" 600 "restore under where: mode 0600"

# ---------------------------------------------------------------- a component's command fails
touch "$T_DIR/fail.sh1"
fd_run fail backup --cmd "$CMD" --out-dir "$T_OUT/files"
rm -f "$T_DIR/fail.sh1"
fd_status_is fail 1 f "sh1's command exits 3: the job fails (f)"
tap_like "$T_OUT/fail.out" '^job 1: M_FATAL: mongo-fd: component sh1: the backup command dump.sh exited with status 3' \
	"sh1's command fails: the fatal message names the component and the status"
tap_is "$(grep -c '^job 1: file ' "$T_OUT/fail.out")" 3 "sh1's command fails: config and sh0 were streamed, no file after sh1's"
tap_like "$T_OUT/fail.out" '^job 1: M_INFO: mongo-fd: cluster csrs (was locked for [0-9.]+ s; [0-9]+ bytes streamed; )?every lock released after a failure$' \
	"sh1's command fails: every lock released at once"
clean "a component's command fails"

# ---------------------------------------------------------------- a cancel mid-stream
touch "$T_DIR/slow.sh0"
fd_run cancel backup --cmd "$CMD" --cancel-after 300000
rm -f "$T_DIR/slow.sh0"
fd_status_is cancel 1 A "a cancel while sh0 streams: the job is cancelled (A)"
ms=$(sed -n 's/^job 1: cancel returned after \([0-9]*\) ms$/\1/p' "$T_OUT/cancel.out")
tap_ok "$([ -n "$ms" ] && [ "$ms" -lt 2000 ] && echo 0 || echo 1)" "a cancel: it returns at once ($ms ms)"
tap_is "$(fd_count cancel 1 M_FATAL)" 0 "a cancel: no fatal message"
tap_like "$T_OUT/cancel.out" '^job 1: M_INFO: mongo-fd: cancel received: stopping the commands and unlocking the cluster$' \
	"a cancel: the job log says the cluster is being unlocked"
tap_ok "$(pgrep -f -- "$T_DIR/dump.sh" >/dev/null && echo 1 || echo 0)" "a cancel: no backup command left running"
clean "a cancel mid-stream"

# ---------------------------------------------------------------- the storage daemon fails mid-stream
fd_run sdfail backup --cmd "$CMD" --close-after 150000
fd_status_is sdfail 1 f "the storage daemon fails during sh0's stream: the job fails (f)"
tap_like "$T_OUT/sdfail.out" '^job 1: M_(FATAL|ERROR): mongo-fd: component sh0: the stream of dump.sh was closed after [0-9]+ bytes, before its end' \
	"the storage daemon fails: the job log names the component and the early close"
clean "the storage daemon fails mid-stream"

# ---------------------------------------------------------------- the file daemon fails before reading a file
fd_run skipio backup --cmd "$CMD" --skip-io
fd_status_is skipio 1 f "the storage daemon goes away before config's file is opened: the job fails (f)"
tap_like "$T_OUT/skipio.out" '^job 1: M_INFO: mongo-fd: cluster csrs (was locked for [0-9.]+ s; [0-9]+ bytes streamed; )?every lock released after a failure$' \
	"the file daemon fails before reading: every lock released at once"
tap_is "$(grep -c 'M_FATAL: fakefd: the storage daemon went away before' "$T_OUT/skipio.out")" 1 \
	"the file daemon fails before reading: no other component's file is offered"
tap_like "$T_OUT/skipio.out" '^job 1: M_(FATAL|ERROR): mongo-fd: the file of component config was not read by the file daemon' \
	"the file daemon fails before reading: the job log names the component"
clean "the file daemon fails before reading a file"

# ---------------------------------------------------------------- a cancel while the cluster is being locked
fd_run cancellock backup --cmd "$CMD" --cancel-at-ms 1
fd_status_is cancellock 1 A "a cancel as the lock starts: the job is cancelled (A)"
tap_is "$(fd_count cancellock 1 M_FATAL)" 0 "a cancel as the lock starts: no fatal message"
clean "a cancel as the lock starts"

# ---------------------------------------------------------------- two jobs for one cluster at once
# job 1 streams sh0 slowly; job 2 starts once it has begun: refused, saying what to do; job 1 unharmed.
touch "$T_DIR/slow.sh0"
rm -f "$SEEN/sh0.state"
fd_run two backup --cmd "$CMD" --name first -- backup --cmd "$CMD" --name second --wait-for "$SEEN/sh0.state"
rm -f "$T_DIR/slow.sh0"
fd_status_is two 1 T "two jobs at once: the first ends T"
fd_status_is two 2 f "two jobs at once: the second fails (f)"
tap_like "$T_OUT/two.out" '^job 2: M_FATAL: mongo-fd: the cluster was not locked: another run for csrs\.cluster holds .*csrs\.cluster\.lock \(pid [0-9]+\); it is job first\.2026-01-01_00\.00\.00_01, which locks cluster csrs \(LOCKED\); run this job again once it has ended$' \
	"two jobs at once: the second says which job holds the cluster and what to do"
tap_is "$(grep -c '^job 1: file ' "$T_OUT/two.out")" 4 "two jobs at once: the first made its four files"
clean "two jobs at once"

# ---------------------------------------------------------------- no progress for script.idle_timeout
# sh1's command writes 100000 bytes and hangs; the fake daemon stops reading during sh1's file (waiting
# for a volume, say) for 8 s: the idle rule ends sh1's stream, and every member is unlocked then, not
# when the daemon comes back.
CFG_URI=$SIMC_URI t_config "$T_DIR/idle.conf" "lock = { max_seconds = 60; };" \
	"script = { backup = [ \"$T_DIR/dump.sh\" ]; idle_timeout = 2; };"
rm -f "$T_OUT/hang.pid"
touch "$T_DIR/hang.sh1"
fd_bg idle backup --cmd "mongo: config=$T_DIR/idle.conf" --pause-after 250000 --pause-ms 8000
wait_for "hang.pid" 1000 test -s "$T_OUT/hang.pid"
rm -f "$T_DIR/hang.sh1"
start=$(date +%s%N)
wait_for "every member unlocked" 300 all_unlocked
ms=$(ms_since "$start")
tap_is "$(simc_locks)" "$UNLOCKED" "idle: every member is unlocked while the file daemon is away (${ms} ms after sh1 stalled; script.idle_timeout 2 s)"
tap_ok "$(kill -0 "$FD_PID" 2>/dev/null && echo 0 || echo 1)" "idle: ... before the file daemon comes back"
wait "$FD_PID"
fd_status_is idle 1 f "idle: the job fails (f)"
tap_like "$T_OUT/idle.out" '^job 1: M_(ERROR|FATAL): mongo-fd: .*no progress for 2 s \(script.idle_timeout\)' "idle: the job log names the rule"
tap_like "$T_OUT/idle.out" '^job 1: M_ERROR: mongo-fd: cluster csrs: a stream stalled \(script.idle_timeout\): unlocking every component now$' \
	"idle: ... and says every component is unlocked"
tap_ok "$(t_pid_gone "$(cat "$T_OUT/hang.pid" 2>/dev/null)" 50 && echo 0 || echo 1)" "idle: sh1's command is gone"
clean idle

# ---------------------------------------------------------------- SIGTERM: bacula-fd stops mid-stream
rm -f "$T_OUT/hang.pid"
touch "$T_DIR/hang.sh1"
fd_bg term backup --cmd "$CMD"
wait_for "hang.pid" 1000 test -s "$T_OUT/hang.pid"
rm -f "$T_DIR/hang.sh1"
t_note_watchdogs
tap_is "$(simc_locks | grep -o ':1' | wc -l)" 4 "SIGTERM: four members are locked while sh1's command streams"
start=$(date +%s%N)
kill -TERM "$FD_PID"
wait "$FD_PID"
ms=$(ms_since "$start")
tap_is "$(simc_locks)" "$UNLOCKED" "SIGTERM: every member unlocked by the time the file daemon has exited (${ms} ms)"
tap_ok "$([ "$ms" -lt 10000 ] && echo 0 || echo 1)" "SIGTERM: the file daemon exits at once"
tap_ok "$(t_pid_gone "$(cat "$T_OUT/hang.pid" 2>/dev/null)" 50 && echo 0 || echo 1)" "SIGTERM: sh1's command is gone"
wait_for "no watchdog" 250 test -z "$(pgrep -f -- "mongo-backup-watchdog.*$T_STATE")"
clean SIGTERM

tap_done
