"""``SimSystem``: what a simulated program sees of its process (``userland/api.System``).

Every call is made as that process: paths resolve in its root, working
directory and mount namespace; ``processes`` lists its PID namespace;
``allocate`` charges its cgroup, whose limit may end it as the OOM killer
would; a pending fatal signal ends it at its next call (``Killed``).
``run`` is fork + execve + wait: the child runs to its end in the same
thread, which is all a shell needs (no ``&`` jobs yet). The network calls
(``network.NetworkCalls``) act in the process's network namespace; its
sockets close when it exits.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import time

from .network import NetworkCalls
from .process import SimExit, SimProcess
from .userland.api import Killed, ProcessInfo, Stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .kernel import SimKernel

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class FdStream:
    """A binary stream over descriptor ``fd`` of process ``p`` (its stdin, stdout, stderr)."""

    def __init__(self, k: "SimKernel", p: SimProcess, fd: int):
        self.k, self.p, self.fd = k, p, fd

    def _file(self):
        try:
            return self.p.fds.get(self.fd)[0]
        except OSError:
            return None

    def write(self, data: bytes) -> int:
        f = self._file()
        if f is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        data = bytes(data)
        if f.real is not None:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(f.real, view)
                except BrokenPipeError:
                    raise Killed(13) from None   # SIGPIPE: nobody reads any more
                view = view[n:]
            return len(data)
        return self.k.fs.write(self.fd, data)

    def read(self, n: int = -1) -> bytes:
        f = self._file()
        if f is None:
            return b""
        if n is None or n < 0:
            chunks = []
            while chunk := self.read(65536):
                chunks.append(chunk)
            return b"".join(chunks)
        if f.real is not None:
            while True:  # wake up now and then: a signal must be able to end the reader
                ready, _, _ = select.select([f.real], [], [], 0.1)
                if self.p.pending:
                    raise Killed(self.p.pending.pop(0))
                if ready:
                    return os.read(f.real, n)
        return self.k.fs.read(self.fd, n)

    def readline(self, limit: int = -1) -> bytes:
        out = bytearray()
        while limit < 0 or len(out) < limit:
            ch = self.read(1)
            if not ch:
                break
            out += ch
            if ch == b"\n":
                break
        return bytes(out)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        f = self._file()
        return f is not None and f.real is not None and os.isatty(f.real)


class _OpenStream(FdStream):
    """A file the program opened itself: closing it closes the descriptor."""

    def close(self) -> None:
        if self.fd is not None:
            self.k.fs.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def fd_streams(k: "SimKernel", p: SimProcess):
    return FdStream(k, p, 0), FdStream(k, p, 1), FdStream(k, p, 2)


def _stat(st) -> Stat:
    return Stat(st.st_mode, st.st_size, st.st_uid, st.st_gid, st.st_nlink, st.st_ino,
                st.st_mtime, st.st_rdev)


class SimSystem(NetworkCalls):
    """``api.System`` for one simulated process."""

    def __init__(self, k: "SimKernel", p: SimProcess, stdin, stdout, stderr):
        self.k, self.p = k, p
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.environ = p.environ

    # -- identity ----------------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self.p.pid_in(self.p.pid_ns)

    @property
    def ppid(self) -> int:
        return self.k.ppid_in(self.p, self.p.pid_ns)

    @property
    def uid(self) -> int:
        return self.p.uid

    @property
    def gid(self) -> int:
        return self.p.gid

    def _check(self) -> None:
        if self.p.pending:
            raise Killed(self.p.pending.pop(0))

    def _netstack(self):
        return self.k.network, self.p.net.stack

    def _sockets(self) -> list:
        return self.p.sockets

    def _capable(self, cap: int) -> bool:
        caps = self.p.effective_capabilities
        return caps is None or cap in caps

    def getcwd(self) -> str:
        return self.k.fs.getcwd()

    def chdir(self, path: str) -> None:
        self._check()
        self.k.chdir(path)

    def hostname(self) -> str:
        return self.p.uts.hostname

    def sethostname(self, name: str) -> None:
        caps = self.p.effective_capabilities
        if caps is not None and 21 not in caps:  # CAP_SYS_ADMIN
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
        self.p.uts.hostname = name

    # -- files ---------------------------------------------------------------------------
    def stat(self, path: str, follow_symlinks: bool = True) -> Stat:
        self._check()
        return _stat(self.k.fs.stat(path, follow_symlinks=follow_symlinks))

    def listdir(self, path: str) -> list[str]:
        self._check()
        return sorted(self.k.fs.listdir(path))

    def read(self, path: str) -> bytes:
        self._check()
        fs = self.k.fs
        fd = fs.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if stat.S_ISDIR(fs.stat(fd).st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
            chunks = []
            while chunk := fs.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            fs.close(fd)

    def write(self, path: str, data: bytes, *, append: bool = False, mode: int = 0o644) -> None:
        self._check()
        fs = self.k.fs
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
        fd = fs.open(path, flags, mode)
        try:
            if data:
                fs.write(fd, data)
        finally:
            fs.close(fd)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._check()
        self.k.fs.mkdir(path, mode)

    def rmdir(self, path: str) -> None:
        self._check()
        self.k.fs.rmdir(path)

    def unlink(self, path: str) -> None:
        self._check()
        self.k.fs.unlink(path)

    def rename(self, src: str, dst: str) -> None:
        self._check()
        sp, sn = self.k.lookup_parent(src)
        dp, dn = self.k.lookup_parent(dst)
        if sp.mount is not dp.mount:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src)
        self.k.check_writable(sp)
        sp.fs.rename(sp.key, sn, dp.key, dn)

    def symlink(self, target: str, path: str) -> None:
        self._check()
        self.k.symlink(target, path)

    def readlink(self, path: str) -> str:
        return self.k.fs.readlink(path)

    def link(self, src: str, dst: str) -> None:
        self._check()
        loc = self.k.lookup(src, follow=False)
        parent, name = self.k.lookup_parent(dst)
        if parent.mount is not loc.mount:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), dst)
        if parent.fs.lookup(parent.key, name) is not None:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
        self.k.check_writable(parent)
        parent.fs.link(loc.key, parent.key, name)

    def chmod(self, path: str, mode: int) -> None:
        self._check()
        self.k.fs.chmod(path, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._check()
        self.k.chown(path, uid, gid)

    def utime(self, path: str) -> None:
        self._check()
        loc = self.k.lookup(path)
        self.k.check_writable(loc)
        loc.fs.touch(loc.key, self.time())

    def mounts(self) -> str:
        return self.k.mount_table(self.p, info=False)

    def open(self, path: str, mode: str = "rb"):
        self._check()
        flags = {"rb": os.O_RDONLY, "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                 "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND}[mode]
        fd = self.k.fs.open(path, flags | os.O_CLOEXEC, 0o666)
        return _OpenStream(self.k, self.p, fd)

    # -- processes -----------------------------------------------------------------------
    def processes(self) -> list[ProcessInfo]:
        ns = self.p.pid_ns
        rows = []
        for q in list(self.k.processes.values()):
            n = q.pid_in(ns)
            if n is None or q.status is not None:
                continue
            rows.append(ProcessInfo(n, self.k.ppid_in(q, ns), q.uid, q.state, tuple(q.argv), q.rss,
                                    q.comm))
        return sorted(rows, key=lambda r: r.pid)

    def run(self, argv: list[str], *, stdin=None, stdout=None, stderr=None,
            env: dict[str, str] | None = None) -> int:
        self._check()
        stdin = self.stdin if stdin is None else stdin
        stdout = self.stdout if stdout is None else stdout
        stderr = self.stderr if stderr is None else stderr
        env = dict(self.environ) if env is None else dict(env)
        status = self.k.run_child(self.p, list(argv), env, (stdin, stdout, stderr))
        self._check()
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
        return os.WEXITSTATUS(status)

    def spawn(self, argv: list[str], *, stdin=None, stdout=None, stderr=None,
              env: dict[str, str] | None = None) -> int:
        self._check()
        streams = (self.stdin if stdin is None else stdin, self.stdout if stdout is None else stdout,
                   self.stderr if stderr is None else stderr)
        env = dict(self.environ) if env is None else dict(env)
        return self.k.spawn_child(self.p, list(argv), env, streams)

    def spawn_call(self, fn) -> int:
        """fork(2) without execve: ``fn(system)`` runs in a child process (a copy of this
        one, with this one's streams) and returns its exit code; the child's pid."""
        self._check()
        streams = (self.stdin, self.stdout, self.stderr)
        return self.k.spawn_function(self.p, lambda child: fn(SimSystem(self.k, child, *streams)))

    def wait(self, pid: int) -> int:
        status = self.k.wait_child(self.p, pid)
        self._check()
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
        return os.WEXITSTATUS(status)

    def exec(self, argv: list[str], *, stdin=None, stdout=None, stderr=None,
             env: dict[str, str] | None = None) -> int:
        self._check()
        streams = (self.stdin if stdin is None else stdin, self.stdout if stdout is None else stdout,
                   self.stderr if stderr is None else stderr)
        env = dict(self.environ) if env is None else dict(env)
        status = self.k.exec_in_place(self.p, list(argv), env, streams)
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
        return os.WEXITSTATUS(status)

    def kill(self, pid: int, signal: int) -> None:
        self.k.kill(pid, signal)
        self._check()

    def sleep(self, seconds: float) -> None:
        self._check()
        end = time.monotonic() + max(0.0, seconds)
        while (left := end - time.monotonic()) > 0:
            self.p.state = "S"
            woke = self.p.wake.wait(min(left, 0.5))
            self.p.state = "R"
            if woke:
                self.p.wake.clear()
            self._check()

    def time(self) -> float:
        return time.time()

    def poll(self) -> None:
        """Charge the CPU this thread used since the last poll; wait out cpu.max's throttling."""
        self._check()
        now = time.thread_time()
        used, self.p.cpu_mark = now - self.p.cpu_mark, now
        if used <= 0 or used > 1:   # the first poll, or a long gap: nothing sensible to charge
            return
        wall = self.k.cgroups.charge_cpu(self.p.pid, int(used * 1_000_000))
        if wall > used:
            self.sleep(wall - used)  # throttled: CFS makes it wait for its next period

    def allocate(self, nbytes: int) -> None:
        self._check()
        self.k.charge_memory(self.p, nbytes)
        self.p.rss += nbytes

    def free(self, nbytes: int) -> None:
        nbytes = min(nbytes, self.p.rss)
        self.k.cgroups.uncharge_memory(self.p.pid, nbytes)
        self.p.rss -= nbytes


__all__ = ["SimSystem", "FdStream", "fd_streams", "SimExit"]
