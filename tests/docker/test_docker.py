"""docker/ and docker/k8s/, checked offline (no docker engine, no
cluster): the Dockerfile by scripts/lint-dockerfile.py (and the linter by
files it must reject), the compose file and the Kubernetes objects parsed
with PyYAML and checked against what the pipelines they run need: every
pipeline they mount passes `recstream validate` with exactly the
environment the service or pod gives it, the topics the compose file
creates are the ones the pipeline uses (partitions and cleanup.policy),
probes, users, secrets and memory are consistent. Issue 12, items 8-9."""
import os
import re
import shlex
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from tap import RECSTREAM, ROOT, check, done  # noqa: E402

DOCKER = os.path.join(ROOT, "docker")
K8S = os.path.join(DOCKER, "k8s")
DOCKERFILE = os.path.join(DOCKER, "Dockerfile")
COMPOSE = os.path.join(DOCKER, "docker-compose.yml")
LINT = os.path.join(ROOT, "scripts", "lint-dockerfile.py")
HTTP_PORT = 9464           # http.port's default (issue 12, item 1)
LOCAL_IMAGE = "recstream:local"
STAND_IN = "stand-in"

sys.path.insert(0, os.path.join(ROOT, "scripts"))


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def validate(text, env, name="pipeline.yaml"):
    """`recstream validate` of pipeline text with only `env` (and PATH)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        r = subprocess.run([RECSTREAM, "validate", "-c", path],
                           env=dict(env, PATH=os.environ.get("PATH", "/usr/bin:/bin")),
                           capture_output=True, text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


def duration_ms(s):
    units = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(s))
    assert m, s
    return int(m.group(1)) * units[m.group(2)]


def stage_types(pipeline):
    return [s["type"] for s in pipeline["stages"]]


def video():
    return load(os.path.join(ROOT, "pipelines", "video.yaml"))


# --- Dockerfile ---------------------------------------------------------

def lint(path):
    r = subprocess.run([sys.executable, LINT, "--context", ROOT, path],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout


def dockerfile_lints_clean():
    rc, out = lint(DOCKERFILE)
    assert rc == 0 and not out, out


def linter_rejects_bad_files():
    with open(DOCKERFILE, encoding="utf-8") as f:
        good = f.read()
    cases = [
        ("USER 65534:65534", "USER nobody", "not numeric"),
        ("USER 65534:65534", "USER 0", "root"),
        ("USER 65534:65534\n", "", "no USER"),
        ("FROM debian:bookworm-slim AS runtime", "FROM ubuntu:24.04 AS runtime", "every stage is"),
        ("HEALTHCHECK --interval", "# HEALTHCHECK --interval", "no HEALTHCHECK"),
        ("http://localhost:9464/healthz", "http://localhost:9464/", "/healthz"),
        ("EXPOSE 9464", "EXPOSE 8080", "not EXPOSEd"),
        ("ca-certificates curl", "ca-certificates", "does not install"),
        ("ENV OPENBLAS_NUM_THREADS=1", "ENV OPENBLAS_NUM_THREADS=4", "OPENBLAS_NUM_THREADS=1"),
        ("COPY pipelines /etc/recstream/pipelines",
         "ADD https://example.com/p.tar.gz /etc/recstream/", "ADD of a URL"),
        ('ENTRYPOINT ["/usr/local/bin/recstream"]', "ENTRYPOINT /usr/local/bin/recstream",
         "shell form"),
        ("libmicrohttpd12 \\", "libmicrohttpd12 libyaml-dev \\", "installs libyaml-dev"),
        ("COPY --from=build", "COPY --from=builder", "no earlier stage"),
        ("COPY scripts scripts", "COPY scripts-gone scripts", "not in the build context"),
        ("RUN make -j", "RUN true -j", "runs make"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "Dockerfile")
        for old, new, want in cases:
            assert old in good, old
            with open(bad, "w", encoding="utf-8") as f:
                f.write(good.replace(old, new, 1))
            rc, out = lint(bad)
            assert rc == 1 and want in out, (old, new, rc, out)
        # and one stage is not enough
        runtime = good[good.index("FROM debian:bookworm-slim AS runtime"):]
        with open(bad, "w", encoding="utf-8") as f:
            f.write(runtime.replace("COPY --from=build /src/build/recstream", "COPY build/recstream"))
        rc, out = lint(bad)
        assert rc == 1 and "one stage" in out and "runs make" in out, out


def makefile_var(name):
    with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    m = re.search(rf"^{name}\s*:=(.*)$", text, re.M)
    assert m, name
    return m.group(1).split()


def image_packages():
    import importlib
    ld = importlib.import_module("lint-dockerfile")
    with open(DOCKERFILE, encoding="utf-8") as f:
        st = ld.stages(ld.instructions(f.read()))
    pk = [[p for _, w, a in s["ins"] if w == "RUN" for p in ld.apt_packages(a)] for s in st]
    return st, pk


# the shared library each build dependency's -dev package links against
RUNTIME_OF = {"librdkafka-dev": "librdkafka1", "libavro-dev": "libavro23",
              "libopenblas-dev": "libopenblas0", "libyaml-dev": "libyaml-0-2",
              "libmicrohttpd-dev": "libmicrohttpd12", "zlib1g-dev": "zlib1g"}
TEST_ONLY = {"libcmocka-dev", "libclang-rt-14-dev"}


def image_has_the_build_dependencies():
    st, pk = image_packages()
    build = set().union(*pk[:-1])
    runtime = set(pk[-1])
    devs = [p for p in makefile_var("APT_PKGS") if p.endswith("-dev") and p not in TEST_ONLY]
    assert devs, "no -dev packages in the Makefile's APT_PKGS"
    for p in devs + ["build-essential", "pkg-config"]:
        assert p in build, f"the Makefile builds with {p}; the image's build stage lacks it"
    for p in (p for p in build if p.endswith("-dev")):
        assert p in RUNTIME_OF, f"{p}: name its runtime library in RUNTIME_OF (and install it)"
        assert any(r.startswith(RUNTIME_OF[p]) for r in runtime), \
            f"{p} is built against, its runtime library {RUNTIME_OF[p]} is not installed"
    assert "ca-certificates" in runtime  # TLS to the brokers
    with open(os.path.join(ROOT, ".dockerignore"), encoding="utf-8") as f:
        ignored = f.read().split()
    assert "build/" in ignored and ".git/" in ignored, ignored


def dockerfile_user():
    with open(DOCKERFILE, encoding="utf-8") as f:
        users = re.findall(r"^USER\s+(\d+):(\d+)\s*$", f.read(), re.M)
    assert users
    return tuple(int(x) for x in users[-1])


# --- compose ------------------------------------------------------------

def compose():
    return load(COMPOSE)


def recstream_services(c):
    return {n: s for n, s in c["services"].items()
            if s.get("image") == LOCAL_IMAGE or "build" in s}


def image_paths():
    """Image path -> repository path, from the Dockerfile's COPY lines."""
    out = {}
    with open(DOCKERFILE, encoding="utf-8") as f:
        for src, dst in re.findall(r"^COPY\s+(?!--)(\S+)\s+(\S+)\s*$", f.read(), re.M):
            out[dst] = os.path.join(ROOT, src)
    return out


def pipeline_of(svc, base_dir):
    """(repository path, image path) of the pipeline a service runs (-c)."""
    cmd = svc.get("command") or []
    if "-c" not in cmd:
        return None, None
    target = cmd[cmd.index("-c") + 1]
    for v in svc.get("volumes", []):
        src, dst = v.split(":")[:2]
        if dst == target:
            return os.path.normpath(os.path.join(base_dir, src)), target
        if target.startswith(dst.rstrip("/") + "/"):
            return os.path.normpath(os.path.join(base_dir, src, target[len(dst):].lstrip("/"))), target
    for dst, src in image_paths().items():
        if target == dst:
            return src, target
        if target.startswith(dst.rstrip("/") + "/"):
            return os.path.join(src, target[len(dst):].lstrip("/")), target
    raise AssertionError(f"{target}: neither mounted nor in the image")


def compose_parses_and_builds():
    c = compose()
    assert set(c["services"]) >= {"kafka", "producer", "tail"}, list(c["services"])
    builders = []
    for name, s in c["services"].items():
        assert "image" in s or "build" in s, f"{name}: neither image nor build"
        if "build" in s:
            b = s["build"]
            ctx = os.path.normpath(os.path.join(DOCKER, b["context"] if isinstance(b, dict) else b))
            assert os.path.isdir(ctx), ctx
            df = os.path.join(ctx, b.get("dockerfile", "Dockerfile")) if isinstance(b, dict) else \
                os.path.join(ctx, "Dockerfile")
            assert os.path.samefile(df, DOCKERFILE), df
            builders.append(s.get("image"))
        elif s["image"] == LOCAL_IMAGE:
            assert s.get("pull_policy") == "never", f"{name}: the local image is never pulled"
        else:
            repo, _, tag = s["image"].rpartition(":")
            assert repo and tag and tag != "latest", f"{name}: pin {s['image']}"
        for dep in s.get("depends_on", {}):
            assert dep in c["services"], f"{name} depends on {dep}"
        for v in s.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith(".") or src.startswith("/"):
                assert os.path.exists(os.path.join(DOCKER, src)), f"{name}: {src} is not there"
    assert builders == [LOCAL_IMAGE], f"exactly one service builds {LOCAL_IMAGE}: {builders}"


def kafka_is_kraft_with_a_host_listener():
    c = compose()
    k = c["services"]["kafka"]
    assert k["image"].startswith("apache/kafka:"), k["image"]
    env = {n: str(v) for n, v in k["environment"].items()}
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env.get("CLUSTER_ID", "")), env.get("CLUSTER_ID")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in n for n in env)
    node = env["KAFKA_NODE_ID"]
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert any(v.startswith(node + "@") for v in voters), voters
    listeners = dict(re.match(r"(\w+)://([^,]*)", x).groups()
                     for x in env["KAFKA_LISTENERS"].split(","))
    adv = dict(re.match(r"(\w+)://([^,]*)", x).groups()
               for x in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protos = dict(x.split(":") for x in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protos), (listeners, protos)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    # the host: a listener advertised as localhost:9092, published as 9092
    host = [n for n, a in adv.items() if a == "localhost:9092"]
    assert host, adv
    assert listeners[host[0]].endswith(":9092")
    assert "9092:9092" in [str(p) for p in k["ports"]], k["ports"]
    # the containers: the internal listener is what the recstream services use
    internal = env.get("KAFKA_INTER_BROKER_LISTENER_NAME")
    assert internal in adv and adv[internal] != "localhost:9092"
    for name, s in recstream_services(c).items():
        assert s["environment"]["KAFKA_BOOTSTRAP"] == adv[internal], name
        cmd = s.get("command", [])
        if "-b" in cmd:
            assert cmd[cmd.index("-b") + 1] == adv[internal], name
    assert env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false"
    assert "healthcheck" in k


def created_topics():
    c = compose()
    t = c["services"]["topics"]
    rows = {}
    for line in t["environment"]["TOPICS"].splitlines():
        if line.strip():
            name, parts, policy = line.split()
            rows[name] = (int(parts), policy)
    script = " ".join(t["command"]) if isinstance(t["command"], list) else t["command"]
    assert "--create" in script and "--if-not-exists" in script and "cleanup.policy" in script
    assert t.get("restart") == "no"
    return rows


def topics_match_the_pipeline():
    c = compose()
    rows = created_topics()
    workers = {n: s for n, s in recstream_services(c).items()
               if (s.get("command") or [None])[0] == "run"}
    paths = {pipeline_of(s, DOCKER)[0] for s in workers.values()}
    assert len(paths) == 1, paths
    p = load(paths.pop())
    name = p["name"]
    topo = p.get("topology", {})
    parts = int(topo.get("partitions", 6))
    state = p.get("state", {})
    src = p["source"]["topics"]
    inputs = min(rows[t][0] for t in src)
    want = {t: ("delete", None) for t in src}
    want[p["sink"].get("topic", "video.recs")] = ("compact", None)
    want[topo.get("deltas_topic", f"{name}.cooc-deltas")] = ("delete", parts)
    want[topo.get("neighbors_topic", f"{name}.item-neighbors")] = ("compact", parts)
    want[state.get("users_topic", f"{name}.users-changelog")] = ("compact", inputs)
    want[state.get("items_topic", f"{name}.items-changelog")] = ("compact", parts)
    dlq = p.get("dlq", {})
    for t in src:
        want[dlq.get("topic", f"{t}.dlq")] = ("delete", None)
    if "items" in p:
        want[p["items"]["topic"]] = ("compact", None)
        want[dlq.get("topic", p["items"]["topic"] + ".dlq")] = ("delete", None)
    for t, (policy, n) in want.items():
        assert t in rows, f"{t} is not created (the broker creates no topics)"
        assert rows[t][1] == policy, f"{t}: cleanup.policy {rows[t][1]}, want {policy}"
        if n is not None:
            assert rows[t][0] >= n if t.endswith("users-changelog") else rows[t][0] == n, \
                f"{t}: {rows[t][0]} partitions, want {n}"
    assert set(rows) == set(want), f"created but unused: {set(rows) - set(want)}"


def workers_replicated_and_restarted():
    c = compose()
    rows = created_topics()
    roles = {}
    for name, s in recstream_services(c).items():
        cmd = s.get("command") or []
        if cmd[:1] != ["run"]:
            continue
        role = cmd[cmd.index("--role") + 1] if "--role" in cmd else "all"
        reps = s.get("deploy", {}).get("replicas", 1)
        roles[role] = roles.get(role, 0) + reps
        assert s.get("restart") in ("on-failure", "always", "unless-stopped") or \
            s.get("deploy", {}).get("restart_policy"), f"{name}: no restart policy"
        assert "container_name" not in s and not s.get("ports"), \
            f"{name}: a fixed name or host port stops its replicas"
        p = load(pipeline_of(s, DOCKER)[0])
        grace = duration_ms(s.get("stop_grace_period", "10s"))
        assert grace >= duration_ms(p.get("shutdown_timeout", "30s")) + 5000, name
    assert "all" in roles or {"users", "items"} <= set(roles), roles
    assert roles.get("users", 0) + roles.get("all", 0) >= 2, "replicas: at least two"
    p = load(pipeline_of(c["services"]["worker-users"], DOCKER)[0])
    inputs = min(rows[t][0] for t in p["source"]["topics"])
    assert roles.get("users", 0) <= inputs, "more user-side replicas than input partitions"


def producer_and_tail():
    c = compose()
    p = load(pipeline_of(c["services"]["worker-users"], DOCKER)[0])
    prod = c["services"]["producer"]["command"]
    assert prod[0] == "produce" and "--generate" in prod
    assert int(prod[prod.index("--generate") + 1]) > 0
    assert prod[prod.index("-t") + 1] in p["source"]["topics"]
    tail = c["services"]["tail"]["command"]
    assert tail[0] == "tail" and tail[tail.index("-t") + 1] == p["sink"]["topic"]
    assert "--max" in tail  # ends by itself
    for n in ("producer", "tail"):
        assert c["services"][n].get("restart") == "no"
        assert c["services"][n].get("healthcheck", {}).get("disable") is True, \
            f"{n}: no HTTP port, the image's HEALTHCHECK would call it unhealthy"


def compose_pipelines_validate():
    c = compose()
    seen = 0
    for name, s in recstream_services(c).items():
        path, _ = pipeline_of(s, DOCKER)
        if not path:
            continue
        env = {k: str(v) for k, v in (s.get("environment") or {}).items()}
        with open(path, encoding="utf-8") as f:
            text = f.read()
        rc, out = validate(text, env)
        assert (rc, out) == (0, "configuration OK"), f"{name}: {path}: {out}"
        seen += 1
    # mounted or baked in, every pipeline file under docker/ validates too
    for f in os.listdir(DOCKER):
        if f.endswith(".yaml") and f != "docker-compose.yml":
            with open(os.path.join(DOCKER, f), encoding="utf-8") as fh:
                rc, out = validate(fh.read(), {"KAFKA_BOOTSTRAP": "kafka:19092"})
            assert (rc, out) == (0, "configuration OK"), f"{f}: {out}"
    assert seen >= 2, seen
    # and the check can fail: a typo in the mounted pipeline is caught
    path, _ = pipeline_of(c["services"]["worker-users"], DOCKER)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    rc, out = validate(text.replace("batch_size:", "batch_sise:"), {})
    assert rc == 2 and "source.batch_sise: unknown key" in out, out


def compose_pipeline_runs_the_shipped_stages():
    p = load(os.path.join(DOCKER, "pipeline.yaml"))
    assert p["stages"] == video()["stages"], "docker/pipeline.yaml's stages differ from video.yaml's"


# --- Kubernetes ---------------------------------------------------------

def k8s_objects():
    out = []
    for f in sorted(os.listdir(K8S)):
        if f.endswith((".yaml", ".yml")):
            for d in load_all(os.path.join(K8S, f)):
                out.append((f, d))
    return out


def k8s_objects_well_formed():
    objs = k8s_objects()
    kinds = [d.get("kind") for _, d in objs]
    for f, d in objs:
        assert isinstance(d, dict), f
        assert d.get("apiVersion") and d.get("kind"), f"{f}: apiVersion/kind"
        if d["kind"] == "Kustomization":
            continue
        assert isinstance(d.get("metadata"), dict) and d["metadata"].get("name"), f"{f}: metadata.name"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", d["metadata"]["name"])
    for k in ("ConfigMap", "Deployment", "PodDisruptionBudget", "Secret"):
        assert k in kinds, f"no {k}"
    api = {"Deployment": "apps/v1", "PodDisruptionBudget": "policy/v1", "ConfigMap": "v1",
           "Secret": "v1", "Service": "v1", "StatefulSet": "apps/v1"}
    for f, d in objs:
        if d["kind"] in api:
            assert d["apiVersion"] == api[d["kind"]], (f, d["kind"], d["apiVersion"])
    kust = [d for _, d in objs if d["kind"] == "Kustomization"]
    if kust:
        res = kust[0]["resources"]
        for r in res:
            assert os.path.exists(os.path.join(K8S, r)), r
        files = {f for f, d in objs if d["kind"] != "Kustomization" and ".example." not in f}
        assert files == set(res), (files, res)


def workloads():
    return [(f, d) for f, d in k8s_objects() if d["kind"] in ("Deployment", "StatefulSet")]


def container(d):
    cs = d["spec"]["template"]["spec"]["containers"]
    assert len(cs) == 1
    return cs[0]


def port_number(c, port):
    if isinstance(port, int):
        return port
    for p in c.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError(f"no port named {port}")


def k8s_roles_probes_and_budgets():
    wl = workloads()
    roles = {}
    pdbs = [d for _, d in k8s_objects() if d["kind"] == "PodDisruptionBudget"]
    uid, gid = dockerfile_user()
    for f, d in wl:
        spec = d["spec"]
        labels = spec["template"]["metadata"]["labels"]
        sel = spec["selector"]["matchLabels"]
        assert sel.items() <= labels.items(), f"{f}: selector does not match its pods"
        c = container(d)
        args = c.get("args") or c.get("command") or []
        role = args[args.index("--role") + 1] if "--role" in args else "all"
        roles[role] = d
        assert [p["containerPort"] for p in c["ports"]] == [HTTP_PORT], c["ports"]
        lp, rp = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
        assert lp["path"] == "/healthz" and port_number(c, lp["port"]) == HTTP_PORT
        assert rp["path"] == "/readyz" and port_number(c, rp["port"]) == HTTP_PORT
        pod = spec["template"]["spec"]
        sc = dict(pod.get("securityContext", {}), **c.get("securityContext", {}))
        assert sc.get("runAsNonRoot") is True
        assert (sc.get("runAsUser"), sc.get("runAsGroup")) in ((uid, gid), (None, None)), sc
        assert c.get("securityContext", {}).get("allowPrivilegeEscalation") is False
        assert c["image"].split("/")[-1].split(":")[0] == LOCAL_IMAGE.split(":")[0]
        if d["kind"] == "StatefulSet":
            assert spec.get("volumeClaimTemplates"), f"{f}: a StatefulSet is for state_dir"
        match = [p for p in pdbs if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(match) == 1, f"{f}: {len(match)} PodDisruptionBudgets select its pods"
        ps = match[0]["spec"]
        reps = spec.get("replicas", 1)
        if "maxUnavailable" in ps:
            assert 0 < int(ps["maxUnavailable"]) < reps
        else:
            assert 0 < int(ps["minAvailable"]) < reps
    assert "all" in roles or {"users", "items"} <= set(roles), sorted(roles)


def quantity(q):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?", str(q))
    assert m, q
    mult = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    return float(m.group(1)) * mult[m.group(2)]


def k8s_memory_from_the_capacity_model():
    with open(os.path.join(DOCKER, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for f, d in workloads():
        r = container(d)["resources"]
        req, lim = r["requests"]["memory"], r["limits"]["memory"]
        assert quantity(req) <= quantity(lim), (f, req, lim)
        assert quantity(req) >= 256 * 2**20, (f, req)
        assert "cpu" not in r.get("limits", {}), f"{f}: a CPU limit throttles the poll loop"
        # the numbers are the documented model's
        name = d["metadata"]["name"]
        row = [line for line in readme.splitlines() if line.startswith(f"| `{name}` |")]
        assert row and req in row[0] and lim in row[0], f"{name} {req}/{lim} not in docker/README.md"


def pod_env(c):
    """The environment the container gets; secrets and fields as stand-ins,
    and the Secret keys it reads."""
    env, refs = {}, []
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
            assert not re.search(r"PASSWORD|SECRET|TOKEN", e["name"]), \
                f"{e['name']}: a literal value; take it from a Secret"
        else:
            vf = e["valueFrom"]
            if "secretKeyRef" in vf:
                refs.append((vf["secretKeyRef"]["name"], vf["secretKeyRef"]["key"]))
            env[e["name"]] = STAND_IN
    return env, refs


def k8s_pipeline_validates():
    objs = k8s_objects()
    cms = {d["metadata"]["name"]: d for _, d in objs if d["kind"] == "ConfigMap"}
    secrets = {d["metadata"]["name"]: d for _, d in objs if d["kind"] == "Secret"}
    for f, d in workloads():
        c = container(d)
        pod = d["spec"]["template"]["spec"]
        args = c.get("args", [])
        target = args[args.index("-c") + 1]
        vols = {v["name"]: v for v in pod["volumes"]}
        mount = [m for m in c["volumeMounts"]
                 if target == m["mountPath"] or target.startswith(m["mountPath"].rstrip("/") + "/")]
        assert len(mount) == 1, f"{f}: {target} is not mounted"
        m = mount[0]
        cm = cms[vols[m["name"]]["configMap"]["name"]]
        key = m.get("subPath") or target[len(m["mountPath"]):].lstrip("/")
        text = cm["data"][key]
        env, refs = pod_env(c)
        assert refs, f"{f}: no secret from a Secret"
        for name, k in refs:
            assert name in secrets, f"{f}: Secret {name} is not in docker/k8s"
            assert k in secrets[name].get("stringData", secrets[name].get("data", {})), (name, k)
        rc, out = validate(text, env)
        assert (rc, out) == (0, "configuration OK"), f"{f}: {out}"
        # every secret key's value is a ${VAR}, never the secret itself
        p = yaml.safe_load(text)
        for k, v in p["kafka"].items():
            if re.search(r"password|secret|sasl\.jaas", k):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", str(v)), (k, v)
        # without the Secret's variables the pod would not start
        for var in [e["name"] for e in c["env"] if "secretKeyRef" in e.get("valueFrom", {})]:
            rc, out = validate(text, {k: v for k, v in env.items() if k != var})
            assert rc == 2 and f"environment variable {var} is not set" in out, (var, out)
        grace = pod.get("terminationGracePeriodSeconds", 30) * 1000
        assert grace >= duration_ms(p.get("shutdown_timeout", "30s")) + 5000, f
        assert stage_types(p) == stage_types(video()), "k8s pipeline: video.yaml's stages"


def readme_commands():
    with open(os.path.join(DOCKER, "README.md"), encoding="utf-8") as f:
        text = f.read()
    for want in ("docker build -f docker/Dockerfile", "docker compose -f docker/docker-compose.yml up",
                 "kcat -b localhost:9092", "run --rm tail", "kubectl apply -k docker/k8s",
                 "kubectl create secret generic recstream-kafka"):
        assert want in text, want
    c = compose()
    for svc in c["services"]:
        assert f"`{svc}`" in text, f"docker/README.md does not name the service {svc}"


check("Dockerfile passes scripts/lint-dockerfile.py", dockerfile_lints_clean)
check("the linter rejects each rule's violation", linter_rejects_bad_files)
check("image: the Makefile's build dependencies, their runtime libraries", image_has_the_build_dependencies)
check("compose: parsed, every service's image or build sane", compose_parses_and_builds)
check("compose: KRaft broker, CLUSTER_ID, a localhost:9092 listener", kafka_is_kraft_with_a_host_listener)
check("compose: topics created as the pipeline needs them", topics_match_the_pipeline)
check("compose: worker replicas per role, restart policy, grace period", workers_replicated_and_restarted)
check("compose: the sample producer and a tail consumer", producer_and_tail)
check("compose: every pipeline mounted passes recstream validate", compose_pipelines_validate)
check("compose: docker/pipeline.yaml runs video.yaml's stages", compose_pipeline_runs_the_shipped_stages)
check("k8s: every object has apiVersion, kind, metadata", k8s_objects_well_formed)
check("k8s: a workload per role, probes on 9464, non-root, a PDB each", k8s_roles_probes_and_budgets)
check("k8s: memory requests and limits from the capacity model", k8s_memory_from_the_capacity_model)
check("k8s: the ConfigMap's pipeline validates with the pods' env and Secret", k8s_pipeline_validates)
check("docker/README.md has the commands", readme_commands)
done()
