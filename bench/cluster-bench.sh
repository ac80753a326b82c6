#!/bin/bash
# cluster-bench.sh: `make bench-cluster`: online mode on simulated sharded clusters of 3 and 10 shards
# (one CSRS, each set P-S-S, on loopback): the skew between the first and the last lock (median of the
# runs, against the target of 2 round trips of the slowest member), the time of `--exec -- true` on the
# cluster against one replica set's (target: <= 1.5x at 10 shards).  Not a test: it prints figures.
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# BENCH_RUNS (default 15) runs per measurement; BENCH_SHARDS (default "3 10").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
RUNS=${BENCH_RUNS:-15}
PY=/usr/bin/python3

. "$top_srcdir/tests/integration/simlib.sh"
. "$top_srcdir/tests/integration/sim-cluster.sh"
t_init >/dev/null
T_PASS=backup-pw

die() {
	echo "cluster-bench: $*" >&2
	exit 1
}

# median: the median of the numbers on stdin.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# runs CONF NAME: RUNS times `--exec -- true`; wall ms per run in $T_DIR/NAME.ms, skews in NAME.skew.
runs() {
	local conf=$1 name=$2 i t0 t1
	: >"$T_DIR/$name.ms"
	: >"$T_DIR/$name.skew"
	for ((i = 0; i < RUNS; i++)); do
		t0=$(date +%s%N)
		"$MBH_PRE" -c "$conf" --exec -- true </dev/null 2>"$T_DIR/$name.err" || die "$name: --exec failed: $(cat "$T_DIR/$name.err")"
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000000)) >>"$T_DIR/$name.ms"
		sed -n 's/.*locked (skew \([0-9]*\) ms).*/\1/p' "$T_DIR/$name.err" >>"$T_DIR/$name.skew"
	done
}

# rtt CONF: the median ms of 20 pings to every member of the sets behind the config servers and shards.
rtt() {
	"$PY" - "$@" <<'PY'
import sys, time, statistics, pymongo
hosts = sys.argv[1:]
worst = 0.0
for h in hosts:
    c = pymongo.MongoClient("mongodb://%s/?directConnection=true" % h)
    c.admin.command("ping")
    ts = []
    for _ in range(20):
        t = time.perf_counter(); c.admin.command("ping"); ts.append((time.perf_counter() - t) * 1000)
    worst = max(worst, statistics.median(ts))
    c.close()
print("%.2f" % worst)
PY
}

# One replica set: the cluster's shard topology alone.
sim_start "$SIMC_TOPOS/cluster-shard.conf" --set-name rs0 >&2 || die "the set does not start"
CFG_URI="$SIM_URI" t_config "$T_DIR/set.conf"
runs "$T_DIR/set.conf" set
SET_MS=$(median <"$T_DIR/set.ms")
printf '%-28s %8s %10s %12s %14s\n' "target" "runs" "exec ms" "skew ms" "member rtt ms"
printf '%-28s %8d %10s %12s %14s\n' "one replica set" "$RUNS" "$SET_MS" "-" "-"

for n in ${BENCH_SHARDS:-3 10}; do
	simc_start "$n" >&2 || die "a cluster of $n shards does not start"
	CFG_URI="$SIMC_URI" t_config "$T_DIR/c$n.conf"
	runs "$T_DIR/c$n.conf" "c$n"
	HOSTS=$(for c in "$SIMC_CONFIG_CTL" $SIMC_SHARD_CTLS; do simc_ctl "$c" status | sed -n 's/^id=[0-9]* host=\([^ ]*\) .*/\1/p'; done)
	# shellcheck disable=SC2086 # host:port words
	RTT=$(rtt $HOSTS)
	MS=$(median <"$T_DIR/c$n.ms")
	SKEW=$(median <"$T_DIR/c$n.skew")
	printf '%-28s %8d %10s %12s %14s\n' "cluster, $n shards + CSRS" "$RUNS" "$MS" "$SKEW" "$RTT"
	echo "  exec time against one set: $(awk -v a="$MS" -v b="$SET_MS" 'BEGIN { printf "%.2fx", a / b }') (target <= 1.5x at 10 shards);" \
		"skew $SKEW ms against 2 round trips of the slowest member: $(awk -v r="$RTT" 'BEGIN { printf "%.2f", 2 * r }') ms"
	for c in $SIMC_SHARD_CTLS "$SIMC_CONFIG_CTL" "$SIMC_CTL"; do simc_ctl "$c" shutdown >/dev/null 2>&1; done
done
