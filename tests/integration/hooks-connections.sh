#!/bin/bash
# hooks-connections.sh: what mongo-prebackup --exec puts on the wire.  Discovery asks the member it
# will probably lock, the lock reuses that authenticated connection, and no endSessions is sent to
# the primary.  Each voting secondary asked with currentOp because its fsync lock decides whether
# locking the chosen member would stall majority writes (invariant 6) costs one more SCRAM
# conversation on the same client; nobody is asked when it cannot matter.  With libmongoc before
# 1.25 the discovery client's handshakes carry no speculativeAuthenticate (lib/scram_once.c): the
# explicit saslStart path is the one where that client reuses its derived SCRAM key, so a run
# derives it once whatever the number of members it authenticates to.  A wrong guess (a hidden
# member is chosen, reached by a client of its own) costs one more conversation and still works.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init
CONF=$T_DIR/rs0.conf

# auths N...: SCRAM conversations the members got: each one (speculative or explicit, with
# skipEmptyExchange) ends with exactly one saslContinue, as the simulator counts requests.
auths() {
	local m t=0
	for m in "$@"; do
		t=$((t + $(sim_counter "$m" saslContinue)))
	done
	echo "$t"
}
# starts N...: explicit saslStart commands (a speculative conversation starts inside hello).
starts() {
	local m t=0
	for m in "$@"; do
		t=$((t + $(sim_counter "$m" saslStart)))
	done
	echo "$t"
}
# libmongoc's version decides whether the discovery client's handshakes go out without speculative
# authentication (before 1.25) or with it (it then caches derived keys per process by itself).
MONGOC_VERSION=$(pkg-config --modversion libmongoc-1.0 2>/dev/null || pkg-config --modversion mongoc2 2>/dev/null)
if [ "$(printf '%s\n' "$MONGOC_VERSION" 1.25.0 | sort -V | head -n 1)" = 1.25.0 ]; then
	WANT_STARTS=0
else
	WANT_STARTS=2
fi

# ---- P, S, passive S: the passive member is guessed, asked and locked
t_topology "$T_DIR/pss.conf" '{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
sim_start "$T_DIR/pss.conf" || exit 1
t_config "$CONF"
t_run exec "$MBH_PRE" -c "$CONF" --exec -- true
t_rc_is 0 "passive chosen: --exec -- true works" exec
tap_is "$(auths 0 1 2)" 2 "passive chosen: two SCRAM conversations (the member it locks, the electable voter it asks)"
tap_is "$(starts 0 1 2)" "$WANT_STARTS" "passive chosen: explicit saslStart on both with libmongoc $MONGOC_VERSION (the client's derived key is reused on that path only)"
tap_is "$(auths 1)/$(sim_counter 1 currentOp)" 1/2 "passive chosen: the electable voter was asked currentOp before the choice and right after the lock, on one authenticated connection"
tap_is "$(sim_counter 2 currentOp)" 1 "passive chosen: the locked member was asked currentOp once (by the lock step)"
tap_is "$(sim_counter 2 replSetGetStatus)" 1 "passive chosen: discovery asked the member it then locked"
tap_is "$(sim_counter 0 replSetGetStatus)" 0 "passive chosen: the primary was not asked"
tap_is "$(sim_counter 2 fsync)/$(sim_counter 2 fsyncUnlock)" 1/1 "passive chosen: lock and unlock on that member"
tap_is "$(sim_counter 0 endSessions)" 0 "passive chosen: no endSessions to the primary"
t_assert_unlocked "passive chosen: unlocked"
sim_stop

# ---- P, S, passive votes 0: it never stalls majority writes, so nobody else is asked
t_topology "$T_DIR/psv0.conf" '{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; votes = 0; }'
sim_start "$T_DIR/psv0.conf" || exit 1
t_config "$CONF"
t_run execv0 "$MBH_PRE" -c "$CONF" --exec -- true
t_rc_is 0 "votes-0 passive chosen: --exec -- true works" execv0
tap_is "$(sim_counter 2 fsync)" 1 "votes-0 passive chosen: that member was locked"
tap_is "$(auths 0 1 2)" 1 "votes-0 passive chosen: one SCRAM conversation in the whole run"
tap_is "$(sim_counter 1 currentOp)" 0 "votes-0 passive chosen: the other secondary was not asked"
t_assert_unlocked "votes-0 passive chosen: unlocked"
sim_stop

# ---- P, S, hidden: the guess (the visible secondary) is wrong; the hidden member is locked anyway
t_topology "$T_DIR/psh.conf" \
	'{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; hidden = true; votes = 0; }'
sim_start "$T_DIR/psh.conf" || exit 1
t_config "$CONF"
t_run exec2 "$MBH_PRE" -c "$CONF" --exec -- true
t_rc_is 0 "hidden chosen: --exec -- true works" exec2
tap_is "$(sim_counter 2 fsync)/$(sim_counter 2 fsyncUnlock)" 1/1 "hidden chosen: the hidden member was locked and unlocked"
tap_is "$(auths 0 1 2)" 2 "hidden chosen: two SCRAM conversations (the guessed member, the hidden one)"
t_assert_unlocked "hidden chosen: unlocked"

# ---- the guessed member does not answer discovery: the primary is asked instead
sim_ctl arm 1 replSetGetConfig kill >/dev/null
t_run exec3 "$MBH_PRE" -c "$CONF" --exec -- true
t_rc_is 0 "guessed member dies during discovery: the run still works (asks the primary)" exec3
tap_is "$(sim_counter 0 replSetGetStatus)" 1 "guessed member dies: the primary answered discovery"
t_assert_unlocked "guessed member dies: unlocked"
tap_done
