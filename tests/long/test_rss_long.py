"""The issue-9 figure, behind `make test-long` (about 30 s): with
user_window.max_users 1000 and pipelines/video.yaml's other settings (their
defaults for every other bound), RSS after 3M distinct users is within
1.25x of RSS after 1M. 20,000 items, so item state is near its steady
size by the first checkpoint and what is measured is what users leave
behind (before issue 9: about 140 B per user ever seen)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "memory"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import check, done  # noqa: E402
from test_rss import bounded, stream  # noqa: E402


def test_issue_figure():
    rows = stream("--users", "1000000,3000000", "--items", "20000", timeout=900)
    bounded(rows, 1.25, 1000)


if __name__ == "__main__":
    check("RSS after 3M users within 1.25x of after 1M (max_users 1000, video.yaml)",
          test_issue_figure)
    done()
