/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * pipetimer: `pipetimer REPORT CMD [ARG...]` runs CMD with its stdout on a
 * pipe of ours (`pipetimer REPORT -f FILE` reads FILE itself instead: one
 * process, one exec, no second start between the command's start and its
 * first byte) and passes every byte on to our own stdout, noting the wall
 * clock (CLOCK_REALTIME, ns) of the first and of the last byte handed to
 * stdout.  Used by bench/plugin-bench.sh in front of the data command of both
 * file-daemon plugins (mongo-fd.so runs it as script.backup, bpipe-fd.so as
 * its reader), so both streams are timed the same way, at the mouth of the
 * pipe the plugin reads: a write returns once the bytes are in that pipe,
 * which holds 64 KiB, so the last byte is stamped when the plugin has taken
 * all but at most 64 KiB of the stream.
 *
 * When stdout is a pipe the bytes are moved with splice(2) (no copy: pages
 * change pipes), else read/write with a 128 KiB buffer.  Our stdout is closed
 * right after the last byte, before CMD is reaped and REPORT written, so the
 * plugin sees the end of the stream at once.  REPORT gets one line
 *   bytes=N start=S first=F last=L eof=E status=RC method=splice|copy
 * (times: seconds since the epoch, 9 decimals; start = before CMD was
 * started; eof = when our stdout was closed), written to REPORT.tmp and
 * renamed.  The exit status is CMD's (128+N for signal N; 127 when it cannot
 * be run).  Not installed; built by `make bench-plugin`.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COPY_BUF (128 * 1024)
#define SPLICE_MAX (1024 * 1024)

static void
stamp(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static void
fmt_ts(char *out, size_t len, const struct timespec *ts)
{
	snprintf(out, len, "%lld.%09ld", (long long)ts->tv_sec, ts->tv_nsec);
}

int
main(int argc, char **argv)
{
	struct timespec t_start, t_first = { 0, 0 }, t_last = { 0, 0 }, t_eof;
	char s_start[32], s_first[32], s_last[32], s_eof[32], tmp[4096];
	static char buf[COPY_BUF];
	unsigned long long total = 0;
	struct stat st;
	int p[2], status = 0, rc, use_splice;
	pid_t pid;
	ssize_t n, w, off;
	FILE *rf;

	if (argc < 3 || (strcmp(argv[2], "-f") == 0 && argc != 4)) {
		fprintf(stderr, "usage: pipetimer REPORT CMD [ARG...] | pipetimer REPORT -f FILE\n");
		return 2;
	}
	signal(SIGPIPE, SIG_DFL);
	use_splice = fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode);
	stamp(&t_start);
	if (strcmp(argv[2], "-f") == 0) {
		pid = -1;
		if ((p[0] = open(argv[3], O_RDONLY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "pipetimer: %s: %s\n", argv[3], strerror(errno));
			return 127;
		}
		goto copy;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		perror("pipetimer: pipe");
		return 127;
	}
	pid = fork();
	if (pid < 0) {
		perror("pipetimer: fork");
		return 127;
	}
	if (pid == 0) {
		if (dup2(p[1], STDOUT_FILENO) < 0)
			_exit(127);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "pipetimer: cannot run %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	close(p[1]);
copy:
	for (;;) {
		if (use_splice) {
			n = splice(p[0], NULL, STDOUT_FILENO, NULL, SPLICE_MAX, SPLICE_F_MOVE);
			if (n < 0 && errno == EINVAL && total == 0) {
				use_splice = 0; /* e.g. a pipe the kernel will not splice into: copy instead */
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				perror("pipetimer: splice");
				rc = 1;
				goto stop;
			}
			if (n == 0)
				break;
		} else {
			n = read(p[0], buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				perror("pipetimer: read");
				rc = 1;
				goto stop;
			}
			if (n == 0)
				break;
			for (off = 0; off < n; off += w) {
				w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
				if (w < 0 && errno == EINTR) {
					w = 0;
					continue;
				}
				if (w < 0) {
					perror("pipetimer: write");
					rc = 1;
					goto stop;
				}
			}
		}
		stamp(&t_last);
		if (total == 0)
			t_first = t_last;
		total += (unsigned long long)n;
	}
	rc = 0;
stop:
	close(STDOUT_FILENO); /* the end of the stream, before anything else */
	stamp(&t_eof);
	close(p[0]);
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		status = 128 + WTERMSIG(status);
	else
		status = WEXITSTATUS(status);
	if (rc == 0)
		rc = status;
	fmt_ts(s_start, sizeof(s_start), &t_start);
	fmt_ts(s_first, sizeof(s_first), &t_first);
	fmt_ts(s_last, sizeof(s_last), &t_last);
	fmt_ts(s_eof, sizeof(s_eof), &t_eof);
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	if ((rf = fopen(tmp, "w")) == NULL) {
		perror("pipetimer: report");
		return rc != 0 ? rc : 1;
	}
	fprintf(rf, "bytes=%llu start=%s first=%s last=%s eof=%s status=%d method=%s\n", total, s_start, s_first,
	        s_last, s_eof, status, use_splice ? "splice" : "copy");
	if (fclose(rf) != 0 || rename(tmp, argv[1]) != 0) {
		perror("pipetimer: report");
		return rc != 0 ? rc : 1;
	}
	return rc;
}
