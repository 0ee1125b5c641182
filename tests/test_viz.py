"""Diagrams: what each one shows is read from real state, the DOT source is stable,
and a machine without Graphviz's ``dot`` gets a message and the source, never a traceback."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from layers import make_tar
from minidocker import viz
from minidocker.cli import main
from minidocker.errors import MinidockerError, NotFound
from minidocker.image import oci
from minidocker.image.create import ingest_layer, write_image
from minidocker.image.reference import parse
from minidocker.viz import build as build_viz
from minidocker.viz import cgroups as cgroup_viz
from minidocker.viz import layers as layer_viz
from minidocker.viz import namespaces as ns_viz
from minidocker.viz import sharing as sharing_viz
from minidocker.viz.diagram import MISSING_DOT, RenderError


def md(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minidocker", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def stacked(engine, base: str, tag: str, steps: list[tuple[str, dict[str, bytes] | None]]):
    """An image made from ``base`` plus one layer per (created_by, files) step, or a
    metadata-only history entry when files is None — as a build would, without root."""
    img = engine.image(base)
    layers = list(img.manifest.layers)
    cfg = json.loads(json.dumps(img.config.raw))
    for created_by, files in steps:
        entry = {"created": "2024-01-01T00:00:00Z", "created_by": created_by}
        if files is None:
            entry["empty_layer"] = True
        else:
            tar = make_tar(*[(name, data) for name, data in files.items()])
            desc, diff_id = ingest_layer(engine.store, io.BytesIO(tar))
            layers.append(desc)
            cfg["rootfs"]["diff_ids"].append(diff_id)
        cfg["history"].append(entry)
    write_image(engine.store, layers, cfg, [parse(tag)])
    return engine.image(tag)


@pytest.fixture
def app(engine, busybox):
    return stacked(engine, "busybox", "app:1", [
        ("COPY runtime /opt/runtime", {"opt/runtime": b"r" * 5000}),
        ("ENV MODE=prod", None),
        ("COPY app.js /app/app.js", {"app/app.js": b"console.log(1)\n"}),
        ('CMD ["sh"]', None)])


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    """A PATH on which the graphviz package cannot find its `dot` program."""
    empty = tmp_path / "bin-without-dot"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


# -- (a) the layer stack ---------------------------------------------------------------------

def test_the_layer_stack_lists_the_images_layers_in_order_with_sizes_and_created_by(engine, app):
    data = layer_viz.collect(engine, "app:1")
    assert [e.created_by for e in data.layers] == [
        app.config.history[0]["created_by"], "COPY runtime /opt/runtime", "COPY app.js /app/app.js"]
    assert [e.size for e in data.layers] == [d.size for d in app.manifest.layers]
    assert [e.digest is None for e in data.entries] == [False, True, False, True, False, True]
    source = viz.image_layers(engine, "app:1").source
    positions = [source.index(text) for text in ("ADD file:", "COPY runtime /opt/runtime",
                                                 "ENV MODE=prod", "COPY app.js /app/app.js")]
    assert positions == sorted(positions)  # bottom first, as the stack is drawn upward
    for desc in app.manifest.layers:
        assert f"layer {desc.digest[7:19]}" in source
    assert "rankdir=BT" in source and "metadata only: no layer" in source
    assert "app:1" in source and "3 layers" in source


def test_commands_with_any_characters_are_drawn_literally(engine, busybox):
    odd = 'RUN printf "<b>&amp;\\n" > /x && echo \'{"a": 1}\' \\\n  | tee <<EOF'
    stacked(engine, "busybox", "odd:1", [(odd, {"x": b"x"}), ("LABEL x=<none>", None)])
    diagram = viz.image_layers(engine, "odd:1")
    svg = diagram.svg()  # dot accepts the source
    assert "&lt;b&gt;&amp;amp;" in svg and "&lt;none&gt;" in svg


def test_a_layer_unpacked_on_disk_says_so(engine, app):
    assert not any(e.unpacked for e in layer_viz.collect(engine, "app:1").layers)
    engine.unpack("app:1")
    assert all(e.unpacked for e in layer_viz.collect(engine, "app:1").layers)


@pytest.mark.root
def test_a_containers_writable_layer_sits_on_top_of_its_image(engine, app):
    record = engine.create("app:1", ["true"], name="web")
    try:
        data = layer_viz.collect(engine, "app:1", "web")
        assert data.container.name == "web" and data.container.status == "created"
        source = viz.image_layers(engine, "app:1", "web").source
        assert "writable layer (overlay upperdir)" in source and "copy-on-write" in source
        top = f"step_{len(data.entries) - 1}"
        assert f"{top} -> writable" in source
        with pytest.raises(MinidockerError, match="runs image app:1, not busybox"):
            layer_viz.collect(engine, "busybox", "web")
    finally:
        engine.rm(record.id, force=True)


# -- (b) sharing ------------------------------------------------------------------------------

def test_two_images_built_from_one_base_share_its_layer_nodes(engine, busybox):
    one = stacked(engine, "busybox", "one:1", [("COPY a /a", {"a": b"a"})])
    two = stacked(engine, "busybox", "two:1", [("COPY b /b", {"b": b"b"})])
    data = sharing_viz.collect(engine)
    base_chain = busybox.config.diff_ids[0]
    [base] = [layer for layer in data.layers if layer.chain_id == base_chain]
    assert base.images == ("busybox:latest", "one:1", "two:1")
    assert data.shared == (base,) and data.saved == 2 * base.size
    source = viz.shared_layers(engine).source
    base_node = sharing_viz.style.node_id("layer", base_chain)
    assert source.count(f"{base_node} [label=") == 1  # drawn once, however many use it
    for img in (one, two):
        top = oci.chain_ids(img.config.diff_ids)[-1]
        assert f"{base_node} -> {sharing_viz.style.node_id('layer', top)}" in source
    assert "3 images, 0 containers: 3 layers stored once, 1 shared" in source


def test_sharing_draws_only_the_named_images_and_rejects_unknown_names(engine, app):
    data = sharing_viz.collect(engine, ["app:1"])
    assert [i.label for i in data.images] == ["app:1"] and len(data.layers) == 3
    with pytest.raises(MinidockerError, match="No such image or container: nope"):
        sharing_viz.collect(engine, ["nope"])


# -- stable output, rendering, the missing `dot` -----------------------------------------------

def test_the_dot_source_is_identical_across_two_runs(state_root, app):
    from minidocker.engine import Engine
    first = [viz.image_layers(Engine(state_root), "app:1").source,
             viz.shared_layers(Engine(state_root)).source]
    second = [viz.image_layers(Engine(state_root), "app:1").source,
              viz.shared_layers(Engine(state_root)).source]
    assert first == second


def test_jupyter_gets_svg_when_dot_works(engine, app):
    bundle = viz.image_layers(engine, "app:1")._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"]


def test_without_dot_jupyter_gets_a_message_and_the_dot_source(engine, app, no_dot):
    diagram = viz.image_layers(engine, "app:1")
    bundle = diagram._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    message, rest = bundle["text/plain"].split("\n", 1)
    assert message == MISSING_DOT
    assert rest.strip() == diagram.source.strip()


def test_save_picks_the_format_from_the_suffix(engine, app, tmp_path):
    diagram = viz.image_layers(engine, "app:1")
    assert "<svg" in diagram.save(tmp_path / "a.svg").read_text()
    assert (tmp_path / "a.png").exists() is False
    assert diagram.save(tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")
    assert diagram.save(tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")
    assert diagram.save(tmp_path / "a.dot").read_text() == diagram.source
    with pytest.raises(MinidockerError, match="cannot tell the format"):
        diagram.save(tmp_path / "a.jpg")
    with pytest.raises(MinidockerError, match="cannot write"):
        diagram.save(tmp_path / "no-such-dir" / "a.svg")


def test_without_dot_save_says_what_to_install_and_leaves_no_file(engine, app, tmp_path, no_dot):
    diagram = viz.image_layers(engine, "app:1")
    with pytest.raises(RenderError, match="apt-get install graphviz"):
        diagram.save(tmp_path / "a.svg")
    assert not (tmp_path / "a.svg").exists()
    assert diagram.save(tmp_path / "a.dot").read_text() == diagram.source  # needs no dot


# -- (e) builds ---------------------------------------------------------------------------------

SEED = """\
FROM busybox
ENV MODE=prod
COPY runtime.txt /opt/runtime.txt
WORKDIR /app
COPY app.js .
CMD ["cat", "/app/app.js"]
"""


@pytest.fixture
def context(tmp_path, busybox):
    d = tmp_path / "ctx"
    d.mkdir()
    (d / "Dockerfile").write_text(SEED)
    (d / "runtime.txt").write_text("runtime 1\n")
    (d / "app.js").write_text("v1\n")
    return d


def _build(engine, context, tag: str):
    from minidocker.build.builder import BuildOptions
    return engine.build(str(context), BuildOptions(tags=[tag], quiet=True))


@pytest.mark.root
def test_a_cached_rebuild_shows_every_step_cached(engine, context):
    _build(engine, context, "seed:1")
    first = build_viz.collect(engine)
    assert [s.status for s in first.steps] == ["base"] + ["built"] * 5
    assert first.steps[1].reason == "first build of this step"
    image = _build(engine, context, "seed:2")
    data = build_viz.collect(engine)
    assert [s.status for s in data.steps] == ["base"] + ["CACHED"] * 5
    assert data.image_id == image.id and data.tags == ["seed:2"]
    source = viz.build_steps(engine).source
    assert source.count(">CACHED<") == 5 and "not cached" not in source
    assert "5 cached, 0 run" in source
    assert [e.cache for e in layer_viz.collect(engine, "seed:2").layers][1:] == \
        ["CACHED in the last build"] * 3


@pytest.mark.root
def test_a_changed_file_shows_the_miss_and_its_reason(engine, context):
    _build(engine, context, "seed:1")
    (context / "app.js").write_text("v2\n")
    _build(engine, context, "seed:2")
    data = build_viz.collect(engine)
    assert [(s.status, s.reason) for s in data.steps[1:]] == [
        ("CACHED", ""), ("CACHED", ""), ("CACHED", ""),
        ("built", "app.js changed"), ("built", "parent step rebuilt")]
    source = viz.build_steps(engine).source
    assert "app.js changed" in source and "parent step rebuilt" in source
    assert "3 cached, 2 run" in source
    stack = layer_viz.collect(engine, "seed:2")
    assert stack.layers[-1].cache == "built in the last build: app.js changed"
    assert build_viz.draw(data).source == build_viz.draw(build_viz.collect(engine)).source
    assert ">time<" not in source and ">time<" in build_viz.draw(data, timings=True).source


@pytest.mark.root
def test_a_failed_build_is_recorded_with_the_failing_step(engine, context):
    from minidocker.build.builder import BuildError
    (context / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    with pytest.raises(BuildError):
        _build(engine, context, "bad:1")
    data = build_viz.collect(engine)
    assert data.steps[-1].status == "failed" and "non-zero code: 3" in data.steps[-1].error
    assert "non-zero code: 3" in data.error and not data.image_id
    assert "failed:" in viz.build_steps(engine).source


def test_without_a_build_the_build_diagram_says_so(engine):
    with pytest.raises(NotFound, match="no build recorded yet"):
        viz.build_steps(engine)


# -- (d) cgroups -------------------------------------------------------------------------------

def test_the_cgroup_tree_shows_limits_and_usage_on_a_v2_host(state_root, tmp_path):
    from test_cgroups import FakeCgroupfs

    from minidocker.engine import Engine
    from minidocker.runtime import cgroups
    from minidocker.runtime.spec import ContainerSpec, Resources
    from minidocker.runtime.state import now
    kernel = FakeCgroupfs()
    root = tmp_path / "cgroup"
    root.mkdir()
    kernel.make_dir(str(root / "user.slice"))
    layout = cgroups.Layout("v2", {"": str(root)}, {"": "/user.slice"})
    engine = Engine(state_root, kernel=kernel)
    limits = Resources(memory=64 << 20, nano_cpus=500_000_000, pids_limit=20)
    for name, res in (("web", limits), ("db", Resources())):
        record = engine.containers.create(
            ContainerSpec(id=name * 8, name=name, image="busybox", image_id="", argv=("sh",), env=(),
                          resources=res), now())
        cgroups.manager(kernel, record.id, layout).create(res)
    (root / "user.slice" / "minidocker" / ("web" * 8) / "memory.current").write_text(str(5 << 20))
    data = cgroup_viz.collect(engine, "web", layout)
    [tree] = data.hierarchies
    assert [(g.role, g.name) for g in tree.groups] == [
        ("root", f"{root} (root)"), ("caller", "minidocker's caller: /user.slice"),
        ("minidocker", "minidocker"), ("container", f"web ({'web' * 4})"),
        ("container", f"db ({'db' * 6})")]
    web = dict(tree.groups[3].values)
    assert web["memory.max"] == "64MiB" and web["memory.current"] == "5MiB"
    assert web["cpu.max"].startswith("0.5 CPU") and web["pids.max"] == "20"
    assert dict(tree.groups[4].values)["memory.max"] == "unlimited"
    assert dict(tree.groups[1].values)["delegates"] == "cpu memory pids"
    source = viz.cgroup_tree(engine, "web", layout).source
    assert "unified hierarchy (v2)" in source and "--memory 64MiB, --cpus 0.5, --pids-limit 20" in source
    assert source == viz.cgroup_tree(engine, "web", layout).source


# -- (c) host and container views ---------------------------------------------------------------

def _event(op, *args, pid=100, result=None):
    return {"op": op, "args": args, "pid": pid, "result": result, "error": None}


def test_trace_events_give_the_containers_namespaces_processes_and_mounts():
    from minidocker.kernel import base
    rootfs = "/state/containers/abc/rootfs"
    events = [
        _event("make_dir", "/sys/fs/cgroup/minidocker/abc"),
        _event("unshare", base.CLONE_NEWPID),
        _event("fork", result=4242),
        _event("unshare", base.CLONE_NEWNS | base.CLONE_NEWUTS | base.CLONE_NEWNET, pid=1),
        _event("sethostname", "abc", pid=1),
        _event("mount", "", "/", None, base.MS_REC | base.MS_PRIVATE, pid=1),
        _event("mount", "overlay", rootfs, "overlay", 0, "lowerdir=…", pid=1),
        _event("mount", "proc", rootfs + "/proc", "proc", 0, pid=1),
        _event("mount", "/state/containers/abc/hosts", rootfs + "/etc/hosts", None, base.MS_BIND, pid=1),
        _event("pivot_root", ".", ".", pid=1),
        _event("umount", ".", base.MNT_DETACH, pid=1),
        _event("mount", "/proc/sys", "/proc/sys", None, base.MS_BIND | base.MS_REC, pid=1),
        _event("mount", "", "/proc/sys", None, base.MS_REMOUNT | base.MS_BIND | base.MS_RDONLY, pid=1),
        _event("execve", "/bin/sleep", ["sleep", "9"], {}, pid=1),
    ]
    data = ns_viz.from_events(events)
    assert data.new_namespaces == ("pid", "mount", "uts", "net") and data.hostname == "abc"
    runtime, child = data.processes
    assert runtime.pids == (100,) and not runtime.in_container
    assert child.pids == (4242, 1) and child.command == "sleep 9" and child.parent == "runtime"
    mounts = {m.target: m for m in data.container_mounts}
    assert list(mounts) == ["/", "/proc", "/etc/hosts", "/proc/sys"]
    assert mounts["/"].fstype == "overlay" and mounts["/etc/hosts"].source == "/state/containers/abc/hosts"
    assert mounts["/proc/sys"].readonly and mounts["/proc/sys"].parent == mounts["/proc"].key
    assert any("old root is detached" in n for n in data.notes)
    source = ns_viz.draw(data).source
    assert "PID here" in source and "4242" in source and "hostname abc" in source
    assert source == ns_viz.draw(ns_viz.from_events(events)).source


def test_mountinfo_is_read_as_a_tree():
    text = ("66 42 0:40 / / rw,relatime - overlay overlay rw,lowerdir=/a\n"
            "67 66 0:42 / /proc rw,nosuid - proc proc rw\n"
            "44 67 0:43 /null /proc/keys rw,nosuid - tmpfs tmpfs rw\n"
            "72 66 0:46 / /my\\040dir ro,nosuid - sysfs sysfs ro\n")
    root, proc, keys, mine = ns_viz.parse_mountinfo(text, "c")
    assert root.parent is None and proc.parent == "c66" and keys.parent == "c67"
    assert keys.source == "tmpfs:/null" and mine.target == "/my dir" and mine.readonly


@pytest.mark.root
def test_a_running_containers_cgroups_and_namespaces_are_drawn(engine, busybox):
    r = md("run", "-d", "--name", "limited", "--memory", "64m", "--pids-limit", "20",
           "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    try:
        data = cgroup_viz.collect(engine, "limited")
        mine = [g for h in data.hierarchies for g in h.groups
                if g.role == "container" and g.name.startswith("limited")]
        values = {k: v for g in mine for k, v in g.values}
        assert values.get("memory.limit_in_bytes", values.get("memory.max")) == "64MiB"
        assert values["pids.max"] == "20" and values["processes"] == "1"
        view = ns_viz.from_container(engine, "limited")
        [sleeper] = [p for p in view.processes if p.in_container]
        assert sleeper.pids[-1] == 1 and sleeper.pids[0] != 1 and sleeper.command == "sleep 60"
        assert "pid" in view.new_namespaces and "mount" in view.new_namespaces
        targets = {m.target: m.fstype for m in view.container_mounts}
        assert targets["/"] == "overlay" and targets["/proc"] == "proc"
        assert "overlay" not in {m.fstype for m in view.host_mounts if m.target == "/"}
        assert "PID on the host" in ns_viz.draw(view).source
    finally:
        md("rm", "-f", "limited")
    with pytest.raises(MinidockerError, match="No such container"):
        ns_viz.from_container(engine, "limited")


# -- (f) networks ------------------------------------------------------------------------------

TOPOLOGY = {
    "bridges": [{"name": "md0", "address": "172.18.0.1/16"}],
    "namespaces": [{"name": "web"}, {"name": "db"}],
    "veths": [{"host_end": "veth1", "container_end": "eth0", "bridge": "md0", "namespace": "web",
               "address": "172.18.0.2/16"},
              {"host_end": "veth2", "container_end": "eth0", "bridge": "md0", "namespace": "db",
               "address": "172.18.0.3/16"}],
    "ports": [{"host_port": 8080, "namespace": "web", "container_port": 80}],
    "uplink": "eth0", "nat": True,
}


def test_a_network_description_draws_bridge_veths_namespaces_and_ports():
    diagram = viz.network_topology(TOPOLOGY)
    assert isinstance(diagram.data, viz.Topology) and len(diagram.data.veths) == 2
    source = diagram.source
    for text in ("bridge md0", "172.18.0.1/16", "network namespace of web", "network namespace of db",
                 "0.0.0.0:8080/tcp", "forwarded → 172.18.0.2:80", "NAT (masquerade)", "veth pair"):
        assert text in source, text
    assert source.count('label="veth pair"') == 2
    assert source == viz.network_topology(TOPOLOGY).source


@pytest.mark.parametrize("broken, message", [
    ({"veths": [{"host_end": "v"}]}, "misses a field"),
    ({**TOPOLOGY, "bridges": []}, "no bridge named 'md0'"),
    ({**TOPOLOGY, "ports": [{"host_port": 1, "namespace": "x", "container_port": 1}]}, "no namespace"),
    ({"routers": []}, "unknown key"),
])
def test_a_wrong_network_description_is_named(broken, message):
    with pytest.raises(MinidockerError, match=message):
        viz.network_topology(broken)


# -- the CLI -----------------------------------------------------------------------------------

def test_cli_prints_dot_or_writes_the_file_it_is_asked_for(app, tmp_path, capsys):
    assert main(["viz", "layers", "app:1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph layers {") and "COPY app.js /app/app.js" in out
    assert main(["viz", "sharing", "-o", str(tmp_path / "s.svg")]) == 0
    assert "<svg" in (tmp_path / "s.svg").read_text() and capsys.readouterr().out == ""
    description = tmp_path / "net.json"
    description.write_text(json.dumps(TOPOLOGY))
    assert main(["viz", "network", str(description), "-o", str(tmp_path / "n.dot")]) == 0
    assert (tmp_path / "n.dot").read_text().startswith("digraph network {")


@pytest.mark.root
def test_cli_draws_the_last_build_or_a_saved_record(engine, context, state_root, tmp_path, capsys):
    _build(engine, context, "seed:1")
    assert main(["viz", "build", "--last"]) == 0
    last = capsys.readouterr().out
    assert last.startswith("digraph build {") and "5 cached" not in last and "first build" in last
    saved = tmp_path / "record.json"
    shutil.copy(state_root / "last-build.json", saved)
    _build(engine, context, "seed:2")
    assert main(["viz", "build", "--record", str(saved)]) == 0
    assert capsys.readouterr().out == last
    assert main(["viz", "build", "--timings"]) == 0
    assert "5 cached" in capsys.readouterr().out
    (tmp_path / "other.json").write_text('{"steps": 3}')
    assert main(["viz", "build", "--record", str(tmp_path / "other.json")]) == 1
    assert "is not a build record" in capsys.readouterr().err


@pytest.mark.parametrize("args, code, message", [
    (["viz", "layers", "nosuch"], 1, "minidocker: No such image: nosuch:latest"),
    (["viz", "sharing", "nosuch"], 1, "minidocker: No such image or container: nosuch"),
    (["viz", "cgroups", "nosuch"], 1, "minidocker: No such container: nosuch"),
    (["viz", "build"], 1, "minidocker: no build recorded yet: run `minidocker build` first"),
    (["viz", "layers", "busybox", "-o", "/nonexistent-dir/x.svg"], 1,
     "minidocker: cannot write /nonexistent-dir/x.svg: No such file or directory"),
    (["viz", "layers", "busybox", "-o", "x.jpg"], 1, "minidocker: cannot tell the format of x.jpg"),
    (["viz", "network", "/nonexistent.json"], 1, "minidocker: cannot read /nonexistent.json"),
    (["viz", "pictures"], 125, "minidocker: argument KIND: invalid choice: 'pictures'"),
])
def test_cli_errors_exit_nonzero_with_one_line(busybox, args, code, message):
    r = md(*args)
    assert r.returncode == code, r.stderr
    problems = [line for line in r.stderr.splitlines() if line.startswith("minidocker:")]
    assert len(problems) == 1 and problems[0].startswith(message), r.stderr
    assert "Traceback" not in r.stderr


def test_cli_without_dot_gives_one_line_and_the_dot_source(busybox, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    r = md("viz", "layers", "busybox", "-o", str(tmp_path / "a.svg"),
           env={**os.environ, "PATH": str(empty)})
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"minidocker: cannot render {tmp_path / 'a.svg'}: {MISSING_DOT}"]
    assert r.stdout.startswith("digraph layers {") and not (tmp_path / "a.svg").exists()


def test_viz_is_not_loaded_by_other_commands(state_root):
    code = ("import sys; from minidocker.cli import main; main(['images', '-q']); "
            "print('minidocker.viz' in sys.modules, 'graphviz' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip().splitlines()[-1] == "False False", r.stderr
