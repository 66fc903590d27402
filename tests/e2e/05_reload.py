"""Live reload: SIGHUP re-reads the pipeline file.

A worker runs a copy of pipelines/video.yaml on `recstream dev-broker`:
- a change of weights (watch: 1 -> 0) is applied without losing state:
  `event=reloaded` with the new config hash, UserRecs produced afterwards
  carry that hash, watches after it are dropped as zero-weight (exactly as
  many as were produced), users and their seen items are kept (a user's
  earlier watches stay out of the list it gets after the reload);
- a structural change (source.batch_size) is refused with the key named
  and the running configuration goes on (same hash in later UserRecs);
- a file that does not parse is reported with file:line:col and the
  running configuration goes on;
- /metrics names the configuration running: recstream_info's config_hash
  is the reloaded one (before: the hash the worker started with);
- SIGTERM then exits 0. The dev broker, which has nothing to reload, logs
  `event=reload_unsupported` and goes on. (Before: SIGHUP killed the
  worker, exit 129; then it was only logged.)"""
import datetime
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, ROOT, check, done, free_port, wait_for  # noqa: E402

import avro.io  # noqa: E402
import avro.schema  # noqa: E402
from confluent_kafka import Consumer, Producer  # noqa: E402

SCHEMAS = os.path.join(ROOT, "schemas")
VIDEO = os.path.join(ROOT, "pipelines", "video.yaml")
EVENT = avro.schema.parse(open(os.path.join(SCHEMAS, "BehaviorEvent.avsc")).read())
RECS = avro.schema.parse(open(os.path.join(SCHEMAS, "UserRecs.avsc")).read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
T0 = int(datetime.datetime.now(datetime.timezone.utc).timestamp()) - 3600


def event(n, user, item, kind="watch"):
    rec = {"event_id": f"rl{n}", "user_id": user, "item_id": item,
           "event_type": kind, "ts": EPOCH + datetime.timedelta(seconds=T0 + n),
           "watch_ms": 30000, "duration_ms": 30000, "category": None, "value": None,
           "device": None, "session_id": None}
    buf = io.BytesIO()
    avro.io.DatumWriter(EVENT).write(rec, avro.io.BinaryEncoder(buf))
    return user, buf.getvalue()


def info_hash(port):
    """The config_hash label of recstream_info on /metrics (None: no answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search(r'^recstream_info\{[^}]*config_hash="(\w+)"', text, re.M)
    return m and m.group(1)


def reload():
    with tempfile.TemporaryDirectory() as tmp:
        text0 = open(VIDEO).read()
        assert "      watch: 1 " in text0 and "  batch_size: 500" in text0
        pipeline = os.path.join(tmp, "video.yaml")
        open(pipeline, "w").write(text0)
        blog = open(os.path.join(tmp, "broker.log"), "w+")
        broker = subprocess.Popen([RECSTREAM, "dev-broker", "--partitions", "2"],
                                  stdout=subprocess.PIPE, stderr=blog, text=True)
        bootstrap = broker.stdout.readline().strip()
        assert re.match(r"^[\w.]+:\d+", bootstrap), bootstrap
        worker = None
        try:
            port = free_port()
            env = dict(os.environ, KAFKA_BOOTSTRAP=bootstrap, RECSTREAM_LOG_LEVEL="info",
                       RECSTREAM_HTTP_PORT=str(port))
            log = open(os.path.join(tmp, "worker.log"), "w+")
            worker = subprocess.Popen([RECSTREAM, "run", "-c", pipeline], env=env,
                                      stdout=subprocess.DEVNULL, stderr=log)

            def text():
                return open(log.name).read()

            def alive():
                assert worker.poll() is None, f"exit {worker.poll()}: {text()[-3000:]}"

            cons = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-reload",
                             "auto.offset.reset": "earliest"})
            cons.subscribe(["video.recs"])
            prod = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
            latest = {}

            def drain():
                while True:
                    m = cons.poll(0.1)
                    if m is None:
                        return
                    if m.error():
                        continue
                    rec = avro.io.DatumReader(RECS).read(
                        avro.io.BinaryDecoder(io.BytesIO(m.value())))
                    latest[rec["user_id"]] = rec

            def list_of(user, config_hash, item=None, since=None):
                """The user's latest list once it has the config hash (and
                holds item; and was made at or after event time since)."""
                def got():
                    drain()
                    r = latest.get(user)
                    return r is not None and r["pipeline"]["config_hash"] == config_hash \
                        and (item is None or item in [x["item_id"] for x in r["items"]]) \
                        and (since is None or r["generated_ts"] >= since)
                wait_for(got, 60, f"a list for {user} with config hash {config_hash}"
                         + (f" holding {item}" if item else "")
                         + (f" made at {since} or later" if since else ""))
                return latest[user]

            def send(events):
                for e in events:
                    prod.produce("video.behavior", key=e[0], value=e[1])
                assert prod.flush(10) == 0

            def stats():
                before = text().count("event=stats ")
                worker.send_signal(signal.SIGUSR1)
                wait_for(lambda: text().count("event=stats ") > before or worker.poll() is not None,
                         30, "a stats line")
                alive()
                line = [ln for ln in text().splitlines() if "event=stats " in ln][-1]
                return {k: int(v) for k, v in re.findall(r" (\w+)=(-?\d+)(?= |$)", line)}

            def sighup(event_name, count):
                worker.send_signal(signal.SIGHUP)
                wait_for(lambda: text().count(f"event={event_name}") >= count
                         or worker.poll() is not None, 30, f"event={event_name}")
                alive()
                return [ln for ln in text().splitlines() if f"event={event_name}" in ln][-1]

            wait_for(lambda: "event=assigned group=video.users" in text() or worker.poll() is not None,
                     90, "the worker's assignment")
            alive()
            h1 = re.search(r"event=started .*config_hash=(\w+)", text()).group(1)
            # Co-watched videos: everyone watches a0..a3, and u0 b0 too.
            n = 0
            first = []
            for u in range(8):
                for i in range(4):
                    first.append(event(n, f"u{u}", f"a{i}"))
                    n += 1
            first.append(event(n, "u0", "b0"))
            n += 1
            send(first)
            seen = {}

            def first_processed():
                seen.update(stats())
                return seen["processed"] >= len(first)
            try:
                wait_for(first_processed, 90, "the first events processed")
            except AssertionError:
                print(f"# last stats: {seen}", flush=True)
                raise
            assert seen["processed"] == len(first), seen
            # the item side publishes every item's neighbours once it is quiet
            wait_for(lambda: stats()["nb_applied"] >= 5, 60, "the neighbour lists")
            send([event(n, "u1", "a1", "like")])  # a list from the settled table
            n += 1
            list_of("u1", h1, "b0")
            # (the users' first lists, empty until the neighbour lists came,
            # may have come from the table alone: the like is processed too)
            wait_for(lambda: stats()["processed"] == len(first) + 1, 60, "u1's like processed")
            assert wait_for(lambda: info_hash(port), 30, "/metrics") == h1
            before = stats()

            # 1. weights: watches weigh nothing from now on.
            open(pipeline, "w").write(text0.replace("      watch: 1 ", "      watch: 0 ", 1))
            line = sighup("reloaded", 1)
            h2 = re.search(r"config_hash=(\w+)", line).group(1)
            assert h2 != h1, line
            n += 100  # past score.min_refresh_interval (event time)
            watches = [event(n + k, "u1", f"c{k}") for k in range(5)]
            n += 5
            # and past it again after the watches: u1's list debounced
            # before the reload may be flushed at their event time (with
            # the new hash), which must not debounce the like's list
            n += 10
            # u1 likes b0: its list changes. Had the reload lost u1's
            # window, b0's neighbours a0..a3 would be its list now.
            like = event(n, "u1", "b0", "like")
            like_ts = EPOCH + datetime.timedelta(seconds=T0 + n)
            n += 1
            send(watches + [like])
            # the list made for the like, not the one flushed before it
            rec = list_of("u1", h2, since=like_ts)
            items = [x["item_id"] for x in rec["items"]]
            assert not set(items) & {"a0", "a1", "a2", "a3", "b0"}, items
            send([event(n, "u9", "a0", "like")])  # a new user, the same table
            n += 1
            rec = list_of("u9", h2, "b0")
            after = stats()
            assert after["drop_weight_zero_weight"] - before.get("drop_weight_zero_weight", 0) \
                == len(watches), (before, after)
            # (zero-weight events are processed: counted, not learnt)
            assert after["processed"] - before["processed"] == len(watches) + 2, (before, after)
            assert before["users"] == 8 and after["users"] == 9, (before, after)
            assert after["reloads"] == 1, after
            # /metrics names the running configuration (a snapshot every 250 ms)
            wait_for(lambda: info_hash(port) == h2, 30,
                     f"recstream_info config_hash={h2} (was {info_hash(port)})")

            # 2. a structural change is refused; the running settings go on.
            open(pipeline, "w").write(text0.replace("      watch: 1 ", "      watch: 0 ", 1)
                                      .replace("  batch_size: 500", "  batch_size: 400", 1))
            line = sighup("reload_refused", 1)
            assert "source.batch_size changes only with a restart" in line, line
            # u2 likes b0, the one item it had not seen: its list changes
            send([event(n, "u2", "b0", "like")])
            n += 1
            list_of("u2", h2)

            # 3. a file that does not parse: reported where, the same.
            open(pipeline, "w").write(text0 + "\nstages: [\n")
            line = sighup("reload_failed", 1)
            assert re.search(r'reason="[^"]*video\.yaml:\d+:\d+: error', line), line
            send([event(n, "u3", "b0", "like")])
            n += 1
            list_of("u3", h2)
            assert stats()["reloads"] == 1

            # The dev broker has nothing to reload: it says so and goes on.
            broker.send_signal(signal.SIGHUP)
            wait_for(lambda: "event=reload_unsupported" in open(blog.name).read()
                     or broker.poll() is not None, 10, "the broker's reload_unsupported")
            assert broker.poll() is None, f"SIGHUP ended the dev broker: exit {broker.poll()}"
            cons.close()
            del prod
            worker.send_signal(signal.SIGTERM)
            rc = worker.wait(timeout=60)
            assert rc == 0, f"worker exit {rc} after SIGTERM\n{text()[-2000:]}"
        finally:
            if worker and worker.poll() is None:
                worker.kill()
                worker.wait(timeout=30)
            if broker.poll() is None:
                broker.send_signal(signal.SIGTERM)
            brc = broker.wait(timeout=30)
        assert brc == 0, f"dev broker exit {brc}"


check("SIGHUP reloads weights without losing state, refuses a structural change and a "
      "broken file with the reason, the new config hash is in the UserRecs", reload)
done()
