/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_uri.c: redaction, URI building with credentials/timeouts, per-member URIs keeping TLS and auth (TAP). */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "uri.h"
#include "tap.h"

static void
test_redact(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "mongodb://u:pw@h/", "mongodb://u:*****@h/" },
		{ "mongodb://backup:p%40ss%3Aw@h1:27017,h2:27017/admin?replicaSet=rs0",
		  "mongodb://backup:*****@h1:27017,h2:27017/admin?replicaSet=rs0" },
		{ "mongodb://u:p@ss@h/?replicaSet=rs0", "mongodb://u:*****@h/?replicaSet=rs0" },
		{ "mongodb://u:a:b:c@h/", "mongodb://u:*****@h/" },
		{ "mongodb://u:p/w@h/db", "mongodb://u:*****@h/db" },
		{ "mongodb://u:p?w@h/", "mongodb://u:*****@h/" },
		{ "mongodb://u:@h/", "mongodb://u:*****@h/" },
		{ "mongodb://u@h/", "mongodb://u@h/" },
		{ "mongodb://h1,h2/?replicaSet=rs0", "mongodb://h1,h2/?replicaSet=rs0" },
		{ "mongodb+srv://u:pw@cluster0.example.com/?authSource=admin",
		  "mongodb+srv://u:*****@cluster0.example.com/?authSource=admin" },
		{ "mongodb://u:pw@h/?tls=true&tlsCertificateKeyFilePassword=keypw&tlsCAFile=/ca.pem",
		  "mongodb://u:*****@h/?tls=true&tlsCertificateKeyFilePassword=*****&tlsCAFile=/ca.pem" },
		{ "mongodb://h/?TLSCERTIFICATEKEYFILEPASSWORD=keypw", "mongodb://h/?TLSCERTIFICATEKEYFILEPASSWORD=*****" },
		{ "http://u:secret@h", "http://u:*****@h" },
		{ "u:secret@h", "u:*****@h" },
		{ "not a uri", "not a uri" },
		{ "", "" },
	};
	char out[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mbh_uri_redact(cases[i].in, out, sizeof(out));
		is_str(out, cases[i].out, cases[i].in[0] ? cases[i].in : "(empty)");
	}
	mbh_uri_redact("mongodb://u:pw@h/", out, 13);
	is_str(out, "mongodb://u:", "truncated to outlen, NUL-terminated");
	mbh_uri_redact("mongodb://u:pw@h\x1b[2J\r\n/?x=\xc2\x9b", out, sizeof(out));
	is_str(out, "mongodb://u:*****@h\\x1b[2J\\x0d\\x0a/?x=\\xc2\\x9b", "control characters are escaped");
	mbh_uri_redact("mongodb://h/\x1b", out, 15);
	is_str(out, "mongodb://h/", "truncated before an escape, not inside it");
	mbh_uri_redact("mongodb://h/\xe2\x82\xac", out, 15);
	is_str(out, "mongodb://h/", "truncated before a UTF-8 character, not inside it");
	mbh_uri_redact(NULL, out, sizeof(out));
	is_str(out, "", "NULL");
}

static void
test_userinfo(void)
{
	mbh_uri_userinfo ui;
	const char *u = "mongodb://bob:p%40ss@h1,h2/";
	char host[64];
	int port = 0;

	mbh_uri_find_userinfo(u, strlen(u), &ui);
	ok(ui.present && ui.has_password, "userinfo with a password found");
	ok(ui.user_len == 3 && strncmp(u + ui.user_off, "bob", 3) == 0, "user span");
	ok(ui.pw_len == 6 && strncmp(u + ui.pw_off, "p%40ss", 6) == 0, "password span (raw)");
	{
		char *d = mbh_uri_unescape(u + ui.pw_off, ui.pw_len);

		is_str(d, "p@ss", "unescaped password");
		free(d);
		d = mbh_uri_unescape("a%zz%4", 6);
		is_str(d, "a%zz%4", "invalid escapes are kept");
		free(d);
	}
	ok(mbh_hostport_split("db1.example.com:27018", host, sizeof(host), &port) == 0 &&
	   strcmp(host, "db1.example.com") == 0 && port == 27018, "split host:port");
	ok(mbh_hostport_split("[::1]:40001", host, sizeof(host), &port) == 0 && strcmp(host, "::1") == 0 &&
	   port == 40001, "split [v6]:port");
	ok(mbh_hostport_split("db1", host, sizeof(host), &port) == 0 && port == 27017, "no port means 27017");
	ok(mbh_hostport_split("db1:0", host, sizeof(host), &port) != 0, "port 0 refused");
	ok(mbh_hostport_split("db1:65536", host, sizeof(host), &port) != 0, "port 65536 refused");
	ok(mbh_hostport_split("db1:27017x", host, sizeof(host), &port) != 0, "trailing garbage refused");
	ok(mbh_hostport_split("::1:27017", host, sizeof(host), &port) != 0, "unbracketed IPv6 refused");
	ok(mbh_hostport_split(":27017", host, sizeof(host), &port) != 0, "empty host refused");
	ok(mbh_hostport_split("u@h:1", host, sizeof(host), &port) != 0, "'@' refused");
	ok(mbh_hostport_split("[[[]", host, sizeof(host), &port) != 0, "'[' inside brackets refused (fuzz-uri)");
	ok(mbh_hostport_split("h]:1", host, sizeof(host), &port) != 0, "']' in a host refused");
	ok(mbh_hostport_split("averyveryverylonghostname:1", host, 8, &port) != 0, "too long for the buffer");
}

/* A member address as a user writes it: the port is required. */
static void
test_hostport_check(void)
{
	static const struct {
		const char *in, *why;
	} cases[] = {
		{ "db2.example.net:27017", NULL },
		{ "[::1]:40001", NULL },
		{ "10.0.0.2:1", NULL },
		{ "h:65535", NULL },
		{ "db2", "no :PORT" },
		{ "[::1]", "no :PORT" },
		{ "", "it is empty" },
		{ ":27017", "no host before the ':'" },
		{ "[]:27017", "no host before the ':'" },
		{ "db2:", "no port after the ':'" },
		{ "db2:0", "the port is not between 1 and 65535" },
		{ "db2:65536", "the port is not between 1 and 65535" },
		{ "db2:0000001", "the port is not between 1 and 65535" },
		{ "db2:-1", "the port is not a number" },
		{ "db2:+1", "the port is not a number" },
		{ "db2:27017x", "the port is not a number" },
		{ "::1:27017", "an IPv6 address needs brackets: [ADDRESS]:PORT" },
		{ "[::1:27017", "the '[' of an IPv6 address is not closed" },
		{ "[::1]x:1", "']' must be followed by :PORT" },
		{ "db\x1b[2J:1", "the host holds a control character" },
		{ "u@db:1", "the host is longer than 255 bytes or holds one of / @ ? , # [ ] or a blank" },
		{ "d b:1", "the host is longer than 255 bytes or holds one of / @ ? , # [ ] or a blank" },
	};
	char why[128];
	size_t i;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		r = mbh_hostport_check(cases[i].in, why, sizeof(why));
		if (cases[i].why == NULL)
			ok(r == 0, "member address '%s' accepted", cases[i].in);
		else
			ok(r == -1 && strcmp(why, cases[i].why) == 0, "member address '%s' refused: %s (got: %s)",
			   cases[i].in, cases[i].why, why);
	}
}

/* A config with just these fields (not finished: build() must not need finish). */
static mbh_config *
cfg_with(const char *uri, const char *user, const char *pw, int connect_ms)
{
	mbh_config *c = NULL;
	mbh_error err;

	mbh_config_new(&c, &err);
	if (uri)
		c->uri = strdup(uri);
	if (user)
		c->username = strdup(user);
	if (pw)
		c->password = strdup(pw);
	c->connect_timeout_ms = connect_ms;
	return c;
}

/* mbh_uri_build with a config's settings, as the job does. */
static int
build(mongoc_uri_t **out, const mbh_config *c, mbh_error *err)
{
	mbh_uri_settings us;

	mbh_config_uri_settings(c, &us);
	return mbh_uri_build(out, &us, err);
}

static void
build_fails(const char *uri, const char *want, const char *secret)
{
	mbh_config *c = cfg_with(uri, NULL, NULL, -1);
	mongoc_uri_t *u = NULL;
	mbh_error err;
	int r;

	mbh_error_init(&err);
	r = build(&u, c, &err);
	ok(r != 0 && u == NULL && err.code == EX_USAGE, "build fails with EX_USAGE: %s", want);
	is_str(err.msg, want, "  message");
	if (secret != NULL)
		ok(strstr(err.msg, secret) == NULL, "  the message does not hold '%s'", secret);
	mongoc_uri_destroy(u);
	mbh_config_free(c);
}

static void
test_build(void)
{
	mbh_config *c;
	mongoc_uri_t *u = NULL;
	mbh_error err;

	c = cfg_with("mongodb://bob:uripw@h1,h2/?replicaSet=rs0", NULL, "filepw", -1);
	ok(build(&u, c, &err) == 0 && u != NULL, "build a replica-set URI");
	if (u != NULL) {
		is_str(mongoc_uri_get_password(u), "filepw", "the password file wins over the URI's password");
		is_str(mongoc_uri_get_username(u), "bob", "user from the URI");
		is_int(mongoc_uri_get_option_as_int32(u, MONGOC_URI_CONNECTTIMEOUTMS, 0), 5000, "connectTimeoutMS 5000");
		is_int(mongoc_uri_get_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 0), 10000,
		       "serverSelectionTimeoutMS 10000");
		is_int(mongoc_uri_get_option_as_int32(u, MONGOC_URI_SOCKETTIMEOUTMS, 0), 120000, "socketTimeoutMS 120000");
		is_str(mongoc_uri_get_appname(u), "mongo-backup-hooks", "appname");
		is_str(mongoc_uri_get_replica_set(u), "rs0", "replicaSet kept");
	}
	mongoc_uri_destroy(u);
	u = NULL;
	mbh_config_free(c);

	c = cfg_with("mongodb://bob@h/?serverSelectionTimeoutMS=2000&socketTimeoutMS=3000&connectTimeoutMS=4000"
	             "&appname=site-backup",
	             "alice", NULL, -1);
	ok(build(&u, c, &err) == 0, "build with the URI's own timeouts");
	if (u != NULL) {
		is_str(mongoc_uri_get_username(u), "alice", "username from the config wins");
		is_int(mongoc_uri_get_option_as_int32(u, MONGOC_URI_CONNECTTIMEOUTMS, 0), 4000, "URI connectTimeoutMS kept");
		is_int(mongoc_uri_get_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 0), 2000,
		       "URI serverSelectionTimeoutMS kept");
		is_int(mongoc_uri_get_option_as_int32(u, MONGOC_URI_SOCKETTIMEOUTMS, 0), 3000, "URI socketTimeoutMS kept");
		is_str(mongoc_uri_get_appname(u), "site-backup", "URI appname kept");
	}
	mongoc_uri_destroy(u);
	u = NULL;
	mbh_config_free(c);

	c = cfg_with("mongodb://h/?connectTimeoutMS=4000", NULL, NULL, 700);
	ok(build(&u, c, &err) == 0 &&
	   mongoc_uri_get_option_as_int32(u, MONGOC_URI_CONNECTTIMEOUTMS, 0) == 700,
	   "connect_timeout_ms of the config wins");
	mongoc_uri_destroy(u);
	u = NULL;
	mbh_config_free(c);

	c = cfg_with("mongodb+srv://u:p@cluster0.example.invalid/?authSource=admin", NULL, NULL, -1);
	ok(build(&u, c, &err) == 0, "mongodb+srv:// accepted without resolving it");
	if (u != NULL) {
		is_str(mongoc_uri_get_srv_hostname(u), "cluster0.example.invalid", "SRV host name kept for the driver");
		ok(mongoc_uri_get_tls(u), "SRV implies TLS");
	}
	mongoc_uri_destroy(u);
	u = NULL;
	mbh_config_free(c);

	c = cfg_with(NULL, NULL, NULL, -1);
	ok(build(&u, c, &err) != 0 && err.code == EX_CONFIG, "no URI: EX_CONFIG");
	mbh_config_free(c);

	build_fails("mongodb://u:in:pw@h/",
	            "invalid connection string mongodb://u:*****@h/: Password \"*****\" must not have unescaped chars. "
	            "Percent-encode username and password according to RFC 3986",
	            "in:pw");
	build_fails("mongodb://u:secret@h:99999/", "invalid connection string mongodb://u:*****@h:99999/: "
	            "Invalid host string in URI", "secret");
	build_fails("http://u:secret@h/", "invalid connection string http://u:*****@h/: "
	            "Invalid URI Schema, expecting 'mongodb://' or 'mongodb+srv://'", "secret");
	build_fails("mongodb://h/?connectTimeoutMS=abc", "invalid connection string mongodb://h/?connectTimeoutMS=abc: "
	            "Unsupported value for \"connecttimeoutms\": \"abc\"", NULL);
	build_fails("mongodb://u:Zq9pw@a\x1b[31mRED/?replicaSet=rs0",
	            "invalid connection string mongodb://u:*****@a\\x1b[31mRED/?replicaSet=rs0: it holds a control "
	            "character (percent-encode it where it belongs, e.g. %09 for a tab)", "Zq9pw");
	build_fails("mongodb://h/?appname=x\ty", "invalid connection string mongodb://h/?appname=x\\x09y: it holds a "
	            "control character (percent-encode it where it belongs, e.g. %09 for a tab)", NULL);
	build_fails("mongodb://h/?connectTimeoutMS=\xe9", "invalid connection string mongodb://h/?connectTimeoutMS=\\xe9: "
	            "Invalid UTF-8 in URI", NULL);
	build_fails("mongodb://u:pw@h1:1,h2:2/?directConnection=true",
	            "invalid connection string mongodb://u:*****@h1:1,h2:2/?directConnection=true: "
	            "Multiple seeds not allowed with directConnection option", "pw@");
}

static void
test_member(void)
{
	const char *base_str =
	    "mongodb://backup:p%40ss@h1:27017,h2:27017/appdb?replicaSet=rs0&tls=true&tlsCAFile=/etc/ca.pem"
	    "&tlsCertificateKeyFile=/etc/client.pem&tlsCertificateKeyFilePassword=keypw"
	    "&tlsAllowInvalidHostnames=true&authSource=admin&authMechanism=SCRAM-SHA-256"
	    "&compressors=zlib&zlibCompressionLevel=4&readPreference=secondaryPreferred&w=majority"
	    "&heartbeatFrequencyMS=15000";
	const mongoc_host_list_t *hosts;
	mongoc_uri_t *base = NULL, *m = NULL;
	mbh_config *c;
	mbh_error err;

	c = cfg_with(base_str, NULL, NULL, 3000);
	if (!ok(build(&base, c, &err) == 0, "base URI with TLS and auth options builds")) {
		diag("%s", err.msg);
		mbh_config_free(c);
		return;
	}
	ok(mbh_uri_for_member(&m, base, "h3.example.com:27019", &err) == 0 && m != NULL, "member URI");
	if (m != NULL) {
		hosts = mongoc_uri_get_hosts(m);
		ok(hosts && !hosts->next && strcmp(hosts->host, "h3.example.com") == 0 && hosts->port == 27019,
		   "exactly the member as host");
		ok(mongoc_uri_get_option_as_bool(m, MONGOC_URI_DIRECTCONNECTION, false), "directConnection=true");
		ok(mongoc_uri_get_replica_set(m) == NULL, "no replicaSet");
		ok(mongoc_uri_get_tls(m), "tls kept");
		is_str(mongoc_uri_get_option_as_utf8(m, MONGOC_URI_TLSCAFILE, NULL), "/etc/ca.pem", "tlsCAFile kept");
		is_str(mongoc_uri_get_option_as_utf8(m, MONGOC_URI_TLSCERTIFICATEKEYFILE, NULL), "/etc/client.pem",
		       "tlsCertificateKeyFile kept");
		is_str(mongoc_uri_get_option_as_utf8(m, MONGOC_URI_TLSCERTIFICATEKEYFILEPASSWORD, NULL), "keypw",
		       "tlsCertificateKeyFilePassword kept");
		ok(mongoc_uri_get_option_as_bool(m, MONGOC_URI_TLSALLOWINVALIDHOSTNAMES, false),
		   "tlsAllowInvalidHostnames kept");
		is_str(mongoc_uri_get_username(m), "backup", "username kept");
		is_str(mongoc_uri_get_password(m), "p@ss", "password kept");
		is_str(mongoc_uri_get_auth_source(m), "admin", "authSource kept");
		is_str(mongoc_uri_get_auth_mechanism(m), "SCRAM-SHA-256", "authMechanism kept");
		is_str(mongoc_uri_get_database(m), "appdb", "database kept");
		is_int(mongoc_uri_get_option_as_int32(m, MONGOC_URI_CONNECTTIMEOUTMS, 0), 3000, "connectTimeoutMS kept");
		is_int(mongoc_uri_get_option_as_int32(m, MONGOC_URI_SOCKETTIMEOUTMS, 0), 120000, "socketTimeoutMS kept");
		is_int(mongoc_uri_get_option_as_int32(m, MONGOC_URI_HEARTBEATFREQUENCYMS, 0), 15000,
		       "heartbeatFrequencyMS kept");
		is_int(mongoc_uri_get_option_as_int32(m, MONGOC_URI_ZLIBCOMPRESSIONLEVEL, 0), 4, "zlibCompressionLevel kept");
		is_str(mongoc_uri_get_appname(m), "mongo-backup-hooks", "appname kept");
		ok(mongoc_uri_get_compressors(m) && bson_has_field(mongoc_uri_get_compressors(m), "zlib"),
		   "compressors kept");
		is_str(mongoc_write_concern_get_wtag(mongoc_uri_get_write_concern(m)), NULL, "w:majority is not a tag");
		ok(mongoc_write_concern_get_wmajority(mongoc_uri_get_write_concern(m)), "write concern kept");
	}
	mongoc_uri_destroy(m);
	m = NULL;

	ok(mbh_uri_for_member(&m, base, "[::1]:40002", &err) == 0 && m != NULL &&
	   strcmp(mongoc_uri_get_hosts(m)->host, "::1") == 0 && mongoc_uri_get_hosts(m)->port == 40002,
	   "IPv6 member");
	mongoc_uri_destroy(m);
	m = NULL;

	mbh_error_init(&err);
	ok(mbh_uri_for_member(&m, base, "h3:notaport", &err) != 0 && m == NULL && err.code == EX_DATAERR,
	   "a bad member address fails with EX_DATAERR");
	is_str(err.msg, "invalid member address 'h3:notaport': expected HOST:PORT", "  message");
	mongoc_uri_destroy(base);
	base = NULL;
	mbh_config_free(c);

	/* Without authSource the user lives in the URI's database: the member must keep it. */
	c = cfg_with("mongodb://u:p@h1,h2/appdb?replicaSet=rs0", NULL, NULL, -1);
	ok(build(&base, c, &err) == 0 && mbh_uri_for_member(&m, base, "h2:27017", &err) == 0 &&
	   strcmp(mongoc_uri_get_auth_source(m), "appdb") == 0, "implicit auth source (the database) kept");
	mongoc_uri_destroy(m);
	m = NULL;
	mongoc_uri_destroy(base);
	base = NULL;
	mbh_config_free(c);

	c = cfg_with("mongodb://h1/?replicaSet=rs0&authMechanism=MONGODB-X509&tls=true"
	             "&tlsCertificateKeyFile=/etc/x509.pem", NULL, NULL, -1);
	ok(build(&base, c, &err) == 0 && mbh_uri_for_member(&m, base, "h1:27017", &err) == 0 &&
	   strcmp(mongoc_uri_get_auth_mechanism(m), "MONGODB-X509") == 0 &&
	   strcmp(mongoc_uri_get_auth_source(m), "$external") == 0, "X.509 without a user name: mechanism and source");
	mongoc_uri_destroy(m);
	m = NULL;
	mongoc_uri_destroy(base);
	base = NULL;
	mbh_config_free(c);

	c = cfg_with("mongodb://u:p@h1/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:other", NULL, NULL, -1);
	if (build(&base, c, &err) == 0 && mbh_uri_for_member(&m, base, "h1:27017", &err) == 0) {
		bson_t props;
		bson_iter_t it;

		ok(mongoc_uri_get_mechanism_properties(m, &props) && bson_iter_init_find(&it, &props, "SERVICE_NAME") &&
		   strcmp(bson_iter_utf8(&it, NULL), "other") == 0, "authMechanismProperties kept");
	} else {
		ok(0, "authMechanismProperties kept (%s)", err.msg);
	}
	mongoc_uri_destroy(m);
	mongoc_uri_destroy(base);
	mbh_config_free(c);
}

int
main(void)
{
	tap_init();
	mongoc_init();
	test_redact();
	test_userinfo();
	test_hostport_check();
	test_build();
	test_member();
	mongoc_cleanup();
	return tap_done();
}
