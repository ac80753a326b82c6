#!/bin/sh
# SPDX-License-Identifier: AGPL-3.0-or-later
# dump-copy.sh: copy the locked member's dbPath into a directory, or as a tar stream to stdout.
#
# Usage: dump-copy.sh TARGET [DBPATH]
#   TARGET  a directory: the files go to TARGET/SET-HOST-PORT-YYYYmmddTHHMMSS/
#           "-": a tar stream on stdout (for the Bacula plugin, which stores stdout)
#   DBPATH  the member's storage.dbPath.  Without it the script reads
#           storage.dbPath from $MONGOD_CONF (default /etc/mongod.conf), which
#           only makes sense when the member runs on this host.
# mongo-prebackup --exec (and the plugin) run it with MONGO_BACKUP_HOST,
# MONGO_BACKUP_PORT and MONGO_BACKUP_SET set to the locked member.  The member
# is fsync-locked: its files do not change while they are copied.  A member on
# another host is copied over ssh (rsync) when DBPATH is given.
set -eu

die() { echo "dump-copy.sh: $*" >&2; exit 1; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	die "usage: dump-copy.sh TARGET [DBPATH]"
fi
target=$1
dbpath=${2:-}
host=${MONGO_BACKUP_HOST:-localhost}
port=${MONGO_BACKUP_PORT:-27017}
set_name=${MONGO_BACKUP_SET:-rs}

is_local() {
	case "$1" in
	localhost|127.*|::1|"$(hostname)"|"$(hostname -f 2>/dev/null || hostname)") return 0 ;;
	esac
	return 1
}

if [ -z "$dbpath" ]; then
	is_local "$host" || die "member $host:$port is not on this host: give its dbPath as the second argument"
	conf=${MONGOD_CONF:-/etc/mongod.conf}
	[ -r "$conf" ] || die "cannot read $conf: give the dbPath as the second argument"
	# storage:\n  dbPath: /path  (YAML; the first dbPath line wins)
	dbpath=$(sed -n 's/^[[:space:]]*dbPath:[[:space:]]*["'\'']\{0,1\}\([^"'\''#]*\).*/\1/p' "$conf" | head -n 1 |
		sed 's/[[:space:]]*$//')
	[ -n "$dbpath" ] || die "no storage.dbPath in $conf: give the dbPath as the second argument"
fi

if [ "$target" = "-" ]; then
	if is_local "$host"; then
		exec tar -C "$dbpath" -cf - --exclude=./mongod.lock --exclude=./diagnostic.data .
	fi
	exec ssh -o BatchMode=yes "$host" tar -C "$dbpath" -cf - --exclude=./mongod.lock --exclude=./diagnostic.data .
fi

[ -d "$target" ] || die "target directory $target does not exist"
dest="$target/$set_name-$host-$port-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -m 0700 "$dest" || die "cannot create $dest"
if is_local "$host"; then
	cp -a "$dbpath/." "$dest/"
	rm -rf "$dest/mongod.lock" "$dest/diagnostic.data"
else
	rsync -a --exclude=/mongod.lock --exclude=/diagnostic.data "$host:$dbpath/" "$dest/"
fi
echo "dump-copy.sh: copied $host:$port:$dbpath to $dest" >&2
