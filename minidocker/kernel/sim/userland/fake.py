"""An in-memory ``System`` for the simulated programs: for tests, and for a
notebook cell that wants to try ``sh`` without the whole simulated kernel.

``FakeKernel`` holds one container's worth of state: a dict-based filesystem
(directories, files, symlinks, hard links, character devices; modes and
owners; no permission checks — everyone is root here), a process table with
pids from 1, a controllable clock (``now``; ``sleep`` advances it), memory
accounting with an optional limit (an allocation past it OOM-kills the
allocating process: ``Killed(9)``, recorded in ``oom_kills``), a hostname,
a mount table text, and a network namespace of the simulator's model
(``network.py``) with ``lo`` and an ``eth0`` of 172.17.0.2/16 (Docker's first
container address, as the fake's ``/etc/hosts`` has it); everyone holds
CAP_NET_ADMIN. ``FakeSystem`` is one process's view (cwd, environment,
streams). ``run`` does what the real kernel's does: PATH lookup, ``identify``
for ``#!`` files, ``lookup(basename)`` otherwise, ``sim: command not found``
and 127 when nothing fits, 128+N when the child is killed by signal N.

Like a container's init, pid 1 ignores signals sent to it from inside
(``kill 1`` does nothing, even ``kill -9 1``).

    k = FakeKernel(); make_rootfs(k)
    r = k.exec(["sh", "-c", "echo hi | wc -c"])
    r.status, r.out, r.err      # (0, "3\\n", "")
"""

from __future__ import annotations

import errno
import io
import posixpath
import stat as st
from dataclasses import dataclass, field

from . import COMMANDS, identify, lookup, missing, not_found
from ..network import Network, NetworkCalls
from .api import Killed, ProcessInfo, Stat
from .common import DEFAULT_PATH, resolve_links

MAX_PROCESS_DEPTH = 24
DEFAULT_NOW = 1_700_000_000.0            # 2023-11-14 22:13:20 UTC


def _err(code: int, path: str = "") -> OSError:
    return OSError(code, {errno.ENOENT: "No such file or directory"}.get(code, ""), path) if code != errno.ENOENT \
        else FileNotFoundError(code, "No such file or directory", path)


def _oserror(code: int, path: str) -> OSError:
    import os
    cls = {errno.ENOENT: FileNotFoundError, errno.EEXIST: FileExistsError, errno.ENOTDIR: NotADirectoryError,
           errno.EISDIR: IsADirectoryError, errno.EPERM: PermissionError, errno.EACCES: PermissionError,
           errno.ESRCH: ProcessLookupError}.get(code, OSError)
    return cls(code, os.strerror(code), path)


class Node:
    __slots__ = ("mode", "uid", "gid", "mtime", "data", "children", "target", "rdev", "ino", "nlink")

    def __init__(self, mode: int, ino: int, now: float):
        self.mode = mode
        self.uid = self.gid = 0
        self.mtime = now
        self.data = b""
        self.children: dict[str, Node] = {}
        self.target = ""
        self.rdev = 0
        self.ino = ino
        self.nlink = 1

    @property
    def kind(self) -> int:
        return st.S_IFMT(self.mode)


@dataclass
class Proc:
    pid: int
    ppid: int
    uid: int
    argv: tuple
    rss: int = 0
    pending: int = 0


@dataclass
class Result:
    status: int
    out: str
    err: str


@dataclass
class FakeKernel:
    hostname: str = "3f2a1b4c5d6e"
    memory_limit: int | None = None
    now: float = DEFAULT_NOW
    mounts_text: str = (
        "overlay / overlay rw,relatime,lowerdir=/var/lib/minidocker/layers/1/fs,"
        "upperdir=/var/lib/minidocker/containers/3f2a1b4c5d6e/upper,"
        "workdir=/var/lib/minidocker/containers/3f2a1b4c5d6e/work 0 0\n"
        "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
        "tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0\n"
        "devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666 0 0\n"
        "sysfs /sys sysfs ro,nosuid,nodev,noexec,relatime 0 0\n"
        "cgroup /sys/fs/cgroup cgroup2 ro,nosuid,nodev,noexec,relatime 0 0\n"
        "mqueue /dev/mqueue mqueue rw,nosuid,nodev,noexec,relatime 0 0\n"
        "shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k 0 0\n"
        "/dev/sda1 /etc/resolv.conf ext4 rw,relatime 0 0\n"
        "/dev/sda1 /etc/hostname ext4 rw,relatime 0 0\n"
        "/dev/sda1 /etc/hosts ext4 rw,relatime 0 0\n")
    memory_used: int = 0
    oom_kills: list = field(default_factory=list)
    procs: dict = field(default_factory=dict)

    def __post_init__(self):
        self.network = Network()
        self.net = self.network.new_stack("fake")
        self.net.set_link("lo", up=True)
        self.network.add_uplink(self.net, "eth0", "02:42:ac:11:00:02", "172.17.0.2/16", "172.17.0.1")
        self.sockets: list = []
        self._ino = 1
        self.root = Node(st.S_IFDIR | 0o755, self._next_ino(), self.now)
        self.root.nlink = 2
        self._next_pid = 1
        self.depth = 0

    def _next_ino(self) -> int:
        self._ino += 1
        return self._ino

    # -- processes ------------------------------------------------------------------
    def system(self, argv=("sh",), *, cwd: str = "/", env: dict | None = None, stdin: bytes = b"",
               uid: int = 0, gid: int = 0, ppid: int = 0) -> FakeSystem:
        """A new process with in-memory streams, not yet running anything; with no process
        alive it is a new container's first: pid 1."""
        if not self.procs:
            self._next_pid = 1
        pid = self._next_pid
        self._next_pid += 1
        self.procs[pid] = Proc(pid, ppid, uid, tuple(argv))
        environ = dict(env) if env is not None else {"PATH": DEFAULT_PATH, "HOSTNAME": self.hostname,
                                                     "HOME": "/root" if uid == 0 else "/"}
        return FakeSystem(self, pid, ppid, uid, gid, cwd, environ, io.BytesIO(stdin), io.BytesIO(), io.BytesIO())

    def exec(self, argv: list[str], *, stdin: bytes = b"", env: dict | None = None, cwd: str = "/",
             uid: int = 0) -> Result:
        """Run ``argv`` as a new process the way ``docker run`` starts one; its status and output."""
        proc = self.system(argv, cwd=cwd, env=env, stdin=stdin, uid=uid, gid=uid)
        try:
            status = proc.exec_self(argv)
        finally:
            self._exit(proc.pid)
        return Result(status, proc.stdout.getvalue().decode("utf-8", "replace"),
                      proc.stderr.getvalue().decode("utf-8", "replace"))

    def sh(self, script: str, **kw) -> Result:
        return self.exec(["sh", "-c", script], **kw)

    def _setup(self) -> FakeSystem:
        """A process outside the table for setting up files (pid 0, like the kernel itself)."""
        return FakeSystem(self, 0, 0, 0, 0, "/", {}, io.BytesIO(), io.BytesIO(), io.BytesIO())

    def _exit(self, pid: int) -> None:
        p = self.procs.pop(pid, None)
        if p is not None:
            self.memory_used -= p.rss

    # -- files (tests set up a root through these) -------------------------------------
    def add_file(self, path: str, data: bytes | str = b"", mode: int = 0o644, uid: int = 0, gid: int = 0) -> Node:
        """A file (its missing parent directories too)."""
        parent = posixpath.dirname(path)
        if parent not in ("", "/") and not self.exists(parent):
            self.add_dir(parent)
        s = self._setup()
        try:
            s.write(path, data.encode() if isinstance(data, str) else data, mode=mode)
            s.chmod(path, mode)
            s.chown(path, uid, gid)
            return s._lookup(path)
        finally:
            self._exit(s.pid)

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        s = self._setup()
        try:
            parts = [p for p in path.split("/") if p]
            cur = ""
            for p in parts:
                cur += "/" + p
                try:
                    s.mkdir(cur, mode)
                except FileExistsError:
                    pass
            s.chmod(path, mode)
        finally:
            self._exit(s.pid)

    def add_device(self, path: str, major: int, minor: int, mode: int = 0o666) -> None:
        s = self._setup()
        try:
            parent, name, node = s._walk(path, False)
            dev = Node(st.S_IFCHR | mode, self._next_ino(), self.now)
            dev.rdev = major << 8 | minor
            parent.children[name] = dev
        finally:
            self._exit(s.pid)

    def read(self, path: str) -> bytes:
        s = self._setup()
        try:
            return s.read(path)
        finally:
            self._exit(s.pid)

    def exists(self, path: str) -> bool:
        s = self._setup()
        try:
            s.stat(path, follow_symlinks=False)
            return True
        except OSError:
            return False
        finally:
            self._exit(s.pid)

    def snapshot(self) -> dict[str, tuple]:
        """Every path below / with (mode, uid, gid, content or target): for comparing two runs."""
        result: dict[str, tuple] = {}

        def visit(node: Node, path: str) -> None:
            for name, child in sorted(node.children.items()):
                p = f"{path}/{name}"
                payload = child.data if child.kind == st.S_IFREG else child.target
                result[p] = (child.mode, child.uid, child.gid, payload)
                if child.kind == st.S_IFDIR:
                    visit(child, p)
        visit(self.root, "")
        return result


class FakeSystem(NetworkCalls):
    """One simulated process: implements ``api.System`` over a ``FakeKernel``."""

    def __init__(self, kernel: FakeKernel, pid: int, ppid: int, uid: int, gid: int, cwd: str,
                 environ: dict, stdin, stdout, stderr):
        self.kernel = kernel
        self.pid, self.ppid, self.uid, self.gid = pid, ppid, uid, gid
        self._cwd = cwd
        self.environ = environ
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr

    # -- identity ------------------------------------------------------------------------
    def getcwd(self) -> str:
        return self._cwd

    def chdir(self, path: str) -> None:
        parent, name, node = self._walk(path, True)
        if node is None:
            raise _oserror(errno.ENOENT, path)
        if node.kind != st.S_IFDIR:
            raise _oserror(errno.ENOTDIR, path)
        self._cwd = self._canonical(path)

    def hostname(self) -> str:
        return self.kernel.hostname

    def sethostname(self, name: str) -> None:
        self.kernel.hostname = name

    def _netstack(self):
        return self.kernel.network, self.kernel.net

    def _sockets(self) -> list:
        return self.kernel.sockets

    def _capable(self, cap: int) -> bool:
        return True

    def _check(self) -> None:
        self._signals()

    # -- path resolution ----------------------------------------------------------------
    def _walk(self, path: str, follow_last: bool):
        """(parent node, last name, node or None) — symlinks followed as the kernel does."""
        if not path:
            raise _oserror(errno.ENOENT, path)
        full = path if path.startswith("/") else posixpath.join(self._cwd, path)
        parts = [p for p in full.split("/") if p]
        stack = [self.kernel.root]
        hops = 0
        i = 0
        while i < len(parts):
            p = parts[i]
            last = i == len(parts) - 1
            node = stack[-1]
            if p == ".":
                i += 1
                if last:
                    return None, None, node
                continue
            if p == "..":
                if len(stack) > 1:
                    stack.pop()
                i += 1
                if last:
                    return None, None, stack[-1]
                continue
            if node.kind != st.S_IFDIR:
                raise _oserror(errno.ENOTDIR, path)
            child = node.children.get(p)
            if child is None:
                if last:
                    return node, p, None
                raise _oserror(errno.ENOENT, path)
            if child.kind == st.S_IFLNK and (not last or follow_last):
                hops += 1
                if hops > 40:
                    raise _oserror(errno.ELOOP, path)
                target = child.target
                if target.startswith("/"):
                    stack = [self.kernel.root]
                parts = [x for x in target.split("/") if x] + parts[i + 1:]
                i = 0
                if not parts:
                    return None, None, stack[-1]
                continue
            if last:
                return node, p, child
            if child.kind != st.S_IFDIR:
                raise _oserror(errno.ENOTDIR, path)
            stack.append(child)
            i += 1
        return None, None, stack[-1]

    def _canonical(self, path: str) -> str:
        full = path if path.startswith("/") else posixpath.join(self._cwd, path)

        def link_target(cur: str) -> str | None:
            _, _, node = self._walk(cur, False)
            return node.target if node is not None and node.kind == st.S_IFLNK else None

        return resolve_links(full, link_target, lambda cur: _oserror(errno.ELOOP, path))

    def _lookup(self, path: str, follow: bool = True) -> Node:
        _, _, node = self._walk(path, follow)
        if node is None:
            raise _oserror(errno.ENOENT, path)
        return node

    # -- filesystem ----------------------------------------------------------------------
    def stat(self, path: str, follow_symlinks: bool = True) -> Stat:
        n = self._lookup(path, follow_symlinks)
        size = {st.S_IFREG: len(n.data), st.S_IFDIR: 4096, st.S_IFLNK: len(n.target)}.get(n.kind, 0)
        nlink = n.nlink if n.kind != st.S_IFDIR else 2 + sum(1 for c in n.children.values() if c.kind == st.S_IFDIR)
        return Stat(n.mode, size, n.uid, n.gid, nlink, n.ino, n.mtime, n.rdev)

    def listdir(self, path: str) -> list[str]:
        n = self._lookup(path)
        if n.kind != st.S_IFDIR:
            raise _oserror(errno.ENOTDIR, path)
        return sorted(n.children)

    def read(self, path: str) -> bytes:
        n = self._lookup(path)
        if n.kind == st.S_IFDIR:
            raise _oserror(errno.EISDIR, path)
        return n.data if n.kind == st.S_IFREG else b""

    def write(self, path: str, data: bytes, *, append: bool = False, mode: int = 0o644) -> None:
        parent, name, node = self._walk(path, True)
        if node is None:
            if parent is None:
                raise _oserror(errno.ENOENT, path)
            node = Node(st.S_IFREG | (mode & 0o7777), self.kernel._next_ino(), self.kernel.now)
            node.uid, node.gid = self.uid, self.gid
            parent.children[name] = node
            parent.mtime = self.kernel.now
        if node.kind == st.S_IFDIR:
            raise _oserror(errno.EISDIR, path)
        if node.kind == st.S_IFCHR:
            return                                  # /dev/null and friends swallow writes
        node.data = node.data + bytes(data) if append else bytes(data)
        node.mtime = self.kernel.now

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        parent, name, node = self._walk(path, False)
        if node is not None:
            raise _oserror(errno.EEXIST, path)
        if parent is None:
            raise _oserror(errno.ENOENT, path)
        d = Node(st.S_IFDIR | (mode & 0o7777), self.kernel._next_ino(), self.kernel.now)
        d.uid, d.gid = self.uid, self.gid
        parent.children[name] = d

    def rmdir(self, path: str) -> None:
        parent, name, node = self._walk(path, False)
        if node is None:
            raise _oserror(errno.ENOENT, path)
        if parent is None:
            raise _oserror(errno.EBUSY if path.strip("/") == "" else errno.EINVAL, path)
        if node.kind != st.S_IFDIR:
            raise _oserror(errno.ENOTDIR, path)
        if node.children:
            raise _oserror(errno.ENOTEMPTY, path)
        del parent.children[name]

    def unlink(self, path: str) -> None:
        parent, name, node = self._walk(path, False)
        if node is None:
            raise _oserror(errno.ENOENT, path)
        if node.kind == st.S_IFDIR:
            raise _oserror(errno.EISDIR, path)
        del parent.children[name]
        node.nlink -= 1

    def rename(self, src: str, dst: str) -> None:
        sp, sn, snode = self._walk(src, False)
        if snode is None or sp is None:
            raise _oserror(errno.ENOENT, src)
        dp, dn, dnode = self._walk(dst, False)
        if dp is None:
            raise _oserror(errno.ENOENT if dnode is None else errno.EBUSY, dst)
        if dnode is snode:
            return
        if snode.kind == st.S_IFDIR:
            if self._canonical(dst).startswith(self._canonical(src).rstrip("/") + "/"):
                raise _oserror(errno.EINVAL, dst)
            if dnode is not None and (dnode.kind != st.S_IFDIR or dnode.children):
                raise _oserror(errno.ENOTDIR if dnode.kind != st.S_IFDIR else errno.ENOTEMPTY, dst)
        elif dnode is not None and dnode.kind == st.S_IFDIR:
            raise _oserror(errno.EISDIR, dst)
        del sp.children[sn]
        dp.children[dn] = snode

    def symlink(self, target: str, path: str) -> None:
        parent, name, node = self._walk(path, False)
        if node is not None:
            raise _oserror(errno.EEXIST, path)
        if parent is None:
            raise _oserror(errno.ENOENT, path)
        link = Node(st.S_IFLNK | 0o777, self.kernel._next_ino(), self.kernel.now)
        link.target = target
        link.uid, link.gid = self.uid, self.gid
        parent.children[name] = link

    def readlink(self, path: str) -> str:
        n = self._lookup(path, False)
        if n.kind != st.S_IFLNK:
            raise _oserror(errno.EINVAL, path)
        return n.target

    def link(self, src: str, dst: str) -> None:
        n = self._lookup(src, False)
        if n.kind == st.S_IFDIR:
            raise _oserror(errno.EPERM, src)
        parent, name, node = self._walk(dst, False)
        if node is not None:
            raise _oserror(errno.EEXIST, dst)
        if parent is None:
            raise _oserror(errno.ENOENT, dst)
        parent.children[name] = n
        n.nlink += 1

    def chmod(self, path: str, mode: int) -> None:
        n = self._lookup(path)
        n.mode = st.S_IFMT(n.mode) | (mode & 0o7777)

    def chown(self, path: str, uid: int, gid: int) -> None:
        n = self._lookup(path)
        n.uid, n.gid = uid, gid

    def utime(self, path: str) -> None:
        self._lookup(path).mtime = self.kernel.now

    def mounts(self) -> str:
        return self.kernel.mounts_text

    def open(self, path: str, mode: str = "rb"):
        if mode == "rb":
            return io.BytesIO(self.read(path))
        system = self

        class _Pending(io.BytesIO):   # written to the file when closed
            def close(inner):
                if not inner.closed:
                    system.write(path, inner.getvalue(), append=mode == "ab")
                super().close()
        self.write(path, b"", append=True)  # create it now, as open(2) would
        return _Pending()

    # -- processes -----------------------------------------------------------------------
    def processes(self) -> list[ProcessInfo]:
        return [ProcessInfo(p.pid, p.ppid, p.uid, "R" if p.pid == self.pid else "S", p.argv, p.rss)
                for p in sorted(self.kernel.procs.values(), key=lambda p: p.pid)]

    def _signals(self) -> None:
        p = self.kernel.procs.get(self.pid)
        if p is not None and p.pending:
            sig, p.pending = p.pending, 0
            raise Killed(sig)

    def _find(self, name: str, env: dict):
        """(path, node) of the program ``name`` names, or (None, reason)."""
        if "/" in name:
            candidates = [name]
        else:
            candidates = [posixpath.join(d or ".", name) for d in env.get("PATH", DEFAULT_PATH).split(":")]
        denied = False
        for c in candidates:
            try:
                _, _, node = self._walk(c, True)
            except OSError:
                continue
            if node is None:
                continue
            if node.kind != st.S_IFREG or not node.mode & 0o111:
                denied = True
                continue
            return c, node
        return None, "denied" if denied else "missing"

    def run(self, argv: list[str], *, stdin=None, stdout=None, stderr=None, env: dict | None = None) -> int:
        self._signals()
        env = dict(self.environ) if env is None else dict(env)
        stdin = self.stdin if stdin is None else stdin
        stdout = self.stdout if stdout is None else stdout
        stderr = self.stderr if stderr is None else stderr
        if not argv or not argv[0]:
            return 0 if not argv else self._fail(stderr, not_found(""), 127)
        k = self.kernel
        if k.depth >= MAX_PROCESS_DEPTH:
            return self._fail(stderr, f"sim: {argv[0]}: too many nested processes (simulated limit {MAX_PROCESS_DEPTH})", 126)
        pid = k._next_pid
        k._next_pid += 1
        k.procs[pid] = Proc(pid, self.pid, self.uid, tuple(argv))
        child = FakeSystem(k, pid, self.pid, self.uid, self.gid, self._cwd, env, stdin, stdout, stderr)
        k.depth += 1
        try:
            return child.exec_self(argv)
        finally:
            k.depth -= 1
            k._exit(pid)
            self._signals()

    def spawn(self, argv: list[str], *, stdin=None, stdout=None, stderr=None, env=None) -> int:
        """The fake runs a background job to its end at once; ``wait`` returns its status."""
        pid = self.kernel._next_pid
        status = self.run(argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env)
        self.kernel.finished_jobs = getattr(self.kernel, "finished_jobs", {})
        self.kernel.finished_jobs[pid] = status
        return pid

    def wait(self, pid: int) -> int:
        return getattr(self.kernel, "finished_jobs", {}).pop(pid, 127)

    def exec(self, argv: list[str], *, stdin=None, stdout=None, stderr=None, env=None) -> int:
        saved = self.stdin, self.stdout, self.stderr, self.environ
        self.stdin = saved[0] if stdin is None else stdin
        self.stdout = saved[1] if stdout is None else stdout
        self.stderr = saved[2] if stderr is None else stderr
        self.environ = saved[3] if env is None else dict(env)
        try:
            return self.exec_self(list(argv))
        finally:   # a test reads what the process wrote through its own streams
            self.stdin, self.stdout, self.stderr, self.environ = saved

    def exec_self(self, argv: list[str]) -> int:
        """execve in this process: find the program, run it, the status a parent sees."""
        path, node = self._find(argv[0], self.environ)
        if path is None:
            if node == "denied":
                return self._fail(self.stderr, f"sim: permission denied: {argv[0]}", 126)
            caller = self.kernel.procs[self.ppid].argv[0] if self.ppid in self.kernel.procs else "sh"
            return self._fail(self.stderr, missing(posixpath.basename(caller), argv[0]), 127)
        ident = identify(path, node.data[:256])
        if ident is not None:
            name, prefix = ident
            argv = prefix + list(argv[1:])
        else:
            name = posixpath.basename(path)
        main = lookup(name)
        if main is None:
            return self._fail(self.stderr, not_found(name), 127)
        proc = self.kernel.procs.get(self.pid)
        if proc is not None:
            proc.argv = tuple(argv)
        try:
            return main(self, list(argv)) & 0xFF
        except Killed as e:
            return 128 + e.signal

    @staticmethod
    def _fail(stream, text: str, status: int) -> int:
        stream.write((text + "\n").encode("utf-8", "surrogateescape"))
        return status

    def poll(self) -> None:
        self._signals()

    def kill(self, pid: int, signal: int) -> None:
        p = self.kernel.procs.get(pid)
        if p is None:
            raise _oserror(errno.ESRCH, str(pid))
        if signal == 0 or signal in (17, 18, 23, 28) or pid == 1:
            return
        if pid == self.pid:
            raise Killed(signal)
        p.pending = signal

    def sleep(self, seconds: float) -> None:
        self._signals()
        self.kernel.now += max(seconds, 0.0)

    def time(self) -> float:
        return self.kernel.now

    def allocate(self, nbytes: int) -> None:
        self._signals()
        k = self.kernel
        p = k.procs[self.pid]
        p.rss += nbytes
        k.memory_used += nbytes
        if k.memory_limit is not None and k.memory_used > k.memory_limit:
            k.oom_kills.append((self.pid, p.argv))
            k.memory_used -= p.rss
            p.rss = 0
            raise Killed(9)

    def free(self, nbytes: int) -> None:
        p = self.kernel.procs[self.pid]
        n = min(nbytes, p.rss)
        p.rss -= n
        self.kernel.memory_used -= n


# -- root filesystems -------------------------------------------------------------------------

def make_rootfs(k: FakeKernel, flavor: str = "busybox") -> FakeKernel:
    """A root like the simulator's built-in ``busybox`` image (every applet a hard link to
    /bin/busybox), or its ``debian`` (apt-get, dpkg) or ``alpine`` (apk) look-alike — the
    same files as ``kernel/sim/images.py`` writes — plus the /dev nodes and /etc files
    the runtime would add."""
    from ..images import entries
    s = k._setup()
    try:
        for e in entries(flavor):
            path = "/" + e.path
            if e.kind == "dir":
                k.add_dir(path, e.mode)
            elif e.kind == "file":
                k.add_file(path, e.data, e.mode)
            elif e.kind == "link":
                s.link("/" + e.target, path)
            else:
                s.symlink(e.target, path)
    finally:
        k._exit(s.pid)
    for path, major, minor in (("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
                               ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)):
        k.add_device(path, major, minor)
    k.add_file("/etc/hostname", k.hostname + "\n")
    k.add_file("/etc/hosts", f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                             f"172.17.0.2\t{k.hostname}\n")
    k.add_file("/etc/resolv.conf", "nameserver 10.0.2.3\n")
    return k


__all__ = ["FakeKernel", "FakeSystem", "Result", "make_rootfs", "COMMANDS"]
