#!/bin/bash
# hooks-cluster-exact.sh: a sharded cluster in exact mode (simulated: a CSRS and three shards with data
# files, two mongos): fsync lock through the mongos, a snapshot (cp -a) of every primary while writers
# run through the mongos, the copies whole and of one moment (verify --cluster), an online-mode control
# run, the refusals (a 7.0.1 mongos, no snapshot mode, a DDL operation), a failing snapshot.create, and
# crash points at every step finished by mongo-postbackup or the watchdog.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
# shellcheck source=sim-cluster.sh
. "$top_srcdir/tests/integration/sim-cluster.sh"
t_init

PY=/usr/bin/python3
T_PASS=backup-pw # the cluster topologies' user
UNLOCKED="csrs:0:0,1:0,2:0 sh0:0:0,1:0,2:0 sh1:0:0,1:0,2:0 sh2:0:0,1:0,2:0"
DATA=$T_DIR/data
SNAPS=$T_DIR/snaps
mkdir -p "$SNAPS"

SIMC_DATA_DIR=$DATA simc_start 3 || {
	tap_fail "a CSRS and three shards with data files, and the routers, start"
	tap_done
	exit 1
}
MAIN_URI=$SIMC_URI
MAIN_CTL=$SIMC_CTL
MAIN_PID=$SIM_PID
read -r -a SHARD_CTLS <<<"$SIMC_SHARD_CTLS"
CREC=$T_STATE/csrs.cluster.state

# The snapshot: a cp -a of the member's data directory (the member found by its port in its set).
SNAP=$T_DIR/snap.sh
cat >"$SNAP" <<EOF
#!/bin/bash
# snap.sh create HOST PORT SET | remove PATH
set -eu
echo "\$*" >>"$T_OUT/snap.log"
case \$1 in
create)
	case \$4 in csrs) ctl=$SIMC_CONFIG_CTL; dir=config ;; sh0) ctl=${SHARD_CTLS[0]}; dir=sh0 ;;
	sh1) ctl=${SHARD_CTLS[1]}; dir=sh1 ;; sh2) ctl=${SHARD_CTLS[2]}; dir=sh2 ;; *) exit 64 ;; esac
	id=\$("$MBH_SIM" ctl "\$ctl" status | sed -n "s/^id=\([0-9]*\) host=\$2:\$3 .*/\1/p")
	[ -n "\$id" ] || exit 65
	[ "\${SNAP_FAIL:-}" != "\$4" ] || exit 3
	[ "\${SNAP_KILL_ROUTER:-}" != "\$4" ] || "$MBH_SIM" ctl "$MAIN_CTL" shutdown >/dev/null 2>&1 || true
	out=$SNAPS/\$dir.\$\$
	cp -a "$DATA/\$dir/\$id" "\$out"
	echo "\$out"
		;;
remove) rm -rf "\$2" ;;
*) exit 64 ;;
esac
EOF
chmod +x "$SNAP"
SNAPCONF='snapshot = { create = [ "'$SNAP'", "create", "%h", "%p", "%s" ]; remove = [ "'$SNAP'", "remove", "%S" ]; timeout = 60; };'
CONF=$T_DIR/exact.conf
CFG_URI=$MAIN_URI t_config "$CONF" 'cluster = { mode = "exact"; };' "$SNAPCONF"

pre() { local n=$1; shift; t_run "$n" "$MBH_PRE" -c "$CONF" "$@"; }
post() { local n=$1; shift; t_run "$n" "$MBH_POST" -c "$CONF" "$@"; }
balancer_mode() { simc_ctl "$MAIN_CTL" balancer | sed -n 's/^mode=\([^ ]*\).*/\1/p'; }
nsnaps() { find "$SNAPS" -mindepth 1 -maxdepth 1 | wc -l; }

# clean NAME: nothing locked, the balancer running, no record, no snapshot left.
clean() {
	tap_is "$(simc_locks)" "$UNLOCKED" "$1: nothing is locked"
	tap_is "$(balancer_mode)" full "$1: the balancer runs"
	tap_ok "$([ ! -e "$CREC" ] && echo 0 || echo 1)" "$1: no cluster record left"
	tap_is "$(nsnaps)" 0 "$1: no snapshot left"
}


# The command of an exact run: verify --cluster over MONGO_BACKUP_SNAPSHOTS while they exist.
CHECK=$T_DIR/check.sh
cat >"$CHECK" <<EOF
#!/bin/bash
env | grep '^MONGO_BACKUP_' | sort >"$T_OUT/check.env"
"$MBH_SIM" ctl "$MAIN_CTL" members >"$T_OUT/check.locks"
sleep 0.3 # the writers go on meanwhile: the snapshots must not change
args=()
for kv in \$MONGO_BACKUP_SNAPSHOTS; do args+=("\$kv"); done
timeout -k 2 60 "$MBH_SIM" verify --cluster "\${args[@]}" >"$T_OUT/check.verify" 2>&1
echo \$? >"$T_OUT/check.rc"
EOF
chmod +x "$CHECK"

# --dry-run: exact mode is accepted now.
pre dry --dry-run
t_rc_is 0 "--dry-run, exact mode: exits 0" dry
tap_like "$T_OUT/dry.out" '^cluster csrs \(exact mode\)' "--dry-run: names exact mode"
tap_like "$T_OUT/dry.out" "^would lock through the mongos and snapshot: config=127\\.0\\.0\\.1:[0-9]+ sh0=" "--dry-run: the last line names every primary"

# The backup under writers: whole and one moment.
simc_writers "$MAIN_URI"
pre exec --job ex1 --exec -- "$CHECK"
t_rc_is 0 "exact --exec under writers through the mongos: exits 0" exec
tap_is "$(cat "$T_OUT/check.rc" 2>/dev/null)" 0 "verify --cluster on the snapshots: exit 0 (whole and one moment)"
tap_like "$T_OUT/check.verify" '^cluster: one moment: [0-9]+ routed writes' "verify --cluster: 'one moment'"
tap_is "$(grep -c ': whole: ' "$T_OUT/check.verify")" 4 "verify --cluster: the four copies are whole"
tap_like "$T_OUT/check.env" '^MONGO_BACKUP_SNAPSHOTS=config=/[^ ]* sh0=/[^ ]* sh1=/[^ ]* sh2=/[^ ]*$' \
	"the command gets MONGO_BACKUP_SNAPSHOTS: component=path for all four"
tap_like "$T_OUT/check.env" '^MONGO_BACKUP_PAUSE_MS=[0-9]+$' "the command gets MONGO_BACKUP_PAUSE_MS"
tap_diag "the writes' pause (4 cp -a snapshots in parallel): $(sed -n 's/^MONGO_BACKUP_PAUSE_MS=//p' "$T_OUT/check.env") ms"
tap_is "$(grep -c 'lockCount=[1-9]' "$T_OUT/check.locks")" 0 \
	"while the command runs, nothing is locked (it reads the snapshots)"
tap_like "$T_OUT/exec.err" 'writes paused [0-9]+ ms; snapshots: config=/' "the log says the write pause and the snapshots"
simc_stop_writers
tap_like "$T_OUT/writer.out" '^inserted=[1-9][0-9]*$' "the writers went on through the mongos (paused, never failed)"
tap_is "$(grep -c '^create ' "$T_OUT/snap.log")" 4 "snapshot.create ran once per component"
tap_is "$(grep -c '^remove ' "$T_OUT/snap.log")" 4 "snapshot.remove ran once per snapshot"
clean "exact --exec"

# The control run: online mode under the same writers, the locked secondaries copied by the command one
# after another.  Whole, yes; of one moment only by chance: its verdict is reported, not asserted.
OCONF=$T_DIR/online.conf
CFG_URI=$MAIN_URI t_config "$OCONF" 'cluster = { mode = "online"; };'
OCHECK=$T_DIR/ocheck.sh
cat >"$OCHECK" <<EOF
#!/bin/bash
args=()
for kv in \$MONGO_BACKUP_MEMBERS; do
	name=\${kv%%=*} port=\${kv##*:}
	case \$name in config) ctl=$SIMC_CONFIG_CTL dir=config ;; sh0) ctl=${SHARD_CTLS[0]} dir=sh0 ;;
	sh1) ctl=${SHARD_CTLS[1]} dir=sh1 ;; sh2) ctl=${SHARD_CTLS[2]} dir=sh2 ;; esac
	id=\$("$MBH_SIM" ctl "\$ctl" status | sed -n "s/^id=\([0-9]*\) host=[^ ]*:\$port .*/\1/p")
	cp -a "$DATA/\$dir/\$id" "$T_DIR/online.\$name"
	sleep 0.2
	args+=("\$name=$T_DIR/online.\$name")
done
timeout -k 2 60 "$MBH_SIM" verify --cluster "\${args[@]}" >"$T_OUT/ocheck.verify" 2>&1
echo \$? >"$T_OUT/ocheck.rc"
rm -rf "$T_DIR"/online.*
EOF
chmod +x "$OCHECK"
simc_writers "$MAIN_URI"
t_run online "$MBH_PRE" -c "$OCONF" --job on1 --exec -- "$OCHECK"
simc_stop_writers
t_rc_is 0 "online --exec under the same writers: exits 0" online
tap_is "$(grep -c ': whole: ' "$T_OUT/ocheck.verify")" 4 "online mode: the four copies are whole"
tap_like "$T_OUT/ocheck.verify" '^cluster: (one moment|not one moment): ' \
	"online mode: verify --cluster gives a verdict on the moment (either: the secondaries apply at their own pace)"
tap_diag "online mode's verdict: $(grep '^cluster: .*moment' "$T_OUT/ocheck.verify")"
clean "online control run"

# hooks mode: pre takes the snapshots and leaves nothing locked; post removes them.
pre hpre --job hk1
t_rc_is 0 "exact pre (hooks mode): exits 0" hpre
tap_is "$(simc_locks)" "$UNLOCKED" "after pre: nothing is locked"
tap_is "$(nsnaps)" 4 "after pre: four snapshots"
tap_like "$CREC" '^phase=SNAPSHOT$' "the record: phase SNAPSHOT"
tap_is "$(grep -c '^snapshot=' "$CREC")" 4 "the record names the four snapshots"
tap_like "$CREC" '^token=[0-9a-f]{32}$' "the record holds the lock's token"
tap_is "$(grep -c '^component=.* 127\.0\.0\.1:[0-9]* 1 0 released$' "$CREC")" 4 \
	"the record: every component's primary, its lockCount from all.raw (1), released"
SH0_PRIMARY=$(sed -n 's/^component=sh0 [^ ]* [^ ]* \([^ ]*\) .*/\1/p' "$CREC")
post held --job hk1 --check-held "sh0=$SH0_PRIMARY"
t_rc_is 0 "--check-held sh0=ITS PRIMARY: exits 0" held
tap_like "$T_OUT/held.out" "^sh0 $SH0_PRIMARY is snapshotted for job hk1: read $SNAPS/sh0\\." "... naming the snapshot to read"
post held2 --job hk1 --check-held "sh0=127.0.0.1:1"
t_rc_is 69 "--check-held of another member: 69" held2
post held3 --job other --check-held "sh0=$SH0_PRIMARY"
t_rc_is 69 "--check-held for another job: 69" held3
post status --status
t_rc_is 0 "--status: exits 0" status
tap_like "$T_OUT/status.out" '^cluster csrs \(exact mode\): SNAPSHOT since .* by job hk1' "--status: exact mode, SNAPSHOT, the job"
tap_is "$(grep -c '^component .*: released 127\.0\.0\.1:[0-9]*, lock time +0 ms, lockCount 1, snapshot /' "$T_OUT/status.out")" 4 \
	"--status: every component's primary, lockCount and snapshot"
post json --status --json
t_rc_is 0 "--status --json: exits 0" json
tap_is "$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["mode"], d["phase"], sorted(c["name"] for c in d["components"]), all(c["snapshot"].startswith("/") for c in d["components"]))' "$T_OUT/json.out" 2>&1)" \
	"exact SNAPSHOT ['config', 'sh0', 'sh1', 'sh2'] True" "--status --json: mode, phase, every component's snapshot"
post hpost --job hk1
t_rc_is 0 "exact post: exits 0" hpost
clean "hooks mode"
post hpost2 --job hk1
t_rc_is 0 "post again: nothing to do, exits 0" hpost2

# Refused before anything is locked: no snapshot mode; a 7.0.1 mongos; a DDL operation.
NCONF=$T_DIR/nosnap.conf
CFG_URI=$MAIN_URI t_config "$NCONF" 'cluster = { mode = "exact"; };'
t_run nosnap "$MBH_PRE" -c "$NCONF" --exec -- true
t_rc_is 78 "exact mode without a snapshot group: refused (EX_CONFIG)" nosnap
tap_like "$T_OUT/nosnap.err" 'needs snapshot mode.*cluster\.mode = "online"' "... saying why and the alternative"
tap_is "$(simc_locks)" "$UNLOCKED" "no snapshot mode: nothing locked"
sed 's/^max_wire_version = 21;/max_wire_version = 21;\nversion = "7.0.1";/' "$SIMC_TOPOS/cluster-mongos.conf" \
	>"$T_DIR/mongos-701.conf"
simc_router "$T_DIR/mongos-701.conf" || tap_fail "a 7.0.1 router starts"
OLDCONF=$T_DIR/old.conf
CFG_URI=$SIMC_URI t_config "$OLDCONF" 'cluster = { mode = "exact"; };' "$SNAPCONF"
t_run old "$MBH_PRE" -c "$OLDCONF" --exec -- true
t_rc_is 69 "a 7.0.1 mongos: refused (EX_UNAVAILABLE)" old
tap_like "$T_OUT/old.err" 'runs 7\.0\.1: use cluster\.mode = "online"' "... naming the version and the alternative"
tap_is "$(simc_locks)" "$UNLOCKED" "7.0.1: nothing locked"
tap_is "$(nsnaps)" 0 "7.0.1: no snapshot taken"
simc_ctl "$MAIN_CTL" ddl start >/dev/null
: >"$T_OUT/snap.log"
pre ddl --exec -- true
simc_ctl "$MAIN_CTL" ddl end >/dev/null
t_rc_is 69 "a DDL operation in progress: refused" ddl
tap_like "$T_OUT/ddl.err" 'DDL operation.*try again when it has ended' "... saying so and what to do"
tap_is "$(grep -c '^create ' "$T_OUT/snap.log")" 0 "DDL: no snapshot.create ran"
clean "DDL refusal"

# Someone else's lock on a primary (sh2's): refused before anything is locked; with --allow-locked,
# taken once more and released once, the other lock left as it was.
OTHER="csrs:0:0,1:0,2:0 sh0:0:0,1:0,2:0 sh1:0:0,1:0,2:0 sh2:0:1,1:0,2:0"
simc_ctl "${SHARD_CTLS[2]}" lock 0 >/dev/null
pre other --exec -- true
t_rc_is 75 "a primary already fsync-locked by someone else: refused (75)" other
tap_like "$T_OUT/other.err" 'already fsync-locked by someone else .*--allow-locked.*nothing was locked' "... saying what to do"
tap_is "$(simc_locks)" "$OTHER" "... the other lock alone is held"
pre other2 --allow-locked --exec -- true
t_rc_is 0 "--allow-locked: the backup runs" other2
tap_like "$T_OUT/other2.err" 'component sh2: lockCount 2 after our lock on 127\.0\.0\.1:[0-9]+: another fsync lock is held there' \
	"... the lock's count (all.raw) says another lock is held there"
tap_unlike "$T_OUT/other2.err" 'fsyncUnlock left' "... and the unlock's count is ours minus one on every primary"
tap_is "$(simc_locks)" "$OTHER" "... the other lock is left as it was"
simc_ctl "${SHARD_CTLS[2]}" unlock 0 >/dev/null
clean "someone else's lock"

# A snapshot.create failing on one component: unlocked at once, the others' snapshots removed.
: >"$T_OUT/snap.log"
SNAP_FAIL=sh1 pre sfail --exec -- true
t_rc_is 75 "snapshot.create failing on sh1: fails (EX_TEMPFAIL)" sfail
tap_like "$T_OUT/sfail.err" 'component sh1 \(set sh1\): snapshot.create .* failed \(exit 3\).*nothing is locked, no snapshot is left' \
	"... naming the component, saying nothing is left"
tap_is "$(grep -c '^remove ' "$T_OUT/snap.log")" 3 "the three snapshots made are removed"
clean "snapshot.create failure"

# Crash points: the run killed at every step; mongo-postbackup finishes.  The snapshots the record
# names when the run dies are removed, each exactly once; one a snapshot.create made but the run never
# read (killed before its path came through the pipe, as for one set) nobody can know: counted, not
# asserted.
: >"$T_OUT/snap.log"
# crashed NAME: as clean, but the snapshots checked are those the record named after the kill.
crashed() {
	local p left=0
	tap_is "$(simc_locks)" "$UNLOCKED" "$1: nothing is locked"
	tap_is "$(balancer_mode)" full "$1: the balancer runs"
	tap_ok "$([ ! -e "$CREC" ] && echo 0 || echo 1)" "$1: no cluster record left"
	while read -r p; do [ ! -e "$p" ] || left=$((left + 1)); done <"$T_OUT/named"
	tap_is "$left" 0 "$1: every snapshot the record named ($(wc -l <"$T_OUT/named")) is removed"
}
named() { sed -n 's/^snapshot=[^ ]* //p' "$CREC" 2>/dev/null >"$T_OUT/named"; cat "$T_OUT/named" >>"$T_OUT/named.all"; }
: >"$T_OUT/named.all"
for pt in exact-intent exact-balancer-stopped exact-locked exact-snapshot-printed exact-snapshots exact-unlocked; do
	MBH_CRASH_AT=$pt:KILL pre "c-$pt" --job cr
	t_rc_is 137 "killed at $pt" "c-$pt"
	named
	post "p-$pt" --job cr
	t_rc_is 0 "post after a kill at $pt: exits 0" "p-$pt"
	crashed "killed at $pt, then post"
done
tap_ok "$([ "$(wc -l <"$T_OUT/named")" = 4 ] && echo 0 || echo 1)" "killed at exact-unlocked: the record named all four snapshots"
pre k-post --job cr2
MBH_CRASH_AT=exact-snapshot-removed:KILL post k-post-crash --job cr2
t_rc_is 137 "post killed after its first snapshot.remove" k-post-crash
tap_is "$(grep -c '^snapshot=' "$CREC")" 3 "... the record names the three left"
named
post k-post2 --job cr2
t_rc_is 0 "post again: exits 0" k-post2
crashed "post killed mid-way, then post again"
tap_is "$(sed -n 's/^remove //p' "$T_OUT/snap.log" | sort | uniq -d | wc -l)" 0 "no snapshot was removed twice"
tap_is "$(sort -u "$T_OUT/named.all" | while read -r p; do grep -qxF "remove $p" "$T_OUT/snap.log" || echo "$p"; done | wc -l)" 0 \
	"every snapshot a record named was removed"
tap_diag "copies made by a snapshot.create whose path the killed run never read: $(nsnaps)"
rm -rf "${SNAPS:?}"/*

# SIGTERM while the snapshots are taken (the first printed): the others are cancelled, every primary
# unlocked, every snapshot on record removed, the run fails; nothing is left for post.
MBH_CRASH_AT=exact-snapshot-printed:TERM pre term --job term --exec -- true
tap_ok "$([ "$T_RC" != 0 ] && [ "$T_RC" != 137 ] && [ "$T_RC" != 124 ] && echo 0 || echo 1)" \
	"SIGTERM while the snapshots are taken: the run ends, failing ($T_RC)"
tap_is "$(simc_locks)" "$UNLOCKED" "SIGTERM: nothing is locked"
tap_is "$(balancer_mode)" full "SIGTERM: the balancer runs"
tap_ok "$([ ! -e "$CREC" ] && echo 0 || echo 1)" "SIGTERM: no cluster record left"
tap_like "$T_OUT/term.err" 'removed the snapshot /' "SIGTERM: the snapshot printed is removed"
tap_diag "copies left by the snapshot.create commands cancelled mid-copy: $(nsnaps)"
rm -rf "${SNAPS:?}"/*

# The watchdog: a run killed while the mongos lock holds and nobody runs post: at the deadline the
# watchdog unlocks through the mongos and starts the balancer; post removes what is left.
WCONF=$T_DIR/wd.conf
CFG_URI=$MAIN_URI t_config "$WCONF" 'cluster = { mode = "exact"; };' "${SNAPCONF/timeout = 60/timeout = 2}"
MBH_CRASH_AT=exact-locked:KILL t_run w-locked "$MBH_PRE" -c "$WCONF" --job wd --max-lock-seconds 3
t_rc_is 137 "killed while every primary is locked" w-locked
tap_like - '^csrs:0:1,' "killed while locked: the CSRS primary is locked" <<<"$(simc_locks)"
n=0
while [ "$(simc_locks)" != "$UNLOCKED" ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n + 1)); done
tap_is "$(simc_locks)" "$UNLOCKED" "the watchdog unlocked every primary through the mongos at the deadline"
n=0
while [ "$(balancer_mode)" != full ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
tap_is "$(balancer_mode)" full "... and started the balancer again"
t_run w-post "$MBH_POST" -c "$WCONF" --job wd
t_rc_is 0 "post after the watchdog: exits 0" w-post
tap_like "$T_STATE/csrs.cluster.events" 'outlived lock\.max_seconds; the watchdog unlocked every primary' \
	"the watchdog's event says so"
tap_like "$T_OUT/w-post.err" 'fsyncUnlock through the mongos: a primary was not locked' \
	"post's unlock finds it released already (one unlock per lock)" 
clean "watchdog, then post"

# The mongos gone before the unlock (shut down while the snapshots are taken): the run fails, the
# primaries stay locked and the record says so; mongo-postbackup through another router unlocks them
# and removes the snapshots.
SNAP_KILL_ROUTER=csrs pre gone --job gone --exec -- true
# (the status is the driver's error's: 69 unreachable, or 77 when the router died inside a handshake)
tap_ok "$([ "$T_RC" = 69 ] || [ "$T_RC" = 77 ] || [ "$T_RC" = 75 ] && echo 0 || echo 1)" "the mongos gone before the unlock: fails ($T_RC)"
tap_like "$T_OUT/gone.err" 'cannot unlock cluster csrs through the mongos \(run mongo-postbackup' "... saying what to do"
tap_is "$(simc_locks)" "csrs:0:1,1:0,2:0 sh0:0:1,1:0,2:0 sh1:0:1,1:0,2:0 sh2:0:1,1:0,2:0" "... every primary stays locked"
tap_like "$CREC" '^phase=LOCKED$' "... and the record says LOCKED"
n=0
while kill -0 "$MAIN_PID" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
simc_router "$SIMC_TOPOS/cluster-mongos.conf" || tap_fail "another router starts"
MAIN_URI=$SIMC_URI
MAIN_CTL=$SIMC_CTL
CFG_URI=$MAIN_URI t_config "$CONF" 'cluster = { mode = "exact"; };' "$SNAPCONF"
post gone-post --job gone
t_rc_is 0 "post through the new router: exits 0" gone-post
clean "the mongos gone, then post through another"

tap_done
