/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* datadir.c: each data-bearing member's data directory (append-only data file + MANIFEST) and `verify`. */
#include "autoconfig.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "sim.h"

/*
 * DIR/<_id>/data      records: "SIMR" u32 doc_len u32 ts_t u32 ts_i i64 term, then doc_len bytes of BSON
 *                     {ts, t, wall, op: "n"|"i"|"u"|"d", [ns], o, [router, seq]} (router/seq: a write a mongos
 *                     routed here, its router's id and sequence number); all integers little-endian.
 * DIR/<_id>/MANIFEST  text, replaced atomically (temp + rename) after each apply batch:
 *                     "mongo-rs-sim-manifest 1\nrecords=N\nbytes=B\nlast_optime=T:I\nchecksum=fnv1a64:HEX\n"
 */

#define REC_HDR 24
#define FNV_PRIME 1099511628211ULL

uint64_t sim_fnv1a64(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_manifest(sim_member *m)
{
	char tmp[4096], fin[4096], text[512];
	int fd, n, rc = -1;

	snprintf(tmp, sizeof tmp, "%s/MANIFEST.tmp", m->dd.path);
	snprintf(fin, sizeof fin, "%s/MANIFEST", m->dd.path);
	n = snprintf(text, sizeof text,
	             "mongo-rs-sim-manifest 1\nrecords=%llu\nbytes=%llu\nlast_optime=%u:%u\nchecksum=fnv1a64:%016llx\n",
	             (unsigned long long)m->dd.records, (unsigned long long)m->dd.bytes, m->dd.last.t, m->dd.last.i,
	             (unsigned long long)m->dd.hash);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -1;
	if (write_all(fd, text, (size_t)n) == 0 && close(fd) == 0) {
		fd = -1;
		rc = rename(tmp, fin);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Create DIR/<_id>/ afresh for a data-bearing member (no-op without a data_dir). */
int sim_datadir_open(sim *s, sim_member *m, char *err, size_t errlen)
{
	char path[4096];

	if (!s->data_dir || m->arbiter)
		return 0;
	if (mkdir(s->data_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create the data directory %s: %s", s->data_dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof path, "%s/%d", s->data_dir, m->id);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if (!(m->dd.path = strdup(path)))
		return -1;
	snprintf(path, sizeof path, "%s/data", m->dd.path);
	m->dd.data_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (m->dd.data_fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	m->dd.hash = SIM_FNV_OFFSET;
	if (write_manifest(m) != 0) {
		snprintf(err, errlen, "cannot write %s/MANIFEST: %s", m->dd.path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Persist entries [from, to) that m just applied, then replace the MANIFEST. */
int sim_datadir_append(sim *s, sim_member *m, size_t from, size_t to)
{
	if (!m->dd.path || m->dd.data_fd < 0)
		return 0;
	for (size_t k = from; k < to && k < s->n_oplog; k++) {
		const sim_entry *e = &s->oplog[k];
		bson_t d = BSON_INITIALIZER;
		uint8_t hdr[REC_HDR];
		int rc;

		BSON_APPEND_TIMESTAMP(&d, "ts", e->op.t, e->op.i);
		BSON_APPEND_INT64(&d, "t", e->op.term);
		BSON_APPEND_DATE_TIME(&d, "wall", e->op.wall_ms);
		BSON_APPEND_UTF8(&d, "op", e->noop ? "n" : e->kind == 'u' ? "u" : e->kind == 'd' ? "d" : "i");
		if (e->ns)
			BSON_APPEND_UTF8(&d, "ns", e->ns);
		BSON_APPEND_DOCUMENT(&d, "o", e->doc);
		if (e->router) {
			BSON_APPEND_UTF8(&d, "router", e->router);
			BSON_APPEND_INT64(&d, "seq", e->seq);
		}
		memcpy(hdr, "SIMR", 4);
		put32(hdr + 4, d.len);
		put32(hdr + 8, e->op.t);
		put32(hdr + 12, e->op.i);
		put32(hdr + 16, (uint32_t)((uint64_t)e->op.term & 0xffffffffu));
		put32(hdr + 20, (uint32_t)((uint64_t)e->op.term >> 32));
		rc = write_all(m->dd.data_fd, hdr, REC_HDR) == 0 &&
		             write_all(m->dd.data_fd, bson_get_data(&d), d.len) == 0
		         ? 0
		         : -1;
		if (rc == 0) {
			m->dd.hash = sim_fnv1a64(m->dd.hash, hdr, REC_HDR);
			m->dd.hash = sim_fnv1a64(m->dd.hash, bson_get_data(&d), d.len);
			m->dd.bytes += REC_HDR + d.len;
			m->dd.records++;
			m->dd.last = e->op;
		}
		bson_destroy(&d);
		if (rc != 0)
			return -1;
	}
	return write_manifest(m);
}

/* Close the data file. */
void sim_datadir_close(sim_member *m)
{
	if (m->dd.data_fd >= 0)
		close(m->dd.data_fd);
	m->dd.data_fd = -1;
	free(m->dd.path);
	m->dd.path = NULL;
}

static int parse_u64(const char *v, unsigned long long *out)
{
	char *end;

	errno = 0;
	if (!*v || *v == '-')
		return -1;
	*out = strtoull(v, &end, 10);
	return errno || *end ? -1 : 0;
}

/* Remember a routed write's mark found in a record. */
static int add_mark(sim_dd_info *info, const bson_t *rec)
{
	bson_iter_t r, q;
	sim_dd_mark *nm;

	if (!bson_iter_init_find(&r, rec, "router") || !BSON_ITER_HOLDS_UTF8(&r) || !bson_iter_init_find(&q, rec, "seq") ||
	    !BSON_ITER_HOLDS_INT64(&q))
		return 0;
	if (!(nm = realloc(info->marks, (info->n_marks + 1) * sizeof *nm)))
		return -1;
	info->marks = nm;
	snprintf(nm[info->n_marks].router, sizeof nm[info->n_marks].router, "%s", bson_iter_utf8(&r, NULL));
	nm[info->n_marks++].seq = bson_iter_int64(&q);
	return 0;
}

void sim_dd_info_free(sim_dd_info *info)
{
	free(info->marks);
	memset(info, 0, sizeof *info);
}

/* Check a data directory copy: whole (the data file's length, checksum, record count and last optime
 * agree with the MANIFEST) fills info and returns 0; otherwise -1 with the reason in err. */
int sim_datadir_check(const char *dir, sim_dd_info *info, char *err, size_t errlen)
{
	char path[4096], text[1024], *line, *nl;
	unsigned long long records = 0, bytes = 0, hash = 0, ot = 0, oi = 0, n_rec = 0;
	unsigned got = 0;
	uint8_t *data = NULL;
	struct stat st;
	int fd = -1, rc = -1;
	ssize_t n;
	size_t off = 0, tl = 0;
	uint32_t last_t = 0, last_i = 0;

	memset(info, 0, sizeof *info);
	snprintf(path, sizeof path, "%s/MANIFEST", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	while (tl < sizeof text - 1 && (n = read(fd, text + tl, sizeof text - 1 - tl)) > 0)
		tl += (size_t)n;
	text[tl] = '\0';
	close(fd);
	fd = -1;
	if (strncmp(text, "mongo-rs-sim-manifest 1\n", 24) != 0) {
		snprintf(err, errlen, "%s: not a mongo-rs-sim MANIFEST", path);
		goto out;
	}
	for (line = text + 24; *line; line = nl + 1) {
		char *eq;

		if (!(nl = strchr(line, '\n'))) {
			snprintf(err, errlen, "%s: truncated line", path);
			goto out;
		}
		*nl = '\0';
		if (!(eq = strchr(line, '='))) {
			got = 0;
			break;
		}
		*eq++ = '\0';
		if (strcmp(line, "records") == 0 && parse_u64(eq, &records) == 0)
			got |= 1;
		else if (strcmp(line, "bytes") == 0 && parse_u64(eq, &bytes) == 0)
			got |= 2;
		else if (strcmp(line, "last_optime") == 0) {
			char *colon = strchr(eq, ':');

			if (colon)
				*colon = '\0';
			if (colon && parse_u64(eq, &ot) == 0 && parse_u64(colon + 1, &oi) == 0)
				got |= 4;
			else {
				got = 0;
				break;
			}
		} else if (strcmp(line, "checksum") == 0 && strncmp(eq, "fnv1a64:", 8) == 0) {
			char *end;

			errno = 0;
			hash = strtoull(eq + 8, &end, 16);
			if (errno || *end || end == eq + 8) {
				got = 0;
				break;
			}
			got |= 8;
		} else {
			got = 0;
			break;
		}
	}
	if (got != 15) {
		snprintf(err, errlen, "%s/MANIFEST: malformed", dir);
		goto out;
	}
	snprintf(path, sizeof path, "%s/data", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	if ((unsigned long long)st.st_size != bytes) {
		snprintf(err, errlen,
		         "%s has %lld bytes but the MANIFEST says %llu: a torn copy (copied while the member was "
		         "applying writes)",
		         path, (long long)st.st_size, bytes);
		goto out;
	}
	if (bytes > (1ULL << 31) || !(data = malloc(bytes ? bytes : 1))) {
		snprintf(err, errlen, "%s: too large", path);
		goto out;
	}
	for (off = 0; off < bytes; off += (size_t)n)
		if ((n = read(fd, data + off, bytes - off)) <= 0) {
			snprintf(err, errlen, "%s: short read", path);
			goto out;
		}
	if (sim_fnv1a64(SIM_FNV_OFFSET, data, bytes) != hash) {
		snprintf(err, errlen, "%s: checksum does not match the MANIFEST (a torn copy)", path);
		goto out;
	}
	for (off = 0; off < bytes;) {
		uint32_t dl;
		bson_t d;

		if (bytes - off < REC_HDR || memcmp(data + off, "SIMR", 4) != 0) {
			snprintf(err, errlen, "%s: bad record header at offset %zu", path, off);
			goto out;
		}
		dl = get32(data + off + 4);
		if (dl < 5 || dl > bytes - off - REC_HDR || !bson_init_static(&d, data + off + REC_HDR, dl) ||
		    !bson_validate(&d, BSON_VALIDATE_NONE, NULL)) {
			snprintf(err, errlen, "%s: bad record at offset %zu", path, off);
			goto out;
		}
		if (add_mark(info, &d) != 0) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		last_t = get32(data + off + 8);
		last_i = get32(data + off + 12);
		n_rec++;
		off += REC_HDR + dl;
	}
	if (n_rec != records || (records && (last_t != ot || last_i != oi))) {
		snprintf(err, errlen, "%s: %llu records ending at %u:%u, the MANIFEST says %llu ending at %llu:%llu", path,
		         n_rec, last_t, last_i, records, ot, oi);
		goto out;
	}
	info->records = records;
	info->last_t = ot;
	info->last_i = oi;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(data);
	if (rc != 0)
		sim_dd_info_free(info);
	return rc;
}

/* `mongo-rs-sim verify DIR`: 0 when whole, EX_DATAERR with the reason when not. */
int sim_datadir_verify(const char *dir)
{
	sim_dd_info info;
	char err[8192];

	if (sim_datadir_check(dir, &info, err, sizeof err) != 0) {
		fprintf(stderr, "mongo-rs-sim verify: %s\n", err);
		return EX_DATAERR;
	}
	printf("ok records=%llu last_optime=%llu:%llu\n", info.records, info.last_t, info.last_i);
	sim_dd_info_free(&info);
	return 0;
}
