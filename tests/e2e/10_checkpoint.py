"""Local checkpoints (state.state_dir, issue 11 item 2): on a 6-partition
dev broker, pipelines/video.yaml with a state_dir, the events of
07_equivalence.py (python3-avro, python3-confluent-kafka).

1. Clean stop: the first 2,000 events through one worker, SIGTERM (it
   writes one checkpoint file per changelog partition at the end; each,
   read by a parser of the test's own with zlib's CRC-32, holds exactly
   what its changelog partition does — each key's last record, byte for
   byte — and covers it to its end), the other 2,000 produced, a new
   worker on the same directory. It must load
   all 12 files (event=restore_checkpoint) holding every user the first
   one held, read nothing of the changelogs (restore_records 0: the files
   cover them to their ends), and, after the re-watches, publish lists
   that agree with an uninterrupted run at mean top-10 Jaccard >= 0.95.
2. SIGKILL with a file older than the changelog: a worker stopped cleanly
   after 1,000 events leaves files; the next one (checkpoint_interval 1h:
   it writes none) takes 1,000 more, writing their state to the
   changelogs, and is killed with SIGKILL; the third loads the old files
   and reads exactly the changelogs' tails — what lies between the
   offsets the files cover (from the first worker's event=checkpoint
   lines) and the changelogs' ends (read by python3-confluent-kafka) —
   and its lists agree with the uninterrupted run at >= 0.95.
3. Damaged files: after a clean stop, one file gets flipped bytes, one is
   cut short, one is another partition's (renamed), one claims another
   version, one (its checksum made again) covers an offset beyond its
   changelog's end; the next worker starts, warns
   (event=checkpoint_refused, with each reason) and counts each
   (checkpoint_corrupt 5), reads those partitions' changelogs in full,
   restores every user and item, serves, and writes good files again.
4. Handover on one machine: a second replica joins on the same
   directory; the first writes its 12 files after the revoke's commit
   (none before: checkpoint_interval 1h), and both restore what they are
   given from them, reading nothing of the changelogs, holding together
   every user the first held.
5. A state_dir that is not a directory: `run` exits 2 with the error at
   the key's line and column, before it connects to anything."""
import glob
import importlib.util
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, check, done, wait_for  # noqa: E402

from confluent_kafka import Consumer, TopicPartition  # noqa: E402

spec = importlib.util.spec_from_file_location(
    "restore", os.path.join(os.path.dirname(__file__), "09_restore.py"))
r9 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(r9)
eq = r9.eq

CHANGELOGS = ("video.users-changelog", "video.items-changelog")
WHOLE = {}


class StateDir:
    """pipelines/video.yaml with a state section, in a directory of its
    own with the state_dir beside it; the processes started meanwhile
    run it."""

    def __init__(self, interval="1h"):
        self.interval = interval

    def __enter__(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.join(self.tmp.name, "state")
        os.mkdir(self.dir)
        text = open(eq.PIPELINE).read()
        assert "\nstate:" not in text
        path = os.path.join(self.tmp.name, "video.yaml")
        open(path, "w").write(text + f"state:\n  state_dir: {self.dir}\n"
                                     f"  checkpoint_interval: {self.interval}\n")
        self.whole, eq.PIPELINE = eq.PIPELINE, path
        return self

    def __exit__(self, *exc):
        eq.PIPELINE = self.whole
        self.tmp.cleanup()

    def files(self):
        return sorted(os.path.basename(p) for p in glob.glob(os.path.join(self.dir, "*.ckpt")))


def read_ckpt(path):
    """A checkpoint file by the layout include/recstream/checkpoint.h
    gives, its CRC-32 by zlib: (topic, partition, offset, {key: value})."""
    b = open(path, "rb").read()
    assert b[:8] == b"RSCKPT\r\n" and struct.unpack_from("<I", b, 8)[0] == 1, path
    assert zlib.crc32(b[:-4]) == struct.unpack_from("<I", b, len(b) - 4)[0], path
    (tlen,) = struct.unpack_from("<H", b, 12)
    topic = b[14:14 + tlen].decode()
    part, offset = struct.unpack_from("<iq", b, 14 + tlen)
    at, recs = 26 + tlen, {}
    while True:
        (klen,) = struct.unpack_from("<I", b, at)
        if klen == 0xFFFFFFFF:
            break
        key = b[at + 4:at + 4 + klen]
        (vlen,) = struct.unpack_from("<I", b, at + 4 + klen)
        recs[key] = b[at + 8 + klen:at + 8 + klen + vlen]
        at += 8 + klen + vlen
    assert struct.unpack_from("<Q", b, at + 4)[0] == len(recs) and at + 16 == len(b), path
    return topic, part, offset, recs


def changelog_fold(topo, topic, p):
    """Partition p of a changelog as compaction would keep it (each key's
    last record, tombstones gone), and its end."""
    c = Consumer({"bootstrap.servers": topo.bootstrap, "group.id": "e2e-fold",
                  "enable.auto.commit": False})
    end = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
    c.assign([TopicPartition(topic, p, 0)])
    pos, last = [0], {}

    def more():
        m = c.poll(0.2)
        if m is not None and not m.error():
            pos[0] = m.offset() + 1
            last[m.key()] = m.value()
        return pos[0] >= end
    if end:
        wait_for(more, 60, f"{topic}[{p}] read")
    c.close()
    return {k: v for k, v in last.items() if v is not None}, end


def whole():
    """The lists of an uninterrupted run without checkpoints."""
    if not WHOLE:
        events = eq.make_events()
        with eq.Topology(["all"]) as topo:
            WHOLE.update(topo.run(events, eq.rewatches(events)))
    return WHOLE


def loaded(proc):
    return re.findall(r"event=restore_checkpoint topic=(\S+) partition=(\d+) .*? keys=(\d+)",
                      proc.text())


def restart(topo):
    again = eq.Process(topo.tmp.name, topo.bootstrap, "all", len(topo.procs) + 10)
    topo.procs = [again]
    wait_for(lambda: len(r9.restored_partitions(again)) == 2 * eq.PARTITIONS, 120,
             "both changelogs restored")
    return again


def clean_stop():
    events = eq.make_events()
    base = whole()
    with StateDir() as sd, eq.Topology(["all"]) as topo:
        topo.wait_assigned()
        topo.produce(events[:2000])
        wait_for(topo.settled, 120, "the first 2,000 drained and committed", 0.2)
        held = topo.procs[0].stats()["users"]
        topo.procs[0].stop()
        files = sd.files()
        assert files == sorted(f"{t}-{p}.ckpt" for t in CHANGELOGS
                               for p in range(eq.PARTITIONS)), files
        # each file holds what its changelog partition does, byte for byte,
        # and covers it to its end
        for t in CHANGELOGS:
            for p in range(eq.PARTITIONS):
                topic, part, offset, recs = read_ckpt(os.path.join(sd.dir, f"{t}-{p}.ckpt"))
                fold, end = changelog_fold(topo, t, p)
                assert (topic, part, offset) == (t, p, end), (topic, part, offset, end)
                assert recs == fold, (t, p, len(recs), len(fold),
                                      sorted(set(recs) ^ set(fold))[:5],
                                      [k for k in recs if k in fold and recs[k] != fold[k]][:5])
        again = restart(topo)
        st = again.stats()
        got = loaded(again)
        users = sum(int(k) for t, p, k in got if t == CHANGELOGS[0])
        assert len(got) == 2 * eq.PARTITIONS, got
        assert st["checkpoint_loaded"] == 2 * eq.PARTITIONS and st["checkpoint_corrupt"] == 0, st
        assert users == held == st["users"], (users, held, st["users"])
        assert st["restore_records"] == 0, st  # nothing of the changelogs read
        lists = topo.drain(events[2000:], eq.rewatches(events))
        again.stop()
    j = eq.jaccard(base, lists)
    print(f"# clean stop: {len(files)} files, {st['checkpoint_keys']} keys ({users} users) "
          f"loaded, {st['restore_records']} changelog records read; mean top-10 Jaccard "
          f"{j:.4f} vs uninterrupted over {len(base)} users")
    assert j >= 0.95, j


def covered(proc):
    """The offset each partition's last checkpoint covers, from the log."""
    out = {}
    for t, p, off in re.findall(r"event=checkpoint topic=(\S+) partition=(\d+) offset=(\d+)",
                                proc.text()):
        out[(t, int(p))] = int(off)
    return out


def killed_after_file():
    events = eq.make_events()
    base = whole()
    with StateDir("1h") as sd, eq.Topology(["all"]) as topo:
        topo.wait_assigned()
        topo.produce(events[:1000])
        wait_for(topo.settled, 120, "the first 1,000 drained", 0.2)
        first = topo.procs[0]
        first.stop()
        files = covered(first)
        assert len(files) == 2 * eq.PARTITIONS and len(sd.files()) == 2 * eq.PARTITIONS, files
        second = restart(topo)
        topo.produce(events[1000:2000])
        wait_for(lambda: r9.committed_all(topo, 2000), 120, "2,000 committed")
        wait_for(topo.settled, 120, "the second 1,000 drained", 0.2)
        wrote = second.stats()
        assert wrote["checkpoints"] == 0, wrote  # 1h: only at its stop
        second.proc.send_signal(signal.SIGKILL)
        second.proc.wait(timeout=30)
        ends = {(t, p): e for t in CHANGELOGS for p, e in enumerate(topo.ends(t))}
        tail = sum(ends[k] - files[k] for k in files)
        third = restart(topo)
        st = third.stats()
        assert st["checkpoint_loaded"] == 2 * eq.PARTITIONS and st["checkpoint_corrupt"] == 0, st
        assert tail > 0 and st["restore_records"] == tail, (st["restore_records"], tail)
        lists = topo.drain(events[2000:], eq.rewatches(events))
        third.stop()
    j = eq.jaccard(base, lists)
    print(f"# SIGKILL, files older than the changelogs: {tail} tail records read of "
          f"{sum(ends.values())} in the changelogs; mean top-10 Jaccard {j:.4f}")
    assert j >= 0.95, j


def damaged_files():
    events = eq.make_events()[:1000]
    with StateDir() as sd, eq.Topology(["all"]) as topo:
        topo.wait_assigned()
        topo.produce(events)
        wait_for(topo.settled, 120, "1,000 events drained", 0.2)
        before = topo.procs[0].stats()
        topo.procs[0].stop()
        users, items = (os.path.join(sd.dir, f"video.{s}-changelog-%d.ckpt") for s in
                        ("users", "items"))
        raw = bytearray(open(users % 0, "rb").read())
        for k in range(len(raw) // 2, len(raw) // 2 + 3):
            raw[k] ^= 0x5A
        open(users % 0, "wb").write(raw)
        raw = open(users % 1, "rb").read()
        open(users % 1, "wb").write(raw[:len(raw) * 2 // 3])
        os.replace(users % 3, users % 4)  # 3 has none now, 4 has 3's
        raw = bytearray(open(items % 2, "rb").read())
        raw[8] = 9  # version 9
        open(items % 2, "wb").write(raw)
        # sound, but covering offsets its changelog never reached (a topic
        # made again): the CRC made again by zlib
        raw = bytearray(open(items % 5, "rb").read())
        struct.pack_into("<q", raw, 18 + struct.unpack_from("<H", raw, 12)[0], 10**9)
        struct.pack_into("<I", raw, len(raw) - 4, zlib.crc32(bytes(raw[:-4])))
        open(items % 5, "wb").write(raw)
        again = restart(topo)
        st = again.stats()
        text = again.text()
        refused = re.findall(r"event=checkpoint_refused topic=(\S+) partition=(\d+) .*?reason=(\w+)",
                             text)
        assert sorted(refused) == sorted([
            (CHANGELOGS[0], "0", "checksum"), (CHANGELOGS[0], "1", "truncated"),
            (CHANGELOGS[0], "4", "other_partition"),
            (CHANGELOGS[1], "2", "unknown_version"), (CHANGELOGS[1], "5", "beyond_end")]), refused
        assert st["checkpoint_corrupt"] == 5, st
        assert st["checkpoint_loaded"] == 2 * eq.PARTITIONS - 6, st  # and 3 had none
        assert st["restore_records"] > 0, st  # those six from their changelogs
        assert st["users"] == before["users"] and st["items"] == before["items"], (st, before)
        assert len(glob.glob(os.path.join(sd.dir, "*.ckpt.corrupt"))) == 5
        more = eq.rewatches(events)[:50]
        topo.produce(more)
        wait_for(lambda: r9.committed_all(topo, len(events) + len(more)), 120,
                 "the worker serves after refusing its files")
        again.stop()
        assert len(sd.files()) == 2 * eq.PARTITIONS, sd.files()  # good ones again
    print(f"# damaged files: {st['checkpoint_corrupt']} refused ({', '.join(r[2] for r in refused)}), "
          f"{st['restore_records']} changelog records read instead, "
          f"{st['users']} of {before['users']} users restored")


def handover():
    """A second replica on the same machine and directory joins: the first
    writes its files after the revoke's commit (checkpoint_interval 1h:
    nothing before), and both restore what they are given from them,
    reading nothing of the changelogs."""
    events = eq.make_events()[:1000]
    with StateDir() as sd, eq.Topology(["all"]) as topo:
        topo.wait_assigned()
        topo.produce(events)
        wait_for(topo.settled, 120, "1,000 events drained", 0.2)
        first = topo.procs[0]
        held = first.stats()
        assert held["checkpoints"] == 0 and not sd.files(), held
        second = eq.Process(topo.tmp.name, topo.bootstrap, "all", 1)
        topo.procs.append(second)
        topo.wait_assigned()

        def given(p):
            return p.assigned("video.users") + p.assigned("video.items")

        def restored(p):
            return len(re.findall(r"event=restored ", p.text()))
        wait_for(lambda: restored(second) >= given(second) and
                 restored(first) >= 2 * eq.PARTITIONS + given(first) and
                 first.stats()["restoring"] == 0 and second.stats()["restoring"] == 0,
                 120, "both replicas restored what they were given")
        a, b = first.stats(), second.stats()
        assert a["checkpoints"] == 2 * eq.PARTITIONS, a  # at the revoke
        # every restore since is from a file (the first 12 found none)
        assert a["checkpoint_loaded"] == restored(first) - 2 * eq.PARTITIONS and \
            b["checkpoint_loaded"] == restored(second), (a, b)
        assert a["restore_records"] == 0 and b["restore_records"] == 0, (a, b)
        assert a["users"] + b["users"] == held["users"], (a["users"], b["users"], held)
        more = eq.rewatches(events)[:50]
        topo.produce(more)
        wait_for(lambda: r9.committed_all(topo, len(events) + len(more)), 120,
                 "both serve after the handover")
        second.stop()
        first.stop()
    print(f"# handover: {a['checkpoints']} files written at the revoke, "
          f"{a['checkpoint_loaded']} + {b['checkpoint_loaded']} loaded, "
          f"{a['users']} + {b['users']} of {held['users']} users, 0 changelog records read")


def not_a_directory():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "video.yaml")
        afile = os.path.join(tmp, "afile")
        open(afile, "w").write("x")
        text = open(eq.PIPELINE).read()
        open(path, "w").write(text + f"state:\n  state_dir: {afile}\n")
        line = (text + "state:\n").count("\n") + 1
        out = subprocess.run([RECSTREAM, "run", "-c", path], capture_output=True, text=True,
                             timeout=30, env=dict(os.environ, KAFKA_BOOTSTRAP="127.0.0.1:1"))
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    want = f"{path}:{line}:14: error: state.state_dir: {afile} is not a directory"
    assert want in out.stderr, out.stderr[-2000:]


if __name__ == "__main__":
    check("a state_dir that is not a directory: run exits 2 at its line and column",
          not_a_directory)
    check("SIGTERM and a restart on the same state_dir: every partition from its file, "
          "0 changelog records read, the lists of an uninterrupted run", clean_stop)
    check("SIGKILL with files older than the changelogs: exactly the tails read, the "
          "lists of an uninterrupted run", killed_after_file)
    check("damaged checkpoint files: refused, warned, counted, read from the changelogs "
          "in full, every user restored, the worker serves", damaged_files)
    check("a second replica joins on the same directory: files written after the revoke's "
          "commit, every partition restored from them, nothing of the changelogs read",
          handover)
    done()
