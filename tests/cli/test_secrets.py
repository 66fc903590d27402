"""Secret values never reach output. A key whose name holds `password`,
`secret`, `sasl.jaas` or `key` has a secret value; here every such value is
a unique marker, and no marker may appear in anything recstream writes:
`validate` errors (also for the secret keys' own bad values), `run` at
RECSTREAM_LOG_LEVEL=debug with librdkafka's `debug: all` on the dev broker
(librdkafka itself redacts only what it deems sensitive and logs
sasl.kerberos.keytab, say, as it is), a TLS start-up failure that
librdkafka and OpenSSL describe with the key file's path, and `tail -X`.
The shipped pipelines/secure.yaml reads its credentials from the
environment and refuses to start without them."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, ROOT, check, done  # noqa: E402

SECURE = os.path.join(ROOT, "pipelines", "secure.yaml")


def marker(what):
    return f"s3cr3t{what}{uuid.uuid4().hex[:12]}"


def assert_no_marker(text, markers):
    leaked = [m for m in markers if m in text]
    assert not leaked, f"leaked {leaked}: " + "\n".join(
        line for line in text.splitlines() if any(m in line for m in leaked))[:3000]
    assert "s3cr3t" not in text, [line for line in text.splitlines() if "s3cr3t" in line][:5]


def validate():
    m = {k: marker(k) for k in ("A", "B", "C", "D", "E", "F", "G", "H")}
    text = f"""name: t
kafka:
  bootstrap.servers: "localhost:9092"
  sasl.password: "{m['A']}${{oops"
  ssl.key.password: "${{:-{m['B']}}}"
  sasl.jaas.config: {m['D']}
  sasl.oauthbearer.client.secret: {m['E']}
  ssl.keystore.password: ${{RS_T_SECRET}}
source:
  batch_size: many
  api_key: {m['G']}
  kafka:
    ssl.key.location: [{m['C']}]
stages: [{{type: passthrough}}]
sink:
  Secret_List: ["{m['H']}${{", x]
"""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.yaml")
        open(path, "w").write(text)
        env = dict(os.environ, RS_T_SECRET=m["F"], RECSTREAM_LOG_LEVEL="debug")
        p = subprocess.run([RECSTREAM, "validate", "-c", path], env=env,
                           capture_output=True, text=True, timeout=30)
    out = p.stdout + p.stderr
    assert p.returncode == 2, (p.returncode, out)
    assert_no_marker(out.replace(path, "t.yaml"), m.values())
    lines = set(out.replace(path, "t.yaml").splitlines())
    # Every error is still there, values shown as [redacted].
    for want in ("t.yaml:4:18: error: unterminated ${ in [redacted]",
                 "t.yaml:5:21: error: bad variable name in [redacted]",
                 "t.yaml:6:21: error: kafka.sasl.jaas.config: Java JAAS configuration is not "
                 "supported",
                 "t.yaml:7:35: error: kafka.sasl.oauthbearer.client.secret: Configuration "
                 'property "sasl.oauthbearer.client.secret" not supported in this build',
                 "t.yaml:10:15: error: source.batch_size: expected an integer, got 'many'",
                 "t.yaml:11:3: error: source.api_key: unknown key",
                 "t.yaml:13:23: error: source.kafka: librdkafka properties take single values",
                 "t.yaml:16:3: error: sink.Secret_List: unknown key",
                 "t.yaml:16:17: error: unterminated ${ in [redacted]"):
        assert any(line.startswith(want) for line in lines), (want, sorted(lines))
    assert "9 errors" in lines, sorted(lines)


def secure_yaml():
    """secure.yaml without its credentials: one error per missing variable
    (no made-up defaults); with them, `configuration OK` and nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    p = subprocess.run([RECSTREAM, "validate", "-c", SECURE], env=env, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2, p
    missing = re.findall(r"environment variable (\w+) is not set", p.stderr)
    assert missing == ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_KEY_PASSWORD"], \
        p.stderr
    m = [marker("P"), marker("K"), marker("L")]
    env.update(KAFKA_SASL_USERNAME="recstream-video", KAFKA_SASL_PASSWORD=m[0],
               KAFKA_SSL_KEY_PASSWORD=m[1], KAFKA_SSL_KEY_LOCATION=f"/run/{m[2]}/client.key",
               RECSTREAM_LOG_LEVEL="debug")
    p = subprocess.run([RECSTREAM, "validate", "-c", SECURE], env=env, capture_output=True,
                       text=True, timeout=30)
    assert (p.returncode, p.stdout, p.stderr) == (0, "configuration OK\n", ""), p


# A self-signed certificate (no key: not a secret), for a client
# certificate that loads.
CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIIBoTCCAUegAwIBAgIUcOPHCKrMhqx44QcNoOMlpSpUVbMwCgYIKoZIzj0EAwIw
JTEjMCEGA1UEAwwacmVjc3RyZWFtIHRlc3QgY2VydGlmaWNhdGUwIBcNMjYxMjAx
MTY1MzIzWhgPMjEyNjExMDcxNjUzMjNaMCUxIzAhBgNVBAMMGnJlY3N0cmVhbSB0
ZXN0IGNlcnRpZmljYXRlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGFYXUtD2
p37505N3s1eYGUgh7M99ddL8BhM02ED1t5e+iA1QpEFnuB6Cz5g7TkHrwHe+mkw5
F/i3K5UDxVKXKKNTMFEwHQYDVR0OBBYEFEhgy1paETgrOgEBpvU6O+tRQ0NaMB8G
A1UdIwQYMBaAFEhgy1paETgrOgEBpvU6O+tRQ0NaMA8GA1UdEwEB/wQFMAMBAf8w
CgYIKoZIzj0EAwIDSAAwRQIhAI/7rwcdG9NuMsvwDdU0F0/0trk34QKP6obx6J1v
ZmUjAiAR9u6QE9GRJz6tA9z2qxGi4xijm0IzNLHmsXWCvaourQ==
-----END CERTIFICATE-----
"""


def tls_start_failure():
    """secure.yaml (less its CA, and with a certificate that loads, so that
    librdkafka gets to the private key) with a key file that is not there:
    `validate` leaves the absent files out, but the worker cannot start
    (exit 1) and says why, and neither librdkafka's error logs nor the
    start_failed line show the key's path or the passwords."""
    m = {k: marker(k) for k in ("P", "K", "L")}
    with tempfile.TemporaryDirectory() as tmp:
        text = "".join(line for line in open(SECURE)
                       if not line.lstrip().startswith("ssl.ca.location:"))
        text = text.replace("client.id: recstream-video\n",
                            "client.id: recstream-video\n  debug: security,conf\n")
        assert "debug: security" in text and "ssl.key.location" in text
        cert = os.path.join(tmp, "client.pem")
        open(cert, "w").write(CERTIFICATE)
        path = os.path.join(tmp, "tls.yaml")
        open(path, "w").write(text)
        env = dict(os.environ, KAFKA_BOOTSTRAP="127.0.0.1:1", KAFKA_SASL_USERNAME="u",
                   KAFKA_SASL_PASSWORD=m["P"], KAFKA_SSL_KEY_PASSWORD=m["K"],
                   KAFKA_SSL_KEY_LOCATION=f"/nonexistent/{m['L']}/client.key",
                   KAFKA_SSL_CERTIFICATE_LOCATION=cert, RECSTREAM_LOG_LEVEL="debug")
        p = subprocess.run([RECSTREAM, "validate", "-c", path], env=env, capture_output=True,
                           text=True, timeout=60)
        assert (p.returncode, p.stdout, p.stderr) == (0, "configuration OK\n", ""), p
        p = subprocess.run([RECSTREAM, "run", "-c", path], env=env, capture_output=True,
                           text=True, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 1, (p.returncode, out[-2000:])
    assert re.search(r"event=start_failed reason=\"ssl.key.location failed", out), out[-2000:]
    assert "Loading private key file from [redacted]" in out, out[-3000:]
    assert_no_marker(out, m.values())


def tail_x():
    """-X properties of tail (and produce) go through the same clients."""
    m = marker("X")
    p = subprocess.run([RECSTREAM, "tail", "-b", "127.0.0.1:1", "-t", "x",
                        "-X", "security.protocol=ssl", "-X", f"ssl.key.location=/nonexistent/{m}",
                        "-X", f"ssl.key.password={m}"],
                       env=dict(os.environ, RECSTREAM_LOG_LEVEL="debug"),
                       capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 1 and "ssl.key.location failed" in out, (p.returncode, out[-2000:])
    assert_no_marker(out, [m])
    p = subprocess.run([RECSTREAM, "tail", "-b", "127.0.0.1:1", "-t", "x",
                        "-X", f"sasl.password:{m}"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p
    assert p.stderr.startswith("recstream: tail: -X: takes key=value, not '[redacted]'\n"
                               "usage: recstream tail"), p.stderr
    assert_no_marker(p.stdout + p.stderr, [m])


class Broker:
    def __enter__(self):
        self.proc = subprocess.Popen([RECSTREAM, "dev-broker"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert re.match(r"^[\w.]+:\d+", self.bootstrap), self.bootstrap
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def run_debug_all():
    """`recstream run` at debug level with librdkafka's `debug: all`, on the
    dev broker: thousands of log lines, none with a marker, and the value
    librdkafka would have logged shown as [redacted]."""
    m = {k: marker(k) for k in ("P", "K", "L", "T", "S", "E", "J")}
    text = f"""name: secrets
kafka:
  bootstrap.servers: ${{KAFKA_BOOTSTRAP}}
  debug: all
  # The security keys are set, but plaintext to reach the dev broker.
  security.protocol: plaintext
  sasl.username: alice
  sasl.password: ${{RS_T_SASL_PASSWORD}}
  ssl.key.location: /nonexistent/{m['L']}/client.key
  ssl.key.password: {m['K']}
  sasl.kerberos.keytab: /nonexistent/{m['T']}.keytab
source:
  topics: [video.behavior]
  group: secrets.users
  kafka:
    session.timeout.ms: "6000"
    ssl.keystore.password: {m['S']}
stages: [{{type: passthrough}}]
http: {{port: 0}}
sink:
  kafka:
    ssl.key.pem: "{m['E']}"
    sasl.password: {m['J']}
"""
    with Broker() as broker, tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "secrets.yaml")
        open(path, "w").write(text)
        env = dict(os.environ, KAFKA_BOOTSTRAP=broker.bootstrap, RECSTREAM_LOG_LEVEL="debug",
                   RS_T_SASL_PASSWORD=m["P"])
        log = open(os.path.join(tmp, "worker.log"), "w+")
        out = open(os.path.join(tmp, "worker.out"), "w+")
        worker = subprocess.Popen([RECSTREAM, "run", "-c", path], env=env, stdout=out,
                                  stderr=log)
        try:
            deadline = time.time() + 60
            need = ("event=started", "component=rdkafka fac=CONF",
                    "sasl.kerberos.keytab = ", "event=assigned")
            seen = ""
            while time.time() < deadline and worker.poll() is None:
                seen = open(log.name).read()
                if all(n in seen for n in need):
                    break
                time.sleep(0.1)
            assert all(n in seen for n in need), [n for n in need if n not in seen]
        finally:
            worker.send_signal(signal.SIGTERM)
            rc = worker.wait(timeout=60)
        log.seek(0)
        out.seek(0)
        text = log.read() + out.read()
    assert rc == 0, (rc, text[-2000:])
    lines = text.splitlines()
    print(f"# {len(lines)} log lines at debug level with debug: all", flush=True)
    assert len(lines) > 200, len(lines)
    assert_no_marker(text, m.values())
    assert "sasl.kerberos.keytab = [redacted]" in text, "librdkafka's line was not scrubbed"


check("validate: bad secret values and other errors, every error reported, no secret shown",
      validate)
check("pipelines/secure.yaml needs its credentials from the environment and never shows them",
      secure_yaml)
check("a TLS start-up failure names no key path and no password", tls_start_failure)
check("tail -X: secrets of -X properties are not shown either", tail_x)
check("run at debug level with debug: all on the dev broker shows no secret", run_debug_all)
done()
