"""``SimKernel.fs``: the ``os``-style file calls of a simulated process.

``open``, ``read``, ``write``, ``dup2``, ``stat``, ``mkdir`` … with the names,
arguments and errors of Python's ``os`` module, answered from the calling
process's descriptor table, root, working directory and mount namespace —
so the runtime code that builds a container's root (``fsroot.Root``,
``rootfs.py``) runs unchanged on the simulator.

The runtime's own process (the host) keeps its real descriptors: numbers
below ``SIM_FD_BASE`` are real there, and paths that stay on the real
filesystem are opened for real; only what lives in a simulated mount gets
a simulated descriptor.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time

from .fs import HostFS, MemFS
from .mounts import Loc
from .process import OpenFile, SimExit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .kernel import SimKernel

SIM_FD_BASE = 10_000
UMASK = 0o022
_ACCESS = os.O_RDONLY | os.O_WRONLY | os.O_RDWR
_HOST_NS_LINK = re.compile(r"^/proc/(self|\d+)/ns/(pid|mnt|uts|ipc|net|cgroup)$")
O_PATH = getattr(os, "O_PATH", 0o10000000)


def _err(code: int, name: str = "") -> OSError:
    return OSError(code, os.strerror(code), name) if name else OSError(code, os.strerror(code))


class SimFiles:
    """An ``os``-compatible namespace bound to a ``SimKernel``."""

    O_RDONLY, O_WRONLY, O_RDWR, O_CLOEXEC = os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_CLOEXEC

    def __init__(self, kernel: "SimKernel"):
        self.k = kernel

    # -- descriptors ---------------------------------------------------------------------
    def _file(self, fd: int) -> OpenFile:
        p = self.k.current()
        if p.host and fd < SIM_FD_BASE:
            return OpenFile(real=fd)   # a real descriptor of the runtime (not owned here)
        return p.fds.get(fd)[0]

    def _install(self, f: OpenFile, cloexec: bool) -> int:
        p = self.k.current()
        return p.fds.install(f, cloexec, low=SIM_FD_BASE if p.host else 0)

    def close(self, fd: int) -> None:
        p = self.k.current()
        if p.host and fd < SIM_FD_BASE:
            os.close(fd)
            return
        p.fds.close(fd)

    def dup(self, fd: int) -> int:
        p = self.k.current()
        if p.host and fd < SIM_FD_BASE:
            return os.dup(fd)
        return self._install(self._file(fd), cloexec=True)

    def dup2(self, fd: int, fd2: int, inheritable: bool = True) -> int:
        p = self.k.current()
        if p.host:
            return os.dup2(fd, fd2, inheritable)
        f = p.fds.get(fd)[0]
        if fd != fd2:
            p.fds.install(f, not inheritable, at=fd2)
        return fd2

    def pipe2(self, flags: int = 0) -> tuple[int, int]:
        r, w = os.pipe2(flags | os.O_CLOEXEC) if hasattr(os, "pipe2") else os.pipe()
        p = self.k.current()
        if p.host:
            return r, w
        cloexec = bool(flags & os.O_CLOEXEC)
        return (self._install(OpenFile(real=r), cloexec), self._install(OpenFile(real=w), cloexec))

    def read(self, fd: int, n: int) -> bytes:
        f = self._file(fd)
        if f.real is not None:
            return os.read(f.real, n)
        if f.path_only:
            raise _err(errno.EBADF)
        with f.lock:
            data = f.loc.fs.read(f.loc.key, f.offset, n)
            f.offset += len(data)
        return data

    def write(self, fd: int, data: bytes) -> int:
        f = self._file(fd)
        if f.real is not None:
            return os.write(f.real, data)
        if f.path_only or f.flags & _ACCESS == os.O_RDONLY:
            raise _err(errno.EBADF)
        self.k.check_writable(f.loc, permission=False)   # the write bit was checked at open
        with f.lock:
            st = f.loc.fs.stat(f.loc.key)
            if f.flags & os.O_APPEND:
                f.offset = st.st_size
            if isinstance(f.loc.fs, MemFS) and stat.S_ISREG(st.st_mode):
                # tmpfs pages are memory, charged to the writer's cgroup like any other
                self.k.charge_memory(self.k.current(), f.offset + len(data) - st.st_size)
            n = f.loc.fs.write(f.loc.key, f.offset, bytes(data))
            f.offset += n
        return n

    def _exit(self, code: int) -> None:
        raise SimExit((code & 0xFF) << 8)

    # -- paths -----------------------------------------------------------------------------
    def _real(self, path, dir_fd) -> str | None:
        """For the host process: the real path, when nothing simulated is in the way."""
        p = self.k.current()
        if not p.host or isinstance(path, int) or (dir_fd is not None and dir_fd >= SIM_FD_BASE):
            return None
        if path.startswith("/proc/self/fd/"):
            return None
        try:
            loc, _ = self.k.lookup_parent(path, dir_fd)
        except OSError:
            return None
        if not isinstance(loc.fs, HostFS):
            return None
        return path if dir_fd is None else os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)

    def open(self, path: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        real = self._real(path, dir_fd)
        if real is not None:
            return os.open(real, flags, mode)
        follow = not flags & os.O_NOFOLLOW
        created = False
        if flags & os.O_CREAT:
            parent, name = self.k.lookup_parent(path, dir_fd)
            key = parent.fs.lookup(parent.key, name)
            if key is None:
                if parent.fs.fstype == "proc":
                    raise _err(errno.ENOENT, path)  # proc's lookup fails before the mount's ro check
                self.k.check_writable(parent)
                key = parent.fs.create(parent.key, name, stat.S_IFREG | (mode & ~UMASK & 0o7777))
                created = True
            elif flags & os.O_EXCL:
                raise _err(errno.EEXIST, path)
            loc = Loc(parent.mount, key) if created else self.k.lookup(path, dir_fd, follow=follow)
        else:
            loc = self.k.lookup(path, dir_fd, follow=follow)
        st = loc.fs.stat(loc.key)
        if stat.S_ISLNK(st.st_mode) and not flags & O_PATH:
            raise _err(errno.ELOOP, path)
        if flags & os.O_DIRECTORY and not stat.S_ISDIR(st.st_mode):
            raise _err(errno.ENOTDIR, path)
        if stat.S_ISDIR(st.st_mode) and flags & _ACCESS != os.O_RDONLY:
            raise _err(errno.EISDIR, path)
        if not created and flags & _ACCESS != os.O_RDONLY and not stat.S_ISCHR(st.st_mode) \
                and loc.fs.fstype != "proc":
            self.k.check_writable(loc)   # opening for writing: the mount and the write bit
        if flags & os.O_TRUNC and not created and flags & _ACCESS != os.O_RDONLY:
            self.k.check_writable(loc)
            loc.fs.truncate(loc.key, 0)
        f = OpenFile(loc=loc, flags=flags, path=self.k.path_of(loc))
        return self._install(f, bool(flags & os.O_CLOEXEC))

    def stat(self, path, *, dir_fd=None, follow_symlinks=True):
        if isinstance(path, int):
            f = self._file(path)
            return os.fstat(f.real) if f.real is not None else f.loc.fs.stat(f.loc.key)
        real = self._real(path, dir_fd)
        if real is not None:
            return self.k.meta.stat(real) if not follow_symlinks else \
                self.k.meta.stat(os.path.realpath(real))
        loc = self.k.lookup(path, dir_fd, follow=follow_symlinks)
        return loc.fs.stat(loc.key)

    def lstat(self, path, *, dir_fd=None):
        return self.stat(path, dir_fd=dir_fd, follow_symlinks=False)

    def fstat(self, fd: int):
        return self.stat(fd)

    def readlink(self, path, *, dir_fd=None) -> str:
        if isinstance(path, str) and dir_fd is None and path.startswith("/proc/self/fd/"):
            fd = path[len("/proc/self/fd/"):]
            if fd.isdigit() and (not self.k.current().host or int(fd) >= SIM_FD_BASE):
                # a simulated descriptor's magic link names the place it stands for
                return self.k.path_of(self.k.lookup(path))
        if isinstance(path, str) and dir_fd is None and self.k.current().host:
            ns = _HOST_NS_LINK.match(path)
            if ns is not None:   # the host looks at a namespace, as `ls -l /proc/PID/ns` would
                who, kind = ns.groups()
                target = self.k.current() if who == "self" else self.k.processes.get(int(who))
                if target is None:
                    raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
                return f"{kind}:[{self.k.namespace_of(target, kind).inode}]"
        real = self._real(path, dir_fd)
        if real is not None:
            return os.readlink(real)
        loc = self.k.lookup(path, dir_fd, follow=False)
        return loc.fs.readlink(loc.key)

    def listdir(self, path=".") -> list[str]:
        if isinstance(path, int):
            f = self._file(path)
            return f.loc.fs.listdir(f.loc.key)
        loc = self.k.lookup(path, None)
        return loc.fs.listdir(loc.key)

    def mkdir(self, path, mode: int = 0o777, *, dir_fd=None) -> None:
        real = self._real(path, dir_fd)
        if real is not None:
            return os.mkdir(real, mode)
        parent, name = self.k.lookup_parent(path, dir_fd)
        if parent.fs.lookup(parent.key, name) is not None:
            raise _err(errno.EEXIST, path)
        self.k.check_writable(parent)
        parent.fs.create(parent.key, name, stat.S_IFDIR | (mode & ~UMASK & 0o7777))

    def chmod(self, path, mode: int, *, dir_fd=None, follow_symlinks=True) -> None:
        real = self._real(path, dir_fd)
        if real is not None:
            return os.chmod(real, mode)
        loc = self.k.lookup(path, dir_fd, follow=follow_symlinks)
        self.k.check_writable(loc)
        loc.fs.chmod(loc.key, mode)

    def unlink(self, path, *, dir_fd=None) -> None:
        parent, name = self.k.lookup_parent(path, dir_fd)
        self.k.check_writable(parent)
        parent.fs.remove(parent.key, name, directory=False)

    def rmdir(self, path, *, dir_fd=None) -> None:
        parent, name = self.k.lookup_parent(path, dir_fd)
        self.k.check_writable(parent)
        parent.fs.remove(parent.key, name, directory=True)

    def utime(self, path, times=None, *, ns=None, dir_fd=None, follow_symlinks=True) -> None:
        real = self._file(path).real if isinstance(path, int) else self._real(path, dir_fd)
        if real is not None:
            return os.utime(real, times, **({"ns": ns} if ns is not None else {}))
        mtime = ns[1] / 1e9 if ns is not None else times[1] if times else time.time()
        loc = self.k.lookup(path, dir_fd, follow=follow_symlinks)
        self.k.check_writable(loc)
        loc.fs.touch(loc.key, mtime)

    def getcwd(self) -> str:
        p = self.k.current()
        if p.host:
            return os.getcwd()
        return p.mnt.path_of(p.cwd, p.root)

    def __getattr__(self, name):
        # Constants and pure helpers (O_* flags, path, makedev …) are the real os module's.
        value = getattr(os, name)
        if callable(value) and not isinstance(value, type):
            raise AttributeError(f"the simulated kernel has no {name}()")
        return value
