#!/bin/bash
# hooks-cluster.sh: a sharded cluster in online mode (simulated: a CSRS, three shards, two mongos):
# --dry-run, --exec, pre then post with --status, the balancer restored only if it ran, a shard without an
# eligible member refused before anything is locked, a lock refused on one shard after others were locked,
# and the watchdogs releasing every lock at the deadline.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
# shellcheck source=sim-cluster.sh
. "$top_srcdir/tests/integration/sim-cluster.sh"
t_init

PY=/usr/bin/python3
T_PASS=backup-pw # the cluster topologies' user
UNLOCKED="csrs:0:0,1:0,2:0 sh0:0:0,1:0,2:0 sh1:0:0,1:0,2:0 sh2:0:0,1:0,2:0"

simc_start 3 || { tap_fail "a CSRS, three shards and the routers start"; tap_done; exit 1; }
ROUTER_PID=$SIM_PID
CONF=$T_DIR/cluster.conf
CFG_URI=$SIMC_URI t_config "$CONF"
read -r -a SHARD_CTLS <<<"$SIMC_SHARD_CTLS"
SH1_CTL=${SHARD_CTLS[1]}
CREC=$T_STATE/csrs.cluster.state

pre() { local n=$1; shift; t_run "$n" "$MBH_PRE" -c "$CONF" "$@"; }
post() { local n=$1; shift; t_run "$n" "$MBH_POST" -c "$CONF" "$@"; }
balancer_mode() { simc_ctl "$SIMC_CTL" balancer | sed -n 's/^mode=\([^ ]*\).*/\1/p'; }

# one_secondary_each: every set has exactly one lock, on a member other than its primary (id 0).
one_secondary_each() {
	local l
	l=$(simc_locks)
	[[ $l =~ ^csrs:0:0,[12]:1,[12]:[01]\ sh0:0:0,[12]:1,[12]:[01]\ sh1:0:0,[12]:1,[12]:[01]\ sh2:0:0,[12]:1,[12]:[01]$ ]] &&
		[ "$(grep -o ':1' <<<"$l" | wc -l)" = 4 ]
}

# clean NAME: the aftermath of a finished backup: nothing locked, balancer running, no records left.
clean() {
	tap_is "$(simc_locks)" "$UNLOCKED" "$1: nothing is locked"
	tap_is "$(balancer_mode)" full "$1: the balancer runs again"
	tap_ok "$([ ! -e "$CREC" ] && [ -z "$(ls "$T_STATE/csrs.cluster.d/"*/*.state 2>/dev/null)" ] && echo 0 || echo 1)" \
		"$1: no cluster record and no component record left"
}

# --dry-run: every component, every member's verdict, the choice per component; nothing locked.
pre dry --dry-run
t_rc_is 0 "--dry-run on a mongos URI: exits 0" dry
tap_like "$T_OUT/dry.out" '^cluster csrs \(online mode\): the config servers and 3 shards, mongos 7\.0\.' \
	"--dry-run: names the cluster (the CSRS's set), the mode, the shards and the mongos's version"
tap_like "$T_OUT/dry.out" '^balancer: full \(would be stopped for the backup and started again after\)' \
	"--dry-run: the balancer's state and what would be done with it"
for c in config:csrs sh0:sh0 sh1:sh1 sh2:sh2; do
	tap_like "$T_OUT/dry.out" "^component ${c%%:*} \\(set ${c#*:}\\), hosts 127\\.0\\.0\\.1:[0-9]+,127\\.0\\.0\\.1:[0-9]+,127\\.0\\.0\\.1:[0-9]+:$" \
		"--dry-run: component ${c%%:*} (set ${c#*:}) with its hosts"
done
tap_is "$(grep -c '^127\.0\.0\.1:[0-9]* *PRIMARY .* no  *primary$' "$T_OUT/dry.out")" 4 \
	"--dry-run: each component's primary has the verdict 'no: primary'"
tap_is "$(grep -c ' CHOSEN ' "$T_OUT/dry.out")" 4 "--dry-run: one member CHOSEN per component"
tap_like "$T_OUT/dry.out" '^would lock: config=127\.0\.0\.1:[0-9]+ sh0=127\.0\.0\.1:[0-9]+ sh1=127\.0\.0\.1:[0-9]+ sh2=127\.0\.0\.1:[0-9]+$' \
	"--dry-run: the last line names the member per component"
tap_is "$(simc_locks)" "$UNLOCKED" "--dry-run: nothing locked"
tap_is "$(balancer_mode)" full "--dry-run: the balancer untouched"
tap_ok "$([ ! -e "$CREC" ] && echo 0 || echo 1)" "--dry-run: no record"

# --exec: the command runs while one secondary per component is locked and the balancer is off.
SEEN=$T_OUT/seen
cat >"$T_DIR/probe.sh" <<EOF
#!/bin/bash
env | grep '^MONGO_BACKUP_' | sort >"$SEEN.env"
{ echo "csrs:\$("$MBH_SIM" ctl "$SIMC_CONFIG_CTL" status | grep -c 'lockCount=1')"
  for c in $SIMC_SHARD_CTLS; do echo "shard:\$("$MBH_SIM" ctl "\$c" status | grep -c 'lockCount=1')"; done
  "$MBH_SIM" ctl "$SIMC_CTL" balancer; } >"$SEEN.state"
exit "\${1:-0}"
EOF
chmod +x "$T_DIR/probe.sh"
pre exec --job cluster-job --exec -- "$T_DIR/probe.sh" 0
t_rc_is 0 "--exec: exits 0" exec
tap_is "$(grep -c ':1$' "$SEEN.state")" 4 "--exec: while the command runs, each of the four sets has one lock"
tap_like "$SEEN.state" '^mode=off inBalancerRound=0' "--exec: ... and the balancer is off"
tap_like "$SEEN.env" '^MONGO_BACKUP_CLUSTER=csrs$' "--exec: MONGO_BACKUP_CLUSTER names the cluster"
tap_like "$SEEN.env" '^MONGO_BACKUP_MEMBERS=config=127\.0\.0\.1:[0-9]+ sh0=127\.0\.0\.1:[0-9]+ sh1=127\.0\.0\.1:[0-9]+ sh2=127\.0\.0\.1:[0-9]+$' \
	"--exec: MONGO_BACKUP_MEMBERS lists component=host:port for all four"
tap_like "$SEEN.env" '^MONGO_BACKUP_SKEW_MS=[0-9]+$' "--exec: MONGO_BACKUP_SKEW_MS"
tap_like "$SEEN.env" '^MONGO_BACKUP_JOB=cluster-job$' "--exec: MONGO_BACKUP_JOB"
tap_unlike "$SEEN.env" '^MONGO_BACKUP_URI=' "--exec: no URI (nor password) in the command's environment"
tap_like "$T_OUT/exec.err" 'cluster csrs locked \(skew [0-9]+ ms\): config=.* \(\+[0-9]+ ms\) sh0=' \
	"--exec: the log line gives the skew and each member's lock time"
SKEW=$(sed -n 's/.*cluster csrs locked (skew \([0-9]*\) ms).*/\1/p' "$T_OUT/exec.err")
tap_diag "measured skew between the first and the last of 4 locks: $SKEW ms"
clean "--exec"
pre exec3 --exec -- "$T_DIR/probe.sh" 3
t_rc_is 3 "--exec: exits with the command's status (3)" exec3
clean "--exec, command failed"

# pre, --status, post: one record for the cluster, every lock released exactly once.
pre lock --job cj1
t_rc_is 0 "pre: exits 0" lock
one_secondary_each
tap_ok $? "pre: one secondary per component locked ($(simc_locks))"
tap_is "$(balancer_mode)" off "pre: the balancer is stopped"
tap_like "$CREC" '^phase=LOCKED$' "the cluster record says LOCKED"
tap_like "$CREC" '^balancer=full$' "... the balancer's prior mode"
tap_like "$CREC" '^balancer_stopped=1$' "... that this backup stopped it"
tap_is "$(grep -c '^component=.* 127\.0\.0\.1:[0-9]* 1 [0-9]* locked$' "$CREC")" 4 "... and the four components, locked"
tap_is "$(find "$T_STATE/csrs.cluster.d" -name '*.state' | wc -l)" 4 "each component has its own record (token, watchdog) under csrs.cluster.d"
post status --status
t_rc_is 0 "--status: exits 0" status
tap_like "$T_OUT/status.out" '^cluster csrs \(online mode\): LOCKED since .* by job cj1' "--status: the cluster, LOCKED, its job"
tap_like "$T_OUT/status.out" '^skew: *[0-9]+ ms between the first and the last lock' "--status: the skew"
tap_is "$(grep -c '^component .*: locked 127\.0\.0\.1:[0-9]*, lock time +[0-9]* ms, lockCount 1$' "$T_OUT/status.out")" 4 \
	"--status: every component's member, lock time and lockCount"
tap_is "$(grep -c '^watchdog: *pid [0-9]* (running)' "$T_OUT/status.out")" 4 "--status: a running watchdog per lock"
post json --status --json
t_rc_is 0 "--status --json: exits 0" json
tap_is "$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["cluster"], d["locked"], d["balancer_stopped"], len(d["components"]), sorted(c["name"] for c in d["components"]), all(c["status"]["locked"] and c["status"]["watchdog_running"] for c in d["components"]))' "$T_OUT/json.out" 2>&1)" \
	"csrs True True 4 ['config', 'sh0', 'sh1', 'sh2'] True" "--status --json: one object, four locked components with their watchdogs"
# --check-held, through conf/scripts/cluster-lock-held.sh (each component's Bacula job asks it first):
# read-only, one line saying what differs.
HELD=$top_srcdir/conf/scripts/cluster-lock-held.sh
held() { local n=$1; shift; t_run "$n" env MONGO_POSTBACKUP="$MBH_POST" sh "$HELD" "$CONF" "$@"; }
SH0_MEMBER=$(sed -n 's/^component=sh0 [^ ]* [^ ]* \([^ ]*\) .*/\1/p' "$CREC")
SH0_OTHER=$(sed -n 's/^component=sh0 [^ ]* \([^ ]*\) .*/\1/p' "$CREC" | tr , '\n' | grep -vxF "$SH0_MEMBER" | head -n 1)
held held cj1 sh0 "$SH0_MEMBER"
t_rc_is 0 "--check-held sh0=its locked member, job cj1: 0" held
tap_is "$(cat "$T_OUT/held.out")" "sh0 $SH0_MEMBER is locked for job cj1 (lockCount 1)" "--check-held: says it is locked, with the lockCount"
held held_member cj1 sh0 "$SH0_OTHER"
t_rc_is 69 "--check-held sh0=another of its members: 69" held_member
tap_is "$(cat "$T_OUT/held_member.err")" \
	"mongo-postbackup: error: sh0 $SH0_OTHER is not locked for job cj1: the member of sh0 locked is $SH0_MEMBER" \
	"--check-held: one line naming the member that is locked"
held held_job other-job sh0 "$SH0_MEMBER"
t_rc_is 69 "--check-held for another job: 69" held_job
tap_like "$T_OUT/held_job.err" "^mongo-postbackup: error: sh0 .* is not locked for job other-job: the locks of cluster csrs are job cj1's$" \
	"--check-held: one line naming the job whose lock it is"
held held_bad cj1 sh0 "${SH0_MEMBER%:*}"
t_rc_is 64 "--check-held with a malformed HOST:PORT: 64" held_bad
tap_like "$T_OUT/held_bad.err" "^mongo-postbackup: error: --check-held wants COMPONENT=HOST:PORT" "--check-held: says what it wants"
t_run held_usage sh "$HELD" "$CONF" cj1 sh0
t_rc_is 64 "cluster-lock-held.sh with three arguments: 64" held_usage
t_run held_status "$MBH_POST" -c "$CONF" --status --check-held "sh0=$SH0_MEMBER"
t_rc_is 64 "--check-held with --status: 64" held_status
tap_is "$(simc_locks | grep -o ':1' | wc -l)" 4 "--check-held changed nothing: the four locks are held"
SH2_REC=$(ls "$T_STATE"/csrs.cluster.d/sh2/*.state)
SH2_WD=$(state_get "$SH2_REC" watchdog_pid)
SH2_MEMBER=$(state_get "$SH2_REC" member)
kill -KILL "$SH2_WD" 2>/dev/null
for _ in $(seq 50); do [ -z "$(t_starttime "$SH2_WD")" ] || grep -q '^State:.*Z' "/proc/$SH2_WD/status" 2>/dev/null && break; sleep 0.1; done
held held_wd cj1 sh2 "$SH2_MEMBER"
t_rc_is 69 "--check-held once sh2's watchdog is killed: 69" held_wd
tap_like "$T_OUT/held_wd.err" "^mongo-postbackup: error: sh2 .* is not locked for job cj1: no watchdog guards its lock \\(pid $SH2_WD is not running\\)" \
	"--check-held: says no watchdog guards the lock"
pre again
t_rc_is 75 "pre while the cluster is locked: refused, 75" again
tap_like "$T_OUT/again.err" 'cluster csrs is already locked by job cj1 .*run mongo-postbackup first' "... saying by whom and what to do"
post other --job other-job
t_rc_is 75 "post --job of another job: left alone, 75" other
post unlock --job cj1
t_rc_is 0 "post: exits 0" unlock
tap_is "$(grep -c 'unlocked 127\.0\.0\.1:[0-9]* (lockCount now 0)' "$T_OUT/unlock.err")" 4 "post: one unlock per component"
clean "post"
post unlock2
t_rc_is 0 "post again: nothing to do, exits 0" unlock2
tap_unlike "$T_OUT/unlock2.err" 'unlocked 127' "post again: unlocks nothing (exactly once)"
post status2 --status
tap_like "$T_OUT/status2.out" '^nothing is locked' "--status after post: nothing is locked"
held held_none cj1 sh0 "$SH0_MEMBER"
t_rc_is 69 "--check-held after post: 69" held_none
tap_like "$T_OUT/held_none.err" "^mongo-postbackup: error: sh0 .* is not locked for job cj1: no cluster's backup is recorded in " \
	"--check-held after post: says no cluster's backup is recorded"
CFG_URI=$SIMC_URI t_config "$T_DIR/named.conf" 'cluster = { name = "csrs"; };'
t_run status3 "$MBH_POST" -c "$T_DIR/named.conf" --status --json
tap_like "$T_OUT/status3.out" '^\{ "cluster" : "csrs", "locked" : false, "components" : \[ *\] \}$' \
	"--status --json with cluster.name set and no record: locked false, no components"
rm -f "$CREC"

# A balancer that was off before stays off.
"$PY" -c 'import pymongo,sys; pymongo.MongoClient(sys.argv[1], username="backup", password="backup-pw").admin.command("balancerStop")' "$SIMC_URI"
tap_is "$(balancer_mode)" off "the balancer is stopped by hand"
pre offlock
t_rc_is 0 "pre with the balancer off: exits 0" offlock
tap_like "$CREC" '^balancer=off$' "the record: the balancer was off"
tap_like "$CREC" '^balancer_stopped=0$' "... and this backup did not stop it"
post offunlock
t_rc_is 0 "post: exits 0" offunlock
tap_is "$(balancer_mode)" off "post leaves a balancer that was off, off"
tap_unlike "$T_OUT/offunlock.err" 'started the balancer' "... and says nothing about starting it"
"$PY" -c 'import pymongo,sys; pymongo.MongoClient(sys.argv[1], username="backup", password="backup-pw").admin.command("balancerStart")' "$SIMC_URI"

# A shard without an eligible member: the run is refused before anything is locked or stopped.
simc_ctl "$SH1_CTL" kill 1 >/dev/null
simc_ctl "$SH1_CTL" kill 2 >/dev/null
pre noel-dry --dry-run
t_rc_is 69 "--dry-run, sh1 without a secondary: 69" noel-dry
tap_like "$T_OUT/noel-dry.out" '^refused: component sh1 \(set sh1\) has no member to lock; nothing would be locked$' \
	"--dry-run: the last line says which component refuses the run"
pre noel
t_rc_is 69 "pre, sh1 without a secondary: refused, 69" noel
tap_is "$(grep -c 'error:' "$T_OUT/noel.err")" 1 "... with one error line"
tap_like "$(tail -n 1 "$T_OUT/noel.err" >"$T_OUT/noel.last"; echo "$T_OUT/noel.last")" \
	'^mongo-prebackup: error: component sh1 \(set sh1\): ' "... the last, naming the component"
tap_is "$(simc_locks | sed 's/sh1:[^ ]*/sh1:-/')" "csrs:0:0,1:0,2:0 sh0:0:0,1:0,2:0 sh1:- sh2:0:0,1:0,2:0" "... nothing was locked"
tap_is "$(balancer_mode)" full "... the balancer was not touched"
tap_ok "$([ ! -e "$CREC" ] && echo 0 || echo 1)" "... and no record was written"
simc_ctl "$SH1_CTL" revive 1 >/dev/null
simc_ctl "$SH1_CTL" revive 2 >/dev/null
sleep 1

# A lock refused on sh1 after the others were locked: its member is elected primary at its fsync (the
# re-check finds a primary and unlocks it); the three locked are unlocked at once, the balancer restarted.
pre pick --dry-run
SH1_PICK=$(sed -n 's/^would lock: .* sh1=\(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$T_OUT/pick.out")
SH1_ID=$(simc_ctl "$SH1_CTL" status | sed -n "s/^id=\\([0-9]*\\) host=$SH1_PICK .*/\\1/p")
simc_ctl "$SH1_CTL" arm "$SH1_ID" fsync elect >/dev/null
pre midway
t_rc_is 75 "pre, sh1's member elected at its lock: fails, 75" midway
tap_like "$T_OUT/midway.err" 'component sh1 \(set sh1\): .*became primary right after the lock.*what was locked is unlocked again, the balancer is running again' \
	"... naming the component, the reason, and what was undone"
tap_is "$(grep -c 'unlocked 127\.0\.0\.1:[0-9]* (lockCount now 0)' "$T_OUT/midway.err")" 3 "... the three others were unlocked"
clean "lock refused midway"
simc_ctl "$SH1_CTL" elect 0 >/dev/null
sleep 1

# Exact mode: refused before anything is locked, naming the alternative.
CFG_URI=$SIMC_URI t_config "$T_DIR/exact.conf" 'cluster = { mode = "exact"; };'
t_run exact "$MBH_PRE" -c "$T_DIR/exact.conf"
t_rc_is 78 "cluster.mode exact without snapshot mode: refused, 78" exact
tap_like "$T_OUT/exact.err" 'needs snapshot mode .*use cluster.mode = "online"' "... naming snapshot mode and the alternative"
tap_is "$(simc_locks)" "$UNLOCKED" "... nothing locked"
CFG_URI=$SIMC_URI t_config "$T_DIR/exact2.conf" 'cluster = { mode = "exact"; };' \
	'snapshot = { create = [ "/bin/echo", "/tmp/none" ]; remove = [ "/bin/true", "%S" ]; };'
t_run exact2 "$MBH_PRE" -c "$T_DIR/exact2.conf"
t_rc_is 78 "cluster.mode exact with snapshot mode on a 7.0.16 mongos: refused, 78" exact2
tap_like "$T_OUT/exact2.err" 'cluster.mode "exact" is not implemented yet: nothing was locked; use cluster.mode = "online"' \
	"... not implemented yet, saying so and naming online"
sed 's/^max_wire_version = 21;/max_wire_version = 21;\nversion = "7.0.1";/' "$SIMC_TOPOS/cluster-mongos.conf" >"$T_DIR/mongos-701.conf"
OLD_URI=$SIMC_URI
OLD_CTL=$SIMC_CTL
simc_router "$T_DIR/mongos-701.conf"
CFG_URI=$SIMC_URI t_config "$T_DIR/exact3.conf" 'cluster = { mode = "exact"; };' \
	'snapshot = { create = [ "/bin/echo", "/tmp/none" ]; remove = [ "/bin/true", "%S" ]; };'
t_run exact3 "$MBH_PRE" -c "$T_DIR/exact3.conf" --dry-run
t_rc_is 69 "cluster.mode exact on a 7.0.1 mongos (no fsync lock through mongos): --dry-run refuses, 69" exact3
tap_like "$T_OUT/exact3.out" '^refused: cluster.mode "exact" needs fsync lock through mongos .* this cluster runs 7\.0\.1: use cluster.mode = "online"$' \
	"... its last line names the version and the alternative"
simc_ctl "$SIMC_CTL" shutdown >/dev/null 2>&1
SIMC_URI=$OLD_URI
SIMC_CTL=$OLD_CTL
CFG_URI=$SIMC_URI t_config "$T_DIR/member.conf" 'selection = { policy = "member"; member = "127.0.0.1:1"; };'
t_run member "$MBH_PRE" -c "$T_DIR/member.conf"
t_rc_is 78 "selection.policy member with a cluster: refused, 78" member
tap_like "$T_OUT/member.err" 'use selection.tags' "... naming selection.tags"
tap_is "$(simc_locks)" "$UNLOCKED" "... nothing locked"

# The watchdogs: at the deadline every member is unlocked though no post ran.
pre wd --max-lock-seconds 3
t_rc_is 0 "pre --max-lock-seconds 3: exits 0" wd
one_secondary_each
tap_ok $? "pre: locked"
n=0
while [ "$(simc_locks)" != "$UNLOCKED" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
tap_is "$(simc_locks)" "$UNLOCKED" "the watchdogs unlocked all four members at the deadline"
tap_is "$(find "$T_STATE/csrs.cluster.d" -name '*.state' 2>/dev/null | wc -l)" 0 "... and removed the components' records"
n=0
while [ "$(balancer_mode)" != full ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
tap_is "$(balancer_mode)" full "... and started the balancer this backup had stopped"
# (each watchdog acts at its own component's deadline, to the ms: sh1's may write its line after another
# watchdog started the balancer)
n=0
while ! grep -qs 'watchdog: started the balancer' "$T_STATE/csrs.cluster.d/sh1/sh1.events" && [ $n -lt 50 ]; do
	sleep 0.1
	n=$((n + 1))
done
tap_like "$T_STATE/csrs.cluster.d/sh1/sh1.events" 'watchdog: started the balancer' "... saying so in the component's events"
post wdpost
t_rc_is 0 "post after the watchdogs: exits 0" wdpost
tap_unlike "$T_OUT/wdpost.err" 'unlocked 127' "post: nothing left to unlock"
clean "watchdog, then post"

# SIGTERM while the command runs (a Bacula cancel): the command is stopped, every lock released, the
# balancer started again.
env -C "$T_DIR" "$MBH_PRE" -c "$CONF" --exec -- sleep 60 >"$T_OUT/term.out" 2>"$T_OUT/term.err" &
TERM_PID=$!
n=0
until one_secondary_each || [ $n -ge 200 ]; do sleep 0.05; n=$((n + 1)); done
one_secondary_each
tap_ok $? "--exec -- sleep 60: every component locked"
kill -TERM "$TERM_PID"
wait "$TERM_PID"
T_RC=$?
tap_ok "$([ "$T_RC" != 0 ] && echo 0 || echo 1)" "SIGTERM during the command: a failure ($T_RC)"
clean "SIGTERM during --exec"

# The mongos goes away while the cluster is locked: post releases every member (it needs only the
# shards), keeps the record for the balancer (75); with a mongos back, post finishes.
pre gone
t_rc_is 0 "pre: exits 0" gone
kill "$ROUTER_PID"
wait "$ROUTER_PID" 2>/dev/null
post gone-post
t_rc_is 75 "post with the mongos gone: 75" gone-post
tap_like "$T_OUT/gone-post.err" 'every lock of cluster csrs is released but the balancer cannot be started again' \
	"... saying the locks are released and the balancer is not"
tap_is "$(simc_locks)" "$UNLOCKED" "... every member is unlocked"
tap_is "$(grep -c '^component=.* released$' "$CREC")" 4 "... the record marks the four released"
tap_like "$CREC" '^balancer_stopped=1$' "... and keeps the balancer to start"
simc_router "$SIMC_TOPOS/cluster-mongos.conf"
CFG_URI=$SIMC_URI t_config "$CONF"
post gone-post2
t_rc_is 0 "post with a mongos back: exits 0" gone-post2
tap_like "$T_OUT/gone-post2.err" 'started the balancer' "... starts the balancer"
tap_unlike "$T_OUT/gone-post2.err" 'unlocked 127' "... and unlocks nothing twice"
clean "mongos gone, then back"

tap_done
