"""Avro interop both ways against python3-avro, an independent
implementation: BehaviorEvents written by python3-avro (plain, Confluent,
single-object; current, newer and older writer schemas) decode in recstream
to the same field values, and UserRecs written by recstream decode in
python3-avro, in every framing."""
import datetime
import io
import json
import re
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import BUILD, ROOT, check, done  # noqa: E402

import avro.io  # noqa: E402
import avro.schema  # noqa: E402

TOOL = os.path.join(BUILD, "tests", "codec_tool")
SCHEMAS = os.path.join(ROOT, "schemas")
EVENT_JSON = open(os.path.join(SCHEMAS, "BehaviorEvent.avsc")).read()
EVENT = avro.schema.parse(EVENT_JSON)
RECS = avro.schema.parse(open(os.path.join(SCHEMAS, "UserRecs.avsc")).read())
ITEM = avro.schema.parse(open(os.path.join(SCHEMAS, "ItemMeta.avsc")).read())

# CRC-64-AVRO from the Avro specification, written here independently.
EMPTY = 0xC15D213AA4D7A795
TABLE = []
for i in range(256):
    fp = i
    for _ in range(8):
        fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
    TABLE.append(fp)


def crc64_avro(data):
    fp = EMPTY
    for b in data:
        fp = (fp >> 8) ^ TABLE[(fp ^ b) & 0xFF]
    return fp


def spec_canonical_form(schema):
    """python3-avro 1.11.1 keeps {"type":"long"} for a logical type; the
    specification's [PRIMITIVES] rule (and the Java reference) writes "long".
    recstream follows the specification."""
    return re.sub(r'\{"type":"(null|boolean|int|long|float|double|bytes|string)"\}',
                  r'"\1"', schema.canonical_form)


def fingerprint(schema):
    return crc64_avro(spec_canonical_form(schema).encode())


UTC = datetime.timezone.utc


def ms_to_dt(ms):
    return datetime.datetime(1970, 1, 1, tzinfo=UTC) + datetime.timedelta(milliseconds=ms)


def dt_to_ms(dt):
    return (dt - datetime.datetime(1970, 1, 1, tzinfo=UTC)) // datetime.timedelta(milliseconds=1)


def encode(schema, record):
    record = dict(record)
    if isinstance(record.get("ts"), int) and "logicalType" in json.dumps(
            schema.to_json()):
        record["ts"] = ms_to_dt(record["ts"])
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def frame(framing, schema, payload, schema_id):
    if framing == "plain":
        return payload
    if framing == "confluent":
        return b"\x00" + struct.pack(">I", schema_id) + payload
    return b"\xc3\x01" + struct.pack("<Q", fingerprint(schema)) + payload


def decode(framing, blobs, writers=()):
    args = [TOOL, "decode-events", framing]
    for path, sid in writers:
        args += [path, str(sid)]
    out = subprocess.run(args, input="".join(b.hex() + "\n" for b in blobs),
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


EVENTS = [
    {"event_id": "e1", "user_id": "u1", "item_id": "s3e2", "event_type": "watch",
     "ts": 1767225600123, "watch_ms": 41000, "duration_ms": 45000,
     "category": "cooking", "value": None, "device": "ios", "session_id": "s-9"},
    {"event_id": "e2", "user_id": "ü-ser \"q\"", "item_id": "v/ü", "event_type": "rate",
     "ts": 1, "watch_ms": 0, "duration_ms": None, "category": None,
     "value": 4.5, "device": None, "session_id": None},
    {"event_id": "e3", "user_id": "u3", "item_id": "i3", "event_type": "add_to_cart",
     "ts": 2 ** 42, "watch_ms": 0, "duration_ms": None, "category": "x" * 250,
     "value": None, "device": None, "session_id": None},
]


def expected(e):
    return {k: e[k] for k in ("user_id", "item_id", "event_type", "ts",
                               "watch_ms", "duration_ms", "category", "value")}


def strip(d):
    d = dict(d)
    d.pop("event_hash", None)
    return d


def python_events_decode(framing):
    blobs = [frame(framing, EVENT, encode(EVENT, e), 1) for e in EVENTS]
    got = decode(framing, blobs)
    assert [strip(g) for g in got] == [expected(e) for e in EVENTS], got


def newer_writer_decodes(framing):
    """A writer that added an optional field (and a new enum symbol, used
    by one record only) is read with the built-in reader schema."""
    schema = json.loads(EVENT_JSON)
    schema["fields"].append({"name": "country", "type": ["null", "string"],
                             "default": None})
    for f in schema["fields"]:
        if f["name"] == "event_type":
            f["type"]["symbols"].append("bookmark")
    newer = avro.schema.parse(json.dumps(schema))
    with tempfile.NamedTemporaryFile("w", suffix=".avsc", delete=False) as f:
        json.dump(schema, f)
    try:
        recs = [dict(e, country="SE") for e in EVENTS]
        recs.append(dict(EVENTS[0], event_type="bookmark", country=None))
        recs.append(EVENTS[1] | {"country": None})
        blobs = [frame(framing, newer, encode(newer, r), 7) for r in recs]
        got = decode(framing, blobs, [(f.name, 7)])
        assert [strip(g) for g in got[:3]] == [expected(e) for e in EVENTS]
        assert got[3] == {"error": "unknown_event_type"}, got[3]
        assert strip(got[4]) == expected(EVENTS[1])  # the next one still reads
    finally:
        os.unlink(f.name)


def older_writer_decodes(framing):
    """A writer from before duration/category/value/device/session existed:
    the reader's new optional fields take their defaults."""
    schema = json.loads(EVENT_JSON)
    keep = ("event_id", "user_id", "item_id", "event_type", "ts", "watch_ms")
    schema["fields"] = [f for f in schema["fields"] if f["name"] in keep]
    older = avro.schema.parse(json.dumps(schema))
    with tempfile.NamedTemporaryFile("w", suffix=".avsc", delete=False) as f:
        json.dump(schema, f)
    try:
        rec = {k: EVENTS[0][k] for k in keep}
        got = decode(framing, [frame(framing, older, encode(older, rec), 3)],
                     [(f.name, 3)])
        want = expected(EVENTS[0]) | {"duration_ms": None, "category": None,
                                      "value": None}
        assert strip(got[0]) == want, got
    finally:
        os.unlink(f.name)


def fingerprints_agree():
    out = subprocess.run([TOOL, "fingerprint",
                          os.path.join(SCHEMAS, "BehaviorEvent.avsc")],
                         capture_output=True, text=True, check=True).stdout
    canon, fp = out.split("\n")[:2]
    assert canon == spec_canonical_form(EVENT), (canon, EVENT.canonical_form)
    assert int(fp, 16) == fingerprint(EVENT)


def recstream_recs_decode(framing):
    lines = ["u1 1767225600999 s3e3:0.75:covisit:s3e2 hot:0.5:trending:- "
             "s3e4:0.25:sequence:s3e3",
             "u2 5",
             "ü 7 v/ü:1e-300:interest:-"]
    out = subprocess.run([TOOL, "encode-recs", framing, "video", "abc123"],
                         input="\n".join(lines) + "\n", capture_output=True,
                         text=True, check=True).stdout.split()
    want = [
        {"user_id": "u1", "generated_ts": 1767225600999,
         "pipeline": {"name": "video", "config_hash": "abc123"},
         "items": [{"item_id": "s3e3", "score": 0.75, "reason": "covisit",
                    "because_of": "s3e2"},
                   {"item_id": "hot", "score": 0.5, "reason": "trending",
                    "because_of": None},
                   # the sequence channel: covisit for readers of reason
                   {"item_id": "s3e4", "score": 0.25, "reason": "covisit",
                    "because_of": "s3e3"}],
         "published_ts": None, "list_id": None,
         "channels": ["covisit", "trending", "sequence"]},
        {"user_id": "u2", "generated_ts": 5,
         "pipeline": {"name": "video", "config_hash": "abc123"}, "items": [],
         "published_ts": None, "list_id": None, "channels": []},
        {"user_id": "ü", "generated_ts": 7,
         "pipeline": {"name": "video", "config_hash": "abc123"},
         "items": [{"item_id": "v/ü", "score": 1e-300, "reason": "interest",
                    "because_of": None}],
         "published_ts": None, "list_id": None, "channels": ["interest"]},
    ]
    reader = avro.io.DatumReader(RECS)
    for blob_hex, w in zip(out, want):
        blob = bytes.fromhex(blob_hex)
        if framing == "confluent":
            assert blob[0] == 0 and struct.unpack(">I", blob[1:5])[0] == 2
            blob = blob[5:]
        elif framing == "single-object":
            assert blob[:2] == b"\xc3\x01"
            assert struct.unpack("<Q", blob[2:10])[0] == fingerprint(RECS)
            blob = blob[10:]
        got = reader.read(avro.io.BinaryDecoder(io.BytesIO(blob)))
        got["generated_ts"] = dt_to_ms(got["generated_ts"])
        assert got == w, (got, w)


def older_reader_reads_recs():
    """A downstream reader with an older UserRecs schema (no pipeline, no
    because_of) reads what recstream writes, through Avro resolution."""
    schema = json.loads(open(os.path.join(SCHEMAS, "UserRecs.avsc")).read())
    schema["fields"] = [f for f in schema["fields"]
                        if f["name"] not in ("pipeline", "published_ts", "list_id",
                                             "channels")]
    items = [f for f in schema["fields"] if f["name"] == "items"][0]["type"]["items"]
    items["fields"] = [f for f in items["fields"] if f["name"] != "because_of"]
    older = avro.schema.parse(json.dumps(schema))
    out = subprocess.run([TOOL, "encode-recs", "plain", "video", "h"],
                         input="u9 3 a:2:covisit:b\n", capture_output=True,
                         text=True, check=True).stdout.split()
    got = avro.io.DatumReader(RECS, older).read(
        avro.io.BinaryDecoder(io.BytesIO(bytes.fromhex(out[0]))))
    got["generated_ts"] = dt_to_ms(got["generated_ts"])
    assert got == {"user_id": "u9", "generated_ts": 3,
                   "items": [{"item_id": "a", "score": 2.0,
                              "reason": "covisit"}]}, got


def python_items_decode(framing):
    items = [
        {"item_id": "s1e3", "category": "drama", "tags": ["x", "y"], "duration_ms": 61000,
         "embedding": [0.5, -1.25, 3.0], "status": "active", "updated_ts": ms_to_dt(5)},
        {"item_id": "v9", "category": None, "tags": [], "duration_ms": None,
         "embedding": None, "status": "removed", "updated_ts": ms_to_dt(6)},
    ]
    blobs = [frame(framing, ITEM, encode(ITEM, it), 3) for it in items]
    out = subprocess.run([TOOL, "decode-items", framing],
                         input="".join(b.hex() + "\n" for b in blobs),
                         capture_output=True, text=True, check=True).stdout
    got = [json.loads(line) for line in out.splitlines()]
    assert got == [
        {"item_id": "s1e3", "category": "drama", "duration_ms": 61000,
         "embedding": [0.5, -1.25, 3.0], "removed": False, "updated_ts": 5},
        {"item_id": "v9", "category": None, "duration_ms": None, "embedding": None,
         "removed": True, "updated_ts": 6},
    ], got


for fr in ("plain", "confluent", "single-object"):
    check(f"python3-avro BehaviorEvent ({fr}) decodes in recstream",
          python_events_decode, fr)
    check(f"newer writer schema with an added optional field ({fr})",
          newer_writer_decodes, fr)
    check(f"older writer schema, reader defaults ({fr})",
          older_writer_decodes, fr)
    check(f"recstream UserRecs ({fr}) decodes in python3-avro",
          recstream_recs_decode, fr)
    check(f"python3-avro ItemMeta ({fr}) decodes in recstream",
          python_items_decode, fr)
check("canonical form and CRC-64-AVRO agree with python3-avro",
      fingerprints_agree)
check("an older UserRecs reader schema reads recstream output",
      older_reader_reads_recs)
done()
