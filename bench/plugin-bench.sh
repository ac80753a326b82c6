#!/bin/bash
# plugin-bench.sh: `make bench-plugin`: the same real Bacula backup job on loopback (director with
# a SQLite catalog, storage and file daemons, started from a temp dir and stopped by pid), streaming
# BENCH_BYTES (default 5 GiB) of incompressible data, once through mongo-fd.so (plugin mode against
# the simulated replica set: lock a secondary, run script.backup, stream it, unlock) and once through
# Bacula's own bpipe-fd.so running the same command; alternated (ABBA), BENCH_RUNS runs of each
# (default 3), with MD5 signatures and without.  Prints the stream's throughput and bacula-fd's CPU
# seconds per GiB for both plugins, the lock window of plugin mode against the stream's time, the
# ratios, the targets and PASS/FAIL.  Not a test (not in `make check`): it takes minutes.
# The Bacula is the system's, or with `make bench-plugin BACULA=15` (BACULA_SERIES=15) Bacula 15.0.3 as
# tools/install-deps unpacks it (tests/bacula/baculalib.sh); bpipe-fd.so is that Bacula's own.
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# How both plugins are measured the same way
#   * The data command is bench/pipetimer reading DATA itself (one process: a second program's start
#     would sit between the command's start and its first byte), the same for both plugins; it notes
#     the wall-clock time of the first and of the last byte handed to the plugin's pipe (the plugin has
#     then taken all but at most the pipe's 64 KiB):
#       mongo-fd:  script.backup = [ "PIPETIMER", "REPORT", "-f", "DATA" ]
#       bpipe-fd:  Plugin = "bpipe:/MYDB/x:PIPETIMER REPORT -f DATA:cat >/dev/null"
#     Throughput = bytes / (last - first): neither Bacula's whole-second elapsed time nor bpipe's 1 s
#     sleep in its open is in it.
#   * bacula-fd's CPU: utime + stime of its /proc/PID/stat (all its threads; not its children) just
#     before `run` and just after the job's end, divided by the bytes streamed.
#   * Lock window: the simulator's log times (CLOCK_REALTIME, ms) of `fsync lock` and `fsyncUnlock` on
#     the member; compared with the same job's stream time (target, median: <= stream + the floor row +
#     5 ms; the floor: the same command started by the core's gated spawn from a small process).
#   * Every measured job writes a new volume (Pool Maximum Volume Jobs = 1); after the job the volume
#     is deleted from the catalog and from disk.  The volumes live on tmpfs (/dev/shm) when it has
#     room: this VM's disk takes ~330 MB/s of sustained writes, less than the plugins stream, and the
#     storage daemon would set the pace for both.
#
# Environment: BENCH_RUNS (3), BENCH_BYTES (5368709120), BENCH_VOLDIR (where volumes go; default a new
# dir in /dev/shm if it has room, else under the temp dir), BENCH_DATA (an existing file of incompressible
# data to use instead of generating one; it is kept), BENCH_WARMUP (1: one unmeasured job per plugin
# first; 0: none).  TMPDIR: where the temp dir (and the generated data file) go.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
MBH_PIPETIMER=${MBH_PIPETIMER:-$top_builddir/bench/pipetimer}
MBH_EXECFLOOR=${MBH_EXECFLOOR:-$top_builddir/bench/execfloor}
MBH_PLUGIN=${MBH_PLUGIN:-$top_builddir/plugin/.libs/mongo-fd.so}
PY=/usr/bin/python3
RUNS=${BENCH_RUNS:-3}
BYTES=${BENCH_BYTES:-5368709120}
WARMUP=${BENCH_WARMUP:-1}

die() {
	echo "plugin-bench: $*" >&2
	exit 1
}
say() {
	echo "plugin-bench: $*" >&2
}

# ---- what it needs, checked before anything starts (the test helpers would "skip" instead)
[ "$RUNS" -ge 1 ] 2>/dev/null || die "BENCH_RUNS must be a number >= 1"
[ "$BYTES" -ge 1048576 ] 2>/dev/null || die "BENCH_BYTES must be a number >= 1048576"
for p in "$MBH_PIPETIMER" "$MBH_EXECFLOOR" "${MBH_SIM:-$top_builddir/tests/sim/mongo-rs-sim}" \
	"${MONGO_BACKUP_WATCHDOG:-$top_builddir/watchdog/mongo-backup-watchdog}"; do
	[ -x "$p" ] || die "$p is not built: run make bench-plugin"
done
[ -f "$MBH_PLUGIN" ] || die "$MBH_PLUGIN is not built: run make"
[ "${MBH_SANITIZERS:-no}" != yes ] || die "this is a sanitizer build: Debian's bacula-fd cannot load its mongo-fd.so"
command -v openssl >/dev/null 2>&1 || die "openssl is not installed (tools/install-deps)"
[ -x "$PY" ] || die "$PY is missing"

# shellcheck source=../tests/bacula/fdplugin.sh
. "$top_srcdir/tests/bacula/fdplugin.sh"
bacula_choose || die "$BACULA_WHY"
BPIPE_SO=${BPIPE_SO:-$BACULA_LIBDIR/bpipe-fd.so}
[ -f "$BPIPE_SO" ] || die "$BPIPE_SO is missing (Debian package bacula-fd of Bacula $BACULA_VERSION; tools/install-deps)"
say "$BACULA_ABOUT; bpipe: $BPIPE_SO"
fp_init >/dev/null
bacula_add_plugin "$BPIPE_SO" || die "cannot copy $BPIPE_SO into the plugin directory"
case $T_DIR in
*:*) die "the temp dir $T_DIR has a ':' (bpipe's field separator): set TMPDIR" ;;
esac

# ---- room: the data file in TMPDIR, one volume at a time in the volume dir
avail_bytes() {
	df -P -B1 "$1" 2>/dev/null | awk 'NR == 2 { printf "%.0f\n", $4 }'
}
mem_available() {
	awk '/^MemAvailable:/ { printf "%.0f\n", $2 * 1024 }' /proc/meminfo
}
say "disk space before anything is written:"
df -h "$T_DIR" /dev/shm >&2
VOL_NEED=$((BYTES + BYTES / 20 + 268435456))
if [ -n "${BENCH_VOLDIR:-}" ]; then
	VOLDIR=$(mktemp -d "$BENCH_VOLDIR/mbh-bench-vol.XXXXXX") || die "cannot create a dir in $BENCH_VOLDIR"
elif [ "$(avail_bytes /dev/shm)" -gt $((VOL_NEED + 1073741824)) ] 2>/dev/null &&
	[ "$(mem_available)" -gt $((VOL_NEED + BYTES + 2147483648)) ]; then
	VOLDIR=$(mktemp -d /dev/shm/mbh-bench-vol.XXXXXX) || die "cannot create a dir in /dev/shm"
else
	say "warning: /dev/shm has no room for a volume: volumes go to disk, whose write speed may set the pace"
	VOLDIR=$T_DIR/vol
	mkdir "$VOLDIR" || die "mkdir $VOLDIR"
fi
[ "$(avail_bytes "$VOLDIR")" -gt "$VOL_NEED" ] 2>/dev/null || die "not enough room for a volume in $VOLDIR"
# The storage daemon's Archive Device is $BACULA_HOME/vol (baculalib.sh): point it at VOLDIR.
rmdir "$BACULA_HOME/vol" && ln -s "$VOLDIR" "$BACULA_HOME/vol" || die "cannot link $BACULA_HOME/vol to $VOLDIR"

if [ -n "${BENCH_DATA:-}" ]; then
	DATA=$BENCH_DATA
	[ -f "$DATA" ] && [ "$(stat -c %s "$DATA")" = "$BYTES" ] || die "BENCH_DATA=$DATA is not a file of $BYTES bytes"
	case $DATA in *[[:space:]:\"\'\\]*) die "BENCH_DATA=$DATA has a space, ':' or quote" ;; esac
	DATA_KEPT=yes
else
	DATA=$T_DIR/data.bin
	DATA_KEPT=no
	[ "$(avail_bytes "$T_DIR")" -gt $((BYTES + 2147483648)) ] 2>/dev/null ||
		die "not enough room in $T_DIR for $BYTES bytes of data (and 2 GiB to spare)"
fi

bench_cleanup() {
	local rc=$?
	trap - EXIT
	[ -n "${VOLDIR:-}" ] && [ -d "$VOLDIR" ] && rm -rf "$VOLDIR"
	(exit "$rc")
	bacula_cleanup # daemons, the simulator, the temp dir (with the generated data file)
}
trap bench_cleanup EXIT

if [ "$DATA_KEPT" = no ]; then
	say "writing $BYTES bytes of incompressible data (AES-128-CTR keystream) to $DATA ..."
	openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:mbh-bench-$$-$RANDOM" -in /dev/zero 2>/dev/null |
		head -c "$BYTES" >"$DATA"
	[ "$(stat -c %s "$DATA")" = "$BYTES" ] || die "generating $DATA failed"
	sync "$DATA" # written back now, not during the first jobs
fi
cat "$DATA" >/dev/null # in the page cache (both plugins read it from there)

# ---- the replica set, the config, the jobs
TOPO_NOOP_MS=1000 t_topology "$T_DIR/topo.conf" \
	'{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'
sim_start "$T_DIR/topo.conf" >&2 || die "the simulator did not start"
REPORT=$T_DIR/stream.report
CONF=$T_DIR/rs0.conf
t_config "$CONF" 'lock = { max_seconds = 1800; };' \
	"script = { backup = [ \"$MBH_PIPETIMER\", \"$REPORT\", \"-f\", \"$DATA\" ]; timeout = 1800; };"
BPIPE="bpipe:/MYDB/x:$MBH_PIPETIMER $REPORT -f $DATA:cat >/dev/null"

fileset() { # NAME SIG PLUGIN-STRING
	local opts=""
	[ "$2" = md5 ] && opts="    Options {
      signature = MD5
    }
"
	printf 'FileSet {\n  Name = "%s"\n  Include {\n%s    Plugin = "%s"\n  }\n}\n' "$1" "$opts" "$3"
}
{
	cat <<EOF
Pool {
  Name = Bench
  Pool Type = Backup
  Label Format = "Bench-"
  Maximum Volume Jobs = 1
  Volume Retention = 365 days
  AutoPrune = no
  Recycle = no
}
EOF
	for sig in md5 none; do
		fileset "fs-mongo-$sig" "$sig" "mongo: config=$CONF"
		fileset "fs-bpipe-$sig" "$sig" "$BPIPE"
		for p in mongo bpipe; do
			printf 'Job {\n  Name = "b-%s-%s"\n  JobDefs = "t-defs"\n  FileSet = "fs-%s-%s"\n  Pool = Bench\n}\n' \
				"$p" "$sig" "$p" "$sig"
		done
	done
} >"$BACULA_ETC/jobs.conf"
BACULA_TIMEOUT=1800
bacula_start || die "the Bacula daemons did not start"

# ---- one job
cpu_ticks() { # PID: utime + stime (clock ticks) of the whole process
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
# drop_volumes: remove the volume files (the catalog keeps the jobs and their Used volumes: a volume
# takes one job, and Recycle = no, so none is written again).
drop_volumes() {
	local v
	for v in $(bacula_sql "SELECT VolumeName FROM Media;"); do
		rm -f "$VOLDIR/$v"
	done
}
RESULTS=$T_DIR/results.txt
: >"$RESULTS"
# run_one PLUGIN SIG RUN: one job; a line of key=value figures in RESULTS (RUN 0 = warm-up, not kept).
run_one() {
	local p=$1 sig=$2 run=$3 id st fd0 fd1 sd0 sd1 logoff lock unlock rep wall0 wall1 jb je
	rm -f "$REPORT"
	logoff=$(wc -l <"$SIM_LOG")
	fd0=$(cpu_ticks "$BACULA_FD_PID")
	sd0=$(cpu_ticks "$BACULA_SD_PID")
	wall0=$(date +%s.%N)
	id=$(bacula_run_job "b-$p-$sig") || { bacula_diag_job "$id" >&2; die "job b-$p-$sig did not run to its end"; }
	wall1=$(date +%s.%N)
	fd1=$(cpu_ticks "$BACULA_FD_PID")
	sd1=$(cpu_ticks "$BACULA_SD_PID")
	st=$(bacula_job_status "$id")
	jb=$(fp_job_field "$id" JobBytes)
	je=$(fp_job_field "$id" JobErrors)
	if [ "$st" != T ] || [ "$jb" != "$BYTES" ] || [ "$je" != 0 ]; then
		bacula_diag_job "$id" >&2
		die "job $id (b-$p-$sig): status $st, $jb bytes, $je errors; expected T, $BYTES, 0"
	fi
	[ -s "$REPORT" ] || die "job $id (b-$p-$sig): the pipe timer wrote no report"
	rep=$(cat "$REPORT")
	case " $rep " in
	*" bytes=$BYTES "*" status=0 "*) ;;
	*) die "job $id (b-$p-$sig): the pipe timer says: $rep" ;;
	esac
	sim_ctl status >/dev/null # the log has caught up
	lock=$(sed -n "$((logoff + 1)),\$p" "$SIM_LOG" | grep -E 'member [0-9]+: fsync lock' | head -n 1 | cut -d' ' -f1)
	unlock=$(sed -n "$((logoff + 1)),\$p" "$SIM_LOG" | grep -E 'member [0-9]+: fsyncUnlock' | tail -n 1 | cut -d' ' -f1)
	if [ "$p" = mongo ] && { [ -z "$lock" ] || [ -z "$unlock" ]; }; then
		die "job $id: no fsync lock/fsyncUnlock pair in the simulator's log"
	fi
	[ "$(sim_lock_total)" = 0 ] || die "job $id: something is left locked: $(sim_lockcounts)"
	drop_volumes
	echo "plugin=$p sig=$sig run=$run jobid=$id $rep fd_ticks=$((fd1 - fd0)) sd_ticks=$((sd1 - sd0))" \
		"wall0=$wall0 wall1=$wall1 lock=${lock:--} unlock=${unlock:--} load=$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS"
	say "$(tail -n 1 "$RESULTS" | awk -v hz="$(getconf CLK_TCK)" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "run %s %-5s %-4s job %4s: %7.1f MB/s, bacula-fd %5.2f s CPU/GiB, load %s",
			v["run"], v["plugin"], v["sig"], v["jobid"], v["bytes"] / (v["last"] - v["first"]) / 1e6,
			v["fd_ticks"] / hz / (v["bytes"] / 1073741824), v["load"] }')"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$SECONDS
if [ "$WARMUP" != 0 ]; then
	say "warm-up: one unmeasured job per plugin ..."
	run_one mongo md5 0
	run_one bpipe md5 0
fi
say "measuring: $RUNS runs x {mongo-fd, bpipe} x {MD5, no signature}, $BYTES bytes a job ..."
for run in $(seq 1 "$RUNS"); do
	for sig in md5 none; do
		if [ $((run % 2)) = 1 ]; then
			run_one mongo "$sig" "$run"
			run_one bpipe "$sig" "$run"
		else
			run_one bpipe "$sig" "$run"
			run_one mongo "$sig" "$run"
		fi
	done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$((SECONDS - T_START))
# The floor: the same command started by the core's gated spawn from a small process, no lock, no Bacula.
FLOOR=$("$MBH_EXECFLOOR" 31 "$MBH_PIPETIMER" "$T_DIR/floor.report" -f "$DATA") || die "execfloor failed"

bacula_stop
sim_stop >/dev/null

# ---- the table
$PY - "$RESULTS" "$RUNS" "$BYTES" "$(getconf CLK_TCK)" "$LOAD_BEFORE" "$LOAD_AFTER" "$(nproc)" \
	"$BACULA_VERSION" "$VOLDIR" "$ELAPSED" "$FLOOR" <<'EOF'
import datetime, statistics, sys

path, runs, nbytes, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
load_before, load_after, ncpu, fdver, voldir, elapsed = sys.argv[5:11]
floor = dict(kv.split("=") for kv in sys.argv[11].split())
GiB = 1073741824

def simtime(s):
    # 2026-11-28T16:38:39.123Z (UTC, ms)
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()

jobs = []
for line in open(path):
    d = dict(kv.split("=", 1) for kv in line.split())
    if d["run"] == "0":
        continue
    j = {"plugin": d["plugin"], "sig": d["sig"], "bytes": int(d["bytes"])}
    first, last = float(d["first"]), float(d["last"])
    j["stream_s"] = last - first
    j["mbps"] = j["bytes"] / j["stream_s"] / 1e6
    j["cpu_gib"] = int(d["fd_ticks"]) / hz / (j["bytes"] / GiB)
    j["sd_cpu_gib"] = int(d["sd_ticks"]) / hz / (j["bytes"] / GiB)
    j["method"] = d["method"]
    if d["plugin"] == "mongo":
        lock, unlock = simtime(d["lock"]), simtime(d["unlock"])
        j["lock_s"] = unlock - lock
        j["excess_ms"] = (j["lock_s"] - j["stream_s"]) * 1000
        j["lock_to_first_ms"] = (first - lock) * 1000
        j["lock_to_start_ms"] = (float(d["start"]) - lock) * 1000
        j["last_to_unlock_ms"] = (unlock - last) * 1000
        j["outside_cmd_ms"] = (j["lock_s"] - (float(d["eof"]) - float(d["start"]))) * 1000
    j["load"] = float(d["load"])
    jobs.append(j)

def sel(plugin, sig, key):
    v = [j[key] for j in jobs if j["plugin"] == plugin and j["sig"] == sig]
    if len(v) != runs:
        sys.exit("plugin-bench: expected %d %s/%s jobs, found %d" % (runs, plugin, sig, len(v)))
    return v

def cell(v, f):
    return "%s [%s-%s]" % (f % statistics.median(v), f % min(v), f % max(v))

rows = []
SIG = {"md5": "MD5", "none": "no signature"}
for sig in ("md5", "none"):
    o, b = sel("mongo", sig, "mbps"), sel("bpipe", sig, "mbps")
    r = statistics.median(o) / statistics.median(b)
    rows.append(("throughput, %s (MB/s)" % SIG[sig], cell(o, "%.1f"), cell(b, "%.1f"), "%.3f" % r,
                 ">= 0.95 x bpipe", "PASS" if r >= 0.95 else "FAIL"))
for sig in ("md5", "none"):
    o, b = sel("mongo", sig, "cpu_gib"), sel("bpipe", sig, "cpu_gib")
    r = statistics.median(o) / statistics.median(b)
    rows.append(("bacula-fd CPU/GiB, %s (s)" % SIG[sig], cell(o, "%.3f"), cell(b, "%.3f"), "%.3f" % r,
                 "<= 1.05 x bpipe", "PASS" if r <= 1.05 else "FAIL"))
for sig in ("md5", "none"):
    lk, st, ex = sel("mongo", sig, "lock_s"), sel("mongo", sig, "stream_s"), sel("mongo", sig, "excess_ms")
    rows.append(("lock window, %s (s)" % SIG[sig], cell(lk, "%.3f"), "-",
                 "%.4f" % (statistics.median(lk) / statistics.median(st)), "(stream: %s s)" % cell(st, "%.3f"),
                 "info"))
    fl = float(floor["median"])
    rows.append(("lock window - stream, %s (ms)" % SIG[sig], cell(ex, "%.1f"), "-", "-",
                 "<= floor (%.2f ms) + 5 ms, median" % fl, "PASS" if statistics.median(ex) <= fl + 5 else "FAIL"))
    oc = sel("mongo", sig, "outside_cmd_ms")
    rows.append(("lock window - command's run, %s (ms)" % SIG[sig], cell(oc, "%.1f"), "-", "-", "(no target)",
                 "info"))
info = [("bacula-sd CPU/GiB, %s (s)" % SIG[sig], cell(sel("mongo", sig, "sd_cpu_gib"), "%.3f"),
         cell(sel("bpipe", sig, "sd_cpu_gib"), "%.3f"), "%.3f" % (statistics.median(sel("mongo", sig, "sd_cpu_gib"))
                                                                / statistics.median(sel("bpipe", sig, "sd_cpu_gib"))),
         "(no target)", "info") for sig in ("md5", "none")]

head = ("metric", "ours (mongo-fd)", "bpipe", "ratio", "target", "result")
allrows = [head] + rows + info
widths = [max(len(r[i]) for r in allrows) for i in range(6)]
fmt = "  ".join("%%-%ds" % w for w in widths)
print("mongo-fd.so vs bpipe-fd.so, Bacula %s on loopback, %d bytes (%.2f GiB) a job, %d runs each, alternated"
      % (fdver, nbytes, nbytes / GiB, runs))
print("load average %s before, %s after, %s at the end of the measured jobs; %s CPUs; %s s in all;"
      " volumes in %s" % (load_before, load_after, cell([j["load"] for j in jobs], "%.2f"), ncpu, elapsed,
                          voldir.rsplit("/", 1)[0] + "/"))
print(fmt % head)
for r in rows + info:
    print(fmt % r)
lf = [j["lock_to_first_ms"] for j in jobs if j["plugin"] == "mongo"]
ls = [j["lock_to_start_ms"] for j in jobs if j["plugin"] == "mongo"]
lu = [j["last_to_unlock_ms"] for j in jobs if j["plugin"] == "mongo"]
methods = sorted(set(j["method"] for j in jobs))
print("cells: median [min-max] of %d runs; ratio of the medians.  Throughput = bytes / (last - first byte),"
      " timed by bench/pipetimer (%s) reading the data file into the plugin's pipe, the same command for both plugins;"
      " MB = 10^6 bytes.  CPU = utime+stime of bacula-fd (/proc/PID/stat, 1/%d s) over the job, per GiB streamed."
      % (runs, "/".join(methods), hz))
print("lock window = simulator log time of fsyncUnlock - fsync lock (1 ms resolution); of it, lock -> command"
      " started %s ms, lock -> first byte %s ms, last byte -> unlock %s ms (all mongo-fd jobs); the command's run ="
      " pipetimer started -> its stdout closed." % (cell(ls, "%.1f"), cell(lf, "%.1f"), cell(lu, "%.1f")))
print("floor on this machine: the same command started by the core's gated spawn from a small process (no lock,"
      " no Bacula; bench/execfloor, 31 runs), gate opened -> first byte: %s ms [%s-%s].  A command may start only"
      " once the lock is taken, so the window exceeds the stream by at least this."
      % (floor["median"], floor["min"], floor["max"]))
sys.exit(0 if all(r[5] == "PASS" for r in rows if r[5] != "info") else 1)
EOF
