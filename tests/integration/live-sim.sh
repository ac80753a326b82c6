#!/bin/bash
# live-sim.sh: tests/live/check-live.sh (the `make check-live` script for real replica sets) run
# against the simulator, so the script itself is known to work and to leave nothing locked.
# SPDX-License-Identifier: AGPL-3.0-or-later
. "$top_srcdir/tests/integration/simlib.sh"
t_init
t_topology "$T_DIR/topo.conf" '{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; hidden = true; votes = 0; }'
sim_start "$T_DIR/topo.conf" || exit 1
t_config "$T_DIR/unused.conf"   # writes the password file
pwfile=$(sed -n 's/^password_file *= *"\(.*\)";/\1/p' "$T_DIR/unused.conf")
MONGODB_URI=$SIM_URI MONGODB_USER=backup MONGODB_PASSWORD_FILE=$pwfile \
	sh "$top_srcdir/tests/live/check-live.sh" >"$T_DIR/live.tap" 2>&1
rc=$?
tap_diag_file "$T_DIR/live.tap" "check-live.sh"
tap_is "$rc" 0 "check-live.sh passes against the simulated set"
tap_is "$(grep -c '^ok ' "$T_DIR/live.tap")" 9 "all 9 of its checks pass"
tap_is "$(grep -c '^not ok ' "$T_DIR/live.tap")" 0 "none fails"
tap_is "$(sim_lock_total)" 0 "it leaves nothing locked"
tap_done
