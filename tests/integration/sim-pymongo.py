# SPDX-License-Identifier: AGPL-3.0-or-later
# sim-pymongo.py: pymongo 3.11 discovers the simulated set, reads replSetGetStatus, locks and unlocks a secondary.
"""TAP test run by /usr/bin/python3; starts and stops mongo-rs-sim itself."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PLAN = 14
TOPOLOGY = """set_name = "rsp";
max_wire_version = 21;
auth = true;
noop_interval_ms = 500;
members = (
  { port = 0; priority = 2.0; state = "PRIMARY"; },
  { port = 0; },
  { port = 0; },
  { port = 0; priority = 0.0; hidden = true; }
);
users = (
  { name = "backup"; password = "s3cret-pw"; db = "admin";
    mechanisms = [ "SCRAM-SHA-256", "SCRAM-SHA-1" ];
    roles = [ "clusterMonitor", "hostManager", "clusterManager" ]; }
);
"""

count = 0
failed = 0


def ok(cond, name, diag=None):
    global count, failed
    count += 1
    if not cond:
        failed += 1
    print("%sok %d - %s" % ("" if cond else "not ", count, name))
    if not cond and diag is not None:
        for line in str(diag).splitlines():
            print("# " + line)
    sys.stdout.flush()
    return cond


def ctl(sim_bin, sock, *args):
    """One control command; returns (exit status, stdout)."""
    p = subprocess.run([sim_bin, "ctl", sock] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=20, check=False)
    return p.returncode, p.stdout.decode()


def status_field(sim_bin, sock, member, key):
    rc, out = ctl(sim_bin, sock, "status")
    if rc != 0:
        return None
    for line in out.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if fields.get("id") == str(member):
            return fields.get(key)
    return None


def start_sim(sim_bin, tmp):
    topo = os.path.join(tmp, "topology.conf")
    with open(topo, "w") as f:
        f.write(TOPOLOGY)
    ready = os.path.join(tmp, "ready")
    sock = os.path.join(tmp, "ctl")
    out = open(os.path.join(tmp, "stdout"), "w")
    err = open(os.path.join(tmp, "stderr"), "w")
    proc = subprocess.Popen([sim_bin, "--topology", topo, "--ready-file", ready, "--ctl", sock,
                             "--log", os.path.join(tmp, "sim.log")],
                            stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    out.close()
    err.close()
    # Bounded wait for the ready file, giving up at once if the simulator died.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with open(ready) as f:
                lines = f.read().splitlines()
            if len(lines) >= 3:
                return proc, lines[1], lines[2]
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    return proc, None, None


def main():
    try:
        import pymongo
        from pymongo import MongoClient
        from pymongo.errors import OperationFailure
    except ImportError:
        print("1..0 # SKIP python3-pymongo not installed")
        return 0
    sim_bin = os.environ.get("MBH_SIM")
    if not sim_bin or not os.access(sim_bin, os.X_OK):
        print("1..0 # SKIP MBH_SIM is not built")
        return 0

    print("1..%d" % PLAN)
    sys.stdout.flush()
    tmp = tempfile.mkdtemp(prefix="mbh-simpy.")
    proc = None
    clients = []
    try:
        proc, uri, sock = start_sim(sim_bin, tmp)
        if uri is None:
            print("Bail out! the simulator did not start (pymongo %s)" % pymongo.version)
            with open(os.path.join(tmp, "stderr")) as f:
                for line in f.read().splitlines()[-20:]:
                    print("# " + line)
            return 1
        hosts = [status_field(sim_bin, sock, i, "host") for i in range(4)]
        kw = dict(username="backup", password="s3cret-pw", serverSelectionTimeoutMS=5000,
                  connectTimeoutMS=3000, socketTimeoutMS=10000)

        rs = MongoClient(uri, replicaSet="rsp", **kw)
        clients.append(rs)
        status = rs.admin.command("replSetGetStatus")
        ok(status.get("set") == "rsp" and status.get("ok") == 1.0,
           "pymongo %s: replSetGetStatus through the seed list" % pymongo.version, status)
        ok(len(status.get("members", [])) == 4, "status lists all 4 members (hidden included)")
        primary = "%s:%d" % rs.primary if rs.primary else None
        ok(primary == hosts[0], "discovered primary is member 0", "got %s want %s" % (primary, hosts[0]))
        secs = sorted("%s:%d" % a for a in rs.secondaries)
        ok(secs == sorted(hosts[1:3]), "discovered secondaries are members 1 and 2 (hidden not listed)",
           "got %s" % secs)
        states = [m.get("stateStr") for m in status.get("members", [])]
        ok(states == ["PRIMARY", "SECONDARY", "SECONDARY", "SECONDARY"], "stateStr of every member", states)

        sec = MongoClient(hosts[1], directConnection=True, **kw)
        clients.append(sec)
        hello = sec.admin.command("isMaster")
        ok(hello.get("secondary") is True and hello.get("setName") == "rsp",
           "directConnection=True to secondary 1: it says secondary", hello)
        r = sec.admin.command("fsync", lock=True)
        ok(r.get("lockCount") == 1, "fsync lock on the secondary: lockCount 1", r)
        ok(status_field(sim_bin, sock, 1, "lockCount") == "1", "ctl status agrees: lockCount=1")
        cur = sec.admin.command("currentOp")
        ok(cur.get("fsyncLock") is True, "currentOp shows fsyncLock true", cur)
        r = sec.admin.command("fsyncUnlock")
        ok(r.get("lockCount") == 0, "fsyncUnlock: lockCount 0", r)
        cur = sec.admin.command("currentOp")
        ok("fsyncLock" not in cur, "currentOp after unlock has no fsyncLock")
        try:
            sec.admin.command("fsyncUnlock")
            ok(False, "fsyncUnlock when not locked fails with code 20")
        except OperationFailure as e:
            ok(e.code == 20, "fsyncUnlock when not locked fails with code 20", e.details)
        ok(status_field(sim_bin, sock, 1, "lockCount") == "0", "no member left locked")
        for c in clients:
            c.close()
        clients = []
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        ok(rc == 0, "the simulator exits 0 on SIGTERM", "exit status %s" % rc)
    except Exception as e:  # a failure must still count, and clean up below
        print("# exception: %r" % (e,))
        while count < PLAN:
            ok(False, "not reached: %s" % type(e).__name__)
    finally:
        for c in clients:
            c.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if os.environ.get("MBH_TEST_KEEP"):
            print("# kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if failed == 0 and count == PLAN else 1


if __name__ == "__main__":
    sys.exit(main())
