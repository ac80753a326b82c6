#!/usr/bin/python3
# sim-sharded-step.py: one pymongo step against a simulated sharded cluster, for sim-sharded.sh.
#   sim-sharded-step.py STEP MONGOS_URI [ARGS...]
# Prints the facts the shell test asserts, one `key=value` a line; a server error prints
# `error code=C msg=M` (exit 0: a refusal is a result to check, not a crash).
# SPDX-License-Identifier: AGPL-3.0-or-later
import json
import sys
import time

import pymongo
from pymongo.errors import OperationFailure

step, uri = sys.argv[1], sys.argv[2]
args = sys.argv[3:]


def client(user="backup", password="backup-pw", u=None):
    kw = dict(serverSelectionTimeoutMS=10000, socketTimeoutMS=30000)
    if user:
        kw.update(username=user, password=password, authSource="admin")
    return pymongo.MongoClient(u or uri, **kw)


def emit(k, v):
    print("%s=%s" % (k, v if isinstance(v, str) else json.dumps(v, sort_keys=True)))


def run(c, cmd, **kw):
    try:
        return c.admin.command(cmd, **kw)
    except OperationFailure as e:
        d = e.details or {}
        print("error code=%s msg=%s" % (d.get("code"), d.get("errmsg")))
        return None


if step == "hello":
    c = client(user=None)
    h = c.admin.command("hello")
    emit("msg", h.get("msg"))
    emit("setName", h.get("setName", "none"))
    c.admin.command("ping")
    emit("is_mongos", c.is_mongos)   # the driver saw a router (Sharded topology)
    # each seed has its own monitor: under load the second one's first check may still be on its way
    deadline = time.monotonic() + 10
    while len(c.nodes) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    emit("routers", len(c.nodes))
elif step == "configsvr":
    h = client(user=None).admin.command("hello")
    emit("configsvr", h.get("configsvr"))
    emit("setName", h.get("setName"))
elif step == "listShards":
    r = run(client(), "listShards")
    if r:
        emit("ids", [s["_id"] for s in r["shards"]])
        for s in r["shards"]:
            emit("host." + s["_id"], s["host"])
            emit("state." + s["_id"], s["state"])
elif step == "getShardMap":
    r = run(client(), "getShardMap")
    if r:
        for k, v in sorted(r["map"].items()):
            emit("map." + k, v)
        emit("hosts", len(r["hosts"]))
        emit("connStrings", sorted(r["connStrings"].values()))
elif step == "unauth":
    run(client(user=None), "listShards")
elif step == "wrongpw":
    try:
        client(password="nope").admin.command("listShards")
    except OperationFailure as e:
        print("error code=%s" % e.code)
elif step == "monitor-stop":
    run(client(user="monitor", password="monitor-pw"), "balancerStop")
elif step == "balancerStatus":
    r = run(client(), "balancerStatus")
    if r:
        emit("mode", r["mode"])
        emit("inBalancerRound", r["inBalancerRound"])
        emit("rounds", r["numBalancerRounds"])
elif step in ("balancerStop", "balancerStart"):
    t0 = time.monotonic()
    r = run(client(), step)
    if r:
        emit("ok", r["ok"])
        emit("ms", int((time.monotonic() - t0) * 1000))
elif step == "lock":
    kw = {"lock": True}
    if args:
        kw["fsyncLockAcquisitionTimeoutMillis"] = int(args[0])
    t0 = time.monotonic()
    r = run(client(), "fsync", **kw)
    emit("ms", int((time.monotonic() - t0) * 1000))
    if r:
        emit("numFiles", r["numFiles"])
        raw = r["all"]["raw"]
        emit("raw", sorted(raw))
        emit("lockCounts", [raw[k]["lockCount"] for k in sorted(raw)])
        emit("info", sorted({raw[k]["info"] for k in raw}))
        emit("ok", r["ok"])
elif step == "unlock":
    r = run(client(), "fsyncUnlock")
    if r:
        raw = r["raw"]
        emit("raw", sorted(raw))
        emit("lockCounts", [raw[k]["lockCount"] for k in sorted(raw)])
elif step == "insert":
    # a write straight to a shard's primary (args[0] = its host): how long until it is acknowledged
    c = pymongo.MongoClient(args[0], directConnection=True, username="app", password="app-pw",
                            authSource="admin", socketTimeoutMS=60000)
    t0 = time.monotonic()
    c.sim.writes.insert_one({"x": 1})
    emit("ms", int((time.monotonic() - t0) * 1000))
else:
    sys.exit("unknown step " + step)
