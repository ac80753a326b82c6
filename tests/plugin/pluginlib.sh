# pluginlib.sh: helpers for the plugin tests: the fake file daemon (tests/plugin/fakefd) driving the
# built mongo-fd.so, on top of the integration tests' simlib.sh.  Source it from bash:
#   . "$top_srcdir/tests/plugin/pluginlib.sh"
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# Environment (set by the Makefile; defaults for running a test by hand from the build directory):
# MBH_PLUGIN MBH_FAKEFD MONGO_BACKUP_WATCHDOG, and simlib.sh's.
# MBH_FAKEFD_INTERFACE: the plugin interface the fake file daemon speaks (14, 21, 22 or 23; default
# 14); the per-interface runs of the suite set it (tests/plugin/iface*/ ).

. "${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/tests/integration/simlib.sh"

MBH_PLUGIN=${MBH_PLUGIN:-$top_builddir/plugin/.libs/mongo-fd.so}
MBH_FAKEFD=${MBH_FAKEFD:-$top_builddir/tests/plugin/fakefd}
MONGO_BACKUP_WATCHDOG=${MONGO_BACKUP_WATCHDOG:-$top_builddir/watchdog/mongo-backup-watchdog}
MBH_FAKEFD_INTERFACE=${MBH_FAKEFD_INTERFACE:-14}
export MBH_PLUGIN MBH_FAKEFD MONGO_BACKUP_WATCHDOG MBH_FAKEFD_INTERFACE

# p_init: simlib's t_init, plus a skip when the plugin or the fake file daemon is not built; says
# which plugin interface this run speaks, as the fake file daemon reports it.
p_init() {
	local p
	for p in "$MBH_PLUGIN" "$MBH_FAKEFD" "$MONGO_BACKUP_WATCHDOG"; do
		[ -e "$p" ] || tap_skip_all "$p is not built"
	done
	t_init
	tap_diag "$("$MBH_FAKEFD" -i "$MBH_FAKEFD_INTERFACE" "$MBH_PLUGIN" info 2>&1 | sed -n 's/^fakefd: //p' | head -n 1)"
}

# p_start_rs0: simlib's sim_start_pss, then what most plugin tests name: H2 (member 2, the one
# chosen), CONF (the config file the test writes) and CMD (the plugin command that reads it).
p_start_rs0() {
	sim_start_pss
	H2=$(sim_member_host 2)
	CONF=$T_DIR/rs0.conf
	CMD="mongo: config=$CONF"
}

# p_assert_no_watchdog NAME: no watchdog of this test's state directory is left.
p_assert_no_watchdog() {
	tap_is "$(pgrep -f -- "mongo-backup-watchdog.*$T_STATE" | tr '\n' ' ')" "" "$1: no watchdog left"
}

# p_assert_clean NAME: what a plugin job leaves behind: every member unlocked, no record, no watchdog.
p_assert_clean() {
	t_assert_unlocked "$1: every member unlocked"
	t_assert_no_state "$1: no state record left"
	p_assert_no_watchdog "$1"
}

# fd_run NAME ARGS...: run the fake file daemon with the plugin (fakefd PLUGIN ARGS), bounded by
# T_TIMEOUT; stdout (the job messages and status lines) in $T_OUT/NAME.out, stderr in NAME.err
# (with FD_VERBOSE=1 also every call and the plugin's debug lines).
fd_run() {
	local name=$1
	shift
	timeout -k 5 "$T_TIMEOUT" "$MBH_FAKEFD" ${FD_VERBOSE:+-v} -i "$MBH_FAKEFD_INTERFACE" "$MBH_PLUGIN" "$@" \
		</dev/null >"$T_OUT/$name.out" 2>"$T_OUT/$name.err"
	T_RC=$?
	[ "$T_RC" -eq 124 ] && tap_diag "$name: fakefd timed out after $T_TIMEOUT s"
	t_note_watchdogs
	return 0
}

# fd_bg NAME ARGS...: the same in the background; FD_PID is its pid (remembered for the cleanup).
fd_bg() {
	local name=$1
	shift
	"$MBH_FAKEFD" -i "$MBH_FAKEFD_INTERFACE" "$MBH_PLUGIN" "$@" </dev/null >"$T_OUT/$name.out" 2>"$T_OUT/$name.err" &
	FD_PID=$!
	t_bg_register "$FD_PID"
}

# fd_field NAME JOBID KEY: a field of job JOBID's status line (status, files, bytes, errors, fname).
fd_field() {
	sed -n "s/^job $2: status=.*/&/p" "$T_OUT/$1.out" | tr ' ' '\n' | sed -n "s/^$3=//p" | head -n 1
}

# fd_status_is NAME JOBID STATUS TEST: assert the status letter Bacula would record for the job.
fd_status_is() {
	local got
	got=$(fd_field "$1" "$2" status)
	if [ "$got" = "$3" ]; then
		tap_ok 0 "$4"
	else
		tap_ok 1 "$4"
		tap_diag "  job $2 status '$got', expected '$3' (fakefd exit $T_RC)"
		t_show "$1"
		return 1
	fi
}

# fd_msgs NAME JOBID TYPE: the job's messages of that type (M_FATAL, M_INFO, ...), one per line.
fd_msgs() {
	sed -n "s/^job $2: $3: //p" "$T_OUT/$1.out"
}

# fd_count NAME JOBID TYPE: how many such messages.
fd_count() {
	fd_msgs "$1" "$2" "$3" | wc -l | tr -d ' '
}

# p_backup_cmd CONF [EXTRA]: the FileSet's plugin string for CONF.
p_backup_cmd() {
	echo "mongo: config=$1${2:+:$2}"
}

# t_is_ours, extended: the fake file daemon and the commands it runs are the test's too.
t_is_ours_plugin() {
	local cmd
	t_is_ours "$1" && return 0
	[ -r "/proc/$1/cmdline" ] || return 1
	cmd=$({ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null)
	case $cmd in
	*fakefd* | *"$T_DIR"*) return 0 ;;
	esac
	return 1
}
