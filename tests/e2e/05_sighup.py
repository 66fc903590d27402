"""SIGHUP does not end a worker. Live reload does not exist yet, so a
SIGHUP (a terminal closing, a config-management tool asking for a reload)
is logged as `event=reload_unsupported` from the worker's loop and the
worker goes on: an event produced afterwards still gets its UserRecs, and
SIGTERM then stops it cleanly (exit 0, offsets committed). The dev broker
takes a SIGHUP the same way. (Before: SIGHUP killed the worker, exit 129,
no drain, no commit.)"""
import datetime
import io
import os
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
PASSTHROUGH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "passthrough.yaml")
EVENT = avro.schema.parse(open(os.path.join(SCHEMAS, "BehaviorEvent.avsc")).read())
RECS = avro.schema.parse(open(os.path.join(SCHEMAS, "UserRecs.avsc")).read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def event(i):
    rec = {"event_id": f"hup{i}", "user_id": f"u{i}", "item_id": f"v{i}",
           "event_type": "watch", "ts": EPOCH + datetime.timedelta(seconds=1767225600 + i),
           "watch_ms": 1, "duration_ms": None, "category": None, "value": None,
           "device": None, "session_id": None}
    buf = io.BytesIO()
    avro.io.DatumWriter(EVENT).write(rec, avro.io.BinaryEncoder(buf))
    return rec["user_id"], buf.getvalue()


def sighup():
    with tempfile.TemporaryDirectory() as tmp:
        blog = open(os.path.join(tmp, "broker.log"), "w+")
        broker = subprocess.Popen([RECSTREAM, "dev-broker", "--partitions", "2"],
                                  stdout=subprocess.PIPE, stderr=blog, text=True)
        bootstrap = broker.stdout.readline().strip()
        assert re.match(r"^[\w.]+:\d+", bootstrap), bootstrap
        worker = None
        try:
            env = dict(os.environ, KAFKA_BOOTSTRAP=bootstrap, RECSTREAM_LOG_LEVEL="info")
            log = open(os.path.join(tmp, "worker.log"), "w+")
            worker = subprocess.Popen([RECSTREAM, "run", "-c", PASSTHROUGH], env=env,
                                      stdout=subprocess.DEVNULL, stderr=log)

            def text():
                return open(log.name).read()

            cons = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-hup",
                             "auto.offset.reset": "earliest"})
            cons.subscribe(["video.recs"])
            prod = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})

            def recs_of(user, seconds):
                deadline = time.time() + seconds
                while time.time() < deadline:
                    m = cons.poll(0.2)
                    if m is None or m.error():
                        continue
                    rec = avro.io.DatumReader(RECS).read(
                        avro.io.BinaryDecoder(io.BytesIO(m.value())))
                    if rec["user_id"] == user:
                        return rec
                return None

            wait_for(lambda: "event=assigned" in text() or worker.poll() is not None, 60,
                     "the worker's assignment")
            assert worker.poll() is None, text()
            # One event before, to know the worker works.
            key, value = event(0)
            prod.produce("video.behavior", key=key, value=value)
            assert prod.flush(10) == 0
            assert recs_of("u0", 30) is not None, "no output before SIGHUP"

            worker.send_signal(signal.SIGHUP)
            wait_for(lambda: "event=reload_unsupported" in text() or worker.poll() is not None,
                     10, "event=reload_unsupported")
            assert worker.poll() is None, f"SIGHUP ended the worker: exit {worker.poll()}"
            line = [x for x in text().splitlines() if "event=reload_unsupported" in x][0]
            assert "level=warning component=worker" in line and "signal=SIGHUP" in line, line
            # The dev broker, too, logs it and goes on.
            broker.send_signal(signal.SIGHUP)
            wait_for(lambda: "event=reload_unsupported" in open(blog.name).read()
                     or broker.poll() is not None, 10, "the broker's reload_unsupported")
            assert broker.poll() is None, f"SIGHUP ended the dev broker: exit {broker.poll()}"

            # An event produced after both SIGHUPs still gets its output.
            key, value = event(1)
            prod.produce("video.behavior", key=key, value=value)
            assert prod.flush(10) == 0
            rec = recs_of("u1", 30)
            assert rec is not None, "no output for the event after SIGHUP\n" + text()[-2000:]
            assert rec["items"][0]["item_id"] == "v1", rec
            cons.close()
            del prod
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
            rc = worker.wait(timeout=60)
            assert rc == 0, f"worker exit {rc} after SIGTERM\n{text()[-2000:]}"
            assert "event=stopped" in text(), text()[-2000:]
            # Both events' offsets were committed by the clean stop.
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e.users"})
            parts = [TopicPartition("video.behavior", p) for p in range(2)]
            committed = sum(max(tp.offset, 0) for tp in c.committed(parts, timeout=10))
            c.close()
            assert committed == 2, committed
            assert broker.poll() is None, "the dev broker ended"
        finally:
            # Whatever failed, nothing is left running.
            if worker and worker.poll() is None:
                worker.kill()
                worker.wait(timeout=30)
            if broker.poll() is None:
                broker.send_signal(signal.SIGTERM)
            brc = broker.wait(timeout=30)
        assert brc == 0, f"dev broker exit {brc}"


check("SIGHUP: logged as reload_unsupported, the worker and the dev broker go on, "
      "later events get output, SIGTERM exits 0", sighup)
done()
