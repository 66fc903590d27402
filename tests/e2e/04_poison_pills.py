"""The poison-pill catalogue, end to end on `recstream dev-broker` with
pipelines/video.yaml: python3-confluent-kafka produces, record by record,
a poison pill and then a valid "probe" event of a user of its own. For
every pill the test requires that

- it lands in the dead-letter topic with its original key and value bytes
  and the headers error.stage, error.reason (the expected one),
  source.topic/partition/offset (as the producer's delivery report gave
  them) and source.timestamp — or, for duplicates and rate-limited
  records, that it is counted and not dead-lettered;
- the worker stays up and the probe after it gets its list;
- SIGTERM still exits 0, within the shutdown deadline;
- the books balance: consumed = processed + dead letters + duplicates +
  rate-limited, and consumed = what was produced.

Valid records are written by python3-avro; the pills are those records
with bytes changed by hand (the Avro binary encoding: zigzag varints,
length-prefixed strings, union branch indices). Plain framing runs the
bulk of the catalogue; Confluent and single-object framings run what only
they can get wrong (magic bytes, schema ids, fingerprints)."""
import datetime
import io
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
from confluent_kafka import Consumer, Producer  # noqa: E402

SCHEMAS = os.path.join(ROOT, "schemas")
EVENT_JSON = open(os.path.join(SCHEMAS, "BehaviorEvent.avsc")).read()
EVENT = avro.schema.parse(EVENT_JSON)
ITEM = avro.schema.parse(open(os.path.join(SCHEMAS, "ItemMeta.avsc")).read())
RECS = avro.schema.parse(open(os.path.join(SCHEMAS, "UserRecs.avsc")).read())
VIDEO = os.path.join(ROOT, "pipelines", "video.yaml")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
NOW = int(time.time() * 1000)
BASE = NOW - 3_600_000  # the stream's time: an hour ago
DAY = 86_400_000
INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)


def zz(v):
    """Zigzag varint of a 64-bit signed value (or an unsigned one past
    2^63, written as is: the varint of an out-of-range index)."""
    u = ((v << 1) ^ (v >> 63)) & (2**64 - 1) if v < 2**63 else v << 1
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def s(b):
    b = b if isinstance(b, bytes) else b.encode()
    return zz(len(b)) + b


TYPES = ["impression", "play", "click", "watch", "like", "share", "comment",
         "add_to_cart", "purchase", "skip", "dislike", "rate"]


def fields(eid, user, item, etype="watch", ts=None, watch=50000, duration=60000,
           category="comedy", value=None):
    """The record's encoding, field by field (index i is field i), so a pill
    changes one field's bytes and keeps the rest."""
    ts = BASE if ts is None else ts
    return [s(eid), s(user), s(item), zz(TYPES.index(etype)), zz(ts), zz(watch),
            zz(1) + zz(duration) if duration is not None else zz(0),
            zz(1) + s(category) if category is not None else zz(0),
            zz(1) + struct.pack("<d", value) if value is not None else zz(0),
            zz(0), zz(0)]


def python_avro(eid, user, item, ts=None, etype="watch", value=None):
    """A valid record written by python3-avro, the independent encoder."""
    rec = {"event_id": eid, "user_id": user, "item_id": item, "event_type": etype,
           "ts": EPOCH + datetime.timedelta(milliseconds=BASE if ts is None else ts),
           "watch_ms": 50000, "duration_ms": 60000, "category": "comedy",
           "value": value, "device": None, "session_id": None}
    buf = io.BytesIO()
    avro.io.DatumWriter(EVENT).write(rec, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def join(parts):
    return b"".join(parts)


def replace(i, data, **kw):
    f = fields(**kw)
    f[i] = data
    return join(f)


def plain_catalogue():
    """(name, key, value, CreateTime or None, stage, reason); reason None:
    counted only (no dead letter), with that stats key."""
    good = join(fields("g", "gu", "v1"))
    assert good == python_avro("g", "gu", "v1"), "hand encoding != python3-avro"
    body = fields("p", "pu", "v1")
    # the ts varint with its last byte's continuation bit set, cut there
    ts_end = sum(len(x) for x in body[:5])
    trunc_varint = join(body)[:ts_end - 1] + bytes([join(body)[ts_end - 1] | 0x80])
    bad_utf8 = b"\xc3\x28user"
    big = "u" * 1_048_576  # 1 MiB id
    med = "m" * 600_000    # 600 KB id
    items = io.BytesIO()
    avro.io.DatumWriter(ITEM).write(
        {"item_id": "v1", "category": None, "tags": [], "duration_ms": None,
         "embedding": None, "status": "active",
         "updated_ts": EPOCH + datetime.timedelta(milliseconds=1)},
        avro.io.BinaryEncoder(items))
    cat = [
        ("truncated varint", b"k1", trunc_varint, None, "decode", "truncated"),
        ("overlong varint", b"k2", replace(4, b"\x80" * 10 + b"\x00", eid="p2",
                                           user="u2", item="v1"),
         None, "decode", "bad_varint"),
        ("negative string length", b"k3", replace(0, zz(-5) + b"abc", eid="p3",
                                                  user="u3", item="v1"),
         None, "decode", "bad_length"),
        ("huge string length", b"k4", replace(1, zz(2**40) + b"abc", eid="p4",
                                              user="u4", item="v1"),
         None, "decode", "bad_length"),
        ("length past the buffer", b"k5", join(fields("p5", "u5", "v1"))[:-3] +
         b"", None, "decode", "truncated"),
        ("empty value", b"k6", b"", None, "decode", "truncated"),
        ("trailing bytes", b"k7", good + b"\x00\x02", None, "decode",
         "trailing_bytes"),
        ("enum index out of range", b"k8", replace(3, zz(12), eid="p8", user="u8",
                                                   item="v1"),
         None, "decode", "bad_enum"),
        ("enum index past 2^32", b"k9", replace(3, zz(2**32 + 3), eid="p9",
                                                user="u9", item="v1"),
         None, "decode", "bad_enum"),
        ("enum index 2^40", b"k10", replace(3, zz(2**40), eid="p10", user="u10",
                                            item="v1"),
         None, "decode", "bad_enum"),
        ("union branch out of range", b"k11", replace(6, zz(2) + zz(5), eid="p11",
                                                      user="u11", item="v1"),
         None, "decode", "bad_union"),
        ("union branch past 2^32", b"k12", replace(7, zz(2**32 + 1) + s("x"),
                                                   eid="p12", user="u12",
                                                   item="v1"),
         None, "decode", "bad_union"),
        ("NaN value", b"k13", join(fields("p13", "u13", "v1", etype="rate",
                                          value=float("nan"))),
         None, "decode", "bad_value"),
        ("+Inf value", b"k14", join(fields("p14", "u14", "v1", etype="rate",
                                           value=float("inf"))),
         None, "decode", "bad_value"),
        ("-Inf value", b"k15", join(fields("p15", "u15", "v1", etype="rate",
                                           value=float("-inf"))),
         None, "decode", "bad_value"),
        ("1e308 stars", b"k16", python_avro("p16", "u16", "v1", etype="rate",
                                            value=1e308),
         None, "clean", "invalid"),
        ("id over the limit (300 bytes)", b"k17", python_avro("p17", "x" * 300,
                                                              "v1"),
         None, "decode", "id_too_long"),
        ("1 MiB id", b"k18", python_avro("p18", big, "v1"), None, "decode",
         "id_too_long"),
        ("600 KB id", b"k19", python_avro("p19", med, "v1"), None, "decode",
         "id_too_long"),
        ("empty user_id", b"k20", python_avro("p20", "", "v1"), None, "decode",
         "empty_id"),
        ("empty event_id", b"k21", python_avro("", "u21", "v1"), None, "decode",
         "empty_id"),
        ("empty item_id", b"k22", python_avro("p22", "u22", ""), None, "decode",
         "empty_id"),
        ("invalid UTF-8 user_id", b"k23", replace(1, s(bad_utf8), eid="p23",
                                                  user="u23", item="v1"),
         None, "decode", "invalid_utf8"),
        ("timestamp 1970", b"k24", python_avro("p24", "u24", "v1", ts=0), None,
         "clean", "too_old"),
        ("timestamp INT64_MIN", b"k25", join(fields("p25", "u25", "v1",
                                                    ts=INT64_MIN)),
         None, "clean", "too_old"),
        ("timestamp INT64_MAX", b"k26", join(fields("p26", "u26", "v1",
                                                    ts=INT64_MAX)),
         None, "clean", "future"),
        ("timestamp in 2100", b"k27", python_avro("p27", "u27", "v1",
                                                  ts=4102444800000),
         None, "clean", "future"),
        ("8 days ahead, CreateTime too", b"k28",
         python_avro("p28", "u28", "v1", ts=NOW + 8 * DAY), NOW + 8 * DAY,
         "clean", "future"),
        ("negative watch time", b"k29", join(fields("p29", "u29", "v1",
                                                    watch=-5)),
         None, "clean", "invalid"),
        ("negative duration", b"k30", join(fields("p30", "u30", "v1",
                                                  duration=-60000)),
         None, "clean", "invalid"),
        ("a record of another schema (ItemMeta)", b"k31", items.getvalue(),
         None, "decode", None),
        ("not Avro at all", b"k32", b"not avro at all", None, "decode", None),
        # the first probe's event_id again, under its key: the same
        # partition, so it comes after the probe
        ("duplicate event_id", b"probe-k1-0",
         python_avro("probe-k1", "probe-k1-0", "v1"), None, None, "duplicate"),
    ]
    # a burst of 50 records a year ahead from one producer
    for i in range(50):
        cat.append((f"future burst {i}", b"burst", python_avro(
            f"fb{i}", "burster", "v1", ts=NOW + 365 * DAY), NOW + 365 * DAY,
            "clean", "future"))
    return cat


def framing_catalogue(framing):
    good = python_avro("fg", "fgu", "v1")
    if framing == "confluent":
        return [
            ("wrong Confluent magic", b"c1", b"\x01" + struct.pack(">I", 1) + good,
             None, "decode", "framing"),
            ("unknown schema id", b"c2", b"\x00" + struct.pack(">I", 77) + good,
             None, "decode", "unknown_schema"),
            ("Confluent header only", b"c3", b"\x00\x00\x00", None, "decode",
             "framing"),
        ]
    return [
        ("unknown single-object fingerprint", b"o1",
         b"\xc3\x01" + struct.pack("<Q", 0x1234) + good, None, "decode",
         "unknown_schema"),
        ("wrong single-object magic", b"o2", b"\xc3\x02" + b"\x00" * 8 + good,
         None, "decode", "framing"),
        ("single-object header cut", b"o3", b"\xc3\x01\x00", None, "decode",
         "framing"),
    ]


def framed(value, framing, fingerprint):
    if framing == "confluent":
        return b"\x00" + struct.pack(">I", 1) + value
    if framing == "single-object":
        return b"\xc3\x01" + struct.pack("<Q", fingerprint) + value
    return value


def single_object_fingerprint():
    """CRC-64-AVRO of the Parsing Canonical Form, by python3-avro's form
    (with the specification's rule for logical types, as the interop test
    explains)."""
    canon = re.sub(r'\{"type":"(null|boolean|int|long|float|double|bytes|string)"\}',
                   r'"\1"', EVENT.canonical_form).encode()
    fp = 0xc15d213aa4d7a795
    for b in canon:
        fp ^= b
        for _ in range(8):
            fp = (fp >> 1) ^ (0xc15d213aa4d7a795 & -(fp & 1))
    return fp


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


def run_catalogue(framing, catalogue):
    fp = single_object_fingerprint() if framing == "single-object" else 0
    with Broker() as broker, tempfile.TemporaryDirectory() as tmp:
        text = open(VIDEO).read()
        text = text.replace("framing: plain", f"framing: {framing}")
        text = text.replace("group: video.users", f"group: poison.{framing}")
        pipeline = os.path.join(tmp, "video.yaml")
        open(pipeline, "w").write(text)

        prod = Producer({"bootstrap.servers": broker.bootstrap,
                         "message.max.bytes": 4_000_000, "linger.ms": 5})
        sent = {}  # key of the poison -> (partition, offset)
        errors = []

        def report(err, msg):
            if err:
                errors.append(err)
            elif msg.key().startswith(b"probe") is False:
                sent.setdefault((msg.key(), msg.value()[:64]), []).append(
                    (msg.partition(), msg.offset()))

        probes = []
        total = 0
        # a few ordinary users first, so lists have something to hold
        for i in range(12):
            prod.produce("video.behavior", key=f"base{i}".encode(),
                         value=framed(python_avro(f"base{i}", f"base{i}", f"v{i % 4}"),
                                      framing, fp), on_delivery=report)
            total += 1
        for n, (name, key, value, create, stage, reason) in enumerate(catalogue):
            kw = {"timestamp": create} if create else {}
            raw = value if framing == "plain" or stage == "decode" and reason in (
                "framing", "unknown_schema") else framed(value, framing, fp)
            prod.produce("video.behavior", key=key, value=raw, on_delivery=report, **kw)
            total += 1
            probe = f"probe-{key.decode()}-{n}"
            probes.append(probe)
            prod.produce("video.behavior", key=probe.encode(),
                         value=framed(python_avro(probe if n else "probe-k1", probe,
                                                  f"v{n % 4}"), framing, fp),
                         on_delivery=report)
            total += 1
        # a bot: 200 events at once, over the burst of 60
        for i in range(200):
            prod.produce("video.behavior", key=b"bot",
                         value=framed(python_avro(f"bot{i}", "bot", f"v{i % 4}"),
                                      framing, fp), on_delivery=report)
            total += 1
        assert prod.flush(60) == 0 and not errors, errors

        env = dict(os.environ, KAFKA_BOOTSTRAP=broker.bootstrap, RECSTREAM_LOG_LEVEL="info")
        log = open(os.path.join(tmp, "worker.log"), "w+")
        worker = subprocess.Popen([RECSTREAM, "run", "-c", pipeline], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log)
        want_dlq = [c for c in catalogue if c[4] is not None]
        try:
            cons = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"chk.{framing}",
                             "auto.offset.reset": "earliest",
                             "fetch.message.max.bytes": 4_000_000})
            cons.subscribe(["video.behavior.dlq", "video.recs"])
            dead, listed = [], set()
            deadline = time.time() + 120
            while (len(dead) < len(want_dlq) or not set(probes) <= listed) and \
                    time.time() < deadline:
                m = cons.poll(0.5)
                if m is None or m.error():
                    continue
                if m.topic() == "video.recs":
                    listed.add(m.key().decode())
                else:
                    dead.append((m.key(), m.value(), dict(m.headers() or [])))
            cons.close()
            missing = sorted(set(probes) - listed)
            assert not missing, f"{len(missing)} probes without a list, e.g. {missing[:3]}"
            assert worker.poll() is None, "the worker died"
        finally:
            t = time.time()
            worker.send_signal(signal.SIGTERM)
            rc = worker.wait(timeout=60)
            took = time.time() - t
        log.seek(0)
        text = log.read()
        assert rc == 0, f"worker exit {rc}\n{text[-3000:]}"
        assert took < 30, f"SIGTERM took {took:.1f} s"

        # every pill that should be dead-lettered is, with its bytes and reason
        outcomes = []
        by_key = {}
        for key, value, hdr in dead:
            by_key.setdefault(key, []).append((value, hdr))
        for name, key, value, create, stage, reason in want_dlq:
            got = by_key.get(key)
            assert got, f"{name}: no dead letter (got keys {sorted(by_key)[:40]})"
            v, hdr = got.pop(0)
            raw = value if framing == "plain" or reason in ("framing", "unknown_schema") \
                else framed(value, framing, fp)
            if b"error.value.truncated" in [h.encode() if isinstance(h, str) else h
                                            for h in hdr]:
                assert raw.startswith(v) and int(hdr["error.value.truncated"]) == len(raw), name
            else:
                assert v == raw, f"{name}: dead letter bytes differ"
            assert hdr["error.stage"] == stage.encode(), (name, hdr)
            if reason:
                assert hdr["error.reason"] == reason.encode(), (name, hdr["error.reason"])
            assert hdr["source.topic"] == b"video.behavior", (name, hdr)
            part, off = int(hdr["source.partition"]), int(hdr["source.offset"])
            assert (part, off) in sent[(key, raw[:64])], (name, part, off)
            assert int(hdr["source.timestamp"]) > 0, (name, hdr)
            outcomes.append(f"{name}: {stage}/{hdr['error.reason'].decode()}")
        leftover = {k: len(v) for k, v in by_key.items() if v}
        assert not leftover, f"unexpected dead letters: {leftover}"

        stats = [line for line in text.splitlines() if "event=stats" in line][-1]
        num = {k: int(v) for k, v in re.findall(r" (\w+)=(\d+)", stats)}
        assert num["consumed"] == total, (num["consumed"], total, stats)
        assert num["consumed"] == num["processed"] + num["dead_letters"] + \
            num["duplicate"] + num["rate_limited"], stats
        assert num["dead_letters"] == len(want_dlq), (num["dead_letters"], len(want_dlq))
        assert num["dlq_delivered"] == len(want_dlq), stats
        if framing == "plain":
            assert num["duplicate"] == 1, stats
            assert num["rate_limited"] >= 100, stats
        return outcomes


def partition_burst():
    """Event time per partition: 1,000 records a year ahead (CreateTime
    too) on partition 0, then 100 valid records on each of partitions 0, 1
    and 2: every valid record is processed (each user gets a list), the
    burst is dead-lettered as future, nothing else is."""
    with Broker() as broker, tempfile.TemporaryDirectory() as tmp:
        text = open(VIDEO).read().replace("group: video.users", "group: burst")
        pipeline = os.path.join(tmp, "video.yaml")
        open(pipeline, "w").write(text)
        prod = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
        ahead = NOW + 365 * DAY
        for i in range(1000):
            prod.produce("video.behavior", partition=0, key=b"bad-clock",
                         value=python_avro(f"a{i}", "bad-clock", f"v{i % 7}", ts=ahead),
                         timestamp=ahead)
        users = []
        for p in range(3):
            for i in range(100):
                user = f"p{p}u{i}"
                users.append(user)
                prod.produce("video.behavior", partition=p, key=user.encode(),
                             value=python_avro(f"ok{p}.{i}", user, f"v{i % 7}",
                                               ts=BASE + i * 1000))
        assert prod.flush(60) == 0
        env = dict(os.environ, KAFKA_BOOTSTRAP=broker.bootstrap, RECSTREAM_LOG_LEVEL="info")
        log = open(os.path.join(tmp, "worker.log"), "w+")
        worker = subprocess.Popen([RECSTREAM, "run", "-c", pipeline], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log)
        try:
            cons = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "chk.burst",
                             "auto.offset.reset": "earliest"})
            cons.subscribe(["video.behavior.dlq", "video.recs"])
            dead, listed = [], set()
            deadline = time.time() + 90
            while (len(dead) < 1000 or not set(users) <= listed) and time.time() < deadline:
                m = cons.poll(0.5)
                if m is None or m.error():
                    continue
                if m.topic() == "video.recs":
                    listed.add(m.key().decode())
                else:
                    dead.append(dict(m.headers()))
            cons.close()
        finally:
            worker.send_signal(signal.SIGTERM)
            rc = worker.wait(timeout=60)
        missing = set(users) - listed
        assert not missing, f"{len(missing)} valid users without a list, e.g. {sorted(missing)[:3]}"
        assert len(dead) == 1000, len(dead)
        assert all(h["error.reason"] == b"future" and h["source.partition"] == b"0"
                   for h in dead), dead[:2]
        log.seek(0)
        stats = [line for line in log.read().splitlines() if "event=stats" in line][-1]
        assert rc == 0, rc
        assert " consumed=1300 " in stats and " dead_letters=1000 " in stats, stats
        assert " drop_clean_too_old=0 " in stats, stats


def write_outcomes(outcomes):
    for line in outcomes:
        print(f"# {line}")


def plain():
    write_outcomes(run_catalogue("plain", plain_catalogue()))


def confluent():
    write_outcomes(run_catalogue("confluent", framing_catalogue("confluent")))


def single_object():
    write_outcomes(run_catalogue("single-object", framing_catalogue("single-object")))


check("poison pills, plain framing: each dead-lettered with its reason, the next "
      "record processed, SIGTERM exits 0, the books balance", plain)
check("poison pills, Confluent framing", confluent)
check("a burst of 1,000 records a year ahead on one partition: all dead-lettered "
      "as future, every valid record of every partition processed", partition_burst)
check("poison pills, single-object framing", single_object)
done()
