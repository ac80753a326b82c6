/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* verify_cluster.c: `mongo-rs-sim verify --cluster NAME=DIR...`: each copied data directory of a
   simulated cluster (every shard and the CSRS) is whole, and together they are of one moment: the
   writes each router routed (stamped with its id and a sequence number that grows by one with every
   write that lands, cmd_route.c) are, across all the copies, 1..N with none missing and none twice. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "sim.h"

typedef struct found {
	const char *router;
	int64_t seq;
	const char *where;   /* the component's name */
} found;

static int found_cmp(const void *a, const void *b)
{
	const found *x = a, *y = b;
	int c = strcmp(x->router, y->router);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void usage(void)
{
	fprintf(stderr, "usage: mongo-rs-sim verify --cluster [--whole-only] NAME=DIR [NAME=DIR...]\n"
	                "  (one NAME=DIR per shard and one for the CSRS: each a member's copied data directory)\n");
}

/* One moment: for every router, its writes across all the copies are exactly 1..N.  Prints the verdict;
 * returns true when it holds. */
static bool one_moment(found *f, size_t n)
{
	size_t routers = 0, i = 0;

	qsort(f, n, sizeof *f, found_cmp);
	while (i < n) {
		size_t j = i;

		for (; j < n && strcmp(f[j].router, f[i].router) == 0; j++) {
			int64_t want = (int64_t)(j - i) + 1;

			if (j > i && f[j].seq == f[j - 1].seq) {
				printf("cluster: not one moment: router %s's write %lld is in two copies (%s and %s)\n",
				       f[j].router, (long long)f[j].seq, f[j - 1].where, f[j].where);
				return false;
			}
			if (f[j].seq != want) {
				printf("cluster: not one moment: router %s's write %lld is in no copy while its later write "
				       "%lld is (in %s): the copies are from different moments\n",
				       f[j].router, (long long)want, (long long)f[j].seq, f[j].where);
				return false;
			}
		}
		routers++;
		i = j;
	}
	printf("cluster: one moment: %zu routed writes from %zu router%s, each router's 1..N complete, each in "
	       "one copy\n",
	       n, routers, routers == 1 ? "" : "s");
	return true;
}

int sim_verify_cluster(int argc, char **argv)
{
	sim_dd_info *info;
	found *f = NULL;
	size_t nf = 0, ncomp = 0;
	bool whole_only = false, whole = true, moment;
	int first = 0, rc = EX_DATAERR;

	if (argc > 0 && strcmp(argv[0], "--whole-only") == 0) {
		whole_only = true;
		first = 1;
	}
	if (argc - first < 1) {
		usage();
		return EX_USAGE;
	}
	for (int i = first; i < argc; i++)
		if (!strchr(argv[i], '=') || argv[i][0] == '=' || !strchr(argv[i], '=')[1]) {
			fprintf(stderr, "mongo-rs-sim verify --cluster: '%s' is not NAME=DIR\n", argv[i]);
			usage();
			return EX_USAGE;
		}
	if (!(info = calloc((size_t)(argc - first), sizeof *info))) {
		fprintf(stderr, "mongo-rs-sim verify: out of memory\n");
		return EX_OSERR;
	}
	for (int i = first; i < argc; i++, ncomp++) {
		char *dir = strchr(argv[i], '=') + 1, err[8192];
		int namelen = (int)(dir - 1 - argv[i]);

		if (sim_datadir_check(dir, &info[ncomp], err, sizeof err) != 0) {
			printf("%.*s: not whole: %s\n", namelen, argv[i], err);
			whole = false;
			continue;
		}
		printf("%.*s: whole: records=%llu last_optime=%llu:%llu routed_writes=%zu\n", namelen, argv[i],
		       info[ncomp].records, info[ncomp].last_t, info[ncomp].last_i, info[ncomp].n_marks);
		if (info[ncomp].n_marks) {
			found *nv = realloc(f, (nf + info[ncomp].n_marks) * sizeof *nv);

			if (!nv) {
				fprintf(stderr, "mongo-rs-sim verify: out of memory\n");
				rc = EX_OSERR;
				goto out;
			}
			f = nv;
			argv[i][namelen] = '\0';   /* NAME alone, for the verdict */
			for (size_t k = 0; k < info[ncomp].n_marks; k++)
				f[nf++] = (found){info[ncomp].marks[k].router, info[ncomp].marks[k].seq, argv[i]};
		}
	}
	if (!whole) {
		printf("cluster: not whole: a copy above is torn or missing\n");
		goto out;
	}
	moment = one_moment(f, nf);
	rc = moment || whole_only ? 0 : EX_DATAERR;
out:
	for (size_t i = 0; i < ncomp; i++)
		sim_dd_info_free(&info[i]);
	free(info);
	free(f);
	return rc;
}
