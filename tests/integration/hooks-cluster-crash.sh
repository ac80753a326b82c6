#!/bin/bash
# hooks-cluster-crash.sh: no crash of a cluster run strands a lock or the balancer.  At every crash point
# of the cluster's flow (pre, --exec and post) and at the single-set points inside the components'
# parallel locks, the run is killed; then mongo-postbackup (or, past the deadline, the watchdogs and then
# mongo-postbackup) leaves every member unlocked and unfrozen, the balancer running, no record and no
# process of the run.  Also: a shard's member unreachable while its lock is in doubt, then back.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
# shellcheck source=sim-cluster.sh
. "$top_srcdir/tests/integration/sim-cluster.sh"
t_init

T_PASS=backup-pw # the cluster topologies' user
simc_start 2 || { tap_fail "a CSRS, two shards and the routers start"; tap_done; exit 1; }
CONF=$T_DIR/cluster.conf
CFG_URI=$SIMC_URI t_config "$CONF"
RUN=$(t_run_dir run)
CREC=$T_STATE/csrs.cluster.state
read -r -a SHARD_CTLS <<<"$SIMC_SHARD_CTLS"

pre() { t_run "$1" env -C "$RUN" "$MBH_PRE" -c "$CONF" "${@:2}"; }
post() { t_run "$1" env -C "$RUN" "$MBH_POST" -c "$CONF" "${@:2}"; }
balancer_mode() { simc_ctl "$SIMC_CTL" balancer | sed -n 's/^mode=\([^ ]*\).*/\1/p'; }

# all_state: "locked: frozen:" for every set (no lockCount, no freeze in force) as one line.
all_state() {
	local c
	for c in "$SIMC_CONFIG_CTL" $SIMC_SHARD_CTLS; do
		simc_ctl "$c" status | awk '{ id = ""; c = ""; f = ""
			for (i = 1; i <= NF; i++) { p = index($i, "="); k = substr($i, 1, p - 1); v = substr($i, p + 1)
				if (k == "id") id = v; if (k == "lockCount") c = v; if (k == "frozen") f = v }
			if (c != "0") l = l " " id "=" c; if (f != "0") z = z " " id }
			END { printf "[locked:%s frozen:%s]", l, z }'
	done
	echo
}
CLEAN="[locked: frozen:][locked: frozen:][locked: frozen:]"

# aftermath NAME: everything released, the balancer running, no record, no process of the run.
aftermath() {
	tap_is "$(all_state)" "$CLEAN" "$1: every member of every set unlocked and unfrozen"
	tap_is "$(balancer_mode)" full "$1: the balancer runs"
	tap_ok "$([ ! -e "$CREC" ] && [ -z "$(ls "$T_STATE/csrs.cluster.d/"*/*.state 2>/dev/null)" ] && echo 0 || echo 1)" \
		"$1: no cluster record, no component record"
	t_assert_no_procs_in "$RUN" "$1"
}

# A build without the points runs straight through: then there is nothing to test.
MBH_CRASH_AT=cluster-chosen:KILL pre probe
case $T_RC in
137) ;;
0)
	post probepost
	tap_skip_all "crash points not compiled in (configure --enable-crash-points)"
	;;
*)
	tap_fail "the probe run dies at cluster-chosen or runs through"
	t_show probe
	tap_done
	exit 1
	;;
esac
post probepost
aftermath "cluster-chosen (probe)"

# pre (hooks mode): the cluster's points, and the components' own points inside the parallel lock.
for pt in cluster-intent pre-intent pre-frozen cluster-chosen cluster-balancer-record cluster-balancer-stopped pre-locked \
	cluster-locked; do
	MBH_CRASH_AT=$pt:KILL pre "c-$pt"
	t_rc_is 137 "pre killed at $pt" "c-$pt"
	post "p-$pt"
	t_rc_is 0 "post after $pt: exits 0" "p-$pt"
	aftermath "pre killed at $pt, then post"
done
# SIGTERM at a point after the locks: the run still ends with its locks recorded (hooks mode), post frees them
MBH_CRASH_AT=cluster-locked:TERM pre t-locked
tap_ok "$([ "$T_RC" = 0 ] || [ "$T_RC" = 143 ] || [ "$T_RC" = 75 ] && echo 0 || echo 1)" \
	"pre with SIGTERM at cluster-locked: ends ($T_RC)"
post tp-locked
t_rc_is 0 "post after it: exits 0" tp-locked
aftermath "SIGTERM at cluster-locked, then post"

# --exec: killed under the lock, after the command, in the middle of the release.
for pt in cluster-exec-ended cluster-unlock-before cluster-unlocked cluster-balancer-started; do
	MBH_CRASH_AT=$pt:KILL pre "e-$pt" --exec -- true
	t_rc_is 137 "--exec killed at $pt" "e-$pt"
	post "ep-$pt"
	t_rc_is 0 "post after --exec killed at $pt: exits 0" "ep-$pt"
	aftermath "--exec killed at $pt, then post"
done

# post killed half way: a second post finishes, each lock released exactly once.
for pt in unlock-before cluster-post-released cluster-post-balancer; do
	pre "l-$pt"
	t_rc_is 0 "pre before post is killed at $pt" "l-$pt"
	MBH_CRASH_AT=$pt:KILL post "k-$pt"
	t_rc_is 137 "post killed at $pt" "k-$pt"
	post "f-$pt"
	t_rc_is 0 "a second post finishes: exits 0" "f-$pt"
	n1=$(grep -c 'unlocked 127' "$T_OUT/k-$pt.err")
	n2=$(grep -c 'unlocked 127' "$T_OUT/f-$pt.err")
	tap_is "$((n1 + n2))" 3 "post killed at $pt: the two posts unlocked the three members once each ($n1 + $n2)"
	aftermath "post killed at $pt, then post"
done

# pre killed with its locks held, nobody runs post: the watchdogs unlock every member at the deadline
# and start the balancer the run stopped; post then finds nothing locked and clears the record.
MBH_CRASH_AT=cluster-locked:KILL pre w-locked --max-lock-seconds 3
t_rc_is 137 "pre killed at cluster-locked (lock.max_seconds 3)" w-locked
tap_is "$(balancer_mode)" off "meanwhile the balancer is stopped"
n=0
while [ "$(all_state)" != "$CLEAN" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
tap_is "$(all_state)" "$CLEAN" "the watchdogs unlocked (and unfroze) every member at the deadline"
n=0
while [ "$(balancer_mode)" != full ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
tap_is "$(balancer_mode)" full "... and started the balancer again"
post wp-locked
t_rc_is 0 "post after the watchdogs: exits 0" wp-locked
tap_unlike "$T_OUT/wp-locked.err" 'unlocked 127' "post: no member left to unlock"
tap_like "$T_OUT/wp-locked.err" 'started the balancer' "post: starts the balancer the run stopped"
aftermath "watchdogs, then post"

# A shard's chosen member partitioned at its fsync: the lock is taken but no answer comes (socket timeout
# 2 s); the others are unlocked at once and the balancer restarted; the record stays for that lock.
pre pick --dry-run
SH0_PICK=$(sed -n 's/^would lock: .* sh0=\(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$T_OUT/pick.out")
SH0_ID=$(simc_ctl "${SHARD_CTLS[0]}" status | sed -n "s/^id=\\([0-9]*\\) host=$SH0_PICK .*/\\1/p")
CFG_URI="${SIMC_URI}?socketTimeoutMS=2000" t_config "$CONF"
simc_ctl "${SHARD_CTLS[0]}" arm "$SH0_ID" fsync partition >/dev/null
pre part
t_rc_is 75 "pre, sh0's member partitioned at its fsync: fails, 75" part
tap_like "$T_OUT/part.err" 'component sh0 \(set sh0\): .*may or may not have been taken' "... naming the component and the doubt"
tap_is "$(simc_locks | sed 's/sh0:[^ ]*/sh0:-/')" "csrs:0:0,1:0,2:0 sh0:- sh1:0:0,1:0,2:0" "... the CSRS and sh1 were unlocked at once"
tap_is "$(balancer_mode)" full "... the balancer runs again"
tap_like "$CREC" '^component=sh0 sh0 .* pending$' "... the record keeps sh0, in doubt"
post part-post
t_rc_is 75 "post while sh0's member is unreachable: 75, the record stays" part-post
tap_ok "$([ -e "$CREC" ] && echo 0 || echo 1)" "... the cluster record is kept"
simc_ctl "${SHARD_CTLS[0]}" heal "$SH0_ID" >/dev/null
post part-post2
t_rc_is 0 "post once it answers: exits 0" part-post2
tap_like "$T_OUT/part-post2.err" "stopped while locking $SH0_PICK; unlocked it once" "post: found the lock in doubt held, unlocked it once"
aftermath "a lock in doubt on an unreachable member, then post"

tap_done
