"""``SimKernel``: the ``Kernel`` interface answered by the simulator.

This first part covers what the image and snapshot code asks of a kernel
on the host side: ownership, device nodes (whiteouts) and privileged
extended attributes on real files, kept by ``meta.Meta`` because the
learner is not root; and mounts in the simulated host mount namespace
(``mounts.py``), whose merged trees are read through ``view``.
Processes, namespaces, cgroups and ``execve`` of simulated programs come
with the process table; until then those calls fail with ENOSYS.
"""

from __future__ import annotations

import errno
import os
import stat

from ..base import MNT_DETACH, MS_BIND, MS_PRIVATE, MS_RDONLY, MS_REMOUNT, Kernel
from .fs import FS, HostFS, MemFS, OverlayFS
from .meta import Meta, host_path
from .mounts import Loc, MountEntry, MountNamespace

_MEMORY_FS = {"tmpfs": 0o755, "devpts": 0o755, "mqueue": 0o1777, "sysfs": 0o555}


class SimKernel(Kernel):
    name = "sim"

    def __init__(self) -> None:
        self.meta = Meta()
        host = HostFS("/", self.meta)
        self.host_ns = MountNamespace(MountEntry(host, host.root(), source="/dev/root"))
        self.root = Loc(self.host_ns.root, host.root())

    @property
    def privileged(self) -> bool:
        return True  # the simulated process is root: ownership and whiteouts are recorded

    # -- root-only metadata on real files -------------------------------------------
    def mknod(self, path, mode, device, *, dir_fd=None):
        self.meta.make_device(host_path(path, dir_fd), mode, device)

    def chown(self, path, uid, gid, *, dir_fd=None, follow_symlinks=True):
        real = host_path(path, dir_fd)
        if follow_symlinks and not isinstance(path, int):
            real = os.path.realpath(real)
        self.meta.chown(real, uid, gid)

    def setxattr(self, path, name, value, *, follow_symlinks=True):
        self.meta.setxattr(host_path(path), name, value)

    def getxattr(self, path, name, *, follow_symlinks=True):
        return self.meta.getxattr(host_path(path), name)

    def listxattr(self, path, *, follow_symlinks=True):
        return self.meta.listxattr(host_path(path))

    # -- mounts in the host's namespace ----------------------------------------------
    def _resolve(self, path: str) -> Loc:
        return self.host_ns.resolve(path, self.root, self.root)

    def _real_dir(self, path: str) -> str:
        loc = self._resolve(path)
        if not isinstance(loc.fs, HostFS):
            raise OSError(errno.EINVAL, "overlay layers must be real directories", path)
        return loc.key

    def mount(self, source, target, fstype, flags=0, data=""):
        at = self._resolve(target)
        if flags & MS_PRIVATE and not fstype:
            return  # propagation: the simulator never propagates mounts anyway
        if flags & MS_REMOUNT:
            m = self.host_ns.mounted_on(at) or at.mount
            m.readonly = bool(flags & MS_RDONLY)
            return
        if flags & MS_BIND:
            src = self._resolve(source)
            entry = MountEntry(src.fs, src.key, source=source, readonly=bool(flags & MS_RDONLY))
        elif fstype == "overlay":
            opts = dict(o.split("=", 1) for o in data.split(",") if "=" in o)
            if "lowerdir" not in opts:
                raise OSError(errno.EINVAL, "overlay needs lowerdir", target)
            lowers = [self._real_dir(p) for p in opts["lowerdir"].split(":")]
            upper = self._real_dir(opts["upperdir"]) if "upperdir" in opts else None
            fs: FS = OverlayFS(lowers, upper, self.meta)
            entry = MountEntry(fs, fs.root(), source=source, options=tuple(data.split(",")),
                               readonly=upper is None)
        elif fstype in _MEMORY_FS:
            fs = MemFS(fstype, _MEMORY_FS[fstype], readonly=bool(flags & MS_RDONLY))
            entry = MountEntry(fs, fs.root(), source=source, readonly=bool(flags & MS_RDONLY))
        else:
            raise OSError(errno.ENODEV, f"the simulator has no {fstype!r} filesystem", target)
        self.host_ns.attach(entry, at)

    def umount(self, target, flags=0):
        at = self._resolve(target)
        m = self.host_ns.mounted_on(at)
        if m is None:
            if at.key != at.mount.root_key or at.mount.parent is None:
                raise OSError(errno.EINVAL, "not a mount point", target)
            m = at.mount
        if not flags & MNT_DETACH and any(x.parent is m for x in self.host_ns.mounts):
            raise OSError(errno.EBUSY, "target is busy", target)
        self.host_ns.detach(m)

    def view(self, path: str) -> "View":
        """The tree at ``path`` as the simulated host sees it (for reading merged mounts)."""
        return View(self.host_ns, self._resolve(path))

    # -- not simulated yet -----------------------------------------------------------
    def _nosys(self, *args, **kwargs):
        raise OSError(errno.ENOSYS, "not simulated yet: the simulator's process table comes next")

    process_alive = unshare = fork = execve = waitpid = kill = pivot_root = sethostname = _nosys
    chdir = set_identity = limit_capabilities = close_fds = symlink = loopback_up = _nosys
    setns = setsid = open_pty = set_controlling_tty = read_file = write_file = _nosys
    make_dir = remove_dir = _nosys


class View:
    """Path operations below one place of a mount namespace (relative paths only)."""

    def __init__(self, ns: MountNamespace, top: Loc):
        self.ns, self.top = ns, top

    def _loc(self, path: str, follow: bool = True) -> Loc:
        return self.ns.resolve(path, self.top, self.top, follow=follow) if path not in ("", ".") \
            else self.ns.cross(self.top)

    def _parent(self, path: str) -> tuple[Loc, str]:
        loc, name = self.ns.resolve(path, self.top, self.top, parent=True)
        if loc.mount.readonly or loc.fs.readonly:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return loc, name

    def exists(self, path: str) -> bool:
        try:
            self._loc(path, follow=False)
        except OSError:
            return False
        return True

    def lstat(self, path: str):
        loc = self._loc(path, follow=False)
        return loc.fs.stat(loc.key)

    def listdir(self, path: str = ".") -> list[str]:
        loc = self._loc(path)
        return loc.fs.listdir(loc.key)

    def read(self, path: str) -> bytes:
        loc = self._loc(path)
        if stat.S_ISDIR(loc.fs.stat(loc.key).st_mode):
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        return loc.fs.read(loc.key, 0, loc.fs.stat(loc.key).st_size)

    def write(self, path: str, data: bytes) -> None:
        parent, name = self._parent(path)
        key = parent.fs.lookup(parent.key, name)
        if key is None:
            key = parent.fs.create(parent.key, name, stat.S_IFREG | 0o644)
        else:
            parent.fs.truncate(key, 0)
        parent.fs.write(key, 0, data)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        parent, name = self._parent(path)
        if parent.fs.lookup(parent.key, name) is not None:
            raise OSError(errno.EEXIST, os.strerror(errno.EEXIST), path)
        parent.fs.create(parent.key, name, stat.S_IFDIR | mode)

    def unlink(self, path: str) -> None:
        parent, name = self._parent(path)
        parent.fs.remove(parent.key, name, directory=False)

    def rmdir(self, path: str) -> None:
        parent, name = self._parent(path)
        parent.fs.remove(parent.key, name, directory=True)

    def rename(self, src: str, dst: str) -> None:
        sp, sn = self._parent(src)
        dp, dn = self._parent(dst)
        if sp.mount is not dp.mount:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src)
        sp.fs.rename(sp.key, sn, dp.key, dn)
