"""processing.guarantee: exactly_once (issue 11 item 8) on a 6-partition dev
broker: pipelines/video.yaml with `processing: {guarantee: exactly_once}`
and state.commit_interval 1s, the events of 07_equivalence.py
(python3-avro, python3-confluent-kafka).

The dev broker (librdkafka's mock cluster) answers the transactional API —
InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit,
EndTxn — but stores no transactional offsets, writes no transaction
markers, hides no aborted record from a read_committed consumer and fences
no one: these cases exercise the API flow and the worker's handling of its
failures, not the broker's guarantees (README *Reliability*).

1. Flow: one worker (role all) takes the 4,000 events and one re-watch per
   user; it logs event=transactions, commits transactions (txn_commits in
   its stats line, no txn_aborts), its last commit at SIGTERM (txn_commits
   grows between the last stats before SIGTERM and the one at exit), exits
   0 with balanced books; a read_committed consumer reads exactly the
   UserRecs it delivered, one list for every user; and those lists agree
   with an at_least_once run of the same input at mean top-10 Jaccard >=
   0.95.
2. An abortable error: after the first 2,000 events are processed and a
   transaction has committed, the broker fails the next EndTxn
   (TOPIC_AUTHORIZATION_FAILED: permanent, so abortable); the next 2,000
   are produced. The worker aborts, logs event=txn_aborted once with the
   reason, and exits 1. A new worker restores both changelogs (all 12
   partitions), takes the rest and the re-watches, exits 0 on SIGTERM, and
   its lists agree with case 1's at >= 0.95.
3. The same with AddPartitionsToTxn refused mid-interval: the abort is
   logged once with librdkafka's reason, exit 1.
4. With state.state_dir (checkpoint_interval 1s): checkpoint files are
   written after periodic transactions, while the worker runs — not only
   at revoke and shutdown (they were not, under exactly_once).
"""
import importlib.util
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, check, done, wait_for  # noqa: E402

from confluent_kafka import Consumer, TopicPartition  # noqa: E402

spec = importlib.util.spec_from_file_location(
    "equivalence", os.path.join(os.path.dirname(__file__), "07_equivalence.py"))
eq = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eq)

ALO_PIPELINE = eq.PIPELINE
VARIANT = tempfile.TemporaryDirectory()
EOS_PIPELINE = os.path.join(VARIANT.name, "video-eos.yaml")
with open(EOS_PIPELINE, "w") as f:
    f.write(open(ALO_PIPELINE).read() +
            "\nprocessing:\n  guarantee: exactly_once\nstate:\n  commit_interval: 1s\n")
RESULTS = {}


class Cluster(eq.Topology):
    """eq.Topology with the dev broker's fault commands on its stdin."""

    def __enter__(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.broker = subprocess.Popen([RECSTREAM, "dev-broker", "--partitions",
                                        str(eq.PARTITIONS)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, text=True)
        self.bootstrap = self.broker.stdout.readline().strip()
        assert re.match(r"^[\w.]+:\d+", self.bootstrap), self.bootstrap
        self.procs = [eq.Process(self.tmp.name, self.bootstrap, r, k)
                      for k, r in enumerate(self.roles)]
        self.admin = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "e2e-watch"})
        return self

    def command(self, line):
        self.broker.stdin.write(line + "\n")
        self.broker.stdin.flush()
        answer = self.broker.stdout.readline().strip()
        assert answer == "ok", (line, answer)

    def drained(self, p):
        """Everything in the input consumed by p, its deltas applied, the
        item side settled, all of item-neighbors read back, every list
        delivered (by p's stats: the dev broker keeps no transactional
        offsets to look at)."""
        st = p.stats()
        self.state = {k: st[k] for k in ("consumed", "deltas_produced", "deltas_consumed",
                                         "items_unsettled", "nb_applied", "txn_commits")}
        return st["consumed"] == sum(self.ends("video.behavior")) and \
            st["deltas_delivered"] == st["deltas_produced"] and \
            st["deltas_consumed"] >= st["deltas_produced"] and not st["items_unsettled"] and \
            st["nb_delivered"] == st["nb_produced"] and \
            st["nb_applied"] == sum(self.ends("video.item-neighbors")) and \
            st["delivered"] == st["produced"]

    def settle(self, p, what):
        try:
            wait_for(lambda: self.drained(p), 180, what, 0.2)
        except AssertionError as e:
            raise AssertionError(f"{e}: {self.state}") from None

    def committed_lists(self):
        """Each user's last UserRecs (top 10), and how many records, as a
        read_committed consumer reads video.recs."""
        ends = self.ends("video.recs")
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "e2e-committed",
                      "isolation.level": "read_committed", "enable.auto.commit": False})
        c.assign([TopicPartition("video.recs", p, 0) for p in range(eq.PARTITIONS)])
        pos, last, n, deadline = [0] * eq.PARTITIONS, {}, 0, time.time() + 60
        while pos != ends and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            pos[m.partition()] = m.offset() + 1
            n += 1
            rec = eq.avro.io.DatumReader(eq.RECS).read(
                eq.avro.io.BinaryDecoder(io.BytesIO(m.value())))
            last[rec["user_id"]] = [it["item_id"] for it in rec["items"][:10]]
        c.close()
        assert pos == ends, (pos, ends)
        return last, n


def final_stats(proc):
    line = [ln for ln in proc.text().splitlines() if "event=stats " in ln][-1]
    return {k: int(v) for k, v in re.findall(r" (\w+)=(-?\d+)(?= |$)", line)}


def restored_partitions(proc):
    return set(re.findall(r"event=restored topic=(\S+) partition=(\d+)", proc.text()))


def flow():
    events = eq.make_events()
    users = {e["user_id"] for e in events}
    eq.PIPELINE = EOS_PIPELINE
    with Cluster(["all"]) as c:
        p = c.procs[0]
        c.wait_assigned()
        assert re.search(r"event=transactions guarantee=exactly_once transactional_id=video\.all\.",
                         p.text()), p.text()[-2000:]
        c.produce(events)
        c.settle(p, "the 4,000 events drained")
        c.produce(eq.rewatches(events))
        c.settle(p, "the re-watches drained")
        before = p.stats()
        p.stop()  # exit 0, books balance
        st = final_stats(p)
        lists, records = c.committed_lists()
    print(f"# {st['txn_commits']} transactions committed ({before['txn_commits']} before "
          f"SIGTERM), {st['txn_aborts']} aborted; {st['delivered']} UserRecs delivered, "
          f"{records} read by a read_committed consumer, {len(lists)} users")
    assert before["txn_commits"] >= 1 and st["txn_aborts"] == 0, st
    assert st["txn_commits"] > before["txn_commits"], (before, st)  # the close commits
    assert st["commits"] == st["txn_commits"], st
    assert records == st["delivered"], (records, st["delivered"])
    assert set(lists) == users, (len(lists), len(users))
    RESULTS["eos"] = lists
    # the same input at at_least_once
    eq.PIPELINE = ALO_PIPELINE
    with eq.Topology(["all"]) as t:
        alo = t.run(events, eq.rewatches(events))
    j = eq.jaccard(alo, lists)
    print(f"# exactly_once vs at_least_once: mean top-10 Jaccard {j:.4f} over {len(users)} users")
    assert j >= 0.95, j


def aborted():
    events = eq.make_events()
    first, second = events[:2000], events[2000:]
    eq.PIPELINE = EOS_PIPELINE
    with Cluster(["all"]) as c:
        p = c.procs[0]
        c.wait_assigned()
        c.produce(first)
        wait_for(lambda: p.stats()["consumed"] == len(first), 120, "the first 2,000 consumed")
        commits = p.stats()["txn_commits"]
        wait_for(lambda: p.stats()["txn_commits"] >= commits + 2, 60,
                 "two transactions committed since")
        c.command("errors EndTxn 1 TOPIC_AUTHORIZATION_FAILED")
        c.produce(second)
        rc = p.proc.wait(timeout=120)
        text = p.text()
        aborts = re.findall(r"event=txn_aborted reason=\"([^\"]*)\"", text)
        st = final_stats(p)
        print(f"# exit {rc}; txn_aborted: {aborts}; {st['txn_commits']} committed before")
        assert rc == 1, text[-3000:]
        assert len(aborts) == 1 and "TOPIC_AUTHORIZATION_FAILED" in aborts[0], aborts
        assert st["txn_aborts"] == 1, st
        again = eq.Process(c.tmp.name, c.bootstrap, "all", 1)
        c.procs = [again]
        wait_for(lambda: len(restored_partitions(again)) == 2 * eq.PARTITIONS, 120,
                 "all six partitions of both changelogs restored")
        c.settle(again, "the rest drained after the restart")
        c.produce(eq.rewatches(events))
        c.settle(again, "the re-watches drained")
        again.stop()
        st = final_stats(again)
        lists, _ = c.committed_lists()
    print(f"# the restart restored {st['restore_records']} records, skipped "
          f"{st['drop_restore_replayed']} events as replayed and "
          f"{st['updates_replayed']} delta updates as applied")
    assert st["restore_records"] > 0 and st["restore_corrupt"] == 0, st
    assert st["txn_aborts"] == 0, st
    whole = RESULTS.get("eos")
    if whole is None:
        raise AssertionError("no uninterrupted exactly_once run to compare with (case 1 failed)")
    assert set(lists) == set(whole), (len(lists), len(whole))
    j = eq.jaccard(whole, lists)
    print(f"# aborted and restarted vs uninterrupted: mean top-10 Jaccard {j:.4f}")
    assert j >= 0.95, j



def refused_partition():
    """AddPartitionsToTxn refused while the transaction is open: the
    records produced next are refused by librdkafka ("erroneous state"),
    and the abort names librdkafka's reason."""
    events = eq.make_events()
    eq.PIPELINE = EOS_PIPELINE
    with Cluster(["all"]) as c:
        p = c.procs[0]
        c.wait_assigned()
        c.produce(events[:500])
        wait_for(lambda: p.stats()["consumed"] == 500, 120, "500 events consumed")
        commits = p.stats()["txn_commits"]
        wait_for(lambda: p.stats()["txn_commits"] >= commits + 2, 60,
                 "two transactions committed since")
        c.command("errors AddPartitionsToTxn 1 TOPIC_AUTHORIZATION_FAILED")
        c.produce(events[500:1000])
        rc = p.proc.wait(timeout=120)
        aborts = re.findall(r"event=txn_aborted reason=\"([^\"]*)\"", p.text())
        print(f"# exit {rc}; txn_aborted: {aborts}")
        assert rc == 1, p.text()[-3000:]
        assert len(aborts) == 1 and "Failed to add partition" in aborts[0] and \
            "TOPIC_AUTHORIZATION_FAILED" in aborts[0], aborts
        assert final_stats(p)["txn_aborts"] == 1


def checkpoints():
    """exactly_once with state_dir: periodic checkpoints after commits."""
    with tempfile.TemporaryDirectory() as sd:
        path = os.path.join(VARIANT.name, "video-eos-ckpt.yaml")
        with open(path, "w") as f:
            f.write(open(ALO_PIPELINE).read() +
                    "\nprocessing:\n  guarantee: exactly_once\nstate:\n"
                    f"  commit_interval: 1s\n  state_dir: {sd}\n"
                    "  checkpoint_interval: 1s\n")
        eq.PIPELINE = path
        events = eq.make_events()[:1000]
        with Cluster(["all"]) as c:
            p = c.procs[0]
            c.wait_assigned()
            c.produce(events)
            wait_for(lambda: p.stats()["consumed"] == len(events), 120, "1,000 consumed")
            wait_for(lambda: p.stats()["checkpoints"] > 0, 60,
                     "a checkpoint written while the worker runs")
            st = p.stats()
            files = [n for n in os.listdir(sd) if n.endswith(".ckpt")]
            p.stop()
    print(f"# {st['checkpoints']} checkpoint files written after {st['txn_commits']} "
          f"transactions, before any revoke or shutdown; {len(files)} in the directory")
    assert st["txn_commits"] >= 1 and files, (st, files)


if __name__ == "__main__":
    check("exactly_once: transactions committed (the last at SIGTERM, exit 0), every "
          "delivered list read by a read_committed consumer, the lists of at_least_once "
          "(mean top-10 Jaccard >= 0.95)", flow)
    check("exactly_once: an EndTxn that fails is aborted, logged once, exit 1; a restart "
          "restores and publishes the uninterrupted lists (mean top-10 Jaccard >= 0.95)",
          aborted)
    check("exactly_once: an AddPartitionsToTxn refused mid-interval aborts the transaction, "
          "logged once with librdkafka's reason, exit 1", refused_partition)
    check("exactly_once with state_dir: checkpoints written after periodic transactions",
          checkpoints)
    done()
