"""Processes of the simulated kernel: the table, namespaces and descriptor tables.

A simulated process has what ``fork(2)`` copies and ``unshare(2)`` replaces:
its credentials, root and working directory, a descriptor table, and one
namespace of each kind (mount, PID, UTS, IPC, network, cgroup). PID
namespaces nest as in Linux (pid_namespaces(7)): a process has a number in
its own namespace and in every ancestor, the first process of a new
namespace is its PID 1, and ``unshare(CLONE_NEWPID)`` affects only the
children made afterwards.

A process runs as a Python thread; everything it does goes through the
simulated kernel, whose ``current()`` is the calling thread's process.
Descriptors are the simulator's own numbers; a descriptor may stand for a
real one (a pipe the runtime made, the terminal), shared by reference count,
so a child's output reaches the real pipe the supervisor reads.
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass, field


TYPE_CHECKING = False
if TYPE_CHECKING:
    from .mounts import Loc, MountNamespace
    from .network import NetStack

_ns_inodes = itertools.count(4026532000)


class SimExit(SystemExit):
    """Unwinds a simulated process's thread when it exits (``_exit``, the end of the
    program ``execve`` ran, or a fatal signal). A ``SystemExit``: the process ends as
    asked, which no code on the way may take for a failure."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status      # a wait status: code << 8, or the signal number


@dataclass(eq=False)
class Namespace:
    """One namespace; ``inode`` is what /proc/PID/ns/KIND shows."""

    kind: str
    inode: int = field(default_factory=lambda: next(_ns_inodes))


@dataclass(eq=False)
class PidNamespace(Namespace):
    parent: "PidNamespace | None" = None
    next_pid: int = 1
    level: int = 0

    def child(self) -> "PidNamespace":
        return PidNamespace("pid", parent=self, level=self.level + 1)


@dataclass(eq=False)
class UtsNamespace(Namespace):
    hostname: str = "sim"


@dataclass(eq=False)
class NetNamespace(Namespace):
    stack: "NetStack | None" = None   # its interfaces, routes, packet filter, ports (network.py)


class OpenFile:
    """An open file description: shared by dup and fork, closed with its last descriptor."""

    def __init__(self, *, real: int | None = None, loc: Loc | None = None, flags: int = 0,
                 path: str = ""):
        self.real, self.loc, self.flags, self.path = real, loc, flags, path
        self.offset = 0
        self.refs = 0
        self.lock = threading.Lock()

    @property
    def path_only(self) -> bool:
        return bool(self.flags & getattr(os, "O_PATH", 0))

    def hold(self) -> "OpenFile":
        with self.lock:
            self.refs += 1
        return self

    def drop(self) -> None:
        with self.lock:
            self.refs -= 1
            last = self.refs == 0
        if last and self.real is not None:
            try:
                os.close(self.real)
            except OSError:
                pass


class FdTable:
    """Descriptor number → (open file, close-on-exec)."""

    def __init__(self) -> None:
        self.entries: dict[int, tuple[OpenFile, bool]] = {}
        self.lock = threading.Lock()

    def install(self, f: OpenFile, cloexec: bool, at: int | None = None, low: int = 0) -> int:
        with self.lock:
            if at is None:
                at = low
                while at in self.entries:
                    at += 1
            old = self.entries.get(at)
            self.entries[at] = (f.hold(), cloexec)
        if old is not None:
            old[0].drop()
        return at

    def get(self, fd: int) -> tuple[OpenFile, bool]:
        try:
            return self.entries[fd]
        except KeyError:
            raise OSError(9, os.strerror(9)) from None   # EBADF

    def close(self, fd: int) -> None:
        with self.lock:
            entry = self.entries.pop(fd, None)
        if entry is None:
            raise OSError(9, os.strerror(9))
        entry[0].drop()

    def copy(self) -> "FdTable":
        t = FdTable()
        with self.lock:
            for fd, (f, cloexec) in self.entries.items():
                t.entries[fd] = (f.hold(), cloexec)
        return t

    def close_on_exec(self) -> None:
        for fd in [fd for fd, (_, cloexec) in self.entries.items() if cloexec]:
            self.close(fd)

    def close_all(self, keep: tuple[int, ...] = ()) -> None:
        for fd in [fd for fd in self.entries if fd not in keep]:
            self.close(fd)


@dataclass(eq=False)
class SimProcess:
    pid: int                                  # in the host's (the root) PID namespace
    ppid: int
    mnt: MountNamespace
    root: Loc
    cwd: Loc
    pid_ns: PidNamespace
    uts: UtsNamespace
    ipc: Namespace
    net: NetNamespace
    cgroup_ns: Namespace
    fds: FdTable
    numbers: dict = field(default_factory=dict)      # PidNamespace → its number there
    children_ns: PidNamespace | None = None          # where children go (after unshare NEWPID)
    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    capabilities: frozenset[int] | None = None       # None: all of them
    sid: int = 0
    argv: tuple[str, ...] = ()
    comm: str = ""                                   # /proc/PID/comm: the program's name
    environ: dict[str, str] = field(default_factory=dict)
    host: bool = False                               # the runtime's own (real) process
    inline: bool = False                             # runs in its parent's thread (a shell's child)
    state: str = "R"
    status: int | None = None                        # wait status once it has exited
    pending: list[int] = field(default_factory=list)
    wake: threading.Event = field(default_factory=threading.Event)
    done: threading.Condition = field(default_factory=threading.Condition)
    thread: threading.Thread | None = None
    rss: int = 0
    cpu_mark: float = 0.0                            # thread CPU time at the last poll
    tty: int | None = None                           # its controlling terminal's descriptor
    sockets: list = field(default_factory=list)      # listeners and connections, closed at exit

    @property
    def effective_capabilities(self) -> frozenset[int] | None:
        """What the process may do now (None: everything). As on Linux, leaving uid 0
        (``set_identity``) empties the permitted and effective sets; the bounding set
        (``capabilities``) stays."""
        return frozenset() if self.uid != 0 else self.capabilities

    def pid_in(self, ns: PidNamespace) -> int | None:
        """This process's number in ``ns`` (None when ``ns`` cannot see it)."""
        return self.numbers.get(ns)
