/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_cluster_held.c: --check-held over a cluster's records: held, and every way it is not (TAP). */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "cluster.h"
#include "cluster_rec.h"
#include "config.h"
#include "proc.h"
#include "state.h"
#include "tap.h"

static char base[128];

/* A cluster "cl" locked by job J: config on c2:27019, sh0 on a2:27018 (its own record: watchdog wd). */
static void
cluster_rec(mbh_cluster_rec *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "cl");
	r->mode = MBH_CLUSTER_ONLINE;
	r->phase = MBH_PHASE_LOCKED;
	snprintf(r->balancer, sizeof(r->balancer), "full");
	r->since = 1796505906;
	r->deadline = 1796513106;
	r->pid = 4242;
	snprintf(r->hostname, sizeof(r->hostname), "backup-host");
	snprintf(r->job, sizeof(r->job), "J");
	r->skew_ms = 3;
	r->ncomps = 2;
	snprintf(r->comps[0].name, sizeof(r->comps[0].name), "config");
	snprintf(r->comps[0].set, sizeof(r->comps[0].set), "csrs");
	snprintf(r->comps[0].hosts, sizeof(r->comps[0].hosts), "c1:27019,c2:27019");
	snprintf(r->comps[0].member, sizeof(r->comps[0].member), "c2:27019");
	r->comps[0].lock_count = 1;
	r->comps[0].lock_ms = 0;
	r->comps[0].state = MBH_COMP_LOCKED;
	snprintf(r->comps[1].name, sizeof(r->comps[1].name), "sh0");
	snprintf(r->comps[1].set, sizeof(r->comps[1].set), "rs0");
	snprintf(r->comps[1].hosts, sizeof(r->comps[1].hosts), "a1:27018,a2:27018");
	snprintf(r->comps[1].member, sizeof(r->comps[1].member), "a2:27018");
	r->comps[1].lock_count = 1;
	r->comps[1].lock_ms = 3;
	r->comps[1].state = MBH_COMP_LOCKED;
}

static void
set_rec(mbh_state_rec *r, long wd_pid, uint64_t wd_start)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->set_name, sizeof(r->set_name), "rs0");
	snprintf(r->member, sizeof(r->member), "a2:27018");
	r->phase = MBH_PHASE_LOCKED;
	r->lock_count = 1;
	r->since = 1796505906;
	r->deadline = 1796513106;
	r->pid = 4242;
	snprintf(r->hostname, sizeof(r->hostname), "backup-host");
	snprintf(r->job, sizeof(r->job), "J");
	snprintf(r->mode, sizeof(r->mode), "hooks");
	r->watchdog_pid = wd_pid;
	r->watchdog_start = wd_start;
	snprintf(r->token, sizeof(r->token), "0123456789abcdef0123456789abcdef");
}

/* Write the cluster's record in base (NULL: remove it). */
static int
put_cluster(const mbh_cluster_rec *r)
{
	mbh_state *st = NULL;
	char *text = NULL;
	mbh_error err;
	int rc = -1;

	mbh_error_init(&err);
	if (mbh_state_open(&st, base, "cl" MBH_CLUSTER_SUFFIX, false, &err) != 0)
		goto out;
	if (r == NULL) {
		rc = mbh_state_remove(st, &err);
		goto out;
	}
	if (mbh_cluster_rec_format(r, &text, &err) != 0 || mbh_state_write_text(st, text, &err) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		diag("%s", err.msg);
	free(text);
	mbh_state_free(st);
	return rc;
}

/* Write rs0's own record under cl.cluster.d (NULL: remove it). */
static int
put_set(const mbh_state_rec *r)
{
	char dir[256];
	mbh_error err;
	int rc;

	mbh_error_init(&err);
	snprintf(dir, sizeof(dir), "%s/cl" MBH_CLUSTER_SUFFIX ".d", base);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(dir, sizeof(dir), "%s/cl" MBH_CLUSTER_SUFFIX ".d/rs0", base);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	rc = r != NULL ? mbh_state_put(dir, r, &err) : mbh_state_unlink(dir, "rs0", &err);
	if (rc != 0)
		diag("%s", err.msg);
	return rc;
}

/* Run the check; *msg gets the line (held or not). */
static int
check(const mbh_config *cfg, const char *name, const char *job, const char *arg, char *msg, size_t len)
{
	char held[600];
	mbh_error err;
	int rc;

	mbh_error_init(&err);
	rc = mbh_cluster_check_held(cfg, name, job, arg, held, sizeof(held), &err);
	snprintf(msg, len, "%s", rc == 0 ? held : err.msg);
	return rc == 0 ? 0 : err.code;
}

/* A pid that was ours and is gone (reaped), with the start time it had. */
static long
dead_pid(uint64_t *start)
{
	pid_t p = fork();
	int st;

	if (p == 0) {
		pause();
		_exit(0);
	}
	if (p < 0)
		return -1;
	*start = mbh_proc_starttime(p);
	kill(p, SIGKILL);
	waitpid(p, &st, 0);
	return p;
}

static void
test_held(void)
{
	mbh_config cfg;
	mbh_cluster_rec *r = calloc(1, sizeof(*r));
	mbh_state_rec s;
	char msg[1024], want[1024];
	uint64_t dead_start = 0;
	long dead;
	static const char *const bad[] = { "sh0", "=a2:27018", "sh0=", "sh0=a2", "sh0=:27018", "sh0=a2:",
					   "sh0=a2:0", "sh0=a2:65536", "sh0=a2:27018x", "sh0=a2:-1" };
	size_t i;

	memset(&cfg, 0, sizeof(cfg));
	cfg.state_dir = base;
	cluster_rec(r);
	set_rec(&s, (long)getpid(), mbh_proc_starttime(getpid()));
	ok(put_cluster(r) == 0 && put_set(&s) == 0, "records written: cl locked by job J, sh0 on a2:27018");

	is_int(check(&cfg, "cl", "J", "sh0=a2:27018", msg, sizeof(msg)), 0, "held: 0");
	is_str(msg, "sh0 a2:27018 is locked for job J (lockCount 1)", "held: the line says so");
	is_int(check(&cfg, "cl", NULL, "sh0=a2:27018", msg, sizeof(msg)), 0, "held, no --job: 0 (any job's lock)");

	is_int(check(&cfg, "cl", "J", "sh0=a1:27018", msg, sizeof(msg)), EX_UNAVAILABLE, "another member: 69");
	is_str(msg, "sh0 a1:27018 is not locked for job J: the member of sh0 locked is a2:27018", "  its line");
	is_int(check(&cfg, "cl", "J", "config=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE,
	       "the member of another component: 69");
	is_int(check(&cfg, "cl", "J", "sh9=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE, "no such component: 69");
	is_str(msg, "sh9 a2:27018 is not locked for job J: cluster cl has no component sh9", "  its line");

	is_int(check(&cfg, "cl", "K", "sh0=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE, "another job's lock: 69");
	is_str(msg, "sh0 a2:27018 is not locked for job K: the locks of cluster cl are job J's", "  its line");

	r->phase = MBH_PHASE_LOCKING;
	r->comps[1].state = MBH_COMP_PENDING;
	put_cluster(r);
	is_int(check(&cfg, "cl", "J", "sh0=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE, "cluster still LOCKING: 69");
	is_str(msg, "sh0 a2:27018 is not locked for job J: cluster cl is LOCKING, not LOCKED", "  its line");
	r->phase = MBH_PHASE_LOCKED;
	put_cluster(r);
	is_int(check(&cfg, "cl", "J", "sh0=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE, "component pending: 69");
	is_str(msg, "sh0 a2:27018 is not locked for job J: its lock is pending", "  its line");
	r->comps[1].state = MBH_COMP_RELEASED;
	put_cluster(r);
	is_int(check(&cfg, "cl", "J", "sh0=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE, "component released: 69");
	is_str(msg, "sh0 a2:27018 is not locked for job J: its lock is released", "  its line");
	r->comps[1].state = MBH_COMP_LOCKED;
	put_cluster(r);

	s.phase = MBH_PHASE_LOCKING;
	put_set(&s);
	is_int(check(&cfg, "cl", "J", "sh0=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE,
	       "its own record LOCKING: 69");
	snprintf(want, sizeof(want), "sh0 a2:27018 is not locked for job J: the record of set rs0 in %s/cl.cluster.d/rs0 "
		 "says LOCKING on a2:27018", base);
	is_str(msg, want, "  its line");
	put_set(NULL);
	is_int(check(&cfg, "cl", "J", "sh0=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE, "its own record gone: 69");
	snprintf(want, sizeof(want), "sh0 a2:27018 is not locked for job J: the record of set rs0 in %s/cl.cluster.d/rs0 "
		 "says nothing is locked", base);
	is_str(msg, want, "  its line");

	dead = dead_pid(&dead_start);
	set_rec(&s, dead, dead_start);
	put_set(&s);
	is_int(check(&cfg, "cl", "J", "sh0=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE, "its watchdog gone: 69");
	snprintf(want, sizeof(want), "sh0 a2:27018 is not locked for job J: no watchdog guards its lock (pid %ld is not "
		 "running): run mongo-postbackup to release it", dead);
	is_str(msg, want, "  its line");
	set_rec(&s, 0, 0);
	put_set(&s);
	is_int(check(&cfg, "cl", "J", "sh0=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE, "no watchdog recorded: 69");
	set_rec(&s, (long)getpid(), mbh_proc_starttime(getpid()) + 1);
	put_set(&s);
	is_int(check(&cfg, "cl", "J", "sh0=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE,
	       "a watchdog pid reused by another process: 69");
	set_rec(&s, (long)getpid(), mbh_proc_starttime(getpid()));
	put_set(&s);
	is_int(check(&cfg, "cl", "J", "sh0=a2:27018", msg, sizeof(msg)), 0, "guarded again: 0");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(check(&cfg, "cl", "J", bad[i], msg, sizeof(msg)), EX_USAGE, bad[i]);
	snprintf(want, sizeof(want), "--check-held wants COMPONENT=HOST:PORT (a shard's name or \"config\", then the "
		 "member), not 'sh0=a2:-1'");
	is_str(msg, want, "  a malformed argument's line");
	is_int(check(&cfg, "cl", "J", "[::1]=[::1]:27018", msg, sizeof(msg)), EX_UNAVAILABLE,
	       "an IPv6 member is an argument (not in this cluster: 69)");

	put_cluster(NULL);
	is_int(check(&cfg, "cl", "J", "sh0=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE,
	       "cluster.name set, no record: 69");
	snprintf(want, sizeof(want), "sh0 a2:27018 is not locked for job J: nothing is locked for cluster cl (no record "
		 "in %s)", base);
	is_str(msg, want, "  its line");
	is_int(check(&cfg, NULL, "J", "sh0=a2:27018", msg, sizeof(msg)), EX_UNAVAILABLE, "no cluster found: 69");
	snprintf(want, sizeof(want), "sh0 a2:27018 is not locked for job J: no cluster's backup is recorded in %s", base);
	is_str(msg, want, "  its line");
	free(r);
}

int
main(void)
{
	char tmpl[] = "/tmp/t_cluster_held.XXXXXX";
	char cmd[256];

	tap_init();
	if (mkdtemp(tmpl) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(base, sizeof(base), "%s", tmpl);
	test_held();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		diag("cannot remove %s", base);
	return tap_done();
}
