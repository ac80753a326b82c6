#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""exact_bench.py: the measuring half of bench-cluster's exact mode (bench/cluster-bench.sh mounts the btrfs
loop device and starts the simulators).

usage: exact_bench.py RUNS PRE POST EXACT-CONF SET-CONF MONGOS-URI OUTDIR SET-LOG COMPONENT-LOG...
environment: EXACT_SNAPSHOT (the snapshot-btrfs script), EXACT_FLOOR ("SUBVOLUME:SNAPDIR ..." of the primaries)

Each of RUNS rounds runs, in alternating order so that both see the same load,
  * PRE -c EXACT-CONF --exec  on the cluster in exact mode (every primary snapshotted by snapshot-btrfs), and
  * PRE -c SET-CONF --exec    on one P-S-S set in snapshot mode (the passive member snapshotted the same way):
    the baseline, one snapshot's window, lock to unlock by the member's own clock (SET-LOG),
each followed by POST.  Meanwhile a writer inserts through the mongos in a loop; the write pause of an exact
run is the product's MONGO_BACKUP_PAUSE_MS and, independently, the writer's longest gap between two
acknowledged inserts during that run.  Target (issue 18): <= 2 x the baseline's median.  Exit 1 when missed.
Each round also runs the snapshot script by itself, nothing locked: once on one primary's subvolume, and on
every primary's at once (the slowest of those is what this host makes of parallel snapshots: the pause's floor).
"""
import os
import re
import statistics
import subprocess
import sys
import threading
import time

import pymongo

from cluster_bench import SimLog, run, spread

PAUSED = re.compile(r"writes paused (\d+) ms")
TAKEN = re.compile(r" taken in (\d+) ms")
CTLLOCK = re.compile(r"^(\S+Z) ctl: (lock|unlock) ")  # the mongos's lock of a primary, in its component's log


class Writer(threading.Thread):
    """Inserts through the mongos until stopped; acks holds the monotonic time of every acknowledged insert."""

    def __init__(self, uri):
        super().__init__(daemon=True)
        self.client = pymongo.MongoClient(uri, username="app", password="app-pw", authSource="admin",
                                          serverSelectionTimeoutMS=10000, socketTimeoutMS=120000)
        self.acks, self.wall, self.error, self.stop = [], [], None, threading.Event()

    def run(self):
        coll, n = self.client.bench.docs, 0
        try:
            while not self.stop.is_set():
                coll.insert_one({"n": n})
                self.acks.append(time.monotonic())
                self.wall.append(time.time() * 1000.0)
                n += 1
        except Exception as e:  # reported by main: a write that fails is a finding, not a pause
            self.error = e

    def gap(self, t0, t1):
        """Longest time between consecutive acks, over the pairs that overlap [t0, t1] (ms)."""
        a = self.acks
        best = 0.0
        for i in range(1, len(a)):
            if a[i] >= t0 and a[i - 1] <= t1:
                best = max(best, a[i] - a[i - 1])
            if a[i - 1] > t1:
                break
        return best * 1000.0

    def around(self, t0, t1):
        """(ms from the last ack before unix ms t0 to t0, ms from t1 to the first ack after t1), or None."""
        w = list(self.wall)
        before = [a for a in w if a < t0]
        after = [a for a in w if a > t1]
        if not before or not after:
            return None
        return t0 - before[-1], after[0] - t1


def creates(script, pairs, tag):
    """snapshot-btrfs create on every SUBVOLUME:SNAPDIR of pairs at once, nothing locked; the slowest's time (ms);
    then each snapshot removed."""
    procs, paths = [], []
    t0 = time.monotonic()
    for k, pair in enumerate(pairs):
        sub, snapdir = pair.split(":", 1)
        procs.append(subprocess.Popen([script, "create", sub, snapdir, "%s-%d" % (tag, k)], stdout=subprocess.PIPE))
    for pr in procs:
        out, _ = pr.communicate()
        if pr.returncode != 0:
            sys.exit("exact_bench: %s create failed (exit %d)" % (script, pr.returncode))
        paths.append(out.decode().splitlines()[0])
    ms = (time.monotonic() - t0) * 1000.0
    for path in paths:
        subprocess.run([script, "remove", path], check=True)
    return ms


def lock_span(logs):
    """(first lock, last unlock) over the components' logs since the last read (members' clocks, unix ms), or None
    unless every log holds one of each."""
    locks, unlocks = [], []
    for lg in logs:
        lk, ul = lg.read()
        if len(lk) != 1 or len(ul) != 1:
            return None
        locks += lk
        unlocks += ul
    return min(locks), max(unlocks)


def main():
    if len(sys.argv) < 10:
        sys.exit(__doc__)
    runs = int(sys.argv[1])
    pre, post, econf, sconf, uri, out, slog = sys.argv[2:9]
    setlog, clogs = SimLog(slog), [SimLog(p, CTLLOCK) for p in sys.argv[9:]]
    pausef = os.path.join(out, "pause")
    script, floor = os.environ["EXACT_SNAPSHOT"], os.environ["EXACT_FLOOR"].split()
    writer = Writer(uri)
    writer.start()
    time.sleep(0.5)
    if writer.error or not writer.acks:
        sys.exit("exact_bench: the writer through the mongos does not write: %s" % writer.error)
    r = {k: [] for k in ("base", "taken", "pause", "logged", "gap", "floor", "span", "wall", "one", "all", "pre", "post")}
    for i in range(runs):
        r["one"].append(creates(script, floor[:1], "one%d" % i))
        r["all"].append(creates(script, floor, "all%d" % i))
        for which in (("exact", "set") if i % 2 == 0 else ("set", "exact")):
            job = "%s%d" % (which, i + 1)
            if which == "set":
                t0 = time.monotonic()
                _, _, lines = run([pre, "-c", sconf, "--job", job, "--exec", "--", "true"])
                r["floor"].append(writer.gap(t0, time.monotonic()))
                run([post, "-c", sconf, "-q", "--job", job])
                lk, ul = setlog.read()
                if len(lk) != 1 or len(ul) != 1:
                    sys.exit("exact_bench: %s: expected one fsync lock and one fsyncUnlock, found %d and %d"
                             % (setlog.path, len(lk), len(ul)))
                r["base"].append(ul[0] - lk[0])
                r["taken"] += [int(m.group(1)) for _, l, _ in lines for m in [TAKEN.search(l)] if m]
                continue
            if os.path.exists(pausef):
                os.unlink(pausef)
            t0 = time.monotonic()
            wall, _, lines = run([pre, "-c", econf, "--job", job, "--exec", "--", "/bin/sh", "-c",
                                  'printf %s "$MONGO_BACKUP_PAUSE_MS" >"$0"', pausef])
            t1 = time.monotonic()
            run([post, "-c", econf, "-q", "--job", job])
            with open(pausef) as f:
                r["pause"].append(int(f.read()))
            m = next((PAUSED.search(l) for _, l, _ in lines if PAUSED.search(l)), None)
            if m is None:
                sys.exit("exact_bench: the exact run logged no 'writes paused N ms'")
            r["logged"].append(int(m.group(1)))
            r["gap"].append(writer.gap(t0, t1))
            r["wall"].append(wall)
            span = lock_span(clogs)
            if span is not None:
                r["span"].append(span[1] - span[0])
                time.sleep(0.05)  # an ack after the unlock
                ar = writer.around(*span)
                if ar is not None:
                    r["pre"].append(ar[0])
                    r["post"].append(ar[1])
    writer.stop.set()
    writer.join(130)
    if writer.error:
        sys.exit("exact_bench: a write through the mongos failed: %s" % writer.error)

    med = statistics.median
    base = med(r["base"])
    target = 2 * base
    rows = []

    def row(metric, xs, ok_target):
        ok = med(xs) <= target
        rows.append((metric, spread(xs) + " ms", spread(r["base"]) + " ms", "%.2f" % (med(xs) / base),
                     "<= 2 x (%.1f ms)" % target if ok_target else "(info)",
                     ("PASS" if ok else "FAIL") if ok_target else "info"))

    row("write pause, MONGO_BACKUP_PAUSE_MS (lock reply to unlock reply)", r["pause"], True)
    row("write pause, a writer through the mongos: longest gap between acks", r["gap"], True)
    if len(r["span"]) == len(r["pause"]):
        row("primaries locked, first lock to last unlock (members' clocks)", r["span"], False)
    row("the writer's longest gap during the set runs (no cluster lock: its floor)", r["floor"], False)
    row("snapshot-btrfs create alone, nothing locked (one primary's)", r["one"], False)
    row("snapshot-btrfs create on the %d primaries at once, nothing locked: the slowest" % len(floor), r["all"], False)
    head = ("metric", "ours (median (min-max))", "baseline: one snapshot's window", "ratio", "target", "result")
    widths = [max(len(x[c]) for x in rows + [head]) for c in range(6)]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    print("exact mode, 3 shards + CSRS (every member's data on a btrfs subvolume, one loop device per component,"
          " snapshot-btrfs), %d runs alternating with the baseline" % runs)
    print((fmt % head).rstrip())
    for x in rows:
        print((fmt % x).rstrip())
    print("baseline: a P-S-S set in snapshot mode, its passive member on a subvolume of a fifth btrfs loop device, lock to unlock"
          " by the member's clock; its snapshot.create took %s ms (median (min-max))" % spread(r["taken"], "%.0f"))
    print("the log's 'writes paused N ms' agreed with MONGO_BACKUP_PAUSE_MS in %d of %d runs; exact --exec wall time"
          " %s ms; %d inserts acknowledged through the mongos"
          % (sum(a == b for a, b in zip(r["logged"], r["pause"])), len(r["pause"]), spread(r["wall"]),
             len(writer.acks)))
    if r["pre"]:
        print("the writer's gap around the lock (members' clocks against the writer's, median of %d): %.1f ms from its"
              " last ack to the first primary's lock, %.1f ms from the last unlock to its next ack"
              % (len(r["pre"]), med(r["pre"]), med(r["post"])))
        print("  (the simulated mongos tries a write held by a locked primary again every 20 ms, ROUTE_RETRY_MS in"
              " tests/sim/cmd_route.c: up to 20 ms after the unlock are the simulator's, where a mongos's write waits"
              " on the primary's lock itself)")
    print("the pause against the %d parallel creates by themselves (this host's floor for it): %.2f x; the pause"
          " minus their time (the lock's reply, the re-check of every primary, the unlock; medians): %.1f ms"
          % (len(floor), med(r["pause"]) / med(r["all"]), med(r["pause"]) - med(r["all"])))
    return 0 if all(x[5] != "FAIL" for x in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
