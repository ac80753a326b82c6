/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fuzz_wire.c: libFuzzer target for the simulator's wire decoder (and the reply encoder behind it). */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A decoded body, sent back as a reply, must decode again to the same bytes. */
static void
check_reply(const sim_msg *req)
{
	sim_msg back;
	char err[256];
	size_t n = 0;
	uint8_t *reply = sim_wire_encode_reply(req, 1, &req->body, &n);

	if (reply == NULL)
		return; /* only when the body is too big to echo inside a frame */
	if (req->opcode == SIM_OP_MSG) {
		if (sim_wire_decode(&back, reply, n, err, sizeof err) != 0 || back.body.len != req->body.len ||
		    memcmp(bson_get_data(&back.body), bson_get_data(&req->body), req->body.len) != 0)
			abort();
		sim_msg_clean(&back);
	} else if (n != 36 + (size_t)req->body.len) {
		abort();
	}
	free(reply);
}

/* Frame the input as the server does, then also decode it whole (length mismatches included). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sim_msg m;
	char err[256];
	int64_t flen = sim_wire_frame_len(data, size);

	if (flen > 0 && (size_t)flen <= size) {
		if (sim_wire_decode(&m, data, (size_t)flen, err, sizeof err) == 0) {
			check_reply(&m);
			sim_msg_clean(&m);
		} else if (m.has_body || err[0] == '\0') {
			abort(); /* a failure must leave no body and give a reason */
		}
	}
	if (sim_wire_decode(&m, data, size, err, sizeof err) == 0)
		sim_msg_clean(&m);
	return 0;
}
