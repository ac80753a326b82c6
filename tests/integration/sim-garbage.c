/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sim-garbage.c: raw bytes at one mongo-rs-sim member (garbage, truncation, huge lengths); every member keeps serving. */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim-harness.h"

#define PLAN 25

static const char *topology =
	"set_name = \"rsg\";\n"
	"max_wire_version = 21;\n"
	"auth = true;\n"
	"noop_interval_ms = 500;\n"
	"members = (\n"
	"  { port = 0; state = \"PRIMARY\"; },\n"
	"  { port = 0; },\n"
	"  { port = 0; }\n"
	");\n"
	"users = ( { name = \"backup\"; password = \"pw\"; roles = [ \"root\" ]; } );\n";

#define NMEMBERS 3
#define OPTS "connectTimeoutMS=2000&socketTimeoutMS=5000"

static sim *S;
static int port0;

static int
connect_port(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static bool
send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Read exactly len bytes within ms; 1 ok, 0 peer closed, -1 timeout/error. */
static int
recv_all(int fd, void *buf, size_t len, int ms)
{
	uint8_t *p = buf;
	int64_t deadline = th_now_ms() + ms;

	while (len > 0) {
		struct pollfd pf = { fd, POLLIN, 0 };
		int left = (int)(deadline - th_now_ms());
		ssize_t n;

		if (left <= 0)
			return -1;
		if (poll(&pf, 1, left) <= 0)
			continue;
		n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

/* The member closed the connection (EOF or reset) within ms, discarding any bytes it sent first. */
static bool
closed_within(int fd, int ms)
{
	uint8_t sink[4096];
	int64_t deadline = th_now_ms() + ms;

	for (;;) {
		struct pollfd pf = { fd, POLLIN, 0 };
		int left = (int)(deadline - th_now_ms());
		ssize_t n;

		if (left <= 0)
			return false;
		if (poll(&pf, 1, left) <= 0)
			continue;
		n = recv(fd, sink, sizeof sink, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0 && errno != EINTR)
			return true;
	}
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An OP_MSG with one kind-0 section holding json (+ $db admin); caller frees. */
static uint8_t *
op_msg(int32_t id, uint32_t flags, const char *json, size_t *len)
{
	bson_error_t err;
	bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &err);
	uint8_t *m;

	if (b == NULL)
		return NULL;
	BSON_APPEND_UTF8(b, "$db", "admin");
	*len = 16 + 4 + 1 + b->len;
	m = malloc(*len);
	if (m != NULL) {
		put32(m, (uint32_t)*len);
		put32(m + 4, (uint32_t)id);
		put32(m + 8, 0);
		put32(m + 12, 2013);
		put32(m + 16, flags);
		m[20] = 0;
		memcpy(m + 21, bson_get_data(b), b->len);
	}
	bson_destroy(b);
	return m;
}

/* An OP_QUERY on admin.$cmd; caller frees. */
static uint8_t *
op_query(int32_t id, const char *json, size_t *len)
{
	bson_error_t err;
	bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &err);
	static const char ns[] = "admin.$cmd";
	uint8_t *m;

	if (b == NULL)
		return NULL;
	*len = 16 + 4 + sizeof ns + 8 + b->len;
	m = malloc(*len);
	if (m != NULL) {
		put32(m, (uint32_t)*len);
		put32(m + 4, (uint32_t)id);
		put32(m + 8, 0);
		put32(m + 12, 2004);
		put32(m + 16, 4);
		memcpy(m + 20, ns, sizeof ns);
		put32(m + 20 + sizeof ns, 0);
		put32(m + 24 + sizeof ns, 0xffffffffu);
		memcpy(m + 28 + sizeof ns, bson_get_data(b), b->len);
	}
	bson_destroy(b);
	return m;
}

/* Read one reply; fills opcode, responseTo and the first document's ok. */
static bool
read_reply(int fd, int32_t *opcode, int32_t *response_to, double *ok, uint32_t *flags_or_nret)
{
	uint8_t h[16];
	uint8_t *body = NULL;
	uint32_t len;
	bool r = false;
	size_t off;
	bson_t doc;
	bson_iter_t it;

	if (recv_all(fd, h, 16, 5000) != 1)
		return false;
	len = get32(h);
	if (len < 16 || len > 48000000)
		return false;
	body = malloc(len - 16 + 1);
	if (body == NULL || recv_all(fd, body, len - 16, 5000) != 1)
		goto out;
	*response_to = (int32_t)get32(h + 8);
	*opcode = (int32_t)get32(h + 12);
	if (*opcode == 2013 && len >= 16 + 5 + 5) {
		*flags_or_nret = get32(body);
		off = 5;
	} else if (*opcode == 1 && len >= 16 + 20 + 5) {
		*flags_or_nret = get32(body + 16);
		off = 20;
	} else {
		goto out;
	}
	if (off + 4 > len - 16 || !bson_init_static(&doc, body + off, get32(body + off)) ||
	    off + get32(body + off) > len - 16)
		goto out;
	*ok = 0;
	if (bson_iter_init_find(&it, &doc, "ok"))
		*ok = bson_iter_as_double(&it);
	r = true;
out:
	free(body);
	return r;
}

/* Send raw bytes on a fresh connection and expect the member to close it. */
static void
expect_close(const void *buf, size_t len, const char *what)
{
	int fd = connect_port(port0);
	bool sent = fd >= 0 && send_all(fd, buf, len);

	tap_ok(sent && closed_within(fd, 5000), "%s: the member closes the connection", what);
	if (fd >= 0)
		close(fd);
}

/* Send raw bytes on a fresh connection, then hang up ourselves. */
static void
send_and_hang_up(const void *buf, size_t len)
{
	int fd = connect_port(port0);

	if (fd >= 0) {
		send_all(fd, buf, len);
		close(fd);
	}
}

static bool
ping_ok(mongoc_client_t *c)
{
	bson_t r;
	bson_error_t err;
	bool ok = c && th_cmd(c, "admin", &r, &err, "{\"ping\": 1}");

	bson_destroy(&r);
	return ok;
}

int
main(void)
{
	mongoc_client_t *before = NULL;
	char *uri;
	uint8_t buf[256];
	uint8_t *m;
	size_t len;
	int fd, slow_fd;
	int32_t opc = 0, rto = 0;
	uint32_t fl = 0;
	double okv = 0;
	bool r;
	int rc;

	mongoc_init();
	th_quiet_mongoc_log();
	th_watchdog(180);
	tap_plan(PLAN);
	S = sim_start(topology, NULL);
	if (S == NULL) {
		printf("Bail out! the simulator did not start\n");
		return 1;
	}
	{
		char *h = sim_host(S, 0);
		port0 = h ? (int)strtol(strchr(h, ':') ? strchr(h, ':') + 1 : "0", NULL, 10) : 0;
		free(h);
	}
	uri = sim_direct_uri(S, 0, "backup:pw", OPTS);
	before = uri ? th_client(uri) : NULL;
	free(uri);
	tap_ok(port0 > 0 && ping_ok(before), "a libmongoc client to member 0 works before the garbage");

	/* Sanity of the raw framing first: well-formed messages get well-formed replies. */
	fd = connect_port(port0);
	m = op_query(7, "{\"isMaster\": 1}", &len);
	r = fd >= 0 && m && send_all(fd, m, len) && read_reply(fd, &opc, &rto, &okv, &fl);
	tap_ok(r && opc == 1 && rto == 7 && fl == 1 && okv == 1.0,
	       "raw OP_QUERY isMaster -> OP_REPLY, responseTo 7, numberReturned 1, ok 1");
	free(m);
	m = op_msg(8, 0, "{\"ping\": 1}", &len);
	r = fd >= 0 && m && send_all(fd, m, len) && read_reply(fd, &opc, &rto, &okv, &fl);
	tap_ok(r && opc == 2013 && rto == 8 && fl == 0 && okv == 1.0,
	       "raw OP_MSG ping -> OP_MSG, responseTo 8, flagBits 0, ok 1");
	/* The same ping one byte at a time. */
	r = fd >= 0 && m != NULL;
	for (size_t i = 0; r && i < len; i++)
		r = send_all(fd, m + i, 1);
	r = r && read_reply(fd, &opc, &rto, &okv, &fl);
	tap_ok(r && rto == 8 && okv == 1.0, "a ping sent one byte at a time is answered once");
	free(m);
	/* Two pipelined pings in one write. */
	{
		size_t l1, l2;
		uint8_t *a = op_msg(21, 0, "{\"ping\": 1}", &l1), *b = op_msg(22, 0, "{\"ping\": 1}", &l2);
		uint8_t *both = (a && b) ? malloc(l1 + l2) : NULL;
		int32_t r1 = 0, r2 = 0;
		if (both) {
			memcpy(both, a, l1);
			memcpy(both + l1, b, l2);
		}
		r = fd >= 0 && both && send_all(fd, both, l1 + l2) && read_reply(fd, &opc, &r1, &okv, &fl) &&
		    read_reply(fd, &opc, &r2, &okv, &fl);
		tap_ok(r && r1 == 21 && r2 == 22, "two pipelined pings in one write get two replies in order");
		free(a);
		free(b);
		free(both);
	}
	/* moreToCome: no reply; the next request's reply comes first. */
	{
		size_t l1, l2;
		uint8_t *a = op_msg(31, 0x2, "{\"ping\": 1}", &l1), *b = op_msg(32, 0, "{\"ping\": 1}", &l2);
		int32_t r1 = 0;
		r = fd >= 0 && a && b && send_all(fd, a, l1) && send_all(fd, b, l2) &&
		    read_reply(fd, &opc, &r1, &okv, &fl);
		tap_ok(r && r1 == 32, "an OP_MSG with moreToCome gets no reply");
		free(a);
		free(b);
	}
	if (fd >= 0)
		close(fd);

	/* A connection that stalls half way through a header stays open during the rest. */
	slow_fd = connect_port(port0);
	if (slow_fd >= 0)
		send_all(slow_fd, "\x30\x00\x00\x00\x01\x00", 6);

	srand(12345);
	for (size_t i = 0; i < 64; i++)
		buf[i] = (uint8_t)rand();
	put32(buf, 0x5a5a5a5a);
	expect_close(buf, 64, "64 bytes of garbage (length 1.5 GB)");
	put32(buf, 0x7fffffff);
	put32(buf + 12, 2013);
	expect_close(buf, 32, "a header announcing 2 GB");
	put32(buf, 0x80000000u);
	expect_close(buf, 32, "a negative message length");
	put32(buf, 15);
	expect_close(buf, 16, "a message length of 15 (< header)");
	put32(buf, 48000001);
	expect_close(buf, 16, "a message length of 48000001 (> maxMessageSizeBytes)");
	m = op_msg(40, 0, "{\"ping\": 1}", &len);
	if (m) {
		put32(m + 21, 0x7fff); /* the BSON length runs past the message */
		expect_close(m, len, "an OP_MSG whose document overruns the message");
		put32(m + 21, (uint32_t)(len - 21));
		m[len - 1] = 0x7;      /* document does not end in NUL */
		expect_close(m, len, "an OP_MSG whose document is not terminated");
	} else {
		tap_ok(false, "an OP_MSG whose document overruns the message");
		tap_ok(false, "an OP_MSG whose document is not terminated");
	}
	free(m);
	m = op_msg(41, 0x1, "{\"ping\": 1}", &len);
	if (m)
		expect_close(m, len, "an OP_MSG with checksumPresent but no checksum");
	else
		tap_ok(false, "an OP_MSG with checksumPresent but no checksum");
	free(m);
	m = op_msg(42, 0, "{\"ping\": 1}", &len);
	if (m) {
		m[20] = 9; /* unknown section kind */
		expect_close(m, len, "an OP_MSG with section kind 9");
	} else {
		tap_ok(false, "an OP_MSG with section kind 9");
	}
	free(m);
	memset(buf, 'A', sizeof buf);
	put32(buf, 60);
	put32(buf + 4, 1);
	put32(buf + 8, 0);
	put32(buf + 12, 2004);
	expect_close(buf, 60, "an OP_QUERY whose collection name has no NUL");
	put32(buf, 40);
	put32(buf + 12, 9999);
	{
		int f2 = connect_port(port0);
		bool sent = f2 >= 0 && send_all(f2, buf, 40);
		tap_ok(sent && closed_within(f2, 5000), "an unknown opcode 9999: the member closes the connection");
		if (f2 >= 0)
			close(f2);
	}
	/* Truncations where the client hangs up first. */
	m = op_msg(43, 0, "{\"ping\": 1}", &len);
	if (m)
		send_and_hang_up(m, len / 2);
	free(m);
	send_and_hang_up("\x40\x00\x00\x00\x02\x00\x00\x00", 8);
	send_and_hang_up(buf, 1);
	/* A burst of connections that open and close. */
	for (int i = 0; i < 200; i++) {
		int f2 = connect_port(port0);
		if (f2 >= 0)
			close(f2);
	}
	tap_ok(sim_alive(S), "the simulator is still running after the garbage");

	tap_ok(ping_ok(before), "the client connected before the garbage still works on its socket");
	for (int i = 0; i < NMEMBERS; i++) {
		char *u = sim_direct_uri(S, i, "backup:pw", OPTS);
		mongoc_client_t *c = u ? th_client(u) : NULL;
		bson_t rep;
		bson_error_t err;
		bool ok = c && th_cmd(c, "admin", &rep, &err, "{\"replSetGetStatus\": 1}");
		if (!c)
			bson_init(&rep);
		tap_ok(ok, "member %d serves an authenticated replSetGetStatus afterwards", i);
		bson_destroy(&rep);
		mongoc_client_destroy(c);
		free(u);
	}
	{
		char *u = sim_seed_uri(S, "backup:pw", OPTS);
		mongoc_client_t *c = u ? th_client(u) : NULL;
		bson_t rep;
		bson_error_t err;
		bool ok = c && th_cmd_rp(c, "admin", MONGOC_READ_PRIMARY, &rep, &err, "{\"replSetGetStatus\": 1}");
		if (!c)
			bson_init(&rep);
		tap_ok(ok, "replica-set discovery through the seed URI works afterwards");
		bson_destroy(&rep);
		mongoc_client_destroy(c);
		free(u);
	}
	if (slow_fd >= 0)
		close(slow_fd);
	mongoc_client_destroy(before);
	tap_ok(sim_all_unlocked(S), "no member is locked");
	tap_is_int(sim_stop(S), 0, "the simulator exits 0 on SIGTERM");
	mongoc_cleanup();
	rc = tap_exit_status();
	return rc;
}
