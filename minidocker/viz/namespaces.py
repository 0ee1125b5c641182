"""Diagram (c): the host's view and the container's view — processes and mount tables.

The same process has two PIDs (the host's and 1 inside the container's PID
namespace); the container's mount namespace holds a small tree rooted at its
overlay, which the host's mount table never shows. Two sources feed it:

- ``from_container``: a running container, read from ``/proc`` through the
  ``Kernel`` (``NSpid`` in ``status``, ``mountinfo``, the cgroup's process list);
- ``from_events``: a list of ``TracingKernel`` events (or dicts with the same
  fields), replaying the runtime's forks, unshares, mounts and pivot_root —
  what a notebook steps through, and what the simulator will produce.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Conflict
from ..kernel import base
from . import style
from .diagram import Diagram

MAX_HOST_MOUNTS = 25   # a host has dozens; the lesson needs the shape, not all of them
_NS_FLAGS = ((base.CLONE_NEWPID, "pid"), (base.CLONE_NEWNS, "mount"), (base.CLONE_NEWUTS, "uts"),
             (base.CLONE_NEWIPC, "ipc"), (base.CLONE_NEWNET, "net"),
             (base.CLONE_NEWCGROUP, "cgroup"), (base.CLONE_NEWUSER, "user"))


@dataclass(frozen=True)
class Process:
    key: str
    pids: tuple[int, ...]      # outermost (host) first, as in NSpid; one PID = host only
    parent: str | None
    command: str
    in_container: bool


@dataclass(frozen=True)
class MountPoint:
    key: str
    parent: str | None
    target: str
    fstype: str
    source: str
    readonly: bool = False


@dataclass(frozen=True)
class Namespaces:
    title: str
    hostname: str
    new_namespaces: tuple[str, ...]      # what the container does not share with the host
    processes: tuple[Process, ...]
    host_mounts: tuple[MountPoint, ...]
    host_mounts_total: int
    container_mounts: tuple[MountPoint, ...]
    notes: tuple[str, ...] = ()


# -- from a running container -----------------------------------------------------------

def from_container(engine, ref: str) -> Namespaces:
    from ..runtime import cgroups
    from ..runtime.state import RUNNING
    record = engine.containers.find(ref)
    k = engine.kernel
    if record.observed_status(k) != RUNNING:
        raise Conflict(f"container {record.spec.name or record.id[:12]} is not running: "
                       "its namespaces exist only while it runs")
    if getattr(engine, "_elsewhere", lambda r: False)(record):
        return _from_dict(engine.ask_supervisor(record, "namespaces"))
    pids = sorted(set(cgroups.manager(k, record.id).pids()) | {record.state.SupervisorPid})
    found = {}
    for pid in pids:
        info = _proc(k, pid)
        if info is not None:
            found[pid] = info
    procs = []
    for pid, (nspids, ppid, command) in found.items():
        procs.append(Process(f"p{pid}", nspids, f"p{ppid}" if ppid in found else None, command,
                             pid != record.state.SupervisorPid))
    host = parse_mountinfo(k.read_file("/proc/self/mountinfo"), "h")
    inside = parse_mountinfo(k.read_file(f"/proc/{record.state.Pid}/mountinfo"), "c")
    known = ["pid"] if any(len(p.pids) > 1 for p in procs) else []
    if [(m.target, m.fstype) for m in inside] != [(m.target, m.fstype) for m in host]:
        known.append("mount")
    name = record.spec.name or record.id[:12]
    return Namespaces(f"container {name}: the host's view and its own", record.spec.hostname,
                      tuple(known), tuple(procs), host[:MAX_HOST_MOUNTS], len(host), inside)


def _from_dict(obj: dict) -> Namespaces:
    """A ``Namespaces`` sent as JSON (by a simulated container's supervisor)."""
    obj = dict(obj)
    obj["processes"] = tuple(Process(**dict(p, pids=tuple(p["pids"]))) for p in obj["processes"])
    for key in ("host_mounts", "container_mounts"):
        obj[key] = tuple(MountPoint(**m) for m in obj[key])
    for key in ("new_namespaces", "notes"):
        obj[key] = tuple(obj[key])
    return Namespaces(**obj)


def _proc(k, pid: int) -> tuple[tuple[int, ...], int, str] | None:
    try:
        status = k.read_file(f"/proc/{pid}/status")
        cmdline = k.read_file(f"/proc/{pid}/cmdline")
    except (FileNotFoundError, ProcessLookupError):
        return None  # it exited while we looked
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    nspids = tuple(int(p) for p in fields.get("NSpid", str(pid)).split())
    ppid = int(fields.get("PPid", "0").strip() or 0)
    command = " ".join(cmdline.split("\0")).strip() or f"[{fields.get('Name', '?').strip()}]"
    return nspids, ppid, command


def parse_mountinfo(text: str, prefix: str) -> tuple[MountPoint, ...]:
    """``/proc/PID/mountinfo`` as a tree (each mount names its parent's id)."""
    out = []
    ids = set()
    for line in text.splitlines():
        pre, _, post = line.partition(" - ")
        f, p = pre.split(), post.split()
        if len(f) < 6 or len(p) < 2:
            continue
        mid, parent, root, target, options = f[0], f[1], f[3], f[4], f[5].split(",")
        source = p[1] if root == "/" else f"{p[1]}:{root}"
        out.append(MountPoint(f"{prefix}{mid}", f"{prefix}{parent}", _unescape(target), p[0],
                              _unescape(source), "ro" in options))
        ids.add(f"{prefix}{mid}")
    # the root mount's parent lies outside this namespace: no edge for it
    return tuple(m if m.parent in ids else _no_parent(m) for m in out)


def _no_parent(m: MountPoint) -> MountPoint:
    return MountPoint(m.key, None, m.target, m.fstype, m.source, m.readonly)


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        text = text.replace(code, char)
    return text


# -- from trace events ------------------------------------------------------------------

def _get(event, name: str, default=None):
    return event.get(name, default) if isinstance(event, dict) else getattr(event, name, default)


def from_events(events, title: str = "a container start, from its trace") -> Namespaces:
    """Replay the runtime's kernel calls: who forked whom, which namespaces were left,
    what was mounted where (paths as the container sees them after pivot_root)."""
    events = [e for e in events if not _get(e, "error")]
    if not events:
        return Namespaces(title, "", (), (), (), 0, ())
    origin = _get(events[0], "pid")
    order: list[int] = [origin]
    host_pid: dict[int, int] = {}
    forks: list[int] = []
    new: set[str] = set()
    hostname = ""
    commands: dict[int, str] = {}
    mounts: list[dict] = []
    rootfs = None
    pivoted = False
    notes: list[str] = []
    for e in events:
        op, args, pid = _get(e, "op"), tuple(_get(e, "args", ())), _get(e, "pid")
        if pid not in order:
            order.append(pid)
            if forks:
                host_pid[pid] = forks.pop(0)  # the child's own getpid() is its PID inside
        if op == "fork" and _get(e, "result"):
            forks.append(_get(e, "result"))
        elif op == "unshare":
            new |= {name for bit, name in _NS_FLAGS if args[0] & bit}
        elif op == "sethostname":
            hostname = args[0]
        elif op == "execve":
            commands[pid] = " ".join(args[1]) if len(args) > 1 else args[0]
        elif op == "pivot_root":
            pivoted = True
        elif op == "umount" and pivoted:
            notes.append("the old root is detached: no path leads back to the host")
        elif op == "mount":
            source, target, fstype, flags = (list(args) + ["", "", None, 0])[:4]
            if flags & base.MS_REMOUNT:
                for m in reversed(mounts):
                    if m["target"] == _inside(target, rootfs, pivoted):
                        m["readonly"] = bool(flags & base.MS_RDONLY)
                        break
                continue
            if flags & (base.MS_PRIVATE | base.MS_SLAVE) and not fstype:
                notes.append("every mount made private: nothing mounted here reaches the host")
                continue
            if fstype == "overlay" and rootfs is None:
                rootfs = target
            mounts.append({"target": _inside(target, rootfs, pivoted),
                           "fstype": fstype or "bind", "source": _inside(source, rootfs, pivoted)
                           if fstype is None and source.startswith("/") else source,
                           "readonly": bool(flags & base.MS_RDONLY)})
    procs = []
    for n, pid in enumerate(order):
        key = "runtime" if n == 0 else f"proc{n}"
        parent = None if n == 0 else "runtime"
        pids = (pid,) if n == 0 else ((host_pid[pid], pid) if pid in host_pid else (pid,))
        name = "minidocker (the runtime)" if n == 0 else commands.get(pid, "container init")
        procs.append(Process(key, pids, parent, name, n != 0))
    tree = []
    for i, m in enumerate(mounts):
        parent = None
        for j in range(i - 1, -1, -1):  # the nearest earlier mount that contains this path
            t = mounts[j]["target"]
            if t != m["target"] and (t == "/" or m["target"].startswith(t.rstrip("/") + "/")):
                parent = f"e{j}"
                break
        tree.append(MountPoint(f"e{i}", parent, m["target"], m["fstype"], m["source"], m["readonly"]))
    return Namespaces(title, hostname, tuple(name for _, name in _NS_FLAGS if name in new),
                      tuple(procs), (), 0, tuple(tree), tuple(dict.fromkeys(notes)))


def _inside(path: str, rootfs: str | None, pivoted: bool) -> str:
    """A mount target as the container will see it once its root is ``rootfs``."""
    if pivoted or rootfs is None or not path.startswith(rootfs):
        return path
    return path[len(rootfs):] or "/"


# -- drawing ------------------------------------------------------------------------------

def draw(data: Namespaces) -> Diagram:
    g = style.new_graph("namespaces", rankdir="LR")
    g.attr(label=style.text(data.title), labelloc="t")
    with g.subgraph(name="cluster_host") as host:
        host.attr(label="host", style="rounded", color="#999999", bgcolor=style.HOST)
        for p in data.processes:
            if not p.in_container:
                host.node(p.key, _process(p, style.IMAGE))
        _mount_table(host, "host", data.host_mounts, data.host_mounts_total)
        with host.subgraph(name="cluster_container") as c:
            shows = ", ".join(data.new_namespaces) or "unknown"
            c.attr(label=style.text(f"container — its own namespaces: {shows}"
                                    + (f"; hostname {data.hostname}" if data.hostname else "")),
                   style="rounded", color="#c07a30", bgcolor=style.CONTAINER)
            for p in data.processes:
                if p.in_container:
                    c.node(p.key, _process(p, style.MADE))
            _mount_table(c, "container", data.container_mounts, len(data.container_mounts))
            if data.notes:
                c.node("notes", style.table("notes", list(data.notes), fill="white", dashed=True))
    for p in data.processes:
        if p.parent is not None:
            g.edge(p.parent, p.key, label="fork")
    return Diagram(g, data)


def _process(p: Process, fill: str) -> str:
    rows: list = []
    if len(p.pids) > 1:
        rows += [("PID here", str(p.pids[-1])), ("PID on the host", str(p.pids[0]))]
    elif p.pids:
        rows.append(("PID", str(p.pids[0])))
    return style.table(style.clip(p.command, 50), rows, fill=fill)


def _mount_table(graph, name: str, mounts: tuple[MountPoint, ...], total: int) -> None:
    if not mounts:
        return
    with graph.subgraph(name=f"cluster_mounts_{name}") as m:
        more = f", first {len(mounts)} of {total} shown" if total > len(mounts) else ""
        m.attr(label=f"mount table ({name}{more})", style="dashed", color="#999999")
        keys = {mp.key for mp in mounts}
        for mp in mounts:
            rows = [("type", mp.fstype), ("source", style.clip(mp.source, 40))]
            if mp.readonly:
                rows.append(("mode", "read-only"))
            m.node(mp.key, style.table(mp.target, rows, fill="white"))
        for mp in mounts:
            if mp.parent in keys:
                m.edge(mp.parent, mp.key, arrowhead="none")


def host_and_container(engine, container: str) -> Diagram:
    """Diagram (c) of a running container."""
    return draw(from_container(engine, container))
