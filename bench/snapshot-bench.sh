#!/bin/bash
# snapshot-bench.sh: `make bench-snapshot`: the lock window against the size of the locked member's data
# directory (64 MiB, 512 MiB, 2 GiB), plain mode (mongo-prebackup --exec copies the directory under the
# lock: the baseline) against snapshot mode (lock, conf/scripts/snapshot-btrfs, unlock, then the copy
# reads the snapshot: ours), side by side in one run.  The window is the simulator's own clock: the time
# between its log lines for the member's fsync lock and fsyncUnlock (1 ms resolution).
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# Needs root, losetup, mkfs.btrfs (btrfs-progs), about 5 GiB free in $TMPDIR (a sparse image file) and
# python3.  BENCH_SIZES_MIB (default "64 512 2048"), BENCH_RUNS_PLAIN (default 3), BENCH_RUNS_SNAPSHOT
# (default 20).  The targets are judged on the median window; the max is shown beside it.  Two more
# rows split the snapshot-mode window: snapshot.create's own time (from mongo-prebackup's "taken in N
# ms"), and the window with a create that only prints a path (/bin/echo: the product's own part, the
# spawn of create, its output, the record, the fsyncUnlock); a last row times `btrfs subvolume snapshot
# -r` by itself, outside any lock: the floor the filesystem and the machine set.  The member's directory is the simulator's records plus a ballast file of random bytes
# standing for the collections, on a btrfs subvolume of its own on a loop device backed by a file; the
# other members' directories are elsewhere, as on their own hosts.  The copy goes to $TMPDIR.  Caches
# are left warm (nothing here drops them for the whole machine), so plain mode's figures are a floor.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
PY=/usr/bin/python3
SIZES=${BENCH_SIZES_MIB:-64 512 2048}
RUNS_PLAIN=${BENCH_RUNS_PLAIN:-3}
RUNS_SNAP=${BENCH_RUNS_SNAPSHOT:-20}

die() {
	echo "snapshot-bench: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (losetup, mount, btrfs snapshots)"
for c in losetup mkfs.btrfs btrfs mount umount mountpoint; do
	command -v "$c" >/dev/null 2>&1 || die "$c is missing (Debian packages btrfs-progs, mount)"
done
$PY -c 'import statistics' 2>/dev/null || die "$PY is missing"

. "$top_srcdir/tests/integration/simlib.sh"
for p in "$MBH_SIM" "$MBH_PRE" "$MBH_POST" "${MONGO_BACKUP_WATCHDOG:-}"; do
	[ -x "$p" ] || die "${p:-MONGO_BACKUP_WATCHDOG} is not built: run make first (or make bench-snapshot)"
done
if nm "$MBH_PRE" 2>/dev/null | grep -q __asan_init; then
	echo "snapshot-bench: warning: $MBH_PRE is a sanitizer build; its numbers mean little" >&2
fi
t_init >/dev/null

LOOP=""
MNT=$T_DIR/mnt
bench_cleanup() {
	local rc=$?
	sim_stop >/dev/null 2>&1
	if mountpoint -q "$MNT" 2>/dev/null; then
		umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || echo "snapshot-bench: cannot unmount $MNT" >&2
	fi
	[ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null || echo "snapshot-bench: cannot detach $LOOP" >&2
	(exit "$rc")
	t_cleanup >/dev/null
}
trap bench_cleanup EXIT

max_mib=0
for s in $SIZES; do [ "$s" -gt "$max_mib" ] && max_mib=$s; done
truncate -s "$((max_mib * 2 + 1024))M" "$T_DIR/btrfs.img" || die "cannot create the image file"
LOOP=$(losetup --find --show "$T_DIR/btrfs.img") || { LOOP=""; die "losetup refused a loop device"; }
mkfs.btrfs -q "$LOOP" >/dev/null 2>&1 || die "mkfs.btrfs $LOOP failed"
mkdir "$MNT" && mount -t btrfs "$LOOP" "$MNT" || die "cannot mount btrfs"
btrfs subvolume create "$MNT/member2" >/dev/null || die "cannot create a subvolume"
mkdir "$MNT/snapshots"

# The set: member 2 (priority 0, the one locked) keeps its directory on the subvolume.
DATA=$T_DIR/data
mkdir "$DATA"
ln -s "$MNT/member2" "$DATA/2"
TOPO_NOOP_MS=1000 t_topology "$T_DIR/topo.conf" \
	'{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
sim_start "$T_DIR/topo.conf" --data-dir "$DATA" >&2 || die "the simulator did not start"
sim_ctl write 1000 >/dev/null
PLAIN=$T_DIR/plain.conf
SNAPC=$T_DIR/snapshot.conf
t_config "$PLAIN"
t_config "$SNAPC" \
	"snapshot = { create = [ \"$top_srcdir/conf/scripts/snapshot-btrfs\", \"create\", \"$MNT/member2\", \"$MNT/snapshots\", \"%s-%j\" ];
	  remove = [ \"$top_srcdir/conf/scripts/snapshot-btrfs\", \"remove\", \"%S\" ]; timeout = 60; };"
ECHOC=$T_DIR/echo.conf
t_config "$ECHOC" "snapshot = { create = [ \"/bin/echo\", \"$T_DIR/no-snapshot\" ]; remove = [ \"/bin/true\" ]; timeout = 60; };"
COPY=$T_DIR/copy
CREATE_MS=$T_DIR/create-ms

# windows N MODE: N runs of --exec copying the member's directory (plain) or its snapshot (snapshot) with
# cp -a (no reflinks) to $COPY, each copy verified; prints each lock window (ms, from the simulator's log)
# on a line.
windows() {
	local n=$1 mode=$2 i from
	from=$(wc -l <"$SIM_LOG")
	for i in $(seq 1 "$n"); do
		rm -rf "$COPY"
		if [ "$mode" = plain ]; then
			"$MBH_PRE" -c "$PLAIN" -q --job "bench$i" --exec -- cp -a --reflink=never "$DATA/2/" "$COPY" </dev/null
		elif [ "$mode" = echo ]; then
			"$MBH_PRE" -c "$ECHOC" -q --job "bench$i" --exec -- true </dev/null
			continue
		else
			"$MBH_PRE" -c "$SNAPC" --job "bench$i" --exec -- \
				sh -c 'exec cp -a --reflink=never "$MONGO_BACKUP_SNAPSHOT/" "$1"' sh "$COPY" </dev/null 2>"$T_DIR/pre.err"
		fi || die "mongo-prebackup --exec failed in $mode mode"
		[ "$mode" = plain ] || sed -n 's/.* taken in \([0-9]*\) ms.*/\1/p' "$T_DIR/pre.err" >>"$CREATE_MS"
		simcheck=$("$MBH_SIM" verify "$COPY/" 2>&1) || die "the copy does not verify: $simcheck"
	done
	rm -rf "$COPY"
	sim_ctl status >/dev/null # the log has caught up
	sed -n "$((from + 1)),\$p" "$SIM_LOG" | $PY -c '
import re, sys
def ms(stamp):
    m = re.match(r"\d{4}-\d\d-\d\dT(\d\d):(\d\d):(\d\d)\.(\d{3})Z", stamp)
    return ((int(m.group(1)) * 60 + int(m.group(2))) * 60 + int(m.group(3))) * 1000 + int(m.group(4))
start = None
for line in sys.stdin:
    stamp = line.split(" ", 1)[0]
    if " member 2: fsync lock" in line:
        start = ms(stamp)
    elif " member 2: fsyncUnlock" in line and start is not None:
        print(ms(stamp) - start)
        start = None
'
}

RESULTS=$T_DIR/results
: >"$RESULTS"
for mib in $SIZES; do
	echo "size $mib MiB: writing the ballast ..." >&2
	records=$(stat -c %s "$MNT/member2/data")
	head -c "$((mib * 1024 * 1024 - records))" /dev/urandom >"$MNT/member2/ballast" || die "cannot write the ballast"
	sync -f "$MNT/member2/ballast"
	size=$(du -sb "$MNT/member2" | cut -f1)
	echo "size $mib MiB: plain mode, $RUNS_PLAIN runs ..." >&2
	plain=$(windows "$RUNS_PLAIN" plain | tr '\n' ' ')
	echo "size $mib MiB: snapshot mode, $RUNS_SNAP runs ..." >&2
	: >"$CREATE_MS"
	snap=$(windows "$RUNS_SNAP" snapshot | tr '\n' ' ')
	created=$(tr '\n' ' ' <"$CREATE_MS")
	[ "$(sim_lock_total)" = 0 ] || die "something is left locked: $(sim_lockcounts)"
	[ -z "$(ls "$MNT/snapshots")" ] || die "snapshots are left: $(ls "$MNT/snapshots")"
	echo "$mib $size plain $plain" >>"$RESULTS"
	echo "$mib $size snapshot $snap" >>"$RESULTS"
	echo "$mib $size create $created" >>"$RESULTS"
done
echo "snapshot.create = /bin/echo, $RUNS_SNAP runs ..." >&2
echo "0 0 echo $(windows "$RUNS_SNAP" echo | tr '\n' ' ')" >>"$RESULTS"
echo "btrfs subvolume snapshot -r by itself, $RUNS_SNAP runs ..." >&2
floor=""
for i in $(seq 1 "$RUNS_SNAP"); do
	s=$(date +%s%N)
	btrfs subvolume snapshot -r "$MNT/member2" "$MNT/snapshots/floor-$i" >/dev/null || die "btrfs subvolume snapshot failed"
	e=$(date +%s%N)
	floor="$floor $(((e - s) / 1000000))"
	btrfs subvolume delete "$MNT/snapshots/floor-$i" >/dev/null || die "btrfs subvolume delete failed"
done
echo "0 0 floor$floor" >>"$RESULTS"
sim_stop >/dev/null

$PY - "$RESULTS" "$RUNS_PLAIN" "$RUNS_SNAP" <<'EOF'
import statistics, sys

rows = {}
echo, floor = [], []
for line in open(sys.argv[1]):
    f = line.split()
    mib, size, mode, w = int(f[0]), int(f[1]), f[2], [int(x) for x in f[3:]]
    if mode == "echo":
        echo = w
        continue
    if mode == "floor":
        floor = w
        continue
    rows.setdefault(mib, {"size": size})[mode] = w
runs_plain, runs_snap = int(sys.argv[2]), int(sys.argv[3])
for mib, r in rows.items():
    if len(r.get("plain", [])) != runs_plain or len(r.get("snapshot", [])) != runs_snap:
        sys.exit("snapshot-bench: %d MiB: expected %d and %d lock/unlock pairs in the log, found %d and %d"
                 % (mib, runs_plain, runs_snap, len(r.get("plain", [])), len(r.get("snapshot", []))))

table = []
ok_all = True
def add(metric, ours, base, ratio, target, ok):
    global ok_all
    table.append((metric, ours, base, ratio, target, "info" if ok is None else "PASS" if ok else "FAIL"))
    ok_all = ok_all and ok is not False

sizes = sorted(rows)
for mib in sizes:
    r = rows[mib]
    so, sm, po = statistics.median(r["snapshot"]), max(r["snapshot"]), statistics.median(r["plain"])
    label = "%d MiB" % mib if mib < 1024 else "%g GiB" % (mib / 1024)
    add("lock window %s, median" % label, "%.0f ms" % so, "%.0f ms" % po, "%.3f" % (so / po if po else 0),
        "<= 50 ms", so <= 50)
    add("lock window %s, max" % label, "%.0f ms" % sm, "%.0f ms" % max(r["plain"]),
        "%.3f" % (sm / max(r["plain"]) if max(r["plain"]) else 0), "(median judged)", None)
    if r.get("create"):
        add("  of which snapshot.create, median", "%.0f ms" % statistics.median(r["create"]), "-", "-", "-", None)
lo, hi = sizes[0], sizes[-1]
s_lo, s_hi = statistics.median(rows[lo]["snapshot"]), statistics.median(rows[hi]["snapshot"])
p_lo, p_hi = statistics.median(rows[lo]["plain"]), statistics.median(rows[hi]["plain"])
add("window %d MiB / window %d MiB (growth)" % (hi, lo), "%.2fx" % (s_hi / max(s_lo, 1)),
    "%.2fx" % (p_hi / max(p_lo, 1)), "-", "<= 1.5x", s_hi <= 1.5 * max(s_lo, 1))
if echo:
    add("window, create = /bin/echo (the product's part)", "%.0f ms (max %d)" % (statistics.median(echo), max(echo)),
        "-", "-", "-", None)
if floor:
    add("btrfs subvolume snapshot -r alone (no lock)", "%.0f ms (max %d)" % (statistics.median(floor), max(floor)),
        "-", "-", "-", None)

head = ("metric", "ours (snapshot)", "baseline (plain)", "ratio", "target", "result")
widths = [max(len(str(r[i])) for r in table + [head]) for i in range(6)]
fmt = "  ".join("%%-%ds" % w for w in widths)
print("lock window vs data size: snapshot mode (btrfs, conf/scripts/snapshot-btrfs) vs plain mode (cp -a under "
      "the lock); %d snapshot runs and %d plain runs per size" % (runs_snap, runs_plain))
print(fmt % head)
for r in table:
    print(fmt % r)
print("(window = simulator log time of fsyncUnlock - fsync lock on the member, 1 ms resolution; member data = "
      + ", ".join("%d MiB: %d bytes" % (m, rows[m]["size"]) for m in sizes)
      + "; btrfs on a loop device over a file; warm page cache)")
print("all windows (ms): " + "; ".join("%d MiB snapshot %s plain %s" % (m, rows[m]["snapshot"], rows[m]["plain"])
                                       for m in sizes) + "; create=/bin/echo %s; btrfs alone %s" % (echo, floor))
sys.exit(0 if ok_all else 1)
EOF
