"""Replicas that remember, the users side (issue 11, DESIGN §3 State that
survives): on a 6-partition dev broker, pipelines/video.yaml, the events of
07_equivalence.py (python3-avro, python3-confluent-kafka).

1. kill -9: the first 2,000 events through one worker until its offsets
   are committed (committed offsets follow the changelog, so its state is
   durable then), SIGKILL, the other 2,000 produced, a new worker. It must
   restore every user the first one held from video.users-changelog (the
   `event=restored` lines of all 6 partitions), consume only the new
   events, and keep what it restored: no list published after the restart
   holds an item its user touched before the kill (the seen sets came
   back; a cold start recommends them). The books of both runs balance.
2. Damaged changelog: a record that is not a UserState, and a real one cut
   short, written to the changelog by python3-confluent-kafka; the next
   worker warns (event=corrupt_record), counts both (restore_corrupt), the
   two users start empty, every other user is restored, and it serves.

3. kill -9 against an uninterrupted run: the 4,000 events and one
   re-watch per user through one worker, and again with a SIGKILL after
   the first 2,000 and a new worker for the rest; every user's final list
   must agree with the uninterrupted run's at mean top-10 Jaccard >= 0.95
   (without the changelogs 0.31). Once with the kill when both sides have
   committed the 2,000, once as soon as they are processed (between
   commits: the new worker reads again what the last commit did not
   cover; users skip what their restored state holds, the item side what
   its watermarks say it applied).

4. Bounded: with user_window.max_users 50, the users changelog (read by
   python3-confluent-kafka, as compaction would keep it) ends with at most
   50 live users — the evicted ones have tombstones — and a restart
   restores at most 50.

The rebalance and rolling-restart cases (rebalance_agrees, rolling_agrees)
run in `make test-long` (tests/long/test_rebalance.py)."""
import importlib.util
import os
import re
import signal
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import check, done, wait_for  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

spec = importlib.util.spec_from_file_location(
    "equivalence", os.path.join(os.path.dirname(__file__), "07_equivalence.py"))
eq = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eq)

CHANGELOG = "video.users-changelog"


def committed_all(topo, n_events):
    return sum(topo.committed("video.users", "video.behavior")) == n_events


def final_stats(proc):
    line = [ln for ln in proc.text().splitlines() if "event=stats " in ln][-1]
    return {k: int(v) for k, v in re.findall(r" (\w+)=(-?\d+)(?= |$)", line)}


def books(st):
    return st["consumed"] == st["processed"] + st["dead_letters"] + st["duplicate"] + \
        st["rate_limited"] + st["drop_restore_replayed"]


def recs_since(topo, start):
    """Every UserRecs after offsets `start` of video.recs: (user, items)."""
    ends = topo.ends("video.recs")
    c = Consumer({"bootstrap.servers": topo.bootstrap, "group.id": "e2e-since",
                  "enable.auto.commit": False})
    c.assign([TopicPartition("video.recs", p, start[p]) for p in range(eq.PARTITIONS)])
    pos, out = list(start), []
    wait_for(lambda: poll_into(c, pos, out) or pos == ends, 60, "video.recs read")
    c.close()
    return out


def poll_into(c, pos, out):
    m = c.poll(0.2)
    if m is not None and not m.error():
        pos[m.partition()] = m.offset() + 1
        rec = eq.avro.io.DatumReader(eq.RECS).read(
            eq.avro.io.BinaryDecoder(eq.io.BytesIO(m.value())))
        out.append((rec["user_id"], [it["item_id"] for it in rec["items"]]))
    return False


def restored_partitions(proc):
    return set(re.findall(r"event=restored topic=(\S+) partition=(\d+)", proc.text()))


def kill9():
    events = eq.make_events()
    first, second = events[:2000], events[2000:]
    with eq.Topology(["all"]) as topo:
        topo.wait_assigned()
        topo.produce(first)
        wait_for(lambda: committed_all(topo, len(first)), 120,
                 "the first 2,000 events committed")
        before = topo.procs[0].stats()
        assert before["changelog_delivered"] > 0, before
        topo.procs[0].proc.send_signal(signal.SIGKILL)
        topo.procs[0].proc.wait(timeout=30)
        assert books(before), before
        recs_end = topo.ends("video.recs")
        topo.produce(second)
        again = eq.Process(topo.tmp.name, topo.bootstrap, "all", 1)
        topo.procs = [again]
        wait_for(lambda: len(restored_partitions(again)) == 2 * eq.PARTITIONS, 120,
                 "all six partitions of both changelogs restored")
        wait_for(lambda: committed_all(topo, len(events)), 120, "all 4,000 committed")
        st = again.stats()
        print(f"# before the kill: {before['users']} users, {before['changelog_produced']} "
              f"changelog records ({before['changelog_bytes']} B) for {before['processed']} "
              f"events; restored {st['restore_records']} records "
              f"({st['restore_bytes']} B), consumed {st['consumed']}")
        assert st["restore_records"] >= before["users"], (st, before["users"])
        assert st["restore_corrupt"] == 0, st
        assert st["consumed"] == len(second), st  # nothing before the commit again
        # what each user touched before the kill never comes back to them
        touched = {}
        for e in first:
            touched.setdefault(e["user_id"], set()).add(e["item_id"])
        after = recs_since(topo, recs_end)
        assert after, "no list published after the restart"
        back = [(u, set(items) & touched.get(u, set())) for u, items in after
                if set(items) & touched.get(u, set())]
        print(f"# {len(after)} lists after the restart, {len(back)} with an item "
              f"touched before the kill")
        assert not back, back[:5]
        again.stop()
        assert books(final_stats(again)), final_stats(again)
        assert before["processed"] + final_stats(again)["processed"] == \
            len(events) - before["duplicate"] - final_stats(again)["duplicate"]


def damaged():
    events = eq.make_events()[:1000]
    with eq.Topology(["all"]) as topo:
        topo.wait_assigned()
        topo.produce(events)
        wait_for(lambda: committed_all(topo, len(events)), 120, "1,000 events committed")
        held = topo.procs[0].stats()["users"]
        topo.procs[0].stop()
        # a real record of one user, cut short, and garbage for another
        c = Consumer({"bootstrap.servers": topo.bootstrap, "group.id": "e2e-chg",
                      "enable.auto.commit": False})
        c.assign([TopicPartition(CHANGELOG, 0, 0)])
        m = None
        wait_for(lambda: (m := c.poll(0.2)) is not None and not m.error() and
                 victims.append(m) is None, 30, "a changelog record")
        c.close()
        real = victims[0]
        prod = Producer({"bootstrap.servers": topo.bootstrap})
        prod.produce(CHANGELOG, partition=0, key=real.key(), value=real.value()[:-7])
        prod.produce(CHANGELOG, partition=0, key=b"not-a-user-yet",
                     value=b"\x02garbage, no UserState at all")
        assert prod.flush(30) == 0
        again = eq.Process(topo.tmp.name, topo.bootstrap, "all", 1)
        topo.procs = [again]
        wait_for(lambda: len(restored_partitions(again)) == 2 * eq.PARTITIONS, 120,
                 "all six partitions of both changelogs restored")
        st = again.stats()
        assert "event=corrupt_record" in again.text(), again.text()[-3000:]
        assert st["restore_corrupt"] == 2, st
        # the cut-short user starts empty: one user fewer than were held
        assert st["users"] == held - 1, (st["users"], held)
        more = eq.rewatches(events)[:50]
        topo.produce(more)
        wait_for(lambda: committed_all(topo, len(events) + len(more)), 120,
                 "the worker serves after a damaged restore")
        print(f"# damaged changelog: {st['restore_corrupt']} records refused, "
              f"{st['users']} of {held} users restored")
        again.stop()


def bounded():
    """user_window.max_users 50: the users changelog, read by
    python3-confluent-kafka, ends with at most 50 users alive (the evicted
    ones have tombstones), and a restart restores at most 50."""
    events = eq.make_events()[:1500]
    with tempfile.TemporaryDirectory() as tmp:
        text = open(eq.PIPELINE).read()
        line = "    max_users: 1000000 "
        assert line in text
        small = os.path.join(tmp, "video.yaml")
        open(small, "w").write(text.replace(line, "    max_users: 50 ", 1))
        whole, eq.PIPELINE = eq.PIPELINE, small
        try:
            with eq.Topology(["all"]) as topo:
                topo.wait_assigned()
                topo.produce(events)
                wait_for(lambda: committed_all(topo, len(events)), 120,
                         "1,500 events committed")
                st = topo.procs[0].stats()
                topo.procs[0].stop()
                live = changelog_keys(topo)
                again = eq.Process(topo.tmp.name, topo.bootstrap, "all", 1)
                topo.procs = [again]
                wait_for(lambda: len(restored_partitions(again)) == 2 * eq.PARTITIONS, 120,
                         "both changelogs restored")
                users = again.stats()["users"]
                again.stop()
        finally:
            eq.PIPELINE = whole
    print(f"# max_users 50: {st['user_evictions']} evictions, "
          f"{st['changelog_tombstones']} tombstones; the changelog ends with "
          f"{len(live)} live users; {users} restored")
    assert st["user_evictions"] > 0 and st["changelog_tombstones"] > 0, st
    assert len(live) <= 50, len(live)
    assert 0 < users <= 50, users


def changelog_keys(topo):
    """The keys of video.users-changelog whose last record is not a
    tombstone, as a compacting broker would keep them."""
    c = Consumer({"bootstrap.servers": topo.bootstrap, "group.id": "e2e-keys",
                  "enable.auto.commit": False})
    ends = [c.get_watermark_offsets(TopicPartition(CHANGELOG, p), timeout=10)[1]
            for p in range(eq.PARTITIONS)]
    c.assign([TopicPartition(CHANGELOG, p, 0) for p in range(eq.PARTITIONS)])
    pos, last = [0] * eq.PARTITIONS, {}

    def more():
        m = c.poll(0.2)
        if m is not None and not m.error():
            pos[m.partition()] = m.offset() + 1
            last[m.key()] = m.value() is not None
        return pos == ends
    wait_for(more, 60, "the users changelog read")
    c.close()
    return [k for k, alive in last.items() if alive]


WHOLE = {}


def kill9_agrees(at_commit):
    events = eq.make_events()
    again_events = eq.rewatches(events)
    if not WHOLE:
        with eq.Topology(["all"]) as topo:
            WHOLE.update(topo.run(events, again_events))
    whole = WHOLE
    with eq.Topology(["all"]) as topo:
        topo.wait_assigned()
        topo.produce(events[:2000])
        if at_commit:
            wait_for(topo.settled, 120, "the first 2,000 drained and committed", 0.2)
        else:
            # between commits: what the last commit does not cover is read
            # again by the new worker, and its deltas sent again
            wait_for(lambda: topo.procs[0].stats()["processed"] >= 2000, 120,
                     "the first 2,000 processed")
        topo.procs[0].proc.send_signal(signal.SIGKILL)
        topo.procs[0].proc.wait(timeout=30)
        topo.produce(events[2000:])
        again = eq.Process(topo.tmp.name, topo.bootstrap, "all", 1)
        topo.procs = [again]
        try:
            wait_for(lambda: len(restored_partitions(again)) == 2 * eq.PARTITIONS, 120,
                     "both changelogs restored")
            wait_for(topo.settled, 120, "the other 2,000 drained", 0.2)
            topo.produce(again_events)
            wait_for(topo.settled, 120, "the re-watches drained", 0.2)
        except AssertionError as e:
            raise AssertionError(f"{e}: {topo.state}") from None
        killed = topo.lists()
        st = again.stats()
        again.stop()
    j = eq.jaccard(whole, killed)
    print(f"# kill -9 {'at a commit' if at_commit else 'between commits'} vs "
          f"uninterrupted: mean top-10 Jaccard {j:.4f} over {len(whole)} users; "
          f"restored {st['restore_records']} records ({st['restore_bytes']} B); "
          f"read again {st['consumed'] - len(events) + 2000 - len(again_events)} "
          f"events, {st['drop_restore_replayed']} held by a restored user, "
          f"{st['updates_replayed']} delta updates skipped as applied")
    assert j >= 0.95, j


def rebalance_agrees():
    """Two replicas, a third joins mid-stream, one of the first two is
    killed, the stream goes on: every event committed, every user listed,
    the lists of an uninterrupted single replica."""
    events = eq.make_events()
    again_events = eq.rewatches(events)
    if not WHOLE:
        with eq.Topology(["all"]) as topo:
            WHOLE.update(topo.run(events, again_events))
    with eq.Topology(["all", "all"]) as topo:
        topo.wait_assigned()
        topo.produce(events[:1500])
        third = eq.Process(topo.tmp.name, topo.bootstrap, "all", 2)
        topo.procs.append(third)
        wait_for(lambda: third.assigned("video.users") > 0 and
                 third.assigned("video.items") > 0, 90, "the third replica assigned")
        topo.produce(events[1500:3000])
        victim = topo.procs[0]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=30)
        topo.procs = topo.procs[1:]
        topo.produce(events[3000:])
        try:
            topo.wait_assigned()  # the survivors hold every partition
            wait_for(topo.settled, 180, "the stream drained after the kill", 0.2)
            topo.produce(again_events)
            wait_for(topo.settled, 120, "the re-watches drained", 0.2)
        except AssertionError as e:
            raise AssertionError(f"{e}: {getattr(topo, 'state', '')}") from None
        lists = topo.lists()
        restored = sum(p.stats()["restore_records"] for p in topo.procs)
        for p in topo.procs:
            p.stop()
    assert set(lists) == set(WHOLE), (len(lists), len(WHOLE))
    j = eq.jaccard(WHOLE, lists)
    print(f"# 2 replicas, a third joining, one killed: mean top-10 Jaccard {j:.4f} "
          f"against one uninterrupted replica; the survivors restored {restored} records")
    assert j >= 0.95, j


def rolling_agrees():
    """Three replicas, each stopped (SIGTERM) and started again in turn
    while the stream goes on: the lists of one uninterrupted replica."""
    events = eq.make_events()
    again_events = eq.rewatches(events)
    if not WHOLE:
        with eq.Topology(["all"]) as topo:
            WHOLE.update(topo.run(events, again_events))
    with eq.Topology(["all", "all", "all"]) as topo:
        topo.wait_assigned()
        chunks = [events[k:k + 1000] for k in range(0, len(events), 1000)]
        topo.produce(chunks[0])
        for k in range(3):
            old = topo.procs[k]
            old.stop()  # drains, writes its state, commits, leaves
            topo.procs[k] = eq.Process(topo.tmp.name, topo.bootstrap, "all", 10 + k)
            topo.produce(chunks[k + 1])
            topo.wait_assigned()
        try:
            wait_for(topo.settled, 180, "the stream drained after the restarts", 0.2)
            topo.produce(again_events)
            wait_for(topo.settled, 120, "the re-watches drained", 0.2)
        except AssertionError as e:
            raise AssertionError(f"{e}: {getattr(topo, 'state', '')}") from None
        lists = topo.lists()
        for p in topo.procs:
            p.stop()
    assert set(lists) == set(WHOLE), (len(lists), len(WHOLE))
    j = eq.jaccard(WHOLE, lists)
    print(f"# rolling restart of 3 replicas: mean top-10 Jaccard {j:.4f} against one "
          f"uninterrupted replica")
    assert j >= 0.95, j


victims = []

if __name__ == "__main__":
    check("kill -9 halfway: every user restored from the changelog, only new events "
          "consumed, no item touched before the kill recommended after it", kill9)
    check("a damaged changelog: both bad records refused and counted, the others restored, "
          "the worker serves", damaged)
    check("kill -9 halfway, at a commit, and a restart publish the lists of an "
          "uninterrupted run (mean top-10 Jaccard >= 0.95)", kill9_agrees, True)
    check("kill -9 halfway between commits: what is read again is learnt once, the "
          "same lists (mean top-10 Jaccard >= 0.95)", kill9_agrees, False)
    check("evicted users leave the changelog: at most max_users live keys, at most "
          "max_users restored", bounded)
    done()
