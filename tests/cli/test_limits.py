"""Pipeline files are bounded whatever they hold: every command that takes
-c reads at most the size limit (1 MiB, RECSTREAM_MAX_CONFIG_BYTES) of any
kind of file — /dev/zero, a FIFO that never ends, a 2 MiB file — and exits
2 at once with one `file:1:1` error, in little memory; a document inside
the limit may still not nest too deep, hold too many nodes or too long a
value. (Before: `validate -c /dev/zero` grew at ~500 MB/s and never ended.)
Each command runs under a deadline and is killed when it passes it."""
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, ROOT, check, done  # noqa: E402

MIB = 1024 * 1024
TOO_LARGE = ("error: the file is larger than 1 MiB (limit: 1048576 bytes; "
             "RECSTREAM_MAX_CONFIG_BYTES sets it)")
# A valid pipeline (no broker is contacted by validate).
PIPELINE = """name: t
kafka: {bootstrap.servers: "localhost:9092"}
source: {topics: [video.behavior]}
stages: [{type: passthrough}]
sink: {}
"""


def cap_memory():
    # 1 GiB of address space: an unbounded read fails soon instead of
    # taking the machine's memory (librdkafka's threads need little).
    # A sanitized build (make asan) reserves terabytes of shadow memory
    # up front: there the deadline and the peak RSS check stand alone.
    if "ASAN_OPTIONS" not in os.environ:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def run(args, env=None, deadline=10, stdin=subprocess.DEVNULL):
    """(exit code, stdout+stderr, seconds, peak RSS in MiB) of one
    recstream command, killed past `deadline` seconds."""
    start = time.time()
    proc = subprocess.Popen([RECSTREAM] + args, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})),
                            preexec_fn=None if args[0] == "demo" else cap_memory)
    out = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()))
    reader.start()
    status = None
    while status is None:
        pid, st, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status = st
            break
        if time.time() - start > deadline:
            proc.kill()
            _, st, usage = os.wait4(proc.pid, 0)
            reader.join()
            raise AssertionError(f"{args} still running after {deadline} s (killed)")
        time.sleep(0.01)
    took = time.time() - start
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out[0].decode(errors="replace"), took, usage.ru_maxrss / 1024


def dev_zero():
    rc, out, took, rss = run(["validate", "-c", "/dev/zero"], deadline=10)
    print(f"# validate -c /dev/zero: exit {rc} in {took:.3f} s, peak RSS {rss:.1f} MiB",
          flush=True)
    assert rc == 2, (rc, out)
    assert out.splitlines() == [f"/dev/zero:1:1: {TOO_LARGE}", "1 error"], out
    assert took < 5, took
    # 1 MiB of text plus the binary: far below what an unbounded read takes.
    assert rss < 64, f"peak RSS {rss:.1f} MiB"


def every_command(tmp):
    """validate, run, replay, eval and demo all read -c through the limit."""
    events = os.path.join(tmp, "events.csv")
    open(events, "w").write("event_id,user_id,item_id,event_type,ts\n")
    for args in (["validate", "-c", "/dev/zero"], ["run", "-c", "/dev/zero"],
                 ["replay", "-c", "/dev/zero", "--input", events],
                 ["eval", "-c", "/dev/zero", "--input", events],
                 ["demo", "-c", "/dev/zero"]):
        rc, out, took, rss = run(args, deadline=20)
        assert rc == 2, (args, rc, out)
        assert f"/dev/zero:1:1: {TOO_LARGE}" in out.splitlines(), (args, out)
        assert rss < 64, (args, rss)


def two_mib(tmp):
    """A 2 MiB pipeline (valid, padded with comments) is refused at once;
    RECSTREAM_MAX_CONFIG_BYTES=4194304 lets it through; a limit below a
    shipped pipeline's size refuses that one."""
    path = os.path.join(tmp, "big.yaml")
    pad = "# " + "x" * 1021 + "\n"
    with open(path, "w") as f:
        f.write(PIPELINE)
        f.write(pad * (2 * MIB // len(pad)))
    assert os.path.getsize(path) > 2 * MIB - 1024
    rc, out, took, _ = run(["validate", "-c", path])
    assert rc == 2 and out.splitlines() == [f"{path}:1:1: {TOO_LARGE}", "1 error"], (rc, out)
    assert took < 5, took
    rc, out, _, _ = run(["validate", "-c", path],
                        env={"RECSTREAM_MAX_CONFIG_BYTES": str(4 * MIB)})
    assert rc == 0 and out == "configuration OK\n", (rc, out)
    video = os.path.join(ROOT, "pipelines", "video.yaml")
    rc, out, _, _ = run(["validate", "-c", video], env={"RECSTREAM_MAX_CONFIG_BYTES": "1000"})
    assert rc == 2, (rc, out)
    assert (f"{video}:1:1: error: the file is larger than 1000 bytes (limit: 1000 bytes; "
            "RECSTREAM_MAX_CONFIG_BYTES sets it)") in out.splitlines(), out
    for bad in ("lots", "0", "-5", "4096k", str(2 * 1024 * MIB)):
        rc, out, _, _ = run(["validate", "-c", video], env={"RECSTREAM_MAX_CONFIG_BYTES": bad})
        assert rc == 2, (bad, rc, out)
        assert out == ("recstream: RECSTREAM_MAX_CONFIG_BYTES must be a number of bytes "
                       f"from 1 to 1073741824, not '{bad}'\n"), (bad, out)


def endless_fifo(tmp):
    """A FIFO whose writer never stops (and stdin as a pipe): the read stops
    one byte past the limit, the writer gets a broken pipe."""
    fifo = os.path.join(tmp, "fifo.yaml")
    os.mkfifo(fifo)
    wrote = [0]

    def writer():
        chunk = b"a: b\n" * 8192
        try:
            with open(fifo, "wb") as f:
                while wrote[0] < 64 * MIB:
                    f.write(chunk)
                    wrote[0] += len(chunk)
        except BrokenPipeError:
            pass

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    rc, out, took, rss = run(["validate", "-c", fifo], deadline=10)
    t.join(10)
    assert rc == 2 and out.splitlines() == [f"{fifo}:1:1: {TOO_LARGE}", "1 error"], (rc, out)
    assert not t.is_alive() and wrote[0] < 4 * MIB, wrote[0]
    assert rss < 64, rss

    yes = subprocess.Popen(["yes", "a: b"], stdout=subprocess.PIPE)
    try:
        rc, out, took, rss = run(["validate", "-c", "/dev/stdin"], stdin=yes.stdout)
    finally:
        yes.kill()
        yes.wait()
    assert rc == 2 and f"/dev/stdin:1:1: {TOO_LARGE}" in out.splitlines(), (rc, out)


def not_a_file(tmp):
    rc, out, _, _ = run(["validate", "-c", tmp])
    assert rc == 2 and out.splitlines() == [f"{tmp}:1:1: error: cannot read: Is a directory",
                                            "1 error"], (rc, out)


def writer_schema_dev_zero(tmp):
    """The files a pipeline names are read under the same limit."""
    path = os.path.join(tmp, "ws.yaml")
    open(path, "w").write(PIPELINE.replace(
        "source: {topics: [video.behavior]}",
        "source:\n  writer_schemas:\n    - file: /dev/zero\n"))
    rc, out, took, rss = run(["validate", "-c", path])
    assert rc == 2, (rc, out)
    assert (f"{path}:5:13: error: source.writer_schemas[0]: /dev/zero is larger than 1 MiB "
            "(the limit of pipeline files)") in out.splitlines(), out
    assert took < 5 and rss < 64, (took, rss)


def document_limits(tmp):
    """Inside 1 MiB: 20,000 nodes, 64 KiB values (also once ${VAR}s are
    expanded, and 1 MiB of expanded values in all)."""
    cases = [
        # 20,001 items in one list: the 20,000th node overall is refused.
        ("nodes.yaml", "name: t\ndescription: [" + ",".join(["1"] * 20001) + "]\n", {},
         "error: more than 20000 values, lists and maps in one file"),
        ("scalar.yaml", "name: t\ndescription: " + "x" * 65537 + "\n", {},
         "3:14: error: a value longer than 64 KiB"),
        ("env.yaml", "name: t\ndescription: ${RS_T_BIG}\n", {"RS_T_BIG": "y" * 65537},
         "3:14: error: a value longer than 64 KiB once ${VAR}s are expanded"),
        ("expand.yaml", "name: t\nd: [" + ", ".join(['"${RS_T_BIG}"'] * 20) + "]\n",
         {"RS_T_BIG": "y" * 60000},
         "error: the values are larger than 1 MiB once ${VAR}s are expanded"),
    ]
    for name, text, env, want in cases:
        path = os.path.join(tmp, name)
        open(path, "w").write("# limits\n" + text)
        rc, out, took, rss = run(["validate", "-c", path], env=env)
        assert rc == 2, (name, rc, out[:300])
        lines = out.splitlines()
        assert len(lines) == 2 and lines[1] == "1 error", (name, out[:500])
        assert lines[0].startswith(path + ":") and lines[0].endswith(want), (name, lines[0])
        assert took < 5 and rss < 64, (name, took, rss)
    # The error is at the first node past the limit: node 20,001 is item
    # 19,996 of the list (after the root map, 2 keys, name's value and the
    # list), at column 15 + 2 * 19995.
    rc, out, _, _ = run(["validate", "-c", os.path.join(tmp, "nodes.yaml")])
    assert out.startswith(f"{tmp}/nodes.yaml:3:{15 + 2 * 19995}: error: more than"), out[:200]


with tempfile.TemporaryDirectory() as tmp:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    check("validate -c /dev/zero exits 2 at once with the size error, in bounded memory",
          dev_zero)
    check("run, replay, eval and demo -c /dev/zero exit 2 with the same error",
          every_command, tmp)
    check("a 2 MiB file is refused; RECSTREAM_MAX_CONFIG_BYTES raises or lowers the limit, "
          "a bad value is a usage error", two_mib, tmp)
    check("an endless FIFO and an endless stdin stop at the limit", endless_fifo, tmp)
    check("a directory is a clear error", not_a_file, tmp)
    check("writer schema files are read under the same limit", writer_schema_dev_zero, tmp)
    check("node count, value length and expanded size are bounded, each at file:line:col",
          document_limits, tmp)
done()
