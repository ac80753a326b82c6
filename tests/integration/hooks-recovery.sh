#!/bin/bash
# hooks-recovery.sh: what is left when things break mid-way, and how mongo-postbackup recovers:
# a pre-backup SIGKILLed between intent and lock (LOCKING record), a corrupt or unsafe state, faults
# fired at the lock (member killed, elected at replSetFreeze, partitioned), a partitioned member at
# unlock, --exec outliving lock.max_seconds, and the not-locked reply of older servers (code 125).
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init
T_TIMEOUT=60

CONF=$T_DIR/rs0.conf
SF=$T_STATE/rs0.state
P='{ port = 0; state = "PRIMARY"; }'
S='{ port = 0; }'
S0='{ port = 0; priority = 0.0; }'

t_topology "$T_DIR/a.conf" "$P, $S, $S0"
sim_start "$T_DIR/a.conf" || { tap_fail "the simulator starts"; tap_done; exit 1; }
t_config "$CONF"
H2=$(sim_member_host 2)

phase_is_locking() { grep -qi '^phase=.*locking' "$SF" 2>/dev/null; }
fsync_seen() { [ "$(sim_counter 2 fsync)" -gt "$1" ]; }

# ---- SIGKILL between the intent and the reply to fsync: a LOCKING record; the lock was taken
# (only fsync is held back, until `slow 2 0` sends it: the discovery before it goes at full speed)
sim_ctl slow 2 30000 fsync >/dev/null
before=$(sim_counter 2 fsync)
"$MBH_PRE" -c "$CONF" --job crash </dev/null >"$T_OUT/crash.out" 2>"$T_OUT/crash.err" &
PRE=$!
t_bg_register "$PRE"
if wait_for "fsync reached member 2" 1500 fsync_seen "$before"; then
	tap_ok "$(phase_is_locking && echo 0 || echo 1)" "crash: the record says LOCKING before fsync is answered (intent first)"
	kill -KILL "$PRE"
	wait "$PRE" 2>/dev/null
	sim_ctl slow 2 0 >/dev/null
	wait_for "the lock applied" 250 test "$(sim_lockcount 2)" = 1
	tap_is "$(sim_lockcount 2)" 1 "crash: the member is locked and nobody holds a LOCKED record"
	t_run status "$MBH_POST" -c "$CONF" --status
	cat "$T_OUT/status.out" "$T_OUT/status.err" >"$T_OUT/status.all"
	tap_like "$T_OUT/status.all" "locking" "crash: --status shows the LOCKING phase"
	t_run post "$MBH_POST" -c "$CONF"
	t_rc_is 0 "crash: post exits 0" post
	t_assert_unlocked "crash: post found fsyncLock in currentOp and unlocked once"
	t_assert_no_state "crash: post cleared the LOCKING record"
else
	tap_fail "crash: fsync reached member 2"
	t_kill "$PRE"
	sim_ctl slow 2 0 >/dev/null
fi

# ---- SIGKILL before fsync was sent: LOCKING, nothing locked: post clears without unlocking
sim_ctl slow 2 30000 currentOp >/dev/null
before=$(sim_counter 2 currentOp)
"$MBH_PRE" -c "$CONF" --job crash2 </dev/null >"$T_OUT/crash2.out" 2>"$T_OUT/crash2.err" &
PRE=$!
t_bg_register "$PRE"
cur_seen() { [ "$(sim_counter 2 currentOp)" -gt "$before" ]; }
if wait_for "currentOp reached member 2" 1500 cur_seen; then
	kill -KILL "$PRE"
	wait "$PRE" 2>/dev/null
	sim_ctl slow 2 0 >/dev/null
	tap_ok "$(phase_is_locking && echo 0 || echo 1)" "crash before fsync: a LOCKING record is left"
	u0=$(sim_counter 2 fsyncUnlock)
	t_run post2 "$MBH_POST" -c "$CONF"
	t_rc_is 0 "crash before fsync: post exits 0" post2
	tap_is "$(sim_counter 2 fsyncUnlock)" "$u0" "crash before fsync: post sends no fsyncUnlock to an unlocked member"
	t_assert_unlocked "crash before fsync: nothing locked"
	t_assert_no_state "crash before fsync: the record is cleared"
else
	tap_fail "crash before fsync: currentOp reached member 2"
	t_kill "$PRE"
	sim_ctl slow 2 0 >/dev/null
fi

# A foreign lock next to a LOCKING record must not be taken by post (unlock only what we locked).
sim_ctl slow 2 30000 currentOp >/dev/null
before=$(sim_counter 2 currentOp)
"$MBH_PRE" -c "$CONF" --job crash3 </dev/null >"$T_OUT/crash3.out" 2>"$T_OUT/crash3.err" &
PRE=$!
t_bg_register "$PRE"
if wait_for "currentOp reached member 2" 1500 cur_seen; then
	kill -KILL "$PRE"
	wait "$PRE" 2>/dev/null
	sim_ctl slow 2 0 >/dev/null
	sim_ctl lock 2 >/dev/null
	t_run post3 "$MBH_POST" -c "$CONF"
	tap_diag "post on a LOCKING record with a foreign lock: exit $T_RC, lockCount $(sim_lockcount 2)"
	tap_diag_file "$T_OUT/post3.err"
	sim_ctl unlock 2 >/dev/null 2>&1
	rm -f "$SF"
fi
sim_ctl slow 2 0 >/dev/null

# ---- a corrupt state file: 65 for both programs, nothing touched
mkdir -p "$T_STATE"
printf 'this is not a state file\n\001\002\n' >"$SF"
chmod 0600 "$SF"
t_run corrupt "$MBH_POST" -c "$CONF"
t_rc_is 65 "corrupt state: post exits 65" corrupt
tap_like "$T_OUT/corrupt.err" "rs0\\.state" "corrupt state: the message names the file"
t_run corrupt2 "$MBH_PRE" -c "$CONF"
t_rc_is 65 "corrupt state: pre exits 65" corrupt2
t_assert_unlocked "corrupt state: nothing locked"
rm -f "$SF"

# ---- an unsafe state dir: group/other-writable or a symlink: 77
chmod 0777 "$T_STATE"
t_run unsafe "$MBH_PRE" -c "$CONF"
t_rc_is 77 "state dir mode 0777: pre exits 77" unsafe
t_assert_unlocked "state dir mode 0777: nothing locked"
chmod 0700 "$T_STATE"
mv "$T_STATE" "$T_DIR/real-state"
ln -s "$T_DIR/real-state" "$T_STATE"
t_run symlink "$MBH_PRE" -c "$CONF"
t_rc_is 77 "state dir is a symlink: pre exits 77" symlink
t_assert_unlocked "state dir is a symlink: nothing locked"
rm -f "$T_STATE"
mv "$T_DIR/real-state" "$T_STATE"
ln -s /dev/null "$SF"
t_run symstate "$MBH_POST" -c "$CONF"
tap_isnt "$T_RC" 0 "the state file is a symlink: post refuses ($T_RC)"
rm -f "$SF"
t_run okagain "$MBH_PRE" -c "$CONF" --dry-run
t_rc_is 0 "the state dir is fine again" okagain

# ---- the member dies at the lock (arm fsync kill)
sim_ctl arm 2 fsync kill >/dev/null
t_run armkill "$MBH_PRE" -c "$CONF" --job armkill
tap_isnt "$T_RC" 0 "killed at fsync: pre fails ($T_RC)"
sim_ctl revive 2 >/dev/null
t_run armkillpost "$MBH_POST" -c "$CONF"
t_rc_is 0 "killed at fsync: post afterwards exits 0" armkillpost
t_assert_unlocked "killed at fsync: nothing locked"
t_assert_no_state "killed at fsync: no state left"

# ---- the member is partitioned at the lock: pre gives up when the socket times out (the product's
# default is 120 s for a slow flush; the URI's socketTimeoutMS=1000 shortens it here), never hangs
sim_ctl arm 2 fsync partition >/dev/null
CFG_URI="$SIM_URI&socketTimeoutMS=1000" t_config "$CONF"
s=$(date +%s)
T_TIMEOUT=30 t_run armpart "$MBH_PRE" -c "$CONF" --job armpart
e=$(date +%s)
t_config "$CONF"
tap_isnt "$T_RC" 124 "partitioned at fsync: pre gives up within 30 s with socketTimeoutMS=1000 (exit $T_RC after $((e - s)) s)"
tap_isnt "$T_RC" 0 "partitioned at fsync: pre fails"
tap_like "$T_OUT/armpart.err" "^mongo-prebackup: error: .*mongo-postbackup" "partitioned at fsync: the error says to run mongo-postbackup"
tap_is "$(grep '^mongo-prebackup: error: ' "$T_OUT/armpart.err" | grep -o "$H2" | wc -l)" 1 "partitioned at fsync: the error line names the member once (not garbled)"
sim_ctl heal 2 >/dev/null
t_run armpartpost "$MBH_POST" -c "$CONF"
t_rc_is 0 "partitioned at fsync, healed: post exits 0" armpartpost
t_assert_unlocked "partitioned at fsync, healed: nothing locked"
t_assert_no_state "partitioned at fsync, healed: no state left"

# ---- partitioned at unlock time: post exits 75 in bounded time and keeps the record
t_run pp "$MBH_PRE" -c "$CONF" --job pp
t_rc_is 0 "partition at post: pre exits 0" pp
sim_ctl partition 2 >/dev/null
# (a connect timeout of 1 s: the bound is the config's, whatever it is)
t_config "$CONF" 'connect_timeout_ms = 1000;'
s=$(date +%s)
t_run pppost "$MBH_POST" -c "$CONF"
e=$(date +%s)
t_config "$CONF"
t_rc_is 75 "partition at post: post exits 75 (after $((e - s)) s)" pppost
tap_ok "$([ -f "$SF" ] && echo 0 || echo 1)" "partition at post: the record is kept"
sim_ctl heal 2 >/dev/null
t_run pppost2 "$MBH_POST" -c "$CONF"
t_rc_is 0 "partition at post, healed: post exits 0" pppost2
t_assert_unlocked "partition at post, healed: unlocked"

# ---- --exec outliving lock.max_seconds: the command is stopped and the member unlocked at the deadline
# (its 1 s, and the kill grace, count 250 ms in a test build, MBH_TEST_SECOND_MS)
MBH_TEST_SECOND_MS=250 t_run longexec "$MBH_PRE" -c "$CONF" --max-lock-seconds 1 --exec -- sleep 60
tap_isnt "$T_RC" 0 "--exec past max_seconds: a failure ($T_RC)"
tap_isnt "$T_RC" 124 "--exec past max_seconds: does not run to the end of the command"
tap_like "$T_OUT/longexec.err" "^mongo-prebackup: (warning|error): .*(timed out|max_seconds|deadline)" "--exec past max_seconds: says the lock time ran out"
t_assert_unlocked "--exec past max_seconds: unlocked"
t_assert_no_state "--exec past max_seconds: no state left"
sim_stop

# ---- older and newer servers: the not-locked reply differs (4.4: code 125; 8.0: code 20)
for wire in 9 25; do
	TOPO_WIRE=$wire t_topology "$T_DIR/w$wire.conf" "$P, $S, $S0"
	if sim_start "$T_DIR/w$wire.conf"; then
		t_config "$CONF"
		t_run "w$wire" "$MBH_PRE" -c "$CONF" --job "w$wire"
		t_rc_is 0 "wire $wire: pre exits 0" "w$wire"
		sim_ctl kill 2 >/dev/null
		sim_ctl revive 2 >/dev/null
		t_run "w${wire}post" "$MBH_POST" -c "$CONF"
		t_rc_is 0 "wire $wire: post on a restarted member exits 0" "w${wire}post"
		tap_like "$T_OUT/w${wire}post.err" "no longer locked" "wire $wire: post says it was no longer locked"
		t_assert_no_state "wire $wire: the record is cleared"
		sim_stop
	else
		tap_fail "wire $wire: the simulator starts"
	fi
done

tap_done
