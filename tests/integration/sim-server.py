# SPDX-License-Identifier: AGPL-3.0-or-later
# sim-server.py: pymongo against mongo-rs-sim as a server would answer: strict arguments per version,
# $currentOp showing other clients' operations (a write held by the fsync lock), topologyVersion and
# the awaitable hello, $clusterTime, automatic elections, update and delete.
"""TAP test run by /usr/bin/python3; starts and stops mongo-rs-sim itself."""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

PLAN = 60


def topology(wire, name, election_ms=None, members=None, users=""):
    settings = "" if election_ms is None else "settings = { electionTimeoutMillis = %d; };\n" % election_ms
    members = members or ('  { port = 0; priority = 2.0; state = "PRIMARY"; },\n'
                          '  { port = 0; },\n  { port = 0; }\n')
    return """set_name = "%s";
max_wire_version = %d;
auth = true;
noop_interval_ms = 200;
%smembers = (
%s);
users = (
  { name = "backup"; password = "s3cret-pw"; db = "admin";
    roles = [ "clusterMonitor", "hostManager", "clusterManager", "readWriteAnyDatabase" ]; }
%s);
""" % (name, wire, settings, members, users)


count = 0
failed = 0


def ok(cond, name, diag=None):
    global count, failed
    count += 1
    if not cond:
        failed += 1
    print("%sok %d - %s" % ("" if cond else "not ", count, name))
    if not cond and diag is not None:
        for line in str(diag).splitlines():
            print("# " + line)
    sys.stdout.flush()
    return cond


class Sim:
    def __init__(self, sim_bin, tmp, text):
        self.bin = sim_bin
        self.dir = tempfile.mkdtemp(prefix="s.", dir=tmp)
        topo = os.path.join(self.dir, "topology.conf")
        with open(topo, "w") as f:
            f.write(text)
        ready = os.path.join(self.dir, "ready")
        self.sock = os.path.join(self.dir, "ctl")
        with open(os.path.join(self.dir, "stdout"), "w") as out, \
                open(os.path.join(self.dir, "stderr"), "w") as err:
            self.proc = subprocess.Popen([sim_bin, "--topology", topo, "--ready-file", ready, "--ctl", self.sock,
                                          "--log", os.path.join(self.dir, "sim.log")],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.uri = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(ready) as f:
                    lines = f.read().splitlines()
                if len(lines) >= 3:
                    self.uri = lines[1]
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.02)

    def ctl(self, *args):
        p = subprocess.run([self.bin, "ctl", self.sock] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20, check=False)
        return p.returncode, p.stdout.decode()

    def status(self, member, key):
        rc, out = self.ctl("status")
        for line in out.splitlines() if rc == 0 else []:
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if fields.get("id") == str(member):
                return fields.get(key)
        return None

    def primary(self):
        rc, out = self.ctl("status")
        for line in out.splitlines() if rc == 0 else []:
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if fields.get("state") == "PRIMARY":
                return int(fields["id"])
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


KW = dict(username="backup", password="s3cret-pw", serverSelectionTimeoutMS=5000, connectTimeoutMS=3000,
          socketTimeoutMS=10000)


def error_of(fn):
    """(code, errmsg) of the OperationFailure fn raises, or (None, reply)."""
    from pymongo.errors import OperationFailure
    try:
        return None, fn()
    except OperationFailure as e:
        return e.code, (e.details or {}).get("errmsg")


def test_strict(sim_bin, tmp, MongoClient, SON):
    s80 = Sim(sim_bin, tmp, topology(25, "rs80"))
    s70 = Sim(sim_bin, tmp, topology(21, "rs70"))
    if not ok(s80.uri and s70.uri, "8.0 (wire 25) and 7.0 (wire 21) sets start"):
        return [s80, s70]
    host = s80.status(1, "host")
    c = MongoClient(host, directConnection=True, **KW)
    adm = c.admin
    code, msg = error_of(lambda: adm.command(SON([("fsync", 1), ("unlock", True)])))
    ok(code == 40415 and msg == "BSON field 'fsync.unlock' is an unknown field.",
       "8.0: {fsync: 1, unlock: true} fails 40415 'BSON field 'fsync.unlock' is an unknown field.'", (code, msg))
    code, msg = error_of(lambda: adm.command(SON([("fsync", 1), ("unlock", False)])))
    ok(code == 40415, "8.0: {fsync: 1, unlock: false} fails 40415 too", (code, msg))
    code, msg = error_of(lambda: adm.command(SON([("fsync", 1), ("lock", "not_valid_boolean")])))
    ok(code == 14 and msg == "BSON field 'fsync.lock' is the wrong type 'string', expected types "
       "'[bool, long, int, decimal, double]'", "8.0: lock: \"not_valid_boolean\" fails 14 TypeMismatch", (code, msg))
    code, msg = error_of(lambda: adm.command(SON([("fsync", 1), ("fsyncLockAcquisitionTimeoutMillis", 1.5)])))
    ok(code == 14 and "expected type 'int'" in (msg or ""), "8.0: a double timeout fails 14 (the IDL type is int)",
       (code, msg))
    r = adm.command(SON([("fsync", 1), ("lock", None)]))
    ok(r.get("numFiles") == 1 and "lockCount" not in r, "8.0: lock: null is no lock (numFiles 1)", r)
    r1 = adm.command(SON([("fsync", 1), ("lock", 1), ("comment", "backup"), ("maxTimeMS", 5000)]))
    r2 = adm.command(SON([("fsync", 1), ("lock", True), ("fsyncLockAcquisitionTimeoutMillis", 5000)]))
    ok(r1.get("lockCount") == 1 and r2.get("lockCount") == 2,
       "8.0: lock: 1 (with comment, maxTimeMS) and lock: true work: lockCount 1, 2", (r1, r2))
    adm.command("fsyncUnlock")
    adm.command("fsyncUnlock")
    code, msg = error_of(lambda: adm.command(SON([("hello", 1), ("backpressure", True),
                                                  ("maxAwaitTimeMS", "x"), ("topologyVersion", {})])))
    ok(code == 14 and "'hello.maxAwaitTimeMS' is the wrong type 'string'" in (msg or ""),
       "hello ignores a new handshake field (backpressure) but checks the types of its own", (code, msg))
    code, msg = error_of(lambda: c.sim.coll.database.command(SON([("insert", "coll")])))
    ok(code == 40414 and msg == "BSON field 'insert.documents' is missing but a required field",
       "insert without documents: 40414 missing required field", (code, msg))
    code, msg = error_of(lambda: c.sim.command(SON([("find", "coll"), ("filtre", {})])))
    ok(code == 40415, "find with a misspelt field: 40415", (code, msg))
    c.close()
    c = MongoClient(s70.status(1, "host"), directConnection=True, **KW)
    r = c.admin.command(SON([("fsync", 1), ("unlock", True)]))
    ok(r.get("numFiles") == 1, "7.0: fsync parsed by hand: unlock: true is ignored (numFiles 1, no lock)", r)
    r = c.admin.command(SON([("fsync", 1), ("lock", "not_valid_boolean")]))
    ok(r.get("lockCount") == 1, "7.0: lock: \"not_valid_boolean\" is a true value: it locks", r)
    c.admin.command("fsyncUnlock")
    c.close()
    return [s80, s70]


def test_current_op(sim_bin, tmp, MongoClient, SON):
    s = Sim(sim_bin, tmp, topology(25, "rsop"))
    if not ok(s.uri, "a set for $currentOp starts"):
        return [s]
    c = MongoClient(s.uri, replicaSet="rsop", **KW)
    w = MongoClient(s.uri, replicaSet="rsop", **KW)
    db = c.fsyncLockTestDB
    db.coll.insert_one({"x": 1})
    c.admin.command("fsync", lock=True)
    cur = c.admin.command("currentOp")
    ok(cur.get("fsyncLock") is True, "currentOp: fsyncLock true while locked", cur)
    done = []
    t = threading.Thread(target=lambda: done.append(w.fsyncLockTestDB.coll.insert_one({"x": 2})), daemon=True)
    t.start()

    def held_ops():
        return list(c.admin.aggregate([{"$currentOp": {"allUsers": True, "idleConnections": True}},
                                       {"$match": {"op": "insert", "ns": "fsyncLockTestDB.coll",
                                                   "waitingForLock": True}}]))
    deadline = time.monotonic() + 5
    ops = held_ops()
    while len(ops) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        ops = held_ops()
    ok(len(ops) == 1 and not done, "$currentOp shows the other client's insert waiting for the lock", ops)
    cur = c.admin.command(SON([("currentOp", 1), ("op", "insert"), ("waitingForLock", True)]))
    ok(len(cur.get("inprog", [])) == 1 and cur["inprog"][0].get("command", {}).get("insert") == "coll",
       "the currentOp command's inprog filters to the same held insert", cur)
    ok(db.coll.count_documents({}) == 1, "reads still run while the write waits (1 document)")
    c.admin.command("fsyncUnlock")
    t.join(10)
    ok(len(done) == 1 and db.coll.count_documents({}) == 2 and not held_ops(),
       "after fsyncUnlock the held insert completes and leaves $currentOp")
    c.close()
    w.close()
    return [s]


def test_update_delete(sim_bin, tmp, MongoClient, SON):
    from pymongo import ReadPreference
    from pymongo.errors import WriteError
    s = Sim(sim_bin, tmp, topology(21, "rsud"))
    if not ok(s.uri, "a set for update and delete starts"):
        return [s]
    c = MongoClient(s.uri, replicaSet="rsud", **KW)
    col = c.ud.coll
    col.insert_many([{"_id": i, "v": i, "g": i % 2} for i in range(10)])
    r = col.update_one({"_id": 3}, {"$set": {"v": 30, "w": "x"}, "$inc": {"n": 2}, "$unset": {"g": ""}})
    ok((r.matched_count, r.modified_count) == (1, 1) and col.find_one({"_id": 3}) == {"_id": 3, "v": 30, "n": 2, "w": "x"},
       "update_one: $set, $inc (of a missing field) and $unset", col.find_one({"_id": 3}))
    r = col.update_many({"g": 0}, {"$inc": {"v": 100}})
    ok((r.matched_count, r.modified_count) == (5, 5) and sorted(d["v"] for d in col.find({"g": 0})) == [100, 102, 104, 106, 108],
       "update_many: every match changed", list(col.find({"g": 0})))
    r = col.update_one({"_id": 3}, {"$set": {"v": 30}})
    ok((r.matched_count, r.modified_count) == (1, 0), "an update that changes nothing: matched 1, modified 0")
    r = col.replace_one({"_id": 5}, {"r": True})
    ok(col.find_one({"_id": 5}) == {"_id": 5, "r": True}, "replace_one keeps the _id", col.find_one({"_id": 5}))
    r = col.update_one({"_id": 50, "k": "v"}, {"$set": {"u": 1}}, upsert=True)
    ok(r.upserted_id == 50 and col.find_one({"_id": 50}) == {"_id": 50, "k": "v", "u": 1},
       "upsert: the filter's equality fields, then the update", col.find_one({"_id": 50}))
    r = col.delete_one({"g": 1})
    ok(r.deleted_count == 1, "delete_one deletes one of several matches")
    r = col.delete_many({"g": 0})
    ok(r.deleted_count == 5 and col.count_documents({}) == 5, "delete_many deletes every match; 5 documents left",
       col.count_documents({}))
    col.insert_one({"_id": 0, "again": True})
    ok(col.find_one({"_id": 0}) == {"_id": 0, "again": True}, "a deleted _id can be inserted again")
    sec = c.get_database("ud", read_preference=ReadPreference.SECONDARY).coll
    deadline = time.monotonic() + 5
    while sec.count_documents({}) != 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    ok(sec.count_documents({}) == 6 and sec.find_one({"_id": 3}) == col.find_one({"_id": 3}),
       "the secondaries replicate the updates and deletes")
    codes = []
    for upd in ({"$push": {"a": 1}}, {"$set": {"_id": 9}}, {"$inc": {"w": 1}}):
        try:
            col.update_one({"_id": 3}, upd)
            codes.append(None)
        except WriteError as e:
            codes.append(e.code)
    ok(codes == [9, 66, 14], "an unknown modifier: 9; changing _id: 66; $inc of a string: 14", codes)
    code, msg = error_of(lambda: c.ud.command(SON([("update", "coll")])))
    ok(code == 40414 and msg == "BSON field 'update.updates' is missing but a required field",
       "update without updates: 40414", (code, msg))
    c.admin.command("fsync", lock=True)
    done = []
    t = threading.Thread(target=lambda: done.append(col.delete_many({})), daemon=True)
    t.start()
    time.sleep(0.5)
    held = not done
    c.admin.command("fsyncUnlock")
    t.join(10)
    ok(held and len(done) == 1 and done[0].deleted_count == 6, "a delete waits for the fsync lock, then runs")
    c.close()
    return [s]


def op_msg(sock, doc, req_id=1):
    """Send one OP_MSG (kind 0) and return the decoded reply, or None on timeout."""
    import bson
    body = bson.BSON.encode(doc)
    payload = struct.pack("<I", 0) + b"\x00" + body
    sock.sendall(struct.pack("<iiii", 16 + len(payload), req_id, 0, 2013) + payload)
    try:
        head = b""
        while len(head) < 16:
            chunk = sock.recv(16 - len(head))
            if not chunk:
                return None
            head += chunk
        length = struct.unpack("<i", head[:4])[0]
        rest = b""
        while len(rest) < length - 16:
            chunk = sock.recv(length - 16 - len(rest))
            if not chunk:
                return None
            rest += chunk
    except socket.timeout:
        return None
    return bson.BSON(rest[5:]).decode()


def test_monitoring(sim_bin, tmp, MongoClient, SON):
    s = Sim(sim_bin, tmp, topology(9, "rs44"))
    s36 = Sim(sim_bin, tmp, topology(6, "rs36"))
    if not ok(s.uri and s36.uri, "4.4 (wire 9) and 3.6 (wire 6) sets start"):
        return [s, s36]
    host, port = s.status(1, "host").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    h = op_msg(sock, {"hello": 1, "$db": "admin"})
    tv = h.get("topologyVersion") or {}
    ok(isinstance(tv.get("counter"), int) and tv.get("processId") is not None and "$clusterTime" in h and
       "operationTime" in h, "4.4 hello: topologyVersion {processId, counter}, $clusterTime, operationTime", h)
    code = op_msg(sock, {"hello": 1, "maxAwaitTimeMS": 100, "$db": "admin"}).get("code")
    ok(code == 31368, "maxAwaitTimeMS without topologyVersion: 31368", code)
    t0 = time.monotonic()
    h2 = op_msg(sock, {"hello": 1, "topologyVersion": tv, "maxAwaitTimeMS": 300, "$db": "admin"})
    waited = time.monotonic() - t0
    ok(h2 and 0.25 <= waited < 2 and h2["topologyVersion"] == tv,
       "awaitable hello with the current topologyVersion waits maxAwaitTimeMS (%.2f s), then answers" % waited)
    sock.settimeout(0.3)
    none = op_msg(sock, {"hello": 1, "topologyVersion": tv, "maxAwaitTimeMS": 10000, "$db": "admin"})
    ok(none is None, "a waiting hello has no answer yet")
    sock.settimeout(5)
    s.ctl("elect", "1")
    t0 = time.monotonic()
    import bson
    head = sock.recv(16)
    length = struct.unpack("<i", head[:4])[0]
    rest = b""
    while len(rest) < length - 16:
        rest += sock.recv(length - 16 - len(rest))
    h3 = bson.BSON(rest[5:]).decode()
    waited = time.monotonic() - t0
    ok(waited < 0.5 and h3.get("isWritablePrimary") is True and h3["topologyVersion"]["counter"] > tv["counter"],
       "ctl elect answers it at once (%.2f s after ctl returned): primary now, counter grew" % waited, h3)
    sock.close()
    c = MongoClient(s.uri, replicaSet="rs44", heartbeatFrequencyMS=60000, **KW)
    c.admin.command("ping")
    first = c.primary
    s.ctl("elect", "2")
    want = tuple(s.status(2, "host").split(":"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and c.primary != (want[0], int(want[1])):
        time.sleep(0.02)
    ok(c.primary == (want[0], int(want[1])) and first != c.primary,
       "pymongo's streaming monitor (heartbeat 60 s) sees the new primary at once", (first, c.primary))
    c.close()
    host, port = s36.status(0, "host").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    h = op_msg(sock, {"isMaster": 1, "helloOk": True, "$db": "admin"})
    ok("topologyVersion" not in h and "helloOk" not in h and h.get("ismaster") is True and "$clusterTime" in h,
       "3.6 isMaster: no topologyVersion, no helloOk, $clusterTime", h)
    code = op_msg(sock, {"hello": 1, "$db": "admin"}).get("code")
    ok(code == 59, "3.6 has no hello command: 59 CommandNotFound", code)
    sock.close()
    return [s, s36]


def test_getnonce(sim_bin, tmp, MongoClient, SON):
    """getnonce as each version answered it: 3.6 to 6.1 (wire 18) yes, without authentication; 6.2 on: no such command."""
    one = '  { port = 0; state = "PRIMARY"; }\n'
    sims = [(wire, Sim(sim_bin, tmp, topology(wire, "rsn%d" % wire, None, one))) for wire in (6, 17, 21)]
    if not ok(all(s.uri for _, s in sims), "3.6, 6.0 and 7.0 sets for getnonce start"):
        return [s for _, s in sims]
    for wire, s in sims:
        host, port = s.status(0, "host").split(":")
        sock = socket.create_connection((host, int(port)), timeout=5)
        a = op_msg(sock, {"getnonce": 1, "$db": "admin"}, 1)
        b = op_msg(sock, {"getnonce": 1, "$db": "test"}, 2)
        sock.close()
        if wire <= 18:
            hexdigits = set("0123456789abcdef")
            good = all(isinstance(r.get("nonce"), str) and 0 < len(r["nonce"]) <= 16 and
                       set(r["nonce"]) <= hexdigits and r.get("ok") == 1 for r in (a, b))
            ok(good, "wire %d: getnonce answers a hex nonce without authentication, on admin and on test" % wire,
               (a, b))
            ok(good and a["nonce"] != b["nonce"], "wire %d: each getnonce draws a new nonce" % wire, (a, b))
        else:
            ok(a.get("ok") == 0 and a.get("code") == 59 and b.get("code") == 59,
               "wire %d: getnonce is no such command (59), as since 6.2" % wire, (a, b))
    return [s for _, s in sims]


def wait_primary(sim, want, secs=3.0):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if sim.primary() == want:
            return True
        time.sleep(0.02)
    return sim.primary() == want


def test_elections(sim_bin, tmp, MongoClient, SON):
    members = ('  { port = 0; priority = 3.0; state = "PRIMARY"; },\n  { port = 0; priority = 2.0; },\n'
               '  { port = 0; priority = 1.0; },\n  { port = 0; priority = 0.0; votes = 0; }\n')
    s = Sim(sim_bin, tmp, topology(17, "rsel", 200, members))
    if not ok(s.uri, "a set with electionTimeoutMillis 200 starts"):
        return [s]

    def hello_of(i):
        c = MongoClient(s.status(i, "host"), directConnection=True, **KW)
        try:
            return c.admin.command("hello"), c.admin.command("replSetGetStatus")
        finally:
            c.close()
    h0, st0 = hello_of(0)
    t0 = time.monotonic()
    s.ctl("kill", "0")
    elected = wait_primary(s, 1)
    took = time.monotonic() - t0
    h1, st1 = hello_of(1)
    ok(elected and 0.15 <= took < 2, "primary killed: the highest-priority member 1 is elected (%.2f s)" % took)
    ok(st1.get("term", 0) > st0.get("term", 0) and h1.get("electionId") != h0.get("electionId") and
       h1.get("isWritablePrimary") is True, "term grew, electionId changed",
       (st0.get("term"), st1.get("term"), h0.get("electionId"), h1.get("electionId")))
    s.ctl("revive", "0")
    s.ctl("lock", "0")
    s.ctl("partition", "1")
    ok(wait_primary(s, 2) and s.status(1, "state") == "SECONDARY",
       "primary partitioned: it steps down; the fsync-locked member 0 is passed over for member 2")
    s.ctl("kill", "0")
    time.sleep(0.8)
    ok(s.primary() is None, "one voter of three reachable: no primary")
    s.ctl("heal", "1")
    ok(wait_primary(s, 1), "partition healed, two voters of three: member 1 (priority 2) is elected")
    s.ctl("write", "3")

    def same_optime():
        rc, out = s.ctl("status")
        opt = {}
        for line in out.splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            opt[fields.get("id")] = fields.get("optime")
        return opt.get("1") is not None and opt.get("1") == opt.get("2")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not same_optime():
        time.sleep(0.05)
    ok(same_optime() or same_optime(), "the stepped-down member 2 catches up as a secondary")
    ok(s.ctl("elect", "2")[0] == 0 and s.primary() == 2, "ctl elect still decides exactly")
    return [s]


def test_saslprep(sim_bin, tmp, MongoClient, SON):
    from pymongo.errors import OperationFailure
    from urllib.parse import quote
    users = (',\n  { name = "umlaut"; password = "p\u00e4ssw\u00f6rd"; roles = [ "clusterMonitor" ]; },\n'
             '  { name = "shy"; password = "I\u00adX"; roles = [ "clusterMonitor" ]; },\n'
             '  { name = "nine"; password = "\u2168"; roles = [ "clusterMonitor" ]; }\n')
    s = Sim(sim_bin, tmp, topology(21, "rsprep", None, None, users))
    if not ok(s.uri, "a set with non-ASCII SCRAM passwords starts"):
        return [s]
    host = s.status(0, "host")
    probe = os.path.join(os.environ.get("top_builddir", "."), "tests/integration/sim-probe")

    def libmongoc(user, pw, mech="SCRAM-SHA-256"):
        uri = "mongodb://%s:%s@%s/?directConnection=true&authMechanism=%s&connectTimeoutMS=3000" % (
            user, quote(pw, safe=""), host, mech)
        p = subprocess.run([probe, uri, '{"replSetGetStatus": 1}'], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30, check=False)
        return p.returncode, p.stderr.decode()

    def pymongo_auth(user, pw, mech="SCRAM-SHA-256"):
        c = MongoClient(host, directConnection=True, username=user, password=pw, authMechanism=mech,
                        serverSelectionTimeoutMS=3000)
        try:
            c.admin.command("replSetGetStatus")
            return True
        except OperationFailure:
            return False
        finally:
            c.close()
    r = libmongoc("umlaut", "p\u00e4ssw\u00f6rd")
    ok(r[0] == 0,
       "libmongoc (ICU SASLprep) authenticates with a non-ASCII SCRAM-SHA-256 password", r)
    ok(pymongo_auth("umlaut", "p\u00e4ssw\u00f6rd") and pymongo_auth("umlaut", "p\u00e4ssw\u00f6rd", "SCRAM-SHA-1"),
       "pymongo too, with SCRAM-SHA-256 and SCRAM-SHA-1")
    ok(libmongoc("shy", "IX")[0] == 0 and pymongo_auth("shy", "I\u00adX"),
       "a soft hyphen maps to nothing: I<U+00AD>X and IX are the same password")
    ok(libmongoc("nine", "\u2168")[0] == 0 and pymongo_auth("nine", "IX"),
       "NFKC: ROMAN NUMERAL NINE and IX are the same password")
    rc, err = libmongoc("umlaut", "passwort")
    ok(rc == 1 and "Authentication failed" in err, "a wrong password still fails", err)
    return [s]


def main():
    try:
        import pymongo
        from pymongo import MongoClient
        from bson.son import SON
    except ImportError:
        print("1..0 # SKIP python3-pymongo not installed")
        return 0
    sim_bin = os.environ.get("MBH_SIM")
    if not sim_bin or not os.access(sim_bin, os.X_OK):
        print("1..0 # SKIP MBH_SIM is not built")
        return 0
    print("1..%d" % PLAN)
    print("# pymongo %s" % pymongo.version)
    sys.stdout.flush()
    tmp = tempfile.mkdtemp(prefix="mbh-simsrv.")
    sims = []
    try:
        for t in TESTS:
            started = t(sim_bin, tmp, MongoClient, SON)
            sims += started
            for s in started:
                rc = s.stop()
                if rc != 0:
                    ok(False, "a simulator exited %s" % rc)
    except Exception as e:  # a failure must still count, and clean up below
        print("# exception: %r" % (e,))
    finally:
        for s in sims:
            if s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        if os.environ.get("MBH_TEST_KEEP"):
            print("# kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    while count < PLAN:
        ok(False, "not reached")
    return 0 if failed == 0 and count == PLAN else 1


TESTS = [test_strict, test_current_op, test_monitoring, test_elections, test_saslprep, test_getnonce, test_update_delete]

if __name__ == "__main__":
    sys.exit(main())
