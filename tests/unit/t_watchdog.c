/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_watchdog.c: the watchdog's settings stream read as strictly as a config file; tokens; the guard's hand-off (TAP). */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "error.h"
#include "state.h"
#include "tap.h"
#include "watchdog.h"
#include "wdguard.h"

#define TOKEN "0123456789abcdef0123456789abcdef"
#define GOOD "uri=mongodb://h1,h2/?replicaSet=rs0\0username=backup\0password=S3cret-pw\0connect_timeout_ms=2500\0" \
	     "state_dir=/var/lib/mongo-backup\0set=rs0\0token=" TOKEN "\0"

/* Parse the len bytes of text (NULs inside) in a copy. */
static int
parse(mbh_watchdog_settings *out, const char *text, size_t len, mbh_error *err, char *buf, size_t buflen)
{
	if (len > buflen)
		return -2;
	memcpy(buf, text, len);
	mbh_error_init(err);
	return mbh_watchdog_settings_parse(out, buf, len, err);
}

static void
test_good(void)
{
	static const char go[] = GOOD "go=1\0";
	mbh_watchdog_settings s;
	mbh_error err;
	char buf[1024];

	ok(parse(&s, GOOD, sizeof(GOOD) - 1, &err, buf, sizeof(buf)) == 0, "every item: parsed");
	ok(strcmp(s.uri, "mongodb://h1,h2/?replicaSet=rs0") == 0 && strcmp(s.username, "backup") == 0 &&
	   strcmp(s.password, "S3cret-pw") == 0 && s.connect_timeout_ms == 2500 &&
	   strcmp(s.state_dir, "/var/lib/mongo-backup") == 0 && strcmp(s.set, "rs0") == 0 &&
	   strcmp(s.token, TOKEN) == 0 && !s.go, "  every value where it belongs; no go yet");
	ok(parse(&s, go, sizeof(go) - 1, &err, buf, sizeof(buf)) == 0 && s.go, "with go=1: go");
	{
		static const char more[] = GOOD "member=db2:27017\0deadline_ms=1700007200250\0command_pid=4242\0"
					   "command_start=987654321\0metrics_textfile=/var/lib/node/rs0.prom\0"
					   "metrics_fsync=1\0go=1\0";

		ok(parse(&s, more, sizeof(more) - 1, &err, buf, sizeof(buf)) == 0 && strcmp(s.member, "db2:27017") == 0 &&
		   s.deadline_ms == 1700007200250 && s.command_pid == 4242 && s.command_start == 987654321 &&
		   strcmp(s.metrics, "/var/lib/node/rs0.prom") == 0 && s.metrics_fsync && s.go,
		   "what go adds (member, deadline to the ms, command) and the metrics items: parsed");
	}
	{
		/* a run of an earlier version (a plugin in a bacula-fd not restarted since the upgrade) */
		static const char old[] = GOOD "member=db2:27017\0deadline=1700007200\0go=1\0";

		ok(parse(&s, old, sizeof(old) - 1, &err, buf, sizeof(buf)) == 0 && s.deadline_ms == 1700007200000,
		   "deadline in whole seconds (earlier versions): kept as its ms");
	}
	{
		static const char cl[] = GOOD "balancer_uri=mongodb://m1:1,m2:1/\0go=1\0";

		ok(parse(&s, cl, sizeof(cl) - 1, &err, buf, sizeof(buf)) == 0 && s.balancer_uri != NULL &&
		   strcmp(s.balancer_uri, "mongodb://m1:1,m2:1/") == 0, "a cluster component's balancer_uri: parsed");
		ok(parse(&s, GOOD, sizeof(GOOD) - 1, &err, buf, sizeof(buf)) == 0 && s.balancer_uri == NULL,
		   "no balancer_uri: NULL (not a cluster, or the balancer was not stopped)");
	}
	{
		static const char rel[] = GOOD "releaser=/usr/libexec/m/mongo-backup-watchdog-release\0go=1\0fire=1\0"
					  "record=set=rs0\nphase=LOCKED\n\0";

		ok(parse(&s, rel, sizeof(rel) - 1, &err, buf, sizeof(buf)) == 0 &&
		   strcmp(s.releaser, "/usr/libexec/m/mongo-backup-watchdog-release") == 0 && s.fire &&
		   strcmp(s.record, "set=rs0\nphase=LOCKED\n") == 0, "the releaser, and what the watchdog hands it on: parsed");
		ok(parse(&s, GOOD, sizeof(GOOD) - 1, &err, buf, sizeof(buf)) == 0 && s.releaser == NULL && s.record == NULL &&
		   !s.fire, "  none of them given: none");
	}
	{
		static const char min[] = "uri=mongodb://h/\0state_dir=/s\0set=rs0\0token=" TOKEN "\0";

		ok(parse(&s, min, sizeof(min) - 1, &err, buf, sizeof(buf)) == 0 && s.username == NULL &&
		   s.password == NULL && s.connect_timeout_ms == 0, "no user, password or timeout: fine (the URI's)");
	}
}

static void
test_bad(void)
{
	static const struct {
		const char *text;
		size_t len;
		const char *msg;
	} bad[] = {
#define C(t, m) { t, sizeof(t) - 1, m }
		C(GOOD "bogus=1\0", "watchdog settings: item 8 has an unknown name (a run of another version?)"),
		C(GOOD "set=rs1\0", "watchdog settings: 'set' is given twice"),
		C(GOOD "go\0", "watchdog settings: item 8 has no '='"),
		C(GOOD "go=now\0", "watchdog settings: 'go' is not 1"),
		C(GOOD "go=\0", "watchdog settings: 'go' is not 1"),
		C("uri=mongodb://h/\0state_dir=/s\0set=rs0\0", "watchdog settings: 'token' is missing"),
		C("state_dir=/s\0set=rs0\0token=" TOKEN "\0", "watchdog settings: 'uri' is missing"),
		C("uri=\0state_dir=/s\0set=rs0\0token=" TOKEN "\0", "watchdog settings: 'uri' is empty"),
		C("uri=mongodb://h/\0set=rs0\0token=" TOKEN "\0", "watchdog settings: 'state_dir' is missing"),
		C("uri=mongodb://h/\0state_dir=s\0set=rs0\0token=" TOKEN "\0",
		  "watchdog settings: 'state_dir' is not an absolute path"),
		C("uri=mongodb://h/\0state_dir=/s\0set=../rs0\0token=" TOKEN "\0",
		  "watchdog settings: 'set' is not a replica set name"),
		C("uri=mongodb://h/\0state_dir=/s\0set=\0token=" TOKEN "\0",
		  "watchdog settings: 'set' is not a replica set name"),
		C("uri=mongodb://h/\0state_dir=/s\0set=rs0\0token=0123\0", "watchdog settings: 'token' is not 32 hex digits"),
		C("uri=mongodb://h/\0state_dir=/s\0set=rs0\0token=0123456789ABCDEF0123456789abcdef\0",
		  "watchdog settings: 'token' is not 32 hex digits"),
		C("uri=mongodb://h/\0state_dir=/s\0set=rs0\0token=" TOKEN "0\0",
		  "watchdog settings: 'token' is not 32 hex digits"),
		C("connect_timeout_ms=0\0", "watchdog settings: 'connect_timeout_ms' must be an integer between 1 and 600000"),
		C("connect_timeout_ms=600001\0",
		  "watchdog settings: 'connect_timeout_ms' must be an integer between 1 and 600000"),
		C("connect_timeout_ms=-5\0", "watchdog settings: 'connect_timeout_ms' must be an integer between 1 and 600000"),
		C("connect_timeout_ms=25x\0", "watchdog settings: 'connect_timeout_ms' must be an integer between 1 and 600000"),
		C("connect_timeout_ms=\0", "watchdog settings: 'connect_timeout_ms' must be an integer between 1 and 600000"),
		C("uri=mongodb://h/\0state_dir=/s", "watchdog settings: item 2 is cut short"),
		C("", "watchdog settings: 'uri' is missing"),
		C("member=db2\0", "watchdog settings: 'member' is not HOST:PORT (no :PORT)"),
		C("deadline=-1\0", "watchdog settings: 'deadline' is not an unsigned number"),
		C("deadline=99999999999999999999\0", "watchdog settings: 'deadline' is not an unsigned number"),
		C("deadline=9223372036854776\0", "watchdog settings: 'deadline' is not an unsigned number"),
		C("deadline_ms=9223372036854775808\0", "watchdog settings: 'deadline_ms' is not an unsigned number"),
		C("deadline_ms=1700007200250x\0", "watchdog settings: 'deadline_ms' is not an unsigned number"),
		C("deadline=1700007200\0deadline_ms=1700007200250\0",
		  "watchdog settings: 'deadline' and 'deadline_ms' are both given"),
		C("deadline_ms=1700007200250\0deadline=1700007200\0",
		  "watchdog settings: 'deadline_ms' and 'deadline' are both given"),
		C("command_start=12a\0", "watchdog settings: 'command_start' is not an unsigned number"),
		C("command_pid=4194305\0", "watchdog settings: 'command_pid' is not a pid (0 to 4194304)"),
		C("metrics_textfile=rs0.prom\0", "watchdog settings: 'metrics_textfile' is not an absolute path"),
		C("metrics_fsync=yes\0", "watchdog settings: 'metrics_fsync' is neither 0 nor 1"),
		C("balancer_uri=\0", "watchdog settings: 'balancer_uri' is empty"),
		C("uri=mongodb://h/\0state_dir=/s\0set=rs 0\0token=" TOKEN "\0",
		  "watchdog settings: 'set' is not a replica set name"),
		C("releaser=mongo-backup-watchdog-release\0", "watchdog settings: 'releaser' is not an absolute path"),
		C("record=\0", "watchdog settings: 'record' is empty"),
		C("fire=0\0", "watchdog settings: 'fire' is not 1"),
#undef C
	};
	mbh_watchdog_settings s;
	mbh_error err;
	char buf[1024];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ok(parse(&s, bad[i].text, bad[i].len, &err, buf, sizeof(buf)) == -1 && err.code == EX_DATAERR,
		   "refused with EX_DATAERR: %s", bad[i].msg);
		is_str(err.msg, bad[i].msg, "  message");
	}
	{
		static const char pw[] = "password=S3cret-pw\0password=S3cret-pw\0";

		ok(parse(&s, pw, sizeof(pw) - 1, &err, buf, sizeof(buf)) == -1 && strstr(err.msg, "S3cret") == NULL,
		   "a refused item is named, never quoted (the password)");
	}
}

static void
test_token(void)
{
	char a[MBH_TOKEN_LEN + 1], b[MBH_TOKEN_LEN + 1];
	mbh_watchdog_settings s;
	mbh_error err;
	char text[256], buf[256];
	int n;

	ok(mbh_token_new(a, sizeof(a)) == 0 && mbh_token_new(b, sizeof(b)) == 0 && strlen(a) == MBH_TOKEN_LEN &&
	   strcmp(a, b) != 0, "tokens: %d characters, two differ", MBH_TOKEN_LEN);
	n = snprintf(text, sizeof(text), "uri=mongodb://h/%cstate_dir=/s%cset=rs0%ctoken=%s%c", 0, 0, 0, a, 0);
	ok(n > 0 && parse(&s, text, (size_t)n, &err, buf, sizeof(buf)) == 0, "a fresh token is one the watchdog "
	   "accepts");
}

/* The guard's fire, counted: nothing is locked after the first. */
static int
count_fire(mbh_wd_guard *g, int attempt)
{
	(void)attempt;
	(*(int *)g->ctx)++;
	return 0;
}

static void
no_warn(mbh_wd_guard *g, const char *msg)
{
	(void)g;
	(void)msg;
}

/* What the watchdog hands its releaser: the record it learned, and "fire" (the deadline far off). */
static void
test_hand_on(void)
{
	static volatile sig_atomic_t no;
	mbh_state_rec r;
	mbh_watchdog_settings s;
	mbh_wd_guard g = { .stop = &no, .release_now = &no, .fire = count_fire, .warn = no_warn };
	mbh_error err;
	char text[2048];
	int fired = 0;

	memset(&r, 0, sizeof(r));
	snprintf(r.set_name, sizeof(r.set_name), "rs0");
	snprintf(r.member, sizeof(r.member), "db9:27017"); /* the file says another member: the handed one stays */
	snprintf(r.hostname, sizeof(r.hostname), "h");
	snprintf(r.mode, sizeof(r.mode), "exec");
	snprintf(r.token, sizeof(r.token), TOKEN);
	r.phase = MBH_PHASE_LOCKED;
	r.lock_count = 3;
	r.deadline = 1;
	r.command_pid = 77;
	r.pid = 4321;
	r.since = 1700000000;
	ok(mbh_state_format(&r, text, sizeof(text)) > 0, "a record to hand on: formatted");
	memset(&s, 0, sizeof(s));
	s.uri = "mongodb://h/";
	s.state_dir = "/nonexistent-mbh-dir";
	s.set = "rs0";
	s.token = TOKEN;
	s.member = "db2:27017";
	s.deadline_ms = 4102444800000; /* 2100: far off */
	s.go = s.fire = true;
	s.record = text;
	mbh_error_init(&err);
	ok(mbh_wd_guard_init(&g, &s, &err) == 0 && g.learned && g.fired, "the releaser takes it in, fired already");
	ok(g.rec.phase == MBH_PHASE_LOCKED && g.rec.lock_count == 3 && g.rec.command_pid == 77 &&
	   strcmp(g.rec.member, "db2:27017") == 0 && mbh_state_deadline_ms(&g.rec) == 4102444800000,
	   "  what it learned (LOCKED, lockCount, the command); the member and deadline it was handed stay");
	g.ctx = &fired;
	ok(mbh_wd_guard_run(&g) == 0 && fired == 1, "  it releases at once, the deadline far off, no record to read");
	snprintf(r.token, sizeof(r.token), "%s", "fedcba9876543210fedcba9876543210");
	ok(mbh_state_format(&r, text, sizeof(text)) > 0, "another lock's record");
	mbh_error_init(&err);
	ok(mbh_wd_guard_init(&g, &s, &err) != 0 && !g.learned && g.rec.phase == MBH_PHASE_LOCKING &&
	   strstr(err.msg, "another lock") != NULL, "  not taken in: what it was handed stays (%s)", err.msg);
	s.record = "phase=nonsense\n";
	mbh_error_init(&err);
	ok(mbh_wd_guard_init(&g, &s, &err) != 0 && !g.learned && err.code == EX_DATAERR,
	   "  a record that does not parse: refused, named (%s)", err.msg);
}

int
main(void)
{
	tap_init();
	test_good();
	test_bad();
	test_token();
	test_hand_on();
	return tap_done();
}
