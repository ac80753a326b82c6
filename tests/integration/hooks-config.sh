#!/bin/bash
# hooks-config.sh: configuration and command-line errors of both programs: unknown keys and wrong
# types (78 with file:line), bad URIs (64, redacted), a password on the command line (64),
# MONGO_BACKUP_URI, --check-config, --help, --version, bad options (64).
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init

CONF=$T_DIR/rs0.conf
unset MONGO_BACKUP_URI
sim_start_pss
URIPW="Uri-pw-$$-k2"
URI_WITH_PW=$(printf '%s' "$SIM_URI" | sed "s|^mongodb://|mongodb://backup:$URIPW@|")
URI_GOOD=$(printf '%s' "$SIM_URI" | sed "s|^mongodb://|mongodb://backup:$T_PASS@|")

for prog in "$MBH_PRE" "$MBH_POST"; do
	p=$(basename "$prog")

	t_config "$CONF" 'colour = "blue";'
	t_run unknown "$prog" -c "$CONF"
	t_rc_is 78 "$p: unknown key: exits 78" unknown
	tap_like "$T_OUT/unknown.err" "^$p: error: .*$CONF:6" "$p: unknown key: the error names $CONF:6"
	tap_like "$T_OUT/unknown.err" "colour" "$p: unknown key: the error names the key"

	t_config "$CONF" 'selection = { policy = "auto"; unknown_thing = 3; };'
	t_run unknown2 "$prog" -c "$CONF" --check-config
	t_rc_is 78 "$p: unknown key in a group: exits 78" unknown2
	tap_like "$T_OUT/unknown2.err" "$CONF:6" "$p: unknown key in a group: names $CONF:6"

	t_config "$CONF" '' 'lock = { max_seconds = "soon"; };'
	t_run type "$prog" -c "$CONF" --check-config
	t_rc_is 78 "$p: wrong type: exits 78" type
	tap_like "$T_OUT/type.err" "$CONF:7" "$p: wrong type: the error names $CONF:7"

	printf 'uri = "mongodb://x/";\nusername = \n' >"$T_DIR/syntax.conf"
	t_run syntax "$prog" -c "$T_DIR/syntax.conf" --check-config
	t_rc_is 78 "$p: libconfig syntax error: exits 78" syntax
	tap_like "$T_OUT/syntax.err" "syntax\\.conf:[0-9]" "$p: syntax error: names the file and line"

	t_run nofile "$prog" -c "$T_DIR/does-not-exist.conf" --check-config
	t_rc_is 78 "$p: missing config file: exits 78" nofile

	t_config "$CONF"
	t_run check "$prog" -c "$CONF" --check-config
	t_rc_is 0 "$p: --check-config on a good file: exits 0" check
	cat "$T_OUT/check.out" "$T_OUT/check.err" >"$T_OUT/check.all"
	tap_like "$T_OUT/check.all" "config ok" "$p: --check-config prints config ok"

	# Bad URIs: 64, and the password in them never printed.
	for bad in "mongodb://backup:$URIPW@127.0.0.1:notaport/?replicaSet=rs0" \
		"http://backup:$URIPW@127.0.0.1:1/" \
		"mongodb://backup:$URIPW@/?replicaSet=rs0"; do
		CFG_URI=none t_config "$CONF"
		MONGO_BACKUP_URI=$bad t_run baduri "$prog" -c "$CONF" --check-config
		t_rc_is 64 "$p: invalid MONGO_BACKUP_URI ${bad%%:*}...: exits 64" baduri
		tap_unlike "$T_OUT/baduri.err" "$URIPW" "$p: invalid MONGO_BACKUP_URI: the password is redacted"
		tap_like "$T_OUT/baduri.err" "^$p: error: " "$p: invalid MONGO_BACKUP_URI: one error line"
		CFG_URI=$bad t_config "$CONF"
		t_run baduri2 "$prog" -c "$CONF" --check-config
		if [ "$T_RC" = 64 ] || [ "$T_RC" = 78 ]; then
			tap_pass "$p: invalid uri in the config file: exits 64 or 78 ($T_RC)"
		else
			tap_fail "$p: invalid uri in the config file: exits 64 or 78"
			t_show baduri2
		fi
		tap_unlike "$T_OUT/baduri2.err" "$URIPW" "$p: invalid uri in the config file: the password is redacted"
	done

	# A password on the command line is refused.
	CFG_URI=none CFG_USER=none CFG_PWFILE=none t_config "$CONF"
	t_run clipw "$prog" -c "$CONF" --uri "$URI_WITH_PW" --check-config
	t_rc_is 64 "$p: --uri with a password: exits 64" clipw
	tap_like "$T_OUT/clipw.err" "do not put the password on the command line" "$p: --uri with a password: says why"
	tap_unlike "$T_OUT/clipw.err" "$URIPW" "$p: --uri with a password: the password is not echoed"

	# MONGO_BACKUP_URI is used when neither --uri nor the file gives one.
	CFG_URI=none t_config "$CONF"
	if [ "$prog" = "$MBH_PRE" ]; then
		MONGO_BACKUP_URI=$SIM_URI t_run envuri "$prog" -c "$CONF" --dry-run
		t_rc_is 0 "$p: MONGO_BACKUP_URI (no uri in the file): --dry-run works" envuri
		CFG_URI=none CFG_USER=none CFG_PWFILE=none t_config "$CONF"
		MONGO_BACKUP_URI=$URI_GOOD t_run envuripw "$prog" -c "$CONF" --dry-run
		t_rc_is 0 "$p: MONGO_BACKUP_URI with user and password: --dry-run works" envuripw
		MONGO_BACKUP_URI=$URI_WITH_PW t_run envbadpw "$prog" -c "$CONF" --dry-run
		t_rc_is 77 "$p: MONGO_BACKUP_URI with a wrong password: 77" envbadpw
		tap_unlike "$T_OUT/envbadpw.err" "$URIPW" "$p: MONGO_BACKUP_URI with a wrong password: not printed"
		MONGO_BACKUP_URI=$URI_GOOD t_run envonly "$prog" --state-dir "$T_STATE" --dry-run
		t_rc_is 0 "$p: MONGO_BACKUP_URI alone (no config file): --dry-run works" envonly
		CFG_URI=none t_config "$CONF"
		MONGO_BACKUP_URI="mongodb://127.0.0.1:1/?replicaSet=rs0" t_run override "$prog" -c "$CONF" --uri "$SIM_URI" --dry-run
		t_rc_is 0 "$p: --uri overrides MONGO_BACKUP_URI" override
	else
		MONGO_BACKUP_URI=$SIM_URI t_run envuri "$prog" -c "$CONF" --status
		t_rc_is 0 "$p: MONGO_BACKUP_URI (no uri in the file): --status works" envuri
		cat "$T_OUT/envuri.out" "$T_OUT/envuri.err" >"$T_OUT/envuri.all"
		tap_like "$T_OUT/envuri.all" "nothing is locked for rs0" "$p: --status finds the set name in MONGO_BACKUP_URI"
	fi
	t_run nouri "$prog" -c "$CONF" --check-config
	if [ "$T_RC" = 64 ] || [ "$T_RC" = 78 ]; then
		tap_pass "$p: no URI anywhere: a usage/config error ($T_RC)"
	else
		tap_fail "$p: no URI anywhere: a usage/config error (64 or 78)"
		t_show nouri
	fi

	t_run help "$prog" --help
	t_rc_is 0 "$p: --help exits 0" help
	tap_like "$T_OUT/help.out" "--config" "$p: --help lists the options on stdout"
	t_run version "$prog" --version
	t_rc_is 0 "$p: --version exits 0" version
	cat "$T_OUT/version.out" "$T_OUT/version.err" >"$T_OUT/version.all"
	tap_like "$T_OUT/version.all" "[0-9]+\\.[0-9]+" "$p: --version prints a version"
	t_run badopt "$prog" --no-such-option
	t_rc_is 64 "$p: an unknown option: exits 64" badopt
	tap_like "$T_OUT/badopt.err" "^$p: .*try --help" "$p: an unknown option: says try --help"
	tap_is "$(wc -l <"$T_OUT/badopt.err")" 1 "$p: an unknown option: one line"
	t_run noarg "$prog" --config
	t_rc_is 64 "$p: a missing argument: exits 64" noarg
	t_run stray "$prog" -c "$CONF" stray-argument
	t_rc_is 64 "$p: a stray argument: exits 64" stray
done

t_config "$CONF"
for bad in "--policy sideways" "--max-lag -3" "--max-lag abc" "--max-lock-seconds 0x" "--tag novalue"; do
	# shellcheck disable=SC2086
	t_run badval "$MBH_PRE" -c "$CONF" $bad --dry-run
	t_rc_is 64 "mongo-prebackup $bad: exits 64" badval
done
t_run exec0 "$MBH_PRE" -c "$CONF" --exec --
t_rc_is 64 "mongo-prebackup --exec -- with no command: exits 64" exec0
t_assert_unlocked "config errors: nothing was locked"

sim_stop
tap_done
