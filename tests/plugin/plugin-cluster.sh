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
  "$MBH_SIM" ctl "$SIMC_CTL" balancer; } >"$SEEN/\$c.state"
[ -f "$T_DIR/fail.\$c" ] && exit 3
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
	tap_ok "$([ ! -e "$CREC" ] && [ -z "$(ls "$T_STATE/csrs.cluster.d/"*.state 2>/dev/null)" ] && echo 0 || echo 1)" \
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
	f=$(ls "$T_OUT/files/"@mongo_csrs_"${c}"_* 2>/dev/null | head -n 1)
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
done
tap_unlike "$T_OUT/backup.out" 'backup-pw' "backup: no password in the job log"
tap_like "$T_OUT/backup.out" '^job 1: M_INFO: mongo-fd: cluster csrs locked \(skew [0-9]+ ms\): config=' \
	"backup: the job log gives the skew and each member's lock time"
tap_like "$T_OUT/backup.out" '^job 1: M_INFO: mongo-fd: cluster csrs was locked for [0-9.]+ s; [0-9]+ bytes streamed; every lock released after the last' \
	"backup: the job log says every lock was released after the last component's stream"
clean backup

tap_done
