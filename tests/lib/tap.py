"""A tiny TAP emitter shared by the Python tests: `ok N - name` lines that
tests/run.sh counts. Run with Debian's /usr/bin/python3 (python3-avro and
python3-confluent-kafka live there)."""
import os
import re
import socket
import subprocess
import sys
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
RECSTREAM = os.path.join(BUILD, "recstream")
# Workers the tests start serve no HTTP port unless a test gives one (the
# shipped pipelines read ${RECSTREAM_HTTP_PORT:-9464}; several workers at
# once would collide), as tests/run.sh sets it: also when a test runs alone.
os.environ.setdefault("RECSTREAM_HTTP_PORT", "0")

_n = 0
_failed = 0


def check(name, fn, *args):
    """Runs fn(*args); an exception or AssertionError is a failure."""
    global _n, _failed
    _n += 1
    try:
        fn(*args)
        print(f"ok {_n} - {name}", flush=True)
    except Exception:  # noqa: BLE001 - every failure is reported
        _failed += 1
        print(f"not ok {_n} - {name}", flush=True)
        for line in traceback.format_exc().splitlines():
            print(f"# {line}", flush=True)


def wait_for(cond, seconds, what, every=0.05):
    """Polls cond() until it returns something true, which is returned;
    AssertionError naming `what` after `seconds`."""
    deadline = time.time() + seconds
    while True:
        got = cond()
        if got:
            return got
        assert time.time() < deadline, f"timed out after {seconds} s waiting for {what}"
        time.sleep(every)


def free_port():
    """A loopback TCP port nothing listens on now (a worker's http.port)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def counter(port, name):
    """An unlabelled sample of the worker's /metrics on port, or None while
    nothing answers there."""
    p = subprocess.run(["curl", "-s", "-m", "5", f"http://127.0.0.1:{port}/metrics"],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return None
    m = re.search(rf"^{re.escape(name)} (\S+)$", p.stdout, re.M)
    return float(m.group(1)) if m else None


def skip(name, why):
    global _n
    _n += 1
    print(f"ok {_n} - {name} # SKIP {why}", flush=True)


def done():
    print(f"1..{_n}", flush=True)
    sys.exit(1 if _failed else 0)
