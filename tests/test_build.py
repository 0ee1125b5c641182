"""The builder on the real kernel: instructions, layers, the cache and its reasons."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile

import pytest

pytestmark = pytest.mark.root


def md(*args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minidocker", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


@pytest.fixture
def ctx(tmp_path, busybox):
    d = tmp_path / "ctx"
    d.mkdir()

    def write(files: dict[str, str]) -> str:
        for name, content in files.items():
            p = d / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
        return str(d)
    return write


def build(context, *args):
    r = md("build", *args, context)
    return r


def steps(output: str) -> list[str]:
    """The CACHED / not cached lines of a build's output, in order."""
    return [line.split(" ", 1)[1] for line in output.splitlines()
            if line.startswith("#") and (" CACHED" in line or " not cached:" in line)]


def files_of(engine, name) -> dict[str, bytes]:
    buf = io.BytesIO()
    engine.export(name, buf)
    buf.seek(0)
    out = {}
    with tarfile.open(fileobj=buf) as t:
        for m in t.getmembers():
            out[m.name] = t.extractfile(m).read() if m.isfile() else m.type
    return out


SEED = """\
FROM busybox
ARG VERSION=1
RUN echo "runtime $VERSION" > /runtime.txt
RUN mkdir -p /db && echo data > /db/data.txt
WORKDIR /app
COPY app.js .
CMD ["cat", "/app/app.js"]
"""


def test_build_makes_a_layer_per_filesystem_step_and_history(ctx, engine):
    context = ctx({"Dockerfile": SEED, "app.js": "console.log('v1')\n"})
    r = build(context, "-t", "seed:1")
    assert r.returncode == 0, r.stderr
    img = engine.image("seed:1")
    history = img.config.history
    created = [h["created_by"] for h in history[-6:]]
    assert created[0].startswith("ARG VERSION=1") and history[-6]["empty_layer"]
    assert created[1].startswith("RUN |1 VERSION=1 /bin/sh -c echo")
    assert not history[-1].get("empty_layer") is False and history[-1]["empty_layer"]  # CMD
    assert len(img.manifest.layers) == 1 + 4  # busybox + 2 RUN + WORKDIR + COPY
    assert img.config.container_config["Cmd"] == ["cat", "/app/app.js"]
    assert img.config.container_config["WorkingDir"] == "/app"
    fs = files_of(engine, "seed:1")
    assert fs["runtime.txt"] == b"runtime 1\n" and fs["app/app.js"] == b"console.log('v1')\n"
    run = md("run", "--rm", "seed:1")
    assert run.stdout == "console.log('v1')\n"
    hist = md("history", "seed:1").stdout.splitlines()
    assert hist[0].split()[:3] == ["IMAGE", "CREATED", "CREATED"] and len(hist) == 1 + len(history)


def test_an_unchanged_rebuild_is_fully_cached_and_gives_the_same_image(ctx, engine):
    context = ctx({"Dockerfile": SEED, "app.js": "v1\n"})
    first = build(context, "-t", "seed:1")
    assert first.returncode == 0, first.stderr
    again = build(context, "-t", "seed:2")
    assert steps(again.stderr) == ["CACHED"] * 6
    assert engine.image("seed:1").id == engine.image("seed:2").id


def test_changing_the_app_rebuilds_only_from_its_copy_and_says_why(ctx, engine):
    context = ctx({"Dockerfile": SEED, "app.js": "v1\n"})
    build(context)
    ctx({"app.js": "v2\n"})
    r = build(context, "-t", "seed:v2")
    got = steps(r.stderr)
    assert got[:4] == ["CACHED"] * 4
    assert got[4] == "not cached: app.js changed"
    assert got[5] == "not cached: parent step rebuilt"
    assert files_of(engine, "seed:v2")["app/app.js"] == b"v2\n"


def test_touching_a_file_keeps_the_cache(ctx):
    context = ctx({"Dockerfile": SEED, "app.js": "v1\n"})
    build(context)
    os.utime(os.path.join(context, "app.js"), (1, 1))
    assert steps(build(context).stderr) == ["CACHED"] * 6


def test_a_build_arg_change_is_named_as_the_reason(ctx):
    context = ctx({"Dockerfile": SEED, "app.js": "v1\n"})
    build(context)
    got = steps(build(context, "--build-arg", "VERSION=2").stderr)
    assert got[0] == "not cached: VERSION=2 differs (was '1')"  # the ARG step sees it first
    assert got[1:] == ["not cached: parent step rebuilt"] * 5


def test_the_last_build_is_recorded_as_printed(ctx, engine, state_root):
    from minidocker.build import record
    context = ctx({"Dockerfile": SEED, "app.js": "v1\n"})
    build(context)
    ctx({"app.js": "v2\n"})
    r = build(context, "-t", "seed:rec")
    last = record.load(state_root)
    assert [f"{s.status}: {s.reason}" if s.reason else s.status for s in last.steps[1:]] == \
        [line.replace("not cached", "built") for line in steps(r.stderr)]
    assert last.steps[0].instruction == "FROM busybox" and last.steps[0].status == "base"
    assert last.steps[5].layer["digest"] == engine.image("seed:rec").manifest.layers[-1].digest
    assert last.image_id == engine.image("seed:rec").id and last.tags == ["seed:rec"]


def test_no_cache_rebuilds_everything(ctx):
    context = ctx({"Dockerfile": SEED, "app.js": "v1\n"})
    build(context)
    assert steps(build(context, "--no-cache").stderr) == ["not cached: --no-cache"] * 6


def test_removing_the_tag_keeps_the_cache_until_system_prune(ctx, engine):
    context = ctx({"Dockerfile": SEED, "app.js": "v1\n"})
    build(context, "-t", "keep:1")
    assert md("rmi", "keep:1").returncode == 0
    assert steps(build(context, "-t", "keep:2").stderr) == ["CACHED"] * 6
    md("rmi", "keep:2")
    assert md("system", "prune", "-f").returncode == 0  # clears the build cache too
    assert steps(build(context).stderr)[1:] == ["not cached: parent step rebuilt"] * 5


def test_dockerignore_hides_files_and_keeps_them_out_of_the_key(ctx, engine):
    df = "FROM busybox\nCOPY . /src\n"
    context = ctx({"Dockerfile": df, ".dockerignore": "*.log\nsecret/\n!secret/public.txt\n",
                   "a.txt": "a", "debug.log": "x", "secret/key": "k", "secret/public.txt": "p"})
    assert build(context, "-t", "ign:1").returncode == 0
    fs = files_of(engine, "ign:1")
    assert "src/a.txt" in fs and "src/debug.log" not in fs and "src/secret/key" not in fs
    assert fs["src/secret/public.txt"] == b"p"
    ctx({"debug.log": "changed"})
    assert steps(build(context).stderr) == ["CACHED"]
    bad = ctx({"Dockerfile": "FROM busybox\nCOPY debug.log /\n"})
    r = build(bad)
    assert r.returncode == 1 and "Dockerfile:2:" in r.stderr and "excluded" in r.stderr


@pytest.mark.parametrize("line", ["COPY ../outside /x", "COPY /../../etc/passwd /x",
                                  "ADD link-out /x"])
def test_sources_may_not_leave_the_context(ctx, tmp_path, line):
    (tmp_path / "outside").write_text("secret")
    context = ctx({"Dockerfile": f"FROM busybox\n{line}\n"})
    os.symlink("/etc", os.path.join(context, "link-out"))
    r = build(context)
    assert r.returncode == 1 and "Dockerfile:2:" in r.stderr
    assert "outside the build context" in r.stderr or "not found" in r.stderr


def test_copy_options_chown_chmod_globs_and_directories(ctx, engine):
    df = ("FROM busybox\nCOPY --chown=1000:1000 --chmod=640 *.txt /data/\n"
          "COPY dir /copied\nCOPY --chown=nobody dir/sub/f /owned\n")
    context = ctx({"Dockerfile": df, "a.txt": "a", "b.txt": "b", "c.md": "c",
                   "dir/one": "1", "dir/sub/f": "f"})
    assert build(context, "-t", "cp:1").returncode == 0
    buf = io.BytesIO()
    engine.export("cp:1", buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as t:
        a = t.getmember("data/a.txt")
        assert (a.uid, a.gid, a.mode) == (1000, 1000, 0o640)
        assert "data/c.md" not in t.getnames()
        assert t.extractfile("copied/one").read() == b"1"  # a directory's contents, not itself
        assert t.extractfile("copied/sub/f").read() == b"f"
        assert t.getmember("owned").uid == 65534


def test_metadata_instructions_go_into_the_config(ctx, engine):
    df = """\
FROM busybox
ENV A=1 B="two words"
LABEL org.example.name="demo app" version=1
EXPOSE 8080 53/udp
VOLUME ["/data"]
USER nobody
STOPSIGNAL SIGINT
SHELL ["/bin/sh", "-ec"]
HEALTHCHECK --interval=5s --retries=2 CMD wget -q -O- http://localhost/ || exit 1
ENTRYPOINT ["echo"]
ONBUILD RUN echo triggered > /tmp/onbuild.txt
MAINTAINER someone
"""
    context = ctx({"Dockerfile": df})
    assert build(context, "-t", "meta:1").returncode == 0
    img = engine.image("meta:1")
    c = img.config.container_config
    assert "A=1" in c["Env"] and "B=two words" in c["Env"]
    assert c["Labels"] == {"org.example.name": "demo app", "version": "1"}
    assert c["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert c["Volumes"] == {"/data": {}} and c["User"] == "nobody" and c["StopSignal"] == "SIGINT"
    assert c["Shell"] == ["/bin/sh", "-ec"] and c["Entrypoint"] == ["echo"] and c["Cmd"] is None
    assert c["Healthcheck"]["Test"][0] == "CMD-SHELL" and c["Healthcheck"]["Interval"] == 5_000_000_000
    assert c["OnBuild"] == ["RUN echo triggered > /tmp/onbuild.txt"]
    assert img.config.raw["author"] == "someone"
    assert len(img.manifest.layers) == 1  # metadata only
    child = ctx({"Dockerfile": "FROM meta:1\nLABEL child=yes\n"})
    assert build(child, "-t", "child:1").returncode == 0
    assert files_of(engine, "child:1")["tmp/onbuild.txt"] == b"triggered\n"  # ran as nobody
    assert "OnBuild" not in engine.image("child:1").config.container_config or \
        not engine.image("child:1").config.container_config["OnBuild"]


def test_multi_stage_copy_from_and_target(ctx, engine):
    df = """\
ARG BASE=busybox
FROM $BASE AS build
RUN echo compiled > /out.bin
FROM busybox AS unused
RUN exit 1
FROM scratch
COPY --from=build /out.bin /app/out.bin
COPY --from=busybox /bin/busybox /bin/busybox
"""
    context = ctx({"Dockerfile": df})
    r = build(context, "-t", "multi:1")
    assert r.returncode == 0, r.stderr  # the failing, unneeded stage is skipped
    fs = files_of(engine, "multi:1")
    assert fs["app/out.bin"] == b"compiled\n" and "bin/busybox" in fs
    assert "out.bin" not in fs
    r = build(context, "--target", "build", "-t", "multi:build")
    assert r.returncode == 0 and files_of(engine, "multi:build")["out.bin"] == b"compiled\n"
    missing = build(context, "--target", "nope")
    assert missing.returncode == 1 and "target stage 'nope' could not be found" in missing.stderr


def test_heredocs_for_run_and_copy(ctx, engine):
    df = '''FROM busybox
RUN <<EOF
echo one > /one
echo two > /two
EOF
COPY <<CONF /etc/app.conf
key=value
CONF
'''
    context = ctx({"Dockerfile": df})
    assert build(context, "-t", "here:1").returncode == 0
    fs = files_of(engine, "here:1")
    assert fs["one"] == b"one\n" and fs["two"] == b"two\n" and fs["etc/app.conf"] == b"key=value\n"


def test_add_extracts_local_archives_and_refuses_urls(ctx, engine, tmp_path):
    context = ctx({"Dockerfile": "FROM busybox\nADD bundle.tar.gz /opt/\nADD plain.txt /plain.txt\n",
                   "plain.txt": "p"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        data = b"inside"
        ti = tarfile.TarInfo("pkg/file.txt")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    with open(os.path.join(context, "bundle.tar.gz"), "wb") as f:
        f.write(buf.getvalue())
    assert build(context, "-t", "add:1").returncode == 0
    fs = files_of(engine, "add:1")
    assert fs["opt/pkg/file.txt"] == b"inside" and fs["plain.txt"] == b"p"
    url = ctx({"Dockerfile": "FROM busybox\nADD https://example.invalid/x /x\n"})
    r = build(url)
    assert r.returncode == 1 and "not supported offline" in r.stderr


def test_a_failing_run_names_the_line_and_leaves_nothing(ctx, engine):
    context = ctx({"Dockerfile": "FROM busybox\nRUN echo ok\nRUN exit 3\n"})
    r = build(context)
    assert r.returncode == 1
    assert "Dockerfile:3:" in r.stderr and "returned a non-zero code: 3" in r.stderr
    temporary = [i.key for i in engine.snapshots.walk() if i.key.startswith("build-")]
    assert temporary == []
    builds = engine.store.root / "builds"
    assert not builds.exists() or [d for d in os.listdir(builds) if not d.startswith(".")] == []


@pytest.mark.parametrize("dockerfile, message", [
    ("", "no instructions"),
    ("RUN echo hi\n", "before FROM"),
    ("FROM busybox\nFORM x\n", "Dockerfile:2: unknown instruction: FORM"),
    ("FROM busybox\nCOPY --from=nope /a /b\n", "no stage or image"),
    ("FROM nosuchbase\n", "not found locally"),
    ("FROM busybox\nCOPY onlyone\n", "requires at least two arguments"),
    ("FROM busybox\nRUN <<EOF\necho unterminated\n", "Dockerfile:"),
])
def test_bad_dockerfiles_get_one_clear_line(ctx, dockerfile, message):
    r = build(ctx({"Dockerfile": dockerfile}))
    assert r.returncode == 1, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("minidocker: ") and message in last, r.stderr
    assert "Traceback" not in r.stderr


def test_quiet_prints_only_the_image_id_and_iidfile(ctx, engine, tmp_path):
    context = ctx({"Dockerfile": "FROM busybox\nLABEL a=b\n"})
    iid = tmp_path / "iid"
    r = build(context, "-q", "--iidfile", str(iid), "-t", "q:1")
    assert r.stdout.strip() == engine.image("q:1").id == iid.read_text()
    assert r.stderr == ""


@pytest.mark.parametrize("mode", ["w", "w:bz2", "w:xz"])
def test_add_extracts_plain_bzip2_and_xz_tars(ctx, engine, mode):
    context = ctx({"Dockerfile": "FROM busybox\nADD pkg.tar /opt/\n"})
    with tarfile.open(os.path.join(context, "pkg.tar"), mode) as t:
        data = b"packed"
        ti = tarfile.TarInfo("inner/file")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    assert build(context, "-t", "addx:1").returncode == 0
    assert files_of(engine, "addx:1")["opt/inner/file"] == b"packed"


def test_variables_shell_user_and_workdir_apply_to_later_steps(ctx, engine):
    df = """\
FROM busybox AS base
ARG NAME=world
ENV DIR=/srv/$NAME GREETING="hi \\$NAME"
WORKDIR $DIR
WORKDIR sub
SHELL ["/bin/sh", "-c", "-e"]
RUN echo "$GREETING $NAME from $(pwd)" > /tmp/out && id -u > /tmp/uid-root
USER nobody
RUN id -u > /tmp/uid
FROM base
COPY --from=0 /tmp/out /copied
"""
    context = ctx({"Dockerfile": df})
    r = build(context, "-t", "vars:1")
    assert r.returncode == 0, r.stderr
    img = engine.image("vars:1")
    cfg = img.config.container_config
    assert cfg["WorkingDir"] == "/srv/world/sub" and "DIR=/srv/world" in cfg["Env"]
    assert "GREETING=hi $NAME" in cfg["Env"]  # an escaped $ stays literal
    assert not any(e.startswith("NAME=") for e in cfg["Env"])  # ARGs are not kept in the image
    fs = files_of(engine, "vars:1")
    assert fs["tmp/out"] == b"hi $NAME world from /srv/world/sub\n"
    assert fs["tmp/uid-root"] == b"0\n" and fs["tmp/uid"] == b"65534\n"
    assert fs["copied"] == b"hi $NAME world from /srv/world/sub\n"
