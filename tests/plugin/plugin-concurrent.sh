#!/bin/bash
# plugin-concurrent.sh: several jobs in one file daemon at once: two sets in two threads share nothing
# (each stream whole, each job log about its own set only, both unlocked); two jobs for one set: the
# second fails at once naming the first, which goes on undisturbed.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/plugin/pluginlib.sh"
p_init

# Two simulated sets, rs0 and rs1 (sim_start overwrites SIM_*: keep each one's).
TOPO_SET=rs0 t_topology "$T_DIR/rs0.topo" '{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
TOPO_SET=rs1 t_topology "$T_DIR/rs1.topo" '{ port = 0; state = "PRIMARY"; }, { port = 0; priority = 0.0; }, { port = 0; }'
sim_start "$T_DIR/rs1.topo" || { tap_fail "simulator rs1 starts"; tap_done; exit 1; }
CTL1=$SIM_CTL
URI1=$SIM_URI
H1_1=$(sim_member_host 1)
sim_start "$T_DIR/rs0.topo" || { tap_fail "simulator rs0 starts"; tap_done; exit 1; }
CTL0=$SIM_CTL
H0_2=$(sim_member_host 2)

# unlocked_all NAME: no member of either set locked, no record.
unlocked_all() {
	tap_is "$(SIM_CTL=$CTL0 sim_lock_total)+$(SIM_CTL=$CTL1 sim_lock_total)" "0+0" "$1: both sets unlocked"
	tap_is "$(ls "$T_STATE"/*.state 2>/dev/null | tr '\n' ' ')" "" "$1: no state record left"
}

# One script per set: 3 MiB of its own bytes, slowly enough that the two streams overlap.
for s in rs0 rs1; do
	head -c 3145728 /dev/urandom >"$T_DIR/$s.payload"
	cat >"$T_DIR/$s.sh" <<EOF
#!/bin/sh
touch "$T_OUT/$s.started"
n=0
while [ ! -e "$T_OUT/rs0.started" ] || [ ! -e "$T_OUT/rs1.started" ]; do
	sleep 0.02; n=\$((n + 1)); [ \$n -lt 1000 ] || break
done
exec cat "$T_DIR/$s.payload"
EOF
	chmod +x "$T_DIR/$s.sh"
done
t_config "$T_DIR/rs0.conf" "script = { backup = [ \"$T_DIR/rs0.sh\" ]; };"
CFG_URI=$URI1 t_config "$T_DIR/rs1.conf" "script = { backup = [ \"$T_DIR/rs1.sh\" ]; };"

fd_run two backup --name job-a --cmd "mongo: config=$T_DIR/rs0.conf" --out "$T_OUT/a.data" -- \
	backup --name job-b --cmd "mongo: config=$T_DIR/rs1.conf" --out "$T_OUT/b.data"
fd_status_is two 1 T "two sets at once: job 1 (rs0) T"
fd_status_is two 2 T "two sets at once: job 2 (rs1) T"
tap_ok "$(cmp -s "$T_DIR/rs0.payload" "$T_OUT/a.data" && echo 0 || echo 1)" "two sets at once: rs0's stream whole"
tap_ok "$(cmp -s "$T_DIR/rs1.payload" "$T_OUT/b.data" && echo 0 || echo 1)" "two sets at once: rs1's stream whole"
tap_is "$(fd_field two 1 fname)" "/@mongo/rs0/$H0_2/rs0.sh" "two sets at once: job 1 names rs0's member"
tap_is "$(fd_field two 2 fname)" "/@mongo/rs1/$H1_1/rs1.sh" "two sets at once: job 2 names rs1's member"
tap_is "$(fd_msgs two 1 M_INFO | grep -c -e "$H1_1" -e job-b -e rs1)" 0 "two sets at once: job 1's log says nothing of rs1"
tap_is "$(fd_msgs two 2 M_INFO | grep -c -e "$H0_2" -e job-a -e rs0)" 0 "two sets at once: job 2's log says nothing of rs0"
tap_is "$(fd_msgs two 1 M_INFO | grep -c 'unlocked')$(fd_msgs two 2 M_INFO | grep -c 'unlocked')" 11 \
	"two sets at once: each job log shows its own unlock"
unlocked_all "two sets at once"

# Two jobs for one set: the first holds the lock until job 2 has ended; job 2 fails at once.
cat >"$T_DIR/hold.sh" <<EOF
#!/bin/sh
touch "$T_OUT/first.locked"
n=0
while [ ! -e "$T_OUT/second.done" ] && [ \$n -lt 1500 ]; do sleep 0.02; n=\$((n + 1)); done
printf 'first job data\n'
EOF
chmod +x "$T_DIR/hold.sh"
t_config "$T_DIR/rs0.conf" "script = { backup = [ \"$T_DIR/hold.sh\" ]; };"
fd_run same backup --name first --cmd "mongo: config=$T_DIR/rs0.conf" --out "$T_OUT/first.data" -- \
	backup --name second --cmd "mongo: config=$T_DIR/rs0.conf" --wait-for "$T_OUT/first.locked" \
	--touch-done "$T_OUT/second.done"
fd_status_is same 2 f "one set, two jobs: the second fails (f)"
tap_like "$T_OUT/same.out" "^job 2: M_FATAL: mongo-fd: nothing was locked: another run for rs0 holds .*; it is job first\\.[0-9_.-]+, which locked $H0_2 \\(LOCK(ING|ED)\\); run this job again once it has ended\$" \
	"one set, two jobs: the second's fatal line names the first job (its record LOCKING or LOCKED: the command starts the moment the lock is verified, before the LOCKED record)"
tap_is "$(fd_msgs same 2 M_INFO | grep -c locked)" 0 "one set, two jobs: the second locked nothing"
fd_status_is same 1 T "one set, two jobs: the first goes on and ends T"
tap_is "$(cat "$T_OUT/first.data")" "first job data" "one set, two jobs: the first's stream whole"
tap_is "$(grep -c 'lockCount 1' "$T_OUT/same.out")" 1 "one set, two jobs: one lock taken in all"
unlocked_all "one set, two jobs"

SIM_CTL=$CTL0 sim_stop
for p in $(t_alive_entries .sims); do
	t_kill "$p"
done
tap_done
