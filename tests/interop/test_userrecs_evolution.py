"""UserRecs schema evolution (issue 12, DESIGN §1), checked with python3-avro,
an independent implementation: version 2 (schemas/UserRecs.avsc) adds
published_ts and list_id as optional fields with defaults. A downstream
reader still on version 1 (tests/interop/UserRecs.v1.avsc, the schema as it
was before) resolves what recstream writes now, in every framing; a
version 2 reader resolves version 1 records (the new fields null); and the
lists the worker writes carry a wall-clock publish time and a list id
unique per list."""
import datetime
import io
import json
import os
import re
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import BUILD, ROOT, check, done  # noqa: E402

import avro.io  # noqa: E402
import avro.schema  # noqa: E402

TOOL = os.path.join(BUILD, "tests", "codec_tool")
V2_JSON = json.load(open(os.path.join(ROOT, "schemas", "UserRecs.avsc")))
V1_JSON = json.load(open(os.path.join(os.path.dirname(__file__), "UserRecs.v1.avsc")))
V2 = avro.schema.parse(json.dumps(V2_JSON))
V1 = avro.schema.parse(json.dumps(V1_JSON))
NEW = ("published_ts", "list_id")
LINES = ["u1 1767225600999 s3e3:0.75:covisit:s3e2 hot:0.5:trending:-",
         "u2 5",
         "u3 7 v1:0.25:interest:- v2:0.5:covisit:v9"]
V1_WANT = [
    {"user_id": "u1", "pipeline": {"name": "video", "config_hash": "h1"},
     "items": [{"item_id": "s3e3", "score": 0.75, "reason": "covisit", "because_of": "s3e2"},
               {"item_id": "hot", "score": 0.5, "reason": "trending", "because_of": None}]},
    {"user_id": "u2", "pipeline": {"name": "video", "config_hash": "h1"}, "items": []},
    {"user_id": "u3", "pipeline": {"name": "video", "config_hash": "h1"},
     "items": [{"item_id": "v1", "score": 0.25, "reason": "interest", "because_of": None},
               {"item_id": "v2", "score": 0.5, "reason": "covisit", "because_of": "v9"}]},
]


def ms(dt):
    return round(dt.timestamp() * 1000)


def encode_stamped(framing):
    """What the worker writes: recstream's codec with its stamp on."""
    out = subprocess.run([TOOL, "encode-recs", framing, "video", "h1", "stamp"],
                         input="\n".join(LINES) + "\n", capture_output=True,
                         text=True, check=True).stdout.split()
    blobs = []
    for h in out:
        b = bytes.fromhex(h)
        if framing == "confluent":
            assert b[0] == 0 and struct.unpack(">I", b[1:5])[0] == 2, b[:5]
            b = b[5:]
        elif framing == "single-object":
            assert b[:2] == b"\xc3\x01"
            b = b[10:]
        blobs.append(b)
    return blobs


def read(blob, writer, reader):
    return avro.io.DatumReader(writer, reader).read(avro.io.BinaryDecoder(io.BytesIO(blob)))


def v1_is_the_previous_schema():
    """The v1 copy is v2 without the new fields (docs aside: Parsing
    Canonical Form drops them), and every v2 field v1 lacks has a default
    — the Avro rule for a reader of old data."""
    stripped = dict(V2_JSON)
    stripped["fields"] = [f for f in V2_JSON["fields"] if f["name"] not in NEW]
    assert avro.schema.parse(json.dumps(stripped)).canonical_form == V1.canonical_form
    v1_names = {f["name"] for f in V1_JSON["fields"]}
    added = [f for f in V2_JSON["fields"] if f["name"] not in v1_names]
    assert [f["name"] for f in added] == list(NEW), added
    for f in added:
        assert "default" in f and f["default"] is None and f["type"][0] == "null", f


def old_reader_reads_new(framing):
    before = int(time.time() * 1000)
    blobs = encode_stamped(framing)
    after = int(time.time() * 1000)
    assert len(blobs) == len(V1_WANT)
    for blob, want in zip(blobs, V1_WANT):
        got = read(blob, V2, V1)
        gen = got.pop("generated_ts")
        assert not set(NEW) & set(got), got
        assert got == want, (got, want)
        # and the same bytes as a v2 reader sees them
        new = read(blob, V2, V2)
        assert new["generated_ts"] == gen
        assert before <= ms(new["published_ts"]) <= after + 1, (before, new, after)
        assert re.fullmatch(r"[0-9a-f]{16}", new["list_id"]), new


def new_reader_reads_old():
    """Records written by python3-avro with the v1 schema (an old worker)
    resolve under v2 with both new fields null."""
    for want in V1_WANT:
        rec = dict(want, generated_ts=datetime.datetime(2026, 1, 1,
                                                         tzinfo=datetime.timezone.utc))
        buf = io.BytesIO()
        avro.io.DatumWriter(V1).write(rec, avro.io.BinaryEncoder(buf))
        got = read(buf.getvalue(), V1, V2)
        assert got["published_ts"] is None and got["list_id"] is None, got
        assert got["items"] == want["items"] and got["user_id"] == want["user_id"], got
        assert ms(got["generated_ts"]) == 1767225600000


def recstream_reads_v1(framing):
    """recstream (tail, demo) reads version 1 records written by
    python3-avro, as the previous release's workers publish them during a
    rolling upgrade, in plain framing, which carries no schema: a version
    1 record's bytes plus one null branch per added field are its version
    2 encoding."""
    blobs = []
    for want in V1_WANT:
        rec = dict(want, generated_ts=datetime.datetime(2026, 1, 1,
                                                         tzinfo=datetime.timezone.utc))
        buf = io.BytesIO()
        avro.io.DatumWriter(V1).write(rec, avro.io.BinaryEncoder(buf))
        blobs.append(buf.getvalue())
    out = subprocess.run([TOOL, "decode-recs", framing],
                         input="".join(b.hex() + "\n" for b in blobs),
                         capture_output=True, text=True, check=True).stdout
    got = [json.loads(x) for x in out.splitlines()]
    assert got == [dict(w, generated_ts=1767225600000, published_ts=None, list_id=None)
                   for w in V1_WANT], got
    # a record cut short is still refused, not padded into something else
    out = subprocess.run([TOOL, "decode-recs", framing], input=blobs[0][:-3].hex() + "\n",
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["error"], out


def list_ids_unique():
    """Each list written gets its own id, also from a second process, and
    the same list twice gets two ids (impressions attribute to one)."""
    ids = []
    for _ in range(2):
        for blob in encode_stamped("plain") + encode_stamped("plain"):
            ids.append(read(blob, V2, V2)["list_id"])
    assert len(ids) == 4 * len(LINES) and len(set(ids)) == len(ids), ids


def unstamped_is_null():
    """Without the stamp (replay, tools) the fields are written as null."""
    out = subprocess.run([TOOL, "encode-recs", "plain", "video", "h1"], input="u1 5\n",
                         capture_output=True, text=True, check=True).stdout.split()
    got = read(bytes.fromhex(out[0]), V2, V2)
    assert got["published_ts"] is None and got["list_id"] is None, got


def order_is_documented():
    """The order is the rank, said where a consumer reads the schema."""
    items = [f for f in V2_JSON["fields"] if f["name"] == "items"][0]
    rec = items["type"]["items"]
    score = [f for f in rec["fields"] if f["name"] == "score"][0]
    assert "rank" in items["doc"] and "rank" in rec["doc"], items
    assert "mmr" in score["doc"].lower() and "not monotone" in score["doc"].lower(), score


check("UserRecs.v1.avsc is v2 without the new optional fields, which have defaults",
      v1_is_the_previous_schema)
for fr in ("plain", "confluent", "single-object"):
    check(f"a v1 reader resolves what recstream writes now ({fr})", old_reader_reads_new, fr)
check("a v2 reader resolves v1 records (published_ts, list_id null)", new_reader_reads_old)
check("recstream reads plain version 1 records (a rolling upgrade)", recstream_reads_v1,
      "plain")
check("list ids are unique per published list, across processes", list_ids_unique)
check("without the worker's stamp published_ts and list_id are null", unstamped_is_null)
check("the schema says the order is the rank where scores are not monotone",
      order_is_documented)
done()
