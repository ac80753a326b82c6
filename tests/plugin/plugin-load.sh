#!/bin/bash
# plugin-load.sh: mongo-fd.so as bacula-fd's loader sees it (the interface the fake file daemon speaks,
# licence, sizes, two exported symbols), a daemon of an interface it does not speak (not loaded, and
# says so), console connections that touch nothing, and plugin strings or configs that fail the job
# with a line naming what to fix.  The fake file daemon is also checked against Debian's bpipe-fd.so.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
p_init

# ---------------------------------------------------------------- what the loader checks
IFACE=$MBH_FAKEFD_INTERFACE
# the size of each interface's entry-point table (BACULA-BAREOS-ABI.md 1.5): what the daemon indexes
case $IFACE in
14) PFUNCS=128 ;;
21) PFUNCS=144 ;;
22) PFUNCS=152 ;;
23) PFUNCS=168 ;;
*) tap_skip_all "MBH_FAKEFD_INTERFACE=$IFACE is not an interface mongo-fd.so speaks" ;;
esac
fd_run info info
t_rc_is 0 "the fake file daemon of interface $IFACE loads the plugin" info
tap_like "$T_OUT/info.out" "^fakefd: interface $IFACE \\(Bacula [0-9.a-z ]+\\) bInfo \\{8, $IFACE\\}" \
	"the fake file daemon says it speaks interface $IFACE"
tap_like "$T_OUT/info.out" "^plugin: magic=\\*FDPluginData\\* version=$IFACE size=56 license=AGPLv3 " \
	"pInfo: magic, interface $IFACE (what the daemon reported), 56 bytes, licence AGPLv3"
tap_like "$T_OUT/info.out" "^plugin: pfuncs size=$PFUNCS version=$IFACE optional=checkFile\$" \
	"pFuncs: $PFUNCS bytes, interface $IFACE; of the optional entry points only checkFile is set"
if command -v nm >/dev/null 2>&1; then
	tap_is "$(nm -D --defined-only "$MBH_PLUGIN" | awk '$2 == "T" { print $3 }' | sort | tr '\n' ' ')" \
		"loadPlugin unloadPlugin " "only loadPlugin and unloadPlugin are exported"
else
	tap_ok 0 "# SKIP nm is not installed"
fi
tap_ok "$( [ -f "$MBH_PLUGIN" ] && [ ! -L "$MBH_PLUGIN" ] && echo 0 || echo 1)" \
	"the plugin is a regular file (bacula-fd skips symlinks)"

# A daemon of another interface: loadPlugin refuses (so bacula-fd drops the file, calls unloadPlugin),
# and the line on stderr (the journal) names the version seen and the ones spoken.  From a Bacula
# interface the same line is a daemon message of the nearest interface's error type; 10 may be Bareos's
# (another callback table): nothing is called in it.
SPOKEN='mongo-fd.so speaks 14 \(Bacula 9\.0 to 9\.6\), 21 \(Bacula 11\.0\), 22 \(Bacula 13\.0\) and 23 \(Bacula 15\.0\)$'
for v in 99 15 10; do
	MBH_FAKEFD_INTERFACE=$v fd_run "refuse$v" info
	t_rc_is 2 "interface $v: the fake file daemon reports a plugin it could not load (no crash)" "refuse$v"
	tap_like "$T_OUT/refuse$v.out" "^fakefd: loadPlugin refused interface $v: not loaded\$" \
		"interface $v: loadPlugin refuses"
	tap_like "$T_OUT/refuse$v.err" "^mongo-fd: not loaded: this bacula-fd speaks plugin interface $v; $SPOKEN" \
		"interface $v: stderr says which version it saw and which ones it speaks"
done
tap_like "$T_OUT/refuse99.out" "^daemon: M_ERROR: mongo-fd: not loaded: this bacula-fd speaks plugin interface 99; $SPOKEN" \
	"interface 99: also a daemon message, of 23's error type"
tap_like "$T_OUT/refuse15.out" "^daemon: M_ERROR: mongo-fd: not loaded: this bacula-fd speaks plugin interface 15; " \
	"interface 15: also a daemon message, of 14's error type"
tap_is "$(grep -c '^daemon:' "$T_OUT/refuse10.out")" 0 "interface 10 (maybe Bareos): no call into its callback table"

# ---------------------------------------------------------------- console connections
CONF=$T_DIR/rs0.conf
CFG_URI="mongodb://127.0.0.1:1/?replicaSet=rs0" t_config "$CONF" \
	"script = { backup = [ \"/bin/true\" ]; };"
fd_run console console -- console -- console
t_rc_is 0 "three console connections: the fake file daemon runs them" console
tap_is "$(grep -c '^job 0: status=T files=0 bytes=0 errors=0 fname=-$' "$T_OUT/console.out")" 3 \
	"console connections: each ends T with nothing done"
tap_is "$(grep -c ': M_' "$T_OUT/console.out")" 0 "console connections: no job message at all"
tap_ok "$( [ ! -e "$T_STATE" ] && echo 0 || echo 1)" "console connections: the state directory is not even created"

# An estimate names the file a backup would make and connects to nothing (the URI points nowhere).
fd_run est estimate --cmd "mongo: config=$CONF"
fd_status_is est 0 T "estimate: T without any replica set to talk to"
tap_is "$(fd_field est 0 fname)" "/@mongo/rs0/MEMBER/true" "estimate: the file is /@mongo/SET/MEMBER/SCRIPT"
fd_run est2 estimate --cmd "mongo: config=$CONF:member=db7.example.net:27017"
tap_is "$(fd_field est2 0 fname)" "/@mongo/rs0/db7.example.net:27017/true" "estimate: a forced member is named"
tap_ok "$( [ ! -e "$T_STATE" ] && echo 0 || echo 1)" "estimate: nothing recorded"

# ---------------------------------------------------------------- failures name what to fix
# fails NAME PLUGIN-STRING ERE: the backup job fails (f) with one M_FATAL matching ERE.
fails() {
	fd_run "$1" backup --cmd "$2"
	fd_status_is "$1" 1 f "$1: the job fails (f)"
	tap_is "$(fd_count "$1" 1 M_FATAL)" 1 "$1: exactly one fatal message (interface $IFACE's M_FATAL)"
	tap_like "$T_OUT/$1.out" "^job 1: M_FATAL: mongo-fd: $3" "$1: the message says what is wrong"
	tap_is "$(grep -c 'ODD message type' "$T_OUT/$1.out")" 0 "$1: no message of a type a plugin must not send"
}
fails unknown-key "mongo: config=$CONF:polcy=auto" \
	'plugin string: unknown key "polcy" \(keys: config, member, policy, job\); fix the Plugin line of the FileSet$'
fails bad-policy "mongo: config=$CONF:policy=best" \
	'plugin string: policy="best" is not one of auto, local, member; fix the Plugin line'
fails no-config "mongo: policy=auto" 'plugin string: config= is missing'
fails relative "mongo: config=rs0.conf" 'plugin string: config="rs0.conf" is not an absolute path'
fails missing-file "mongo: config=$T_DIR/nope.conf" "$T_DIR/nope.conf.*fix it \(mongo-prebackup -c $T_DIR/nope.conf --dry-run checks it\)$"
printf 'uri = "mongodb://127.0.0.1:1/";\nbogus = 1;\n' >"$T_DIR/bad.conf"
fails bad-key "mongo: config=$T_DIR/bad.conf" "$T_DIR/bad.conf:2: .*bogus"
CFG_URI="mongodb://127.0.0.1:1/?replicaSet=rs0" t_config "$T_DIR/noscript.conf"
fails no-script "mongo: config=$T_DIR/noscript.conf" \
	"$T_DIR/noscript.conf has no script.backup: set script.backup = \\[ \"/path/to/backup-script\", ... \\] there"
tap_ok "$( [ ! -e "$T_STATE/rs0.state" ] && echo 0 || echo 1)" "failures before the lock: nothing recorded"

# ---------------------------------------------------------------- the fake host itself, on a real plugin
BPIPE=/usr/lib/bacula/bpipe-fd.so
# The fake host takes Bacula 9.6's bpipe-fd.so (interface 14) with libbac.so preloaded.  15.0's (Debian
# 13's) also needs bacula-fd's own configuration library and, in a Full job, sends a restore object
# before its file, which the fake host does not take: there the real bacula-fd runs (tests/bacula/).
bpipe_bacula=$(/usr/sbin/bacula-fd -? 2>&1 </dev/null | sed -n 's/^Version: *\([0-9][0-9.]*\) .*/\1/p' | head -n 1)
if [ "${MBH_SANITIZERS:-no}" = yes ]; then
	# libbac.so preloaded ahead of the ASan runtime: ASan refuses to start
	for _ in 1 2 3 4; do
		tap_ok 0 "# SKIP a sanitizer build cannot preload Debian's libbac.so for bpipe-fd.so"
	done
elif [ -f "$BPIPE" ] && [ -n "$bpipe_bacula" ] && [ "${bpipe_bacula%%.*}" != 9 ]; then
	for _ in 1 2 3 4; do
		tap_ok 0 "# SKIP $BPIPE is Bacula $bpipe_bacula's: the fake host drives 9.6's only (the real bacula-fd runs in tests/bacula/)"
	done
elif [ -f "$BPIPE" ] && [ -f /usr/lib/bacula/libbac.so ]; then
	# Debian's bpipe-fd.so speaks 9.6.7's interface 14 only, whatever this run's interface
	MBH_FAKEFD_INTERFACE=14 MBH_PLUGIN=$BPIPE LD_PRELOAD=/usr/lib/bacula/libbac.so fd_run bpipe \
		backup --cmd "bpipe:/MYDB/dump.txt:printf 'hello from bpipe\\n':cat >$T_OUT/bpipe.restored" \
		--out "$T_OUT/bpipe.data"
	fd_status_is bpipe 1 T "fakefd drives Debian's bpipe-fd.so: backup T"
	tap_is "$(cat "$T_OUT/bpipe.data")" "hello from bpipe" "fakefd + bpipe-fd.so: the bytes of the reader"
	MBH_FAKEFD_INTERFACE=14 MBH_PLUGIN=$BPIPE LD_PRELOAD=/usr/lib/bacula/libbac.so fd_run bpipe-r \
		restore --cmd "bpipe:/MYDB/dump.txt:true:cat >$T_OUT/bpipe.restored" --in "$T_OUT/bpipe.data" \
		--fname /MYDB/dump.txt --where "$T_DIR/w"
	fd_status_is bpipe-r 1 T "fakefd + bpipe-fd.so: restore T"
	tap_is "$(cat "$T_OUT/bpipe.restored" 2>/dev/null)" "hello from bpipe" "fakefd + bpipe-fd.so: the writer got the bytes"
else
	for _ in 1 2 3 4; do
		tap_ok 0 "# SKIP $BPIPE (Debian's bacula-fd) is not installed"
	done
fi
tap_done
