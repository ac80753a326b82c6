# sim-harness.sh: what the simulator's own shell tests add to simlib.sh (an init that needs only the
# simulator, sim-probe, background writers killed by pid, verify parsing).  Source it from bash:
#   . "$top_srcdir/tests/integration/sim-harness.sh"
# SPDX-License-Identifier: AGPL-3.0-or-later

top_builddir=${top_builddir:-$(pwd)}
top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=simlib.sh
. "$top_srcdir/tests/integration/simlib.sh"

SIM_PROBE=${SIM_PROBE:-$top_builddir/tests/integration/sim-probe}
SIMT_BG=""

# simt_init: like t_init, but needs only the simulator and sim-probe (not the hooks).
simt_init() {
	[ -x "$MBH_SIM" ] || tap_skip_all "$MBH_SIM is not built"
	[ -x "$SIM_PROBE" ] || tap_skip_all "$SIM_PROBE is not built"
	T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mbh-simt.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
	T_OUT=$T_DIR/out
	T_STATE=$T_DIR/state
	mkdir -m 0700 "$T_OUT"
	: >"$T_DIR/.sims"
	: >"$T_DIR/.watchdogs"
	: >"$T_DIR/.bg"
	trap simt_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# simt_cleanup: stop our own background shells (by pid), then simlib's cleanup (simulators, temp dir).
simt_cleanup() {
	local rc=$? p
	for p in $SIMT_BG; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	SIMT_BG=""
	(exit "$rc")
	t_cleanup
}

# simt_bg_add PID: a background shell of this test (a writer loop) to stop at exit.
simt_bg_add() {
	SIMT_BG="$SIMT_BG $1"
}

# simt_bg_stop PID: stop one background shell now.
simt_bg_stop() {
	local p rest=""
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	for p in $SIMT_BG; do
		[ "$p" = "$1" ] || rest="$rest $p"
	done
	SIMT_BG=$rest
}

# simt_probe NAME URI [JSON [DB]]: one libmongoc command, bounded; T_RC is its status,
# $T_OUT/NAME.out the reply (relaxed extended JSON), $T_OUT/NAME.err the error.
simt_probe() {
	local name=$1
	shift
	T_TIMEOUT=60 t_run "$name" "$SIM_PROBE" "$@"
}

# simt_direct_uri M [OPTS]: mongodb://127.0.0.1:PORT/?directConnection=true[&OPTS] for member M.
simt_direct_uri() {
	local h
	h=$(sim_member_host "$1")
	echo "mongodb://$h/?directConnection=true${2:+&$2}"
}

# simt_verify DIR: run `mongo-rs-sim verify DIR`; sets VERIFY_RC, VERIFY_OUT, VERIFY_RECORDS, VERIFY_OPTIME.
simt_verify() {
	VERIFY_OUT=$(timeout -k 2 30 "$MBH_SIM" verify "$1" 2>&1)
	VERIFY_RC=$?
	VERIFY_RECORDS=$(printf '%s\n' "$VERIFY_OUT" | sed -n 's/^ok records=\([0-9]*\) .*/\1/p' | head -n 1)
	VERIFY_OPTIME=$(printf '%s\n' "$VERIFY_OUT" | sed -n 's/^ok .*last_optime=\([0-9]*:[0-9]*\).*/\1/p' | head -n 1)
	return 0
}

# simt_records DIR: the record count `verify` reports (empty when verify fails).
simt_records() {
	simt_verify "$1"
	echo "$VERIFY_RECORDS"
}

# simt_wait_records DIR N: wait (bounded, polling) until DIR holds at least N records.
simt_wait_records() {
	local n=0 r
	while [ "$n" -lt 400 ]; do
		r=$(simt_records "$1")
		[ -n "$r" ] && [ "$r" -ge "$2" ] && return 0
		sleep 0.05
		n=$((n + 1))
	done
	return 1
}

# simt_tree_sum DIR: one line per file (name, size, mtime, sha256), to prove a directory did not change.
simt_tree_sum() {
	(cd "$1" && find . -type f -printf '%p %s %T@ ' -exec sha256sum {} \; | sort)
}
