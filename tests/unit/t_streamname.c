/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_streamname.c: the stored name /@mongo/SET/HOST:PORT/SCRIPT, built and read back from the end of a path (TAP). */
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
	return tap_done();
}
