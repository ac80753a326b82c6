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
# another member of that component locked, or no watchdog guarding the lock,
# the job fails instead of saving a member that is being written.  It asks
# `mongo-postbackup --check-held`, which reads the records only: it connects
# to nothing and changes nothing.  MONGO_POSTBACKUP names the program when it
# is not on PATH.
# Exit: 0 held, 69 not held (one line says why), 64 usage.
set -u

post=${MONGO_POSTBACKUP:-mongo-postbackup}
if [ $# -ne 4 ]; then
	echo "usage: cluster-lock-held.sh CONFIG JOB COMPONENT HOST:PORT" >&2
	exit 64
fi
exec "$post" -c "$1" --job "$2" --check-held "$3=$4"
