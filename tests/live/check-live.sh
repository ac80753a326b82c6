#!/bin/sh
# check-live.sh: `make check-live`: the main flows of mongo-prebackup/mongo-postbackup against a REAL
# replica set (TAP).  Nothing here needs the simulator, so it also runs on a machine with MongoDB.
#   make check-live MONGODB_URI='mongodb://db1,db2,db3/admin?replicaSet=rs0' \
#        MONGODB_USER=backup MONGODB_PASSWORD_FILE=/etc/mongo-backup/rs0.secret
# It takes one real fsync lock on a secondary the product chooses, for well under a second per step,
# and always releases it.  The password stays in its file.
# SPDX-License-Identifier: AGPL-3.0-or-later
set -u
top_builddir=${top_builddir:-$(pwd)}
pre=${MBH_PRE:-$top_builddir/hooks/mongo-prebackup}
post=${MBH_POST:-$top_builddir/hooks/mongo-postbackup}
n=0
failed=0

ok() { # ok STATUS NAME
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

if [ -z "${MONGODB_URI:-}" ]; then
	echo "1..0 # SKIP set MONGODB_URI (and MONGODB_USER, MONGODB_PASSWORD_FILE) to a replica set"
	exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/mongo-check-live.XXXXXX")
cleanup() {
	# whatever happened: leave nothing locked and no watchdog behind
	"$post" -c "$work/live.conf" -q >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
{
	printf 'uri = "%s";\n' "$MONGODB_URI"
	[ -n "${MONGODB_USER:-}" ] && printf 'username = "%s";\n' "$MONGODB_USER"
	[ -n "${MONGODB_PASSWORD_FILE:-}" ] && printf 'password_file = "%s";\n' "$MONGODB_PASSWORD_FILE"
	printf 'state_dir = "%s/state";\nlock = { max_seconds = 300; };\n' "$work"
} >"$work/live.conf"

echo "1..9"
"$pre" -c "$work/live.conf" --check-config >"$work/out" 2>&1
ok $? "the configuration is valid"
"$pre" -c "$work/live.conf" --dry-run >"$work/dry" 2>&1
ok $? "--dry-run chooses a member"
sed 's/^/# /' "$work/dry"
grep -q '^would lock ' "$work/dry"
ok $? "--dry-run names the member it would lock"
"$pre" -c "$work/live.conf" --job check-live >"$work/out" 2>&1
ok $? "mongo-prebackup locks a member"
sed 's/^/# /' "$work/out"
"$post" -c "$work/live.conf" --status >"$work/status" 2>&1
grep -q '^phase: *LOCKED' "$work/status"
ok $? "--status shows the lock"
"$post" -c "$work/live.conf" --job check-live >"$work/out" 2>&1
ok $? "mongo-postbackup unlocks it"
sed 's/^/# /' "$work/out"
grep -q 'lockCount now 0' "$work/out"
ok $? "the member's lockCount is back to 0"
"$pre" -c "$work/live.conf" -q --exec -- sh -c 'echo "$MONGO_BACKUP_SET $MONGO_BACKUP_HOST:$MONGO_BACKUP_PORT" >"$0"' "$work/exec" >"$work/out" 2>&1
ok $? "--exec locks, runs the command and unlocks"
"$post" -c "$work/live.conf" --status >"$work/status" 2>&1
grep -q 'nothing is locked' "$work/status"
ok $? "nothing is left locked ($(cat "$work/exec" 2>/dev/null))"
[ "$failed" = 0 ]
