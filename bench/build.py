"""Benchmark: ``minidocker build`` against ``buildah build --layers``, cold and cached.

Run as root with the project's virtualenv, from anywhere::

    /work/main/.venv/bin/python bench/build.py [--reps 5] [--warmup 1] \
        [--workdir DIR] [--json OUT] [--no-breakdown]

Both tools build the same 10-step Dockerfile (FROM busybox; ARG; ENV; three
RUN steps writing files, one of them 200 files; WORKDIR; COPY of a small
context directory; LABEL; CMD) from identical context directories. Every
repetition, for each tool in turn (the order alternates each repetition):

0. reset (untimed): the built image and the whole build cache are removed,
   only the base image stays (minidocker: ``rmi`` + ``system prune -f``;
   buildah: ``rmi -f`` + ``rmi --prune`` + ``rm -a``); the context's
   ``app/a.txt`` gets its original content back;
1. **cold**: ``minidocker build --no-cache`` / ``buildah build --layers --no-cache``;
2. **cached**: the same build again, nothing changed: every step must come
   from the cache (checked: 9 × ``CACHED`` / ``Using cache`` in the output);
3. **changed**: ``app/a.txt`` (copied by COPY, step 8) gets new content and
   the build runs again: steps 2-7 must be cached (checked), COPY, LABEL and
   CMD rebuild.

Each build is one process timed from outside (``time.perf_counter`` around
``subprocess.run``, output captured to count the cache hits). ``--warmup``
untimed repetitions come first. The report gives medians per scenario, the
ratio minidocker/buildah, and whether the target "fully cached rebuild ≤ 0.2×
buildah's" is met.

minidocker: ``.venv/bin/minidocker`` with ``MINIDOCKER_ROOT`` in the run
directory; the base image comes from ``minidocker bootstrap busybox`` (the
host's busybox-static). Bytecode is what ``dev.sh`` precompiles
(``PYTHONPYCACHEPREFIX``, the caller's ``PYTHONDONTWRITEBYTECODE`` removed), as
an installed package would have it.

buildah (skipped with a message when not installed -- ``apt-get install -y
buildah``; nothing is installed by this script): private ``--root`` and
``--runroot`` in the run directory, ``--cgroup-manager=cgroupfs``,
``--storage-driver=overlay`` (vfs if overlay fails; reported), a private
``containers.conf`` (``CONTAINERS_CONF``: cgroupfs, ``events_logger=file``,
``default_ulimits nofile=20000:20000``), ``--ulimit nofile=20000:20000``,
``--pull=never``, ``TMPDIR`` in the run directory. The base image is the same
busybox: ``minidocker save busybox`` then ``buildah pull docker-archive:…``,
tagged ``docker.io/library/busybox:latest`` so that ``FROM busybox`` resolves
locally. Isolation is probed once with a two-step build, in this order: OCI
with buildah's default runtime (crun 1.8 refuses a cgroup v1/v2 hybrid host),
OCI with ``--runtime runc``, ``--isolation chroot``; the first that works is
used and reported.

The breakdown (skip with ``--no-breakdown``) looks at one fully cached
minidocker rebuild from the inside, after the timed runs: the interpreter
floor (``python -c pass``), the import time of every module the build loads
(pre-imported, then timed), and the time of ``cli.main`` split into phases by
wrapping builder/store functions with timers in the driver process (nothing
in minidocker is changed); plus ``-X importtime``'s heaviest modules and a
cProfile top list.

Everything lives in ``<workdir>/run-<pid>/`` (default workdir
``bench/out/build/``, git-ignored) and is removed in ``finally`` blocks:
buildah ``rm -a`` / ``rmi -a -f``, anything mounted below the run directory
is unmounted (``umount -l``), minidocker ``system prune -a -f``, then the
directories are deleted. Run directories left by an interrupted run whose
process is gone are cleaned the same way at the start.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import Failed, cgroup_layout, check, log, pid_alive, version

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV_BIN = REPO / ".venv" / "bin"
MINIDOCKER = VENV_BIN / "minidocker"
VENV_PY = VENV_BIN / "python"
DEVNULL = subprocess.DEVNULL
TAG = "bench-build:latest"
TARGET_RATIO = 0.2
SCENARIOS = ("cold", "cached", "changed")
# Steps 2..10 can hit the cache; on "changed" the first 6 of them (ARG .. RUN) do.
EXPECTED_HITS = {"cold": 0, "cached": 9, "changed": 6}
ULIMIT = "nofile=20000:20000"

DOCKERFILE = """\
FROM busybox
ARG GREETING=hello
ENV APP_HOME=/opt/app APP_MODE=bench
RUN mkdir -p /opt/app && echo "$GREETING from $APP_MODE" > /opt/app/greeting.txt
RUN for i in $(seq 1 200); do echo $i > /opt/app/f$i; done
WORKDIR /opt/app
RUN echo built > stamp && ls | wc -l > count.txt
COPY app/ /opt/app/src/
LABEL org.example.bench="minidocker build benchmark"
CMD ["sh", "-c", "cat /opt/app/greeting.txt"]
"""

CONTEXT_FILES = {
    "app/a.txt": "alpha\n",
    "app/b.txt": "bravo\n" * 20,
    "app/main.sh": "#!/bin/sh\necho hello from the app\n",
    "app/conf/settings.ini": "[app]\nname = bench\nlevel = 3\n",
}
CHANGED_FILE = "app/a.txt"

CONTAINERS_CONF = f"""\
# bench/build.py: buildah's configuration for this run only (CONTAINERS_CONF)
[containers]
default_ulimits = ["{ULIMIT}"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""












def _last_lines(text: str, n: int = 3) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return " | ".join(lines[-n:]) if lines else "(no output)"




# -- mounts and cleaning up ---------------------------------------------------------

def _unescape(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mounts_below(directory: Path) -> list[str]:
    prefix = str(directory).rstrip("/") + "/"
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = _unescape(line.split()[4])
            if point.startswith(prefix) or point == prefix.rstrip("/"):
                out.append(point)
    return out


def umount_below(directory: Path) -> list[str]:
    """Lazily unmount everything mounted at or below ``directory``, deepest first."""
    done = []
    for _ in range(5):  # stacked mounts need several passes
        points = sorted(set(mounts_below(directory)), key=len, reverse=True)
        if not points:
            break
        for p in points:
            if subprocess.run(["umount", "-l", p], stdout=DEVNULL, stderr=DEVNULL).returncode == 0:
                done.append(p)
    return done


def buildah_cleanup(base_argv: list[str] | None, env: dict[str, str], run: Path) -> list[str]:
    notes = []
    if base_argv and (run / "buildah-root").exists():
        for extra in (["rm", "-a"], ["rmi", "-a", "-f"]):
            p = subprocess.run(base_argv + extra, env=env, stdin=DEVNULL, capture_output=True,
                               text=True, timeout=300)
            if p.returncode != 0:
                notes.append(f"buildah {' '.join(extra)}: exit {p.returncode}: {_last_lines(p.stderr)}")
    left = umount_below(run)
    if left:
        notes.append(f"unmounted {len(left)} mount(s) left below {run}")
    for d in ("buildah-root", "buildah-runroot"):
        shutil.rmtree(run / d, ignore_errors=True)
    return notes


def minidocker_cleanup(env: dict[str, str], state: Path) -> list[str]:
    notes = []
    if state.is_dir() and MINIDOCKER.exists():
        p = subprocess.run([str(MINIDOCKER), "system", "prune", "-a", "-f"], env={**env, "MINIDOCKER_ROOT": str(state)},
                           stdin=DEVNULL, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            notes.append(f"minidocker system prune -a -f: exit {p.returncode}: {_last_lines(p.stderr)}")
    left = umount_below(state)
    if left:
        notes.append(f"unmounted {len(left)} mount(s) left below {state}")
    shutil.rmtree(state, ignore_errors=True)
    return notes


def cleanup_run(run: Path, env: dict[str, str], buildah_argv: list[str] | None) -> list[str]:
    notes = buildah_cleanup(buildah_argv, env, run)
    notes += minidocker_cleanup(env, run / "md")
    left = umount_below(run)
    if left:
        notes.append(f"unmounted {len(left)} more mount(s) below {run}")
    shutil.rmtree(run, ignore_errors=True)
    return notes


def _buildah_base(buildah: str, run: Path, driver: str) -> list[str]:
    return [buildah, "--root", str(run / "buildah-root"), "--runroot", str(run / "buildah-runroot"),
            f"--storage-driver={driver}", "--cgroup-manager=cgroupfs"]


def clean_stale(workdir: Path, env: dict[str, str], buildah: str | None) -> None:
    for d in sorted(workdir.glob("run-*")):
        try:
            pid = int(d.name.split("-")[1])
        except ValueError:
            continue
        if pid_alive(pid) or not d.is_dir():
            continue
        log(f"removing {d.name}, left by an interrupted run (PID {pid})")
        driver = (d / "storage-driver").read_text().strip() if (d / "storage-driver").exists() else "overlay"
        for n in cleanup_run(d, buildah_env(env, d), _buildah_base(buildah, d, driver) if buildah else None):
            log(f"  {n}")


# -- the tools ----------------------------------------------------------------------------

@dataclass
class Tool:
    name: str
    ctx: Path
    env: dict[str, str]
    build_argv: callable            # (no_cache: bool) -> argv
    reset: callable                 # () -> None, untimed
    hits_re: re.Pattern
    id_re: re.Pattern
    note: str = ""
    times: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SCENARIOS})
    hits: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in SCENARIOS})
    image_ids: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in SCENARIOS})


def write_context(ctx: Path) -> None:
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    for rel, text in CONTEXT_FILES.items():
        p = ctx / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (ctx / "app" / "main.sh").chmod(0o755)


def timed_build(tool: Tool, no_cache: bool, what: str) -> tuple[float, str]:
    argv = tool.build_argv(no_cache)
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=tool.env, stdin=DEVNULL, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise Failed(f"{tool.name}: {what} build failed (exit {p.returncode}): {' '.join(argv)}\n"
                     f"{p.stdout}{p.stderr}")
    return dt, p.stdout + p.stderr


def one_rep(tool: Tool, rep: int, timed: bool, anomalies: list[str]) -> None:
    tool.reset()
    (tool.ctx / CHANGED_FILE).write_text(CONTEXT_FILES[CHANGED_FILE])
    for scenario in SCENARIOS:
        if scenario == "changed":
            (tool.ctx / CHANGED_FILE).write_text(f"alpha, changed in repetition {rep}\n")
        dt, out = timed_build(tool, scenario == "cold", scenario)
        hits = len(tool.hits_re.findall(out))
        found = tool.id_re.findall(out)
        ident = found[-1] if found else "?"
        if hits != EXPECTED_HITS[scenario]:
            anomalies.append(f"{tool.name} rep {rep} {scenario}: {hits} cached steps, expected "
                             f"{EXPECTED_HITS[scenario]}")
            log(f"  warning: {anomalies[-1]}")
        if timed:
            tool.times[scenario].append(dt)
            tool.hits[scenario].append(hits)
            tool.image_ids[scenario].append(ident)


# -- buildah setup --------------------------------------------------------------------

def buildah_env(env: dict[str, str], run: Path) -> dict[str, str]:
    benv = {k: v for k, v in env.items() if not k.startswith("BUILDAH_")}
    benv.update(CONTAINERS_CONF=str(run / "containers.conf"), TMPDIR=str(run / "tmp"))
    return benv


def setup_buildah(buildah: str, run: Path, benv: dict[str, str], archive: Path, ctx: Path,
                  notes: list[str]) -> tuple[Tool | None, list[str] | None, dict]:
    """Storage driver and isolation probed; (tool, base argv for cleanup, facts)."""
    (run / "containers.conf").write_text(CONTAINERS_CONF)
    (run / "tmp").mkdir(exist_ok=True)
    facts: dict = {"storage_driver": None, "isolation": None, "probe_errors": []}
    base = None
    for driver in ("overlay", "vfs"):
        base = _buildah_base(buildah, run, driver)
        (run / "storage-driver").write_text(driver + "\n")
        p = subprocess.run(base + ["pull", "-q", f"docker-archive:{archive}"], env=benv, stdin=DEVNULL,
                           capture_output=True, text=True, timeout=300)
        if p.returncode == 0:
            facts["storage_driver"] = driver
            break
        facts["probe_errors"].append(f"storage driver {driver}: pull exit {p.returncode}: {_last_lines(p.stderr)}")
        log(f"buildah: {facts['probe_errors'][-1]}")
        buildah_cleanup(base, benv, run)
    if facts["storage_driver"] is None:
        notes.append("buildah: no storage driver worked; skipped")
        return None, base, facts
    if facts["storage_driver"] != "overlay":
        notes.append(f"buildah: overlay failed, using {facts['storage_driver']}")
    check(base + ["tag", "localhost/busybox:latest", "docker.io/library/busybox:latest"], benv,
           "buildah tag")

    probe_ctx = run / "probe-ctx"
    probe_ctx.mkdir(exist_ok=True)
    (probe_ctx / "Dockerfile").write_text("FROM busybox\nRUN echo probe > /probe\n")
    common = ["--pull=never", "--layers", f"--ulimit={ULIMIT}"]
    candidates = [("oci, default runtime", []),
                  ("oci, --runtime runc", ["--runtime", shutil.which("runc") or "runc"]),
                  ("chroot (--isolation chroot)", ["--isolation", "chroot"])]
    chosen = None
    for label, flags in candidates:
        p = subprocess.run(base + ["build", *common, *flags, "--no-cache", "-t", "probe:latest", str(probe_ctx)],
                           env=benv, stdin=DEVNULL, capture_output=True, text=True, timeout=300)
        if p.returncode == 0:
            chosen = (label, flags)
            break
        err = _last_lines(p.stderr + p.stdout, 4)
        facts["probe_errors"].append(f"isolation {label}: exit {p.returncode}: {err}")
        log(f"buildah probe, {label}: failed: {err}")
    subprocess.run(base + ["rm", "-a"], env=benv, stdout=DEVNULL, stderr=DEVNULL)
    subprocess.run(base + ["rmi", "-f", "probe:latest"], env=benv, stdout=DEVNULL, stderr=DEVNULL)
    subprocess.run(base + ["rmi", "--prune"], env=benv, stdout=DEVNULL, stderr=DEVNULL)
    if chosen is None:
        notes.append("buildah: no isolation worked (see probe errors); skipped")
        return None, base, facts
    facts["isolation"] = chosen[0]
    facts["flags"] = common + chosen[1]
    log(f"buildah: storage driver {facts['storage_driver']}, isolation {chosen[0]}")

    def build_argv(no_cache: bool) -> list[str]:
        return base + ["build", *common, *chosen[1], *(["--no-cache"] if no_cache else []),
                       "-t", TAG, str(ctx)]

    def reset() -> None:
        subprocess.run(base + ["rm", "-a"], env=benv, stdout=DEVNULL, stderr=DEVNULL)
        subprocess.run(base + ["rmi", "-f", TAG], env=benv, stdout=DEVNULL, stderr=DEVNULL)
        check(base + ["rmi", "--prune"], benv, "buildah rmi --prune")
        left = check(base + ["images", "-a", "-q", "--no-trunc"], benv, "buildah images").split()
        if len(set(left)) != 1:
            raise Failed(f"buildah reset: expected only the base image, found {sorted(set(left))}")

    tool = Tool("buildah", ctx, benv, build_argv, reset, re.compile(r"^--> Using cache ", re.M),
                re.compile(r"^([0-9a-f]{64})$", re.M),
                note=f"{facts['storage_driver']}, {chosen[0]}")
    return tool, base, facts


# -- minidocker setup --------------------------------------------------------------------

def setup_minidocker(state: Path, env: dict[str, str], ctx: Path) -> Tool:
    md_env = {**env, "MINIDOCKER_ROOT": str(state)}

    def build_argv(no_cache: bool) -> list[str]:
        return [str(MINIDOCKER), "build", *(["--no-cache"] if no_cache else []), "-t", TAG, str(ctx)]

    def reset() -> None:
        subprocess.run([str(MINIDOCKER), "rmi", TAG], env=md_env, stdout=DEVNULL, stderr=DEVNULL)
        check([str(MINIDOCKER), "system", "prune", "-f"], md_env, "minidocker system prune -f")
        cache = state / "buildcache"
        if cache.is_dir() and any(cache.iterdir()):
            raise Failed(f"minidocker reset: build cache not empty after prune: {cache}")

    return Tool("minidocker", ctx, md_env, build_argv, reset, re.compile(r"^#\d+ CACHED$", re.M),
                re.compile(r"writing image (sha256:[0-9a-f]{64})"),
                note="bytecode as dev.sh precompiles it")


# -- the breakdown of one cached minidocker build --------------------------------------------

DRIVER = r'''
"""bench/build.py's driver: one `minidocker build` from the inside (nothing in minidocker changed)."""
import json, os, sys, time
T0 = time.perf_counter()
mode, out_path, modules_path = sys.argv[1:4]
argv = sys.argv[4:]

if mode == "discover":
    import minidocker.cli as cli
    code = cli.main(argv)
    with open(out_path, "w") as f:
        json.dump({"code": code, "modules": list(sys.modules)}, f)
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(code)

import importlib
with open(modules_path) as f:
    wanted = json.load(f)["modules"]
for name in wanted:                    # every module the build loads, in the order it did
    if name not in sys.modules and name != "__main__":
        try:
            importlib.import_module(name)
        except Exception:
            pass
T1 = time.perf_counter()

import minidocker.cli as cli
from minidocker.build import builder as B, cache as C, context as X, dockerfile as D
from minidocker.image import store as S
from minidocker import engine as E

phases = {}
depth = [0]

def timed(label, fn):
    def wrapper(*a, **k):
        if depth[0]:
            return fn(*a, **k)
        depth[0] += 1
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            depth[0] -= 1
            dt = time.perf_counter() - t
            n, s = phases.get(label, (0, 0.0))
            phases[label] = (n + 1, s + dt)
    return wrapper

def patch(obj, attr, label):
    setattr(obj, attr, timed(label, getattr(obj, attr)))

class TimedCM:
    def __init__(self, cm):
        self.cm = cm
    def __enter__(self):
        return timed("store lock: ingest enter/exit", self.cm.__enter__)()
    def __exit__(self, *exc):
        return timed("store lock: ingest enter/exit", self.cm.__exit__)(*exc)

if mode == "measure":
    patch(cli, "build_parser", "argparse: build_parser")
    patch(E.Engine, "__init__", "Engine(): store + snapshotter init")
    patch(B.Builder, "__init__", "Builder(): cache dir, context, tags")
    patch(X.Context, "read_dockerfile", "read Dockerfile (+ .dockerignore)")
    patch(D, "parse", "parse Dockerfile")
    patch(S.Store, "resolve", "base image: resolve")
    patch(E.Engine, "unpack", "base image: unpacked? (snapshot stat)")
    patch(B.Builder, "_copy_plan", "COPY: context sources + checksum")
    patch(B, "step_key", "cache keys (sha256)")
    patch(C.BuildCache, "get", "cache lookups (read entry json)")
    patch(B.Builder, "_result_usable", "cache lookups: layer blob present?")
    patch(B.Builder, "_apply_result", "apply cached result (deepcopy config)")
    patch(B.Builder, "say", "progress output")
    patch(B, "write_image", "write image: config+manifest blobs, tags")
    patch(S.Store, "image", "read back image (manifest+config)")
    orig_ingest = S.Store.ingest
    S.Store.ingest = lambda self: TimedCM(orig_ingest(self))

T2 = time.perf_counter()
if mode == "cprofile":
    import cProfile, pstats, io
    prof = cProfile.Profile()
    code = prof.runcall(cli.main, argv)
    T3 = time.perf_counter()
    s = io.StringIO()
    st = pstats.Stats(prof, stream=s)
    rows = []
    for (file, line, func), (cc, nc, tt, ct, callers) in st.stats.items():
        rows.append({"func": f"{os.path.relpath(file) if file.startswith('/') else file}:{line}({func})",
                     "calls": nc, "tottime_ms": tt * 1000, "cumtime_ms": ct * 1000})
    result = {"code": code, "main_ms": (T3 - T2) * 1000,
              "top_cum": sorted(rows, key=lambda r: -r["cumtime_ms"])[:40],
              "top_tot": sorted(rows, key=lambda r: -r["tottime_ms"])[:20]}
else:
    code = cli.main(argv)
    T3 = time.perf_counter()
    result = {"code": code, "imports_ms": (T1 - T0) * 1000, "patch_ms": (T2 - T1) * 1000,
              "main_ms": (T3 - T2) * 1000,
              "phases": {k: {"calls": n, "ms": s * 1000} for k, (n, s) in phases.items()}}
with open(out_path, "w") as f:
    json.dump(result, f)
sys.stdout.flush(); sys.stderr.flush()
os._exit(code)
'''


def _run_timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, stdin=DEVNULL, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise Failed(f"breakdown: failed (exit {p.returncode}): {' '.join(argv)}\n{p.stdout}{p.stderr}")
    return dt, p


def parse_importtime(stderr: str) -> dict:
    """``-X importtime`` lines → totals of the top-level imports and the heaviest modules."""
    rows = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( +)(\S+)", line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)) - 1, m.group(4)))
    top = [r for r in rows if r[2] == 0]
    total = sum(r[1] for r in top) / 1000
    own = sum(r[1] for r in top if r[3].split(".")[0] == "minidocker") / 1000
    by_pkg: dict[str, float] = {}
    for self_us, _, _, name in rows:
        pkg = name.split(".")[0]
        by_pkg[pkg] = by_pkg.get(pkg, 0) + self_us / 1000
    return {"top_level_total_ms": round(total, 1), "top_level_minidocker_ms": round(own, 1),
            "modules": len(rows),
            "self_ms_by_package": {k: round(v, 1) for k, v in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:12]},
            "heaviest_cumulative": [{"module": n, "cumulative_ms": round(c / 1000, 1), "self_ms": round(s / 1000, 1)}
                                    for s, c, lvl, n in sorted(rows, key=lambda r: -r[1])[:12]]}


def breakdown(md: Tool, run: Path, cached_median: float, reps: int = 7) -> dict:
    """One fully cached minidocker rebuild taken apart (the cache is warm: the last build)."""
    driver = run / "driver.py"
    driver.write_text(DRIVER)
    env = md.env
    argv = md.build_argv(False)[1:]          # without the program name
    py = str(VENV_PY)
    mods = run / "modules.json"
    _run_timed([py, str(driver), "discover", str(mods), "-", *argv], env)

    floor, imp_cli, cli_total, outer, measured = [], [], [], [], []
    for i in range(reps):                    # interleaved, so that a load spike hits all alike
        floor.append(_run_timed([py, "-c", "pass"], env)[0])
        imp_cli.append(_run_timed([py, "-c", "import minidocker.cli"], env)[0])
        cli_total.append(_run_timed(md.build_argv(False), env)[0])
        out = run / f"measure-{i}.json"
        outer.append(_run_timed([py, str(driver), "measure", str(out), str(mods), *argv], env)[0])
        measured.append(json.loads(out.read_text()))
    _, p = _run_timed([py, "-X", "importtime", str(MINIDOCKER), *argv], env)
    importtime = parse_importtime(p.stderr)
    prof_out = run / "cprofile.json"
    _run_timed([py, str(driver), "cprofile", str(prof_out), str(mods), *argv], env)
    prof = json.loads(prof_out.read_text())

    def med(xs):
        return statistics.median(xs)

    labels = sorted({k for m in measured for k in m["phases"]})
    phases = {k: {"ms": round(med([m["phases"].get(k, {"ms": 0})["ms"] for m in measured]), 2),
                  "calls": max(m["phases"].get(k, {"calls": 0})["calls"] for m in measured)} for k in labels}
    main_ms = med([m["main_ms"] for m in measured])
    imports_ms = med([m["imports_ms"] for m in measured])
    driver_total = med(outer) * 1000
    return {
        "reps": reps,
        "cli_cached_build_ms": round(med(cli_total) * 1000, 1),
        "cached_median_from_bench_ms": round(cached_median * 1000, 1),
        "python_c_pass_ms": round(med(floor) * 1000, 1),
        "python_import_minidocker_cli_ms": round(med(imp_cli) * 1000, 1),
        "driver_total_ms": round(driver_total, 1),
        "driver_imports_ms": round(imports_ms, 1),
        "driver_main_ms": round(main_ms, 2),
        "driver_outside_python_ms": round(driver_total - imports_ms - main_ms, 1),
        "modules_loaded": len(json.loads(mods.read_text())["modules"]),
        "phases_ms": phases,
        "phases_unattributed_ms": round(main_ms - sum(v["ms"] for v in phases.values()), 2),
        "importtime": importtime,
        "cprofile": prof,
    }


def print_breakdown(b: dict) -> None:
    log("")
    log(f"breakdown of one fully cached minidocker rebuild (medians of {b['reps']} interleaved runs each, "
        "cache warm):")
    log(f"  `minidocker build` (CLI, outside)              {b['cli_cached_build_ms']:8.1f} ms "
        f"(benchmark median {b['cached_median_from_bench_ms']:.1f} ms)")
    log(f"  `python -c pass` (interpreter + site)          {b['python_c_pass_ms']:8.1f} ms")
    log(f"  `python -c 'import minidocker.cli'`            {b['python_import_minidocker_cli_ms']:8.1f} ms")
    log(f"  driver process, outside                        {b['driver_total_ms']:8.1f} ms =")
    log(f"    spawn + interpreter start (site) + exit      {b['driver_outside_python_ms']:8.1f} ms")
    log(f"    imports of the {b['modules_loaded']} modules the build loads {b['driver_imports_ms']:8.1f} ms")
    log(f"    cli.main(build …), the work itself           {b['driver_main_ms']:8.2f} ms, of which:")
    for k, v in sorted(b["phases_ms"].items(), key=lambda kv: -kv[1]["ms"]):
        log(f"      {k:44s} {v['ms']:7.2f} ms ({v['calls']} call{'s' if v['calls'] != 1 else ''})")
    log(f"      {'(unattributed: argparse, expand, output …)':44s} {b['phases_unattributed_ms']:7.2f} ms")
    it = b["importtime"]
    log(f"  -X importtime: {it['modules']} imports, top-level total {it['top_level_total_ms']:.1f} ms "
        f"(minidocker.* {it['top_level_minidocker_ms']:.1f} ms; inflated by the measuring)")
    log("    self time by package: " + ", ".join(f"{k} {v:.1f}" for k, v in list(it["self_ms_by_package"].items())[:8]))
    log("    heaviest (cumulative): " + ", ".join(f"{r['module']} {r['cumulative_ms']:.1f}"
                                                  for r in it["heaviest_cumulative"][:8]))
    log("  cProfile of cli.main (profiler overhead included), top by cumulative time:")
    shown = 0
    for r in b["cprofile"]["top_cum"]:
        if shown >= 14:
            break
        if "{built-in method builtins.exec}" in r["func"]:
            continue
        log(f"    {r['cumtime_ms']:7.2f} ms cum {r['tottime_ms']:7.2f} ms own {r['calls']:6d}×  {r['func']}")
        shown += 1


# -- main -----------------------------------------------------------------------------------------

def summarize(tools: list[Tool]) -> dict:
    out = {}
    for t in tools:
        out[t.name] = {s: {"median_ms": round(statistics.median(t.times[s]) * 1000, 1),
                           "min_ms": round(min(t.times[s]) * 1000, 1),
                           "max_ms": round(max(t.times[s]) * 1000, 1)} for s in SCENARIOS}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed repetitions first (default 1)")
    ap.add_argument("--workdir", type=Path, default=HERE / "out" / "build",
                    help="scratch directory (default bench/out/build/)")
    ap.add_argument("--json", type=Path, help="write the raw figures here")
    ap.add_argument("--no-breakdown", action="store_true",
                    help="skip the breakdown of a cached minidocker build")
    args = ap.parse_args(argv)
    if args.reps < 1 or args.warmup < 0:
        ap.error("--reps must be positive and --warmup not negative")
    if os.geteuid() != 0:
        raise SystemExit("bench/build.py needs root (RUN steps need namespaces, mounts and cgroups)")
    if not MINIDOCKER.exists():
        raise SystemExit(f"{MINIDOCKER} not found: set up the virtualenv first (bash dev.sh test)")

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    buildah = shutil.which("buildah")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "MINIDOCKER_ROOT", "CONTAINERS_CONF")}
    clean_stale(workdir, env, buildah)

    run = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=workdir))
    # Bytecode as `dev.sh` leaves it (precompiled in the git-ignored __pycache__
    # directories): PYTHONPYCACHEPREFIX would cost every start ~25 ms of lookups.
    state = run / "md"
    buildah_base: list[str] | None = None
    benv = buildah_env(env, run)
    notes: list[str] = []
    anomalies: list[str] = []
    try:
        log(f"run directory: {run}")
        md_env = {**env, "MINIDOCKER_ROOT": str(state)}
        out = check([str(MINIDOCKER), "bootstrap", "busybox"], md_env, "minidocker bootstrap busybox")
        log(f"minidocker base image: {out.strip()}")
        archive = run / "busybox.tar"
        check([str(MINIDOCKER), "save", "busybox", "-o", str(archive)], md_env, "minidocker save busybox")

        ctx_md, ctx_bh = run / "ctx-minidocker", run / "ctx-buildah"
        write_context(ctx_md)
        write_context(ctx_bh)
        tools = [setup_minidocker(state, env, ctx_md)]
        facts: dict = {}
        if buildah:
            tool, buildah_base, facts = setup_buildah(buildah, run, benv, archive, ctx_bh, notes)
            if tool:
                tools.append(tool)
        else:
            log("buildah: not found on PATH -- skipping it (install it with `apt-get install -y buildah`)")
            notes.append("buildah not installed: skipped")

        log(f"measuring: {args.warmup} warm-up + {args.reps} timed repetitions of cold / cached / "
            f"changed, tools alternating; load average before: {os.getloadavg()[0]:.2f}")
        orders = []
        t_start = time.time()
        for rep in range(args.warmup + args.reps):
            order = tools if rep % 2 == 0 else tools[::-1]
            timed = rep >= args.warmup
            if timed:
                orders.append([t.name for t in order])
            for t in order:
                one_rep(t, rep, timed, anomalies)
            label = f"rep {rep - args.warmup + 1}/{args.reps}" if timed else f"warm-up {rep + 1}/{args.warmup}"
            log(f"  {label}: " + "; ".join(
                f"{t.name} " + "/".join(f"{t.times[s][-1] * 1000:.0f}" for s in SCENARIOS) + " ms"
                for t in order) if timed else f"  {label} done")
        elapsed = time.time() - t_start
        load_after = os.getloadavg()[0]

        summary = summarize(tools)
        md = summary["minidocker"]
        bh = summary.get("buildah")
        log("")
        log(f"10-step Dockerfile, {args.reps} repetitions after {args.warmup} warm-up ({elapsed:.0f} s); "
            f"kernel {platform.release()}, cgroups {cgroup_layout()}, {os.cpu_count()} CPUs, "
            f"load average after {load_after:.2f}")
        head = f"{'scenario':10s} {'minidocker ms':>14s} {'buildah ms':>12s} {'md/buildah':>11s}   (min-max)"
        log(head)
        log("-" * len(head))
        ratios = {}
        for s in SCENARIOS:
            m = md[s]["median_ms"]
            b = bh[s]["median_ms"] if bh else None
            ratios[s] = round(m / b, 3) if b else None
            rng = f"md {md[s]['min_ms']:.0f}-{md[s]['max_ms']:.0f}" + (
                f", buildah {bh[s]['min_ms']:.0f}-{bh[s]['max_ms']:.0f}" if bh else "")
            log(f"{s:10s} {m:14.1f} {(f'{b:.1f}') if b is not None else '-':>12s} "
                f"{(f'{ratios[s]:.2f}×') if b else 'n/a':>11s}   ({rng})")
        log("")
        if bh:
            met = ratios["cached"] <= TARGET_RATIO
            log(f"target: fully cached rebuild ≤ {TARGET_RATIO}× buildah's -- now {ratios['cached']:.2f}× "
                f"({md['cached']['median_ms']:.1f} ms vs {bh['cached']['median_ms']:.1f} ms): "
                f"{'met' if met else 'NOT met'}")
            log(f"  (to meet it minidocker would need ≤ {bh['cached']['median_ms'] * TARGET_RATIO:.1f} ms)")
            log(f"buildah: {tools[1].note}; flags {' '.join(facts.get('flags', []))}")
        else:
            met = None
            log("target: fully cached rebuild ≤ 0.2× buildah's -- cannot be judged without buildah")
        for e in facts.get("probe_errors", []):
            log(f"  buildah probe: {e}")
        for n in notes:
            log(f"note: {n}")
        if anomalies:
            log(f"warning: {len(anomalies)} build(s) had unexpected cache hits (see above)")

        bd = None
        if not args.no_breakdown:
            bd = breakdown(tools[0], run, statistics.median(tools[0].times["cached"]))
            print_breakdown(bd)

        if args.json:
            report = {
                "benchmark": "build", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "reps": args.reps, "warmup": args.warmup, "elapsed_s": round(elapsed, 1),
                "machine": {"kernel": platform.release(), "nproc": os.cpu_count(), "cgroups": cgroup_layout(),
                            "python": platform.python_version(), "load_after": load_after},
                "versions": {"minidocker": version([str(MINIDOCKER), "--version"]),
                             "buildah": version([buildah, "--version"]) if buildah else None},
                "dockerfile": DOCKERFILE, "context_files": CONTEXT_FILES, "changed_file": CHANGED_FILE,
                "expected_cache_hits": EXPECTED_HITS,
                "buildah": facts, "orders": orders,
                "tools": {t.name: {"argv_cold": t.build_argv(True), "argv": t.build_argv(False), "note": t.note,
                                   "ms": {s: [round(x * 1000, 2) for x in t.times[s]] for s in SCENARIOS},
                                   "cache_hits": t.hits, "image_ids": t.image_ids} for t in tools},
                "summary": summary, "ratios_minidocker_over_buildah": ratios,
                "target": {"cached_ratio_max": TARGET_RATIO, "met": met},
                "anomalies": anomalies, "notes": notes, "breakdown": bd,
            }
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=1) + "\n")
            log(f"raw figures: {args.json}")
        return 0
    finally:
        for n in cleanup_run(run, benv, buildah_base):
            log(f"cleanup: {n}")


if __name__ == "__main__":
    sys.exit(main())
