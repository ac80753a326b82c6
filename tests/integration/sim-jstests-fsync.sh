#!/bin/bash
# sim-jstests-fsync.sh: what MongoDB's own jstests assert about the fsync lock (core fsync.js and
# replsets fsync_lock_read_secondaries.js), said again in our own words as mongosh checks against the
# simulator speaking 8.0 (wire 25):
#   * the lock is refused on a database other than admin; db.fsyncLock() works on admin and the
#     currentOp command then carries fsyncLock: true;
#   * a write sent while locked does not go through; it shows in currentOp as an insert waiting for
#     the lock; reads still run and do not see it; after db.fsyncUnlock() fsyncLock is gone from
#     currentOp, the held write lands and later writes work;
#   * the lock nests (lockCount 2 after two locks) and each unlock takes one away; an unlock when
#     nothing is locked is an error; lock and unlock again work (repeatable);
#   * strict arguments: {fsync: 1, unlock: true}, {fsync: 1, unlock: false} and
#     {fsync: 1, lock: "not_valid_boolean"} are refused; lock: 1 and lock: true work;
#   * on a replica set, a locked secondary still serves reads, of the data as of its lock, while
#     the primary takes writes; once unlocked it catches up.
# SPDX-License-Identifier: AGPL-3.0-or-later
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/sim-harness.sh"

MONGOSH=${MBH_MONGOSH:-$(command -v mongosh 2>/dev/null)}
[ -n "$MONGOSH" ] && [ -x "$MONGOSH" ] || tap_skip_all "mongosh not installed (tools/install-deps installs it from npm)"

simt_init
tap_plan 27

export HOME=$T_DIR/home MONGOSH_FORCE_DISABLE_TELEMETRY_FOR_TESTING=1
mkdir -p "$HOME"

# TRY VAR DB CMD (JS, top level: mongosh throws on a failed command, and only a try at the top level
# of the script catches it): VAR = the reply, or {ok: 0, code, errmsg}.
tryjs() {
	echo "let $1; try { $1 = $2.runCommand($3); } catch (e) { $1 = {ok: 0, code: e.code, errmsg: e.errmsg || e.message}; }"
}

# msh NAME URI JS: one mongosh --eval run as the test's root user, bounded; T_RC, $T_OUT/NAME.{out,err}.
msh() {
	T_TIMEOUT=90 t_run "$1" "$MONGOSH" "$2" -u root -p root-pw --authenticationDatabase admin --quiet --norc --eval "$3"
}

cat >"$T_DIR/topo.conf" <<'EOF'
set_name = "rsj";
max_wire_version = 25;
auth = true;
noop_interval_ms = 500;
members = (
  { port = 0; state = "PRIMARY"; },
  { port = 0; },
  { port = 0; }
);
users = (
  { name = "root"; password = "root-pw"; db = "admin"; roles = [ "root" ]; }
);
EOF
sim_start "$T_DIR/topo.conf" || { echo "Bail out! the simulator did not start"; exit 1; }
PRI=$(simt_direct_uri 0)
SEC=$(simt_direct_uri 1)

# ---- fsync.js: admin only, the lock, currentOp, a held write, reads, the unlock
msh lock "$PRI" "$(tryjs r 'db.getSiblingDB("fsyncLockTestDB")' '{fsync: 1, lock: 1}')"'
print("other-db ok=" + r.ok + " code=" + r.code);
const l = db.fsyncLock();
print("lock ok=" + l.ok + " lockCount=" + l.lockCount);
print("currentOp fsyncLock=" + db.adminCommand({currentOp: 1}).fsyncLock);
'
t_rc_is 0 "mongosh runs the lock checks" lock
tap_like "$T_OUT/lock.out" '^other-db ok=0 code=13$' "fsync lock on a database other than admin is refused (13 Unauthorized)"
tap_like "$T_OUT/lock.out" '^lock ok=1 lockCount=1$' "db.fsyncLock() on admin works: lockCount 1"
tap_like "$T_OUT/lock.out" '^currentOp fsyncLock=true$' "while locked, the currentOp command says fsyncLock: true"

# the write, from a second shell, in the background: it must not go through while locked
"$MONGOSH" "$PRI" -u root -p root-pw --authenticationDatabase admin --quiet --norc \
	--eval 'db.getSiblingDB("fsyncLockTestDB").coll.insertOne({x: 1}); print("writer done")' \
	</dev/null >"$T_OUT/writer.out" 2>"$T_OUT/writer.err" &
WRITER=$!
t_bg_register "$WRITER"

msh wait "$PRI" '
let n = 0;
for (let i = 0; i < 150 && n === 0; i++) {
  n = db.adminCommand({currentOp: 1, op: "insert", waitingForLock: true}).inprog.length;
  if (n === 0) sleep(100);
}
print("waiting inserts=" + n);
print("count while locked=" + db.getSiblingDB("fsyncLockTestDB").coll.countDocuments({}));
'
t_rc_is 0 "mongosh runs the checks while a write waits" wait
tap_like "$T_OUT/wait.out" '^waiting inserts=1$' "the held insert shows in currentOp with waitingForLock: true"
tap_like "$T_OUT/wait.out" '^count while locked=0$' "reads run while the write waits, and do not see it"
tap_ok "$(kill -0 "$WRITER" 2>/dev/null && echo 0 || echo 1)" "the writer is still blocked"

msh unlock "$PRI" '
const u = db.fsyncUnlock();
print("unlock ok=" + u.ok + " lockCount=" + u.lockCount);
print("currentOp fsyncLock=" + db.adminCommand({currentOp: 1}).fsyncLock);
'
tap_like "$T_OUT/unlock.out" '^unlock ok=1 lockCount=0$' "db.fsyncUnlock(): lockCount 0"
tap_like "$T_OUT/unlock.out" '^currentOp fsyncLock=undefined$' "after the unlock currentOp has no fsyncLock"
if t_pid_gone "$WRITER" 500; then
	wait "$WRITER"
	tap_is "$?" 0 "the held write completes after the unlock"
else
	tap_fail "the held write completes after the unlock (the writer still runs 10 s later)"
fi
msh after "$PRI" '
const c = db.getSiblingDB("fsyncLockTestDB").coll;
c.insertOne({x: 2});
print("count=" + c.countDocuments({}));
'
tap_like "$T_OUT/after.out" '^count=2$' "the held write landed and a new one works: 2 documents"

# ---- fsync.js: nesting, an unlock too many, repeatability
msh nest "$PRI" '
print("first=" + db.fsyncLock().lockCount);
print("second=" + db.fsyncLock().lockCount);
print("unlock1=" + db.fsyncUnlock().lockCount);
print("unlock2=" + db.fsyncUnlock().lockCount);
'"$(tryjs r 'db.getSiblingDB("admin")' '{fsyncUnlock: 1}')"'
print("extra ok=" + r.ok + " msg=" + r.errmsg);
print("again=" + db.fsyncLock().lockCount + "/" + db.fsyncUnlock().lockCount);
'
t_rc_is 0 "mongosh runs the nesting checks" nest
tap_like "$T_OUT/nest.out" '^first=1$' "a first lock: lockCount 1"
tap_like "$T_OUT/nest.out" '^second=2$' "a second lock nests: lockCount 2"
tap_like "$T_OUT/nest.out" '^unlock1=1$' "an unlock takes one away: lockCount 1"
tap_like "$T_OUT/nest.out" '^unlock2=0$' "the second unlock: lockCount 0"
tap_like "$T_OUT/nest.out" '^extra ok=0 msg=fsyncUnlock called when not locked$' "an unlock when not locked is an error"
tap_like "$T_OUT/nest.out" '^again=1/0$' "lock and unlock once more work"

# ---- fsync.js (8.0): strict arguments
msh strict "$PRI" "$(tryjs a 'db.getSiblingDB("admin")' '{fsync: 1, unlock: true}')
$(tryjs b 'db.getSiblingDB("admin")' '{fsync: 1, unlock: false}')
$(tryjs c 'db.getSiblingDB("admin")' '{fsync: 1, lock: "not_valid_boolean"}')
$(tryjs d 'db.getSiblingDB("admin")' '{fsync: 1, lock: 1}')
if (d.ok) db.fsyncUnlock();
$(tryjs e 'db.getSiblingDB("admin")' '{fsync: 1, lock: true}')
if (e.ok) db.fsyncUnlock();
"'
const w = (r) => r.ok ? "ok" : "refused " + r.code;
print("unlock-true=" + w(a));
print("unlock-false=" + w(b));
print("lock-string=" + w(c));
print("lock-1=" + w(d) + " " + d.lockCount);
print("lock-true=" + w(e) + " " + e.lockCount);
'
tap_like "$T_OUT/strict.out" '^unlock-true=refused [0-9]+$' "{fsync: 1, unlock: true} is refused"
tap_like "$T_OUT/strict.out" '^unlock-false=refused [0-9]+$' "{fsync: 1, unlock: false} is refused"
tap_like "$T_OUT/strict.out" '^lock-string=refused [0-9]+$' "{fsync: 1, lock: \"not_valid_boolean\"} is refused"
tap_ok "$(grep -q '^lock-1=ok 1$' "$T_OUT/strict.out" && grep -q '^lock-true=ok 1$' "$T_OUT/strict.out" && echo 0 || echo 1)" \
	"lock: 1 and lock: true work"

# ---- fsync_lock_read_secondaries.js: a locked secondary serves reads of what it had
msh sec "$SEC" '
const before = db.getSiblingDB("fsyncLockTestDB").coll.find().readPref("secondary").toArray().length;
print("secondary lock=" + db.fsyncLock().lockCount + " docs=" + before);
'
msh pw "$PRI" '
const c = db.getSiblingDB("fsyncLockTestDB").coll;
for (let i = 0; i < 5; i++) c.insertOne({y: i});
print("primary count=" + c.countDocuments({}));
'
msh sread "$SEC" '
const c = db.getSiblingDB("fsyncLockTestDB").coll;
print("locked secondary docs=" + c.find().readPref("secondary").toArray().length);
print("unlock=" + db.fsyncUnlock().lockCount);
let n = 0;
for (let i = 0; i < 100 && n !== 7; i++) { n = c.find().readPref("secondary").toArray().length; if (n !== 7) sleep(100); }
print("caught up docs=" + n);
'
tap_like "$T_OUT/sec.out" '^secondary lock=1 docs=2$' "the secondary is locked holding the 2 documents it had"
tap_like "$T_OUT/sread.out" '^locked secondary docs=2$' "the locked secondary still serves reads, without the primary's 5 new writes"
tap_like "$T_OUT/sread.out" '^caught up docs=7$' "once unlocked it catches up: 7 documents"
t_assert_unlocked "no member is left locked"
tap_done
