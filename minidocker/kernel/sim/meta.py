"""What only root may set on a file, kept for the simulated kernel without root.

A simulated container runs as "root" over real directories owned by the
learner: ``chown`` to 0:0, device nodes (a whiteout is a character device
0/0), ``trusted.*`` extended attributes (an overlay opaque directory) all
need privileges the learner does not have. ``Meta`` stores them beside the
file instead, and the simulated kernel reports them as if the real kernel
had set them — the same idea as fakeroot, and as the
``user.containers.override_stat`` attribute of rootless Podman's
fuse-overlayfs.

Storage: one ``user.minidocker.sim`` extended attribute per file, so the
record moves with the file on rename and disappears when it is deleted.
Where user attributes are not available (symbolic links, filesystems
without them, macOS), an in-memory table keyed by device and inode number
stands in for the life of the process.
"""

from __future__ import annotations

import errno
import json
import os
import stat

ATTR = "user.minidocker.sim"
_NO_XATTR = {errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EACCES}


def host_path(path: str | int, dir_fd: int | None = None) -> str:
    """A real path for the ``os``-style (path or descriptor, dir_fd) pair."""
    if isinstance(path, int):
        return _fd_path(path)
    if dir_fd is not None and not os.path.isabs(path):
        return os.path.join(_fd_path(dir_fd), path)
    return path


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        import fcntl  # macOS names a descriptor's file with F_GETPATH
        getpath = getattr(fcntl, "F_GETPATH", None)
        if getpath is None:
            raise
        return fcntl.fcntl(fd, getpath, b"\0" * 1024).split(b"\0", 1)[0].decode()


class Meta:
    """Overrides of owner, file type/device and privileged xattrs, per host file."""

    def __init__(self) -> None:
        self._table: dict[tuple[int, int], dict] = {}
        self._xattrs = hasattr(os, "setxattr")

    # -- storage -----------------------------------------------------------------
    def get(self, path: str, st: os.stat_result | None = None) -> dict:
        """The overrides recorded for ``path`` (not following a final symlink)."""
        if st is None:
            st = os.lstat(path)
        if self._xattrs and not stat.S_ISLNK(st.st_mode):
            try:
                return json.loads(os.getxattr(path, ATTR, follow_symlinks=False))
            except OSError as e:
                if e.errno not in _NO_XATTR and e.errno != errno.ENODATA:
                    raise
            except ValueError:
                return {}
        return dict(self._table.get((st.st_dev, st.st_ino), {}))

    def update(self, path: str, **changes) -> None:
        st = os.lstat(path)
        record = self.get(path, st)
        for key, value in changes.items():
            if value is None:
                record.pop(key, None)
            else:
                record[key] = value
        if self._xattrs and not stat.S_ISLNK(st.st_mode):
            try:
                if record:
                    os.setxattr(path, ATTR, json.dumps(record, sort_keys=True).encode(),
                                follow_symlinks=False)
                else:
                    try:
                        os.removexattr(path, ATTR, follow_symlinks=False)
                    except OSError as e:
                        if e.errno != errno.ENODATA:
                            raise
                return
            except OSError as e:
                if e.errno not in _NO_XATTR:
                    raise
        key = (st.st_dev, st.st_ino)
        if record:
            self._table[key] = record
        else:
            self._table.pop(key, None)

    # -- what the simulated kernel asks ---------------------------------------------
    def stat(self, path: str) -> "SimStat":
        """``lstat(path)`` as the simulated kernel reports it."""
        st = os.lstat(path)
        return SimStat.of(st, self.get(path, st))

    def make_device(self, path: str, mode: int, device: int) -> None:
        """mknod: a plain empty file that reports itself as the device."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.close(fd)
        self.update(path, type=stat.S_IFMT(mode), rdev=device, perm=stat.S_IMODE(mode))

    def chown(self, path: str, uid: int, gid: int) -> None:
        self.update(path, uid=uid, gid=gid)

    def setxattr(self, path: str, name: str, value: bytes) -> None:
        record = self.get(path)
        xattrs = dict(record.get("xattrs", {}))
        xattrs[name] = value.decode("latin-1")
        self.update(path, xattrs=xattrs)

    def getxattr(self, path: str, name: str) -> bytes | None:
        value = self.get(path).get("xattrs", {}).get(name)
        return None if value is None else value.encode("latin-1")

    def listxattr(self, path: str) -> list[str]:
        return sorted(self.get(path).get("xattrs", {}))


class SimStat:
    """A ``stat_result`` look-alike with the overrides applied."""

    __slots__ = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size",
                 "st_mtime", "st_rdev", "st_mtime_ns", "st_atime", "st_ctime", "st_atime_ns")

    def __init__(self, mode: int, size: int = 0, *, ino: int = 0, dev: int = 0, nlink: int = 1,
                 uid: int = 0, gid: int = 0, mtime: float = 0.0, rdev: int = 0):
        self.st_mode, self.st_size, self.st_ino, self.st_dev = mode, size, ino, dev
        self.st_nlink, self.st_uid, self.st_gid, self.st_rdev = nlink, uid, gid, rdev
        self.st_mtime = self.st_atime = self.st_ctime = mtime
        self.st_mtime_ns = self.st_atime_ns = int(mtime * 1e9)

    @classmethod
    def of(cls, st: os.stat_result, record: dict) -> "SimStat":
        mode = st.st_mode
        if "type" in record:
            mode = record["type"] | record.get("perm", stat.S_IMODE(mode))
        return cls(mode, 0 if "type" in record else st.st_size, ino=st.st_ino, dev=st.st_dev,
                   nlink=st.st_nlink, uid=record.get("uid", 0), gid=record.get("gid", 0),
                   mtime=st.st_mtime, rdev=record.get("rdev", 0))

    def __repr__(self) -> str:
        return (f"SimStat(mode={oct(self.st_mode)}, size={self.st_size}, uid={self.st_uid}, "
                f"gid={self.st_gid}, rdev={self.st_rdev})")
