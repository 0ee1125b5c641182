"""The container's filesystem view, built inside its own mount namespace.

Runs in the container's first process after ``unshare(CLONE_NEWNS)``, so
every mount here is invisible to the host and vanishes with the container's
last process: nothing to unmount, even after a crash.

Order matters and follows runc: make every mount private; mount the image's
layers (overlay) on the rootfs directory; mount ``/proc``, a small ``/dev``
and a read-only ``/sys`` inside it; bind the user's volumes and the
generated ``/etc/hostname|hosts|resolv.conf``; ``pivot_root`` into it and
detach the old root; then mask and write-protect Docker's sensitive paths.

Mount targets are resolved with ``fsroot.Root`` (as if chrooted) and then
named as ``/proc/self/fd/N``, so a symlink in the image cannot redirect a
mount onto the host.
"""

from __future__ import annotations

import os
import stat

from ..errors import MinidockerError
from ..fsroot import Root, split
from ..kernel.base import (MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE,
                           MS_RDONLY, MS_REC, MS_REMOUNT, MS_STRICTATIME, Kernel, Mount)
from .spec import MASKED_PATHS, READONLY_PATHS, ContainerSpec

# (name, major, minor): the devices every container gets (runc's defaults).
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0))
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
             ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore"))


def _target(root: Root, path: str, directory: bool = True) -> tuple[int, str]:
    """Create mount point ``path`` inside ``root`` (as a dir or an empty file);
    return an open descriptor of it and its ``/proc/self/fd`` name."""
    fs = root.fs
    parts = split(path)
    if not parts:
        return fs.dup(root.fd), f"/proc/self/fd/{root.fd}"
    parent = root.dir(parts[:-1])
    name = parts[-1]
    try:
        st = fs.stat(name, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            raise MinidockerError(f"mount point {path} in the image is a symlink")
    except FileNotFoundError:
        if directory:
            fs.mkdir(name, 0o755, dir_fd=parent)
        else:
            fs.close(fs.open(name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o644, dir_fd=parent))
    fd = fs.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    return fd, f"/proc/self/fd/{fd}"


def _mount_in(k: Kernel, root: Root, path: str, source: str, fstype: str | None,
              flags: int = 0, data: str = "", directory: bool = True) -> None:
    fd, target = _target(root, path, directory)
    try:
        k.mount(source, target, fstype, flags, data)
    finally:
        root.fs.close(fd)
    if flags & MS_BIND and flags & MS_RDONLY:
        # A bind ignores MS_RDONLY until remounted; the old descriptor names the
        # directory under the new mount, so resolve the path again.
        fd, target = _target(root, path, directory)
        try:
            k.mount("", target, None, flags | MS_REMOUNT, "")
        finally:
            root.fs.close(fd)


def _make_dev(k: Kernel, root: Root) -> None:
    _mount_in(k, root, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")
    dev = root.dir(("dev",))
    for name, major, minor in DEVICES:
        k.mknod(name, stat.S_IFCHR | 0o666, os.makedev(major, minor), dir_fd=dev)
        k.fs.chmod(name, 0o666, dir_fd=dev)  # mknod applies the umask
    for name, target in DEV_LINKS:
        k.symlink(target, name, dir_fd=dev)
    _mount_in(k, root, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620,gid=5")
    _mount_in(k, root, "/dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=1777,size=65536k")
    _mount_in(k, root, "/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def setup(k: Kernel, spec: ContainerSpec, rootfs: str, layers: list[Mount],
          etc_files: dict[str, str]) -> None:
    """Build the container's view and ``pivot_root`` into it (in its mount namespace)."""
    k.mount("", "/", None, MS_REC | MS_PRIVATE)
    k.mount_all(layers, rootfs)
    root = Root(rootfs, k.fs)
    try:
        _mount_in(k, root, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        _make_dev(k, root)
        _mount_in(k, root, "/sys", "sysfs", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
        for b in spec.binds:
            try:
                is_dir = stat.S_ISDIR(k.fs.stat(b.source).st_mode)
            except OSError:
                raise MinidockerError(f"bind source path does not exist: {b.source}") from None
            flags = MS_BIND | MS_REC | (MS_RDONLY if b.readonly else 0)
            _mount_in(k, root, b.target, b.source, None, flags, directory=is_dir)
        for target, host_file in etc_files.items():
            _mount_in(k, root, target, host_file, None, MS_BIND, directory=False)
    finally:
        root.close()
    k.chdir(rootfs)
    # pivot_root(".", ".") stacks the old root under the new one; detaching it
    # leaves no path back to the host (runc's trick, no put_old directory needed).
    k.pivot_root(".", ".")
    k.umount(".", MNT_DETACH)
    k.chdir("/")
    for path in MASKED_PATHS:
        _mask(k, path)
    for path in READONLY_PATHS:
        if _exists(k, path):
            k.mount(path, path, None, MS_BIND | MS_REC)
            k.mount("", path, None, MS_BIND | MS_REC | MS_REMOUNT | MS_RDONLY | MS_NOSUID
                    | MS_NODEV | MS_NOEXEC)
    if spec.readonly_rootfs:
        k.mount("", "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _exists(k: Kernel, path: str) -> bool:
    try:
        k.fs.stat(path)
    except OSError:
        return False
    return True


def _mask(k: Kernel, path: str) -> None:
    try:
        st = k.fs.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        k.mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0")
    else:
        k.mount("/dev/null", path, None, MS_BIND)
