"""tests/e2e/07_equivalence.py with counterpart tables large enough to keep
every pair (RECSTREAM_EQUIV_EXACT=1), twice (about 4 minutes):

- video.yaml with the channel weights it had before issue 13's tuning
  (position_exponent 0, gamma 0.05, transition_weight 2): one process, a
  second run, three processes, two users + one items process and replay
  must publish the same lists, mean top-10 Jaccard >= 0.9999;
- video.yaml as shipped: the four topologies the same (>= 0.9999); replay
  against them >= 0.98. It measured 0.9869: with the tuned weights replay
  and the topology part on some users' lists although the tables are
  exact — a known divergence, open in issue 13 (each of the three weights
  set back alone still leaves 0.9938-0.9969), so it is bounded here, not
  hidden."""
import os
import re
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "..", "..")
script = os.path.join(here, "..", "e2e", "07_equivalence.py")
video = open(os.path.join(root, "pipelines", "video.yaml")).read()
before = video
for new, old in (("position_exponent: 1 ", "position_exponent: 0 "),
                 ("gamma: 0.3 ", "gamma: 0.05 "),
                 ("transition_weight: 0.5 ", "transition_weight: 2 ")):
    assert new in before, new
    before = before.replace(new, old)

n = failed = 0
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "video.yaml")
    open(path, "w").write(before)
    for label, env in (("weights before issue 13", {"RECSTREAM_EQUIV_PIPELINE": path}),
                       ("video.yaml as shipped", {"RECSTREAM_EQUIV_REPLAY_MIN": "0.98"})):
        p = subprocess.run([sys.executable, script], capture_output=True, text=True,
                           env=dict(os.environ, RECSTREAM_EQUIV_EXACT="1", **env))
        for line in p.stdout.splitlines():
            m = re.match(r"^(not ok|ok) \d+ - (.*)$", line)
            if m:
                n += 1
                failed += m.group(1) == "not ok"
                print(f"{m.group(1)} {n} - {label}: {m.group(2)}", flush=True)
            elif not re.match(r"^1\.\.\d+$", line):
                print(line, flush=True)
        if p.returncode and not failed:
            n += 1
            failed += 1
            print(f"not ok {n} - {label}: exit {p.returncode}\n# {p.stderr[-500:]}")
print(f"1..{n}")
sys.exit(1 if failed else 0)
