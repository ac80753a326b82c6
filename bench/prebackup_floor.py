#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""prebackup_floor.py: the second half of `make bench`: mongo-prebackup --exec -- true against the driver's
floor (bench/floor_libmongoc: one direct connection to the member ours locks, one SCRAM key derivation,
fsync lock, fsyncUnlock), run alternately in one loop so that both see the same load, and where our time
goes, from the arrival times of the debug lines of `-v` runs (timed apart: they write more).

usage: prebackup_floor.py RUNS FLOOR-PROGRAM FLOOR-URI FLOOR-PASSWORD-FILE OURS...
OURS is the mongo-prebackup command line without -q/-v; the script adds them.  Exit status 1 when the
target (ours <= 1.25 x the floor, medians) is missed.
"""
import os
import re
import resource
import statistics
import sys
import time

TARGET = 1.25

# Where a run's time goes: each phase ends with the first debug line matching its pattern after the
# previous phase's.  The lines are the core's own (lib/job*.c); "exit" runs from the last to the end.
PHASES = [
    ("start: exec, libraries, config, logger", r"discovering the replica set"),
    ("discovery: hello scan, SCRAM (the key derived), config + status", r"replica set \S+: \d+ members"),
    ("majority check: currentOp on the other voter (SCRAM reusing the key)", r"chose "),
    ("command forked, waiting at its gate", r"running "),
    ("watchdog (started before discovery) told what to guard", r"told the watchdog"),
    ("intent recorded, durable (2 fsyncs)", r"recorded the intent"),
    ("session to the member", r"locking "),
    ("lock: hello, currentOp, fsync lock, hello", r"fsync-locked .*still a secondary"),
    ("command let exec; majority re-check: currentOp", r"asked .* with currentOp"),
    ("LOCKED recorded (not fsynced)", r"fsync lock on .* returned lockCount"),
    ("command ran; fsyncUnlock; record removed", r"unlocked "),
    ("watchdog stopped and reaped", r"stopped the watchdog"),
]


def quantile(xs, q):
    """The q-quantile of xs (nearest rank)."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(argv):
    """Wall and CPU time (ms) of one run, stdout/stderr to /dev/null; exits on failure."""
    devnull = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_DUP2, 1, 2)]
    c0 = children_cpu()
    t0 = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=devnull)
    _, status = os.waitpid(pid, 0)
    t1 = time.monotonic()
    if status != 0:
        sys.exit("prebackup_floor: %s failed (wait status %d)" % (" ".join(argv), status))
    return (t1 - t0) * 1000.0, (children_cpu() - c0) * 1000.0


def stamped(argv):
    """The run's stderr lines with their arrival time (ms since the spawn), and its wall time."""
    r, w = os.pipe()
    acts = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_DUP2, w, 2),
            (os.POSIX_SPAWN_CLOSE, r)]
    t0 = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=acts)
    os.close(w)
    lines, buf = [], b""
    while True:
        chunk = os.read(r, 65536)
        t = (time.monotonic() - t0) * 1000.0
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            lines.append((t, line.decode(errors="replace")))
    os.close(r)
    _, status = os.waitpid(pid, 0)
    total = (time.monotonic() - t0) * 1000.0
    if status != 0:
        sys.exit("prebackup_floor: %s failed (wait status %d)" % (" ".join(argv), status))
    return lines, total


def phases_of(lines, total):
    out, prev, k = [], 0.0, 0
    for t, line in lines:
        if k < len(PHASES) and re.search(PHASES[k][1], line):
            out.append(t - prev)
            prev, k = t, k + 1
    if k != len(PHASES):
        sys.exit("prebackup_floor: no debug line for '%s' (the breakdown's patterns no longer match the core's "
                 "lines); got:\n%s" % (PHASES[k][0], "\n".join(l for _, l in lines)))
    out.append(total - prev)
    return out


def main():
    args = sys.argv[1:]
    runs = int(args[0])
    floor, ours_base = args[1:4], args[4:]
    ours = ours_base[:1] + ["-q"] + ours_base[1:]
    ours_v = ours_base[:1] + ["-v"] + ours_base[1:]

    for argv in (ours, floor):  # warm-up (page cache, the simulator's first connections)
        for _ in range(3):
            timed(argv)
    load0 = os.getloadavg()
    wall = {"ours": [], "floor": []}
    cpu = {"ours": [], "floor": []}
    pairs = []  # ours / floor, the two runs of one iteration (back to back: the same load)
    parts = [[] for _ in range(len(PHASES) + 1)]
    vwall = []
    for i in range(runs):
        for name in (("ours", "floor") if i % 2 == 0 else ("floor", "ours")):
            w, c = timed(ours if name == "ours" else floor)
            wall[name].append(w)
            cpu[name].append(c)
        pairs.append(wall["ours"][-1] / wall["floor"][-1])
        lines, total = stamped(ours_v)
        vwall.append(total)
        for k, v in enumerate(phases_of(lines, total)):
            parts[k].append(v)
    load1 = os.getloadavg()

    med, mean = statistics.median, statistics.mean
    wo, wf = med(wall["ours"]), med(wall["floor"])
    rows = [
        ("wall time, median", "%.1f ms" % wo, "%.1f ms" % wf, "%.3f" % (wo / wf), "<= %.2f x floor" % TARGET,
         "PASS" if wo <= TARGET * wf else "FAIL"),
        ("wall time, mean", "%.1f ms" % mean(wall["ours"]), "%.1f ms" % mean(wall["floor"]),
         "%.3f" % (mean(wall["ours"]) / mean(wall["floor"])), "(median judged)", "info"),
        ("wall time, min", "%.1f ms" % min(wall["ours"]), "%.1f ms" % min(wall["floor"]),
         "%.3f" % (min(wall["ours"]) / min(wall["floor"])), "(median judged)", "info"),
        ("CPU time (user+sys, with children), median", "%.1f ms" % med(cpu["ours"]), "%.1f ms" % med(cpu["floor"]),
         "%.3f" % (med(cpu["ours"]) / med(cpu["floor"])), "(no target)", "info"),
        ("ratio of each pair (ours/floor): p10 median p90", "", "",
         "%.3f %.3f %.3f" % (quantile(pairs, 0.1), med(pairs), quantile(pairs, 0.9)), "(median judged)", "info"),
        ("pairs within the target", "", "", "%d of %d" % (sum(1 for r in pairs if r <= TARGET), len(pairs)),
         "(median judged)", "info"),
    ]
    head = ("metric", "ours", "floor", "ratio", "target", "result")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(6)]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    print()
    print("mongo-prebackup --exec -- true vs floor_libmongoc (direct connection to the member ours locks: SCRAM,"
          " fsync lock, fsyncUnlock), %d runs each, alternated; load average %.2f before, %.2f after"
          % (runs, load0[0], load1[0]))
    print(fmt % head)
    for r in rows:
        print(fmt % r)
    print("where ours goes: median of %d -v runs (%.1f ms each, median), time between the core's debug lines:"
          % (runs, med(vwall)))
    names = [p[0] for p in PHASES] + ["exit: sessions closed, libmongoc cleanup, process end"]
    for name, v in zip(names, parts):
        print("  %-72s %6.2f ms" % (name, med(v)))
    return 0 if wo <= TARGET * wf else 1


if __name__ == "__main__":
    sys.exit(main())
