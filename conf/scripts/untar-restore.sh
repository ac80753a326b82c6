#!/bin/sh
# SPDX-License-Identifier: AGPL-3.0-or-later
# untar-restore.sh: script.restore for the Bacula plugin: unpack a restored tar stream into a new directory.
#
# Usage: untar-restore.sh [DIR]
#   DIR  where to unpack.  Default: WHERE/SET-HOST-PORT, with WHERE the restore job's "where" and
#        SET, HOST, PORT the replica set and member the backup was taken from.  DIR must not exist or
#        be empty: a restore never writes over files, least of all a running member's dbPath.
# mongo-fd.so runs it (no shell) with the stream (the tar that dump-copy.sh - DBPATH wrote) on stdin
# and MONGO_BACKUP_SET, MONGO_BACKUP_HOST, MONGO_BACKUP_PORT, MONGO_BACKUP_JOB and MONGO_BACKUP_WHERE in
# its environment.  A non-zero exit fails the restore job.
set -eu

die() { echo "untar-restore.sh: $*" >&2; exit 1; }

if [ $# -gt 1 ]; then
	die "usage: untar-restore.sh [DIR]"
elif [ $# -eq 1 ]; then
	dest=$1
else
	where=${MONGO_BACKUP_WHERE:-}
	case $where in
	"" | /) die "restore with where=/some/directory (or give DIR): this script never unpacks into /" ;;
	esac
	dest=$where/${MONGO_BACKUP_SET:-set}-${MONGO_BACKUP_HOST:-host}-${MONGO_BACKUP_PORT:-port}
fi
if [ -e "$dest" ] && [ -n "$(ls -A "$dest")" ]; then
	die "$dest is not empty: restore somewhere else"
fi
mkdir -p "$dest" || die "cannot create $dest"
chmod 0700 "$dest"
tar -C "$dest" -xf - || die "tar could not unpack the stream into $dest"
echo "untar-restore.sh: unpacked into $dest" >&2
