#!/usr/bin/python3
# sim-sharded-data-step.py: one pymongo step of writes and reads through a simulated mongos, for
# sim-sharded-data.sh.
#   sim-sharded-data-step.py STEP MONGOS_URI [ARGS...]
# Prints the facts the shell test asserts, one `key=value` a line; a server error prints
# `error code=C msg=M` (exit 0: a refusal is a result to check, not a crash).
# SPDX-License-Identifier: AGPL-3.0-or-later
import json
import struct
import sys
import time

import bson
import pymongo
from pymongo.errors import BulkWriteError, OperationFailure

step, uri = sys.argv[1], sys.argv[2]
args = sys.argv[3:]


def client(user="app", password="app-pw"):
    return pymongo.MongoClient(uri, username=user, password=password, authSource="admin",
                               serverSelectionTimeoutMS=10000, socketTimeoutMS=60000)


def emit(k, v):
    print("%s=%s" % (k, v if isinstance(v, str) else json.dumps(v, sort_keys=True)))


def shard_of(_id, n):
    """The simulator's documented routing rule: FNV-1a 64 of the BSON {"": _id} (numbers as doubles),
    mixed by MurmurHash3's 64-bit finaliser, modulo the number of shards."""
    if isinstance(_id, (int, float)):
        _id = float(_id)
    h = 1469598103934665603
    for byte in bson.encode({"": _id}):
        h = ((h ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 33
    return h % n


coll = lambda: client().test.routed

if step == "insert":
    # insert N documents {_id: START+i} through the mongos
    start, n = int(args[0]), int(args[1])
    t0 = time.monotonic()
    r = coll().insert_many([{"_id": start + i, "v": "x" * 10} for i in range(n)])
    emit("n", len(r.inserted_ids))
    emit("ms", int((time.monotonic() - t0) * 1000))
elif step == "find":
    c = coll()
    emit("all", len(list(c.find())))
    emit("one", c.find_one({"_id": int(args[0])}))
    emit("by_v", len(list(c.find({"v": "x" * 10}))))
    emit("limit", len(list(c.find().limit(3))))
    emit("count", c.count_documents({}))   # aggregate with $match and $group, through the router
    emit("count_v", c.count_documents({"v": "x" * 10}))
elif step == "rule":
    # args: N FILE...: each file holds what `ctl SHARD routed-find NS` printed for one shard (a document
    # in hex a line), in listShards order
    n = int(args[0])
    held = [set(bson.decode(bytes.fromhex(x))["_id"] for x in open(f).read().split()) for f in args[1:]]
    emit("disjoint", all(not (held[a] & held[b]) for a in range(n) for b in range(a + 1, n)))
    emit("every_shard", all(len(h) > 0 for h in held))
    emit("by_rule", all(shard_of(i, n) == k for k, h in enumerate(held) for i in h))
elif step == "modify":
    # updates and deletes through the mongos: targeted by _id, and sent to every shard
    c = coll()
    r = c.update_one({"_id": 7}, {"$set": {"v": "seven"}, "$inc": {"n": 1}})
    emit("u1", "%d/%d" % (r.matched_count, r.modified_count))
    emit("doc7", c.find_one({"_id": 7}))
    r = c.update_many({}, {"$set": {"all": True}})
    emit("um", "%d/%d" % (r.matched_count, r.modified_count))
    r = c.update_one({"_id": 500}, {"$set": {"up": 1}}, upsert=True)
    emit("upserted", r.upserted_id)
    try:
        c.update_one({"v": "none"}, {"$set": {"x": 1}}, upsert=True)
    except pymongo.errors.WriteError as e:
        emit("upsert_untargeted", e.code)
    emit("d1", c.delete_one({"_id": 8}).deleted_count)
    emit("d_any", c.delete_one({"all": True}).deleted_count)
    emit("left", len(list(c.find())))
    emit("all_set", len(list(c.find({"all": True}))))
elif step == "dup":
    try:
        coll().insert_one({"_id": int(args[0])})
        emit("dup", "none")
    except pymongo.errors.DuplicateKeyError as e:
        emit("dup", e.code)
elif step == "unordered":
    # START N: an unordered batch through the mongos; the write errors' codes
    start, n = int(args[0]), int(args[1])
    try:
        r = coll().insert_many([{"_id": start + i} for i in range(n)], ordered=False)
        emit("n", len(r.inserted_ids))
    except BulkWriteError as e:
        emit("n", e.details["nInserted"])
        emit("codes", sorted({w["code"] for w in e.details["writeErrors"]}))
elif step == "currentOp":
    r = client("backup", "backup-pw").admin.command("currentOp")
    emit("fsyncLock", r.get("fsyncLock", "absent"))
    emit("info", r.get("info", "absent"))
    emit("waiting", [o.get("ns") for o in r["inprog"] if o.get("waitingForLock")])
elif step in ("lock", "unlock"):
    c = client("backup", "backup-pw")
    r = c.admin.command("fsync", lock=True) if step == "lock" else c.admin.command("fsyncUnlock")
    emit("ok", r["ok"])
else:
    sys.exit("unknown step " + step)
