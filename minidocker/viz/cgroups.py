"""Diagram (d): a container's cgroup, where it sits in the tree, its limits and its usage.

The tree is read from cgroupfs through the ``Kernel`` (so a fake cgroupfs or
the simulator draw the same way): the hierarchy's root, the caller's own
cgroup, the shared ``minidocker`` level and one cgroup per running
container. cgroup v2 has one tree; v1 has one per controller (memory, cpu,
cpuacct, pids), which is exactly the difference worth seeing. Parents count
their children's usage, so the numbers grow toward the root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..runtime import cgroups as cg
from ..runtime.spec import CPU_PERIOD_US
from . import style
from .diagram import Diagram

ROOT, CALLER, SHARED, CONTAINER = "root", "caller", "minidocker", "container"
_UNLIMITED = 1 << 62  # v1 writes "no limit" as a page-aligned near-2^63 number


@dataclass(frozen=True)
class Group:
    path: str                            # full path in cgroupfs
    role: str                            # root, caller, minidocker or container
    name: str                            # what to call it
    values: tuple[tuple[str, str], ...]  # limits and usage, ready to show
    exists: bool = True


@dataclass(frozen=True)
class Hierarchy:
    controller: str                      # "" for the v2 unified tree
    mount: str
    groups: tuple[Group, ...]            # root first; each one's parent is listed before it


@dataclass(frozen=True)
class CgroupTree:
    version: str
    container_id: str
    container_name: str
    status: str
    configured: tuple[tuple[str, str], ...]   # what the container asked for
    hierarchies: tuple[Hierarchy, ...]


def collect(engine, ref: str, layout: cg.Layout | None = None) -> CgroupTree:
    record = engine.containers.find(ref)
    k = engine.kernel
    layout = layout or cg.host_layout(k)
    names = {r.id: r.spec.name or r.id[:12] for r in engine.containers.all()}
    hierarchies = []
    for ctrl, own in sorted(cg.manager(k, record.id, layout).paths().items()):
        mount = layout.mounts[ctrl]
        shared = os.path.dirname(own)
        caller = os.path.dirname(shared)
        groups = [Group(mount, ROOT, f"{mount} (root)", _values(k, ctrl, mount))]
        if caller != mount:
            groups.append(Group(caller, CALLER, "minidocker's caller: " + caller[len(mount):],
                                _values(k, ctrl, caller)))
        groups.append(Group(shared, SHARED, "minidocker", _values(k, ctrl, shared),
                            _exists(k, shared)))
        siblings = sorted((names[cid], cid) for cid in names if cid != record.id and
                          _exists(k, os.path.join(shared, cid)))
        for name, cid in [(names[record.id], record.id)] + siblings:
            path = os.path.join(shared, cid)
            exists = _exists(k, path)
            groups.append(Group(path, CONTAINER, f"{name} ({cid[:12]})",
                                _values(k, ctrl, path) if exists else (), exists))
        hierarchies.append(Hierarchy(ctrl, mount, tuple(groups)))
    res = record.spec.resources
    configured = (("--memory", _iec(res.memory) if res.memory else "unlimited"),
                  ("--cpus", f"{res.nano_cpus / 1e9:g}" if res.nano_cpus else "unlimited"),
                  ("--pids-limit", str(res.pids_limit) if res.pids_limit not in (None, -1)
                   else "unlimited"))
    return CgroupTree(layout.version, record.id, record.spec.name,
                      record.observed_status(k), configured, tuple(hierarchies))


def _exists(k, path: str) -> bool:
    try:
        k.read_file(f"{path}/cgroup.procs")
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False


def _read(k, path: str) -> str | None:
    try:
        return k.read_file(path).strip()
    except OSError:
        return None  # not every level has every file (the root has no limits)


def _values(k, ctrl: str, path: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []

    def add(name: str, text: str | None, show) -> None:
        if text is not None and text != "":
            out.append((name, show(text)))

    procs = _read(k, f"{path}/cgroup.procs")
    if procs is not None:
        out.append(("processes", str(len(procs.split()))))
    if ctrl == "":  # v2: every controller in one directory
        add("memory.max", _read(k, f"{path}/memory.max"), _limit_bytes)
        add("memory.current", _read(k, f"{path}/memory.current"), lambda t: _iec(int(t)))
        add("OOM kills", _field(_read(k, f"{path}/memory.events"), "oom_kill"), str)
        add("cpu.max", _read(k, f"{path}/cpu.max"), _cpu_max)
        add("cpu used", _field(_read(k, f"{path}/cpu.stat"), "usage_usec"),
            lambda t: f"{int(t) / 1e6:.2f}s")
        add("pids.max", _read(k, f"{path}/pids.max"), _limit_count)
        add("pids.current", _read(k, f"{path}/pids.current"), str)
        add("delegates", _read(k, f"{path}/cgroup.subtree_control"), lambda t: t or "nothing")
    elif ctrl == "memory":
        add("memory.limit_in_bytes", _read(k, f"{path}/memory.limit_in_bytes"), _limit_bytes)
        add("memory.usage_in_bytes", _read(k, f"{path}/memory.usage_in_bytes"), lambda t: _iec(int(t)))
        add("OOM kills", _field(_read(k, f"{path}/memory.oom_control"), "oom_kill"), str)
    elif ctrl == "cpu":
        quota, period = _read(k, f"{path}/cpu.cfs_quota_us"), _read(k, f"{path}/cpu.cfs_period_us")
        if quota is not None:
            add("cpu.cfs_quota_us", f"{quota} {period or CPU_PERIOD_US}", _cpu_max)
    elif ctrl == "cpuacct":
        add("cpuacct.usage", _read(k, f"{path}/cpuacct.usage"), lambda t: f"{int(t) / 1e9:.2f}s")
    elif ctrl == "pids":
        add("pids.max", _read(k, f"{path}/pids.max"), _limit_count)
        add("pids.current", _read(k, f"{path}/pids.current"), str)
    return tuple(out)


def _field(text: str | None, key: str) -> str | None:
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return value.strip()
    return None


def _iec(n: int) -> str:
    """Binary units, as the user wrote the limit (64m is 64 MiB, not 67.1 MB)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:g}{unit}" if unit == "B" else f"{n:.4g}{unit}"
        n /= 1024
    return str(n)


def _limit_bytes(text: str) -> str:
    if text == "max" or (text.isdigit() and int(text) >= _UNLIMITED):
        return "unlimited"
    return _iec(int(text)) if text.isdigit() else text


def _limit_count(text: str) -> str:
    return "unlimited" if text == "max" else text


def _cpu_max(text: str) -> str:
    quota, _, period = text.partition(" ")
    if quota in ("max", "-1"):
        return "unlimited"
    try:
        return f"{int(quota) / int(period or CPU_PERIOD_US):g} CPU ({quota}µs per {period}µs)"
    except ValueError:
        return text


def draw(data: CgroupTree) -> Diagram:
    g = style.new_graph("cgroups", rankdir="TB")
    asked = ", ".join(f"{k} {v}" for k, v in data.configured)
    g.attr(label=style.text(f"cgroups ({data.version}) of container "
                            f"{data.container_name or data.container_id[:12]} ({data.status}): {asked}"),
           labelloc="t")
    for h in data.hierarchies:
        cluster = f"cluster_{h.controller or 'unified'}"
        with g.subgraph(name=cluster) as c:
            title = f"{h.controller} hierarchy" if h.controller else "unified hierarchy (v2)"
            c.attr(label=style.text(f"{title} at {h.mount}"), style="rounded", color="#999999")
            for grp in h.groups:
                mine = grp.role == CONTAINER and grp.path.endswith(data.container_id)
                fill = style.MADE if mine else (style.CONTAINER if grp.role == CONTAINER else "white")
                rows = list(grp.values) if grp.exists else ["no cgroup: the container is not running"]
                c.node(_id(h, grp), style.table(grp.name, rows, fill=fill, dashed=not grp.exists))
        paths = {grp.path: grp for grp in h.groups}
        for grp in h.groups[1:]:
            parent = os.path.dirname(grp.path)
            # the caller's cgroup may sit several levels down: link to the nearest drawn one
            while parent not in paths and parent not in ("/", ""):
                parent = os.path.dirname(parent)
            if parent in paths:
                g.edge(_id(h, paths[parent]), _id(h, grp))
    return Diagram(g, data)


def _id(h: Hierarchy, grp: Group) -> str:
    return style.node_id(f"cg_{h.controller or 'unified'}", grp.path)


def cgroup_tree(engine, container: str, layout: cg.Layout | None = None) -> Diagram:
    """Diagram (d) for ``container`` from the host's (or ``layout``'s) cgroupfs."""
    return draw(collect(engine, container, layout))
