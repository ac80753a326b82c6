#!/bin/bash
# sim-sharded.sh: a simulated sharded cluster (two shards, a CSRS, two mongos routers) driven by pymongo
# and libmongoc: discovery, the balancer, and fsync lock/unlock through mongos with its failures.
# SPDX-License-Identifier: AGPL-3.0-or-later
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/sim-harness.sh"
# shellcheck source=sim-cluster.sh
. "$top_srcdir/tests/integration/sim-cluster.sh"

PY=/usr/bin/python3
STEP=$top_srcdir/tests/integration/sim-sharded-step.py
TOPOS=$top_srcdir/tests/sim/topologies

simt_init
"$PY" -c 'import pymongo' 2>/dev/null || tap_skip_all "$PY has no pymongo"
tap_plan 65

ctl() { simc_ctl "$@"; }
locks() { simc_set_locks "$1"; }
all_locks() { simc_locks; }

# step NAME [ARGS...]: one pymongo step against the mongos; its key=value lines in $T_OUT/NAME.out.
step() {
	local name=$1
	shift
	T_TIMEOUT=60 t_run "$name" "$PY" "$STEP" "$name" "$M_URI" "$@"
}

# val NAME KEY: KEY's value in step NAME's output.
val() { sed -n "s/^$2=//p" "$T_OUT/$1.out" | head -n 1; }

UNLOCKED="csrs:0:0,1:0,2:0 sh0:0:0,1:0,2:0 sh1:0:0,1:0,2:0"
PRIMARIES_LOCKED="csrs:0:1,1:0,2:0 sh0:0:1,1:0,2:0 sh1:0:1,1:0,2:0"

simc_start 2
tap_ok $? "a CSRS, two shards and two mongos routers start (four simulators)" || exit 1
M_URI=$SIMC_URI
M_CTL=$SIMC_CTL
CFG_CTL=$SIMC_CONFIG_CTL
A_CTL=${SIMC_SHARD_CTLS%% *}
B_CTL=${SIMC_SHARD_CTLS##* }
M_AUTH_URI="mongodb://backup:backup-pw@${M_URI#mongodb://}?authSource=admin"
CFG_CONN=$(simc_conn "$CFG_CTL")
A_CONN=$(simc_conn "$A_CTL")
B_CONN=$(simc_conn "$B_CTL")
tap_ok "$([[ $M_URI =~ ^mongodb://127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+/$ ]] && echo 0 || echo 1)" \
	"the mongos seed lists both routers, no replicaSet ($M_URI)"

# Discovery
step hello
tap_is "$(val hello msg)" isdbgrid "pymongo: hello on mongos says msg: isdbgrid"
tap_is "$(val hello setName)" none "pymongo: a router has no setName"
tap_is "$(val hello is_mongos)" true "pymongo sees a sharded topology (is_mongos)"
tap_is "$(val hello routers)" 2 "pymongo found both routers"
CFG_HOST=$(ctl "$CFG_CTL" status | sed -n 's/^id=1 host=\([^ ]*\) .*/\1/p')
T_TIMEOUT=60 t_run configsvr "$PY" "$STEP" configsvr "mongodb://$CFG_HOST/?directConnection=true"
tap_is "$(val configsvr configsvr)" 2 "a CSRS member says configsvr: 2 in hello"
step listShards
tap_is "$(val listShards ids)" '["sh0", "sh1"]' "listShards: both shards by their set names"
tap_is "$(val listShards host.sh0)" "$A_CONN" "listShards: sh0's host is rsName/host:port,..."
tap_is "$(val listShards host.sh1)" "$B_CONN" "listShards: sh1's host is rsName/host:port,..."
tap_is "$(val listShards state.sh0)" 1 "listShards: state 1"
step getShardMap
tap_is "$(val getShardMap map.config)" "$CFG_CONN" "getShardMap: map.config is the CSRS's connection string"
tap_is "$(val getShardMap map.sh1)" "$B_CONN" "getShardMap: map.<shard> is the shard's"
tap_is "$(val getShardMap hosts)" 9 "getShardMap: every member is in hosts"
simt_probe probe_ls "$M_AUTH_URI" '{"listShards": 1}'
tap_ok "$T_RC" "libmongoc: listShards through the mongos with SCRAM"
tap_like "$T_OUT/probe_ls.out" "\"host\" : \"$A_CONN\"" "libmongoc: the reply names sh0's connection string"

# Authentication and privileges on the router
step unauth
tap_like "$T_OUT/unauth.out" '^error code=13 msg=command listShards requires authentication' \
	"listShards without a user: 13 Unauthorized"
step wrongpw
tap_is "$(cat "$T_OUT/wrongpw.out")" "error code=18" "a wrong password: 18 AuthenticationFailed"
step monitor-stop
tap_like "$T_OUT/monitor-stop.out" '^error code=13 msg=not authorized on admin to execute command \{ balancerStop' \
	"clusterMonitor may not stop the balancer: 13"

# The balancer, with a migration that runs until the test ends it
step balancerStatus
tap_is "$(val balancerStatus mode)/$(val balancerStatus inBalancerRound)" "full/false" "balancerStatus: mode full, not in a round"
ctl "$M_CTL" migration start >/dev/null
step balancerStatus
tap_is "$(val balancerStatus inBalancerRound)" true "ctl migration start: inBalancerRound true"
T_TIMEOUT=60 "$PY" "$STEP" balancerStop "$M_URI" >"$T_OUT/stop.out" 2>&1 &
STOP_PID=$!
simt_bg_add "$STOP_PID"
sleep 1
tap_ok "$(kill -0 "$STOP_PID" 2>/dev/null && echo 0 || echo 1)" "balancerStop waits while the migration runs"
step balancerStatus
tap_is "$(val balancerStatus mode)/$(val balancerStatus inBalancerRound)" "off/true" "meanwhile: mode off, the round still runs"
ctl "$M_CTL" migration end >/dev/null
wait "$STOP_PID"
tap_ok $? "balancerStop returns once the migration ends"
simt_bg_stop "$STOP_PID"
tap_ok "$([ "$(sed -n 's/^ms=//p' "$T_OUT/stop.out")" -ge 900 ] && echo 0 || echo 1)" \
	"balancerStop took the migration's time ($(sed -n 's/^ms=//p' "$T_OUT/stop.out") ms)"
step balancerStatus
tap_is "$(val balancerStatus mode)/$(val balancerStatus inBalancerRound)/$(val balancerStatus rounds)" "off/false/1" \
	"after: mode off, no round, numBalancerRounds 1"
step balancerStart
step balancerStatus
tap_is "$(val balancerStatus mode)" full "balancerStart: mode full again"

# fsync lock through mongos: every shard's primary and the CSRS primary
step lock
tap_is "$(val lock ok)/$(val lock numFiles)" "1.0/1" "fsync lock through mongos: ok, numFiles 1"
tap_is "$(val lock raw)" "[\"$CFG_CONN\", \"$A_CONN\", \"$B_CONN\"]" "all.raw has one reply per shard and the CSRS, by connection string"
tap_is "$(val lock lockCounts)" "[1, 1, 1]" "each raw reply has lockCount 1"
tap_is "$(val lock info)" '["now locked against writes, use db.fsyncUnlock() to unlock"]' "each raw reply has the member's info"
tap_is "$(all_locks)" "$PRIMARIES_LOCKED" "the primaries (and only they) of the CSRS and every shard are locked"
tap_is "$(ctl "$M_CTL" members | grep -c 'lockCount=1')" 3 "ctl members (on the mongos) shows the three locks"
A_PRIMARY=$(ctl "$A_CTL" status | sed -n 's/^id=0 host=\([^ ]*\) .*/\1/p')
T_TIMEOUT=60 "$PY" "$STEP" insert "$M_URI" "$A_PRIMARY" >"$T_OUT/ins.out" 2>&1 &
INS_PID=$!
simt_bg_add "$INS_PID"
sleep 1
tap_ok "$(kill -0 "$INS_PID" 2>/dev/null && echo 0 || echo 1)" "an insert on sh0's locked primary is held"
step unlock
tap_is "$(val unlock lockCounts)" "[0, 0, 0]" "fsyncUnlock through mongos: raw lockCount 0 from each"
wait "$INS_PID"
tap_ok $? "the held insert is acknowledged after the unlock"
simt_bg_stop "$INS_PID"
tap_is "$(all_locks)" "$UNLOCKED" "nothing is locked after fsyncUnlock"
step unlock
tap_like "$T_OUT/unlock.out" '^error code=20 msg=.*fsyncUnlock called when not locked' \
	"fsyncUnlock when nothing is locked: 20 (7.0)"
simt_probe probe_lock "$M_AUTH_URI" '{"fsync": 1, "lock": true}'
tap_ok "$T_RC" "libmongoc: fsync lock through mongos"
tap_like "$T_OUT/probe_lock.out" '"all" : \{ "raw" : \{ "csrs/' "libmongoc: the reply nests the raw replies under all"
simt_probe probe_unlock "$M_AUTH_URI" '{"fsyncUnlock": 1}'
tap_ok "$T_RC" "libmongoc: fsyncUnlock through mongos"
tap_is "$(all_locks)" "$UNLOCKED" "libmongoc's unlock released all three"

# Failures: a DDL operation, a shard without a primary, a lock that times out
ctl "$M_CTL" ddl start >/dev/null
step lock
tap_like "$T_OUT/lock.out" '^error code=20 msg=Cannot take lock while DDL operation is in progress' \
	"a running DDL operation: 20 'Cannot take lock while DDL operation is in progress'"
tap_is "$(all_locks)" "$UNLOCKED" "... and the mongos released what it had locked"
ctl "$M_CTL" ddl end >/dev/null
ctl "$B_CTL" kill 0 >/dev/null
step lock
tap_like "$T_OUT/lock.out" '^error code=133 msg=Could not find host matching read preference \{ mode: "primary" \} for set sh1' \
	"sh1 without a primary: 133 FailedToSatisfyReadPreference"
tap_is "$(all_locks)" "$UNLOCKED" "... and the CSRS and sh0, locked before, are unlocked again"
ctl "$B_CTL" revive 0 >/dev/null && ctl "$B_CTL" elect 0 >/dev/null
ctl "$M_CTL" stall sh1 >/dev/null
step lock 700
tap_like "$T_OUT/lock.out" 'error code=24 msg=Fsync lock timed out' "a lock that never comes: 24 'Fsync lock timed out'"
tap_ok "$([ "$(val lock ms)" -ge 650 ] && echo 0 || echo 1)" \
	"... after fsyncLockAcquisitionTimeoutMillis 700 ($(val lock ms) ms)"
tap_is "$(all_locks)" "$UNLOCKED" "... and nothing stays locked"
ctl "$M_CTL" stall none >/dev/null
step lock
tap_is "$(val lock lockCounts)" "[1, 1, 1]" "with the faults gone the cluster locks again"
step unlock
tap_is "$(all_locks)" "$UNLOCKED" "... and unlocks"

# Versions: a router before the cluster lock refuses it; the backports have it.
# old_mongos VERSION WIRE: start a mongos of that version over the same cluster ($M_URI is its seed).
old_mongos() {
	sed -e "s/^max_wire_version = .*/max_wire_version = $2;/" -e "s/^role = .*/&\nversion = \"$1\";/" \
		"$TOPOS/cluster-mongos.conf" >"$T_DIR/mongos-$1.conf"
	simc_router "$T_DIR/mongos-$1.conf" && M_URI=$SIMC_URI
}
old_mongos 7.0.1 21
step lock
tap_like "$T_OUT/lock.out" "^error code=None msg=can't do lock through mongos" \
	"7.0.1: \"can't do lock through mongos\" (no code)"
tap_is "$(all_locks)" "$UNLOCKED" "7.0.1: nothing was locked"
step unlock
tap_like "$T_OUT/unlock.out" "^error code=59 msg=no such command: 'fsyncUnlock'" "7.0.1: no fsyncUnlock on mongos"
old_mongos 6.0.10 17
step lock
tap_like "$T_OUT/lock.out" "can't do lock through mongos" "6.0.10 refuses"
old_mongos 4.4.25 9
step lock
tap_is "$(val lock lockCounts)" "[1, 1, 1]" "4.4.25 locks through mongos"
step unlock
tap_is "$(all_locks)" "$UNLOCKED" "4.4.25 unlocks"

# mongosh (optional): the shell's helpers through the router.
MONGOSH=${MBH_MONGOSH:-$(command -v mongosh 2>/dev/null)}
old_mongos 7.0.16 21
if [ -n "$MONGOSH" ] && [ -x "$MONGOSH" ]; then
	mkdir -p "$T_DIR/home"
	HOME=$T_DIR/home MONGOSH_FORCE_DISABLE_TELEMETRY_FOR_TESTING=1 T_TIMEOUT=90 t_run msh "$MONGOSH" "$M_URI" \
		-u backup -p backup-pw --quiet --norc --eval '
print("msg=" + db.hello().msg);
print("shards=" + db.adminCommand({listShards: 1}).shards.map(s => s._id).join(","));
print("stop=" + sh.stopBalancer().ok + " mode=" + sh.isBalancerRunning().mode);
sh.startBalancer();
print("locked=" + Object.keys(db.fsyncLock().all.raw).length);
print("unlocked=" + db.fsyncUnlock().ok);'
	t_rc_is 0 "mongosh: hello, listShards, sh.stopBalancer/startBalancer, db.fsyncLock/fsyncUnlock through mongos" msh
	tap_is "$(tr '\n' ' ' <"$T_OUT/msh.out")" "msg=isdbgrid shards=sh0,sh1 stop=1 mode=off locked=3 unlocked=1 " \
		"mongosh: the router's answers, three components locked"
	tap_is "$(all_locks)" "$UNLOCKED" "mongosh's unlock released them"
else
	tap_skip "mongosh through mongos" "mongosh not installed"
	tap_skip "mongosh: the router's answers" "mongosh not installed"
	tap_skip "mongosh's unlock" "mongosh not installed"
fi

# A shard's whole simulator gone (last: the cluster is not whole after this).
ctl "$B_CTL" shutdown >/dev/null
wait_for "sh1 gone" 250 test ! -S "$B_CTL"
step lock
tap_like "$T_OUT/lock.out" '^error code=6 msg=.*not reachable' "a shard's simulator gone: 6 HostUnreachable"
tap_is "$(locks "$CFG_CTL") $(locks "$A_CTL")" "0:0,1:0,2:0 0:0,1:0,2:0" "... and nothing is locked on the others"

# A mongos topology needs its components; --shard means nothing to a replica set.
T_TIMEOUT=20 t_run nocomp "$MBH_SIM" --topology "$TOPOS/cluster-mongos.conf"
tap_is "$T_RC" 64 "a mongos without --config-server/--shard: exit 64"
sed 's/^role = .*/role = "router";/' "$TOPOS/cluster-mongos.conf" >"$T_DIR/bad.conf"
T_TIMEOUT=20 t_run badrole "$MBH_SIM" --topology "$T_DIR/bad.conf"
tap_is "$T_RC" 78 "an unknown role: exit 78"
sed 's/^role = .*/&\nversion = "6.0.11";/' "$TOPOS/cluster-mongos.conf" >"$T_DIR/badver.conf"
T_TIMEOUT=20 t_run badver "$MBH_SIM" --topology "$T_DIR/badver.conf"
tap_is "$T_RC/$(grep -c 'version must be 7.0.N' "$T_OUT/badver.err")" 78/1 "a version outside max_wire_version's series: exit 78, the series named"

tap_done
