#!/bin/bash
# cluster-bench.sh: `make bench-cluster`: a sharded cluster's backup (issue 18's benchmarks), on simulated
# clusters of 3 and 10 shards (tests/integration/sim-cluster.sh: one simulator per shard, one for the
# CSRS, one for the routers), each against one replica set of the same shape, measured in one run:
#   online mode: the skew between the first and the last lock (target <= 2 round trips of the slowest
#   locked member, measured by ping in the same run), each member's lock time, the lock window, and the
#   wall time of mongo-prebackup --exec -- true against the same on one set (target <= 1.5 x at 10 shards);
#   exact mode (3 shards): the write pause (MONGO_BACKUP_PAUSE_MS, and a writer's longest gap between
#   acknowledged inserts through the mongos) with every primary on btrfs and snapshot-btrfs as
#   snapshot.create, against one snapshot's window (a set in snapshot mode on the same btrfs loop device)
#   measured alternately in the same run (target <= 2 x).  Needs root; without it, said and not counted.
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

# exact: exact mode on 3 shards against its baseline, in one run: one btrfs filesystem on a loop device per
# component, as each primary has its own disk (snapshots on one filesystem commit one after another): the
# CSRS's and every shard's members' data directories (SIMC_DATA_DIR/NAME, a link to FS/mnt) are subvolumes,
# reached by the member's port (T_DIR/port/PORT, a link: snapshot.create gets %p); and one P-S-S set in
# snapshot mode whose passive member's directory is a subvolume of a fifth.  bench/exact_bench.py alternates
# the two under a writer through the mongos.  Needs root.  Run in a subshell: it mounts; its EXIT trap
# stops the simulators, unmounts and detaches what it made, removes the files.
exact() {
	local c fs id port ctls logs=() floor=() r snap=$top_srcdir/conf/scripts/snapshot-btrfs
	mnts=() loops=() # not local: the EXIT trap runs after the return
	echo "exact mode, 3 shards (btrfs snapshots on loop devices; target: write pause <= 2 x one snapshot's window)"
	[ "$(id -u)" = 0 ] || { echo "result: not measured: needs root (losetup, mount)"; return 0; }
	for c in losetup mkfs.btrfs btrfs mount umount mountpoint; do
		command -v "$c" >/dev/null 2>&1 || { echo "result: not measured: $c is missing (btrfs-progs, mount)"; return 0; }
	done
	t_init >/dev/null
	T_PASS=backup-pw # the cluster topologies' user
	sim_usec || die "cannot write $T_DIR/mongo-rs-sim"
	# shellcheck disable=SC2154 # p: the trap's own loop variable
	trap 'for p in $(t_alive_entries .sims); do t_kill "$p"; done
		for i in "${!mnts[@]}"; do MNT=${mnts[$i]} LOOP=${loops[$i]} t_btrfs_unmount; done
		MNT="" LOOP=""; t_cleanup >/dev/null' EXIT
	mkdir "$T_DIR/data" "$T_DIR/port" || return 2
	for fs in csrs sh0 sh1 sh2 set; do
		mkdir "$T_DIR/fs-$fs" || return 2
		T_DIR=$T_DIR/fs-$fs t_btrfs_mount >&2 # a refusal: a TAP skip line with the reason, and exit
		mnts+=("$MNT")
		loops+=("$LOOP")
		mkdir "$MNT/snapshots" || return 2
		for id in 0 1 2; do
			[ "$fs" != set ] || [ "$id" = 2 ] || continue
			btrfs subvolume create "$MNT/$id" >/dev/null || die "cannot create a btrfs subvolume on $LOOP"
		done
		[ "$fs" = set ] || floor+=("$MNT/0:$MNT/snapshots") # the primary's (member 0 in the cluster topologies)
	done
	ln -s ../fs-csrs/mnt "$T_DIR/data/config" && for id in 0 1 2; do ln -s "../fs-sh$id/mnt" "$T_DIR/data/sh$id"; done ||
		return 2
	echo "starting a simulated cluster of 3 shards and one set, their data on ${loops[*]} ..." >&2
	SIMC_DATA_DIR=$T_DIR/data simc_start 3 >&2 || die "the simulated cluster did not start"
	ctls=("csrs=$SIMC_CONFIG_CTL")
	read -r -a c <<<"$SIMC_SHARD_CTLS"
	for id in 0 1 2; do ctls+=("sh$id=${c[$id]}"); done
	for c in "${ctls[@]}"; do
		logs+=("$(dirname "${c#*=}")/sim.log")
		while read -r id port; do
			ln -s "../fs-${c%%=*}/mnt/$id" "$T_DIR/port/$port" || return 2
		done < <(simc_ctl "${c#*=}" status | sed -n 's/^id=\([0-9]*\) host=[^ ]*:\([0-9]*\) .*/\1 \2/p')
	done
	[ "$(find "$T_DIR/port" -type l | wc -l)" = 12 ] || die "cannot tell the cluster members' ports"
	CFG_URI=$SIMC_URI t_config "$T_DIR/exact.conf" 'cluster = { mode = "exact"; };' \
		"snapshot = { create = [ \"$snap\", \"create\", \"$T_DIR/port/%p\", \"$T_DIR/fs-%s/mnt/snapshots\", \"%s-%j\" ];
		  remove = [ \"$snap\", \"remove\", \"%S\" ]; timeout = 60; };"
	t_topology "$T_DIR/topo.conf" '{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
	sim_start "$T_DIR/topo.conf" --data-dir "$T_DIR/fs-set/mnt" >&2 || die "the simulated set did not start"
	t_config "$T_DIR/set.conf" \
		"snapshot = { create = [ \"$snap\", \"create\", \"$T_DIR/fs-set/mnt/2\", \"$T_DIR/fs-set/mnt/snapshots\", \"%s-%j\" ];
		  remove = [ \"$snap\", \"remove\", \"%S\" ]; timeout = 60; };"
	# both must work before they are timed, and leave nothing behind
	for c in exact set; do
		"$MBH_PRE" -c "$T_DIR/$c.conf" -q --job "warm-$c" --exec -- true </dev/null &&
			"$MBH_POST" -c "$T_DIR/$c.conf" -q --job "warm-$c" </dev/null || die "mongo-prebackup --exec -- true failed ($c)"
	done
	echo "measuring $RUNS rounds (exact and the baseline alternately, a writer through the mongos) ..." >&2
	EXACT_SNAPSHOT=$snap EXACT_FLOOR="${floor[*]}" \
		"$PY" "$top_srcdir/bench/exact_bench.py" "$RUNS" "$MBH_PRE" "$MBH_POST" "$T_DIR/exact.conf" "$T_DIR/set.conf" \
		"$SIMC_URI" "$T_DIR" "$SIM_LOG" "${logs[@]}" </dev/null
	r=$?
	[ "$r" -le 1 ] || die "the measurement failed"
	! grep -q ":[1-9]" <<<"$(simc_locks)" || die "something is left locked: $(simc_locks)"
	for c in "${mnts[@]}"; do
		[ -z "$(ls -A "$c/snapshots")" ] || die "snapshots are left in $c/snapshots: $(ls "$c/snapshots")"
	done
	return "$r"
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
