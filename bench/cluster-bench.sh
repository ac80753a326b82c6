#!/bin/bash
# cluster-bench.sh: `make bench-cluster`: a sharded cluster's backup (issue 18's benchmarks), on simulated
# clusters of 3 and 10 shards (tests/integration/sim-cluster.sh: one simulator per shard, one for the
# CSRS, one for the routers), each against one replica set of the same shape, measured in one run:
#   online mode: the skew between the first and the last lock (target <= 2 round trips of the slowest
#   locked member, measured by ping in the same run), each member's lock time, the lock window, and the
#   wall time of mongo-prebackup --exec -- true against the same on one set (target <= 1.5 x at 10 shards);
#   exact mode: the write pause against one snapshot's window (target <= 2 x): the baseline (a set in
#   snapshot mode on a btrfs loop device; needs root) is measured; while the product refuses exact mode,
#   that refusal is said as such: not measurable yet.
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# BENCH_RUNS (default 15) rounds per cluster size; BENCH_SHARDS (default "3 10").  Needs python3-pymongo
# (its bson module, for the pings).  Not a test: it prints figures and a verdict; exit 1 when a target is
# missed.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
MBH_SIM=${MBH_SIM:-$top_builddir/tests/sim/mongo-rs-sim}
MBH_PRE=${MBH_PRE:-$top_builddir/hooks/mongo-prebackup}
MBH_POST=${MBH_POST:-$top_builddir/hooks/mongo-postbackup}
export MBH_SIM MBH_PRE MBH_POST
PY=/usr/bin/python3
RUNS=${BENCH_RUNS:-15}
SHARDS=${BENCH_SHARDS:-3 10}

die() {
	echo "cluster-bench: $*" >&2
	exit 2
}
for p in "$MBH_SIM" "$MBH_PRE" "$MBH_POST" "${MONGO_BACKUP_WATCHDOG:-}"; do
	[ -x "$p" ] || die "${p:-MONGO_BACKUP_WATCHDOG} is not built: run make first (or make bench-cluster)"
done
$PY -c 'import bson, pymongo' 2>/dev/null || die "python3-pymongo is not installed for $PY"
if nm "$MBH_PRE" 2>/dev/null | grep -q __asan_init; then
	echo "cluster-bench: warning: $MBH_PRE is a sanitizer build; its numbers mean little" >&2
fi

. "$top_srcdir/tests/integration/simlib.sh"
# shellcheck source=../tests/integration/sim-cluster.sh
. "$top_srcdir/tests/integration/sim-cluster.sh"

# The simulators log to the microsecond (the skew is a fraction of a millisecond on loopback): through a
# wrapper, as simc_start starts them with fixed arguments.
SIM_REAL=$MBH_SIM
sim_usec() {
	MBH_SIM=$T_DIR/mongo-rs-sim
	printf '#!/bin/sh\ncase $1 in ctl | verify) exec %q "$@" ;; esac\nexec %q --log-usec "$@"\n' \
		"$SIM_REAL" "$SIM_REAL" >"$MBH_SIM" && chmod +x "$MBH_SIM"
}

# online N: a cluster of N shards and one set of the same shape (P-S-S, the shards' topology file), measured
# in alternation by bench/cluster_bench.py.  Run in a subshell: its own directory, its simulators stopped
# at its exit.  Exit 0, 1 (a target missed) or 2.
online() {
	local n=$1 c logs=() r locks
	t_init >/dev/null
	T_PASS=backup-pw # the cluster topologies' user
	sim_usec || die "cannot write $T_DIR/mongo-rs-sim"
	echo "starting a simulated cluster of $n shards and one set ..." >&2
	simc_start "$n" >&2 || die "the simulated cluster did not start"
	CFG_URI=$SIMC_URI t_config "$T_DIR/cluster.conf"
	logs=("config=$(dirname "$SIMC_CONFIG_CTL")/sim.log")
	# shellcheck disable=SC2086 # the names (sh0 ...) are words by design
	set -- $SIMC_SHARD_NAMES
	for c in $SIMC_SHARD_CTLS; do
		logs+=("$1=$(dirname "$c")/sim.log")
		shift
	done
	sim_start "$SIMC_TOPOS/cluster-shard.conf" --set-name one >&2 || die "the simulated set did not start"
	t_config "$T_DIR/set.conf"
	# both must work before they are timed, and leave nothing locked
	"$MBH_PRE" -c "$T_DIR/cluster.conf" -q --exec -- true </dev/null ||
		die "mongo-prebackup --exec -- true failed on the cluster"
	"$MBH_PRE" -c "$T_DIR/set.conf" -q --exec -- true </dev/null || die "mongo-prebackup --exec -- true failed on the set"
	echo "measuring $RUNS rounds (cluster and set alternately) ..." >&2
	"$PY" "$top_srcdir/bench/cluster_bench.py" "$RUNS" "$n" "$MBH_PRE" "$T_DIR/cluster.conf" "$T_DIR/set.conf" \
		"$SIM_LOG" "${logs[@]}" </dev/null
	r=$?
	[ "$r" -le 1 ] || die "the measurement failed"
	locks=$(simc_locks)
	! grep -q ":[1-9]" <<<"$locks" || die "something is left locked: $locks"
	return "$r"
}

# snapshot_window: the target's baseline, one snapshot's window: a P-S-S set in snapshot mode whose locked
# member (the passive one) keeps its directory on a btrfs subvolume on a loop device; RUNS runs of
# --exec -- true (lock, snapshot-btrfs, unlock); the window by the simulator's clock.  Prints
# "median min max runs create-median" in ms, or nothing with the reason on stderr.  Run in a subshell (it mounts).
snapshot_window() {
	local c i
	[ "$(id -u)" = 0 ] || { echo "needs root (losetup, mount)" >&2; return 1; }
	for c in losetup mkfs.btrfs btrfs mount umount mountpoint; do
		command -v "$c" >/dev/null 2>&1 || { echo "$c is missing (btrfs-progs, mount)" >&2; return 1; }
	done
	t_init >/dev/null
	sim_usec || die "cannot write $T_DIR/mongo-rs-sim"
	trap 'sim_stop >/dev/null 2>&1; t_btrfs_unmount; t_cleanup >/dev/null' EXIT
	t_btrfs_mount >&2 # a refusal: a TAP skip line with the reason, and exit
	btrfs subvolume create "$MNT/member2" >/dev/null || { echo "cannot create a subvolume" >&2; return 1; }
	mkdir "$MNT/snapshots" "$T_DIR/data" && ln -s "$MNT/member2" "$T_DIR/data/2" || return 1
	t_topology "$T_DIR/topo.conf" '{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
	sim_start "$T_DIR/topo.conf" --data-dir "$T_DIR/data" >&2 || { echo "the simulator did not start" >&2; return 1; }
	t_config "$T_DIR/snap.conf" \
		"snapshot = { create = [ \"$top_srcdir/conf/scripts/snapshot-btrfs\", \"create\", \"$MNT/member2\", \"$MNT/snapshots\", \"%s-%j\" ];
		  remove = [ \"$top_srcdir/conf/scripts/snapshot-btrfs\", \"remove\", \"%S\" ]; timeout = 60; };"
	for i in $(seq 1 "$RUNS"); do
		if ! "$MBH_PRE" -c "$T_DIR/snap.conf" --job "snap$i" --exec -- true </dev/null 2>>"$T_DIR/snap.err" ||
			! "$MBH_POST" -c "$T_DIR/snap.conf" -q --job "snap$i" </dev/null; then
			echo "mongo-prebackup --exec (then mongo-postbackup) in snapshot mode failed" >&2
			return 1
		fi
	done
	sim_ctl status >/dev/null # the log has caught up
	[ "$(grep -c ' taken in [0-9]* ms' "$T_DIR/snap.err")" = "$RUNS" ] ||
		{ echo "not every run says its snapshot was taken" >&2; return 1; }
	"$PY" - "$SIM_LOG" "$T_DIR/snap.err" <<'PY'
import re, statistics, sys
from datetime import datetime
ms = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000.0
w, start = [], None
for line in open(sys.argv[1]):
    m = re.match(r"(\S+Z) member 2: (fsync lock|fsyncUnlock),", line)
    if m and m.group(2) == "fsync lock":
        start = ms(m.group(1))
    elif m and start is not None:
        w.append(ms(m.group(1)) - start)
        start = None
taken = [int(t) for t in re.findall(r" taken in (\d+) ms", open(sys.argv[2]).read())]
print("%.1f %.1f %.1f %d %d" % (statistics.median(w), min(w), max(w), len(w), statistics.median(taken)))
PY
}

# exact: exact mode on 3 shards, measurable only once the product takes it.  Run in a subshell.
exact() {
	local erc base
	t_init >/dev/null
	T_PASS=backup-pw
	echo "exact mode, 3 shards (btrfs snapshots on loop devices; target: write pause <= 2 x one snapshot's window)"
	simc_start 3 >&2 || die "the simulated cluster did not start"
	CFG_URI=$SIMC_URI t_config "$T_DIR/exact.conf" 'cluster = { mode = "exact"; };' \
		"snapshot = { create = [ \"/bin/echo\", \"$T_DIR/no-snapshot\" ]; remove = [ \"/bin/true\" ]; timeout = 60; };"
	"$MBH_PRE" -c "$T_DIR/exact.conf" --dry-run </dev/null >"$T_DIR/exact.out" 2>&1
	erc=$?
	base=$( (snapshot_window) 2>"$T_DIR/base.err")
	if [ -n "$base" ]; then
		read -r -a base <<<"$base"
		echo "baseline, one snapshot's window (a P-S-S set in snapshot mode, btrfs on a loop device, ${base[3]} runs):" \
			"median ${base[0]} ms (${base[1]}-${base[2]}), of which snapshot.create ${base[4]} ms (median); the target: a write pause <= $(awk -v m="${base[0]}" 'BEGIN { printf "%.1f", 2 * m }') ms"
	else
		echo "baseline, one snapshot's window: not measured: $(tail -n 1 "$T_DIR/base.err")"
	fi
	if [ "$erc" != 0 ] && grep -q 'not implemented yet' "$T_DIR/exact.out"; then
		echo "ours: not measurable yet: mongo-prebackup --dry-run refuses cluster.mode \"exact\" (exit $erc):"
		grep -m1 'not implemented' "$T_DIR/exact.out" | sed 's/^/  /'
		echo "result: n/a (nothing to measure; not counted as a failure)"
		return 0
	fi
	# the product takes exact mode now: this part has to be written (a btrfs loop device under each primary's
	# data directory, the write pause from the routers' held writes); say so, do not pretend
	echo "mongo-prebackup --dry-run no longer refuses exact mode (exit $erc); this bench does not measure it yet:"
	sed 's/^/  /' "$T_DIR/exact.out"
	echo "result: FAIL (the exact-mode measurement is still to be written)"
	return 1
}

rc=0
for n in $SHARDS; do
	echo "load: $(uptime)"
	(online "$n")
	r=$?
	[ "$r" -le 1 ] || exit 2
	[ "$r" = 0 ] || rc=1
	echo
done
echo "load: $(uptime)"
(exact)
r=$?
[ "$r" -le 1 ] || exit 2
[ "$r" = 0 ] || rc=1
echo "load: $(uptime)"
exit "$rc"
