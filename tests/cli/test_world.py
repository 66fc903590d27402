"""`recstream produce --generate --world platform`: the realistic stream
has the structure include/recstream/gen.h promises, checked from the CSV it
writes (not from the generator's code): time order within the days, a
play before every watch or skip, likes after full watches, series watched
in order, sessions, releases over time, drifting tastes, bots, and the
same bytes for the same seed."""
import collections
import csv
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, check, done  # noqa: E402

START = 1767225600000
DAY = 86400000
DAYS = 8


def generate(path, *extra):
    r = subprocess.run([RECSTREAM, "produce", "--generate", "100000000",
                        "--world", "platform", "--output", path, *extra],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def by_user(rows):
    users = collections.defaultdict(list)
    for r in rows:
        users[r["user_id"]].append(r)
    return users


def small(tmp):
    return generate(os.path.join(tmp, "w.csv"), "--users", "400",
                    "--items", "3000", "--days", str(DAYS), "--seed", "5")


def test_order_and_span(rows):
    ts = [int(r["ts_ms"]) for r in rows]
    assert ts == sorted(ts), "not time-ordered"
    assert START <= ts[0] and ts[-1] < START + DAYS * DAY, (ts[0], ts[-1])
    assert ts[-1] - ts[0] > (DAYS - 1) * DAY, "does not span its days"
    assert len({r["event_id"] for r in rows}) == len(rows)
    users = {r["user_id"] for r in rows}
    assert 350 <= len(users) <= 400, len(users)


def test_plays_before_outcomes(rows):
    plays = outcomes = follows = 0
    for seq in by_user(rows).values():
        for prev, r in zip([None] + seq, seq):
            t = r["event_type"]
            if t in ("watch", "skip"):
                outcomes += 1
                assert prev and prev["event_type"] == "play" and \
                    prev["item_id"] == r["item_id"], (prev, r)
                assert int(r["ts_ms"]) - int(prev["ts_ms"]) == \
                    int(r["watch_ms"] or 0), (prev, r)
            elif t in ("like", "share"):
                follows += 1
                assert prev and prev["event_type"] == "watch" and \
                    prev["item_id"] == r["item_id"] and \
                    int(prev["watch_ms"]) * 10 >= int(prev["duration_ms"]) * 9, \
                    (prev, r)
            elif t == "play":
                plays += 1
            else:
                assert t == "impression", t
    assert outcomes > 0.95 * plays, (outcomes, plays)
    assert 0.015 * outcomes < follows < 0.2 * outcomes, (follows, outcomes)


def test_series_in_order(rows):
    binged = 0
    for seq in by_user(rows).values():
        watched = set()
        for r in seq:
            item = r["item_id"]
            if r["event_type"] == "watch":
                watched.add(item)
            if r["event_type"] != "play" or not item.startswith("s"):
                continue
            s, e = item[1:].split("e")
            if int(e) > 1:
                # a later episode is played only after the one before
                assert f"s{s}e{int(e) - 1}" in watched, (r["user_id"], item)
                binged += 1
    assert binged > 500, binged


def test_sessions(rows):
    gaps = []
    sessions = 0
    for seq in by_user(rows).values():
        ts = [int(r["ts_ms"]) for r in seq if r["event_type"] in
              ("impression", "play")]
        sessions += 1
        for a, b in zip(ts, ts[1:]):
            gaps.append(b - a)
            sessions += b - a > 30 * 60000
    short = sum(g < 5 * 60000 for g in gaps)
    long_ = sum(g > 30 * 60000 for g in gaps)
    assert short > 0.8 * len(gaps) and long_ > 0.03 * len(gaps), \
        (short, long_, len(gaps))
    videos = len(gaps) + len(by_user(rows))
    assert 5 <= videos / sessions <= 20, videos / sessions


def test_releases_and_trends(rows):
    first = {}
    for r in rows:
        first.setdefault(r["item_id"], int(r["ts_ms"]))
    late = sum(t > START + DAY for t in first.values())
    assert late > 0.2 * len(first), (late, len(first))
    # a release is played most in its first days
    plays = collections.defaultdict(list)
    for r in rows:
        if r["event_type"] == "play":
            plays[r["item_id"]].append(int(r["ts_ms"]))
    early = total = 0
    for item, ts in plays.items():
        if first[item] > START + DAY and first[item] < START + 2 * DAY:
            total += len(ts)
            early += sum(t < first[item] + DAY for t in ts)
    assert total > 100 and early > 0.4 * total, (early, total)


def test_drift(rows):
    # the share of a user's second-half watches in the two categories
    # they watched most in the first half: 0.94 of the first half's share
    # on this stream with tastes that never drift, 0.64 with drift
    stay = []
    for seq in by_user(rows).values():
        halves = [collections.Counter(), collections.Counter()]
        for r in seq:
            if r["event_type"] == "watch":
                late = int(r["ts_ms"]) >= START + DAYS * DAY // 2
                halves[late][r["category"]] += 1
        if min(sum(h.values()) for h in halves) >= 15:
            top = [c for c, _ in halves[0].most_common(2)]
            share = [sum(h[c] for c in top) / sum(h.values()) for h in halves]
            stay.append(share[1] / share[0])
    assert len(stay) > 50 and sum(stay) / len(stay) < 0.8, \
        (len(stay), sum(stay) / max(len(stay), 1))


def test_bots(rows):
    users = by_user(rows)
    counts = sorted(len(s) for s in users.values())
    median = counts[len(counts) // 2]
    # a bot scrolls past nothing, plays and watches every video out, and
    # does it far more than anyone
    bots = [u for u, s in users.items()
            if not any(r["event_type"] == "impression" for r in s)
            and len(s) > 10 * median]
    assert 1 <= len(bots) <= 6, (len(bots), median)
    for u in bots:
        kinds = {r["event_type"] for r in users[u]}
        assert kinds == {"play", "watch"}, (u, kinds)
        assert all(r["watch_ms"] == r["duration_ms"] for r in users[u]
                   if r["event_type"] == "watch"), u


def test_deterministic(tmp, rows):
    again = small(tmp)
    assert again == rows
    other = generate(os.path.join(tmp, "o.csv"), "--users", "400",
                     "--items", "3000", "--days", str(DAYS), "--seed", "6")
    assert other[:50] != rows[:50]


def test_usage(tmp):
    for args, msg in ((["--items", "100"], "--world platform"),
                      (["--world", "sphere"], "expected series or platform"),
                      (["--world", "platform", "--days", "0"], "days")):
        r = subprocess.run([RECSTREAM, "produce", "--generate", "10",
                            "--output", os.path.join(tmp, "x.csv"), *args],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and msg in r.stderr, (args, r.stderr)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        rows = small(tmp)
        check("time-ordered, within its days, one id per event", test_order_and_span, rows)
        check("a play before every watch or skip, likes after full watches",
              test_plays_before_outcomes, rows)
        check("series watched in order", test_series_in_order, rows)
        check("sessions of about ten videos, hours apart", test_sessions, rows)
        check("releases over the days, played most when new",
              test_releases_and_trends, rows)
        check("tastes drift", test_drift, rows)
        check("a few bots: long runs of plays watched out", test_bots, rows)
        check("the same seed gives the same stream", test_deterministic, tmp, rows)
        check("usage errors", test_usage, tmp)
    done()


if __name__ == "__main__":
    main()
