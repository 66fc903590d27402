"""tests/e2e/07_equivalence.py with counterpart tables large enough to keep
every pair (RECSTREAM_EQUIV_EXACT=1): one process, a second run, three
processes, two users + one items process and replay must then publish the
same lists, mean top-10 Jaccard >= 0.9999 (about 2 minutes)."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
os.environ["RECSTREAM_EQUIV_EXACT"] = "1"
os.execv(sys.executable, [sys.executable,
                          os.path.join(here, "..", "e2e", "07_equivalence.py")])
