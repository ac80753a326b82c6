#!/bin/bash
# hooks-secrets.sh: invariant 7: the password never appears in output, logs, the state and events files,
# the argv or environment of the backup command or the watchdog, nor in the simulator's log -- with
# the password in a password file, in MONGO_BACKUP_URI and in the config file's uri, plain and
# percent-encoded, on success and failure paths, verbose.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init

CONF=$T_DIR/rs0.conf
SF=$T_STATE/rs0.state

# has_pw FILE...: list the files that contain the password, raw or percent-encoded (none: status 1).
has_pw() {
	local f found=1
	for f in "$@"; do
		[ -f "$f" ] || continue
		if grep -Faq -e "$PW" -e "$PW_ENC" -- "$f"; then
			echo "$f"
			found=0
		fi
	done
	return "$found"
}

# no_pw NAME FILE...: assert no FILE holds the password.
no_pw() {
	local name=$1 bad
	shift
	if bad=$(has_pw "$@"); then
		tap_fail "$name"
		tap_diag "  the password is in: $bad"
	else
		tap_pass "$name"
	fi
}

# exercise VARIANT: every way of running both programs, keeping copies of every artefact in out/VARIANT.
exercise() {
	local v=$1 wd
	T_OUT=$T_DIR/out/$v
	mkdir -p "$T_OUT"

	t_run dry "$MBH_PRE" -c "$CONF" --dry-run -v
	t_rc_is 0 "$v: --dry-run -v works" dry
	t_run pre "$MBH_PRE" -c "$CONF" -v --job "sec-$v"
	t_rc_is 0 "$v: pre -v works" pre
	cp "$SF" "$T_OUT/state.copy" 2>/dev/null
	wd=$(state_get "$SF" watchdog_pid)
	if [ -n "$wd" ] && t_is_ours "$wd"; then
		cp "/proc/$wd/cmdline" "$T_OUT/watchdog.cmdline"
		case $v in *-env) ;; *) cp "/proc/$wd/environ" "$T_OUT/watchdog.environ" ;; esac
	fi
	t_run second "$MBH_PRE" -c "$CONF" -v --job "sec2-$v"
	t_rc_is 75 "$v: a second pre -v is refused" second
	t_run status "$MBH_POST" -c "$CONF" --status -v
	t_rc_is 0 "$v: post --status -v works" status
	sim_ctl kill 2 >/dev/null
	t_run unreach "$MBH_POST" -c "$CONF" -v
	t_rc_is 75 "$v: post -v with the member down: 75" unreach
	sim_ctl revive 2 >/dev/null
	t_run post "$MBH_POST" -c "$CONF" -v
	t_rc_is 0 "$v: post -v works" post
	sim_ctl lock 2 >/dev/null
	t_run foreign "$MBH_PRE" -c "$CONF" -v
	t_rc_is 75 "$v: pre -v on a foreign lock: 75" foreign
	sim_ctl unlock 2 >/dev/null
	t_run badmember "$MBH_PRE" -c "$CONF" -v --member 127.0.0.1:1
	tap_isnt "$T_RC" 0 "$v: pre -v --member 127.0.0.1:1 fails"

	t_run exec "$MBH_PRE" -c "$CONF" -v --exec -- /bin/sh -c \
		'cat /proc/$$/cmdline >"$0.cmdline"; cat /proc/$$/environ >"$0.environ"' "$T_OUT/child"
	t_rc_is 0 "$v: --exec -v works" exec
	tap_ok "$([ -s "$T_OUT/child.environ" ] && echo 0 || echo 1)" "$v: the command dumped its environment"
	no_pw "$v: not in the backup command's /proc/self/cmdline" "$T_OUT/child.cmdline"
	no_pw "$v: not in the backup command's /proc/self/environ" "$T_OUT/child.environ"

	# 2 s of 250 ms (MBH_TEST_SECOND_MS, test builds): the watchdog fires 500 ms after the intent, and
	# may have removed the record by the time this reads it, so its pid comes from pre's -v log
	MBH_TEST_SECOND_MS=250 t_run wd "$MBH_PRE" -c "$CONF" -v --max-lock-seconds 2 --job "wd-$v"
	t_rc_is 0 "$v: pre with a 500 ms watchdog works" wd
	wd=$(sed -n 's/.*told the watchdog (pid \([0-9]*\)) what to guard.*/\1/p' "$T_OUT/wd.err" | head -n 1)
	[ -n "$wd" ] || tap_diag "  no watchdog pid in pre's log"
	tap_ok "$( { [ -n "$wd" ] && t_pid_gone "$wd" 1500; } && echo 0 || echo 1)" "$v: the watchdog fires" || {
		t_diag_proc "$wd"
		tap_diag_file "$T_STATE/rs0.events" "events"
		tap_diag "  locks: $(sim_lockcounts)  state file: $([ -e "$SF" ] && echo present || echo gone)"
	}
	t_assert_unlocked "$v: unlocked at the end"
	cp "$T_STATE/rs0.events" "$T_OUT/events.copy" 2>/dev/null

	no_pw "$v: not on the stdout or stderr of any run" "$T_OUT"/*.out "$T_OUT"/*.err
	no_pw "$v: not in the state file" "$T_OUT/state.copy"
	no_pw "$v: not in the events file" "$T_OUT/events.copy"
	if [ -f "$T_OUT/watchdog.cmdline" ]; then
		no_pw "$v: not in the watchdog's cmdline" "$T_OUT/watchdog.cmdline"
	else
		tap_fail "$v: the watchdog's cmdline could be read"
	fi
	case $v in
	*-env) ;;
	*) no_pw "$v: not in the watchdog's environment" "$T_OUT/watchdog.environ" ;;
	esac
}

# Two passwords: a plain one and one that must be percent-encoded in a URI.
n=0
for PW in "Zq9-unique-PW-7731" "Zq9@uniq:PW/77%31+x"; do
	n=$((n + 1))
	PW_ENC=$(/usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PW")
	T_PASS=$PW
	tap_diag "password $n: $PW (in a URI: $PW_ENC)"
	t_topology "$T_DIR/topo$n.conf" '{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
	sim_start "$T_DIR/topo$n.conf" -v || { tap_fail "the simulator starts"; continue; }
	URIPW=$(printf '%s' "$SIM_URI" | sed "s|^mongodb://|mongodb://backup:$PW_ENC@|")

	# a: the password in a 0600 file.
	t_config "$CONF"
	exercise "pw$n-file"

	# b: the password in MONGO_BACKUP_URI (the config names neither user nor file).
	CFG_URI=none CFG_USER=none CFG_PWFILE=none t_config "$CONF"
	export MONGO_BACKUP_URI=$URIPW
	exercise "pw$n-env"
	unset MONGO_BACKUP_URI

	# c: the password in the config file's uri.
	CFG_URI=$URIPW CFG_USER=none CFG_PWFILE=none t_config "$CONF"
	t_run "checkcfg$n" "$MBH_PRE" -c "$CONF" --check-config -v
	t_rc_is 0 "pw$n: --check-config -v with the password in the file's uri" "checkcfg$n"
	exercise "pw$n-conf"
	no_pw "pw$n: not in --check-config -v output" "$T_OUT/checkcfg$n.out" "$T_OUT/checkcfg$n.err"

	sim_stop
	no_pw "pw$n: not in the simulator's log (-v) or output" "$SIM_LOG" "$SIM_DIR/stdout" "$SIM_DIR/stderr"
	tap_ok "$([ -s "$SIM_LOG" ] && echo 0 || echo 1)" "pw$n: the simulator's log is not empty (so the check means something)"
done
T_OUT=$T_DIR/out
tap_done
