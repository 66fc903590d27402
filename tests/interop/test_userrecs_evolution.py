"""UserRecs schema evolution (issues 12, 13, DESIGN §1), checked with
python3-avro, an independent implementation: version 2 added published_ts
and list_id, version 3 (schemas/UserRecs.avsc) channels, each an optional
field with a default at the end. Downstream readers still on version 1 or
2 (tests/interop/UserRecs.v1.avsc, UserRecs.v2.avsc, the schemas as they
were) resolve what recstream writes now, in every framing, and a sequence
item reads there as covisit; the current reader resolves their records
(the new fields null), and so does recstream itself in plain framing; and
the lists the worker writes carry a wall-clock publish time and a list id
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
V2_JSON = json.load(open(os.path.join(ROOT, "schemas", "UserRecs.avsc")))  # the current
V2 = avro.schema.parse(json.dumps(V2_JSON))
HERE = os.path.dirname(__file__)
# each earlier version: its schema and the fields added since
OLD = {v: (avro.schema.parse(open(os.path.join(HERE, f"UserRecs.{v}.avsc")).read()), added)
       for v, added in (("v1", ("published_ts", "list_id", "channels")),
                        ("v2", ("channels",)))}
V1, NEW = OLD["v1"]
LINES = ["u1 1767225600999 s3e3:0.75:covisit:s3e2 hot:0.5:trending:- s3e4:0.25:sequence:s3e3",
         "u2 5",
         "u3 7 v1:0.25:interest:- v2:0.5:covisit:v9"]
CHANNELS = [["covisit", "trending", "sequence"], [], ["interest", "covisit"]]
V1_WANT = [
    {"user_id": "u1", "pipeline": {"name": "video", "config_hash": "h1"},
     "items": [{"item_id": "s3e3", "score": 0.75, "reason": "covisit", "because_of": "s3e2"},
               {"item_id": "hot", "score": 0.5, "reason": "trending", "because_of": None},
               {"item_id": "s3e4", "score": 0.25, "reason": "covisit", "because_of": "s3e3"}]},
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


def old_is_the_previous_schema(v):
    """Each old copy is the current schema without the fields added since
    (docs aside: Parsing Canonical Form drops them), and every field it
    lacks has a default — the Avro rule for a reader of old data."""
    old, new = OLD[v]
    stripped = dict(V2_JSON)
    stripped["fields"] = [f for f in V2_JSON["fields"] if f["name"] not in new]
    assert avro.schema.parse(json.dumps(stripped)).canonical_form == old.canonical_form
    old_names = {f.name for f in old.fields}
    added = [f for f in V2_JSON["fields"] if f["name"] not in old_names]
    assert [f["name"] for f in added] == list(new), added
    for f in added:
        assert "default" in f and f["default"] is None and f["type"][0] == "null", f


def want_in(v, want):
    """A V1_WANT record as the reader of version v sees it."""
    return dict(want, published_ts=None, list_id=None) if v == "v2" else want


def old_reader_reads_new(v, framing):
    old, new_fields = OLD[v]
    before = int(time.time() * 1000)
    blobs = encode_stamped(framing)
    after = int(time.time() * 1000)
    assert len(blobs) == len(V1_WANT)
    for blob, want, channels in zip(blobs, V1_WANT, CHANNELS):
        got = read(blob, V2, old)
        gen = got.pop("generated_ts")
        assert not set(new_fields) & set(got), got
        if v == "v2":
            got["published_ts"] = got["list_id"] = None
        assert got == want_in(v, want), (got, want)
        # and the same bytes as the current reader sees them
        new = read(blob, V2, V2)
        assert new["generated_ts"] == gen
        assert before <= ms(new["published_ts"]) <= after + 1, (before, new, after)
        assert re.fullmatch(r"[0-9a-f]{16}", new["list_id"]), new
        assert new["channels"] == channels, new


def written_by(v, want):
    old = OLD[v][0]
    rec = dict(want_in(v, want), generated_ts=datetime.datetime(
        2026, 1, 1, tzinfo=datetime.timezone.utc))
    buf = io.BytesIO()
    avro.io.DatumWriter(old).write(rec, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def new_reader_reads_old(v):
    """Records written by python3-avro with an old schema (an old worker)
    resolve under the current one with the new fields null."""
    old = OLD[v][0]
    for want in V1_WANT:
        got = read(written_by(v, want), old, V2)
        for f in OLD[v][1]:
            assert got[f] is None, got
        assert got["items"] == want["items"] and got["user_id"] == want["user_id"], got
        assert ms(got["generated_ts"]) == 1767225600000


def recstream_reads_old(v, framing):
    """recstream (tail, demo) reads records of an old version written by
    python3-avro, as a previous release's workers publish them during a
    rolling upgrade, in plain framing, which carries no schema: an old
    record's bytes plus one null branch per added field are its current
    encoding."""
    blobs = [written_by(v, want) for want in V1_WANT]
    out = subprocess.run([TOOL, "decode-recs", framing],
                         input="".join(b.hex() + "\n" for b in blobs),
                         capture_output=True, text=True, check=True).stdout
    got = [json.loads(x) for x in out.splitlines()]
    assert got == [dict(w, generated_ts=1767225600000, published_ts=None, list_id=None,
                        channels=None) for w in V1_WANT], got
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


for v in OLD:
    check(f"UserRecs.{v}.avsc is the current schema without the optional fields added "
          "since, which have defaults", old_is_the_previous_schema, v)
    for fr in ("plain", "confluent", "single-object"):
        check(f"a {v} reader resolves what recstream writes now ({fr})",
              old_reader_reads_new, v, fr)
    check(f"the current reader resolves {v} records (the fields added since null)",
          new_reader_reads_old, v)
    check(f"recstream reads plain {v} records (a rolling upgrade)", recstream_reads_old,
          v, "plain")
check("list ids are unique per published list, across processes", list_ids_unique)
check("without the worker's stamp published_ts and list_id are null", unstamped_is_null)
check("the schema says the order is the rank where scores are not monotone",
      order_is_documented)
done()
