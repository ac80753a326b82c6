#!/bin/bash
# plugin-secrets.sh: the password never reaches the job log (messages and debug lines), the backup or
# restore command's argv or environment, or the state directory, whether it comes from the password
# file or the URI, on success and on failure.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
p_init

sim_start_pss
HOSTS=${SIM_URI#mongodb://}
HOSTS=${HOSTS%%/*}

# The commands write what they can see of themselves: argv, environment, and the parent's environment.
for c in dump restore; do
	cat >"$T_DIR/$c.sh" <<EOF
#!/bin/sh
tr '\0' '\n' </proc/\$\$/cmdline >"$T_OUT/$c.argv"
tr '\0' '\n' </proc/\$\$/environ >"$T_OUT/$c.env"
$( [ $c = dump ] && echo 'printf "backup bytes\n"' || echo 'cat >/dev/null' )
EOF
	chmod +x "$T_DIR/$c.sh"
done
SCRIPTS="script = { backup = [ \"$T_DIR/dump.sh\", \"%h\", \"%p\", \"%s\", \"%j\" ]; restore = [ \"$T_DIR/restore.sh\", \"%s\" ]; };"

# nowhere NAME WHAT: the password is in none of the run's outputs, the commands' views or the state dir.
nowhere() {
	local f found=""
	for f in "$T_OUT/$1.out" "$T_OUT/$1.err" "$T_OUT"/dump.* "$T_OUT"/restore.* "$T_STATE"/*; do
		[ -f "$f" ] && grep -Faq -- "$T_PASS" "$f" && found="$found $f"
	done
	tap_is "$found" "" "$2: the password appears nowhere (job log, debug lines, argv, environment, state)"
}

# From the password file, with every debug line on.
t_config "$T_DIR/file.conf" "$SCRIPTS"
FD_VERBOSE=1 fd_run file backup --cmd "mongo: config=$T_DIR/file.conf" --out "$T_OUT/file.data"
fd_status_is file 1 T "password file: the backup ends T"
tap_like "$T_OUT/dump.env" '^MONGO_BACKUP_SET=rs0$' "password file: the command's environment was captured"
nowhere file "password file, backup"
FD_VERBOSE=1 fd_run file-r restore --cmd "mongo: config=$T_DIR/file.conf" --in "$T_OUT/file.data" \
	--fname "$(fd_field file 1 fname)"
fd_status_is file-r 1 T "password file: the restore ends T"
nowhere file-r "password file, restore"

# In the URI (and in the environment of the file daemon, as MONGO_BACKUP_URI: never passed on).
rm -f "$T_OUT"/dump.* "$T_OUT"/restore.*
CFG_USER=none CFG_PWFILE=none CFG_URI="mongodb://backup:$T_PASS@$HOSTS/admin?replicaSet=rs0" \
	t_config "$T_DIR/uri.conf" "$SCRIPTS"
MONGO_BACKUP_URI="mongodb://backup:$T_PASS@$HOSTS/admin?replicaSet=rs0" FD_VERBOSE=1 \
	fd_run uri backup --cmd "mongo: config=$T_DIR/uri.conf" --out "$T_OUT/uri.data"
fd_status_is uri 1 T "password in the URI: the backup ends T"
nowhere uri "password in the URI"
tap_is "$(grep -c '^MONGO_BACKUP_URI=' "$T_OUT/dump.env")" 0 "password in the URI: no MONGO_BACKUP_URI in the command's environment"

# Failures that quote the connection: an unreachable set, and a refused password.
CFG_USER=none CFG_PWFILE=none CFG_URI="mongodb://backup:$T_PASS@127.0.0.1:1/admin?replicaSet=rs0&connectTimeoutMS=300&serverSelectionTimeoutMS=500" \
	t_config "$T_DIR/down.conf" "$SCRIPTS"
FD_VERBOSE=1 fd_run down backup --cmd "mongo: config=$T_DIR/down.conf"
fd_status_is down 1 f "unreachable set: the job fails"
nowhere down "unreachable set"
CFG_PASS="wrong-$T_PASS" t_config "$T_DIR/wrong.conf" "$SCRIPTS"
FD_VERBOSE=1 fd_run wrong backup --cmd "mongo: config=$T_DIR/wrong.conf"
fd_status_is wrong 1 f "wrong password: the job fails"
tap_like "$T_OUT/wrong.out" "^job 1: M_FATAL: mongo-fd: nothing was locked: .*uthenticat" "wrong password: the reason is authentication"
nowhere wrong "wrong password"
tap_is "$(grep -Fc -- "wrong-$T_PASS" "$T_OUT/wrong.out" "$T_OUT/wrong.err" | awk -F: '{ s += $2 } END { print s }')" 0 \
	"wrong password: the wrong password appears nowhere either"
t_assert_unlocked "nothing stays locked"
sim_stop
tap_done
