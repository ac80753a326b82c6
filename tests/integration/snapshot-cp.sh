#!/bin/sh
# snapshot-cp.sh: a stand-in for conf/scripts/snapshot-btrfs in the tests: the "snapshot" is a cp -a
# of the member's data directory (fine for a test, O(data) under the lock in real life).
# SPDX-License-Identifier: AGPL-3.0-or-later
#
#   snapshot-cp.sh create SRC DIR NAME   copies SRC to DIR/NAME-N and prints that path
#   snapshot-cp.sh remove PATH           rm -rf PATH (a missing PATH is success)
#
# The test steers it through the environment (mongo-prebackup passes everything but MONGO_BACKUP_*):
#   SNAPTEST_LOG    a file: one line per call: "create|remove ARGS... env SNAPSHOT=... JOB=..." and,
#                   for create when SNAPTEST_SIM and SNAPTEST_CTL are set, "status:" with every member's
#                   lockCount at that moment
#   SNAPTEST_FAULT  create-fail         exit 3, print nothing
#                   create-fail-after   copy, print the path, then exit 4
#                   create-hang         print nothing, sleep (until killed)
#                   create-hang-after   copy, print the path, then sleep (until killed)
#                   create-garbage      print a relative path, exit 0
#                   create-empty        print nothing, exit 0
#                   remove-fail         exit 5 (the snapshot stays)
#                   remove-hang         sleep (until killed)
#   SNAPTEST_PIDFILE  create writes its pid there first (for tests that kill things mid-create), and
#                   PIDFILE.printed once it has printed the path
set -eu

log() {
	[ -n "${SNAPTEST_LOG:-}" ] || return 0
	{
		printf '%s env SNAPSHOT=%s JOB=%s HOST=%s PORT=%s SET=%s\n' "$*" "${MONGO_BACKUP_SNAPSHOT:-}" \
			"${MONGO_BACKUP_JOB:-}" "${MONGO_BACKUP_HOST:-}" "${MONGO_BACKUP_PORT:-}" "${MONGO_BACKUP_SET:-}"
		if [ "${1%% *}" = create ] && [ -n "${SNAPTEST_SIM:-}" ] && [ -n "${SNAPTEST_CTL:-}" ]; then
			printf 'status: %s\n' "$("$SNAPTEST_SIM" ctl "$SNAPTEST_CTL" status | sed 's/ .*lockCount=/:/; s/ .*//' | tr '\n' ' ')"
		fi
	} >>"$SNAPTEST_LOG"
}

fault=${SNAPTEST_FAULT:-}
case "${1:-}" in
create)
	[ $# -eq 4 ] || { echo "snapshot-cp.sh: usage: create SRC DIR NAME" >&2; exit 64; }
	[ -z "${SNAPTEST_PIDFILE:-}" ] || { echo $$ >"$SNAPTEST_PIDFILE.tmp" && mv "$SNAPTEST_PIDFILE.tmp" "$SNAPTEST_PIDFILE"; }
	log "create $2 $3 $4"
	case $fault in
	create-fail) exit 3 ;;
	create-hang) exec sleep 600 ;;
	create-garbage) echo "relative/snapshot"; exit 0 ;;
	create-empty) exit 0 ;;
	esac
	n=1
	while [ -e "$3/$4-$n" ]; do n=$((n + 1)); done
	cp -a "$2" "$3/$4-$n"
	echo "$3/$4-$n"
	[ -z "${SNAPTEST_PIDFILE:-}" ] || : >"$SNAPTEST_PIDFILE.printed"
	case $fault in
	create-fail-after) exit 4 ;;
	create-hang-after) exec sleep 600 ;;
	esac
	;;
remove)
	[ $# -eq 2 ] || { echo "snapshot-cp.sh: usage: remove PATH" >&2; exit 64; }
	log "remove $2"
	case $fault in
	remove-fail) echo "snapshot-cp.sh: remove fails (SNAPTEST_FAULT)" >&2; exit 5 ;;
	remove-hang) exec sleep 600 ;;
	esac
	rm -rf "$2"
	;;
*)
	echo "snapshot-cp.sh: usage: create SRC DIR NAME | remove PATH" >&2
	exit 64
	;;
esac
