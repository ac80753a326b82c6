/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* safefile.c: create a file below a directory others may write to, following no link and trusting no one else's directory. */
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

#define CREATE_TRIES 3 /* someone recreating the name between our unlink and our O_EXCL create */

/* What kind of file st is, for messages. */
static const char *
kind_of(const struct stat *st)
{
	return S_ISLNK(st->st_mode) ? "a symbolic link" : S_ISFIFO(st->st_mode) ? "a FIFO" :
	       S_ISDIR(st->st_mode) ? "a directory" : S_ISSOCK(st->st_mode) ? "a socket" :
	       S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? "a device" : "not a regular file";
}

/* A directory we may write into: owned by root or by us. */
static int
check_owner(int fd, const char *shown, mbh_error *err)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return mbh_error_set(err, EX_OSERR, "cannot stat %s: %s", shown, strerror(errno));
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return mbh_error_set(err, EX_NOPERM, "%s is owned by uid %u, not by root: refusing to write below it; "
				     "restore with a where= directory of root's", shown, (unsigned)st.st_uid);
	return 0;
}

/* mkdir -p base (mode 0700 for what is created), the operator's path followed as given; open it. */
static int
open_base(const char *base, const char *shown, mbh_error *err)
{
	char *p = NULL, *s;
	int fd = -1;

	if ((fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0 || errno != ENOENT)
		goto out;
	if ((p = strdup(base)) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		return -1;
	}
	for (s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
		if (s != NULL)
			*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			break;
		if (s == NULL)
			break;
		*s = '/';
	}
	fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
out:
	free(p);
	if (fd < 0)
		mbh_error_set(err, EX_CANTCREAT, "cannot create %s: %s: %s; restore with a where= directory the file "
			      "daemon can write", shown, base, strerror(errno));
	return fd;
}

/* Open (creating it, 0700) directory name below dfd without following a link; shown names it. */
static int
open_below(int dfd, const char *name, const char *shown, mbh_error *err)
{
	struct stat st;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && mkdirat(dfd, name, 0700) == 0)
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if ((errno == ELOOP || errno == ENOTDIR) && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			mbh_error_set(err, EX_NOPERM, "%s is a symbolic link: refusing to follow it below where; remove it, "
				      "or restore with another where=", shown);
		else
			mbh_error_set(err, EX_CANTCREAT, "%s is %s, not a directory; remove it, or restore with another "
				      "where=", shown, kind_of(&st));
		return -1;
	}
	mbh_error_set(err, EX_CANTCREAT, "cannot create %s: %s; restore with a where= directory the file daemon can "
		      "write", shown, strerror(errno));
	return -1;
}

/* Create base/rel; see safefile.h. */
int
mbh_safefile_create(int *out, const char *base, const char *rel, mbh_error *err)
{
	char *shown = NULL, *comp = NULL, *p, *slash;
	struct stat st;
	size_t blen;
	int dfd = -1, nfd, fd = -1, tries, rc = -1;

	*out = -1;
	if (base[0] == '\0')
		base = "/";
	blen = strlen(base);
	while (*rel == '/')
		rel++;
	if (asprintf(&shown, "%s%s%s", base, base[blen - 1] == '/' ? "" : "/", rel) < 0 ||
	    (comp = strdup(rel)) == NULL) {
		shown = NULL;
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	/* where itself is followed as the operator gave it, but not through a link someone else planted (/tmp) */
	if (lstat(base, &st) == 0 && S_ISLNK(st.st_mode) && st.st_uid != 0 && st.st_uid != geteuid()) {
		mbh_error_set(err, EX_NOPERM, "%s is a symbolic link owned by uid %u, not by root: refusing to follow it; "
			      "remove it, or restore with another where=", base, (unsigned)st.st_uid);
		goto out;
	}
	if ((dfd = open_base(base, shown, err)) < 0 || check_owner(dfd, base, err) != 0)
		goto out;
	/* shown[..end of the current component] names what a message is about */
	for (p = comp; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
		char keep;
		size_t at = strlen(shown) - strlen(rel) + (size_t)(slash - comp);

		*slash = '\0';
		if (*p == '\0' || strcmp(p, ".") == 0 || strcmp(p, "..") == 0) {
			mbh_error_set(err, EX_DATAERR, "%s: an empty, '.' or '..' component: refusing it", shown);
			goto out;
		}
		keep = shown[at];
		shown[at] = '\0';
		nfd = open_below(dfd, p, shown, err);
		if (nfd >= 0 && check_owner(nfd, shown, err) != 0) {
			close(nfd);
			nfd = -1;
		}
		shown[at] = keep;
		if (nfd < 0)
			goto out;
		close(dfd);
		dfd = nfd;
	}
	if (*p == '\0' || strcmp(p, ".") == 0 || strcmp(p, "..") == 0) {
		mbh_error_set(err, EX_DATAERR, "%s: no file name at the end: refusing it", shown);
		goto out;
	}
	for (tries = 0; fd < 0 && tries < CREATE_TRIES; tries++) {
		if (fstatat(dfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (!S_ISREG(st.st_mode)) {
				mbh_error_set(err, EX_CANTCREAT, "%s is not a regular file (%s): remove it, or restore "
					      "with another where=", shown, kind_of(&st));
				goto out;
			}
			/* never write through a file someone else may hold open: a new one takes its place */
			if (unlinkat(dfd, p, 0) != 0 && errno != ENOENT) {
				mbh_error_set(err, EX_CANTCREAT, "cannot replace %s: %s", shown, strerror(errno));
				goto out;
			}
		}
		fd = openat(dfd, p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			mbh_error_set(err, EX_CANTCREAT, "cannot create %s: %s; restore with a where= directory the file "
				      "daemon can write", shown, strerror(errno));
			goto out;
		}
	}
	if (fd < 0) {
		mbh_error_set(err, EX_CANTCREAT, "cannot create %s: something else keeps appearing there; look at who "
			      "writes to that directory", shown);
		goto out;
	}
	if (fchmod(fd, 0600) != 0) {
		mbh_error_set(err, EX_OSERR, "cannot set the mode of %s: %s", shown, strerror(errno));
		goto out;
	}
	*out = fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	free(comp);
	free(shown);
	return rc;
}
