#!/usr/bin/python3
"""Regenerates the seed corpora of tests/fuzz/corpus/<target>/.

    /usr/bin/python3 tests/fuzz/make_seeds.py

Valid records are written by python3-avro (an independent implementation)
for each framing; malformed ones are built by hand from the Avro binary
encoding (a long is a zigzag varint, a string its length then its bytes, a
union its branch index then the value, an enum its symbol index), because
python3-avro refuses to write them. The YAML, CSV and JSON-lines seeds are
the repository's own files plus hand-written edge cases.

Files named `crash-*` are inputs a fuzzer once crashed on (kept, never
regenerated: this script leaves them alone). Every other file of a corpus
directory is rewritten. Each seed is below 64 KiB (the 1 MiB id case is a
unit test)."""
import glob
import io
import json
import os
import random
import re
import struct
import sys

import avro.io
import avro.schema

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(HERE, "corpus")
MAX_SEED = 64 * 1024 - 1


def load(path):
    with open(path) as f:
        text = f.read()
    return avro.schema.parse(text)


EVENT = load(os.path.join(ROOT, "schemas", "BehaviorEvent.avsc"))
ITEM = load(os.path.join(ROOT, "schemas", "ItemMeta.avsc"))
RECS = load(os.path.join(ROOT, "schemas", "UserRecs.avsc"))
NEWER = load(os.path.join(HERE, "schemas", "BehaviorEventNewer.avsc"))
OLDER = load(os.path.join(HERE, "schemas", "BehaviorEventOlder.avsc"))

# Confluent ids fuzz_codec.c registers.
IDS = [(EVENT, 1), (RECS, 2), (ITEM, 3), (NEWER, 10), (OLDER, 11)]


def schema_id(schema):
    return next(i for s, i in IDS if s is schema)

# CRC-64-AVRO of the Parsing Canonical Form, from the specification.
EMPTY = 0xC15D213AA4D7A795


def crc64_avro(data):
    fp = EMPTY
    for b in data:
        fp ^= b
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
    return fp


def fingerprint(schema):
    # python3-avro 1.11 keeps {"type":"long"} for a logical type; the
    # specification writes "long" (so does recstream).
    canon = re.sub(
        r'\{"type":"(null|boolean|int|long|float|double|bytes|string)"\}',
        r'"\1"', schema.canonical_form)
    return crc64_avro(canon.encode())


def frame(framing, schema, payload):
    if framing == "plain":
        return payload
    if framing == "confluent":
        return b"\x00" + struct.pack(">I", schema_id(schema)) + payload
    return b"\xc3\x01" + struct.pack("<Q", fingerprint(schema)) + payload


def plain_longs(node):
    """The schema JSON without logical types: the same binary encoding, and
    python3-avro then takes a timestamp-millis as the long it is."""
    if isinstance(node, dict):
        return {k: plain_longs(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [plain_longs(v) for v in node]
    return node


def avro_write(schema, record):
    writer = avro.schema.parse(json.dumps(plain_longs(schema.to_json())))
    buf = io.BytesIO()
    avro.io.DatumWriter(writer).write(record, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


# --- the Avro binary encoding by hand ---------------------------------------

def uvarint(u):
    out = bytearray()
    while True:
        b = u & 0x7F
        u >>= 7
        if u:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def long_(n):
    """A long as Avro writes it; n beyond 64 bits wraps."""
    return uvarint(((n << 1) ^ (n >> 63)) & (2 ** 64 - 1))


def overlong(n, size):
    """n as a varint stretched to `size` bytes with zero continuations."""
    u = ((n << 1) ^ (n >> 63)) & (2 ** 64 - 1)
    out = bytearray()
    for i in range(size):
        b = u & 0x7F
        u >>= 7
        out.append(b | (0x80 if i < size - 1 else 0))
    return bytes(out)


def str_(b):
    if isinstance(b, str):
        b = b.encode()
    return long_(len(b)) + b


def double_(x):
    return struct.pack("<d", x)


def null_or(branch, body=b""):
    return long_(branch) + body


def event_raw(**kw):
    """A built-in BehaviorEvent, field by field; any field may be given as
    raw bytes (key + '_raw')."""
    def field(name, default):
        return kw[name + "_raw"] if name + "_raw" in kw else default

    return b"".join([
        field("event_id", str_(kw.get("event_id", "e1"))),
        field("user_id", str_(kw.get("user_id", "u1"))),
        field("item_id", str_(kw.get("item_id", "v1"))),
        field("event_type", long_(kw.get("event_type", 3))),
        field("ts", long_(kw.get("ts", 1767225600123))),
        field("watch_ms", long_(kw.get("watch_ms", 41000))),
        field("duration_ms", null_or(1, long_(45000))),
        field("category", null_or(1, str_("cooking"))),
        field("value", null_or(0)),
        field("device", null_or(1, str_("ios"))),
        field("session_id", null_or(0)),
    ])


def item_raw(**kw):
    def field(name, default):
        return kw.get(name + "_raw", default)

    return b"".join([
        field("item_id", str_("v1")),
        field("category", null_or(1, str_("cooking"))),
        field("tags", long_(1) + str_("t") + long_(0)),
        field("duration_ms", null_or(1, long_(45000))),
        field("embedding", null_or(1, long_(4) + struct.pack("<4f", 1, 0, 0, 0)
                                   + long_(0))),
        field("status", long_(0)),
        field("updated_ts", long_(1767225600123)),
    ])


def recs_raw(items=None, **kw):
    def field(name, default):
        return kw.get(name + "_raw", default)

    if items is None:
        items = [rec_raw()]
    body = long_(len(items)) + b"".join(items) + long_(0) if items else long_(0)
    return b"".join([
        field("user_id", str_("u1")),
        field("generated_ts", long_(1767225600999)),
        field("pipeline", str_("video") + str_("abc123")),
        field("items", body),
    ])


def rec_raw(item="v2", score=0.75, reason=0, because_raw=None):
    return (str_(item) + double_(score) + long_(reason) +
            (because_raw if because_raw is not None else null_or(1, str_("v1"))))


# --- valid records by python3-avro ------------------------------------------

EVENTS = {
    "watch": {"event_id": "e1", "user_id": "u1", "item_id": "s3e2",
              "event_type": "watch", "ts": 1767225600123, "watch_ms": 41000,
              "duration_ms": 45000, "category": "cooking", "value": None,
              "device": "ios", "session_id": "s-9"},
    "rate": {"event_id": "e2", "user_id": "ü-ser \"q\"", "item_id": "v/ü",
             "event_type": "rate", "ts": 1, "watch_ms": 0,
             "duration_ms": None, "category": None, "value": 4.5,
             "device": None, "session_id": None},
    "minimal": {"event_id": "e3", "user_id": "u3", "item_id": "i3",
                "event_type": "impression", "ts": 0, "watch_ms": 0,
                "duration_ms": None, "category": None, "value": None,
                "device": None, "session_id": None},
    "cart": {"event_id": "e4", "user_id": "u4", "item_id": "i4",
             "event_type": "add_to_cart", "ts": -2 ** 63, "watch_ms": -1,
             "duration_ms": 2 ** 63 - 1, "category": "x" * 300,
             "value": -0.0, "device": "web", "session_id": "s"},
}

NEWER_EVENTS = {
    "newer-watch": {"schema_version": 2, "event_id": b"e1", "user_id": "u1",
                    "item_id": "v1", "event_type": "watch", "ts": 1700000000,
                    "tags": ["a", "b"], "watch_ms": 5000, "category": "c",
                    "value": 1.5, "extra": {"k": 1.0}, "tag4": b"abcd"},
    "newer-bookmark": {"schema_version": 2, "event_id": b"e2", "user_id": "u2",
                       "item_id": "v2", "event_type": "bookmark", "ts": 5,
                       "tags": [], "watch_ms": None, "category": None,
                       "value": None, "extra": {}, "tag4": b"\0\0\0\0"},
    "newer-null-user": {"schema_version": 2, "event_id": b"", "user_id": None,
                        "item_id": "v3", "event_type": "like", "ts": -1,
                        "tags": ["x"] * 50, "watch_ms": 2 ** 40,
                        "category": "c", "value": float("nan"),
                        "extra": {"a": float("inf"), "b": -1.0},
                        "tag4": b"\xff\xff\xff\xff"},
}

OLDER_EVENTS = {
    "older-watch": {"event_id": "e1", "user_id": b"u1", "item_id": "v1",
                    "event_type": "watch", "ts": 1767225600123,
                    "ctx": {"ok": True, "ratio": 0.5}, "duration_ms": 45000,
                    "value": 3},
    "older-rate": {"event_id": "e2", "user_id": b"\xff\xfe", "item_id": "v2",
                   "event_type": "rate", "ts": 2, "ctx": {"ok": False,
                                                          "ratio": -0.0},
                   "duration_ms": None, "value": 4.5},
    "older-unknown-type": {"event_id": "e3", "user_id": b"u3", "item_id": "v3",
                           "event_type": "teleport", "ts": 3,
                           "ctx": {"ok": True, "ratio": float("inf")},
                           "duration_ms": -2 ** 31, "value": None},
}

ITEMS = {
    "item-embedding": {"item_id": "v1", "category": "cooking",
                       "tags": ["quick", "veg"], "duration_ms": 45000,
                       "embedding": [0.5, -0.25, 1e30, 0.0],
                       "status": "active", "updated_ts": 1767225600123},
    "item-removed": {"item_id": "v2", "category": None, "tags": [],
                     "duration_ms": None, "embedding": None,
                     "status": "removed", "updated_ts": 0},
    "item-dim3": {"item_id": "v3", "category": "c", "tags": ["t"] * 20,
                  "duration_ms": 1, "embedding": [1.0, 2.0, 3.0],
                  "status": "active", "updated_ts": 5},
    "item-nan": {"item_id": "v4", "category": "", "tags": [""],
                 "duration_ms": -1,
                 "embedding": [float("nan"), float("inf"), -float("inf"), 1],
                 "status": "active", "updated_ts": -1},
}


def recs_record(n, because=True):
    return {"user_id": "u1", "generated_ts": 1767225600999,
            "pipeline": {"name": "video", "config_hash": "abc123"},
            "items": [{"item_id": "v%d" % i, "score": 1.0 / (i + 1),
                       "reason": ["covisit", "interest", "trending"][i % 3],
                       "because_of": ("v0" if because and i % 2 else None)}
                      for i in range(n)]}


RECS_RECORDS = {
    "recs-empty": recs_record(0),
    "recs-3": recs_record(3),
    "recs-200": recs_record(200),  # RS_RECS_MAX
    "recs-201": recs_record(201),  # one more than RS_RECS_MAX
    # version 3's channels: a finer one, one that does not match its
    # reason, a name not known, and fewer names than items
    "recs-channels": dict(recs_record(4), channels=["sequence", "trending", "no-such"]),
}


# --- malformed records by hand ----------------------------------------------

def malformed_events():
    out = {}
    # enum index out of range, also beyond 32 bits (avro-c reads a long
    # and keeps an int).
    for n in (12, 127, -1, 2 ** 31, 2 ** 32 + 3, 2 ** 63 - 1):
        out["enum-%s" % n] = event_raw(event_type=n)
    # union branch out of range, also beyond 32 bits
    for n in (2, -1, 2 ** 32 + 1):
        out["union-duration-%s" % n] = event_raw(
            duration_ms_raw=long_(n) + long_(5))
    out["union-category-5"] = event_raw(category_raw=long_(5) + str_("x"))
    # doubles: NaN, infinities, negative zero, a denormal, a signalling NaN
    for name, x in (("nan", float("nan")), ("inf", float("inf")),
                    ("-inf", -float("inf")), ("-0", -0.0), ("denormal", 5e-324)):
        out["value-" + name] = event_raw(value_raw=null_or(1, double_(x)))
    out["value-snan"] = event_raw(
        value_raw=null_or(1, struct.pack("<Q", 0x7FF0000000000001)))
    # empty ids
    out["empty-event-id"] = event_raw(event_id="")
    out["empty-user-id"] = event_raw(user_id="")
    out["empty-item-id"] = event_raw(item_id="")
    out["empty-ids"] = event_raw(event_id="", user_id="", item_id="")
    out["empty-category"] = event_raw(category_raw=null_or(1, str_("")))
    # invalid UTF-8 and NUL bytes in ids
    for name, b in (("ff", b"\xff\xfe"), ("overlong-nul", b"\xc0\x80"),
                    ("surrogate", b"\xed\xa0\x80"), ("cont", b"\x80u"),
                    ("truncated", b"u\xe2\x82"), ("nul", b"a\x00b"),
                    ("above-10ffff", b"\xf4\x90\x80\x80")):
        out["utf8-user-" + name] = event_raw(user_id_raw=str_(b))
    out["utf8-item-ff"] = event_raw(item_id_raw=str_(b"\xff"))
    out["utf8-category-ff"] = event_raw(category_raw=null_or(1, str_(b"\xc3")))
    # long ids (below 64 KiB a seed)
    out["long-user-16k"] = event_raw(user_id="u" * 16384)
    out["long-item-60k"] = event_raw(item_id="i" * 60000)
    # overlong varints: a 10-byte ts (the longest a long may take), 11
    # bytes (too long), a string length stretched with zero continuations
    out["varint-ts-10"] = event_raw(ts_raw=overlong(5, 10))
    out["varint-ts-11"] = event_raw(ts_raw=overlong(5, 11))
    out["varint-ts-ff"] = event_raw(ts_raw=b"\xff" * 10 + b"\x01")
    out["varint-len-overlong"] = event_raw(user_id_raw=overlong(2, 5) + b"u1")
    out["varint-enum-overlong"] = event_raw(event_type_raw=overlong(3, 10))
    # huge and negative lengths
    for n in (2 ** 62, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 2, 1000, -1, -2,
              -2 ** 63):
        out["len-user-%s" % n] = event_raw(user_id_raw=long_(n) + b"u1")
    out["len-category-huge"] = event_raw(
        category_raw=null_or(1, long_(2 ** 40) + b"c"))
    out["len-event-id-past-end"] = event_raw()[:1] + long_(100)
    return out


def malformed_items():
    return {
        "item-status-2": item_raw(status_raw=long_(2)),
        "item-status--1": item_raw(status_raw=long_(-1)),
        "item-status-2^32+1": item_raw(status_raw=long_(2 ** 32 + 1)),
        "item-embedding-huge-count": item_raw(
            embedding_raw=null_or(1, long_(2 ** 40) + b"\0" * 8)),
        "item-embedding-negative-block": item_raw(
            embedding_raw=null_or(1, long_(-2) + long_(8) +
                                  struct.pack("<2f", 1, 2) + long_(0))),
        "item-embedding-2-blocks": item_raw(
            embedding_raw=null_or(1, long_(2) + struct.pack("<2f", 1, 2) +
                                  long_(2) + struct.pack("<2f", 3, 4) +
                                  long_(0))),
        "item-embedding-min-block": item_raw(
            embedding_raw=null_or(1, long_(-2 ** 63) + long_(0))),
        "item-tags-huge": item_raw(tags_raw=long_(2 ** 62) + str_("t")),
        "item-tags-negative": item_raw(tags_raw=long_(-1) + long_(2) +
                                       str_("t") + long_(0)),
        "item-category-branch-2": item_raw(category_raw=long_(2) + str_("c")),
        "item-empty-id": item_raw(item_id_raw=str_("")),
        "item-utf8-ff": item_raw(item_id_raw=str_(b"\xff\x00")),
        "item-embedding-4096": item_raw(
            embedding_raw=null_or(1, long_(4096) + b"\0" * 16384 + long_(0))),
    }


def malformed_recs():
    return {
        "recs-reason-3": recs_raw([rec_raw(reason=3)]),
        "recs-reason--1": recs_raw([rec_raw(reason=-1)]),
        "recs-reason-2^32": recs_raw([rec_raw(reason=2 ** 32)]),
        "recs-because-branch-2": recs_raw([rec_raw(because_raw=long_(2) +
                                                   str_("x"))]),
        "recs-because-branch-2^32+1": recs_raw(
            [rec_raw(because_raw=long_(2 ** 32 + 1) + str_("x"))]),
        "recs-count-huge": recs_raw(items_raw=long_(2 ** 40) + rec_raw()),
        "recs-count-negative": recs_raw(items_raw=long_(-1) + long_(40) +
                                        rec_raw() + long_(0)),
        "recs-score-nan": recs_raw([rec_raw(score=float("nan"))]),
        "recs-empty-user": recs_raw(user_id_raw=str_("")),
        "recs-utf8-item": recs_raw([str_(b"\xfe") + double_(1) + long_(0) +
                                    null_or(0)]),
    }


def variants(name, blob, rng):
    """Truncations, trailing bytes and bit flips of a sound record."""
    out = {}
    n = len(blob)
    for cut in sorted({1, n // 2, n - 1}):
        if 0 < cut < n:
            out["%s.cut%d" % (name, cut)] = blob[:cut]
    out[name + ".trailing"] = blob + b"\x00"
    for k in range(3):
        b = bytearray(blob)
        for _ in range(k + 1):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        out["%s.flip%d" % (name, k)] = bytes(b)
    return out


def codec_seeds(framing):
    rng = random.Random("recstream-" + framing)
    seeds = {}

    def add(name, schema, payload, derive=True):
        blob = frame(framing, schema, payload)
        seeds[name] = blob
        if derive:
            seeds.update(variants(name, blob, rng))

    for name, rec in EVENTS.items():
        add("event-" + name, EVENT, avro_write(EVENT, rec))
    for name, rec in NEWER_EVENTS.items():
        add("event-" + name, NEWER, avro_write(NEWER, rec))
    for name, rec in OLDER_EVENTS.items():
        add("event-" + name, OLDER, avro_write(OLDER, rec))
    for name, payload in malformed_events().items():
        add("event-" + name, EVENT, payload, derive=False)
    for name, rec in ITEMS.items():
        add(name, ITEM, avro_write(ITEM, rec))
    for name, payload in malformed_items().items():
        add(name, ITEM, payload, derive=False)
    for name, rec in RECS_RECORDS.items():
        add(name, RECS, avro_write(RECS, rec), derive=name == "recs-3")
    for name, payload in malformed_recs().items():
        add(name, RECS, payload, derive=False)

    sound = avro_write(EVENT, EVENTS["watch"])
    seeds["empty"] = b""
    if framing == "confluent":
        seeds["confluent-magic-1"] = b"\x01" + frame(framing, EVENT, sound)[1:]
        seeds["confluent-short"] = b"\x00\x00\x00"
        seeds["confluent-header-only"] = b"\x00\x00\x00\x00\x01"
        for sid in (0, 4, 99, 2 ** 31 - 1, 2 ** 32 - 1):
            seeds["confluent-id-%d" % sid] = (b"\x00" + struct.pack(">I", sid)
                                              + sound)
        # an event under the ItemMeta and UserRecs ids
        seeds["confluent-event-as-item"] = b"\x00" + struct.pack(">I", 3) + sound
        seeds["confluent-event-as-recs"] = b"\x00" + struct.pack(">I", 2) + sound
    elif framing == "single-object":
        body = frame(framing, EVENT, sound)
        seeds["so-magic-c3-02"] = b"\xc3\x02" + body[2:]
        seeds["so-magic-c4-01"] = b"\xc4\x01" + body[2:]
        seeds["so-magic-confluent"] = b"\x00" + body[1:]
        seeds["so-short"] = body[:9]
        seeds["so-header-only"] = body[:10]
        seeds["so-unknown-fingerprint"] = (b"\xc3\x01" + bytes(8) + sound)
        seeds["so-random-fingerprint"] = (b"\xc3\x01" +
                                          struct.pack("<Q", 0x0123456789abcdef)
                                          + sound)
        seeds["so-event-as-item"] = (b"\xc3\x01" +
                                     struct.pack("<Q", fingerprint(ITEM)) +
                                     sound)
    else:
        seeds["plain-one-byte"] = b"\x00"
        seeds["plain-zeros"] = bytes(32)
        seeds["plain-ff"] = b"\xff" * 32
    return seeds


# --- text formats -------------------------------------------------------------

def read(path):
    with open(path, "rb") as f:
        return f.read()


PIPELINE_EXTRA = {
    "writer-schemas.yaml": b"""name: ws
source:
  topics: [events]
  framing: confluent
  writer_schemas:
    - file: schemas/BehaviorEvent.avsc
      id: 1
    - file: tests/fuzz/schemas/BehaviorEventNewer.avsc
      id: 10
    - {file: tests/fuzz/schemas/BehaviorEventOlder.avsc, id: 11}
items: {topic: items, framing: single-object, embedding_dim: 4}
sink: {topic: recs, framing: plain}
stages: [{type: passthrough}]
""",
    "writer-schema-not-event.yaml": b"""name: ws
source:
  writer_schemas: [{file: schemas/UserRecs.avsc}]
sink: {}
stages: [{type: passthrough}]
""",
    "env.yaml": b"""name: ${RECSTREAM_FUZZ_UNSET:-env}
kafka:
  bootstrap.servers: ${RECSTREAM_FUZZ_UNSET:-localhost:9092}
  client.id: "$$literal ${HOME}"
source: {topics: "${RECSTREAM_FUZZ_UNSET:-a}", group: "${", batch_size: 10}
sink: {topic: out}
stages: [{type: passthrough}]
""",
    "anchors.yaml": b"""defaults: &k {bootstrap.servers: "h:1"}
name: anchors
kafka: *k
source: {topics: [a, b], kafka: {<<: *k, fetch.min.bytes: 1}}
sink: {topic: o, kafka: *k}
stages:
  - &p {type: passthrough}
  - *p
""",
    "flow-tags.yaml": b"""{name: !!str 123, source: {topics: !!seq [a], batch_size: !!int "5",
 poll_timeout: 250ms}, sink: {topic: o, flush_timeout: 5m}, stages: [{type: passthrough}]}
""",
    "multi-doc.yaml": b"""name: a
stages: [{type: passthrough}]
---
name: b
""",
    "deep.yaml": b"name: d\nstages: " + b"[" * 200 + b"]" * 200 + b"\n",
    "utf8-bom.yaml": b"\xef\xbb\xbfname: bom\nsource: {}\nsink: {}\nstages: [{type: passthrough}]\n",
    "invalid-utf8.yaml": b"name: \xff\xfe\nstages: [{type: passthrough}]\n",
    "tabs.yaml": b"name: t\n\tsource: {}\n",
    "null-values.yaml": b"name: ~\nsource: null\nsink:\nstages: [~, {type: ~}]\n",
    "numbers.yaml": b"""name: n
source: {batch_size: 1e3, poll_timeout: -5s, max_inflight_batches: 0x10,
  schema_id: 99999999999999999999}
sink: {schema_id: .inf}
stages: [{type: passthrough}]
""",
    "long-key.yaml": b"name: l\n" + b"k" * 4000 + b": v\nstages: [{type: passthrough}]\n",
    "nul.yaml": b"name: a\x00b\nstages: [{type: passthrough}]\n",
    "empty.yaml": b"",
    "comment-only.yaml": b"# nothing\n",
    "scalar-root.yaml": b"just a scalar\n",
    "seq-root.yaml": b"- a\n- b\n",
}

CSV_HEADER = (b"event_id,user_id,item_id,event_type,ts_ms,watch_ms,"
              b"duration_ms,category,value\n")

CSV_EXTRA = {
    "quoted.csv": CSV_HEADER + b'1,"u,1","v""2",watch,5,4000,10000,"Kids, Family",\n'
                  b'2,"multi\nline",v,like,6,,,,\n',
    "unterminated-quote.csv": CSV_HEADER + b'1,"u1,v1,watch,5,,,,\n2,u2,v2,like,6,,,,\n',
    "quote-mid-field.csv": CSV_HEADER + b'1,u"1,v1,watch,5,,,,\n',
    "crlf.csv": CSV_HEADER.replace(b"\n", b"\r\n") + b"1,u1,v1,watch,5,,,,\r\n\r\n",
    "reordered-extra.csv": b"ts_ms,extra,item_id,event_type,user_id,event_id\n"
                           b"5,x,v1,click,u1,e1\n6,y,v2,skip,u2,e2,more,cols\n",
    "missing-column.csv": b"event_id,user_id,item_id,event_type\n1,u,v,like\n",
    "duplicate-columns.csv": b"event_id,user_id,item_id,event_type,ts_ms,user_id\n"
                             b"1,u1,v1,like,5,u2\n",
    "many-fields.csv": CSV_HEADER + b"1,u1,v1,like,5" + b",x" * 100 + b"\n",
    "many-header-fields.csv": b"a," * 70 + b"event_id,user_id,item_id,event_type,ts_ms\n"
                              + b"x," * 70 + b"1,u1,v1,like,5\n",
    "header-only.csv": CSV_HEADER,
    "header-no-newline.csv": CSV_HEADER[:-1],
    "empty.csv": b"",
    "blank-lines.csv": CSV_HEADER + b"\n\n1,u1,v1,like,5,,,,\n\n",
    "numbers.csv": CSV_HEADER +
    b"1,u,v,watch,9223372036854775807,-1,0,,\n"
    b"2,u,v,watch,9223372036854775808,,,,\n"
    b"3,u,v,watch,-9223372036854775809,,,,\n"
    b"4,u,v,watch, 5,,,,\n"
    b"5,u,v,watch,0x10,,,,\n"
    b"6,u,v,rate,5,,,,nan\n"
    b"7,u,v,rate,5,,,,inf\n"
    b"8,u,v,rate,5,,,,1e400\n"
    b"9,u,v,rate,5,,,,4.5x\n"
    b"10,u,v,rate,5,,,,-0\n",
    "bom.csv": b"\xef\xbb\xbf" + CSV_HEADER + b"1,u1,v1,like,5,,,,\n",
    "nul.csv": CSV_HEADER + b"1,u\x001,v1,like,5,,,,\n2,u2,v2\x00,like,6,,,,\n",
    "invalid-utf8.csv": CSV_HEADER + b"1,\xff\xfe,\xc0\x80,like,5,,,\xed\xa0\x80,\n",
    "empty-ids.csv": CSV_HEADER + b",u1,v1,like,5,,,,\n1,,v1,like,5,,,,\n1,u1,,like,5,,,,\n",
    "types.csv": CSV_HEADER + b"".join(
        b"%d,u,v,%s,%d,,,,\n" % (i, t, i) for i, t in enumerate(
            [b"impression", b"play", b"click", b"watch", b"like", b"share",
             b"comment", b"add_to_cart", b"purchase", b"skip", b"dislike",
             b"rate", b"WATCH", b"", b"teleport"])),
    "long-id.csv": CSV_HEADER + b"1,u1," + b"i" * 20000 + b",like,5,,,,\n",
    "no-final-newline.csv": CSV_HEADER + b"1,u1,v1,like,5,,,,",
    "quoted-eof.csv": CSV_HEADER + b'1,u1,v1,like,5,,,,"x"',
}

JSONL_EXTRA = {
    "escapes.jsonl": b'{"event_id":"e\\"1\\\\","user_id":"\\u00fc\\/","item_id":"\\ud83d\\ude00",'
                     b'"event_type":"watch","ts":5,"watch_ms":100,"duration_ms":null,'
                     b'"category":"a\\tb\\n","value":null}\n',
    "lone-surrogate.jsonl": b'{"event_id":"e","user_id":"\\ud800","item_id":"\\udc00x",'
                            b'"event_type":"like","ts_ms":5}\n',
    "nul-escape.jsonl": b'{"event_id":"e","user_id":"a\\u0000b","item_id":"v",'
                        b'"event_type":"like","ts_ms":5}\n',
    "short-escape.jsonl": b'{"event_id":"e","user_id":"\\u12',
    "short-escape-2.jsonl": b'{"event_id":"e","user_id":"\\u1"}\n{"event_id":"f"}\n',
    "escape-sign.jsonl": b'{"event_id":"e","user_id":"\\u-001","item_id":"\\u+7ff",'
                         b'"event_type":"like","ts_ms":5}\n',
    "bad-escape.jsonl": b'{"event_id":"e\\q","user_id":"u"}\n',
    "nested.jsonl": b'{"event_id":"e","meta":{"a":1},"user_id":"u","item_id":"v",'
                    b'"event_type":"like","ts_ms":5}\n',
    "array.jsonl": b'{"event_id":"e","tags":["a","b"]}\n[1,2]\n',
    "numbers.jsonl": b'{"event_id":1,"user_id":2,"item_id":3,"event_type":"rate",'
                     b'"ts_ms":1e3,"watch_ms":-0,"value":4.5e0}\n'
                     b'{"event_id":1,"user_id":2,"item_id":3,"event_type":"rate",'
                     b'"ts_ms":99999999999999999999,"value":1e999}\n',
    "literals.jsonl": b'{"event_id":true,"user_id":false,"item_id":null,"event_type":"like","ts":5}\n',
    "duplicate-keys.jsonl": b'{"event_id":"e","user_id":"u","user_id":"w","item_id":"v",'
                            b'"event_type":"like","ts":5,"ts_ms":6}\n',
    "missing.jsonl": b'{"event_id":"e"}\n{}\n{ }\n',
    "whitespace.jsonl": b' \t{ "event_id" : "e" , "user_id":"u",\t"item_id":"v",'
                        b'"event_type":"like","ts":5 }  \r\n\n   \n',
    "garbage.jsonl": b'not json\n{"event_id":\n{"a" "b"}\n{"a":}\n{"a":"b",}\n{\n}\n',
    "no-final-newline.jsonl": b'{"event_id":"e","user_id":"u","item_id":"v",'
                              b'"event_type":"like","ts":5}',
    "long-line.jsonl": b'{"event_id":"e","user_id":"' + b"u" * 10000 +
                       b'","item_id":"v","event_type":"like","ts":5}\n',
    "line-4095.jsonl": b'{"event_id":"e","user_id":"' + b"u" * (4095 - 62) +
                       b'","item_id":"v","event_type":"like","ts":5}\n'
                       b'{"event_id":"f","user_id":"u","item_id":"v","event_type":"like","ts":6}\n',
    "invalid-utf8.jsonl": b'{"event_id":"\xff","user_id":"\xc0\x80","item_id":"\xed\xa0\x80",'
                          b'"event_type":"like","ts":5}\n',
    "nul-byte.jsonl": b'{"event_id":"e","user_id":"u\x00","item_id":"v","event_type":"like","ts":5}\n'
                      b'{"event_id":"f","user_id":"u","item_id":"v","event_type":"like","ts":6}\n',
    "empty.jsonl": b"",
    "empty-ids.jsonl": b'{"event_id":"","user_id":"u","item_id":"v","event_type":"like","ts":5}\n',
}


def jsonl_from_csv(csv_bytes):
    lines = csv_bytes.decode().splitlines()
    head = lines[0].split(",")
    out = []
    for line in lines[1:]:
        row = dict(zip(head, line.split(",")))
        obj = {}
        for k, v in row.items():
            if v == "":
                obj[k] = None
            elif k in ("ts_ms", "watch_ms", "duration_ms"):
                obj[k] = int(v)
            elif k == "value":
                obj[k] = float(v)
            else:
                obj[k] = v
        out.append(json.dumps(obj, ensure_ascii=False))
    return ("\n".join(out) + "\n").encode()


def text_seeds():
    pipeline = {}
    for pattern in ("pipelines/*.yaml", "tests/config/*.yaml",
                    "tests/eval/*.yaml", "tests/golden/cases/*.yaml",
                    "tests/e2e/*.yaml"):
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            rel = os.path.relpath(path, ROOT)
            pipeline[rel.replace("/", "_")] = read(path)
    pipeline.update(PIPELINE_EXTRA)

    csv = {"tiny.csv": read(os.path.join(ROOT, "tests", "eval", "tiny.csv")),
           "golden-events.csv": read(os.path.join(ROOT, "tests", "golden",
                                                  "events.csv"))}
    csv.update(CSV_EXTRA)

    jsonl = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "tests/golden/cases/*.jsonl"))):
        jsonl["golden-" + os.path.basename(path)] = read(path)
    jsonl["tiny.jsonl"] = jsonl_from_csv(csv["tiny.csv"])
    jsonl.update(JSONL_EXTRA)
    return {"pipeline": pipeline, "csv": csv, "jsonl": jsonl}


def write_corpus(target, seeds):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if not name.startswith("crash-"):
            os.unlink(os.path.join(d, name))
    for name, blob in sorted(seeds.items()):
        assert len(blob) <= MAX_SEED, (target, name, len(blob))
        assert re.fullmatch(r"[A-Za-z0-9._^+-]+", name), name
        if target.startswith("codec_"):
            name += ".bin"
        with open(os.path.join(d, name), "wb") as f:
            f.write(blob)
    print("%s: %d seeds" % (target, len(seeds)))


def main():
    for framing in ("plain", "confluent", "single-object"):
        write_corpus("codec_" + framing.replace("-", "_"), codec_seeds(framing))
    for target, seeds in text_seeds().items():
        write_corpus(target, seeds)


if __name__ == "__main__":
    sys.exit(main())
