#!/bin/bash
# hooks-gate.sh: the gate program (mongo-backup-gate, beside the watchdog or at MONGO_BACKUP_GATE) and the
# watchdog started before discovery.  The watchdog waits with libc alone (the driver is loaded only by
# its releaser, at the deadline): a run that fails before the lock leaves no process behind; a run that
# locks leaves the watchdog guarding.  The command of --exec waits in the gate program for the lock and
# still runs with the member in its environment.  A gate program that is not there: --exec locks
# nothing, and the error names it.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init
GATE=$(dirname "$MONGO_BACKUP_WATCHDOG")/mongo-backup-gate
[ -x "$GATE" ] || tap_skip_all "$GATE is not built"
CONF=$T_DIR/rs0.conf
SF=$T_STATE/rs0.state

t_topology "$T_DIR/pss.conf" '{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
sim_start "$T_DIR/pss.conf" || exit 1
t_config "$CONF"
H2=$(sim_member_host 2)

# ---- hooks mode: the recorded watchdog is the watchdog program itself once pre returns
t_run pre "$MBH_PRE" -c "$CONF" --job G1
t_rc_is 0 "pre: exits 0" pre
WD=$(state_get "$SF" watchdog_pid)
tap_is "$(readlink "/proc/$WD/exe" 2>/dev/null)" "$(readlink -f "$MONGO_BACKUP_WATCHDOG")" \
	"pre: the recorded watchdog ($WD) is the watchdog program"
tap_is "$(tr '\0' ' ' <"/proc/$WD/cmdline" 2>/dev/null)" "mongo-backup-watchdog " "  with the watchdog's own argv"
tap_is "$(ps -o sid= -p "$WD" | tr -d ' ')" "$WD" "  in a session of its own"
tap_is "$(grep -c -E 'libmongoc|libssl|libcrypto' "/proc/$WD/maps" 2>/dev/null)" 0 \
	"  waiting with libc alone: the driver is loaded only by its releaser, at the deadline"

# ---- a run that fails before the lock (the set is locked already): its watchdog goes with it
RD=$(t_run_dir refused)
(cd "$RD" && exec "$MBH_PRE" -c "$CONF" --job G2 </dev/null >"$T_OUT/refused.out" 2>"$T_OUT/refused.err")
tap_is "$?" 75 "a second pre while locked: refused (75)"
tap_ok "$(t_wait_no_procs_in "$RD" 100 && echo 0 || echo 1)" "  no process of it is left (its watchdog exited, told nothing to guard)"
tap_like "$SF" "G1" "  the record is still the first run's"

t_run post "$MBH_POST" -c "$CONF" --job G1
t_rc_is 0 "post: exits 0" post
t_pid_gone "$WD" 250
tap_ok "$(t_is_ours "$WD" && echo 1 || echo 0)" "post: the watchdog is gone"
t_assert_unlocked "post: unlocked"

# ---- --exec: the command waits for the lock in the gate program, then runs with the member's environment
t_run exec "$MBH_PRE" -c "$CONF" --exec -- /bin/sh -c 'echo "$MONGO_BACKUP_HOST:$MONGO_BACKUP_PORT $(cut -d" " -f5 /proc/$$/stat) $$"'
t_rc_is 0 "--exec: exits 0" exec
read -r hp pgid pid <"$T_OUT/exec.out"
tap_is "$hp" "$H2" "--exec: the command ran against the locked member"
tap_is "$pgid" "$pid" "--exec: in a process group of its own"
t_assert_unlocked "--exec: unlocked"

# ---- no gate program: --exec locks nothing, the error names it
MONGO_BACKUP_GATE=$T_DIR/no-such-gate t_run nogate "$MBH_PRE" -c "$CONF" --exec -- true
t_rc_is 69 "no gate program: --exec exits 69" nogate
tap_like "$T_OUT/nogate.err" "its gate program $T_DIR/no-such-gate: No such file or directory" "  the error names it"
tap_is "$(sim_counter 2 fsync)" 2 "  no fsync lock was sent (only the two earlier runs')"
t_assert_no_state "  no record"
tap_done
