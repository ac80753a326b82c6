#!/bin/bash
# hooks-select.sh: every member-selection rule on real simulated topologies, through
# `mongo-prebackup --dry-run` (the verdict table) and through a real lock and unlock.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init

CONF=$T_DIR/rs0.conf
SCEN=0

# scenario NAME TOPOLOGY-MEMBERS: a fresh simulator, config and state dir for one rule.
scenario() {
	sim_stop
	SCEN=$((SCEN + 1))
	tap_diag "scenario $SCEN: $1"
	T_STATE=$T_DIR/state-$SCEN
	t_topology "$T_DIR/topo-$SCEN.conf" "$2"
	if ! sim_start "$T_DIR/topo-$SCEN.conf"; then
		tap_fail "$1: the simulator starts"
		return 1
	fi
	t_config "$CONF"
}

# row_of HOST FILE: the dry-run table row of HOST.
row_of() {
	awk -v h="$1" '$1 == h { print; exit }' "$2"
}

# dry_choice NAME ID [ARGS...]: the dry run exits 0, marks member ID (and only it) CHOSEN and says
# "would lock HOST".
dry_choice() {
	local name=$1 id=$2 host
	shift 2
	host=$(sim_member_host "$id")
	t_run dry "$MBH_PRE" -c "$CONF" --dry-run "$@"
	t_rc_is 0 "$name: --dry-run exits 0" dry
	if [ "$(row_of "$host" "$T_OUT/dry.out" | grep -c CHOSEN)" = 1 ] &&
		[ "$(grep -c CHOSEN "$T_OUT/dry.out")" = 1 ]; then
		tap_pass "$name: --dry-run marks $host (member $id) CHOSEN, no other"
	else
		tap_fail "$name: --dry-run marks $host (member $id) CHOSEN, no other"
		t_show dry
	fi
	tap_like "$T_OUT/dry.out" "^would lock $host([^0-9]|$)" "$name: --dry-run says would lock $host"
	[ "$(sim_lock_total)" = 0 ] || { tap_fail "$name: --dry-run locks nothing"; tap_diag "$(sim_lockcounts)"; }
}

# real_choice NAME ID [ARGS...]: pre locks exactly member ID once; post unlocks it and clears the state.
real_choice() {
	local name=$1 id=$2 host
	shift 2
	host=$(sim_member_host "$id")
	t_run pre "$MBH_PRE" -c "$CONF" --job "sel-$SCEN" "$@"
	t_rc_is 0 "$name: mongo-prebackup exits 0" pre
	tap_is "$(sim_lockcount "$id")/$(sim_lock_total)" "1/1" "$name: member $id ($host) and only it is locked once"
	tap_like "$T_OUT/pre.err" "locked $host" "$name: mongo-prebackup says it locked $host"
	t_run post "$MBH_POST" -c "$CONF" --job "sel-$SCEN"
	t_rc_is 0 "$name: mongo-postbackup exits 0" post
	t_assert_unlocked "$name: nothing is locked after mongo-postbackup"
	t_assert_no_state "$name: no state record after mongo-postbackup"
}

# refused NAME [ARGS...]: no member is eligible: the dry run and the real run exit 69, nothing locked.
refused() {
	local name=$1
	shift
	t_run dry "$MBH_PRE" -c "$CONF" --dry-run "$@"
	t_rc_is 69 "$name: --dry-run exits 69 (no eligible member)" dry
	[ "$(grep -c CHOSEN "$T_OUT/dry.out")" = 0 ] || { tap_fail "$name: --dry-run chooses nobody"; t_show dry; }
	t_run pre "$MBH_PRE" -c "$CONF" "$@"
	t_rc_is 69 "$name: mongo-prebackup exits 69" pre
	t_assert_unlocked "$name: nothing is locked"
	t_assert_no_state "$name: no state record left"
}

# reason_like NAME ID ERE: member ID's dry-run row matches ERE (case-insensitive).
reason_like() {
	local host
	host=$(sim_member_host "$2")
	if row_of "$host" "$T_OUT/dry.out" | grep -Eiq -- "$3"; then
		tap_pass "$1"
	else
		tap_fail "$1"
		tap_diag "  row of $host does not match /$3/"
		t_show dry
	fi
}

P='{ port = 0; state = "PRIMARY"; }'
S='{ port = 0; }'
S0='{ port = 0; priority = 0.0; }'
S0V0='{ port = 0; priority = 0.0; votes = 0; }'
H='{ port = 0; priority = 0.0; hidden = true; }'
H0='{ port = 0; priority = 0.0; hidden = true; votes = 0; }'
A='{ port = 0; arbiter = true; }'
D='{ port = 0; priority = 0.0; hidden = true; votes = 0; secondary_delay_secs = 3600; }'

if scenario "a hidden member is preferred" "$P, $S, $S0, $H"; then
	dry_choice hidden 3
	reason_like "hidden: the primary's row says primary" 0 'primary'
	reason_like "hidden: the chosen row says hidden" 3 'hidden'
	real_choice hidden 3
fi

if scenario "a passive (priority 0) member is preferred over an electable one" "$P, $S, $S0"; then
	dry_choice passive 2
	real_choice passive 2
	tap_is "$(sim_counter 2 replSetFreeze)" 0 "passive: a priority-0 member is not frozen"
fi

if scenario "votes 0 before voting" "$P, $S0, $S0V0"; then
	dry_choice votes0 2
	real_choice votes0 2
fi

if scenario "PSA: locking the only other data-bearing voter stalls the majority" "$P, $S, $A"; then
	refused psa
	reason_like "psa: the secondary's row names the majority" 1 'majorit'
	reason_like "psa: the arbiter's row says arbiter" 2 'arbiter'
	dry_choice "psa --allow-majority-stall" 1 --allow-majority-stall
	t_run pre "$MBH_PRE" -c "$CONF" --allow-majority-stall --job psa
	t_rc_is 0 "psa --allow-majority-stall: mongo-prebackup exits 0" pre
	tap_is "$(sim_lockcount 1)" 1 "psa --allow-majority-stall: the secondary is locked"
	tap_is "$(sim_status_field 1 frozen)" 1 "psa --allow-majority-stall: the electable secondary is frozen while locked"
	t_run post "$MBH_POST" -c "$CONF"
	t_rc_is 0 "psa --allow-majority-stall: mongo-postbackup exits 0" post
	t_assert_unlocked "psa --allow-majority-stall: unlocked"
	tap_is "$(sim_status_field 1 frozen)" 0 "psa --allow-majority-stall: unfrozen by mongo-postbackup"
fi

# Invariant 6: a member someone else fsync-locked applies nothing.  With the electable secondary
# locked behind the tool's back, locking the passive one would leave only the primary applying the
# oplog (1 of 2 needed): majority writes would stall.
if scenario "someone else's fsync lock counts as not applying" "$P, $S, $S0"; then
	H1=$(sim_member_host 1)
	sim_ctl lock 1 >/dev/null
	t_run dry "$MBH_PRE" -c "$CONF" --dry-run
	t_rc_is 69 "foreign lock on S: --dry-run exits 69" dry
	[ "$(grep -c CHOSEN "$T_OUT/dry.out")" = 0 ] || { tap_fail "foreign lock on S: --dry-run chooses nobody"; t_show dry; }
	reason_like "foreign lock on S: the locked member's row says no, fsync-locked by someone else" 1 \
		' no +fsync-locked by someone else \(currentOp\)$'
	reason_like "foreign lock on S: the passive member's row names the stall and the lock" 2 \
		" no +locking it would stall majority writes \(1 of 2 needed; $H1 is fsync-locked by someone else\)"
	tap_like "$T_OUT/dry.out" "^nothing would be locked: .*stall majority writes" "foreign lock on S: --dry-run says nothing would be locked"
	t_run pre "$MBH_PRE" -c "$CONF" --job foreign
	t_rc_is 69 "foreign lock on S: mongo-prebackup refuses with 69" pre
	tap_like "$T_OUT/pre.err" "^mongo-prebackup: error: no member of rs0 can be locked: .*stall majority writes \(1 of 2 needed; $H1 is fsync-locked by someone else\)" \
		"foreign lock on S: the error names the stall and the locked member"
	tap_is "$(sim_lockcounts)" "0:0 1:1 2:0" "foreign lock on S: nothing locked by us, their lock left alone"
	tap_is "$(sim_counter 2 fsync)" 0 "foreign lock on S: no fsync sent to the passive member"
	tap_is "$(sim_counter 1 fsyncUnlock)" 0 "foreign lock on S: their lock is not touched"
	t_assert_no_state "foreign lock on S: no state record"
	t_run dry "$MBH_PRE" -c "$CONF" --dry-run --allow-majority-stall
	t_rc_is 0 "foreign lock on S, --allow-majority-stall: --dry-run exits 0 (still allowed)" dry
	tap_like "$T_OUT/dry.out" "^would lock $(sim_member_host 2):" "foreign lock on S, --allow-majority-stall: would lock the passive member"
	reason_like "foreign lock on S, --allow-majority-stall: the stall is said" 2 \
		"stalls majority writes \(allowed; $H1 is fsync-locked by someone else\)"
	# --allow-locked: the locked member may be locked once more (it applies nothing already)
	t_run pre "$MBH_PRE" -c "$CONF" --job foreign2 --allow-locked
	t_rc_is 0 "foreign lock on S, --allow-locked: mongo-prebackup exits 0" pre
	tap_is "$(sim_lockcounts)" "0:0 1:2 2:0" "foreign lock on S, --allow-locked: member 1 locked once more"
	t_run post "$MBH_POST" -c "$CONF" --job foreign2
	t_rc_is 0 "foreign lock on S, --allow-locked: mongo-postbackup exits 0" post
	tap_is "$(sim_lockcounts)" "0:0 1:1 2:0" "foreign lock on S, --allow-locked: only our lock released"
	# their lock released: the passive member again
	sim_ctl unlock 1 >/dev/null
	dry_choice "foreign lock released" 2
	real_choice "foreign lock released" 2
fi

# The same in production: two hosts run policy-local jobs at once.  The other host's job holds the
# electable secondary (127.0.0.3); this host's member (the passive one) must not be locked too.
if scenario "two policy-local jobs at once" '{ host = "127.0.0.2"; port = 0; state = "PRIMARY"; }, { host = "127.0.0.3"; port = 0; }, { port = 0; priority = 0.0; }'; then
	H1=$(sim_member_host 1)
	t_run other "$MBH_PRE" -c "$CONF" --state-dir "$T_DIR/state-other" --job other --member "$H1"
	t_rc_is 0 "two local jobs: the other host's job locks member 1" other
	tap_is "$(sim_lockcounts)" "0:0 1:1 2:0" "two local jobs: member 1 locked by the other job"
	t_run dry "$MBH_PRE" -c "$CONF" --dry-run --policy local
	t_rc_is 69 "two local jobs: --dry-run --policy local exits 69" dry
	reason_like "two local jobs: this host's member would stall majority writes" 2 \
		"stall majority writes \(1 of 2 needed; $H1 is fsync-locked by someone else\)"
	t_run pre "$MBH_PRE" -c "$CONF" --job local --policy local
	t_rc_is 69 "two local jobs: this host's job refuses with 69" pre
	tap_like "$T_OUT/pre.err" "stall majority writes.*$H1 is fsync-locked by someone else" "two local jobs: the error says why"
	tap_is "$(sim_lockcounts)" "0:0 1:1 2:0" "two local jobs: nothing more locked"
	t_assert_no_state "two local jobs: no state record here"
	t_run otherpost "$MBH_POST" -c "$CONF" --state-dir "$T_DIR/state-other" --job other
	t_rc_is 0 "two local jobs: the other job's post-backup" otherpost
	real_choice "two local jobs, the other one done" 2 --policy local
	# Both start at the same instant: the other lock lands after this run asked member 1 and before
	# its own lock on member 2 is answered (held back with ctl slow until the other run is done; `slow 2 0`
	# sends it).  The re-check after the lock finds it: this run releases its lock (75) rather than
	# stall majority writes.
	sim_ctl slow 2 30000 fsync >/dev/null
	f0=$(sim_counter 2 fsync)
	timeout -k 5 "$T_TIMEOUT" "$MBH_PRE" -c "$CONF" --job race --policy local </dev/null >"$T_OUT/race.out" 2>"$T_OUT/race.err" &
	RACE=$!
	t_bg_register "$RACE"
	n=0
	while [ "$(sim_counter 2 fsync)" -le "$f0" ] && [ "$n" -lt 1500 ]; do
		sleep 0.02
		n=$((n + 1))
	done
	t_run other2 "$MBH_PRE" -c "$CONF" --state-dir "$T_DIR/state-other" --job other2 --member "$H1" --allow-majority-stall
	sim_ctl slow 2 0 >/dev/null
	wait "$RACE"
	T_RC=$?
	t_note_watchdogs
	t_rc_is 75 "two local jobs at the same instant: this run backs off with 75" race
	tap_like "$T_OUT/race.err" "majority writes would stall \\(1 of 2 needed; $H1 is fsync-locked by someone else\\): that changed since the choice" \
		"two local jobs at the same instant: the error says why"
	tap_is "$(sim_lockcounts)" "0:0 1:1 2:0" "two local jobs at the same instant: this run's lock released, the other kept"
	tap_is "$(sim_status_field 2 frozen)" 0 "two local jobs at the same instant: nothing left frozen"
	t_assert_no_state "two local jobs at the same instant: no state record here"
	t_run otherpost2 "$MBH_POST" -c "$CONF" --state-dir "$T_DIR/state-other" --job other2
	t_rc_is 0 "two local jobs at the same instant: the other job's post-backup" otherpost2
	t_assert_unlocked "two local jobs at the same instant: all unlocked"
fi

if scenario "members not fit to back up are skipped" "$P,
	{ port = 0; priority = 0.0; votes = 0; state = \"RECOVERING\"; },
	{ port = 0; priority = 0.0; votes = 0; hidden = true; build_indexes = false; },
	{ port = 0; priority = 0.0; votes = 0; state = \"STARTUP2\"; },
	$S0, $S0"; then
	dry_choice unfit 4
	reason_like "unfit: the RECOVERING member's row says so" 1 'RECOVERING'
	reason_like "unfit: the buildIndexes:false member's row says so" 2 'buildIndexes'
	reason_like "unfit: the STARTUP2 member's row says so" 3 'STARTUP2'
	real_choice unfit 4
	# With voter 4 down, locking voter 5 would leave the primary alone: the majority stalls.
	sim_ctl kill 4 >/dev/null
	refused "unfit, voter 4 down"
	reason_like "unfit: the killed member's row says down" 4 'down|unreach|health'
	reason_like "unfit: the last voter's row names the majority" 5 'majorit'
fi

TOPO_NOOP_MS=200
if scenario "a lagging member is skipped" "$P, $H0, $S0, $S0"; then
	sim_ctl lag 1 3600 >/dev/null
	if sim_wait_lag 1 0 2; then
		dry_choice "lag --max-lag 1" 2 --max-lag 1
		reason_like "lag: the lagging member's row names the lag limit" 1 'lag.*(exceed|max)'
		real_choice "lag --max-lag 1" 2 --max-lag 1
		sim_ctl lag 1 0 >/dev/null
	else
		tap_fail "lag: member 1 falls 2 s behind the primary (ctl lag 1 3600)"
		tap_diag "$(sim_ctl status)"
	fi
fi
unset TOPO_NOOP_MS

if scenario "a delayed member is skipped unless allowed" "$P, $S0, $S0, $D"; then
	dry_choice delayed 1
	reason_like "delayed: the delayed member's row says delayed" 3 'delay'
	real_choice delayed 1
	dry_choice "delayed --allow-delayed" 3 --allow-delayed
	real_choice "delayed --allow-delayed" 3 --allow-delayed
fi

if scenario "tags" "{ port = 0; state = \"PRIMARY\"; tags = { dc = \"east\"; }; },
	{ port = 0; priority = 0.0; tags = { dc = \"east\"; }; },
	{ port = 0; priority = 0.0; tags = { dc = \"west\"; }; }"; then
	dry_choice "no tag" 1
	dry_choice "--tag dc=west" 2 --tag dc=west
	real_choice "--tag dc=west" 2 --tag dc=west
	t_config "$CONF" 'selection = { tags = { dc = "west"; }; };'
	dry_choice "selection.tags in the config" 2
	t_config "$CONF"
	refused "--tag dc=north" --tag dc=north
fi

if scenario "--member forces a member, still checked" "$P, $S, $S0"; then
	dry_choice "--member electable" 1 --member "$(sim_member_host 1)"
	real_choice "--member electable" 1 --member "$(sim_member_host 1)"
	refused "--member primary" --member "$(sim_member_host 0)"
	reason_like "--member primary: the row says primary" 0 'primary'
fi

if scenario "no primary: the primary is killed" "$P, $S, $S, $H0"; then
	sim_ctl kill 0 >/dev/null
	if sim_ctl status | grep -q 'state=PRIMARY up=1'; then
		tap_diag "the simulator elected a new primary after ctl kill 0: $(sim_ctl status | grep PRIMARY)"
	fi
	dry_choice "no primary" 3
	real_choice "no primary" 3
fi

if scenario "all members down" "$P, $S, $S0"; then
	sim_ctl kill 0 >/dev/null
	sim_ctl kill 1 >/dev/null
	sim_ctl kill 2 >/dev/null
	t_run dry "$MBH_PRE" -c "$CONF" --dry-run
	t_rc_is 69 "all down: --dry-run exits 69" dry
	t_run pre "$MBH_PRE" -c "$CONF"
	t_rc_is 69 "all down: mongo-prebackup exits 69" pre
	tap_like "$T_OUT/pre.err" '^mongo-prebackup: error: ' "all down: one error line prefixed with the program name"
	tap_like "$T_OUT/pre.err" 'cannot reach .*connection refused' "all down: the error says why (connection refused), not a retry cooldown"
	t_assert_no_state "all down: no state record left"
fi

# 50 members (the server's maximum): 7 voters, 42 non-voting passives, one hidden non-voter at _id 37.
M50="$P"
for i in $(seq 1 49); do
	if [ "$i" -le 6 ]; then
		M50="$M50, $S"
	elif [ "$i" = 37 ]; then
		M50="$M50, $H0"
	else
		M50="$M50, $S0V0"
	fi
done
if scenario "a 50-member set" "$M50"; then
	tap_is "$(sim_ctl status | wc -l)" 50 "50 members: the simulator serves 50 members"
	dry_choice "50 members" 37
	tap_is "$(grep -c '^127\.0\.0\.1:' "$T_OUT/dry.out")" 50 "50 members: the dry run shows a row for every member"
	real_choice "50 members" 37
fi

sim_stop
# policy local: the members look like three hosts (127.0.0.2, 127.0.0.3 and this one, 127.0.0.1);
# only the one on this host may be chosen, even though another is the better candidate
if scenario "policy local" '{ host = "127.0.0.2"; port = 0; state = "PRIMARY"; }, { host = "127.0.0.3"; port = 0; priority = 0.0; }, { port = 0; }'; then
	dry_choice "auto (for contrast)" 1
	dry_choice "policy local" 2 --policy local
	tap_like "$T_OUT/dry.out" "^$(sim_member_host 1) .*not on this host" "policy local: the passive member on another host is 'not on this host'"
	real_choice "policy local" 2 --policy local
	scenario "policy local, nothing on this host" '{ host = "127.0.0.2"; port = 0; state = "PRIMARY"; }, { host = "127.0.0.3"; port = 0; }, { host = "127.0.0.4"; port = 0; priority = 0.0; }' && {
		t_run pre "$MBH_PRE" -c "$CONF" --policy local
		t_rc_is 69 "policy local, nothing on this host: exits 69" pre
		t_assert_unlocked "policy local, nothing on this host: nothing locked"
		t_assert_no_state "policy local, nothing on this host: no state left"
	}
fi

tap_done
