#!/bin/bash
# plugin-cluster-exact.sh: a sharded cluster in exact mode in plugin mode (a simulated CSRS and three
# shards with data files, two mongos): one backup command locks the cluster through the mongos,
# snapshots every primary (cp -a) and unlocks at once; then one file per component,
# /@mongo/CLUSTER/COMPONENT/PRIMARY/SCRIPT, each script.backup's tar of that component's snapshot (%S,
# MONGO_BACKUP_SNAPSHOT) while nothing is locked; verify --cluster on the streamed copies says whole
# and one moment under writers through the mongos; every snapshot removed exactly once after, and
# also when a component's command fails, on a cancel, when the storage daemon fails and on SIGTERM.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
# shellcheck source=../integration/sim-cluster.sh
. "$top_srcdir/tests/integration/sim-cluster.sh"
p_init

PY=/usr/bin/python3
T_PASS=backup-pw # the cluster topologies' user
UNLOCKED="csrs:0:0,1:0,2:0 sh0:0:0,1:0,2:0 sh1:0:0,1:0,2:0 sh2:0:0,1:0,2:0"
DATA=$T_DIR/data
SNAPS=$T_DIR/snaps
SUMS=$T_DIR/sums
SEEN=$T_OUT/seen
mkdir -p "$SNAPS" "$SUMS" "$SEEN"
SIMC_DATA_DIR=$DATA simc_start 3 || {
	tap_fail "a CSRS and three shards with data files, and the routers, start"
	tap_done
	exit 1
}
read -r -a SHARD_CTLS <<<"$SIMC_SHARD_CTLS"
CREC=$T_STATE/csrs.cluster.state
CMD="mongo: config=$T_DIR/exact.conf"
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
balancer_mode() { simc_ctl "$SIMC_CTL" balancer | sed -n 's/^mode=\([^ ]*\).*/\1/p'; }
nsnaps() { find "$SNAPS" -mindepth 1 -maxdepth 1 | wc -l | tr -d ' '; }

# snap.sh create HOST PORT SET | remove PATH: a cp -a of the member's data directory, with a
# manifest (every file's sha256) of the snapshot as taken, to compare the streamed copy with.
cat >"$T_DIR/snap.sh" <<EOF
#!/bin/bash
set -eu
echo "\$*" >>"$T_OUT/snap.log"
case \$1 in
create)
	case \$4 in csrs) ctl=$SIMC_CONFIG_CTL; dir=config ;; sh0) ctl=${SHARD_CTLS[0]}; dir=sh0 ;;
	sh1) ctl=${SHARD_CTLS[1]}; dir=sh1 ;; sh2) ctl=${SHARD_CTLS[2]}; dir=sh2 ;; *) exit 64 ;; esac
	id=\$("$MBH_SIM" ctl "\$ctl" status | sed -n "s/^id=\([0-9]*\) host=\$2:\$3 .*/\1/p")
	[ -n "\$id" ] || exit 65
	out=$SNAPS/\$dir.\$\$
	cp -a "$DATA/\$dir/\$id" "\$out"
	(cd "\$out" && find . -type f | LC_ALL=C sort | xargs -r sha256sum) >"$SUMS/\$dir"
	echo "\$out"
	;;
remove) rm -rf "\$2" ;;
*) exit 64 ;;
esac
EOF
# dump.sh SET HOST PORT SNAPSHOT: what the command saw (argv, environment, the locks through the
# mongos), then a tar of its snapshot; fail.COMPONENT makes it exit 3, slow.COMPONENT stream slowly,
# hang.COMPONENT stream a little and hang.
cat >"$T_DIR/dump.sh" <<EOF
#!/bin/bash
c=\$MONGO_BACKUP_COMPONENT
printf '%s\n' "\$@" >"$SEEN/\$c.argv"
env | grep '^MONGO_BACKUP_' | sort >"$SEEN/\$c.env"
"$MBH_SIM" ctl "$SIMC_CTL" members >"$SEEN/\$c.locks"
[ -f "$T_DIR/fail.\$c" ] && exit 3
[ -f "$T_DIR/hang.\$c" ] && { head -c 100000 /dev/zero; echo \$\$ >"$T_OUT/hang.pid"; exec sleep 300; }
if [ -f "$T_DIR/slow.\$c" ]; then
	for i in \$(seq 1 600); do head -c 65536 /dev/zero; sleep 0.05; done
	exit 0
fi
exec tar -C "\$MONGO_BACKUP_SNAPSHOT" -cf - .
EOF
chmod +x "$T_DIR/snap.sh" "$T_DIR/dump.sh"
CFG_URI=$SIMC_URI t_config "$T_DIR/exact.conf" 'cluster = { mode = "exact"; };' \
	"script = { backup = [ \"$T_DIR/dump.sh\", \"%s\", \"%h\", \"%p\", \"%S\" ]; };" \
	"snapshot = { create = [ \"$T_DIR/snap.sh\", \"create\", \"%h\", \"%p\", \"%s\" ]; remove = [ \"$T_DIR/snap.sh\", \"remove\", \"%S\" ]; timeout = 60; };"

# clean NAME: nothing locked, the balancer running, no record, no snapshot, every one removed once.
clean() {
	tap_is "$(simc_locks)" "$UNLOCKED" "$1: nothing is locked"
	tap_is "$(balancer_mode)" full "$1: the balancer runs"
	tap_ok "$([ ! -e "$CREC" ] && echo 0 || echo 1)" "$1: no cluster record left"
	tap_is "$(nsnaps)" 0 "$1: no snapshot left"
	tap_is "$(grep -c '^remove ' "$T_OUT/snap.log" 2>/dev/null)" "$(grep -c '^create ' "$T_OUT/snap.log" 2>/dev/null)" \
		"$1: snapshot.remove ran once per snapshot made"
	tap_ok "$(pgrep -f -- "$T_DIR/dump.sh" >/dev/null && echo 1 || echo 0)" "$1: no backup command left running"
	p_assert_no_watchdog "$1"
	rm -f "$T_OUT/snap.log"
}


# ---------------------------------------------------------------- backup under writers
mkdir -p "$T_OUT/files"
simc_writers "$SIMC_URI"
fd_run backup backup --name exact-job --cmd "$CMD" --out-dir "$T_OUT/files"
simc_stop_writers
tap_like "$T_OUT/writer.out" '^inserted=[1-9][0-9]*$' "the writers went on through the mongos (paused, never failed)"
fd_status_is backup 1 T "backup: T"
tap_is "$(fd_field backup 1 files)" 4 "backup: four files (the config servers and three shards)"
tap_is "$(fd_count backup 1 M_FATAL)$(fd_count backup 1 M_ERROR)" 00 "backup: no fatal and no error message"
tap_is "$(grep -c '^create ' "$T_OUT/snap.log")" 4 "backup: snapshot.create ran once per component"
args=()
for c in config sh0 sh1 sh2; do
	set=$c
	[ "$c" = config ] && set=csrs
	primary=$(sed -n "s/^create \\([^ ]*\\) \\([0-9]*\\) $set\$/\\1:\\2/p" "$T_OUT/snap.log")
	tap_is "$(grep -c "^job 1: file /@mongo/csrs/$c/$primary/dump\\.sh bytes=[1-9][0-9]*$" "$T_OUT/backup.out")" 1 \
		"backup: one file for $c, named with the primary that was snapshotted ($primary)"
	f=$(find "$T_OUT/files" -name "@mongo_csrs_${c}_*" | head -n 1)
	mkdir -p "$T_DIR/copy/$c"
	tar -C "$T_DIR/copy/$c" -xf "$f" 2>"$T_OUT/tar.$c.err"
	tap_is "$(cd "$T_DIR/copy/$c" && find . -type f | LC_ALL=C sort | xargs -r sha256sum)" "$(cat "$SUMS/$c")" \
		"backup: $c's file holds its snapshot as taken, file for file"
	snap=$(sed -n 's/^MONGO_BACKUP_SNAPSHOT=//p' "$SEEN/$c.env")
	tap_like "$SEEN/$c.env" "^MONGO_BACKUP_SNAPSHOT=$SNAPS/$c\\.[0-9]+\$" "backup: $c's command gets MONGO_BACKUP_SNAPSHOT, its snapshot"
	tap_is "$(tr '\n' ' ' <"$SEEN/$c.argv")" "$set ${primary%:*} ${primary##*:} $snap " \
		"backup: $c's command: %s %h %p %S are its set, its primary and its snapshot"
	tap_like "$SEEN/$c.env" '^MONGO_BACKUP_CLUSTER=csrs$' "backup: $c's command: MONGO_BACKUP_CLUSTER"
	tap_like "$SEEN/$c.env" "^MONGO_BACKUP_COMPONENT=$c\$" "backup: $c's command: MONGO_BACKUP_COMPONENT"
	tap_is "$(grep -c 'lockCount=[1-9]' "$SEEN/$c.locks")" 0 "backup: nothing was locked while $c's command streamed"
	args+=("$c=$T_DIR/copy/$c")
done
timeout -k 2 60 "$MBH_SIM" verify --cluster "${args[@]}" >"$T_OUT/verify.out" 2>&1
tap_is "$?" 0 "verify --cluster on the four streamed copies: exit 0"
tap_like "$T_OUT/verify.out" '^cluster: one moment: [0-9]+ routed writes' "verify --cluster on the streamed copies: one moment"
tap_is "$(grep -c ': whole: ' "$T_OUT/verify.out")" 4 "verify --cluster: the four streamed copies are whole"
tap_unlike "$T_OUT/backup.out" 'backup-pw' "backup: no password in the job log"
tap_like "$T_OUT/backup.out" '^job 1: M_INFO: mongo-fd: cluster csrs snapshotted \(exact mode, nothing locked\): the output of dump\.sh for each of its 4 components follows' \
	"backup: the job log says the cluster was snapshotted and nothing is locked"
tap_like "$T_OUT/backup.out" "^job 1: M_INFO: mongo-fd: started [^ ]*/dump\\.sh \\(pid [0-9]+\\) for component sh0 reading the snapshot $SNAPS/sh0\\.[0-9]+ of " \
	"backup: the job log names each component's snapshot"
tap_like "$T_OUT/backup.out" '^job 1: M_INFO: mongo-fd: cluster csrs: snapshots held for [0-9.]+ s; [0-9]+ bytes streamed; every snapshot removed after the last' \
	"backup: the job log says every snapshot was removed after the last component's stream"
clean backup
rm -rf "$T_DIR/copy"

# ---------------------------------------------------------------- a component's command fails
touch "$T_DIR/fail.sh1"
fd_run fail backup --cmd "$CMD" --out-dir "$T_OUT/files"
rm -f "$T_DIR/fail.sh1"
fd_status_is fail 1 f "sh1's command exits 3: the job fails (f)"
tap_like "$T_OUT/fail.out" '^job 1: M_FATAL: mongo-fd: component sh1: the backup command dump.sh exited with status 3' \
	"sh1's command fails: the fatal message names the component and the status"
tap_is "$(grep -c '^job 1: file ' "$T_OUT/fail.out")" 3 "sh1's command fails: no file after sh1's"
tap_like "$T_OUT/fail.out" '^job 1: M_INFO: mongo-fd: cluster csrs: (snapshots held for [0-9.]+ s; [0-9]+ bytes streamed; )?every snapshot removed after a failure$' \
	"sh1's command fails: every snapshot removed at once"
clean "a component's command fails"

# ---------------------------------------------------------------- a cancel mid-stream
touch "$T_DIR/slow.sh0"
fd_run cancel backup --cmd "$CMD" --cancel-after 300000
rm -f "$T_DIR/slow.sh0"
fd_status_is cancel 1 A "a cancel while sh0 streams: the job is cancelled (A)"
ms=$(sed -n 's/^job 1: cancel returned after \([0-9]*\) ms$/\1/p' "$T_OUT/cancel.out")
tap_ok "$([ -n "$ms" ] && [ "$ms" -lt 2000 ] && echo 0 || echo 1)" "a cancel: it returns at once ($ms ms)"
tap_is "$(fd_count cancel 1 M_FATAL)" 0 "a cancel: no fatal message"
clean "a cancel mid-stream"

# ---------------------------------------------------------------- the storage daemon fails mid-stream
touch "$T_DIR/slow.sh0"
fd_run sdfail backup --cmd "$CMD" --close-after 150000
rm -f "$T_DIR/slow.sh0"
fd_status_is sdfail 1 f "the storage daemon fails during sh0's stream: the job fails (f)"
tap_like "$T_OUT/sdfail.out" '^job 1: M_(FATAL|ERROR): mongo-fd: component sh0: the stream of dump.sh was closed after [0-9]+ bytes, before its end' \
	"the storage daemon fails: the job log names the component and the early close"
clean "the storage daemon fails mid-stream"

# ---------------------------------------------------------------- a cancel as the lock starts
fd_run cancellock backup --cmd "$CMD" --cancel-at-ms 1
fd_status_is cancellock 1 A "a cancel as the lock starts: the job is cancelled (A)"
tap_is "$(fd_count cancellock 1 M_FATAL)" 0 "a cancel as the lock starts: no fatal message"
clean "a cancel as the lock starts"

# ---------------------------------------------------------------- SIGTERM: bacula-fd stops mid-stream
rm -f "$T_OUT/hang.pid"
touch "$T_DIR/hang.sh1"
fd_bg term backup --cmd "$CMD"
wait_for "hang.pid" 1000 test -s "$T_OUT/hang.pid"
rm -f "$T_DIR/hang.sh1"
tap_is "$(nsnaps)" 4 "SIGTERM: four snapshots while sh1's command streams"
tap_is "$(simc_locks)" "$UNLOCKED" "SIGTERM: ... and nothing locked"
start=$(date +%s%N)
kill -TERM "$FD_PID"
wait "$FD_PID"
ms=$(ms_since "$start")
tap_is "$(nsnaps)" 0 "SIGTERM: every snapshot removed by the time the file daemon has exited (${ms} ms)"
tap_ok "$([ "$ms" -lt 10000 ] && echo 0 || echo 1)" "SIGTERM: the file daemon exits at once"
tap_ok "$(t_pid_gone "$(cat "$T_OUT/hang.pid" 2>/dev/null)" 50 && echo 0 || echo 1)" "SIGTERM: sh1's command is gone"
clean SIGTERM

tap_done
