"""Replicas that remember across rebalances (issue 11), the long cases of
tests/e2e/09_restore.py (`make test-long`; each starts several replicas
and waits out a killed member's session timeout):

1. 2 replicas, a third joins mid-stream, one of the first two is killed
   with SIGKILL, the stream goes on: every event committed, every user
   listed, mean top-10 Jaccard >= 0.95 against one uninterrupted replica;
2. a rolling restart: each of 3 replicas stopped and started again in
   turn while the stream goes on: the same >= 0.95;
3. the rebalance of 1 with the cooperative protocol
   (partition.assignment.strategy: cooperative-sticky): only the
   partitions that move are revoked and restored; the same >= 0.95."""
import importlib.util
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from tap import check, done  # noqa: E402

spec = importlib.util.spec_from_file_location(
    "restore", os.path.join(HERE, "..", "e2e", "09_restore.py"))
restore = importlib.util.module_from_spec(spec)
spec.loader.exec_module(restore)

check("a rebalance: 2 replicas, a third joins mid-stream, one is killed; every event "
      "committed, the lists of one replica (mean top-10 Jaccard >= 0.95)",
      restore.rebalance_agrees)
check("a rolling restart of 3 replicas under load: the lists of one replica "
      "(mean top-10 Jaccard >= 0.95)", restore.rolling_agrees)


def cooperative():
    with tempfile.TemporaryDirectory() as tmp:
        text = open(restore.eq.PIPELINE).read()
        line = '    session.timeout.ms: "10000"\n'
        assert line in text
        path = os.path.join(tmp, "video.yaml")
        open(path, "w").write(text.replace(
            line, line + "    partition.assignment.strategy: cooperative-sticky\n", 1))
        whole, restore.eq.PIPELINE = restore.eq.PIPELINE, path
        try:
            restore.rebalance_agrees()
        finally:
            restore.eq.PIPELINE = whole


check("the same rebalance with the cooperative protocol (cooperative-sticky)",
      cooperative)
done()
