#!/bin/bash
# package-deb.sh: the Debian packages, built, checked and used as an administrator would.
#   * `dpkg-buildpackage -us -uc -b` on the distributed source builds mongo-backup-hooks and
#     bacula-fd-mongo-plugin; lintian finds no error and no warning (overrides only those written
#     in debian/ with their reason); each package holds what it must, where it must, and nothing else.
#   * `apt-get install ./...deb` into a fresh Debian root of this machine's release pulls in bacula-fd
#     and creates the state directory root-owned, mode 0700.
#   * A real Bacula job in hooks mode (/usr/bin/mongo-prebackup and mongo-postbackup as RunScripts) and
#     one in plugin mode (bacula-fd loading /usr/lib/bacula/mongo-fd.so, the backup command the installed
#     example script) run inside that root against the simulated replica set (the build tree's, on
#     loopback); the lock's watchdog is /usr/libexec/mongo-backup-hooks/mongo-backup-watchdog; both
#     restores verify; the member ends unlocked and nothing of ours still runs.
#   * `apt-get purge` leaves nothing of the packages; a state directory that still records a lock
#     is kept on purge (the record is the only way to release that member), with a line saying so.
# Needs root, debootstrap, debhelper, lintian and the Debian mirror (skipped, saying which, otherwise).
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
if [ "${MBH_SKIP_SLOW:-}" = 1 ]; then
	echo "1..0 # SKIP slow end-to-end test: it ran in the first pass of the suite (MBH_SKIP_SLOW=1)"
	exit 0
fi
if [ "${MBH_SANITIZERS:-no}" = yes ]; then
	echo "1..0 # SKIP sanitizer build: the packages are built by dpkg-buildpackage with Debian's flags, whatever this build's; the plain build's suite runs this test"
	exit 0
fi
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/bacula/baculalib.sh"
. "$top_srcdir/tests/package/rootlib.sh"

PKG_MAIN=mongo-backup-hooks
PKG_PLUGIN=bacula-fd-mongo-plugin
WATCHDOG=/usr/libexec/mongo-backup-hooks/mongo-backup-watchdog
EXAMPLES=/usr/share/doc/mongo-backup-hooks/examples

t_init
# pkg_cleanup: the EXIT trap: the daemons, whatever still runs inside the root, then simlib's cleanup.
pkg_cleanup() {
	local rc=$?
	trap - EXIT
	bacula_stop_all
	root_kill_all
	(exit "$rc")
	t_cleanup
}
trap pkg_cleanup EXIT

# ---- can it run here?
[ -f "$top_srcdir/debian/control" ] || tap_skip_all "no debian/ in $top_srcdir"
missing=""
for p in dpkg-buildpackage dpkg-parsechangelog dpkg-checkbuilddeps dh lintian; do
	command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] || tap_skip_all "missing:$missing (tools/install-deps installs dpkg-dev, debhelper and lintian)"
if ! out=$(cd "$top_srcdir" && dpkg-checkbuilddeps 2>&1); then
	tap_skip_all "the build dependencies are not installed ($out): tools/install-deps installs them"
fi
root_require

# ---- the fresh root first: when it cannot be made (no mirror reachable), nothing else is worth doing
SECONDS=0
root_create || tap_skip_all "no fresh Debian $ROOT_SUITE root could be made from $ROOT_MIRROR (see above)"
T_ROOT_S=$SECONDS

# ---- build from the distributed source, as `make dist` ships it
VERSION=$(dpkg-parsechangelog -l "$top_srcdir/debian/changelog" -S Version)
ARCH=$(dpkg --print-architecture)
BUILD=$T_DIR/build
SRC=$BUILD/mongo-backup-hooks-${VERSION%-*}
mkdir -p "$BUILD"
SECONDS=0
( unset MAKEFLAGS MFLAGS MAKELEVEL; make -C "$top_builddir" distdir distdir="$SRC" ) >"$T_OUT/distdir.log" 2>&1
tap_ok $? "make distdir: the distributed source, with debian/" || tap_diag_file "$T_OUT/distdir.log"
(
	unset MAKEFLAGS MFLAGS MAKELEVEL
	cd "$SRC" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b
) >"$T_OUT/build.log" 2>&1
rc=$?
tap_ok $rc "dpkg-buildpackage -us -uc -b builds the packages ($SECONDS s; the unit tests ran in the suite: nocheck)" ||
	{ tail -n 30 "$T_OUT/build.log" | sed 's/^/#   /'; echo "Bail out! the packages do not build"; exit 1; }
DEB_MAIN=$BUILD/${PKG_MAIN}_${VERSION}_$ARCH.deb
DEB_PLUGIN=$BUILD/${PKG_PLUGIN}_${VERSION}_$ARCH.deb
CHANGES=$BUILD/${PKG_MAIN}_${VERSION}_$ARCH.changes
tap_ok "$([ -f "$DEB_MAIN" ] && [ -f "$DEB_PLUGIN" ] && [ -f "$CHANGES" ] && echo 0 || echo 1)" \
	"$(basename "$DEB_MAIN"), $(basename "$DEB_PLUGIN") and the .changes are there"

# ---- lintian: no error, no warning; the only overrides are the ones debian/ explains
lintian --show-overrides "$CHANGES" >"$T_OUT/lintian.out" 2>&1
tap_diag_file "$T_OUT/lintian.out" "lintian --show-overrides $(basename "$CHANGES")"
tap_is "$(grep -cE '^[EW]: ' "$T_OUT/lintian.out")" 0 "lintian: no error and no warning"
tap_is "$(sed -n 's/^O: [^:]*: \([^ ]*\).*/\1/p' "$T_OUT/lintian.out" | sort -u | paste -sd ' ' -)" \
	"initial-upload-closes-no-bugs" "lintian: the one override is the explained one (no bug to close: not uploaded to Debian)"

# ---- what each package holds
dpkg -c "$DEB_MAIN" | awk '{ print $1, $NF }' | sed 's| \./| /|' >"$T_OUT/main.list"
dpkg -c "$DEB_PLUGIN" | awk '{ print $1, $NF }' | sed 's| \./| /|' >"$T_OUT/plugin.list"
# has LIST MODE PATH: the package has PATH with that mode string
has() {
	grep -qxF -- "$2 $3" "$T_OUT/$1.list"
}
missing=""
for f in /usr/bin/mongo-prebackup /usr/bin/mongo-postbackup $WATCHDOG /usr/libexec/mongo-backup-hooks/mongo-backup-gate \
	/usr/libexec/mongo-backup-hooks/mongo-backup-watchdog-release \
	/usr/libexec/mongo-backup-hooks/snapshot-btrfs /usr/libexec/mongo-backup-hooks/snapshot-lvm \
	/usr/libexec/mongo-backup-hooks/snapshot-zfs $EXAMPLES/scripts/dump-copy.sh $EXAMPLES/scripts/cluster-lock-held.sh; do
	has main -rwxr-xr-x "$f" || missing="$missing $f"
done
for f in /usr/share/man/man1/mongo-prebackup.1.gz /usr/share/man/man1/mongo-postbackup.1.gz \
	/usr/share/man/man5/mongo-backup.conf.5.gz $EXAMPLES/mongo-backup.conf.example \
	$EXAMPLES/mongo-backup-plugin.conf.example $EXAMPLES/bacula-hooks-job.conf $EXAMPLES/bacula-cluster-hooks-job.conf \
	$EXAMPLES/bacula-plugin-job.conf $EXAMPLES/bacula-plugin-cluster.conf $EXAMPLES/mongo-backup-plugin-cluster.conf.example \
	$EXAMPLES/mongo-backup.rules.yml \
	/usr/share/doc/mongo-backup-hooks/copyright; do
	has main -rw-r--r-- "$f" || missing="$missing $f"
done
tap_is "$missing" "" "$PKG_MAIN: programs in /usr/bin, watchdog, gate and snapshot scripts in /usr/libexec/mongo-backup-hooks, man pages, examples (configs, Bacula snippets, scripts, alerting rules)" ||
	tap_diag_file "$T_OUT/main.list"
tap_is "$(awk '{ print $2 }' "$T_OUT/main.list" | grep -E 'bacula/|mongo-fd|\.la$|mongo-rs-sim|/usr/local|/etc/' | paste -sd ' ' -)" "" \
	"$PKG_MAIN: no plugin, no libtool file, no simulator, nothing in /usr/local or /etc"
tap_ok "$(has plugin -rw-r--r-- /usr/lib/bacula/mongo-fd.so && has plugin -rw-r--r-- /usr/share/man/man8/mongo-fd.8.gz && echo 0 || echo 1)" \
	"$PKG_PLUGIN: /usr/lib/bacula/mongo-fd.so and mongo-fd(8)" || tap_diag_file "$T_OUT/plugin.list"
tap_is "$(awk '$1 !~ /^d/ { print $2 }' "$T_OUT/plugin.list" |
	grep -vE "^(/usr/lib/bacula/mongo-fd\\.so|/usr/share/man/man8/mongo-fd\\.8\\.gz|/usr/share/doc/$PKG_PLUGIN/.*|/usr/share/lintian/overrides/$PKG_PLUGIN)\$" |
	paste -sd ' ' -)" "" "$PKG_PLUGIN: nothing else (no .la file beside the plugin)"
DEPENDS=$(dpkg-deb -f "$DEB_PLUGIN" Depends)
tap_like <(echo "$DEPENDS") "(^|, )$PKG_MAIN \\(= $VERSION\\)(,|\$)" "$PKG_PLUGIN depends on $PKG_MAIN of the same version (the watchdog)"
tap_like <(echo "$DEPENDS") "bacula-fd \\(>= 9\\.6~\\), bacula-fd \\(<< 16~\\)" \
	"$PKG_PLUGIN depends on a bacula-fd from 9.6 to 15.x (the plugin interfaces it speaks)"
mkdir "$T_DIR/x"
dpkg-deb -x "$DEB_MAIN" "$T_DIR/x" && dpkg-deb -x "$DEB_PLUGIN" "$T_DIR/x"
missing=""
for f in usr/bin/mongo-prebackup usr/bin/mongo-postbackup usr/lib/bacula/mongo-fd.so; do
	grep -qaF "$WATCHDOG" "$T_DIR/x/$f" || missing="$missing $f"
done
tap_is "$missing" "" "the programs and the plugin have the watchdog's installed path compiled in ($WATCHDOG)"

# ---- install into the fresh root, as the README says
SECONDS=0
root_apt install -y -q --no-install-recommends "$DEB_MAIN" "$DEB_PLUGIN" >"$T_OUT/install.log" 2>&1
tap_ok $? "apt-get install ./$(basename "$DEB_MAIN") ./$(basename "$DEB_PLUGIN") in a fresh Debian $ROOT_SUITE root ($SECONDS s)" ||
	{ tail -n 30 "$T_OUT/install.log" | sed 's/^/#   /'; echo "Bail out! the packages do not install"; exit 1; }
T_INSTALL_S=$SECONDS
tap_is "$(root_run dpkg-query -W -f '${Status}' bacula-fd 2>&1)" "install ok installed" "apt installed bacula-fd for the plugin's dependency"
BACULA_FD_VERSION=$(root_run dpkg-query -W -f '${Version}' bacula-fd 2>/dev/null)
tap_is "$(stat -c '%u:%g %a %F' "$ROOT/var/lib/mongo-backup" 2>&1)" "0:0 700 directory" \
	"the state directory /var/lib/mongo-backup is created root-owned, mode 0700"
tap_like <(root_run mongo-prebackup --version 2>&1) "mongo-prebackup .*${VERSION%-*}" "mongo-prebackup --version runs in the root"

# ---- the test's own Bacula director, storage daemon and console (not what the packages need)
SECONDS=0
root_apt install -y -q --no-install-recommends bacula-director bacula-director-sqlite3 bacula-sd bacula-console \
	sqlite3 mailutils >"$T_OUT/install-bacula.log" 2>&1
tap_ok $? "the director, storage daemon and bconsole install in the root for the jobs ($SECONDS s)" ||
	{ tail -n 30 "$T_OUT/install-bacula.log" | sed 's/^/#   /'; echo "Bail out! Bacula does not install in the root"; exit 1; }
T_INSTALL_S=$((T_INSTALL_S + SECONDS))

# Bacula's programs run inside the root through wrappers that keep their pid; baculalib sees them
# as its own.  The catalog is made by the root's sqlite3 from the root's schema.
for p in bacula-dir bacula-sd bacula-fd bconsole; do
	root_wrap "$p" "/usr/sbin/$p"
done
root_wrap sqlite3 /usr/bin/sqlite3
PATH=$T_DIR/bin:$PATH
BACULA_SERIES=system
BACULA_DEB_SCHEMA=$ROOT$BACULA_DEB_SCHEMA
BACULA_PLUGIN_DIR=/usr/lib/bacula
bacula_init
trap pkg_cleanup EXIT
# shellcheck disable=SC2034 # simlib's assertions and cleanup read the state directory from T_STATE
T_STATE=$ROOT/var/lib/mongo-backup

# ---- the replica set (primary, electable secondary, passive secondary) with data directories, here
SECONDS=0
DATA=$T_DIR/data
mkdir "$DATA"
t_topology "$T_DIR/topo.conf" '{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
sim_start "$T_DIR/topo.conf" --data-dir "$DATA" || { echo "Bail out! the simulator does not start"; exit 1; }
H2=$(sim_member_host 2)
"$MBH_SIM" ctl "$SIM_CTL" write 5 >/dev/null

# The config uses the default state directory (the package's); the plugin's backup command is the
# installed example script, after a note of the watchdog the lock record names.
CONF=$T_DIR/rs0.conf
t_config "$CONF" 'lock = { max_seconds = 300; };' \
	"script = { backup = [ \"$T_DIR/backup.sh\", \"-\", \"$DATA/2\" ]; timeout = 120; };"
sed -i '/^state_dir = /d' "$CONF"
cat >"$T_DIR/note-watchdog.sh" <<EOF
#!/bin/sh
# the program of the watchdog the lock record names, as the client sees it (started as itself, before
# the lock: never the gate program)
pid=\$(sed -n 's/^watchdog_pid=//p' /var/lib/mongo-backup/rs0.state)
echo "\$1 \$(readlink "/proc/\$pid/exe")" >>"$T_OUT/watchdog.txt"
EOF
cat >"$T_DIR/backup.sh" <<EOF
#!/bin/sh
"$T_DIR/note-watchdog.sh" plugin
exec $EXAMPLES/scripts/dump-copy.sh "\$@"
EOF
chmod 0755 "$T_DIR/note-watchdog.sh" "$T_DIR/backup.sh"

cat >"$BACULA_ETC/jobs.conf" <<EOF
FileSet {
  Name = "mongo-member2"
  Include {
    Options {
      signature = MD5
    }
    File = "$DATA/2"
  }
}
FileSet {
  Name = "mongo-plugin"
  Include {
    Options {
      signature = MD5
    }
    Plugin = "mongo: config=$CONF"
  }
}
Job {
  Name = "mongo-hooks"
  JobDefs = "t-defs"
  FileSet = "mongo-member2"
  RunScript {
    RunsWhen = Before
    RunsOnClient = yes
    FailJobOnError = yes
    Command = "/usr/bin/mongo-prebackup -c $CONF --job %j"
  }
  RunScript {
    RunsWhen = Before
    RunsOnClient = yes
    FailJobOnError = yes
    Command = "$T_DIR/note-watchdog.sh hooks"
  }
  RunScript {
    RunsWhen = After
    RunsOnClient = yes
    RunsOnSuccess = yes
    RunsOnFailure = yes
    Command = "/usr/bin/mongo-postbackup -c $CONF --job %j"
  }
}
Job {
  Name = "mongo-plugin"
  JobDefs = "t-defs"
  FileSet = "mongo-plugin"
}
EOF
bacula_start || { echo "Bail out! the Bacula daemons do not start in the root"; exit 1; }
tap_pass "bacula-sd, bacula-fd and bacula-dir $BACULA_FD_VERSION of the root listen on 127.0.0.1"
tap_ok "$(grep -q '/usr/lib/bacula/mongo-fd\.so$' "/proc/$BACULA_FD_PID/maps" && echo 0 || echo 1)" \
	"bacula-fd loaded the installed /usr/lib/bacula/mongo-fd.so"

# restore JOBID WHAT: restore every file of the job under a new where (WHERE).
restore() {
	local rid
	WHERE=$T_DIR/where-$1
	rid=$(bacula_restore "$1" "$WHERE")
	tap_ok $? "$2: the restore runs to its end (JobId ${rid:-none})"
	tap_is "$(bacula_job_status "$rid")" T "$2: the restore ends with JobStatus T" || bacula_diag_job "$rid"
}
# verify_copy DIR WHAT: DIR is a whole copy of a member (the simulator's verify).
verify_copy() {
	local out
	out=$(timeout -k 2 30 "$MBH_SIM" verify "$1" 2>&1)
	tap_ok $? "$2: the restored copy of member 2 is whole (mongo-rs-sim verify)" || tap_diag "$out"
}

# ---- hooks mode: the installed programs as the README's RunScripts
JOB=$(bacula_run_job mongo-hooks)
tap_ok $? "hooks mode: job mongo-hooks runs to its end (JobId ${JOB:-none})"
bacula_job_log "$JOB" >"$T_OUT/job-hooks.log"
tap_is "$(bacula_job_status "$JOB")" T "hooks mode: the job ends with JobStatus T" || bacula_diag_job "$JOB"
tap_like "$T_OUT/job-hooks.log" "ClientBeforeJob: .*locked $H2 .*for job mongo-hooks\\." "hooks mode: /usr/bin/mongo-prebackup locked $H2"
tap_like "$T_OUT/job-hooks.log" "ClientAfterJob: .*unlocked $H2 " "hooks mode: /usr/bin/mongo-postbackup unlocked it"
tap_like "$T_OUT/watchdog.txt" "^hooks $WATCHDOG\$" "hooks mode: the lock's watchdog runs $WATCHDOG"
t_assert_unlocked "hooks mode: no member is locked after the job"
t_assert_no_state "hooks mode: no record is left in /var/lib/mongo-backup"
restore "$JOB" "hooks mode"
verify_copy "$WHERE$DATA/2" "hooks mode"

# ---- plugin mode: the installed mongo-fd.so, the installed example script as the backup command
JOB=$(bacula_run_job mongo-plugin)
tap_ok $? "plugin mode: job mongo-plugin runs to its end (JobId ${JOB:-none})"
bacula_job_log "$JOB" >"$T_OUT/job-plugin.log"
tap_is "$(bacula_job_status "$JOB")" T "plugin mode: the job ends with JobStatus T" || bacula_diag_job "$JOB"
tap_like "$T_OUT/job-plugin.log" "mongo-fd: locked $H2 \\(lockCount 1\\) for job mongo-plugin\\." "plugin mode: mongo-fd.so locked $H2"
tap_like "$T_OUT/job-plugin.log" "mongo-fd: unlocked $H2 \\(lockCount now 0\\)" "plugin mode: and unlocked it"
tap_like "$T_OUT/watchdog.txt" "^plugin $WATCHDOG\$" "plugin mode: the lock's watchdog runs $WATCHDOG"
t_assert_unlocked "plugin mode: no member is locked after the job"
t_assert_no_state "plugin mode: no record is left in /var/lib/mongo-backup"
restore "$JOB" "plugin mode"
mkdir "$T_DIR/untar"
tar -C "$T_DIR/untar" -xf "$WHERE/@mongo/rs0/$H2/backup.sh" 2>"$T_OUT/untar.err"
tap_ok $? "plugin mode: the restored file /@mongo/rs0/$H2/backup.sh is the example script's tar stream" ||
	tap_diag_file "$T_OUT/untar.err"
verify_copy "$T_DIR/untar" "plugin mode"

# ---- nothing of ours still runs in the root
bacula_stop
left=$(for d in /proc/[0-9]*; do [ "$d/root" -ef "$ROOT" ] && readlink "$d/exe"; done 2>/dev/null | paste -sd ' ' -)
tap_is "$left" "" "after the daemons stop, nothing runs in the root (no watchdog, no command)"
T_JOBS_S=$SECONDS

# ---- purge: nothing of the packages is left
SECONDS=0
root_run dpkg-query -L "$PKG_MAIN" "$PKG_PLUGIN" >"$T_OUT/installed.list" 2>&1
root_apt purge -y -q "$PKG_MAIN" "$PKG_PLUGIN" >"$T_OUT/purge.log" 2>&1
tap_ok $? "apt-get purge $PKG_MAIN $PKG_PLUGIN" || tail -n 20 "$T_OUT/purge.log" | sed 's/^/#   /'
tap_is "$(root_run dpkg-query -W -f '${db:Status-Abbrev}\n' "$PKG_MAIN" "$PKG_PLUGIN" 2>/dev/null | grep -v '^un' | paste -sd ' ' -)" "" \
	"dpkg knows neither package any more (not even their configuration)"
left=""
while read -r f; do
	if [ -z "$f" ] || [ "$f" = /. ]; then
		continue
	fi
	if [ -d "$ROOT$f" ] && [ ! -L "$ROOT$f" ]; then
		# a directory may stay when another package owns it too (/usr/lib/bacula is bacula-fd's)
		root_run dpkg-query -S "$f" >/dev/null 2>&1 || left="$left $f"
	elif [ -e "$ROOT$f" ] || [ -L "$ROOT$f" ]; then
		left="$left $f"
	fi
done <"$T_OUT/installed.list"
tap_is "$left" "" "every file and directory the packages installed is gone (directories other packages own stay)"
tap_ok "$([ ! -e "$ROOT/var/lib/mongo-backup" ] && echo 0 || echo 1)" \
	"the state directory /var/lib/mongo-backup is gone (it held no record; its lock file goes with it)" ||
	ls -la "$ROOT/var/lib/mongo-backup" | sed 's/^/#   /'
tap_is "$(find "$ROOT" -path "$ROOT$T_DIR" -prune -o \( -name '*mongo-backup*' -o -name '*mongo-fd*' -o -name '*mongo-prebackup*' -o -name '*mongo-postbackup*' \) -print |
	sed "s|^$ROOT||" | paste -sd ' ' -)" "" "no file named after the packages is left anywhere in the root"

# ---- purge with a record of a lock still there: the record and its directory stay, and apt says why
root_apt install -y -q --no-install-recommends "$DEB_MAIN" >"$T_OUT/reinstall.log" 2>&1
tap_ok $? "$PKG_MAIN installs again" || tail -n 20 "$T_OUT/reinstall.log" | sed 's/^/#   /'
printf 'set=rs0\nphase=LOCKED\n' >"$ROOT/var/lib/mongo-backup/rs0.state"
: >"$ROOT/var/lib/mongo-backup/rs0.lock"
root_apt purge -y -q "$PKG_MAIN" >"$T_OUT/purge-held.log" 2>&1
tap_ok $? "apt-get purge $PKG_MAIN with a lock record in the state directory" || tail -n 20 "$T_OUT/purge-held.log" | sed 's/^/#   /'
tap_ok "$([ -f "$ROOT/var/lib/mongo-backup/rs0.state" ] && [ -f "$ROOT/var/lib/mongo-backup/rs0.lock" ] && echo 0 || echo 1)" \
	"the record of the lock and its directory stay"
tap_like "$T_OUT/purge-held.log" "/var/lib/mongo-backup kept: it still records a lock or snapshot \\(rs0\\.state\\); reinstall" \
	"the purge says the directory was kept, why, and what to do"
T_PURGE_S=$SECONDS

tap_diag "seconds: fresh root $T_ROOT_S, installs $T_INSTALL_S, jobs $T_JOBS_S, purges $T_PURGE_S (Debian $ROOT_SUITE, bacula-fd $BACULA_FD_VERSION)"
tap_done
