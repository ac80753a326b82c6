/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_state.c: the state file: round trip, parse errors, flock between processes, modes, refusals (TAP). */
#include "autoconfig.h"

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "state.h"
#include "tap.h"

static char base[128];

static void
sample(mbh_state_rec *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->set_name, sizeof(r->set_name), "rs0");
	snprintf(r->member, sizeof(r->member), "db3.example.com:27019");
	r->phase = MBH_PHASE_LOCKED;
	r->lock_count = 1;
	r->since = 1700000000;
	r->deadline = 1700007200;
	r->pid = 4242;
	snprintf(r->hostname, sizeof(r->hostname), "backup-host");
	snprintf(r->job, sizeof(r->job), "NightlyMongo.2024-01-01_00.00.00_01");
	snprintf(r->mode, sizeof(r->mode), "hooks");
	r->watchdog_pid = 4243;
	r->watchdog_start = 123456789012ULL;
	r->frozen = true;
	snprintf(r->token, sizeof(r->token), "0123456789abcdef0123456789abcdef");
	r->command_pid = 4250;
	r->command_start = 123456789999ULL;
}

static const char sample_text[] =
    "# mongo-backup-hooks state v1\n"
    "set=rs0\n"
    "member=db3.example.com:27019\n"
    "phase=LOCKED\n"
    "lock_count=1\n"
    "since=1700000000\n"
    "deadline=1700007200\n"
    "pid=4242\n"
    "hostname=backup-host\n"
    "job=NightlyMongo.2024-01-01_00.00.00_01\n"
    "mode=hooks\n"
    "watchdog_pid=4243\n"
    "watchdog_start=123456789012\n"
    "frozen=1\n"
    "token=0123456789abcdef0123456789abcdef\n"
    "command_pid=4250\n"
    "command_start=123456789999\n";

/* "seal=" + 16 lower-case hex digits + "\n", and nothing after. */
static bool
is_seal_line(const char *s)
{
	return strncmp(s, "seal=", 5) == 0 && strspn(s + 5, "0123456789abcdef") == 16 && strcmp(s + 21, "\n") == 0;
}

static void
test_format_parse(void)
{
	mbh_state_rec r, p;
	mbh_error err;
	char buf[2048];
	int n;

	sample(&r);
	n = mbh_state_format(&r, buf, sizeof(buf));
	ok(n == (int)strlen(sample_text) + 22, "format returns the length");
	ok(strncmp(buf, sample_text, strlen(sample_text)) == 0, "format: exact text");
	ok(is_seal_line(buf + strlen(sample_text)), "format: then the seal line");
	ok(mbh_state_format(&r, buf, 20) == -1, "format: too small a buffer is -1");
	mbh_error_init(&err);
	ok(mbh_state_parse(&p, sample_text, &err) == 0, "parse the formatted text");
	ok(memcmp(&r, &p, sizeof(r)) == 0 || (strcmp(r.member, p.member) == 0 && r.lock_count == p.lock_count &&
	   r.watchdog_start == p.watchdog_start && r.frozen == p.frozen && strcmp(r.job, p.job) == 0 &&
	   r.phase == p.phase && r.pid == p.pid && r.deadline == p.deadline),
	   "round trip keeps every field");
	r.phase = MBH_PHASE_LOCKING;
	r.job[0] = '\0';
	r.frozen = false;
	n = mbh_state_format(&r, buf, sizeof(buf));
	ok(n > 0 && mbh_state_parse(&p, buf, &err) == 0 && p.phase == MBH_PHASE_LOCKING && p.job[0] == '\0' &&
	   !p.frozen, "LOCKING, empty job, frozen=0 round trip");
	snprintf(r.job, sizeof(r.job), "bad\njob");
	ok(mbh_state_format(&r, buf, sizeof(buf)) == -1, "format refuses a newline in a value");
}

/* The deadline to the ms lives in memory only: the file keeps its whole seconds. */
static void
test_deadline_ms(void)
{
	mbh_state_rec r, p;
	mbh_error err;
	char with[2048], without[2048];

	sample(&r);
	ok(mbh_state_deadline_ms(&r) == r.deadline * 1000, "no deadline_ms: the deadline's second, in ms");
	ok(mbh_state_format(&r, without, sizeof(without)) > 0, "format without deadline_ms");
	r.deadline_ms = r.deadline * 1000 - 750;
	ok(mbh_state_deadline_ms(&r) == r.deadline * 1000 - 750, "deadline_ms set: it, to the ms");
	ok(mbh_state_format(&r, with, sizeof(with)) > 0 && strcmp(with, without) == 0,
	   "format: deadline_ms changes nothing in the file");
	mbh_error_init(&err);
	ok(mbh_state_parse(&p, with, &err) == 0 && p.deadline_ms == 0 && p.deadline == r.deadline,
	   "parse: deadline_ms 0, the deadline in whole seconds");
}

static void
parse_fails(const char *text, const char *want)
{
	mbh_state_rec p;
	mbh_error err;

	mbh_error_init(&err);
	ok(mbh_state_parse(&p, text, &err) != 0 && err.code == EX_DATAERR, "parse fails: %s", want);
	is_str(err.msg, want, "  message");
}

/* sample_text with one line replaced (or dropped with repl ""). */
static char *
variant(const char *key, const char *repl)
{
	static char buf[2048];
	const char *p = sample_text, *nl;
	size_t o = 0, klen = strlen(key);

	while (*p) {
		nl = strchr(p, '\n');
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s", repl);
		} else {
			memcpy(buf + o, p, (size_t)(nl - p) + 1);
			o += (size_t)(nl - p) + 1;
		}
		p = nl + 1;
	}
	buf[o] = '\0';
	return buf;
}

static void
test_parse_errors(void)
{
	parse_fails("", "line 1: empty state file (expected \"# mongo-backup-hooks state v1\")");
	parse_fails("set=rs0\n", "line 1: not a state file (expected \"# mongo-backup-hooks state v1\")");
	parse_fails("# mongo-backup-hooks state v2\n", "line 1: not a state file (expected \"# mongo-backup-hooks state v1\")");
	parse_fails(variant("member", "colour=blue\n"), "line 3: unknown key 'colour'");
	parse_fails(variant("member", "member=a:1\nmember=b:2\n"), "line 4: duplicate key 'member'");
	parse_fails(variant("member", "garbage\n"), "line 3: expected key=value");
	parse_fails(variant("lock_count", "lock_count=abc\n"), "line 5: bad value for 'lock_count': 'abc'");
	parse_fails(variant("lock_count", "lock_count=-1\n"), "line 5: bad value for 'lock_count': '-1'");
	parse_fails(variant("lock_count", "lock_count=99999999999999999999\n"),
	            "line 5: bad value for 'lock_count': '99999999999999999999'");
	parse_fails(variant("phase", "phase=UNLOCKED\n"), "line 4: bad value for 'phase': 'UNLOCKED'");
	parse_fails(variant("pid", "pid=0\n"), "line 8: bad value for 'pid': '0'");
	parse_fails(variant("pid", "pid= 12\n"), "line 8: bad value for 'pid': ' 12'");
	parse_fails(variant("mode", "mode=cron\n"), "line 11: bad value for 'mode': 'cron'");
	parse_fails(variant("frozen", "frozen=yes\n"), "line 14: bad value for 'frozen': 'yes'");
	parse_fails(variant("set", "set=../etc\n"), "line 2: bad value for 'set': '../etc'");
	parse_fails(variant("job", "job=a\tb\n"), "line 10: bad value for 'job': 'a\\x09b'");
	/* the file's bytes never reach a message (a terminal, a Bacula job log) raw */
	parse_fails(variant("member", "col\x1b[2Jour=1\n"), "line 3: unknown key 'col\\x1b[2Jour'");
	parse_fails(variant("mode", "mode=\x1b]0;x\x07\n"), "line 11: bad value for 'mode': '\\x1b]0;x\\x07'");
	parse_fails(variant("watchdog_start", "watchdog_start=-5\n"), "line 13: bad value for 'watchdog_start': '-5'");
	parse_fails(variant("deadline", ""), "line 17: missing key 'deadline'");
	parse_fails(variant("token", "token=XYZ\n"), "line 15: bad value for 'token': 'XYZ'");
	parse_fails(variant("command_pid", "command_pid=-3\n"), "line 16: bad value for 'command_pid': '-3'");
	{
		mbh_state_rec p;
		mbh_error err;
		char old[2048];

		/* a record written before tokens existed still parses (an upgrade while a set is locked) */
		snprintf(old, sizeof(old), "%s", variant("token", ""));
		snprintf(old, sizeof(old), "%s", variant("command_pid", ""));
		mbh_error_init(&err);
		ok(mbh_state_parse(&p, variant("command_start", ""), &err) == 0, "command_start may be absent");
		ok(mbh_state_parse(&p, old, &err) == 0 && p.command_pid == 0, "command_pid may be absent (0)");
	}
}

/* Snapshot mode's phase and keys: written only when there is a snapshot, read strictly. */
static void
test_snapshot_record(void)
{
	static const char snap_text[] =
	    "# mongo-backup-hooks state v1\n"
	    "set=rs0\n"
	    "member=db3.example.com:27019\n"
	    "phase=SNAPSHOT\n"
	    "lock_count=1\n"
	    "since=1700000000\n"
	    "deadline=1700007200\n"
	    "pid=4242\n"
	    "hostname=backup-host\n"
	    "job=NightlyMongo.2024-01-01_00.00.00_01\n"
	    "mode=hooks\n"
	    "watchdog_pid=0\n"
	    "watchdog_start=0\n"
	    "frozen=0\n"
	    "token=0123456789abcdef0123456789abcdef\n"
	    "command_pid=0\n"
	    "command_start=0\n"
	    "snapshot=/srv/snaps/rs0-Nightly-20240101T000000Z\n"
	    "snapshot_since=1700000001\n";
	mbh_state_rec r, p;
	mbh_error err;
	char buf[4096], long_path[MBH_SNAPSHOT_MAX + 2];
	int n;

	sample(&r);
	r.phase = MBH_PHASE_SNAPSHOT;
	r.watchdog_pid = 0;
	r.watchdog_start = 0;
	r.frozen = false;
	r.command_pid = 0;
	r.command_start = 0;
	snprintf(r.snapshot, sizeof(r.snapshot), "/srv/snaps/rs0-Nightly-20240101T000000Z");
	r.snapshot_since = 1700000001;
	n = mbh_state_format(&r, buf, sizeof(buf));
	ok(n == (int)strlen(snap_text) + 22, "SNAPSHOT: format returns the length");
	ok(strncmp(buf, snap_text, strlen(snap_text)) == 0 && is_seal_line(buf + strlen(snap_text)),
	   "SNAPSHOT: exact text (snapshot keys last, then the seal)");
	mbh_error_init(&err);
	ok(mbh_state_parse(&p, snap_text, &err) == 0 && p.phase == MBH_PHASE_SNAPSHOT &&
	   strcmp(p.snapshot, r.snapshot) == 0 && p.snapshot_since == 1700000001, "SNAPSHOT: parse it back");
	sample(&r);
	snprintf(r.snapshot, sizeof(r.snapshot), "/srv/snaps/x");
	r.snapshot_since = 5;
	ok(mbh_state_format(&r, buf, sizeof(buf)) > 0 && mbh_state_parse(&p, buf, &err) == 0 &&
	   p.phase == MBH_PHASE_LOCKED && strcmp(p.snapshot, "/srv/snaps/x") == 0,
	   "LOCKED with a snapshot (taken, not yet unlocked) round trip");
	sample(&r);
	ok(mbh_state_format(&r, buf, sizeof(buf)) > 0 && strstr(buf, "snapshot") == NULL,
	   "no snapshot: no snapshot keys (the record of earlier versions)");
	r.phase = MBH_PHASE_SNAPSHOT;
	ok(mbh_state_format(&r, buf, sizeof(buf)) == -1, "format refuses SNAPSHOT without a snapshot");
	snprintf(r.snapshot, sizeof(r.snapshot), "relative/snap");
	ok(mbh_state_format(&r, buf, sizeof(buf)) == -1, "format refuses a relative snapshot path");

	parse_fails("# mongo-backup-hooks state v1\nset=rs0\nmember=h:1\nphase=SNAPSHOT\nlock_count=1\nsince=1\n"
		    "deadline=2\npid=3\nhostname=h\njob=\nmode=hooks\nwatchdog_pid=0\nwatchdog_start=0\nfrozen=0\n",
		    "line 15: missing key 'snapshot' (phase SNAPSHOT names its snapshot)");
	{
		char t[2048];

		snprintf(t, sizeof(t), "%s", snap_text);
		*strstr(t, "snapshot=/srv") = '\0';
		memcpy(strstr(t, "phase=SNAPSHOT"), "phase=LOCKED\n#\n", 15);
		strcat(t, "snapshot_since=5\n");
		parse_fails(t, "line 20: 'snapshot_since' without 'snapshot'");
		snprintf(t, sizeof(t), "%s", snap_text);
		*strstr(t, "snapshot=/srv") = '\0';
		strcat(t, "snapshot=srv/snaps/x\n");
		parse_fails(t, "line 18: bad value for 'snapshot': 'srv/snaps/x'");
		*strstr(t, "snapshot=srv") = '\0';
		strcat(t, "snapshot=/srv/../etc\n");
		parse_fails(t, "line 18: bad value for 'snapshot': '/srv/../etc'");
		*strstr(t, "snapshot=/srv") = '\0';
		strcat(t, "snapshot=/srv/x\nsnapshot_since=-1\n");
		parse_fails(t, "line 19: bad value for 'snapshot_since': '-1'");
	}

	{
		char name[MBH_JOB_NAME_MAX + 2], why[160];

		memset(name, 'j', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		ok(mbh_state_job_name_check(name, why, sizeof(why)) != 0, "job name: %d bytes refused",
		   MBH_JOB_NAME_MAX + 1);
		is_str(why, "is 128 bytes long; at most 127 fit in the state record: use a shorter name (or Bacula's "
		       "job id, %i)", "  why");
		name[MBH_JOB_NAME_MAX] = '\0';
		ok(mbh_state_job_name_check(name, why, sizeof(why)) == 0, "job name: %d bytes fit", MBH_JOB_NAME_MAX);
		ok(mbh_state_job_name_check("nightly.2026-12-05_01.00.00_07 caf\xc3\xa9", why, sizeof(why)) == 0,
		   "job name: blanks and UTF-8 are fine");
		ok(mbh_state_job_name_check("a\x1b[2Jb", why, sizeof(why)) != 0 &&
		   mbh_state_job_name_check("caf\xe9", why, sizeof(why)) != 0, "job name: control characters and "
		   "invalid UTF-8 refused");
		is_str(why, "holds a control character or invalid UTF-8: use a plain name", "  why");
	}
	ok(mbh_state_snapshot_path_ok("/srv/snap/rs0-1"), "path ok: /srv/snap/rs0-1");
	ok(mbh_state_snapshot_path_ok("/srv/my snap/..x/.y"), "path ok: spaces and dotted names");
	ok(!mbh_state_snapshot_path_ok("/"), "path refused: /");
	ok(!mbh_state_snapshot_path_ok("//"), "path refused: //");
	ok(!mbh_state_snapshot_path_ok(""), "path refused: empty");
	ok(!mbh_state_snapshot_path_ok("snap"), "path refused: relative");
	ok(!mbh_state_snapshot_path_ok("/srv/./snap"), "path refused: a . component");
	ok(!mbh_state_snapshot_path_ok("/srv/snap/.."), "path refused: a .. component");
	ok(!mbh_state_snapshot_path_ok("/srv/sn\tap"), "path refused: a control character");
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	ok(!mbh_state_snapshot_path_ok(long_path), "path refused: longer than MBH_SNAPSHOT_MAX");
	long_path[MBH_SNAPSHOT_MAX] = '\0';
	ok(mbh_state_snapshot_path_ok(long_path), "path ok: MBH_SNAPSHOT_MAX bytes");
	is_str(mbh_state_phase_name(MBH_PHASE_SNAPSHOT), "SNAPSHOT", "phase name SNAPSHOT");
	is_str(mbh_state_phase_name((mbh_phase)9), "?", "phase name of nonsense");
}

/* Create DIR/name fresh; returns the path. */
static const char *
path_in(const char *name)
{
	static char p[256];

	snprintf(p, sizeof(p), "%s/%s", base, name);
	return p;
}

static void
test_files(void)
{
	char dir[256], want[512];
	mbh_state *st = NULL;
	mbh_state_rec r, got;
	struct stat sb;
	mbh_error err;
	bool present = true;

	snprintf(dir, sizeof(dir), "%s", path_in("state"));
	mbh_error_init(&err);
	ok(mbh_state_open(&st, dir, "rs0", false, &err) == 0 && st != NULL, "open creates the directory");
	if (st == NULL) {
		diag("%s", err.msg);
		return;
	}
	ok(stat(dir, &sb) == 0 && (sb.st_mode & 07777) == 0700, "directory mode 0700");
	snprintf(want, sizeof(want), "%s/rs0.state", dir);
	is_str(mbh_state_path(st), want, "state path");
	ok(mbh_state_read(st, &got, &present, &err) == 0 && !present, "no record yet");
	sample(&r);
	ok(mbh_state_write(st, &r, &err) == 0, "write a record");
	ok(stat(want, &sb) == 0 && (sb.st_mode & 07777) == 0600, "state file mode 0600");
	ok(mbh_state_read(st, &got, &present, &err) == 0 && present && got.lock_count == 1 &&
	   strcmp(got.member, r.member) == 0 && got.watchdog_start == r.watchdog_start, "read it back");
	memset(&got, 0, sizeof(got));
	ok(mbh_state_peek(dir, "rs0", &got, &present, &err) == 0 && present && got.lock_count == 1 &&
	   strcmp(got.member, r.member) == 0, "peek reads it without the flock (held here)");
	ok(mbh_state_peek(dir, "rs1", &got, &present, &err) == 0 && !present, "peek: no record of another set");
	ok(mbh_state_peek(dir, "../rs0", &got, &present, &err) != 0 && err.code == EX_DATAERR,
	   "peek: a set name that leaves the directory is refused");
	r.lock_count = 2;
	r.phase = MBH_PHASE_LOCKING;
	ok(mbh_state_write(st, &r, &err) == 0 && mbh_state_read(st, &got, &present, &err) == 0 &&
	   got.lock_count == 2 && got.phase == MBH_PHASE_LOCKING, "a second write replaces the record");
	snprintf(r.job, sizeof(r.job), "evil\njob=x");
	mbh_error_init(&err);
	ok(mbh_state_write(st, &r, &err) != 0 && err.code == EX_USAGE, "a job name with a newline is refused");
	is_str(err.msg, "job name contains a control character: use a plain job name", "  message");
	ok(mbh_state_read(st, &got, &present, &err) == 0 && present && got.lock_count == 2,
	   "the refused write left the record alone");
	sample(&r);
	r.phase = MBH_PHASE_SNAPSHOT;
	snprintf(r.snapshot, sizeof(r.snapshot), "/srv/snap");
	r.snapshot_since = 7;
	ok(mbh_state_put(dir, &r, &err) == 0 && mbh_state_read(st, &got, &present, &err) == 0 && present &&
	   got.phase == MBH_PHASE_SNAPSHOT && strcmp(got.snapshot, "/srv/snap") == 0,
	   "put replaces the record without the flock (a release keeping a snapshot's record)");
	ok(stat(want, &sb) == 0 && (sb.st_mode & 07777) == 0600, "  mode 0600");
	snprintf(r.set_name, sizeof(r.set_name), "..");
	ok(mbh_state_put(dir, &r, &err) != 0 && err.code == EX_DATAERR, "put refuses a set name that leaves DIR");
	sample(&r);
	ok(mbh_state_remove(st, &err) == 0 && stat(want, &sb) != 0 && errno == ENOENT, "remove deletes the record");
	ok(mbh_state_remove(st, &err) == 0, "remove without a record is fine");
	ok(mbh_state_read(st, &got, &present, &err) == 0 && !present, "no record after remove");

	/* A corrupt record names the file. */
	{
		FILE *f = fopen(want, "w");

		fputs("set=rs0\n", f);
		fclose(f);
	}
	mbh_error_init(&err);
	ok(mbh_state_read(st, &got, &present, &err) != 0 && err.code == EX_DATAERR && !present, "corrupt: EX_DATAERR");
	snprintf(want, sizeof(want), "%s/rs0.state: line 1: not a state file (expected \"# mongo-backup-hooks state v1\")",
	         dir);
	is_str(err.msg, want, "  message names the file");

	/* A symlinked state file is never followed. */
	snprintf(want, sizeof(want), "%s/rs0.state", dir);
	unlink(want);
	if (symlink("/etc/passwd", want) != 0)
		diag("symlink: %s", strerror(errno));
	mbh_error_init(&err);
	ok(mbh_state_read(st, &got, &present, &err) != 0 && err.code == EX_NOPERM, "symlinked state file refused");
	snprintf(want, sizeof(want), "%s/rs0.state is a symbolic link: remove it", dir);
	is_str(err.msg, want, "  message");
	sample(&r);
	ok(mbh_state_write(st, &r, &err) == 0, "a write replaces the symlink itself (rename)");
	snprintf(want, sizeof(want), "%s/rs0.state", dir);
	ok(lstat(want, &sb) == 0 && S_ISREG(sb.st_mode), "  and leaves a regular file");
	ok(stat("/etc/passwd", &sb) == 0 && sb.st_size > 0, "  the symlink's target is untouched");
	mbh_state_remove(st, &err);
	mbh_state_free(st);
	mbh_state_free(NULL);
}

static void
test_refusals(void)
{
	char dir[256], link[256], want[700];
	mbh_state *st = NULL;
	mbh_error err;

	mbh_error_init(&err);
	ok(mbh_state_open(&st, path_in("state"), "../etc", false, &err) != 0 && err.code == EX_DATAERR,
	   "a set name with '/' is refused");
	is_str(err.msg, "invalid replica set name '../etc': use 1 to 127 letters, digits, '_', '.' or '-'", "  message");
	ok(mbh_state_open(&st, path_in("state"), "..", false, &err) != 0, "'..' refused");
	ok(mbh_state_open(&st, path_in("state"), "", false, &err) != 0, "empty set name refused");

	snprintf(dir, sizeof(dir), "%s", path_in("gw"));
	mkdir(dir, 0700);
	chmod(dir, 0770);
	mbh_error_init(&err);
	ok(mbh_state_open(&st, dir, "rs0", false, &err) != 0 && err.code == EX_NOPERM, "group-writable dir refused");
	snprintf(want, sizeof(want), "state directory %s is writable by group or others: chmod 700 %s", dir, dir);
	is_str(err.msg, want, "  message");
	chmod(dir, 0755);
	ok(mbh_state_open(&st, dir, "rs0", false, &err) == 0, "a 0755 dir is accepted (only writability matters)");
	mbh_state_free(st);
	st = NULL;

	snprintf(link, sizeof(link), "%s", path_in("link"));
	if (symlink(dir, link) != 0)
		diag("symlink: %s", strerror(errno));
	mbh_error_init(&err);
	ok(mbh_state_open(&st, link, "rs0", false, &err) != 0 && err.code == EX_NOPERM, "symlinked dir refused");
	snprintf(want, sizeof(want), "state directory %s is a symbolic link: set state_dir to the real directory", link);
	is_str(err.msg, want, "  message");

	mbh_error_init(&err);
	ok(mbh_state_open(&st, "/nonexistent/deeper/dir", "rs0", false, &err) != 0 && err.code == EX_CANTCREAT,
	   "uncreatable dir: EX_CANTCREAT");
	is_str(err.msg, "cannot create state directory /nonexistent/deeper/dir: No such file or directory", "  message");

	if (geteuid() == 0) {
		if (chown(dir, 12345, 12345) != 0)
			diag("chown: %s", strerror(errno));
		mbh_error_init(&err);
		ok(mbh_state_open(&st, dir, "rs0", false, &err) != 0 && err.code == EX_NOPERM, "a dir not ours refused");
		snprintf(want, sizeof(want), "state directory %s is owned by uid 12345, not by us (uid 0): "
		         "chown 0 %s or choose another state_dir", dir, dir);
		is_str(err.msg, want, "  message");
	} else {
		skip("a dir owned by someone else needs root to set up");
		skip("a dir owned by someone else needs root to set up");
	}
	mbh_state_free(st);
}

static void
test_flock(void)
{
	char dir[256], want[512];
	int ready[2], release[2];
	mbh_state *st = NULL;
	mbh_error err;
	pid_t child;
	char c = 0;
	int status;

	snprintf(dir, sizeof(dir), "%s", path_in("state"));
	if (pipe(ready) != 0 || pipe(release) != 0) {
		ok(0, "pipes");
		return;
	}
	child = fork();
	if (child == 0) {
		mbh_state *cst = NULL;
		mbh_error cerr;

		close(ready[0]);
		close(release[1]);
		c = mbh_state_open(&cst, dir, "rs0", false, &cerr) == 0 ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1 || read(release[0], &c, 1) < 0)
			c = 0;
		mbh_state_free(cst);
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	ok(read(ready[0], &c, 1) == 1 && c == 'y', "a child process holds the flock");
	mbh_error_init(&err);
	ok(mbh_state_open(&st, dir, "rs0", false, &err) != 0 && st == NULL && err.code == EX_TEMPFAIL,
	   "a second run is refused with EX_TEMPFAIL");
	ok(mbh_error_is(&err, MBH_ERR_SET_BUSY), "  the reason: another run holds the set");
	snprintf(want, sizeof(want), "another run for rs0 holds %s/rs0.lock (pid %ld)", dir, (long)child);
	is_str(err.msg, want, "  message names the holder's pid");
	ok(mbh_state_open(&st, dir, "rs1", false, &err) == 0, "another set is independent");
	mbh_state_free(st);
	st = NULL;
	if (write(release[1], "x", 1) != 1)
		diag("write: %s", strerror(errno));
	ok(mbh_state_open(&st, dir, "rs0", true, &err) == 0, "wait=true gets the lock once the child lets go");
	waitpid(child, &status, 0);
	close(ready[0]);
	close(release[1]);

	/* A forked copy (the watchdog) freeing its inherited state must not unlock the parent. */
	child = fork();
	if (child == 0) {
		mbh_state_free(st);
		_exit(0);
	}
	waitpid(child, &status, 0);
	{
		mbh_state *other = NULL;

		mbh_error_init(&err);
		ok(mbh_state_open(&other, dir, "rs0", false, &err) != 0 && err.code == EX_TEMPFAIL,
		   "a child freeing the inherited state leaves the parent's flock held");
		mbh_state_free(other);
	}
	mbh_state_free(st);
}

static void
test_starttime(void)
{
	int to_child[2], to_parent[2];
	uint64_t before, after;
	siginfo_t si;
	pid_t child;
	char c = 0;

	ok(mbh_proc_starttime((long)getpid()) > 0, "our own start time");
	ok(mbh_proc_starttime(0) == 0 && mbh_proc_starttime(-1) == 0, "pid 0 and -1: 0");
	ok(mbh_proc_starttime(999999999) == 0, "no such process: 0");
	if (pipe(to_child) != 0 || pipe(to_parent) != 0)
		return;
	child = fork();
	if (child == 0) {
		if (read(to_child[0], &c, 1) != 1)
			_exit(1);
		/* A comm that breaks naive parsers: spaces, ')' and digits. */
		prctl(PR_SET_NAME, "a) 1 2 (b", 0, 0, 0);
		if (write(to_parent[1], "x", 1) != 1 || read(to_child[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	before = mbh_proc_starttime((long)child);
	if (write(to_child[1], "x", 1) != 1 || read(to_parent[0], &c, 1) != 1)
		diag("pipe: %s", strerror(errno));
	after = mbh_proc_starttime((long)child);
	ok(before > 0 && before == after, "a comm with ') 1 2 (' does not confuse the parser");
	ok(mbh_proc_running((long)child, after), "a live process with its start time is running");
	ok(!mbh_proc_running((long)child, after + 1) && !mbh_proc_running((long)child, 0),
	   "another start time (a reused pid), or none: not running");
	if (write(to_child[1], "x", 1) != 1)
		diag("pipe: %s", strerror(errno));
	/* exited, not reaped yet: a zombie keeps its start time, but nothing of it runs */
	waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT);
	ok(mbh_proc_starttime((long)child) == after && !mbh_proc_running((long)child, after),
	   "a zombie keeps its start time but is not running");
	waitpid(child, NULL, 0);
	ok(!mbh_proc_running((long)child, after), "a reaped process is not running");
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

/* A record edited by hand no longer matches its seal; one of an earlier version has none. */
static void
test_seal(void)
{
	mbh_state_rec r, p;
	mbh_error err;
	char buf[2048], edited[4096], *m;
	int n;

	sample(&r);
	n = mbh_state_format(&r, buf, sizeof(buf));
	mbh_error_init(&err);
	ok(n > 0 && mbh_state_parse(&p, buf, &err) == 0 && strcmp(p.member, r.member) == 0, "a sealed record parses");
	snprintf(edited, sizeof(edited), "%s# checked by hand\n\n", buf);
	ok(mbh_state_parse(&p, edited, &err) == 0, "a comment or an empty line added keeps the seal");
	snprintf(edited, sizeof(edited), "%s", buf);
	m = strstr(edited, "member=db3");
	m[9] = '4';
	mbh_error_init(&err);
	ok(mbh_state_parse(&p, edited, &err) != 0 && err.code == EX_DATAERR, "the member edited by hand: refused (65)");
	ok(strncmp(err.msg, MBH_STATE_EDITED, strlen(MBH_STATE_EDITED)) == 0, "  message: %s", err.msg);
	ok(mbh_error_is(&err, MBH_ERR_RECORD_EDITED) && err.code == EX_DATAERR, "  reason: changed by hand (65)");
	snprintf(edited, sizeof(edited), "%s", buf);
	m = strstr(edited, "lock_count=1");
	m[11] = '2';
	ok(mbh_state_parse(&p, edited, &err) != 0 && strstr(err.msg, "changed by hand") != NULL,
	   "the lockCount edited by hand: refused");
	snprintf(edited, sizeof(edited), "%s", buf);
	m = strstr(edited, "seal=");
	m[5] = m[5] == '0' ? '1' : '0';
	ok(mbh_state_parse(&p, edited, &err) != 0 && strstr(err.msg, "changed by hand") != NULL,
	   "the seal edited by hand: refused");
	snprintf(edited, sizeof(edited), "%s", buf);
	m = strstr(edited, "seal=");
	snprintf(m, sizeof(edited) - (size_t)(m - edited), "seal=XX\n");
	parse_fails(edited, "line 18: bad value for 'seal': 'XX'");
	ok(mbh_state_parse(&p, sample_text, &err) == 0, "a record without a seal (an earlier version's) still parses");
}

int
main(void)
{
	char tmpl[] = "/tmp/t_state.XXXXXX";
	char cmd[256];

	tap_init();
	if (mkdtemp(tmpl) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(base, sizeof(base), "%s", tmpl);
	test_format_parse();
	test_deadline_ms();
	test_parse_errors();
	test_snapshot_record();
	test_seal();
	test_files();
	test_refusals();
	test_flock();
	test_starttime();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		diag("cannot remove %s", base);
	return tap_done();
}
