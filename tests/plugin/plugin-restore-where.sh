#!/bin/bash
# plugin-restore-where.sh: without script.restore the stream becomes a file under `where`, which may be
# writable by others (Bacula's default is /tmp/bacula-restores): the file is created anew (never
# written through someone else's file, FIFO or link), mode 0600, no symbolic link below where is
# followed and no directory someone else owns is used; and a where that itself holds "/@mongo/"
# still gives the restore command the backup's set, host and port.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
p_init
[ "$(id -u)" = 0 ] || tap_skip_all "needs root (files owned by another user)"
OTHER=nobody
OTHER_UID=$(id -u "$OTHER" 2>/dev/null) || tap_skip_all "no user $OTHER"

sim_start_pss
H2=$(sim_member_host 2)
P2=$(sim_member_port 2)
chmod 0755 "$T_DIR"

head -c 300007 /dev/urandom >"$T_DIR/payload"
printf '#!/bin/sh\nexec cat "%s"\n' "$T_DIR/payload" >"$T_DIR/dump.sh"
chmod +x "$T_DIR/dump.sh"
t_config "$T_DIR/plain.conf" "script = { backup = [ \"$T_DIR/dump.sh\" ]; };"
fd_run backup backup --cmd "mongo: config=$T_DIR/plain.conf" --out "$T_OUT/saved"
fd_status_is backup 1 T "the backup to restore from: T"
FNAME=$(fd_field backup 1 fname)
REL=${FNAME#/}
DIR=$(dirname "$REL")
PLAIN="mongo: config=$T_DIR/plain.conf"

# restore NAME WHERE: a restore without script.restore into WHERE, bounded (a FIFO would block it).
restore() {
	T_TIMEOUT=20 fd_run "$1" restore --cmd "$PLAIN" --in "$T_OUT/saved" --fname "$FNAME" --where "$2"
}

# ---------------------------------------------------------------- a file someone else made, mode 0666
# ... and keeps a hard link to, to read what root writes into it.
W=$T_DIR/w1
mkdir -p "$W/$DIR" "$T_DIR/theirs"
chmod 1777 "$W/$DIR"
chown "$OTHER_UID" "$T_DIR/theirs"
setpriv --reuid="$OTHER_UID" --regid="$OTHER_UID" --clear-groups sh -c \
	"umask 0; echo planted >'$W/$REL' && ln '$W/$REL' '$T_DIR/theirs/keep'"
before=$(stat -c '%U %a' "$W/$REL")
restore precreated "$W"
fd_status_is precreated 1 T "a file another user made: the restore still works (T)"
tap_is "$(stat -c '%U %a' "$W/$REL")" "root 600" "a file another user made: replaced by one of root's, mode 0600 (was: $before)"
tap_is "$(cat "$T_DIR/theirs/keep" 2>/dev/null)" planted "a file another user made: nothing written through it (their link still reads 'planted')"
tap_ok "$(cmp -s "$T_DIR/payload" "$W/$REL" && echo 0 || echo 1)" "a file another user made: the stream, byte for byte"

# ---------------------------------------------------------------- a link planted for a directory below where
W=$T_DIR/w2
mkdir -p "$W/@mongo" "$T_DIR/elsewhere/$(basename "$DIR")"
echo keep >"$T_DIR/elsewhere/$(basename "$DIR")/dump.sh"
ln -s "$T_DIR/elsewhere" "$W/@mongo/rs0"
restore link "$W"
fd_status_is link 1 f "a symbolic link below where: the restore fails (f)"
tap_like "$T_OUT/link.out" "^job 1: M_FATAL: mongo-fd: .*@mongo/rs0.* symbolic link" "a symbolic link below where: says so"
tap_is "$(cat "$T_DIR/elsewhere/$(basename "$DIR")/dump.sh")" keep "a symbolic link below where: nothing written where it points"

# ---------------------------------------------------------------- a FIFO at the path
W=$T_DIR/w3
mkdir -p "$W/$DIR"
mkfifo "$W/$REL"
start=$(date +%s)
restore fifo "$W"
fd_status_is fifo 1 f "a FIFO at the path: the restore fails (f)"
tap_ok "$([ $(($(date +%s) - start)) -lt 10 ] && echo 0 || echo 1)" "a FIFO at the path: at once, never blocked on it"
tap_like "$T_OUT/fifo.out" "^job 1: M_FATAL: mongo-fd: .*dump.sh is not a regular file" "a FIFO at the path: says so"

# ---------------------------------------------------------------- a directory below where owned by someone else
W=$T_DIR/w4
mkdir -p "$W/@mongo/rs0"
chown "$OTHER_UID" "$W/@mongo/rs0"
restore owner "$W"
fd_status_is owner 1 f "a directory below where owned by another user: the restore fails (f)"
tap_like "$T_OUT/owner.out" "^job 1: M_FATAL: mongo-fd: .*@mongo/rs0 is owned by uid $OTHER_UID" \
	"a directory below where owned by another user: says which and whose"
tap_ok "$([ ! -e "$W/$REL" ] && echo 0 || echo 1)" "a directory below where owned by another user: nothing written in it"

# ---------------------------------------------------------------- a where that holds /@mongo/ itself
cat >"$T_DIR/restore.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$T_OUT/restore.argv"
env >"$T_OUT/restore.env"
exec cat >"$T_OUT/restored"
EOF
chmod +x "$T_DIR/restore.sh"
t_config "$T_DIR/r.conf" "script = { restore = [ \"$T_DIR/restore.sh\", \"%s\", \"%h\", \"%p\" ]; };"
fd_run at restore --cmd "mongo: config=$T_DIR/r.conf" --in "$T_OUT/saved" --fname "$FNAME" --where "$T_DIR/@mongo/x/y"
fd_status_is at 1 T "where holding /@mongo/: T"
tap_is "$(tr '\n' ' ' <"$T_OUT/restore.argv")" "rs0 127.0.0.1 $P2 " "where holding /@mongo/: %s %h %p are the backup's"
tap_like "$T_OUT/restore.env" "^MONGO_BACKUP_HOST=127\\.0\\.0\\.1\$" "where holding /@mongo/: MONGO_BACKUP_HOST"
tap_like "$T_OUT/restore.env" "^MONGO_BACKUP_PORT=$P2\$" "where holding /@mongo/: MONGO_BACKUP_PORT"
tap_like "$T_OUT/restore.env" "^MONGO_BACKUP_SET=rs0\$" "where holding /@mongo/: MONGO_BACKUP_SET"

t_assert_unlocked "restores: nothing locked"
sim_stop
tap_done
