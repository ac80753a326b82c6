/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* uri.c: connection strings: validate, apply credentials and timeouts, per-member URIs, redaction. */
#include "autoconfig.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "escape.h"
#include "uri.h"

#define MASK "*****"

/* Timeouts for a backup hook when the URI says nothing (milliseconds). */
#define DEFAULT_SERVER_SELECTION_TIMEOUT_MS 10000
/* fsync with lock:true flushes everything first: give it time before the socket gives up. */
#define DEFAULT_SOCKET_TIMEOUT_MS 120000
#define APPNAME "mongo-backup-hooks"

/* Options of the query whose values are secrets, lower case. */
static const char *const secret_options[] = {
	"tlscertificatekeyfilepassword=",
	"sslclientcertificatekeypassword=",
};

/* Options a per-member URI must not inherit (or gets through a dedicated setter). */
static const char *const member_skip_options[] = {
	MONGOC_URI_REPLICASET, MONGOC_URI_DIRECTCONNECTION, MONGOC_URI_LOADBALANCED,
	MONGOC_URI_SRVSERVICENAME, MONGOC_URI_SRVMAXHOSTS, MONGOC_URI_APPNAME,
	MONGOC_URI_READPREFERENCE, MONGOC_URI_READPREFERENCETAGS, MONGOC_URI_MAXSTALENESSSECONDS,
	MONGOC_URI_W, MONGOC_URI_WTIMEOUTMS, MONGOC_URI_JOURNAL, MONGOC_URI_SAFE,
	MONGOC_URI_READCONCERNLEVEL,
};

/* Last occurrence of c in s[from..to), or -1. */
static long
last_char(const char *s, size_t from, size_t to, char c)
{
	size_t i;

	for (i = to; i > from; i--)
		if (s[i - 1] == c)
			return (long)(i - 1);
	return -1;
}

/* Locate user and password; see uri.h. */
void
mbh_uri_find_userinfo(const char *uri, size_t len, mbh_uri_userinfo *out)
{
	const char *scheme_end, *q;
	size_t start = 0, qend, i;
	long at;

	memset(out, 0, sizeof(*out));
	if (uri == NULL)
		return;
	scheme_end = memmem(uri, len, "://", 3);
	if (scheme_end != NULL)
		start = (size_t)(scheme_end - uri) + 3;
	q = memchr(uri + start, '?', len - start);
	qend = q ? (size_t)(q - uri) : len;
	at = last_char(uri, start, qend, '@');
	/* An unescaped '?' in the password hides the '@': look further rather than leak it. */
	if (at < 0)
		at = last_char(uri, start, len, '@');
	if (at < 0)
		return;
	out->present = true;
	out->at_off = (size_t)at;
	out->user_off = start;
	out->user_len = (size_t)at - start;
	for (i = start; i < (size_t)at; i++) {
		if (uri[i] == ':') {
			out->has_password = true;
			out->user_len = i - start;
			out->pw_off = i + 1;
			out->pw_len = (size_t)at - (i + 1);
			break;
		}
	}
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode; see uri.h. */
char *
mbh_uri_unescape(const char *src, size_t len)
{
	char *out;
	size_t i, o = 0;

	out = malloc(len + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (src[i] == '%' && i + 2 < len && hexval(src[i + 1]) >= 0 && hexval(src[i + 2]) >= 0) {
			out[o++] = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
			i += 2;
		} else {
			out[o++] = src[i];
		}
	}
	out[o] = '\0';
	return out;
}

/* Mask the values of secret query options in s (in place: the result is built into a new string). */
static char *
mask_secret_options(char *s, size_t from)
{
	size_t i, k, klen, vend, slen = strlen(s);
	char *n;

	for (i = from; i < slen; i++) {
		if (i > 0 && s[i - 1] != '?' && s[i - 1] != '&')
			continue;
		for (k = 0; k < sizeof(secret_options) / sizeof(secret_options[0]); k++) {
			klen = strlen(secret_options[k]);
			if (strncasecmp(s + i, secret_options[k], klen) != 0)
				continue;
			vend = i + klen;
			while (vend < slen && s[vend] != '&')
				vend++;
			if (vend - (i + klen) == 5 && strncmp(s + i + klen, MASK, 5) == 0)
				continue;
			n = malloc(slen - (vend - (i + klen)) + strlen(MASK) + 1);
			if (n == NULL) {
				free(s);
				return NULL;
			}
			memcpy(n, s, i + klen);
			memcpy(n + i + klen, MASK, strlen(MASK));
			memcpy(n + i + klen + strlen(MASK), s + vend, slen - vend + 1);
			free(s);
			s = n;
			slen = strlen(s);
		}
	}
	return s;
}

/* Mask the password and secret options of uri[0..len) into a new string, not escaped; NULL on no memory. */
static char *
redact_raw(const char *uri, size_t len)
{
	mbh_uri_userinfo ui;
	char *out;
	size_t o;

	if (uri == NULL)
		return strdup("");
	mbh_uri_find_userinfo(uri, len, &ui);
	out = malloc(len + strlen(MASK) + 1);
	if (out == NULL)
		return NULL;
	if (ui.has_password) {
		memcpy(out, uri, ui.pw_off);
		memcpy(out + ui.pw_off, MASK, strlen(MASK));
		o = ui.pw_off + strlen(MASK);
		memcpy(out + o, uri + ui.at_off, len - ui.at_off);
		out[o + len - ui.at_off] = '\0';
	} else {
		memcpy(out, uri, len);
		out[len] = '\0';
	}
	return mask_secret_options(out, ui.present ? ui.pw_off : 0);
}

/* Redact into a new string, control characters escaped; see uri.h. */
char *
mbh_uri_redact_dup(const char *uri, size_t len)
{
	char *raw, *esc;

	if ((raw = redact_raw(uri, len)) == NULL)
		return NULL;
	esc = mbh_escape_dup(raw, strlen(raw));
	explicit_bzero(raw, strlen(raw));
	free(raw);
	return esc;
}

/* Redact into a caller's buffer; escaping last cuts at a whole character or escape. */
void
mbh_uri_redact(const char *uri, char *out, size_t outlen)
{
	char *r;

	if (out == NULL || outlen == 0)
		return;
	r = redact_raw(uri, uri ? strlen(uri) : 0);
	mbh_escape(r ? r : "(connection string withheld)", out, outlen);
	if (r != NULL)
		explicit_bzero(r, strlen(r));
	free(r);
}

/* Replace every occurrence of needle in buf (NUL-terminated, size buflen) by MASK. */
static void
mask_in_place(char *buf, size_t buflen, const char *needle)
{
	char tmp[MBH_ERRMSG_LEN];
	size_t nlen, o = 0;
	const char *p;

	if (needle == NULL || needle[0] == '\0')
		return;
	nlen = strlen(needle);
	p = buf;
	while (*p != '\0' && o + 1 < sizeof(tmp)) {
		if (strncmp(p, needle, nlen) == 0) {
			o += (size_t)snprintf(tmp + o, sizeof(tmp) - o, "%s", MASK);
			if (o >= sizeof(tmp))
				o = sizeof(tmp) - 1;
			p += nlen;
		} else {
			tmp[o++] = *p++;
		}
	}
	tmp[o] = '\0';
	snprintf(buf, buflen, "%s", tmp);
}

/* The driver's parse error without anything secret (it may quote the password) nor a control character. */
static void
clean_driver_message(const char *uri, const char *msg, char *out, size_t outlen)
{
	char buf[MBH_ERRMSG_LEN];
	mbh_uri_userinfo ui;
	char *raw = NULL, *dec = NULL;

	snprintf(buf, sizeof(buf), "%s", msg);
	mbh_uri_find_userinfo(uri, strlen(uri), &ui);
	if (ui.has_password && ui.pw_len > 0) {
		raw = strndup(uri + ui.pw_off, ui.pw_len);
		dec = mbh_uri_unescape(uri + ui.pw_off, ui.pw_len);
		if (raw == NULL || dec == NULL) {
			snprintf(buf, sizeof(buf), "(driver message withheld)");
		} else {
			mask_in_place(buf, sizeof(buf), raw);
			mask_in_place(buf, sizeof(buf), dec);
		}
	}
	/* one line, no raw control characters */
	for (char *c = buf; *c != '\0'; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	mbh_escape(buf, out, outlen);
	if (raw != NULL)
		explicit_bzero(raw, strlen(raw));
	if (dec != NULL)
		explicit_bzero(dec, strlen(dec));
	free(raw);
	free(dec);
}

/* Parse in->uri and apply the settings on top; see uri.h. */
int
mbh_uri_build(mongoc_uri_t **out, const mbh_uri_settings *in, mbh_error *err)
{
	mongoc_uri_t *uri = NULL;
	bson_error_t berr;
	char red[MBH_ERRMSG_LEN / 2], dmsg[MBH_ERRMSG_LEN / 2];
	const char *p;
	int rc = -1;

	*out = NULL;
	if (in == NULL || in->uri == NULL || in->uri[0] == '\0') {
		mbh_error_set(err, EX_CONFIG, "no connection string: set uri in the config file or MONGO_BACKUP_URI");
		goto out;
	}
	/* No host, option or credential has one; the driver would quote it raw in later messages. */
	for (p = in->uri; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			mbh_uri_redact(in->uri, red, sizeof(red));
			mbh_error_set(err, EX_USAGE, "invalid connection string %s: it holds a control character "
			              "(percent-encode it where it belongs, e.g. %%09 for a tab)", red);
			goto out;
		}
	memset(&berr, 0, sizeof(berr));
	uri = mongoc_uri_new_with_error(in->uri, &berr);
	if (uri == NULL) {
		mbh_uri_redact(in->uri, red, sizeof(red));
		clean_driver_message(in->uri, berr.message, dmsg, sizeof(dmsg));
		mbh_error_set(err, EX_USAGE, "invalid connection string %s: %s", red, dmsg);
		goto out;
	}
	if (in->username != NULL && !mongoc_uri_set_username(uri, in->username)) {
		mbh_error_set(err, EX_CONFIG, "username is not valid UTF-8");
		goto out;
	}
	/* A password from password_file wins over one in the URI. */
	if (in->password != NULL && !mongoc_uri_set_password(uri, in->password)) {
		mbh_error_set(err, EX_CONFIG, "the password in %s is not valid UTF-8",
		              in->password_file ? mbh_escape(in->password_file, red, sizeof(red)) : "the password file");
		goto out;
	}
	if (in->connect_timeout_ms > 0)
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, in->connect_timeout_ms);
	else if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, MBH_URI_CONNECT_TIMEOUT_MS);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
		                               DEFAULT_SERVER_SELECTION_TIMEOUT_MS);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, DEFAULT_SOCKET_TIMEOUT_MS);
	if (mongoc_uri_get_appname(uri) == NULL)
		mongoc_uri_set_appname(uri, APPNAME);
	*out = uri;
	uri = NULL;
	rc = 0;
out:
	mongoc_uri_destroy(uri);
	return rc;
}

static bool
member_skips(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(member_skip_options) / sizeof(member_skip_options[0]); i++)
		if (strcasecmp(key, member_skip_options[i]) == 0)
			return true;
	return false;
}

/* Copy the general options (TLS, timeouts, ...) of base onto m; the member-only ones too when all. */
static int
copy_options(mongoc_uri_t *m, const mongoc_uri_t *base, bool all, mbh_error *err)
{
	const bson_t *opts = mongoc_uri_get_options(base);
	bson_iter_t it;
	const char *key;
	bool ok;

	if (opts == NULL || !bson_iter_init(&it, opts))
		return 0;
	while (bson_iter_next(&it)) {
		key = bson_iter_key(&it);
		if (!all && member_skips(key))
			continue;
		ok = true;
		if (BSON_ITER_HOLDS_BOOL(&it) && mongoc_uri_option_is_bool(key))
			ok = mongoc_uri_set_option_as_bool(m, key, bson_iter_bool(&it));
		else if (BSON_ITER_HOLDS_INT32(&it) && mongoc_uri_option_is_int32(key))
			ok = mongoc_uri_set_option_as_int32(m, key, bson_iter_int32(&it));
		else if ((BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it)) &&
		         mongoc_uri_option_is_int64(key))
			ok = mongoc_uri_set_option_as_int64(m, key, bson_iter_as_int64(&it));
		else if (BSON_ITER_HOLDS_UTF8(&it) && mongoc_uri_option_is_utf8(key))
			ok = mongoc_uri_set_option_as_utf8(m, key, bson_iter_utf8(&it, NULL));
		if (!ok)
			return mbh_error_set(err, EX_SOFTWARE, "cannot copy the option %s to a member's connection string", key);
	}
	return 0;
}

/* Copy user, password, auth source, mechanism and its properties. */
static int
copy_credentials(mongoc_uri_t *m, const mongoc_uri_t *base, mbh_error *err)
{
	const char *user = mongoc_uri_get_username(base);
	const char *pw = mongoc_uri_get_password(base);
	const char *mech = mongoc_uri_get_auth_mechanism(base);
	const char *db = mongoc_uri_get_database(base);
	bson_t props;

	if (db != NULL && !mongoc_uri_set_database(m, db))
		goto fail;
	if (user != NULL && !mongoc_uri_set_username(m, user))
		goto fail;
	if (pw != NULL && !mongoc_uri_set_password(m, pw))
		goto fail;
	if (mech != NULL && !mongoc_uri_set_auth_mechanism(m, mech))
		goto fail;
	/* Where the user is defined: explicit, or implied by database and mechanism. */
	if ((user != NULL || mech != NULL) && !mongoc_uri_set_auth_source(m, mongoc_uri_get_auth_source(base)))
		goto fail;
	if (mongoc_uri_get_mechanism_properties(base, &props)) {
		if (!mongoc_uri_set_mechanism_properties(m, &props))
			goto fail;
	}
	return 0;
fail:
	return mbh_error_set(err, EX_SOFTWARE, "cannot copy the credentials to a member's connection string");
}

/* Copy the compressor list ("snappy,zlib"). */
static int
copy_compressors(mongoc_uri_t *m, const mongoc_uri_t *base, mbh_error *err)
{
	const bson_t *comp = mongoc_uri_get_compressors(base);
	char list[256];
	size_t used = 0;
	bson_iter_t it;
	int n;

	list[0] = '\0';
	if (comp == NULL || !bson_iter_init(&it, comp))
		return 0;
	while (bson_iter_next(&it)) {
		n = snprintf(list + used, sizeof(list) - used, "%s%s", used ? "," : "", bson_iter_key(&it));
		if (n < 0 || (size_t)n >= sizeof(list) - used)
			return mbh_error_set(err, EX_SOFTWARE, "too many compressors in the connection string");
		used += (size_t)n;
	}
	if (used > 0 && !mongoc_uri_set_compressors(m, list))
		return mbh_error_set(err, EX_SOFTWARE, "cannot copy the compressors to a member's connection string");
	return 0;
}

/* A direct-connection URI for one member; see uri.h. */
int
mbh_uri_for_member(mongoc_uri_t **out, const mongoc_uri_t *base, const char *host_port, mbh_error *err)
{
	mongoc_uri_t *m = NULL;
	char host[256], str[300], quoted[MBH_ERRMSG_LEN / 2], dmsg[MBH_ERRMSG_LEN / 2];
	bson_error_t berr;
	const char *appname;
	int port, rc = -1;

	*out = NULL;
	if (mbh_hostport_split(host_port, host, sizeof(host), &port) != 0) {
		mbh_error_set(err, EX_DATAERR, "invalid member address '%s': expected HOST:PORT",
		              mbh_escape(host_port, quoted, sizeof(quoted)));
		goto out;
	}
	snprintf(str, sizeof(str), strchr(host, ':') ? "mongodb://[%s]:%d/" : "mongodb://%s:%d/", host, port);
	memset(&berr, 0, sizeof(berr));
	m = mongoc_uri_new_with_error(str, &berr);
	if (m == NULL) {
		mbh_error_set(err, EX_DATAERR, "invalid member address '%s': %s",
		              mbh_escape(host_port, quoted, sizeof(quoted)),
		              mbh_escape(berr.message, dmsg, sizeof(dmsg)));
		goto out;
	}
	if (copy_options(m, base, false, err) != 0 || copy_credentials(m, base, err) != 0 ||
	    copy_compressors(m, base, err) != 0)
		goto out;
	appname = mongoc_uri_get_appname(base);
	if (!mongoc_uri_set_appname(m, appname ? appname : APPNAME)) {
		mbh_error_set(err, EX_SOFTWARE, "cannot set the appname of a member's connection string");
		goto out;
	}
	mongoc_uri_set_read_prefs_t(m, mongoc_uri_get_read_prefs_t(base));
	mongoc_uri_set_read_concern(m, mongoc_uri_get_read_concern(base));
	mongoc_uri_set_write_concern(m, mongoc_uri_get_write_concern(base));
	if (!mongoc_uri_set_option_as_bool(m, MONGOC_URI_DIRECTCONNECTION, true)) {
		mbh_error_set(err, EX_SOFTWARE, "cannot set directConnection on a member's connection string");
		goto out;
	}
	*out = m;
	m = NULL;
	rc = 0;
out:
	mongoc_uri_destroy(m);
	return rc;
}

/* base without its credentials; see uri.h. */
int
mbh_uri_without_credentials(mongoc_uri_t **out, const mongoc_uri_t *base, mbh_error *err)
{
	const mongoc_host_list_t *h = mongoc_uri_get_hosts(base);
	mongoc_uri_t *m = NULL;
	bson_error_t berr;
	char str[4096];
	size_t used;
	int n;

	*out = NULL;
	if (h == NULL || mongoc_uri_get_srv_hostname(base) != NULL)
		return 1; /* mongodb+srv://: its hosts come later, from DNS */
	used = (size_t)snprintf(str, sizeof(str), "mongodb://");
	for (; h != NULL; h = h->next) {
		if (h->family == AF_UNIX)
			return 1;
		n = snprintf(str + used, sizeof(str) - used, "%s%s", used > 10 ? "," : "", h->host_and_port);
		if (n < 0 || (size_t)n >= sizeof(str) - used)
			return 1;
		used += (size_t)n;
	}
	if (used + 2 > sizeof(str))
		return 1;
	strcat(str, "/");
	memset(&berr, 0, sizeof(berr));
	if ((m = mongoc_uri_new_with_error(str, &berr)) == NULL)
		return 1;
	if (copy_options(m, base, true, err) != 0 || copy_compressors(m, base, err) != 0) {
		mongoc_uri_destroy(m);
		return -1;
	}
	mongoc_uri_set_read_prefs_t(m, mongoc_uri_get_read_prefs_t(base));
	mongoc_uri_set_read_concern(m, mongoc_uri_get_read_concern(base));
	mongoc_uri_set_write_concern(m, mongoc_uri_get_write_concern(base));
	*out = m;
	return 0;
}
/* See uri.h. */
int
mbh_uri_parse_set_conn(const char *conn, char *set, size_t setlen, char *hosts, size_t hostslen, mbh_error *err)
{
	const char *slash = conn != NULL ? strchr(conn, '/') : NULL;
	char why[96], one[300];
	const char *p, *comma;
	size_t n;

	if (slash == NULL || slash == conn || slash[1] == '\0')
		return mbh_error_set(err, EX_PROTOCOL, "'%s' is not a replica set's \"SET/HOST:PORT,...\" (a shard "
				     "that is not a replica set cannot be backed up)",
				     conn != NULL ? conn : "");
	n = (size_t)(slash - conn);
	if (n >= setlen || strlen(slash + 1) >= hostslen)
		return mbh_error_set(err, EX_PROTOCOL, "the connection string '%.64s...' is too long", conn);
	for (p = slash + 1; *p != '\0'; p = comma + 1) {
		comma = strchr(p, ',');
		if (comma == NULL)
			comma = p + strlen(p);
		if ((size_t)(comma - p) >= sizeof(one) || comma == p)
			return mbh_error_set(err, EX_PROTOCOL, "'%s': an empty or too long host", conn);
		memcpy(one, p, (size_t)(comma - p));
		one[comma - p] = '\0';
		if (mbh_hostport_check(one, why, sizeof(why)) != 0)
			return mbh_error_set(err, EX_PROTOCOL, "'%s': host '%s': %s", conn, one, why);
		if (*comma == '\0')
			break;
	}
	memcpy(set, conn, n);
	set[n] = '\0';
	snprintf(hosts, hostslen, "%s", slash + 1);
	return 0;
}

/* Is the query option opt[0..len) one a set's URI must not carry over (name compared case-insensitively)? */
static bool
dropped_option(const char *opt, size_t len)
{
	static const char *const drop[] = { "replicaset", "directconnection", "loadbalanced", "srvservicename",
					    "srvmaxhosts" };
	size_t i, klen;
	const char *eq = memchr(opt, '=', len);

	klen = eq != NULL ? (size_t)(eq - opt) : len;
	for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (strlen(drop[i]) == klen && strncasecmp(opt, drop[i], klen) == 0)
			return true;
	return false;
}

/* Does the query q[0..len) set option name (tls or ssl)? */
static bool
has_option(const char *q, size_t len, const char *name)
{
	size_t i = 0, n = strlen(name);

	while (i < len) {
		size_t end = i;

		while (end < len && q[end] != '&')
			end++;
		if (end - i > n && q[i + n] == '=' && strncasecmp(q + i, name, n) == 0)
			return true;
		i = end + 1;
	}
	return false;
}

/* See uri.h. */
int
mbh_uri_for_set(char **out, const char *base, const char *set, const char *hosts, mbh_error *err)
{
	mbh_uri_userinfo ui;
	const char *scheme_end, *rest, *path, *q;
	size_t len, start, hosts_end, i;
	bool srv;
	char *buf = NULL;
	size_t blen = 0;
	FILE *f;

	*out = NULL;
	len = strlen(base);
	scheme_end = strstr(base, "://");
	if (scheme_end == NULL)
		return mbh_error_set(err, EX_USAGE, "the connection string has no mongodb:// scheme");
	srv = (size_t)(scheme_end - base) == 11 && strncmp(base, "mongodb+srv", 11) == 0;
	start = (size_t)(scheme_end - base) + 3;
	mbh_uri_find_userinfo(base, len, &ui);
	rest = base + (ui.present ? ui.at_off + 1 : start);
	hosts_end = strcspn(rest, "/?");
	path = rest + hosts_end;
	q = strchr(path, '?');
	if ((f = open_memstream(&buf, &blen)) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	fputs("mongodb://", f);
	if (ui.present)
		fwrite(base + start, 1, ui.at_off + 1 - start, f);
	fprintf(f, "%s/", hosts);
	/* the database (auth source) part, kept */
	if (*path == '/')
		fwrite(path + 1, 1, q != NULL ? (size_t)(q - path - 1) : strlen(path + 1), f);
	fputc('?', f);
	if (q != NULL) {
		const char *o = q + 1;

		while (*o != '\0') {
			i = strcspn(o, "&");
			if (i > 0 && !dropped_option(o, i)) {
				fwrite(o, 1, i, f);
				fputc('&', f);
			}
			o += i;
			if (*o == '&')
				o++;
		}
	}
	/* mongodb+srv implies TLS; the set's plain string must say it */
	if (srv && (q == NULL || (!has_option(q + 1, strlen(q + 1), "tls") && !has_option(q + 1, strlen(q + 1), "ssl"))))
		fputs("tls=true&", f);
	fprintf(f, "replicaSet=%s", set);
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	*out = buf;
	return 0;
}
