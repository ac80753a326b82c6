#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""cluster_bench.py: the measuring half of `make bench-cluster` (bench/cluster-bench.sh starts the simulators).

usage: cluster_bench.py RUNS SHARDS PRE CLUSTER-CONF SET-CONF SET-LOG NAME=COMPONENT-LOG...

Each of RUNS rounds runs, in alternating order so that both see the same load,
  * PRE -c CLUSTER-CONF --exec -- true  on the simulated cluster (SHARDS shards and the CSRS), and
  * PRE -c SET-CONF --exec -- true      on one replica set of the same shape (P-S-S, same users),
then pings each member the cluster run locked (a raw OP_MSG ping on a fresh socket already connected:
the member's round trip, the skew's baseline), and reads the simulators' logs (their own clock, 1 ms
resolution with --log-usec) for the time each member was locked and unlocked.  Prints the table with the targets of
issue 18 and a breakdown of where the cluster run's time goes; exit status 1 when a target is missed.
"""
import os
import re
import socket
import statistics
import struct
import sys
import time
from datetime import datetime, timezone

import bson

PINGS = 20  # per member and round, after one warm-up
LOCKED = re.compile(r"cluster \S+ locked \(skew (\d+) ms\):(.*)$")
MEMBER = re.compile(r" (\S+)=(\S+) \(\+(\d+) ms\)")
SIMLINE = re.compile(r"^(\S+Z) member \d+: (fsync lock|fsyncUnlock),")


def run(argv):
    """Wall time, CPU time (ms) and stderr lines with their arrival (ms after the spawn, and unix ms) of one
    run; exits on failure.  The CPU time (user + system) is the program's and that of what it reaped (watchdogs, command)."""
    r, w = os.pipe()
    acts = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_DUP2, w, 2),
            (os.POSIX_SPAWN_CLOSE, r)]
    t0 = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=acts)
    os.close(w)
    lines, buf = [], b""
    while True:
        chunk = os.read(r, 65536)
        t = (time.monotonic() - t0) * 1000.0
        epoch = time.time() * 1000.0
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            lines.append((t, line.decode(errors="replace"), epoch))
    os.close(r)
    _, status, ru = os.wait4(pid, 0)
    wall = (time.monotonic() - t0) * 1000.0
    if status != 0:
        sys.stderr.write("".join(l + "\n" for _, l, _ in lines))
        sys.exit("cluster_bench: %s failed (wait status %d)" % (" ".join(argv), status))
    return wall, (ru.ru_utime + ru.ru_stime) * 1000.0, lines


def ping_rtt(host):
    """Median round trip (ms) of PINGS pings to host:port over one connection (one warm-up first)."""
    h, p = host.rsplit(":", 1)
    doc = bson.encode({"ping": 1, "$db": "admin"})
    body = struct.pack("<I", 0) + b"\x00" + doc
    s = socket.create_connection((h, int(p)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = []
    try:
        for i in range(PINGS + 1):
            msg = struct.pack("<iiii", 16 + len(body), i + 1, 0, 2013) + body
            t0 = time.perf_counter()
            s.sendall(msg)
            head = b""
            while len(head) < 16:
                c = s.recv(16 - len(head))
                if not c:
                    sys.exit("cluster_bench: %s closed the connection" % host)
                head += c
            left = struct.unpack("<i", head[:4])[0] - 16
            while left > 0:
                c = s.recv(left)
                if not c:
                    sys.exit("cluster_bench: %s closed the connection" % host)
                left -= len(c)
            if i > 0:
                out.append((time.perf_counter() - t0) * 1000.0)
    finally:
        s.close()
    return statistics.median(out)


class SimLog:
    """New lock and unlock lines of one simulator's log since the last read (pattern: groups time and kind; the
    kinds "fsyncUnlock" and "unlock" are unlocks, any other a lock)."""

    def __init__(self, path, pattern=SIMLINE):
        self.path, self.off, self.pattern = path, os.path.getsize(path), pattern

    def read(self):
        with open(self.path, "rb") as f:
            f.seek(self.off)
            data = f.read()
        cut = data.rfind(b"\n") + 1
        self.off += cut
        locks, unlocks = [], []
        for line in data[:cut].decode(errors="replace").splitlines():
            m = self.pattern.match(line)
            if m:
                t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                    tzinfo=timezone.utc).timestamp() * 1000.0
                (unlocks if m.group(2) in ("fsyncUnlock", "unlock") else locks).append(t)
        return locks, unlocks


def window(logs):
    """From the simulators' logs of one run: (skew, window, {name: lock time after the first}, (first lock,
    last lock, first unlock, last unlock) in unix ms), all in ms."""
    locks, unlocks = {}, []
    for name, lg in logs:
        lk, ul = lg.read()
        if len(lk) != 1 or len(ul) != 1:
            sys.exit("cluster_bench: %s: expected one fsync lock and one fsyncUnlock per run, found %d and %d"
                     % (lg.path, len(lk), len(ul)))
        locks[name] = lk[0]
        unlocks += ul
    first, last = min(locks.values()), max(locks.values())
    return (last - first, max(unlocks) - first, {n: t - first for n, t in locks.items()},
            (first, last, min(unlocks), max(unlocks)))


# The lock window of a -v run, split at the members' clocks and the arrival of the run's lines.
WINDOW = [
    "the locks arrive (first to last, members' clocks)",
    "re-checks on every component (hello, currentOp of another voter), each watchdog's start, LOCKED records",
    "cluster record, command (true) run and reaped, first fsyncUnlock",
    "the other fsyncUnlocks (first to last, members' clocks)",
]


def window_split(lines, sim):
    first, last, ufirst, ulast = sim
    at = next((e for _, l, e in lines if LOCKED.search(l)), None)
    if at is None or not first <= last <= at <= ufirst <= ulast:
        return None
    return [last - first, at - last, ufirst - at, ulast - ufirst]


# Where a cluster run's time goes: each phase ends at the arrival of a stderr line (of a -v run) matching its
# pattern: the first one after the previous phase's end ("first"), or the last one before the next phase's
# end ("last": the components work in parallel, the phase ends when the slowest is through).
PHASES = [
    ("start: exec, libraries, config", r"discovering the sharded cluster", "first"),
    ("the mongos: connect, SCRAM, getShardMap, listShards, balancerStatus, buildInfo",
     r"cluster \S+: \d+ shards", "first"),
    ("every component's discovery in parallel (connect, SCRAM key derived per set, config, status)",
     r"replica set \S+: \d+ members", "last"),
    ("every component's choice, currentOp, watchdog, durable intent; balancerStop", r"stopped the balancer", "first"),
    ("the locks go out together: fsync lock and re-check on every member", r"cluster \S+ locked", "first"),
    ("command (true); every component unlocked, its record removed, watchdog stopped; balancerStart",
     r"started the balancer", "first"),
]


def breakdown(lines, wall):
    out, i, start = [], 0, 0.0
    for k, (name, pat, how) in enumerate(PHASES):
        rx = re.compile(pat)
        while i < len(lines) and not rx.search(lines[i][1]):
            i += 1
        if i == len(lines):
            return None
        if how == "last":
            nxt = re.compile(PHASES[k + 1][1])
            j = i
            while j < len(lines) and not nxt.search(lines[j][1]):
                if rx.search(lines[j][1]):
                    i = j
                j += 1
        out.append((name, lines[i][0] - start))
        start = lines[i][0]
    out.append(("exit", wall - start))
    return out


def spread(xs, fmt="%.1f"):
    return (fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(xs), min(xs), max(xs))


def main():
    if len(sys.argv) < 8:
        sys.exit(__doc__)
    runs, shards, pre, cconf, sconf, slog = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:7]
    clogs = [(a.split("=", 1)[0], SimLog(a.split("=", 1)[1])) for a in sys.argv[7:]]
    setlog = [("set", SimLog(slog))]
    cl_cmd = [pre, "-c", cconf, "--exec", "--", "true"]
    set_cmd = [pre, "-c", sconf, "--exec", "--", "true"]
    r = {k: [] for k in ("cwall", "swall", "ccpu", "scpu", "skew", "simskew", "cwin", "swin", "rtt", "members")}
    lock_at, prod_at = {}, {}
    for i in range(runs):
        order = ("cluster", "set") if i % 2 == 0 else ("set", "cluster")
        for which in order:
            if which == "set":
                wall, cpu, _ = run(set_cmd)
                r["swall"].append(wall)
                r["scpu"].append(cpu)
                r["swin"].append(window(setlog)[1])
                continue
            wall, cpu, lines = run(cl_cmd)
            r["ccpu"].append(cpu)
            m = next((LOCKED.search(l) for _, l, _ in lines if LOCKED.search(l)), None)
            if m is None:
                sys.exit("cluster_bench: no 'cluster ... locked (skew ...)' line from the cluster run")
            members = MEMBER.findall(m.group(2))
            if len(members) != shards + 1:
                sys.exit("cluster_bench: the lock line names %d components, not %d" % (len(members), shards + 1))
            r["cwall"].append(wall)
            r["skew"].append(int(m.group(1)))
            for name, _, at in members:
                prod_at.setdefault(name, []).append(int(at))
            sk, win, at, _ = window(clogs)
            for name, ms in at.items():
                lock_at.setdefault(name, []).append(ms)
            r["simskew"].append(sk)
            r["cwin"].append(win)
            r["rtt"].append(max(ping_rtt(host) for _, host, _ in members))
            r["members"] = [name for name, _, _ in members]
    # a few -v runs apart (they write more): where the cluster run's time goes
    phases, wsplit = {}, []
    for _ in range(min(runs, 5)):
        wall, _, lines = run([pre, "-c", cconf, "-v", "--exec", "--", "true"])
        ws = window_split(lines, window(clogs)[3])
        if ws is not None:
            wsplit.append(ws)
        b = breakdown(lines, wall)
        if b is None:
            continue
        for name, ms in b:
            phases.setdefault(name, []).append(ms)

    med = statistics.median
    rows = []

    def row(metric, ours, base, ratio, target, ok):
        rows.append((metric, ours, base, ratio, target, "info" if ok is None else ("PASS" if ok else "FAIL")))

    skew, rtt = med(r["simskew"]), med(r["rtt"])
    row("skew first-last lock (members' clocks)", spread(r["simskew"], "%.3f") + " ms",
        "RTT %.3f ms" % rtt, "%.1f RTT" % (skew / rtt), "<= 2 RTT (%.3f ms)" % (2 * rtt), skew <= 2 * rtt)
    row("skew as the product records it (skew_ms)", spread(r["skew"], "%.0f") + " ms", "-", "-",
        "(1 ms resolution)", None)
    row("lock window first lock-last unlock", spread(r["cwin"], "%.1f") + " ms",
        spread(r["swin"], "%.1f") + " ms", "%.2f" % (med(r["cwin"]) / max(med(r["swin"]), 1)), "(no target)", None)
    ok = med(r["cwall"]) <= 1.5 * med(r["swall"]) if shards >= 10 else None
    row("wall time --exec -- true", spread(r["cwall"]) + " ms", spread(r["swall"]) + " ms",
        "%.2f" % (med(r["cwall"]) / med(r["swall"])),
        "<= 1.5 x one set" if shards >= 10 else "(1.5 x is the 10-shard target)", ok)
    row("CPU time (with its watchdogs, command)", spread(r["ccpu"], "%.0f") + " ms", spread(r["scpu"], "%.0f") + " ms",
        "%.2f" % (med(r["ccpu"]) / max(med(r["scpu"]), 1)), "(no target)", None)
    head = ("metric", "ours (median (min-max))", "baseline", "ratio", "target", "result")
    widths = [max(len(x[c]) for x in rows + [head]) for c in range(6)]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    print("online mode, %d shards + CSRS (%d members locked) vs one P-S-S set, %d runs" % (shards, shards + 1, runs))
    print((fmt % head).rstrip())
    for x in rows:
        print((fmt % x).rstrip())
    print("baseline of the skew: the slowest locked member's ping round trip (median of %d pings each, raw"
          " OP_MSG) measured after each run; of the window and the wall time: the same on one P-S-S set" % PINGS)
    print("each member's lock time after the first lock, median over the runs: members' clocks (ms): " +
          " ".join("%s +%.3f" % (n, med(lock_at[n])) for n in r["members"]))
    print("  ... and as the product records it (lock_ms): " +
          " ".join("%s +%g" % (n, med(prod_at[n])) for n in r["members"]))
    if phases:
        print("where a cluster run's time goes (median of %d runs with -v, ms):" % len(phases[PHASES[0][0]]))
        for name in [p[0] for p in PHASES] + ["exit"]:
            if name in phases:
                print("  %7.1f  %s" % (med(phases[name]), name))
    if wsplit:
        print("the lock window of those runs, split (median of %d, ms; sums of medians need not add up):" % len(wsplit))
        for k, name in enumerate(WINDOW):
            print("  %7.1f  %s" % (med([w[k] for w in wsplit]), name))
        print("  %7.1f  the window" % med([sum(w) for w in wsplit]))
    return 0 if all(x[5] != "FAIL" for x in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
