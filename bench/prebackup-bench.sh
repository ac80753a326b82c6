#!/bin/bash
# prebackup-bench.sh: `make bench`: mongo-prebackup --exec -- true (discover, choose, lock, run, unlock)
# on a simulated 3-member set with SCRAM-SHA-256, against bench/baseline_pymongo.py doing the same steps
# with Debian's python3-pymongo.  Prints wall time, peak RSS and the lock window with the targets.  Then
# (bench/prebackup_floor.py) against the driver's floor, bench/floor_libmongoc (one direct connection to
# the member ours locks: SCRAM, fsync lock, fsyncUnlock), alternated in one loop, with where our time goes.
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# BENCH_RUNS (default 30) runs per measurement.  Needs hyperfine (wall time) and GNU time (/usr/bin/time,
# Debian package "time") for peak RSS.  Nothing on the measured path sleeps.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
MBH_SIM=${MBH_SIM:-$top_builddir/tests/sim/mongo-rs-sim}
MBH_PRE=${MBH_PRE:-$top_builddir/hooks/mongo-prebackup}
MBH_FLOOR=${MBH_FLOOR:-$top_builddir/bench/floor_libmongoc}
PY=/usr/bin/python3
RUNS=${BENCH_RUNS:-30}

die() {
	echo "prebackup-bench: $*" >&2
	exit 1
}
for p in "$MBH_SIM" "$MBH_PRE" "$MBH_FLOOR"; do
	[ -x "$p" ] || die "$p is not built: run make first"
done
command -v hyperfine >/dev/null || die "hyperfine is not installed"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time"
$PY -c 'import pymongo' 2>/dev/null || die "python3-pymongo is not installed for $PY"
if grep -q -- '-fsanitize' "$MBH_PRE" 2>/dev/null || nm "$MBH_PRE" 2>/dev/null | grep -q __asan_init; then
	echo "prebackup-bench: warning: $MBH_PRE is a sanitizer build; its numbers mean little" >&2
fi

# The simulator and the files, via the integration tests' helpers (TAP output of those is unused).
. "$top_srcdir/tests/integration/simlib.sh"
t_init >/dev/null
TOPO_NOOP_MS=1000 t_topology "$T_DIR/topo.conf" \
	'{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
sed -i 's/mechanisms = \[ "SCRAM-SHA-256", "SCRAM-SHA-1" \]/mechanisms = [ "SCRAM-SHA-256" ]/' "$T_DIR/topo.conf"
sim_start "$T_DIR/topo.conf" >&2 || die "the simulator did not start (see above)"
CONF=$T_DIR/bench.conf
t_config "$CONF"
PWF=$T_DIR/backup.secret
OURS=("$MBH_PRE" -c "$CONF" -q --exec -- true)
BASE=("$PY" "$top_srcdir/bench/baseline_pymongo.py" --uri "$SIM_URI" --username backup --password-file "$PWF" -- true)

BASE_OSEXIT=("$PY" "$top_srcdir/bench/baseline_pymongo.py" --os-exit "${BASE[@]:2}")
# The floor talks to the member ours chooses on this set: the passive one (member 2).
FLOOR=("$MBH_FLOOR" "mongodb://backup@$(sim_member_host 2)/admin?directConnection=true&authMechanism=SCRAM-SHA-256" "$PWF")

# Both must work before they are timed, and leave nothing locked.
"${OURS[@]}" </dev/null || die "mongo-prebackup --exec -- true failed"
"${BASE[@]}" </dev/null || die "the baseline failed"
"${FLOOR[@]}" </dev/null || die "the floor program failed"
[ "$(sim_lock_total)" = 0 ] || die "something is left locked: $(sim_lockcounts)"

# shellquote ARGS: one hyperfine command line (it splits on spaces; our paths have none but quote anyway).
shellquote() {
	local a out=""
	for a in "$@"; do
		out="$out $(printf '%q' "$a")"
	done
	echo "${out# }"
}

# ---- wall time: hyperfine, no shell in between (-N), warm-up runs first
echo "measuring wall time ($RUNS runs each) ..." >&2
hyperfine -N --warmup 3 --runs "$RUNS" --style none \
	--export-json "$T_DIR/wall.json" \
	-n ours "$(shellquote "${OURS[@]}")" \
	-n baseline "$(shellquote "${BASE[@]}")" \
	-n baseline-os-exit "$(shellquote "${BASE_OSEXIT[@]}")" \
	-n true "true" >"$T_DIR/hyperfine.out" 2>&1 || { cat "$T_DIR/hyperfine.out" >&2; die "hyperfine failed"; }

# ---- peak RSS: GNU time's maximum resident set size (KiB), worst of 5 runs
peak_rss() {
	local i kib max=0
	for i in 1 2 3 4 5; do
		/usr/bin/time -f %M -o "$T_DIR/rss" "$@" </dev/null >/dev/null 2>&1
		kib=$(tail -n 1 "$T_DIR/rss")
		[ "$kib" -gt "$max" ] && max=$kib
	done
	echo "$max"
}
echo "measuring peak RSS ..." >&2
RSS_OURS=$(peak_rss "${OURS[@]}")
RSS_BASE=$(peak_rss "${BASE[@]}")

# ---- lock window: the simulator's log times of fsync lock and fsyncUnlock on the member
echo "measuring the lock window ($RUNS runs each) ..." >&2
lock_windows() {
	local from to i
	from=$(wc -l <"$SIM_LOG")
	for i in $(seq 1 "$RUNS"); do
		"$@" </dev/null >/dev/null 2>&1
	done
	to=$(wc -l <"$SIM_LOG")
	sed -n "$((from + 1)),${to}p" "$SIM_LOG"
}
# The log is flushed per line by the simulator; the ctl round trip below makes sure it has caught up.
lock_windows "${OURS[@]}" >"$T_DIR/log.ours"
sim_ctl status >/dev/null
lock_windows "${BASE[@]}" >"$T_DIR/log.base"
sim_ctl status >/dev/null
[ "$(sim_lock_total)" = 0 ] || die "something is left locked after the runs: $(sim_lockcounts)"

# ---- against the floor, and where our time goes (printed after the first table)
echo "measuring against the floor ($RUNS runs each, alternated) ..." >&2
"$PY" "$top_srcdir/bench/prebackup_floor.py" "$RUNS" "${FLOOR[@]}" "$MBH_PRE" -c "$CONF" --exec -- true \
	</dev/null >"$T_DIR/floor.out"
FLOOR_RC=$?
[ "$FLOOR_RC" -le 1 ] || die "the comparison with the floor failed"
sim_ctl status >/dev/null
[ "$(sim_lock_total)" = 0 ] || die "something is left locked after the floor runs: $(sim_lockcounts)"

sim_stop >/dev/null

# ---- the table
$PY - "$T_DIR/wall.json" "$RSS_OURS" "$RSS_BASE" "$T_DIR/log.ours" "$T_DIR/log.base" "$RUNS" <<'EOF'
import json, re, statistics, sys

wall = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
rss_ours, rss_base = int(sys.argv[2]), int(sys.argv[3])
runs = int(sys.argv[6])

TS = [
    (re.compile(r"^\[?(\d{9,}\.\d+)"), lambda m: float(m.group(1))),
    (re.compile(r"(\d\d):(\d\d):(\d\d)[.,](\d+)"),
     lambda m: int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)) + float("0." + m.group(4))),
]

def stamp(line):
    for rx, conv in TS:
        m = rx.search(line)
        if m:
            return conv(m)
    return None

def windows(path):
    """Seconds between each 'fsync lock' and the next 'fsyncUnlock' of the same member."""
    out, start = [], {}
    for line in open(path, errors="replace"):
        m = re.search(r"member (\d+): fsync(Unlock| lock)", line)
        if not m:
            continue
        t = stamp(line)
        if t is None:
            sys.exit("prebackup-bench: no timestamp in the simulator's log line: " + line.strip())
        if m.group(2) == " lock":
            start[m.group(1)] = t
        elif m.group(1) in start:
            out.append(t - start.pop(m.group(1)))
    return out

w_ours, w_base = windows(sys.argv[4]), windows(sys.argv[5])
if len(w_ours) != runs or len(w_base) != runs:
    sys.exit("prebackup-bench: expected %d lock/unlock pairs in the log, found %d (ours) and %d (baseline)"
             % (runs, len(w_ours), len(w_base)))

ms = lambda s: s * 1000.0
o, b, t = wall["ours"], wall["baseline"], wall["true"]
true_ms = ms(t["median"])
rows = []
def row(metric, ours, base, ratio, target, ok):
    rows.append((metric, ours, base, ratio, target, "PASS" if ok else "FAIL"))

row("wall time, median", "%.1f ms" % ms(o["median"]), "%.1f ms" % ms(b["median"]),
    "%.3f" % (o["median"] / b["median"]), "<= 0.100 x baseline", o["median"] <= b["median"] / 10)
row("wall time, mean", "%.1f ms" % ms(o["mean"]), "%.1f ms" % ms(b["mean"]),
    "%.3f" % (o["mean"] / b["mean"]), "<= 0.100 x baseline", o["mean"] <= b["mean"] / 10)
row("peak RSS", "%.2f MiB" % (rss_ours / 1024), "%.2f MiB" % (rss_base / 1024),
    "%.3f" % (rss_ours / rss_base), "<= 8 MiB", rss_ours <= 8 * 1024)
lo, lb = statistics.median(w_ours), statistics.median(w_base)
row("lock window, median", "%.2f ms" % ms(lo), "%.2f ms" % ms(lb), "%.3f" % (lo / lb),
    "<= true (%.2f ms) + 5 ms" % true_ms, ms(lo) <= true_ms + 5)
mo, mb = max(w_ours), max(w_base)
row("lock window, max", "%.2f ms" % ms(mo), "%.2f ms" % ms(mb), "%.3f" % (mo / mb),
    "<= true (%.2f ms) + 5 ms" % true_ms, ms(mo) <= true_ms + 5)

bx = wall["baseline-os-exit"]
info = ("wall time, median, vs baseline --os-exit (info)", "%.1f ms" % ms(o["median"]), "%.1f ms" % ms(bx["median"]),
        "%.3f" % (o["median"] / bx["median"]), "(no target)", "info")
head = ("metric", "ours", "baseline", "ratio", "target", "result")
widths = [max(len(r[i]) for r in rows + [head, info]) for i in range(6)]
fmt = "  ".join("%%-%ds" % w for w in widths)
print("mongo-prebackup --exec -- true vs baseline_pymongo.py, 3-member set, SCRAM-SHA-256, %d runs" % runs)
print(fmt % head)
for r in rows:
    print(fmt % r)
print(fmt % info)
print("(true itself: median %.2f ms; wall times from hyperfine -N; RSS = worst of 5 runs of /usr/bin/time %%M;"
      " lock window = simulator log time of fsyncUnlock - fsync lock, 1 ms resolution;"
      " --os-exit = the baseline without PyMongo's exit-time thread joins)" % true_ms)
sys.exit(0 if all(r[5] == "PASS" for r in rows) else 1)
EOF
TABLE_RC=$?
cat "$T_DIR/floor.out"
[ "$TABLE_RC" = 0 ] && [ "$FLOOR_RC" = 0 ]
