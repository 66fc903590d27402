"""The HTTP port (issue 12): pipelines/video.yaml run on `recstream
dev-broker` with http.port on a free port. curl fetches /metrics, /healthz,
/readyz; prometheus_client's parser (an independent reader of the text
format) reads /metrics, and the values are checked against what this test
produced: records consumed, drops by reason for deliberately bad records,
dead letters, lists (read back from the recs topic), consumer lag per
partition down to 0, histograms. docker/grafana-dashboard.json and
docker/prometheus-alerts.yml may only name metrics the scrape holds. Logs:
one key=value line per record with ts, level and component, nothing per
event at info, log.level and log.kafka_debug from the YAML; a port that
cannot be bound fails the start."""
import datetime
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, ROOT, check, done, free_port, wait_for  # noqa: E402

import avro.io  # noqa: E402
import avro.schema  # noqa: E402
import yaml  # noqa: E402
from confluent_kafka import Consumer, Producer  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

EVENT = avro.schema.parse(open(os.path.join(ROOT, "schemas", "BehaviorEvent.avsc")).read())
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
N_GOOD = 1500          # of which every 10th an impression (weight 0)
N_DUP = 40             # good events sent twice (same event_id)
N_FUTURE = 25          # dated a day ahead: dead letters (clean/future)
GARBAGE = [b"", b"\xff" * 12, b"\x00\x01", b"not avro at all", b"\xc3\x01junk"] * 3
LINE = re.compile(r'^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(err|warning|notice|info|debug) '
                  r'component=[a-z_]+( [a-z0-9_.]+=("([^"\\]|\\.)*"|[^ "]*))*$')


def curl(port, path, method="GET"):
    """(status, body) by curl, or None while nothing listens."""
    p = subprocess.run(["curl", "-s", "-m", "5", "-X", method, "-w", "\n%{http_code}",
                        f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                       timeout=30)
    if p.returncode != 0:
        return None
    body, _, code = p.stdout.rpartition("\n")
    return int(code), body


def scrape(port):
    """{sample name: {frozenset(labels): value}} and the families."""
    status, text = curl(port, "/metrics")
    assert status == 200, status
    fams = list(text_string_to_metric_families(text))
    samples = {}
    for f in fams:
        for s in f.samples:
            samples.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return samples, fams, text


def one(samples, name, **labels):
    return samples.get(name, {}).get(frozenset(labels.items()))


def total(samples, name, **labels):
    return sum(v for k, v in samples.get(name, {}).items()
               if set(labels.items()) <= set(k))


def encode(rec):
    buf = io.BytesIO()
    avro.io.DatumWriter(EVENT).write(rec, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def event(i, ts_ms, eid=None):
    kind = "impression" if i % 10 == 0 else ["play", "click", "like", "share"][i % 4]
    return {"event_id": eid or f"m{i}", "user_id": f"u{i % 150}", "item_id": f"v{(i * 7) % 97}",
            "event_type": kind, "ts": EPOCH + datetime.timedelta(milliseconds=ts_ms),
            "watch_ms": 1000, "duration_ms": 30000, "category": ["comedy", "music"][i % 2],
            "value": None, "device": None, "session_id": None}


class Broker:
    def __enter__(self):
        self.proc = subprocess.Popen([RECSTREAM, "dev-broker", "--partitions", "3"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert re.match(r"^[\w.]+:\d+", self.bootstrap), self.bootstrap
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def pipeline(tmp, name, port, log_level, kafka_debug):
    """video.yaml with quick statistics and commits, and the given port and
    log section (replacing the shipped ones)."""
    text = open(os.path.join(ROOT, "pipelines", "video.yaml")).read()
    assert "port: ${RECSTREAM_HTTP_PORT:-9464}" in text
    text = text[:text.index("\n# The HTTP port")]
    text = text.replace('    session.timeout.ms: "10000"',
                        '    session.timeout.ms: "10000"\n    statistics.interval.ms: "500"')
    text += f"""
state:
  commit_interval: 500ms
http:
  port: {port}
  bind: 127.0.0.1
log:
  level: {log_level}
  kafka_debug: "{kafka_debug}"
"""
    path = os.path.join(tmp, name)
    open(path, "w").write(text)
    return path


def start(path, bootstrap, tmp, name):
    env = {k: v for k, v in os.environ.items() if k != "RECSTREAM_LOG_LEVEL"}
    env["KAFKA_BOOTSTRAP"] = bootstrap
    log = open(os.path.join(tmp, name + ".log"), "w+")
    proc = subprocess.Popen([RECSTREAM, "run", "-c", path], env=env,
                            stdout=subprocess.DEVNULL, stderr=log)
    return proc, log


def stop(proc, log):
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=90)
    log.seek(0)
    return rc, log.read()


def histograms(fams):
    """Each histogram series: buckets cumulative and monotone, +Inf == count."""
    seen = {}
    for f in fams:
        if f.type != "histogram":
            continue
        series = {}
        for s in f.samples:
            key = frozenset((k, v) for k, v in s.labels.items() if k != "le")
            entry = series.setdefault(key, {"buckets": [], "count": None, "sum": None})
            if s.name.endswith("_bucket"):
                entry["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                entry["count"] = s.value
            elif s.name.endswith("_sum"):
                entry["sum"] = s.value
        for key, e in series.items():
            b = e["buckets"]
            assert b and b == sorted(b), (f.name, key, b)
            assert all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)), (f.name, key, b)
            assert b[-1][0] == float("inf") and b[-1][1] == e["count"], (f.name, key, b, e)
            assert e["sum"] is not None and e["sum"] >= 0, (f.name, key, e)
            seen[(f.name, key)] = e
    return seen


def used_metrics(texts):
    names = set()
    for t in texts:
        names |= set(re.findall(r"\brecstream_[a-z_]+", t))
    return names


def scenario():
    with Broker() as broker, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        path = pipeline(tmp, "a.yaml", port, "info", "cgrp")
        worker, log = start(path, broker.bootstrap, tmp, "a")
        rc = None
        try:
            # /readyz answers 503 with its reason from the first answer
            # (the group takes seconds to assign), then 200
            first = wait_for(lambda: curl(port, "/readyz"), 30, "the HTTP port")
            assert first[0] == 503 and first[1].startswith("not ready: "), first
            assert curl(port, "/healthz") == (200, "ok\n"), curl(port, "/healthz")
            s0, _, _ = scrape(port)
            assert one(s0, "recstream_ready") == 0, s0.get("recstream_ready")
            wait_for(lambda: curl(port, "/readyz") == (200, "ready\n"), 90, "/readyz 200")
            assert one(scrape(port)[0], "recstream_ready") == 1

            now = int(time.time() * 1000)
            prod = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
            good = [event(i, now - (N_GOOD - i) * 10) for i in range(N_GOOD)]
            for e in good:
                prod.produce("video.behavior", key=e["user_id"], value=encode(e))
            for e in good[:N_DUP]:  # the same event again: a duplicate
                prod.produce("video.behavior", key=e["user_id"], value=encode(e))
            for i in range(N_FUTURE):
                e = event(10 * i + 1, now + 86400000, eid=f"f{i}")
                prod.produce("video.behavior", key=e["user_id"], value=encode(e))
            for i, g in enumerate(GARBAGE):
                prod.produce("video.behavior", key=f"u{i}", value=g)
            assert prod.flush(30) == 0
            n_all = N_GOOD + N_DUP + N_FUTURE + len(GARBAGE)
            n_dead = N_FUTURE + len(GARBAGE)

            # the books, once every record is consumed and its dead letter
            # delivered
            def settled():
                s, _, _ = scrape(port)
                c = one(s, "recstream_records_consumed_total")
                d = one(s, "recstream_dlq_delivered_total")
                return s if c == n_all and d == n_dead else None
            s = wait_for(settled, 120, f"{n_all} records consumed")
            assert one(s, "recstream_records_decoded_total") == n_all - len(GARBAGE)
            assert total(s, "recstream_records_dropped_total", stage="decode") == len(GARBAGE)
            assert one(s, "recstream_records_dropped_total", stage="clean",
                       reason="future") == N_FUTURE
            assert one(s, "recstream_records_dropped_total", stage="clean",
                       reason="duplicate") == N_DUP
            assert one(s, "recstream_records_dropped_total", stage="weight",
                       reason="zero_weight") == N_GOOD // 10
            assert one(s, "recstream_records_dropped_total", stage="clean",
                       reason="rate_limit") == 0
            assert one(s, "recstream_dead_letters_total") == n_dead
            assert one(s, "recstream_records_processed_total") == N_GOOD

            # consumer lag: every input partition known and down to 0
            def caught_up():
                s, _, _ = scrape(port)
                lag = {dict(k)["partition"]: v
                       for k, v in s.get("recstream_consumer_lag", {}).items()
                       if dict(k)["topic"] == "video.behavior"}
                return s if sorted(lag) == ["0", "1", "2"] and not any(lag.values()) else None
            s = wait_for(caught_up, 90, "consumer lag 0 on the 3 input partitions")
            assert all(dict(k)["group"] == "video.users"
                       for k in s["recstream_consumer_lag"] if dict(k)["topic"] == "video.behavior")

            # the lists: as many on the topic as the metrics say were delivered
            def lists_settled():
                s, fams, text = scrape(port)
                p = one(s, "recstream_lists_produced_total")
                return (s, fams, text) if p and one(s, "recstream_lists_delivered_total") == p \
                    else None
            s, fams, text = wait_for(lists_settled, 60, "every list delivered")
            produced = one(s, "recstream_lists_produced_total")
            cons = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "m-check",
                             "auto.offset.reset": "earliest"})
            cons.subscribe(["video.recs"])
            got, deadline = 0, time.time() + 60
            while got < produced and time.time() < deadline:
                m = cons.poll(0.5)
                if m is not None and not m.error():
                    got += 1
            end = time.time() + 2  # and no more than that
            while time.time() < end:
                m = cons.poll(0.2)
                if m is not None and not m.error():
                    got += 1
            cons.close()
            assert got == produced, (got, produced)
            assert total(s, "recstream_lists_suppressed_total") > 0, s.get(
                "recstream_lists_suppressed_total")

            # histograms: monotone, +Inf == count; one observation per list
            # and per batch of each stage
            h = histograms(fams)
            lat = h[("recstream_event_to_recommendation_seconds", frozenset())]
            assert lat["count"] == produced, (lat, produced)
            # the events are dated now: every list within 60 s of its event
            assert dict(lat["buckets"])[60.0] == produced, lat
            stages = {dict(k)["stage"]: e["count"] for (n, k), e in h.items()
                      if n == "recstream_stage_batch_seconds"}
            assert {"decode", "clean", "weight", "user_window", "pairs", "score",
                    "cooccur"} <= set(stages), stages
            user_side = {stages[x] for x in ("decode", "clean", "weight", "user_window",
                                              "pairs", "score")}
            assert len(user_side) == 1 and user_side.pop() > 0, stages
            assert stages["cooccur"] > 0, stages

            # state, rebalances, info
            # u0, u10, ... get impressions only (weight 0: never in a window)
            assert one(s, "recstream_state_entries", store="user_window") == 135
            assert one(s, "recstream_state_bytes", store="cooccur") > 0
            assert one(s, "recstream_partitions_assigned", group="video.users") == 3
            assert one(s, "recstream_rebalances_total", group="video.users",
                       kind="assigned") >= 1
            assert one(s, "recstream_restores_total") >= 3  # one per partition a side
            assert one(s, "recstream_restoring_partitions") == 0
            # the item side settles and the table reads back what it published
            def table_read():
                s, _, _ = scrape(port)
                p = one(s, "recstream_neighbor_records_produced_total")
                a = one(s, "recstream_neighbor_records_applied_total")
                return s if p and a >= p and \
                    one(s, "recstream_neighbor_table_age_seconds") is not None else None
            s2 = wait_for(table_read, 60, "the neighbour table")
            age = one(s2, "recstream_neighbor_table_age_seconds")
            assert abs(age) < 3600, age  # both are event times of this run's events
            assert one(s2, "recstream_last_event_timestamp_seconds") == \
                max(e["ts"] for e in good).timestamp(), s2["recstream_last_event_timestamp_seconds"]
            info = list(s["recstream_info"])[0]
            assert dict(info)["pipeline"] == "video" and dict(info)["role"] == "all", info
            # HELP and TYPE for every family; labels escaped by the text rules
            for f in fams:
                assert f"# HELP {f.name}" in text and f"# TYPE {f.name}" in text or \
                    f"# TYPE {f.name}_total" in text, f.name
            assert text.endswith("\n")

            # the sample dashboard and alert rules name only what exists
            dash = json.load(open(os.path.join(ROOT, "docker", "grafana-dashboard.json")))
            exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
            exprs += [v["query"] for v in dash["templating"]["list"] if "query" in v]
            rules = yaml.safe_load(open(os.path.join(ROOT, "docker", "prometheus-alerts.yml")))
            alerts = [r for g in rules["groups"] for r in g["rules"]]
            assert {"RecstreamConsumerLagGrowing", "RecstreamDeadLetterRate",
                    "RecstreamNoListsPublished", "RecstreamRestoreStuck"} <= \
                {r["alert"] for r in alerts}
            names = used_metrics(exprs + [r["expr"] for r in alerts])
            assert len(names) >= 15, names
            # s2 is scraped after the table settled: it holds every family of s too
            missing = [n for n in names if n not in s2 and n + "_bucket" not in s2]
            assert not missing, missing

            # other paths
            # POST /reload: the main loop reads the file again and answers
            # (unchanged: the same hash; a change needing a restart: 409 with
            # the key; a file that does not load: 422 with file:line:col)
            h1 = re.search(r"event=started .*config_hash=(\w+)", open(log.name).read()).group(1)
            assert curl(port, "/reload", "POST") == (200, f"reloaded: config_hash={h1}\n")
            good = open(path).read()
            open(path, "w").write(good.replace("  batch_size: 500", "  batch_size: 400", 1))
            st, body = curl(port, "/reload", "POST")
            assert st == 409 and "source.batch_size changes only with a restart" in body, (st, body)
            open(path, "w").write(good + "\nstages: [\n")
            st, body = curl(port, "/reload", "POST")
            assert st == 422 and re.search(r"a\.yaml:\d+:\d+: error", body), (st, body)
            open(path, "w").write(good)
            assert curl(port, "/reload", "GET")[0] == 405
            assert curl(port, "/nope")[0] == 404
            assert curl(port, "/metrics", "POST")[0] == 405

            # the same port again: the start fails, saying why
            clash = pipeline(tmp, "b.yaml", port, "info", "")
            env = dict(os.environ, KAFKA_BOOTSTRAP=broker.bootstrap)
            p = subprocess.run([RECSTREAM, "run", "-c", clash], env=env, capture_output=True,
                               text=True, timeout=60)
            assert p.returncode == 1, (p.returncode, p.stderr)
            assert re.search(r"component=http event=start_failed reason=\"cannot listen on "
                             rf"127\.0\.0\.1:{port} .*in use", p.stderr), p.stderr
        finally:
            rc, text = stop(worker, log)
        assert rc == 0, f"worker exit {rc}\n{text[-3000:]}"

        # logs: one key=value line per record; nothing per event at info;
        # librdkafka's cgrp debug lines shown at level info (kafka_debug)
        lines = text.splitlines()
        bad = [x for x in lines if not LINE.match(x)]
        assert not bad, bad[:5]
        ours = [x for x in lines if "component=rdkafka" not in x]
        assert all(" level=debug " not in x for x in ours), [x for x in ours if "debug" in x][:3]
        assert len([x for x in ours if " level=info " in x]) < 120, len(ours)
        kdebug = [x for x in lines if "component=rdkafka" in x and " level=debug " in x]
        assert any(" fac=" in x and "CGRP" in x.upper() for x in kdebug), kdebug[:3]
        assert re.search(r"component=source event=assigned group=video\.users .*"
                         r"list=video\.behavior:\d", text), "no assignment line"
        assert "component=state event=restored topic=video.users-changelog" in text
        assert "component=worker event=stopped" in text
        # the stats line and /metrics count in the same place
        stats = [x for x in lines if "event=stats" in x][-1]
        assert f" consumed={n_all} " in stats and f" dead_letters={n_dead} " in stats, stats
        assert re.search(r" rebalances=[1-9]\d* lists_debounced=\d+ lists_unchanged=\d+ ",
                         stats), stats

        # log.level warning from the YAML: a restart (restoring what the
        # first run wrote) logs no info line, nor any of librdkafka's debug
        port = free_port()
        path = pipeline(tmp, "c.yaml", port, "warning", "")
        worker, log = start(path, broker.bootstrap, tmp, "c")
        try:
            wait_for(lambda: curl(port, "/readyz") == (200, "ready\n"), 90, "/readyz 200 again")
            s, _, _ = scrape(port)
            assert one(s, "recstream_restore_records_total") > 0, "nothing restored"
        finally:
            rc, text = stop(worker, log)
        assert rc == 0, f"worker exit {rc}\n{text[-3000:]}"
        lines = text.splitlines()
        assert all(LINE.match(x) for x in lines), lines[:5]
        assert not [x for x in lines if re.search(r" level=(info|notice|debug) ", x)], lines[:5]


check("metrics, health and readiness on the HTTP port, checked against what was produced",
      scenario)
done()
