"""The command line as a platform team meets it (issue 12 item 5):
`--version` with the libraries' own versions; every command's --help names
every flag, the environment, signals and exit codes; numbers and
durations in the pipeline files' syntax and anything malformed exit 2
with a one-line reason before the usage; misspelt commands and options
get a suggestion; `tail` with kcat's and kafka-console-consumer's habits
(-e, --print-key, --print-meta, --bootstrap-server, --max-messages) and
every field of the record; `tail --events` output is `replay` and `eval`
input; `demo` from any directory; `produce --generate` continuing a
history. Brokers are `recstream dev-broker`; records are checked with
python3-confluent-kafka and python3-avro."""
import csv
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, ROOT, check, done, skip  # noqa: E402

from confluent_kafka import Consumer, Producer, libversion  # noqa: E402

DEMO = os.path.join(ROOT, "pipelines", "demo.yaml")

# Written by hand from what each command must take (not read from the code).
FLAGS = {
    "run": ["-c", "--config", "--role"],
    "validate": ["-c", "--config"],
    "doc": [],
    "version": [],
    "dev-broker": ["--brokers", "--partitions", "--port", "--topic"],
    "produce": ["-b", "--bootstrap", "--bootstrap-server", "-t", "--topic", "-o", "--output",
                "-i", "--input", "--generate", "--framing", "--schema-id", "--seed",
                "--start-ts", "--id-offset", "-X", "--property"],
    "tail": ["-b", "--bootstrap", "--bootstrap-server", "-t", "--topic", "--from-beginning",
             "-e", "--max", "--max-messages", "--idle-timeout", "--events", "--print-key",
             "--print-meta", "--framing", "-X", "--property"],
    "replay": ["-c", "--config", "-i", "--input", "-o", "--output", "-d", "--dlq"],
    "eval": ["-c", "--config", "-i", "--input", "--k", "--test", "--plot",
             "--pop-half-life", "--baselines", "--baseline-counts"],
    "demo": ["-c", "--config", "--events", "--show"],
}
CONFIG_COMMANDS = {"run", "validate", "replay", "eval", "demo"}


def rs(*args, timeout=60, **kw):
    return subprocess.run([RECSTREAM] + list(args), capture_output=True, text=True,
                          timeout=timeout, **kw)


class Broker:
    def __init__(self, *args):
        self.args = list(args)

    def __enter__(self):
        self.proc = subprocess.Popen([RECSTREAM, "dev-broker"] + self.args,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert self.bootstrap.startswith("127.0.0.1:"), self.bootstrap
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=30) == 0


# --- --version ---------------------------------------------------------------

def version():
    p = rs("--version")
    assert p.returncode == 0, p
    lines = p.stdout.splitlines()
    assert re.fullmatch(r"recstream \d+\.\d+\.\d+ \(git (unknown|[0-9a-f]{12}(-dirty)?)\)",
                        lines[0]), lines
    # librdkafka as python3-confluent-kafka's own copy of it reports itself
    assert f"librdkafka {libversion()[0]}" in lines, (lines, libversion())
    avro = subprocess.run(["pkg-config", "--modversion", "avro-c"], capture_output=True,
                          text=True).stdout.strip()
    if avro:
        assert f"avro-c {avro} (build time)" in lines, lines
    blas = [x for x in lines if x.startswith("OpenBLAS ")]
    assert len(blas) == 1 and re.search(r"OpenBLAS \d+\.\d+\.\d+", blas[0][9:]), lines
    assert any(re.fullmatch(r"libyaml \d+\.\d+\.\d+", x) for x in lines), lines
    assert rs("-V").stdout == p.stdout and rs("version").stdout == p.stdout
    if os.path.exists(os.path.join(ROOT, ".git")) and shutil.which("git"):
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        rev = re.search(r"\(git ([0-9a-f]+)", lines[0])
        assert rev and head.startswith(rev.group(1)), (lines[0], head)


def version_from_tarball():
    """A tree without .git (a release tarball) builds 'unknown' as its
    revision: the Makefile's rule for the header, in such a copy."""
    with tempfile.TemporaryDirectory() as tmp:
        tar = subprocess.run(["git", "-C", ROOT, "archive", "HEAD", "Makefile"],
                             capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=tar, check=True)
        # not the calling make's BUILD (make asan) nor its flags
        env = {k: v for k, v in os.environ.items()
               if k not in ("BUILD", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        p = subprocess.run(["make", "-s", "-C", tmp, "BUILD=build", "build/gen/version.h"],
                           capture_output=True, text=True, timeout=60, env=env)
        assert p.returncode == 0, p.stderr
        text = open(os.path.join(tmp, "build", "gen", "version.h")).read()
        assert '#define RS_GIT_REV "unknown"' in text, text


# --- --help --------------------------------------------------------------------

def help_of(cmd):
    p = rs(cmd, "--help")
    assert p.returncode == 0 and p.stderr == "", p
    out = p.stdout
    assert out.startswith(f"usage: recstream {cmd}"), out[:200]
    for flag in FLAGS[cmd] + ["--help"]:
        assert re.search(r"(^|[\s,\[(|])" + re.escape(flag) + r"\b", out), (cmd, flag)
    for section in ("options:", "environment:", "signals:", "exit codes:"):
        assert "\n" + section + "\n" in out, (cmd, section)
    assert "RECSTREAM_LOG_LEVEL" in out
    assert ("RECSTREAM_MAX_CONFIG_BYTES" in out) == (cmd in CONFIG_COMMANDS), cmd
    for code in ("0", "2"):
        assert re.search(r"^\s+" + code + r"\s+\S", out.split("exit codes:")[1], re.M), cmd
    # `help CMD` and -h are the same page
    assert rs("help", cmd).stdout == out and rs(cmd, "-h").stdout == out


def help_names_every_table_flag():
    """Every option in the commands' tables (src/cli/*.c, and the shared
    entries of cli.h they use: RS_OPT_CONFIG(...) and the like) is on some
    --help page of its file's commands: a flag added without a doc fails
    here."""
    pages = {c: rs(c, "--help").stdout for c in FLAGS}
    shared = {}  # macro name -> the long names its entry defines
    cli_h = open(os.path.join(ROOT, "src", "cli", "cli.h")).read()
    for m in re.finditer(r"#define (RS_OPT_[A-Z]+)\([^)]*\)((?:.*\\\n)*.*)", cli_h):
        shared[m.group(1)] = re.findall(r'\.(?:name|alias) = "([a-z0-9-]+)"', m.group(2))
    assert len(shared) >= 5 and shared["RS_OPT_CONFIG"] == ["config"], shared
    files = {"run.c": ["run", "validate", "doc"], "tail.c": ["tail"],
             "produce.c": ["produce"], "replay.c": ["replay"], "eval.c": ["eval"],
             "demo.c": ["demo"], "devbroker.c": ["dev-broker"], "version.c": ["version"]}
    seen = 0
    for path in glob.glob(os.path.join(ROOT, "src", "cli", "*.c")):
        base = os.path.basename(path)
        text_c = open(path).read()
        names = re.findall(r'\{\.name = "([a-z0-9-]+)"', text_c) + \
            re.findall(r'\.alias = "([a-z0-9-]+)"', text_c)
        for macro in re.findall(r"\b(RS_OPT_[A-Z]+)\(", text_c):
            names += shared[macro]
        if not names:
            continue
        assert base in files, f"{base} has options but no command in this test"
        text = "".join(pages[c] for c in files[base])
        for n in names:
            seen += 1
            assert "--" + n in text, (base, n)
    assert seen > 40, seen


def top_level_help():
    p = rs("--help")
    assert p.returncode == 0
    for c in FLAGS:
        assert re.search(r"^  " + re.escape(c) + r"\b", p.stdout, re.M), c
    p = rs()
    assert p.returncode == 2 and "usage: recstream" in p.stderr


# --- strict parsing ----------------------------------------------------------

BAD = [
    # (argv, the start of the one-line reason)
    (["tail", "-b", "x", "-t", "y", "--idle-timeout", "5"],
     "recstream: tail: --idle-timeout: expected a duration like 250ms, 30s, 5m, 2h or 7d, got '5'"),
    (["tail", "-b", "x", "-t", "y", "--idle-timeout", "5x"],
     "recstream: tail: --idle-timeout: expected a duration"),
    (["tail", "-b", "x", "-t", "y", "--idle-timeout", "-1s"],
     "recstream: tail: --idle-timeout: expected a duration"),
    (["tail", "-b", "x", "-t", "y", "--max", "ten"],
     "recstream: tail: --max: expected an integer, got 'ten'"),
    (["tail", "-b", "x", "-t", "y", "--max-messages", "-3"],
     "recstream: tail: --max-messages: -3 is out of range [0, "),
    (["tail", "-b", "x", "-t", "y", "--max", "5s"], "recstream: tail: --max: expected an integer"),
    (["tail", "-b", "x", "-t", "y", "--framing", "avro"],
     "recstream: tail: --framing: 'avro' is not one of: plain, confluent, single-object"),
    (["tail", "-b", "x", "-t", "y", "-X", "novalue"],
     "recstream: tail: -X: takes key=value, not 'novalue'"),
    (["tail", "-b", "x"], "recstream: tail: --topic is required"),
    (["tail", "-t", "y"], "recstream: tail: --bootstrap is required"),
    (["tail", "-b", "x", "-t", "y", "extra"], "recstream: tail: unexpected argument 'extra'"),
    (["tail", "-b", "x", "-t", "y", "--idel-timeout", "5s"],
     "recstream: tail: unknown option '--idel-timeout' (did you mean '--idle-timeout'?)"),
    (["tail", "-b", "x", "-t", "y", "-Q"], "recstream: tail: unknown option '-Q'"),
    (["tail", "-b", "x", "-t", "y", "--from-beginning=yes"],
     "recstream: tail: --from-beginning takes no argument"),
    (["tail", "-b", "x", "-t"], "recstream: tail: -t takes an argument"),
    (["tail", "-b", "x", "--topic"], "recstream: tail: --topic takes an argument"),
    (["produce", "-b", "x", "-t", "y", "--generate", "abc"],
     "recstream: produce: --generate: expected an integer, got 'abc'"),
    (["produce", "-b", "x", "-t", "y", "--generate", "1e3"],
     "recstream: produce: --generate: expected an integer, got '1e3'"),
    (["produce", "-b", "x", "-t", "y", "--generate", "-1"],
     "recstream: produce: --generate: -1 is out of range"),
    (["produce", "-b", "x", "-t", "y"], "recstream: produce: give one of --input and --generate"),
    (["produce", "-b", "x", "-t", "y", "--input", "a.csv", "--generate", "5"],
     "recstream: produce: give one of --input and --generate"),
    (["produce", "-b", "x", "-t", "y", "--input", "a.csv", "--id-offset", "5"],
     "recstream: produce: --seed, --start-ts, --id-offset, --world and --users only apply to --generate"),
    (["produce", "-b", "x", "-t", "y", "--generate", "5", "--schema-id", "x1"],
     "recstream: produce: --schema-id: expected an integer"),
    (["produce", "-b", "x", "-t", "y", "--generate", "5", "--schema-id", "2147483648"],
     "recstream: produce: --schema-id: 2147483648 is out of range"),
    (["produce", "-b", "x", "-t", "y", "--generate", "5", "--seed", "0x10"],
     "recstream: produce: --seed: expected an integer"),
    (["produce", "-b", "x", "-t", "y", "--generate", "5", "--start-ts", "yesterday"],
     "recstream: produce: --start-ts: expected milliseconds since the Unix epoch"),
    (["produce", "-b", "x", "-t", "y", "--generate", "5", "--id-offset", "many"],
     "recstream: produce: --id-offset: expected an integer"),
    (["dev-broker", "--port", "abc"], "recstream: dev-broker: --port: expected an integer, got 'abc'"),
    (["dev-broker", "--port", "65536"], "recstream: dev-broker: --port: 65536 is out of range"),
    (["dev-broker", "--brokers", "0"], "recstream: dev-broker: --brokers: 0 is out of range [1, 16]"),
    (["dev-broker", "--partitions", "2p"], "recstream: dev-broker: --partitions: expected an integer"),
    (["eval", "-c", DEMO, "--input", "x.csv", "--k", "0"], "recstream: eval: --k: 0 is out of range"),
    (["eval", "-c", DEMO, "--input", "x.csv", "--k", "ten"], "recstream: eval: --k: expected an integer"),
    (["eval", "-c", DEMO, "--input", "x.csv", "--pop-half-life", "30"],
     "recstream: eval: --pop-half-life: expected a duration"),
    (["eval", "-c", DEMO, "--input", "x.csv", "--pop-half-life", "0s"],
     "recstream: eval: --pop-half-life: 0s is out of range"),
    (["eval", "-c", DEMO], "recstream: eval: --input is required"),
    (["demo", "--events", "many"], "recstream: demo: --events: expected an integer"),
    (["demo", "--events", "0"], "recstream: demo: --events: 0 is out of range"),
    (["demo", "--show", "-1"], "recstream: demo: --show: -1 is out of range"),
    (["run", "-c", DEMO, "--role", "both"], "recstream: run: --role: takes all, users or items, not 'both'"),
    (["run"], "recstream: run: --config is required"),
    (["validate", "-c", DEMO, "more"], "recstream: validate: unexpected argument 'more'"),
    (["replay", "-c", DEMO], "recstream: replay: --input is required"),
    (["replay", "-c", DEMO, "--input", "x", "--outptu", "y"],
     "recstream: replay: unknown option '--outptu' (did you mean '--output'?)"),
    (["doc", "--all"], "recstream: doc: unknown or ambiguous option '--all'"),
    (["version", "x"], "recstream: version: unexpected argument 'x'"),
]


def bad_argument(argv, reason):
    p = rs(*argv, timeout=30)
    lines = p.stderr.splitlines()
    assert p.returncode == 2, (argv, p.returncode, p.stderr)
    assert p.stdout == "", p.stdout
    assert lines and lines[0].startswith(reason), (argv, lines[:2])
    assert len(lines) >= 2 and re.match(rf"usage: recstream {re.escape(argv[0])}( |$)",
                                        lines[1]), lines
    assert lines[-1] == f"Try 'recstream {argv[0]} --help'.", lines


def good_values_parse():
    """Well-formed values get past the parser: the command goes on to its
    own checks (here it finds no file or no broker, exit 1 or 2 for that
    reason, never for the flag)."""
    p = rs("replay", "-c", DEMO, "--input", "/nonexistent.csv")
    assert p.returncode == 1 and "cannot open /nonexistent.csv" in p.stderr, p.stderr
    p = rs("eval", "-c", DEMO, "--input", "/nonexistent.csv", "--k", "5",
           "--pop-half-life", "36h")
    assert p.returncode == 1 and "cannot open" in p.stderr, p.stderr
    p = rs("eval", "-c", DEMO, "--input", "/nonexistent.csv", "--k", "5",
           "--pop-half-life=1.5d")
    assert p.returncode == 1, p.stderr


def misspelt_commands():
    for typo, want in (("tial", "tail"), ("rnu", "run"), ("valdate", "validate"),
                       ("evla", "eval"), ("replya", "replay"), ("dev-borker", "dev-broker"),
                       ("porduce", "produce")):
        p = rs(typo)
        assert p.returncode == 2, p
        assert p.stderr.splitlines()[0] == \
            f"recstream: unknown command '{typo}' (did you mean '{want}'?)", p.stderr
    p = rs("frobnicate")
    assert p.returncode == 2 and p.stderr.splitlines()[0] == \
        "recstream: unknown command 'frobnicate'", p.stderr
    p = rs("help", "tial")
    assert p.returncode == 2 and p.stderr.splitlines()[0] == \
        "recstream: unknown command 'tial' (did you mean 'tail'?)", p.stderr
    p = rs("help", "tail", "extra")
    assert p.returncode == 2 and p.stdout == "", p
    p = rs("--verison")
    assert p.returncode == 2 and "(did you mean" not in p.stderr.splitlines()[0], p.stderr


def idle_timeout_is_a_duration():
    """`--idle-timeout 1500ms` waits 1.5 s, not 1500 ms read as 1 unit or
    `5s` read as 5 ms (before: atoll)."""
    with Broker("--topic", "quiet:1") as b:
        t = time.time()
        p = rs("tail", "-b", b.bootstrap, "-t", "quiet", "--idle-timeout", "1500ms")
        took = time.time() - t
        assert p.returncode == 0, p.stderr
        assert took >= 1.5, took
        t = time.time()
        p = rs("tail", "-b", b.bootstrap, "-t", "quiet", "--idle-timeout", "2s")
        assert p.returncode == 0 and time.time() - t >= 2.0, p.stderr


# --- tail ----------------------------------------------------------------------

def write_recs(bootstrap, topic, n):
    """n UserRecs by python3-avro with keys and headers; their (partition,
    offset) from the delivery reports."""
    import avro.io
    import avro.schema
    import datetime
    import io
    schema = avro.schema.parse(open(os.path.join(ROOT, "schemas", "UserRecs.avsc")).read())
    p = Producer({"bootstrap.servers": bootstrap})
    sent = {}

    def dr(err, msg):
        assert err is None, err
        sent[msg.key().decode()] = (msg.partition(), msg.offset())
    recs = []
    for i in range(n):
        r = {"user_id": f"u{i}",
             "generated_ts": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
             + datetime.timedelta(milliseconds=i),
             "pipeline": {"name": "video", "config_hash": "c0ffee"},
             "items": [{"item_id": f"v{i}", "score": 0.25 * i, "reason": "trending",
                        "because_of": None}],
             "published_ts": None if i % 2 else datetime.datetime(
                 2026, 12, 1, tzinfo=datetime.timezone.utc),
             "list_id": None if i % 2 else f"{i:016x}"}
        buf = io.BytesIO()
        avro.io.DatumWriter(schema).write(r, avro.io.BinaryEncoder(buf))
        p.produce(topic, key=r["user_id"], value=buf.getvalue(),
                  headers=[("trace", f"t{i}".encode()), ("empty", None)],
                  timestamp=1700000000000 + i, callback=dr)
        recs.append(r)
    assert p.flush(30) == 0
    return recs, sent


def tail_every_field():
    """Plain lines hold every field of the record, the pipeline too."""
    with Broker("--topic", "recs:2") as b:
        recs, _ = write_recs(b.bootstrap, "recs", 6)
        p = rs("tail", "--bootstrap-server", b.bootstrap, "--topic", "recs",
               "--from-beginning", "--max-messages", "6")
        assert p.returncode == 0, p.stderr
        got = sorted((json.loads(x) for x in p.stdout.splitlines()), key=lambda r: r["user_id"])
        assert len(got) == 6, p.stdout
        for g, r in zip(got, sorted(recs, key=lambda r: r["user_id"])):
            i = int(r["user_id"][1:])
            assert g == {"user_id": r["user_id"], "generated_ts": 1767225600000 + i,
                         "pipeline": {"name": "video", "config_hash": "c0ffee"},
                         "items": [{"item_id": f"v{i}", "score": 0.25 * i,
                                    "reason": "trending", "because_of": None}],
                         "published_ts": None if i % 2 else 1796083200000,
                         "list_id": None if i % 2 else f"{i:016x}", "channels": None}, g


def tail_exit_at_end_and_meta():
    """-e stops at the end of the partitions with every record (no idle
    wait); --print-key/--print-meta give kcat -J style envelopes whose
    partition, offset, timestamp, key and headers are what the producer's
    delivery reports said."""
    with Broker("--topic", "recs:3") as b:
        recs, sent = write_recs(b.bootstrap, "recs", 9)
        t = time.time()
        p = rs("tail", "-b", b.bootstrap, "-t", "recs", "--from-beginning", "-e",
               "--print-key", "--print-meta")
        took = time.time() - t
        assert p.returncode == 0, p.stderr
        lines = [json.loads(x) for x in p.stdout.splitlines()]
        assert len(lines) == 9, p.stdout
        assert took < 30, took
        for env in lines:
            assert set(env) == {"topic", "partition", "offset", "ts", "headers", "key",
                                "payload"}, env
            part, off = sent[env["key"]]
            assert env["topic"] == "recs" and (env["partition"], env["offset"]) == (part, off)
            i = int(env["key"][1:])
            assert env["ts"] == 1700000000000 + i, env  # the producer's CreateTime
            assert env["headers"] == ["trace", f"t{i}", "empty", None], env
            assert env["payload"]["user_id"] == env["key"]
        # only the key: no meta fields
        p = rs("tail", "-b", b.bootstrap, "-t", "recs", "--from-beginning", "-e", "--print-key")
        one = json.loads(p.stdout.splitlines()[0])
        assert set(one) == {"key", "payload"}, one
        # -e from the end: nothing new, exits at once with nothing
        p = rs("tail", "-b", b.bootstrap, "-t", "recs", "-e", timeout=30)
        assert p.returncode == 0 and p.stdout == "", p


# --- one JSON shape for events ---------------------------------------------

def events_csv(path, n=1500):
    rnd = random.Random(12)
    types = ["impression", "play", "click", "watch", "like", "share", "skip", "rate",
             "add_to_cart", "purchase"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["event_id", "user_id", "item_id", "event_type", "ts_ms", "watch_ms",
                    "duration_ms", "category", "value"])
        ts = 1767225600000
        for i in range(n):
            ts += rnd.randint(0, 4000)
            t = rnd.choice(types)
            dur = rnd.choice(["", "30000", "61000"])
            w.writerow([f"ev{i}", f"u{rnd.randint(0, 60)}", f"v{rnd.randint(0, 90)}", t, ts,
                        rnd.randint(1000, 60000) if t == "watch" else "", dur,
                        rnd.choice(["", "comedy", 'kids, "family"', "ü"]),
                        rnd.randint(1, 5) if t == "rate" else ""])


def events_round_trip():
    """Events produced from a CSV, captured with `tail --events` into a
    .jsonl file, replay to exactly what the CSV replays to, and evaluate
    to the same figures (before: tail printed Avro's JSON encoding, with
    unions as {"long": ...}, which replay dead-lettered)."""
    with tempfile.TemporaryDirectory() as tmp, Broker("--topic", "ev:1") as b:
        src = os.path.join(tmp, "events.csv")
        events_csv(src)
        p = rs("produce", "-b", b.bootstrap, "-t", "ev", "--input", src)
        assert p.returncode == 0, p.stderr
        cap = os.path.join(tmp, "captured.jsonl")
        with open(cap, "w") as f:
            p = subprocess.run([RECSTREAM, "tail", "-b", b.bootstrap, "-t", "ev", "--events",
                                "--from-beginning", "-e"], stdout=f, stderr=subprocess.PIPE,
                               text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        lines = open(cap).read().splitlines()
        assert len(lines) == 1500, len(lines)
        first = json.loads(lines[0])
        assert set(first) >= {"event_id", "user_id", "item_id", "event_type", "ts",
                              "watch_ms", "duration_ms", "category", "value"}, first
        assert all(not isinstance(v, dict) for v in first.values()), first
        a = rs("replay", "-c", DEMO, "--input", src, timeout=120)
        c = rs("replay", "-c", DEMO, "--input", cap, timeout=120)
        assert a.returncode == 0 and c.returncode == 0, (a.stderr, c.stderr)
        assert "0 dead letters" in c.stderr, c.stderr
        assert a.stdout == c.stdout and a.stdout.count("\n") > 20, (a.stdout[:300], c.stdout[:300])
        a = rs("eval", "-c", DEMO, "--input", src, "--k", "5", timeout=120)
        c = rs("eval", "-c", DEMO, "--input", cap, "--k", "5", timeout=120)
        assert a.returncode == 0 and c.returncode == 0, (a.stderr, c.stderr)
        strip = lambda s: re.sub(r"time_s=[\d.]+", "", s)  # noqa: E731
        assert strip(a.stdout) == strip(c.stdout), (a.stdout, c.stdout)


# --- demo, produce -----------------------------------------------------------

def demo_anywhere():
    """`recstream demo` from a directory without pipelines/ runs the
    built-in demo pipeline; its lists carry the publish time and a list id."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = int(time.time() * 1000)
        p = subprocess.run([RECSTREAM, "demo", "--events", "800", "--show", "2"], cwd=tmp,
                           capture_output=True, text=True, timeout=240)
        t1 = int(time.time() * 1000)
        assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-2000:])
        assert "pipelines/demo.yaml, built in" in p.stdout and "demo OK" in p.stdout, p.stdout
        shown = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
        assert len(shown) == 2, p.stdout
        for r in shown:
            assert t0 <= r["published_ts"] <= t1, (t0, r, t1)
            assert re.fullmatch(r"[0-9a-f]{16}", r["list_id"]), r
            assert r["pipeline"]["name"] == "demo"
        assert shown[0]["list_id"] != shown[1]["list_id"]


def read_events(bootstrap, topic, n):
    import avro.io
    import avro.schema
    import io
    schema = avro.schema.parse(open(os.path.join(ROOT, "schemas", "BehaviorEvent.avsc")).read())
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cli-check",
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got, deadline = [], time.time() + 60
    while len(got) < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        got.append(avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(m.value()))))
    c.close()
    return got


def produce_continues():
    """A second `produce --generate` with the flags the first one printed
    continues the history: new event ids, later event times."""
    with Broker("--topic", "gen:2") as b:
        p = rs("produce", "-b", b.bootstrap, "-t", "gen", "--generate", "300")
        assert p.returncode == 0, p.stderr
        m = re.search(r"to continue this history: (--seed \d+ --id-offset \d+ --start-ts \d+)",
                      p.stderr)
        assert m and "--id-offset 300 " in m.group(1), p.stderr
        p = rs("produce", "-b", b.bootstrap, "-t", "gen", "--generate", "200",
               *m.group(1).split())
        assert p.returncode == 0, p.stderr
        got = read_events(b.bootstrap, "gen", 500)
        assert len(got) == 500, len(got)
        ids = [e["event_id"] for e in got]
        assert sorted(ids, key=lambda s: int(s[1:])) == [f"e{i}" for i in range(1, 501)], ids[:5]
        first = [e["ts"] for e in got if int(e["event_id"][1:]) <= 300]
        second = [e["ts"] for e in got if int(e["event_id"][1:]) > 300]
        assert min(second) > max(first), (max(first), min(second))
        # --start-ts now: event times from the wall clock on
        t = time.time()
        p = rs("produce", "-b", b.bootstrap, "-t", "gen2", "--generate", "5", "--start-ts", "now",
               "--id-offset", "1000")
        assert p.returncode == 0, p.stderr
        got = read_events(b.bootstrap, "gen2", 5)
        assert sorted(e["event_id"] for e in got) == [f"e{i}" for i in range(1001, 1006)]
        first_ts = min(e["ts"] for e in got).timestamp()
        assert t - 5 <= first_ts <= time.time() + 60, (t, first_ts)


def produce_output_round_trip():
    """`produce --input A.csv --output B.csv` writes every row as it was:
    Python's csv module reads back the same fields, ids and categories
    with commas, quotes and line breaks included (before: written bare,
    so such a row split into more columns and was skipped when read)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, "events.csv"), os.path.join(tmp, "out.csv")
        events_csv(src, n=300)
        with open(src, "a", newline="") as f:
            csv.writer(f).writerow(["ev,q", 'u"1', "v,1", "click", 1767300000000, "", "",
                                    "two\nlines", ""])
        p = rs("produce", "--input", src, "--output", out)
        assert p.returncode == 0 and "301 events to" in p.stderr, p.stderr
        want = list(csv.reader(open(src, newline="")))
        got = list(csv.reader(open(out, newline="")))
        assert got == want, [(a, b) for a, b in zip(got, want) if a != b][:3]
        # and the project's own reader takes it back whole
        p = rs("produce", "--input", out, "--output", "-")
        assert p.returncode == 0 and "0 bad rows" in p.stderr, p.stderr
        assert list(csv.reader(p.stdout.splitlines(keepends=True))) == want


def produce_output_continues():
    """`produce --generate --output` says how to continue its history too
    (the about text promises it of the summary): a second file made with
    those flags holds the next event ids, at later times (before: the
    line was printed on the Kafka path only)."""
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, "a.csv"), os.path.join(tmp, "b.csv")
        p = rs("produce", "--generate", "120", "--output", a)
        assert p.returncode == 0, p.stderr
        m = re.search(r"to continue this history: (--seed \d+ --id-offset \d+ --start-ts \d+)",
                      p.stderr)
        assert m and "--id-offset 120 " in m.group(1), p.stderr
        p = rs("produce", "--generate", "80", "--output", b, *m.group(1).split())
        assert p.returncode == 0, p.stderr
        first = list(csv.DictReader(open(a, newline="")))
        second = list(csv.DictReader(open(b, newline="")))
        assert [r["event_id"] for r in first + second] == [f"e{i}" for i in range(1, 201)]
        assert min(int(r["ts_ms"]) for r in second) > max(int(r["ts_ms"]) for r in first)


check("--version: recstream, git revision and the libraries' versions", version)
if shutil.which("git") and os.path.exists(os.path.join(ROOT, ".git")):
    check("a tree without .git builds 'unknown' as its revision", version_from_tarball)
else:
    skip("a tree without .git builds 'unknown' as its revision", "not a git checkout")
for c in FLAGS:
    check(f"{c} --help: every flag, environment, signals, exit codes", help_of, c)
check("every option in src/cli tables is on a --help page", help_names_every_table_flag)
check("recstream --help lists every command; no command is exit 2", top_level_help)
for argv, why in BAD:
    check(f"exit 2, one line, usage: {' '.join(argv)}", bad_argument, argv, why)
check("well-formed values pass the parser", good_values_parse)
check("a misspelt command suggests the right one", misspelt_commands)
check("tail --idle-timeout takes a duration (1500ms, 2s)", idle_timeout_is_a_duration)
check("tail prints every field of the record (--bootstrap-server, --max-messages)",
      tail_every_field)
check("tail -e, --print-key, --print-meta", tail_exit_at_end_and_meta)
check("tail --events output is replay/eval input: same results as the CSV",
      events_round_trip)
check("demo runs from any directory with its built-in pipeline", demo_anywhere)
check("produce --generate continues an earlier history", produce_continues)
check("produce --output writes the rows it read, quoting as CSV needs",
      produce_output_round_trip)
check("produce --generate --output continues an earlier history too", produce_output_continues)
done()
