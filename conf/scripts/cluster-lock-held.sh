#!/bin/sh
# SPDX-License-Identifier: AGPL-3.0-or-later
# cluster-lock-held.sh: exit 0 only while a sharded cluster's backup lock is held on one member.
#
# Usage: cluster-lock-held.sh CONFIG JOB COMPONENT HOST:PORT
#   CONFIG     the cluster's mongo-backup.conf (its uri is the mongos)
#   JOB        the --job name the cluster's lock job gave mongo-prebackup
#   COMPONENT  a shard's name (as listShards says it) or "config" (the CSRS)
#   HOST:PORT  the member this backup job reads (the one on its client)
#
# A per-shard Bacula job runs it before it reads the member's files
# (bacula-cluster-hooks-job.conf): with no lock, a lock of another run, or
# another member of that component locked, the job fails instead of saving a
# member that is being written.  It asks `mongo-postbackup --status --json`
# (read only: it changes nothing) and reads the answer with python3, or, when
# mongo-postbackup has --check-held, asks it `--job JOB --check-held COMPONENT=HOST:PORT`.
# MONGO_POSTBACKUP and PYTHON3 name the programs when they are not on PATH.
# Exit: 0 held, 69 not held (one line says why), 64 usage, 70 an answer it cannot read.
set -u

post=${MONGO_POSTBACKUP:-mongo-postbackup}
if [ $# -ne 4 ]; then
	echo "usage: cluster-lock-held.sh CONFIG JOB COMPONENT HOST:PORT" >&2
	exit 64
fi
# a mongo-postbackup that answers the question itself (--check-held) is asked directly
if "$post" --help 2>/dev/null | grep -q -e '--check-held'; then
	exec "$post" -c "$1" --job "$2" --check-held "$3=$4"
fi
py=${PYTHON3:-python3}
command -v "$py" >/dev/null 2>&1 || { echo "cluster-lock-held.sh: python3 is needed to read the status (or PYTHON3)" >&2; exit 70; }

# --status exits 69 (with the JSON printed) when a lock has no watchdog: still an answer to read.
json=$("$post" -c "$1" --status --json)
rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 69 ]; then
	echo "cluster-lock-held.sh: $post --status failed (exit $rc)" >&2
	exit 70
fi

printf '%s\n' "$json" | "$py" -c '
import json, sys
job, comp, member = sys.argv[1:4]
def no(why):
    print("cluster-lock-held.sh: %s %s is not locked for job %s: %s" % (comp, member, job, why), file=sys.stderr)
    sys.exit(69)
try:
    st = json.loads(sys.stdin.read())
except ValueError as e:
    print("cluster-lock-held.sh: cannot read the status: %s" % e, file=sys.stderr)
    sys.exit(70)
if not isinstance(st, dict):
    print("cluster-lock-held.sh: the status is not a JSON object", file=sys.stderr)
    sys.exit(70)
if not st.get("components"):
    # no cluster record: one set'"'"'s status (nothing recorded), or a set'"'"'s lock, not a cluster'"'"'s
    no("a lock of set %s, not of a cluster" % st.get("set") if st.get("locked") else "nothing is locked")
if st.get("job") != job:
    no("the lock is job %s'"'"'s" % st.get("job"))
if st.get("phase") != "LOCKED":
    no("the cluster lock is %s, not LOCKED" % st.get("phase"))
found = [c for c in st["components"] if c.get("name") == comp]
if not found:
    no("the cluster has no component of that name")
c = found[0]
if c.get("member") != member:
    no("the member locked is %s" % c.get("member"))
s = c.get("status") or {}
if c.get("state") != "locked" or s.get("locked") is not True:
    no("its lock is %s" % c.get("state"))
print("%s %s is locked for job %s (lockCount %s)" % (comp, member, job, c.get("lock_count")))
' "$2" "$3" "$4"
