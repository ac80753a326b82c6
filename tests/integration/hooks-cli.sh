#!/bin/bash
# hooks-cli.sh: hostile command lines and files for both programs: a password typed as an option (or an
# abbreviation of one) is refused with 64 and never echoed nor written anywhere; long options must be
# written in full; --job is at most 127 bytes without control characters; a FIFO, device or directory
# as the config or password file is refused with 78 at once; control characters typed by the user are
# escaped in every error; --member must be HOST:PORT (64); an unresolvable mongodb+srv:// name is
# temporary (75); --check-config checks the command templates' escapes and script.timeout (78, file:line).
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init

CONF=$T_DIR/rs0.conf
SECRET="Zq9SECRET-$$-cli"
ESC=$(printf '\033')
sim_start_pss
# syslog on: what is refused must be refused before anything is logged there either
t_config "$CONF" 'log = { syslog = true; };'

# written SECRET NAME CMD...: run CMD under strace and assert no write or send of any process holds SECRET
# (stderr, syslog's socket, a file); skipped where strace is missing or cannot trace.
written() {
	local secret=$1 name=$2
	shift 2
	if ! command -v strace >/dev/null 2>&1 || ! strace -qq -o /dev/null true 2>/dev/null; then
		tap_ok 0 "$name # SKIP strace is missing or cannot trace here"
		return 0
	fi
	timeout -k 5 "$T_TIMEOUT" strace -f -qq -e trace=write,writev,pwrite64,pwritev,sendto,sendmsg,sendmmsg \
		-s 65536 -o "$T_OUT/strace.txt" "$@" </dev/null >/dev/null 2>&1
	if grep -Fq -- "$secret" "$T_OUT/strace.txt"; then
		tap_fail "$name"
		tap_diag "  written: $(grep -F -- "$secret" "$T_OUT/strace.txt" | head -n 3)"
	else
		tap_pass "$name"
	fi
}

# refused_once NAME RUN WANT-ERE: the last run exited 64 with one line matching WANT-ERE and no SECRET.
refused_once() {
	t_rc_is 64 "$1: exits 64" "$2"
	tap_like "$T_OUT/$2.err" "$3" "$1: says why"
	tap_is "$(wc -l <"$T_OUT/$2.err")" 1 "$1: one line"
	tap_unlike "$T_OUT/$2.err" "$SECRET" "$1: the value is not echoed"
	tap_unlike "$T_OUT/$2.out" "$SECRET" "$1: nor on stdout"
}

for prog in "$MBH_PRE" "$MBH_POST"; do
	p=$(basename "$prog")

	# 1. A password as an option, or an abbreviation that getopt_long would take for --password-file.
	for opt in "--password $SECRET" "--pass $SECRET" "--password=$SECRET" "--passw=$SECRET" "--pw $SECRET" \
		"--PASSWORD $SECRET" "--password-fil $SECRET" "--pass"; do
		# shellcheck disable=SC2086
		t_run pw "$prog" -c "$CONF" $opt
		refused_once "$p ${opt%% *}" pw "^$p: error: a password is never accepted on the command line.*password_file"
		# shellcheck disable=SC2086
		written "$SECRET" "$p ${opt%% *}: no process writes or sends the value (stderr, syslog, files)" \
			"$prog" -c "$CONF" $opt
	done
	t_run pshort "$prog" -c "$CONF" -p "$SECRET"
	refused_once "$p -p" pshort "unknown option -p; try --help"
	t_run pclust "$prog" -c "$CONF" -vp"$SECRET"
	refused_once "$p -vpSECRET" pclust "unknown option -p; try --help"
	t_run unk "$prog" -c "$CONF" --frobnicate="$SECRET"
	refused_once "$p --frobnicate=VALUE" unk "unknown option --frobnicate; try --help"
	t_run abbr "$prog" -c "$CONF" --check
	# mongo-postbackup has --check-held too: both names are offered
	if [ "$p" = mongo-postbackup ]; then want="--check-held or --check-config; try --help\$"; else want="--check-config; try --help\$"; fi
	refused_once "$p --check (an abbreviation)" abbr "option --check must be written in full: $want"
	t_run abbr2 "$prog" --conf "$CONF" --check-config
	refused_once "$p --conf FILE (an abbreviation)" abbr2 "option --conf must be written in full: --config"
	t_run noval "$prog" -c "$CONF" --check-config="$SECRET"
	refused_once "$p --check-config=VALUE" noval "option --check-config takes no value"
	t_run whole "$prog" --config "$CONF" --check-config
	t_rc_is 0 "$p: whole option names work" whole

	# 2. --job: what the state record holds, no control characters.
	J127=$(printf 'J%.0s' $(seq 127))
	t_run job128 "$prog" -c "$CONF" --job "${J127}X" --check-config
	t_rc_is 64 "$p --job of 128 bytes: exits 64 (it would be cut in the state record)" job128
	tap_like "$T_OUT/job128.err" "^$p: error: --job: the job name is 128 bytes long; at most 127 " \
		"$p --job of 128 bytes: says the limit"
	t_run job127 "$prog" -c "$CONF" --job "$J127" --check-config
	t_rc_is 0 "$p --job of 127 bytes: accepted" job127
	t_run jobctl "$prog" -c "$CONF" --job "a${ESC}]0;pwned$(printf '\a')b" --check-config
	t_rc_is 64 "$p --job with control characters: exits 64" jobctl
	tap_like "$T_OUT/jobctl.err" "control character" "$p --job with control characters: says so"
	tap_unlike "$T_OUT/jobctl.err" "$ESC" "$p --job with control characters: none reaches the terminal"

	# 3. Files that are not regular files: refused at once, never read.
	rm -f "$T_DIR/fifo" && mkfifo "$T_DIR/fifo"
	T_TIMEOUT=10 t_run fifo "$prog" -c "$T_DIR/fifo" --check-config
	t_rc_is 78 "$p -c FIFO: exits 78 at once (no wait for a writer)" fifo
	tap_like "$T_OUT/fifo.err" "^$p: error: $T_DIR/fifo: the config file is a FIFO, not a regular file" \
		"$p -c FIFO: says what it is"
	T_TIMEOUT=10 t_run zero "$prog" -c /dev/zero --check-config
	t_rc_is 78 "$p -c /dev/zero: exits 78" zero
	tap_like "$T_OUT/zero.err" "/dev/zero: the config file is a character device, not a regular file" \
		"$p -c /dev/zero: says what it is"
	T_TIMEOUT=10 t_run dir "$prog" -c "$T_DIR" --check-config
	t_rc_is 78 "$p -c DIRECTORY: exits 78" dir
	tap_like "$T_OUT/dir.err" "the config file is a directory" "$p -c DIRECTORY: says what it is"
	ln -sf "$CONF" "$T_DIR/link.conf"
	t_run link "$prog" -c "$T_DIR/link.conf" --check-config
	t_rc_is 0 "$p -c SYMLINK-TO-A-FILE: fine" link
	T_TIMEOUT=10 t_run pwfifo "$prog" -c "$CONF" --password-file "$T_DIR/fifo" --check-config
	t_rc_is 78 "$p --password-file FIFO: exits 78 at once" pwfifo
	tap_like "$T_OUT/pwfifo.err" "the password file is a FIFO, not a regular file" "$p --password-file FIFO: says so"

	# 4. Control characters typed by the user are escaped in the error line.
	t_run cturi "$prog" -c "$CONF" --uri "mongodb://a${ESC}[31mRED/?replicaSet=rs0" --check-config
	t_rc_is 64 "$p --uri with ESC: exits 64" cturi
	tap_unlike "$T_OUT/cturi.err" "$ESC" "$p --uri with ESC: no raw ESC on stderr"
	tap_like "$T_OUT/cturi.err" 'a\\x1b\[31mRED' "$p --uri with ESC: shown as \\x1b"
	t_run ctopt "$prog" -c "$CONF" "--x${ESC}[2J"
	t_rc_is 64 "$p --OPTION-with-ESC: exits 64" ctopt
	tap_unlike "$T_OUT/ctopt.err" "$ESC" "$p --OPTION-with-ESC: no raw ESC"
	t_run ctarg "$prog" -c "$CONF" "stray${ESC}[2J"
	tap_unlike "$T_OUT/ctarg.err" "$ESC" "$p stray operand with ESC: no raw ESC"
	t_run ctconf "$prog" -c "$T_DIR/no${ESC}[2Jfile.conf" --check-config
	t_rc_is 78 "$p -c PATH-with-ESC (missing): exits 78" ctconf
	tap_unlike "$T_OUT/ctconf.err" "$ESC" "$p -c PATH-with-ESC: no raw ESC"
	tap_like "$T_OUT/ctconf.err" 'no\\x1b\[2Jfile.conf' "$p -c PATH-with-ESC: shown as \\x1b"

	# 6. An unresolvable mongodb+srv:// name is a temporary failure: DNS on loopback only, in a mount namespace.
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$T_DIR/resolv.conf"
	CFG_URI=none t_config "$T_DIR/srv.conf"
	if [ "$prog" = "$MBH_PRE" ] && unshare -m true 2>/dev/null; then
		t_run srv unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh \
			"$T_DIR/resolv.conf" "$prog" -c "$T_DIR/srv.conf" \
			--uri "mongodb+srv://cluster0.mbh-test.invalid/?replicaSet=rs0" --dry-run
		t_rc_is 75 "$p: an SRV name that does not resolve: exits 75 (temporary)" srv
		tap_like "$T_OUT/srv.err" "SRV record" "$p: an SRV name that does not resolve: names the SRV record"
	elif [ "$prog" = "$MBH_PRE" ]; then
		tap_ok 0 "$p: an SRV name that does not resolve # SKIP no mount namespace here (unshare -m)"
	fi
done

# 5. --member must be HOST:PORT: a usage error before anything is contacted.
for m in "db2" "db2:99999" "db2:0" "::1:27017" "[::1" ":27017" "db 2:1"; do
	t_run member "$MBH_PRE" -c "$CONF" --member "$m" --dry-run
	t_rc_is 64 "mongo-prebackup --member '$m': exits 64" member
	tap_like "$T_OUT/member.err" "^mongo-prebackup: error: --member: must be \"HOST:PORT\" \(" \
		"mongo-prebackup --member '$m': says what is wrong"
done
secondary=$(sim_member_host 2)
t_run member "$MBH_PRE" -c "$CONF" --member "$secondary" --dry-run
t_rc_is 0 "mongo-prebackup --member $secondary (a secondary): fine" member
t_config "$T_DIR/member.conf" 'selection = { member = "db2"; };'
t_run memberconf "$MBH_PRE" -c "$T_DIR/member.conf" --check-config
t_rc_is 78 "selection.member without a port in the file: exits 78" memberconf
tap_like "$T_OUT/memberconf.err" "member.conf:6: 'selection.member' must be \"HOST:PORT\" \(no :PORT\)" \
	"selection.member without a port: file:line and why"

# 7. --check-config checks what the runner would refuse later: template escapes and script.timeout.
t_config "$T_DIR/esc.conf" 'script = { backup = [ "/usr/local/bin/dump.sh",' '  "%h:%p", "%x" ]; };'
t_run esc "$MBH_PRE" -c "$T_DIR/esc.conf" --check-config
t_rc_is 78 "--check-config: an unknown escape in script.backup: exits 78" esc
tap_like "$T_OUT/esc.err" "esc.conf:7: 'script.backup' argument 3 \"%x\" has the unknown escape %x" \
	"--check-config: an unknown escape: file:line, argument and escape"
t_config "$T_DIR/esc2.conf" 'script = { restore = [ "/usr/local/bin/restore.sh", "100%" ]; };'
t_run esc2 "$MBH_POST" -c "$T_DIR/esc2.conf" --check-config
t_rc_is 78 "--check-config: a lone % in script.restore: exits 78" esc2
tap_like "$T_OUT/esc2.err" "esc2.conf:6: 'script.restore' argument 2 \"100%\" ends in a lone %" \
	"--check-config: a lone %: file:line"
t_config "$T_DIR/esc3.conf" \
	'script = { backup = [ "/bin/dump", "%h", "%p", "%s", "%j", "%S", "100%%" ]; timeout = 604800; };' \
	'snapshot = { create = [ "/bin/snap", "create", "%s", "%j" ]; remove = [ "/bin/snap", "remove", "%S" ]; };'
t_run esc3 "$MBH_PRE" -c "$T_DIR/esc3.conf" --check-config
t_rc_is 0 "--check-config: every known escape (%h %p %s %j %S %%) and the longest timeout pass" esc3
t_config "$T_DIR/tmo.conf" 'script = {' '  timeout = 604801; };'
t_run tmo "$MBH_PRE" -c "$T_DIR/tmo.conf" --check-config
t_rc_is 78 "--check-config: script.timeout out of range: exits 78" tmo
tap_like "$T_OUT/tmo.err" "tmo.conf:7: 'script.timeout' must be an integer between 0 and 604800" \
	"--check-config: script.timeout out of range: file:line"

t_assert_unlocked "hostile command lines: nothing was locked"
sim_stop
tap_done
