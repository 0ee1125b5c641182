"""``LinuxKernel``: the Kernel interface performed by the real Linux kernel.

System calls that Python's ``os`` module lacks (mount, umount2) go through
libc with ctypes; everything else is a thin wrapper over ``os``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

from .base import Kernel

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _check(result: int, what: str, path: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)


class LinuxKernel(Kernel):
    name = "linux"

    @property
    def privileged(self) -> bool:
        return os.geteuid() == 0

    def mount(self, source, target, fstype, flags=0, data=""):
        _check(_libc.mount(source.encode(), os.fsencode(target),
                           fstype.encode() if fstype else None, flags,
                           data.encode() if data else None), "mount", target)

    def umount(self, target, flags=0):
        _check(_libc.umount2(os.fsencode(target), flags), "umount", target)

    def mknod(self, path, mode, device, *, dir_fd=None):
        os.mknod(path, mode, device, dir_fd=dir_fd)

    def chown(self, path, uid, gid, *, dir_fd=None, follow_symlinks=True):
        os.chown(path, uid, gid, dir_fd=dir_fd, follow_symlinks=follow_symlinks)

    def setxattr(self, path, name, value, *, follow_symlinks=True):
        os.setxattr(path, name, value, follow_symlinks=follow_symlinks)

    def getxattr(self, path, name, *, follow_symlinks=True):
        try:
            return os.getxattr(path, name, follow_symlinks=follow_symlinks)
        except OSError as e:
            if e.errno in (errno.ENODATA, errno.ENOTSUP):
                return None
            raise

    def listxattr(self, path, *, follow_symlinks=True):
        try:
            return os.listxattr(path, follow_symlinks=follow_symlinks)
        except OSError as e:
            if e.errno == errno.ENOTSUP:
                return []
            raise

    def process_alive(self, pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # it exists, it is just not ours
        return True
