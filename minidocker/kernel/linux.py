"""``LinuxKernel``: the Kernel interface performed by the real Linux kernel.

System calls that Python's ``os`` module lacks (mount, umount2) go through
libc with ctypes; everything else is a thin wrapper over ``os``.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
import struct
# Imported up front: set_controlling_tty runs after pivot_root, where the host's
# Python library is out of reach.
import termios

from .base import Kernel

# The soname directly: find_library would run `ldconfig -p` in a subprocess.
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long

# System call numbers glibc has no wrapper for, per architecture.
_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capset": 126},
    "aarch64": {"pivot_root": 41, "capset": 91},
}
_NR = _SYSCALLS.get(os.uname().machine, {})

# <asm-generic/ioctls.h>, which termios does not export.
_TIOCSPTLCK = 0x40045431
_TIOCGPTN = 0x80045430

PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
LAST_CAP = 40  # CAP_CHECKPOINT_RESTORE; higher numbers are ignored when absent


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _check(result: int, what: str, path: str = "") -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)


class LinuxKernel(Kernel):
    delegates_to_host_tools = True
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

    def process_handle(self, pid):
        try:
            return os.pidfd_open(pid)
        except (AttributeError, OSError):   # before Linux 5.3, or it has ended
            return None

    def process_alive(self, pid):
        from . import host_process_alive
        return host_process_alive(pid)

    def unshare(self, flags):
        _check(_libc.unshare(flags), "unshare")

    def fork(self, child):
        pid = os.fork()
        if pid == 0:
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                child()
            finally:
                os._exit(125)  # child() never returns; if it does, this copy must not go on
        return pid

    def execve(self, path, argv, env):
        os.execve(path, argv, env)

    def waitpid(self, pid, options=0):
        return os.waitpid(pid, options)

    def kill(self, pid, signal):
        os.kill(pid, signal)

    def pivot_root(self, new_root, put_old):
        if "pivot_root" not in _NR:
            raise OSError(errno.ENOSYS, f"pivot_root: unknown syscall number on {os.uname().machine}")
        _check(_libc.syscall(_NR["pivot_root"], os.fsencode(new_root), os.fsencode(put_old)),
               "pivot_root", new_root)

    def sethostname(self, name):
        data = name.encode()
        _check(_libc.sethostname(data, len(data)), "sethostname", name)

    def chdir(self, path):
        os.chdir(path)

    def set_identity(self, uid, gid, groups):
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)

    def limit_capabilities(self, keep):
        for cap in range(LAST_CAP + 1):
            if cap not in keep and _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                if ctypes.get_errno() != errno.EINVAL:  # EINVAL: the kernel lacks this cap
                    _check(-1, "prctl(PR_CAPBSET_DROP)")
        _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        mask = [0, 0]
        for cap in keep:
            mask[cap // 32] |= 1 << (cap % 32)
        header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)(*[_CapData(m, m, m) for m in mask])
        _check(_libc.syscall(_NR["capset"], ctypes.byref(header), data), "capset")

    def close_fds(self, keep):
        fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
        for fd in fds:
            if fd > 2 and fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass  # the descriptor of the listing itself, already closed

    def read_file(self, path):
        with open(path) as f:
            return f.read()

    def write_file(self, path, data):
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def make_dir(self, path):
        os.mkdir(path, 0o755)

    def remove_dir(self, path):
        os.rmdir(path)

    def symlink(self, target, path, *, dir_fd=None):
        os.symlink(target, path, dir_fd=dir_fd)

    def loopback_up(self):
        import socket
        SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            req = struct.pack("16sH14x", b"lo", 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))

    # The network calls live in netlink.py: pyroute2 is loaded only when one is made.
    def link_add(self, name, kind, **kw):
        from . import netlink
        netlink.link_add(name, kind, **kw)

    def link_set(self, name, **kw):
        from . import netlink
        netlink.link_set(name, **kw)

    def link_gone(self, name, timeout):
        from . import netlink
        return netlink.link_gone(name, timeout)

    def link_delete(self, name, **kw):
        from . import netlink
        netlink.link_delete(name, **kw)

    def addr_add(self, name, cidr, **kw):
        from . import netlink
        netlink.addr_add(name, cidr, **kw)

    def route_add(self, dst, gateway, **kw):
        from . import netlink
        netlink.route_add(dst, gateway, **kw)

    def links(self, **kw):
        from . import netlink
        return netlink.links(**kw)

    def routes(self, **kw):
        from . import netlink
        return netlink.routes(**kw)

    def firewall(self, rule, add=True):
        from . import netlink
        return netlink.firewall(rule, add)

    def firewall_rules(self, table):
        from . import netlink
        return netlink.firewall_rules(table)

    def setns(self, path, nstype):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(fd, nstype), "setns", path)
        finally:
            os.close(fd)

    def setsid(self):
        os.setsid()

    def open_pty(self, ptmx):
        master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))  # unlockpt(3)
            n = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0" * 4))[0]
            slave = os.open(os.path.join(os.path.dirname(ptmx), str(n)), os.O_RDWR | os.O_NOCTTY)
        except BaseException:
            os.close(master)
            raise
        return master, slave

    def set_controlling_tty(self, fd):
        fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
