"""`recstream produce` and `recstream tail` against independent clients on
`recstream dev-broker --port`: a canonical CSV written here is produced by
recstream and read back with python3-confluent-kafka + python3-avro field by
field; UserRecs written by python3-avro are printed by `recstream tail` as
the JSON this test expects."""
import csv
import datetime
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, ROOT, check, done, free_port  # noqa: E402

import avro.io  # noqa: E402
import avro.schema  # noqa: E402
from confluent_kafka import Consumer, Producer  # noqa: E402

SCHEMAS = os.path.join(ROOT, "schemas")
EVENT = avro.schema.parse(open(os.path.join(SCHEMAS, "BehaviorEvent.avsc")).read())
RECS = avro.schema.parse(open(os.path.join(SCHEMAS, "UserRecs.avsc")).read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

ROWS = [
    # event_id,user_id,item_id,event_type,ts_ms,watch_ms,duration_ms,category,value
    ["1", "196", "242", "rate", "881250949000", "", "", "Comedy", "3"],
    ["2", "u2", "s1e1", "watch", "1767225600000", "28000", "30000", "Kids, Family", ""],
    ["3", "u2", "s1e2", "skip", "1767225601000", "900", "30000", "", ""],
    ["4", "u3", "v9", "teleport", "1767225602000", "", "", "", ""],  # bad row
    ["5", "u3", "v9", "purchase", "1767225603000", "", "", "", ""],
]


class Broker:
    def __enter__(self):
        self.port = free_port()
        self.proc = subprocess.Popen([RECSTREAM, "dev-broker", "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=30) == 0


def produce_csv(framing):
    with Broker() as b, tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        assert b.bootstrap == f"127.0.0.1:{b.port}", b.bootstrap
        w = csv.writer(f)
        w.writerow(["event_id", "user_id", "item_id", "event_type", "ts_ms", "watch_ms",
                    "duration_ms", "category", "value"])
        w.writerows(ROWS)
        f.close()
        topic = f"csv.{framing}"
        r = subprocess.run([RECSTREAM, "produce", "-b", b.bootstrap, "-t", topic, "--input",
                            f.name, "--framing", framing, "--schema-id", "9"],
                           capture_output=True, text=True, timeout=60)
        os.unlink(f.name)
        assert r.returncode == 0, r.stderr
        assert "line 5: unknown event_type 'teleport'" in r.stderr, r.stderr
        assert "4 events" in r.stderr and "1 bad rows skipped" in r.stderr, r.stderr

        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "check",
                      "auto.offset.reset": "earliest"})
        c.subscribe([topic])
        got, deadline = [], time.time() + 30
        while len(got) < 4 and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            v = m.value()
            if framing == "confluent":
                assert v[0] == 0 and struct.unpack(">I", v[1:5])[0] == 9
                v = v[5:]
            rec = avro.io.DatumReader(EVENT).read(avro.io.BinaryDecoder(io.BytesIO(v)))
            assert m.key().decode() == rec["user_id"]
            got.append(rec)
        c.close()
        got.sort(key=lambda r: int(r["event_id"]))
        good = [row for row in ROWS if row[3] != "teleport"]
        assert len(got) == len(good), got
        for rec, row in zip(got, good):
            assert rec["event_id"] == row[0] and rec["user_id"] == row[1]
            assert rec["item_id"] == row[2] and rec["event_type"] == row[3]
            assert rec["ts"] == EPOCH + datetime.timedelta(milliseconds=int(row[4]))
            assert rec["watch_ms"] == int(row[5] or 0)
            assert rec["duration_ms"] == (int(row[6]) if row[6] else None)
            assert rec["category"] == (row[7] or None)
            assert rec["value"] == (float(row[8]) if row[8] else None)


def tail_prints_recs():
    with Broker() as b:
        p = Producer({"bootstrap.servers": b.bootstrap})
        recs = [
            {"user_id": "u1", "generated_ts": EPOCH + datetime.timedelta(milliseconds=5),
             "pipeline": {"name": "video", "config_hash": "h"},
             "items": [{"item_id": "s1e3", "score": 0.5, "reason": "covisit",
                        "because_of": "s1e2"}]},
            {"user_id": "u\"2", "generated_ts": EPOCH + datetime.timedelta(milliseconds=6),
             "pipeline": {"name": "video", "config_hash": "h"}, "items": []},
        ]
        for r in recs:
            buf = io.BytesIO()
            avro.io.DatumWriter(RECS).write(r, avro.io.BinaryEncoder(buf))
            p.produce("video.recs", key=r["user_id"], value=buf.getvalue())
        p.produce("video.recs", key="x", value=b"\xff\xff")  # reported, not printed
        assert p.flush(30) == 0
        del p
        r = subprocess.run([RECSTREAM, "tail", "-b", b.bootstrap, "-t", "video.recs",
                            "--from-beginning", "--idle-timeout", "3s"],
                           capture_output=True, text=True, timeout=60)
        # Different keys land on different partitions: no order across them.
        lines = sorted((json.loads(x) for x in r.stdout.splitlines()),
                       key=lambda rec: rec["user_id"])
        # every field of the record, the pipeline too (dropped before)
        want = [
            {"user_id": "u1", "generated_ts": 5,
             "pipeline": {"name": "video", "config_hash": "h"}, "items": [
                {"item_id": "s1e3", "score": 0.5, "reason": "covisit", "because_of": "s1e2"}],
             "published_ts": None, "list_id": None, "channels": None},
            {"user_id": "u\"2", "generated_ts": 6,
             "pipeline": {"name": "video", "config_hash": "h"}, "items": [],
             "published_ts": None, "list_id": None, "channels": None},
        ]
        assert lines == sorted(want, key=lambda rec: rec["user_id"]), r.stdout
        assert r.returncode == 1 and "video.recs[" in r.stderr, (r.returncode, r.stderr)


check("produce --input CSV (plain) reads back field by field in python3-avro",
      produce_csv, "plain")
check("produce --input CSV (confluent, schema id 9)", produce_csv, "confluent")
check("tail prints python3-avro UserRecs as JSON lines and reports a bad record",
      tail_prints_recs)
done()
