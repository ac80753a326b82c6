/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* replay.c: run a fuzz target over its committed corpus without libFuzzer, one TAP line per input. */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

/*
 * FUZZ_CORPUS is the corpus directory relative to the source tree
 * ($top_srcdir, exported by `make check`).  Each input runs in a child of
 * its own, so a broken property (an abort) fails that input's line and the
 * others still run; a sanitizer build reports there too (leaks included).
 */
#ifndef FUZZ_CORPUS
#error "FUZZ_CORPUS must name the corpus directory"
#endif

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read a whole file; NULL on failure. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	uint8_t *buf = NULL, *nb;
	size_t cap = 0;
	ssize_t r;
	int fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	for (;;) {
		if (*len == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				close(fd);
				return NULL;
			}
			buf = nb;
		}
		r = read(fd, buf + *len, cap - *len);
		if (r <= 0)
			break;
		*len += (size_t)r;
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Run one input in a child; 0 when it passed. */
static int
run_one(const char *path, char *why, size_t whylen)
{
	uint8_t *data;
	size_t len;
	pid_t pid;
	int status;

	if ((data = slurp(path, &len)) == NULL) {
		snprintf(why, whylen, "cannot read it");
		return -1;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		LLVMFuzzerTestOneInput(data, len);
		exit(0); /* not _exit: a leak checker runs at exit */
	}
	free(data);
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		snprintf(why, whylen, "cannot run it");
		return -1;
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, whylen, "killed by signal %d", WTERMSIG(status));
		return -1;
	}
	if (WEXITSTATUS(status) != 0) {
		snprintf(why, whylen, "exit status %d", WEXITSTATUS(status));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	char dir[PATH_MAX], path[PATH_MAX * 2], why[64];
	const char *src = getenv("top_srcdir");
	char **names = NULL, **nn;
	size_t n = 0, i;
	struct dirent *de;
	struct stat st;
	int failed = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", src ? src : ".", FUZZ_CORPUS);
	if ((d = opendir(dir)) == NULL) {
		printf("Bail out! cannot open the corpus %s\n", dir);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if ((nn = realloc(names, (n + 1) * sizeof(*names))) == NULL || (nn[n] = strdup(de->d_name)) == NULL) {
			printf("Bail out! out of memory\n");
			return 1;
		}
		names = nn;
		n++;
	}
	closedir(d);
	if (n == 0) {
		printf("Bail out! the corpus %s is empty\n", dir);
		return 1;
	}
	qsort(names, n, sizeof(*names), by_name);
	LLVMFuzzerInitialize(&argc, &argv);
	printf("1..%zu\n", n);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (run_one(path, why, sizeof(why)) == 0) {
			printf("ok %zu - %s\n", i + 1, names[i]);
		} else {
			printf("not ok %zu - %s: %s\n", i + 1, names[i], why);
			failed = 1;
		}
		free(names[i]);
	}
	free(names);
	return failed;
}
