"""cgroups: one manager interface, a v1 and a v2 implementation.

``detect`` reads the mount table: a ``cgroup2`` filesystem at the cgroup root
means v2 (the unified hierarchy); ``cgroup`` (v1) mounts per controller mean
v1, and "hybrid" when a v2 hierarchy is also mounted beside them (as here:
systemd's ``unified`` mount with no controllers, so limits go through v1).

Every container gets its cgroup *below the caller's own* (read from
``/proc/self/cgroup``), in ``<caller>/minidocker/<id>``: minidocker never
creates, limits or moves anything elsewhere. On v2 the caller's cgroup must
hand its controllers down, which the kernel allows only while no process
lives in it (the "no internal processes" rule; the root cgroup is exempt).
When minidocker itself is the only process there — a
``systemd-run --scope -p Delegate=yes`` scope, a delegated service — it
moves itself into a leaf of its own, ``<caller>/minidocker/runtime``, as
systemd asks of delegated services; when anything else lives there it
stops with a message instead of moving what is not its own. All access goes through the
``Kernel`` (``make_dir``, ``write_file`` …), so tests can point a manager at a
fake cgroupfs directory and the simulator can model it.

Limits follow Docker: ``--memory`` → ``memory.limit_in_bytes`` / ``memory.max``
(swap allowed up to the same amount again, Docker's default); ``--cpus`` →
CFS quota per 100 ms period (``cpu.cfs_quota_us`` / ``cpu.max``);
``--pids-limit`` → ``pids.max``. An OOM kill shows in ``memory.oom_control``
/ ``memory.events`` as ``oom_kill N``.
"""

from __future__ import annotations

import abc
import errno
import os
import signal
import time
from dataclasses import dataclass

from ..errors import MinidockerError
from ..kernel.base import Kernel
from .spec import CPU_PERIOD_US, Resources

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
V2_CONTROLLERS = ("memory", "cpu", "pids")
RUNTIME_LEAF = "runtime"   # <caller>/minidocker/runtime: where minidocker's own process moves on v2


@dataclass(frozen=True)
class Layout:
    """What the host offers: the version and where each hierarchy is mounted."""

    version: str                       # "v2", "v1" or "hybrid"
    mounts: dict[str, str]             # controller (or "" for v2) -> mount point
    caller: dict[str, str]             # controller (or "" for v2) -> the caller's cgroup path


def parse_layout(mountinfo: str, self_cgroup: str) -> Layout:
    """Work out the cgroup layout from /proc/self/mountinfo and /proc/self/cgroup."""
    v1: dict[str, str] = {}
    v2_mount = None
    for line in mountinfo.splitlines():
        pre, _, post = line.partition(" - ")
        fields, post_fields = pre.split(), post.split()
        if len(fields) < 5 or len(post_fields) < 3:
            continue
        fstype, mount_point, options = post_fields[0], fields[4], post_fields[2].split(",")
        if fstype == "cgroup2":
            if v2_mount is None or len(mount_point) < len(v2_mount):
                v2_mount = mount_point
        elif fstype == "cgroup":
            for opt in options:
                if opt in V1_CONTROLLERS:
                    v1.setdefault(opt, mount_point)
    caller: dict[str, str] = {}
    for line in self_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            caller[""] = path
        for c in controllers.split(","):
            if c in V1_CONTROLLERS:
                caller[c] = path
    if v1:
        version = "hybrid" if v2_mount else "v1"
        return Layout(version, v1, caller)
    if v2_mount:
        return Layout("v2", {"": v2_mount}, caller)
    raise MinidockerError("no cgroup filesystem is mounted; containers need cgroups")


def host_layout(kernel: Kernel) -> Layout:
    if _fixed is not None:
        return _fixed
    return parse_layout(kernel.read_file("/proc/self/mountinfo"),
                        kernel.read_file("/proc/self/cgroup"))


_fixed: Layout | None = None


def fix_layout(kernel: Kernel) -> None:
    """Read the layout once, for this process and the children it forks from now on.

    For the daemon's fork server: each supervisor it forks would otherwise parse
    ``/proc/self/mountinfo`` again (hundreds of lines on a busy host), on the way to
    its container's first process. The containers' cgroups are then made under the
    server's cgroup as it was at this call."""
    global _fixed
    _fixed = None
    _fixed = host_layout(kernel)


def prime_moves(kernel: Kernel, layout: Layout) -> None:
    """Move this process into the cgroup it is already in, to have a wait over with early.

    Every move between cgroups takes one global lock (``cgroup_threadgroup_rwsem``);
    the first taker after a quiet while waits for an RCU grace period (4-12 ms on the
    2-core VM), and for about one grace period after that, moves are fast. The daemon's
    fork server does this as a start begins: the wait then overlaps the supervisor's
    set-up instead of delaying the container's first process as it joins its cgroups.
    A refusal (v2's rules for inner cgroups) comes after the lock, so it is ignored.
    """
    key = next((c for c in ("pids", "memory", "") if c in layout.mounts), None)
    if key is None:
        return
    path = os.path.join(layout.mounts[key], layout.caller.get(key, "/").lstrip("/"), "cgroup.procs")
    try:
        kernel.write_file(path, "0")
    except OSError:
        pass


# How long `keep_moves_fast` keeps going at most, and how often it moves this process:
# the kernel keeps moves fast for 10-20 ms after the last one on the 2-core VM.
KEEP_FAST = 2.0
KEEP_EVERY = 0.008


def keep_moves_fast(kernel: Kernel, seconds: float = KEEP_FAST) -> None:
    """Keep cgroup moves fast while this process gets a container ready to start.

    A thread calls ``prime_moves`` every few milliseconds until this process next
    forks (at most ``seconds``). Just before that fork it is stopped, and this
    process moves itself once more. The container's first process is forked soon
    after and joins its cgroups without waiting for a grace period. That wait was
    8-16 ms of a cold ``minidocker run`` on the 2-core VM. The daemon does the same
    (``engine.forkserver``). Only this process is moved, into the cgroup it is
    already in. The thread has ended before any fork, so no child inherits a
    half-taken lock from it.
    """
    import threading
    layout = host_layout(kernel)
    stop = threading.Event()
    deadline = time.monotonic() + seconds

    def keep() -> None:
        while True:
            prime_moves(kernel, layout)
            if stop.wait(KEEP_EVERY) or time.monotonic() > deadline:
                return

    thread = threading.Thread(target=keep, name="minidocker-cgroup-primer", daemon=True)

    def before_fork() -> None:
        if thread.is_alive():
            stop.set()
            thread.join()
            prime_moves(kernel, layout)   # fresh for the child's join, milliseconds from now

    os.register_at_fork(before=before_fork)
    thread.start()


class CgroupManager(abc.ABC):
    """The cgroup(s) of one container."""

    def __init__(self, kernel: Kernel, layout: Layout, container_id: str):
        self.k = kernel
        self.layout = layout
        self.id = container_id

    @abc.abstractmethod
    def paths(self) -> dict[str, str]:
        """Controller → the container's cgroup directory."""

    @abc.abstractmethod
    def create(self, resources: Resources) -> None:
        """Make the cgroup(s) and write the limits."""

    @abc.abstractmethod
    def join_files(self) -> list[str]:
        """Files a process writes "0" into to join the container's cgroup(s)."""

    @abc.abstractmethod
    def oom_killed(self) -> bool: ...

    @abc.abstractmethod
    def cpu_usage_ns(self) -> int: ...

    @abc.abstractmethod
    def memory_usage(self) -> int: ...

    @abc.abstractmethod
    def procs_file(self) -> str: ...

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in self.k.read_file(self.procs_file()).split()]
        except FileNotFoundError:
            return []

    def _parents(self) -> dict[str, str]:
        return {c: os.path.dirname(p) for c, p in self.paths().items()}

    def _mkdirs(self) -> None:
        done = []
        try:
            for path in self.paths().values():
                self._mkdir_under_shared_parent(path)
                done.append(path)
        except BaseException:
            for path in done:
                self._rmdir(path)
            raise

    def _mkdir_under_shared_parent(self, path: str) -> None:
        """mkdir ``path`` below the shared "minidocker" cgroup, which another container's
        clean-up may remove at the same moment: then make it again and retry."""
        parent = os.path.dirname(path)
        for _ in range(100):
            try:
                self.k.make_dir(parent)
            except FileExistsError:
                pass
            try:
                self._prepare_parent(parent)
                self.k.make_dir(path)
                return
            except FileExistsError:
                raise MinidockerError(f"cgroup {path} already exists") from None
            except FileNotFoundError:
                continue  # the parent went away between the two mkdirs
        raise MinidockerError(f"cannot create cgroup {path}: its parent keeps disappearing")

    def _prepare_parent(self, parent: str) -> None:
        """Ready the shared parent for a new child (v2 delegates controllers to it)."""

    def _rmdir(self, path: str) -> None:
        for attempt in range(50):
            try:
                self.k.remove_dir(path)
                return
            except FileNotFoundError:
                return
            except OSError as e:
                if e.errno != errno.EBUSY or attempt == 49:
                    raise
                time.sleep(0.01)  # the last processes are still leaving

    def destroy(self) -> None:
        """Kill whatever is left in the cgroup and remove it (and an empty parent)."""
        for _ in range(100):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    self.k.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)
        for path in self.paths().values():
            self._rmdir(path)
        for parent in set(self._parents().values()):
            try:
                self.k.remove_dir(parent)  # the shared "minidocker" level, once empty
            except OSError:
                pass


class V1Manager(CgroupManager):
    def paths(self):
        return {c: os.path.join(self.layout.mounts[c],
                                self.layout.caller.get(c, "/").lstrip("/"), "minidocker", self.id)
                for c in V1_CONTROLLERS if c in self.layout.mounts}

    def create(self, resources):
        missing = [c for c in ("memory", "cpu", "pids") if c not in self.layout.mounts]
        if missing:
            raise MinidockerError(f"cgroup v1 controllers not mounted: {', '.join(missing)}")
        self._mkdirs()
        try:
            p = self.paths()
            if resources.memory is not None:
                self.k.write_file(f"{p['memory']}/memory.limit_in_bytes", str(resources.memory))
                try:  # present only when the kernel accounts swap
                    self.k.write_file(f"{p['memory']}/memory.memsw.limit_in_bytes",
                                      str(resources.memory * 2))
                except FileNotFoundError:
                    pass
            if resources.cpu_quota_us is not None:
                self.k.write_file(f"{p['cpu']}/cpu.cfs_period_us", str(CPU_PERIOD_US))
                self.k.write_file(f"{p['cpu']}/cpu.cfs_quota_us", str(max(resources.cpu_quota_us, 1000)))
            if resources.pids_limit is not None:
                self.k.write_file(f"{p['pids']}/pids.max", str(resources.pids_limit))
        except BaseException:
            self.destroy()
            raise

    def join_files(self):
        return [f"{p}/cgroup.procs" for p in self.paths().values()]

    def procs_file(self):
        return f"{self.paths()['memory']}/cgroup.procs"

    def oom_killed(self):
        try:
            text = self.k.read_file(f"{self.paths()['memory']}/memory.oom_control")
        except FileNotFoundError:
            return False
        return _counter(text, "oom_kill") > 0

    def cpu_usage_ns(self):
        ctrl = "cpuacct" if "cpuacct" in self.layout.mounts else "cpu"
        return int(self.k.read_file(f"{self.paths()[ctrl]}/cpuacct.usage").strip() or 0)

    def memory_usage(self):
        return int(self.k.read_file(f"{self.paths()['memory']}/memory.usage_in_bytes").strip() or 0)


class V2Manager(CgroupManager):
    def _base(self) -> str:
        return os.path.join(self.layout.mounts[""], self.layout.caller.get("", "/").lstrip("/"))

    def paths(self):
        return {"": os.path.join(self._base(), "minidocker", self.id)}

    def _enable(self, directory: str) -> None:
        """Delegate memory, cpu and pids to the children of ``directory``."""
        available = self.k.read_file(f"{directory}/cgroup.controllers").split()
        wanted = [c for c in V2_CONTROLLERS if c in available]
        missing = [c for c in V2_CONTROLLERS if c not in available]
        if missing:
            raise MinidockerError(f"cgroup v2: controllers {', '.join(missing)} are not available in "
                                  f"{directory}; run minidocker where they are delegated")
        enabled = self.k.read_file(f"{directory}/cgroup.subtree_control").split()
        todo = [c for c in wanted if c not in enabled]
        if not todo:
            return
        control = f"{directory}/cgroup.subtree_control"
        try:
            self.k.write_file(control, " ".join("+" + c for c in todo))
        except OSError as e:
            if e.errno not in (errno.EBUSY, errno.EOPNOTSUPP):
                raise
            self._leave(directory)
            try:
                self.k.write_file(control, " ".join("+" + c for c in todo))
            except OSError as again:
                raise MinidockerError(f"cgroup v2: cannot delegate controllers below {directory}: "
                                      f"{again.strerror or again}") from None

    def _leave(self, directory: str) -> None:
        """Move minidocker's own process out of ``directory`` into its runtime leaf,
        so that ``directory`` may delegate controllers; refuse if others live there."""
        me = self.k.getpid()
        others = [p for p in self.k.read_file(f"{directory}/cgroup.procs").split() if int(p) != me]
        if others:
            raise MinidockerError(
                f"cgroup v2: cannot delegate controllers below {directory}: other processes live "
                f"in it (the no-internal-processes rule), and minidocker moves only itself; start "
                "minidocker in a cgroup of its own, e.g. `systemd-run --scope -p Delegate=yes "
                "minidocker …`")
        if directory != self._base():
            raise MinidockerError(f"cgroup v2: minidocker's own process is in {directory}, "
                                  "where containers' cgroups are delegated; move it out first")
        shared = os.path.join(directory, "minidocker")
        leaf = os.path.join(shared, RUNTIME_LEAF)
        for path in (shared, leaf):
            try:
                self.k.make_dir(path)
            except FileExistsError:
                pass
        self.k.write_file(f"{leaf}/cgroup.procs", "0")

    def _prepare_parent(self, parent: str) -> None:
        self._enable(parent)  # again after a re-creation: a new cgroup delegates nothing

    def create(self, resources):
        self._enable(self._base())
        path = self.paths()[""]
        self._mkdirs()
        try:
            if resources.memory is not None:
                self.k.write_file(f"{path}/memory.max", str(resources.memory))
                self.k.write_file(f"{path}/memory.swap.max", str(resources.memory))
            if resources.cpu_quota_us is not None:
                self.k.write_file(f"{path}/cpu.max", f"{max(resources.cpu_quota_us, 1000)} {CPU_PERIOD_US}")
            if resources.pids_limit is not None:
                self.k.write_file(f"{path}/pids.max", str(resources.pids_limit))
        except BaseException:
            self.destroy()
            raise

    def join_files(self):
        return [f"{self.paths()['']}/cgroup.procs"]

    def procs_file(self):
        return f"{self.paths()['']}/cgroup.procs"

    def oom_killed(self):
        try:
            return _counter(self.k.read_file(f"{self.paths()['']}/memory.events"), "oom_kill") > 0
        except FileNotFoundError:
            return False

    def cpu_usage_ns(self):
        return _counter(self.k.read_file(f"{self.paths()['']}/cpu.stat"), "usage_usec") * 1000

    def memory_usage(self):
        return int(self.k.read_file(f"{self.paths()['']}/memory.current").strip() or 0)

    def destroy(self):
        kill = f"{self.paths()['']}/cgroup.kill"
        try:
            self.k.write_file(kill, "1")  # Linux ≥ 5.14 kills the whole cgroup at once
        except OSError:
            pass
        super().destroy()


def _counter(text: str, key: str) -> int:
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if k == key:
            return int(v)
    return 0


def manager(kernel: Kernel, container_id: str, layout: Layout | None = None) -> CgroupManager:
    layout = layout or host_layout(kernel)
    cls = V2Manager if layout.version == "v2" else V1Manager
    return cls(kernel, layout, container_id)
