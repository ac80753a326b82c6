# simlib.sh: shared helpers for the integration tests: TAP output, a temp dir with a trap that kills
# what the test started (simulators, watchdogs, background runs), the simulator's life cycle and control
# socket, and writers for topology, config and password files.  Source it from bash:
#   . "$top_srcdir/tests/integration/simlib.sh"
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# Environment (set by the Makefile's AM_TESTS_ENVIRONMENT; defaults for running a test by hand from
# the build directory): MBH_SIM MBH_PRE MBH_POST MONGO_BACKUP_WATCHDOG top_srcdir top_builddir.
# MBH_KEEP_TMP=1 keeps the temp dir for post-mortems.  Which tests run when is the build's business:
# the tiers in Makefile.am.

top_builddir=${top_builddir:-$(pwd)}
top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MBH_SIM=${MBH_SIM:-$top_builddir/tests/sim/mongo-rs-sim}
MBH_PRE=${MBH_PRE:-$top_builddir/hooks/mongo-prebackup}
MBH_POST=${MBH_POST:-$top_builddir/hooks/mongo-postbackup}
MONGO_BACKUP_WATCHDOG=${MONGO_BACKUP_WATCHDOG:-$top_builddir/watchdog/mongo-backup-watchdog}
export MBH_SIM MBH_PRE MBH_POST MONGO_BACKUP_WATCHDOG

# Every product run is bounded so that a hang fails the test instead of stalling `make check`.
T_TIMEOUT=${T_TIMEOUT:-120}

# ---------------------------------------------------------------- TAP

TAP_N=0
TAP_FAILED=0
TAP_PLANNED=""

# tap_plan N: print the plan first (tap_done then prints nothing).
tap_plan() {
	TAP_PLANNED=$1
	echo "1..$1"
}

# tap_skip_all REASON: the whole test is skipped (the TAP way, never exit 77).
tap_skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

# tap_ok STATUS NAME: STATUS 0 is a pass.
tap_ok() {
	TAP_N=$((TAP_N + 1))
	if [ "$1" = 0 ]; then
		echo "ok $TAP_N - $2"
		return 0
	fi
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $2"
	return 1
}

# tap_pass NAME / tap_fail NAME
tap_pass() { tap_ok 0 "$1"; }
tap_fail() { tap_ok 1 "$1"; }

# tap_diag TEXT...: a comment line per argument line.
tap_diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

# tap_diag_file FILE [LABEL]: show a file as comments (bounded).
tap_diag_file() {
	[ -f "$1" ] || return 0
	echo "# --- ${2:-$1}"
	head -n 40 "$1" | sed 's/^/#   /'
}

# tap_is GOT EXPECTED NAME
tap_is() {
	if [ "$1" = "$2" ]; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		tap_diag "  got: '$1'" "  expected: '$2'"
		return 1
	fi
}

# tap_isnt GOT UNEXPECTED NAME
tap_isnt() {
	if [ "$1" != "$2" ]; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		tap_diag "  got: '$1' (must not be that)"
		return 1
	fi
}

# tap_like FILE ERE NAME: FILE contains a line matching the extended regex (case-insensitive).
tap_like() {
	if grep -Eiq -- "$2" "$1" 2>/dev/null; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		tap_diag "  no line of $1 matches /$2/"
		tap_diag_file "$1"
		return 1
	fi
}

# tap_unlike FILE FIXED-STRING NAME: FILE does not contain the string.
tap_unlike() {
	if ! grep -Faq -- "$2" "$1" 2>/dev/null; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		tap_diag "  $1 contains '$2'"
		return 1
	fi
}

# tap_done: print a late plan when none was given; the exit status tells make about failures.
tap_done() {
	[ -n "$TAP_PLANNED" ] || echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}

# ---------------------------------------------------------------- temp dir and cleanup

T_DIR=""
T_OUT=""
T_STATE=""
T_RC=0
T_PASS=${T_PASS:-"Bk-pw-$$-x7"}
T_PASS_NOFSYNC=${T_PASS_NOFSYNC:-"Nf-pw-$$-y3"}

# t_init: the per-test temp dir (mode 0700) with out/ for captured output and state/ as the state dir,
# the cleanup trap, and a skip when the programs are not built.
t_init() {
	local p
	for p in "$MBH_SIM" "$MBH_PRE" "$MBH_POST"; do
		[ -x "$p" ] || tap_skip_all "$p is not built"
	done
	# The URI must come from where each test says, never from the caller's environment.
	unset MONGO_BACKUP_URI
	T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mbh-it.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
	T_OUT=$T_DIR/out
	T_STATE=$T_DIR/state
	mkdir -m 0700 "$T_OUT"
	: >"$T_DIR/.sims"
	: >"$T_DIR/.watchdogs"
	: >"$T_DIR/.bg"
	trap t_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# state_get FILE KEY: the value of KEY in a key=value state file (empty when absent).
state_get() {
	[ -f "$1" ] || return 0
	sed -n "s/^$2=//p" "$1" | head -n 1
}

# t_is_ours PID: the process exists and is one of the product's programs (not a reused pid).
t_is_ours() {
	local cmd
	[ -n "$1" ] && [ "$1" -gt 1 ] 2>/dev/null || return 1
	[ -r "/proc/$1/cmdline" ] || return 1
	cmd=$({ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null)
	case $cmd in
	*mongo-prebackup* | *mongo-postbackup* | *mongo-backup-watchdog* | *mongo-rs-sim*) return 0 ;;
	esac
	return 1
}

# t_note_watchdogs [DIR]: remember the watchdog pid of every state file in DIR (default T_STATE),
# so the cleanup can stop it even after the record is gone.
t_note_watchdogs() {
	local f w
	for f in "${1:-$T_STATE}"/*.state; do
		[ -f "$f" ] || continue
		w=$(state_get "$f" watchdog_pid)
		[ -n "$w" ] && [ "$w" != 0 ] && echo "$w:$(state_get "$f" watchdog_start)" >>"$T_DIR/.watchdogs"
	done
	return 0
}

# t_bg_register PID: a background process of the test that the cleanup must stop.
t_bg_register() {
	t_remember .bg "$1"
}

# t_starttime PID: the process's start time (field 22 of /proc/PID/stat), empty when it is gone.
t_starttime() {
	sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $20 }'
}

# t_remember LIST PID: note PID (with its start time) in $T_DIR/LIST for the cleanup.
t_remember() {
	echo "$2:$(t_starttime "$2")" >>"$T_DIR/$1"
}

# t_alive_entries LIST: the pids of LIST whose process is still the one noted (same start time).
t_alive_entries() {
	local e p t
	for e in $(cat "$T_DIR/$1" 2>/dev/null); do
		p=${e%%:*}
		t=${e#*:}
		[ -n "$p" ] && [ "$e" != "$p" ] && [ -n "$t" ] && [ "$(t_starttime "$p")" = "$t" ] && echo "$p"
	done
	return 0
}

# t_pid_gone PID [TRIES]: wait (bounded, 20 ms steps) until PID no longer exists or is a zombie.  The
# process is identified by its start time when first seen, so a recycled PID (pid_max can be 32768 and
# a busy `make -j check` goes round it in seconds) does not count as the same process.
t_pid_gone() {
	local n=0 st start="" now
	[ -n "$1" ] || return 2 # no pid: nothing to wait for, and /proc//stat is /proc/stat
	while [ "$n" -lt "${2:-250}" ]; do
		[ -r "/proc/$1/stat" ] || return 0
		st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null)
		[ -n "$st" ] || return 0
		now=$(echo "$st" | awk '{ print $20 }')
		[ -n "$start" ] || start=$now
		[ "$now" = "$start" ] || return 0
		[ "${st%% *}" = Z ] && return 0
		sleep 0.02
		n=$((n + 1))
	done
	return 1
}

# t_diag_proc PID: why a process is still there (state, what it waits in, its last syscall), as comments.
t_diag_proc() {
	[ -r "/proc/$1/stat" ] || { tap_diag "  pid $1 is gone"; return 0; }
	tap_diag "  pid $1: $(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" \
		"  $(grep -E '^(State|PPid|SigBlk|SigCgt):' "/proc/$1/status" 2>/dev/null | tr '\n' ' ')" \
		"  wchan: $(cat "/proc/$1/wchan" 2>/dev/null)  syscall: $(cat "/proc/$1/syscall" 2>/dev/null)"
}

# t_kill PID: TERM, then KILL if it does not go.
t_kill() {
	kill -TERM "$1" 2>/dev/null || return 0
	t_pid_gone "$1" 250 || kill -KILL "$1" 2>/dev/null
	t_pid_gone "$1" 100
	wait "$1" 2>/dev/null
	return 0
}

# sim_lock_window_ms ID: milliseconds between member ID's last "fsync lock" and the "fsyncUnlock"
# after it, by the simulator's own log times (1 ms resolution); -1 when either line is missing.
sim_lock_window_ms() {
	awk -v lk="member $1: fsync lock" -v ul="member $1: fsyncUnlock" \
		'index($0, lk) { l = $1 } index($0, ul) { u = $1 } END { print l, u }' "$SIM_LOG" |
		{
			read -r l u
			[ -n "$l" ] && [ -n "$u" ] || { echo -1; return; }
			t2ms() { echo "$1" | awk -F'[T:Z]' '{ split($4, s, "."); printf "%d\n", (($2 * 60 + $3) * 60 + s[1]) * 1000 + s[2] }'; }
			echo $(($(t2ms "$u") - $(t2ms "$l")))
		}
}

# t_btrfs_needs: skip the whole test unless this is root with the btrfs and loop-device tools.
t_btrfs_needs() {
	local c
	[ "$(id -u)" = 0 ] || tap_skip_all "needs root for losetup and mount"
	for c in losetup mkfs.btrfs btrfs mount umount mountpoint; do
		command -v "$c" >/dev/null 2>&1 || tap_skip_all "$c is missing (Debian packages btrfs-progs, mount, util-linux)"
	done
}

# t_btrfs_mount: a 512 MiB btrfs filesystem on a loop device over a file in T_DIR, mounted at
# MNT=$T_DIR/mnt (LOOP names the device); skips the whole test, saying why, where the machine refuses
# a step.  The EXIT trap must call t_btrfs_unmount once whatever holds files there has stopped.
t_btrfs_mount() {
	MNT=$T_DIR/mnt
	LOOP=""
	truncate -s 512M "$T_DIR/btrfs.img" || tap_skip_all "cannot create a 512 MiB image file in $T_DIR"
	LOOP=$(losetup --find --show "$T_DIR/btrfs.img" 2>"$T_OUT/losetup.err") ||
		{ LOOP=""; tap_skip_all "losetup refused a loop device: $(head -n 1 "$T_OUT/losetup.err")"; }
	mkfs.btrfs -q "$LOOP" >"$T_OUT/mkfs.out" 2>&1 || tap_skip_all "mkfs.btrfs $LOOP failed: $(tail -n 1 "$T_OUT/mkfs.out")"
	mkdir "$MNT"
	mount -t btrfs "$LOOP" "$MNT" 2>"$T_OUT/mount.err" ||
		tap_skip_all "mount of btrfs refused: $(head -n 1 "$T_OUT/mount.err")"
}

# t_btrfs_unmount: unmount MNT and detach LOOP, what t_btrfs_mount made (nothing when it made nothing).
t_btrfs_unmount() {
	if [ -n "${MNT:-}" ] && mountpoint -q "$MNT" 2>/dev/null; then
		umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || echo "# cannot unmount $MNT"
	fi
	[ -z "${LOOP:-}" ] || losetup -d "$LOOP" 2>/dev/null || echo "# cannot detach $LOOP"
	LOOP=""
}

t_cleanup() {
	local rc=$? p d
	trap - EXIT
	if [ -n "$T_DIR" ] && [ -d "$T_DIR" ]; then
		t_note_watchdogs "$T_STATE" 2>/dev/null
		# only processes that are still the ones noted: pids are recycled quickly under make -j
		for p in $(t_alive_entries .watchdogs) $(t_alive_entries .bg); do
			t_is_ours "$p" && t_kill "$p"
		done
		# Watchdogs whose record is gone (a leak) still carry this test's unique dir in their argv.
		for p in $(pgrep -f -- "$T_DIR/" 2>/dev/null); do
			[ "$p" != $$ ] && t_is_ours "$p" && t_kill "$p"
		done
		# what still runs in a directory of t_run_dir (watchdogs, commands and their children)
		for d in $(cat "$T_DIR/.rundirs" 2>/dev/null); do
			for p in $(t_procs_in "$d"); do
				[ "$p" != $$ ] && kill -KILL "$p" 2>/dev/null
			done
		done
		for p in $(t_alive_entries .sims); do
			t_kill "$p"
		done
		if [ -n "${MBH_KEEP_TMP:-}" ]; then
			echo "# kept $T_DIR"
		else
			rm -rf "$T_DIR"
		fi
	fi
	exit "$rc"
}

# t_run NAME CMD [ARGS...]: run CMD bounded by T_TIMEOUT with stdin from /dev/null, stdout in
# $T_OUT/NAME.out and stderr in $T_OUT/NAME.err; T_RC is its status.  Remembers any watchdog.
t_run() {
	local name=$1
	shift
	timeout -k 5 "$T_TIMEOUT" "$@" </dev/null >"$T_OUT/$name.out" 2>"$T_OUT/$name.err"
	T_RC=$?
	[ "$T_RC" -eq 124 ] && tap_diag "$name: timed out after $T_TIMEOUT s: $*"
	t_note_watchdogs
	return 0
}

# t_show NAME: the captured output of a run, as diagnostics.
t_show() {
	tap_diag_file "$T_OUT/$1.out" "$1 stdout"
	tap_diag_file "$T_OUT/$1.err" "$1 stderr"
}

# t_rc_is EXPECTED NAME: assert the status of the last t_run; shows its output on failure.
t_rc_is() {
	local run=${3:-}
	if [ "$T_RC" = "$1" ]; then
		tap_ok 0 "$2"
	else
		tap_ok 1 "$2"
		tap_diag "  exit status $T_RC, expected $1"
		[ -n "$run" ] && t_show "$run"
		return 1
	fi
}

# ---------------------------------------------------------------- files

# t_secret FILE PASSWORD: a password file, mode 0600.
t_secret() {
	(umask 077 && printf '%s\n' "$2" >"$1")
	chmod 0600 "$1"
}

# t_topology FILE MEMBERS [TOP-LEVEL-LINES]: a libconfig topology with auth on and these users:
#   backup/$T_PASS   clusterMonitor + hostManager + clusterManager (what the product needs)
#   nofsync/$T_PASS_NOFSYNC  clusterMonitor + clusterManager (no fsync, no unlock)
# MEMBERS is the text inside "members = ( ... );", e.g.
#   '{ port = 0; state = "PRIMARY"; }, { port = 0; priority = 0.0; }'
# TOPO_NOOP_MS (default 1000) sets noop_interval_ms; TOPO_SET (default rs0) the set name.
t_topology() {
	cat >"$1" <<EOF
set_name = "${TOPO_SET:-rs0}";
max_wire_version = ${TOPO_WIRE:-21};
auth = true;
noop_interval_ms = ${TOPO_NOOP_MS:-1000};
${3:-}
members = (
$2
);
users = (
  { name = "backup"; password = "$T_PASS"; db = "admin";
    mechanisms = [ "SCRAM-SHA-256", "SCRAM-SHA-1" ];
    roles = [ "clusterMonitor", "hostManager", "clusterManager" ]; },
  { name = "nofsync"; password = "$T_PASS_NOFSYNC"; db = "admin";
    mechanisms = [ "SCRAM-SHA-256", "SCRAM-SHA-1" ];
    roles = [ "clusterMonitor", "clusterManager" ]; }
);
EOF
}

# t_config FILE [LINE...]: a product config for the running simulator:
#   uri = $CFG_URI (default $SIM_URI; CFG_URI=none leaves it out), username = $CFG_USER (default
#   backup; none = left out), password_file = $CFG_PWFILE (default $T_DIR/backup.secret, written
#   with $CFG_PASS, default $T_PASS, mode 0600; none = left out), state_dir = $T_STATE,
# then each extra LINE verbatim.  Mode 0600: a uri may hold the password.
t_config() {
	local f=$1 uri=${CFG_URI:-$SIM_URI} user=${CFG_USER:-backup} pwf=${CFG_PWFILE:-$T_DIR/backup.secret}
	shift
	if [ "$pwf" != none ] && [ -z "${CFG_PWFILE:-}" ]; then
		t_secret "$pwf" "${CFG_PASS:-$T_PASS}"
	fi
	{
		echo "# written by $(basename "$0")"
		[ "$uri" = none ] || echo "uri = \"$uri\";"
		[ "$user" = none ] || echo "username = \"$user\";"
		[ "$pwf" = none ] || echo "password_file = \"$pwf\";"
		echo "state_dir = \"$T_STATE\";"
		local l
		for l in "$@"; do
			echo "$l"
		done
	} >"$f"
	chmod 0600 "$f"
}

# ---------------------------------------------------------------- the simulator

SIM_PID=""
SIM_URI=""
SIM_CTL=""
SIM_DIR=""
SIM_LOG=""

# sim_start TOPOLOGY_FILE [SIM-ARGS...]: start $MBH_SIM in a new dir under T_DIR with --ready-file,
# --ctl and --log there (plus SIM-ARGS, e.g. --data-dir DIR or --tls-cert ...), wait (bounded, checking
# the pid is alive) for the ready file.  Exports SIM_PID SIM_URI SIM_CTL SIM_DIR SIM_LOG.
sim_start() {
	local topo=$1 n=0
	shift
	SIM_DIR=$(mktemp -d "$T_DIR/sim.XXXXXX")
	SIM_LOG=$SIM_DIR/sim.log
	"$MBH_SIM" --topology "$topo" --ready-file "$SIM_DIR/ready" --ctl "$SIM_DIR/ctl" \
		--log "$SIM_LOG" "$@" </dev/null >"$SIM_DIR/stdout" 2>"$SIM_DIR/stderr" &
	SIM_PID=$!
	t_remember .sims "$SIM_PID"
	while [ ! -s "$SIM_DIR/ready" ] || [ "$(wc -l <"$SIM_DIR/ready")" -lt 3 ]; do
		if ! kill -0 "$SIM_PID" 2>/dev/null || [ "$(sed 's/^.*) \(.\).*/\1/' "/proc/$SIM_PID/stat" 2>/dev/null)" = Z ]; then
			wait "$SIM_PID"
			tap_diag "the simulator exited ($?) before it was ready: $MBH_SIM --topology $topo $*"
			tap_diag_file "$SIM_DIR/stderr" "simulator stderr"
			SIM_PID=""
			return 1
		fi
		n=$((n + 1))
		if [ "$n" -gt 600 ]; then
			tap_diag "the simulator is not ready after 30 s"
			tap_diag_file "$SIM_DIR/stderr" "simulator stderr"
			return 1
		fi
		sleep 0.05
	done
	SIM_URI=$(sed -n 2p "$SIM_DIR/ready")
	SIM_CTL=$(sed -n 3p "$SIM_DIR/ready")
	export SIM_PID SIM_URI SIM_CTL SIM_DIR SIM_LOG
	return 0
}

# sim_start_pss [SIM-ARGS...]: sim_start the tests' usual set, P, S, S (priority 0: member 2 is the
# one chosen), from $T_DIR/topo.conf.  A test whose simulator does not start ends there: a failed
# assertion, or a bail-out when it gave its plan first (its count can no longer match).
sim_start_pss() {
	t_topology "$T_DIR/topo.conf" '{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
	sim_start "$T_DIR/topo.conf" "$@" && return 0
	if [ -n "$TAP_PLANNED" ]; then
		echo "Bail out! the simulator does not start"
	else
		tap_fail "the simulator starts"
		tap_done
	fi
	exit 1
}

# sim_stop: stop the current simulator (TERM, wait); its status is returned.
sim_stop() {
	local rc=0
	[ -n "$SIM_PID" ] || return 0
	kill -TERM "$SIM_PID" 2>/dev/null
	if ! t_pid_gone "$SIM_PID" 500; then
		tap_diag "the simulator did not stop on SIGTERM; killing it"
		kill -KILL "$SIM_PID" 2>/dev/null
	fi
	wait "$SIM_PID"
	rc=$?
	SIM_PID=""
	return "$rc"
}

# sim_ctl ARGS...: one control-socket command; output on stdout, status 0 on "ok".
sim_ctl() {
	timeout -k 2 20 "$MBH_SIM" ctl "$SIM_CTL" "$@"
}

# sim_status_field M KEY: KEY's value in `ctl status` for member M (an _id or 127.0.0.1:PORT).
sim_status_field() {
	sim_ctl status | awk -v m="$1" -v k="$2" '
		{ id = ""; host = ""; val = ""
		  for (i = 1; i <= NF; i++) {
			p = index($i, "="); key = substr($i, 1, p - 1); v = substr($i, p + 1)
			if (key == "id") id = v
			if (key == "host") host = v
			if (key == k) val = v
		  }
		  if (id == m || host == m) { print val; exit } }'
}

# sim_member_host N / sim_member_port N
sim_member_host() { sim_status_field "$1" host; }
sim_member_port() { sim_member_host "$1" | sed 's/.*://'; }

# sim_lockcount N: member N's fsync lockCount.
sim_lockcount() { sim_status_field "$1" lockCount; }

# sim_lockcounts: "ID:COUNT ..." for every member, for messages and whole-set checks.
sim_lockcounts() {
	sim_ctl status | awk '{ id = ""; c = ""
		for (i = 1; i <= NF; i++) { p = index($i, "="); k = substr($i, 1, p - 1)
			if (k == "id") id = substr($i, p + 1); if (k == "lockCount") c = substr($i, p + 1) }
		printf "%s%s:%s", (NR > 1 ? " " : ""), id, c } END { print "" }'
}

# sim_lock_total: the sum of every member's lockCount.
sim_lock_total() {
	sim_ctl status | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^lockCount=/) s += substr($i, 11) } END { print s + 0 }'
}

# sim_counter M COMMAND: how many times M received COMMAND (0 when never).
sim_counter() {
	sim_ctl counters "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1 | grep . || echo 0
}

# sim_optime_secs M: the seconds part of M's optime.
sim_optime_secs() { sim_status_field "$1" optime | sed 's/:.*//'; }

# sim_wait_lag M P SECONDS: wait (bounded, polling the simulator) until M's optime is at least
# SECONDS behind P's.  Replication lag builds up with the clock; this waits for a state, not a time.
sim_wait_lag() {
	local n=0 a b
	while [ "$n" -lt 400 ]; do
		a=$(sim_optime_secs "$2")
		b=$(sim_optime_secs "$1")
		if [ -n "$a" ] && [ -n "$b" ] && [ $((a - b)) -ge "$3" ]; then
			return 0
		fi
		sleep 0.05
		n=$((n + 1))
	done
	return 1
}

# t_assert_unlocked NAME: every member's lockCount is 0.
t_assert_unlocked() {
	local total
	total=$(sim_lock_total)
	if [ "$total" = 0 ]; then
		tap_ok 0 "$1"
	else
		tap_ok 1 "$1"
		tap_diag "  lockCounts: $(sim_lockcounts)"
		return 1
	fi
}

# t_assert_no_state NAME [SET]: the state record is gone.
t_assert_no_state() {
	if [ ! -e "$T_STATE/${2:-rs0}.state" ]; then
		tap_ok 0 "$1"
	else
		tap_ok 1 "$1"
		tap_diag_file "$T_STATE/${2:-rs0}.state" "state file"
		return 1
	fi
}

# ---------------------------------------------------------------- processes of a run, by cwd and start time

# tap_skip NAME REASON: a skipped case (counted as a pass by TAP).
tap_skip() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $1 # SKIP $2"
}

# t_same_alive PID START: PID is still the process that started at START (t_starttime) and is not a
# zombie (one read of /proc/PID/stat, so a process reaped meanwhile is not mistaken for a live one).
t_same_alive() {
	local st
	[ -n "$1" ] && [ -n "$2" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null)
	[ -n "$st" ] && [ "${st%% *}" != Z ] && [ "$(echo "$st" | awk '{ print $20 }')" = "$2" ]
}

# t_procs_in DIR: the pids of the processes whose working directory is DIR.  Run the product with
# `env -C DIR` and every process it starts (watchdog, command, what the command forks) inherits DIR,
# so this finds all of them whatever their pid, and nothing of another test.
t_procs_in() {
	local d
	for d in /proc/[0-9]*; do
		[ "$d/cwd" -ef "$1" ] && echo "${d#/proc/}"
	done
	return 0
}

# t_run_dir NAME: make $T_DIR/NAME for t_procs_in (print its path); the cleanup kills whatever still
# runs there.
t_run_dir() {
	mkdir -p "$T_DIR/$1" && echo "$T_DIR/$1" >>"$T_DIR/.rundirs" && echo "$T_DIR/$1"
}

# wait_for NAME TRIES CMD...: poll CMD (20 ms steps) until it succeeds.
wait_for() {
	local name=$1 n=0 tries=$2
	shift 2
	while ! "$@"; do
		n=$((n + 1))
		if [ "$n" -ge "$tries" ]; then
			tap_diag "gave up waiting for: $name"
			return 1
		fi
		sleep 0.02
	done
}

# t_wait_no_procs_in DIR [TRIES]: wait (20 ms steps, default 5 s) until no process runs in DIR.
t_wait_no_procs_in() {
	local n=0
	while [ -n "$(t_procs_in "$1")" ] && [ "$n" -lt "${2:-250}" ]; do
		sleep 0.02
		n=$((n + 1))
	done
	[ -z "$(t_procs_in "$1")" ]
}

# t_assert_no_procs_in DIR NAME: wait (bounded) until nothing runs in DIR, assert it, and kill what
# is still there (each described first), so the next case starts clean.
t_assert_no_procs_in() {
	local left p
	t_wait_no_procs_in "$1"
	left=$(t_procs_in "$1" | tr '\n' ' ')
	tap_is "$left" "" "$2: no process of the run is left (watchdog, command)"
	for p in $left; do
		t_diag_proc "$p"
		kill -KILL "$p" 2>/dev/null
	done
}

# sim_set_state: "locked:[ ID=COUNT...] frozen:[ ID...]" from one `ctl status`; "locked: frozen:" is
# a set left clean (no lockCount, no replSetFreeze in force).
sim_set_state() {
	sim_ctl status | awk '{ id = ""; c = ""; f = ""
		for (i = 1; i <= NF; i++) { p = index($i, "="); k = substr($i, 1, p - 1); v = substr($i, p + 1)
			if (k == "id") id = v; if (k == "lockCount") c = v; if (k == "frozen") f = v }
		if (c != "0") l = l " " id "=" c; if (f != "0") z = z " " id }
		END { print "locked:" l " frozen:" z }'
}

# sim_unlock_time M: when member M last took an fsyncUnlock that left lockCount 0 (unix seconds with
# milliseconds, from the simulator's log); empty when it never did.
sim_unlock_time() {
	local t
	t=$(grep "member $1: fsyncUnlock, lockCount 0" "$SIM_LOG" 2>/dev/null | tail -n 1 | cut -d' ' -f1)
	[ -n "$t" ] && date -d "$t" +%s.%3N
}

# t_prombin NAME: the path of promtool or prometheus-node-exporter (PATH, or where tools/install-deps
# puts the one it takes out of Debian's package); empty when there is none.
t_prombin() {
	local p
	for p in "$(command -v "$1" 2>/dev/null)" "/usr/local/lib/mongo-backup-hooks-tests/prometheus/$1"; do
		[ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return 0; }
	done
	return 0
}
