#!/bin/bash
# sim-datadir.sh: a locked secondary's data directory is frozen and a copy of it verifies as the state at lock time.
# SPDX-License-Identifier: AGPL-3.0-or-later
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/sim-harness.sh"

simt_init
tap_plan 20

DATA=$T_DIR/data
TOPO=$T_DIR/rs.conf
cat >"$TOPO" <<EOF
set_name = "rsd";
max_wire_version = 21;
auth = false;
noop_interval_ms = 200;
members = (
  { port = 0; state = "PRIMARY"; },
  { port = 0; },
  { port = 0; }
);
EOF
mkdir "$DATA"

sim_start "$TOPO" --data-dir "$DATA"
tap_ok $? "the simulator starts with --data-dir"
tap_ok "$([ -d "$DATA/0" ] && [ -d "$DATA/1" ] && [ -d "$DATA/2" ] && echo 0 || echo 1)" \
	"each data-bearing member has DIR/<_id>/"

sim_ctl write 50 >/dev/null
tap_ok $? "ctl write 50"
simt_wait_records "$DATA/0" 50 && simt_wait_records "$DATA/1" 50
tap_ok $? "the primary and secondary 1 hold the 50 records (verify)"

# A bounded writer keeps the primary busy through the lock window.
(
	i=0
	while [ "$i" -lt 600 ]; do
		"$MBH_SIM" ctl "$SIM_CTL" write 1 >/dev/null 2>&1 || exit 0
		i=$((i + 1))
	done
) &
WRITER=$!
simt_bg_add "$WRITER"
simt_wait_records "$DATA/0" 60
tap_ok $? "the writer is writing"

sim_ctl lock 1 >/dev/null
tap_ok $? "ctl lock 1"
LOCK_OPTIME=$(sim_status_field 1 optime)
simt_verify "$DATA/1"
LOCK_RECORDS=$VERIFY_RECORDS
LOCK_VOPTIME=$VERIFY_OPTIME
tap_is "$VERIFY_RC" 0 "the locked member's live directory verifies"
tap_is "$LOCK_VOPTIME" "$LOCK_OPTIME" "its last applied optime is the one ctl status shows at lock time"
simt_tree_sum "$DATA/1" >"$T_DIR/before.sum"
cp -a "$DATA/1" "$T_DIR/copy"
tap_ok $? "cp -a of the locked member's directory"

# Writing goes on and replicates to member 2 while member 1 stays frozen.
simt_wait_records "$DATA/2" $((LOCK_RECORDS + 20))
tap_ok $? "writes go on and member 2 applies them during the lock"
simt_verify "$T_DIR/copy"
tap_is "$VERIFY_RC" 0 "mongo-rs-sim verify accepts the copy"
tap_is "$VERIFY_RECORDS:$VERIFY_OPTIME" "$LOCK_RECORDS:$LOCK_OPTIME" "the copy holds exactly the state at lock time"
simt_tree_sum "$DATA/1" >"$T_DIR/after.sum"
if cmp -s "$T_DIR/before.sum" "$T_DIR/after.sum"; then s=0; else s=1; fi
tap_ok "$s" "nothing in the locked member's directory changed during the lock" ||
	diff "$T_DIR/before.sum" "$T_DIR/after.sum" | sed 's/^/#   /' | head -n 20
tap_is "$(sim_status_field 1 optime)" "$LOCK_OPTIME" "ctl status: the locked member's optime did not move"

simt_bg_stop "$WRITER"
sim_ctl unlock 1 >/dev/null
tap_ok $? "ctl unlock 1"
PRIMARY_RECORDS=$(simt_records "$DATA/0")
simt_wait_records "$DATA/1" "$PRIMARY_RECORDS"
tap_ok $? "after the unlock member 1 catches up to the primary's $PRIMARY_RECORDS records"

# Torn copies are detected: a short data file, and a flipped byte.
BIG=$(cd "$T_DIR/copy" && find . -type f ! -name 'MANIFEST*' -printf '%s %p\n' | sort -n | tail -n 1 | sed 's/^[0-9]* //')
cp -a "$T_DIR/copy" "$T_DIR/torn"
cp -a "$T_DIR/copy" "$T_DIR/flip"
if [ -n "$BIG" ] && [ -s "$T_DIR/torn/$BIG" ]; then
	truncate -s -7 "$T_DIR/torn/$BIG"
	SIZE=$(stat -c %s "$T_DIR/flip/$BIG")
	printf '\377' | dd of="$T_DIR/flip/$BIG" bs=1 seek=$((SIZE / 2)) conv=notrunc status=none
	if cmp -s "$T_DIR/copy/$BIG" "$T_DIR/flip/$BIG"; then
		printf '\000' | dd of="$T_DIR/flip/$BIG" bs=1 seek=$((SIZE / 2)) conv=notrunc status=none
	fi
fi
simt_verify "$T_DIR/torn"
tap_is "$VERIFY_RC" 65 "verify of a copy with a truncated data file exits 65" || tap_diag "$VERIFY_OUT"
simt_verify "$T_DIR/flip"
tap_is "$VERIFY_RC" 65 "verify of a copy with a flipped byte exits 65" || tap_diag "$VERIFY_OUT"

t_assert_unlocked "no member is left locked"
sim_stop
tap_is $? 0 "the simulator exits 0 on SIGTERM"
tap_done
