#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# gen-seeds.py: writes the fuzzer's seed frames (*.bin) next to itself; run it again only to change them.
import os
import struct

import bson

HERE = os.path.dirname(os.path.abspath(__file__))


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def frame(request_id, opcode, payload):
    return struct.pack("<iiii", 16 + len(payload), request_id, 0, opcode) + payload


def query(doc, selector=None):
    payload = struct.pack("<i", 4) + b"admin.$cmd\0" + struct.pack("<ii", 0, -1) + bson.encode(doc)
    if selector is not None:
        payload += bson.encode(selector)
    return frame(1, 2004, payload)


def seq(ident, docs):
    body = ident.encode() + b"\0" + b"".join(bson.encode(d) for d in docs)
    return b"\x01" + struct.pack("<i", 4 + len(body)) + body


def msg(doc, seqs=(), flags=0):
    payload = struct.pack("<I", flags) + b"\x00" + bson.encode(doc) + b"".join(seqs)
    if flags & 1:
        whole = frame(2, 2013, payload + b"\0\0\0\0")
        return whole[:-4] + struct.pack("<I", crc32c(whole[:-4]))
    return frame(2, 2013, payload)


SEEDS = {
    "query-hello.bin": query({"isMaster": 1, "helloOk": True, "client": {"driver": {"name": "mongoc", "version": "1.23.1"}},
                             "compression": []}),
    "query-selector.bin": query({"hello": 1}, {"x": 1}),
    "msg-ping.bin": msg({"ping": 1, "$db": "admin"}),
    "msg-insert-kind1.bin": msg({"insert": "writes", "$db": "sim"}, [seq("documents", [{"_id": 1}, {"_id": 2, "s": "x"}])]),
    "msg-two-seqs.bin": msg({"update": "c", "$db": "d"},
                            [seq("updates", [{"q": {}, "u": {"$set": {"a": 1}}}]), seq("documents", [])]),
    "msg-checksum.bin": msg({"fsync": 1, "lock": True, "$db": "admin"}, flags=1),
    "msg-sasl.bin": msg({"saslStart": 1, "mechanism": "SCRAM-SHA-256",
                         "payload": bson.Binary(b"n,,n=backup,r=abcdefghijklmnopqrstuvwx"), "$db": "admin"}, flags=0x10000),
    "msg-types.bin": msg({"find": "c", "$db": "sim", "t": [bson.Code("f()"), bson.Code("g(x)", {"x": 1}),
                                                         bson.Regex("^a.*", "im"), bson.MinKey(), bson.MaxKey(),
                                                         bson.Timestamp(1, 2), bson.ObjectId(b"0123456789ab"),
                                                         bson.Decimal128("1.5"), True, b"\x00\x01",
                                                         {"nested": {"deeper": ["\u00e9t\u00e9"]}}]}),
    "msg-nested.bin": msg({"find": "c", "filter": {"a": [1, 2.5, {"b": None, "c": bson.Int64(7)}]}, "$db": "sim"}),
}

for name, data in SEEDS.items():
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
