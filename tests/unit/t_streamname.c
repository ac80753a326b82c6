/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_streamname.c: the stored names /@mongo/SET/HOST:PORT/SCRIPT and /@mongo/CLUSTER/COMPONENT/HOST:PORT/SCRIPT, built and read back from the end of a path (TAP). */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "streamname.h"
#include "tap.h"

/* parse PATH and expect the parts (set NULL: expect a failure). */
static void
parses(const char *path, size_t base_len, const char *set, const char *member, const char *script)
{
	mbh_stream_name sn;
	mbh_error err;
	int rc;

	mbh_error_init(&err);
	rc = mbh_stream_name_parse(path, &sn, &err);
	if (set == NULL) {
		ok(rc != 0 && err.code == EX_DATAERR, "%s: not a stored name (65)", path);
		ok(strstr(err.msg, "does not end in a name mongo-fd stores") != NULL, "  message: %s", err.msg);
		return;
	}
	if (!ok(rc == 0, "%s parses", path)) {
		diag("%s", err.msg);
		return;
	}
	is_int((long long)sn.base_len, (long long)base_len, "  the directory before it");
	is_str(sn.set, set, "  set");
	is_str(sn.member, member, "  member");
	is_str(sn.script, script, "  script");
	is_str(sn.cluster, "", "  no cluster");
	is_str(sn.component, "", "  no component");
}

/* parse PATH as a cluster's stored name and expect the parts. */
static void
parses_cluster(const char *path, size_t base_len, const char *cluster, const char *component, const char *member,
	       const char *script)
{
	mbh_stream_name sn;
	mbh_error err;

	mbh_error_init(&err);
	if (!ok(mbh_stream_name_parse(path, &sn, &err) == 0, "%s parses (a cluster's)", path)) {
		diag("%s", err.msg);
		return;
	}
	is_int((long long)sn.base_len, (long long)base_len, "  the directory before it");
	is_str(sn.cluster, cluster, "  cluster");
	is_str(sn.component, component, "  component");
	is_str(sn.member, member, "  member");
	is_str(sn.script, script, "  script");
	is_str(sn.set, "", "  no set");
}

static void
test_build_cluster(void)
{
	mbh_stream_name sn;
	char *name = NULL;
	mbh_error err;

	mbh_error_init(&err);
	ok(mbh_stream_name_build_cluster(&name, "csrs", "config", "127.0.0.1:27019", "/usr/lib/dump.sh", &err) == 0,
	   "build a cluster's");
	is_str(name, "/@mongo/csrs/config/127.0.0.1:27019/dump.sh", "  cluster, component, member, script");
	ok(mbh_stream_name_parse(name, &sn, &err) == 0 && strcmp(sn.component, "config") == 0 &&
		   strcmp(sn.cluster, "csrs") == 0,
	   "  read back");
	free(name);
}

static void
test_build(void)
{
	char *name = NULL;
	mbh_error err;

	mbh_error_init(&err);
	ok(mbh_stream_name_build(&name, "rs0", "db2:27018", "/usr/local/lib/mongo-backup/dump.sh", &err) == 0,
	   "build");
	is_str(name, "/@mongo/rs0/db2:27018/dump.sh", "  the command's last component");
	free(name);
	ok(mbh_stream_name_build(&name, "rs0", "db2:27018", "dump.sh", &err) == 0, "build from a bare name");
	is_str(name, "/@mongo/rs0/db2:27018/dump.sh", "  unchanged");
	free(name);
}

int
main(void)
{
	tap_init();
	test_build();
	parses("/@mongo/rs0/127.0.0.1:27017/dump.sh", 0, "rs0", "127.0.0.1:27017", "dump.sh");
	parses("/tmp/bacula-restores/@mongo/rs0/db2:27018/dump.sh", 20, "rs0", "db2:27018", "dump.sh");
	/* a where that holds /@mongo/ itself: the stored name is the end of the path */
	parses("/srv/@mongo/x/y/@mongo/rs1/[::1]:27019/tar.sh", 15, "rs1", "[::1]:27019", "tar.sh");
	parses("/srv/@mongo/rs0/db:1/z/@mongo/rs2/h:2/s", 22, "rs2", "h:2", "s");
	parses("/tmp/x/rs0/db2:27018/dump.sh", 0, NULL, NULL, NULL);
	parses("/@mongo/rs0/db2/dump.sh", 0, NULL, NULL, NULL);
	parses("/@mongo/rs0/db2:1/", 0, NULL, NULL, NULL);
	parses("@mongo/rs0/db2:1/s", 0, NULL, NULL, NULL);
	parses("", 0, NULL, NULL, NULL);
	test_build_cluster();
	parses_cluster("/@mongo/csrs/sh0/127.0.0.1:27018/dump.sh", 0, "csrs", "sh0", "127.0.0.1:27018", "dump.sh");
	parses_cluster("/tmp/r/@mongo/prod/config/[::1]:27019/tar.sh", 6, "prod", "config", "[::1]:27019", "tar.sh");
	/* a where holding a set's stored name: the end of the path decides */
	parses_cluster("/srv/@mongo/rs0/db:1/@mongo/c/sh1/h:2/s", 20, "c", "sh1", "h:2", "s");
	/* a set's name under a where ending in @mongo stays a set's (tried first) */
	parses("/tmp/@mongo/@mongo/rs0/h:1/s", 11, "rs0", "h:1", "s");
	parses("/@mongo/c/sh0/db2/dump.sh", 0, NULL, NULL, NULL);
	parses("/@mongo/c/sh0/h:1/", 0, NULL, NULL, NULL);
	parses("/x/c/sh0/h:1/s", 0, NULL, NULL, NULL);
	parses("/@mongo/c//h:1/s", 0, NULL, NULL, NULL);
	return tap_done();
}
