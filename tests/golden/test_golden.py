"""Golden top-K lists computed by hand (README.md): each case pipeline is
replayed over events.csv and the expected users' lists must match."""
import csv
import datetime
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, check, done  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def case(name):
    out = subprocess.run([RECSTREAM, "replay", "-c", os.path.join(HERE, "cases", name + ".yaml"),
                          "--input", os.path.join(HERE, "events.csv")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = {}
    for line in out.stdout.splitlines():
        r = json.loads(line)
        got[r["user_id"]] = r["items"]
    for line in open(os.path.join(HERE, "cases", name + ".jsonl")):
        want = json.loads(line)
        have = got.get(want["user_id"])
        assert have is not None, f"no list for {want['user_id']}"
        assert len(have) == len(want["items"]), (want["user_id"], have)
        for h, w in zip(have, want["items"]):
            assert (h["item_id"], h["reason"], h["because_of"]) == \
                   (w["item_id"], w["reason"], w["because_of"]), (want["user_id"], h, w)
            assert abs(h["score"] - w["score"]) <= 1e-5 * max(1.0, abs(w["score"])), (h, w)


def replay(path):
    out = subprocess.run([RECSTREAM, "replay", "-c", os.path.join(HERE, "cases", "cosine.yaml"),
                          "--input", path], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def other_formats():
    """The same events as JSON lines and as an Avro container file written
    by python3-avro replay to exactly the CSV's output."""
    import avro.datafile
    import avro.io
    import avro.schema
    rows = list(csv.DictReader(open(os.path.join(HERE, "events.csv"))))
    schema = avro.schema.parse(open(os.path.join(HERE, "..", "..", "schemas",
                                                 "BehaviorEvent.avsc")).read())
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    want = replay(os.path.join(HERE, "events.csv"))
    with tempfile.TemporaryDirectory() as tmp:
        jl = os.path.join(tmp, "events.jsonl")
        with open(jl, "w") as f:
            f.write("\n")  # blank lines are fine
            for r in rows:
                f.write(json.dumps({"event_id": r["event_id"], "user_id": r["user_id"],
                                    "item_id": r["item_id"], "event_type": r["event_type"],
                                    "ts": int(r["ts_ms"]), "watch_ms": None,
                                    "category": None, "extra": [1, 2][0]}) + "\n")
        av = os.path.join(tmp, "events.avro")
        with avro.datafile.DataFileWriter(open(av, "wb"), avro.io.DatumWriter(), schema) as w:
            for r in rows:
                w.append({"event_id": r["event_id"], "user_id": r["user_id"],
                          "item_id": r["item_id"], "event_type": r["event_type"],
                          "ts": epoch + datetime.timedelta(milliseconds=int(r["ts_ms"])),
                          "watch_ms": 0, "duration_ms": None, "category": None,
                          "value": None, "device": None, "session_id": None})
        assert replay(jl) == want
        assert replay(av) == want


for sim in ("cosine", "jaccard", "asymmetric_cosine", "lift", "covisit"):
    check(f"golden top-K by hand: {sim}", case, sim)
check("JSON lines and Avro container inputs replay like the CSV", other_formats)
done()
