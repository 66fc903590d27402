"""The internal records (schemas/CoocDelta.avsc, schemas/ItemNeighbors.avsc)
with independent clients, on the dev broker.

1. python3-avro writes: a CoocDelta made by hand goes to a `--role items`
   process (topology.partitions 1); the ItemNeighbors lists it publishes,
   read with python3-avro, hold the cosine similarities worked out below
   (the transition a -> b it marks directed adds video.yaml's
   transition_weight to a's list).
   A CoocDelta of an unknown version and one that is not Avro go to
   video.cooc-deltas.dlq with their reasons, and the worker goes on.
2. recstream writes: a `--role all` process on 3 item partitions learns
   from 600 events; every record on video.cooc-deltas and
   video.item-neighbors decodes with python3-avro, names its own partition,
   every partition carries the same marginals, the pairs are symmetric
   and every transition (directed, CoocDelta 3) is one of them, made one
   way only."""
import collections
import datetime
import io
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, ROOT, check, done, wait_for  # noqa: E402

import avro.io  # noqa: E402
import avro.schema  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

SCHEMAS = os.path.join(ROOT, "schemas")
EVENT = avro.schema.parse(open(os.path.join(SCHEMAS, "BehaviorEvent.avsc")).read())
DELTA = avro.schema.parse(open(os.path.join(SCHEMAS, "CoocDelta.avsc")).read())
NEIGHBORS = avro.schema.parse(open(os.path.join(SCHEMAS, "ItemNeighbors.avsc")).read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
T0 = 1767225600000  # 2026-01-01


def encode(schema, rec):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(rec, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def decode(schema, value):
    return avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(value)))


class Setup:
    """A dev broker with the topics, and one worker of video.yaml on
    `partitions` item partitions in `role`."""

    def __init__(self, partitions, role):
        self.partitions, self.role = partitions, role

    def __enter__(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.pipeline = os.path.join(self.tmp.name, "video.yaml")
        text = open(os.path.join(ROOT, "pipelines", "video.yaml")).read()
        open(self.pipeline, "w").write(
            text + f"\ntopology:\n  partitions: {self.partitions}\n")
        p = self.partitions
        self.broker = subprocess.Popen(
            [RECSTREAM, "dev-broker", "--partitions", "3", "--topic", "video.behavior",
             "--topic", "video.recs", "--topic", f"video.cooc-deltas:{p}",
             "--topic", f"video.item-neighbors:{p}", "--topic", "video.cooc-deltas.dlq:1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.bootstrap = self.broker.stdout.readline().strip()
        assert re.match(r"^[\w.]+:\d+", self.bootstrap), self.bootstrap
        self.log_path = os.path.join(self.tmp.name, "worker.log")
        self.worker = subprocess.Popen(
            [RECSTREAM, "run", "-c", self.pipeline, "--role", self.role],
            env=dict(os.environ, KAFKA_BOOTSTRAP=self.bootstrap, RECSTREAM_LOG_LEVEL="info"),
            stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))
        wait_for(lambda: re.search(r"event=assigned group=video.items partitions=\d+ "
                                   rf"total={p}", self.log()), 60, "the items group")
        return self

    def log(self):
        return open(self.log_path).read()

    def __exit__(self, *exc):
        try:
            if self.worker.poll() is None:
                self.worker.send_signal(signal.SIGTERM)
                assert self.worker.wait(timeout=60) == 0, self.log()[-2000:]
        finally:
            self.broker.send_signal(signal.SIGTERM)
            self.broker.wait(timeout=30)
            self.tmp.cleanup()

    def read_all(self, topic, partitions):
        """Every record of topic, as (partition, key, value, headers)."""
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "e2e-read",
                      "enable.auto.commit": False})
        ends = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)]
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out, pos, deadline = [], [0] * partitions, time.time() + 30
        while pos != ends and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            pos[m.partition()] = m.offset() + 1
            out.append((m.partition(), m.key(), m.value(), m.headers() or []))
        c.close()
        assert pos == ends, (topic, pos, ends)
        return out


def transition_weight():
    """cooccur.transition_weight of pipelines/video.yaml (default 0)."""
    text = open(os.path.join(ROOT, "pipelines", "video.yaml")).read()
    m = re.search(r"^\s+transition_weight:\s*([0-9.]+)", text, re.M)
    return float(m.group(1)) if m else 0.0


def python_writes():
    # N(a) = 2, N(b) = N(c) = 1, C(a,b) = C(b,a) = 1, C(a,c) = C(c,a) = 0.5,
    # all at one event time (no decay). cosine = C / sqrt(N(i) N(j)):
    # a: b 1/sqrt(2) = 0.70711, c 0.5/sqrt(2) = 0.35355; b: a 0.70711;
    # c: a 0.35355. The update of C(a,b) is also a transition a -> b: D(a,b)
    # = 1 = D_max(a), s_max(a) = 0.70711, so b's gains tw * 0.70711, which
    # is its seq (ItemNeighbors 2); every other seq is 0.
    tw = transition_weight()
    want = {"a": [("b", 0.70711 * (1 + tw), 0.70711 * tw), ("c", 0.35355, 0)],
            "b": [("a", 0.70711, 0)], "c": [("a", 0.35355, 0)]}
    upd = [(0, -1, 1.0), (0, -1, 1.0), (1, -1, 1.0), (2, -1, 1.0),
           (0, 1, 1.0), (1, 0, 1.0), (0, 2, 0.5), (2, 0, 0.5), (0, -2, 1.0)]
    delta = {"version": 3, "pipeline": "video", "partition": 0,
             "sources": [{"topic": "video.behavior", "partition": 0, "first_offset": 0,
                          "last_offset": 3}],
             "ids": ["a", "b", "c"], "categories": ["music", "music", ""],
             "updates": [{"item": i, "other": o, "ts": T0, "w": w, "source": -1,
                          "offset_delta": 0, "directed": (i, o) == (0, 1)}
                         for i, o, w in upd]}
    with Setup(1, "items") as s:
        prod = Producer({"bootstrap.servers": s.bootstrap})
        prod.produce("video.cooc-deltas", partition=0, value=encode(DELTA, delta))
        prod.produce("video.cooc-deltas", partition=0,
                     value=encode(DELTA, delta | {"version": 4}))
        prod.produce("video.cooc-deltas", partition=0, value=b"\x02not a delta")
        assert prod.flush(30) == 0
        del prod

        def lists():
            got = {}
            for _, key, value, _ in s.read_all("video.item-neighbors", 1):
                if value is not None and key[:1] != b"\xff":
                    rec = decode(NEIGHBORS, value)
                    assert rec["version"] == 2 and rec["kind"] == "item", rec
                    assert rec["id"] == key.decode(), (rec, key)
                    got[rec["id"]] = rec
            return got if set(got) == set(want) else None
        got = wait_for(lists, 60, "lists of a, b and c on video.item-neighbors")
        for item, nbs in want.items():
            have = [(n["item_id"], n["sim"], n["seq"]) for n in got[item]["neighbors"]]
            assert [x[0] for x in have] == [x[0] for x in nbs], (item, have)
            for (_, sim, seq), (_, w, wseq) in zip(have, nbs):
                assert abs(sim - w) < 1e-4 and abs(seq - wseq) < 1e-4, (item, have, nbs)
        assert got["a"]["category"] == "music", got["a"]
        dlq = wait_for(lambda: (lambda r: r if len(r) == 2 else None)(
            s.read_all("video.cooc-deltas.dlq", 1)), 60, "two dead letters")
        reasons = sorted(dict(h)["error.reason"].decode() for _, _, _, h in dlq)
        assert "unknown_version" in reasons, reasons
        for _, _, value, h in dlq:
            h = dict(h)
            assert h["error.stage"] == b"cooccur" and h["source.topic"] == b"video.cooc-deltas", h
        assert value in (encode(DELTA, delta | {"version": 4}), b"\x02not a delta")
        print(f"# dead letters: {reasons}")


def events():
    rnd = random.Random(4)
    out = []
    for n in range(600):
        u, v = rnd.randrange(40), min(int(rnd.paretovariate(1.2)), 60)
        out.append({"event_id": f"e{n}", "user_id": f"u{u}", "item_id": f"v{v}",
                    "event_type": "watch",
                    "ts": EPOCH + datetime.timedelta(milliseconds=T0 + n * 5000),
                    "watch_ms": 50000, "duration_ms": 60000, "category": f"c{v % 4}",
                    "value": None, "device": None, "session_id": None})
    return out


def recstream_writes():
    with Setup(3, "all") as s:
        wait_for(lambda: "event=assigned group=video.users" in s.log(), 60, "the users group")
        prod = Producer({"bootstrap.servers": s.bootstrap})
        for e in events():
            prod.produce("video.behavior", key=e["user_id"], value=encode(EVENT, e))
        assert prod.flush(30) == 0
        del prod
        wait_for(lambda: "component=items event=settled" in s.log(), 60, "a settle")
        deltas = s.read_all("video.cooc-deltas", 3)
        assert deltas, "no deltas"
        marginals = collections.defaultdict(collections.Counter)
        pairs = collections.Counter()
        directed = collections.Counter()
        for part, key, value, _ in deltas:
            d = decode(DELTA, value)
            assert d["version"] == 3 and d["pipeline"] == "video", d
            assert d["partition"] == part, (d["partition"], part)
            assert len(d["categories"]) == len(d["ids"])
            assert all(src["topic"] == "video.behavior" for src in d["sources"]), d["sources"]
            ids = d["ids"]
            for u in d["updates"]:
                # every update names the event behind it (version 2)
                src = d["sources"][u["source"]]
                assert 0 <= u["offset_delta"] <= src["last_offset"] - src["first_offset"], u
                if u["other"] == -1:
                    marginals[part][(ids[u["item"]], u["ts"])] += 1
                elif u["other"] >= 0:
                    pairs[(ids[u["item"]], ids[u["other"]], u["ts"], u["w"])] += 1
                    if u["directed"]:
                        directed[(ids[u["item"]], ids[u["other"]], u["ts"], u["w"])] += 1
                assert not u["directed"] or u["other"] >= 0, u
        assert len(marginals) == 3 and marginals[0] == marginals[1] == marginals[2], \
            {p: sum(c.values()) for p, c in marginals.items()}
        assert pairs and all(pairs[(b, a, t, w)] == n for (a, b, t, w), n in pairs.items())
        # a user's events are 5 s apart, within pairs.transition_gap: pairs
        # come with a transition, one way (the pair's mirror is not one)
        assert directed and all(pairs[k] >= n for k, n in directed.items()), directed
        assert all(directed[(b, a, t, w)] == 0 for (a, b, t, w) in directed), directed
        nbs = s.read_all("video.item-neighbors", 3)
        items, parts = 0, set()
        for part, key, value, _ in nbs:
            if value is None:
                continue
            rec = decode(NEIGHBORS, value)
            assert rec["version"] == 2, rec
            if rec["kind"] == "partition":
                assert key == b"\xffp" + rec["id"].encode(), (key, rec["id"])
                assert rec["trending"], rec
                parts.add(int(rec["id"]))
            else:
                assert key.decode() == rec["id"], (key, rec["id"])
                items += 1
        assert items and parts == {0, 1, 2}, (items, parts)
        print(f"# {len(deltas)} deltas ({sum(pairs.values())} pair updates, "
              f"{sum(directed.values())} of them transitions, "
              f"{sum(marginals[0].values())} marginals on each partition), "
              f"{items} item records and partition records of {sorted(parts)}, all read by python3-avro")


check("python3-avro's CoocDelta learnt by recstream: lists with the hand-worked cosines; "
      "unknown version and garbage dead-lettered", python_writes)
check("recstream's CoocDelta and ItemNeighbors read by python3-avro: own partition, "
      "the same marginals everywhere, symmetric pairs", recstream_writes)
done()
