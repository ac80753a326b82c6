/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* state.c: the lock state file of one replica set: flock, atomic durable write, strict parse. */
#include "autoconfig.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "fdio.h"
#include "proc.h"
#include "state.h"

#define STATE_HEADER "# mongo-backup-hooks state v1"
#define STATE_MAX 65536

struct mbh_state {
	char *dir;
	char *set;
	char *lock_name;   /* "SET.lock", relative to dirfd */
	char *state_name;  /* "SET.state" */
	char *state_path;  /* "DIR/SET.state", for messages */
	char *lock_path;
	int dirfd;
	int lockfd;
};

/* The record's keys, in file order. */
enum {
	K_SET, K_MEMBER, K_PHASE, K_LOCK_COUNT, K_SINCE, K_DEADLINE, K_PID, K_HOSTNAME,
	K_JOB, K_MODE, K_WATCHDOG_PID, K_WATCHDOG_START, K_FROZEN,
	K_TOKEN, K_COMMAND_PID, K_COMMAND_START, K_SNAPSHOT, K_SNAPSHOT_SINCE, K_SEAL, K_COUNT
};
/* Keys from K_FIRST_OPTIONAL on may be absent (a record written by an earlier version). */
#define K_FIRST_OPTIONAL K_TOKEN
static const char *const key_names[K_COUNT] = {
	"set", "member", "phase", "lock_count", "since", "deadline", "pid", "hostname",
	"job", "mode", "watchdog_pid", "watchdog_start", "frozen",
	"token", "command_pid", "command_start", "snapshot", "snapshot_since", "seal",
};

/* Set names become file names: a safe alphabet keeps them inside DIR. */
static bool
set_name_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strlen(s);
	if (n < 1 || n > 127 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* A value that fits one "key=value" line. */
static bool
value_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (iscntrl((unsigned char)*s))
			return false;
	return true;
}

/* "" or 32 lower-case hex digits. */
static bool
token_ok(const char *s)
{
	size_t n = strlen(s);

	return n == 0 || (n == MBH_TOKEN_LEN && strspn(s, "0123456789abcdef") == n);
}

static bool
mode_ok(const char *s)
{
	return strcmp(s, "hooks") == 0 || strcmp(s, "exec") == 0 || strcmp(s, "plugin") == 0;
}

static char *
join(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s%s%s", a, b, c);
	return p;
}

/* Refuse a directory others could use to swap our files. */
static int
check_dir(int dirfd, const char *dir, mbh_error *err)
{
	struct stat st;

	if (fstat(dirfd, &st) != 0)
		return mbh_error_set(err, EX_CANTCREAT, "cannot stat state directory %s: %s", dir, strerror(errno));
	if (st.st_uid != geteuid())
		return mbh_error_set(err, EX_NOPERM, "state directory %s is owned by uid %u, not by us (uid %u): "
		                     "chown %u %s or choose another state_dir", dir, (unsigned)st.st_uid,
		                     (unsigned)geteuid(), (unsigned)geteuid(), dir);
	if ((st.st_mode & 022) != 0)
		return mbh_error_set(err, EX_NOPERM, "state directory %s is writable by group or others: chmod 700 %s",
		                     dir, dir);
	return 0;
}

/* Open DIR (creating it 0700), refusing a symlink. */
static int
open_dir(const char *dir, int *out, mbh_error *err)
{
	struct stat lst;
	int fd;

	*out = -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST && errno != EROFS)
		return mbh_error_set(err, EX_CANTCREAT, "cannot create state directory %s: %s", dir, strerror(errno));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if ((errno == ELOOP || errno == ENOTDIR) && lstat(dir, &lst) == 0 && S_ISLNK(lst.st_mode))
			return mbh_error_set(err, EX_NOPERM, "state directory %s is a symbolic link: "
			                     "set state_dir to the real directory", dir);
		return mbh_error_set(err, EX_CANTCREAT, "cannot open state directory %s: %s", dir, strerror(errno));
	}
	if (check_dir(fd, dir, err) != 0) {
		close(fd);
		return -1;
	}
	*out = fd;
	return 0;
}

/* The pid written into the lock file by whoever holds it; 0 if unknown. */
static long
lock_holder_pid(int lockfd)
{
	char buf[32];
	ssize_t n;
	char *end;
	long pid;

	n = pread(lockfd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') || pid <= 0)
		return 0;
	return pid;
}

/* Open and flock; see state.h. */
int
mbh_state_open(mbh_state **out, const char *dir, const char *set_name, bool wait, mbh_error *err)
{
	mbh_state *st = NULL;
	mbh_state_rec rec;
	struct stat lst;
	char pidline[32];
	bool present;
	long pid;
	int rc = -1, n;

	*out = NULL;
	if (!set_name_ok(set_name))
		return mbh_error_set(err, EX_DATAERR, "invalid replica set name '%s': use 1 to 127 letters, digits, "
		                     "'_', '.' or '-'", set_name ? set_name : "");
	if (dir == NULL || dir[0] == '\0')
		return mbh_error_set(err, EX_CONFIG, "no state directory");
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	st->dirfd = -1;
	st->lockfd = -1;
	st->dir = strdup(dir);
	st->set = strdup(set_name);
	st->lock_name = join(set_name, ".lock", "");
	st->state_name = join(set_name, ".state", "");
	st->lock_path = join(dir, "/", st->lock_name ? st->lock_name : "");
	st->state_path = join(dir, "/", st->state_name ? st->state_name : "");
	if (!st->dir || !st->set || !st->lock_name || !st->state_name || !st->lock_path || !st->state_path) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	if (open_dir(dir, &st->dirfd, err) != 0)
		goto out;
	st->lockfd = openat(st->dirfd, st->lock_name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	/* a read-only state filesystem must not keep anyone from unlocking: flock needs no write access */
	if (st->lockfd < 0 && (errno == EROFS || errno == EACCES))
		st->lockfd = openat(st->dirfd, st->lock_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (st->lockfd < 0) {
		if (errno == ELOOP && fstatat(st->dirfd, st->lock_name, &lst, AT_SYMLINK_NOFOLLOW) == 0)
			mbh_error_set(err, EX_NOPERM, "%s is a symbolic link: remove it", st->lock_path);
		else
			mbh_error_set(err, EX_CANTCREAT, "cannot create %s: %s", st->lock_path, strerror(errno));
		goto out;
	}
	while (flock(st->lockfd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
		if (errno == EWOULDBLOCK) {
			pid = lock_holder_pid(st->lockfd);
			present = false;
			if (mbh_state_read(st, &rec, &present, NULL) != 0)
				present = false;
			if (pid == 0 && present)
				pid = rec.pid;
			if (present && rec.job[0] != '\0')
				mbh_error_fail(err, MBH_ERR_SET_BUSY, "another run for %s holds %s (pid %ld, job %s)", set_name,
				              st->lock_path, pid, rec.job);
			else if (pid > 0)
				mbh_error_fail(err, MBH_ERR_SET_BUSY, "another run for %s holds %s (pid %ld)", set_name,
				              st->lock_path, pid);
			else
				mbh_error_fail(err, MBH_ERR_SET_BUSY, "another run for %s holds %s", set_name, st->lock_path);
			goto out;
		}
		if (errno == EINTR) {
			mbh_error_set(err, EX_TEMPFAIL, "interrupted while waiting for %s", st->lock_path);
			goto out;
		}
		mbh_error_set(err, EX_CANTCREAT, "cannot lock %s: %s", st->lock_path, strerror(errno));
		goto out;
	}
	/* Who holds it, for the message another run prints. */
	n = snprintf(pidline, sizeof(pidline), "%ld\n", (long)getpid());
	/* Informational only (the flock is what protects): a failure here is ignored. */
	if (ftruncate(st->lockfd, 0) == 0 && pwrite(st->lockfd, pidline, (size_t)n, 0) < 0)
		pid = 0;
	*out = st;
	st = NULL;
	rc = 0;
out:
	mbh_state_free(st);
	return rc;
}

/* Read and parse the record NAME in DIRFD (PATH for messages); no record is *present = false. */
static int
read_text(int dirfd, const char *name, const char *path, char **text, bool *present, mbh_error *err)
{
	char *buf = NULL;
	struct stat sb;
	size_t used = 0;
	ssize_t r;
	int fd, rc = -1;

	*present = false;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ELOOP)
			return mbh_error_set(err, EX_NOPERM, "%s is a symbolic link: remove it", path);
		return mbh_error_set(err, EX_DATAERR, "cannot open %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		mbh_error_set(err, EX_DATAERR, "%s is not a regular file: remove it", path);
		goto out;
	}
	if (sb.st_size > STATE_MAX) {
		mbh_error_set(err, EX_DATAERR, "%s: too large to be a state file (%jd bytes)", path,
		              (intmax_t)sb.st_size);
		goto out;
	}
	buf = malloc(STATE_MAX + 1);
	if (buf == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	for (;;) {
		r = read(fd, buf + used, STATE_MAX - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			mbh_error_set(err, EX_DATAERR, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0 || used + (size_t)r >= STATE_MAX) {
			used += (size_t)r;
			break;
		}
		used += (size_t)r;
	}
	buf[used] = '\0';
	if (memchr(buf, '\0', used) != NULL) {
		mbh_error_set(err, EX_DATAERR, "%s: corrupt state file (NUL byte): check it, then remove it",
		              path);
		goto out;
	}
	*text = buf;
	buf = NULL;
	*present = true;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

/* Read and parse the record NAME in DIRFD (PATH for messages); no record is *present = false. */
static int
read_record(int dirfd, const char *name, const char *path, mbh_state_rec *out, bool *present, mbh_error *err)
{
	char *text = NULL;
	int rc = -1;

	if (read_text(dirfd, name, path, &text, present, err) != 0)
		return -1;
	if (!*present)
		return 0;
	*present = false;
	if (mbh_state_parse(out, text, err) != 0) {
		mbh_error_prefix(err, "%s", path);
		goto out;
	}
	*present = true;
	rc = 0;
out:
	free(text);
	return rc;
}

/* Read and parse the record (under the flock). */
int
mbh_state_read(mbh_state *st, mbh_state_rec *out, bool *present, mbh_error *err)
{
	return read_record(st->dirfd, st->state_name, st->state_path, out, present, err);
}

/* Read the record without the flock: it is replaced by rename, so this sees a whole old or new one. */
int
mbh_state_peek(const char *dir, const char *set_name, mbh_state_rec *out, bool *present, mbh_error *err)
{
	char *name = NULL, *path = NULL;
	int rc = -1;

	*present = false;
	if (!set_name_ok(set_name))
		return mbh_error_set(err, EX_DATAERR, "invalid replica set name '%s'", set_name);
	if ((name = join(set_name, ".state", "")) == NULL || (path = join(dir, "/", name)) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	rc = read_record(AT_FDCWD, path, path, out, present, err);
out:
	free(name);
	free(path);
	return rc;
}

/*
 * Replace the record NAME in DIRFD: temp file, fsync, rename, fsync DIR
 * (without the fsyncs when !durable).  dir and path are for messages.
 */
static int
write_text(int dirfd, const char *dir, const char *name, const char *path, const char *buf, size_t len,
	   bool durable, mbh_error *err)
{
	char tmp[192];
	int fd = -1, rc = -1, tries;

	snprintf(tmp, sizeof(tmp), ".%s.tmp.%ld", name, (long)getpid());
	for (tries = 0; tries < 2; tries++) {
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
		/* A leftover of a crashed run with our pid. */
		unlinkat(dirfd, tmp, 0);
	}
	if (fd < 0) {
		mbh_error_set(err, EX_CANTCREAT, "cannot create a temporary file in %s: %s", dir, strerror(errno));
		goto out;
	}
	if (mbh_fdio_write_all(fd, buf, len) != 0) {
		mbh_error_set(err, EX_CANTCREAT, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	if (durable && fsync(fd) != 0) {
		mbh_error_set(err, EX_CANTCREAT, "cannot write %s: fsync: %s", path, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		mbh_error_set(err, EX_CANTCREAT, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		mbh_error_set(err, EX_CANTCREAT, "cannot replace %s: %s", path, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	if (durable && fsync(dirfd) != 0) {
		mbh_error_set(err, EX_CANTCREAT, "cannot write %s: fsync of %s: %s", path, dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && tmp[0] != '\0')
		unlinkat(dirfd, tmp, 0);
	return rc;
}

/* Format and write rec as write_text does. */
static int
write_record(int dirfd, const char *dir, const char *name, const char *path, const mbh_state_rec *rec,
	     bool durable, mbh_error *err)
{
	char buf[4096];
	int len, rc;

	if (!value_ok(rec->job))
		return mbh_error_set(err, EX_USAGE, "job name contains a control character: use a plain job name");
	if (!value_ok(rec->hostname) || !value_ok(rec->member) || !set_name_ok(rec->set_name) ||
	    !mode_ok(rec->mode) || rec->member[0] == '\0')
		return mbh_error_set(err, EX_SOFTWARE, "refusing to write an invalid record to %s", path);
	len = mbh_state_format(rec, buf, sizeof(buf));
	if (len < 0)
		return mbh_error_set(err, EX_SOFTWARE, "refusing to write an invalid record to %s", path);
	rc = write_text(dirfd, dir, name, path, buf, (size_t)len, durable, err);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/* See state.h. */
int
mbh_state_read_text(mbh_state *st, char **text, bool *present, mbh_error *err)
{
	*text = NULL;
	return read_text(st->dirfd, st->state_name, st->state_path, text, present, err);
}

/* See state.h. */
int
mbh_state_peek_text(const char *dir, const char *name, char **text, bool *present, mbh_error *err)
{
	char *fname = NULL, *path = NULL;
	int rc = -1;

	*text = NULL;
	*present = false;
	if (!set_name_ok(name))
		return mbh_error_set(err, EX_DATAERR, "invalid record name '%s'", name);
	if ((fname = join(name, ".state", "")) == NULL || (path = join(dir, "/", fname)) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	rc = read_text(AT_FDCWD, path, path, text, present, err);
out:
	free(fname);
	free(path);
	return rc;
}

/* See state.h. */
int
mbh_state_write_text(mbh_state *st, const char *text, mbh_error *err)
{
	return write_text(st->dirfd, st->dir, st->state_name, st->state_path, text, strlen(text), true, err);
}

/* See state.h. */
int
mbh_state_write_text_volatile(mbh_state *st, const char *text, mbh_error *err)
{
	return write_text(st->dirfd, st->dir, st->state_name, st->state_path, text, strlen(text), false, err);
}

/* Replace the record (under the flock). */
int
mbh_state_write(mbh_state *st, const mbh_state_rec *rec, mbh_error *err)
{
	return write_record(st->dirfd, st->dir, st->state_name, st->state_path, rec, true, err);
}

/* Replace the record without the fsyncs (under the flock). */
int
mbh_state_write_volatile(mbh_state *st, const mbh_state_rec *rec, mbh_error *err)
{
	return write_record(st->dirfd, st->dir, st->state_name, st->state_path, rec, false, err);
}

/* Replace DIR/SET.state without the run's flock (the unlock claim orders it). */
int
mbh_state_put(const char *dir, const mbh_state_rec *rec, mbh_error *err)
{
	char *name = NULL, *path = NULL;
	int dfd = -1, rc = -1;

	if (!set_name_ok(rec->set_name))
		return mbh_error_set(err, EX_DATAERR, "invalid replica set name '%s'", rec->set_name);
	if ((name = join(rec->set_name, ".state", "")) == NULL || (path = join(dir, "/", name)) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		mbh_error_set(err, EX_CANTCREAT, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	rc = write_record(dfd, dir, name, path, rec, true, err);
out:
	free(name);
	free(path);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* Remove the record durably. */
int
mbh_state_remove(mbh_state *st, mbh_error *err)
{
	if (unlinkat(st->dirfd, st->state_name, 0) != 0) {
		if (errno == ENOENT)
			return 0;
		return mbh_error_set(err, EX_CANTCREAT, "cannot remove %s: %s", st->state_path, strerror(errno));
	}
	if (fsync(st->dirfd) != 0)
		return mbh_error_set(err, EX_CANTCREAT, "cannot remove %s: fsync of %s: %s", st->state_path, st->dir,
		                     strerror(errno));
	return 0;
}

/*
 * Take the unlock claim: flock on the directory itself, so it needs no file and no write access.  Polled
 * every millisecond: the components of a cluster share one directory, so their releases queue here, and a
 * coarser tick would add itself to the lock window once per component.
 */
int
mbh_state_claim(int *out_fd, const char *dir, int timeout_ms, mbh_error *err)
{
	struct timespec tick = { 0, 1000 * 1000 };
	int fd, waited = 0;

	*out_fd = -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return mbh_error_set(err, EX_CANTCREAT, "cannot open state directory %s: %s", dir, strerror(errno));
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= timeout_ms) {
			close(fd);
			return mbh_error_set(err, EX_TEMPFAIL, "someone else is unlocking a member recorded in %s; "
			                     "run mongo-postbackup --status", dir);
		}
		nanosleep(&tick, NULL);
		waited += 1;
	}
	*out_fd = fd;
	return 0;
}

/* Release the claim. */
void
mbh_state_unclaim(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* The sets with a record in DIR; see state.h. */
int
mbh_state_list(char ***out, const char *dir, mbh_error *err)
{
	char **v = NULL, **nv;
	struct dirent *de;
	size_t n = 0, len;
	DIR *d;

	*out = NULL;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT) {
			*out = v;
			return 0;
		}
		free(v);
		return mbh_error_set(err, EX_NOPERM, "cannot read the state directory %s: %s", dir, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 6 || strcmp(de->d_name + len - 6, ".state") != 0 || de->d_name[0] == '.')
			continue;
		/* a cluster's record (cluster.h) is not a set's */
		if (len > 14 && strcmp(de->d_name + len - 14, ".cluster.state") == 0)
			continue;
		if ((nv = realloc(v, (n + 2) * sizeof(*v))) == NULL)
			break;
		v = nv;
		if ((v[n] = strndup(de->d_name, len - 6)) == NULL)
			break;
		v[++n] = NULL;
	}
	closedir(d);
	*out = v;
	return 0;
}

/* Remove DIR/SET.state durably, without the run's flock (the unlock claim orders it). */
int
mbh_state_unlink(const char *dir, const char *set_name, mbh_error *err)
{
	char *name = NULL;
	int dfd = -1, rc = -1;

	if (!set_name_ok(set_name))
		return mbh_error_set(err, EX_DATAERR, "invalid replica set name '%s'", set_name);
	if ((name = join(set_name, ".state", "")) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		mbh_error_set(err, EX_CANTCREAT, "cannot remove %s/%s: %s", dir, name, strerror(errno));
		goto out;
	}
	if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT) {
		mbh_error_set(err, EX_CANTCREAT, "cannot remove %s/%s: %s", dir, name, strerror(errno));
		goto out;
	}
	if (fsync(dfd) != 0 && errno != EROFS && errno != EINVAL) {
		mbh_error_set(err, EX_CANTCREAT, "cannot remove %s/%s: fsync of %s: %s", dir, name, dir,
			      strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(name);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* Path of the state file. */
const char *
mbh_state_path(const mbh_state *st)
{
	return st ? st->state_path : "";
}

/*
 * Close without an explicit LOCK_UN: in a forked child (the watchdog) the
 * descriptor shares the parent's open file description, and an unlock there
 * would release the parent's lock too.  Closing the last descriptor releases it.
 */
void
mbh_state_free(mbh_state *st)
{
	if (st == NULL)
		return;
	if (st->lockfd >= 0)
		close(st->lockfd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	free(st->dir);
	free(st->set);
	free(st->lock_name);
	free(st->state_name);
	free(st->lock_path);
	free(st->state_path);
	free(st);
}

static const char *
phase_name(mbh_phase p)
{
	return p == MBH_PHASE_LOCKED ? "LOCKED" : p == MBH_PHASE_LOCKING ? "LOCKING" : p == MBH_PHASE_SNAPSHOT ? "SNAPSHOT"
														: NULL;
}

/* See state.h. */
int64_t
mbh_state_deadline_ms(const mbh_state_rec *rec)
{
	return rec->deadline_ms > 0 ? rec->deadline_ms : rec->deadline * 1000;
}

/* The phase's name in the record. */
const char *
mbh_state_phase_name(mbh_phase phase)
{
	const char *n = phase_name(phase);

	return n != NULL ? n : "?";
}

/* See state.h. */
bool
mbh_state_guarded(const mbh_state_rec *rec)
{
	/* a dead watchdog may be a zombie for a while (its parent, bacula-fd or init, reaps it late) */
	return rec->watchdog_pid > 0 && mbh_proc_running(rec->watchdog_pid, rec->watchdog_start);
}

/* See state.h. */
const char *
mbh_state_snapshot_printed(char *buf)
{
	size_t n;

	buf[strcspn(buf, "\n")] = '\0';
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\r')
		buf[n - 1] = '\0';
	return mbh_state_snapshot_path_ok(buf) ? buf : NULL;
}

/* A path a remove command may be handed; see state.h. */
bool
mbh_state_snapshot_path_ok(const char *s)
{
	const char *p, *c;
	size_t n;

	if (s == NULL || s[0] != '/' || strlen(s) > MBH_SNAPSHOT_MAX || !value_ok(s) || strspn(s, "/") == strlen(s))
		return false;
	for (p = s; *p != '\0'; p = c) {
		while (*p == '/')
			p++;
		c = p + strcspn(p, "/");
		n = (size_t)(c - p);
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
	}
	return true;
}

/* The job-name rule; see state.h. */
int
mbh_state_job_name_check(const char *name, char *why, size_t whylen)
{
	size_t len = strlen(name);

	if (len > MBH_JOB_NAME_MAX) {
		snprintf(why, whylen, "is %zu bytes long; at most %d fit in the state record: use a shorter name (or "
			 "Bacula's job id, %%i)", len, MBH_JOB_NAME_MAX);
		return -1;
	}
	if (mbh_escape_needed(name, len)) {
		snprintf(why, whylen, "holds a control character or invalid UTF-8: use a plain name");
		return -1;
	}
	return 0;
}

/*
 * The seal: FNV-1a (64 bits) of the record's text without its seal line.  A
 * record edited by hand no longer matches it, so post can tell the lock it
 * describes is not shown to be ours.  Not a signature: whoever may write the
 * state directory may unlock the member directly anyway.
 */
static uint64_t
seal_of(const char *text, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)text[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* The record's text without its seal line; bytes written or -1. */
static int
format_body(const mbh_state_rec *rec, char *buf, size_t len)
{
	const char *phase = phase_name(rec->phase);
	int n, m;

	if (phase == NULL || !value_ok(rec->set_name) || !value_ok(rec->member) || !value_ok(rec->hostname) ||
	    !value_ok(rec->job) || !value_ok(rec->mode) || !token_ok(rec->token))
		return -1;
	if ((rec->snapshot[0] != '\0' && !mbh_state_snapshot_path_ok(rec->snapshot)) ||
	    (rec->phase == MBH_PHASE_SNAPSHOT && rec->snapshot[0] == '\0') || rec->snapshot_since < 0)
		return -1;
	n = snprintf(buf, len,
	             STATE_HEADER "\n"
	             "set=%s\nmember=%s\nphase=%s\nlock_count=%" PRId64 "\nsince=%" PRId64 "\ndeadline=%" PRId64 "\n"
	             "pid=%ld\nhostname=%s\njob=%s\nmode=%s\nwatchdog_pid=%ld\nwatchdog_start=%" PRIu64 "\n"
	             "frozen=%d\ntoken=%s\ncommand_pid=%ld\ncommand_start=%" PRIu64 "\n",
	             rec->set_name, rec->member, phase, rec->lock_count, rec->since, rec->deadline, rec->pid,
	             rec->hostname, rec->job, rec->mode, rec->watchdog_pid, rec->watchdog_start, rec->frozen ? 1 : 0,
	             rec->token, rec->command_pid, rec->command_start);
	if (n < 0 || (size_t)n >= len)
		return -1;
	if (rec->snapshot[0] == '\0')
		return n;
	m = snprintf(buf + n, len - (size_t)n, "snapshot=%s\nsnapshot_since=%" PRId64 "\n", rec->snapshot,
		     rec->snapshot_since);
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return -1;
	return n + m;
}

/* Render the record, sealed. */
int
mbh_state_format(const mbh_state_rec *rec, char *buf, size_t len)
{
	int n, m;

	if ((n = format_body(rec, buf, len)) < 0)
		return -1;
	m = snprintf(buf + n, len - (size_t)n, "seal=%016" PRIx64 "\n", seal_of(buf, (size_t)n));
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return -1;
	return n + m;
}

static int
parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	long long v;
	char *end;

	if (s[0] == '\0' || isspace((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Copy a string value into a fixed field; -1 if it does not fit. */
static int
copy_field(char *dst, size_t dstlen, const char *v)
{
	size_t n = strlen(v);

	if (n >= dstlen)
		return -1;
	memcpy(dst, v, n + 1);
	return 0;
}

/* Parse one value into rec; -1 if it is bad. */
static int
parse_value(mbh_state_rec *rec, int key, const char *v)
{
	int64_t i;
	char *end;
	unsigned long long u;

	switch (key) {
	case K_SET:
		return set_name_ok(v) ? copy_field(rec->set_name, sizeof(rec->set_name), v) : -1;
	case K_MEMBER:
		return v[0] && !strpbrk(v, " \t") ? copy_field(rec->member, sizeof(rec->member), v) : -1;
	case K_PHASE:
		if (strcmp(v, "LOCKING") == 0)
			rec->phase = MBH_PHASE_LOCKING;
		else if (strcmp(v, "LOCKED") == 0)
			rec->phase = MBH_PHASE_LOCKED;
		else if (strcmp(v, "SNAPSHOT") == 0)
			rec->phase = MBH_PHASE_SNAPSHOT;
		else
			return -1;
		return 0;
	case K_LOCK_COUNT:
		return parse_i64(v, 0, INT64_MAX, &rec->lock_count);
	case K_SINCE:
		return parse_i64(v, 0, INT64_MAX, &rec->since);
	case K_DEADLINE:
		return parse_i64(v, 0, INT64_MAX, &rec->deadline);
	case K_PID:
		if (parse_i64(v, 1, LONG_MAX, &i) != 0)
			return -1;
		rec->pid = (long)i;
		return 0;
	case K_HOSTNAME:
		return copy_field(rec->hostname, sizeof(rec->hostname), v);
	case K_JOB:
		return copy_field(rec->job, sizeof(rec->job), v);
	case K_MODE:
		return mode_ok(v) ? copy_field(rec->mode, sizeof(rec->mode), v) : -1;
	case K_WATCHDOG_PID:
		if (parse_i64(v, 0, LONG_MAX, &i) != 0)
			return -1;
		rec->watchdog_pid = (long)i;
		return 0;
	case K_WATCHDOG_START:
	case K_COMMAND_START:
		if (v[0] < '0' || v[0] > '9')
			return -1;
		errno = 0;
		u = strtoull(v, &end, 10);
		if (errno != 0 || *end != '\0')
			return -1;
		*(key == K_WATCHDOG_START ? &rec->watchdog_start : &rec->command_start) = (uint64_t)u;
		return 0;
	case K_TOKEN:
		return token_ok(v) ? copy_field(rec->token, sizeof(rec->token), v) : -1;
	case K_COMMAND_PID:
		if (parse_i64(v, 0, LONG_MAX, &i) != 0)
			return -1;
		rec->command_pid = (long)i;
		return 0;
	case K_SNAPSHOT:
		return mbh_state_snapshot_path_ok(v) ? copy_field(rec->snapshot, sizeof(rec->snapshot), v) : -1;
	case K_SNAPSHOT_SINCE:
		return parse_i64(v, 0, INT64_MAX, &rec->snapshot_since);
	case K_FROZEN:
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			return -1;
		rec->frozen = v[0] == '1';
		return 0;
	default:
		return -1;
	}
}

/* Parse the file's text. */
int
mbh_state_parse(mbh_state_rec *out, const char *text, mbh_error *err)
{
	bool seen[K_COUNT] = { false };
	char line[1024], ek[256], ev[256]; /* the file's bytes are escaped before they reach a message */
	char seal[32] = "", body[4096];
	int blen;
	const char *p = text, *nl, *eq;
	size_t len;
	int lineno = 0, k;
	bool header = false;
	char *v;

	memset(out, 0, sizeof(*out));
	while (*p != '\0') {
		lineno++;
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if (len >= sizeof(line))
			return mbh_error_set(err, EX_DATAERR, "line %d: too long", lineno);
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (nl ? 1 : 0);
		if (!header) {
			if (strcmp(line, STATE_HEADER) != 0)
				return mbh_error_set(err, EX_DATAERR, "line %d: not a state file (expected \"%s\")",
				                     lineno, STATE_HEADER);
			header = true;
			continue;
		}
		if (line[0] == '\0' || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL)
			return mbh_error_set(err, EX_DATAERR, "line %d: expected key=value", lineno);
		line[eq - line] = '\0';
		v = line + (eq - line) + 1;
		for (k = 0; k < K_COUNT; k++)
			if (strcmp(line, key_names[k]) == 0)
				break;
		if (k == K_COUNT)
			return mbh_error_set(err, EX_DATAERR, "line %d: unknown key '%s'", lineno,
			                     mbh_escape(line, ek, sizeof(ek)));
		if (seen[k])
			return mbh_error_set(err, EX_DATAERR, "line %d: duplicate key '%s'", lineno,
			                     mbh_escape(line, ek, sizeof(ek)));
		seen[k] = true;
		if (k == K_SEAL) {
			if (strlen(v) != 16 || strspn(v, "0123456789abcdef") != 16)
				return mbh_error_set(err, EX_DATAERR, "line %d: bad value for 'seal': '%s'", lineno,
						     mbh_escape(v, ev, sizeof(ev)));
			memcpy(seal, v, 17);
			continue;
		}
		if (!value_ok(v) || parse_value(out, k, v) != 0)
			return mbh_error_set(err, EX_DATAERR, "line %d: bad value for '%s': '%s'", lineno,
			                     mbh_escape(line, ek, sizeof(ek)), mbh_escape(v, ev, sizeof(ev)));
	}
	if (!header)
		return mbh_error_set(err, EX_DATAERR, "line 1: empty state file (expected \"%s\")", STATE_HEADER);
	for (k = 0; k < K_FIRST_OPTIONAL; k++)
		if (!seen[k])
			return mbh_error_set(err, EX_DATAERR, "line %d: missing key '%s'", lineno + 1, key_names[k]);
	if (out->phase == MBH_PHASE_SNAPSHOT && !seen[K_SNAPSHOT])
		return mbh_error_set(err, EX_DATAERR, "line %d: missing key 'snapshot' (phase SNAPSHOT names its snapshot)",
				     lineno + 1);
	if (seen[K_SNAPSHOT_SINCE] && !seen[K_SNAPSHOT])
		return mbh_error_set(err, EX_DATAERR, "line %d: 'snapshot_since' without 'snapshot'", lineno + 1);
	/* records of earlier versions have no seal; a seal must match what the record says now */
	if (seen[K_SEAL]) {
		blen = format_body(out, body, sizeof(body));
		snprintf(ev, sizeof(ev), "%016" PRIx64, blen < 0 ? 0 : seal_of(body, (size_t)blen));
		if (blen < 0 || strcmp(ev, seal) != 0)
			return mbh_error_fail(err, MBH_ERR_RECORD_EDITED,
					      MBH_STATE_EDITED "; it is not acted on, since the lock it names cannot be shown "
					      "to be ours (the watchdog still unlocks the member it guards at its deadline): "
					      "check it, then remove it");
	}
	return 0;
}

/* See state.h. */
bool
mbh_state_set_name_ok(const char *s)
{
	return set_name_ok(s);
}

/* Same lock? */
bool
mbh_state_same_lock(const mbh_state_rec *a, const mbh_state_rec *want)
{
	if (a->token[0] != '\0' || want->token[0] != '\0')
		return strcmp(a->token, want->token) == 0;
	return strcmp(a->member, want->member) == 0 && a->since == want->since && a->pid == want->pid;
}
