"""``TracingKernel``: any Kernel, with every call recorded and explained.

Each call becomes an ``Event`` (operation, arguments, result or error, the
process it ran in, a one-line reason) appended to ``events`` and passed to
``sink``. ``minidocker run --explain`` prints them as they happen; tests use
``fail`` to make the Nth call of an operation raise, to prove the runtime
cleans up after any failed step.

Calls made in a forked child (the container's first process) are recorded
in the child's copy; the sink is what carries them out. ``close_fds`` keeps
the sink's descriptor open, and as it is close-on-exec it disappears at the
container's ``execve``, so it never leaks into the container.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from . import base
from .base import Kernel

# typing costs ~3 ms to import; annotations are strings here, so only type checkers need it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

_NAMESPACES = [(base.CLONE_NEWPID, "CLONE_NEWPID"), (base.CLONE_NEWNS, "CLONE_NEWNS"),
               (base.CLONE_NEWUTS, "CLONE_NEWUTS"), (base.CLONE_NEWIPC, "CLONE_NEWIPC"),
               (base.CLONE_NEWNET, "CLONE_NEWNET"), (base.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
               (base.CLONE_NEWUSER, "CLONE_NEWUSER")]
_NS_WORDS = {"CLONE_NEWNS": "mount", "CLONE_NEWUTS": "hostname", "CLONE_NEWIPC": "IPC",
             "CLONE_NEWNET": "network", "CLONE_NEWCGROUP": "cgroup", "CLONE_NEWUSER": "user",
             "CLONE_NEWPID": "PID"}
_MOUNT_FLAGS = [(base.MS_RDONLY, "MS_RDONLY"), (base.MS_BIND, "MS_BIND"), (base.MS_REC, "MS_REC"),
                (base.MS_REMOUNT, "MS_REMOUNT"), (base.MS_PRIVATE, "MS_PRIVATE"),
                (base.MS_NOSUID, "MS_NOSUID"), (base.MS_NODEV, "MS_NODEV"), (base.MS_NOEXEC, "MS_NOEXEC")]
# Operations too frequent or too dull to print one by one (unpacking a layer
# chowns every file); they are still recorded.
QUIET = frozenset({"chown", "getxattr", "listxattr", "read_file", "process_alive", "waitpid"})


def _flags(value: int, table) -> str:
    names = [name for bit, name in table if value & bit]
    return "|".join(names) or "0"


@dataclass
class Event:
    op: str
    args: tuple
    pid: int
    reason: str
    result: object = None
    error: str | None = None
    at: float = field(default_factory=time.monotonic)
    context: dict = field(default_factory=dict)   # the caller's namespaces and cgroup

    def to_json(self) -> dict:
        return {"op": self.op, "args": [_jsonable(a) for a in self.args], "pid": self.pid,
                "reason": self.reason, "result": _jsonable(self.result), "error": self.error,
                "at": self.at, "context": self.context}

    @classmethod
    def from_json(cls, obj: dict) -> "Event":
        return cls(obj["op"], tuple(obj["args"]), obj["pid"], obj["reason"], obj["result"],
                   obj["error"], obj["at"], obj.get("context", {}))

    def call(self) -> str:
        if self.op == "unshare" or self.op == "setns":
            shown = [self.args[0], _flags(self.args[-1], _NAMESPACES)] if self.op == "setns" \
                else [_flags(self.args[0], _NAMESPACES)]
        elif self.op == "mount":
            source, target, fstype, flags, data = (list(self.args) + [0, ""])[:5]
            shown = [repr(source), repr(target), repr(fstype), _flags(flags, _MOUNT_FLAGS)] + \
                ([repr(data[:60] + ("…" if len(data) > 60 else ""))] if data else [])
        elif self.op == "execve":
            shown = [repr(self.args[0]), repr(list(self.args[1]))]
        elif self.op == "fork":
            shown = []  # the argument is the code the child runs: nothing to read
        else:
            shown = [repr(a) if isinstance(a, str) else str(a) for a in self.args]
        return f"{self.op}({', '.join(str(s) for s in shown)})"

    def line(self) -> str:
        text = f"{self.call()}: {self.reason}"
        return text + (f"  → failed: {self.error}" if self.error else "")


def _network_args(op: str, args: tuple, kwargs: dict) -> tuple:
    """A network call's arguments as a learner reads them: a rule in iptables' words,
    keyword arguments as ``name=value``."""
    if op == "firewall":
        rule, add = args[0], (list(args[1:]) + [kwargs.get("add", True)])[0]
        return (f"-t {rule.table} {'-A' if add else '-D'} {rule.chain} {' '.join(rule.args)}",)
    return tuple(args) + tuple(f"{k}={v}" for k, v in kwargs.items() if v is not None)


def _link_add_reason(args, kw) -> str:
    kind = args[1] if len(args) > 1 else kw.get("kind", "")
    if kind == "bridge":
        return "a virtual switch on the host: the containers' veths plug into it"
    if kind == "veth":
        return (f"a virtual cable: one end stays on the host, the other appears as "
                f"{kw.get('peer', '?')} inside the container's network namespace")
    return f"a new {kind} interface"


def _link_set_reason(args, kw) -> str:
    parts = []
    if kw.get("master"):
        parts.append(f"plug it into the bridge {kw['master']}")
    if kw.get("up"):
        parts.append("bring it up")
    where = " (inside the container)" if kw.get("netns") else ""
    return (", ".join(parts) or "change the interface") + where


_NETWORK_REASONS = {
    "link_add": _link_add_reason,
    "link_set": _link_set_reason,
    "link_delete": lambda a, kw: "remove the interface (a veth pair goes as a whole)",
    "link_gone": lambda a, kw: ("wait for the kernel to remove the veth pair with the container's "
                                "network namespace"),
    "addr_add": lambda a, kw: ("the container's address, from the network's pool" if kw.get("netns")
                               else "the bridge's address: the containers' gateway"),
    "route_add": lambda a, kw: "send everything not local to the gateway on the bridge",
    "links": lambda a, kw: "list the network interfaces",
    "routes": lambda a, kw: "list the routes",
    "firewall": lambda a, kw: ("a packet-filter rule: " + (
        "hide the containers' addresses behind the host's (NAT)" if "MASQUERADE" in a[0].args else
        "traffic between two networks is dropped" if a[0].args[-1] in ("DROP", "MINIDOCKER-ISOLATION-1",
                                                                        "MINIDOCKER-ISOLATION-2")
        else "let the bridge's traffic be forwarded")
        + ("" if (a[1:] + (kw.get("add", True),))[0] else " (removed)")),
    "firewall_rules": lambda a, kw: "list the packet-filter rules",
    "open_port": lambda a, kw: "take the host's port for a published port (the proxy listens there)",
    "connect": lambda a, kw: "the proxy connects to the container's port",
}


def explain(op: str, args: tuple, kwargs: dict | None = None) -> str:
    """A one-line reason for a kernel call, for learners."""
    if op == "unshare":
        names = _flags(args[0], _NAMESPACES).split("|")
        if names == ["CLONE_NEWPID"]:
            return "the next child becomes PID 1 of a new PID namespace"
        return "leave the host's " + ", ".join(_NS_WORDS[n] for n in names) + " namespaces"
    if op == "setns":
        if args[0] == "/proc/self/ns/pid":
            return "back to our own PID namespace for any later child"
        return f"join the container's {_NS_WORDS.get(_flags(args[1], _NAMESPACES), '')} namespace"
    if op == "mknod":
        device = args[2] if len(args) > 2 else 0
        if device == 0:
            return "a whiteout: a 0/0 character device hides a file of a lower layer"
        return f"a device node ({os.major(device)}, {os.minor(device)}), like the host's"
    if op == "mount":
        source, target, fstype, flags = (list(args) + [0])[:4]
        if flags & base.MS_REMOUNT:
            return "make it read-only" if flags & base.MS_RDONLY else "change mount flags"
        if flags & base.MS_PRIVATE:
            return "make every mount private: nothing mounted here propagates to the host"
        return {
            "overlay": "stack read-only lower layers under a writable upper one (an image's "
                       "layers under a container's own)" if "upperdir=" in str((list(args) + [""] * 5)[4])
                       else "stack read-only layers into one read-only view",
            "proc": "a fresh /proc that shows only this PID namespace",
            "tmpfs": "a small in-memory filesystem (for /dev, /dev/shm or to mask a path)",
            "devpts": "a private instance of /dev/pts: the container's own terminals",
            "sysfs": "/sys, read-only",
            "mqueue": "POSIX message queues of this IPC namespace",
        }.get(fstype or "", "bind a host path into the container" if source.startswith("/")
              and not source.startswith("/dev/null") else "hide a sensitive path behind /dev/null")
    if op == "umount":
        return "detach the old root: no path leads back to the host" if args[0] == "." \
            else "detach this mount; what was written to it stays in its directories"
    if op in _NETWORK_REASONS:
        return _NETWORK_REASONS[op](args, kwargs or {})
    return {
        "pivot_root": "make the container's filesystem the root of this mount namespace",
        "sethostname": "the new UTS namespace gets its own host name",
        "fork": "a new process (the container's, or the one that will exec)",
        "execve": "replace this process with the container's program",
        "kill": "send a signal",
        "symlink": "create a symbolic link",
        "chdir": "change the working directory",
        "set_identity": "drop root: become the container's user and groups",
        "limit_capabilities": "keep only Docker's 14 default capabilities",
        "close_fds": "close every file the runtime had open, so none leaks into the container",
        "loopback_up": "bring up lo, the only interface of the new network namespace",
        "setsid": "a new session: the container is not tied to our terminal",
        "open_pty": "a terminal made inside the container's /dev/pts",
        "set_controlling_tty": "that terminal becomes the container's controlling terminal",
        "make_dir": "create a cgroup (a directory in cgroupfs)",
        "remove_dir": "remove a cgroup",
        "setxattr": "set an extended attribute (an overlay opaque directory)",
    }.get(op, "") or (_write_reason(args) if op == "write_file" else op)


def _write_reason(args: tuple) -> str:
    name = os.path.basename(args[0])
    return {
        "cgroup.procs": "join the container's cgroup: its limits apply from now on",
        "memory.limit_in_bytes": "memory limit (cgroup v1)", "memory.max": "memory limit (cgroup v2)",
        "memory.memsw.limit_in_bytes": "memory + swap limit (cgroup v1)",
        "memory.swap.max": "swap limit (cgroup v2)",
        "cpu.cfs_quota_us": "CPU time allowed per period (cgroup v1)",
        "cpu.cfs_period_us": "the CPU accounting period (cgroup v1)",
        "cpu.max": "CPU quota and period (cgroup v2)", "pids.max": "process limit",
        "cgroup.subtree_control": "let child cgroups use these controllers",
        "cgroup.kill": "kill every process in the cgroup",
    }.get(name, f"write {name}")


class TracingKernel(Kernel):
    def __init__(self, inner: Kernel, sink: Callable[[Event], None] | None = None,
                 keep_fd: int | None = None):
        self.inner = inner
        self.sink = sink
        self.keep_fd = keep_fd
        self.events: list[Event] = []
        self.with_context = False
        self.name = f"tracing({inner.name})"
        self._faults: dict[str, list[int]] = {}
        self._counts: dict[str, int] = {}

    def fail(self, op: str, nth: int = 1, err: int = errno.EIO) -> None:
        """Make the ``nth`` call of ``op`` (counting from 1) raise OSError(err)."""
        self._faults.setdefault(op, []).append((nth, err))

    @property
    def privileged(self) -> bool:
        return self.inner.privileged

    @property
    def simulated(self) -> bool:
        return self.inner.simulated

    @property
    def detach_in_process(self) -> bool:
        return self.inner.detach_in_process

    @property
    def fs(self):
        return self.inner.fs  # descriptor plumbing is not traced: too many calls, too dull

    def getpid(self) -> int:
        return self.inner.getpid()

    def lstat(self, path):
        return self.inner.lstat(path)

    def process_handle(self, pid):
        return self.inner.process_handle(pid)   # a waiter's wake-up, not a step to explain

    def send_fd(self, sock, fd):
        return self._call("send_fd", sock, fd)

    def chroot(self, path):
        return self._call("chroot", path)

    def bind_state_root(self, root) -> None:
        bind = getattr(self.inner, "bind_state_root", None)
        if bind is not None:
            bind(root)

    def _call(self, op: str, *args, **kwargs):
        # Only mount targets are named /proc/self/fd/N; a symlink's target must stay as written.
        shown = tuple(_readable(a, self.inner.fs) for a in args) if op in ("mount", "umount") \
            else args
        reason = explain(op, shown, kwargs)
        if op in base.NETWORK_OPS:
            shown = _network_args(op, args, kwargs)
        event = Event(op, shown, self.inner.getpid(), reason)
        if self.with_context:
            try:
                event.context = self.inner.context()
            except Exception:  # a context is a nicety; the call itself must not fail for it
                event.context = {}
        self._counts[op] = self._counts.get(op, 0) + 1
        self.events.append(event)
        try:
            for nth, err in self._faults.get(op, []):
                if nth == self._counts[op]:
                    raise OSError(err, f"injected fault in {op} (call {nth})")
            if op == "execve" and self.sink:
                self.sink(event)  # after a successful execve nothing more is printed
            # (the child of a fork never returns here: only the parent reports it)
            event.result = getattr(self.inner, op)(*args, **kwargs)
            return event.result
        except Exception as e:
            event.error = str(e)
            raise
        finally:
            if self.sink and event.op != "execve":
                self.sink(event)

    def close_fds(self, keep):
        return self._call("close_fds", tuple(keep) + ((self.keep_fd,) if self.keep_fd is not None else ()))


def _readable(arg, fs=os):
    """Show ``/proc/self/fd/N`` (how the runtime names a safely resolved path) as the path.

    ``fs`` is the kernel's ``os``-like module: the simulator's descriptors are its own."""
    if isinstance(arg, str) and arg.startswith("/proc/self/fd/"):
        try:
            return fs.readlink(arg)
        except OSError:
            return arg
    return arg


def _delegate(op: str):
    def method(self, *args, **kwargs):
        return self._call(op, *args, **kwargs)
    method.__name__ = op
    return method


for _op in sorted((Kernel.__abstractmethods__ | base.NETWORK_OPS) - {"privileged", "close_fds"}):
    setattr(TracingKernel, _op, _delegate(_op))
TracingKernel.__abstractmethods__ = frozenset()


def printing_sink(fd: int) -> Callable[[Event], None]:
    """Write each explained event as one line to ``fd`` (skipping the QUIET ones)."""
    origin = os.getpid()  # the runtime's own process (on either kernel)

    def sink(event: Event) -> None:
        if event.op in QUIET:
            return
        who = "runtime  " if event.pid == origin else "container"
        os.write(fd, f"[{who}] {event.line()}\n".encode())
    return sink


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


class Trace:
    """What ``minidocker.trace()`` yields: the tracing kernel and its events, in order."""

    def __init__(self, kernel: TracingKernel):
        self.kernel = kernel

    @property
    def events(self) -> list[Event]:
        return sorted(self.kernel.events, key=lambda e: e.at)

    def lines(self) -> list[str]:
        return [e.line() for e in self.events if e.op not in QUIET]


@contextmanager
def trace(kernel: Kernel | None = None):
    """Record every kernel call made inside the block (see ``minidocker.trace``).

    On Linux a container's first process is a forked copy: its events come back
    as JSON lines through a pipe that closes at its ``execve``. On the simulator
    they are recorded in place.
    """
    from . import get_kernel
    from .. import kernel as kernels
    inner = kernel or get_kernel()
    origin = os.getpid()
    r, w = os.pipe2(os.O_CLOEXEC)
    tracer = TracingKernel(inner, None, keep_fd=w)
    tracer.with_context = True

    def sink(event: Event) -> None:
        if os.getpid() != origin:  # a forked child: hand the event to the parent
            try:
                os.write(w, (json.dumps(event.to_json()) + "\n").encode())
            except OSError:
                pass

    tracer.sink = sink

    def collect() -> None:
        buf = b""
        while chunk := os.read(r, 65536):
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                try:
                    tracer.events.append(Event.from_json(json.loads(line)))
                except ValueError:
                    pass
        os.close(r)

    reader = threading.Thread(target=collect, daemon=True, name="minidocker-trace")
    reader.start()
    saved = kernels._default
    kernels._default = tracer
    try:
        yield Trace(tracer)
    finally:
        kernels._default = saved
        os.close(w)
        reader.join(5)
