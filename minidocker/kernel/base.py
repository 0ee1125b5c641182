"""The ``Kernel`` interface: every privileged or Linux-specific host operation.

Code above this package (snapshots, layers, later the runtime) asks a
``Kernel`` to mount, make device nodes, set extended attributes or change
ownership. ``LinuxKernel`` performs the calls for real; the simulated kernel
(a later stage of the project) models them, and a tracing kernel records them,
so the same higher-level code runs on all of them.

Arguments follow Python's ``os`` module: ``path`` may be a string or an open
file descriptor, ``dir_fd`` makes ``path`` relative to a directory descriptor.
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

# mount(2) flags, the subset minidocker uses (values from <sys/mount.h>).
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

MS_SLAVE = 1 << 19
MS_NOATIME = 0x400
MS_STRICTATIME = 1 << 24

# umount2(2) flags.
MNT_DETACH = 0x2

# clone(2)/unshare(2) namespace flags.
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# The xattr overlayfs reads to make a directory hide everything below it.
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"


@dataclass(frozen=True)
class Mount:
    """One mount to perform, as pure data (like containerd's mount.Mount)."""

    type: str
    source: str
    options: tuple[str, ...] = field(default_factory=tuple)

    def flags_and_data(self) -> tuple[int, str]:
        """Split ``options`` into mount(2) flags and the filesystem's data string."""
        known = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV,
                 "noexec": MS_NOEXEC, "bind": MS_BIND, "rbind": MS_BIND | MS_REC}
        flags, data = 0, []
        for opt in self.options:
            if opt in known:
                flags |= known[opt]
            elif opt != "rw":
                data.append(opt)
        if self.type == "bind":
            flags |= MS_BIND
        return flags, ",".join(data)


@dataclass(frozen=True)
class Link:
    """A network interface as ``ip -d address`` shows it."""

    name: str
    kind: str                          # "loopback", "bridge", "veth", "dummy" or "device"
    up: bool
    mtu: int
    mac: str = ""
    master: str = ""                   # the bridge this interface is a port of
    addresses: tuple[str, ...] = ()    # IPv4 CIDRs, e.g. "10.66.0.2/16"


@dataclass(frozen=True)
class Route:
    """An IPv4 route of the main table, as ``ip route`` shows it."""

    dst: str                           # "default" or a CIDR
    dev: str
    gateway: str = ""


@dataclass(frozen=True)
class FirewallRule:
    """One packet-filter rule, in iptables' words: the table, the chain, and the
    match and target arguments (``("-s", "10.66.0.0/16", "-j", "MASQUERADE")``)."""

    table: str                         # "filter" or "nat"
    chain: str
    args: tuple[str, ...]


# Network operations, delegated by TracingKernel like the abstract ones.
NETWORK_OPS = frozenset({"link_add", "link_set", "link_delete", "link_gone", "addr_add", "route_add",
                         "links", "routes", "firewall", "firewall_rules", "open_port", "connect"})


class Kernel(abc.ABC):
    """The operations minidocker needs from an operating-system kernel."""

    name: str = "abstract"
    simulated: bool = False   # True for the simulator: base images come built in
    # Detached containers' supervisors: a forked process (they outlive the CLI), or a
    # thread of this process (a notebook's simulator keeps its containers in view).
    detach_in_process: bool = False
    # Whether a host tool may do this kernel's work directly (GNU tar extracting a
    # layer, owners and all): true only where the kernel's calls are the host's own
    # system calls, unwatched — not the simulator, not a tracing kernel.
    delegates_to_host_tools: bool = False

    #: The calling process's file and descriptor calls, with the names and
    #: signatures of Python's ``os`` module (``open``, ``close``, ``dup``,
    #: ``dup2``, ``read``, ``write``, ``pipe2``, ``stat``, ``mkdir``, ``chmod``,
    #: ``readlink``, ``getcwd``, ``_exit``). Code that runs as a container's
    #: process (its first process before ``execve``) uses ``k.fs`` instead of
    #: ``os``: on Linux it *is* ``os``; the simulated kernel answers from the
    #: simulated process's own descriptor table and mount namespace.
    fs = os

    def context(self) -> dict:
        """Where the caller stands: its namespaces (kind → inode) and cgroup, for traces."""
        ns = {}
        for kind in ("pid", "mnt", "uts", "ipc", "net", "cgroup"):
            try:
                ns[kind] = int(os.readlink(f"/proc/self/ns/{kind}").split("[")[1].rstrip("]"))
            except (OSError, IndexError, ValueError):
                pass
        try:
            with open("/proc/self/cgroup") as f:
                cgroup = f.readline().strip().split(":", 2)[-1]
        except OSError:
            cgroup = ""
        return {"ns": ns, "cgroup": cgroup}

    def chroot(self, path: str) -> None:
        """chroot(2): ``path`` becomes this process's ``/`` (its working directory stays)."""
        os.chroot(path)

    def lstat(self, path: str):
        """lstat(2) of a host file, with what only root may set (owner, device
        nodes such as whiteouts) as this kernel sees it."""
        return os.lstat(path)

    def getpid(self) -> int:
        """getpid(2): the calling process, as the host's PID namespace numbers it."""
        return os.getpid()

    @property
    @abc.abstractmethod
    def privileged(self) -> bool:
        """True when ownership changes, device nodes and mounts are allowed."""

    @abc.abstractmethod
    def mount(self, source: str, target: str, fstype: str | None,
              flags: int = 0, data: str = "") -> None:
        """mount(2)."""

    @abc.abstractmethod
    def umount(self, target: str, flags: int = 0) -> None:
        """umount2(2)."""

    @abc.abstractmethod
    def mknod(self, path: str, mode: int, device: int, *, dir_fd: int | None = None) -> None:
        """mknod(2); overlayfs whiteouts are character devices 0/0."""

    @abc.abstractmethod
    def chown(self, path: str | int, uid: int, gid: int, *,
              dir_fd: int | None = None, follow_symlinks: bool = True) -> None:
        """chown(2)/fchown(2)/lchown(2)."""

    @abc.abstractmethod
    def setxattr(self, path: str | int, name: str, value: bytes, *,
                 follow_symlinks: bool = True) -> None:
        """setxattr(2)."""

    @abc.abstractmethod
    def getxattr(self, path: str | int, name: str, *,
                 follow_symlinks: bool = True) -> bytes | None:
        """getxattr(2); ``None`` when the attribute is absent."""

    @abc.abstractmethod
    def listxattr(self, path: str | int, *, follow_symlinks: bool = True) -> list[str]:
        """listxattr(2)."""

    @abc.abstractmethod
    def process_alive(self, pid: int) -> bool:
        """Whether process ``pid`` still exists (kill(pid, 0))."""

    def process_handle(self, pid: int) -> int | None:
        """A descriptor that becomes readable when process ``pid`` ends (pidfd_open(2)),
        so a waiter wakes at once instead of at its next look; None where there is none
        (the waiter then only looks now and then). The caller closes it."""
        return None

    # -- processes and namespaces (used by the runtime) -------------------------
    @abc.abstractmethod
    def unshare(self, flags: int) -> None:
        """unshare(2): move this process (or, for CLONE_NEWPID, its next child) to new namespaces."""

    @abc.abstractmethod
    def fork(self, child: Callable[[], None]) -> int:
        """fork(2): a new process that runs ``child``; its PID (in the parent).

        ``child`` must not return: it ends in ``execve`` or ``fs._exit``. The
        child starts with SIGINT and SIGTERM at their default action.
        """

    @abc.abstractmethod
    def execve(self, path: str, argv: list[str], env: dict[str, str]) -> None:
        """execve(2); returns only by raising OSError."""

    @abc.abstractmethod
    def waitpid(self, pid: int, options: int = 0) -> tuple[int, int]:
        """waitpid(2): (pid, raw status)."""

    @abc.abstractmethod
    def kill(self, pid: int, signal: int) -> None:
        """kill(2)."""

    @abc.abstractmethod
    def pivot_root(self, new_root: str, put_old: str) -> None:
        """pivot_root(2): make ``new_root`` the root of this mount namespace."""

    @abc.abstractmethod
    def sethostname(self, name: str) -> None:
        """sethostname(2), in this process's UTS namespace."""

    @abc.abstractmethod
    def chdir(self, path: str) -> None:
        """chdir(2)."""

    @abc.abstractmethod
    def set_identity(self, uid: int, gid: int, groups: list[int]) -> None:
        """setgroups(2), setgid(2), setuid(2), in that order."""

    @abc.abstractmethod
    def limit_capabilities(self, keep: frozenset[int]) -> None:
        """Drop every capability not in ``keep`` from the bounding, effective,
        permitted, inheritable and ambient sets."""

    @abc.abstractmethod
    def close_fds(self, keep: tuple[int, ...]) -> None:
        """Close every file descriptor but ``keep`` (no runtime fd may leak into a container)."""

    @abc.abstractmethod
    def symlink(self, target: str, path: str, *, dir_fd: int | None = None) -> None:
        """symlink(2)."""

    @abc.abstractmethod
    def loopback_up(self) -> None:
        """Bring ``lo`` up in this process's network namespace (new ones start with it down)."""

    # -- network (rtnetlink and the packet filter) ---------------------------------
    # ``netns`` names a network namespace file (``/proc/PID/ns/net``); None is the
    # caller's own. Interfaces are named, as with ``ip link``.
    @abc.abstractmethod
    def link_add(self, name: str, kind: str, *, peer: str | None = None,
                 peer_netns: str | None = None, mtu: int | None = None,
                 netns: str | None = None) -> None:
        """``ip link add NAME type KIND``: a "bridge", a "dummy", or a "veth" pair whose
        ``peer`` end is created directly in ``peer_netns``."""

    @abc.abstractmethod
    def link_set(self, name: str, *, up: bool | None = None, master: str | None = None,
                 mtu: int | None = None, netns: str | None = None) -> None:
        """``ip link set NAME [up|down] [master BRIDGE] [mtu N]``; ``master=""`` detaches."""

    @abc.abstractmethod
    def link_delete(self, name: str, *, netns: str | None = None) -> None:
        """``ip link del NAME`` (a veth pair goes as a whole)."""

    @abc.abstractmethod
    def link_gone(self, name: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for interface ``name`` to disappear; whether it
        did. A veth pair goes when the namespace of either end is destroyed, which the
        kernel finishes on its own shortly after that namespace's last process ended."""

    @abc.abstractmethod
    def addr_add(self, name: str, cidr: str, *, netns: str | None = None) -> None:
        """``ip addr add CIDR dev NAME``."""

    @abc.abstractmethod
    def route_add(self, dst: str, gateway: str, *, netns: str | None = None) -> None:
        """``ip route add DST via GATEWAY`` (``dst`` "default" or a CIDR)."""

    @abc.abstractmethod
    def links(self, *, netns: str | None = None) -> list[Link]:
        """Every interface of the namespace, with its IPv4 addresses."""

    @abc.abstractmethod
    def routes(self, *, netns: str | None = None) -> list[Route]:
        """The IPv4 routes of the namespace's main table."""

    @abc.abstractmethod
    def firewall(self, rule: FirewallRule, add: bool = True) -> bool:
        """Add ``rule`` at the end of its chain (creating the chain) unless it is there
        already, or delete it if present. False when the kernel has no packet filter
        to program (the rule is then not in force)."""

    @abc.abstractmethod
    def firewall_rules(self, table: str) -> list[FirewallRule]:
        """The rules of ``table`` in every chain, in order."""

    def open_port(self, host_ip: str, port: int, proto: str = "tcp"):
        """A socket of the host's own network, bound to ``host_ip:port`` (listening, for
        tcp): the host end of a published port. ``port`` 0 picks a free one."""
        import socket
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET, kind)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host_ip, port))
            if proto == "tcp":
                sock.listen(128)
        except BaseException:
            sock.close()
            raise
        sock.set_inheritable(False)
        return sock

    def connect(self, ip: str, port: int, proto: str = "tcp"):
        """A socket connected to ``ip:port`` as routed from the caller's namespace
        (a published port's proxy reaching its container)."""
        import socket
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET, kind)
        try:
            sock.settimeout(5)
            sock.connect((ip, port))
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        return sock

    @abc.abstractmethod
    def setns(self, path: str, nstype: int) -> None:
        """setns(2) into the namespace file ``path`` (``/proc/PID/ns/…``)."""

    @abc.abstractmethod
    def setsid(self) -> None:
        """setsid(2): a new session, without a controlling terminal."""

    @abc.abstractmethod
    def open_pty(self, ptmx: str) -> tuple[int, int]:
        """A new pseudo-terminal from the multiplexer ``ptmx``: (master, slave)."""

    def send_fd(self, sock: int, fd: int) -> None:
        """Send descriptor ``fd`` over the unix socket ``sock`` (SCM_RIGHTS), then close ``sock``:
        how a container hands its terminal's master end to the runtime (runc's console socket)."""
        import socket
        with socket.socket(fileno=sock) as s:
            socket.send_fds(s, [b"pty"], [fd])

    @abc.abstractmethod
    def set_controlling_tty(self, fd: int) -> None:
        """ioctl(TIOCSCTTY): terminal ``fd`` becomes this session's controlling terminal."""

    # -- control files (cgroupfs, procfs) ------------------------------------------
    @abc.abstractmethod
    def read_file(self, path: str) -> str:
        """The text of a small control file."""

    @abc.abstractmethod
    def write_file(self, path: str, data: str) -> None:
        """Write ``data`` to an existing control file in one write(2)."""

    @abc.abstractmethod
    def make_dir(self, path: str) -> None:
        """mkdir(2) (creating a cgroup is a mkdir)."""

    @abc.abstractmethod
    def remove_dir(self, path: str) -> None:
        """rmdir(2) (removing a cgroup is an rmdir)."""

    def mount_all(self, mounts: list[Mount], target: str) -> None:
        """Mount each of ``mounts`` on ``target``, undoing earlier ones on failure."""
        done = 0
        try:
            for m in mounts:
                flags, data = m.flags_and_data()
                fstype = None if flags & MS_BIND else m.type
                self.mount(m.source, target, fstype, flags, data)
                if flags & MS_BIND and flags & MS_RDONLY:
                    # A bind mount ignores MS_RDONLY until it is remounted.
                    self.mount("", target, None, flags | MS_REMOUNT, "")
                done += 1
        except BaseException:
            for _ in range(done):
                self.umount(target, MNT_DETACH)
            raise
