/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_fdcommand.c: the plugin string "mongo: config=PATH[:member=..][:policy=..][:job=..]" (TAP). */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "fdcommand.h"
#include "tap.h"

/* Parse text; expect success with these values (NULL = unset). */
static void
parses(const char *text, const char *config, const char *member, const char *policy, const char *job)
{
	mbh_fdcommand *c = NULL;
	mbh_error err;
	char name[256];

	mbh_error_init(&err);
	if (!ok(mbh_fdcommand_parse(&c, text, &err) == 0 && c != NULL, "parses: %s", text)) {
		diag("  error: %s", err.msg);
		return;
	}
	snprintf(name, sizeof(name), "  %s: config", text);
	is_str(c->config, config, name);
	snprintf(name, sizeof(name), "  %s: member", text);
	is_str(c->member, member, name);
	snprintf(name, sizeof(name), "  %s: policy", text);
	is_str(c->policy, policy, name);
	snprintf(name, sizeof(name), "  %s: job", text);
	is_str(c->job, job, name);
	mbh_fdcommand_free(c);
}

/* Parse text; expect EX_CONFIG and exactly this message. */
static void
fails(const char *text, const char *msg)
{
	mbh_fdcommand *c = (mbh_fdcommand *)&c;
	mbh_error err;
	int rc;

	mbh_error_init(&err);
	rc = mbh_fdcommand_parse(&c, text, &err);
	ok(rc == -1 && c == NULL && err.code == EX_CONFIG, "refused: %s", text ? text : "(null)");
	is_str(err.msg, msg, "  the message");
}

static void
test_good(void)
{
	parses("mongo: config=/etc/mongo-backup/rs0.conf", "/etc/mongo-backup/rs0.conf", NULL, NULL, NULL);
	parses("mongo:config=/c", "/c", NULL, NULL, NULL);
	parses("mongo: config=/c:member=db2.example.net:27017", "/c", "db2.example.net:27017", NULL, NULL);
	parses("mongo: config=/c:member=127.0.0.2:27018:policy=member", "/c", "127.0.0.2:27018", "member", NULL);
	parses("mongo: config=/c:policy=local", "/c", NULL, "local", NULL);
	parses("mongo: config=/c:policy=auto:job=nightly", "/c", NULL, "auto", "nightly");
	parses("mongo: job=rs0 nightly:policy=auto:config=/c", "/c", NULL, "auto", "rs0 nightly");
	parses("mongo: config=/c : policy=local ", "/c", NULL, "local", NULL);
	parses("mongo: config=/srv/a:b/rs0.conf", "/srv/a:b/rs0.conf", NULL, NULL, NULL);
	parses("mongo: config=/c:member=[::1]:27017", "/c", "[::1]:27017", NULL, NULL);
	parses("mongo: config=/c:job=x=y", "/c", NULL, NULL, "x=y");
	parses("mongo: config=/c:member=h:1:job=j", "/c", "h:1", NULL, "j");
	parses("mongo: config=/c:member=h:65535", "/c", "h:65535", NULL, NULL);
	parses("mongo: config= /c :job=  a b ", "/c", NULL, NULL, "a b");
}

static void
test_bad(void)
{
	fails(NULL, "plugin string: does not start with \"mongo:\"");
	fails("bpipe:/a:b:c", "plugin string: does not start with \"mongo:\"");
	fails("mongo", "plugin string: does not start with \"mongo:\"");
	fails("mongodb: config=/c", "plugin string: does not start with \"mongo:\"");
	fails("mongo:", "plugin string: config= is missing (mongo: config=/etc/mongo-backup/SET.conf)");
	fails("mongo:   ", "plugin string: config= is missing (mongo: config=/etc/mongo-backup/SET.conf)");
	fails("mongo: policy=auto", "plugin string: config= is missing (mongo: config=/etc/mongo-backup/SET.conf)");
	fails("mongo: /etc/rs0.conf", "plugin string: \"/etc/rs0.conf\" is not KEY=VALUE (keys: config, member, policy, job)");
	fails("mongo: config=/c:polcy=auto",
	      "plugin string: unknown key \"polcy\" (keys: config, member, policy, job)");
	fails("mongo: Config=/c", "plugin string: unknown key \"Config\" (keys: config, member, policy, job)");
	fails("mongo: config=/c:uri=mongodb://h/", "plugin string: unknown key \"uri\" (keys: config, member, policy, job)");
	fails("mongo: config=/c:password=x", "plugin string: unknown key \"password\" (keys: config, member, policy, job)");
	fails("mongo: config=/c:config=/d", "plugin string: config= is given twice");
	fails("mongo: config=/c:job=a:job=b", "plugin string: job= is given twice");
	fails("mongo: config=", "plugin string: config= has an empty value");
	fails("mongo: config=  :policy=auto", "plugin string: config= has an empty value");
	fails("mongo: config=etc/rs0.conf", "plugin string: config=\"etc/rs0.conf\" is not an absolute path");
	fails("mongo: config=/c:policy=best", "plugin string: policy=\"best\" is not one of auto, local, member");
	fails("mongo: config=/c:policy=", "plugin string: policy= has an empty value");
	fails("mongo: config=/c:member=db2", "plugin string: member=\"db2\" is not HOST:PORT (no :PORT)");
	fails("mongo: config=/c:member=db2:0", "plugin string: member=\"db2:0\" is not HOST:PORT (the port is not between 1 and 65535)");
	fails("mongo: config=/c:member=db2:65536", "plugin string: member=\"db2:65536\" is not HOST:PORT (the port is not between 1 and 65535)");
	fails("mongo: config=/c:member=db2:27o17", "plugin string: member=\"db2:27o17\" is not HOST:PORT (the port is not a number)");
	fails("mongo: config=/c:member=:27017", "plugin string: member=\":27017\" is not HOST:PORT (no host before the ':')");
	fails("mongo: config=/c:member=a:b:27017", "plugin string: member=\"a:b:27017\" is not HOST:PORT (an IPv6 address needs brackets: [ADDRESS]:PORT)");
	fails("mongo: config=/c:member=db 2:27017", "plugin string: member=\"db 2:27017\" is not HOST:PORT (the host is longer than 255 bytes or holds one of / "
	      "@ ? , # [ ] or a blank)");
	fails("mongo: config=/c:job=caf\xe9",
	      "plugin string: job= holds a control character or invalid UTF-8: use a plain name");
	fails("mongo: config=/c:job=a\tb", "plugin string: job= holds a control character or invalid UTF-8: use a plain name");
	fails("mongo: config=/c:job="
	      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	      "plugin string: job= is 128 bytes long; at most 127 fit in the state record: use a shorter name (or "
	      "Bacula's job id, %i)");
}

int
main(void)
{
	tap_init();
	test_good();
	test_bad();
	return tap_done();
}
