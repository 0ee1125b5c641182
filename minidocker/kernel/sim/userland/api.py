"""The contract between simulated programs and the simulated kernel.

A program in ``userland/`` is a Python function ``main(sys: System, argv) -> int``.
Everything it may observe or change goes through ``System``: the filesystem as
its process sees it (its root, working directory and mount namespace), its
identity, environment and standard streams, the process table of its PID
namespace, its hostname, time, memory. The kernel gives each simulated process
its own ``System``; tests give programs an in-memory stand-in.

The network is the process's network namespace: its interfaces and routes as
rtnetlink reports them, ``ping`` (an ICMP echo and its reply), and sockets —
``connect`` and ``listen`` with IPv4 addresses (names are the program's
business: ``/etc/hosts``), connections as ``Socket`` objects.

Errors are raised as ``OSError`` with a real ``errno`` (``FileNotFoundError``,
``IsADirectoryError``, ``PermissionError``, ``OSError(errno.EROFS, …)``, …), so
programs print them the way busybox does (``cat: can't open 'x': No such file
or directory``).
"""

from __future__ import annotations

from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Protocol
else:
    Protocol = object


@dataclass(frozen=True)
class Stat:
    """What ``stat(2)`` reports (the fields programs use)."""

    mode: int            # type and permission bits, as ``st_mode``
    size: int
    uid: int = 0
    gid: int = 0
    nlink: int = 1
    ino: int = 0
    mtime: float = 0.0
    rdev: int = 0        # device number of a character/block device (whiteouts: 0)


@dataclass(frozen=True)
class ProcessInfo:
    """One row of the process table, as seen from the caller's PID namespace."""

    pid: int
    ppid: int
    uid: int
    state: str           # "R" running, "S" sleeping, "Z" zombie
    argv: tuple[str, ...]
    rss: int = 0         # bytes charged to the process
    comm: str = ""       # the command name (/proc/PID/comm); "" means argv[0]'s basename


@dataclass(frozen=True)
class Interface:
    """One network interface of the caller's namespace, as rtnetlink reports it."""

    index: int
    name: str
    kind: str            # "loopback", "bridge", "veth", "dummy", "device" (a network card)
    up: bool             # IFF_UP: switched on
    carrier: bool        # IFF_LOWER_UP: the link works (a veth: its peer is up too)
    mtu: int
    mac: str
    master: str = ""     # the bridge it is a port of
    link_index: int = 0  # a veth end: its peer's index, counted in the peer's namespace
    addresses: tuple[str, ...] = ()   # IPv4, as "10.66.0.2/16"


@dataclass(frozen=True)
class RouteInfo:
    """One route of the main table."""

    dst: str             # "default" or a CIDR
    dev: str
    gateway: str = ""
    src: str = ""        # a connected route: the address it came with (scope link)


class Socket(Protocol):
    """A connection (``connect``, ``Listener.accept``): bytes both ways."""

    peer: tuple[str, int]
    def send(self, data: bytes) -> None: ...      # EPIPE once the peer has closed
    def recv(self, n: int = 65536) -> bytes: ...  # b"" at the end of the peer's data
    def shutdown(self) -> None: ...               # no more to send: the peer reads the end
    def close(self) -> None: ...


class Listener(Protocol):
    port: int
    def accept(self) -> Socket: ...               # waits for the next connection
    def close(self) -> None: ...


class Killed(BaseException):
    """Raised inside a program when a signal ends it; ``signal`` is its number.

    A ``BaseException`` so that a program's ``except Exception`` cannot swallow it.
    """

    def __init__(self, signal: int):
        super().__init__(signal)
        self.signal = signal


class System(Protocol):
    """What a simulated process may ask of the simulated kernel."""

    # -- identity and environment ------------------------------------------------
    pid: int                    # in its own PID namespace (1 for a container's first process)
    ppid: int
    uid: int
    gid: int
    environ: dict[str, str]     # the program's environment; ``sh`` may change it
    stdin: BinaryIO
    stdout: BinaryIO
    stderr: BinaryIO

    def getcwd(self) -> str: ...
    def chdir(self, path: str) -> None: ...
    def hostname(self) -> str: ...
    def sethostname(self, name: str) -> None: ...

    # -- filesystem (paths relative to the working directory, resolved in the
    #    process's root and mount namespace; symlinks followed unless said) -----
    def stat(self, path: str, follow_symlinks: bool = True) -> Stat: ...
    def listdir(self, path: str) -> list[str]: ...              # sorted names, no . and ..
    def read(self, path: str) -> bytes: ...
    def write(self, path: str, data: bytes, *, append: bool = False, mode: int = 0o644) -> None: ...
    def mkdir(self, path: str, mode: int = 0o755) -> None: ...
    def rmdir(self, path: str) -> None: ...
    def unlink(self, path: str) -> None: ...
    def rename(self, src: str, dst: str) -> None: ...
    def symlink(self, target: str, path: str) -> None: ...
    def readlink(self, path: str) -> str: ...
    def link(self, src: str, dst: str) -> None: ...
    def chmod(self, path: str, mode: int) -> None: ...
    def chown(self, path: str, uid: int, gid: int) -> None: ...
    def utime(self, path: str) -> None: ...                    # touch: mtime = now
    def mounts(self) -> str: ...                               # /proc/self/mounts text
    def open(self, path: str, mode: str = "rb") -> BinaryIO: ...
        # a stream over one open file ("rb", "wb" truncates or creates, "ab"), for
        # programs that must not read a whole file at once: dd from /dev/zero never ends

    # -- processes ---------------------------------------------------------------
    def processes(self) -> list[ProcessInfo]: ...              # its PID namespace, by pid
    def run(self, argv: list[str], *, stdin: BinaryIO | None = None,
            stdout: BinaryIO | None = None, stderr: BinaryIO | None = None,
            env: dict[str, str] | None = None) -> int: ...
        # fork + execve + wait: runs ``argv`` as a child process (PATH lookup
        # in ``env``); the exit status as a shell sees it (127 not found,
        # 126 not executable, 128+N killed by signal N); BlockingIOError
        # (EAGAIN) when no process can be made (a cgroup's pids.max)
    def spawn(self, argv: list[str], *, stdin: BinaryIO | None = None,
              stdout: BinaryIO | None = None, stderr: BinaryIO | None = None,
              env: dict[str, str] | None = None) -> int: ...
        # fork + execve without waiting (a shell's `cmd &`): the child's pid; the child
        # runs alongside; BlockingIOError (EAGAIN) at a pids limit
    def wait(self, pid: int) -> int: ...
        # wait for a child made by ``spawn``: its status as a shell sees it
    def exec(self, argv: list[str], *, stdin: BinaryIO | None = None,
             stdout: BinaryIO | None = None, stderr: BinaryIO | None = None,
             env: dict[str, str] | None = None) -> int: ...
        # execve in place: ``argv`` runs as this very process (same pid, its name
        # changes); the status it ends with, which the caller must end with too
    def kill(self, pid: int, signal: int) -> None: ...
    def sleep(self, seconds: float) -> None: ...               # raises Killed if signalled
    def poll(self) -> None: ...
        # a busy program's checkpoint: a pending fatal signal ends it here (Killed), and
        # the CPU it used since the last call is charged to its cgroup (cpu.max may slow it)
    def time(self) -> float: ...                               # the (injectable) clock
    def allocate(self, nbytes: int) -> None: ...               # charge memory; the cgroup may OOM-kill (Killed(9))
    def free(self, nbytes: int) -> None: ...

    # -- network (the process's network namespace) --------------------------------
    def interfaces(self) -> list[Interface]: ...               # by index
    def routes(self) -> list[RouteInfo]: ...                   # the main table, as `ip route` orders it
    def ping(self, address: str) -> int | None: ...
        # one echo request to an IPv4 address: the TTL its reply arrives with, None when
        # no reply comes; OSError when it cannot even be sent (ENETUNREACH)
    def connect(self, address: str, port: int, proto: str = "tcp") -> Socket: ...
        # OSError: ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ETIMEDOUT, as Linux's
    def listen(self, port: int, proto: str = "tcp", address: str = "0.0.0.0") -> Listener: ...
        # EADDRINUSE, EADDRNOTAVAIL; port 0 picks a free one
    def configure_link(self, name: str, *, up: bool | None = None, mtu: int | None = None) -> None: ...
    def add_address(self, name: str, cidr: str) -> None: ...
    def add_route(self, dst: str, gateway: str) -> None: ...
        # `ip link set` / `ip addr add` / `ip route add`: EPERM without CAP_NET_ADMIN
