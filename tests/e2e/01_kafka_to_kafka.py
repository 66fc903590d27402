"""End to end on `recstream dev-broker`, with independent clients:
python3-confluent-kafka produces BehaviorEvents written by python3-avro
(with garbage records in between), `recstream run` processes them, and
python3-confluent-kafka + python3-avro read the output and check every
record. Then SIGTERM: the worker exits 0 having committed every offset, and
kcat lists the topics."""
import collections
import datetime
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, ROOT, check, done  # noqa: E402

import avro.io  # noqa: E402
import avro.schema  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

SCHEMAS = os.path.join(ROOT, "schemas")
# video.yaml's Kafka settings with the wiring stage: one UserRecs per event.
PASSTHROUGH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "passthrough.yaml")
EVENT = avro.schema.parse(open(os.path.join(SCHEMAS, "BehaviorEvent.avsc")).read())
RECS = avro.schema.parse(open(os.path.join(SCHEMAS, "UserRecs.avsc")).read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
TYPES = ["play", "watch", "like", "share", "skip", "purchase", "rate"]
N_EVENTS = 400
GARBAGE = [b"", b"\xff" * 12, b"\x00\x01", b"not avro at all", b"\xc3\x01junk"]


def ms(dt):
    return (dt - EPOCH) // datetime.timedelta(milliseconds=1)


def make_events():
    events = []
    for i in range(N_EVENTS):
        ts = 1767225600000 + i * 1000
        events.append({
            "event_id": f"e{i}", "user_id": f"u{i % 37}", "item_id": f"v{(i * 7) % 53}",
            "event_type": TYPES[i % len(TYPES)],
            "ts": EPOCH + datetime.timedelta(milliseconds=ts),
            "watch_ms": (i * 13) % 30000, "duration_ms": 30000 if i % 3 else None,
            "category": ["comedy", None, "music"][i % 3],
            "value": 4.0 if TYPES[i % len(TYPES)] == "rate" else None,
            "device": None, "session_id": None,
        })
    return events


def encode(schema, rec, framing, schema_id):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(rec, avro.io.BinaryEncoder(buf))
    body = buf.getvalue()
    return body if framing == "plain" else b"\x00" + struct.pack(">I", schema_id) + body


def decode_recs(value, framing):
    if framing == "confluent":
        assert value[0] == 0 and struct.unpack(">I", value[1:5])[0] == 2, value[:5]
        value = value[5:]
    return avro.io.DatumReader(RECS).read(avro.io.BinaryDecoder(io.BytesIO(value)))


class Broker:
    def __enter__(self):
        self.proc = subprocess.Popen([RECSTREAM, "dev-broker", "--partitions", "3"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert re.match(r"^[\w.]+:\d+", self.bootstrap), self.bootstrap
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def scenario(framing):
    with Broker() as broker, tempfile.TemporaryDirectory() as tmp:
        if framing == "plain":
            pipeline = PASSTHROUGH
            group = "e2e.users"
        else:
            # The same pipeline, switched to Confluent framing.
            text = open(PASSTHROUGH).read()
            text = text.replace("framing: plain", "framing: confluent")
            text = text.replace("group: e2e.users", "group: e2e.confluent")
            pipeline = os.path.join(tmp, "confluent.yaml")
            open(pipeline, "w").write(text)
            group = "e2e.confluent"

        events = make_events()
        prod = Producer({"bootstrap.servers": broker.bootstrap})
        for i, e in enumerate(events):
            prod.produce("video.behavior", key=e["user_id"], value=encode(EVENT, e, framing, 1))
            if i % 80 == 40:  # garbage between good records
                prod.produce("video.behavior", key=e["user_id"], value=GARBAGE[(i // 80) % 5])
        assert prod.flush(30) == 0
        del prod

        env = dict(os.environ, KAFKA_BOOTSTRAP=broker.bootstrap, RECSTREAM_LOG_LEVEL="info")
        log = open(os.path.join(tmp, "worker.log"), "w+")
        worker = subprocess.Popen([RECSTREAM, "run", "-c", pipeline], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log)
        try:
            cons = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "e2e-check",
                             "auto.offset.reset": "earliest"})
            cons.subscribe(["video.recs"])
            got, deadline = [], time.time() + 90
            while len(got) < N_EVENTS and time.time() < deadline:
                m = cons.poll(0.5)
                if m is None or m.error():
                    continue
                rec = decode_recs(m.value(), framing)
                assert m.key().decode() == rec["user_id"], (m.key(), rec)
                got.append(rec)
            cons.close()
            assert len(got) == N_EVENTS, f"{len(got)} of {N_EVENTS} UserRecs arrived"
            # Every record checked: one per event, carrying that event.
            for rec in got:
                assert rec["pipeline"]["name"] == "video", rec
                assert re.fullmatch(r"[0-9a-f]{16}", rec["pipeline"]["config_hash"])
                assert len(rec["items"]) == 1, rec
                assert rec["items"][0]["reason"] == "interest"
                assert rec["items"][0]["because_of"] is None
            want = collections.Counter((e["user_id"], e["item_id"], ms(e["ts"])) for e in events)
            have = collections.Counter((r["user_id"], r["items"][0]["item_id"],
                                        ms(r["generated_ts"])) for r in got)
            assert have == want
        finally:
            worker.send_signal(signal.SIGTERM)
            rc = worker.wait(timeout=60)
        log.seek(0)
        text = log.read()
        assert rc == 0, f"worker exit {rc}\n{text[-2000:]}"
        stats = [line for line in text.splitlines() if "event=stats" in line][-1]
        assert " decode_failed=5 " in stats, stats
        assert f" decoded={N_EVENTS} " in stats, stats
        assert f" delivered={N_EVENTS} " in stats, stats

        # At-least-once: after a clean stop every consumed offset is committed.
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
        parts = [TopicPartition("video.behavior", p) for p in range(3)]
        committed = c.committed(parts, timeout=10)
        for tp in committed:
            lo, hi = c.get_watermark_offsets(tp, timeout=10)
            assert tp.offset == hi, (tp, lo, hi)
        c.close()

        topics = subprocess.run(["kcat", "-L", "-b", broker.bootstrap], capture_output=True,
                                text=True, timeout=30).stdout
        assert 'topic "video.behavior" with 3 partitions' in topics, topics
        assert 'topic "video.recs"' in topics, topics


def crash_restart():
    """Half the events, SIGKILL after their output, the other half, restart:
    every event gets its output, and the restart resumed from the committed
    offsets instead of replaying the topic from the start."""
    n = 3000
    with Broker() as broker, tempfile.TemporaryDirectory() as tmp:
        prod = Producer({"bootstrap.servers": broker.bootstrap})
        want = []

        def produce(lo, hi):
            for i in range(lo, hi):
                e = {"event_id": f"k{i}", "user_id": f"u{i % 101}", "item_id": f"v{i}",
                     "event_type": "watch", "ts": EPOCH + datetime.timedelta(seconds=i),
                     "watch_ms": 1, "duration_ms": None, "category": None, "value": None,
                     "device": None, "session_id": None}
                want.append((e["user_id"], e["item_id"]))
                prod.produce("video.behavior", key=e["user_id"],
                             value=encode(EVENT, e, "plain", 1))
            assert prod.flush(30) == 0

        env = dict(os.environ, KAFKA_BOOTSTRAP=broker.bootstrap)
        pipeline = PASSTHROUGH
        log = open(os.path.join(tmp, "worker.log"), "w")
        cons = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "e2e-crash",
                         "auto.offset.reset": "earliest"})
        cons.subscribe(["video.recs"])
        have, total = set(), 0

        def read_until(pred, seconds):
            nonlocal total
            deadline = time.time() + seconds
            while not pred() and time.time() < deadline:
                m = cons.poll(0.5)
                if m is None or m.error():
                    continue
                rec = decode_recs(m.value(), "plain")
                have.add((rec["user_id"], rec["items"][0]["item_id"]))
                total += 1

        produce(0, n // 2)
        first = subprocess.Popen([RECSTREAM, "run", "-c", pipeline], env=env,
                                 stdout=subprocess.DEVNULL, stderr=log)
        read_until(lambda: have >= set(want), 60)
        assert have >= set(want), "the first worker did not finish the first half"
        time.sleep(6)  # past librdkafka's 5 s auto-commit interval
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        produce(n // 2, n)
        del prod
        second = subprocess.Popen([RECSTREAM, "run", "-c", pipeline], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log)
        try:
            read_until(lambda: have >= set(want), 90)
        finally:
            second.send_signal(signal.SIGTERM)
            rc = second.wait(timeout=60)
            cons.close()
        missing = set(want) - have
        assert not missing, f"{len(missing)} events never got output, e.g. {sorted(missing)[:3]}"
        assert rc == 0, rc
        assert n <= total < n + n // 2, f"{total} outputs for {n} events: restart did not resume"


def lone_event():
    """A lone event is processed at once, not after the batch fills or the
    poll times out: with batch_size 2000 and poll_timeout 10s each event's
    UserRecs arrives within 2 s (the dev broker holds an idle fetch 0.5 s)."""
    with Broker() as broker, tempfile.TemporaryDirectory() as tmp:
        text = open(PASSTHROUGH).read().replace("poll_timeout: 100ms", "poll_timeout: 10s")
        assert "poll_timeout: 10s" in text
        pipeline = os.path.join(tmp, "slow-poll.yaml")
        open(pipeline, "w").write(text)
        env = dict(os.environ, KAFKA_BOOTSTRAP=broker.bootstrap, RECSTREAM_LOG_LEVEL="info")
        log = open(os.path.join(tmp, "worker.log"), "w+")
        worker = subprocess.Popen([RECSTREAM, "run", "-c", pipeline], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log)
        try:
            cons = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "e2e-lone",
                             "auto.offset.reset": "earliest", "fetch.wait.max.ms": 10})
            cons.subscribe(["video.recs"])
            deadline = time.time() + 60
            while "event=assigned" not in open(log.name).read() and time.time() < deadline:
                cons.poll(0.1)
            assert time.time() < deadline, "the worker was never assigned"
            time.sleep(1)  # let its first (empty) fetches pass
            # Three events 1.5 s apart, each answered within 2 s. Before the
            # fix a 10 s poll window held at least one of them > 2 s
            # wherever the window ended.
            prod = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
            took = []
            for i in range(3):
                e = {"event_id": f"lone{i}", "user_id": f"u{i}", "item_id": "v1",
                     "event_type": "watch", "ts": EPOCH + datetime.timedelta(seconds=i),
                     "watch_ms": 1, "duration_ms": None, "category": None, "value": None,
                     "device": None, "session_id": None}
                sent = time.time()
                prod.produce("video.behavior", key=e["user_id"],
                             value=encode(EVENT, e, "plain", 1))
                prod.poll(0)
                got = None
                while got is None and time.time() < sent + 1.5:
                    m = cons.poll(0.05)
                    if m is not None and not m.error():
                        got = decode_recs(m.value(), "plain")
                        took.append((got["user_id"], round(time.time() - sent, 2)))
                while time.time() < sent + 1.5:
                    time.sleep(0.05)
            deadline = time.time() + 15
            while len(took) < 3 and time.time() < deadline:
                m = cons.poll(0.1)
                if m is not None and not m.error():
                    got = decode_recs(m.value(), "plain")
                    took.append((got["user_id"], None))
            assert prod.flush(10) == 0
            cons.close()
            assert [u for u, _ in took] == ["u0", "u1", "u2"], took
            assert all(t is not None and t < 2 for _, t in took), took
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)


check("plain Avro: python producer -> recstream run -> python consumer, "
      "garbage skipped, offsets committed, kcat lists topics", scenario, "plain")
check("Confluent framing end to end", scenario, "confluent")
check("SIGKILL and restart: no event lost, resumed from committed offsets",
      crash_restart)
check("a lone event is processed without waiting for a full batch", lone_event)
done()
