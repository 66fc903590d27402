"""The poison-pill catalogue through `recstream replay`, from the canonical
CSV and from JSON lines: each pill is followed by a valid event of a user
of its own (a probe). Required: replay exits 0; every pill is a dead
letter in --dlq with its stage, reason and line; every probe user has a
list; duplicates are counted, not dead-lettered; and the summary's books
balance: records = processed + dead letters + duplicates + rate-limited.
The expected reasons are written here by hand, from the rules in
include/recstream/event.h and src/stages/clean.c."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, ROOT, check, done  # noqa: E402

VIDEO = os.path.join(ROOT, "pipelines", "video.yaml")
NOW = int(time.time() * 1000)
BASE = NOW - 3_600_000
DAY = 86_400_000
COLUMNS = ["event_id", "user_id", "item_id", "event_type", "ts_ms", "watch_ms",
           "duration_ms", "category", "value"]


def row(eid, user, item, etype="watch", ts=None, watch="50000", duration="60000",
        category="comedy", value=""):
    return {"event_id": eid, "user_id": user, "item_id": item, "event_type": etype,
            "ts_ms": str(BASE if ts is None else ts), "watch_ms": watch,
            "duration_ms": duration, "category": category, "value": value}


def catalogue():
    """(name, row, stage, reason): reason None for counted-only kinds."""
    cat = [
        ("empty event_id", row("", "u1", "v1"), "decode", "empty_id"),
        ("empty user_id", row("e2", "", "v1"), "decode", "empty_id"),
        ("empty item_id", row("e3", "u3", ""), "decode", "empty_id"),
        ("id over the limit", row("e4", "x" * 300, "v1"), "decode", "id_too_long"),
        ("600 KB id", row("e5", "m" * 600_000, "v1"), "decode", "id_too_long"),
        ("a row over 1 MiB", row("e6", "u" * (1 << 20), "v1"), "decode", "bad_row"),
        ("invalid UTF-8", row("e7", "u\udcc3(", "v1"), "decode", "invalid_utf8"),
        ("unknown event type", row("e8", "u8", "v1", etype="teleport"), "decode",
         "unknown_event_type"),
        ("ts not a number", row("e9", "u9", "v1", ts="soon"), "decode", "bad_field"),
        ("ts past 2^63", row("e10", "u10", "v1", ts="99999999999999999999"),
         "decode", "bad_field"),
        ("value inf", row("e11", "u11", "v1", etype="rate", value="inf"), "decode",
         "bad_value"),
        ("value nan", row("e12", "u12", "v1", etype="rate", value="nan"), "decode",
         "bad_value"),
        ("1e308 stars", row("e13", "u13", "v1", etype="rate", value="1e308"),
         "clean", "invalid"),
        ("a rating without stars", row("e14", "u14", "v1", etype="rate"), "clean",
         "invalid"),
        ("negative watch time", row("e15", "u15", "v1", watch="-1"), "clean",
         "invalid"),
        ("negative duration", row("e16", "u16", "v1", duration="-60000"), "clean",
         "invalid"),
        ("timestamp 1970", row("e17", "u17", "v1", ts=0), "clean", "too_old"),
        ("timestamp INT64_MIN", row("e18", "u18", "v1", ts=-(2**63)), "clean",
         "too_old"),
        ("timestamp INT64_MAX", row("e19", "u19", "v1", ts=2**63 - 1), "clean",
         "future"),
        ("timestamp in 2100", row("e20", "u20", "v1", ts=4102444800000), "clean",
         "future"),
        ("a day ahead of now", row("e21", "u21", "v1", ts=NOW + DAY), "clean",
         "future"),
        ("duplicate event_id", row("e22", "u22", "v1"), None, None),
    ]
    for i in range(50):
        cat.append((f"future burst {i}", row(f"fb{i}", "burster", "v1",
                                             ts=NOW + 365 * DAY), "clean", "future"))
    return cat


def csv_field(v):
    return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n') else v


def write(path, rows):
    if path.endswith(".csv"):
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(",".join(COLUMNS) + "\n")
            for r in rows:
                f.write(",".join(csv_field(r[c]) for c in COLUMNS) + "\n")
    else:
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            for r in rows:
                obj = {c: (None if r[c] == "" and c in ("watch_ms", "duration_ms",
                                                         "category", "value")
                           else r[c]) for c in COLUMNS}
                f.write(json.dumps(obj, ensure_ascii=False) + "\n")


def replay_catalogue(suffix):
    rows, want, probes = [], [], []
    for i in range(12):  # ordinary users, so lists have something to hold
        rows.append(row(f"base{i}", f"base{i}", f"v{i % 4}"))
    dup_of = None
    for n, (name, r, stage, reason) in enumerate(catalogue()):
        if stage is None:  # the event_id of the previous probe again
            r = dict(r, event_id=dup_of)
        rows.append(r)
        line = len(rows) + (1 if suffix == ".csv" else 0)
        if stage:
            want.append((name, stage, reason, line))
        probe = f"probe{n}"
        probes.append(probe)
        dup_of = f"probe-e{n}"
        rows.append(row(dup_of, probe, f"v{n % 4}"))
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "events" + suffix)
        dlq, out = os.path.join(tmp, "dead.jsonl"), os.path.join(tmp, "recs.jsonl")
        write(src, rows)
        res = subprocess.run([RECSTREAM, "replay", "-c", VIDEO, "--input", src,
                              "--dlq", dlq, "--output", out],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        dead = [json.loads(line) for line in open(dlq)]
        listed = {json.loads(line)["user_id"] for line in open(out)}
    missing = [p for p in probes if p not in listed]
    assert not missing, f"probes without a list: {missing[:5]}"
    assert len(dead) == len(want), (len(dead), len(want), dead[:3])
    got = sorted((d["line"], d["stage"], d["reason"]) for d in dead)
    exp = sorted((line, stage, reason) for _, stage, reason, line in want)
    assert got == exp, [(g, e) for g, e in zip(got, exp) if g != e][:5]
    m = re.search(r"(\d+) records: (\d+) processed, (\d+) dead letters, (\d+) "
                  r"duplicates, (\d+) rate-limited", res.stderr)
    assert m, res.stderr
    records, processed, dl, dups, limited = map(int, m.groups())
    assert records == len(rows), (records, len(rows))
    assert records == processed + dl + dups + limited, m.group(0)
    assert dl == len(want) and dups == 1, m.group(0)
    for name, stage, reason, line in want:
        print(f"# {suffix} {name}: {stage}/{reason}")


check("replay, canonical CSV: every pill a dead letter with its reason and line, "
      "every probe listed, the books balance", replay_catalogue, ".csv")
check("replay, JSON lines: the same", replay_catalogue, ".jsonl")
done()
