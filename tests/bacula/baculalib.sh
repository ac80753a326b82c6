# baculalib.sh: real Bacula daemons (director with a SQLite catalog, storage daemon, file daemon) for
# end-to-end tests, started from the test's temp dir on free loopback ports and stopped by pid.
# Built on simlib.sh (TAP, temp dir, cleanup, simulator).  Source it from bash:
#   . "$top_srcdir/tests/bacula/baculalib.sh"
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# A test:
#   t_init                     # simlib: temp dir T_DIR, cleanup trap
#   bacula_init                # skips the test (TAP) when the Bacula under test is missing; says which it is
#   cat >"$BACULA_ETC/jobs.conf" <<EOF ... EOF    # its own FileSets and Jobs (JobDefs = t-defs)
#   BACULA_FD_ENV=(VAR=VALUE ...)                 # optional: env(1) arguments for bacula-fd
#   bacula_start || ...
#   jobid=$(bacula_run_job NAME); bacula_job_status "$jobid"; bacula_job_log "$jobid"
#   rid=$(bacula_restore "$jobid" "$T_DIR/where")
#
# What the base config provides (bacula_write_configs): Director t-dir, Client t-fd, Storage t-file
# (Device t-dev, file volumes in $BACULA_HOME/vol, auto-labelled), Pool Default, Messages Standard (job
# messages appended to $BACULA_JOBLOG and to the catalog), FileSet t-empty, JobDefs t-defs (Backup,
# Full, t-fd, t-file, Default, Standard), Job t-restore (the one Restore job), and a last line
# `@$BACULA_ETC/jobs.conf`.  Maximum Concurrent Jobs is 5 or more everywhere.
#
# More file daemons, standing for more hosts (a sharded cluster's shards): name them before
# bacula_start, e.g. BACULA_EXTRA_FDS=(sh0-fd sh1-fd).  Each is a FileDaemon and a director Client of
# that name on its own free port (BACULA_FD_PORTS[NAME]), with its own config (etc/bacula-fd-NAME.conf),
# working directory (fd-NAME/), output and log (log/fd-NAME.out, log/fd-NAME.log), the same Plugin
# Directory and BACULA_FD_ENV as t-fd; its pid is BACULA_FD_PIDS[NAME], stopped by pid with the others.
# t-fd stays what it is (BACULA_FD_PORT, BACULA_FD_PID, etc/bacula-fd.conf, fd/, log/fd.*).
#
# Which Bacula (BACULA_SERIES; one scenario file serves both, tests/bacula/bacula-15/ sets it):
#   system (the default, also when empty): the installed one (PATH, then /usr/sbin), whatever its
#           version: 9.6.7 on Debian 12, 15.0.3 on Debian 13;
#   15      Bacula 15.0.3 as tools/install-deps unpacks it on Debian 12 (bookworm-backports, dpkg -x)
#           into BACULA15_ROOT, run from there with LD_LIBRARY_PATH=BACULA15_ROOT/usr/lib/bacula and
#           its own catalog schema.  Skipped where it is not unpacked, saying why; skipped too where the
#           system's own Bacula already is 15 (the system run of the same scenario covers it).
# The same configs serve 9.6 and 15: all three daemons and bconsole are of one version, so 15's TLS
# PSK (on by default, no config needed) agrees on every connection.
#
# Environment: BACULA_TIMEOUT (seconds for one console session, default 60), BACULA_FD_DEBUG (a -d
# level for bacula-fd, output in $BACULA_HOME/log/fd.out), BACULA_PLUGIN_DIR (bacula-fd's Plugin Directory,
# default $BACULA_HOME/plugins; the package test uses the installed /usr/lib/bacula), MBH_KEEP_TMP=1 keeps
# the temp dir.

top_builddir=${top_builddir:-$(pwd)}
top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=../integration/simlib.sh
. "$top_srcdir/tests/integration/simlib.sh"

BACULA_TIMEOUT=${BACULA_TIMEOUT:-60}
BACULA_SERIES=${BACULA_SERIES:-system}
BACULA15_ROOT=${BACULA15_ROOT:-/usr/local/lib/mongo-backup-hooks-tests/bacula-15.0.3}
# where Debian's packages put the SQLite catalog schema (under BACULA15_ROOT for series 15)
BACULA_DEB_SCHEMA=/usr/share/dbconfig-common/data/bacula-director-sqlite3/install/sqlite3
BACULA_SCHEMA=""
BACULA_LIBDIR=""   # the Bacula libraries and Debian's plugins (bpipe-fd.so) of the Bacula under test
BACULA_VERSION=""  # e.g. 9.6.7 or 15.0.3, as bacula-fd -? says
BACULA_ABOUT=""    # one line: which Bacula, from where
BACULA_RUN_ENV=()  # env(1) arguments for every Bacula program (LD_LIBRARY_PATH for series 15)
BACULA_WHY=""      # why bacula_choose could not
BACULA_FD_ENV=()
BACULA_HOME=""
BACULA_ETC=""
BACULA_JOBLOG=""
BACULA_DB=""
BACULA_CLIENT=t-fd # the Client (and FileDaemon) name
export BACULA_CLIENT
BACULA_DIR_PORT=""
BACULA_FD_PORT=""
BACULA_SD_PORT=""
BACULA_DIR_PID=""
BACULA_FD_PID=""
BACULA_SD_PID=""
BACULA_EXTRA_FDS=()          # names of more file daemons (see above)
declare -gA BACULA_FD_PORTS=() BACULA_FD_PIDS=()

# bacula_diag TEXT...: diagnostics as TAP comments on stderr (the helpers are used inside $(...),
# whose stdout is a value; the test driver puts stderr in the test's log).
bacula_diag() {
	tap_diag "$@" >&2
}

# bacula_bin NAME: the path of a Bacula program of the system's Bacula (PATH, then /usr/sbin where
# Debian puts them), or of the unpacked Bacula 15 for series 15.
bacula_bin() {
	local p
	if [ "$BACULA_SERIES" = 15 ]; then
		[ -x "$BACULA15_ROOT/usr/sbin/$1" ] && { echo "$BACULA15_ROOT/usr/sbin/$1"; return 0; }
		return 1
	fi
	p=$(command -v "$1" 2>/dev/null) && [ -x "$p" ] && { echo "$p"; return 0; }
	[ -x "/usr/sbin/$1" ] && { echo "/usr/sbin/$1"; return 0; }
	return 1
}

# bacula_version_of PROGRAM: its version (e.g. 15.0.3) from the `Version:` line of its -? output.
bacula_version_of() {
	env "${BACULA_RUN_ENV[@]}" "$1" '-?' 2>&1 </dev/null | sed -n 's/^Version: *\([0-9][0-9.]*\) .*/\1/p' | head -n 1
}

# bacula_choose: for BACULA_SERIES, set the programs, BACULA_RUN_ENV, BACULA_SCHEMA, BACULA_LIBDIR,
# BACULA_VERSION and BACULA_ABOUT and return 0; or set BACULA_WHY to why it cannot and return 1 (2:
# BACULA_SERIES is neither system nor 15).
bacula_choose() {
	local b missing="" v sysfd
	BACULA_RUN_ENV=()
	case $BACULA_SERIES in
	system)
		BACULA_SCHEMA=$BACULA_DEB_SCHEMA
		BACULA_LIBDIR=/usr/lib/bacula
		;;
	15)
		if [ ! -x "$BACULA15_ROOT/usr/sbin/bacula-fd" ] &&
			sysfd=$(BACULA_SERIES=system bacula_bin bacula-fd) &&
			v=$(bacula_version_of "$sysfd") && [ "${v%%.*}" = 15 ]; then
			BACULA_WHY="the system's own Bacula is $v ($sysfd): the same scenario runs against it with BACULA_SERIES=system (tests/bacula/*.sh)"
			return 1
		fi
		BACULA_RUN_ENV=(LD_LIBRARY_PATH="$BACULA15_ROOT/usr/lib/bacula")
		BACULA_SCHEMA=$BACULA15_ROOT$BACULA_DEB_SCHEMA
		BACULA_LIBDIR=$BACULA15_ROOT/usr/lib/bacula
		;;
	*)
		BACULA_WHY="BACULA_SERIES=$BACULA_SERIES: say system (the installed Bacula) or 15 (the one tools/install-deps unpacks)"
		return 2
		;;
	esac
	for b in bacula-dir bacula-sd bacula-fd bconsole; do
		bacula_bin "$b" >/dev/null || missing="$missing $b"
	done
	command -v sqlite3 >/dev/null 2>&1 || missing="$missing sqlite3"
	[ -r "$BACULA_SCHEMA" ] || missing="$missing $BACULA_SCHEMA"
	if [ -n "$missing" ]; then
		if [ "$BACULA_SERIES" = 15 ]; then
			[ -d "$BACULA15_ROOT" ] || missing=" all of it"
			BACULA_WHY="Bacula 15.0.3 is not unpacked in $BACULA15_ROOT (missing:$missing): tools/install-deps unpacks it on Debian 12 (from bookworm-backports)"
		else
			BACULA_WHY="Bacula is not installed (missing:$missing): tools/install-deps installs Debian's"
		fi
		return 1
	fi
	BACULA_DIR_BIN=$(bacula_bin bacula-dir)
	BACULA_SD_BIN=$(bacula_bin bacula-sd)
	BACULA_FD_BIN=$(bacula_bin bacula-fd)
	BACULA_CONSOLE_BIN=$(bacula_bin bconsole)
	# one version for all four (a director and a file daemon of two versions is not what is tested)
	BACULA_VERSION=$(bacula_version_of "$BACULA_FD_BIN")
	for b in "$BACULA_DIR_BIN" "$BACULA_SD_BIN" "$BACULA_CONSOLE_BIN"; do
		v=$(bacula_version_of "$b")
		if [ -z "$BACULA_VERSION" ] || [ "$v" != "$BACULA_VERSION" ]; then
			BACULA_WHY="the Bacula programs do not run or disagree on their version: $BACULA_FD_BIN says '$BACULA_VERSION', $b says '$v'"
			return 1
		fi
	done
	if [ "$BACULA_SERIES" = 15 ] && [ "${BACULA_VERSION%%.*}" != 15 ]; then
		BACULA_WHY="$BACULA_FD_BIN is Bacula $BACULA_VERSION, not 15: BACULA15_ROOT=$BACULA15_ROOT holds another Bacula"
		return 1
	fi
	if [ "$BACULA_SERIES" = 15 ]; then
		BACULA_ABOUT="Bacula $BACULA_VERSION, unpacked in $BACULA15_ROOT (BACULA_SERIES=15)"
	else
		BACULA_ABOUT="Bacula $BACULA_VERSION, installed in $(dirname "$BACULA_FD_BIN") (BACULA_SERIES=system)"
	fi
	return 0
}

# bacula_require: bacula_choose, or skip the whole test (TAP "1..0 # SKIP") saying why; a wrong
# BACULA_SERIES is an error of the caller (Bail out).  tools/install-deps installs what is needed.
bacula_require() {
	local rc=0
	bacula_choose || rc=$?
	case $rc in
	1) tap_skip_all "$BACULA_WHY" ;;
	2) echo "Bail out! $BACULA_WHY"; exit 1 ;;
	esac
}

# bacula_init: after t_init.  The Bacula tree under $T_DIR/bacula (etc/ dir/ sd/ fd/ vol/ log/
# plugins/), an empty etc/jobs.conf for the test to fill, and a cleanup that stops the daemons first.
bacula_init() {
	if [ -z "$T_DIR" ] || [ ! -d "$T_DIR" ]; then
		echo "Bail out! bacula_init needs t_init first"
		exit 1
	fi
	bacula_require
	tap_diag "Bacula under test: $BACULA_ABOUT"
	case $T_DIR in
	*[[:space:]\"\'\\]*) tap_skip_all "the temp dir $T_DIR has a space or quote; Bacula's configs cannot hold it (set TMPDIR)" ;;
	esac
	BACULA_HOME=$T_DIR/bacula
	BACULA_ETC=$BACULA_HOME/etc
	BACULA_JOBLOG=$BACULA_HOME/log/jobs.log
	BACULA_DB=$BACULA_HOME/dir/bacula.db
	mkdir -p "$BACULA_ETC" "$BACULA_HOME/dir" "$BACULA_HOME/sd" "$BACULA_HOME/fd" "$BACULA_HOME/vol" \
		"$BACULA_HOME/log" "$BACULA_HOME/plugins" "$BACULA_HOME/restore" || { echo "Bail out! mkdir failed"; exit 1; }
	chmod 0700 "$BACULA_HOME"
	: >"$BACULA_ETC/jobs.conf"
	: >"$BACULA_ETC/query.sql"
	: >"$BACULA_ETC/empty"
	: >"$BACULA_JOBLOG"
	: >"$T_DIR/.bacula"
	: >"$T_DIR/.bacula-bg"
	export BACULA_HOME BACULA_ETC BACULA_JOBLOG BACULA_DB
	trap bacula_cleanup EXIT
}

# bacula_add_plugin FILE...: copy plugins into the Plugin Directory (the file daemon loads only
# regular files named *-fd.so: symlinks are skipped, so these are real copies).
bacula_add_plugin() {
	local f
	for f in "$@"; do
		cp --dereference "$f" "$BACULA_HOME/plugins/" || return 1
	done
}

# bacula_bg_add PID: a background process of the test (e.g. a writer loop), stopped by pid at exit.
bacula_bg_add() {
	t_remember .bacula-bg "$1"
}

# bacula_writer_start: a writer keeps the simulated primary busy (one insert after another) until
# bacula_writer_stop, for 120 s at most; stopped by pid at the cleanup too.
bacula_writer_start() {
	(
		end=$((SECONDS + 120))
		while [ ! -e "$T_DIR/stop-writer" ] && [ "$SECONDS" -lt "$end" ]; do
			"$MBH_SIM" ctl "$SIM_CTL" write 1 >/dev/null 2>&1 || exit 0
		done
	) &
	bacula_bg_add $!
}

# bacula_writer_stop: the writer ends after its current insert.
bacula_writer_stop() {
	: >"$T_DIR/stop-writer"
}

# bacula_stop_pid PID: TERM, wait (bounded), KILL if needed, reap.
bacula_stop_pid() {
	kill -TERM "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
	if ! t_pid_gone "$1" 500; then
		bacula_diag "pid $1 ($(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)) did not stop on SIGTERM within 10 s: killing it"
		kill -KILL "$1" 2>/dev/null
		t_pid_gone "$1" 250
	fi
	wait "$1" 2>/dev/null
	return 0
}

# bacula_stop: stop the daemons this test started (all signalled at once, then each waited for).
bacula_stop() {
	local p pids
	pids=$(t_alive_entries .bacula)
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $pids; do
		bacula_stop_pid "$p"
	done
	BACULA_DIR_PID=""
	BACULA_FD_PID=""
	BACULA_SD_PID=""
	BACULA_FD_PIDS=()
}

# bacula_stop_all: the daemons, then the test's background processes (bacula_bg_add).
bacula_stop_all() {
	local p
	[ -n "$T_DIR" ] && [ -d "$T_DIR" ] || return 0
	bacula_stop
	for p in $(t_alive_entries .bacula-bg); do
		bacula_stop_pid "$p"
	done
}

# bacula_cleanup: the EXIT trap: bacula_stop_all, then simlib's cleanup.
bacula_cleanup() {
	local rc=$?
	trap - EXIT
	bacula_stop_all
	(exit "$rc")
	t_cleanup
}

# ---------------------------------------------------------------- ports

# bacula_port_inodes PORT [STATE]: socket inodes bound to local TCP port PORT (IPv4 and IPv6), only
# those in STATE (hex, 0A = LISTEN) when given.
bacula_port_inodes() {
	awk -v p="$(printf '%04X' "$1")" -v s="${2:-}" '
		FNR > 1 { n = split($2, a, ":"); if (a[n] == p && (s == "" || $4 == s)) print $10 }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# bacula_port_free PORT: no socket uses the port at all.
bacula_port_free() {
	[ -z "$(bacula_port_inodes "$1")" ]
}

# bacula_pid_listens PID PORT: PID holds a socket listening on PORT.
bacula_pid_listens() {
	local i links
	links=$(cd "/proc/$1/fd" 2>/dev/null && for f in *; do readlink "$f"; done 2>/dev/null)
	[ -n "$links" ] || return 1
	for i in $(bacula_port_inodes "$2" 0A); do
		printf '%s\n' "$links" | grep -qxF "socket:[$i]" && return 0
	done
	return 1
}

# bacula_pick_ports: distinct free ports for the director, file and storage daemons (and one for each
# of BACULA_EXTRA_FDS, in BACULA_FD_PORTS).  Like the
# simulator's members (which bind port 0), the choice is the system's free ports, but taken below the
# ephemeral range (ip_local_port_range), where outgoing connections never land; never Bacula's
# defaults 9101-9103.  Another test may take a port in between: bacula_start then tries new ones.
bacula_pick_ports() {
	local lo=10000 hi eph p tries=0 picked=() i
	eph=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	hi=$((${eph:-32768} - 1))
	[ "$hi" -gt $((lo + 1000)) ] || hi=65000
	while [ "${#picked[@]}" -lt $((3 + ${#BACULA_EXTRA_FDS[@]})) ]; do
		tries=$((tries + 1))
		[ "$tries" -le 1000 ] || { bacula_diag "bacula: no free port found in $lo-$hi"; return 1; }
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
		case " ${picked[*]} " in *" $p "*) continue ;; esac
		bacula_port_free "$p" && picked+=("$p")
	done
	BACULA_DIR_PORT=${picked[0]}
	BACULA_FD_PORT=${picked[1]}
	BACULA_SD_PORT=${picked[2]}
	BACULA_FD_PORTS=()
	for ((i = 0; i < ${#BACULA_EXTRA_FDS[@]}; i++)); do
		BACULA_FD_PORTS[${BACULA_EXTRA_FDS[i]}]=${picked[i + 3]}
	done
	export BACULA_DIR_PORT BACULA_FD_PORT BACULA_SD_PORT
}

# ---------------------------------------------------------------- configs

# bacula_password: 32 random hex digits.
bacula_password() {
	od -An -tx1 -N16 /dev/urandom | tr -d ' \n'
}

# bacula_fd_conf NAME PORT PASSWORD WORKDIR LOGNAME: a file daemon's config on stdout.
bacula_fd_conf() {
	cat <<EOF
# written by baculalib.sh for $(basename "$0")
Director {
  Name = t-dir
  Password = "$3"
}
FileDaemon {
  Name = $1
  FDport = $2
  FDAddress = 127.0.0.1
  WorkingDirectory = "$4"
  Pid Directory = "$4"
  Plugin Directory = "${BACULA_PLUGIN_DIR:-$BACULA_HOME/plugins}"
  Maximum Concurrent Jobs = 20
}
Messages {
  Name = Standard
  director = t-dir = all, !skipped, !restored
  append = "$BACULA_HOME/log/$5.log" = all, !skipped, !restored
}
EOF
}

# bacula_dir_client NAME PORT PASSWORD: a director's Client resource on stdout.
bacula_dir_client() {
	cat <<EOF
Client {
  Name = $1
  Address = 127.0.0.1
  FDPort = $2
  Catalog = MyCatalog
  Password = "$3"
  AutoPrune = no
  Maximum Concurrent Jobs = 10
}
EOF
}

# bacula_write_configs: the configs in $BACULA_ETC for the current ports, new random passwords.
bacula_write_configs() {
	local b=$BACULA_HOME e=$BACULA_ETC dpw fpw spw f xpw clients
	dpw=$(bacula_password)
	fpw=$(bacula_password)
	spw=$(bacula_password)
	(
		umask 077
		# the extra file daemons' Clients come before the test's jobs.conf, which names them
		clients=""
		for f in "${BACULA_EXTRA_FDS[@]}"; do
			xpw=$(bacula_password)
			mkdir -p "$b/fd-$f" || exit 1
			bacula_fd_conf "$f" "${BACULA_FD_PORTS[$f]}" "$xpw" "$b/fd-$f" "fd-$f" >"$e/bacula-fd-$f.conf"
			clients="$clients$(bacula_dir_client "$f" "${BACULA_FD_PORTS[$f]}" "$xpw")
"
		done
		cat >"$e/bacula-dir.conf" <<EOF
# written by baculalib.sh for $(basename "$0")
Director {
  Name = t-dir
  DIRport = $BACULA_DIR_PORT
  DirAddress = 127.0.0.1
  QueryFile = "$e/query.sql"
  WorkingDirectory = "$b/dir"
  PidDirectory = "$b/dir"
  Maximum Concurrent Jobs = 10
  Password = "$dpw"
  Messages = Daemon
}
Catalog {
  Name = MyCatalog
  dbname = "bacula"
  dbuser = ""
  dbpassword = ""
}
$(bacula_dir_client t-fd "$BACULA_FD_PORT" "$fpw")
$clients
Storage {
  Name = t-file
  Address = 127.0.0.1
  SDPort = $BACULA_SD_PORT
  Password = "$spw"
  Device = t-dev
  Media Type = File
  Maximum Concurrent Jobs = 10
}
Pool {
  Name = Default
  Pool Type = Backup
  Label Format = "Vol-"
  Maximum Volume Jobs = 100
  Volume Retention = 365 days
  AutoPrune = no
}
Messages {
  Name = Standard
  console = all, !skipped, !saved
  append = "$BACULA_JOBLOG" = all, !skipped
  catalog = all, !skipped, !saved
}
Messages {
  Name = Daemon
  console = all, !skipped, !saved
  append = "$b/log/dir.log" = all, !skipped
}
FileSet {
  Name = "t-empty"
  Include {
    File = "$e/empty"
  }
}
JobDefs {
  Name = "t-defs"
  Type = Backup
  Level = Full
  Client = t-fd
  FileSet = "t-empty"
  Storage = t-file
  Pool = Default
  Messages = Standard
  Write Bootstrap = "$b/dir/%n.bsr"
  Maximum Concurrent Jobs = 5
}
Job {
  Name = "t-restore"
  Type = Restore
  Client = t-fd
  FileSet = "t-empty"
  Storage = t-file
  Pool = Default
  Messages = Standard
  Where = "$b/restore"
  Maximum Concurrent Jobs = 5
}
# the test's own FileSets and Jobs
@$e/jobs.conf
EOF
		bacula_fd_conf t-fd "$BACULA_FD_PORT" "$fpw" "$b/fd" fd >"$e/bacula-fd.conf"
		cat >"$e/bacula-sd.conf" <<EOF
# written by baculalib.sh for $(basename "$0")
Storage {
  Name = t-sd
  SDPort = $BACULA_SD_PORT
  SDAddress = 127.0.0.1
  WorkingDirectory = "$b/sd"
  Pid Directory = "$b/sd"
  Maximum Concurrent Jobs = 20
}
Director {
  Name = t-dir
  Password = "$spw"
}
Device {
  Name = t-dev
  Media Type = File
  Archive Device = "$b/vol"
  LabelMedia = yes
  Random Access = yes
  AutomaticMount = yes
  RemovableMedia = no
  AlwaysOpen = no
  Maximum Concurrent Jobs = 5
}
Messages {
  Name = Standard
  director = t-dir = all
  append = "$b/log/sd.log" = all
}
EOF
		cat >"$e/bconsole.conf" <<EOF
# written by baculalib.sh for $(basename "$0")
Director {
  Name = t-dir
  DIRport = $BACULA_DIR_PORT
  Address = 127.0.0.1
  Password = "$dpw"
}
EOF
	)
}

# bacula_check_configs: each daemon's -t config test; the first failure is shown and returns 1.
bacula_check_configs() {
	local d bin out f
	for d in dir sd fd "${BACULA_EXTRA_FDS[@]/#/fd-}"; do
		case $d in
		dir) bin=$BACULA_DIR_BIN ;;
		sd) bin=$BACULA_SD_BIN ;;
		fd*) bin=$BACULA_FD_BIN ;;
		esac
		f=$BACULA_ETC/bacula-$d.conf
		if ! out=$(timeout -k 2 30 env "${BACULA_RUN_ENV[@]}" "$bin" -t -c "$f" 2>&1 </dev/null); then
			bacula_diag "bacula: ${bin##*/} rejects its config ($f):"
			bacula_diag "$out"
			return 1
		fi
	done
	return 0
}

# bacula_create_catalog: an empty SQLite catalog in the director's working directory (dbname.db).
bacula_create_catalog() {
	rm -f "$BACULA_DB"
	if ! out=$(sqlite3 "$BACULA_DB" <"$BACULA_SCHEMA" 2>&1); then
		bacula_diag "bacula: cannot create the catalog $BACULA_DB from $BACULA_SCHEMA:" "$out"
		return 1
	fi
}

# ---------------------------------------------------------------- daemons

# bacula_spawn NAME PIDVAR CMD...: start one daemon in the background with its output in
# log/NAME.out; its pid goes to PIDVAR and to the cleanup list.
bacula_spawn() {
	local name=$1 var=$2
	shift 2
	"$@" </dev/null >"$BACULA_HOME/log/$name.out" 2>&1 &
	printf -v "$var" '%s' "$!"
	t_remember .bacula "$!"
}

# bacula_wait_listen NAME PID PORT: wait (bounded, 10 s) until PID listens on 127.0.0.1:PORT.
# Returns 0 when it does, 2 when the port is taken by someone else, 1 when the daemon died or hangs.
bacula_wait_listen() {
	local name=$1 pid=$2 port=$3 n=0
	while ! bacula_pid_listens "$pid" "$port"; do
		if ! kill -0 "$pid" 2>/dev/null || [ "$(sed 's/^.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
			wait "$pid"
			bacula_diag "bacula: $name exited ($?) before it listened on 127.0.0.1:$port"
			tap_diag_file "$BACULA_HOME/log/$name.out" "$name output" >&2
			tap_diag_file "$BACULA_HOME/log/$name.log" "$name log" >&2
			return 1
		fi
		if grep -qs 'Cannot bind port' "$BACULA_HOME/log/$name.out" "$BACULA_HOME/log/$name.log"; then
			bacula_diag "bacula: port $port is taken (another process bound it first); trying other ports"
			return 2
		fi
		n=$((n + 1))
		if [ "$n" -gt 500 ]; then
			bacula_diag "bacula: $name does not listen on 127.0.0.1:$port after 10 s"
			tap_diag_file "$BACULA_HOME/log/$name.out" "$name output" >&2
			return 1
		fi
		sleep 0.02
	done
	return 0
}

# bacula_start: pick ports, write the configs, create the catalog, check the configs, start bacula-sd,
# bacula-fd (and one per BACULA_EXTRA_FDS; all under `env "${BACULA_FD_ENV[@]}"`) and bacula-dir in the
# foreground (-f) as background processes of the test, and wait until each listens.  Up to 3 attempts
# when a port is taken.
bacula_start() {
	local rc dbg=() f pid
	[ -n "${BACULA_FD_DEBUG:-}" ] && dbg=(-d "$BACULA_FD_DEBUG" -dt)
	for _ in 1 2 3; do
		bacula_pick_ports || return 1
		bacula_write_configs || return 1
		bacula_create_catalog || return 1
		bacula_check_configs || return 1
		rm -f "$BACULA_HOME"/log/*.out "$BACULA_HOME"/log/{sd,fd,dir}.log "$BACULA_HOME"/log/fd-*.log
		bacula_spawn sd BACULA_SD_PID env "${BACULA_RUN_ENV[@]}" "$BACULA_SD_BIN" -f -c "$BACULA_ETC/bacula-sd.conf"
		bacula_spawn fd BACULA_FD_PID env "${BACULA_RUN_ENV[@]}" "${BACULA_FD_ENV[@]}" "$BACULA_FD_BIN" -f -c "$BACULA_ETC/bacula-fd.conf" "${dbg[@]}"
		for f in "${BACULA_EXTRA_FDS[@]}"; do
			bacula_spawn "fd-$f" pid env "${BACULA_RUN_ENV[@]}" "${BACULA_FD_ENV[@]}" "$BACULA_FD_BIN" -f -c "$BACULA_ETC/bacula-fd-$f.conf" "${dbg[@]}"
			BACULA_FD_PIDS[$f]=$pid
		done
		bacula_spawn dir BACULA_DIR_PID env "${BACULA_RUN_ENV[@]}" "$BACULA_DIR_BIN" -f -c "$BACULA_ETC/bacula-dir.conf"
		rc=0
		bacula_wait_listen sd "$BACULA_SD_PID" "$BACULA_SD_PORT" &&
			bacula_wait_listen fd "$BACULA_FD_PID" "$BACULA_FD_PORT" || rc=$?
		for f in "${BACULA_EXTRA_FDS[@]}"; do
			[ "$rc" = 0 ] || break
			bacula_wait_listen "fd-$f" "${BACULA_FD_PIDS[$f]}" "${BACULA_FD_PORTS[$f]}" || rc=$?
		done
		[ "$rc" = 0 ] && { bacula_wait_listen dir "$BACULA_DIR_PID" "$BACULA_DIR_PORT" || rc=$?; }
		if [ "$rc" = 0 ]; then
			export BACULA_DIR_PID BACULA_FD_PID BACULA_SD_PID
			return 0
		fi
		bacula_stop
		[ "$rc" = 2 ] || return 1
	done
	bacula_diag "bacula: gave up after 3 attempts to find free ports"
	return 1
}

# ---------------------------------------------------------------- console and catalog

# bacula_console CMD...: one bconsole session, one command per argument; its output on stdout (and
# appended to log/console.log).  Bounded by BACULA_TIMEOUT; the status is bconsole's (124 on timeout).
bacula_console() {
	local out rc
	out=$(printf '%s\n' "$@" | timeout -k 5 "$BACULA_TIMEOUT" env "${BACULA_RUN_ENV[@]}" "$BACULA_CONSOLE_BIN" -n -c "$BACULA_ETC/bconsole.conf" 2>&1)
	rc=$?
	{ printf '>>> %s\n' "$@"; printf '%s\n' "$out"; } >>"$BACULA_HOME/log/console.log"
	[ "$rc" = 124 ] && bacula_diag "bacula: bconsole timed out after $BACULA_TIMEOUT s: $*"
	printf '%s\n' "$out"
	return "$rc"
}

# bacula_sql QUERY: one catalog query (read while the director runs: wait up to 10 s for its locks).
bacula_sql() {
	sqlite3 -cmd '.timeout 10000' "$BACULA_DB" "$1"
}

# bacula_job_status JOBID: the job's JobStatus in the catalog (T ok, f fatal, A canceled, E error, R running, ...).
bacula_job_status() {
	bacula_sql "SELECT JobStatus FROM Job WHERE JobId = $(($1));"
}

# bacula_job_log JOBID: the job's messages from $BACULA_JOBLOG.  A message starts with
# "DD-Mon[-YYYY] HH:MM NAME JobId N: " and runs until the next message (the end-of-job report has many lines).
bacula_job_log() {
	awk -v id="$(($1))" '
		/^[0-9][0-9]-[A-Z][a-z][a-z](-[0-9][0-9][0-9][0-9])? [0-9][0-9]:[0-9][0-9] [^ ]+ / {
			keep = ($4 == "JobId" && $5 == id ":") }
		keep' "$BACULA_JOBLOG"
}

# bacula_wait_job JOBID: wait for the job to end (bconsole wait), then until its end-of-job report is
# in the log (bounded).  On a timeout the job is cancelled and 1 returned.
bacula_wait_job() {
	local id=$1 n=0
	if ! bacula_console "wait jobid=$id" >/dev/null; then
		bacula_diag "bacula: waiting for job $id failed; cancelling it"
		bacula_cancel "$id" >/dev/null
		return 1
	fi
	case $(bacula_job_status "$id") in
	C | R | B | F | S | m | M | s | j | c | d | t | p | a | i | "")
		bacula_diag "bacula: job $id still has status '$(bacula_job_status "$id")' after wait"
		return 1
		;;
	esac
	while ! bacula_job_log "$id" | grep -q 'Termination:'; do
		n=$((n + 1))
		if [ "$n" -gt 250 ]; then
			bacula_diag "bacula: job $id has no end-of-job report in $BACULA_JOBLOG after 5 s"
			return 1
		fi
		sleep 0.02
	done
	return 0
}

# bacula_queued_jobid: the JobId in bconsole's "Job queued. JobId=N" (stdin: bconsole's output).
bacula_queued_jobid() {
	sed -n 's/.*Job queued\. JobId=\([0-9][0-9]*\).*/\1/p' | head -n 1
}

# bacula_run_job NAME [RUN-ARGS...]: run the job (extra `run` arguments such as level=Full), wait for
# its end; prints its JobId.  Returns 1 (with diagnostics) when it was not queued or did not end.
bacula_run_job() {
	local name=$1 out id
	shift
	out=$(bacula_console "run job=$name $* yes")
	id=$(printf '%s\n' "$out" | bacula_queued_jobid)
	if [ -z "$id" ]; then
		bacula_diag "bacula: run job=$name was not queued:" "$out"
		return 1
	fi
	echo "$id"
	bacula_wait_job "$id"
}

# bacula_restore JOBID WHERE: restore every file of backup JOBID under WHERE with t-restore, wait for
# its end; prints the restore's JobId.
bacula_restore() {
	local out id
	out=$(bacula_console "restore jobid=$(($1)) client=$BACULA_CLIENT restoreclient=$BACULA_CLIENT where=$2 all done yes")
	id=$(printf '%s\n' "$out" | bacula_queued_jobid)
	if [ -z "$id" ]; then
		bacula_diag "bacula: the restore of job $1 was not queued:" "$out"
		return 1
	fi
	echo "$id"
	bacula_wait_job "$id"
}

# bacula_cancel JOBID: cancel a running job; bconsole's output on stdout.
bacula_cancel() {
	bacula_console "cancel jobid=$(($1)) yes"
}

# bacula_diag_job JOBID: the job's log lines as TAP comments (for failures).
bacula_diag_job() {
	echo "# --- bacula job $1 log"
	bacula_job_log "$1" | head -n 80 | sed 's/^/#   /'
}
