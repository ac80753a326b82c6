#!/bin/sh
# SPDX-License-Identifier: AGPL-3.0-or-later
# mongodump.sh: dump the locked member with mongodump, the password read from a 0600 file, never from argv.
#
# Usage: mongodump.sh USER PASSWORD_FILE [OUTDIR]
#   USER           the MongoDB user (with the "backup" role)
#   PASSWORD_FILE  its password on the first line; mode 0600 or 0400
#   OUTDIR         where the dump goes (TARGET/SET-HOST-PORT-TIMESTAMP);
#                  without it a gzip'd archive is written to stdout (for the
#                  Bacula plugin, which stores stdout)
# The member comes from MONGO_BACKUP_HOST / MONGO_BACKUP_PORT (set by
# mongo-prebackup --exec and by the plugin).  The password reaches mongodump
# through a temporary --config file (0600, removed on exit): a password on the
# command line would be visible in ps(1) and /proc to every user.
# Needs MongoDB Database Tools 100.3 or later (--config).  A locked member
# still serves reads, so the dump is consistent as of the lock.
set -eu

die() { echo "mongodump.sh: $*" >&2; exit 1; }

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	die "usage: mongodump.sh USER PASSWORD_FILE [OUTDIR]"
fi
user=$1
pwfile=$2
outdir=${3:-}
host=${MONGO_BACKUP_HOST:?MONGO_BACKUP_HOST is not set (run me from mongo-prebackup --exec)}
port=${MONGO_BACKUP_PORT:?MONGO_BACKUP_PORT is not set}
set_name=${MONGO_BACKUP_SET:-rs}

if [ ! -f "$pwfile" ] || [ -L "$pwfile" ]; then
	die "$pwfile: not a regular file"
fi
case "$(stat -c %a "$pwfile")" in
600|400) ;;
*) die "$pwfile: must not be readable by others (chmod 600 $pwfile)" ;;
esac

umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM HUP
# YAML single-quoted scalar: a quote is written twice.
password=$(head -n 1 "$pwfile")
[ -n "$password" ] || die "$pwfile: empty"
printf "password: '%s'\n" "$(printf '%s' "$password" | sed "s/'/''/g")" >"$tmp/mongodump.yaml"
unset password

set -- --config="$tmp/mongodump.yaml" --host="$host" --port="$port" --username="$user" \
	--authenticationDatabase=admin --readPreference=secondaryPreferred
if [ -z "$outdir" ]; then
	mongodump "$@" --archive --gzip
else
	[ -d "$outdir" ] || die "output directory $outdir does not exist"
	dest="$outdir/$set_name-$host-$port-$(date -u +%Y%m%dT%H%M%SZ)"
	mongodump "$@" --out="$dest"
	echo "mongodump.sh: dumped $host:$port to $dest" >&2
fi
