#!/usr/bin/python3
"""A small Dockerfile linter for docker/Dockerfile (no docker engine or
hadolint needed): prints one line per problem and exits 1 if any.

  scripts/lint-dockerfile.py [--context DIR] DOCKERFILE

Rules: every stage FROM debian:bookworm-slim (or an earlier stage), at
least two stages (build and runtime); the runtime stage runs as a numeric
non-root USER, has a HEALTHCHECK on /healthz at an EXPOSEd port (with curl
installed when it calls curl), sets ENV OPENBLAS_NUM_THREADS=1, installs
no compiler or -dev package; no ADD of a URL; COPY --from names an earlier
stage; COPY sources exist in the build context (DIR, default the
repository root); apt-get install with --no-install-recommends and the
lists removed; ENTRYPOINT and CMD in exec form, so SIGTERM reaches
recstream (it drains and commits) rather than a shell."""
import json
import os
import re
import shlex
import sys

BASE = "debian:bookworm-slim"
BUILD_TOOLS = {"build-essential", "gcc", "make", "clang", "cc", "pkg-config"}


def instructions(text):
    """[(line, INSTRUCTION, args)] with continuations joined, comments dropped."""
    out, buf, start = [], "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((start, word.upper(), rest.strip()))
        buf = ""
    if buf:
        out.append((start, "<unterminated>", buf))
    return out


def stages(ins):
    """[{name, base, line, ins: [...]}] split at FROM."""
    st = []
    for line, word, args in ins:
        if word == "FROM":
            parts = args.split()
            flags = [p for p in parts if p.startswith("--")]
            parts = [p for p in parts if not p.startswith("--")]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            st.append({"name": name, "base": parts[0] if parts else "", "line": line,
                       "flags": flags, "ins": []})
        elif st:
            st[-1]["ins"].append((line, word, args))
    return st


def apt_packages(args):
    """Packages an `apt-get install` in a RUN names."""
    pkgs = []
    for cmd in re.split(r"&&|;|\|\|", args):
        words = cmd.split()
        if "apt-get" in words and "install" in words:
            i = words.index("install")
            pkgs += [w for w in words[i + 1:] if not w.startswith("-")]
    return pkgs


def exec_form(args):
    try:
        v = json.loads(args)
    except ValueError:
        return False
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def lint(path, context):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    ins = instructions(text)
    st = stages(ins)
    errs = []

    def err(line, msg):
        errs.append(f"{path}:{line}: {msg}")

    if not st:
        return [f"{path}:1: no FROM"]
    for line, word, args in ins:
        if word == "<unterminated>":
            err(line, "a line continuation runs past the end of the file")
        if word == "ADD":
            if re.search(r"(^|\s)(https?|ftp)://", args) or "git@" in args:
                err(line, "ADD of a URL: download in a RUN with a checksum, or COPY")
        if word == "MAINTAINER":
            err(line, "MAINTAINER is deprecated: use a LABEL")
    names = []  # the stages before this one
    for s in st:
        if s["base"] != BASE and s["base"] not in names:
            err(s["line"], f"FROM {s['base']}: every stage is {BASE} (or an earlier stage)")
        for line, word, args in s["ins"]:
            if word == "COPY":
                words = args.split()
                frm = [w.split("=", 1)[1] for w in words if w.startswith("--from=")]
                for src in frm:
                    if src not in names:
                        err(line, f"COPY --from={src}: no earlier stage of that name")
                srcs = [w for w in words if not w.startswith("--")][:-1]
                if not frm:
                    for src in srcs:
                        if not os.path.exists(os.path.join(context, src)):
                            err(line, f"COPY {src}: not in the build context {context}")
            if word == "RUN" and "apt-get install" in args:
                if "--no-install-recommends" not in args:
                    err(line, "apt-get install without --no-install-recommends")
                if "rm -rf /var/lib/apt/lists" not in args:
                    err(line, "apt-get install without rm -rf /var/lib/apt/lists/* in the same RUN")
            if word == "RUN" and re.search(r"\b(curl|wget)\b[^|]*\|\s*(ba|da)?sh\b", args):
                err(line, "a downloaded script piped into a shell")
        if s["name"]:
            names.append(s["name"])
    if len(st) < 2:
        err(st[0]["line"], "one stage: build in one stage, run in another without the compilers")
    if not any(w == "RUN" and re.search(r"\bmake\b", a) for s in st[:-1] for _, w, a in s["ins"]):
        err(st[0]["line"], "no build stage runs make")

    rt = st[-1]
    rins = rt["ins"]
    users = [(line, a) for line, w, a in rins if w == "USER"]
    if not users:
        err(rt["line"], "the runtime stage has no USER: it would run as root")
    else:
        line, u = users[-1]
        m = re.fullmatch(r"(\d+)(?::(\d+))?", u.strip())
        if not m:
            err(line, f"USER {u}: not numeric uid[:gid] (runAsNonRoot cannot check a name)")
        elif int(m.group(1)) == 0 or (m.group(2) and int(m.group(2)) == 0):
            err(line, f"USER {u}: root")
    env = {}
    for _, w, a in rins:
        if w == "ENV":
            for tok in shlex.split(a):
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    env[k] = v
            if "=" not in a.split()[0]:
                k, _, v = a.partition(" ")
                env[k] = v.strip()
    if env.get("OPENBLAS_NUM_THREADS") != "1":
        err(rt["line"], "the runtime stage does not set ENV OPENBLAS_NUM_THREADS=1")
    exposed = set()
    for _, w, a in rins:
        if w == "EXPOSE":
            exposed |= {p.split("/")[0] for p in a.split()}
    hcs = [(line, a) for line, w, a in rins if w == "HEALTHCHECK"]
    pkgs = [p for _, w, a in rins if w == "RUN" for p in apt_packages(a)]
    if not hcs:
        err(rt["line"], "the runtime stage has no HEALTHCHECK")
    else:
        line, a = hcs[-1]
        if a.strip().upper() == "NONE":
            err(line, "HEALTHCHECK NONE")
        m = re.search(r"localhost:(\d+)/healthz", a)
        if not m:
            err(line, "HEALTHCHECK does not ask http://localhost:PORT/healthz")
        elif m.group(1) not in exposed:
            err(line, f"HEALTHCHECK port {m.group(1)} is not EXPOSEd ({sorted(exposed)})")
        cmd = a[a.find("CMD") + 3:].strip() if "CMD" in a else ""
        if exec_form(cmd):
            tool = json.loads(cmd)[0]
        else:
            tool = cmd.split()[0] if cmd.split() else ""
        if os.path.basename(tool) == "curl" and "curl" not in pkgs:
            err(line, "HEALTHCHECK runs curl, which the runtime stage does not install")
    for p in pkgs:
        if p.endswith("-dev") or p in BUILD_TOOLS:
            err(rt["line"], f"the runtime stage installs {p}: build tools belong in the build stage")
    for line, w, a in rins:
        if w in ("ENTRYPOINT", "CMD") and not exec_form(a):
            err(line, f"{w} in shell form: SIGTERM would go to /bin/sh, not recstream")
    if not any(w == "ENTRYPOINT" for _, w, _ in rins):
        err(rt["line"], "the runtime stage has no ENTRYPOINT")
    return errs


def main(argv):
    context = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--context":
        context, args = args[1], args[2:]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[3], file=sys.stderr)
        return 2
    errs = lint(args[0], context)
    for e in errs:
        print(e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
