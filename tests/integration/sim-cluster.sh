# sim-cluster.sh: start and inspect a simulated sharded cluster (one mongo-rs-sim per shard, one for
# the CSRS, one for the mongos routers) from a shell test. Source it after simlib.sh (or sim-harness.sh):
#   simc_start 3 || exit 1            # shards sh0 sh1 sh2, CSRS "csrs", two routers
#   pymongo/libmongoc/mongosh ... "$SIMC_URI" ...
#   simc_locks                        # "csrs:0:1,1:0,2:0 sh0:0:1,1:0,2:0 ..."
# Every simulator is remembered by simlib, so the test's cleanup stops them all.
# SPDX-License-Identifier: AGPL-3.0-or-later

SIMC_TOPOS=${SIMC_TOPOS:-$top_srcdir/tests/sim/topologies}

# simc_start NSHARDS [MONGOS-TOPOLOGY [SHARD-TOPOLOGY [CONFIG-TOPOLOGY]]]: start the cluster. Sets
# SIMC_URI (the routers' seed), SIMC_CTL (the routers' control socket), SIMC_CONFIG_CTL, and
# SIMC_SHARD_CTLS / SIMC_SHARD_NAMES (space-separated, in listShards order: sh0, sh1, ...).
# With SIMC_DATA_DIR set, the members keep data files (--data-dir): the CSRS's under
# $SIMC_DATA_DIR/config/<member id>, shard shN's under $SIMC_DATA_DIR/shN/<member id>.
simc_start() {
	local n=$1 mongos=${2:-$SIMC_TOPOS/cluster-mongos.conf} shard=${3:-$SIMC_TOPOS/cluster-shard.conf}
	local config=${4:-$SIMC_TOPOS/cluster-config.conf} i data=()
	SIMC_SHARD_CTLS=""
	SIMC_SHARD_NAMES=""
	[ -z "${SIMC_DATA_DIR:-}" ] || { mkdir -p "$SIMC_DATA_DIR" && data=(--data-dir "$SIMC_DATA_DIR/config"); } || return 1
	sim_start "$config" "${data[@]}" || return 1
	SIMC_CONFIG_CTL=$SIM_CTL
	for ((i = 0; i < n; i++)); do
		[ -z "${SIMC_DATA_DIR:-}" ] || data=(--data-dir "$SIMC_DATA_DIR/sh$i")
		sim_start "$shard" --set-name "sh$i" "${data[@]}" || return 1
		SIMC_SHARD_CTLS="$SIMC_SHARD_CTLS${SIMC_SHARD_CTLS:+ }$SIM_CTL"
		SIMC_SHARD_NAMES="$SIMC_SHARD_NAMES${SIMC_SHARD_NAMES:+ }sh$i"
	done
	simc_router "$mongos"
}

# simc_router TOPOLOGY: one more routers' simulator over the running components (e.g. another
# version); SIMC_URI and SIMC_CTL name it from then on.
simc_router() {
	local c args=""
	for c in $SIMC_SHARD_CTLS; do
		args="$args --shard $c"
	done
	# shellcheck disable=SC2086 # the socket paths are from mktemp: no blanks
	sim_start "$1" --config-server "$SIMC_CONFIG_CTL" $args || return 1
	SIMC_URI=$SIM_URI
	SIMC_CTL=$SIM_CTL
}

# simc_ctl SOCKET ARGS...: one control command to the simulator behind SOCKET.
simc_ctl() {
	local c=$1
	shift
	timeout -k 2 20 "$MBH_SIM" ctl "$c" "$@"
}

# simc_conn SOCKET: the "setName/host:port,..." connection string of the set behind SOCKET.
simc_conn() { simc_ctl "$1" uri | sed 's|^mongodb://\([^/]*\)/?replicaSet=\(.*\)$|\2/\1|'; }

# simc_set_locks SOCKET: "ID:COUNT,..." of every member of the set behind SOCKET.
simc_set_locks() {
	simc_ctl "$1" status | awk '{ id = ""; c = ""
		for (i = 1; i <= NF; i++) { p = index($i, "="); k = substr($i, 1, p - 1)
			if (k == "id") id = substr($i, p + 1); if (k == "lockCount") c = substr($i, p + 1) }
		printf "%s%s:%s", (NR > 1 ? "," : ""), id, c } END { print "" }'
}

# simc_locks: every member's lock count, set by set: "csrs:ID:COUNT,... sh0:ID:COUNT,... ...".
simc_locks() {
	local c out
	out="csrs:$(simc_set_locks "$SIMC_CONFIG_CTL")"
	# shellcheck disable=SC2086 # the names (sh0 ...) are words by design
	set -- $SIMC_SHARD_NAMES
	for c in $SIMC_SHARD_CTLS; do
		out="$out $1:$(simc_set_locks "$c")"
		shift
	done
	echo "$out"
}

# simc_writers URI: writers through the routers at URI (user "app" of cluster-mongos.conf), inserting in
# a loop until simc_stop_writers; their count goes to $T_OUT/writer.out as "inserted=N".
simc_writers() {
	rm -f "$T_DIR/stop"
	/usr/bin/python3 - "$1" "$T_DIR/stop" >"$T_OUT/writer.out" 2>&1 <<'PYEOF' &
import os, sys, pymongo
c = pymongo.MongoClient(sys.argv[1], username="app", password="app-pw", authSource="admin",
                        serverSelectionTimeoutMS=10000, socketTimeoutMS=60000)
n = 0
while not os.path.exists(sys.argv[2]):
    c.app.docs.insert_one({"n": n})
    n += 1
print("inserted=%d" % n)
PYEOF
	SIMC_WRITER=$!
	t_remember .bg "$SIMC_WRITER"
	sleep 0.5
}

# simc_stop_writers: stop simc_writers' writers and wait for them.
simc_stop_writers() { : >"$T_DIR/stop"; wait "$SIMC_WRITER"; }
