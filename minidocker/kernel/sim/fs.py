"""The filesystems the simulated kernel can mount, each behind one small interface.

* ``HostFS``: a real directory tree (the learner's own files, minidocker's
  snapshots), with root-only metadata from ``meta.Meta``.
* ``MemFS``: a tree in memory, for ``tmpfs``, ``devpts``, ``mqueue`` and ``sysfs``.
* ``OverlayFS``: Linux overlayfs over real directories (Documentation/
  filesystems/overlayfs.rst): lower layers read-only, the upper layer takes
  every change; a file is copied up to the upper layer before its first
  change; deleting something a lower layer has leaves a whiteout (a 0/0
  character device) in the upper layer; a directory made where a lower one
  was deleted is opaque (``trusted.overlay.opaque=y``), so nothing below
  shows through. Renaming a directory fails with EXDEV, as overlayfs does
  without ``redirect_dir``, and programs fall back to copying.

A file is named by a *key* whose form each filesystem chooses (a real path,
a node, a tuple of names); ``mounts.py`` joins the filesystems into one tree.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import stat
import time

from ..base import OVERLAY_OPAQUE_XATTR
from .meta import Meta, SimStat

_inodes = itertools.count(1_000_000)


def _is_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


@contextlib.contextmanager
def _real_fd(path: str, flags: int):
    """A real file opened for one call: never through a symlink (the simulated kernel
    resolves links itself) and never inherited by a child."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def _read_real(path: str, offset: int, size: int) -> bytes:
    with _real_fd(path, os.O_RDONLY) as fd:
        return os.pread(fd, size, offset)


def _write_real(path: str, offset: int, data: bytes) -> int:
    with _real_fd(path, os.O_WRONLY) as fd:
        return os.pwrite(fd, data, offset)


def _err(code: int, name: str = "") -> OSError:
    return OSError(code, os.strerror(code), name) if name else OSError(code, os.strerror(code))


class FS:
    """One mounted filesystem."""

    fstype = "none"
    readonly = False

    def root(self):
        raise NotImplementedError

    def lookup(self, key, name: str):
        """The key of ``name`` in directory ``key``; ``None`` when absent."""
        raise NotImplementedError

    def stat(self, key) -> SimStat:
        raise NotImplementedError

    def readlink(self, key) -> str:
        raise _err(errno.EINVAL)

    def listdir(self, key) -> list[str]:
        raise NotImplementedError

    def read(self, key, offset: int, size: int) -> bytes:
        raise NotImplementedError

    def write(self, key, offset: int, data: bytes) -> int:
        raise _err(errno.EROFS)

    def truncate(self, key, size: int) -> None:
        raise _err(errno.EROFS)

    def create(self, parent, name: str, mode: int, *, target: str = "", rdev: int = 0):
        """A new entry in ``parent``: file, directory, symlink or device by ``mode``'s type."""
        raise _err(errno.EROFS)

    def link(self, key, parent, name: str):
        raise _err(errno.EROFS)

    def remove(self, parent, name: str, directory: bool) -> None:
        raise _err(errno.EROFS)

    def rename(self, parent, name: str, new_parent, new_name: str) -> None:
        raise _err(errno.EROFS)

    def chmod(self, key, mode: int) -> None:
        raise _err(errno.EROFS)

    def chown(self, key, uid: int, gid: int) -> None:
        raise _err(errno.EROFS)

    def getxattr(self, key, name: str) -> bytes | None:
        return None

    def touch(self, key, when: float) -> None:
        """utime: set the modification time."""
        raise _err(errno.EROFS)

    def setxattr(self, key, name: str, value: bytes) -> None:
        raise _err(errno.ENOTSUP)


# -- a real directory tree ----------------------------------------------------------------

class HostFS(FS):
    """A real directory tree; keys are real paths."""

    fstype = "hostfs"

    def __init__(self, top: str, meta: Meta):
        self.top = os.path.abspath(top)
        self.meta = meta

    def root(self):
        return self.top

    def lookup(self, key, name):
        path = os.path.join(key, name)
        return path if os.path.lexists(path) else None

    def stat(self, key):
        return self.meta.stat(key)

    def readlink(self, key):
        if not os.path.islink(key):
            raise _err(errno.EINVAL, key)
        return os.readlink(key)

    def listdir(self, key):
        return sorted(os.listdir(key))

    def read(self, key, offset, size):
        return _read_real(key, offset, size)

    def write(self, key, offset, data):
        return _write_real(key, offset, data)

    def truncate(self, key, size):
        os.truncate(key, size)

    def create(self, parent, name, mode, *, target="", rdev=0):
        path = os.path.join(parent, name)
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFDIR:
            os.mkdir(path, stat.S_IMODE(mode))
        elif kind == stat.S_IFLNK:
            os.symlink(target, path)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
            self.meta.make_device(path, mode, rdev)
        else:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             stat.S_IMODE(mode)))
        if kind != stat.S_IFLNK:
            os.chmod(path, stat.S_IMODE(mode))  # without the umask, as the caller asked
        return path

    def link(self, key, parent, name):
        path = os.path.join(parent, name)
        os.link(key, path, follow_symlinks=False)
        return path

    def remove(self, parent, name, directory):
        path = os.path.join(parent, name)
        if directory:
            os.rmdir(path)
        else:
            os.unlink(path)

    def rename(self, parent, name, new_parent, new_name):
        os.rename(os.path.join(parent, name), os.path.join(new_parent, new_name))

    def chmod(self, key, mode):
        record = self.meta.get(key)
        if "type" in record:
            self.meta.update(key, perm=stat.S_IMODE(mode))
        elif not os.path.islink(key):
            os.chmod(key, stat.S_IMODE(mode))

    def chown(self, key, uid, gid):
        self.meta.chown(key, uid, gid)

    def touch(self, key, when):
        os.utime(key, (when, when), follow_symlinks=False)

    def getxattr(self, key, name):
        return self.meta.getxattr(key, name)

    def setxattr(self, key, name, value):
        self.meta.setxattr(key, name, value)


# -- a tree in memory ---------------------------------------------------------------------

class Node:
    __slots__ = ("mode", "uid", "gid", "data", "children", "target", "rdev", "ino", "mtime",
                 "xattrs", "nlink")

    def __init__(self, mode: int, *, target: str = "", rdev: int = 0, uid: int = 0, gid: int = 0):
        self.mode, self.uid, self.gid, self.target, self.rdev = mode, uid, gid, target, rdev
        self.data = bytearray()
        self.children: dict[str, Node] | None = {} if stat.S_ISDIR(mode) else None
        self.ino = next(_inodes)
        self.mtime = time.time()
        self.xattrs: dict[str, bytes] = {}
        self.nlink = 2 if stat.S_ISDIR(mode) else 1


class MemFS(FS):
    """An in-memory tree (tmpfs and friends); keys are nodes."""

    def __init__(self, fstype: str = "tmpfs", mode: int = 0o755, readonly: bool = False):
        self.fstype = fstype
        self.top = Node(stat.S_IFDIR | mode)
        self.readonly = readonly

    def root(self):
        return self.top

    def lookup(self, key, name):
        if key.children is None:
            raise _err(errno.ENOTDIR, name)
        return key.children.get(name)

    def stat(self, key):
        size = len(key.data) if key.children is None else 4096
        if stat.S_ISLNK(key.mode):
            size = len(key.target)
        return SimStat(key.mode, size, ino=key.ino, dev=id(self) & 0xFFFF, nlink=key.nlink,
                       uid=key.uid, gid=key.gid, mtime=key.mtime, rdev=key.rdev)

    def readlink(self, key):
        if not stat.S_ISLNK(key.mode):
            raise _err(errno.EINVAL)
        return key.target

    def listdir(self, key):
        if key.children is None:
            raise _err(errno.ENOTDIR)
        return sorted(key.children)

    def read(self, key, offset, size):
        if key.children is not None:
            raise _err(errno.EISDIR)
        if stat.S_ISCHR(key.mode):
            return _device_read(key.rdev, size)
        return bytes(key.data[offset:offset + size])

    def write(self, key, offset, data):
        if key.children is not None:
            raise _err(errno.EISDIR)
        if stat.S_ISCHR(key.mode):
            return _device_write(key.rdev, data)
        if offset > len(key.data):
            key.data.extend(b"\0" * (offset - len(key.data)))
        key.data[offset:offset + len(data)] = data
        return len(data)

    def truncate(self, key, size):
        del key.data[size:]
        key.data.extend(b"\0" * (size - len(key.data)))

    def create(self, parent, name, mode, *, target="", rdev=0):
        if name in parent.children:
            raise _err(errno.EEXIST, name)
        node = Node(mode, target=target, rdev=rdev)
        parent.children[name] = node
        if node.children is not None:
            parent.nlink += 1
        return node

    def link(self, key, parent, name):
        if name in parent.children:
            raise _err(errno.EEXIST, name)
        parent.children[name] = key
        key.nlink += 1
        return key

    def remove(self, parent, name, directory):
        node = parent.children.get(name)
        if node is None:
            raise _err(errno.ENOENT, name)
        if directory:
            if node.children is None:
                raise _err(errno.ENOTDIR, name)
            if node.children:
                raise _err(errno.ENOTEMPTY, name)
            parent.nlink -= 1
        elif node.children is not None:
            raise _err(errno.EISDIR, name)
        node.nlink -= 1
        del parent.children[name]

    def rename(self, parent, name, new_parent, new_name):
        node = parent.children.get(name)
        if node is None:
            raise _err(errno.ENOENT, name)
        old = new_parent.children.get(new_name)
        if old is not None and old.children:
            raise _err(errno.ENOTEMPTY, new_name)
        del parent.children[name]
        new_parent.children[new_name] = node

    def parent_of(self, key, root_key):
        """(name, parent node) of ``key`` below ``root_key``, for ``..`` and paths."""
        stack = [root_key]
        while stack:
            d = stack.pop()
            for name, child in (d.children or {}).items():
                if child is key:
                    return name, d
                if child.children is not None:
                    stack.append(child)
        raise _err(errno.ENOENT)

    def chmod(self, key, mode):
        key.mode = stat.S_IFMT(key.mode) | stat.S_IMODE(mode)

    def chown(self, key, uid, gid):
        key.uid, key.gid = uid, gid

    def touch(self, key, when):
        key.mtime = when

    def getxattr(self, key, name):
        return key.xattrs.get(name)

    def setxattr(self, key, name, value):
        key.xattrs[name] = bytes(value)


# The character devices every container's /dev has (mem(4), null(4), random(4)).
_NULL, _ZERO, _FULL = os.makedev(1, 3), os.makedev(1, 5), os.makedev(1, 7)
_RANDOM = (os.makedev(1, 8), os.makedev(1, 9))


def _device_read(rdev: int, size: int) -> bytes:
    if rdev in (_ZERO, _FULL):
        return bytes(size)
    if rdev in _RANDOM:
        return os.urandom(size)
    return b""  # null, tty: end of file


def _device_write(rdev: int, data: bytes) -> int:
    if rdev == _FULL:
        raise _err(errno.ENOSPC)
    return len(data)  # null, zero, random: swallowed


# -- overlayfs over real directories ------------------------------------------------------

class OverlayFS(FS):
    """Linux overlayfs; keys are tuples of names below the merged root."""

    fstype = "overlay"

    def __init__(self, lowers: list[str], upper: str | None, meta: Meta):
        self.lowers = [os.path.abspath(p) for p in lowers]
        self.upper = os.path.abspath(upper) if upper else None
        self.meta = meta
        self.readonly = upper is None

    @property
    def layers(self) -> list[str]:
        return ([self.upper] if self.upper else []) + self.lowers

    def root(self):
        return ()

    # what each layer holds at a path
    def _is_whiteout(self, path: str, st: os.stat_result) -> bool:
        if stat.S_ISCHR(st.st_mode):
            return st.st_rdev == 0
        record = self.meta.get(path, st)
        return record.get("type") == stat.S_IFCHR and record.get("rdev", 0) == 0

    def _is_opaque(self, path: str) -> bool:
        value = self.meta.getxattr(path, OVERLAY_OPAQUE_XATTR)
        if value is None and hasattr(os, "getxattr"):
            try:
                value = os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False)
            except OSError:
                value = None
        return value == b"y"

    def _sources(self, key: tuple[str, ...], layers: list[str] | None = None) -> list[str]:
        """The real paths that make up ``key``, top layer first ([] when absent).

        A file is its topmost copy; a directory merges its copies down to the
        first opaque one. A whiteout, or a non-directory above, hides the rest.
        """
        dirs = [(layer, layer) for layer in (self.layers if layers is None else layers)]
        for depth, name in enumerate(key):
            found: list[tuple[str, str]] = []
            for layer, d in dirs:
                path = os.path.join(d, name)
                try:
                    st = os.lstat(path)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if self._is_whiteout(path, st):
                    break
                if not stat.S_ISDIR(st.st_mode):
                    if not found:
                        found.append((layer, path))
                    break
                found.append((layer, path))
                if self._is_opaque(path):
                    break
            if not found:
                return []
            if depth == len(key) - 1:
                return [p for _, p in found]
            if not _is_dir(found[0][1]):
                return []  # a path through a file (or a symlink: the caller resolves those)
            dirs = found
        return [d for _, d in dirs]

    def _top(self, key) -> str:
        sources = self._sources(key)
        if not sources:
            raise _err(errno.ENOENT, "/".join(key))
        return sources[0]

    def _in_upper(self, path: str) -> bool:
        return self.upper is not None and (path == self.upper or path.startswith(self.upper + os.sep))

    def lookup(self, key, name):
        top = self._top(key)
        if not os.path.isdir(top):
            raise _err(errno.ENOTDIR, name)
        child = key + (name,)
        return child if self._sources(child) else None

    def stat(self, key):
        top = self._top(key)
        return self.meta.stat(top)

    def readlink(self, key):
        top = self._top(key)
        if not os.path.islink(top):
            raise _err(errno.EINVAL)
        return os.readlink(top)

    def listdir(self, key):
        sources = self._sources(key)
        if not sources or not os.path.isdir(sources[0]):
            raise _err(errno.ENOTDIR)
        names: set[str] = set()
        hidden: set[str] = set()
        for d in sources:
            for name in os.listdir(d):
                if name in names or name in hidden:
                    continue
                path = os.path.join(d, name)
                if self._is_whiteout(path, os.lstat(path)):
                    hidden.add(name)
                else:
                    names.add(name)
        return sorted(names)

    def read(self, key, offset, size):
        top = self._top(key)
        if os.path.isdir(top):
            raise _err(errno.EISDIR)
        return _read_real(top, offset, size)

    # -- changes: everything lands in the upper layer ----------------------------------
    def _writable(self) -> str:
        if self.upper is None:
            raise _err(errno.EROFS)
        return self.upper

    def _copy_up(self, key) -> str:
        """The upper layer's copy of ``key``, made first if only a lower layer has it."""
        upper = self._writable()
        top = self._top(key)
        if self._in_upper(top):
            return top
        parent = self._copy_up(key[:-1]) if key else upper
        dest = os.path.join(parent, key[-1])
        st = os.lstat(top)
        record = self.meta.get(top, st)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(dest, stat.S_IMODE(st.st_mode))
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(top), dest)
        elif "type" in record:  # a device node (only whiteouts are skipped above)
            self.meta.make_device(dest, record["type"] | record.get("perm", 0o600), record.get("rdev", 0))
        else:
            with open(top, "rb") as src, open(dest, "xb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            os.chmod(dest, stat.S_IMODE(st.st_mode))
        keep = {k: v for k, v in record.items() if k in ("uid", "gid", "xattrs")}
        if keep:
            self.meta.update(dest, **keep)
        return dest

    def write(self, key, offset, data):
        return _write_real(self._copy_up(key), offset, data)

    def truncate(self, key, size):
        os.truncate(self._copy_up(key), size)

    def _clear_whiteout(self, upper_parent: str, name: str) -> bool:
        """Remove a whiteout at ``name`` in the upper layer; whether there was one."""
        path = os.path.join(upper_parent, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        if self._is_whiteout(path, st):
            os.unlink(path)
            return True
        return False

    def _lower_has(self, key) -> bool:
        """Whether the lower layers alone show ``key`` (then deleting it needs a whiteout)."""
        return bool(self._sources(key, self.lowers))

    def create(self, parent, name, mode, *, target="", rdev=0):
        if self.lookup(parent, name) is not None:
            raise _err(errno.EEXIST, name)
        upper_parent = self._copy_up(parent)
        was_whited_out = self._clear_whiteout(upper_parent, name)
        path = HostFS(upper_parent, self.meta).create(upper_parent, name, mode, target=target, rdev=rdev)
        if stat.S_ISDIR(mode) and was_whited_out:
            # Made over this container's own whiteout: the deleted directory's lower entries
            # must not show through (a whiteout in a lower layer already hides them).
            self.meta.setxattr(path, OVERLAY_OPAQUE_XATTR, b"y")
        return parent + (name,)

    def link(self, key, parent, name):
        src = self._copy_up(key)
        upper_parent = self._copy_up(parent)
        self._clear_whiteout(upper_parent, name)
        os.link(src, os.path.join(upper_parent, name), follow_symlinks=False)
        return parent + (name,)

    def remove(self, parent, name, directory):
        key = parent + (name,)
        sources = self._sources(key)
        if not sources:
            raise _err(errno.ENOENT, name)
        is_dir = os.path.isdir(sources[0]) and not os.path.islink(sources[0])
        if directory and not is_dir:
            raise _err(errno.ENOTDIR, name)
        if not directory and is_dir:
            raise _err(errno.EISDIR, name)
        if is_dir and self.listdir(key):
            raise _err(errno.ENOTEMPTY, name)
        lower = self._lower_has(key)
        upper_parent = self._copy_up(parent)
        upper_path = os.path.join(upper_parent, name)
        if os.path.lexists(upper_path):
            if is_dir:
                for leftover in os.listdir(upper_path):  # only whiteouts remain in an "empty" merged dir
                    os.unlink(os.path.join(upper_path, leftover))
                os.rmdir(upper_path)
            else:
                os.unlink(upper_path)
        if lower:
            self.meta.make_device(upper_path, stat.S_IFCHR, 0)

    def rename(self, parent, name, new_parent, new_name):
        key = parent + (name,)
        top = self._top(key)
        if os.path.isdir(top) and not os.path.islink(top):
            raise _err(errno.EXDEV, name)  # overlayfs without redirect_dir: callers copy instead
        lower = self._lower_has(key)
        src = self._copy_up(key)
        dest_parent = self._copy_up(new_parent)
        self._clear_whiteout(dest_parent, new_name)
        os.replace(src, os.path.join(dest_parent, new_name))
        if lower:
            self.meta.make_device(src, stat.S_IFCHR, 0)

    def chmod(self, key, mode):
        path = self._copy_up(key)
        HostFS(self.upper, self.meta).chmod(path, mode)

    def chown(self, key, uid, gid):
        self.meta.chown(self._copy_up(key), uid, gid)

    def touch(self, key, when):
        os.utime(self._copy_up(key), (when, when), follow_symlinks=False)

    def getxattr(self, key, name):
        return self.meta.getxattr(self._top(key), name)

    def setxattr(self, key, name, value):
        self.meta.setxattr(self._copy_up(key), name, value)
