/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_safefile.c: a file created below a directory others may write to: anew, 0600, no link followed (TAP). */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safefile.h"
#include "tap.h"

static char top[] = "/tmp/t_safefile.XXXXXX";

static char *
at(const char *rel)
{
	static char buf[4][512];
	static int n;

	n = (n + 1) % 4;
	snprintf(buf[n], sizeof(buf[n]), "%s/%s", top, rel);
	return buf[n];
}

/* Create rel below base; expect success (want NULL) or an error containing want. */
static void
creates(const char *base, const char *rel, const char *want, const char *name)
{
	mbh_error err;
	int fd = -1, rc;

	mbh_error_init(&err);
	rc = mbh_safefile_create(&fd, base, rel, &err);
	if (want == NULL) {
		if (!ok(rc == 0 && fd >= 0, "%s", name))
			diag("%s", err.msg);
		if (fd >= 0) {
			ok(write(fd, "new", 3) == 3, "  writable");
			close(fd);
		}
		return;
	}
	ok(rc != 0 && fd < 0, "%s: refused", name);
	if (!ok(strstr(err.msg, want) != NULL, "  says '%s'", want))
		diag("got: %s", err.msg);
}

int
main(void)
{
	struct stat st, before;
	char buf[16] = "";
	int fd;

	tap_init();
	if (mkdtemp(top) == NULL) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	creates(at("w"), "@mongo/rs0/h:1/dump.sh", NULL, "a missing where and its directories are created");
	ok(stat(at("w/@mongo/rs0/h:1/dump.sh"), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
	   "  a regular file, mode 0600");
	ok(stat(at("w/@mongo/rs0"), &st) == 0 && (st.st_mode & 07777) == 0700, "  directories made 0700");

	/* an existing file is replaced by a new one: what another name of it holds is left alone */
	ok(link(at("w/@mongo/rs0/h:1/dump.sh"), at("keep")) == 0 && stat(at("keep"), &before) == 0, "a second name");
	creates(at("w"), "@mongo/rs0/h:1/dump.sh", NULL, "an existing file");
	fd = open(at("keep"), O_RDONLY);
	ok(fd >= 0 && read(fd, buf, sizeof(buf) - 1) == 3 && strcmp(buf, "new") == 0 && stat(at("w/@mongo/rs0/h:1/dump.sh"), &st) == 0 &&
	   st.st_ino != before.st_ino, "  was replaced, never written through");
	if (fd >= 0)
		close(fd);

	ok(symlink(at("elsewhere"), at("w/@mongo/rs1")) == 0 && mkdir(at("elsewhere"), 0700) == 0, "a planted link");
	creates(at("w"), "@mongo/rs1/h:1/dump.sh", "w/@mongo/rs1 is a symbolic link", "a link below where");
	ok(stat(at("elsewhere/h:1"), &st) != 0, "  nothing made where it points");

	ok(mkdir(at("w/@mongo/rs2"), 0700) == 0 && mkdir(at("w/@mongo/rs2/h:1"), 0700) == 0 &&
	   mkfifo(at("w/@mongo/rs2/h:1/dump.sh"), 0600) == 0, "a FIFO at the path");
	creates(at("w"), "@mongo/rs2/h:1/dump.sh", "dump.sh is not a regular file (a FIFO)", "a FIFO");
	ok(symlink("/etc/passwd", at("w/@mongo/rs2/h:1/link.sh")) == 0, "a link at the path");
	creates(at("w"), "@mongo/rs2/h:1/link.sh", "link.sh is not a regular file (a symbolic link)", "a link at the end");

	ok(open(at("plain"), O_WRONLY | O_CREAT, 0600) >= 0, "a plain file as where");
	creates(at("plain"), "@mongo/rs0/h:1/dump.sh", "cannot create", "where is a file");
	creates(at("w"), "@mongo/../x", "'..'", "a '..' component");

	if (geteuid() == 0) {
		ok(mkdir(at("w/@mongo/rs3"), 0777) == 0 && chown(at("w/@mongo/rs3"), 65534, 65534) == 0,
		   "a directory of uid 65534");
		creates(at("w"), "@mongo/rs3/h:1/dump.sh", "w/@mongo/rs3 is owned by uid 65534", "someone else's directory");
		ok(symlink(at("w"), at("planted")) == 0 && lchown(at("planted"), 65534, 65534) == 0,
		   "where is a link of uid 65534's (to a directory of root's)");
		creates(at("planted"), "@mongo/rs0/h:1/dump.sh", "planted is a symbolic link owned by uid 65534",
			"someone else's link as where");
		ok(symlink(at("w"), at("ours")) == 0, "where is a link of ours");
		creates(at("ours"), "@mongo/rs0/h:1/dump.sh", NULL, "our own link as where is followed");
	} else {
		for (int i = 0; i < 9; i++)
			skip("not root: cannot make files of someone else's");
	}
	return tap_done();
}
