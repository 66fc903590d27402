"""`recstream validate` checks every Kafka client `run` makes as librdkafka
builds it (rd_kafka_new, destroyed at once), without connecting anywhere,
quickly and quietly; the TLS files it names are read when they are on this
machine (a certificate and a key that do not match, a key whose password
is wrong, a file that is not PEM are errors at their key) and left out
when they are not (CI, where the secrets are mounted only at run time).
The certificates are made here with the openssl command."""
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, ROOT, check, done, skip, wait_for  # noqa: E402

SECURE = os.path.join(ROOT, "pipelines", "secure.yaml")

# Every kind of client: the input's consumer, the producer, the deltas'
# consumer, the catalog and neighbour readers, the changelogs' readers and
# the admin client.
ALL_CLIENTS = """name: t
kafka:
  bootstrap.servers: {bootstrap}
  debug: all
source: {{}}
stages:
  - type: clean
  - type: weight
  - type: user_window
  - type: pairs
  - type: cooccur
  - type: score
sink: {{}}
items:
  topic: video.catalog
"""


def validate(path, env=None):
    t0 = time.monotonic()
    p = subprocess.run([RECSTREAM, "validate", "-c", path], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, **(env or {})))
    return p, time.monotonic() - t0


def no_connection_fast_quiet():
    """Brokers that listen: validate must not reach them, must take well
    under a second and must print nothing but its verdict, even at debug
    level with librdkafka's `debug: all`."""
    with socket.socket() as lsn, tempfile.TemporaryDirectory() as tmp:
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(16)
        path = os.path.join(tmp, "t.yaml")
        open(path, "w").write(ALL_CLIENTS.format(bootstrap="127.0.0.1:%d" % lsn.getsockname()[1]))
        took = []
        for _ in range(3):
            p, secs = validate(path, {"RECSTREAM_LOG_LEVEL": "debug"})
            assert (p.returncode, p.stdout, p.stderr) == (0, "configuration OK\n", ""), p
            took.append(secs)
        print(f"# validate with 7 clients: {min(took):.3f} s", flush=True)
        assert min(took) < 1.0, took
        # a connection it made would be in the backlog already: every
        # validate has exited, and the kernel completes the handshake
        readable, _, _ = select.select([lsn], [], [], 0)
        assert not readable, "validate connected to the broker"


def tls_files():
    """The files are read when present: a matching pair passes, a key of
    another certificate, a certificate that is not PEM and a wrong key
    password are errors at the key that names the file; absent files are
    left out of the check."""
    openssl = shutil.which("openssl")
    with tempfile.TemporaryDirectory() as tmp:
        def mk(name, password=None):
            cmd = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-days", "1",
                   "-subj", f"/CN={name}", "-keyout", os.path.join(tmp, f"{name}.key"),
                   "-out", os.path.join(tmp, f"{name}.pem")]
            cmd += ["-passout", f"pass:{password}"] if password else ["-nodes"]
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        mk("a")
        mk("b")
        mk("c", password="right-password")
        open(os.path.join(tmp, "junk.pem"), "w").write("not a certificate\n")

        def case(cert, key, extra=""):
            text = ("name: t\nkafka:\n  security.protocol: ssl\n"
                    f"  ssl.certificate.location: {os.path.join(tmp, cert)}\n"
                    f"  ssl.key.location: {os.path.join(tmp, key)}\n{extra}"
                    "source: {}\nstages: [{type: passthrough}]\nsink: {}\n")
            path = os.path.join(tmp, "t.yaml")
            open(path, "w").write(text)
            p, _ = validate(path)
            return p, p.stderr.replace(path, "t.yaml")

        p, _ = case("a.pem", "a.key")
        assert (p.returncode, p.stdout, p.stderr) == (0, "configuration OK\n", ""), p
        p, err = case("a.pem", "b.key")
        assert p.returncode == 2, p
        assert err.startswith("t.yaml:5:21: error: kafka.ssl.key.location: ssl.key.location "
                              "failed: ") and "key values mismatch" in err, err
        p, err = case("junk.pem", "a.key")
        assert p.returncode == 2, p
        assert err.startswith("t.yaml:4:29: error: kafka.ssl.certificate.location: "
                              "ssl.certificate.location failed: "), err
        p, err = case("c.pem", "c.key", "  ssl.key.password: wrong-password\n")
        assert p.returncode == 2, p
        assert err.startswith("t.yaml:5:21: error: kafka.ssl.key.location: ssl.key.location "
                              "failed: "), err
        assert "wrong-password" not in err, err
        p, _ = case("c.pem", "c.key", "  ssl.key.password: right-password\n")
        assert (p.returncode, p.stderr) == (0, ""), p
        p, _ = case("absent.pem", "absent.key")
        assert (p.returncode, p.stdout, p.stderr) == (0, "configuration OK\n", ""), p

        # secure.yaml with its files where the environment says they are
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
        env.update(KAFKA_SASL_USERNAME="u", KAFKA_SASL_PASSWORD="p",
                   KAFKA_SSL_CA_LOCATION=os.path.join(tmp, "a.pem"),
                   KAFKA_SSL_CERTIFICATE_LOCATION=os.path.join(tmp, "c.pem"),
                   KAFKA_SSL_KEY_LOCATION=os.path.join(tmp, "c.key"),
                   KAFKA_SSL_KEY_PASSWORD="right-password")
        p = subprocess.run([RECSTREAM, "validate", "-c", SECURE], env=env, capture_output=True,
                           text=True, timeout=60)
        assert (p.returncode, p.stdout, p.stderr) == (0, "configuration OK\n", ""), p
        env.update(KAFKA_SSL_KEY_LOCATION=os.path.join(tmp, "b.key"))
        p = subprocess.run([RECSTREAM, "validate", "-c", SECURE], env=env, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 2 and "key values mismatch" in p.stderr, p
        assert "error: kafka.ssl.key.location: ssl.key.location failed" in p.stderr, p.stderr


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def no_kinit():
    """With GSSAPI librdkafka would run sasl.kerberos.kinit.cmd as soon as
    a client exists: validate's clients run nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        ran = os.path.join(tmp, "kinit-ran")
        path = os.path.join(tmp, "t.yaml")
        open(path, "w").write("name: t\nkafka:\n  security.protocol: sasl_plaintext\n"
                              "  sasl.mechanisms: GSSAPI\n"
                              f"  sasl.kerberos.kinit.cmd: \"touch {ran}\"\n"
                              "source: {}\nstages: [{type: passthrough}]\nsink: {}\n")
        for _ in range(3):
            # its own process group: a command it started, even one left
            # running after it exited, is still in the group
            p = subprocess.Popen([RECSTREAM, "validate", "-c", path], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
            out, err = p.communicate(timeout=60)
            assert (p.returncode, out, err) == (0, "configuration OK\n", ""), (out, err)
            wait_for(lambda: not group_alive(p.pid), 30, "the processes validate started")
            assert not os.path.exists(ran), "validate ran the kinit command"


def run_refuses_reserved():
    """`run` loads the file as validate does: a key recstream sets itself
    is refused before any client is made (exit 2), not overridden."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.yaml")
        open(path, "w").write("name: t\nkafka:\n  bootstrap.servers: 127.0.0.1:1\n"
                              "source:\n  kafka:\n    enable.auto.offset.store: true\n"
                              "stages: [{type: passthrough}]\nsink: {}\n")
        p = subprocess.run([RECSTREAM, "run", "-c", path], capture_output=True, text=True,
                           timeout=60)
    assert p.returncode == 2, p
    assert p.stderr.replace(path, "t.yaml").startswith(
        "t.yaml:6:31: error: source.kafka.enable.auto.offset.store: enable.auto.offset.store "
        "is set by recstream: "), p.stderr


check("validate makes every client without connecting, in under a second, quietly",
      no_connection_fast_quiet)
if shutil.which("openssl"):
    check("validate reads the TLS files that are present, and leaves out the others", tls_files)
else:
    skip("validate reads the TLS files that are present", "no openssl command")
check("validate runs no kinit command", no_kinit)
check("run refuses a property recstream sets itself", run_refuses_reserved)
done()
