#!/bin/bash
# sim-mongosh.sh: mongosh (the Node.js driver) sees mongo-rs-sim as a believable replica set (optional: npm's mongosh).
# SPDX-License-Identifier: AGPL-3.0-or-later
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/sim-harness.sh"

MONGOSH=${MBH_MONGOSH:-$(command -v mongosh 2>/dev/null)}
[ -n "$MONGOSH" ] || MONGOSH=/tmp/mongosh/node_modules/.bin/mongosh
[ -x "$MONGOSH" ] || tap_skip_all "mongosh not installed (npm install mongosh)"

simt_init
tap_plan 22

# mongosh writes its logs and history under HOME; telemetry stays off.
export HOME=$T_DIR/home MONGOSH_FORCE_DISABLE_TELEMETRY_FOR_TESTING=1
mkdir -p "$HOME"

# msh NAME URI USER PASSWORD JS: one mongosh --eval run, bounded; T_RC, $T_OUT/NAME.{out,err}.
msh() {
	local name=$1 uri=$2 user=$3 pw=$4 js=$5
	T_TIMEOUT=90 t_run "$name" "$MONGOSH" "$uri" -u "$user" -p "$pw" --quiet --norc --eval "$js"
}

sim_start "$top_srcdir/tests/sim/topologies/pss-hidden.conf" || { echo "Bail out! the simulator did not start"; exit 1; }
tap_pass "the simulator starts"

# Everything mongosh needs for its prompt, over the seed list with SCRAM-SHA-256 (the default).
msh status "$SIM_URI" backup backup-pw '
const st = rs.status();
print("set=" + st.set + " members=" + st.members.length + " primary=" + st.members.filter(m => m.state === 1).length);
const cf = rs.conf();
print("conf=" + cf._id + " version=" + cf.version + " hidden=" + cf.members.filter(m => m.hidden).length);
const h = db.hello();
print("hello writable=" + h.isWritablePrimary + " hosts=" + h.hosts.length + " me=" + h.me);
print("rsgs ok=" + db.adminCommand({replSetGetStatus: 1}).ok);
const cs = db.adminCommand({connectionStatus: 1});
print("whoami=" + cs.authInfo.authenticatedUsers[0].user + " roles=" + cs.authInfo.authenticatedUserRoles.length);
print("fcv=" + db.adminCommand({getParameter: 1, featureCompatibilityVersion: 1}).featureCompatibilityVersion.version);
print("dbs=" + db.adminCommand({listDatabases: 1, nameOnly: true}).databases.map(d => d.name).join(","));
'
t_rc_is 0 "mongosh: rs.status(), rs.conf(), db.hello(), replSetGetStatus, connectionStatus" status
tap_like "$T_OUT/status.out" '^set=rs0 members=4 primary=1$' "rs.status(): rs0, 4 members, one primary"
tap_like "$T_OUT/status.out" '^conf=rs0 version=1 hidden=1$' "rs.conf(): the hidden member"
tap_like "$T_OUT/status.out" '^hello writable=true hosts=3 me=127\.0\.0\.1:' "db.hello(): the writable primary, three hosts"
tap_like "$T_OUT/status.out" '^rsgs ok=1$' "db.adminCommand({replSetGetStatus: 1})"
tap_like "$T_OUT/status.out" '^whoami=backup roles=3$' "connectionStatus: backup with its three roles"
tap_like "$T_OUT/status.out" '^fcv=7\.0$' "getParameter featureCompatibilityVersion"
tap_like "$T_OUT/status.out" '^dbs=admin,config,local$' "listDatabases"
tap_unlike "$T_OUT/status.err" "Error" "mongosh printed no error at start-up"

msh lag "$SIM_URI" backup backup-pw 'rs.printSecondaryReplicationInfo()'
t_rc_is 0 "rs.printSecondaryReplicationInfo() runs" lag
tap_is "$(grep -c 'behind the primary' "$T_OUT/lag.out")" 3 "rs.printSecondaryReplicationInfo(): every secondary, hidden too"

# The fsync lock on a secondary through a direct connection, as an operator would take it.
sec=$(simt_direct_uri 1)
msh lock "$sec" backup backup-pw '
print("lock=" + db.fsyncLock().lockCount);
const co = db.adminCommand({currentOp: 1});
print("currentOp fsyncLock=" + co.fsyncLock);
print("db.currentOp ok=" + db.currentOp().ok);
print("unlock=" + db.fsyncUnlock().lockCount);
'
t_rc_is 0 "mongosh directConnection to a secondary: fsyncLock, currentOp, fsyncUnlock" lock
tap_like "$T_OUT/lock.out" '^lock=1$' "db.fsyncLock(): lockCount 1"
tap_like "$T_OUT/lock.out" '^currentOp fsyncLock=true$' "currentOp command: fsyncLock true while locked"
tap_like "$T_OUT/lock.out" '^db.currentOp ok=1$' "db.currentOp() (the \$currentOp aggregation) answers"
tap_like "$T_OUT/lock.out" '^unlock=0$' "db.fsyncUnlock(): lockCount 0"
tap_is "$(sim_lockcount 1)" 0 "the member is unlocked"

# Writes on the primary, reads from a secondary, and the duplicate key error.
msh rw "$SIM_URI" app app-pw '
const c = db.getSiblingDB("shop").items;
print("inserted=" + c.insertOne({_id: 7, x: "a"}).insertedId);
try { c.insertOne({_id: 7, x: "b"}); print("dup=none"); } catch (e) { print("dup=" + e.code + " " + e.message); }
let got = [];
for (let i = 0; i < 100 && got.length === 0; i++) { got = c.find({_id: 7}).readPref("secondary").toArray(); if (!got.length) sleep(100); }
print("secondary=" + JSON.stringify(got));
print("count=" + c.countDocuments({}));
'
t_rc_is 0 "mongosh as app: insert, duplicate insert, find on a secondary" rw
tap_like "$T_OUT/rw.out" '^dup=11000 E11000 duplicate key error collection: shop\.items index: _id_ dup key: \{ _id: 7 \}$' \
	"a duplicate _id: 11000 with the server's message"
tap_like "$T_OUT/rw.out" '^secondary=\[\{"_id":7,"x":"a"\}\]$' "readPreference secondary finds the first document only"
tap_like "$T_OUT/rw.out" '^count=1$' "countDocuments (aggregate \$match/\$group): 1"

tap_done
