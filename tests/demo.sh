#!/bin/sh
# demo.sh: `make demo` — the main job end to end on a simulated 3-member replica set:
# dry run (every member with its verdict), pre-backup (choose + lock), a backup script that copies
# the locked member's data directory, post-backup (unlock), and proof that nothing is left locked.
# SPDX-License-Identifier: AGPL-3.0-or-later
set -eu
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
sim=$top_builddir/tests/sim/mongo-rs-sim
pre=$top_builddir/hooks/mongo-prebackup
post=$top_builddir/hooks/mongo-postbackup
for p in "$sim" "$pre" "$post"; do
	[ -x "$p" ] || { echo "demo: $p is not built: run make first" >&2; exit 69; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mongo-backup-demo.XXXXXX")
sim_pid=""
cleanup() {
	if [ -n "$sim_pid" ]; then
		kill "$sim_pid" 2>/dev/null || true
		wait "$sim_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then bold=$(printf '\033[1m'); plain=$(printf '\033[0m'); else bold=""; plain=""; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

# The demo set: a primary, an electable secondary and a passive (priority 0) secondary,
# SCRAM authentication on, each data-bearing member persisting what it applies under data/.
say "starting a simulated replica set (tests/sim/topologies/demo.conf)"
"$sim" --topology "$top_srcdir/tests/sim/topologies/demo.conf" --data-dir "$work/data" \
	--ready-file "$work/ready" --ctl "$work/ctl" >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
tries=0
while [ ! -s "$work/ready" ]; do
	kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.err" >&2; echo "demo: the simulator did not start" >&2; exit 69; }
	tries=$((tries + 1))
	[ "$tries" -lt 200 ] || { echo "demo: the simulator is not ready after 10 s" >&2; exit 69; }
	sleep 0.05
done
uri=$(sed -n 2p "$work/ready")
echo "seed list: $uri"
"$sim" ctl "$work/ctl" status

# The operator's config: the password lives in a 0600 file, never on a command line.
password=$(sed -n 's/.*name *= *"backup"; *password *= *"\([^"]*\)".*/\1/p' "$top_srcdir/tests/sim/topologies/demo.conf" | head -n 1)
umask 077
printf '%s\n' "$password" >"$work/backup.secret"
cat >"$work/rs0.conf" <<CONF
uri = "$uri";
username = "backup";
password_file = "$work/backup.secret";
selection = { policy = "auto"; max_lag_seconds = 30; };
lock = { max_seconds = 600; };
state_dir = "$work/state";
CONF

"$sim" ctl "$work/ctl" write 100 >/dev/null   # some data before the backup

say "mongo-prebackup --dry-run: every member, its verdict and why"
"$pre" -c "$work/rs0.conf" --dry-run

say "mongo-prebackup: choose, freeze if electable, fsync-lock, record (as a Bacula RunScript Before)"
"$pre" -c "$work/rs0.conf" --job demo-job
"$post" -c "$work/rs0.conf" --status

member=$(sed -n 's/^member=//p' "$work/state/"*.state)
member_id=$("$sim" ctl "$work/ctl" status | sed -n "s/^id=\([0-9]*\) host=$member .*/\1/p")
say "backup script: copy the locked member's data directory ($member, dbPath $work/data/$member_id)"
at_lock=$("$sim" verify "$work/data/$member_id")
echo "member at lock time:   $at_lock"
"$sim" ctl "$work/ctl" write 50 >/dev/null   # the primary keeps taking writes during the backup
cp -a "$work/data/$member_id" "$work/backup"
"$sim" ctl "$work/ctl" write 50 >/dev/null
echo "copied: $(ls "$work/backup" | tr '\n' ' ')"
copy=$("$sim" verify "$work/backup")
echo "the copy:              $copy"
if [ "$copy" != "$at_lock" ]; then
	echo "demo: the copy differs from the member's state at lock time" >&2
	exit 70
fi
echo "the copy is whole and equals the member's state at lock time, though the primary took 100 writes meanwhile"

say "mongo-postbackup: unlock exactly what was locked (as a Bacula RunScript After, RunsOnFailure = yes)"
"$post" -c "$work/rs0.conf" --job demo-job

say "afterwards"
echo "member after unlock:   $("$sim" verify "$work/data/$member_id") (caught up with the primary)"
"$post" -c "$work/rs0.conf" --status
"$sim" ctl "$work/ctl" status
locked=$("$sim" ctl "$work/ctl" status | grep -vc 'lockCount=0' || true)
if [ "$locked" = 0 ]; then
	echo "nothing is left locked: every member reports lockCount=0"
else
	echo "demo: $locked member(s) still locked" >&2
	exit 70
fi
