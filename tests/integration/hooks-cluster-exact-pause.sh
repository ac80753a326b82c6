#!/bin/bash
# hooks-cluster-exact-pause.sh: exact mode waits for no disk while the cluster's writes are paused: between
# the mongos's lock of the first primary and its unlock (the components' own logs), mongo-prebackup and its
# threads call no fsync (the records written there are not durable, as one set's snapshot mode writes them;
# the durable intent before the lock covers it), and the record after the unlock is durable.  Traced with
# strace -f; skipped where the machine has no strace or refuses ptrace.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
# shellcheck source=sim-cluster.sh
. "$top_srcdir/tests/integration/sim-cluster.sh"
t_init

PY=/usr/bin/python3
T_PASS=backup-pw # the cluster topologies' user
command -v strace >/dev/null 2>&1 || tap_skip_all "no strace on this machine"
strace -f -qq -o /dev/null true 2>"$T_OUT/strace.err" || tap_skip_all "strace refused: $(head -n 1 "$T_OUT/strace.err")"

simc_start 3 || {
	tap_fail "a CSRS and three shards, and the routers, start"
	tap_done
	exit 1
}
SNAPS=$T_DIR/snaps
mkdir -p "$SNAPS"
# snapshot.create: a directory per primary, its path printed first, then a while still running (the record
# naming it is written meanwhile, inside the pause)
SNAP=$T_DIR/snap.sh
cat >"$SNAP" <<EOS
#!/bin/sh
case \$1 in
create) mkdir "$SNAPS/\$2-\$3" && echo "$SNAPS/\$2-\$3" && sleep 0.2 ;;
remove) rm -rf "\$2" ;;
esac
EOS
chmod +x "$SNAP"
CFG_URI=$SIMC_URI t_config "$T_DIR/exact.conf" 'cluster = { mode = "exact"; };' \
	"snapshot = { create = [ \"$SNAP\", \"create\", \"%s\", \"%j\" ]; remove = [ \"$SNAP\", \"remove\", \"%S\" ]; timeout = 60; };"

t_run exact strace -f -qq -ttt -e trace=fsync,fdatasync -o "$T_OUT/trace" "$MBH_PRE" -c "$T_DIR/exact.conf" --job p1 \
	--exec -- true
t_rc_is 0 "exact --exec under strace: exits 0" exact
tap_like "$T_OUT/exact.err" 'writes paused [0-9]+ ms; snapshots: config=/' "the run says the write pause and the snapshots"
logs=("$(dirname "$SIMC_CONFIG_CTL")/sim.log")
for c in $SIMC_SHARD_CTLS; do logs+=("$(dirname "$c")/sim.log"); done
# "before inside after": the fsyncs before the first primary's lock, between it and the first unlock, after
counts=$("$PY" - "$T_OUT/trace" "${logs[@]}" <<'PYEOF' 2>&1
import re, sys
from datetime import datetime, timezone
at = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
locks, unlocks = [], []
for path in sys.argv[2:]:
    for line in open(path):
        m = re.match(r"(\S+Z) ctl: (lock|unlock) ", line)
        if m:
            (locks if m.group(2) == "lock" else unlocks).append(at(m.group(1)))
if len(locks) != 4 or len(unlocks) != 4:
    sys.exit("expected 4 locks and 4 unlocks in the components' logs, found %d and %d" % (len(locks), len(unlocks)))
t0, t1 = min(locks), min(unlocks)
n = [0, 0, 0]
for line in open(sys.argv[1]):
    m = re.match(r"\d+\s+(\d+\.\d+)\s+f(?:data)?sync\(", line)  # strace pads the pid to 5 columns
    if m:
        t = float(m.group(1))
        n[0 if t < t0 else 1 if t <= t1 else 2] += 1
print(*n)
PYEOF
)
read -r before inside after <<<"$counts"
tap_diag "fsyncs before the lock, in the pause, after the unlock: $counts"
[ "${before:-0}" -gt 0 ] 2>/dev/null || tap_diag_file "$T_OUT/trace" "the trace"
tap_ok "$([ "${before:-0}" -gt 0 ] 2>/dev/null && echo 0 || echo 1)" "the trace sees the run's fsyncs (the durable intent before the lock)"
tap_is "$inside" 0 "no fsync while the primaries are locked (the writes' pause waits for no disk)"
tap_ok "$([ "${after:-0}" -ge 2 ] 2>/dev/null && echo 0 || echo 1)" "the record after the unlock is durable (fsync of the file and its directory)"
tap_is "$(simc_locks)" "csrs:0:0,1:0,2:0 sh0:0:0,1:0,2:0 sh1:0:0,1:0,2:0 sh2:0:0,1:0,2:0" "nothing is left locked"
tap_is "$(find "$SNAPS" -mindepth 1 | wc -l)" 0 "every snapshot is removed"

# a run killed with every snapshot taken, before the unlock: the records written in the pause name them all
MBH_CRASH_AT=exact-snapshots:KILL t_run killed "$MBH_PRE" -c "$T_DIR/exact.conf" --job p2
t_rc_is 137 "killed with the snapshots taken, every primary locked" killed
tap_is "$(grep -c '^snapshot=' "$T_STATE/csrs.cluster.state" 2>/dev/null)" 4 "the record names the four snapshots"
t_run post "$MBH_POST" -c "$T_DIR/exact.conf" --job p2
t_rc_is 0 "mongo-postbackup: exits 0" post
tap_is "$(simc_locks)" "csrs:0:0,1:0,2:0 sh0:0:0,1:0,2:0 sh1:0:0,1:0,2:0 sh2:0:0,1:0,2:0" "... nothing is left locked"
tap_is "$(find "$SNAPS" -mindepth 1 | wc -l)" 0 "... every snapshot is removed"

tap_done
