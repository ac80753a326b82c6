#!/bin/bash
# sim-cli.sh: mongo-rs-sim's command line, topology errors (file:line, exit 78), control socket and signals.
# SPDX-License-Identifier: AGPL-3.0-or-later
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/sim-harness.sh"

simt_init
tap_plan 34

t_run help "$MBH_SIM" --help
t_rc_is 0 "--help exits 0" help
tap_like "$T_OUT/help.out" '^usage: mongo-rs-sim' "--help prints the usage on stdout"
t_run version "$MBH_SIM" --version
t_rc_is 0 "--version exits 0" version
tap_like "$T_OUT/version.out" 'mongo-rs-sim [0-9]' "--version prints the name and version"
t_run noargs "$MBH_SIM"
tap_isnt "$T_RC" 0 "no arguments is a usage error"

GOOD='set_name = "rsc";
max_wire_version = 21;
auth = false;
noop_interval_ms = 1000;
members = (
  { port = 0; state = "PRIMARY"; },
  { port = 0; }
);'

# bad_topology NAME LINE TEXT DESCRIPTION: the simulator refuses TEXT with exit 78 and one
# "FILE:LINE: ..." line on stderr (LINE empty: any line number).
bad_topology() {
	local f=$T_DIR/$1.conf lines
	printf '%s\n' "$3" >"$f"
	T_TIMEOUT=20 t_run "$1" "$MBH_SIM" --topology "$f" --ready-file "$T_DIR/$1.ready" --ctl "$T_DIR/$1.ctl"
	lines=$(wc -l <"$T_OUT/$1.err")
	if [ "$T_RC" = 78 ] && [ "$lines" = 1 ] && grep -Eq "^$f:${2:-[0-9]+}: ." "$T_OUT/$1.err" &&
		[ ! -e "$T_DIR/$1.ready" ]; then
		tap_pass "$4: exit 78, one line $f:${2:-N}: ..."
	else
		tap_fail "$4: exit 78, one line $f:${2:-N}: ..."
		tap_diag "  exit status $T_RC, $lines line(s) on stderr"
		t_show "$1"
	fi
}

bad_topology not_loopback 2 "set_name = \"rsc\";
members = ( { host = \"10.0.0.1\"; port = 0; state = \"PRIMARY\"; } );" "a member host outside 127.0.0.0/8"
bad_topology unknown_key 3 "set_name = \"rsc\";
max_wire_version = 21;
bogus_key = 1;
members = ( { port = 0; state = \"PRIMARY\"; } );" "an unknown top-level key"
bad_topology wrong_type 2 "set_name = \"rsc\";
auth = \"yes\";
members = ( { port = 0; state = \"PRIMARY\"; } );" "a string where a boolean belongs"
bad_topology two_primaries "" "set_name = \"rsc\";
members = (
  { port = 0; state = \"PRIMARY\"; },
  { port = 0; state = \"PRIMARY\"; }
);" "two PRIMARY members"
bad_topology syntax 2 "set_name = \"rsc\";
members = ( { port = = 0; } );" "a libconfig syntax error"
bad_topology bad_state 3 "set_name = \"rsc\";
members = (
  { port = 0; state = \"LEADER\"; }
);" "an unknown member state"
bad_topology member_key 3 "set_name = \"rsc\";
members = (
  { port = 0; colour = \"red\"; }
);" "an unknown member key"
t_run missing "$MBH_SIM" --topology "$T_DIR/does-not-exist.conf"
tap_ok "$([ "$T_RC" != 0 ] && [ "$(wc -l <"$T_OUT/missing.err")" = 1 ] && echo 0 || echo 1)" \
	"a missing topology file: non-zero exit and one line on stderr"

# The default control socket is $TMPDIR/mongo-rs-sim.<pid>.ctl.
printf '%s\n' "$GOOD" >"$T_DIR/good.conf"
mkdir -m 0700 "$T_DIR/t"
TMPDIR=$T_DIR/t "$MBH_SIM" --topology "$T_DIR/good.conf" --ready-file "$T_DIR/default.ready" \
	</dev/null >"$T_OUT/default.out" 2>"$T_OUT/default.err" &
DPID=$!
t_remember .sims "$DPID"
n=0
while [ "$(wc -l <"$T_DIR/default.ready" 2>/dev/null || echo 0)" -lt 3 ] && kill -0 "$DPID" 2>/dev/null &&
	[ "$n" -lt 400 ]; do
	sleep 0.05
	n=$((n + 1))
done
tap_is "$(sed -n 1p "$T_DIR/default.ready" 2>/dev/null)" "$DPID" "the ready file's first line is the pid"
tap_is "$(sed -n 3p "$T_DIR/default.ready" 2>/dev/null)" "$T_DIR/t/mongo-rs-sim.$DPID.ctl" \
	"without --ctl the socket is \$TMPDIR/mongo-rs-sim.<pid>.ctl"
S=$T_DIR/t/mongo-rs-sim.$DPID.ctl
tap_is "$(stat -c '%F %a' "$S" 2>/dev/null)" "socket 600" "the control socket is a socket with mode 0600"
kill -INT "$DPID"
t_pid_gone "$DPID" 500
wait "$DPID"
tap_is "$?" 0 "SIGINT: exit status 0"
tap_ok "$([ ! -e "$S" ] && echo 0 || echo 1)" "the control socket is removed at exit"

sim_start "$T_DIR/good.conf"
tap_ok $? "the simulator starts"
tap_is "$(sim_ctl uri)" "$SIM_URI" "ctl uri prints the seed URI"
sim_ctl status >"$T_OUT/status.out"
tap_is "$(awk '{ k = ""; for (i = 1; i <= NF; i++) { p = index($i, "="); k = k " " substr($i, 1, p - 1) } print k }' \
	"$T_OUT/status.out" | sort -u)" \
	" id host state up partitioned lockCount optime lag slow_ms frozen priority votes hidden" \
	"ctl status: every line has the contract's keys in order"
tap_is "$(wc -l <"$T_OUT/status.out")" 2 "ctl status: one line per member"
t_run unknown_cmd "$MBH_SIM" ctl "$SIM_CTL" frobnicate
tap_ok "$([ "$T_RC" = 1 ] && grep -q . "$T_OUT/unknown_cmd.err" && [ ! -s "$T_OUT/unknown_cmd.out" ] && echo 0 || echo 1)" \
	"an unknown ctl command: exit 1, the error on stderr" || t_show unknown_cmd
t_run unknown_member "$MBH_SIM" ctl "$SIM_CTL" kill 99
t_rc_is 1 "ctl kill of a member that does not exist: exit 1" unknown_member
t_run notahost "$MBH_SIM" ctl "$SIM_CTL" lock 127.0.0.1:1
t_rc_is 1 "ctl lock of a host that is not a member: exit 1" notahost
simt_probe ping "$(simt_direct_uri 0 'connectTimeoutMS=2000')" '{"ping": 1}'
tap_ok "$([ "$T_RC" = 0 ] && sim_ctl counters 0 | tr ' ' '\n' | grep -qx 'ping=1' && echo 0 || echo 1)" \
	"ctl counters counts the one ping a client sent"
# slow M MS COMMAND holds back the replies to that command only
ms_of() { local s e; s=$(date +%s%N); "$@"; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
sim_ctl slow 0 600 ping >/dev/null
tap_is "$(sim_ctl status | sed -n 's/.*\(slow_ms=[0-9]*\).*/\1/p' | head -n 1)" slow_ms=600 "ctl slow 0 600 ping: member 0 is slow"
took=$(ms_of simt_probe ping2 "$(simt_direct_uri 0 'connectTimeoutMS=2000')" '{"ping": 1}')
tap_ok "$([ "$T_RC" = 0 ] && [ "$took" -ge 600 ] && echo 0 || echo 1)" "ctl slow 0 600 ping: a ping is answered 600 ms late ($took ms)"
took=$(ms_of simt_probe status2 "$(simt_direct_uri 0 'connectTimeoutMS=2000')" '{"replSetGetStatus": 1}')
tap_ok "$([ "$T_RC" = 0 ] && [ "$took" -lt 600 ] && echo 0 || echo 1)" "ctl slow 0 600 ping: other commands are not held back ($took ms)"
# a reply already held back goes out once the slowness is lifted (a test holds it until it is done)
pings() { sim_ctl counters 0 | tr ' ' '\n' | sed -n 's/^ping=//p'; }
pings0=$(pings)
held_seen() { [ "$(pings)" -gt "${pings0:-0}" ]; }
sim_ctl slow 0 20000 ping >/dev/null
s0=$(date +%s%N)
"$SIM_PROBE" "$(simt_direct_uri 0 'connectTimeoutMS=2000&socketTimeoutMS=30000')" '{"ping": 1}' >"$T_OUT/held.out" 2>&1 &
held=$!
t_bg_register "$held"
wait_for "the held ping reached member 0" 500 held_seen
sim_ctl slow 0 0 >/dev/null
wait "$held"
rc=$?
took=$((($(date +%s%N) - s0) / 1000000))
tap_ok "$([ "$rc" = 0 ] && [ "$took" -lt 10000 ] && echo 0 || echo 1)" "ctl slow 0 0 sends a held reply at once (exit $rc, $took ms of 20000, $(pings) pings)"
t_run slowusage "$MBH_SIM" ctl "$SIM_CTL" slow 0 600 ping extra
t_rc_is 1 "ctl slow with too many words: exit 1" slowusage
sim_ctl slow 0 0 >/dev/null
t_run noctl "$MBH_SIM" ctl "$T_DIR/no-such.ctl" status
tap_isnt "$T_RC" 0 "ctl to a socket that does not exist fails"
t_run verify_missing "$MBH_SIM" verify "$T_DIR/no-such-dir"
tap_isnt "$T_RC" 0 "verify of a missing directory fails"
sim_stop
tap_is $? 0 "the simulator exits 0 on SIGTERM"
tap_done
