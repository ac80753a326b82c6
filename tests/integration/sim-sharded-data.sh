#!/bin/bash
# sim-sharded-data.sh: inserts, updates, deletes and reads through a simulated mongos land on the shards
# (pymongo, libmongoc, mongosh when installed): each document on the one shard its _id hashes to, a write held while its
# shard's primary is fsync-locked, currentOp on the mongos, and `verify --cluster` telling a copy of one
# moment (taken under the cluster lock) from a copy of two moments.
# SPDX-License-Identifier: AGPL-3.0-or-later
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/sim-harness.sh"
# shellcheck source=sim-cluster.sh
. "$top_srcdir/tests/integration/sim-cluster.sh"

PY=/usr/bin/python3
STEP=$top_srcdir/tests/integration/sim-sharded-data-step.py
ROUTE_CLIENT=${ROUTE_CLIENT:-$top_builddir/tests/integration/sim-route-client}

simt_init
"$PY" -c 'import pymongo' 2>/dev/null || tap_skip_all "$PY has no pymongo"
[ -x "$ROUTE_CLIENT" ] || tap_skip_all "$ROUTE_CLIENT is not built"
tap_plan 48

ctl() { simc_ctl "$@"; }

# step NAME [ARGS...]: one pymongo step against the mongos; its key=value lines in $T_OUT/NAME.out.
step() {
	local name=$1
	shift
	T_TIMEOUT=60 t_run "$name" "$PY" "$STEP" "$name" "$M_URI" "$@"
}

# val NAME KEY: KEY's value in step NAME's output.
val() { sed -n "s/^$2=//p" "$T_OUT/$1.out" | head -n 1; }

# copy DEST NAME...: copy the primary's (member 0's) data directory of each component NAME.
copy() {
	local dest=$1 n
	shift
	mkdir -p "$dest"
	for n in "$@"; do
		cp -r "$SIMC_DATA_DIR/$n/0" "$dest/$n"
	done
}

# verify DIR [OPTS]: `verify --cluster` over DIR's three copies; VERIFY_RC and $T_OUT/verify.out.
verify() {
	local dir=$1
	shift
	timeout -k 2 30 "$MBH_SIM" verify --cluster "$@" "config=$dir/config" "sh0=$dir/sh0" "sh1=$dir/sh1" \
		>"$T_OUT/verify.out" 2>&1
	VERIFY_RC=$?
}

SIMC_DATA_DIR=$T_DIR/data
simc_start 2
tap_ok $? "a CSRS and two shards with data directories, and two mongos routers, start" || exit 1
M_URI=$SIMC_URI
A_CTL=${SIMC_SHARD_CTLS%% *}
B_CTL=${SIMC_SHARD_CTLS##* }

# Writes and reads through the mongos (pymongo)
step insert 0 40
tap_is "$(val insert n)" 40 "pymongo: insert_many of 40 documents through the mongos"
step find 7
tap_is "$(val find all)" 40 "pymongo: find through the mongos reads all 40 back (from both shards)"
tap_is "$(val find one)" '{"_id": 7, "v": "xxxxxxxxxx"}' "pymongo: find_one by _id (one shard targeted)"
tap_is "$(val find by_v)" 40 "pymongo: a filter on another field reaches every shard"
tap_is "$(val find limit)" 3 "pymongo: limit is applied by the router"
tap_is "$(val find count)/$(val find count_v)" 40/40 "pymongo: count_documents (aggregate \$match, \$group) through the mongos"
ctl "$A_CTL" routed-find test.routed >"$T_DIR/a.hex"
ctl "$B_CTL" routed-find test.routed >"$T_DIR/b.hex"
tap_is "$(($(wc -l <"$T_DIR/a.hex") + $(wc -l <"$T_DIR/b.hex")))" 40 "the shards' primaries hold 40 documents between them"
step rule 2 "$T_DIR/a.hex" "$T_DIR/b.hex"
tap_is "$(val rule disjoint)" true "each document is on exactly one shard"
tap_is "$(val rule every_shard)" true "both shards got documents"
tap_is "$(val rule by_rule)" true "each document is on the shard the documented rule (hash of _id) names"
step dup 7
tap_is "$(val dup dup)" 11000 "a duplicate _id through the mongos: 11000 from the owning shard"

# libmongoc's collection API
APP_URI="mongodb://app:app-pw@${M_URI#mongodb://}?authSource=admin"
T_TIMEOUT=60 t_run lc "$ROUTE_CLIENT" "$APP_URI" test routed c 25
t_rc_is 0 "libmongoc: insert_many, find_with_opts, update_one, delete_one through the mongos" lc
tap_is "$(sed -n 's/^inserted=//p' "$T_OUT/lc.out")" 25 "libmongoc: 25 inserted"
tap_is "$(sed -n 's/^found_one=//p' "$T_OUT/lc.out")" 1 "libmongoc: one found by _id"
tap_is "$(sed -n 's/^modified=//p' "$T_OUT/lc.out")/$(sed -n 's/^deleted=//p' "$T_OUT/lc.out")" 1/1 \
	"libmongoc: update_one modified 1, delete_one deleted 1"
tap_is "$(sed -n 's/^found_all=//p' "$T_OUT/lc.out")" 64 "libmongoc: the whole collection, pymongo's 40 and its 24"
ctl "$SIMC_CTL" routing >"$T_OUT/routing.out"
tap_like "$T_OUT/routing.out" 'next_seq=68 shards=2' "the router stamped the 67 writes that landed (ctl routing: next_seq=68)"

# Updates and deletes through the mongos (pymongo)
step modify
tap_is "$(val modify u1)" 1/1 "pymongo: update_one by _id through the mongos: matched 1, modified 1"
tap_is "$(val modify doc7)" '{"_id": 7, "n": 1, "v": "seven"}' "... \$set and \$inc applied on the owning shard"
tap_is "$(val modify um)" 64/64 "pymongo: update_many({}) reaches every shard: 64 matched and modified"
tap_is "$(val modify upserted)" 500 "pymongo: an upsert by _id inserts on the _id's shard"
tap_is "$(val modify upsert_untargeted)" 61 "an upsert whose filter names no _id: 61 ShardKeyNotFound"
tap_is "$(val modify d1)/$(val modify d_any)" 1/1 "pymongo: delete_one by _id, and delete_one without (the first shard with a match)"
tap_is "$(val modify left)/$(val modify all_set)" 63/62 "63 documents left, 62 of them updated by update_many"
ctl "$SIMC_CTL" routing >"$T_OUT/routing.out"
BEFORE_LOCK=$(($(sed -n 's/.*next_seq=\([0-9]*\).*/\1/p' "$T_OUT/routing.out") - 1))
tap_is "$BEFORE_LOCK" 135 "every insert, update and delete that landed used one sequence number (135)"

# The cluster lock: writes wait, currentOp on the mongos says so, the copy is of one moment
step lock
tap_is "$(val lock ok)" 1.0 "fsync lock through the mongos"
step currentOp
tap_is "$(val currentOp fsyncLock)" true "currentOp on the mongos: fsyncLock true while the cluster is locked"
tap_is "$(val currentOp info)" "use db.fsyncUnlock() to terminate the fsync write/snapshot lock" "... with the server's info"
T_TIMEOUT=60 "$PY" "$STEP" insert "$M_URI" 1000 10 >"$T_OUT/held.out" 2>&1 &
INS_PID=$!
simt_bg_add "$INS_PID"
sleep 1
tap_ok "$(kill -0 "$INS_PID" 2>/dev/null && echo 0 || echo 1)" "an insert through the mongos is held by the cluster lock"
step currentOp
tap_is "$(val currentOp waiting)" '["test.routed"]' "currentOp on the mongos shows it waitingForLock"
copy "$T_DIR/one" config sh0 sh1
step unlock
tap_is "$(val unlock ok)" 1.0 "fsyncUnlock through the mongos"
wait "$INS_PID"
tap_ok $? "the held insert is acknowledged after the unlock"
simt_bg_stop "$INS_PID"
tap_is "$(sed -n 's/^n=//p' "$T_OUT/held.out")" 10 "... all 10 documents"
tap_ok "$([ "$(sed -n 's/^ms=//p' "$T_OUT/held.out")" -ge 900 ] && echo 0 || echo 1)" \
	"... after the lock's time ($(sed -n 's/^ms=//p' "$T_OUT/held.out") ms)"
step currentOp
tap_is "$(val currentOp fsyncLock)" absent "currentOp on the mongos: no fsyncLock after the unlock"
verify "$T_DIR/one"
tap_is "$VERIFY_RC" 0 "verify --cluster: the copy taken under the cluster lock passes"
tap_like "$T_OUT/verify.out" "^cluster: one moment: $BEFORE_LOCK routed writes from 1 router" \
	"... one moment, the $BEFORE_LOCK writes before the lock"
tap_is "$(grep -c ': whole: ' "$T_OUT/verify.out")" 3 "... each of the three copies is whole"

# Two moments: sh0 copied, writes through the mongos, then sh1 and the CSRS copied (no lock)
copy "$T_DIR/two" sh0
step insert 2000 30
copy "$T_DIR/two" sh1 config
verify "$T_DIR/two"
tap_is "$VERIFY_RC" 65 "verify --cluster: a copy of two moments fails (65)"
tap_like "$T_OUT/verify.out" "^cluster: not one moment: router [0-9a-f]+'s write [0-9]+ is in no copy while its later write [0-9]+ is \\(in sh1\\)" \
	"... naming the write missing while a later one is present"
verify "$T_DIR/two" --whole-only
tap_is "$VERIFY_RC" 0 "verify --cluster --whole-only (online mode's copies): each copy is whole"
head -c 200 "$T_DIR/two/sh1/data" >"$T_DIR/torn" && cp "$T_DIR/torn" "$T_DIR/two/sh1/data"
verify "$T_DIR/two" --whole-only
tap_is "$VERIFY_RC" 65 "verify --cluster: a torn copy fails (65)"
tap_like "$T_OUT/verify.out" '^sh1: not whole: .*a torn copy' "... and says which one"

# A shard without a primary: its documents fail with 133, the others land
ctl "$B_CTL" kill 0 >/dev/null
step unordered 3000 20
tap_is "$(val unordered codes)" '[133]' "a shard without a primary: its documents fail with 133"
tap_ok "$(n=$(val unordered n); [ "$n" -gt 0 ] && [ "$n" -lt 20 ] && echo 0 || echo 1)" \
	"... while the other shard's land ($(val unordered n) of 20)"
ctl "$B_CTL" revive 0 >/dev/null && ctl "$B_CTL" elect 0 >/dev/null

# mongosh (optional)
MONGOSH=${MBH_MONGOSH:-$(command -v mongosh 2>/dev/null)}
if [ -n "$MONGOSH" ] && [ -x "$MONGOSH" ]; then
	mkdir -p "$T_DIR/home"
	HOME=$T_DIR/home MONGOSH_FORCE_DISABLE_TELEMETRY_FOR_TESTING=1 T_TIMEOUT=90 t_run msh "$MONGOSH" "$M_URI" \
		-u app -p app-pw --quiet --norc --eval '
const c = db.getSiblingDB("test").routed;
print("ins=" + c.insertMany([{_id: "sh-1", by: "mongosh"}, {_id: "sh-2", by: "mongosh"}]).acknowledged);
print("one=" + c.find({_id: "sh-1"}).toArray().length);
print("upd=" + c.updateMany({by: "mongosh"}, {$set: {seen: 1}}).modifiedCount);
print("del=" + c.deleteOne({_id: "sh-2"}).deletedCount);
print("count=" + c.countDocuments({by: "mongosh"}));
print("mine=" + JSON.stringify(c.find({by: "mongosh"}).toArray()));'
	t_rc_is 0 "mongosh: insertMany, find, updateMany, deleteOne, countDocuments through the mongos" msh
	tap_is "$(tr '\n' ' ' <"$T_OUT/msh.out")" 'ins=true one=1 upd=2 del=1 count=1 mine=[{"_id":"sh-1","by":"mongosh","seen":1}] ' \
		"mongosh: what it wrote is read back"
else
	tap_skip "mongosh through the mongos" "mongosh not installed"
	tap_skip "mongosh: what it wrote is read back" "mongosh not installed"
fi

tap_done
