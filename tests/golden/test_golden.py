"""Golden top-K lists computed by hand (README.md): each case pipeline is
replayed over events.csv and the expected users' lists must match."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, check, done  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def case(name):
    out = subprocess.run([RECSTREAM, "replay", "-c", os.path.join(HERE, "cases", name + ".yaml"),
                          "--input", os.path.join(HERE, "events.csv")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = {}
    for line in out.stdout.splitlines():
        r = json.loads(line)
        got[r["user_id"]] = r["items"]
    for line in open(os.path.join(HERE, "cases", name + ".jsonl")):
        want = json.loads(line)
        have = got.get(want["user_id"])
        assert have is not None, f"no list for {want['user_id']}"
        assert len(have) == len(want["items"]), (want["user_id"], have)
        for h, w in zip(have, want["items"]):
            assert (h["item_id"], h["reason"], h["because_of"]) == \
                   (w["item_id"], w["reason"], w["because_of"]), (want["user_id"], h, w)
            assert abs(h["score"] - w["score"]) <= 1e-5 * max(1.0, abs(w["score"])), (h, w)


for sim in ("cosine", "jaccard", "asymmetric_cosine", "lift", "covisit"):
    check(f"golden top-K by hand: {sim}", case, sim)
done()
