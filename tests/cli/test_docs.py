"""docs/pipeline.md, the generated pipeline reference (issue 12, item 7):
it is what `recstream doc --compare pipelines/video.yaml` prints, and the
check that CI runs (scripts/check-docs.sh) fails on a stale copy; its
layout and contents are checked here against independent expectations:
each stage's description under its own heading, list types by their
defaults, ranges in readable units, every value pipelines/video.yaml sets
other than the default noted (read here with PyYAML, not by recstream),
and one meaning of `future` wherever it is defined."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import BUILD, RECSTREAM, ROOT, check, done  # noqa: E402

DOC = os.path.join(ROOT, "docs", "pipeline.md")
VIDEO = os.path.join(ROOT, "pipelines", "video.yaml")
CHECK = os.path.join(ROOT, "scripts", "check-docs.sh")
ENV = dict(os.environ, BUILD=BUILD)
ENV.pop("KAFKA_BOOTSTRAP", None)
ENV.pop("RECSTREAM_HTTP_PORT", None)  # as make docs: the shipped default
UNITS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000, "w": 604800000}


def generated():
    r = subprocess.run([RECSTREAM, "doc", "--compare", "pipelines/video.yaml"],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def sections(text):
    """{heading: (paragraphs before the table, rows)}; rows as cell lists."""
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith("### "):
            cur = line[4:]
            out[cur] = ([], [])
        elif cur is None or not line.strip():
            continue
        elif line.startswith("|"):
            if not line.startswith("| key") and not line.startswith("|---"):
                cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
                out[cur][1].append(cells)
        else:
            assert not out[cur][1], f"text after the table of {cur}: {line[:80]}"
            out[cur][0].append(line)
    return out


def ms(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", text)
    assert m, f"not a readable duration: {text!r}"
    return float(m.group(1)) * UNITS[m.group(2)]


def committed_matches():
    with open(DOC, encoding="utf-8") as f:
        assert f.read() == generated(), "docs/pipeline.md is not what recstream doc prints"
    r = subprocess.run(["sh", CHECK], cwd=ROOT, env=ENV, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def stale_copy_fails():
    with tempfile.TemporaryDirectory() as tmp:
        stale = os.path.join(tmp, "pipeline.md")
        with open(DOC, encoding="utf-8") as f:
            text = f.read()
        assert "| `batch_size` | integer | 2000" in text
        for edit in (text.replace("| `batch_size` | integer | 2000",
                                  "| `batch_size` | integer | 1000", 1),
                     text + "\nhand-written line\n",
                     text[: text.index("### stage `score`")]):
            with open(stale, "w", encoding="utf-8") as f:
                f.write(edit)
            r = subprocess.run(["sh", CHECK, stale], cwd=ROOT, env=ENV,
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 1, (r.returncode, r.stdout)
            assert "is stale: run make docs" in r.stdout, r.stdout
            assert re.search(r"^[-+]", r.stdout, re.M), "no diff shown"
        shutil.copy(DOC, stale)
        r = subprocess.run(["sh", CHECK, stale], cwd=ROOT, env=ENV,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout


def descriptions_under_headings():
    secs = sections(generated())
    stages = [h for h in secs if h.startswith("stage `")]
    assert len(stages) >= 7, stages
    for h in stages:
        intro, rows = secs[h]
        assert intro, f"{h} has no description under its heading"
        assert rows or h == "stage `passthrough`", f"{h} has no table"
    # each description is its own stage's: it names its own keys
    assert "future" in " ".join(secs["stage `clean`"][0])
    assert "rate_weights" in " ".join(secs["stage `weight`"][0])
    assert "half_life" in " ".join(secs["stage `user_window`"][0])
    assert "Wiring check" in " ".join(secs["stage `passthrough`"][0])
    # and none is left above the next stage's heading
    assert "Wiring check" not in " ".join(secs["stage `score`"][0])


def list_types_named():
    seen = 0
    for h, (_, rows) in sections(generated()).items():
        for key, typ, default, *_ in rows:
            if not typ.startswith("list of"):
                continue
            items = re.sub(r"\s*\(video\.yaml:.*\)$", "", default).strip("[]")
            nums = [x.strip() for x in items.split(",") if x.strip()]
            def number(x):
                try:
                    float(x)
                    return True
                except ValueError:
                    return False
            if nums and all(number(x) for x in nums):
                assert typ == "list of numbers", f"{h}.{key}: {typ} for {default}"
                seen += 1
            else:
                assert typ == "list of strings", f"{h}.{key}: {typ}"
    assert seen >= 1  # rate_weights


def ranges_readable():
    durations = 0
    for h, (_, rows) in sections(generated()).items():
        for key, typ, default, rng, _ in rows:
            assert not re.search(r"\de[+-]?\d", rng), f"{h}.{key}: {rng}"
            if typ != "duration":
                continue
            durations += 1
            lo, hi = rng.split(" – ")
            assert ms(lo) <= ms(hi), (h, key, rng)
            # no bound written in a smaller unit than it divides into
            for b in (lo, hi):
                v = ms(b)
                best = max((u for u, f in UNITS.items() if u != "w" and v and v % f == 0),
                           key=lambda u: UNITS[u], default="ms")
                assert b.endswith(best) and not (best == "s" and b.endswith("ms")), (h, key, b)
    assert durations >= 15, durations


def same(typ, a, b):
    if typ == "duration":
        return ms(str(a)) == ms(str(b)) if str(a) != "0" and str(b) != "0" else str(a) == str(b)
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def video_defaults_noted():
    with open(VIDEO, encoding="utf-8") as f:
        video = yaml.safe_load(f)
    secs = sections(generated())
    maps = {"top level": video}
    for k in ("source", "sink", "items", "topology", "state", "dlq"):
        for h in secs:
            if h.split(" ")[0] == k and k in video:
                maps[h] = video[k]
    for st in video["stages"]:
        maps[f"stage `{st['type']}`"] = st
    noted = 0
    for h, conf in maps.items():
        for key, typ, default, *_ in secs[h][1]:
            key = key.strip("`")
            note = re.search(r"\(video\.yaml(?:: (.*)| sets (.*))\)$", default)
            if key not in conf or typ in ("structure",):
                assert not note, f"{h}.{key}: note without a value in video.yaml"
                continue
            v = conf[key]
            if typ == "map (librdkafka)":
                assert note and note.group(2) == ", ".join(f"`{k}`" for k in v), (h, key, default)
                noted += 1
                continue
            base = default[: note.start()].strip() if note else default
            if isinstance(v, list):
                shown = "[" + ", ".join(str(x) for x in v) + "]"
                differs = base != shown
            else:
                shown = v if not isinstance(v, bool) else str(v).lower()
                differs = base in ("", "—", "required") or not same(typ, shown, base)
            if differs:
                assert note and note.group(1) == str(shown), \
                    f"{h}.{key}: video.yaml sets {shown!r}, default cell {default!r}"
                noted += 1
            else:
                assert not note, f"{h}.{key}: noted though video.yaml sets the default"
    # what video.yaml is known to change (independent of the generator)
    assert noted >= 12, noted
    text = generated()
    for row in ("| `batch_size` | integer | 2000 (video.yaml: 500) |",
                "| `max_age` | duration | 30d (video.yaml: 7d) |",
                "| `min_refresh_interval` | duration | 10s (video.yaml: 5s) |",
                "| `max_future` | duration | 10m | 1s – 3650d |"):
        assert row in text, row


def one_meaning_of_future():
    text = generated()
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "Event time only" not in text
    # every place that says what makes a record `future` names both refs
    defs = [m.group(0) for src in (text, readme) for m in
            re.finditer(r"`?future`? \([^)]*\)|Drop events \(as `future`\)[^|]*", src)]
    assert len(defs) >= 3, defs
    for d in defs:
        assert "wall clock" in d and "Kafka timestamp" in d, d
    with open(os.path.join(ROOT, "include", "recstream", "event.h"), encoding="utf-8") as f:
        h = f.read()
    assert re.search(r"RS_DROP_FUTURE,.*wall\s*\*?\s*clock or of its Kafka timestamp", h, re.S)


def compare_needs_a_valid_pipeline():
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write("name: t\nsource: {batch_size: 0}\nstages: [{type: passthrough}]\nsink: {}\n")
        f.flush()
        r = subprocess.run([RECSTREAM, "doc", "--compare", f.name],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, r.returncode
        assert "source.batch_size: 0 is out of range" in r.stderr, r.stderr
        assert r.stdout == ""
    r = subprocess.run([RECSTREAM, "doc", "extra"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run([RECSTREAM, "doc"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "(video.yaml:" not in r.stdout and "### stage `clean`" in r.stdout


check("docs/pipeline.md is recstream doc --compare pipelines/video.yaml", committed_matches)
check("scripts/check-docs.sh fails on a stale copy and shows the diff", stale_copy_fails)
check("each stage's description sits under its own heading", descriptions_under_headings)
check("list types follow their items (rate_weights: list of numbers)", list_types_named)
check("ranges in readable units (durations 1s – 3650d, no exponents)", ranges_readable)
check("every value video.yaml sets other than the default is noted", video_defaults_noted)
check("future has one meaning: ahead of the wall clock or the Kafka timestamp", one_meaning_of_future)
check("doc --compare takes only a valid pipeline; doc alone has no notes", compare_needs_a_valid_pipeline)
done()
