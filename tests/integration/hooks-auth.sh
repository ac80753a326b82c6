#!/bin/bash
# hooks-auth.sh: authentication and authorisation: good credentials, a wrong password (77, never
# echoed), a user without the fsync privilege (77, nothing left locked), password file mode and absence (78).
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init

CONF=$T_DIR/rs0.conf
sim_start_pss

t_config "$CONF"
t_run good "$MBH_PRE" -c "$CONF" --job good
t_rc_is 0 "good credentials: pre exits 0" good
tap_is "$(sim_lockcount 2)" 1 "good credentials: member 2 locked"
t_run goodpost "$MBH_POST" -c "$CONF"
t_rc_is 0 "good credentials: post exits 0" goodpost
t_assert_unlocked "good credentials: unlocked"

WRONG="Wr0ng-pass-$$-q8"
CFG_PASS=$WRONG t_config "$CONF"
for mode in --dry-run --job=wrong; do
	t_run wrong "$MBH_PRE" -c "$CONF" "$mode"
	t_rc_is 77 "wrong password ($mode): exits 77" wrong
	tap_like "$T_OUT/wrong.err" "^mongo-prebackup: error: .*(auth|credential|password)" "wrong password ($mode): an error line about authentication"
	tap_unlike "$T_OUT/wrong.err" "$WRONG" "wrong password ($mode): the given password is not printed"
	tap_unlike "$T_OUT/wrong.out" "$WRONG" "wrong password ($mode): not on stdout either"
	tap_unlike "$T_OUT/wrong.err" "$T_PASS" "wrong password ($mode): the real password is not printed"
	t_assert_unlocked "wrong password ($mode): nothing locked"
	t_assert_no_state "wrong password ($mode): no state record"
done
t_run wrongpost "$MBH_POST" -c "$CONF" --status
t_rc_is 0 "wrong password: post --status needs no server (nothing locked)" wrongpost

# A user who may read the set but not fsync.
CFG_USER=nofsync CFG_PASS=$T_PASS_NOFSYNC t_config "$CONF"
t_run nofsync "$MBH_PRE" -c "$CONF" --job nofsync
t_rc_is 77 "no fsync privilege: exits 77" nofsync
tap_like "$T_OUT/nofsync.err" "^mongo-prebackup: error: .*(not authorized|authoriz|privilege|permission)" "no fsync privilege: the error says not authorized"
t_assert_unlocked "no fsync privilege: nothing locked"
t_assert_no_state "no fsync privilege: no state record left"
tap_is "$(sim_status_field 2 frozen)/$(sim_status_field 1 frozen)" "0/0" "no fsync privilege: nobody left frozen"

# The password file: mode and existence.
t_config "$CONF"
chmod 0644 "$T_DIR/backup.secret"
t_run mode "$MBH_PRE" -c "$CONF" --job mode
t_rc_is 78 "password file 0644: pre exits 78" mode
tap_like "$T_OUT/mode.err" "backup\\.secret" "password file 0644: the message names the file"
tap_unlike "$T_OUT/mode.err" "$T_PASS" "password file 0644: the password is not printed"
t_run modepost "$MBH_POST" -c "$CONF"
t_rc_is 78 "password file 0644: post exits 78" modepost
chmod 0640 "$T_DIR/backup.secret"
t_run mode2 "$MBH_PRE" -c "$CONF" --dry-run
t_rc_is 78 "password file 0640: exits 78" mode2
chmod 0400 "$T_DIR/backup.secret"
t_run mode3 "$MBH_PRE" -c "$CONF" --dry-run
t_rc_is 0 "password file 0400 (stricter than 0600): accepted" mode3
t_assert_unlocked "password file checks: nothing locked"

rm -f "$T_DIR/backup.secret"
t_run missing "$MBH_PRE" -c "$CONF" --dry-run
t_rc_is 78 "missing password file: exits 78" missing
tap_like "$T_OUT/missing.err" "backup\\.secret" "missing password file: the message names the file"

# --password-file on the command line overrides the file's.
t_secret "$T_DIR/other.secret" "$T_PASS"
t_run pwopt "$MBH_PRE" -c "$CONF" --password-file "$T_DIR/other.secret" --dry-run
t_rc_is 0 "--password-file overrides the config's password_file" pwopt

sim_stop
tap_done
