#!/bin/bash
# sim-drivers.sh: three more real drivers against mongo-rs-sim speaking MongoDB 4.4 (wire 9), 6.0 (17)
# and 8.0 (25): the Node.js driver (npm's mongodb, pinned by tools/install-deps), PHP's (Debian's
# php-mongodb extension) and Go's (Debian's golang-mongodb-mongo-driver-dev, built here with Debian's
# Go).  Each: discovery of a set with a hidden member from a one-host seed list, SCRAM on every member
# (hidden included) over direct connections, replSetGetStatus, an fsync lock and unlock on a secondary,
# and an insert held while the primary is fsync-locked that completes after the unlock.  A driver that
# is not installed is skipped, with the reason; one that is installed must pass.
# SPDX-License-Identifier: AGPL-3.0-or-later
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/sim-harness.sh"

NODE_MONGODB=${MBH_NODE_MONGODB:-/usr/local/lib/mongo-backup-hooks-tests/node/node_modules/mongodb}
GO_PATH=${MBH_GOPATH:-/usr/share/gocode}
CHECKS="discover auth status lock held"
VERSIONS="9 17 25"
DRIVERS="node php go"

simt_init
tap_plan $((1 + 3 * 3 * 6))

# why_missing DRIVER: empty when the driver can run here, else why not.
why_missing() {
	case $1 in
	node)
		command -v node >/dev/null || { echo "no node (Debian's nodejs)"; return; }
		[ -f "$NODE_MONGODB/package.json" ] || echo "no $NODE_MONGODB (tools/install-deps installs it with npm)"
		;;
	php)
		command -v php >/dev/null || { echo "no php (Debian's php-cli)"; return; }
		php -r 'exit(extension_loaded("mongodb") ? 0 : 1);' || echo "no mongodb extension (Debian's php-mongodb)"
		;;
	go)
		command -v go >/dev/null || { echo "no go (Debian's golang-go)"; return; }
		[ -d "$GO_PATH/src/go.mongodb.org/mongo-driver" ] || echo "no Go driver in $GO_PATH (Debian's golang-mongodb-mongo-driver-dev)"
		;;
	esac
}

# The Go program is built with Debian's Go and the packaged driver (no network, no modules), into the
# build tree with a build cache kept there (MBH_GOCACHE; `make clean` removes both): the first run pays
# for compiling the driver, later runs only check that nothing changed.
GO_BIN=$top_builddir/tests/integration/sim-driver-go
GO_CACHE=${MBH_GOCACHE:-$top_builddir/tests/integration/go-cache}
GO_WHY=$(why_missing go)
if [ -z "$GO_WHY" ]; then
	mkdir -p "$T_DIR/gobuild" "$GO_CACHE"
	cp "$top_srcdir/tests/integration/sim-driver.go" "$T_DIR/gobuild/main.go"
	if (cd "$T_DIR/gobuild" && GO111MODULE=off GOPATH=$GO_PATH GOCACHE=$GO_CACHE GOFLAGS= \
		timeout 600 go build -o "$GO_BIN.tmp" main.go && mv -f "$GO_BIN.tmp" "$GO_BIN") >"$T_OUT/gobuild.log" 2>&1; then
		tap_pass "the Go program builds with Debian's Go and driver"
	else
		tap_fail "the Go program builds with Debian's Go and driver"
		tap_diag_file "$T_OUT/gobuild.log" "go build"
		GO_WHY="it did not build"
	fi
else
	tap_skip "the Go program builds with Debian's Go and driver" "$GO_WHY"
fi

# run_driver DRIVER NAME ARGS...: the driver's program, bounded; its lines in $T_OUT/NAME.out.
run_driver() {
	local d=$1 name=$2
	shift 2
	case $d in
	node) T_TIMEOUT=90 t_run "$name" env MBH_NODE_MONGODB="$NODE_MONGODB" node "$top_srcdir/tests/integration/sim-driver.js" "$@" ;;
	php) T_TIMEOUT=90 t_run "$name" php -n -d extension=mongodb "$top_srcdir/tests/integration/sim-driver.php" "$@" ;;
	go) T_TIMEOUT=90 t_run "$name" "$GO_BIN" "$@" ;;
	esac
}

export MBH_DRIVER_PASSWORD=drivers-Pw-7
for v in $VERSIONS; do
	cat >"$T_DIR/w$v.conf" <<EOF
set_name = "rsd$v";
max_wire_version = $v;
auth = true;
noop_interval_ms = 500;
members = (
  { port = 0; state = "PRIMARY"; },
  { port = 0; },
  { port = 0; },
  { port = 0; hidden = true; priority = 0.0; votes = 0; }
);
users = (
  { name = "backup"; password = "$MBH_DRIVER_PASSWORD"; db = "admin";
    mechanisms = [ "SCRAM-SHA-256", "SCRAM-SHA-1" ];
    roles = [ "clusterMonitor", "hostManager", "clusterManager", "readWriteAnyDatabase" ]; }
);
EOF
	if ! sim_start "$T_DIR/w$v.conf"; then
		for d in $DRIVERS; do
			for c in $CHECKS; do tap_fail "$d, wire $v: $c (the simulator did not start)"; done
			tap_fail "$d, wire $v: nothing left locked"
		done
		continue
	fi
	hosts="$(sim_member_host 0) $(sim_member_host 1) $(sim_member_host 3) $(sim_member_host 2)"
	for d in $DRIVERS; do
		why=$(why_missing "$d")
		[ "$d" = go ] && why=$GO_WHY
		if [ -n "$why" ]; then
			for c in $CHECKS; do tap_skip "$d, wire $v: $c" "$why"; done
			tap_skip "$d, wire $v: nothing left locked" "$why"
			continue
		fi
		# shellcheck disable=SC2086 # the hosts are separate arguments
		run_driver "$d" "$d-$v" "rsd$v" $hosts
		for c in $CHECKS; do
			line=$(grep -m1 -E "^(ok|not) $c( |\$)" "$T_OUT/$d-$v.out")
			if [ "${line%% *}" = ok ]; then
				tap_pass "$d, wire $v: $c (${line#ok $c })"
			else
				tap_fail "$d, wire $v: $c"
				tap_diag "  ${line:-no line for $c (exit $T_RC)}"
				[ -n "$line" ] || t_show "$d-$v"
			fi
		done
		t_assert_unlocked "$d, wire $v: nothing left locked"
		sim_ctl unlock 0 >/dev/null 2>&1
	done
	sim_stop >/dev/null
done
tap_done
