#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""baseline_pymongo.py: the bench baseline: what mongo-prebackup --exec does, written the obvious way
with Debian's python3-pymongo (the seed's approach): discover, choose, lock, run, unlock.

usage: /usr/bin/python3 baseline_pymongo.py [--os-exit] --uri SEED-URI --username U --password-file F -- CMD [ARGS...]

--os-exit leaves with os._exit() once the work is done: PyMongo 3.11's atexit hook joins its monitor
threads, which sleep up to 0.5 s; the bench reports that variant for information only.
"""
import os
import argparse
import subprocess
import sys

from pymongo import MongoClient


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--os-exit", action="store_true")
    ap.add_argument("--uri", required=True)
    ap.add_argument("--username", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()
    with open(args.password_file) as f:
        password = f.read().rstrip("\n")

    auth = dict(username=args.username, password=password, authSource="admin",
                authMechanism="SCRAM-SHA-256", serverSelectionTimeoutMS=5000)

    # Discover the set: its config and its members' states.
    client = MongoClient(args.uri, **auth)
    config = client.admin.command("replSetGetConfig")["config"]
    status = client.admin.command("replSetGetStatus")
    client.close()

    # Choose a secondary the obvious way: healthy secondaries, hidden first, then priority 0, then
    # the rest in config order.
    by_host = {m["host"]: m for m in config["members"]}
    candidates = []
    for m in status["members"]:
        if m.get("stateStr") != "SECONDARY" or m.get("health") != 1:
            continue
        cm = by_host.get(m["name"])
        if cm is None or cm.get("arbiterOnly"):
            continue
        rank = 0 if cm.get("hidden") else (1 if cm.get("priority", 1) == 0 else 2)
        candidates.append((rank, config["members"].index(cm), m["name"]))
    if not candidates:
        print("baseline: no secondary to lock", file=sys.stderr)
        return 69
    candidates.sort()
    host, port = candidates[0][2].rsplit(":", 1)

    # Lock it over a direct connection, run the command, unlock.
    member = MongoClient(host, int(port), directConnection=True, **auth)
    ops = member.admin.command("currentOp")
    if ops.get("fsyncLock"):
        print("baseline: %s:%s is already locked" % (host, port), file=sys.stderr)
        member.close()
        return 75
    member.admin.command("fsync", lock=True)
    try:
        rc = subprocess.call(args.command)
    finally:
        member.admin.command("fsyncUnlock")
        member.close()
    if args.os_exit:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


if __name__ == "__main__":
    sys.exit(main())
